/**
 * The `server` a fetch app gets as its second argument, as Bun.serve passes
 * it: `fetch(request, server)`. Frameworks read it (Hono's `c.env`, its Bun
 * helpers' `getConnInfo`), and apps call `server.requestIP(request)`,
 * `server.timeout(request, seconds)`, `server.upgrade(request)`.
 * @module
 */
import type { FetchServer, SocketAddress } from "../config.ts";
import type { Server } from "../server.ts";
import { connectionOf } from "./request.ts";

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
  /** WebSocket connections not yet open: none (WebSockets are not served yet). */
  readonly pendingWebSockets = 0;
  #server: Server;
  #pending = 0;
  #app: (request: Request, server: FetchServer<S>) => Response | Promise<Response>;

  /** @internal Made by the adapter, once per loop. */
  constructor(server: Server, state: S, app: (request: Request, server: FetchServer<S>) => Response | Promise<Response>) {
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

  /**
   * Upgrades the request to a WebSocket. Not served yet: throws as Bun.serve
   * does when it has no `websocket` handler.
   */
  upgrade(_request: Request, _options?: unknown): boolean {
    throw new TypeError('fasthttp: WebSocket upgrades are not available: set the "websocket" object in newServer({}) (not supported yet)');
  }

  /** Publishes to a WebSocket topic: no WebSocket subscribes yet, so 0 bytes are sent. */
  publish(_topic: string, _data: unknown, _compress?: boolean): number {
    return 0;
  }

  /** How many WebSockets subscribe to a topic: none yet. */
  subscriberCount(_topic: string): number {
    return 0;
  }

  /** Calls the app as a request from a client would (Bun's `server.fetch()`). */
  async fetch(request: Request | string): Promise<Response> {
    return await this.#app(typeof request === "string" ? new Request(request) : request, this);
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
