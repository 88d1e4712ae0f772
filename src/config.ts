/**
 * `ServerConfig`: the options, their defaults, and eager validation. A bad
 * value throws a TypeError or RangeError that names the field and the value.
 * @module
 */
import type { StaticRoute } from "./routes/native.ts";
import type { HttpRequest } from "./request.ts";
import type { UpgradeOptions } from "./ws/hub.ts";
import type { WebSocketHandler } from "./ws/types.ts";
import type { RawRoutes, Routes } from "./routes/types.ts";

/**
 * A request handler: the response bytes, a promise of them, or a throw (500).
 * `state` is what `makeState` made for the loop (the worker) that runs it.
 */
export type Handler<S = void> = (req: HttpRequest, state: S) => Uint8Array | Promise<Uint8Array>;

/** An address as Bun gives it (`server.requestIP()`). */
export interface SocketAddress {
  address: string;
  family: "IPv4" | "IPv6";
  port: number;
}

/**
 * The `server` a fetch app gets as its second argument, Bun's `Server`
 * surface for the loop that serves the request (with `workers`, each worker
 * has its own; `publish()` reaches the subscribers of every worker, and
 * `subscriberCount()` counts this worker's). `state` is fasthttp's own: what
 * `makeState` made for this loop (Hono: `c.env.state`).
 */
export interface FetchServer<S = void> {
  /** What `makeState` made for this loop (undefined without it). */
  readonly state: S;
  /** The bound port. */
  readonly port: number;
  /** The host it was told to bind (`host`; default "::"). */
  readonly hostname: string;
  /** `http://hostname:port/` (an IPv6 host in brackets). */
  readonly url: URL;
  /** The bound address. */
  readonly address: SocketAddress;
  /** Always false: fasthttp renders no development error pages. */
  readonly development: boolean;
  /** Empty, as Bun's default. */
  readonly id: string;
  /** "http". */
  readonly protocol: string;
  /** Requests this loop's app is answering: called, and not yet written in full (a stream until its last chunk). */
  readonly pendingRequests: number;
  /** The WebSockets this loop holds (as Bun's, which counts those open, not only those opening). */
  readonly pendingWebSockets: number;
  /** The client's address, or null when its connection is gone or the request is not this server's. */
  requestIP(request: Request): SocketAddress | null;
  /**
   * Sets the idle timeout of the request's connection in seconds (0: none):
   * how long it may sit idle after this answer, or stall while sending a
   * body. A handler's time and a streamed response's are their own.
   */
  timeout(request: Request, seconds: number): void;
  /**
   * Upgrades the request to a WebSocket (the `websocket` option's handlers
   * take it): true when it is a valid upgrade (return nothing then), false
   * when it is not (answer it). `data` becomes `ws.data`; `headers` are
   * added to the 101. Throws without the `websocket` option, as Bun.serve.
   */
  upgrade<T = undefined>(request: Request, options?: UpgradeOptions<T>): boolean;
  /**
   * Sends a message (a string as text, bytes as binary) to every WebSocket
   * subscribing to `topic`: the message's bytes when some subscriber here
   * got it, else 0.
   */
  publish(topic: string, data: string | ArrayBufferLike | ArrayBufferView, compress?: boolean): number;
  /** How many of this loop's WebSockets subscribe to `topic`. */
  subscriberCount(topic: string): number;
  /** Calls the app as a client's request would. */
  fetch(request: Request | string): Promise<Response>;
  /** With `routes`: swaps this loop's routes and `fetch` for the requests that follow, as Bun's `server.reload()`. */
  reload(options: { routes?: unknown; fetch?: unknown }): this;
  /** Stops the server (with `closeActiveConnections`, at once). */
  stop(closeActiveConnections?: boolean): Promise<void>;
  /** The server keeps the process alive (the default). */
  ref(): void;
  /** The process may exit while the server runs. */
  unref(): void;
}

/**
 * A web-standard handler, as `Bun.serve`'s `fetch` (Hono's `app.fetch`):
 * a `Request` in, a `Response` (or a promise of one) out. `server` is Bun's
 * server argument (Hono's `env`); `server.state` is what `makeState` made
 * for the loop, undefined without it. After a successful
 * `server.upgrade(request)` it returns nothing (a Response is not sent).
 */
export type FetchHandler<S = void> = (
  request: Request,
  server: FetchServer<S>,
) => Response | undefined | void | Promise<Response | undefined | void>;

/**
 * As Bun.serve's `error`: called with what a fetch app threw or rejected
 * with; a Response it returns is sent instead of the 500.
 */
export type ErrorHandler = (error: Error) => Response | Promise<Response> | undefined | void;

/** Which loop a `makeState` call is for: worker `index` of `count` (0 of 1 without workers). */
export interface WorkerInfo {
  /** 0-based. */
  index: number;
  /** How many workers serve the port (1 without workers). */
  count: number;
  /** `ServerConfig.workerData`, cloned into the worker. */
  data: unknown;
}

/**
 * Options of {@link newServer}. `S` is the per-worker state type (see
 * `makeState`); `R` the route paths (inferred from `routes`, so that
 * `req.params` is typed from each path, as with Bun.serve).
 */
export interface ServerConfig<S = void, R extends string = string> {
  /**
   * Handles every request. Bytes starting with `HTTP/` are sent as they are; other bytes are the body of a `200 OK`.
   * Give either `handler` or `fetch`.
   */
  handler?: Handler<S>;
  /**
   * A web-standard app instead of `handler`: `fetch: app.fetch` serves a Hono app (src/adapter/; README "Web-standard apps").
   * With `routes`, it answers what no route takes (optional then: without it, 404).
   */
  fetch?: FetchHandler<S>;
  /**
   * Bun.serve's `routes`: paths (`"/users/:id"`, `"/static/*"`) to handlers
   * `(req: BunRequest<Path>, server) => Response` (`req.params` typed from the
   * path), static values (a `Response`, `Bun.file()`, `Response.redirect()`,
   * rendered once), `false`, or objects of those by method. Without `handler`,
   * a fetch app; with `handler`, raw routes (see {@link RawRoutesConfig}).
   * README "Routes"; notes/ROUTES.md for the matching rules.
   */
  routes?: Routes<S, R>;
  /** With `fetch` (or fetch-style `routes`): answers what the app threw, as Bun.serve's `error` (a Response, else the 500). */
  error?: ErrorHandler;
  /** TCP port; `0` picks a free one (see `server.port`). Default 3000. */
  port?: number;
  /** Address or name to bind. Default `"::"`: every interface, IPv4 and IPv6. */
  host?: string;
  /** Largest request head in bytes; a larger one gets 431 (414 while still in the request-target). Also the bound on a chunked body's chunk lines (413 past it) and trailer section (431). Default 8192. */
  maxHeaderSize?: number;
  /**
   * Largest request body in bytes, whole or streamed; a larger one gets 413 (from Content-Length
   * before the handler runs, or as a chunked body passes it). Default 16 MiB.
   */
  maxRequestBodySize?: number;
  /** Listen backlog. Default 1024. */
  backlog?: number;
  /** Set SO_REUSEPORT, so several servers can share the port. Default false. */
  reusePort?: boolean;
  /** Seconds a request head may take to arrive, from its first byte; then 408 and close (the slowloris defence). 0: no limit. Default 10. */
  headerTimeout?: number;
  /** Seconds a keep-alive connection may sit idle (or a request body stall) before it is closed. 0: never. Default 10, as Bun.serve. */
  idleTimeout?: number;
  /** Seconds a response may wait on a peer that stopped reading before the connection is dropped. 0: never. Default 30. */
  writeTimeout?: number;
  /** Most open connections; past it a new connection gets 503 and is closed. 0: no cap. Default 0. */
  maxConnections?: number;
  /** Size of one arena slab in bytes (a multiple of 4096); a body that does not fit in one with its head streams (`req.bodyStreamed`). Default 16384. */
  arenaSlabSize?: number;
  /** Most slabs the arena pool may hold. Default 4096. */
  arenaMaxSlabs?: number;
  // ---- workers (src/workers.ts) ----
  /**
   * Loops serving the port, each in its own Bun Worker running the entry script again; `"auto"`:
   * one per CPU. Default 1: no worker, the loop runs in this thread. Limits apply per worker.
   */
  workers?: number | "auto";
  /** Makes the state handed to every request of one loop (once per worker), as the handler's second argument. */
  makeState?: (worker: WorkerInfo) => S;
  /** The script the workers run: a path or `file:` URL. Default the entry script (`Bun.main`). */
  workerEntry?: string | URL;
  /** A structured-cloneable value handed to each worker, as `makeState`'s `worker.data`. */
  workerData?: unknown;
  // ---- WebSocket (src/ws/) ----
  /**
   * WebSockets, as Bun.serve's `websocket`: the handlers (`message`, and
   * `open`, `close`, `drain`, `ping`, `pong`) and options
   * (`maxPayloadLength`, `backpressureLimit`, `closeOnBackpressureLimit`,
   * `idleTimeout`, `sendPings`, `publishToSelf`, `perMessageDeflate`). A
   * fetch app upgrades with `server.upgrade(request, { data, headers })`, a
   * handler with `req.upgrade({ data, headers })`.
   */
  websocket?: WebSocketHandler<any>;
}

/**
 * A raw server with routes: `newServer({ routes, handler })`, whose route
 * values are raw handlers `(req: RouteHttpRequest<Path>, state) => bytes`
 * (with `req.params`), static values, `false` or method objects; `handler`
 * answers what no route takes.
 */
export interface RawRoutesConfig<S = void, R extends string = string> extends Omit<ServerConfig<S>, "routes" | "fetch" | "error" | "handler"> {
  handler: Handler<S>;
  routes: RawRoutes<S, R>;
}

/** A config with every default filled in (what one loop needs besides its handler; the workers' options stay as given). */
export type ResolvedConfig = Required<Omit<ServerConfig, WorkerOption | "fetch" | "handler" | "error" | "websocket" | "routes">>;

/** The options src/workers.ts reads; a loop ignores them. */
type WorkerOption = "workers" | "makeState" | "workerEntry" | "workerData";

const KNOWN = new Set([
  "handler",
  "fetch",
  "routes",
  "error",
  "port",
  "host",
  "maxHeaderSize",
  "maxRequestBodySize",
  "backlog",
  "reusePort",
  "arenaSlabSize",
  "arenaMaxSlabs",
  "headerTimeout",
  "idleTimeout",
  "writeTimeout",
  "maxConnections",
  "workers",
  "makeState",
  "workerEntry",
  "workerData",
  "websocket",
]);

/** @internal A config value as an error message shows it. */
export function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "function") return "a function";
  if (typeof v === "bigint") return `${v}n`;
  try {
    return String(JSON.stringify(v) ?? v);
  } catch {
    return String(v);
  }
}

function int(cfg: ServerConfig, name: keyof ServerConfig, def: number, min: number, max: number): number {
  const v = (cfg as unknown as Record<string, unknown>)[name];
  if (v === undefined) return def;
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw new TypeError(`fasthttp: ${name} must be an integer from ${min} to ${max} (got ${show(v)})`);
  }
  if (v < min || v > max) {
    throw new RangeError(`fasthttp: ${name} must be an integer from ${min} to ${max} (got ${show(v)})`);
  }
  return v;
}

function seconds(cfg: ServerConfig, name: keyof ServerConfig, def: number): number {
  const v = (cfg as unknown as Record<string, unknown>)[name];
  if (v === undefined) return def;
  if (typeof v !== "number" || Number.isNaN(v)) {
    throw new TypeError(`fasthttp: ${name} must be a number of seconds from 0 to 86400 (got ${show(v)})`);
  }
  if (v < 0 || v > 86400) {
    throw new RangeError(`fasthttp: ${name} must be a number of seconds from 0 to 86400 (got ${show(v)})`);
  }
  return v;
}

/** Most workers one server may ask for. */
const MAX_WORKERS = 256;

/** `workers` as a count ("auto": the CPUs this process may use); throws a TypeError/RangeError naming it. */
export function workerCount(cfg: ServerConfig<any>, cpus: () => number): number {
  const v = cfg.workers;
  if (v === undefined) return 1;
  if (v === "auto") return Math.max(1, Math.min(MAX_WORKERS, cpus()));
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw new TypeError(`fasthttp: workers must be "auto" or an integer from 1 to ${MAX_WORKERS} (got ${show(v)})`);
  }
  if (v < 1 || v > MAX_WORKERS) {
    throw new RangeError(`fasthttp: workers must be "auto" or an integer from 1 to ${MAX_WORKERS} (got ${show(v)})`);
  }
  return v;
}

// ---- fetch (src/adapter/) ----

/** A config whose `fetch` (if it had one) has become its `handler`. */
export type HandlerConfig<S = void> = Omit<ServerConfig<S>, "fetch" | "handler" | "error" | "routes"> & { handler: Handler<S> };

/** Throws a TypeError unless `routes` is an object of paths (at newServer, and on reload: src/routes/table.ts). */
export function checkRoutesObject(routes: unknown): asserts routes is object {
  if (routes === null || typeof routes !== "object" || Array.isArray(routes)) {
    throw new TypeError(`fasthttp: routes must be an object of paths, e.g. { "/": new Response("home"), "/users/:id": (req) => ... } (got ${show(routes)})`);
  }
}

/**
 * Throws a TypeError unless exactly one of `handler` and `fetch` is a
 * function (with `routes`, either may be left out: a fetch app's `fetch`,
 * not a raw server's `handler`).
 */
function checkHandler(cfg: ServerConfig<any, any>): void {
  const { handler, fetch, routes } = cfg;
  if (handler !== undefined && fetch !== undefined) {
    throw new TypeError("fasthttp: give either handler or fetch, not both (fetch: app.fetch serves a web-standard app)");
  }
  if (routes !== undefined) checkRoutesObject(routes);
  if (fetch !== undefined) {
    if (typeof fetch !== "function") throw new TypeError(`fasthttp: fetch must be a function (got ${show(fetch)})`);
  } else if (handler !== undefined || routes === undefined) {
    if (typeof handler !== "function") {
      throw new TypeError(`fasthttp: handler must be a function (got ${show(handler)}); or give fetch, a (Request) => Response function, or routes`);
    }
  } else if (Object.keys(routes).length === 0) {
    throw new TypeError("fasthttp: routes is empty and there is no fetch: give routes, or fetch to answer every request");
  }
  if (cfg.error !== undefined) {
    if (typeof cfg.error !== "function") throw new TypeError(`fasthttp: error must be a function (got ${show(cfg.error)})`);
    if (handler !== undefined) throw new TypeError("fasthttp: error goes with fetch or routes (a handler answers its own failures: it throws, and gets a 500)");
  }
}

/**
 * The config with `fetch` turned into the `handler` it stands for by
 * `fromFetch` (the adapter's `fetchHandler`, which the entry passes in: the
 * core does not import the adapter), and left out, so that what remains can
 * be sent to workers. Throws a TypeError unless exactly one of `handler` and
 * `fetch` is a function.
 */
export function withHandler<S>(
  cfg: ServerConfig<S, any>,
  fromFetch: (fetch: FetchHandler<S>, options: { error?: ErrorHandler }) => Handler<S>,
  fromRoutes?: FromRoutes<S>,
): HandlerConfig<S> & { routes?: RoutesHandleLike } {
  checkHandler(cfg);
  const { handler, fetch, error, routes, ...rest } = cfg;
  const options = error === undefined ? {} : { error };
  if (routes !== undefined) {
    if (fromRoutes === undefined) throw new TypeError("fasthttp: routes need the entry's newServer (src/index.ts)");
    const handle = fromRoutes(routes, handler === undefined ? { fetch, options } : { handler });
    return { ...rest, handler: handle.handler, routes: handle };
  }
  if (fetch !== undefined) return { ...rest, handler: fromFetch(fetch, options) };
  return cfg as HandlerConfig<S>;
}

/** What a routed server holds to reload its routes (src/routes/handler.ts's `RoutesHandle`). */
export interface RoutesHandleLike {
  reload(options: { routes?: unknown; fetch?: unknown; handler?: unknown }): void;
  /** The table's static routes with exact paths, which the core answers by itself (installed at run() and on reload). */
  staticRoutes(): StaticRoute[];
}

/** Turns `routes` and the fallback (`fetch` for a fetch app, `handler` for raw routes) into one handler (src/routes/). */
export type FromRoutes<S> = (
  routes: unknown,
  fallback: { fetch: FetchHandler<S> | undefined; options: { error?: ErrorHandler } } | { handler: Handler<S> },
) => RoutesHandleLike & { handler: Handler<S> };

/** Validates a config and fills in the defaults. */
export function resolveConfig(cfg: ServerConfig<any, any>): ResolvedConfig {
  if (cfg === null || typeof cfg !== "object") {
    throw new TypeError(`fasthttp: newServer needs a config object (got ${show(cfg)})`);
  }
  for (const k of Object.keys(cfg)) {
    if (!KNOWN.has(k)) throw new TypeError(`fasthttp: unknown option ${JSON.stringify(k)} (got ${show((cfg as never)[k])})`);
  }
  checkHandler(cfg);
  const host = cfg.host ?? "::";
  if (typeof host !== "string" || host.length === 0 || host.includes("\0")) {
    throw new TypeError(`fasthttp: host must be a non-empty string (got ${show(cfg.host)})`);
  }
  if (cfg.makeState !== undefined && typeof cfg.makeState !== "function") {
    throw new TypeError(`fasthttp: makeState must be a function (got ${show(cfg.makeState)})`);
  }
  const entry = cfg.workerEntry;
  if (entry !== undefined && !(entry instanceof URL) && (typeof entry !== "string" || entry.length === 0)) {
    throw new TypeError(`fasthttp: workerEntry must be a path or a file: URL (got ${show(entry)})`);
  }
  if (cfg.reusePort !== undefined && typeof cfg.reusePort !== "boolean") {
    throw new TypeError(`fasthttp: reusePort must be a boolean (got ${show(cfg.reusePort)})`);
  }
  const arenaSlabSize = int(cfg, "arenaSlabSize", 16384, 4096, 1 << 24);
  if (arenaSlabSize % 4096 !== 0) {
    throw new RangeError(`fasthttp: arenaSlabSize must be a multiple of 4096 (got ${arenaSlabSize})`);
  }
  const arenaMaxSlabs = int(cfg, "arenaMaxSlabs", 4096, 16, 1 << 20);
  if (arenaSlabSize * arenaMaxSlabs > 2 ** 31 - 4096) {
    throw new RangeError(
      `fasthttp: arenaSlabSize × arenaMaxSlabs must stay under 2 GiB (got ${arenaSlabSize} × ${arenaMaxSlabs})`,
    );
  }
  return {
    port: int(cfg, "port", 3000, 0, 65535),
    host,
    maxHeaderSize: int(cfg, "maxHeaderSize", 8192, 256, 1 << 20),
    maxRequestBodySize: int(cfg, "maxRequestBodySize", 16 * 1024 * 1024, 0, 2 ** 40),
    backlog: int(cfg, "backlog", 1024, 1, 65535),
    reusePort: cfg.reusePort ?? false,
    arenaSlabSize,
    arenaMaxSlabs,
    headerTimeout: seconds(cfg, "headerTimeout", 10),
    idleTimeout: seconds(cfg, "idleTimeout", 10),
    writeTimeout: seconds(cfg, "writeTimeout", 30),
    maxConnections: int(cfg, "maxConnections", 0, 0, 1 << 24),
  };
}
