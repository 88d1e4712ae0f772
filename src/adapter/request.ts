/**
 * The standard `Request` an app sees, built from an {@link HttpRequest}.
 *
 * Everything is copied out of the request's memory (which is reused once the
 * response has been written), so the Request outlives it: an app may keep it,
 * await, and read its body later. Bun's `new Request(url, init)` is costly
 * when given an init object (about 1.5 µs for `{ method }` alone, see
 * `bench/micro/adapter.ts`), so a GET is made from the URL only and its
 * headers are appended to the Request's own Headers.
 * @module
 */
import type { SliceBuffer } from "../arena.ts";
import type { HttpRequest } from "../request.ts";

/** A Buffer over the ArrayBuffer last decoded from (the server's slab memory, usually). */
let memory: ArrayBufferLike | null = null;
let memoryBuf: SliceBuffer | null = null;

/** Bytes `[s, e)` of `buf` as latin1 (field values are octets, RFC 9110 §5.5; targets and methods are ASCII). */
function latin1(buf: Uint8Array, s: number, e: number): string {
  const ab = buf.buffer;
  if (ab !== memory) {
    memory = ab;
    memoryBuf = Buffer.from(ab) as SliceBuffer;
  }
  const o = buf.byteOffset;
  return memoryBuf!.latin1Slice(o + s, o + e);
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
function urlOf(req: HttpRequest, host: string | undefined): string | null {
  const b = req.buffer;
  const t = req.target;
  const first = b[t.start];
  const path = latin1(b, req.path.start, req.path.start + req.path.len);
  const p = path.charCodeAt(0) === 47 ? path : `/${path}`; // "http://h?q" routes as "/?q"
  if (first === 47) return `http://${host === undefined || host.length === 0 ? "localhost" : host}${p}`;
  if (first === 42) return null;
  // Absolute-form (the scanner checked "scheme://authority"), or CONNECT's "host:port".
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

/** Field names and values of the request being built (reused: one request is built at a time). */
const names: string[] = [];
const values: string[] = [];

/**
 * Builds the Request, or returns null when the request names no URL a fetch
 * app can take (the caller answers 400).
 */
export function toRequest(req: HttpRequest): Request | null {
  const b = req.buffer;
  // One pass over the header block: every field, and Host for the URL.
  let host: string | undefined;
  let n = 0;
  let i = req.headerFields.start;
  const end = i + req.headerFields.len;
  while (i < end) {
    let colon = i;
    while (b[colon] !== 58) colon++;
    let eol = colon + 1;
    while (eol < end && b[eol] !== 13) eol++;
    let vs = colon + 1;
    let ve = eol;
    while (vs < ve && (b[vs] === 32 || b[vs] === 9)) vs++;
    while (ve > vs && (b[ve - 1] === 32 || b[ve - 1] === 9)) ve--;
    const name = nameOf(b, i, colon);
    const value = latin1(b, vs, ve);
    if (name === "host" && host === undefined) host = value;
    names[n] = name;
    values[n++] = value;
    i = eol + 2;
  }
  const url = urlOf(req, host);
  if (url === null) return null;
  const method = methodOf(req);
  let request: Request;
  try {
    if (method === "GET") {
      request = new Request(url);
    } else if (method === "HEAD" || req.body.len === 0) {
      request = new Request(url, { method });
    } else {
      // Copied: the request's memory is reused once the response is written, and the app may read the body later.
      const s = req.body.start;
      request = new Request(url, { method, body: b.slice(s, s + req.body.len) });
    }
  } catch {
    return null; // a URL the WHATWG parser refuses
  }
  const headers = request.headers;
  for (let k = 0; k < n; k++) headers.append(names[k]!, values[k]!);
  return request;
}
