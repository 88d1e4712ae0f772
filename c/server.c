/*
 * server.c - the loop core: connections, request framing, batches, writes.
 *
 * JavaScript drives it. fh_poll never blocks: it parses what is ready into the
 * shared descriptor array and returns how many requests it holds; JavaScript
 * runs the handlers and calls fh_flush once per batch, which writes each
 * connection's consecutive responses with one sendmsg. When nothing is ready
 * JavaScript sleeps in Bun's event loop, and a helper thread blocked on an
 * outer backend (watching this loop's backend descriptor, armed one-shot by
 * fh_arm) wakes it through a thread-safe JSCallback.
 *
 * A connection's responses leave in request order: each dispatched request
 * takes a place in the connection's queue at once, and a place whose response
 * has not come yet (an async handler) holds back the ones behind it. While a
 * connection has responses outstanding, no more of its bytes are read: that
 * is the backpressure, and what keeps pipelined floods bounded.
 */
#include <pthread.h>
#include <time.h>

/* What a place in the response queue holds. */

typedef struct fh_seg {
    const uint8_t *ptr;
    size_t len, off;
    int32_t slab;  /* released when the response is done; -1: none */
    uint8_t *heap; /* freed when the response is done (a stream's buffer: ptr == heap) */
    size_t cap;    /* a stream's buffer size */
    uint8_t ready; /* 0: the handler has not answered yet */
    uint8_t close; /* close the connection after this response */
    uint8_t kind;
    uint8_t ended; /* a stream: no more bytes will come */
    uint8_t drain_wanted; /* a stream: tell JavaScript when its buffer is written */
    uint8_t headed;       /* a stream: its first bytes (a response head) were seen */
    int file_fd;   /* FH_SEG_FILE: closed when done; -1: none */
    int64_t file_off, file_left;
} fh_seg;

/* Events for JavaScript about streams and taken-over connections, four int32
 * each: type, fd, gen, seq. */

typedef struct fh_conn {
    int fd;
    uint32_t gen;
    int mask;           /* interest registered with the backend */
    uint8_t *rbuf;
    size_t rlen, rcap, need;
    fh_seg *q;          /* ring of responses, oldest first */
    uint32_t qhead, qlen, qcap;
    uint32_t seq_next;  /* sequence number of the next dispatched request */
    uint8_t peer_closed, no_more, blocked, lingering, listed, dirty, sent_continue, reparse;
    uint8_t raw; /* taken over: bytes read are the handler's, not parsed */
    int64_t since_ms;   /* when the current request head (or the lingering close) began */
    int64_t last_ms;    /* the last read or write that moved bytes */
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
    int nev, ev_cap;
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

static const char fh_resp_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static int64_t fh_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *fh_error_response(int status, size_t *len) {
    static const char r400[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n";
    static const char r408[] = "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n\r\nRequest Timeout\n";
    static const char r413[] = "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 18\r\nConnection: close\r\n\r\nContent Too Large\n";
    static const char r414[] = "HTTP/1.1 414 URI Too Long\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nURI Too Long\n";
    static const char r431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\nRequest Header Fields Too Large\n";
    static const char r501[] = "HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n\r\nNot Implemented\n";
    static const char r503[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\nService Unavailable\n";
    static const char r505[] = "HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/plain\r\nContent-Length: 27\r\nConnection: close\r\n\r\nHTTP Version Not Supported\n";
    const char *r;
    switch (status) {
    case 408: r = r408; *len = sizeof(r408) - 1; break;
    case 413: r = r413; *len = sizeof(r413) - 1; break;
    case 414: r = r414; *len = sizeof(r414) - 1; break;
    case 431: r = r431; *len = sizeof(r431) - 1; break;
    case 501: r = r501; *len = sizeof(r501) - 1; break;
    case 503: r = r503; *len = sizeof(r503) - 1; break;
    case 505: r = r505; *len = sizeof(r505) - 1; break;
    default: r = r400; *len = sizeof(r400) - 1; break;
    }
    return r;
}

/* ---- connection lists ---------------------------------------------------- */

static fh_conn *fh_lookup(fh_server *s, int fd, uint32_t gen) {
    fh_conn *c;
    if (fd < 0 || fd >= s->conns_cap) return NULL;
    c = s->conns[fd];
    if (c == NULL || c->gen != gen) return NULL;
    return c;
}

static void fh_list_ready(fh_server *s, fh_conn *c) {
    if (c->listed) return;
    if (fh_grow((void **)&s->ready, &s->ready_cap, sizeof(fh_ref), s->nready + 1) < 0) return;
    s->ready[s->nready].fd = c->fd;
    s->ready[s->nready].gen = c->gen;
    s->nready++;
    c->listed = 1;
}

static void fh_set_interest(fh_server *s, fh_conn *c, int mask) {
    if (mask == c->mask) return;
    if (fh_backend_mod(s->be, c->fd, c->mask, mask) == 0) c->mask = mask;
}

/* ---- the response queue --------------------------------------------------- */

/* The ring's capacity is a power of two: a mask, not a division (TinyCC emits
 * a real divide for %). */
static fh_seg *fh_seg_at(fh_conn *c, uint32_t i) { return &c->q[(c->qhead + i) & (c->qcap - 1)]; }

static void fh_notify(fh_server *s, int type, fh_conn *c, uint32_t seq) {
    if (fh_grow((void **)&s->ev, &s->ev_cap, sizeof(int32_t), s->nev + 4) < 0) return;
    s->ev[s->nev++] = type;
    s->ev[s->nev++] = c->fd;
    s->ev[s->nev++] = (int32_t)c->gen;
    s->ev[s->nev++] = (int32_t)seq;
}

/* The place of response `seq` in c's queue, or NULL. */
static fh_seg *fh_seg_find(fh_conn *c, int seq, uint32_t *idx) {
    uint32_t i = (uint32_t)seq - (c->seq_next - c->qlen);
    if (i >= c->qlen) return NULL;
    if (idx != NULL) *idx = i;
    return fh_seg_at(c, i);
}

static void fh_seg_done(fh_server *s, fh_seg *g) {
    if (g->slab >= 0) fh_pool_release(&s->pool, g->slab);
    if (g->heap != NULL) free(g->heap);
    if (g->kind == FH_SEG_FILE && g->file_fd >= 0) close(g->file_fd);
    /* The place is reset when it is pushed again (fh_seg_push). */
}

/* Adds a place at the tail. Returns it, or NULL when out of memory. */
static fh_seg *fh_seg_push(fh_conn *c) {
    fh_seg *g;
    if (c->qlen == c->qcap) {
        uint32_t ncap = c->qcap ? c->qcap * 2 : 4, k;
        fh_seg *nq = malloc(sizeof(fh_seg) * ncap);
        if (nq == NULL) return NULL;
        for (k = 0; k < c->qlen; k++) nq[k] = *fh_seg_at(c, k);
        free(c->q);
        c->q = nq;
        c->qhead = 0;
        c->qcap = ncap;
    }
    g = fh_seg_at(c, c->qlen);
    memset(g, 0, sizeof(*g));
    g->slab = -1;
    c->qlen++;
    c->seq_next++; /* every place has a sequence number, the server's own responses too */
    return g;
}

/* Drops every response not yet written. A place still waiting for its
 * handler keeps no slab: the slab belongs to JavaScript until it answers. */
static void fh_queue_clear(fh_server *s, fh_conn *c) {
    while (c->qlen > 0) {
        fh_seg *g = fh_seg_at(c, 0);
        /* A stream's writer, or the taker of the connection, must learn it is gone. */
        if (g->ready && (g->kind == FH_SEG_STREAM || g->kind == FH_SEG_TAKEOVER))
            fh_notify(s, FH_EV_CLOSED, c, c->seq_next - c->qlen);
        if (g->ready) fh_seg_done(s, g);
        c->qhead = (c->qhead + 1) & (c->qcap - 1);
        c->qlen--;
    }
}

static void fh_conn_close(fh_server *s, fh_conn *c) {
    if (c->lingering) s->nlinger--;
    (void)fh_backend_del(s->be, c->fd, c->mask);
    close(c->fd);
    fh_queue_clear(s, c);
    s->conns[c->fd] = NULL;
    s->nconns--;
    free(c->q);
    free(c->rbuf);
    free(c);
}

/* Ends a connection gracefully: FIN after the last response, then read and
 * discard until the peer closes too (or FH_LINGER_MS passes). Closing with
 * unread bytes would send a RST that can destroy the response in flight. */
static void fh_conn_linger(fh_server *s, fh_conn *c) {
    fh_queue_clear(s, c);
    if (c->peer_closed || shutdown(c->fd, SHUT_WR) < 0) {
        fh_conn_close(s, c);
        return;
    }
    c->lingering = 1;
    c->no_more = 1;
    c->rlen = 0;
    c->since_ms = fh_now_ms();
    s->nlinger++;
    fh_set_interest(s, c, FH_READABLE);
}

/* After a write or a response: what to watch for, and what comes next. */
static void fh_conn_settle(fh_server *s, fh_conn *c) {
    int mask = 0;
    if (c->qlen == 0) {
        /* Done with this connection: it asked to close, the server is
         * stopping, or the peer left and no request of its is waiting. */
        if (c->no_more || s->stopping || (c->peer_closed && !c->listed)) {
            fh_conn_linger(s, c);
            return;
        }
        if (c->reparse) fh_list_ready(s, c); /* a request waits for its 100 Continue */
        if (!c->peer_closed) mask |= FH_READABLE;
    } else if (c->raw && !c->peer_closed && c->rlen < c->rcap) {
        mask |= FH_READABLE; /* a taken-over connection: its bytes are read for the handler */
    }
    if (c->blocked) mask |= FH_WRITABLE;
    fh_set_interest(s, c, mask);
}

/* Retires the head place; closes after it if it says so. Returns -1 when the
 * connection is closing, else 1. */
static int fh_retire_head(fh_server *s, fh_conn *c) {
    fh_seg *g = fh_seg_at(c, 0);
    int closing = g->close;
    fh_seg_done(s, g);
    c->qhead = (c->qhead + 1) & (c->qcap - 1);
    c->qlen--;
    if (closing) {
        fh_conn_linger(s, c);
        return -1;
    }
    return 1;
}

/* Writes a stream, a takeover or a file at the head of the queue. Returns 1
 * when it was retired (go on), 0 when it waits (for bytes or writability),
 * -1 when the connection was closed. */
static int fh_flush_special(fh_server *s, fh_conn *c, fh_seg *g) {
    if (g->kind == FH_SEG_TAKEOVER && !c->raw) {
        /* Everything before it is written: the connection is the handler's now,
         * with whatever bytes the client sent after the request. */
        c->raw = 1;
        /* The request is over: its arena goes back (poisoned in debug mode). */
        if (g->slab >= 0) fh_pool_release(&s->pool, g->slab);
        g->slab = -1;
        fh_notify(s, FH_EV_TAKEN, c, c->seq_next - c->qlen);
        if (c->rlen > 0) fh_notify(s, FH_EV_DATA, c, c->seq_next - c->qlen);
    }
    while (g->off < g->len) {
        struct iovec v;
        ssize_t w;
        v.iov_base = (void *)(g->ptr + g->off);
        v.iov_len = g->len - g->off;
        w = fh_sendv(c->fd, &v, 1);
        if (w == -EAGAIN || w == -EWOULDBLOCK) {
            c->blocked = 1;
            return 0;
        }
        if (w < 0) {
            fh_conn_close(s, c);
            return -1;
        }
        g->off += (size_t)w;
        c->last_ms = s->now_ms;
    }
    if (g->kind == FH_SEG_FILE) {
        while (g->file_left > 0) {
            int64_t want = g->file_left > (1 << 30) ? (1 << 30) : g->file_left;
            ssize_t w = fh_sendfile(c->fd, g->file_fd, &g->file_off, (size_t)want);
            if (w == -EAGAIN || w == -EWOULDBLOCK) {
                c->blocked = 1;
                return 0;
            }
            if (w <= 0) {
                /* An error, or the file shrank: the promised length cannot be kept. */
                fh_conn_close(s, c);
                return -1;
            }
            g->file_left -= w;
            c->last_ms = s->now_ms;
        }
        return fh_retire_head(s, c);
    }
    /* A stream: everything it has so far is written. */
    g->off = g->len = 0;
    if (g->drain_wanted) {
        g->drain_wanted = 0;
        fh_notify(s, FH_EV_DRAIN, c, c->seq_next - c->qlen);
    }
    if (!g->ended) return 0;
    if (g->kind == FH_SEG_TAKEOVER) {
        fh_conn_linger(s, c); /* ends when its taker closes it: FIN, then the peer's */
        return -1;
    }
    return fh_retire_head(s, c);
}

/* Writes the ready responses at the head of the queue, several per sendmsg. */
static void fh_conn_flush(fh_server *s, fh_conn *c) {
    struct iovec iov[FH_IOV_MAX];
    if (!c->blocked) c->last_ms = s->now_ms; /* the write timeout runs from here */
    for (;;) {
        uint32_t i, n = 0;
        size_t total = 0;
        ssize_t w;
        int closing = 0;
        if (c->qlen > 0 && fh_seg_at(c, 0)->ready && fh_seg_at(c, 0)->kind != FH_SEG_BYTES) {
            int r = fh_flush_special(s, c, fh_seg_at(c, 0));
            if (r < 0) return; /* closed */
            if (r == 0) break; /* waits for bytes, or for writability */
            continue;
        }
        for (i = 0; i < c->qlen && n < FH_IOV_MAX; i++) {
            fh_seg *g = fh_seg_at(c, i);
            if (!g->ready || g->kind != FH_SEG_BYTES) break;
            if (g->len > g->off) {
                iov[n].iov_base = (void *)(g->ptr + g->off);
                iov[n].iov_len = g->len - g->off;
                total += iov[n].iov_len;
                n++;
            }
            if (g->close) {
                i++; /* nothing after a closing response is sent */
                break;
            }
        }
        if (i == 0) break;
        w = 0;
        if (total > 0) {
            w = fh_sendv(c->fd, iov, (int)n);
            if (w == -EAGAIN || w == -EWOULDBLOCK) {
                c->blocked = 1;
                break;
            }
            if (w < 0) {
                fh_conn_close(s, c); /* EPIPE, ECONNRESET: the peer is gone */
                return;
            }
            if (w > 0) c->last_ms = s->now_ms;
        }
        /* Retire what was written. */
        while (c->qlen > 0) {
            fh_seg *g = fh_seg_at(c, 0);
            size_t rem;
            if (!g->ready || g->kind != FH_SEG_BYTES) break;
            rem = g->len - g->off;
            if ((size_t)w < rem) {
                g->off += (size_t)w;
                w = 0;
                break;
            }
            w -= (ssize_t)rem;
            closing = g->close;
            fh_seg_done(s, g);
            c->qhead = (c->qhead + 1) & (c->qcap - 1);
            c->qlen--;
            if (closing) break;
        }
        if (closing) {
            fh_conn_linger(s, c);
            return;
        }
        if ((size_t)w < total && c->qlen > 0 && fh_seg_at(c, 0)->ready && fh_seg_at(c, 0)->kind == FH_SEG_BYTES) {
            /* A short write: the socket buffer is full. */
            c->blocked = 1;
            break;
        }
        c->blocked = 0;
    }
    fh_conn_settle(s, c);
}

/* Queues a response the server makes itself, then closes after it. */
static void fh_queue_error(fh_server *s, fh_conn *c, int status) {
    fh_seg *g = fh_seg_push(c);
    size_t len;
    c->no_more = 1;
    if (g == NULL) {
        fh_conn_close(s, c);
        return;
    }
    g->ptr = (const uint8_t *)fh_error_response(status, &len);
    g->len = len;
    g->ready = 1;
    g->close = 1;
    if (c->qlen == 1) fh_conn_flush(s, c);
}

/* ---- reading and framing ------------------------------------------------- */

static int fh_reserve(fh_conn *c, size_t cap) {
    uint8_t *nb;
    if (cap <= c->rcap) return 0;
    nb = realloc(c->rbuf, cap);
    if (nb == NULL) return -ENOMEM;
    c->rbuf = nb;
    c->rcap = cap;
    return 0;
}

/* Copies one framed request into an arena and fills a descriptor row.
 * Returns 0, or -1 when no slab is free (the connection waits on the ready
 * list until one comes back). */
static int fh_dispatch(fh_server *s, fh_conn *c, size_t pos, const fh_head *h, size_t total, int64_t body_len) {
    const uint8_t *src = c->rbuf + pos;
    size_t req_len = (size_t)h->head_len + (size_t)body_len;
    int32_t slab = fh_pool_acquire(&s->pool, req_len);
    uint8_t *dst;
    int32_t *d;
    fh_seg *g;
    if (slab < 0) return -1;
    g = fh_seg_push(c);
    if (g == NULL) {
        fh_pool_release(&s->pool, slab);
        return -1;
    }
    dst = fh_pool_ptr(&s->pool, slab);
    if (h->flags & FH_REQ_CHUNKED) {
        int64_t dec = 0;
        int st = 0;
        memcpy(dst, src, (size_t)h->head_len);
        (void)fh_scan_chunked(src + h->head_len, total - (size_t)h->head_len, s->max_body,
                              dst + h->head_len, &dec, &st);
    } else {
        memcpy(dst, src, req_len);
    }
    d = s->desc + (size_t)s->ndesc * FH_D_SIZE;
    d[FH_D_FD] = c->fd;
    d[FH_D_GEN] = (int32_t)c->gen;
    d[FH_D_SEQ] = (int32_t)(c->seq_next - 1);
    d[FH_D_SLAB] = slab;
    d[FH_D_LEN] = (int32_t)req_len;
    d[FH_D_METHOD] = h->method_start;
    d[FH_D_METHOD + 1] = h->method_len;
    d[FH_D_PATH] = h->path_start;
    d[FH_D_PATH + 1] = h->path_len;
    d[FH_D_VERSION] = h->version_start;
    d[FH_D_VERSION + 1] = 8;
    d[FH_D_HEADERS] = h->headers_start;
    d[FH_D_HEADERS + 1] = h->headers_len;
    d[FH_D_BODY] = h->head_len;
    d[FH_D_BODY + 1] = (int32_t)body_len;
    d[FH_D_FLAGS] = h->flags;
    d[FH_D_TARGET] = h->target_start;
    d[FH_D_TARGET + 1] = h->target_len;
    d[FH_D_RKIND] = FH_R_PENDING;
    d[FH_D_ROFF] = 0;
    d[FH_D_RLEN] = 0;
    d[FH_D_RFLAGS] = 0;
    s->ndesc++;
    return 0;
}

/* A head asked for 100 Continue and its body has not come: send it, unless
 * responses to earlier requests must go first (then parse again once they
 * have). The interim response goes straight out; it never closes. */
static void fh_continue(fh_conn *c, const fh_head *h) {
    struct iovec v;
    if (!(h->flags & FH_REQ_EXPECT_CONTINUE) || c->sent_continue) return;
    if (c->qlen > 0) {
        c->reparse = 1;
        return;
    }
    v.iov_base = (void *)fh_resp_100;
    v.iov_len = sizeof(fh_resp_100) - 1;
    c->sent_continue = 1;
    (void)fh_sendv(c->fd, &v, 1);
}

/* Frames every complete request in the read buffer into the batch. */
static void fh_parse(fh_server *s, fh_conn *c) {
    size_t pos = 0;
    int waiting = 0; /* stopped for want of room, not of bytes */
    int err = 0;     /* the status of a request that cannot be served */
    while (!c->no_more && !c->lingering && pos < c->rlen) {
        fh_head h;
        const uint8_t *p = c->rbuf + pos;
        size_t avail = c->rlen - pos, total;
        int64_t body_len;
        int r;
        if (s->ndesc >= s->desc_cap || s->stopping) {
            waiting = !s->stopping;
            break;
        }
        r = fh_scan_head(p, avail, s->max_head, &h);
        if (r == FH_INCOMPLETE) break;
        if (r == FH_ERROR) {
            err = h.status;
            break;
        }
        if (h.flags & FH_REQ_CHUNKED) {
            int st = 0;
            int64_t n = fh_scan_chunked(p + r, avail - (size_t)r, s->max_body, NULL, &body_len, &st);
            if (n == FH_ERROR) {
                err = st;
                break;
            }
            if (n == FH_INCOMPLETE) {
                /* Room to grow by: a chunked body is bounded only by max_body plus framing. */
                c->need = pos + avail + 4096;
                fh_continue(c, &h);
                break;
            }
            total = (size_t)r + (size_t)n;
        } else {
            int64_t cl = h.content_length < 0 ? 0 : h.content_length;
            if (cl > s->max_body) {
                err = 413;
                break;
            }
            body_len = cl;
            total = (size_t)r + (size_t)cl;
        }
        if (total > avail) {
            c->need = pos + total;
            fh_continue(c, &h);
            break;
        }
        if (fh_dispatch(s, c, pos, &h, total, body_len) < 0) {
            waiting = 1;
            break;
        }
        c->sent_continue = 0;
        c->need = 0;
        pos += total;
        if (!(h.flags & FH_REQ_KEEP_ALIVE)) c->no_more = 1;
        if (h.flags & FH_REQ_UPGRADE) {
            /* What follows an upgrade (or CONNECT) may not be HTTP: leave it
             * in the buffer (for a takeover, it is the taker's) and parse on
             * only once this response is done. */
            c->reparse = 1;
            break;
        }
    }
    /* Bytes of dispatched requests leave the buffer first, so that what stays
     * is exactly what follows them (also when an error ends the parse). */
    if (pos > 0) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos;
        if (c->need >= pos) c->need -= pos;
        c->since_ms = s->now_ms; /* what is left is the start of the next request */
    }
    if (err != 0) {
        fh_queue_error(s, c, err);
        return;
    }
    if (waiting) {
        fh_list_ready(s, c);
        return;
    }
    if (c->qlen == 0 && (c->peer_closed || c->no_more || s->stopping)) fh_conn_linger(s, c);
}

static void fh_conn_read(fh_server *s, fh_conn *c, int mask) {
    ssize_t r;
    size_t want;
    if (c->lingering) {
        uint8_t sink[4096];
        do {
            r = fh_recv(c->fd, sink, sizeof(sink));
        } while (r > 0);
        if (r == 0 || r != -EAGAIN) fh_conn_close(s, c);
        return;
    }
    if (c->raw) {
        /* Taken over: read for the handler, who takes the bytes (fh_raw_take). */
        if (c->rlen == c->rcap) {
            fh_conn_settle(s, c);
            return;
        }
        r = fh_recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (r > 0) {
            c->rlen += (size_t)r;
            c->last_ms = s->now_ms;
            fh_notify(s, FH_EV_DATA, c, c->seq_next - c->qlen);
        } else if (r == 0) {
            c->peer_closed = 1;
            fh_notify(s, FH_EV_END, c, c->seq_next - c->qlen);
        } else if (r != -EAGAIN && r != -EWOULDBLOCK) {
            fh_conn_close(s, c);
            return;
        }
        fh_conn_settle(s, c);
        return;
    }
    if (c->qlen > 0 || c->no_more) {
        /* Not reading while responses are outstanding (level-triggered: stop
         * watching, or this would spin); only a broken connection matters. */
        if (mask & FH_HUP) fh_conn_close(s, c);
        else fh_conn_settle(s, c);
        return;
    }
    want = c->need > s->max_head ? c->need : s->max_head;
    if (c->rlen == c->rcap) {
        size_t ncap = c->rcap * 2;
        if (ncap > want) ncap = want;
        if (ncap <= c->rcap || fh_reserve(c, ncap) < 0) {
            fh_parse(s, c);
            return;
        }
    }
    r = fh_recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
    if (r > 0) {
        if (c->rlen == 0) c->since_ms = s->now_ms; /* a new request begins */
        c->rlen += (size_t)r;
        c->last_ms = s->now_ms;
    } else if (r == 0) {
        c->peer_closed = 1;
        fh_set_interest(s, c, 0);
    } else if (r == -EAGAIN || r == -EWOULDBLOCK) {
        return;
    } else {
        fh_conn_close(s, c);
        return;
    }
    fh_parse(s, c);
}

static void fh_accept_all(fh_server *s) {
    int k;
    for (k = 0; k < FH_ACCEPT_BATCH; k++) {
        fh_conn *c;
        int fd = fh_accept(s->lfd);
        if (fd < 0) {
            if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
                /* Out of descriptors: stop watching the listener for a while
                 * rather than spin on it; the sweep resumes it. */
                s->accept_paused = 1;
                s->accept_resume_ms = fh_now_ms() + FH_ACCEPT_PAUSE_MS;
                (void)fh_backend_mod(s->be, s->lfd, FH_READABLE, 0);
            }
            return;
        }
        if (fh_grow((void **)&s->conns, &s->conns_cap, sizeof(fh_conn *), fd + 1) < 0 ||
            (c = calloc(1, sizeof(fh_conn))) == NULL) {
            close(fd);
            return;
        }
        c->fd = fd;
        c->gen = ++s->next_gen;
        c->rcap = 4096;
        c->rbuf = malloc(c->rcap);
        if (c->rbuf == NULL || fh_backend_add(s->be, fd, FH_READABLE) < 0) {
            free(c->rbuf);
            free(c);
            close(fd);
            continue;
        }
        c->mask = FH_READABLE;
        c->since_ms = c->last_ms = s->now_ms;
        s->conns[fd] = c;
        s->nconns++;
        if (s->max_conns > 0 && s->nconns - s->nlinger > s->max_conns) fh_queue_error(s, c, 503);
    }
}

/* Time-based work, at most every sweep period: the timeouts, lingering
 * closes the peer never finished, and resuming accept after running out of
 * descriptors. One pass over the connections; nothing on the request path. */
static void fh_sweep(fh_server *s) {
    int64_t now = s->now_ms;
    int fd;
    if (now - s->last_sweep_ms < s->sweep_ms) return;
    s->last_sweep_ms = now;
    if (s->accept_paused && now >= s->accept_resume_ms && s->lfd >= 0) {
        s->accept_paused = 0;
        (void)fh_backend_mod(s->be, s->lfd, 0, FH_READABLE);
    }
    for (fd = 0; fd < s->conns_cap; fd++) {
        fh_conn *c = s->conns[fd];
        if (c == NULL) continue;
        if (c->lingering) {
            if (now - c->since_ms > FH_LINGER_MS) fh_conn_close(s, c);
        } else if (c->blocked) {
            /* A peer that stopped reading: drop it and free its arenas. A reset
             * (SO_LINGER 0) also frees the kernel's send buffer at once, which a
             * plain close would keep until TCP gives up on the peer. */
            if (s->write_to_ms > 0 && now - c->last_ms > s->write_to_ms) {
                struct linger lg;
                lg.l_onoff = 1;
                lg.l_linger = 0;
                (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
                fh_conn_close(s, c);
            }
        } else if (c->qlen > 0) {
            /* A handler is at work: its time is its own. */
        } else if (c->rlen > 0) {
            /* Part of a request: the head has headerTimeout from its first
             * byte (the slowloris defence); a body must keep moving. */
            int late = c->need == 0 ? (s->header_to_ms > 0 && now - c->since_ms > s->header_to_ms)
                                    : (s->idle_to_ms > 0 && now - c->last_ms > s->idle_to_ms);
            if (late) fh_queue_error(s, c, 408);
        } else if (s->idle_to_ms > 0 && now - c->last_ms > s->idle_to_ms) {
            fh_conn_linger(s, c); /* an idle keep-alive connection */
        }
    }
}

/* ---- the exported interface ---------------------------------------------- */

/* Polls without blocking and frames what is ready. Returns the number of
 * requests now in the descriptor array, or -errno. */
int fh_poll(fh_server *s) {
    int n, i, k, nready;
    fh_ref *list;
    s->ndesc = 0;
    s->now_ms = fh_now_ms();
    fh_sweep(s);
    /* Connections with buffered requests first: the backend will not report
     * bytes that were already read. Parsing may list connections again, so
     * the list is swapped for the spare one before it is walked. */
    list = s->ready;
    nready = s->nready;
    s->ready = s->ready_spare;
    s->ready_spare = list;
    k = s->ready_cap;
    s->ready_cap = s->spare_cap;
    s->spare_cap = k;
    s->nready = 0;
    for (k = 0; k < nready; k++) {
        fh_conn *c = fh_lookup(s, list[k].fd, list[k].gen);
        if (c == NULL) continue;
        c->listed = 0;
        if (c->lingering || c->qlen > 0) continue;
        c->reparse = 0;
        fh_parse(s, c);
    }
    if (s->ndesc >= s->desc_cap) return s->ndesc;
    n = fh_backend_poll(s->be, s->events, s->max_events, 0);
    if (n < 0) return n;
    for (i = 0; i < n; i++) {
        int fd = s->events[i].fd, mask = s->events[i].mask;
        fh_conn *c;
        if (fd == s->lfd) {
            if (!s->stopping) fh_accept_all(s);
            continue;
        }
        if (fd < 0 || fd >= s->conns_cap || (c = s->conns[fd]) == NULL) continue;
        if (mask & FH_WRITABLE) {
            c->blocked = 0;
            fh_conn_flush(s, c);
            if (s->conns[fd] != c) continue;
        }
        if (mask & (FH_READABLE | FH_HUP)) {
            if (s->ndesc >= s->desc_cap && !c->lingering) continue; /* reported again next poll */
            fh_conn_read(s, c, mask);
        }
    }
    return s->ndesc;
}

/* Takes the responses JavaScript wrote into rows [0, n) and writes them. */
int fh_flush(fh_server *s, int n) {
    int i;
    s->ndirty = 0;
    s->now_ms = fh_now_ms();
    if (n > s->ndesc) n = s->ndesc;
    for (i = 0; i < n; i++) {
        int32_t *d = s->desc + (size_t)i * FH_D_SIZE;
        fh_conn *c;
        fh_seg *g;
        uint32_t idx;
        if (d[FH_D_RKIND] != FH_R_ARENA) continue;
        c = fh_lookup(s, d[FH_D_FD], (uint32_t)d[FH_D_GEN]);
        idx = c ? (uint32_t)d[FH_D_SEQ] - (c->seq_next - c->qlen) : 0;
        if (c == NULL || c->lingering || idx >= c->qlen || fh_seg_at(c, idx)->ready ||
            (uint32_t)d[FH_D_ROFF] + (uint32_t)d[FH_D_RLEN] > fh_pool_size(&s->pool, d[FH_D_SLAB])) {
            fh_pool_release(&s->pool, d[FH_D_SLAB]);
            continue;
        }
        g = fh_seg_at(c, idx);
        g->ptr = fh_pool_ptr(&s->pool, d[FH_D_SLAB]) + d[FH_D_ROFF];
        g->len = (size_t)d[FH_D_RLEN];
        g->slab = d[FH_D_SLAB];
        g->ready = 1;
        g->close = (d[FH_D_RFLAGS] & FH_RF_CLOSE) ||
                   ((d[FH_D_RFLAGS] & FH_RF_RAW) && fh_response_closes(g->ptr, g->len));
        if (!c->dirty &&
            fh_grow((void **)&s->dirty, &s->dirty_cap, sizeof(fh_ref), s->ndirty + 1) == 0) {
            c->dirty = 1;
            s->dirty[s->ndirty].fd = c->fd;
            s->dirty[s->ndirty].gen = c->gen;
            s->ndirty++;
        }
    }
    for (i = 0; i < s->ndirty; i++) {
        fh_conn *c = fh_lookup(s, s->dirty[i].fd, s->dirty[i].gen);
        if (c == NULL) continue;
        c->dirty = 0;
        fh_conn_flush(s, c);
    }
    return s->nready > 0;
}

/*
 * Answers one request outside a batch (an async handler), or with bytes that
 * live in JavaScript memory (too large for the arena), or from a slab of the
 * arena other than the first. The response is [off, off+len) of slab
 * `data_slab` (which must belong to the arena that begins with `slab`)
 * followed by bytes[0, bytes_len). Bytes from JavaScript are valid only
 * during this call: whatever the socket does not take at once is copied. The
 * arena comes back to the pool here unless the response still lives in it.
 * Returns 1 when connections wait to be parsed (JavaScript should poll soon),
 * else 0.
 */
int fh_respond(fh_server *s, int fd, int gen, int seq, int slab, const uint8_t *bytes, int bytes_len,
               int data_slab, int off, int len, int flags) {
    fh_conn *c = fh_lookup(s, fd, (uint32_t)gen);
    int in_arena = fh_pool_in_arena(&s->pool, slab, data_slab);
    uint8_t *arena = in_arena ? fh_pool_ptr(&s->pool, data_slab) : NULL;
    size_t asize = in_arena ? fh_pool_size(&s->pool, data_slab) : 0;
    uint32_t idx = c ? (uint32_t)seq - (c->seq_next - c->qlen) : 0;
    fh_seg *g;
    size_t total, sent = 0;
    s->now_ms = fh_now_ms();
    if (c == NULL || c->lingering || idx >= c->qlen || fh_seg_at(c, idx)->ready || arena == NULL ||
        off < 0 || len < 0 || bytes_len < 0 || (size_t)off + (size_t)len > asize ||
        (bytes == NULL && bytes_len > 0)) {
        fh_pool_release(&s->pool, slab);
        return s->nready > 0;
    }
    g = fh_seg_at(c, idx);
    g->ready = 1;
    if (flags & FH_RF_CLOSE) g->close = 1;
    if ((flags & FH_RF_RAW) &&
        fh_response_closes(len > 0 ? arena + off : bytes, len > 0 ? (size_t)len : (size_t)bytes_len))
        g->close = 1;
    if (bytes == NULL) {
        g->ptr = arena + off;
        g->len = (size_t)len;
        g->slab = slab;
    } else {
        total = (size_t)len + (size_t)bytes_len;
        if (idx == 0 && !c->blocked) {
            struct iovec v[2];
            int nv = 0;
            ssize_t w;
            if (len > 0) {
                v[nv].iov_base = arena + off;
                v[nv++].iov_len = (size_t)len;
            }
            if (bytes_len > 0) {
                v[nv].iov_base = (void *)bytes;
                v[nv++].iov_len = (size_t)bytes_len;
            }
            w = nv > 0 ? fh_sendv(c->fd, v, nv) : 0;
            if (w < 0 && w != -EAGAIN && w != -EWOULDBLOCK) {
                fh_pool_release(&s->pool, slab);
                fh_conn_close(s, c);
                return s->nready > 0;
            }
            if (w > 0) sent = (size_t)w;
        }
        if (sent < total) {
            size_t rest = total - sent, a_rest = sent < (size_t)len ? (size_t)len - sent : 0;
            uint8_t *heap = malloc(rest);
            if (heap == NULL) {
                fh_pool_release(&s->pool, slab);
                fh_conn_close(s, c);
                return s->nready > 0;
            }
            if (a_rest > 0) memcpy(heap, arena + off + sent, a_rest);
            memcpy(heap + a_rest, bytes + (sent > (size_t)len ? sent - (size_t)len : 0), rest - a_rest);
            g->ptr = heap;
            g->heap = heap;
            g->len = rest;
            if (sent > 0) c->blocked = 1; /* the socket took what it could */
        }
        fh_pool_release(&s->pool, slab);
    }
    if (idx == 0) {
        if (c->blocked && sent > 0) {
            /* The tail waits for writability; retire the empty head if all went. */
            fh_conn_settle(s, c);
        } else {
            fh_conn_flush(s, c);
        }
    }
    return s->nready > 0;
}

/* ---- streams, takeovers and files ------------------------------------------ */

/* The place of response `seq`, if its connection is alive and the place is
 * a stream or takeover JavaScript opened. */
static fh_seg *fh_stream_seg(fh_server *s, int fd, int gen, int seq, fh_conn **pc, uint32_t *idx) {
    fh_conn *c = fh_lookup(s, fd, (uint32_t)gen);
    fh_seg *g;
    if (c == NULL || c->lingering) return NULL;
    g = fh_seg_find(c, seq, idx);
    if (g == NULL || !g->ready || (g->kind != FH_SEG_STREAM && g->kind != FH_SEG_TAKEOVER)) return NULL;
    *pc = c;
    return g;
}

static int fh_stream_append(fh_seg *g, const uint8_t *bytes, size_t n) {
    if (n == 0) return 0;
    if (!g->headed && g->kind == FH_SEG_STREAM) {
        /* A response head that says "Connection: close" closes after the stream. */
        g->headed = 1;
        if (n >= 5 && memcmp(bytes, "HTTP/", 5) == 0 && fh_response_closes(bytes, n)) g->close = 1;
    }
    if (g->off > 0 && g->off == g->len) g->off = g->len = 0;
    if (g->len + n > g->cap) {
        size_t ncap = g->cap ? g->cap : 4096;
        uint8_t *nb;
        if (g->off > 0) { /* compact first */
            memmove(g->heap, g->heap + g->off, g->len - g->off);
            g->len -= g->off;
            g->off = 0;
        }
        while (ncap < g->len + n) ncap *= 2;
        if (ncap != g->cap) {
            nb = realloc(g->heap, ncap);
            if (nb == NULL) return -ENOMEM;
            g->heap = nb;
            g->cap = ncap;
        }
    }
    memcpy(g->heap + g->len, bytes, n);
    g->len += n;
    g->ptr = g->heap;
    return 0;
}

/* The place JavaScript answers with bytes [off, off+len) of slab `data_slab`
 * of the arena that begins with `slab`: response `seq` of connection fd/gen,
 * still waiting for its answer. Returns it (with the connection, its index and
 * the bytes), or NULL when any of that does not hold. */
static fh_seg *fh_answer_place(fh_server *s, int fd, int gen, int seq, int slab, int data_slab, int off, int len,
                               fh_conn **pc, uint32_t *idx, uint8_t **bytes) {
    fh_conn *c = fh_lookup(s, fd, (uint32_t)gen);
    int in_arena = fh_pool_in_arena(&s->pool, slab, data_slab);
    uint8_t *arena = in_arena ? fh_pool_ptr(&s->pool, data_slab) : NULL;
    size_t asize = in_arena ? fh_pool_size(&s->pool, data_slab) : 0;
    fh_seg *g = c ? fh_seg_find(c, seq, idx) : NULL;
    s->now_ms = fh_now_ms();
    if (g == NULL || c->lingering || g->ready || arena == NULL || off < 0 || len < 0 ||
        (size_t)off + (size_t)len > asize)
        return NULL;
    *pc = c;
    *bytes = arena + off;
    return g;
}

/*
 * Answers request `seq` with a stream (kind 1: bytes written over time, then
 * the connection serves on) or a takeover (kind 2: once every earlier
 * response is written, the connection is the handler's). The arena's
 * [off, off+len) is sent first (a stream's head); the arena is kept until the
 * stream ends (a takeover's as soon as the connection is handed over). The
 * head lives in slab `data_slab` of the arena that begins with `slab`.
 * Returns 1 when connections wait to be parsed, 0, or -EPIPE when the
 * connection is gone (the arena is released).
 */
int fh_stream_open(fh_server *s, int fd, int gen, int seq, int slab, int data_slab, int kind, int off, int len) {
    fh_conn *c = NULL;
    uint32_t idx = 0;
    uint8_t *head = NULL;
    fh_seg *g = fh_answer_place(s, fd, gen, seq, slab, data_slab, off, len, &c, &idx, &head);
    if (g == NULL || (kind != FH_SEG_STREAM && kind != FH_SEG_TAKEOVER)) {
        fh_pool_release(&s->pool, slab);
        return -EPIPE;
    }
    g->ready = 1;
    g->kind = (uint8_t)kind;
    g->slab = slab;
    if (fh_stream_append(g, head, (size_t)len) < 0) {
        fh_conn_close(s, c);
        return -EPIPE;
    }
    if (kind == FH_SEG_TAKEOVER) c->no_more = 1; /* nothing after it is parsed */
    if (idx == 0) fh_conn_flush(s, c);
    return s->nready > 0;
}

/* Appends bytes to an open stream and writes what the socket takes. Returns
 * the bytes still buffered (JavaScript waits for FH_EV_DRAIN when it wants
 * them gone), or -EPIPE when the connection is gone. */
int fh_stream_write(fh_server *s, int fd, int gen, int seq, const uint8_t *bytes, int n) {
    fh_conn *c = NULL;
    uint32_t idx = 0;
    fh_seg *g = fh_stream_seg(s, fd, gen, seq, &c, &idx);
    s->now_ms = fh_now_ms();
    if (g == NULL || g->ended || n < 0) return -EPIPE;
    if (fh_stream_append(g, bytes, (size_t)n) < 0) {
        fh_conn_close(s, c);
        return -EPIPE;
    }
    if (idx == 0 && !c->blocked) {
        fh_conn_flush(s, c);
        if (fh_lookup(s, fd, (uint32_t)gen) != c) return -EPIPE;
        g = fh_seg_find(c, seq, NULL);
        if (g == NULL) return 0;
    }
    if (g->len > g->off) g->drain_wanted = 1;
    return (int)(g->len - g->off);
}

/* Ends a stream (close: and the connection after it) or a takeover (always
 * closes). Returns 1 when connections wait to be parsed, 0, or -EPIPE. */
int fh_stream_end(fh_server *s, int fd, int gen, int seq, int close_after) {
    fh_conn *c = NULL;
    uint32_t idx = 0;
    fh_seg *g = fh_stream_seg(s, fd, gen, seq, &c, &idx);
    s->now_ms = fh_now_ms();
    if (g == NULL) return -EPIPE;
    g->ended = 1;
    if (close_after) g->close = 1;
    if (idx == 0) fh_conn_flush(s, c);
    return s->nready > 0;
}

/* Copies up to max bytes a taken-over connection has read into dst. Returns
 * the count, or -EPIPE when the connection is gone. */
int fh_raw_take(fh_server *s, int fd, int gen, uint8_t *dst, int max) {
    fh_conn *c = fh_lookup(s, fd, (uint32_t)gen);
    size_t n;
    if (c == NULL || !c->raw || max < 0) return -EPIPE;
    n = c->rlen < (size_t)max ? c->rlen : (size_t)max;
    memcpy(dst, c->rbuf, n);
    memmove(c->rbuf, c->rbuf + n, c->rlen - n);
    c->rlen -= n;
    fh_conn_settle(s, c);
    return (int)n;
}

/*
 * Answers request `seq` with [off, off+len) of slab `data_slab` of its arena
 * (a head) followed by
 * `file_len` bytes of the open file `file_fd` from `file_off`, by sendfile,
 * resumed on writability. The core owns file_fd from here and closes it.
 * Returns 1 when connections wait to be parsed, 0, or -EPIPE.
 */
int fh_respond_file(fh_server *s, int fd, int gen, int seq, int slab, int data_slab, int off, int len,
                    int file_fd, double file_off, double file_len, int flags) {
    fh_conn *c = NULL;
    uint32_t idx = 0;
    uint8_t *head = NULL;
    fh_seg *g = fh_answer_place(s, fd, gen, seq, slab, data_slab, off, len, &c, &idx, &head);
    if (g == NULL || file_off < 0 || file_len < 0) {
        fh_pool_release(&s->pool, slab);
        if (file_fd >= 0) close(file_fd);
        return -EPIPE;
    }
    g->ready = 1;
    g->kind = FH_SEG_FILE;
    g->slab = slab;
    g->ptr = head;
    g->len = (size_t)len;
    g->file_fd = file_fd;
    g->file_off = (int64_t)file_off;
    g->file_left = (int64_t)file_len;
    g->close = (flags & FH_RF_CLOSE) ? 1 : 0;
    if (idx == 0) fh_conn_flush(s, c);
    return s->nready > 0;
}

/* Hands JavaScript the stream and takeover events: four int32 each (type,
 * fd, gen, seq). Returns how many events were written. */
int fh_events_take(fh_server *s, int32_t *out, int max) {
    int n = s->nev / 4 < max ? s->nev / 4 : max;
    memcpy(out, s->ev, sizeof(int32_t) * 4 * (size_t)n);
    memmove(s->ev, s->ev + 4 * n, sizeof(int32_t) * (size_t)(s->nev - 4 * n));
    s->nev -= 4 * n;
    return n;
}

/* Whether events wait for JavaScript. */
int fh_events_pending(fh_server *s) { return s->nev / 4; }

/* ---- life cycle ------------------------------------------------------------ */

/* Creates a server listening on host:port, or, with listen_fd >= 0, on a
 * duplicate of that listening socket (several loops, e.g. one per worker
 * thread, can share one socket; each closes only its own duplicate). On
 * failure returns NULL and puts -errno (or FH_EAI_BASE + an EAI code) in
 * err[0]. */
fh_server *fh_server_create(const char *host, int port, int backlog, int max_head, double max_body,
                            int slab_size, int slab_cap, int batch, int reuse_port, int poison,
                            int listen_fd, int32_t *err) {
    fh_server *s;
    int rc = 0;
    fh_scanner_init();
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        err[0] = -ENOMEM;
        return NULL;
    }
    s->lfd = -1;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    s->max_head = (size_t)max_head;
    s->sweep_ms = FH_SWEEP_MS;
    s->now_ms = fh_now_ms();
    s->max_body = (int64_t)max_body;
    s->desc_cap = batch;
    s->max_events = batch;
    s->desc = calloc((size_t)batch, sizeof(int32_t) * FH_D_SIZE);
    s->events = calloc((size_t)batch, sizeof(fh_event));
    if (s->desc == NULL || s->events == NULL) rc = -ENOMEM;
    if (rc == 0) rc = fh_pool_init(&s->pool, (size_t)slab_size, slab_cap);
    s->pool.poison = poison;
    if (rc == 0) {
        s->be = fh_backend_create(batch, &rc);
        if (s->be != NULL) rc = 0;
    }
    if (rc == 0) {
        if (listen_fd >= 0) {
            s->lfd = fcntl(listen_fd, F_DUPFD_CLOEXEC, 0);
            if (s->lfd < 0 || (rc = fh_set_nonblock(s->lfd)) < 0) rc = rc < 0 ? rc : -errno;
        } else {
            s->lfd = fh_listen(host, port, backlog, reuse_port);
            if (s->lfd < 0) rc = s->lfd;
        }
    }
    if (rc == 0) {
        s->port = fh_local_port(s->lfd);
        if (s->port < 0) rc = s->port;
    }
    if (rc == 0) rc = fh_backend_add(s->be, s->lfd, FH_READABLE);
    if (rc != 0) {
        err[0] = rc;
        if (s->lfd >= 0) close(s->lfd);
        fh_backend_free(s->be);
        if (s->pool.base != NULL) fh_pool_free(&s->pool);
        free(s->desc);
        free(s->events);
        free(s);
        return NULL;
    }
    return s;
}

/* Sets the timeouts (ms, 0: none) and the connection cap (0: none). The sweep
 * runs four times per shortest timeout, at most every FH_SWEEP_MS. */
void fh_server_limits(fh_server *s, double header_ms, double idle_ms, double write_ms, int max_conns) {
    int64_t shortest = FH_SWEEP_MS * 4;
    s->header_to_ms = (int64_t)header_ms;
    s->idle_to_ms = (int64_t)idle_ms;
    s->write_to_ms = (int64_t)write_ms;
    s->max_conns = max_conns;
    if (s->header_to_ms > 0 && s->header_to_ms < shortest) shortest = s->header_to_ms;
    if (s->idle_to_ms > 0 && s->idle_to_ms < shortest) shortest = s->idle_to_ms;
    if (s->write_to_ms > 0 && s->write_to_ms < shortest) shortest = s->write_to_ms;
    s->sweep_ms = (int)(shortest / 4 < 10 ? 10 : shortest / 4);
}

int fh_server_port(fh_server *s) { return s->port; }

/* Adds a slab of at least `need` bytes to the arena that begins with `head`
 * (JavaScript's arena outgrew what it had). Returns its id, or -1. */
int fh_arena_grow(fh_server *s, int head, double need) {
    if (need < 0 || need > 2147483647.0) return -1;
    return fh_pool_grow(&s->pool, head, (size_t)need);
}

/* Bytes in a slab (0 when it is not out). */
double fh_slab_size(fh_server *s, int slab) { return (double)fh_pool_size(&s->pool, slab); }

/* Trace mode: record the time each arena is freed. */
void fh_server_trace(fh_server *s, int on) { s->pool.trace = on; }

/* Hands JavaScript the arenas freed since it last asked: their first slab
 * and the time (ms, monotonic). Returns how many were written. */
int fh_trace_take(fh_server *s, int32_t *ids, double *ms, int max) {
    int n = s->pool.ntrace < max ? s->pool.ntrace : max, k;
    for (k = 0; k < n; k++) {
        ids[k] = s->pool.trace_ids[k];
        ms[k] = s->pool.trace_ms[k];
    }
    memmove(s->pool.trace_ids, s->pool.trace_ids + n, sizeof(int32_t) * (size_t)(s->pool.ntrace - n));
    memmove(s->pool.trace_ms, s->pool.trace_ms + n, sizeof(double) * (size_t)(s->pool.ntrace - n));
    s->pool.ntrace -= n;
    return n;
}

/* The monotonic clock trace times are on, in ms. */
double fh_clock(void) { return fh_clock_ms(); }

/* A listening socket on its own, for loops that will share it (see
 * fh_server_create's listen_fd). Returns the fd, or a negative code. */
int fh_listen_socket(const char *host, int port, int backlog, int reuse_port) {
    return fh_listen(host, port, backlog, reuse_port);
}

/* The port a listening socket is bound to, or -errno. */
int fh_socket_port(int fd) { return fh_local_port(fd); }

/* Closes a descriptor made by fh_listen_socket. */
int fh_close(int fd) { return close(fd) < 0 ? -errno : 0; }
int32_t *fh_server_desc(fh_server *s) { return s->desc; }
uint8_t *fh_server_slabs(fh_server *s) { return s->pool.base; }
uint8_t *fh_slab_ptr(fh_server *s, int slab) { return fh_pool_ptr(&s->pool, slab); }
int fh_conn_count(fh_server *s) { return s->nconns; }


/* Pool and connection figures: conns, slabs carved, in use, high water, cap,
 * large in use, slab size, backend (0 epoll, 1 kqueue). */
void fh_stats(fh_server *s, int32_t *out) {
    out[0] = s->nconns;
    out[1] = s->pool.carved;
    out[2] = s->pool.in_use;
    out[3] = s->pool.high_water;
    out[4] = s->pool.cap;
    out[5] = s->pool.large_in_use;
    out[6] = (int32_t)s->pool.slab_size;
    out[7] = fh_backend_name()[0] == 'k';
}

static void *fh_wake_main(void *arg) {
    fh_server *s = arg;
    fh_event ev[2];
    for (;;) {
        /* The loop needs a tick for its timeouts while connections are open
         * (or accepting is paused). The count is read each time round, not
         * trusted from before the wait (it changes in JavaScript meanwhile),
         * so the thread always wakes every sweep period and calls JavaScript
         * only when there is timed work. */
        int n = fh_backend_poll(s->outer, ev, 2, s->sweep_ms), i, stop = 0;
        if (n < 0) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        for (i = 0; i < n; i++)
            if (ev[i].fd == s->stop_pipe[0]) stop = 1;
        if (stop) break;
        if (n == 0 && s->nconns == 0 && !s->accept_paused) continue;
        s->wake();
    }
    return NULL;
}

/* Starts the wake-up thread, which calls `wake` (a thread-safe JSCallback)
 * whenever the loop's backend becomes ready after fh_arm. Returns 0 or -errno. */
int fh_start(fh_server *s, void (*wake)(void)) {
    sigset_t all, old;
    int rc;
    if (s->thread_started) return 0;
    s->wake = wake;
    s->outer = fh_backend_create(2, &rc);
    if (s->outer == NULL) return rc;
    if (pipe(s->stop_pipe) < 0) return -errno;
    (void)fh_set_nonblock(s->stop_pipe[0]);
    (void)fh_set_nonblock(s->stop_pipe[1]);
    rc = fh_backend_add(s->outer, s->stop_pipe[0], FH_READABLE);
    if (rc == 0) rc = fh_backend_add(s->outer, fh_backend_fd(s->be), FH_READABLE | FH_ONESHOT);
    if (rc != 0) return rc;
    /* The thread takes no signals: SIGINT and SIGTERM stay with JavaScript. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&s->thread, NULL, fh_wake_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) return -rc;
    s->thread_started = 1;
    return 0;
}

/* Re-arms the one-shot wake-up before JavaScript goes idle. If events are
 * already pending it fires at once, so no wake-up is lost. */
int fh_arm(fh_server *s) {
    if (s->outer == NULL) return -EINVAL;
    return fh_backend_mod(s->outer, fh_backend_fd(s->be), FH_READABLE | FH_ONESHOT,
                          FH_READABLE | FH_ONESHOT);
}

/* Stops accepting. Idle connections close now; the others once their
 * outstanding responses are written (force: close them all now). Returns the
 * number of connections still open. */
int fh_stop(fh_server *s, int force) {
    int fd;
    s->stopping = 1;
    if (s->lfd >= 0) {
        (void)fh_backend_del(s->be, s->lfd, FH_READABLE);
        close(s->lfd);
        s->lfd = -1;
    }
    for (fd = 0; fd < s->conns_cap; fd++) {
        fh_conn *c = s->conns[fd];
        if (c == NULL) continue;
        if (force || c->raw) fh_conn_close(s, c); /* a taken-over connection is out of HTTP's hands */
        else if (c->qlen == 0 && !c->lingering) fh_conn_linger(s, c);
        else c->no_more = 1;
    }
    return s->nconns;
}

/* Frees everything. Call after fh_stop; closes what is still open. */
void fh_destroy(fh_server *s) {
    int fd;
    char x = 1;
    if (s->thread_started) {
        while (write(s->stop_pipe[1], &x, 1) < 0 && errno == EINTR) {
        }
        pthread_join(s->thread, NULL);
    }
    if (s->stop_pipe[0] >= 0) close(s->stop_pipe[0]);
    if (s->stop_pipe[1] >= 0) close(s->stop_pipe[1]);
    fh_backend_free(s->outer);
    (void)fh_stop(s, 1);
    for (fd = 0; fd < s->conns_cap; fd++)
        if (s->conns[fd] != NULL) fh_conn_close(s, s->conns[fd]);
    fh_backend_free(s->be);
    fh_pool_free(&s->pool);
    free(s->conns);
    free(s->ready);
    free(s->ready_spare);
    free(s->dirty);
    free(s->ev);
    free(s->desc);
    free(s->events);
    free(s);
}

/* The size of a descriptor row, for the TypeScript side to check its copy. */
int fh_layout_check(void) { return FH_D_SIZE * 1000 + FH_D_RFLAGS; }

/* Writes the value of every name in FH_CONTRACT (layout.h), in its order, for
 * src/layout.ts to compare with its copy. Returns how many names there are
 * (more than max: only max were written). */
int fh_contract(int32_t *out, int max) {
    int n = 0;
#define FH_CONTRACT_PUT(name) \
    if (n < max) out[n] = (name); \
    n++;
    FH_CONTRACT(FH_CONTRACT_PUT)
#undef FH_CONTRACT_PUT
    return n;
}

/* The reason for an error code returned by this core. */
const char *fh_strerror(int code) {
    if (code <= FH_EAI_BASE + 0 && code > FH_EAI_BASE - 1000) return gai_strerror(code - FH_EAI_BASE);
    return strerror(-code);
}
