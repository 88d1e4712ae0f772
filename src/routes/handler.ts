/**
 * The `routes` option as one {@link Handler}: each request's path is matched
 * (./match.ts); a static route is answered from its rendered bytes
 * (./serve-static.ts), a handler route is called with `params`, anything
 * else goes to the fallback (`fetch`, or a raw `handler`), else 404 as
 * Bun.serve answers it (no body). `reload()` swaps the table (and the
 * fallback) for the requests that follow.
 * @module
 */
import type { ErrorHandler, FetchHandler, Handler } from "../config.ts";
import type { HttpRequest } from "../request.ts";
import { Router } from "./match.ts";
import type { StaticRoute } from "./native.ts";
import { exactStaticRoutes } from "./render.ts";
import { paramsOf } from "./params.ts";
import { serveStatic } from "./serve-static.ts";
import { compileRoutes, type RouteTable, type Target } from "./table.ts";

/** What `server.reload()` takes, as Bun's: the new routes and fallback (each kept when left out). */
export interface ReloadOptions {
  routes?: unknown;
  fetch?: unknown;
  handler?: unknown;
}

/** A routed server's handler and what reloads it. */
export interface RoutesHandle<S> {
  handler: Handler<S>;
  /** The table now served (for the C fast path: `exactStaticRoutes(handle.table)`). */
  readonly table: RouteTable;
  /** Compiles `options.routes` (a bad one throws, and the old table stays) and swaps it in with `options.fetch`/`handler`. */
  reload(options: ReloadOptions): void;
  /** The table's static routes with exact paths (for the core: src/routes/native.ts). */
  staticRoutes(): StaticRoute[];
}

/** The target for `req` under `router`, or null. The path is matched up to "?" (the query is not matched). */
function route(router: Router, req: HttpRequest): Target | null {
  const b = req.buffer;
  const s = req.path.start;
  const e = s + req.path.len;
  let q = s;
  while (q < e && b[q] !== 63) q++;
  return router.match(b, s, q, req.method.start, req.method.len);
}

/** Bun.serve's answer when nothing takes a request: 404 with no body (and Content-Length: 0). */
function notFound(req: HttpRequest): Uint8Array {
  return req.response(404, null);
}

/** No params: what a raw fallback handler sees as `req.params`. */
export const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

/** The handle of `handler`, whose table is `current()`'s (reload swaps it). */
function handleOf<S>(handler: Handler<S>, current: () => Router, reload: (o: ReloadOptions) => void): RoutesHandle<S> {
  return {
    handler,
    get table() {
      return current().table;
    },
    staticRoutes: () => exactStaticRoutes(current().table),
    reload,
  };
}

function checkFn(name: string, v: unknown): void {
  if (v !== undefined && typeof v !== "function") throw new TypeError(`fasthttp: ${name} must be a function (got ${typeof v})`);
}

/**
 * The routes of a fetch app: handler routes get a standard Request with
 * `params` (and the server, as Bun's `(req, server)`); `fetch` answers what
 * no route takes; `error` what a route or `fetch` threw. `fromFetch` is the
 * adapter's `fetchHandler`.
 */
export function fetchRoutes<S>(
  routes: unknown,
  fetch: FetchHandler<S> | undefined,
  options: { error?: ErrorHandler },
  fromFetch: (fetch: FetchHandler<S>, options: { error?: ErrorHandler }) => Handler<S>,
): RoutesHandle<S> {
  let router = new Router(compileRoutes(routes));
  let fallback = fetch;
  /** The route handler the adapter is about to call, and its params (set just before, synchronously). */
  let pendingFn: Function | null = null;
  let pendingParams: Record<string, string> | null = null;
  const dispatch: FetchHandler<S> = (request, server) => {
    const fn = pendingFn;
    if (fn !== null) {
      pendingFn = null;
      (request as { params?: unknown }).params = pendingParams;
      return fn.call(server, request, server);
    }
    if (fallback === undefined) throw new TypeError("fasthttp: server.fetch() needs a fetch handler (this server has routes only)");
    return fallback.call(server, request, server);
  };
  const app = fromFetch(dispatch, options); // the adapter's fetchHandler (the entry passes it: src/routes/ does not import the adapter)
  const handler: Handler<S> = (req, state) => {
    const t = route(router, req);
    if (t !== null) {
      if (t.kind === "fn") {
        pendingFn = t.fn;
        pendingParams = paramsOf(router, req.buffer);
        try {
          return app(req, state);
        } finally {
          pendingFn = null; // a request the adapter refused (400, 501) never called it
          pendingParams = null;
        }
      }
      if (t.kind === "static") {
        const out = serveStatic(req, t.answer);
        if (out !== null) return out;
      }
    }
    return fallback === undefined ? notFound(req) : app(req, state);
  };
  return handleOf(handler, () => router, (o) => {
    checkFn("fetch", o.fetch);
    const next = o.routes === undefined ? router : new Router(compileRoutes(o.routes));
    const nextFallback = (o.fetch as FetchHandler<S> | undefined) ?? fallback;
    if (nextFallback === undefined && next.table.entries.length === 0) {
      throw new TypeError("fasthttp: reload() would leave nothing to answer: give routes or fetch");
    }
    router = next;
    fallback = nextFallback;
  });
}

/**
 * The routes of a raw server: a route's handler gets the {@link HttpRequest}
 * with `params` and the loop's state; `handler` answers what no route takes
 * (its `req.params` is empty).
 */
export function rawRoutes<S>(routes: unknown, fallback: Handler<S>): RoutesHandle<S> {
  let router = new Router(compileRoutes(routes));
  let fb = fallback;
  const handler: Handler<S> = (req, state) => {
    const t = route(router, req);
    if (t !== null) {
      if (t.kind === "fn") {
        req.params = paramsOf(router, req.buffer);
        return (t.fn as Handler<S>)(req, state);
      }
      if (t.kind === "static") {
        const out = serveStatic(req, t.answer);
        if (out !== null) return out;
      }
    }
    req.params = NO_PARAMS;
    return fb(req, state);
  };
  return handleOf(handler, () => router, (o) => {
    checkFn("handler", o.handler);
    if (o.fetch !== undefined) throw new TypeError("fasthttp: reload(): this server has a raw handler; give handler, not fetch");
    router = o.routes === undefined ? router : new Router(compileRoutes(o.routes));
    fb = (o.handler as Handler<S> | undefined) ?? fb;
  });
}

