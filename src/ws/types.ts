/**
 * The WebSocket configuration, as Bun.serve's `websocket` object, and its
 * validation.
 * @module
 */
import { show } from "../config.ts";
import { COMPRESSORS, deflateConfig, type DeflateConfig, type PerMessageDeflate } from "./deflate.ts";
import type { ServerWebSocket } from "./socket.ts";

export type { PerMessageDeflate, WebSocketCompressor } from "./deflate.ts";

/**
 * The `websocket` option of `newServer`: Bun.serve's `websocket` object.
 * The handlers get a {@link ServerWebSocket}; `message` gets a string for a
 * text message and a Buffer for a binary one (or an ArrayBuffer or
 * Uint8Array, as `ws.binaryType` says).
 */
export interface WebSocketHandler<T = undefined> {
  /** A message came (without this handler, messages are read and dropped). */
  message?(ws: ServerWebSocket<T>, message: string | Buffer): void | Promise<void>;
  /** The socket is open (its 101 is on its way). */
  open?(ws: ServerWebSocket<T>): void | Promise<void>;
  /** The socket closed: the peer's close code and reason, 1006 and "" when it ended without a close frame. */
  close?(ws: ServerWebSocket<T>, code: number, reason: string): void | Promise<void>;
  /** What was queued under backpressure has been written. */
  drain?(ws: ServerWebSocket<T>): void | Promise<void>;
  /** A ping came (the core has answered it). */
  ping?(ws: ServerWebSocket<T>, data: Buffer): void | Promise<void>;
  /** A pong came. */
  pong?(ws: ServerWebSocket<T>, data: Buffer): void | Promise<void>;
  /** A handler threw or rejected (default: it is logged); the socket stays open. */
  error?(error: Error, ws: ServerWebSocket<T>): void | Promise<void>;
  /** The largest message accepted, in bytes (default 16 MiB); a larger one closes the socket with 1009. */
  maxPayloadLength?: number;
  /** Bytes a socket may have queued before a send is dropped (default 16 MiB). */
  backpressureLimit?: number;
  /** Close a socket whose queue passes backpressureLimit instead of dropping (default false). */
  closeOnBackpressureLimit?: boolean;
  /** Seconds of silence from the client before the socket is closed (default 120; 0: never). */
  idleTimeout?: number;
  /** Send a ping at half the idle timeout of silence (default true). */
  sendPings?: boolean;
  /** Whether `ws.publish()` reaches the publisher too (default false). */
  publishToSelf?: boolean;
  /** permessage-deflate (RFC 7692): off by default; true, or Bun's object form. */
  perMessageDeflate?: boolean | PerMessageDeflate;
}

/** @internal A WebSocket configuration with its defaults filled in. */
export interface ResolvedWebSocket {
  handler: WebSocketHandler<any>;
  maxPayloadLength: number;
  backpressureLimit: number;
  closeOnBackpressureLimit: boolean;
  idleTimeout: number;
  sendPings: boolean;
  publishToSelf: boolean;
  /** `perMessageDeflate` resolved (once): null when it agrees to nothing. */
  deflate: DeflateConfig | null;
}

const KNOWN = new Set([
  "message",
  "open",
  "close",
  "drain",
  "ping",
  "pong",
  "error",
  "maxPayloadLength",
  "backpressureLimit",
  "closeOnBackpressureLimit",
  "idleTimeout",
  "sendPings",
  "publishToSelf",
  "perMessageDeflate",
]);
const MIB16 = 16 * 1024 * 1024;

function bytes(o: Record<string, unknown>, name: string, def: number, max: number): number {
  const v = o[name];
  if (v === undefined) return def;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`fasthttp: websocket.${name} must be an integer from 0 to ${max} bytes (got ${show(v)})`);
  }
  return v;
}

function flag(o: Record<string, unknown>, name: string, def: boolean): boolean {
  const v = o[name];
  if (v === undefined) return def;
  if (typeof v !== "boolean") throw new TypeError(`fasthttp: websocket.${name} must be a boolean (got ${show(v)})`);
  return v;
}

/** @internal Checks the `websocket` option (an Error names the field and the value) and fills in defaults. */
export function resolveWebSocket(ws: unknown): ResolvedWebSocket | null {
  if (ws === undefined) return null;
  if (ws === null || typeof ws !== "object") throw new TypeError(`fasthttp: websocket must be an object of handlers (got ${show(ws)})`);
  const o = ws as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) throw new TypeError(`fasthttp: unknown websocket option ${JSON.stringify(k)} (got ${show(o[k])})`);
  }
  for (const h of ["message", "open", "close", "drain", "ping", "pong", "error"]) {
    if (o[h] !== undefined && typeof o[h] !== "function") {
      throw new TypeError(`fasthttp: websocket.${h} must be a function (got ${show(o[h])})`);
    }
  }
  const idle = o.idleTimeout;
  if (idle !== undefined && (typeof idle !== "number" || !Number.isInteger(idle) || idle < 0 || idle > 960)) {
    throw new RangeError(`fasthttp: websocket.idleTimeout must be an integer number of seconds from 0 to 960 (got ${show(idle)})`);
  }
  const pmd = o.perMessageDeflate;
  if (pmd !== undefined && typeof pmd !== "boolean") {
    if (pmd === null || typeof pmd !== "object") {
      throw new TypeError(`fasthttp: websocket.perMessageDeflate must be a boolean or { compress, decompress } (got ${show(pmd)})`);
    }
    for (const [k, v] of Object.entries(pmd)) {
      if (k !== "compress" && k !== "decompress") {
        throw new TypeError(`fasthttp: unknown websocket.perMessageDeflate option ${JSON.stringify(k)} (got ${show(v)})`);
      }
      if (typeof v !== "boolean" && !COMPRESSORS.includes(v as never)) {
        throw new TypeError(`fasthttp: websocket.perMessageDeflate.${k} must be a boolean or one of ${COMPRESSORS.join(", ")} (got ${show(v)})`);
      }
    }
  }
  return {
    handler: ws as WebSocketHandler<any>,
    maxPayloadLength: bytes(o, "maxPayloadLength", MIB16, 2 ** 31 - 1),
    backpressureLimit: bytes(o, "backpressureLimit", MIB16, 2 ** 31 - 1),
    closeOnBackpressureLimit: flag(o, "closeOnBackpressureLimit", false),
    idleTimeout: (idle as number | undefined) ?? 120,
    sendPings: flag(o, "sendPings", true),
    publishToSelf: flag(o, "publishToSelf", false),
    deflate: deflateConfig(pmd as boolean | PerMessageDeflate | undefined),
  };
}
