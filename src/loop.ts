/**
 * The batch loop: runs handlers in batches over the C core's descriptor
 * array.
 *
 * C does the I/O. {@link Loop.drain} polls it without blocking, runs each
 * ready request's handler, has each response placed (src/place.ts) and
 * flushes once per batch. It polls a little longer before it sleeps (the
 * core polls on for SPIN_US in one call: cheap, and it spares a wake-up per
 * request at low concurrency), and it hands
 * control back to Bun's event loop every couple of milliseconds under load,
 * so timers, promises and signals keep running: also in the middle of a
 * batch (the clock is read every 32 requests), after flushing the answers
 * so far; the rest of the batch runs when the loop comes back, before the
 * core is polled again. Async handlers are answered
 * when their promise settles, outside any batch.
 * @module
 */
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { largeView, type ArenaHost, type SliceBuffer } from "./arena.ts";
import type { BodyHost } from "./body.ts";
import type { Handler } from "./config.ts";
import { logBadReturn, logHandlerError } from "./errors.ts";
import { CoreEvents } from "./events.ts";
import { describeError, type Core } from "./ffi.ts";
import { D, LARGE_BASE, POLL_BUSY, R_PENDING, REQ_WS } from "./layout.ts";
import { Placer } from "./place.ts";
import { HttpRequest, type RequestHost } from "./request.ts";
import { HeadWriter } from "./response.ts";
import type { Server } from "./server.ts";
import type { Serving } from "./serving.ts";
import { ArenaTrace, traceWanted } from "./trace.ts";
import { WsHub } from "./ws/hub.ts";
import type { ResolvedWebSocket } from "./ws/types.ts";

/** Requests one poll may return. */
export const BATCH = 1024;
/**
 * How long the core polls on, when nothing is ready, before JavaScript goes to sleep, in µs
 * (fh_poll's `spin_us`): about what the hundred empty polls from JavaScript it replaces took, and
 * more than a client on the same machine takes to answer a response with its next request.
 */
const SPIN_US = 50;
/** Longest stretch of draining before yielding to Bun's event loop, in ms. */
const SLICE_MS = 2;
/** Rows run between two looks at the clock within a batch (a power of two). */
const CLOCK_EVERY = 32;

/** @internal The loop of one running server. */
export class Loop {
  /** Set by {@link stop}: the loop reports (onStopped) once no connection is left. */
  stopping = false;
  #ctx: Serving;
  #handler: Handler;
  #onStopped: () => void;
  #host: RequestHost;
  #placer: Placer;
  #events: CoreEvents;
  #trace: ArenaTrace | null;
  /** The loop's WebSockets (null without the `websocket` option). */
  readonly ws: WsHub | null;
  /** One request object per arena slab, reused with it. */
  #reqs: (HttpRequest | undefined)[] = [];
  #draining = false;
  #scheduled = false;
  /** The batch being run: its rows (0: none; the core is polled for the next), and the first row not yet run. */
  #rows = 0;
  #next = 0;
  /** A graceful stop asked for while a batch was unfinished: told to the core once the batch is done. */
  #stopLater = false;

  /**
   * @internal A loop over `srv`, whose pool has `maxSlabs` slabs of
   * `slabSize` bytes. `onStopped` is called once the server is stopping and
   * its last connection has closed.
   */
  constructor(
    core: Core,
    srv: Pointer,
    slabSize: number,
    maxSlabs: number,
    handler: Handler,
    onStopped: () => void,
    server: Server,
    websocket: ResolvedWebSocket | null,
  ) {
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
    this.#handler = handler;
    this.#onStopped = onStopped;
    this.#trace = traceWanted() ? new ArenaTrace(core, srv) : null;
    const ctx = this.#ctx;
    this.ws =
      websocket === null
        ? null
        : new WsHub(websocket, { core, srv: () => ctx.srv, arena, slabSize, peer: (fd, gen) => server._peer(fd, gen)?.address ?? null, schedule: ctx.schedule });
    this.#events = new CoreEvents(this.#ctx, this.ws);
    const events = this.#events;
    const body: BodyHost = {
      core,
      srv: () => ctx.srv,
      poke: ctx.schedule,
      pump: () => {
        if (ctx.srv !== null) events.pump(core, ctx.srv);
      },
      wait: (reader) => events.waitBody(reader),
    };
    this.#host = { arena, heads: ctx.heads, body, server, ws: this.ws };
    this.#placer = new Placer(this.#ctx, this.#events, this.#trace);
  }

  /** The core's server is gone: nothing calls it again (late answers are dropped, an unfinished batch with them). */
  close(): void {
    this.#ctx.srv = null;
    this.#rows = 0;
    this.#events.wakeBodies();
  }

  /**
   * Stops the server's core (fh_stop): it accepts no more, and closes each
   * connection once its answers are written (`force`: now). A graceful stop
   * that comes while a batch is unfinished (from a handler, or during a
   * yield) reaches the core once the batch is done, so that every request
   * JavaScript was given is answered as if the stop had come after it.
   */
  stop(force: boolean): void {
    const srv = this.#ctx.srv;
    if (srv === null) return;
    this.stopping = true;
    if (force || this.#rows === 0) {
      this.#stopLater = false;
      this.#ctx.core.fh_stop(srv, force ? 1 : 0);
    } else {
      this.#stopLater = true;
    }
    this.schedule();
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

  /**
   * Polls and runs batches until idle or out of time; then arms the wake-up
   * (or reports the stop). A batch the slice ran out in is finished first,
   * before the core is polled again.
   */
  drain(): void {
    const ctx = this.#ctx;
    const srv = ctx.srv;
    if (srv === null || this.#draining) return;
    const core = ctx.core;
    this.#draining = true;
    const deadline = performance.now() + SLICE_MS;
    try {
      for (;;) {
        let n = this.#rows;
        let busy = false;
        if (n === 0) {
          n = core.fh_poll(srv, SPIN_US);
          if (n === POLL_BUSY) {
            busy = true; // the core served static answers by itself all along: no rows, but no sleep either
            n = 0;
          } else if (n > 0) {
            this.#rows = n;
            this.#next = 0;
          }
        }
        if (n > 0) {
          const done = this.#batch(core, srv, deadline);
          if (this.#trace !== null) this.#trace.take(srv);
          if (!done) {
            // Out of time mid-batch: what ran is flushed; the rest runs after Bun's event loop has had its turn.
            if (this.#events.active) this.#events.pump(core, srv);
            this.schedule();
            return;
          }
        }
        // Events (a body's bytes, a stream's drain) came with no request: poll again, which spins.
        const events = this.#events.active ? this.#events.pump(core, srv) : 0;
        if (n < 0) {
          console.error(`fasthttp: poll failed: ${describeError(n)}`);
          break;
        }
        if (n === 0 && events === 0 && !busy) break; // nothing came for SPIN_US: sleep
        if (performance.now() >= deadline) {
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

  /**
   * Runs the handlers of the batch's rows from `#next` on and flushes their
   * answers. The clock is read every CLOCK_EVERY rows: past `deadline`, the
   * rows run so far are flushed and false is returned (the batch resumes at
   * the next drain, with no poll in between: the rows stay as they are).
   * True once the whole batch is done.
   */
  #batch(core: Core, srv: Pointer, deadline: number): boolean {
    const d = this.#ctx.desc;
    const handler = this.#handler;
    const placer = this.#placer;
    const ws = this.ws;
    const n = this.#rows;
    const from = this.#next;
    this.#ctx.heads.tick(Date.now());
    let i = from;
    for (; i < n; i++) {
      if ((i & (CLOCK_EVERY - 1)) === 0 && i !== from && performance.now() >= deadline) break;
      const b = i * D.SIZE;
      if ((d[b + D.FLAGS]! & REQ_WS) !== 0) {
        ws!.row(d, b); // a WebSocket's message or control frame: the core's row (R_WS)
        continue;
      }
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
    this.#next = i;
    if (i === n) this.#rows = 0;
    core.fh_flush(srv, from, i);
    if (i === n && this.#stopLater) {
      this.#stopLater = false;
      core.fh_stop(srv, 0);
    }
    return i === n;
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
