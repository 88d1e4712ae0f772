/**
 * Streamed request bodies: the reader of a body that the core frames as it
 * arrives (c/body.c). A request whose body does not fit in one arena slab is
 * handed to its handler as soon as its head is complete
 * (`req.bodyStreamed`); the body is then read from the core a window at a
 * time by {@link BodyReader.read}, which waits for the core's `EV_BODY` when
 * nothing has come yet. Not reading is backpressure: the core stops reading
 * the connection once its window (256 KiB) is full, and the client waits.
 * @module
 */
import type { Pointer } from "bun:ffi";
import type { Core } from "./ffi.ts";
import { B_END, B_FAILED, B_GONE, B_SIZE } from "./layout.ts";

/** Most bytes one read takes: the core's window (256 KiB), or a socket read straight into the buffer. */
const WINDOW = 256 * 1024;
const state = new Int32Array(B_SIZE);

/**
 * A buffer of `n` bytes whose contents the caller overwrites at once: not zero-filled first
 * (Bun.allocUnsafe), and a plain Uint8Array over it (not a Buffer), as Bun.serve's chunks are.
 */
function unfilled(n: number): Uint8Array {
  const b = Bun.allocUnsafe(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/** Where reads without a buffer of the caller's land: handed over as the chunk when a read fills most of it. */
let spare = unfilled(WINDOW);

/**
 * Chunks a reader hands over are garbage once the handler is done with them,
 * and the GC left to itself lets ~150 MiB of them pile up during a fast
 * upload; a collection is asked for (`Bun.gc(false)`: scheduled, not run
 * here) every this many bytes, which keeps a 1 GiB upload near 100 MiB of
 * RSS (bench/RESULTS.md). Reads into a buffer of the caller's make none.
 */
const GC_EVERY = 32 * 1024 * 1024;
let sinceGc = 0;

/**
 * Why a request body could not be read to its end. `status` is what the
 * server answered the request with, when it could: 400 (a malformed chunked
 * body), 408 (the client stopped sending it for longer than `idleTimeout`),
 * 413 (larger than `maxRequestBodySize`, or a chunk line, extensions included,
 * longer than `maxHeaderSize`), 431 (a trailer section longer than
 * `maxHeaderSize`); 0 when the connection went away (the client left, or the
 * request was answered before its body was read). Whatever the handler
 * answers after this is not sent: the request has its answer. Its `name` is
 * "AbortError", as for the DOMException Bun.serve's bodies fail with.
 */
export class BodyError extends Error {
  /** The status the request was answered with (0: none could be sent). */
  readonly status: number;
  /** @internal */
  constructor(status: number) {
    super(BodyError.#message(status));
    // As Bun.serve's request body fails (a DOMException "AbortError"), so that code written for it
    // (`e.name === "AbortError"`) reads this the same way.
    this.name = "AbortError";
    this.status = status;
  }

  static #message(status: number): string {
    switch (status) {
      case 400:
        return "fasthttp: the request body is malformed (bad chunked framing); answered 400";
      case 408:
        return "fasthttp: the request body stopped arriving (idleTimeout); answered 408";
      case 413:
        return "fasthttp: the request body is larger than maxRequestBodySize, or has a chunk line longer than maxHeaderSize; answered 413";
      case 431:
        return "fasthttp: the request body has trailers longer than maxHeaderSize; answered 431";
      default:
        return "fasthttp: the request body can no longer be read: the client left, or the request was answered before its body was read";
    }
  }
}

/** @internal What readers need of their server: the core, its handle, and the events that wake them. */
export interface BodyHost {
  core: Core;
  /** The core's server; null once it is destroyed. */
  srv(): Pointer | null;
  /** A drain soon: the core has connections to parse. */
  poke(): void;
  /** Takes the core's events now (a body that failed may have come with its request's abort). */
  pump(): void;
  /** Wakes `reader` on the core's next EV_BODY for its request. */
  wait(reader: BodyReader): void;
}

/** @internal The reader of one streamed request body (one per request, made on its first read). */
export class BodyReader {
  /** "fd:gen:seq", the key of the core's events about this request. */
  readonly _key: string;
  #host: BodyHost;
  #fd: number;
  #gen: number;
  #seq: number;
  #onKeep: (keep: number) => void;
  #ended = false;
  #error: BodyError | null = null;
  #wake: (() => void) | null = null;

  /**
   * @internal `onKeep` gets, after every read, the REQ_KEEP_ALIVE an answer
   * given now would have (the core's decision: see c/body.c).
   */
  constructor(host: BodyHost, fd: number, gen: number, seq: number, onKeep: (keep: number) => void) {
    this.#host = host;
    this.#fd = fd;
    this.#gen = gen;
    this.#seq = seq;
    this.#onKeep = onKeep;
    this._key = `${fd}:${gen}:${seq}`;
  }

  /**
   * The next bytes of the body, or null at its end: a new Uint8Array (the
   * caller's to keep), or with `into`, a view of the first bytes of `into`
   * (no allocation; valid until `into` is written again). Rejects with a
   * {@link BodyError} when the body cannot be read.
   */
  async read(into?: Uint8Array): Promise<Uint8Array | null> {
    for (;;) {
      const got = this.#readNow(into);
      if (got !== undefined) return got;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#host.wait(this);
      });
    }
  }

  /**
   * What {@link read} would give without waiting: bytes, null at the end,
   * or undefined when nothing has come yet. Throws a {@link BodyError}.
   */
  #readNow(into?: Uint8Array): Uint8Array | null | undefined {
    if (this.#ended) return null;
    if (this.#error !== null) throw this.#error;
    const host = this.#host;
    const srv = host.srv();
    if (srv === null) {
      this.#error = new BodyError(0);
      throw this.#error;
    }
    const dst = into ?? spare;
    const n = host.core.fh_body_read(srv, this.#fd, this.#gen, this.#seq, dst, into === undefined ? WINDOW : Math.min(into.length, 2 ** 30), state);
    if (state[2] !== 0) host.poke();
    const st = state[0];
    this.#onKeep(state[3]!);
    if (st === B_END) {
      this.#ended = true;
    } else if (st === B_FAILED || st === B_GONE) {
      this.#error = new BodyError(st === B_FAILED ? state[1]! : 0);
      host.pump(); // a client that left aborts its request (req.signal) before the reader rejects, as in Bun.serve
    }
    if (n > 0) {
      if (into !== undefined) return into.subarray(0, n);
      if ((sinceGc += n) >= GC_EVERY) {
        sinceGc = 0;
        Bun.gc(false);
      }
      if (n < WINDOW / 2) {
        const small = unfilled(n);
        small.set(spare.subarray(0, n));
        return small;
      }
      const chunk = spare.subarray(0, n); // most of it: no copy, the next read gets a new buffer
      spare = unfilled(WINDOW);
      return chunk;
    }
    if (this.#ended) return null;
    if (this.#error !== null) throw this.#error;
    return undefined;
  }

  /** @internal The core has news for this reader (EV_BODY), or its server is gone. */
  _wake(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}
