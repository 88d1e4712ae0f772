/**
 * The request a handler receives: V's `HttpRequest`, a view of the raw bytes
 * with the parts as `{ start, len }` slices into them.
 * @module
 */

/** A byte range `[start, start + len)` of {@link HttpRequest.buffer}. */
export interface Slice {
  /** Offset of the first byte. */
  start: number;
  /** Number of bytes. */
  len: number;
}

import { closeSync, constants as fsc, fstatSync, openSync } from "node:fs";
import { Arena, type ArenaHost } from "./arena.ts";
import type { Connection } from "./connection.ts";
import { D, REQ_HEAD, REQ_HTTP10, REQ_KEEP_ALIVE } from "./layout.ts";
import { ascii, checkHeader, statusLine, type HeadersInit, type HeadWriter } from "./response.ts";

const utf8 = new TextDecoder();

function* entries(h: HeadersInit): Iterable<readonly [string, string]> {
  if (Symbol.iterator in h) {
    yield* h as Iterable<readonly [string, string]>;
  } else {
    for (const k in h as Record<string, string>) yield [k, (h as Record<string, string>)[k]!];
  }
}

/** The length of a string that is all ASCII, else -1. */
function asciiLength(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return -1;
  return s.length;
}

/** Writes `name: value\r\n` (latin1: checkHeader allowed only codes up to 255). */
function writeField(out: Uint8Array, p: number, name: string, value: string): number {
  for (let i = 0; i < name.length; i++) out[p++] = name.charCodeAt(i);
  out[p++] = 58;
  out[p++] = 32;
  for (let i = 0; i < value.length; i++) out[p++] = value.charCodeAt(i);
  out[p++] = 13;
  out[p++] = 10;
  return p;
}

function writeDecimal(out: Uint8Array, at: number, n: number): number {
  if (n === 0) {
    out[at] = 48;
    return at + 1;
  }
  let digits = 0;
  for (let x = n; x > 0; x = Math.floor(x / 10)) digits++;
  for (let k = digits - 1, x = n; k >= 0; k--, x = Math.floor(x / 10)) out[at + k] = 48 + (x % 10);
  return at + digits;
}

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** @internal What the requests of one server share. */
export interface RequestHost {
  arena: ArenaHost;
  heads: HeadWriter;
}

const CL_PREFIX = ascii("Content-Length: ");

/**
 * What a handler returns after {@link HttpRequest.takeover},
 * {@link HttpRequest.stream} or {@link HttpRequest.sendFile}: those methods
 * return it, and the handler must return it as it is.
 */
export const HANDED_OVER: Uint8Array = new Uint8Array(0);

/** @internal A takeover, stream or file the handler asked for. */
export type Special =
  | { kind: "takeover" | "reusable"; fn: (conn: Connection) => unknown; head: null }
  | { kind: "stream"; fn: (conn: Connection) => unknown; head: Uint8Array; chunked: boolean; bodyless: boolean }
  | { kind: "file"; head: Uint8Array; fd: number; size: number };

const MIME: Record<string, string> = {
  html: "text/html; charset=utf-8", htm: "text/html; charset=utf-8", css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8", mjs: "text/javascript; charset=utf-8", json: "application/json",
  txt: "text/plain; charset=utf-8", svg: "image/svg+xml", png: "image/png", jpg: "image/jpeg",
  jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp", ico: "image/x-icon", wasm: "application/wasm",
  pdf: "application/pdf", xml: "application/xml", woff2: "font/woff2", mp4: "video/mp4",
};
const CONN_CLOSE = ascii("Connection: close\r\n");
const CONN_KEEP = ascii("Connection: keep-alive\r\n");

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
  /** The body: the Content-Length bytes, or the decoded chunks (empty when there is none). */
  readonly body: Slice = { start: 0, len: 0 };
  /** The client socket's file descriptor. */
  clientConnFd = -1;

  /** @internal Connection generation, response sequence, arena slab, request flags. */
  _gen = 0;
  /** @internal */
  _seq = 0;
  /** @internal */
  _slab = -1;
  /** @internal */
  _flags = 0;
  /** @internal A takeover, stream or file the handler asked for. */
  _special: Special | null = null;
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
    this.body.start = d[b + D.BODY]!;
    this.body.len = d[b + D.BODY + 1]!;
    this._flags = d[b + D.FLAGS]!;
    this.target.start = d[b + D.TARGET]!;
    this.target.len = d[b + D.TARGET + 1]!;
    this.#arenaLive = false;
    this._outSlab = -1; // _out (kept for reuse) describes this request's response only once rebuilt
    this._special = null;
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
    return this.#build(status, body, headers, false);
  }

  #hExtra = 0;
  #hConn = false;
  #hDate = false;

  /** Checks one header for #build and notes what the server must know of it. */
  #checkOne(name: string, value: string, headOnly: boolean): void {
    checkHeader(name, value);
    const n = name.length;
    if ((n === 14 || n === 17) && !headOnly) {
      const l = name.toLowerCase();
      if (l === "content-length" || l === "transfer-encoding") {
        throw new TypeError(`fasthttp: ${name} is set by response(); pass the body instead`);
      }
    } else if (n === 10 && name.toLowerCase() === "connection") {
      this.#hConn = true;
    } else if (n === 4 && name.toLowerCase() === "date") {
      this.#hDate = true;
    }
    this.#hExtra += n + value.length + 4;
  }

  /** The response builder; `headOnly`: a head whose framing headers the caller gives (stream, file). */
  #build(status: number, body: string | Uint8Array | null | undefined, headers: HeadersInit | undefined, headOnly: boolean): Uint8Array {
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new RangeError(`fasthttp: status must be an integer from 100 to 599 (got ${status})`);
    }
    const noBody = status < 200 || status === 204 || status === 304 || headOnly;
    let bodyLen = 0;
    let ascii = false;
    if (body !== undefined && body !== null) {
      if (typeof body === "string") {
        bodyLen = body.length <= 256 ? asciiLength(body) : -1;
        ascii = bodyLen >= 0;
        if (!ascii) bodyLen = Buffer.byteLength(body, "utf8");
      }
      else if (body instanceof Uint8Array) bodyLen = body.length;
      else throw new TypeError(`fasthttp: a response body must be a string or a Uint8Array (got ${typeof body})`);
      if (noBody && bodyLen > 0) throw new TypeError(`fasthttp: a ${status} response has no body`);
    }
    this.#hExtra = 0;
    this.#hConn = false;
    this.#hDate = false;
    // A plain object is walked with for-in, without the iterator and pair
    // arrays a generic walk allocates: the usual case costs no JS heap.
    const plain = headers !== undefined && !(Symbol.iterator in headers);
    if (plain) {
      const h = headers as Record<string, string>;
      for (const name in h) this.#checkOne(name, h[name]!, headOnly);
    } else if (headers !== undefined) {
      for (const [name, value] of headers as Iterable<readonly [string, string]>) this.#checkOne(name, value, headOnly);
    }
    const extra = this.#hExtra;
    const userConn = this.#hConn;
    const userDate = this.#hDate;
    const flags = this._flags;
    const keep = (flags & REQ_KEEP_ALIVE) !== 0;
    const conn = userConn ? null : !keep ? CONN_CLOSE : (flags & REQ_HTTP10) !== 0 ? CONN_KEEP : null;
    const sl = statusLine(status);
    const date = this.#host.heads.dateLine;
    const sendBody = !noBody && (flags & REQ_HEAD) === 0;
    const max =
      sl.length + (userDate ? 0 : date.length) + extra + (noBody ? 0 : CL_PREFIX.length + 18) +
      (conn === null ? 0 : conn.length) + 2 + (sendBody ? bodyLen : 0);
    const arena = this.arena;
    const start = arena._reserve(max);
    const view = arena._view();
    const buf = arena._buf();
    let p = start;
    view.set(sl, p);
    p += sl.length;
    if (!userDate) {
      view.set(date, p);
      p += date.length;
    }
    if (plain) {
      const h = headers as Record<string, string>;
      for (const name in h) p = writeField(view, p, name, h[name]!);
    } else if (headers !== undefined) {
      for (const [name, value] of headers as Iterable<readonly [string, string]>) p = writeField(view, p, name, value);
    }
    if (!noBody) {
      view.set(CL_PREFIX, p);
      p += CL_PREFIX.length;
      p = writeDecimal(view, p, bodyLen);
      view[p++] = 13;
      view[p++] = 10;
    }
    if (conn !== null) {
      view.set(conn, p);
      p += conn.length;
    }
    view[p++] = 13;
    view[p++] = 10;
    if (sendBody && bodyLen > 0) {
      if (typeof body === "string") {
        if (ascii) {
          for (let i = 0; i < bodyLen; i++) view[p + i] = body.charCodeAt(i);
          p += bodyLen;
        } else {
          p += buf.write(body, p, bodyLen, "utf8");
        }
      } else {
        view.set(body as Uint8Array, p);
        p += bodyLen;
      }
    }
    arena._trim(p);
    this._outSlab = arena._slab();
    this._outOff = start - arena._slabStart();
    // Reuse the last view when the same bytes are returned again (a pooled request answering alike).
    const out = this._out;
    if (out !== null && out.byteOffset === view.byteOffset + start && out.length === p - start && out.buffer === view.buffer) {
      return out;
    }
    return (this._out = view.subarray(start, p));
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
    if (typeof fn !== "function") throw new TypeError("fasthttp: takeover() needs a function");
    this.#handOver({ kind: options.reusable ? "reusable" : "takeover", fn, head: null });
    return HANDED_OVER;
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
    if (typeof fn !== "function") throw new TypeError("fasthttp: stream() needs a function");
    const http10 = (this._flags & REQ_HTTP10) !== 0;
    const bodyless = (this._flags & REQ_HEAD) !== 0 || status === 204 || status === 304 || status < 200;
    const extra: [string, string][] = [];
    if (!bodyless && !http10) extra.push(["Transfer-Encoding", "chunked"]);
    if (http10 && !bodyless) extra.push(["Connection", "close"]);
    const head = this.#head(status, headers, extra);
    this.#handOver({ kind: "stream", fn, head, chunked: !bodyless && !http10, bodyless });
    if (http10 && !bodyless) this._flags &= ~REQ_KEEP_ALIVE;
    return HANDED_OVER;
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
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO must not block the loop until a writer comes (it is then refused).
      fd = openSync(path, fsc.O_RDONLY | fsc.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM") return this.response(403, "Forbidden\n");
      return this.response(404, "Not Found\n");
    }
    let size: number;
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) {
        closeSync(fd);
        return this.response(404, "Not Found\n");
      }
      size = st.size;
    } catch {
      closeSync(fd);
      return this.response(403, "Forbidden\n");
    }
    const status = options.status ?? 200;
    // 1xx, 204 and 304 have no body: the file is not sent (a 204 or 1xx has no Content-Length either).
    const noBody = status < 200 || status === 204 || status === 304;
    const extra: [string, string][] = status < 200 || status === 204 ? [] : [["Content-Length", String(size)]];
    let typed = false;
    if (options.headers !== undefined) {
      for (const [name] of entries(options.headers)) if (name.toLowerCase() === "content-type") typed = true;
    }
    if (!typed) {
      const dot = path.lastIndexOf(".");
      const ext = path.slice(dot + 1).toLowerCase();
      extra.push(["Content-Type", Object.hasOwn(MIME, ext) ? MIME[ext]! : "application/octet-stream"]);
    }
    let head: Uint8Array;
    try {
      head = this.#head(status, options.headers, extra);
    } catch (e) {
      closeSync(fd); // a bad status or header: answered 500, and the file is not left open
      throw e;
    }
    if ((this._flags & REQ_HEAD) !== 0 || noBody) {
      closeSync(fd);
      return head;
    }
    this.#handOver({ kind: "file", head, fd, size });
    return HANDED_OVER;
  }

  #handOver(sp: Special): void {
    if (this._special !== null) {
      if (sp.kind === "file") closeSync(sp.fd);
      throw new Error("fasthttp: this request was already handed over (takeover, stream or sendFile)");
    }
    this._special = sp;
  }

  /** A response head built in the arena: status line, Date, headers, extra, Connection. */
  #head(status: number, headers: HeadersInit | undefined, extra: [string, string][]): Uint8Array {
    const all: [string, string][] = [];
    if (headers !== undefined) for (const [n, v] of entries(headers)) all.push([n, v]);
    for (const h of extra) all.push(h);
    return this.#build(status, null, all, true);
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

function trim(buf: Uint8Array, s: number, e: number): Slice {
  while (s < e && (buf[s] === 32 || buf[s] === 9)) s++;
  while (e > s && (buf[e - 1] === 32 || buf[e - 1] === 9)) e--;
  return { start: s, len: e - s };
}
