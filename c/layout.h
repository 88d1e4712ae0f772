/*
 * layout.h - the contract between the C core and TypeScript.
 *
 * Everything the two sides exchange is named here: the descriptor row fh_poll
 * fills per ready request (and whose response fields JavaScript writes back),
 * the response kinds and flags, the events for streams and taken-over
 * connections, and the kinds of answer fh_stream_open takes. src/layout.ts
 * mirrors every number; at start-up it compares its copy with what
 * fh_contract() reports, name by name (FH_CONTRACT below is that list, in
 * order), so the two sides cannot drift apart silently.
 */
#ifndef FH_LAYOUT_H
#define FH_LAYOUT_H

/* ---- the descriptor row: FH_D_SIZE int32 per request ---------------------- */

/* Written by C. Offsets are relative to the request's bytes in its arena. */
#define FH_D_FD 0
#define FH_D_GEN 1
#define FH_D_SEQ 2
#define FH_D_SLAB 3
#define FH_D_LEN 4     /* request bytes: head plus (decoded) body */
#define FH_D_METHOD 5  /* start; +1 is the length, likewise below */
#define FH_D_PATH 7
#define FH_D_VERSION 9
#define FH_D_HEADERS 11
#define FH_D_BODY 13
#define FH_D_FLAGS 15  /* FH_REQ_* (scanner.h); FH_REQ_KEEP_ALIVE is the core's keep-alive decision */
#define FH_D_TARGET 16
/* Written by JavaScript. */
#define FH_D_RKIND 18  /* FH_R_* */
#define FH_D_ROFF 19   /* FH_R_ARENA: offset in the slab; FH_R_STATUS: the status */
#define FH_D_RLEN 20
#define FH_D_RFLAGS 21 /* FH_RF_* */
#define FH_D_SIZE 22

/* FH_D_RKIND: how JavaScript answered the request of a row. */
#define FH_R_PENDING 0 /* an async handler: fh_respond (or another answer call) comes later */
#define FH_R_ARENA 1   /* the response is in the request's slab at [ROFF, ROFF+RLEN) */
#define FH_R_DONE 2    /* already handed over during the batch (fh_respond, a stream, a file) */
#define FH_R_STATUS 3  /* the core's own answer for status ROFF (e.g. 500 for a handler that threw) */

/* FH_D_RFLAGS and the flags arguments of the answer calls. */
#define FH_RF_CLOSE 1 /* close the connection after this response */
#define FH_RF_RAW 2   /* a head built by user code: the core reads its version, Connection and framing */

/* ---- events for streams and taken-over connections: type, fd, gen, seq --- */
#define FH_EV_TAKEN 1  /* a takeover reached the head: the connection is the handler's */
#define FH_EV_DATA 2   /* a taken-over connection has bytes to read (fh_raw_take) */
#define FH_EV_DRAIN 3  /* a stream's buffered bytes have all been written */
#define FH_EV_CLOSED 4 /* the connection of a stream or takeover is gone */
#define FH_EV_END 5    /* the peer of a taken-over connection sent FIN */
#define FH_EV_GONE 6   /* the client of a request still waiting for its answer left */
#define FH_EV_BODY 7   /* a streamed request body its reader waits on has data, its end or a failure */
#define FH_EV_FIN 8    /* the client of a request still waiting for its answer half-closed (FIN): it may have left */
#define FH_EV_WS_DRAIN 10  /* a WebSocket's buffered frames have all been written */
#define FH_EV_WS_CLOSED 11 /* a WebSocket is gone; the fourth int is the close code its close handler gets */
#define FH_EV_SIZE 4   /* int32 per event */

/* ---- a streamed request body (FH_REQ_STREAM): fh_body_read's state[0] ----- */
#define FH_REQ_STREAM 256 /* FH_D_FLAGS: the body streams; only the head is in the arena */
#define FH_B_MORE 0   /* more is to come (with no bytes read: FH_EV_BODY says when) */
#define FH_B_END 1    /* the body is complete: nothing more comes */
#define FH_B_GONE 2   /* the body can no longer be read: its connection is closing or gone */
#define FH_B_FAILED 3 /* the body failed: state[1] is the status it was answered with */
#define FH_B_SIZE 4   /* int32 of the state: [FH_B_*, status, poll soon, keep-alive] */

/* ---- what a place in a connection's response queue holds ------------------ */
#define FH_SEG_BYTES 0    /* ptr[off, len): written, then retired */
#define FH_SEG_STREAM 1   /* bytes that arrive over time (fh_stream_write) until fh_stream_end */
#define FH_SEG_TAKEOVER 2 /* a stream that, once at the head, makes the connection the handler's */
#define FH_SEG_FILE 3     /* ptr[off, len) (the head), then a file by sendfile */
#define FH_SEG_WEBSOCKET 4 /* a 101 that, once at the head, makes the connection a WebSocket; then its frames out */

/* ---- WebSocket rows: a message or control frame, in the batch with requests -- */
#define FH_REQ_WS 512      /* FH_D_FLAGS: the row is a WebSocket's, not a request */
#define FH_R_WS 4          /* FH_D_RKIND of such a row (the core's): its slab goes back with the batch */
#define FH_D_WS_OP 5       /* FH_WS_OP_* (ws.h): TEXT, BINARY, CLOSE (the peer's), PING, PONG */
#define FH_D_WS_CODE 7     /* CLOSE: the peer's close code (1005: none) */
#define FH_D_WS_DATA 13    /* the payload's offset in slab FH_D_SLAB; +1 its length (CLOSE: the reason) */
/* fh_ws_accept's opts. */
#define FH_WSO_PINGS 1         /* sendPings */
#define FH_WSO_CLOSE_ON_LIMIT 2 /* closeOnBackpressureLimit */
#define FH_WSO_DEFLATE 4       /* permessage-deflate was agreed (zopts says how) */
#define FH_WSO_PING_ROWS 8     /* the app has a ping handler: pings become rows */
#define FH_WSO_PONG_ROWS 16    /* the app has a pong handler: pongs become rows */
/* fh_ws_accept's zopts: bits 0-3 server_max_window_bits, 4-7 client's, and the context takeovers. */
#define FH_WSZ_SERVER_TAKEOVER 256
#define FH_WSZ_CLIENT_TAKEOVER 512
/* fh_ws_send's flags. */
#define FH_WSS_COMPRESS 1 /* compress it (when permessage-deflate was agreed) */
#define FH_WSS_CORK 2     /* only buffer it: written with the batch, or by fh_ws_flush */

/* ---- fh_stats: int32 per figure ------------------------------------------- */
#define FH_ST_CONNS 0
#define FH_ST_SLABS 1
#define FH_ST_IN_USE 2
#define FH_ST_HIGH_WATER 3
#define FH_ST_CAP 4
#define FH_ST_LARGE_IN_USE 5
#define FH_ST_SLAB_SIZE 6
#define FH_ST_KQUEUE 7
#define FH_ST_STATIC 8 /* requests answered from static routes (routes.c), modulo 2^31 */
#define FH_ST_SIZE 9

/* ---- fh_route_static's methods: a bit per method a static route answers --- */
#define FH_M_GET 1
#define FH_M_HEAD 2
#define FH_M_POST 4
#define FH_M_PUT 8
#define FH_M_DELETE 16
#define FH_M_PATCH 32
#define FH_M_OPTIONS 64
#define FH_M_TRACE 128
#define FH_M_ANY 255 /* every method above (others always go to JavaScript) */

/* fh_poll's answer when the core answered every request it read by itself
 * (static routes) for FH_POLL_BUSY_US: no row for JavaScript, but not idle
 * either (poll again soon; do not sleep). Below any -errno. */
#define FH_POLL_BUSY (-100000)
#define FH_POLL_BUSY_US 1000

/* Every name above, in the order fh_contract() reports their values. */
#define FH_CONTRACT(X)                                                                                   \
    X(FH_D_FD) X(FH_D_GEN) X(FH_D_SEQ) X(FH_D_SLAB) X(FH_D_LEN) X(FH_D_METHOD) X(FH_D_PATH)               \
    X(FH_D_VERSION) X(FH_D_HEADERS) X(FH_D_BODY) X(FH_D_FLAGS) X(FH_D_TARGET) X(FH_D_RKIND) X(FH_D_ROFF)  \
    X(FH_D_RLEN) X(FH_D_RFLAGS) X(FH_D_SIZE) X(FH_R_PENDING) X(FH_R_ARENA) X(FH_R_DONE) X(FH_R_STATUS)    \
    X(FH_RF_CLOSE) X(FH_RF_RAW) X(FH_EV_TAKEN) X(FH_EV_DATA) X(FH_EV_DRAIN) X(FH_EV_CLOSED) X(FH_EV_END)  \
    X(FH_EV_GONE) X(FH_EV_BODY) X(FH_EV_FIN) X(FH_EV_WS_DRAIN) X(FH_EV_WS_CLOSED) X(FH_EV_SIZE) X(FH_REQ_STREAM) X(FH_B_MORE) X(FH_B_END) X(FH_B_GONE)   \
    X(FH_B_FAILED) X(FH_B_SIZE) X(FH_SEG_BYTES) X(FH_SEG_STREAM) X(FH_SEG_TAKEOVER) X(FH_SEG_FILE)        \
    X(FH_SEG_WEBSOCKET) X(FH_REQ_WS) X(FH_R_WS) X(FH_D_WS_OP) X(FH_D_WS_CODE) X(FH_D_WS_DATA) X(FH_WSO_PINGS)  \
    X(FH_WSO_CLOSE_ON_LIMIT) X(FH_WSO_DEFLATE) X(FH_WSO_PING_ROWS) X(FH_WSO_PONG_ROWS) X(FH_WSZ_SERVER_TAKEOVER) \
    X(FH_WSZ_CLIENT_TAKEOVER) X(FH_WSS_COMPRESS) X(FH_WSS_CORK)                                        \
    X(FH_ST_CONNS) X(FH_ST_SLABS) X(FH_ST_IN_USE) X(FH_ST_HIGH_WATER) X(FH_ST_CAP) X(FH_ST_LARGE_IN_USE)  \
    X(FH_ST_SLAB_SIZE) X(FH_ST_KQUEUE) X(FH_ST_STATIC) X(FH_ST_SIZE) X(FH_M_GET) X(FH_M_HEAD) X(FH_M_POST)    \
    X(FH_M_PUT) X(FH_M_DELETE) X(FH_M_PATCH) X(FH_M_OPTIONS) X(FH_M_TRACE) X(FH_M_ANY) X(FH_POLL_BUSY) X(FH_POLL_BUSY_US) X(FH_REQ_KEEP_ALIVE) X(FH_REQ_HTTP10) X(FH_REQ_HEAD) \
    X(FH_REQ_CHUNKED) X(FH_REQ_EXPECT_CONTINUE) X(FH_REQ_HAS_CL) X(FH_REQ_UPGRADE)

#endif
