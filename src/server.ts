/**
 * The server: runs handlers in batches over the C core's descriptor array.
 *
 * C does the I/O. `#drain` polls it without blocking, runs each ready
 * request's handler, places the responses in the requests' arenas and flushes
 * once per batch. It polls a little longer before it sleeps (cheap, and it
 * spares a wake-up per request at low concurrency), and it hands control back
 * to Bun's event loop every couple of milliseconds under load, so timers,
 * promises and signals keep running. While idle, JavaScript sleeps in Bun's
 * event loop; the core's helper thread wakes it through a thread-safe
 * JSCallback.
 * @module
 */
import { JSCallback, toArrayBuffer, type Pointer } from "bun:ffi";
import { resolveConfig, type ResolvedConfig, type ServerConfig } from "./config.ts";
import { describeError, loadCore, type Core } from "./ffi.ts";
import {
  D,
  LARGE_BASE,
  R_ARENA,
  R_DONE,
  R_PENDING,
  REQ_HEAD,
  REQ_HTTP10,
  REQ_KEEP_ALIVE,
  RF_CLOSE,
  RF_RAW,
} from "./layout.ts";
import type { ArenaHost, SliceBuffer } from "./arena.ts";
import { closeSync } from "node:fs";
import { Connection, type ConnectionHost, type ConnectionMode } from "./connection.ts";
import { HANDED_OVER, HttpRequest, type RequestHost } from "./request.ts";
import { HeadWriter, isRawResponse, RESPONSE_500 } from "./response.ts";

/** Requests one poll may return. */
const BATCH = 1024;
/** Empty polls before JavaScript goes to sleep. */
const IDLE_POLLS = 100;
/** Longest stretch of draining before yielding to Bun's event loop, in ms. */
const SLICE_MS = 2;

/** Pool and connection figures, from {@link Server.stats}. */
export interface ServerStats {
  /** Open connections. */
  connections: number;
  /** Arena slabs made so far (the pool's size). */
  slabs: number;
  /** Slabs held by requests now. */
  slabsInUse: number;
  /** Most slabs ever held at once. */
  slabsHighWater: number;
  /** The pool's cap (`arenaMaxSlabs`). */
  slabsMax: number;
  /** Large one-off slabs held now (requests bigger than a slab). */
  largeInUse: number;
  /** Bytes per slab. */
  slabSize: number;
  /** "epoll" or "kqueue". */
  backend: string;
}

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
  #core: Core | undefined;
  #srv: Pointer | null = null;
  #desc = new Int32Array(0);
  #mem = new Uint8Array(0);
  #slabSize: number;
  #heads = new HeadWriter();
  #host: RequestHost | null = null;
  /** One request object per arena slab, reused with it. */
  #reqs: (HttpRequest | undefined)[] = [];
  #trace = process.env.FASTHTTP_TRACE_ARENA === "1";
  /** Streams and taken-over connections, by "fd:gen:seq". */
  #conns = new Map<string, Connection>();
  #takers = new Map<string, (conn: Connection) => unknown>();
  #evBuf = new Int32Array(64 * 4);
  #scratch = new Uint8Array(65536);
  #connHost: ConnectionHost = {
    core: undefined as unknown as Core,
    srv: () => this.#srv,
    poke: () => this.#schedule(),
    forget: (conn: Connection) => void this.#conns.delete(conn._key),
  };
  #traceInfo: (string | number)[][] = [];
  #traceIds = new Int32Array(256);
  #traceMs = new Float64Array(256);
  #wake: JSCallback | undefined;
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  #state: "new" | "running" | "stopping" | "stopped" = "new";
  #port = 0;
  #draining = false;
  #scheduled = false;
  #pending = 0;
  #done: Promise<void>;
  #resolve!: () => void;
  #reject!: (e: Error) => void;

  #listenFd: number;

  /**
   * @internal Use {@link newServer}. `options.listenFd` serves a listening
   * socket made elsewhere (shared by several loops; each closes only its own
   * duplicate) instead of binding host:port.
   */
  constructor(config: ServerConfig, options: { listenFd?: number } = {}) {
    if (process.platform === "win32") {
      throw new Error(
        "fasthttp does not support Windows: its C core waits on sockets with epoll (Linux) or kqueue (macOS, the BSDs), and Windows has neither",
      );
    }
    this.#cfg = resolveConfig(config);
    this.#listenFd = options.listenFd ?? -1;
    this.#slabSize = this.#cfg.arenaSlabSize;
    this.#done = new Promise<void>((res, rej) => {
      this.#resolve = res;
      this.#reject = rej;
    });
  }

  /** The bound port: the configured one, or the one the OS chose for port 0. Valid once {@link run} has returned. */
  get port(): number {
    return this.#port;
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
      const where = cfg.host.includes(":") ? `[${cfg.host}]:${cfg.port}` : `${cfg.host}:${cfg.port}`;
      this.#reject(new Error(`fasthttp: cannot listen on ${where}: ${describeError(err[0]!)}`));
      return this.#done;
    }
    this.#srv = srv;
    core.fh_server_limits(srv, cfg.headerTimeout * 1000, cfg.idleTimeout * 1000, cfg.writeTimeout * 1000, cfg.maxConnections | 0);
    this.#port = core.fh_server_port(srv);
    this.#desc = new Int32Array(toArrayBuffer(core.fh_server_desc(srv)!, 0, BATCH * D.SIZE * 4));
    this.#mem = new Uint8Array(toArrayBuffer(core.fh_server_slabs(srv)!, 0, cfg.arenaSlabSize * cfg.arenaMaxSlabs));
    const arena: ArenaHost = {
      core,
      srv,
      mem: this.#mem,
      memBuf: Buffer.from(this.#mem.buffer, this.#mem.byteOffset, this.#mem.byteLength) as SliceBuffer,
      slabSize: cfg.arenaSlabSize,
    };
    this.#host = { arena, heads: this.#heads };
    this.#connHost.core = core;
    if (this.#trace) core.fh_server_trace(srv, 1);
    this.#wake = new JSCallback(() => this.#drain(), { args: [], returns: "void", threadsafe: true });
    const rc = core.fh_start(srv, this.#wake.ptr);
    if (rc < 0) {
      this.#teardown();
      this.#reject(new Error(`fasthttp: cannot start the event loop: ${describeError(rc)}`));
      return this.#done;
    }
    // Nothing else keeps Bun's event loop alive while we wait on the helper thread.
    this.#keepAlive = setInterval(() => {}, 1 << 30);
    this.#state = "running";
    this.#schedule();
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
      this.#core!.fh_stop(this.#srv, force ? 1 : 0);
      this.#schedule();
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

  /** Arena pool and connection figures. */
  stats(): ServerStats {
    const out = new Int32Array(8);
    if (this.#srv) this.#core!.fh_stats(this.#srv, out);
    return {
      connections: out[0]!,
      slabs: out[1]!,
      slabsInUse: out[2]!,
      slabsHighWater: out[3]!,
      slabsMax: out[4]!,
      largeInUse: out[5]!,
      slabSize: out[6]!,
      backend: out[7] ? "kqueue" : "epoll",
    };
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#onImmediate);
  }

  #onImmediate = (): void => {
    this.#scheduled = false;
    this.#drain();
  };

  #drain(): void {
    const srv = this.#srv;
    if (srv === null || this.#draining) return;
    const core = this.#core!;
    this.#draining = true;
    const start = performance.now();
    let idle = 0;
    try {
      for (;;) {
        const n = core.fh_poll(srv);
        if (n > 0) {
          this.#batch(core, srv, n);
          if (this.#trace) this.#traceTake(core, srv);
          idle = 0;
        }
        if (this.#conns.size > 0) this.#pumpEvents(core, srv);
        if (n > 0) {
        } else if (n < 0) {
          console.error(`fasthttp: poll failed: ${describeError(n)}`);
          break;
        } else if (++idle >= IDLE_POLLS) {
          break;
        }
        if (performance.now() - start >= SLICE_MS) {
          this.#schedule();
          return;
        }
      }
    } finally {
      this.#draining = false;
    }
    if (this.#trace) this.#traceTake(core, srv);
    if (this.#state === "stopping" && core.fh_conn_count(srv) === 0) {
      this.#finish();
      return;
    }
    core.fh_arm(srv);
  }

  #batch(core: Core, srv: Pointer, n: number): void {
    const d = this.#desc;
    const handler = this.#cfg.handler;
    this.#heads.tick(Date.now());
    for (let i = 0; i < n; i++) {
      const b = i * D.SIZE;
      const req = this.#request(core, srv, d, b);
      let res: unknown;
      try {
        res = handler(req);
      } catch (e) {
        logHandlerError(req, e);
        res = RESPONSE_500;
      }
      if (res instanceof Uint8Array) {
        d[b + D.RKIND] = this.#place(core, srv, req, res, b);
      } else if (res !== null && typeof res === "object" && typeof (res as Promise<unknown>).then === "function") {
        d[b + D.RKIND] = R_PENDING;
        this.#await(req, res as Promise<unknown>);
      } else {
        logBadReturn(req, res);
        d[b + D.RKIND] = this.#place(core, srv, req, RESPONSE_500, b);
      }
    }
    core.fh_flush(srv, 0, n);
  }

  #request(core: Core, srv: Pointer, d: Int32Array, b: number): HttpRequest {
    const slab = d[b + D.SLAB]!;
    const len = d[b + D.LEN]!;
    let req: HttpRequest | undefined;
    if (slab < LARGE_BASE) {
      req = this.#reqs[slab];
      if (req === undefined) req = this.#reqs[slab] = new HttpRequest(this.#host!);
      let buffer = req.buffer;
      const base = slab * this.#slabSize;
      if (buffer.length !== len || buffer.byteOffset !== base) buffer = this.#mem.subarray(base, base + len);
      req._reset(d, b, buffer, null);
    } else {
      const size = core.fh_slab_size(srv, slab);
      const whole = new Uint8Array(toArrayBuffer(core.fh_slab_ptr(srv, slab)!, 0, size));
      req = new HttpRequest(this.#host!);
      req._reset(d, b, whole.subarray(0, len), whole);
    }
    if (this.#trace) this.#traceBegin(req);
    return req;
  }

  /**
   * Hands a response to the core. In a batch (`row` >= 0) a response that
   * lives in the request's first slab is left in the descriptor row for
   * fh_flush (returns R_ARENA); anything else goes through fh_respond
   * (R_DONE). A response built in the arena is never copied; other bytes are
   * copied into the arena when they fit, else handed over from JS memory.
   */
  #place(core: Core, srv: Pointer, req: HttpRequest, res: Uint8Array, row: number): number {
    if (req._special !== null || res === HANDED_OVER) return this.#handOver(core, srv, req, res, row);
    const flags = req._flags;
    const keep = (flags & REQ_KEEP_ALIVE) !== 0;
    let rflags = keep ? 0 : RF_CLOSE;
    const slab = req._slab;
    const arena = req._arenaIfLive();
    if (this.#trace) this.#traceRespond(req, arena === null ? 0 : arena.used, arena === null ? 1 : arena.slabs);
    let dataSlab = slab;
    let off = -1;
    let len = 0;
    let body: Uint8Array | null = null;
    const raw = isRawResponse(res);
    if (raw) rflags |= RF_RAW;
    // Built by req.response() (known without looking at res.buffer, which can
    // cost an allocation), or elsewhere in this request's arena?
    if (res === req._out && req._outSlab >= 0 && raw) {
      dataSlab = req._outSlab;
      off = req._outOff;
      len = res.length;
    } else if (arena !== null && raw) {
      const where = arena._locate(res);
      if (where !== null) {
        dataSlab = where[0];
        off = where[1];
        len = res.length;
      }
    }
    if (off < 0) {
      // Copy into the arena: after the request (no arena yet), or after what the handler allocated.
      const heads = this.#heads;
      const bodyLen = raw || (flags & REQ_HEAD) === 0 ? res.length : 0;
      const need = raw ? res.length : heads.maxLength + bodyLen;
      let view: Uint8Array | null = null;
      let top = -1;
      let start = 0;
      if (arena === null) {
        const base = slab * this.#slabSize;
        const at = (req.buffer.length + 7) & ~7;
        if (slab < LARGE_BASE && at + need <= this.#slabSize) {
          view = this.#mem;
          top = base + at;
          start = base;
        }
      } else if (need <= this.#slabSize) {
        try {
          top = arena._reserve(need);
          view = arena._view();
          dataSlab = arena._slab();
          start = arena._slabStart();
        } catch {
          top = -1; // the pool is exhausted: send from JS memory instead
        }
      }
      if (view !== null && top >= 0) {
        off = top - start;
        if (raw) {
          view.set(res, top);
          len = res.length;
        } else {
          const mode = !keep ? 1 : (flags & REQ_HTTP10) !== 0 ? 2 : 0;
          len = heads.write(view, top, res.length, mode);
          if (bodyLen > 0) view.set(res, top + len);
          len += bodyLen;
        }
        if (arena !== null) arena._trim(top + len);
      }
    }
    if (off < 0) {
      // Too big for the arena (or a large request): from JS memory, head first.
      dataSlab = slab;
      off = 0;
      len = 0;
      if (raw) {
        body = res;
      } else {
        const heads = this.#heads;
        const bodyLen = (flags & REQ_HEAD) === 0 ? res.length : 0;
        const mode = !keep ? 1 : (flags & REQ_HTTP10) !== 0 ? 2 : 0;
        const head = new Uint8Array(heads.maxLength);
        const hl = heads.write(head, 0, res.length, mode);
        body = new Uint8Array(hl + bodyLen);
        body.set(head.subarray(0, hl));
        if (bodyLen > 0) body.set(res, hl);
      }
    }
    if (row >= 0 && body === null && dataSlab === slab) {
      const d = this.#desc;
      d[row + D.ROFF] = off;
      d[row + D.RLEN] = len;
      d[row + D.RFLAGS] = rflags;
      return R_ARENA;
    }
    const more = core.fh_respond(
      srv,
      req.clientConnFd | 0,
      req._gen | 0,
      req._seq | 0,
      slab | 0,
      body,
      body === null ? 0 : body.length | 0,
      dataSlab | 0,
      off | 0,
      len | 0,
      rflags,
    );
    if (more) this.#schedule();
    return R_DONE;
  }

  /** Streams, takeovers and files: the core takes them through their own calls. */
  #handOver(core: Core, srv: Pointer, req: HttpRequest, res: Uint8Array, row: number): number {
    const sp = req._special;
    req._special = null;
    if (sp === null || res !== HANDED_OVER) {
      if (sp !== null && sp.kind === "file") closeSync(sp.fd);
      console.error(
        sp === null
          ? `fasthttp: the handler returned HANDED_OVER for ${describe(req)} without handing the request over; answered 500`
          : `fasthttp: the handler called ${sp.kind === "file" ? "sendFile" : sp.kind === "stream" ? "stream" : "takeover"}() for ${describe(req)} but did not return its result; answered 500`,
      );
      return this.#place(core, srv, req, RESPONSE_500, row);
    }
    const fd = req.clientConnFd | 0;
    const gen = req._gen | 0;
    const seq = req._seq | 0;
    const slab = req._slab | 0;
    let headSlab = slab;
    let off = 0;
    let len = 0;
    if (sp.kind === "file" || sp.kind === "stream") {
      headSlab = req._outSlab;
      off = req._outOff;
      len = sp.head.length;
    }
    if (sp.kind === "file") {
      const rflags = (req._flags & REQ_KEEP_ALIVE) !== 0 ? 0 : RF_CLOSE;
      const r = core.fh_respond_file(srv, fd, gen, seq, slab, headSlab | 0, off | 0, len | 0, sp.fd, 0, sp.size, rflags);
      if (r > 0) this.#schedule();
      return R_DONE;
    }
    const mode: ConnectionMode = sp.kind;
    const kind = mode === "takeover" ? 2 : 1;
    const r = core.fh_stream_open(srv, fd, gen, seq, slab, headSlab | 0, kind, off | 0, len | 0);
    if (r < 0) return R_DONE; // the client is gone; the core released the arena
    if (r > 0) this.#schedule();
    const closeOnEnd = mode === "takeover" || (req._flags & REQ_KEEP_ALIVE) === 0;
    const chunked = sp.kind === "stream" && sp.chunked;
    const bodyless = sp.kind === "stream" && sp.bodyless;
    const conn = new Connection(this.#connHost, fd, gen, seq, mode, chunked, bodyless, closeOnEnd);
    this.#conns.set(conn._key, conn);
    if (mode === "takeover") this.#takers.set(conn._key, sp.fn);
    else this.#runHandOver(conn, sp.fn, mode);
    this.#pumpEvents(core, srv);
    return R_DONE;
  }

  #runHandOver(conn: Connection, fn: (conn: Connection) => unknown, mode: ConnectionMode): void {
    const fail = (e: unknown) => {
      console.error(`fasthttp: a ${mode} callback failed; the connection is closed:`, e);
      conn.close();
    };
    let r: unknown;
    try {
      r = fn(conn);
    } catch (e) {
      fail(e);
      return;
    }
    Promise.resolve(r).then(() => {
      if (mode !== "takeover") conn.end();
    }, fail);
  }

  /** Stream and takeover events from the core. */
  #pumpEvents(core: Core, srv: Pointer): void {
    const ev = this.#evBuf;
    for (;;) {
      const n = core.fh_events_take(srv, ev, 64);
      for (let k = 0; k < n; k++) {
        const type = ev[k * 4]!;
        const fd = ev[k * 4 + 1]!;
        const gen = ev[k * 4 + 2]!;
        const key = `${fd}:${gen}:${ev[k * 4 + 3]!}`;
        const conn = this.#conns.get(key);
        if (conn === undefined) continue;
        if (type === 1) {
          const fn = this.#takers.get(key);
          this.#takers.delete(key);
          if (fn !== undefined) this.#runHandOver(conn, fn, "takeover");
        } else if (type === 2) {
          const scratch = this.#scratch;
          for (;;) {
            const got = core.fh_raw_take(srv, fd, gen, scratch, scratch.length);
            if (got <= 0) break;
            conn._data(scratch.slice(0, got));
            if (got < scratch.length) break;
          }
        } else if (type === 3) {
          conn._drained();
        } else if (type === 4) {
          this.#conns.delete(key);
          this.#takers.delete(key);
          conn._closed();
        } else if (type === 5) {
          conn.close(); // the client sent FIN: the conversation is over
        }
      }
      if (n < 64) break;
    }
  }

  #traceBegin(req: HttpRequest): void {
    req._t0 = this.#core!.fh_clock();
  }

  #traceRespond(req: HttpRequest, used: number, slabs: number): void {
    this.#traceInfo[req._slab] = [req.string(req.method), req.string(req.target), used, slabs, req._t0];
  }

  #traceTake(core: Core, srv: Pointer): void {
    for (;;) {
      const n = core.fh_trace_take(srv, this.#traceIds, this.#traceMs, this.#traceIds.length);
      for (let k = 0; k < n; k++) {
        const info = this.#traceInfo[this.#traceIds[k]!];
        if (info === undefined) continue;
        const [method, target, used, slabs, t0] = info;
        const held = (this.#traceMs[k]! - (t0 as number)).toFixed(3);
        process.stderr.write(`fasthttp arena: ${method} ${target} used=${used}B slabs=${slabs} freed_after=${held}ms\n`);
      }
      if (n < this.#traceIds.length) break;
    }
  }

  #await(req: HttpRequest, p: Promise<unknown>): void {
    this.#pending++;
    p.then(
      (res) => this.#late(req, res),
      (e) => {
        logHandlerError(req, e);
        this.#late(req, RESPONSE_500);
      },
    );
  }

  #late(req: HttpRequest, res: unknown): void {
    this.#pending--;
    const srv = this.#srv;
    if (srv === null) return; // the server is gone; its arenas went with it
    if (!(res instanceof Uint8Array)) {
      logBadReturn(req, res);
      res = RESPONSE_500;
    }
    this.#heads.tick(Date.now());
    this.#place(this.#core!, srv, req, res as Uint8Array, -1);
    // Writing this response may have handed over a takeover queued behind it: start it now.
    if (this.#conns.size > 0) this.#pumpEvents(this.#core!, srv);
    if (this.#trace) this.#traceTake(this.#core!, srv);
    if (this.#state === "stopping") this.#schedule();
  }

  #finish(): void {
    this.#teardown();
    this.#state = "stopped";
    this.#resolve();
  }

  #teardown(): void {
    const srv = this.#srv;
    this.#srv = null;
    if (srv) this.#core!.fh_destroy(srv);
    if (this.#keepAlive) clearInterval(this.#keepAlive);
    const wake = this.#wake;
    this.#wake = undefined;
    // The helper thread is joined, but a wake-up it queued may still be on its
    // way to this thread: close the callback only once that has surely run.
    if (wake) setTimeout(() => wake.close(), 1000).unref();
  }
}

function describe(req: HttpRequest): string {
  try {
    return `${req.string(req.method)} ${req.string(req.target)}`;
  } catch {
    return "a request";
  }
}

function logHandlerError(req: HttpRequest, e: unknown): void {
  console.error(`fasthttp: the handler failed on ${describe(req)}; answered 500:`, e);
}

function logBadReturn(req: HttpRequest, res: unknown): void {
  const what = res === null ? "null" : typeof res === "object" ? (res.constructor?.name ?? "an object") : typeof res;
  console.error(`fasthttp: the handler returned ${what} for ${describe(req)}, not a Uint8Array; answered 500`);
}
