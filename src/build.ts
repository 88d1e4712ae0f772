/**
 * The response builder behind `req.response()`: a whole response (status
 * line, Date, the caller's headers, Content-Length, Connection, body) written
 * into the request's arena in one pass, and the heads that streams and files
 * send before their bodies. Header names and values are checked as they are
 * measured; a plain object of headers is walked with for-in, so the usual
 * call allocates nothing on the JS heap.
 * @module
 */
import type { HttpRequest } from "./request.ts";
import { REQ_HEAD } from "./layout.ts";
import {
  ascii,
  checkHeader,
  connectionLine,
  connectionMode,
  isBodyless,
  statusLine,
  writeDecimal,
  type HeadersInit,
} from "./response.ts";

const CL_PREFIX = ascii("Content-Length: ");

/** What {@link measure} saw beside the bytes: the caller set Connection, or Date. */
const HAS_CONNECTION = 1;
const HAS_DATE = 2;
/** HAS_* of the header {@link measure} checked last (read at once by its caller: no other code runs in between). */
let seenLast = 0;

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

/**
 * Checks one header and returns its bytes on the wire; `seenLast` says
 * whether it is one the builder must know of (HAS_CONNECTION, HAS_DATE).
 */
function measure(name: string, value: string, headOnly: boolean): number {
  checkHeader(name, value);
  const n = name.length;
  let seen = 0;
  if ((n === 14 || n === 17) && !headOnly) {
    const l = name.toLowerCase();
    if (l === "content-length" || l === "transfer-encoding") {
      throw new TypeError(`fasthttp: ${name} is set by response(); pass the body instead`);
    }
  } else if (n === 10 && name.toLowerCase() === "connection") {
    seen = HAS_CONNECTION;
  } else if (n === 4 && name.toLowerCase() === "date") {
    seen = HAS_DATE;
  }
  seenLast = seen;
  return n + value.length + 4;
}

/**
 * Builds a response for `req` in its arena and returns the view of it (see
 * `HttpRequest.response`), with the Date of the server's head writer. `headOnly`: a head whose framing headers the
 * caller gives among `headers` (a stream, a file); no Content-Length is
 * added and no body is sent.
 */
export function buildResponse(
  req: HttpRequest,
  status: number,
  body: string | Uint8Array | null | undefined,
  headers: HeadersInit | undefined,
  headOnly: boolean,
): Uint8Array {
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new RangeError(`fasthttp: status must be an integer from 100 to 599 (got ${status})`);
  }
  const noBody = isBodyless(status) || headOnly;
  let bodyLen = 0;
  let ascii = false;
  if (body !== undefined && body !== null) {
    if (typeof body === "string") {
      bodyLen = body.length <= 256 ? asciiLength(body) : -1;
      ascii = bodyLen >= 0;
      if (!ascii) bodyLen = Buffer.byteLength(body, "utf8");
    } else if (body instanceof Uint8Array) bodyLen = body.length;
    else throw new TypeError(`fasthttp: a response body must be a string or a Uint8Array (got ${typeof body})`);
    if (noBody && bodyLen > 0) throw new TypeError(`fasthttp: a ${status} response has no body`);
  }
  let extra = 0;
  let seen = 0;
  // A plain object is walked with for-in, without the iterator and pair
  // arrays a generic walk allocates: the usual case costs no JS heap.
  const plain = headers !== undefined && !(Symbol.iterator in headers);
  if (plain) {
    const h = headers as Record<string, string>;
    for (const name in h) {
      extra += measure(name, h[name]!, headOnly);
      seen |= seenLast;
    }
  } else if (headers !== undefined) {
    for (const [name, value] of headers as Iterable<readonly [string, string]>) {
      extra += measure(name, value, headOnly);
      seen |= seenLast;
    }
  }
  const userDate = (seen & HAS_DATE) !== 0;
  const flags = req._flags;
  const conn = (seen & HAS_CONNECTION) !== 0 ? null : connectionLine(connectionMode(flags));
  const sl = statusLine(status);
  const date = req._heads.dateLine;
  const sendBody = !noBody && (flags & REQ_HEAD) === 0;
  const max =
    sl.length + (userDate ? 0 : date.length) + extra + (noBody ? 0 : CL_PREFIX.length + 18) +
    (conn === null ? 0 : conn.length) + 2 + (sendBody ? bodyLen : 0);
  const arena = req.arena;
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
  req._outSlab = arena._slab();
  req._outOff = start - arena._slabStart();
  // Reuse the last view when the same bytes are returned again (a pooled request answering alike).
  const out = req._out;
  if (out !== null && out.byteOffset === view.byteOffset + start && out.length === p - start && out.buffer === view.buffer) {
    return out;
  }
  return (req._out = view.subarray(start, p));
}

/** Header entries as pairs, from either form of {@link HeadersInit}. */
export function* entries(h: HeadersInit): Iterable<readonly [string, string]> {
  if (Symbol.iterator in h) {
    yield* h as Iterable<readonly [string, string]>;
  } else {
    for (const k in h as Record<string, string>) yield [k, (h as Record<string, string>)[k]!];
  }
}

/** A response head built in `req`'s arena: status line, Date, `headers`, then `extra`, then Connection. */
export function buildHead(req: HttpRequest, status: number, headers: HeadersInit | undefined, extra: [string, string][]): Uint8Array {
  const all: [string, string][] = [];
  if (headers !== undefined) for (const [n, v] of entries(headers)) all.push([n, v]);
  for (const h of extra) all.push(h);
  return buildResponse(req, status, null, all, true);
}
