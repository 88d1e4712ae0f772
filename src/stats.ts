/**
 * `server.stats()`: the figures of a server's connections and arena pool, as
 * the core reports them (indexed by the `ST_*` names of src/layout.ts), for
 * one loop or summed over workers.
 * @module
 */
import {
  ST_CAP,
  ST_CONNS,
  ST_HIGH_WATER,
  ST_IN_USE,
  ST_KQUEUE,
  ST_LARGE_IN_USE,
  ST_SLAB_SIZE,
  ST_SLABS,
  ST_STATIC,
} from "./layout.ts";

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
  /** Requests the core answered from static routes without JavaScript (c/routes.c; modulo 2^31; 0 summed over workers). */
  staticAnswers: number;
}

/**
 * The stats of figures laid out as fh_stats writes them (`ST_*`), up to
 * ST_LARGE_IN_USE at least; `slabSize` and `backend` when given replace
 * ST_SLAB_SIZE and ST_KQUEUE (a sum over workers has neither).
 */
export function statsOf(out: ArrayLike<number>, slabSize?: number, backend?: string): ServerStats {
  return {
    connections: out[ST_CONNS]!,
    slabs: out[ST_SLABS]!,
    slabsInUse: out[ST_IN_USE]!,
    slabsHighWater: out[ST_HIGH_WATER]!,
    slabsMax: out[ST_CAP]!,
    largeInUse: out[ST_LARGE_IN_USE]!,
    slabSize: slabSize ?? out[ST_SLAB_SIZE]!,
    backend: backend ?? (out[ST_KQUEUE] ? "kqueue" : "epoll"),
    staticAnswers: out[ST_STATIC] ?? 0,
  };
}
