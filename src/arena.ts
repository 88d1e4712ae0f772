/**
 * Request arenas: per-request memory from the server's native slab pool.
 *
 * An arena begins in the slab that holds the request (right after its bytes)
 * and takes more slabs when it outgrows that one. Allocating bumps a pointer;
 * the whole arena is freed as a unit, by the C core, once the response has
 * been written (later, if the socket pushed back). A response built in the
 * arena is sent from there without a copy.
 *
 * **Lifetime:** views handed out by an arena are valid only until the
 * response is written; the memory is then reused. Copy (`slice()`) anything
 * you need to keep. With `FASTHTTP_DEBUG_ARENA=1`, freed arenas are filled
 * with the byte 0xDB, so a view kept too long reads poison, never another
 * request's bytes.
 * @module
 */
import { toArrayBuffer, type Pointer } from "bun:ffi";
import type { Core } from "./ffi.ts";
import { LARGE_BASE } from "./layout.ts";

/** @internal A Buffer with the slicing methods Node and Bun have but do not declare. */
export type SliceBuffer = Buffer & {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
};

/** @internal What every arena of one server shares. */
export interface ArenaHost {
  core: Core;
  srv: Pointer;
  mem: Uint8Array;
  memBuf: SliceBuffer;
  slabSize: number;
}

/** @internal A view of large slab `id`, whole. */
export function largeView(host: ArenaHost, id: number): Uint8Array {
  const size = host.core.fh_slab_size(host.srv, id | 0);
  return new Uint8Array(toArrayBuffer(host.core.fh_slab_ptr(host.srv, id | 0)!, 0, size));
}

/**
 * Per-request memory. Get it from `req.arena`.
 *
 * @example
 * ```ts
 * const handler = (req: HttpRequest) => {
 *   const name = req.arena.encode("world");     // UTF-8 bytes, in the arena, no copy
 *   const out = req.arena.alloc(6 + name.length); // scratch space
 *   ...
 *   return req.response(200, "hello");           // a whole response, built in the arena
 * };
 * ```
 */
export class Arena {
  #host: ArenaHost;
  #head = -1;
  #cur = -1;
  #view: Uint8Array;
  #buf: Buffer;
  #pos = 0;
  #end = 0;
  #used = 0;
  #slabs = 1;
  /** Slabs beyond the first, and for large ones their views. */
  #more: number[] = [];
  #headView: Uint8Array | null = null;
  #moreViews: (Uint8Array | null)[] = [];

  /** @internal */
  constructor(host: ArenaHost) {
    this.#host = host;
    this.#view = host.mem;
    this.#buf = host.memBuf;
  }

  /** @internal Starts a new arena in `head`, after the request's `reqLen` bytes (`view` for a large head). */
  _reset(head: number, reqLen: number, view: Uint8Array | null): void {
    this.#head = head;
    this.#cur = head;
    this.#headView = view;
    this.#slabs = 1;
    this.#used = 0;
    if (this.#more.length > 0) {
      this.#more.length = 0;
      this.#moreViews.length = 0;
    }
    if (view === null) {
      const base = head * this.#host.slabSize;
      this.#view = this.#host.mem;
      this.#buf = this.#host.memBuf;
      this.#pos = base + ((reqLen + 7) & ~7);
      this.#end = base + this.#host.slabSize;
    } else {
      this.#view = view;
      this.#buf = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
      this.#pos = (reqLen + 7) & ~7;
      this.#end = view.length;
    }
    if (this.#pos > this.#end) this.#pos = this.#end;
  }

  /** Bytes allocated so far. */
  get used(): number {
    return this.#used;
  }

  /** Slabs the arena holds (1 until it outgrows the request's slab). */
  get slabs(): number {
    return this.#slabs;
  }

  /**
   * `n` bytes of arena memory (not zeroed), valid until the response has
   * been written. Throws a RangeError for a bad size, or an Error when the
   * slab pool is exhausted (see `arenaMaxSlabs`).
   */
  alloc(n: number): Uint8Array {
    const p = this.#reserve(n);
    return this.#view.subarray(p, p + n);
  }

  /** `s` encoded as UTF-8 into the arena (no intermediate copy). */
  encode(s: string): Uint8Array {
    const max = s.length * 3;
    const p = this.#reserve(max);
    const n = this.#buf.write(s, p, max, "utf8");
    this.#pos = p + n;
    this.#used -= max - n;
    return this.#view.subarray(p, p + n);
  }

  /**
   * @internal Reserves `n` bytes and returns their offset in `_view()`.
   * Callers that write less may give the rest back with `_trim`.
   */
  _reserve(n: number): number {
    return this.#reserve(n);
  }

  /** @internal The view and Buffer the last reservation lives in. */
  _view(): Uint8Array {
    return this.#view;
  }

  /** @internal The slab the last reservation lives in, and where that slab starts in `_view()`. */
  _slab(): number {
    return this.#cur;
  }

  /** @internal */
  _slabStart(): number {
    return this.#cur < LARGE_BASE ? this.#cur * this.#host.slabSize : 0;
  }

  /** @internal */
  _buf(): Buffer {
    return this.#buf;
  }

  /** @internal Gives back the end of the last reservation: the arena's top moves to `to`. */
  _trim(to: number): void {
    this.#used -= this.#pos - to;
    this.#pos = to;
  }

  /**
   * @internal Where `bytes` live, if inside this arena: [slab id, offset in
   * that slab]; else null.
   */
  _locate(bytes: Uint8Array): [number, number] | null {
    const host = this.#host;
    if (bytes.buffer === host.mem.buffer) {
      const abs = bytes.byteOffset;
      const slab = Math.floor(abs / host.slabSize);
      const off = abs - slab * host.slabSize;
      if (off + bytes.length > host.slabSize) return null;
      if (slab === this.#head || this.#more.includes(slab)) return [slab, off];
      return null;
    }
    for (let k = 0; k < this.#moreViews.length; k++) {
      const v = this.#moreViews[k];
      if (v !== null && v !== undefined && bytes.buffer === v.buffer) return [this.#more[k]!, bytes.byteOffset];
    }
    if (this.#head >= LARGE_BASE && bytes.buffer === this.#headView?.buffer) return [this.#head, bytes.byteOffset];
    return null;
  }

  #reserve(n: number): number {
    if (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) {
      throw new RangeError(`fasthttp: arena allocation size must be an integer from 0 to 2^31-1 (got ${n})`);
    }
    let p = (this.#pos + 7) & ~7;
    if (p + n > this.#end) {
      this.#grow(n);
      p = this.#pos;
    }
    this.#pos = p + n;
    this.#used += n;
    return p;
  }

  #grow(n: number): void {
    const host = this.#host;
    const id = host.core.fh_arena_grow(host.srv, this.#head | 0, n);
    if (id < 0) {
      throw new Error(`fasthttp: the arena slab pool is exhausted (asked for ${n} bytes; raise arenaMaxSlabs)`);
    }
    this.#slabs++;
    this.#cur = id;
    this.#more.push(id);
    if (id < LARGE_BASE) {
      this.#moreViews.push(null);
      this.#view = host.mem;
      this.#buf = host.memBuf;
      this.#pos = id * host.slabSize;
      this.#end = this.#pos + host.slabSize;
    } else {
      const v = largeView(host, id);
      this.#moreViews.push(v);
      this.#view = v;
      this.#buf = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      this.#pos = 0;
      this.#end = v.length;
    }
  }
}
