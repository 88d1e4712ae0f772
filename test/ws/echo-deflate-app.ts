/**
 * The echo app of test/ws/echo-app.ts with permessage-deflate (RFC 7692)
 * agreed when a client offers it, and the echoes sent compressed
 * (`send(message, true)`): the conformance suite's sections 12-13.
 * @module
 */
import type { ServerWebSocket, WebSocketHandler } from "bun";
import { MAX_PAYLOAD } from "./echo-app.ts";

export { fetch } from "./echo-app.ts";

/** The WebSocket handler: an echo, compressed where permessage-deflate was agreed. */
export const websocket: WebSocketHandler<undefined> = {
  maxPayloadLength: MAX_PAYLOAD,
  perMessageDeflate: true,
  message(ws: ServerWebSocket<undefined>, message: string | Buffer) {
    ws.send(message, true);
  },
};
