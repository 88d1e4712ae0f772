/**
 * by-hand.ts - routing `/users/:id` without a router, the two ways an app
 * writes it: over the path's bytes (the least it can do) and over the path as
 * a string. The figures a route is held to (bench/servers/param.ts, bench/micro).
 */
import type { HttpRequest } from "../../src/index.ts";

const PREFIX = new TextEncoder().encode("/users/");

/** The id in `/users/<id>` (no further "/", the query left out), or null: the path's bytes read by hand. */
export function usersIdByBytes(req: HttpRequest): string | null {
  const b = req.buffer;
  const s = req.path.start;
  let e = s + req.path.len;
  if (req.path.len <= PREFIX.length) return null;
  for (let i = 0; i < PREFIX.length; i++) if (b[s + i] !== PREFIX[i]) return null;
  for (let i = s + PREFIX.length; i < e; i++) {
    if (b[i] === 63) { e = i; break; } // prettier-ignore
    if (b[i] === 47) return null;
  }
  // As found, not percent-decoded: the least a hand-written handler does (the router decodes).
  return e > s + PREFIX.length ? req.string({ start: s + PREFIX.length, len: e - s - PREFIX.length }) : null;
}

/** The same, on the path as a string: split off the query, startsWith, slice (as examples/fasthttp did). */
export function usersIdByStrings(req: HttpRequest): string | null {
  const path = req.string(req.path).split("?", 1)[0]!;
  if (!path.startsWith("/users/")) return null;
  const id = path.slice("/users/".length);
  return id !== "" && !id.includes("/") ? id : null;
}
