/**
 * The types of the `routes` option, as Bun.serve's (`bun-types` serve.d.ts):
 * the path is a literal type, so `req.params` is typed from it.
 * @module
 */
import type { FetchServer } from "../config.ts";
import type { HttpRequest } from "../request.ts";

/**
 * The params a route path declares, as Bun's `Serve.ExtractRouteParams`:
 * `"/users/:id/posts/:postId"` gives `{ id: string } & { postId: string }`;
 * a path that is only known as `string` gives `Record<string, string>`.
 */
export type ExtractRouteParams<T> = string extends T
  ? Record<string, string>
  : T extends `${string}:${infer Param}/${infer Rest}`
    ? { [K in Param]: string } & ExtractRouteParams<Rest>
    : T extends `${string}:${infer Param}`
      ? { [K in Param]: string }
      : {};

/** The params of route `T`, flattened (what `req.params` shows in an editor). */
export type RouteParams<T extends string> = { [K in keyof ExtractRouteParams<T>]: ExtractRouteParams<T>[K] } & {};

/**
 * What a route handler of a fetch app gets, as Bun's `BunRequest<T>`: a
 * standard Request with `params`, the route's `:name` segments
 * percent-decoded (`BunRequest<"/users/:id">` has `params.id`).
 */
export interface BunRequest<T extends string = string> extends Request {
  readonly params: RouteParams<T>;
}

/** What a raw route handler gets: the {@link HttpRequest} with the route's decoded `params`. */
export type RouteHttpRequest<T extends string = string> = HttpRequest & { readonly params: RouteParams<T> };

/** The HTTP methods a method object may name (Bun's `HTTPMethod`). */
export type HTTPMethod = "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH";

/** The method names a method object may have, at run time. */
export const METHODS: readonly HTTPMethod[] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/**
 * A value that is answered the same way every time, rendered once: a
 * `Response` (its body must be whole: a string, bytes, a Blob, JSON, a
 * redirect), a `Bun.file()` (or a Response of one: read per request), or
 * `false` (the route is skipped: the request goes to the fallback).
 */
export type StaticRouteValue = Response | Blob | false;

/** A fetch app's route handler, as Bun's: `(req: BunRequest<Path>, server) => Response`. */
export type FetchRouteHandler<Path extends string, S = void> = (
  this: FetchServer<S>,
  req: BunRequest<Path>,
  server: FetchServer<S>,
) => Response | undefined | void | Promise<Response | undefined | void>;

/** A raw route handler: as a raw `handler`, with `req.params`. */
export type RawRouteHandler<Path extends string, S = void> = (req: RouteHttpRequest<Path>, state: S) => Uint8Array | Promise<Uint8Array>;

/**
 * The `routes` of a fetch app (Bun.serve's): each path maps to a handler, a
 * static value, or an object of either by method (`{ GET, POST }`).
 *
 * @example
 * ```ts
 * newServer({
 *   routes: {
 *     "/": new Response("home"),
 *     "/users/:id": (req) => Response.json({ id: req.params.id }),
 *     "/posts": { GET: listPosts, POST: createPost },
 *     "/old": Response.redirect("/new"),
 *   },
 *   fetch: () => new Response("not found", { status: 404 }),
 * });
 * ```
 */
export type Routes<S = void, R extends string = string> = {
  [Path in R]:
    | StaticRouteValue
    | FetchRouteHandler<Path, S>
    | Partial<Record<HTTPMethod, FetchRouteHandler<Path, S> | Response>>;
};

/** The `routes` of a raw server (`newServer({ routes, handler })`): raw handlers, static values, method objects. */
export type RawRoutes<S = void, R extends string = string> = {
  [Path in R]:
    | StaticRouteValue
    | RawRouteHandler<Path, S>
    | Partial<Record<HTTPMethod, RawRouteHandler<Path, S> | Response>>;
};
