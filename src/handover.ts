/**
 * Hand-overs: a request answered by something other than bytes returned at
 * once. `takeover()` gives the connection to user code, `stream()` sends a
 * head and then a body written over time, `sendFile()` a head and then a
 * file by sendfile. Each records what was asked for on the request (its
 * `_special`) and returns {@link HANDED_OVER}; src/place.ts hands it to the
 * core when the handler returns.
 * @module
 */
import { buildHead, entries } from "./build.ts";
import type { Connection } from "./connection.ts";
import { REQ_HEAD, REQ_HTTP10 } from "./layout.ts";
import type { HttpRequest } from "./request.ts";
import { nodeFs } from "./lazy.ts";
import { isBodyless, type HeadersInit } from "./response.ts";

/**
 * What a handler returns after {@link HttpRequest.takeover},
 * {@link HttpRequest.stream} or {@link HttpRequest.sendFile}: those methods
 * return it, and the handler must return it as it is.
 */
export const HANDED_OVER: Uint8Array = new Uint8Array(0);

/** @internal A takeover the handler asked for. */
export type TakeoverSpecial = { kind: "takeover" | "reusable"; fn: (conn: Connection) => unknown; head: null };
/**
 * @internal A stream the handler asked for: its head, how its body is framed,
 * and whether the connection closes after it (a close-delimited body).
 */
export type StreamSpecial = {
  kind: "stream";
  fn: (conn: Connection) => unknown;
  head: Uint8Array;
  chunked: boolean;
  bodyless: boolean;
  closeAfter: boolean;
};
/** @internal A takeover, stream or file the handler asked for. */
export type Special = TakeoverSpecial | StreamSpecial | { kind: "file"; head: Uint8Array; fd: number; size: number };

/** Content types by file extension, for sendFile. */
const MIME: Record<string, string> = {
  html: "text/html; charset=utf-8", htm: "text/html; charset=utf-8", css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8", mjs: "text/javascript; charset=utf-8", json: "application/json",
  txt: "text/plain; charset=utf-8", svg: "image/svg+xml", png: "image/png", jpg: "image/jpeg",
  jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp", ico: "image/x-icon", wasm: "application/wasm",
  pdf: "application/pdf", xml: "application/xml", woff2: "font/woff2", mp4: "video/mp4",
};

/** The Content-Type for a path, from its extension. */
function mimeType(path: string): string {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  return Object.hasOwn(MIME, ext) ? MIME[ext]! : "application/octet-stream";
}

/** Records a hand-over on the request; throws if it already has one. */
function handOver(req: HttpRequest, sp: Special): void {
  if (req._special !== null) {
    if (sp.kind === "file") nodeFs().closeSync(sp.fd);
    throw new Error("fasthttp: this request was already handed over (takeover, stream or sendFile)");
  }
  req._special = sp;
}

/** `req.takeover(fn, options)`: see {@link HttpRequest.takeover}. */
export function takeover(req: HttpRequest, fn: (conn: Connection) => unknown, options: { reusable?: boolean }): Uint8Array {
  if (typeof fn !== "function") throw new TypeError("fasthttp: takeover() needs a function");
  handOver(req, { kind: options.reusable ? "reusable" : "takeover", fn, head: null });
  return HANDED_OVER;
}

/** `req.stream(status, headers, fn)`: see {@link HttpRequest.stream}. */
export function stream(req: HttpRequest, status: number, headers: HeadersInit | undefined, fn: (conn: Connection) => unknown): Uint8Array {
  if (typeof fn !== "function") throw new TypeError("fasthttp: stream() needs a function");
  const http10 = (req._flags & REQ_HTTP10) !== 0;
  const bodyless = (req._flags & REQ_HEAD) !== 0 || isBodyless(status);
  const extra: [string, string][] = [];
  if (!bodyless && !http10) extra.push(["Transfer-Encoding", "chunked"]);
  if (http10 && !bodyless) extra.push(["Connection", "close"]);
  const head = buildHead(req, status, headers, extra);
  // An HTTP/1.0 client gets the body unframed: it ends when the connection does.
  handOver(req, { kind: "stream", fn, head, chunked: !bodyless && !http10, bodyless, closeAfter: http10 && !bodyless });
  return HANDED_OVER;
}

/** `req.sendFile(path, options)`: see {@link HttpRequest.sendFile}. */
export function sendFile(req: HttpRequest, path: string, options: { status?: number; headers?: HeadersInit }): Uint8Array {
  const { closeSync, constants: fsc, fstatSync, openSync } = nodeFs();
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not block the loop until a writer comes (it is then refused).
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM") return req.response(403, "Forbidden\n");
    return req.response(404, "Not Found\n");
  }
  let size: number;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      return req.response(404, "Not Found\n");
    }
    size = st.size;
  } catch {
    closeSync(fd);
    return req.response(403, "Forbidden\n");
  }
  const status = options.status ?? 200;
  // 1xx, 204 and 304 have no body: the file is not sent (a 204 or 1xx has no Content-Length either).
  const noBody = isBodyless(status);
  const extra: [string, string][] = status < 200 || status === 204 ? [] : [["Content-Length", String(size)]];
  let typed = false;
  if (options.headers !== undefined) {
    for (const [name] of entries(options.headers)) if (name.toLowerCase() === "content-type") typed = true;
  }
  if (!typed) extra.push(["Content-Type", mimeType(path)]);
  let head: Uint8Array;
  try {
    head = buildHead(req, status, options.headers, extra);
  } catch (e) {
    closeSync(fd); // a bad status or header: answered 500, and the file is not left open
    throw e;
  }
  if ((req._flags & REQ_HEAD) !== 0 || noBody) {
    closeSync(fd);
    return head;
  }
  handOver(req, { kind: "file", head, fd, size });
  return HANDED_OVER;
}
