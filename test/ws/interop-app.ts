/**
 * interop-app.ts - the app module of test/ws-interop.test.ts and
 * test/ws-browser.test.ts, served unchanged by Bun.serve or fasthttp
 * (test/ws/serve.ts). Paths that upgrade:
 *
 *   /echo                       every message back as it came: text as text, binary as binary
 *   /close?code=N&reason=R      at its first message the server closes with code N and reason R
 *   /room                       joins topic "room" and says "joined"; each message it sends is
 *                               published with ws.publish (the others; the sender too only with
 *                               publishToSelf)
 *   /room?via=server            the same, but published with server.publish (every subscriber)
 *
 * Any other request gets a small HTML page (the browser test's same-origin page).
 *
 * The server's side of each connection is logged on stdout, one JSON object a line, for the
 * tests to read: {"event":"open","path":...}, {"event":"close","path":...,"code":N,"reason":...},
 * {"event":"ping","hex":...}.
 *
 * Variants by environment (startWs passes `env`): WS_APP_DEFLATE holds perMessageDeflate as
 * JSON (`true`, or Bun's object form such as `{"compress":"dedicated","decompress":"dedicated"}`),
 * and then the echo asks for its messages to be compressed (`ws.send(message, true)`);
 * WS_APP_PUBLISH_TO_SELF=1 serves with publishToSelf: true.
 * @module
 */
import type { ServerWebSocket, WebSocketHandler } from "bun";

/** The part of Bun's `Server` (and fasthttp's) that this app uses. */
export interface WsServerSurface {
  upgrade(request: Request, options?: { data?: ConnData; headers?: Record<string, string> }): boolean;
  publish(topic: string, data: string | ArrayBufferView | ArrayBuffer, compress?: boolean): number;
}

/** What each connection carries (`ws.data`). */
export interface ConnData {
  path: string;
  query: URLSearchParams;
  server: WsServerSurface;
}

const PAGE = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>interop</title></head><body>interop app</body></html>\n';
const DEFLATE = JSON.parse(process.env.WS_APP_DEFLATE ?? "false") as WebSocketHandler<ConnData>["perMessageDeflate"];
const UPGRADES = new Set(["/echo", "/close", "/room"]);

function log(fields: Record<string, unknown>): void {
  console.log(JSON.stringify(fields));
}

/** Upgrades the paths above; a page for anything else. */
export function fetch(req: Request, server: WsServerSurface): Response | undefined {
  const url = new URL(req.url);
  if (UPGRADES.has(url.pathname)) {
    if (server.upgrade(req, { data: { path: url.pathname, query: url.searchParams, server } })) return undefined;
    return new Response("expected a WebSocket upgrade\n", { status: 426, headers: { Upgrade: "websocket" } });
  }
  return new Response(PAGE, { headers: { "Content-Type": "text/html; charset=utf-8" } });
}

/** The handlers. */
export const websocket: WebSocketHandler<ConnData> = {
  perMessageDeflate: DEFLATE,
  publishToSelf: process.env.WS_APP_PUBLISH_TO_SELF === "1",
  open(ws: ServerWebSocket<ConnData>) {
    log({ event: "open", path: ws.data.path });
    if (ws.data.path === "/room") {
      ws.subscribe("room");
      ws.send("joined");
    }
  },
  message(ws: ServerWebSocket<ConnData>, message: string | Buffer) {
    const { path, query, server } = ws.data;
    if (path === "/echo") ws.send(message, DEFLATE !== false);
    else if (path === "/close") ws.close(Number(query.get("code") ?? 1000), query.get("reason") ?? "");
    else if (query.get("via") === "server") server.publish("room", message);
    else ws.publish("room", message);
  },
  ping(_ws: ServerWebSocket<ConnData>, data: Buffer) {
    log({ event: "ping", hex: data.toString("hex") });
  },
  close(ws: ServerWebSocket<ConnData>, code: number, reason: string) {
    log({ event: "close", path: ws.data.path, code, reason });
  },
};
