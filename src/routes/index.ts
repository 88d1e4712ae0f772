/**
 * Routes: Bun.serve's `routes` option for fasthttp, for fetch apps and raw
 * handlers alike. See README "Routes" and notes/ROUTES.md for the rules.
 * @module
 */
export { fetchRoutes, rawRoutes, NO_PARAMS, type ReloadOptions, type RoutesHandle } from "./handler.ts";
export { compileRoutes, type RouteEntry, type RouteTable, type Target } from "./table.ts";
export { exactStaticRoutes, renderStatic, type StaticAnswer } from "./render.ts";
export { Router, methodName } from "./match.ts";
export { decodeParam } from "./params.ts";
export type * from "./types.ts";
