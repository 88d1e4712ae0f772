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

const utf8 = new TextDecoder();

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/**
 * One parsed HTTP/1.1 request.
 *
 * **Lifetime:** `buffer` and every view taken from it are windows on native
 * memory that is reused once this request's response has been written. Read
 * what you need before you return (or before your promise resolves); to keep
 * bytes longer, copy them (`req.buffer.slice()`, `req.string(req.path)`).
 *
 * @example
 * ```ts
 * const handler = (req: HttpRequest) =>
 *   req.string(req.path) === "/" ? hello : notFound;
 * ```
 */
export class HttpRequest {
  /** The raw request: request line, header lines, blank line, then the body (decoded if it was chunked). */
  buffer: Uint8Array;
  /** The method, e.g. `GET`. */
  method: Slice;
  /** What to route on: the path and query (for an absolute-form target, its path). */
  path: Slice;
  /** The request-target exactly as sent. */
  target: Slice;
  /** `HTTP/1.1` or `HTTP/1.0`. */
  version: Slice;
  /** The header lines, without the blank line that ends them. */
  headerFields: Slice;
  /** The body: the Content-Length bytes, or the decoded chunks (empty when there is none). */
  body: Slice;
  /** The client socket's file descriptor. */
  clientConnFd: number;

  /** @internal Connection generation, response sequence, arena slab, request flags. */
  _gen: number;
  /** @internal */
  _seq: number;
  /** @internal */
  _slab: number;
  /** @internal */
  _flags: number;

  /** @internal Made by the server for each request. */
  constructor(
    buffer: Uint8Array,
    d: Int32Array,
    b: number,
  ) {
    this.buffer = buffer;
    this.clientConnFd = d[b]!;
    this._gen = d[b + 1]!;
    this._seq = d[b + 2]!;
    this._slab = d[b + 3]!;
    this.method = { start: d[b + 5]!, len: d[b + 6]! };
    this.path = { start: d[b + 7]!, len: d[b + 8]! };
    this.version = { start: d[b + 9]!, len: d[b + 10]! };
    this.headerFields = { start: d[b + 11]!, len: d[b + 12]! };
    this.body = { start: d[b + 13]!, len: d[b + 14]! };
    this._flags = d[b + 15]!;
    this.target = { start: d[b + 16]!, len: d[b + 17]! };
  }

  /** The slice decoded as UTF-8 text. */
  string(s: Slice): string {
    return utf8.decode(this.buffer.subarray(s.start, s.start + s.len));
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
    return v === undefined ? undefined : this.string(v);
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
