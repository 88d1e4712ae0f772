/**
 * `ServerWebSocket`: one WebSocket connection, with Bun's API. Its frames
 * are made and written by the C core (c/ws.c); this object keeps what is
 * JavaScript's: `data`, the topics it subscribes to, its state.
 * @module
 */
import type { WsHub } from "./hub.ts";

/** What `send` and friends take: a string (sent as UTF-8 text by `send`), bytes, or a Blob held in memory. */
export type WebSocketData = string | ArrayBufferLike | ArrayBufferView | Blob;

/** How binary messages (and ping/pong payloads) reach the handlers. */
export type BinaryType = "nodebuffer" | "arraybuffer" | "uint8array" | "blob";

const enc = new TextEncoder();

/** The bytes of a BufferSource (a view, no copy), or of a Blob held in memory. */
export function bytesOf(data: unknown, what: string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) return new Uint8Array(data);
  if (data instanceof Blob) {
    // A Blob made in memory has its bytes at once; a file's would need a read the send cannot wait for.
    const p = data.bytes();
    if (Bun.peek.status(p) === "fulfilled") return Bun.peek(p) as Uint8Array;
    p.catch(() => {});
    throw new TypeError(`fasthttp: ${what} cannot send a Blob backed by a file without waiting for it: send(await blob.bytes())`);
  }
  throw new TypeError(`fasthttp: ${what} takes a string, an ArrayBuffer or a typed array (got ${data === null ? "null" : typeof data})`);
}

/**
 * The UTF-8 bytes of a close reason, cut (as Bun cuts it) to the 123 bytes a
 * close frame holds (RFC 6455 §5.5), at a character boundary.
 */
function reasonBytes(reason: string | undefined): Uint8Array {
  if (reason === undefined || reason === "") return new Uint8Array(0);
  if (typeof reason !== "string") throw new TypeError(`fasthttp: ws.close() takes a string reason (got ${typeof reason})`);
  const b = enc.encode(reason);
  if (b.length <= 123) return b;
  let n = 123;
  while (n > 0 && (b[n]! & 0xc0) === 0x80) n--; // not inside a character
  return b.subarray(0, n);
}

/** Whether `code` goes in a close frame (RFC 6455 §7.4.1); 1005 and 1006 are never sent: the frame then has no code. */
function sendableCode(code: number): boolean {
  return Number.isInteger(code) && ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));
}

/**
 * A WebSocket the server holds, as Bun's `ServerWebSocket<T>`. Sends return
 * what Bun's do: the bytes of the message when it went out (or into the
 * socket's buffer), -1 when it was queued behind backpressure (`drain`
 * comes), 0 when it was dropped (the socket is closed, or more than
 * `backpressureLimit` was queued).
 */
export class ServerWebSocket<T = undefined> {
  /** What `server.upgrade(request, { data })` gave. */
  data: T;
  /** How binary messages reach `message`: a Buffer (the default), an ArrayBuffer or a Uint8Array. */
  binaryType: BinaryType = "nodebuffer";
  /** @internal */
  _hub: WsHub;
  /** @internal The connection. */
  _fd: number;
  /** @internal */
  _gen: number;
  /** @internal 0 connecting, 1 open, 2 closing, 3 closed. */
  _state: 0 | 1 | 2 | 3 = 0;
  /** @internal The topics, in the order subscribed. */
  _topics: Set<string> | null = null;
  /** @internal The close's reason: the peer's, or ours when we closed first (`_ours`). */
  _reason = "";
  /** @internal The peer's close code (0: none came). */
  _code = 0;
  /** @internal The server started the closing handshake. */
  _ours = false;
  /** @internal permessage-deflate lets the server compress its messages. */
  _z = false;
  /** @internal pause() holds it. */
  _paused = false;
  /** @internal The subprotocol agreed. */
  _protocol: string;
  #address: string | null = null;

  /** @internal Made by the upgrade. */
  constructor(hub: WsHub, fd: number, gen: number, data: T, protocol: string) {
    this._hub = hub;
    this._fd = fd;
    this._gen = gen;
    this.data = data;
    this._protocol = protocol;
  }

  /** 0 connecting, 1 open, 2 closing, 3 closed (WebSocket.readyState's values). */
  get readyState(): 0 | 1 | 2 | 3 {
    return this._state;
  }

  /** The client's IP address (an IPv4 client of a dual-stack socket as IPv4-mapped IPv6, as Bun). */
  get remoteAddress(): string {
    if (this.#address === null) this.#address = this._hub._peer(this) ?? "";
    return this.#address;
  }

  /** @internal Remembers the address while the connection lives (it is asked again in close). */
  _keepAddress(): void {
    void this.remoteAddress;
  }

  /** Sends a message: a string as text, bytes as binary. */
  send(data: WebSocketData, compress = false): number {
    if (typeof data === "string") return this._hub._sendText(this, data, compress);
    return this._hub._send(this, 2, bytesOf(data, "ws.send()"), compress);
  }

  /** Sends a text message. */
  sendText(data: string, compress = false): number {
    if (typeof data !== "string") throw new TypeError(`fasthttp: ws.sendText() takes a string (got ${typeof data})`);
    return this._hub._sendText(this, data, compress);
  }

  /** Sends a binary message. */
  sendBinary(data: ArrayBufferLike | ArrayBufferView | Blob, compress = false): number {
    return this._hub._send(this, 2, bytesOf(data, "ws.sendBinary()"), compress);
  }

  /** Sends a ping (at most 125 bytes of payload). */
  ping(data?: WebSocketData): number {
    return this._hub._send(this, 9, data === undefined ? new Uint8Array(0) : typeof data === "string" ? enc.encode(data) : bytesOf(data, "ws.ping()"), false);
  }

  /** Sends a pong (at most 125 bytes of payload). */
  pong(data?: WebSocketData): number {
    return this._hub._send(this, 10, data === undefined ? new Uint8Array(0) : typeof data === "string" ? enc.encode(data) : bytesOf(data, "ws.pong()"), false);
  }

  /**
   * Closes the socket, as Bun's: the close frame goes out with `code`
   * (default 1000; 1005 and 1006 send a frame without one) and `reason`
   * (cut to 123 bytes), the close handler runs now with them, and the
   * connection ends once the peer answers (or after 2 s).
   */
  close(code?: number, reason?: string): void {
    const c = code ?? 1000;
    if (c !== 1005 && c !== 1006 && !sendableCode(c)) {
      throw new RangeError(`fasthttp: ws.close() needs a code from 1000 to 1003, 1007 to 1014 or 3000 to 4999 (got ${String(code)})`);
    }
    this._hub._close(this, c, reasonBytes(reason), false);
  }

  /** Closes the connection at once, without the closing handshake; the close handler runs now with 1006. */
  terminate(): void {
    this._hub._close(this, 1006, new Uint8Array(0), true);
  }

  /** Subscribes to a topic (`server.publish` and `ws.publish` reach it). False once the socket is closed. */
  subscribe(topic: string): boolean {
    return this._hub._subscribe(this, String(topic));
  }

  /** Unsubscribes from a topic: false when it did not subscribe to it. */
  unsubscribe(topic: string): boolean {
    return this._hub._unsubscribe(this, String(topic));
  }

  /** Whether it subscribes to a topic. */
  isSubscribed(topic: string): boolean {
    return this._topics !== null && this._topics.has(String(topic));
  }

  /** The topics it subscribes to, in the order subscribed. */
  get subscriptions(): string[] {
    return this._topics === null ? [] : [...this._topics];
  }

  /** Sends to every subscriber of `topic` but this one (unless publishToSelf): as `server.publish`. */
  publish(topic: string, data: WebSocketData, compress = false): number {
    return this._hub.publish(String(topic), data, compress, this);
  }

  /** {@link publish} of a text message. */
  publishText(topic: string, data: string, compress = false): number {
    if (typeof data !== "string") throw new TypeError(`fasthttp: ws.publishText() takes a string (got ${typeof data})`);
    return this._hub.publish(String(topic), data, compress, this);
  }

  /** {@link publish} of a binary message. */
  publishBinary(topic: string, data: ArrayBufferLike | ArrayBufferView | Blob, compress = false): number {
    return this._hub.publish(String(topic), bytesOf(data, "ws.publishBinary()"), compress, this);
  }

  /** Runs `cb`: what it sends leaves in one write, after it returns. Returns what `cb` returns. */
  cork<R>(cb: (ws: ServerWebSocket<T>) => R): R {
    return this._hub._cork(this, cb);
  }

  /**
   * Stops reading from the client until {@link resume}: the core reads
   * nothing more (the client's sends back up in TCP); messages of a read
   * already made are still delivered, as in Bun. The idle timeout is
   * suspended meanwhile.
   */
  pause(): void {
    this._hub._pause(this, true);
  }

  /** Reads from the client again after {@link pause}. */
  resume(): void {
    this._hub._pause(this, false);
  }

  /** Whether {@link pause} holds it. */
  get isPaused(): boolean {
    return this._paused;
  }

  /** Bytes queued that the socket has not taken yet. */
  getBufferedAmount(): number {
    return this._hub._buffered(this);
  }
}
