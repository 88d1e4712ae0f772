/**
 * Writes an app's `Response`: status, status text, headers and body.
 *
 * A body whose length is known goes out with `Content-Length`, built in the
 * request's arena by `req.response()`; the framing headers the app may have
 * set (`Content-Length`, `Transfer-Encoding`) are the server's and are left
 * out. A body made from a string is written without reading the Response at
 * all (see ./known-body.ts). A stream is read as far as it goes without
 * waiting, plus one wait, as Bun.serve does: if it has ended by then it is
 * sent with `Content-Length`; otherwise it is streamed with chunked transfer
 * coding (`req.stream()`), each chunk written before the next is read, so a
 * slow client slows the stream down and nothing else.
 * @module
 */
import type { HttpRequest } from "../request.ts";
import { isBodyless, statusLine, type HeadersInit } from "../response.ts";
import { isBare, Kind, kindOfResponse, OCTET_STREAM, TEXT_PLAIN, textOfResponse } from "./known-body.ts";

/** The headers of a bare response made from a string (Hono's `c.text()`): Bun.serve's Content-Type alone. */
const TEXT_ONLY: Record<string, string> = { "content-type": TEXT_PLAIN };

const encoder = new TextEncoder();
const noop = (): void => {};

/** Bun's Headers: `toJSON()` gives every field at once (lower-case names, Set-Cookie as a list). */
type BunHeaders = Headers & { toJSON(): Record<string, string | string[]> };

/**
 * The app's headers as `req.response()` takes them: names as Headers keeps
 * them (lower case), every Set-Cookie on its own line, the framing headers
 * left out, and a Content-Type where Bun.serve would add one. Read with
 * Bun's `toJSON()`, one native call, several times cheaper than iterating.
 */
function headersOf(res: Response, defaultType: string | null): HeadersInit | undefined {
  const fields = (res.headers as BunHeaders).toJSON();
  let empty = true;
  for (const name in fields) {
    empty = false;
    if (name === "set-cookie" || name === "content-length" || name === "transfer-encoding") return pairsOf(fields, defaultType);
  }
  if (defaultType !== null && fields["content-type"] === undefined) {
    fields["content-type"] = defaultType;
    empty = false;
  }
  return empty ? undefined : (fields as Record<string, string>);
}

/** The fields as a list: each Set-Cookie on its own line (Headers' get() would join them), no framing headers. */
function pairsOf(fields: Record<string, string | string[]>, defaultType: string | null): [string, string][] {
  const out: [string, string][] = [];
  for (const name in fields) {
    if (name === "content-length" || name === "transfer-encoding") continue;
    const value = fields[name]!;
    if (typeof value === "string") out.push([name, value]);
    else for (const v of value) out.push([name, v]);
  }
  if (defaultType !== null && fields["content-type"] === undefined) out.push(["content-type", defaultType]);
  return out;
}

/** Whether `text` may stand as a reason phrase: HTAB, SP, VCHAR, obs-text (RFC 9112 §4). */
function isReason(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 9 && (c < 32 || c === 127 || c > 255)) return false;
  }
  return true;
}

/** `out` (a response from `req.response()`) with the app's own reason phrase, when it has one. */
function withReason(out: Uint8Array, status: number, text: string): Uint8Array {
  const line = statusLine(status); // "HTTP/1.1 NNN Reason\r\n": what `out` begins with
  const std = line.length - 15;
  if (text.length === std) {
    let same = true;
    for (let i = 0; i < std && same; i++) same = line[13 + i] === text.charCodeAt(i);
    if (same) return out;
  }
  if (!isReason(text)) return out; // Bun accepts any statusText; the standard phrase goes out instead
  const first = `HTTP/1.1 ${status} ${text}\r\n`;
  const copy = new Uint8Array(first.length + out.length - line.length);
  for (let i = 0; i < first.length; i++) copy[i] = first.charCodeAt(i);
  copy.set(out.subarray(line.length), first.length);
  return copy;
}

/** A whole response with a known body. */
function complete(req: HttpRequest, res: Response, body: string | Uint8Array | null, headers: HeadersInit | undefined): Uint8Array {
  const status = res.status;
  const out = req.response(status, isBodyless(status) ? null : body, headers);
  const text = res.statusText;
  return text.length === 0 ? out : withReason(out, status, text);
}

/** A chunk from the app's stream as bytes (Bun's streams may carry strings and other views too). */
function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return encoder.encode(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`fasthttp: a response stream gave ${value === null ? "null" : typeof value}, not bytes or a string`);
}

/** What `reader.read()` resolves to. */
type Read = { done: true; value?: undefined } | { done: false; value: unknown };

/** The part of a stream reader used here. */
interface Reader {
  read(): Promise<Read>;
  cancel(reason?: unknown): Promise<void>;
}

/**
 * A body that is (or may be) a stream: read what is there without waiting,
 * wait once (not for HEAD), then send it whole if it has ended, else stream it.
 */
function fromStream(
  req: HttpRequest,
  request: Request,
  res: Response,
  stream: ReadableStream,
  headers: HeadersInit | undefined,
): Uint8Array | Promise<Uint8Array> {
  const reader: Reader = stream.getReader() as Reader;
  const status = res.status;
  if (isBodyless(status)) {
    reader.cancel().catch(noop);
    return complete(req, res, null, headers);
  }
  const head = request.method === "HEAD";
  const chunks: Uint8Array[] = [];
  let size = 0;
  let waited = false;
  const step = (): Uint8Array | Promise<Uint8Array> => {
    for (;;) {
      const p = reader.read();
      const state = Bun.peek.status(p);
      if (state === "rejected") return p as Promise<never>; // the stream failed before a byte went out: 500
      if (state === "pending") {
        if (waited || head) return streamOut(req, request, res, headers, reader, chunks, p);
        waited = true;
        return p.then((r) => (took(r) ? step() : whole()));
      }
      if (!took(Bun.peek(p) as Read)) return whole();
    }
  };
  /** Keeps a chunk; false at the end of the stream. */
  const took = (r: Read): boolean => {
    if (r.done) return false;
    const bytes = toBytes(r.value);
    chunks.push(bytes);
    size += bytes.length;
    return true;
  };
  const whole = (): Uint8Array => complete(req, res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), headers);
  return step();
}

/** Streams the rest with chunked transfer coding: the chunks read so far, then each read written before the next. */
function streamOut(
  req: HttpRequest,
  request: Request,
  res: Response,
  headers: HeadersInit | undefined,
  reader: Reader,
  chunks: Uint8Array[],
  next: Promise<Read>,
): Uint8Array {
  return req.stream(res.status, headers, async (conn) => {
    if (request.method === "HEAD") {
      reader.cancel().catch(noop); // the head is all a HEAD gets
      return;
    }
    // A client that leaves while the app's stream is idle (an event stream between events): stop the app's source.
    conn.closed.then(() => reader.cancel().catch(noop), noop);
    try {
      for (const chunk of chunks) await conn.write(chunk);
      let p: Promise<Read> | null = next;
      for (;;) {
        const r: Read = await (p ?? reader.read());
        p = null;
        if (r.done) return;
        await conn.write(toBytes(r.value));
      }
    } catch (e) {
      reader.cancel(e).catch(noop);
      if (conn.isClosed) return; // the client left: not an error
      console.error(`fasthttp: the response stream for ${request.method} ${request.url} failed; the connection is closed:`, e);
      conn.close(); // the chunked body stops short of its last chunk, so the client sees it incomplete
    }
  });
}

/**
 * The bytes to return from a fasthttp handler for `res`: a whole response, or
 * (for a stream) what `req.stream()` returned. Throws (or rejects) when the
 * response cannot be written; the server then answers 500.
 */
export function writeResponse(req: HttpRequest, request: Request, res: Response): Uint8Array | Promise<Uint8Array> {
  const kind = kindOfResponse(res);
  if (kind >= 0) {
    if (res.bodyUsed) throw new TypeError(`fasthttp: the Response for ${request.method} ${request.url} was returned with its body already read`);
    if (isBare(res)) {
      // No headers to read (the common `new Response(text)`): skip Headers altogether.
      if (kind === Kind.Text) return complete(req, res, textOfResponse(res), isBodyless(res.status) ? undefined : TEXT_ONLY);
      if (kind === Kind.Null) return complete(req, res, null, undefined);
    }
    // The Content-Type Bun.serve adds when the app set none (none for a status without a body).
    const type =
      kind === Kind.Text || kind === Kind.Blob ? TEXT_PLAIN : kind === Kind.Bytes ? OCTET_STREAM : null;
    const headers = headersOf(res, isBodyless(res.status) ? null : type);
    if (kind === Kind.Text) return complete(req, res, textOfResponse(res), headers);
    if (kind === Kind.Null) return complete(req, res, null, headers);
    // Bytes, a Blob, a form: Bun hands the bytes over at once (a Bun.file() Blob is read first).
    // The headers were taken first: reading the body drops the Content-Type Bun derived from it.
    const p = res.bytes();
    if (Bun.peek.status(p) === "fulfilled") return complete(req, res, Bun.peek(p) as Uint8Array, headers);
    return p.then((bytes) => complete(req, res, bytes, headers));
  }
  const headers = headersOf(res, null);
  const stream = res.body;
  if (stream === null) return complete(req, res, null, headers);
  return fromStream(req, request, res, stream, headers);
}
