/**
 * The standard `Request` an app sees, built from an {@link HttpRequest}.
 *
 * Everything is copied out of the request's memory (which is reused once the
 * response has been written), so the Request outlives it: an app may keep it,
 * await, and read its body later. Bun's `new Request(url, init)` is costly
 * when given an init object (about 0.7 µs more for `{ method }` alone, see
 * `bench/micro/adapter.ts`), so a GET is made from the URL only.
 *
 * The headers are filled in when first asked for. Filling a Headers costs
 * about 0.25 µs a field: 4 µs for the 15 fields a browser sends, a third of
 * what a whole request costs here, spent even when the app reads none of them
 * (a hello world, a static route). So the Request keeps a copy of the raw
 * header block and parses it on the first `headers` read. Bun reads that
 * getter whenever it takes a Request apart (`fetch(req)`, `new Request(req)`,
 * `new Request(url, req)`), so those see every field; the three methods that
 * read the headers natively (`clone()`, `formData()`, `blob()`), and
 * `console.log()`, fill them first.
 * @module
 */
import type { SliceBuffer } from "../arena.ts";
import { owsEnd, owsStart, type HttpRequest } from "../request.ts";

/** The view last decoded from, and a Buffer over its whole ArrayBuffer (the server's slab memory, usually). */
let lastView: Uint8Array | null = null;
let memory: ArrayBufferLike | null = null;
let memoryBuf: SliceBuffer | null = null;

/** Bytes `[s, e)` of `buf` as latin1 (field values are octets, RFC 9110 §5.5; targets and methods are ASCII). */
function latin1(buf: Uint8Array, s: number, e: number): string {
  if (buf !== lastView) {
    lastView = buf;
    const ab = buf.buffer; // a getter worth skipping: a request's view is usually the one decoded from last
    if (ab !== memory) {
      memory = ab;
      memoryBuf = Buffer.from(ab) as SliceBuffer;
    }
  }
  const o = buf.byteOffset;
  return memoryBuf!.latin1Slice(o + s, o + e);
}

/** The last Host value's bytes and the origin made from them: most requests name the host the one before did. */
const lastHost = new Uint8Array(256);
let lastHostLen = -1;
let lastOrigin = "";

/** `http://` + the Host value at `b[s, e)`, reused while the bytes repeat. */
function originFrom(b: Uint8Array, s: number, e: number): string {
  const n = e - s;
  if (n === lastHostLen) {
    let k = 0;
    while (k < n && b[s + k] === lastHost[k]) k++;
    if (k === n) return lastOrigin;
  }
  const origin = n === 0 ? "http://localhost" : `http://${latin1(b, s, e)}`;
  if (n <= lastHost.length) {
    lastHost.set(b.subarray(s, e));
    lastHostLen = n;
    lastOrigin = origin;
  }
  return origin;
}

/**
 * `http://` + the first Host field's value (the scanner allows one), or
 * `http://localhost` without one (HTTP/1.0). Lines are found with indexOf (memchr).
 */
function originOf(b: Uint8Array, start: number, end: number): string {
  let i = start;
  while (i < end) {
    let eol = b.indexOf(13, i);
    if (eol < 0 || eol > end) eol = end;
    if (b[i + 4] === 58 && (b[i]! | 32) === 104 && (b[i + 1]! | 32) === 111 && (b[i + 2]! | 32) === 115 && (b[i + 3]! | 32) === 116) {
      const vs = owsStart(b, i + 5, eol);
      return originFrom(b, vs, owsEnd(b, vs, eol));
    }
    i = eol + 2;
  }
  return "http://localhost";
}

/** The method as a string; the usual ones without decoding. */
function methodOf(req: HttpRequest): string {
  const b = req.buffer;
  const { start: s, len } = req.method;
  if (len === 3 && b[s] === 71 && b[s + 1] === 69 && b[s + 2] === 84) return "GET";
  if (len === 4 && b[s] === 80 && b[s + 1] === 79 && b[s + 2] === 83 && b[s + 3] === 84) return "POST";
  if (len === 4 && b[s] === 72 && b[s + 1] === 69 && b[s + 2] === 65 && b[s + 3] === 68) return "HEAD";
  return latin1(b, s, s + len);
}

/**
 * The URL: `http://` + authority + path. The authority is an absolute-form
 * target's own (RFC 9112 §3.2.2: the Host header is then ignored), else the
 * Host header's (checked by the core's scanner), else `localhost` (an
 * HTTP/1.0 request without Host). Null for the asterisk and authority forms
 * (`OPTIONS *`, `CONNECT`), which name no resource a fetch app could serve.
 */
function urlOf(req: HttpRequest, headersStart: number, headersEnd: number): string | null {
  const b = req.buffer;
  const t = req.target;
  const first = b[t.start];
  const path = latin1(b, req.path.start, req.path.start + req.path.len);
  const p = path.charCodeAt(0) === 47 ? path : `/${path}`; // "http://h?q" routes as "/?q"
  if (first === 47) return originOf(b, headersStart, headersEnd) + p;
  if (first === 42) return null;
  // Absolute-form (the scanner checked "http://" or "https://" and the authority), or CONNECT's "host:port".
  const end = t.start + t.len;
  let i = t.start;
  while (i < end && b[i] !== 58) i++;
  if (i + 2 >= end || b[i + 1] !== 47 || b[i + 2] !== 47) return null;
  const a = i + 3;
  let k = a;
  while (k < end && b[k] !== 47 && b[k] !== 63) k++;
  return `http://${latin1(b, a, k)}${p}`;
}

/** Header names common enough to be worth not decoding, by length, in lower case (Headers' own spelling). */
const COMMON: (string[] | undefined)[] = [];
for (const name of [
  "host", "accept", "cookie", "origin", "referer", "user-agent", "connection", "content-type", "cache-control",
  "content-length", "accept-encoding", "accept-language", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest",
  "sec-fetch-user", "upgrade-insecure-requests", "authorization", "if-none-match", "x-forwarded-for",
]) (COMMON[name.length] ??= []).push(name);

/**
 * The field name at `b[s, e)`: a shared lower-case string when it is a common
 * one (compared ignoring case: `| 0x20` lowers letters and leaves "-" and
 * digits alone, and no other token character can become a letter), else decoded.
 */
function nameOf(b: Uint8Array, s: number, e: number): string {
  const candidates = COMMON[e - s];
  if (candidates !== undefined) {
    for (const c of candidates) {
      let k = 0;
      while (k < c.length && (b[s + k]! | 32) === c.charCodeAt(k)) k++;
      if (k === c.length) return c;
    }
  }
  return latin1(b, s, e);
}

/** Appends every field of a header block (`name: value` lines, CRLF-ended, as the scanner checked them). */
function appendFields(headers: Headers, b: Uint8Array): void {
  let i = 0;
  const end = b.length;
  while (i < end) {
    let colon = i;
    while (b[colon] !== 58) colon++;
    let eol = colon + 1;
    while (eol < end && b[eol] !== 13) eol++;
    const vs = owsStart(b, colon + 1, eol);
    headers.append(nameOf(b, i, colon), latin1(b, vs, owsEnd(b, vs, eol)));
    i = eol + 2;
  }
}

const BaseRequest = globalThis.Request;

/** Why a fetch app's `request.signal` aborts. */
function left(): DOMException {
  return new DOMException("fasthttp: the client left", "AbortError");
}

/**
 * A standard Request whose headers are parsed from a copy of the raw header
 * block the first time they are read, and whose `signal` aborts when the
 * client leaves: before the answer (the fasthttp request's `signal`), or
 * while a streamed response is still being sent. An ordinary native Request
 * otherwise.
 */
class Request extends BaseRequest {
  #fields: Uint8Array | null;
  /** The request this one was made from, until `signal` is first read, and which request it was then (it is reused once answered). */
  #req: HttpRequest | null;
  #gen: number;
  #seq: number;
  /** The connection (fd and its generation), for `server.requestIP()` and `server.timeout()`. */
  #fd: number;
  /** The fasthttp request (pooled: it stands for this one while its gen and seq match). */
  #http: HttpRequest;
  #signal: AbortController | null = null;
  #left = false;

  /** @internal `fields`: a copy of the header block; `req`: the request it stands for. */
  constructor(url: string, init: RequestInit | undefined, fields: Uint8Array, req: HttpRequest) {
    if (init === undefined) super(url);
    else super(url, init);
    this.#fields = fields;
    this.#req = req;
    this.#gen = req._gen;
    this.#seq = req._seq;
    this.#fd = req.clientConnFd;
    this.#http = req;
  }

  /** @internal The fasthttp request `request` stands for, while it still does (unanswered); else null. */
  static _http(request: globalThis.Request): HttpRequest | null {
    if (!(#fd in request)) return null;
    const r = request as Request;
    const req = r.#http;
    return req.clientConnFd === r.#fd && req._gen === r.#gen && req._seq === r.#seq ? req : null;
  }

  /** @internal The connection `request` came on, or null for a Request this adapter did not make. */
  static _connection(request: globalThis.Request): { fd: number; gen: number } | null {
    return #fd in request ? { fd: (request as Request).#fd, gen: (request as Request).#gen } : null;
  }

  /**
   * @internal What `signal` returns: a signal of its own, which follows the
   * fasthttp request's while that still stands for this one (until the
   * answer), and aborts when a streamed response's client leaves.
   */
  _signal(): AbortSignal {
    let ac = this.#signal;
    if (ac === null) {
      ac = this.#signal = new AbortController();
      const req = this.#req;
      this.#req = null;
      if (this.#left) ac.abort(left());
      else if (req !== null && req._gen === this.#gen && req._seq === this.#seq) {
        const own = req.signal;
        if (own.aborted) ac.abort(own.reason);
        else own.addEventListener("abort", () => ac!.abort(own.reason), { once: true });
      }
    }
    return ac.signal;
  }

  /** @internal The client left while the response was being sent. */
  _left(): void {
    this.#left = true;
    this.#signal?.abort(left());
  }

  override get headers(): Headers {
    const headers = super.headers;
    const fields = this.#fields;
    if (fields !== null) {
      this.#fields = null;
      appendFields(headers, fields);
    }
    return headers;
  }

  override clone() {
    void this.headers; // native: copies the headers it has
    return super.clone();
  }

  /** console.log() and Bun.inspect() print the native fields: fill them in first. */
  [Symbol.for("nodejs.util.inspect.custom")](): this {
    void this.headers;
    return this;
  }
}

/** Aborts `request.signal` (the client of a streamed response left); nothing for a Request made elsewhere. */
export function abortRequest(request: globalThis.Request): void {
  if (request instanceof Request) request._left();
}

/** The connection a Request came on (fd and generation), or null for one this adapter did not make. */
export const connectionOf: (request: globalThis.Request) => { fd: number; gen: number } | null = Request._connection;

/** The fasthttp request a Request stands for while it is unanswered (for `server.upgrade()`), or null. */
export const httpRequestOf: (request: globalThis.Request) => HttpRequest | null = Request._http;

// Bun's types declare signal as a property: the accessor is defined here.
Object.defineProperty(Request.prototype, "signal", {
  get(this: Request) {
    return this._signal();
  },
  configurable: true,
});

// Bun reads Content-Type natively in these two (the boundary of a multipart form, the Blob's
// type): the fields go in first. Defined here because Bun's types declare them as properties.
const native = BaseRequest.prototype;
for (const method of ["formData", "blob"] as const) {
  const original = native[method] as (this: globalThis.Request) => Promise<unknown>;
  Object.defineProperty(Request.prototype, method, {
    value: function (this: Request) {
      void this.headers;
      return original.call(this);
    },
    writable: true,
    configurable: true,
  });
}
// A Request made with a stream body gives its blob() no type; Bun.serve's takes the Content-Type.
const nativeBlob = Request.prototype.blob as (this: Request) => Promise<Blob>;
Object.defineProperty(Request.prototype, "blob", {
  value: async function (this: Request) {
    const blob = await nativeBlob.call(this);
    const type = blob.type === "" ? this.headers.get("content-type") : null;
    return type ? new Blob([blob], { type }) : blob;
  },
  writable: true,
  configurable: true,
});

/**
 * A streamed body as a byte ReadableStream that reads the core as the app
 * pulls (highWaterMark 0: nothing is read ahead of the app, so an app that
 * reads slowly slows its client, and one that never reads leaves the rest
 * unread). A default reader gets a new chunk per read, the app's to keep; a
 * BYOB reader (`getReader({ mode: "byob" })`) has the socket read straight
 * into its buffer, with nothing allocated. A body that fails (malformed, too
 * large, stalled, the client left) errors the stream with the reader's
 * BodyError (named "AbortError", as Bun.serve's is).
 */
function bodyStreamOf(req: HttpRequest): ReadableStream<Uint8Array> {
  const reader = req._takeBody();
  return new ReadableStream({
    type: "bytes",
    async pull(controller) {
      const byob = controller.byobRequest;
      const view = byob?.view;
      let chunk: Uint8Array | null;
      try {
        chunk = await reader.read(view ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength) : undefined);
      } catch (e) {
        controller.error(e);
        return;
      }
      if (chunk === null) {
        controller.close();
        byob?.respond(0);
      } else if (byob) {
        byob.respond(chunk.length);
      } else {
        controller.enqueue(chunk as Uint8Array<ArrayBuffer>); // a fresh buffer of its own
      }
    },
  }, { highWaterMark: 0 });
}

/**
 * Whether Bun's Request holds `method` as it is. Its constructor turns a
 * method it does not know (`CUSTOM`, a lower-case `get`) into another (GET,
 * or the upper-case one), and refuses a few (CONNECT): an app must
 * never see a method other than the one sent. Asked once per method name.
 */
const holds = new Map<string, boolean>();
function holdsMethod(method: string): boolean {
  let ok = holds.get(method);
  if (ok === undefined) {
    try {
      ok = new BaseRequest("http://localhost/", { method }).method === method;
    } catch {
      ok = false;
    }
    if (holds.size < 256) holds.set(method, ok); // bounded: a client may send any token
  }
  return ok;
}

/** What {@link toRequest} returns for a method Bun's Request cannot carry: answered 501 without calling the app. */
export const UNKNOWN_METHOD: unique symbol = Symbol("fasthttp: a method Request cannot carry");

/**
 * Builds the Request; null when the request names no URL a fetch app can
 * take (the caller answers 400); {@link UNKNOWN_METHOD} for a method Bun's
 * Request would change (the caller answers 501).
 */
export function toRequest(req: HttpRequest): globalThis.Request | null | typeof UNKNOWN_METHOD {
  const b = req.buffer;
  const hs = req.headerFields.start;
  const he = hs + req.headerFields.len;
  const url = urlOf(req, hs, he);
  if (url === null) return null;
  const method = methodOf(req);
  if (method !== "GET" && method !== "POST" && method !== "HEAD" && !holdsMethod(method)) return UNKNOWN_METHOD;
  const fields = b.slice(hs, he); // the request's memory is reused after the response
  try {
    if (method === "GET") return new Request(url, undefined, fields, req);
    if (req.bodyStreamed) return new Request(url, { method, body: bodyStreamOf(req), duplex: "half" }, fields, req);
    const body = req._body;
    if (method === "HEAD" || body.len === 0) return new Request(url, { method }, fields, req);
    // Copied too: the app may read the body after the response has gone (and the memory with it).
    return new Request(url, { method, body: b.slice(body.start, body.start + body.len) }, fields, req);
  } catch {
    return null; // a URL the WHATWG parser refuses
  }
}
