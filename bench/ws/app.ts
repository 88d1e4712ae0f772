/**
 * app.ts - the WebSocket app of bench/ws.ts, one module for both servers: test/ws/serve.ts
 * serves it with Bun.serve or with fasthttp's newServer, unchanged.
 *
 *   /echo   every message back as it came
 *   /sub    subscribes to the topic "bcast", then says "ready" (the load generator waits for it)
 *   /pub    every message is published to "bcast" (ws.publish; the publisher is not subscribed)
 *
 * Anything else gets 404. No compression, no idle timeout within a run's reach: the figures
 * are the cost of frames, reads, writes and the JavaScript callbacks.
 * @module
 */
import type { ServerWebSocket, WebSocketHandler } from "bun";

type Path = "/echo" | "/sub" | "/pub";
const PATHS = new Set<string>(["/echo", "/sub", "/pub"]);

/** The part of Bun's `Server` (and fasthttp's) that this app uses. */
interface UpgradeServer {
  upgrade(request: Request, options?: { data?: Path }): boolean;
}

/** Upgrades the three paths. */
export function fetch(req: Request, server: UpgradeServer): Response | undefined {
  const path = new URL(req.url).pathname;
  if (PATHS.has(path) && server.upgrade(req, { data: path as Path })) return undefined;
  return new Response("not found\n", { status: 404 });
}

/** The handlers. */
export const websocket: WebSocketHandler<Path> = {
  open(ws: ServerWebSocket<Path>) {
    if (ws.data === "/sub") {
      ws.subscribe("bcast");
      ws.send("ready");
    }
  },
  message(ws: ServerWebSocket<Path>, message: string | Buffer) {
    if (ws.data === "/echo") ws.send(message);
    else if (ws.data === "/pub") ws.publish("bcast", message);
  },
};
