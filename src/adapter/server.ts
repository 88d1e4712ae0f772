/**
 * The `server` a fetch app gets as its second argument, as Bun.serve passes
 * it: `fetch(request, server)`. Frameworks read it (Hono's `c.env`, its Bun
 * helpers' `getConnInfo`), and apps call `server.requestIP(request)`,
 * `server.timeout(request, seconds)`, `server.upgrade(request)`.
 * @module
 */
import type { FetchHandler, FetchServer, SocketAddress } from "../config.ts";
import type { Server } from "../server.ts";
import type { UpgradeOptions } from "../ws/hub.ts";
import { connectionOf, httpRequestOf } from "./request.ts";

/** The {@link FetchServer} of one loop (documented there). */
export class AppServer<S = void> implements FetchServer<S> {
  /** What `makeState` made for this loop (undefined without it). */
  readonly state: S;
  /** fasthttp does not render development error pages: always false. */
  readonly development = false;
  /** Bun's server id: fasthttp's servers have none (empty, as Bun's default). */
  readonly id = "";
  /** "http" (fasthttp serves no TLS). */
  readonly protocol = "http";
  #server: Server;
  #pending = 0;
  #app: FetchHandler<S>;

  /** @internal Made by the adapter, once per loop. */
  constructor(server: Server, state: S, app: FetchHandler<S>) {
    this.#server = server;
    this.state = state;
    this.#app = app;
  }

  /** The bound port. */
  get port(): number {
    return this.#server.port;
  }

  /** The host it was told to bind (`host`; default "::"). */
  get hostname(): string {
    return this.#server.hostname;
  }

  /** `http://hostname:port/` (an IPv6 host in brackets), as Bun's `server.url`. */
  get url(): URL {
    const h = this.hostname;
    return new URL(`http://${h.includes(":") ? `[${h}]` : h}:${this.port}/`);
  }

  /** The bound address, as Bun's `server.address`. */
  get address(): SocketAddress {
    const h = this.hostname;
    return { address: h, family: h.includes(":") ? "IPv6" : "IPv4", port: this.port };
  }

  /** Requests this loop's app is answering: called, and not yet written in full (a stream until its last chunk). */
  get pendingRequests(): number {
    return this.#pending;
  }

  /** @internal A request began (the app is called). */
  _begin(): void {
    this.#pending++;
  }

  /** @internal A request's response has been written (or given up). */
  _end(): void {
    this.#pending--;
  }

  /**
   * The client's address (IPv4 clients of a dual-stack socket are
   * IPv4-mapped IPv6 addresses, as in Bun), or null when the connection is
   * gone or the request is not one this server is answering.
   */
  requestIP(request: Request): SocketAddress | null {
    const c = connectionOf(request);
    return c === null ? null : this.#server._peer(c.fd, c.gen);
  }

  /**
   * Sets the idle timeout of the request's connection in seconds (0: none),
   * as Bun's `server.timeout(request, seconds)`: how long it may sit idle
   * after this answer, or stall while sending a body. (A handler's time and
   * a streamed response's are their own: no idle timeout cuts them off.)
   */
  timeout(request: Request, seconds: number): void {
    if (typeof seconds !== "number" || !(seconds >= 0) || !Number.isFinite(seconds)) {
      throw new RangeError(`fasthttp: server.timeout() needs a number of seconds, 0 or more (got ${String(seconds)})`);
    }
    const c = connectionOf(request);
    if (c !== null) this.#server._timeout(c.fd, c.gen, seconds);
  }

  /** The WebSockets this loop holds (as Bun's `pendingWebSockets`, which counts those open). */
  get pendingWebSockets(): number {
    return this.#server._wsHub?.open ?? 0;
  }

  /**
   * Upgrades the request to a WebSocket, as Bun's `server.upgrade()`: true
   * when it is a valid upgrade (the app then returns nothing; what it
   * returns is not sent), false when it is not (the app answers it). Throws
   * without the `websocket` option, as Bun.serve does. See
   * {@link HttpRequest.upgrade} for what is a valid upgrade.
   */
  upgrade<T = undefined>(request: Request, options?: UpgradeOptions<T>): boolean {
    const hub = this.#server._wsHub;
    if (hub === null) {
      throw new TypeError('fasthttp: server.upgrade() needs the "websocket" option: newServer({ fetch, websocket: { message(ws, msg) {} } })');
    }
    const req = httpRequestOf(request);
    return req !== null && hub.upgrade(req, options);
  }

  /**
   * Sends a message to every WebSocket subscribing to `topic` (with
   * `workers`, in every worker): the message's bytes when some subscriber
   * of this loop got it, else 0. Compressed by default where
   * permessage-deflate was agreed, as Bun's.
   */
  publish(topic: string, data: string | ArrayBufferLike | ArrayBufferView | Blob, compress = true): number {
    const hub = this.#server._wsHub;
    return hub === null ? 0 : hub.publish(String(topic), data, compress);
  }

  /** How many of this loop's WebSockets subscribe to `topic`. */
  subscriberCount(topic: string): number {
    return this.#server._wsHub?.subscriberCount(topic) ?? 0;
  }

  /** Calls the app as a request from a client would (Bun's `server.fetch()`). */
  async fetch(request: Request | string): Promise<Response> {
    const res = await this.#app(typeof request === "string" ? new Request(request) : request, this);
    if (!(res instanceof Response)) throw new TypeError("fasthttp: server.fetch(): the app returned no Response");
    return res;
  }

  /**
   * As Bun's `server.reload({ routes, fetch })`: swaps this loop's routes
   * and fallback for the requests that follow (see `Server.reload`). With
   * workers, it reloads this worker's only.
   */
  reload(options: { routes?: unknown; fetch?: unknown }): this {
    this.#server.reload(options);
    return this;
  }

  /** Stops the server (with `closeActiveConnections`, at once), as `server.stop()`. */
  stop(closeActiveConnections = false): Promise<void> {
    return this.#server.stop(closeActiveConnections);
  }

  /** The server keeps the process alive (the default). */
  ref(): void {
    this.#server.ref();
  }

  /** The process may exit while the server runs. */
  unref(): void {
    this.#server.unref();
  }
}
