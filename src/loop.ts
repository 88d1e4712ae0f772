/**
 * The batch loop: runs handlers in batches over the C core's descriptor
 * array.
 *
 * C does the I/O. {@link Loop.drain} polls it without blocking, runs each
 * ready request's handler, has each response placed (src/place.ts) and
 * flushes once per batch. It polls a little longer before it sleeps (cheap,
 * and it spares a wake-up per request at low concurrency), and it hands
 * control back to Bun's event loop every couple of milliseconds under load,
 * so timers, promises and signals keep running. Async handlers are answered
 * when their promise settles, outside any batch.
 * @module
 */
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { largeView, type ArenaHost, type SliceBuffer } from "./arena.ts";
import type { Handler } from "./config.ts";
import { logBadReturn, logHandlerError } from "./errors.ts";
import { CoreEvents } from "./events.ts";
import { describeError, type Core } from "./ffi.ts";
import { D, LARGE_BASE, R_PENDING } from "./layout.ts";
import { Placer } from "./place.ts";
import { HttpRequest, type RequestHost } from "./request.ts";
import { HeadWriter } from "./response.ts";
import type { Serving } from "./serving.ts";
import { ArenaTrace, traceWanted } from "./trace.ts";

/** Requests one poll may return. */
export const BATCH = 1024;
/** Empty polls before JavaScript goes to sleep. */
const IDLE_POLLS = 100;
/** Longest stretch of draining before yielding to Bun's event loop, in ms. */
const SLICE_MS = 2;

/** @internal The loop of one running server. */
export class Loop {
  /** Set by the server when it stops: the loop reports (onStopped) once no connection is left. */
  stopping = false;
  #ctx: Serving;
  #handler: Handler;
  #onStopped: () => void;
  #host: RequestHost;
  #placer: Placer;
  #events: CoreEvents;
  #trace: ArenaTrace | null;
  /** One request object per arena slab, reused with it. */
  #reqs: (HttpRequest | undefined)[] = [];
  #draining = false;
  #scheduled = false;

  /**
   * @internal A loop over `srv`, whose pool has `maxSlabs` slabs of
   * `slabSize` bytes. `onStopped` is called once the server is stopping and
   * its last connection has closed.
   */
  constructor(core: Core, srv: Pointer, slabSize: number, maxSlabs: number, handler: Handler, onStopped: () => void) {
    const mem = new Uint8Array(toArrayBuffer(core.fh_server_slabs(srv)!, 0, slabSize * maxSlabs));
    this.#ctx = {
      core,
      srv,
      desc: new Int32Array(toArrayBuffer(core.fh_server_desc(srv)!, 0, BATCH * D.SIZE * Int32Array.BYTES_PER_ELEMENT)),
      mem,
      slabSize,
      heads: new HeadWriter(),
      schedule: () => this.schedule(),
    };
    const arena: ArenaHost = {
      core,
      srv,
      mem,
      memBuf: Buffer.from(mem.buffer, mem.byteOffset, mem.byteLength) as SliceBuffer,
      slabSize,
    };
    this.#host = { arena, heads: this.#ctx.heads };
    this.#handler = handler;
    this.#onStopped = onStopped;
    this.#trace = traceWanted() ? new ArenaTrace(core, srv) : null;
    this.#events = new CoreEvents(this.#ctx);
    this.#placer = new Placer(this.#ctx, this.#events, this.#trace);
  }

  /** The core's server is gone: nothing calls it again (late answers are dropped). */
  close(): void {
    this.#ctx.srv = null;
  }

  /** Drains soon, from Bun's event loop (once, however often it is asked). */
  schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#onImmediate);
  }

  #onImmediate = (): void => {
    this.#scheduled = false;
    this.drain();
  };

  /** Polls and runs batches until idle or out of time; then arms the wake-up (or reports the stop). */
  drain(): void {
    const ctx = this.#ctx;
    const srv = ctx.srv;
    if (srv === null || this.#draining) return;
    const core = ctx.core;
    this.#draining = true;
    const start = performance.now();
    let idle = 0;
    try {
      for (;;) {
        const n = core.fh_poll(srv);
        if (n > 0) {
          this.#batch(core, srv, n);
          if (this.#trace !== null) this.#trace.take(srv);
          idle = 0;
        }
        if (this.#events.active) this.#events.pump(core, srv);
        if (n > 0) {
        } else if (n < 0) {
          console.error(`fasthttp: poll failed: ${describeError(n)}`);
          break;
        } else if (++idle >= IDLE_POLLS) {
          break;
        }
        if (performance.now() - start >= SLICE_MS) {
          this.schedule();
          return;
        }
      }
    } finally {
      this.#draining = false;
    }
    if (this.#trace !== null) this.#trace.take(srv);
    // Events nobody waits for (a request answered or dropped since) are taken too, so none pile up in the core.
    if (core.fh_events_pending(srv) > 0) this.#events.pump(core, srv);
    if (this.stopping && core.fh_conn_count(srv) === 0) {
      this.#onStopped();
      return;
    }
    core.fh_arm(srv);
  }

  #batch(core: Core, srv: Pointer, n: number): void {
    const d = this.#ctx.desc;
    const handler = this.#handler;
    const placer = this.#placer;
    this.#ctx.heads.tick(Date.now());
    for (let i = 0; i < n; i++) {
      const b = i * D.SIZE;
      const req = this.#request(d, b);
      let res: unknown;
      try {
        res = handler(req);
      } catch (e) {
        logHandlerError(req, e);
        d[b + D.RKIND] = placer.status(req, 500, b);
        continue;
      }
      if (res instanceof Uint8Array) {
        d[b + D.RKIND] = placer.place(req, res, b);
      } else if (res !== null && typeof res === "object" && typeof (res as Promise<unknown>).then === "function") {
        d[b + D.RKIND] = R_PENDING;
        this.#await(req, res as Promise<unknown>);
      } else {
        logBadReturn(req, res);
        d[b + D.RKIND] = placer.status(req, 500, b);
      }
    }
    core.fh_flush(srv, 0, n);
  }

  /** The request object for descriptor row `b`: the slab's own, pointed at this request. */
  #request(d: Int32Array, b: number): HttpRequest {
    const slab = d[b + D.SLAB]!;
    const len = d[b + D.LEN]!;
    let req: HttpRequest | undefined;
    if (slab < LARGE_BASE) {
      req = this.#reqs[slab];
      if (req === undefined) req = this.#reqs[slab] = new HttpRequest(this.#host);
      let buffer = req.buffer;
      const slabSize = this.#ctx.slabSize;
      const base = slab * slabSize;
      if (buffer.length !== len || buffer.byteOffset !== base) buffer = this.#ctx.mem.subarray(base, base + len);
      req._reset(d, b, buffer, null);
    } else {
      const whole = largeView(this.#host.arena, slab);
      req = new HttpRequest(this.#host);
      req._reset(d, b, whole.subarray(0, len), whole);
    }
    if (this.#trace !== null) this.#trace.begin(req);
    return req;
  }

  #await(req: HttpRequest, p: Promise<unknown>): void {
    this.#events.wait(req);
    p.then(
      (res) => this.#late(req, res, false),
      (e) => {
        logHandlerError(req, e);
        this.#late(req, null, true);
      },
    );
  }

  /** An async handler's answer (`failed`: it rejected, already logged): placed outside any batch. */
  #late(req: HttpRequest, res: unknown, failed: boolean): void {
    const ctx = this.#ctx;
    const srv = ctx.srv;
    if (srv === null) return; // the server is gone; its arenas went with it
    this.#events.answered(req); // if its client left (req.aborted), the core drops this answer and frees the arena
    if (!failed && !(res instanceof Uint8Array)) {
      logBadReturn(req, res);
      failed = true;
    }
    ctx.heads.tick(Date.now());
    if (failed) this.#placer.status(req, 500, -1);
    else this.#placer.place(req, res as Uint8Array, -1);
    // Writing this response may have handed over a takeover queued behind it: start it now.
    if (this.#events.active) this.#events.pump(ctx.core, srv);
    if (this.#trace !== null) this.#trace.take(srv);
    if (this.stopping) this.schedule();
  }
}
