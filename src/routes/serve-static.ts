/**
 * Serving a rendered {@link StaticAnswer} from JavaScript (when the C core
 * has not answered it: a wildcard or param static route, a method object, a
 * conditional request), as Bun.serve does: the rendered bytes with a current
 * Date; HEAD without the body; `If-None-Match` → 304; a file stat'ed per
 * request, with `Last-Modified` and `If-Modified-Since` → 304.
 * @module
 */
import type { Stats } from "node:fs";
import { REQ_HEAD } from "../layout.ts";
import { nodeFs } from "../lazy.ts";
import type { HttpRequest } from "../request.ts";
import { isBodyless } from "../response.ts";
import type { StaticAnswer } from "./render.ts";

/**
 * Whether an `If-None-Match` value matches `etag` (a quoted strong etag), as
 * Bun compares: `*`, or a member of the list equal to it by the weak
 * comparison (`W/` ignored, RFC 9110 §8.8.3.2), quoted or not; whitespace
 * around members ignored.
 */
export function noneMatch(value: string, etag: string): boolean {
  const bare = etag.slice(1, -1);
  for (const part of value.split(",")) {
    let t = part.trim();
    if (t === "*") return true;
    if (t.startsWith("W/")) t = t.slice(2).trim();
    if (t === etag || t === bare) return true;
  }
  return false;
}

/** Whether the request is a GET or a HEAD (the methods conditional requests apply to here, as in Bun). */
function isGetOrHead(req: HttpRequest): boolean {
  const b = req.buffer;
  const { start: s, len } = req.method;
  if ((req._flags & REQ_HEAD) !== 0) return true;
  return len === 3 && b[s] === 71 && b[s + 1] === 69 && b[s + 2] === 84;
}

/**
 * Answers `a` for `req`; null when it is a file route whose file is missing
 * (or not a regular file): the caller sends the request to the fallback, as
 * Bun.serve does.
 */
export function serveStatic(req: HttpRequest, a: StaticAnswer): Uint8Array | null {
  if (a.file !== null) return serveFile(req, a, a.file);
  if (a.etag !== null && isGetOrHead(req)) {
    const inm = req.header("if-none-match");
    if (inm !== undefined && noneMatch(inm, a.etag)) return req.response(304, null, a.notModifiedHeaders);
  }
  return req.response(a.status, isBodyless(a.status) ? null : a.body, a.headers);
}

/** The stat of the file last found by {@link fileReady}, for the serveFile that follows it at once. */
let lastStat: { path: string; st: Stats } | null = null;

/**
 * Whether a file route's file is there (a regular file), stat'ed now: when
 * it is not, the route does not take the request and matching goes on (a
 * lower route, then the fallback), as in Bun.serve.
 */
export function fileReady(path: string): boolean {
  const st = nodeFs().statSync(path, { throwIfNoEntry: false });
  if (st === undefined || !st.isFile()) return false;
  lastStat = { path, st };
  return true;
}

/** A file route: stat'ed now; 304 for an `If-Modified-Since` no older than its mtime (unless `If-None-Match` is given). */
function serveFile(req: HttpRequest, a: StaticAnswer, path: string): Uint8Array | null {
  let st: Stats | undefined = lastStat !== null && lastStat.path === path ? lastStat.st : undefined;
  lastStat = null;
  if (st === undefined) {
    st = nodeFs().statSync(path, { throwIfNoEntry: false });
    if (st === undefined || !st.isFile()) return null;
  }
  const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000);
  const lm: [string, string] = ["last-modified", lastModified.toUTCString()];
  if (isGetOrHead(req) && req.header("if-none-match") === undefined) {
    const ims = req.header("if-modified-since");
    if (ims !== undefined) {
      const since = Date.parse(ims);
      if (!Number.isNaN(since) && lastModified.getTime() <= since) return req.response(304, null, [...a.notModifiedHeaders, lm]);
    }
  }
  return req.sendFile(path, { status: a.status, headers: [...a.headers, lm] });
}
