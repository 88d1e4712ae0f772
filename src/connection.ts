/**
 * Connections handed to user code: a streamed response, a reusable takeover
 * (the handler writes its own response, then the server serves on), or a
 * manual takeover (the connection leaves HTTP: what SSE and WebSocket need).
 * @module
 */
import type { Pointer } from "bun:ffi";
import { constants } from "node:os";
import type { Core } from "./ffi.ts";

const enc = new TextEncoder();
const LAST_CHUNK = enc.encode("0\r\n\r\n");
const ENOBUFS = constants.errno.ENOBUFS;
/** What a stream or takeover may buffer ahead of its client (FH_STREAM_BUFFER_MAX in c/conn.h). */
const STREAM_BUFFER_MAX = 8 * 1024 * 1024;

/** @internal How a Connection reaches its server's core. */
export interface ConnectionHost {
  core: Core;
  srv: () => Pointer | null;
  /** Schedules a poll (after a stream ends, pipelined requests may be waiting). */
  poke: () => void;
  /** The connection is done: the server stops tracking it. */
  forget: (conn: Connection) => void;
}

/** Which kind of connection hand-over. */
export type ConnectionMode = "stream" | "reusable" | "takeover";

/**
 * A connection that user code writes to. Writes are non-blocking: each
 * returns a promise that resolves once the bytes have all been handed to the
 * kernel (so awaiting it is backpressure), and rejects if the connection is
 * gone.
 */
export class Connection {
  /** The socket's file descriptor (for logging; do not read or write it directly). */
  readonly fd: number;
  /** Resolves when the connection is closed (by either side) or, for a stream, ended. */
  readonly closed: Promise<void>;
  #host: ConnectionHost;
  #gen: number;
  #seq: number;
  /** How the connection was handed over. */
  readonly mode: ConnectionMode;
  #done = false;
  #resolveClosed!: () => void;
  #drains: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #ondata: ((chunk: Uint8Array) => void) | null = null;
  #early: Uint8Array[] = [];
  /** A HEAD response or an HTTP/1.0 client: how a stream frames its body. */
  #chunked: boolean;
  #bodyless: boolean;
  #closeOnEnd: boolean;

  /** @internal */
  constructor(
    host: ConnectionHost,
    fd: number,
    gen: number,
    seq: number,
    mode: ConnectionMode,
    chunked: boolean,
    bodyless: boolean,
    closeOnEnd: boolean,
  ) {
    this.#closeOnEnd = closeOnEnd;
    this.#host = host;
    this.fd = fd;
    this.#gen = gen;
    this.#seq = seq;
    this.mode = mode;
    this.#chunked = chunked;
    this.#bodyless = bodyless;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
  }

  /** Whether the connection is closed (or the stream ended). */
  get isClosed(): boolean {
    return this.#done;
  }

  /**
   * Receives the bytes the client sends (manual takeover only), including any
   * that arrived right after the request. Bytes that came before a handler
   * was set are delivered when it is.
   */
  get ondata(): ((chunk: Uint8Array) => void) | null {
    return this.#ondata;
  }

  set ondata(fn: ((chunk: Uint8Array) => void) | null) {
    this.#ondata = fn;
    if (fn !== null && this.#early.length > 0) {
      const early = this.#early;
      this.#early = [];
      for (const chunk of early) fn(chunk);
    }
  }

  /**
   * Writes bytes (a string is sent as UTF-8). For a stream each write is one
   * chunk of the chunked body. Resolves when the kernel has taken them all.
   */
  write(data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    if (!(bytes instanceof Uint8Array)) {
      return Promise.reject(new TypeError(`fasthttp: write() takes a Uint8Array or a string (got ${typeof data})`));
    }
    if (this.#done) return Promise.reject(new Error("fasthttp: the connection is closed"));
    if (bytes.length === 0 || this.#bodyless) return Promise.resolve();
    const pending = this.#send(bytes, this.#chunked);
    if (pending === -ENOBUFS) {
      return Promise.reject(
        new Error(
          `fasthttp: the connection's write buffer is full (more than ${STREAM_BUFFER_MAX} bytes the client has not taken yet); await each write() before the next`,
        ),
      );
    }
    if (pending < 0) {
      this._closed(); // the core found the connection gone: closed resolves now, not at its event
      return Promise.reject(new Error("fasthttp: the connection is closed"));
    }
    if (pending === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.#drains.push({ resolve, reject }));
  }

  /**
   * Ends the response. A stream writes its last chunk and the connection
   * serves the client's next request; a reusable takeover hands the
   * connection back to the server; a manual takeover closes it.
   */
  end(): void {
    if (this.#done) return;
    if (this.#chunked && !this.#bodyless) this.#send(LAST_CHUNK, false);
    this.#finish(this.#closeOnEnd);
  }

  /** Closes the connection (after the bytes already written). */
  close(): void {
    if (this.#done) return;
    this.#finish(true);
  }

  /** Hands bytes to the core (chunked: framed there as one chunk). */
  #send(bytes: Uint8Array, chunked: boolean): number {
    const srv = this.#host.srv();
    if (srv === null) return -1;
    const c = this.#host.core;
    return c.fh_stream_write(srv, this.fd | 0, this.#gen | 0, this.#seq | 0, bytes, bytes.length | 0, chunked ? 1 : 0);
  }

  #finish(close: boolean): void {
    const srv = this.#host.srv();
    this.#done = true;
    if (srv !== null) {
      const r = this.#host.core.fh_stream_end(srv, this.fd | 0, this.#gen | 0, this.#seq | 0, close ? 1 : 0);
      // Requests may wait to be parsed, or the end handed over a takeover queued behind: poll now.
      if (r > 0 || this.#host.core.fh_events_pending(srv) > 0) this.#host.poke();
    }
    // Bytes already written will still go out: writers waiting on them are done.
    this._drained();
    this._closed();
  }

  /** @internal The key the server files this connection under. */
  get _key(): string {
    return `${this.fd}:${this.#gen}:${this.#seq}`;
  }

  /** @internal The socket drained: wake the writers. */
  _drained(): void {
    const d = this.#drains;
    this.#drains = [];
    for (const w of d) w.resolve();
  }

  /** @internal Bytes from the client (manual takeover). */
  _data(chunk: Uint8Array): void {
    if (this.#ondata !== null) this.#ondata(chunk);
    else this.#early.push(chunk);
  }

  /** @internal The connection is gone. */
  _closed(): void {
    this.#done = true;
    this.#host.forget(this);
    const d = this.#drains;
    this.#drains = [];
    for (const w of d) w.reject(new Error("fasthttp: the connection is closed"));
    this.#resolveClosed();
  }
}
