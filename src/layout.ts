/**
 * The descriptor-array layout shared with the C core (mirrors c/layout.h and
 * the request flags of c/scanner.h). Checked against the compiled core at
 * start-up, so the two cannot drift apart silently.
 * @module
 */

/** Fields of one descriptor row (int32 each). */
export const D = {
  FD: 0,
  GEN: 1,
  SEQ: 2,
  SLAB: 3,
  LEN: 4,
  METHOD: 5,
  PATH: 7,
  VERSION: 9,
  HEADERS: 11,
  BODY: 13,
  FLAGS: 15,
  TARGET: 16,
  RKIND: 18,
  ROFF: 19,
  RLEN: 20,
  RFLAGS: 21,
  SIZE: 22,
} as const;

/** What the C core's fh_layout_check() must return for this layout. */
export const LAYOUT_CHECK = D.SIZE * 1000 + D.RFLAGS;

/** Response kinds (D.RKIND). */
export const R_PENDING = 0;
export const R_ARENA = 1;
export const R_DONE = 2;

/** Response flags (D.RFLAGS). */
export const RF_CLOSE = 1;
export const RF_RAW = 2;

/** Request flags (D.FLAGS). */
export const REQ_KEEP_ALIVE = 1;
export const REQ_HTTP10 = 2;
export const REQ_HEAD = 4;
export const REQ_CHUNKED = 8;

/** Slab ids at and above this are large, one-off slabs. */
export const LARGE_BASE = 1 << 24;
