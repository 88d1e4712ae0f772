/**
 * Static route values rendered once: a `Response`, a `Bun.file()`, a
 * `Response.redirect()` becomes a {@link StaticAnswer}, the bytes and
 * headers Bun.serve sends for it, when the server is made (and on reload).
 * The JavaScript side serves it (./serve-static.ts); the C core is handed
 * {@link exactStaticRoutes} (./native.ts).
 * @module
 */
import { resolve } from "node:path";
import { show } from "../config.ts";
import type { StaticRoute } from "./native.ts";
import type { RouteTable } from "./table.ts";

/** A static route's answer, rendered once. */
export interface StaticAnswer {
  /** e.g. 200, 302 */
  status: number;
  /**
   * Headers in the order Bun sends them, WITHOUT Date, Content-Length and
   * Connection (the server adds those): Content-Type first, the Response's
   * other headers (lower-case names, as its Headers holds them), then the
   * etag. For a file route, `last-modified` (and the length) come per
   * request, after these.
   */
  headers: [string, string][];
  /** Empty for a file route (see file). */
  body: Uint8Array;
  /** The quoted etag Bun would send (`"<xxHash64 of the body, 16 hex digits>"`), or null (an empty body, a file). */
  etag: string | null;
  /**
   * For Bun.file routes: the file's absolute path. The body is read and sent
   * per request, as Bun does: the file is stat'ed for every request (its
   * length and Last-Modified follow it, and a file that is missing or not a
   * regular file sends the request on to the fallback, else 404).
   */
  file: string | null;
  /** The 304 variant's headers (Bun's order), when a conditional request matches. For a file, `last-modified` follows them. */
  notModifiedHeaders: [string, string][];
}

/** Response headers that are the server's to send, never a rendered answer's. */
const SERVERS_OWN = new Set(["date", "content-length", "transfer-encoding", "connection", "keep-alive"]);

/** Whether `v` is a `Bun.file()` (a Blob with a path). */
export function isBunFile(v: unknown): v is Blob & { name: string } {
  return v instanceof Blob && typeof (v as { name?: unknown }).name === "string" && typeof (v as { exists?: unknown }).exists === "function";
}

/** The quoted etag of a body, as Bun's static routes compute it: xxHash64, seed 0, 16 lower-case hex digits. */
export function etagOf(body: Uint8Array): string {
  return `"${Bun.hash.xxHash64(body).toString(16).padStart(16, "0")}"`;
}

/** The Response's headers, Content-Type first (`type` when it has none), the server's own left out. */
function headerList(headers: Headers, type: string | null): [string, string][] {
  const out: [string, string][] = [];
  const ct = headers.get("content-type") ?? type;
  if (ct !== null && ct !== "") out.push(["content-type", ct]);
  for (const [name, value] of headers) {
    if (name === "content-type" || SERVERS_OWN.has(name)) continue;
    out.push([name, value]);
  }
  return out;
}

/** The answer of a file route: `Bun.file(path)`, or a Response of one (its status and headers kept). */
function fileAnswer(file: Blob & { name: string }, status: number, headers: Headers | null): StaticAnswer {
  const list = headerList(headers ?? new Headers(), file.type === "" ? null : file.type);
  return { status, headers: list, body: new Uint8Array(0), etag: null, file: resolve(file.name), notModifiedHeaders: list };
}

/**
 * Renders a static route value: a Response (whose body must be whole: a
 * string, bytes, a Blob, JSON, a form, or none) or a `Bun.file()`. The
 * Response is not consumed (its clone is read), so the same object can be
 * given to Bun.serve too. Throws a TypeError naming the route when the body
 * was already used or is a stream, as Bun.serve does.
 */
export function renderStatic(path: string, value: Response | Blob): StaticAnswer {
  if (isBunFile(value)) return fileAnswer(value, 200, null);
  if (!(value instanceof Response)) throw new TypeError(`fasthttp: routes[${show(path)}]: a static route is a Response or a Bun.file() (got ${show(value)})`);
  if (value.bodyUsed) throw new TypeError(`fasthttp: routes[${show(path)}]: the Response's body has already been used`);
  const status = value.status;
  const clone = value.clone();
  const pending = clone.blob();
  if (Bun.peek.status(pending) !== "fulfilled") {
    pending.catch(() => {}); // a stream: never read
    throw new TypeError(
      `fasthttp: routes[${show(path)}]: the Response's body must be whole (a string, bytes, a Blob), not a stream: new Response(await response.blob()) buffers it`,
    );
  }
  const blob = Bun.peek(pending) as Blob;
  if (isBunFile(blob)) return fileAnswer(blob, status, value.headers);
  const read = blob.bytes();
  if (Bun.peek.status(read) !== "fulfilled") throw new TypeError(`fasthttp: routes[${show(path)}]: the Response's body could not be read at once`);
  const bytes = Bun.peek(read) as Uint8Array;
  const headers = headerList(value.headers, blob.type === "" ? null : blob.type);
  let etag: string | null = null;
  const own = headers.find(([n]) => n === "etag");
  if (own !== undefined) etag = own[1];
  else if (bytes.length > 0) {
    etag = etagOf(bytes);
    headers.push(["etag", etag]);
  }
  return { status, headers, body: bytes, etag, file: null, notModifiedHeaders: headers };
}

/**
 * The static routes whose path has no param and no wildcard: the ones the C
 * core may answer on its own (`methods` null: any method). A path's exact
 * route always wins over its param and wildcard routes, so answering these
 * before JavaScript sees the request changes nothing, except for a file
 * route whose file is missing (that request must reach JavaScript, which
 * sends it to the fallback).
 */
export function exactStaticRoutes(table: RouteTable): StaticRoute[] {
  const out: StaticRoute[] = [];
  for (const entry of table.entries) {
    if (!entry.exact) continue;
    if (entry.any !== null) {
      if (entry.any.kind === "static") out.push({ path: entry.path, methods: null, answer: entry.any.answer });
      continue;
    }
    if (entry.methods === null) continue;
    const byAnswer = new Map<StaticAnswer, string[]>();
    for (const [method, target] of entry.methods) {
      if (target.kind !== "static") continue;
      let list = byAnswer.get(target.answer);
      if (list === undefined) byAnswer.set(target.answer, (list = []));
      list.push(method);
    }
    const get = entry.methods.get("GET");
    if (get?.kind === "static" && !entry.methods.has("HEAD")) byAnswer.get(get.answer)!.push("HEAD"); // HEAD is GET's, as Bun derives it
    for (const [answer, methods] of byAnswer) out.push({ path: entry.path, methods, answer });
  }
  return out;
}
