/**
 * Writes an app's `Response` as Bun.serve writes it: the status (with the
 * standard reason phrase: Bun.serve does not send `statusText`), the app's
 * headers, and the body framed as Bun frames it.
 *
 * - A body whose length is known (a string, bytes, a Blob, a form) goes out
 *   with `Content-Length`, built in the request's arena by `req.response()`.
 *   A body made from a string is written without reading the Response at
 *   all (see ./known-body.ts). The Content-Type Bun.serve derives is added
 *   when the app set none (none for an empty body).
 * - A stream waits for its first chunk, then takes what follows without
 *   waiting (what settles before the event loop turns, up to 64 KiB): if it
 *   has ended by then it is sent with `Content-Length`, else it is streamed with chunked
 *   transfer coding (`req.stream()`): the head and the chunks so far at
 *   once, then each chunk as it comes, written before the next is read, so
 *   a slow client slows the stream down and nothing else.
 * - No body goes where none may (1xx, 204, 205, 304, HEAD). HEAD carries the
 *   headers GET would; for a stream that is `Transfer-Encoding: chunked`,
 *   unread, as Bun.serve sends it. A 304 and a HEAD keep the app's own
 *   Content-Length (RFC 9110 §8.6, §15.4.5); elsewhere the framing headers
 *   are the server's.
 * - A stream that fails before its head went out is a 500 (thrown to the
 *   caller); after, the connection is closed with the chunked body short of
 *   its last chunk, so the client can tell it is incomplete.
 * @module
 */
import { buildResponse } from "../build.ts";
import type { HttpRequest } from "../request.ts";
import { isBodyless, type HeadersInit } from "../response.ts";
import { blobOfStream, isBare, Kind, kindOfResponse, OCTET_STREAM, TEXT_PLAIN, textOfResponse } from "./known-body.ts";
import { abortRequest } from "./request.ts";

/** The headers of a bare response made from a non-empty string (Hono's `c.text()`): Bun.serve's Content-Type alone. */
const TEXT_ONLY: Record<string, string> = { "content-type": TEXT_PLAIN };

const encoder = new TextEncoder();

/**
 * The most of a stream gathered to be sent whole: past it, the stream is
 * streamed (chunked) at once, whatever else is ready, so that a fast source
 * (an echoed upload, a generator that never waits) is never held in memory.
 */
const GATHER_MAX = 64 * 1024;
const noop = (): void => {};

/** Bun's Headers: `toJSON()` gives every field at once (lower-case names, Set-Cookie as a list). */
type BunHeaders = Headers & { toJSON(): Record<string, string | string[]> };

/** Whether a response with this status carries no content: 1xx, 204, 304, and 205 (RFC 9110 §15.3.6). */
function noContent(status: number): boolean {
  return isBodyless(status) || status === 205;
}

/**
 * The app's headers as `req.response()` takes them: names as Headers keeps
 * them (lower case), every Set-Cookie on its own line, the framing headers
 * left out unless `framing` (a head whose length the app states), and a
 * Content-Type where Bun.serve would add one. Read with Bun's `toJSON()`,
 * one native call, several times cheaper than iterating.
 */
function headersOf(res: Response, defaultType: string | null, framing: boolean): HeadersInit | undefined {
  const fields = (res.headers as BunHeaders).toJSON();
  let empty = true;
  for (const name in fields) {
    empty = false;
    if (name === "set-cookie" || name === "content-length" || name === "transfer-encoding") {
      return pairsOf(fields, defaultType, framing);
    }
  }
  if (defaultType !== null && fields["content-type"] === undefined) {
    fields["content-type"] = defaultType;
    empty = false;
  }
  return empty ? undefined : (fields as Record<string, string>);
}

/** The fields as a list: each Set-Cookie on its own line (Headers' get() would join them), the framing headers only if `framing`. */
function pairsOf(fields: Record<string, string | string[]>, defaultType: string | null, framing: boolean): [string, string][] {
  const out: [string, string][] = [];
  for (const name in fields) {
    if (name === "content-length" || name === "transfer-encoding") {
      // Kept only for a head whose length the app states, and only a length that is one (Elysia sends "NaN").
      const v = fields[name];
      if (!framing || typeof v !== "string" || (name === "content-length" ? !/^[0-9]{1,15}$/.test(v) : v.toLowerCase() !== "chunked")) continue;
    }
    const value = fields[name]!;
    if (typeof value === "string") out.push([name, value]);
    else for (const v of value) out.push([name, v]);
  }
  if (defaultType !== null && fields["content-type"] === undefined) out.push(["content-type", defaultType]);
  return out;
}

/** Whether the app's headers state the framing (Content-Length or Transfer-Encoding). */
function statesFraming(headers: HeadersInit | undefined): boolean {
  if (headers === undefined) return false;
  if (Array.isArray(headers)) return headers.some(([n]) => n === "content-length" || n === "transfer-encoding");
  const h = headers as Record<string, string>;
  return h["content-length"] !== undefined || h["transfer-encoding"] !== undefined;
}

/** A whole response with a known body (none where the status allows none). */
function complete(req: HttpRequest, status: number, body: string | Uint8Array | null, headers: HeadersInit | undefined): Uint8Array {
  return req.response(status, noContent(status) ? null : body, headers);
}

/** A head alone whose framing headers are the app's own (a 304, a HEAD): nothing is added to them. */
function headAlone(req: HttpRequest, status: number, headers: HeadersInit | undefined): Uint8Array {
  return buildResponse(req, status, null, headers, true);
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

/** What is told when a streamed response has ended (the server's count of pending requests). */
export interface StreamEnd {
  _end(): void;
}

/**
 * A stream body: wait for the first chunk, take what follows without
 * waiting, then send it whole if it has ended, else stream it.
 */
function fromStream(
  req: HttpRequest,
  request: Request,
  status: number,
  stream: ReadableStream,
  headers: HeadersInit | undefined,
  ended: StreamEnd,
): Uint8Array | Promise<Uint8Array> {
  const reader: Reader = stream.getReader() as Reader;
  const chunks: Uint8Array[] = [];
  let size = 0;
  /** Keeps a chunk; false at the end of the stream. */
  const took = (r: Read): boolean => {
    if (r.done) return false;
    const bytes = toBytes(r.value);
    if (bytes.length > 0) {
      chunks.push(bytes);
      size += bytes.length;
    }
    return true;
  };
  const whole = (): Uint8Array => complete(req, status, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), headers);
  /** Streams from here: the chunks so far, then `next` (a read under way) and the rest. */
  const out = (next: Promise<Read> | null): Uint8Array => streamOut(req, request, status, headers, reader, chunks, next, ended);
  /** After a read: whole at the end, streamed past GATHER_MAX, else read on. */
  const after = (r: Read): Uint8Array | Promise<Uint8Array> => (!took(r) ? whole() : size > GATHER_MAX ? out(null) : step());
  const step = (): Uint8Array | Promise<Uint8Array> => {
    for (;;) {
      const p = reader.read();
      const state = Bun.peek.status(p);
      if (state === "rejected") return p as Promise<never>; // the stream failed before a byte went out: 500
      if (state === "fulfilled") {
        if (!took(Bun.peek(p) as Read)) return whole();
        if (size > GATHER_MAX) return out(null);
        continue; // a loop, not after(): a stream of ready chunks must not grow the stack
      }
      // Nothing yet: wait for the first chunk however long it takes, as Bun.serve does.
      if (chunks.length === 0) return p.then(after);
      // Chunks are here: take more only while they come before the event loop turns.
      return new Promise<Uint8Array>((resolve, reject) => {
        let decided = false;
        const turn = setImmediate(() => {
          if (decided) return;
          decided = true;
          resolve(out(p));
        });
        p.then(
          (r) => {
            if (decided) return;
            decided = true;
            clearImmediate(turn);
            try {
              resolve(after(r));
            } catch (e) {
              reject(e);
            }
          },
          (e) => {
            if (decided) return; // streamOut reads it
            decided = true;
            clearImmediate(turn);
            reject(e);
          },
        );
      });
    }
  };
  return step();
}

/** Streams the rest with chunked transfer coding: the chunks read so far, then each read written before the next. */
function streamOut(
  req: HttpRequest,
  request: Request,
  status: number,
  headers: HeadersInit | undefined,
  reader: Reader,
  chunks: Uint8Array[],
  next: Promise<Read> | null,
  ended: StreamEnd,
): Uint8Array {
  return req.stream(status, headers, async (conn) => {
    let finished = false;
    // A client that leaves (an event stream between events, too): stop the app's source, abort its signal.
    conn.closed.then(() => {
      if (finished) return;
      reader.cancel().catch(noop);
      abortRequest(request);
    }, noop);
    try {
      if (chunks.length > 0) await conn.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
      let p: Promise<Read> | null = next;
      for (;;) {
        const r: Read = await (p ?? reader.read());
        p = null;
        if (r.done) break;
        const bytes = toBytes(r.value);
        if (bytes.length > 0) await conn.write(bytes);
      }
      finished = true;
    } catch (e) {
      if (conn.isClosed) return; // the client left: not an error
      finished = true;
      reader.cancel(e).catch(noop);
      console.error(`fasthttp: the response stream for ${request.method} ${request.url} failed; the connection is closed:`, e);
      conn.close(); // the chunked body stops short of its last chunk, so the client sees it incomplete
    } finally {
      ended._end();
    }
  });
}

/** A StreamEnd that tells no one. */
const NOBODY: StreamEnd = { _end: noop };

/**
 * The bytes to return from a fasthttp handler for `res`: a whole response, or
 * (for a stream) what `req.stream()` returned (HANDED_OVER), in which case
 * `ended` is told when the stream has ended or been given up. Throws (or
 * rejects) when the response cannot be written; the caller then answers 500.
 */
export function writeResponse(req: HttpRequest, request: Request, res: Response, ended: StreamEnd = NOBODY): Uint8Array | Promise<Uint8Array> {
  const status = res.status;
  const kind = kindOfResponse(res);
  const head = request.method === "HEAD";
  if (kind >= 0) {
    if (res.bodyUsed) throw new TypeError(`fasthttp: the Response for ${request.method} ${request.url} was returned with its body already read`);
    if (kind === Kind.Text && isBare(res)) {
      // No headers to read (the common `new Response(text)`): skip Headers altogether.
      const text = textOfResponse(res);
      return complete(req, status, text, text.length === 0 || noContent(status) ? undefined : TEXT_ONLY);
    }
    if (kind === Kind.Null) {
      if (isBare(res)) return complete(req, status, null, undefined);
      return nullBody(req, status, head, res);
    }
    if (kind === Kind.Text) {
      const text = textOfResponse(res);
      return complete(req, status, text, headersOf(res, text.length === 0 || noContent(status) ? null : TEXT_PLAIN, false));
    }
    // Bytes, a Blob, a form: Bun hands the bytes over at once (a Bun.file() Blob is read first).
    // The headers are taken first: reading the body drops the Content-Type Bun derived from it.
    const type = kind === Kind.Blob ? TEXT_PLAIN : kind === Kind.Bytes ? OCTET_STREAM : null;
    const plain = headersOf(res, null, false);
    const typed = type === null || noContent(status) ? plain : headersOf(res, type, false);
    return withBytes(req, status, res.bytes(), typed, plain);
  }
  const stream = res.body;
  if (stream === null) {
    return nullBody(req, status, head, res);
  }
  const blob = blobOfStream(stream);
  if (blob !== undefined && !stream.locked) {
    // Blob.stream(), Bun.file().stream(): Bun.serve knows the Blob behind it and sends it whole, typed.
    const plain = headersOf(res, null, false);
    const typed = noContent(status) ? plain : headersOf(res, blob.type || OCTET_STREAM, false);
    return withBytes(req, status, blob.bytes(), typed, plain);
  }
  if (head || noContent(status)) {
    stream.cancel().catch(noop); // never read
    if (noContent(status)) return nullBody(req, status, false, res);
    // HEAD of a stream: the head GET would send, whose length is not known without reading it.
    const headers = headersOf(res, null, true);
    if (statesFraming(headers)) return headAlone(req, status, headers);
    const list: [string, string][] = headers === undefined ? [] : Array.isArray(headers) ? headers : Object.entries(headers);
    list.push(["transfer-encoding", "chunked"]);
    return headAlone(req, status, list);
  }
  return fromStream(req, request, status, stream, headersOf(res, null, false), ended);
}

/** A response whose body is known to be null: a 304 or HEAD keeps the length the app states. */
function nullBody(req: HttpRequest, status: number, head: boolean, res: Response): Uint8Array {
  const framing = status === 304 || (head && !noContent(status));
  const headers = headersOf(res, null, framing);
  if (framing && (status === 304 || statesFraming(headers))) return headAlone(req, status, headers);
  return complete(req, status, null, headers);
}

/**
 * A whole response from bytes that may still be on their way (a Bun.file()
 * Blob is read first): with `typed` headers, or `plain` ones (without the
 * Content-Type added for the body) when it is empty, as Bun.serve sends it.
 */
function withBytes(
  req: HttpRequest,
  status: number,
  p: Promise<Uint8Array>,
  typed: HeadersInit | undefined,
  plain: HeadersInit | undefined,
): Uint8Array | Promise<Uint8Array> {
  if (Bun.peek.status(p) === "fulfilled") {
    const bytes = Bun.peek(p) as Uint8Array;
    return complete(req, status, bytes, bytes.length === 0 ? plain : typed);
  }
  return p.then((bytes) => complete(req, status, bytes, bytes.length === 0 ? plain : typed));
}
