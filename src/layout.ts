/**
 * The contract with the C core, named as c/layout.h names it: the descriptor
 * row, the response kinds and flags, the event types, the kinds of a place
 * in a connection's response queue, the stats figures, and the request flags
 * of c/scanner.h. {@link CONTRACT} lists every name in the order of
 * `FH_CONTRACT` in c/layout.h; src/ffi.ts compares it with what the compiled
 * core's `fh_contract()` reports at start-up, so the two sides cannot drift
 * apart silently (test/contract.test.ts checks the header text as well).
 * @module
 */

/** Fields of one descriptor row (int32 each; `FH_D_*`). Offsets are relative to the request's bytes. */
export const D = {
  FD: 0,
  GEN: 1,
  SEQ: 2,
  SLAB: 3,
  /** Request bytes: head plus (decoded) body. */
  LEN: 4,
  /** Start; +1 is the length, likewise for PATH, VERSION, HEADERS, BODY and TARGET. */
  METHOD: 5,
  PATH: 7,
  VERSION: 9,
  HEADERS: 11,
  BODY: 13,
  /** `REQ_*`; `REQ_KEEP_ALIVE` is the core's keep-alive decision. */
  FLAGS: 15,
  TARGET: 16,
  /** Written by JavaScript: `R_*`. */
  RKIND: 18,
  /** `R_ARENA`: the offset in the slab; `R_STATUS`: the status. */
  ROFF: 19,
  RLEN: 20,
  /** `RF_*`. */
  RFLAGS: 21,
  /** int32 per row. */
  SIZE: 22,
} as const;

/** D.RKIND: an async handler; the answer comes later through its own call. */
export const R_PENDING = 0;
/** D.RKIND: the response is in the request's slab at [ROFF, ROFF+RLEN). */
export const R_ARENA = 1;
/** D.RKIND: already handed over during the batch (fh_respond, a stream, a file). */
export const R_DONE = 2;
/** D.RKIND: the core's own answer for status D.ROFF (500 for a handler that failed). */
export const R_STATUS = 3;

/** D.RFLAGS (and the answer calls' flags): close the connection after this response. */
export const RF_CLOSE = 1;
/** D.RFLAGS: a head built by user code; the core reads its version, Connection and framing. */
export const RF_RAW = 2;

/** Event: a takeover reached the head of its queue; the connection is the handler's. */
export const EV_TAKEN = 1;
/** Event: a taken-over connection has bytes to read (fh_raw_take). */
export const EV_DATA = 2;
/** Event: a stream's buffered bytes have all been written. */
export const EV_DRAIN = 3;
/** Event: the connection of a stream or takeover is gone. */
export const EV_CLOSED = 4;
/** Event: the peer of a taken-over connection sent FIN. */
export const EV_END = 5;
/** Event: the client of a request still waiting for its answer left. */
export const EV_GONE = 6;
/** Event: a streamed request body its reader waits on has data, its end or a failure (fh_body_read). */
export const EV_BODY = 7;
/** The client of a request still waiting for its answer half-closed (FIN): it may have left; an answer is still written. */
export const EV_FIN = 8;
/** Event: a WebSocket's buffered frames have all been written (its drain handler). */
export const EV_WS_DRAIN = 10;
/** Event: a WebSocket is gone; the fourth int is the close code its close handler gets. */
export const EV_WS_CLOSED = 11;
/** int32 per event: type, fd, gen, seq. */
export const EV_SIZE = 4;

/** Request flag (D.FLAGS): the body streams (read it with fh_body_read); only the head is in the arena. */
export const REQ_STREAM = 256;
/** fh_body_read state[0]: more is to come (with no bytes read: EV_BODY says when). */
export const B_MORE = 0;
/** fh_body_read state[0]: the body is complete. */
export const B_END = 1;
/** fh_body_read state[0]: the body can no longer be read (its connection is closing or gone). */
export const B_GONE = 2;
/** fh_body_read state[0]: the body failed; state[1] is the status it was answered with. */
export const B_FAILED = 3;
/** int32 of fh_body_read's state: [B_*, status, poll soon, the REQ_KEEP_ALIVE an answer now would have]. */
export const B_SIZE = 4;

/** A place in a response queue: bytes, written, then retired. */
export const SEG_BYTES = 0;
/** A place in a response queue: bytes that arrive over time (fh_stream_write) until fh_stream_end. */
export const SEG_STREAM = 1;
/** A place in a response queue: a stream that, once at the head, makes the connection the handler's. */
export const SEG_TAKEOVER = 2;
/** A place in a response queue: a head, then a file by sendfile. */
export const SEG_FILE = 3;
/** A place in a response queue: a 101 that, once at the head, makes the connection a WebSocket; then its frames out. */
export const SEG_WEBSOCKET = 4;

/** Row flag (D.FLAGS): the row is a WebSocket's message or control frame, not a request. */
export const REQ_WS = 512;
/** Row kind of a WebSocket row (the core's): its slab goes back with the batch. */
export const R_WS = 4;
/** WebSocket row: the opcode (1 text, 2 binary, 8 the peer's close, 9 ping, 10 pong). */
export const D_WS_OP = 5;
/** WebSocket row: the peer's close code (1005: none). */
export const D_WS_CODE = 7;
/** WebSocket row: the payload's offset in its slab; +1 its length. */
export const D_WS_DATA = 13;
/** fh_ws_accept opts: sendPings. */
export const WSO_PINGS = 1;
/** fh_ws_accept opts: closeOnBackpressureLimit. */
export const WSO_CLOSE_ON_LIMIT = 2;
/** fh_ws_accept opts: permessage-deflate was agreed. */
export const WSO_DEFLATE = 4;
/** fh_ws_accept opts: pings become rows (the app has a ping handler). */
export const WSO_PING_ROWS = 8;
/** fh_ws_accept opts: pongs become rows (the app has a pong handler). */
export const WSO_PONG_ROWS = 16;
/** fh_ws_accept zopts: the server keeps its compression context across messages. */
export const WSZ_SERVER_TAKEOVER = 256;
/** fh_ws_accept zopts: the client keeps its compression context across messages. */
export const WSZ_CLIENT_TAKEOVER = 512;
/** fh_ws_send flags: compress the message (when permessage-deflate was agreed). */
export const WSS_COMPRESS = 1;
/** fh_ws_send flags: only buffer it (written with the batch, or by fh_ws_flush). */
export const WSS_CORK = 2;

/** fh_stats figure: open connections. */
export const ST_CONNS = 0;
/** fh_stats figure: slabs made. */
export const ST_SLABS = 1;
/** fh_stats figure: slabs held now. */
export const ST_IN_USE = 2;
/** fh_stats figure: most slabs ever held at once. */
export const ST_HIGH_WATER = 3;
/** fh_stats figure: the pool's cap. */
export const ST_CAP = 4;
/** fh_stats figure: large one-off slabs held now. */
export const ST_LARGE_IN_USE = 5;
/** fh_stats figure: bytes per slab. */
export const ST_SLAB_SIZE = 6;
/** fh_stats figure: 1 for the kqueue backend. */
export const ST_KQUEUE = 7;
/** fh_stats figure: requests answered from static routes by the core (c/routes.c), modulo 2^31. */
export const ST_STATIC = 8;
/** int32 figures fh_stats writes. */
export const ST_SIZE = 9;

/** fh_route_static methods: a bit per method a static route answers (others always go to JavaScript). */
export const M = {
  GET: 1,
  HEAD: 2,
  POST: 4,
  PUT: 8,
  DELETE: 16,
  PATCH: 32,
  OPTIONS: 64,
  TRACE: 128,
} as const;
/** fh_route_static methods: every method of {@link M}. */
export const M_ANY = 255;
/** fh_poll's answer when the core answered everything it read by itself (static routes) for POLL_BUSY_US: no rows, but poll again soon (do not sleep). */
export const POLL_BUSY = -100000;
/** How long fh_poll serves static answers by itself before it returns POLL_BUSY (µs). */
export const POLL_BUSY_US = 1000;

/** Request flag (D.FLAGS): the connection stays open after the response (the core's decision). */
export const REQ_KEEP_ALIVE = 1;
/** Request flag: an HTTP/1.0 request. */
export const REQ_HTTP10 = 2;
/** Request flag: the HEAD method; the response carries no body. */
export const REQ_HEAD = 4;
/** Request flag: `Transfer-Encoding: chunked`. */
export const REQ_CHUNKED = 8;
/** Request flag: `Expect: 100-continue`. */
export const REQ_EXPECT_CONTINUE = 16;
/** Request flag: a Content-Length header was present. */
export const REQ_HAS_CL = 32;
/** Request flag: `Connection: upgrade`, or CONNECT. */
export const REQ_UPGRADE = 128;

/** Every name of the contract with its value here, in the order of `FH_CONTRACT` in c/layout.h. */
export const CONTRACT: readonly (readonly [string, number])[] = [
  ["FH_D_FD", D.FD],
  ["FH_D_GEN", D.GEN],
  ["FH_D_SEQ", D.SEQ],
  ["FH_D_SLAB", D.SLAB],
  ["FH_D_LEN", D.LEN],
  ["FH_D_METHOD", D.METHOD],
  ["FH_D_PATH", D.PATH],
  ["FH_D_VERSION", D.VERSION],
  ["FH_D_HEADERS", D.HEADERS],
  ["FH_D_BODY", D.BODY],
  ["FH_D_FLAGS", D.FLAGS],
  ["FH_D_TARGET", D.TARGET],
  ["FH_D_RKIND", D.RKIND],
  ["FH_D_ROFF", D.ROFF],
  ["FH_D_RLEN", D.RLEN],
  ["FH_D_RFLAGS", D.RFLAGS],
  ["FH_D_SIZE", D.SIZE],
  ["FH_R_PENDING", R_PENDING],
  ["FH_R_ARENA", R_ARENA],
  ["FH_R_DONE", R_DONE],
  ["FH_R_STATUS", R_STATUS],
  ["FH_RF_CLOSE", RF_CLOSE],
  ["FH_RF_RAW", RF_RAW],
  ["FH_EV_TAKEN", EV_TAKEN],
  ["FH_EV_DATA", EV_DATA],
  ["FH_EV_DRAIN", EV_DRAIN],
  ["FH_EV_CLOSED", EV_CLOSED],
  ["FH_EV_END", EV_END],
  ["FH_EV_GONE", EV_GONE],
  ["FH_EV_BODY", EV_BODY],
  ["FH_EV_FIN", EV_FIN],
  ["FH_EV_WS_DRAIN", EV_WS_DRAIN],
  ["FH_EV_WS_CLOSED", EV_WS_CLOSED],
  ["FH_EV_SIZE", EV_SIZE],
  ["FH_REQ_STREAM", REQ_STREAM],
  ["FH_B_MORE", B_MORE],
  ["FH_B_END", B_END],
  ["FH_B_GONE", B_GONE],
  ["FH_B_FAILED", B_FAILED],
  ["FH_B_SIZE", B_SIZE],
  ["FH_SEG_BYTES", SEG_BYTES],
  ["FH_SEG_STREAM", SEG_STREAM],
  ["FH_SEG_TAKEOVER", SEG_TAKEOVER],
  ["FH_SEG_FILE", SEG_FILE],
  ["FH_SEG_WEBSOCKET", SEG_WEBSOCKET],
  ["FH_REQ_WS", REQ_WS],
  ["FH_R_WS", R_WS],
  ["FH_D_WS_OP", D_WS_OP],
  ["FH_D_WS_CODE", D_WS_CODE],
  ["FH_D_WS_DATA", D_WS_DATA],
  ["FH_WSO_PINGS", WSO_PINGS],
  ["FH_WSO_CLOSE_ON_LIMIT", WSO_CLOSE_ON_LIMIT],
  ["FH_WSO_DEFLATE", WSO_DEFLATE],
  ["FH_WSO_PING_ROWS", WSO_PING_ROWS],
  ["FH_WSO_PONG_ROWS", WSO_PONG_ROWS],
  ["FH_WSZ_SERVER_TAKEOVER", WSZ_SERVER_TAKEOVER],
  ["FH_WSZ_CLIENT_TAKEOVER", WSZ_CLIENT_TAKEOVER],
  ["FH_WSS_COMPRESS", WSS_COMPRESS],
  ["FH_WSS_CORK", WSS_CORK],
  ["FH_ST_CONNS", ST_CONNS],
  ["FH_ST_SLABS", ST_SLABS],
  ["FH_ST_IN_USE", ST_IN_USE],
  ["FH_ST_HIGH_WATER", ST_HIGH_WATER],
  ["FH_ST_CAP", ST_CAP],
  ["FH_ST_LARGE_IN_USE", ST_LARGE_IN_USE],
  ["FH_ST_SLAB_SIZE", ST_SLAB_SIZE],
  ["FH_ST_KQUEUE", ST_KQUEUE],
  ["FH_ST_STATIC", ST_STATIC],
  ["FH_ST_SIZE", ST_SIZE],
  ["FH_M_GET", M.GET],
  ["FH_M_HEAD", M.HEAD],
  ["FH_M_POST", M.POST],
  ["FH_M_PUT", M.PUT],
  ["FH_M_DELETE", M.DELETE],
  ["FH_M_PATCH", M.PATCH],
  ["FH_M_OPTIONS", M.OPTIONS],
  ["FH_M_TRACE", M.TRACE],
  ["FH_M_ANY", M_ANY],
  ["FH_POLL_BUSY", POLL_BUSY],
  ["FH_POLL_BUSY_US", POLL_BUSY_US],
  ["FH_REQ_KEEP_ALIVE", REQ_KEEP_ALIVE],
  ["FH_REQ_HTTP10", REQ_HTTP10],
  ["FH_REQ_HEAD", REQ_HEAD],
  ["FH_REQ_CHUNKED", REQ_CHUNKED],
  ["FH_REQ_EXPECT_CONTINUE", REQ_EXPECT_CONTINUE],
  ["FH_REQ_HAS_CL", REQ_HAS_CL],
  ["FH_REQ_UPGRADE", REQ_UPGRADE],
];

/**
 * What is wrong when the core reports `count` names with `values` (in
 * FH_CONTRACT order): the first name whose value differs from ours, and the
 * count if it differs; null when the two sides agree.
 */
export function contractMismatch(values: ArrayLike<number>, count: number): string | null {
  const problems: string[] = [];
  const n = Math.min(count, CONTRACT.length, values.length);
  for (let i = 0; i < n; i++) {
    const [name, value] = CONTRACT[i]!;
    if (values[i] !== value) {
      problems.push(`${name} is ${values[i]} in the core but ${value} in src/layout.ts`);
      break;
    }
  }
  if (count !== CONTRACT.length) {
    problems.push(`the core reports ${count} names, src/layout.ts has ${CONTRACT.length}`);
  }
  return problems.length === 0 ? null : problems.join("; ");
}

/** Slab ids at and above this are large, one-off slabs (c/pool.c). */
export const LARGE_BASE = 1 << 24;
