/*
 * conn.h - what the loop core holds: the server, its connections and their
 * response queues, and the one explicit state each connection is in.
 *
 * The loop core is split by job, one file each, all in the one translation
 * unit (fasthttp.c), so everything stays static:
 *   conn.c     connection lifecycle: accept, the state machine, the one
 *              keep-alive decision, close, linger, client-gone
 *   answers.c  the answers the core makes itself (400 ... 505, 100 Continue)
 *   routes.c   static routes: the table, and answering from it without JavaScript
 *              (precond.c, standalone: If-None-Match)
 *   queue.c    the response queue and the only code that writes to a socket
 *   frame.c    reading, framing and dispatching requests
 *   body.c     request bodies that stream: the window, backpressure, faults
 *   timers.c   the sweep: every timeout, on one pass
 *   wake.c     the helper thread that wakes JavaScript
 *   api.c      the exported functions JavaScript calls (src/ffi.ts)
 *   ws.c       a connection after its 101: WebSocket frames in, messages to
 *              JavaScript as batch rows, frames out, the closing handshake
 *              (the pure parts, reader, UTF-8 and deflate, are in ws.h)
 *   symbols.c  the table of entry points by name, which src/ffi.ts binds
 */
#ifndef FH_CONN_H
#define FH_CONN_H

#include <pthread.h>
#include <time.h>

/*
 * A connection's state. Exactly one place moves a connection between states
 * (fh_conn_enter, conn.c), and what the backend watches follows from the state
 * alone (fh_conn_watch).
 *
 *   READING ──request──▶ ANSWERING ──queue empty──▶ READING
 *      │ │                  │  └─ last request (close, error, stop) ─▶ CLOSING
 *      │ └─request whose ─▶ BODY ──body ended and read (or its answer written)─▶ ANSWERING
 *      │   body streams       └─ a bad body, a stall, its answer written first ─▶ CLOSING
 *      │ idle timeout,      │ a takeover reaches the head ─▶ RAW
 *      │ peer FIN           │ a WebSocket's 101 reaches the head ─▶ WEBSOCKET
 *      ▼                    ▼
 *   LINGERING ◀── CLOSING (queue written) ◀── RAW (its taker ends it)
 *      ▲
 *      └── WEBSOCKET (the closing handshake done, or failed: a protocol error, a timeout)
 *      │
 *      └─ peer closes, or FH_LINGER_MS ─▶ closed (freed)
 *
 * A reset, a failed write or a forced stop closes from any state.
 */
typedef enum fh_state {
    FH_READING = 0, /* HTTP, nothing outstanding: reading and parsing the next request */
    FH_ANSWERING,   /* HTTP, answers outstanding: they leave in order; nothing more is
                       parsed, bytes are read ahead (bounded) so a client that leaves is seen */
    FH_CLOSING,     /* no request is parsed again: the queue is written, then FIN */
    FH_RAW,         /* taken over: the bytes read are the handler's */
    FH_LINGERING,   /* FIN sent: read and discard until the peer closes too */
    FH_BODY,        /* HTTP, a request is dispatched whose body streams (c->body): what is
                       read is its body, up to a window; nothing more is parsed */
    FH_WEBSOCKET    /* after a 101 to a WebSocket upgrade (c->ws): frames in and out */
} fh_state;

/* A static route's answer, shared by the places that write it (routes.c). */
typedef struct fh_blob fh_blob;
/* The static route table (routes.c). */
typedef struct fh_routes fh_routes;

/* A place in a connection's response queue: one answer, in request order. */
typedef struct fh_seg {
    const uint8_t *ptr; /* bytes [off, len) still to write */
    size_t len, off;
    int32_t slab;   /* the request's arena, released when the answer is done; -1: none */
    uint8_t *heap;  /* freed when the answer is done (a stream's buffer: ptr == heap) */
    size_t cap;     /* a stream's buffer size */
    int32_t req;    /* the request's FH_REQ_* flags (for the keep-alive decision) */
    uint8_t ready;  /* 0: the handler has not answered yet */
    uint8_t close;  /* the connection closes after this answer */
    uint8_t kind;   /* FH_SEG_* (layout.h) */
    uint8_t ended;  /* a stream: no more bytes will come */
    uint8_t drain_wanted; /* a stream: tell JavaScript when its buffer is written */
    uint8_t headed;       /* a stream: its first bytes (a response head) were seen */
    uint8_t borrowed;     /* ptr is JavaScript's memory, valid only during the current call */
    uint8_t held;         /* 100 Continue for a streamed body, held until the handler reads the
                             body; skipped if the request's answer comes first */
    int file_fd;          /* FH_SEG_FILE: closed when done; -1: none */
    int64_t file_off, file_left;
    fh_blob *blob;        /* a static route's answer: ptr is in it; one reference, dropped when done */
} fh_seg;

/*
 * A request body that streams: framed as it arrives into the connection's own
 * buffer, c->rbuf = [decoded data JavaScript has not taken | bytes not yet
 * framed], at most FH_BODY_WINDOW in all. A full window stops reading (the
 * client waits); fh_body_read takes data and reading resumes.
 */
typedef struct fh_body {
    uint32_t seq;        /* the request's place (a held 100 Continue, if any, is the one before it) */
    fh_body_frame frame;
    size_t dec;          /* rbuf[0, dec): decoded, not yet taken */
    size_t raw;          /* rbuf[raw, rlen): not yet framed (after the end: what follows it) */
    int32_t keep;        /* the request's own FH_REQ_KEEP_ALIVE (fh_body_keep decides what an answer gets) */
    int error;           /* the status the body failed with (400, 408, 413, 431), or 0 */
    uint8_t gone;        /* the connection is past reading it (closing, lingering) */
    uint8_t wanted;      /* JavaScript waits for data: FH_EV_BODY when some comes */
    uint8_t draining;    /* answered first: the rest (at most FH_BODY_DRAIN) is read and dropped */
    uint8_t poked;       /* told JavaScript the socket has body bytes, left there for it to read
                            straight into its buffer (fh_body_recv_into); not read until it does */
} fh_body;

/*
 * A WebSocket connection (state FH_WEBSOCKET, ws.c). Its frames out are the
 * buffer of the one place left in its queue, the upgrade's (FH_SEG_WEBSOCKET),
 * written by the one write path; its frames in go through the reader, and
 * what they complete becomes a row of the batch (FH_REQ_WS). While a row it
 * completed waits for room in the batch, nothing more is read: that is the
 * inbound backpressure.
 */
typedef struct fh_wsc {
    fh_wsr r;             /* the reader (ws_read.c) */
    int64_t limit;        /* backpressureLimit: a send while more than this is buffered is dropped */
    int64_t idle_ms;      /* idleTimeout (0: none): silence this long closes it */
    int64_t rx_ms;        /* when the last frame came */
    int64_t close_ms;     /* when our close frame was queued */
    int code;             /* the close code the close handler gets (FH_WS_CLOSE_ABNORMAL until one is known) */
    int opts;             /* FH_WSO_* */
    uint8_t pending;      /* what the reader stopped at waits for room in the batch */
    uint8_t acted;        /* ... and its own action (a pong, a close's echo) is already taken */
    uint8_t close_sent;   /* our close frame is queued: nothing more is sent */
    uint8_t close_got;    /* the peer's close frame came: nothing more is read */
    uint8_t pinged;       /* a ping went out for this silence */
    uint8_t paused;       /* ws.pause(): not read until resumed */
    uint8_t doomed;       /* past backpressureLimit with closeOnBackpressureLimit: closed at the next poll */
    uint32_t row_poll;    /* the poll (s->polls) that last gave it a row */
    fh_z *inflater;       /* permessage-deflate (NULL: not agreed); shared ones belong to the server */
    fh_z *deflater;
    uint8_t own_z;        /* the streams are this connection's (context takeover), freed with it */
    uint8_t *zbuf;        /* a decompressed or compressed message */
    size_t zcap;
} fh_wsc;

typedef struct fh_conn {
    int fd;
    uint32_t gen;
    fh_state state;
    int mask;          /* interest registered with the backend */
    uint8_t *rbuf;     /* bytes of its own (an incomplete request, read-ahead, a taker's); NULL when none */
    size_t rlen, rcap;
    size_t need;       /* bytes the request being read needs in all (0: its head is not complete) */
    fh_seg *q;         /* ring of answers, oldest first (capacity a power of two) */
    uint32_t qhead, qlen, qcap;
    uint32_t seq_next; /* sequence number of the next place */
    uint8_t eof;       /* the peer sent FIN: nothing more will be read */
    uint8_t blocked;   /* the socket took less than offered: waiting for writability */
    uint8_t unparsed;  /* rbuf holds bytes no parse has looked at yet */
    uint8_t hold;      /* bytes after an upgrade (or CONNECT) wait for its answer */
    uint8_t continued; /* 100 Continue is queued for the request being read */
    uint8_t listed;    /* on the ready list */
    uint8_t dirty;     /* on fh_flush's list */
    fh_body *body;     /* state FH_BODY (and after, until the connection closes or parses on) */
    int64_t since_ms;  /* when the current request head (or the lingering close) began */
    int64_t last_ms;   /* the last read or write that moved bytes */
    int64_t idle_ms;   /* this connection's idle timeout (fh_conn_timeout), or -1: the server's */
    fh_wsc *ws;        /* FH_SEG_WEBSOCKET accepted (and state FH_WEBSOCKET once its 101 is at the head) */
} fh_conn;

typedef struct fh_ref {
    int fd;
    uint32_t gen;
} fh_ref;

typedef struct fh_server {
    fh_backend *be;
    fh_backend *outer;
    int lfd;
    int port;
    fh_conn **conns; /* indexed by fd */
    int conns_cap;
    volatile int nconns;
    uint32_t next_gen;
    fh_event *events;
    int max_events;
    int32_t *desc;
    int desc_cap;
    int ndesc;
    fh_pool pool;
    uint8_t *rbuf; /* the loop's receive buffer: parsed in place, never kept across polls */
    size_t rbuf_cap;
    uint8_t *gather; /* FH_GATHER_MAX bytes: a connection's small answers copied into one send (queue.c) */
    fh_ref *ready; /* connections with buffered bytes to parse first */
    int nready, ready_cap;
    fh_ref *ready_spare;
    int spare_cap;
    fh_ref *dirty;
    int ndirty, dirty_cap;
    size_t max_head;
    int64_t max_body;
    int stopping;
    volatile int accept_paused;
    int64_t accept_resume_ms;
    int64_t last_sweep_ms;
    int64_t now_ms;          /* the clock, read once per poll */
    int64_t header_to_ms;    /* 0: no limit */
    int64_t idle_to_ms;
    int64_t write_to_ms;
    volatile int sweep_ms;
    int max_conns;           /* 0: no limit */
    int nlinger;
    int32_t *ev;             /* FH_EV_* events not yet taken by JavaScript */
    int in_batch;            /* rows were handed out and not yet flushed: a WebSocket send waits for fh_flush */
    uint32_t polls;          /* fh_poll calls so far (a WebSocket's rows of this poll run before its close) */
    int32_t wslab;           /* the slab WebSocket rows of this batch are being copied into (-1: none) */
    size_t wslab_used, wslab_size;
    int32_t *wslabs;         /* every slab this batch's WebSocket rows use: released when it is done */
    int nwslabs, wslabs_cap;
    fh_z *zdef, *zinf;       /* the shared permessage-deflate streams (no context takeover) */
    uint8_t *wsout;          /* FH_WS_SCRATCH bytes JavaScript writes a message into for fh_ws_send_s */
    int sid;                 /* this server's place in fh_sids (-1: none; JavaScript sends by pointer) */
    int nev, ev_cap;
    fh_routes *routes;       /* the static routes (NULL: none) */
    uint32_t static_hits;    /* requests answered from them */
    /* the wake-up thread */
    pthread_t thread;
    int thread_started;
    int stop_pipe[2];
    void (*wake)(void);
} fh_server;

#define FH_LINGER_MS 2000
#define FH_SWEEP_MS 250 /* the longest sweep period; shorter with short timeouts */
#define FH_ACCEPT_PAUSE_MS 100
#define FH_ACCEPT_BATCH 64
#define FH_IOV_MAX 64
/* Several ready answers of a connection that come to at most FH_GATHER_MAX
 * bytes, FH_GATHER_EACH on average, are copied into one buffer and sent as
 * one (sendto), not as an iovec each: pipelined answers are small, and the
 * kernel's cost per iovec is not; bigger ones are not worth the copy. */
#define FH_GATHER_MAX 16384
#define FH_GATHER_EACH 512
#define FH_RECV_BUFFER (64 * 1024) /* the loop's receive buffer */
#define FH_RAW_BUFFER 4096         /* what a taken-over connection reads ahead of its taker */
/* A stream or takeover buffers at most this much that the socket has not
 * taken: a write past it is refused (-ENOBUFS) until the buffer drains. */
#define FH_STREAM_BUFFER_MAX (8 * 1024 * 1024)
/* The scratch a small message is handed over in (fh_ws_send_s): no pointer
 * crosses the FFI boundary for it, which costs bun:ffi ~20 ns a call. */
#define FH_WS_SCRATCH (64 * 1024)
#define FH_SIDS 1024
/* What a WebSocket holds for the batch's one write (or a cork's) before writing at once. */
#define FH_WS_CORK_MAX (16 * 1024)
/* How long a WebSocket waits for the peer's close frame after sending its own. */
#define FH_WS_CLOSE_WAIT_MS 2000
/* What a streaming request body may hold read and not yet taken by its handler. */
#define FH_BODY_WINDOW (256 * 1024)
/* An answer that comes before its body's end keeps the connection only if at
 * most this much of the body is left to read (and drop); else it closes it. */
#define FH_BODY_DRAIN (1024 * 1024)

/* conn.c */
static int64_t fh_now_ms(void);
static fh_conn *fh_lookup(fh_server *s, int fd, uint32_t gen);
static void fh_list_ready(fh_server *s, fh_conn *c);
static void fh_conn_enter(fh_server *s, fh_conn *c, fh_state st);
static void fh_conn_settle(fh_server *s, fh_conn *c);
static void fh_conn_close(fh_server *s, fh_conn *c);
static void fh_conn_linger(fh_server *s, fh_conn *c);
static void fh_conn_last(fh_server *s, fh_conn *c);
static int fh_persists(int32_t req, int rflags, const uint8_t *head, size_t len);
static void fh_notify(fh_server *s, int type, fh_conn *c, uint32_t seq);
static int fh_keep_bytes(fh_conn *c, const uint8_t *p, size_t n, size_t cap_hint);
static fh_conn *fh_conn_new(fh_server *s, int fd);
static void fh_accept_all(fh_server *s);

/* answers.c */
static int fh_answer_status(fh_server *s, fh_conn *c, fh_seg *g, int status, int32_t req, int last);
static int fh_queue_continue(fh_server *s, fh_conn *c);

/* routes.c */
static int fh_route_answer(fh_server *s, fh_conn *c, const uint8_t *p, const fh_head *h);
static int fh_route_memo(fh_server *s, fh_conn *c, const uint8_t *p, size_t avail, int32_t *flags);
static void fh_blob_unref(fh_blob *b);
static void fh_routes_free(fh_server *s);

/* queue.c */
static fh_seg *fh_seg_at(fh_conn *c, uint32_t i);
static fh_seg *fh_seg_find(fh_conn *c, uint32_t seq, uint32_t *idx);
static uint32_t fh_seg_seq(fh_conn *c, uint32_t idx);
static fh_seg *fh_seg_push(fh_conn *c);
static void fh_queue_clear(fh_server *s, fh_conn *c);
static void fh_queue_fin(fh_server *s, fh_conn *c);
static int fh_queue_has_stream(fh_conn *c);
static void fh_conn_flush(fh_server *s, fh_conn *c);
static int fh_seg_own(fh_seg *g);
static int fh_stream_append(fh_seg *g, const uint8_t *bytes, size_t n, int chunked);

/* body.c */
static int fh_body_begin(fh_server *s, fh_conn *c, const fh_head *h, uint32_t seq);
static void fh_body_recv(fh_server *s, fh_conn *c, int mask);
static void fh_body_fail(fh_server *s, fh_conn *c, int status);
static void fh_body_answered(fh_server *s, fh_conn *c);
static void fh_body_finish(fh_server *s, fh_conn *c);
static ssize_t fh_body_recv_into(fh_server *s, fh_conn *c, uint8_t *dst, size_t cap);
static void fh_body_stop(fh_server *s, fh_conn *c);
static int fh_body_reading(fh_conn *c);

/* frame.c */
static void fh_parse(fh_server *s, fh_conn *c);
static void fh_conn_read(fh_server *s, fh_conn *c, int mask);

/* ws.c */
static void fh_ws_recv(fh_server *s, fh_conn *c, int mask);
static void fh_ws_resume(fh_server *s, fh_conn *c);
static void fh_ws_sweep(fh_server *s, fh_conn *c, int64_t now);
static void fh_ws_free(fh_server *s, fh_conn *c);
static void fh_ws_opened(fh_server *s, fh_conn *c);
static void fh_ws_release_rows(fh_server *s);
static void fh_ws_stop(fh_server *s, fh_conn *c);
static void fh_ws_kill(fh_server *s, fh_conn *c);
static void fh_ws_unregister(fh_server *s);
static void fh_ws_write(fh_server *s, fh_conn *c);
static int fh_ws_reading(fh_conn *c);

/* timers.c */
static void fh_sweep(fh_server *s);

#endif
