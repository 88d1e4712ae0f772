/**
 * Static routes handed to the C core (c/routes.c): each is rendered once into
 * bytes the core keeps, and a request that matches one is answered in the
 * poll that read it, without entering JavaScript. What the core cannot
 * answer by itself (a file, a status without a body, a path it would not
 * match byte for byte) is left out here and stays the JavaScript router's,
 * which serves every static route too.
 *
 * @example
 * ```ts
 * installStaticRoutes(core, srv, [{ path: "/", methods: null, answer }]); // at run(), and on reload
 * ```
 * @module
 */
import type { Pointer } from "bun:ffi";
import type { Core } from "../ffi.ts";
import { M, M_ANY } from "../layout.ts";
import { checkHeader, isBodyless, statusLine } from "../response.ts";
import type { StaticAnswer } from "./render.ts";

export type { StaticAnswer };

/** One static route: an exact path (no parameters), its methods (null: any) and its answer. */
export interface StaticRoute {
  path: string;
  methods: string[] | null;
  answer: StaticAnswer;
}

/** The FH_M_* bits of a route's methods (null: every method the core knows); 0 when none is one the core answers. */
export function methodBits(methods: string[] | null): number {
  if (methods === null) return M_ANY;
  let bits = 0;
  for (const m of methods) bits |= (M as Record<string, number>)[m] ?? 0;
  return bits;
}

/** A head: the status line and `name: value` lines, Latin-1 as Bun sends them. */
function headBytes(status: number, headers: [string, string][]): Buffer {
  let text = "";
  for (const [name, value] of headers) {
    checkHeader(name, value);
    text += `${name}: ${value}\r\n`;
  }
  return Buffer.concat([statusLine(status), Buffer.from(text, "latin1")]);
}

/** Why the core will not take a route (it stays JavaScript's), or null when it will. */
export function nativeSkipReason(route: StaticRoute): string | null {
  const a = route.answer;
  if (a.file !== null) return "a file route";
  if (isBodyless(a.status) || a.status > 999) return `status ${a.status}`;
  if (!route.path.startsWith("/") || /[%?#]/.test(route.path)) return "a path the core does not match byte for byte";
  if (methodBits(route.methods) === 0) return "no method the core answers";
  return null;
}

/**
 * Replaces the core's static routes with `routes` (at run(), and on reload):
 * the ones the core can answer by itself are installed, in order (for the
 * same path and method, the first wins, as in the JavaScript router); the
 * others are left to JavaScript. Returns how many the core took.
 */
export function installStaticRoutes(core: Core, srv: Pointer, routes: readonly StaticRoute[]): number {
  core.fh_routes_clear(srv);
  let n = 0;
  for (const route of routes) {
    if (nativeSkipReason(route) !== null) continue;
    const a = route.answer;
    let head: Buffer;
    let nm: Buffer | null = null;
    try {
      head = headBytes(a.status, a.headers);
      if (a.etag !== null) nm = headBytes(304, a.notModifiedHeaders);
    } catch {
      continue; // a header the core would not send as it is: JavaScript's
    }
    const path = Buffer.from(route.path, "utf8");
    const etag = a.etag !== null ? Buffer.from(a.etag, "latin1") : null;
    const rc = core.fh_route_static(
      srv,
      path,
      path.length | 0,
      methodBits(route.methods) | 0,
      a.status | 0,
      head,
      head.length | 0,
      a.body.length > 0 ? a.body : null,
      a.body.length,
      etag,
      (etag?.length ?? 0) | 0,
      nm,
      (nm?.length ?? 0) | 0,
    );
    if (rc === 0) n++;
  }
  return n;
}
