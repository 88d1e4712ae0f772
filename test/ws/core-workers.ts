/**
 * core-workers.ts - the app of test/ws-core.test.ts's worker case, served by
 * fasthttp with `workers` (test/ws/serve.ts): pub/sub across the workers.
 *
 *   /ws                   upgrades; open() subscribes to "all" and sends the
 *                         worker's threadId (so the test knows which worker holds it)
 *   GET /publish?m=TEXT   server.publish("all", TEXT) in the worker that answers;
 *                         answers { threadId, sent } (sent: publish()'s return)
 *   a message "pub:TEXT"  ws.publish("all", TEXT): every subscriber but the sender
 * @module
 */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import { threadId } from "node:worker_threads";

/** Upgrades /ws; /publish publishes from this worker. */
export function fetch(req: Request, server: Server<undefined>): Response | undefined {
  const url = new URL(req.url);
  if (url.pathname === "/publish") {
    const sent = server.publish("all", url.searchParams.get("m") ?? "");
    return Response.json({ threadId, sent });
  }
  if (url.pathname === "/ws" && server.upgrade(req)) return undefined;
  return new Response("not found\n", { status: 404 });
}

/** The handlers. */
export const websocket: WebSocketHandler<undefined> = {
  open(ws: ServerWebSocket<undefined>) {
    ws.subscribe("all");
    ws.send(String(threadId));
  },
  message(ws: ServerWebSocket<undefined>, message: string | Buffer) {
    const s = String(message);
    if (s.startsWith("pub:")) ws.publish("all", s.slice(4));
  },
};
