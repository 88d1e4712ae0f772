/**
 * Response placement: where a handler's answer goes so that the core can
 * write it. In a batch, a response that lives in the request's first slab is
 * left in the request's descriptor row for fh_flush (R_ARENA); anything else
 * is handed to the core by its own call (R_DONE): fh_respond for bytes in
 * another slab or in JavaScript memory, fh_stream_open for a stream or a
 * takeover, fh_respond_file for a file. A response built in the arena is
 * never copied; other bytes are copied into the arena when they fit, after a
 * `200 OK` head when they are a bare body. A request the server answers by
 * itself (500 for a handler that failed) gets the core's own answer for the
 * status: R_STATUS in a batch, fh_respond_status outside one.
 * @module
 */
import { describe } from "./errors.ts";
import type { CoreEvents } from "./events.ts";
import { nodeFs } from "./lazy.ts";
import { D, LARGE_BASE, R_ARENA, R_DONE, R_STATUS, REQ_HEAD, RF_RAW, SEG_STREAM, SEG_TAKEOVER } from "./layout.ts";
import { HANDED_OVER, type HttpRequest } from "./request.ts";
import { connectionMode, isRawResponse } from "./response.ts";
import type { ArenaTrace } from "./trace.ts";
import type { Serving } from "./serving.ts";
import { refusedUpgrade } from "./ws/hub.ts";

/** @internal Places the answers of one server's requests. */
export class Placer {
  #ctx: Serving;
  #events: CoreEvents;
  #trace: ArenaTrace | null;

  /** @internal */
  constructor(ctx: Serving, events: CoreEvents, trace: ArenaTrace | null) {
    this.#ctx = ctx;
    this.#events = events;
    this.#trace = trace;
  }

  /**
   * Hands a response to the core and returns the row's kind: in a batch
   * (`row` >= 0, the row's offset in the descriptor array) R_ARENA when it
   * was left in the row, R_STATUS when it is the core's own answer, else
   * R_DONE. `srv` must be live.
   */
  place(req: HttpRequest, res: Uint8Array, row: number): number {
    if (req._wsRefused) res = refusedUpgrade(req); // RFC 6455 §4.4: 426, whatever the handler answered
    if (req._special !== null || res === HANDED_OVER) return this.#handOver(req, res, row);
    const ctx = this.#ctx;
    const flags = req._flags;
    const slab = req._slab;
    const arena = req._arenaIfLive();
    if (this.#trace !== null) this.#trace.respond(req, arena === null ? 0 : arena.used, arena === null ? 1 : arena.slabs);
    let dataSlab = slab;
    let off = -1;
    let len = 0;
    let body: Uint8Array | null = null;
    const raw = isRawResponse(res);
    // Whether the connection persists is the core's to decide (the request's
    // REQ_KEEP_ALIVE, a raw head's own say): nothing here asks to close.
    const rflags = raw ? RF_RAW : 0;
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
      const heads = ctx.heads;
      const slabSize = ctx.slabSize;
      const bodyLen = raw || (flags & REQ_HEAD) === 0 ? res.length : 0;
      const need = raw ? res.length : heads.maxLength + bodyLen;
      let view: Uint8Array | null = null;
      let top = -1;
      let start = 0;
      if (arena === null) {
        const base = slab * slabSize;
        const at = (req.buffer.length + 7) & ~7;
        if (slab < LARGE_BASE && at + need <= slabSize) {
          view = ctx.mem;
          top = base + at;
          start = base;
        }
      } else if (need <= slabSize) {
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
          len = heads.write(view, top, res.length, connectionMode(flags));
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
        const heads = ctx.heads;
        const bodyLen = (flags & REQ_HEAD) === 0 ? res.length : 0;
        const head = new Uint8Array(heads.maxLength);
        const hl = heads.write(head, 0, res.length, connectionMode(flags));
        body = new Uint8Array(hl + bodyLen);
        body.set(head.subarray(0, hl));
        if (bodyLen > 0) body.set(res, hl);
      }
    }
    if (row >= 0 && body === null && dataSlab === slab) {
      const d = ctx.desc;
      d[row + D.ROFF] = off;
      d[row + D.RLEN] = len;
      d[row + D.RFLAGS] = rflags;
      return R_ARENA;
    }
    const more = ctx.core.fh_respond(
      ctx.srv,
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
    if (more) ctx.schedule();
    return R_DONE;
  }

  /**
   * Answers with the core's own response for `status` (500: the handler
   * failed; it knows HEAD and the connection's keep-alive), in a batch
   * (`row` >= 0) as an R_STATUS row, else by fh_respond_status. Whatever the
   * handler had asked to hand over is dropped (a file is closed). Returns
   * the row's kind. `srv` must be live.
   */
  status(req: HttpRequest, status: number, row: number): number {
    const ctx = this.#ctx;
    const sp = req._special;
    req._special = null;
    if (sp !== null && sp.kind === "file") nodeFs().closeSync(sp.fd);
    if (this.#trace !== null) {
      const arena = req._arenaIfLive();
      this.#trace.respond(req, arena === null ? 0 : arena.used, arena === null ? 1 : arena.slabs);
    }
    if (row >= 0) {
      ctx.desc[row + D.ROFF] = status;
      return R_STATUS;
    }
    const more = ctx.core.fh_respond_status(ctx.srv, req.clientConnFd | 0, req._gen | 0, req._seq | 0, req._slab | 0, status | 0);
    if (more) ctx.schedule();
    return R_DONE;
  }

  /** Streams, takeovers and files: the core takes them through their own calls. */
  #handOver(req: HttpRequest, res: Uint8Array, row: number): number {
    const ctx = this.#ctx;
    const core = ctx.core;
    const srv = ctx.srv;
    const sp = req._special;
    req._special = null;
    if (sp === null || res !== HANDED_OVER) {
      console.error(
        sp === null
          ? `fasthttp: the handler returned HANDED_OVER for ${describe(req)} without handing the request over; answered 500`
          : `fasthttp: the handler called ${sp.kind === "file" ? "sendFile" : sp.kind === "stream" ? "stream" : sp.kind === "websocket" ? "upgrade" : "takeover"}() for ${describe(req)} but did not return its result; answered 500`,
      );
      req._special = sp; // closed by status()
      return this.status(req, 500, row);
    }
    if (sp.kind === "websocket") {
      // upgrade() has handed it to the core already: the row is answered.
      if (srv !== null && core.fh_events_pending(srv) > 0) this.#events.pump(core, srv);
      return R_DONE;
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
      const r = core.fh_respond_file(srv, fd, gen, seq, slab, headSlab | 0, off | 0, len | 0, sp.fd, 0, sp.size, 0);
      if (r > 0) ctx.schedule();
      return R_DONE;
    }
    const kind = sp.kind === "takeover" ? SEG_TAKEOVER : SEG_STREAM;
    const r = core.fh_stream_open(srv, fd, gen, seq, slab, headSlab | 0, kind, off | 0, len | 0);
    if (r < 0) return R_DONE; // the client is gone; the core released the arena
    if (r > 0) ctx.schedule();
    // Closed after it only when the hand-over says so: a manual takeover, a
    // close-delimited stream. Otherwise the core decides, as for any answer.
    const closeOnEnd = sp.kind === "takeover" || (sp.kind === "stream" && sp.closeAfter);
    this.#events.open(req, sp, closeOnEnd);
    this.#events.pump(core, srv!);
    return R_DONE;
  }
}
