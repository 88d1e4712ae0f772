/**
 * The web-standard adapter: `(Request) => Response` apps (Hono, Elysia...) on
 * fasthttp. `newServer({ fetch })` uses it; `fetchHandler` is the same thing
 * as a handler of its own.
 * @module
 */
export { fetchHandler, type FetchOptions } from "./fetch.ts";
export type { ErrorHandler, FetchHandler, FetchServer, SocketAddress } from "../config.ts";
