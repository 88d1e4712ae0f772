/**
 * The server: its options, its life (run, stop, close) and its figures.
 *
 * `run()` makes the core's server (bound, listening), starts the core's
 * helper thread and hands the rest to a {@link Loop} (src/loop.ts), which
 * runs the handlers. While idle, JavaScript sleeps in Bun's event loop; the
 * helper thread wakes it through a thread-safe JSCallback.
 * @module
 */
import { JSCallback, type Pointer } from "bun:ffi";
import { resolveConfig, type Handler, type HandlerConfig, type ResolvedConfig, type RoutesHandleLike, type SocketAddress } from "./config.ts";
import { assertSupported, describeError, listenError, loadCore, type Core } from "./ffi.ts";
import { ST_SIZE } from "./layout.ts";
import { BATCH, Loop } from "./loop.ts";
import { installStaticRoutes, type StaticRoute } from "./routes/native.ts";
import { statsOf, type ServerStats } from "./stats.ts";
import type { WsHub } from "./ws/hub.ts";
import { resolveWebSocket, type ResolvedWebSocket } from "./ws/types.ts";

export type { ServerStats } from "./stats.ts";

/**
 * An HTTP/1.1 server. Make one with {@link newServer}.
 *
 * @example
 * ```ts
 * const server = newServer({ port: 0, handler: () => new TextEncoder().encode("hi\n") });
 * const done = server.run();
 * console.log(`listening on ${server.port}`);
 * await server.stop();
 * await done;
 * ```
 */
export class Server {
  #cfg: ResolvedConfig;
  #ws: ResolvedWebSocket | null;
  #handler: Handler;
  #core: Core | undefined;
  #srv: Pointer | null = null;
  #loop: Loop | null = null;
  #wake: JSCallback | undefined;
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  #state: "new" | "running" | "stopping" | "stopped" = "new";
  #port = 0;
  #done: Promise<void>;
  #resolve!: () => void;
  #reject!: (e: Error) => void;
  #listenFd: number;
  #unref = false;
  /** @internal The routes (src/routes/handler.ts) of a server made with `routes`: what reload() swaps. */
  _routes: RoutesHandleLike | null = null;

  /**
   * @internal Use {@link newServer}. `options.listenFd` serves a listening
   * socket made elsewhere (shared by several loops; each closes only its own
   * duplicate) instead of binding host:port.
   */
  constructor(config: HandlerConfig, options: { listenFd?: number } = {}) {
    assertSupported();
    this.#cfg = resolveConfig(config);
    this.#ws = resolveWebSocket(config.websocket);
    this.#handler = config.handler;
    this.#listenFd = options.listenFd ?? -1;
    this.#done = new Promise<void>((res, rej) => {
      this.#resolve = res;
      this.#reject = rej;
    });
  }

  /** The bound port: the configured one, or the one the OS chose for port 0. Valid once {@link run} has returned. */
  get port(): number {
    return this.#port;
  }

  /** The host it was told to bind (`host`, default `"::"`). */
  get hostname(): string {
    return this.#cfg.host;
  }

  /**
   * As Bun's `server.reload({ routes, fetch })`: the requests that follow are
   * routed by the new `routes` (compiled and rendered now; a bad one throws
   * and the old ones stay) and fall back to the new `fetch` (or, for raw
   * routes, `handler`); what is left out is kept. Only for a server made
   * with `routes`; other options are not reloaded (nor are they in Bun).
   *
   * @example
   * ```ts
   * server.reload({ routes: { "/": new Response("v2") } });
   * ```
   */
  reload(options: { routes?: unknown; fetch?: unknown; handler?: unknown }): this {
    if (this._routes === null) throw new TypeError("fasthttp: reload() is for a server made with routes (newServer({ routes, fetch }))");
    if (options === null || typeof options !== "object") throw new TypeError("fasthttp: reload() needs an object: { routes, fetch }");
    this._routes.reload(options);
    if (this.#srv !== null) installStaticRoutes(this.#core!, this.#srv, this._routes.staticRoutes());
    return this;
  }

  /**
   * Lets the process exit while the server runs, as Bun's `server.unref()`:
   * the server no longer keeps the event loop alive.
   */
  unref(): this {
    this.#unref = true;
    this.#keepAlive?.unref();
    return this;
  }

  /** Undoes {@link unref}: the running server keeps the process alive again (the default). */
  ref(): this {
    this.#unref = false;
    this.#keepAlive?.ref();
    return this;
  }

  /**
   * @internal The client address of connection fd/gen (Bun's `requestIP`),
   * or null when that connection is gone.
   */
  _peer(fd: number, gen: number): SocketAddress | null {
    const srv = this.#srv;
    if (srv === null) return null;
    const text = new Uint8Array(64);
    const info = new Int32Array(2);
    const n = this.#core!.fh_peer(srv, fd | 0, gen | 0, text, text.length, info);
    if (n < 0) return null;
    return { address: Buffer.from(text.buffer, 0, n).toString("latin1"), family: info[1] === 6 ? "IPv6" : "IPv4", port: info[0]! };
  }

  /** @internal The running loop's WebSockets (null without the `websocket` option, or before run()). */
  get _wsHub(): WsHub | null {
    return this.#loop?.ws ?? null;
  }

  /** @internal Whether the server was given the `websocket` option. */
  get _hasWebSocket(): boolean {
    return this.#ws !== null;
  }

  /**
   * @internal Sets connection fd/gen's idle timeout in seconds (0: none), as
   * Bun's `server.timeout(request, seconds)`. False when it is gone.
   */
  _timeout(fd: number, gen: number, seconds: number): boolean {
    const srv = this.#srv;
    return srv !== null && this.#core!.fh_conn_timeout(srv, fd | 0, gen | 0, seconds * 1000) === 0;
  }

  /**
   * Binds and starts serving. The socket is bound before this returns, so
   * {@link port} is known at once. The promise resolves when the server has
   * stopped, and rejects if it cannot listen (naming host, port and reason).
   */
  run(): Promise<void> {
    if (this.#state !== "new") return Promise.reject(new Error("fasthttp: run() was already called on this server"));
    const core = (this.#core = loadCore());
    const cfg = this.#cfg;
    const err = new Int32Array(1);
    const host = Buffer.from(`${cfg.host}\0`);
    const srv = core.fh_server_create(
      host,
      cfg.port | 0,
      cfg.backlog | 0,
      cfg.maxHeaderSize | 0,
      cfg.maxRequestBodySize,
      cfg.arenaSlabSize | 0,
      cfg.arenaMaxSlabs | 0,
      BATCH,
      cfg.reusePort ? 1 : 0,
      process.env.FASTHTTP_DEBUG_ARENA === "1" ? 1 : 0,
      this.#listenFd | 0,
      err,
    );
    if (!srv || typeof srv !== "number") {
      this.#state = "stopped";
      this.#reject(listenError(cfg.host, cfg.port, err[0]!));
      return this.#done;
    }
    this.#srv = srv;
    core.fh_server_limits(srv, cfg.headerTimeout * 1000, cfg.idleTimeout * 1000, cfg.writeTimeout * 1000, cfg.maxConnections | 0);
    // Static routes with exact paths are the core's to answer, without JavaScript (c/routes.c).
    if (this._routes !== null) installStaticRoutes(core, srv, this._routes.staticRoutes());
    this.#port = core.fh_server_port(srv);
    const loop = (this.#loop = new Loop(core, srv, cfg.arenaSlabSize, cfg.arenaMaxSlabs, this.#handler, () => this.#finish(), this, this.#ws));
    this.#wake = new JSCallback(() => loop.drain(), { args: [], returns: "void", threadsafe: true });
    const rc = core.fh_start(srv, this.#wake.ptr);
    if (rc < 0) {
      this.#teardown();
      this.#reject(new Error(`fasthttp: cannot start the event loop: ${describeError(rc)}`));
      return this.#done;
    }
    // Nothing else keeps Bun's event loop alive while we wait on the helper thread.
    this.#keepAlive = setInterval(() => {}, 1 << 30);
    if (this.#unref) this.#keepAlive.unref();
    this.#state = "running";
    loop.schedule();
    return this.#done;
  }

  /**
   * Stops accepting, lets in-flight requests finish and their responses be
   * written, closes every connection, then resolves (as does `run()`'s
   * promise). With `force`, connections are closed at once.
   */
  stop(force = false): Promise<void> {
    if (this.#state === "new") {
      this.#state = "stopped";
      this.#resolve();
    } else if (this.#state === "running" || (this.#state === "stopping" && force)) {
      this.#state = "stopping";
      this.#loop!.stop(force);
    }
    return this.#done.catch(() => {});
  }

  /**
   * @internal For src/workers.ts (a worker thread that is exiting): closes the
   * loop now, synchronously: its helper thread is joined, its listening socket
   * and every connection closed. Nothing is awaited; no handler runs again.
   */
  _closeNow(): void {
    if (this.#srv !== null) this.#finish();
  }

  /** Stops the server (gracefully) when used with `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /**
   * @internal Replaces the core's static routes (after run()) with `routes`,
   * for tests that drive the core's table directly (test/routes-c.test.ts);
   * a server made with `routes` installs its own at run() and on reload.
   * Returns how many the core took.
   */
  _staticRoutes(routes: readonly StaticRoute[]): number {
    return this.#srv === null ? 0 : installStaticRoutes(this.#core!, this.#srv, routes);
  }

  /** Arena pool and connection figures. */
  stats(): ServerStats {
    const out = new Int32Array(ST_SIZE);
    this._figures(out);
    return statsOf(out);
  }

  /** @internal Writes the core's figures (ST_SIZE int32, by their ST_* names) into `out`; untouched once stopped. */
  _figures(out: Int32Array): void {
    if (this.#srv) this.#core!.fh_stats(this.#srv, out);
  }

  #finish(): void {
    this.#teardown();
    this.#state = "stopped";
    this.#resolve();
  }

  #teardown(): void {
    const srv = this.#srv;
    this.#srv = null;
    this.#loop?.close();
    if (srv) this.#core!.fh_destroy(srv);
    if (this.#keepAlive) clearInterval(this.#keepAlive);
    const wake = this.#wake;
    this.#wake = undefined;
    // The helper thread is joined, but a wake-up it queued may still be on its
    // way to this thread: close the callback only once that has surely run.
    if (wake) setTimeout(() => wake.close(), 1000).unref();
  }
}
