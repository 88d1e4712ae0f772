/**
 * The WebSocket conformance suite's app (test/ws-conformance.test.ts), served
 * unchanged by Bun.serve or fasthttp through test/ws/serve.ts: `/` upgrades,
 * and every message is echoed as it came (text as text, binary as binary).
 * A request that does not upgrade gets 400 "Upgrade failed", as Bun's docs
 * answer it; any other path 404. permessage-deflate is off here (the
 * extension is test/ws/echo-deflate-app.ts, which shares this code).
 * @module
 */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";

/**
 * The largest message accepted, 1 MiB: small enough that the 1009 cases
 * (a message one byte longer) and the scaled section 9 cases stay cheap.
 */
export const MAX_PAYLOAD = 1024 * 1024;

/** Answers `/` by upgrading it, anything else with 404. */
export function fetch(req: Request, server: Server<undefined>): Response | undefined {
  if (new URL(req.url).pathname !== "/") return new Response("Not found", { status: 404 });
  if (server.upgrade(req)) return undefined;
  return new Response("Upgrade failed", { status: 400 });
}

/** Echoes each message back with the opcode it came with. */
export function echo(ws: ServerWebSocket<undefined>, message: string | Buffer): void {
  ws.send(message);
}

/** The WebSocket handler: an echo, permessage-deflate off. */
export const websocket: WebSocketHandler<undefined> = {
  maxPayloadLength: MAX_PAYLOAD,
  perMessageDeflate: false,
  message: echo,
};
