/**
 * fasthttp: a high-performance HTTP/1.1 server for Bun, in the spirit of V's
 * `fasthttp` module. A small C core (compiled at start-up by bun:ffi's `cc`)
 * owns the sockets and parses requests; your handler runs in JavaScript and
 * returns the response bytes.
 *
 * @example
 * ```ts
 * import { newServer } from "fasthttp";
 * const hello = new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nHello, World!\n");
 * const server = newServer({ port: 3000, handler: () => hello });
 * await server.run();
 * ```
 * @module
 */
import { fetchHandler } from "./adapter/index.ts";
import { type FromRoutes, type RawRoutesConfig, type ServerConfig } from "./config.ts";
import { fetchRoutes, rawRoutes } from "./routes/index.ts";
import { type Server } from "./server.ts";
import { createServer } from "./workers.ts";

export type { ErrorHandler, Handler, RawRoutesConfig, ServerConfig, WorkerInfo } from "./config.ts";
export type {
  BunRequest,
  ExtractRouteParams,
  FetchRouteHandler,
  HTTPMethod,
  RawRouteHandler,
  RawRoutes,
  RouteHttpRequest,
  RouteParams,
  Routes,
} from "./routes/types.ts";
export { fetchHandler, type FetchHandler, type FetchOptions, type FetchServer, type SocketAddress } from "./adapter/index.ts";
export { HANDED_OVER, HttpRequest, type Slice } from "./request.ts";
export { Arena } from "./arena.ts";
export { BodyError } from "./body.ts";
export { Connection, type ConnectionMode } from "./connection.ts";
export type { HeadersInit } from "./response.ts";
export { Server, type ServerStats } from "./server.ts";
export type { ServerWebSocket, BinaryType, WebSocketData } from "./ws/socket.ts";
export type { PerMessageDeflate, WebSocketCompressor, WebSocketHandler } from "./ws/types.ts";
export type { UpgradeOptions } from "./ws/hub.ts";

/**
 * Makes a server. Nothing is bound until `run()`. Throws a TypeError or
 * RangeError naming the field and the value when the config is invalid.
 * With `workers`, the server is N loops in N Workers serving one port (see
 * src/workers.ts and the README); `makeState` gives each loop its state.
 *
 * @example
 * ```ts
 * const server = newServer({
 *   workers: "auto",
 *   makeState: (worker) => ({ id: worker.index, hits: 0 }),
 *   handler: (req, state) => new TextEncoder().encode(`worker ${state.id}: ${++state.hits}\n`),
 * });
 * ```
 */
export function newServer<S = void, R extends string = string>(config: RawRoutesConfig<S, R>): Server;
export function newServer<S = void, R extends string = string>(config: ServerConfig<S, R>): Server;
export function newServer<S = void>(config: ServerConfig<S, any> | RawRoutesConfig<S, any>): Server {
  // `fetch` and `routes` are resolved here: the core imports neither the adapter nor the router.
  return createServer(config as ServerConfig<S, any>, fetchHandler, fromRoutes as FromRoutes<S>);
}

/** `routes` with their fallback: raw routes with a `handler`, else a fetch app's. */
const fromRoutes: FromRoutes<any> = (routes, fallback) =>
  "handler" in fallback ? rawRoutes(routes, fallback.handler) : fetchRoutes(routes, fallback.fetch, fallback.options, fetchHandler);
