/**
 * Trace mode (`FASTHTTP_TRACE_ARENA=1`): one line on stderr per request when
 * its arena is freed, with what the arena held and how long after the
 * handler ran:
 *
 *     fasthttp arena: GET /a used=184B slabs=1 freed_after=0.112ms
 *
 * The core records each freed slab with its time; this module remembers what
 * each slab's request was and prints the records it takes.
 * @module
 */
import type { Pointer } from "bun:ffi";
import type { Core } from "./ffi.ts";
import type { HttpRequest } from "./request.ts";

/** Whether trace mode was asked for. */
export function traceWanted(): boolean {
  return process.env.FASTHTTP_TRACE_ARENA === "1";
}

/** @internal What trace mode knows of the requests of one server, by arena slab. */
export class ArenaTrace {
  #core: Core;
  #info: (string | number)[][] = [];
  #ids = new Int32Array(256);
  #ms = new Float64Array(256);

  /** @internal Turns the core's records on for `srv`. */
  constructor(core: Core, srv: Pointer) {
    this.#core = core;
    core.fh_server_trace(srv, 1);
  }

  /** The request is handed to its handler now. */
  begin(req: HttpRequest): void {
    req._t0 = this.#core.fh_clock();
  }

  /** The request is answered; its arena holds `used` bytes in `slabs` slabs. */
  respond(req: HttpRequest, used: number, slabs: number): void {
    this.#info[req._slab] = [req.string(req.method), req.string(req.target), used, slabs, req._t0];
  }

  /** Prints a line for every arena the core has freed since the last call. */
  take(srv: Pointer): void {
    for (;;) {
      const n = this.#core.fh_trace_take(srv, this.#ids, this.#ms, this.#ids.length);
      for (let k = 0; k < n; k++) {
        const info = this.#info[this.#ids[k]!];
        if (info === undefined) continue;
        const [method, target, used, slabs, t0] = info;
        const held = (this.#ms[k]! - (t0 as number)).toFixed(3);
        process.stderr.write(`fasthttp arena: ${method} ${target} used=${used}B slabs=${slabs} freed_after=${held}ms\n`);
      }
      if (n < this.#ids.length) break;
    }
  }
}
