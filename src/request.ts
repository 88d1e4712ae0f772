/**
 * The request a handler receives: V's `HttpRequest`, a view of the raw bytes
 * with the parts as `{ start, len }` slices into them, and the lookups over
 * them (text, bytes, headers). What a handler answers with is built elsewhere:
 * `response()` in src/build.ts, `takeover()`, `stream()` and `sendFile()` in
 * src/handover.ts; the methods here are their faces.
 * @module
 */
import { Arena, type ArenaHost } from "./arena.ts";
import { BodyReader, type BodyHost } from "./body.ts";
import { buildResponse } from "./build.ts";
import type { Connection } from "./connection.ts";
import { HANDED_OVER, sendFile, stream, takeover, type Special } from "./handover.ts";
import { D, REQ_KEEP_ALIVE, REQ_STREAM } from "./layout.ts";
import type { HeadersInit, HeadWriter } from "./response.ts";
import type { Server } from "./server.ts";
import type { UpgradeOptions, WebSocketSpecial, WsHub } from "./ws/hub.ts";

export { HANDED_OVER } from "./handover.ts";

/** The params of a request no route matched. */
const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

/** A byte range `[start, start + len)` of {@link HttpRequest.buffer}. */
export interface Slice {
  /** Offset of the first byte. */
  start: number;
  /** Number of bytes. */
  len: number;
}

const utf8 = new TextDecoder();

/** The reason `req.signal` aborts with. */
function gone(): DOMException {
  return new DOMException("fasthttp: the client left before the answer", "AbortError");
}

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** @internal What the requests of one server share. */
export interface RequestHost {
  arena: ArenaHost;
  heads: HeadWriter;
  body: BodyHost;
  /** The server whose loop this is (the fetch adapter's `server` argument is made from it). */
  server: Server;
  /** The loop's WebSockets (null: the server has no `websocket` option). */
  ws: WsHub | null;
}

/** The chunks of a body that arrived whole: one copy of it, or with `into`, pieces copied into `into`. */
async function* wholeChunks(body: Uint8Array, into: Uint8Array | undefined): AsyncGenerator<Uint8Array, void, undefined> {
  if (body.length === 0) return;
  if (into === undefined) {
    yield body.slice();
    return;
  }
  for (let at = 0; at < body.length; at += into.length) {
    const n = Math.min(into.length, body.length - at);
    into.set(body.subarray(at, at + n));
    yield into.subarray(0, n);
  }
}

/** The chunks a reader reads (into `into`, when given). */
async function* streamedChunks(reader: BodyReader, into: Uint8Array | undefined): AsyncGenerator<Uint8Array, void, undefined> {
  for (;;) {
    const chunk = await reader.read(into);
    if (chunk === null) return;
    yield chunk;
  }
}

/**
 * One parsed HTTP/1.1 request.
 *
 * **Lifetime:** `buffer`, every view taken from it and the request object
 * itself belong to memory that is reused once this request's response has
 * been written: the server recycles request objects along with their arena
 * slabs. Read what you need before you return (or before your promise
 * resolves); to keep bytes longer, copy them (`req.buffer.slice()`,
 * `req.string(req.path)`).
 *
 * @example
 * ```ts
 * const handler = (req: HttpRequest) =>
 *   req.string(req.path) === "/" ? req.response(200, "Hello, World!\n") : req.response(404, "not found\n");
 * ```
 */
export class HttpRequest {
  /** The raw request: request line, header lines, blank line, then the body (decoded if it was chunked). */
  buffer: Uint8Array;
  /** The method, e.g. `GET`. */
  readonly method: Slice = { start: 0, len: 0 };
  /** What to route on: the path and query (for an absolute-form target, its path). */
  readonly path: Slice = { start: 0, len: 0 };
  /** The request-target exactly as sent. */
  readonly target: Slice = { start: 0, len: 0 };
  /** `HTTP/1.1` or `HTTP/1.0`. */
  readonly version: Slice = { start: 0, len: 0 };
  /** The header lines, without the blank line that ends them. */
  readonly headerFields: Slice = { start: 0, len: 0 };
  /** The client socket's file descriptor. */
  clientConnFd = -1;
  /**
   * With `routes`: the matched route's `:name` segments, percent-decoded
   * (`{}` for a route without params, and for the fallback `handler`).
   * Typed per route by `RouteHttpRequest<Path>`.
   */
  params: Readonly<Record<never, string>> = NO_PARAMS;

  /** @internal Connection generation, response sequence, arena slab, request flags. */
  _gen = 0;
  /** @internal */
  _seq = 0;
  /** @internal */
  _slab = -1;
  /** @internal */
  _flags = 0;
  /** @internal A takeover, stream, file or WebSocket upgrade the handler asked for. */
  _special: Special | WebSocketSpecial | null = null;
  /** @internal A WebSocket upgrade refused for its version: answered 426 whatever the handler returns. */
  _wsRefused = false;
  /** @internal When the request was handed to the handler (trace mode). */
  _t0 = 0;
  /** @internal The last response() built: the view, its slab and its offset there. */
  _out: Uint8Array | null = null;
  /** @internal */
  _outSlab = -1;
  /** @internal */
  _outOff = 0;
  #host: RequestHost;
  #arena: Arena | null = null;
  #arenaLive = false;
  #large: Uint8Array | null = null;
  #aborted = false;
  #abort: AbortController | null = null;
  /** The body, when it arrived whole. */
  #body: Slice = { start: 0, len: 0 };
  /** Whether a body that streams has been taken (bodyStream, readBody: once). */
  #bodyTaken = false;

  /** @internal Made by the server, one per arena slab, and reused with it. */
  constructor(host: RequestHost) {
    this.#host = host;
    this.buffer = host.arena.mem.subarray(0, 0);
  }

  /** @internal Points this object at the request in descriptor row `b`. */
  _reset(d: Int32Array, b: number, buffer: Uint8Array, large: Uint8Array | null): void {
    this.buffer = buffer;
    this.#large = large;
    this.clientConnFd = d[b + D.FD]!;
    this._gen = d[b + D.GEN]!;
    this._seq = d[b + D.SEQ]!;
    this._slab = d[b + D.SLAB]!;
    this.method.start = d[b + D.METHOD]!;
    this.method.len = d[b + D.METHOD + 1]!;
    this.path.start = d[b + D.PATH]!;
    this.path.len = d[b + D.PATH + 1]!;
    this.version.start = d[b + D.VERSION]!;
    this.version.len = d[b + D.VERSION + 1]!;
    this.headerFields.start = d[b + D.HEADERS]!;
    this.headerFields.len = d[b + D.HEADERS + 1]!;
    this.#body.start = d[b + D.BODY]!;
    this.#body.len = d[b + D.BODY + 1]!;
    this._flags = d[b + D.FLAGS]!;
    this.#bodyTaken = false;
    this.target.start = d[b + D.TARGET]!;
    this.target.len = d[b + D.TARGET + 1]!;
    this.#arenaLive = false;
    this._outSlab = -1; // _out (kept for reuse) describes this request's response only once rebuilt
    this._special = null;
    this._wsRefused = false;
    this.#aborted = false;
    this.#abort = null;
  }

  /**
   * Whether the client left before this request was answered: the core saw
   * it reset, hang up or half-close (FIN) while an async handler was still at
   * work. The handler may stop early. After a reset or hang-up whatever it
   * answers is dropped (its arena freed), never written; after a FIN an
   * answer is still written, since a half-closed client may still read.
   */
  get aborted(): boolean {
    return this.#aborted;
  }

  /**
   * An `AbortSignal` that aborts when the client leaves before this request
   * is answered (see {@link aborted}), for `fetch(url, { signal })`, a
   * database query, a timer. Made on first access: a request that never asks
   * costs nothing. Valid, like the request, until the answer is written.
   *
   * @example
   * ```ts
   * const handler = async (req: HttpRequest) => {
   *   const res = await fetch("http://backend/slow", { signal: req.signal }); // cancelled if the client leaves
   *   return req.response(res.status, await res.text());
   * };
   * ```
   */
  get signal(): AbortSignal {
    let ac = this.#abort;
    if (ac === null) {
      ac = this.#abort = new AbortController();
      if (this.#aborted) ac.abort(gone());
    }
    return ac.signal;
  }

  /** @internal The client left before the answer (FH_EV_GONE, FH_EV_FIN). */
  _abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#abort?.abort(gone());
  }

  /**
   * The body, when it arrived whole: the Content-Length bytes, or the decoded
   * chunks (empty when there is none). A body that does not fit in one arena
   * slab (`arenaSlabSize`, with the head) streams instead
   * ({@link bodyStreamed}): reading `body` then throws a TypeError, since the
   * bytes are still arriving; read them with {@link bodyStream} or
   * {@link readBody}, which work for both.
   */
  get body(): Slice {
    if ((this._flags & REQ_STREAM) !== 0) {
      throw new TypeError(
        `fasthttp: the body of ${this.string(this.method)} ${this.string(this.target)} streams (it is larger than one arena slab): read it with req.bodyStream() or await req.readBody()`,
      );
    }
    return this.#body;
  }

  /** @internal The body slice, without the check (empty for a streamed body). */
  get _body(): Slice {
    return this.#body;
  }

  /**
   * Whether the body streams: it did not fit in one arena slab, so the
   * handler was called as soon as the head arrived, and the body is read as
   * it comes with {@link bodyStream} or {@link readBody}. An answer given
   * before the body has been read to its end keeps the connection open only
   * when little of the body is left (Content-Length, at most 1 MiB), which the
   * server then reads and drops; otherwise the answer says `Connection:
   * close` and the connection closes after it. Once the answer has been
   * written, the body can no longer be read.
   */
  get bodyStreamed(): boolean {
    return (this._flags & REQ_STREAM) !== 0;
  }

  /**
   * The body as it arrives, chunk by chunk, for a body that streams or one
   * that arrived whole: each chunk a new Uint8Array, yours to keep; or, with
   * `{ into }`, a view of the start of your buffer `into`, valid until the
   * next chunk is asked for (nothing is allocated: the socket is read
   * straight into it, so an upload costs no garbage and one copy; copy out
   * what you keep). Not reading is backpressure: the server stops reading
   * the connection once 256 KiB wait unread, and the client waits. Rejects
   * with a {@link BodyError} when the body cannot be read to its end
   * (malformed, too large, stalled, the client left); the server has then
   * answered the request itself. A streamed body can be taken once (this or
   * {@link readBody}).
   *
   * @example
   * ```ts
   * const handler = async (req: HttpRequest) => {
   *   const hash = new Bun.CryptoHasher("sha256");
   *   for await (const chunk of req.bodyStream({ into: new Uint8Array(65536) })) hash.update(chunk);
   *   return req.response(200, hash.digest("hex"));
   * };
   * ```
   */
  bodyStream(options: { into?: Uint8Array } = {}): AsyncIterableIterator<Uint8Array> {
    const into = options.into;
    if (into !== undefined && (!(into instanceof Uint8Array) || into.length === 0)) {
      throw new TypeError("fasthttp: bodyStream({ into }) needs a non-empty Uint8Array");
    }
    if ((this._flags & REQ_STREAM) === 0) return wholeChunks(this.bytes(this.#body), into);
    return streamedChunks(this._takeBody(), into);
  }

  /**
   * The whole body, as one new Uint8Array: at once for a body that arrived
   * whole, once it has all arrived for one that streams (at most
   * `maxRequestBodySize`, which the server enforces: 413). Rejects as
   * {@link bodyStream} does.
   */
  async readBody(): Promise<Uint8Array> {
    if ((this._flags & REQ_STREAM) === 0) {
      const b = this.#body;
      return this.buffer.slice(b.start, b.start + b.len);
    }
    const reader = this._takeBody();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const chunk = await reader.read();
      if (chunk === null) break;
      chunks.push(chunk);
      total += chunk.length;
    }
    if (chunks.length === 1) return chunks[0]!;
    const all = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return all;
  }

  /** @internal The reader of this streamed body; a TypeError if it was taken already. */
  _takeBody(): BodyReader {
    if (this.#bodyTaken) throw new TypeError("fasthttp: the request body is already being read (bodyStream() and readBody() take it once)");
    this.#bodyTaken = true;
    const fd = this.clientConnFd;
    const gen = this._gen;
    const seq = this._seq;
    // For a streamed body, REQ_KEEP_ALIVE is whether an answer now would keep the connection (the
    // core's say, c/body.c): it changes as the body is read, and the heads built from _flags follow it.
    return new BodyReader(this.#host.body, fd, gen, seq, (keep) => {
      if (this.clientConnFd === fd && this._gen === gen && this._seq === seq) this._flags = (this._flags & ~REQ_KEEP_ALIVE) | keep;
    });
  }

  /** Per-request memory, freed as a unit once the response has been written. See {@link Arena}. */
  get arena(): Arena {
    let a = this.#arena;
    if (a === null) a = this.#arena = new Arena(this.#host.arena);
    if (!this.#arenaLive) {
      a._reset(this._slab, this.buffer.length, this.#large);
      this.#arenaLive = true;
    }
    return a;
  }

  /** @internal The server's head writer (and Date line), which responses are built with. */
  get _heads(): HeadWriter {
    return this.#host.heads;
  }

  /** @internal The server whose loop serves this request. */
  get _server(): Server {
    return this.#host.server;
  }

  /** @internal The arena, if the handler used it. */
  _arenaIfLive(): Arena | null {
    return this.#arenaLive ? this.#arena : null;
  }

  /**
   * Builds a complete response in the request's arena and returns it, ready
   * to be returned by the handler (it is then written without a copy): the
   * status line, a `Date`, your headers, `Content-Length`, `Connection` when
   * the connection will close (or for HTTP/1.0 keep-alive), and the body. For
   * a HEAD request the body is left out; 1xx, 204 and 304 responses have
   * none. Header names and values are checked (no CR/LF injection);
   * `Content-Length` and `Transfer-Encoding` are the server's to set.
   */
  response(status: number, body?: string | Uint8Array | null, headers?: HeadersInit): Uint8Array {
    return buildResponse(this, status, body, headers, false);
  }

  /**
   * Takes the connection over. Once every response before this one has been
   * written, `fn` gets a {@link Connection}: the server sends nothing more and
   * no longer reads requests from it; what the client sends arrives in
   * `conn.ondata`. The connection is yours until you `close()` it (or the
   * client does). This is what Server-Sent Events and WebSocket need.
   *
   * With `{ reusable: true }` the handler writes its whole response itself
   * (status line, headers, body) and the server serves the next request on
   * the connection once `fn`'s promise settles (or `conn.end()`).
   *
   * The request (and its arena) stays valid until `fn` is called for a
   * manual takeover — read what you need first — and, for a reusable one,
   * until it ends. Return the value this method returns.
   *
   * @example
   * ```ts
   * return req.takeover(async (conn) => {
   *   await conn.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
   *   const t = setInterval(() => conn.write(`data: ${Date.now()}\n\n`).catch(() => {}), 500);
   *   conn.closed.then(() => clearInterval(t));
   * });
   * ```
   */
  takeover(fn: (conn: Connection) => unknown, options: { reusable?: boolean } = {}): Uint8Array {
    return takeover(this, fn, options);
  }

  /**
   * Upgrades the request to a WebSocket, as Bun's `server.upgrade(request,
   * { data, headers })`: returns the value to return when it is a valid
   * upgrade (the server's `websocket` handlers take the socket from there;
   * `ws.data` is `options.data`), or null when it is not (answer it as you
   * like: 400 is usual). Needs the `websocket` option. A request whose
   * `Sec-WebSocket-Version` is not 13 gets null too, and is answered 426
   * with `Sec-WebSocket-Version: 13` whatever the handler returns (RFC 6455
   * §4.4).
   *
   * @example
   * ```ts
   * handler: (req) => req.upgrade({ data: { since: Date.now() } }) ?? req.response(400, "WebSocket only\n"),
   * websocket: { message: (ws, msg) => ws.send(msg) },
   * ```
   */
  upgrade(options?: UpgradeOptions): Uint8Array | null {
    const hub = this.#host.ws;
    if (hub === null) throw new TypeError('fasthttp: upgrade() needs the "websocket" option of newServer({ websocket: { message(ws, msg) {} } })');
    return hub.upgrade(this, options) ? HANDED_OVER : null;
  }

  /**
   * Streams a response: the status line and headers now, then the body as
   * `fn` writes it (`conn.write()`, one chunk each, with chunked transfer
   * coding; awaiting a write is backpressure). The response ends when `fn`'s
   * promise settles (or at `conn.end()`), and the connection serves on. For
   * HEAD nothing of the body is sent; an HTTP/1.0 client gets the body
   * unframed and the connection closes after it. Return the value this
   * method returns.
   */
  stream(status: number, headers: HeadersInit | undefined, fn: (conn: Connection) => unknown): Uint8Array {
    return stream(this, status, headers, fn);
  }

  /**
   * Sends a file: the status line and headers (with `Content-Length` and a
   * `Content-Type` from the extension unless you give one), then the file by
   * `sendfile`, resumed whenever the socket can take more; the file is never
   * read into JavaScript. A missing file (or a directory, a FIFO, a device)
   * is answered 404 and an unreadable one 403, decided before any byte is
   * sent. For HEAD, and for a status without a body (1xx, 204, 304), only the
   * head is sent. Return what this returns.
   */
  sendFile(path: string, options: { status?: number; headers?: HeadersInit } = {}): Uint8Array {
    return sendFile(this, path, options);
  }

  /** The slice decoded as UTF-8 text. */
  string(s: Slice): string {
    const buf = this.buffer;
    if (buf.buffer === this.#host.arena.mem.buffer) {
      const mb = this.#host.arena.memBuf;
      const a = buf.byteOffset + s.start;
      // ASCII (the usual method, path, header) decodes fastest as latin1.
      if (s.len <= 64) {
        let k = 0;
        while (k < s.len && buf[s.start + k]! < 128) k++;
        if (k === s.len) return mb.latin1Slice(a, a + s.len);
      }
      return mb.utf8Slice(a, a + s.len);
    }
    return utf8.decode(buf.subarray(s.start, s.start + s.len));
  }

  /** A view (no copy) of the slice; valid until the response is written. */
  bytes(s: Slice): Uint8Array {
    return this.buffer.subarray(s.start, s.start + s.len);
  }

  /**
   * The value of the first header field named `name` (case-insensitive),
   * without surrounding whitespace, or `undefined`. Scans the raw header
   * block; no map is built.
   */
  header(name: string): string | undefined {
    const v = this.#find(name, 0);
    if (v === undefined) return undefined;
    const buf = this.buffer;
    // Field values are octets (RFC 9110 §5.5): latin1, as Node and Bun read them.
    if (buf.buffer === this.#host.arena.mem.buffer) {
      const a = buf.byteOffset + v.start;
      return this.#host.arena.memBuf.latin1Slice(a, a + v.len);
    }
    return Buffer.from(buf.buffer, buf.byteOffset + v.start, v.len).toString("latin1");
  }

  /** Every header field in order, as `[name, value]` strings. */
  *headers(): IterableIterator<[string, string]> {
    const buf = this.buffer;
    let i = this.headerFields.start;
    const end = i + this.headerFields.len;
    while (i < end) {
      let colon = i;
      while (buf[colon] !== 58) colon++;
      let eol = colon;
      while (eol < end && buf[eol] !== 13) eol++;
      const v = trim(buf, colon + 1, eol);
      yield [this.string({ start: i, len: colon - i }), this.string(v)];
      i = eol + 2;
    }
  }

  #find(name: string, from: number): Slice | undefined {
    const buf = this.buffer;
    const n = name.length;
    let i = this.headerFields.start + from;
    const end = this.headerFields.start + this.headerFields.len;
    while (i < end) {
      let eol = i;
      while (eol < end && buf[eol] !== 13) eol++;
      if (buf[i + n] === 58) {
        let k = 0;
        while (k < n && lower(buf[i + k]!) === lower(name.charCodeAt(k))) k++;
        if (k === n) return trim(buf, i + n + 1, eol);
      }
      i = eol + 2;
    }
    return undefined;
  }
}

/** The first index of `buf[s, e)` past leading whitespace (SP, HTAB): where a field value starts. */
export function owsStart(buf: Uint8Array, s: number, e: number): number {
  while (s < e && (buf[s] === 32 || buf[s] === 9)) s++;
  return s;
}

/** The end of `buf[s, e)` without its trailing whitespace (SP, HTAB): where a field value ends. */
export function owsEnd(buf: Uint8Array, s: number, e: number): number {
  while (e > s && (buf[e - 1] === 32 || buf[e - 1] === 9)) e--;
  return e;
}

function trim(buf: Uint8Array, s: number, e: number): Slice {
  s = owsStart(buf, s, e);
  return { start: s, len: owsEnd(buf, s, e) - s };
}
