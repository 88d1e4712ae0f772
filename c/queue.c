/*
 * queue.c - a connection's response queue, and the only code that writes to
 * a socket.
 *
 * Each dispatched request takes a place at the tail at once, and answers
 * leave from the head in request order: a place whose answer has not come
 * (an async handler) holds back the ones behind it. The core's own answers
 * (answers.c) are places too. fh_conn_flush writes the ready places at the
 * head, several per sendmsg (small ones copied into one buffer); streams,
 * takeovers and files are written by fh_flush_special. Nothing else in the
 * core sends bytes.
 */

/* The ring's capacity is a power of two: a mask, not a division (TinyCC emits
 * a real divide for %). */
static fh_seg *fh_seg_at(fh_conn *c, uint32_t i) { return &c->q[(c->qhead + i) & (c->qcap - 1)]; }

/* The sequence number of the place at index idx. */
static uint32_t fh_seg_seq(fh_conn *c, uint32_t idx) { return c->seq_next - c->qlen + idx; }

/* The place of answer `seq`, or NULL. */
static fh_seg *fh_seg_find(fh_conn *c, uint32_t seq, uint32_t *idx) {
    uint32_t i = seq - (c->seq_next - c->qlen);
    if (i >= c->qlen) return NULL;
    if (idx != NULL) *idx = i;
    return fh_seg_at(c, i);
}

static void fh_seg_done(fh_server *s, fh_seg *g) {
    if (g->slab >= 0) fh_pool_release(&s->pool, g->slab);
    if (g->heap != NULL) free(g->heap);
    if (g->kind == FH_SEG_FILE && g->file_fd >= 0) close(g->file_fd);
    if (g->blob != NULL) fh_blob_unref(g->blob);
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
    g->file_fd = -1;
    c->qlen++;
    c->seq_next++; /* every place has a sequence number, the server's own answers too */
    return g;
}

static void fh_seg_pop(fh_server *s, fh_conn *c) {
    fh_seg *g = fh_seg_at(c, 0);
    int body = c->body != NULL && fh_seg_seq(c, 0) == c->body->seq && g->ready && !g->close;
    fh_seg_done(s, g);
    c->qhead = (c->qhead + 1) & (c->qcap - 1);
    c->qlen--;
    if (body) fh_body_answered(s, c); /* a streamed body's answer: parse on after the body */
}

/* Drops held places (a streamed body's 100 Continue) at the head whose
 * request has been answered first: the client need not send the body. */
static void fh_skip_held(fh_server *s, fh_conn *c) {
    while (c->qlen > 1 && fh_seg_at(c, 0)->held && !fh_seg_at(c, 0)->ready && fh_seg_at(c, 1)->ready) fh_seg_pop(s, c);
}

/* The client half-closed (FIN) while handlers still work on its requests:
 * each is told (FH_EV_FIN) so that it may stop, as when it leaves; an answer
 * given anyway is still written, since a half-closed client can still read. */
static void fh_queue_fin(fh_server *s, fh_conn *c) {
    uint32_t i;
    for (i = 0; i < c->qlen; i++) {
        fh_seg *g = fh_seg_at(c, i);
        if (!g->ready && !g->held) fh_notify(s, FH_EV_FIN, c, fh_seg_seq(c, i));
    }
}

/* Drops every answer not yet written, telling JavaScript about those it
 * still holds: a stream's writer or a connection's taker (FH_EV_CLOSED), a
 * handler still at work (FH_EV_GONE). A place waiting for its handler keeps
 * no slab: the slab belongs to JavaScript until it answers. */
static void fh_queue_clear(fh_server *s, fh_conn *c) {
    while (c->qlen > 0) {
        fh_seg *g = fh_seg_at(c, 0);
        if (!g->ready && !g->held) fh_notify(s, FH_EV_GONE, c, fh_seg_seq(c, 0));
        else if (g->kind == FH_SEG_STREAM || g->kind == FH_SEG_TAKEOVER) fh_notify(s, FH_EV_CLOSED, c, fh_seg_seq(c, 0));
        else if (g->kind == FH_SEG_WEBSOCKET)
            fh_notify(s, FH_EV_WS_CLOSED, c, (uint32_t)(c->ws != NULL ? c->ws->code : FH_WS_CLOSE_ABNORMAL));
        if (g->ready) fh_seg_done(s, g);
        c->qhead = (c->qhead + 1) & (c->qcap - 1);
        c->qlen--;
    }
}

/* Whether c has a stream or takeover open: an answer with no end a
 * half-closed client could be waiting for (a FIN then means it left). */
static int fh_queue_has_stream(fh_conn *c) {
    uint32_t i;
    if (c->state == FH_RAW || c->state == FH_WEBSOCKET) return 1;
    for (i = 0; i < c->qlen; i++) {
        fh_seg *g = fh_seg_at(c, i);
        if (g->ready && (g->kind == FH_SEG_STREAM || g->kind == FH_SEG_TAKEOVER || g->kind == FH_SEG_WEBSOCKET)) return 1;
    }
    return 0;
}

/* Copies the bytes a place still has to write out of JavaScript's memory
 * (valid only during the call that lent them) into its own. Returns 0 or
 * -ENOMEM. */
static int fh_seg_own(fh_seg *g) {
    size_t rest = g->len - g->off;
    uint8_t *heap;
    if (!g->borrowed) return 0;
    heap = malloc(rest > 0 ? rest : 1);
    if (heap == NULL) return -ENOMEM;
    memcpy(heap, g->ptr + g->off, rest);
    g->ptr = g->heap = heap;
    g->len = rest;
    g->off = 0;
    g->borrowed = 0;
    return 0;
}

/* Makes room for `total` more bytes in the buffer of a place that is written
 * over time (a stream, a takeover, a WebSocket's frames): a buffer written
 * out starts again at 0, one partly written is compacted before it grows
 * (doubling, from 4 KiB). Returns 0, or -ENOMEM (the buffer is as it was). */
static int fh_seg_reserve(fh_seg *g, size_t total) {
    size_t ncap;
    uint8_t *nb;
    if (g->off > 0 && g->off == g->len) g->off = g->len = 0;
    if (g->len + total <= g->cap) return 0;
    if (g->off > 0) { /* compact first */
        memmove(g->heap, g->heap + g->off, g->len - g->off);
        g->len -= g->off;
        g->off = 0;
    }
    ncap = g->cap ? g->cap : 4096;
    while (ncap < g->len + total) ncap *= 2;
    if (ncap != g->cap) {
        nb = realloc(g->heap, ncap);
        if (nb == NULL) return -ENOMEM;
        g->heap = nb;
        g->cap = ncap;
    }
    return 0;
}

/* Appends bytes to a stream's (or takeover's) buffer; with `chunked`, framed
 * as one chunk (RFC 9112 §7.1: size line, data, CRLF), all or nothing. The
 * first bytes of a stream are a response head: the keep-alive decision reads
 * it. Returns 0, -ENOBUFS when the bytes would put the writer more than
 * FH_STREAM_BUFFER_MAX ahead of the socket (nothing was taken; an empty
 * buffer always takes them), or -ENOMEM. */
static int fh_stream_append(fh_seg *g, const uint8_t *bytes, size_t n, int chunked) {
    char line[24];
    size_t buffered, total, ll = 0;
    if (n == 0) return 0;
    if (chunked) {
        static const char hex[] = "0123456789abcdef";
        size_t v = n, k;
        char rev[20];
        while (v > 0) {
            rev[ll++] = hex[v & 15];
            v >>= 4;
        }
        for (k = 0; k < ll; k++) line[k] = rev[ll - 1 - k];
        line[ll++] = '\r';
        line[ll++] = '\n';
    }
    total = n + (chunked ? ll + 2 : 0);
    buffered = g->len - g->off;
    if (buffered > 0 && buffered + total > FH_STREAM_BUFFER_MAX) return -ENOBUFS;
    if (!g->headed && g->kind == FH_SEG_STREAM) {
        g->headed = 1;
        if (!fh_persists(g->req, FH_RF_RAW | (g->close ? FH_RF_CLOSE : 0), bytes, n)) g->close = 1;
    }
    if (fh_seg_reserve(g, total) < 0) return -ENOMEM;
    if (chunked) {
        memcpy(g->heap + g->len, line, ll);
        g->len += ll;
    }
    memcpy(g->heap + g->len, bytes, n);
    g->len += n;
    if (chunked) {
        g->heap[g->len++] = '\r';
        g->heap[g->len++] = '\n';
    }
    g->ptr = g->heap;
    return 0;
}

/* Retires the head place; closes after it if it says so. Returns -1 when the
 * connection is closing, else 1. */
static int fh_retire_head(fh_server *s, fh_conn *c) {
    int closing = fh_seg_at(c, 0)->close;
    fh_seg_pop(s, c);
    if (closing) {
        fh_conn_linger(s, c);
        return -1;
    }
    return 1;
}

/* Writes a stream, a takeover, a WebSocket's frames or a file at the head of the queue. Returns 1
 * when it was retired (go on), 0 when it waits (for bytes or writability),
 * -1 when the connection was closed. */
static int fh_flush_special(fh_server *s, fh_conn *c, fh_seg *g) {
    if (g->kind == FH_SEG_TAKEOVER && c->state != FH_RAW) {
        /* Everything before it is written: the connection is the handler's now,
         * with whatever bytes the client sent after the request. */
        fh_conn_enter(s, c, FH_RAW);
        /* The request is over: its arena goes back (poisoned in debug mode). */
        if (g->slab >= 0) fh_pool_release(&s->pool, g->slab);
        g->slab = -1;
        fh_notify(s, FH_EV_TAKEN, c, fh_seg_seq(c, 0));
        if (c->rlen > 0) fh_notify(s, FH_EV_DATA, c, fh_seg_seq(c, 0));
    } else if (g->kind == FH_SEG_WEBSOCKET && c->state != FH_WEBSOCKET) {
        /* Everything before it is written: its 101 goes now, and the
         * connection is a WebSocket. The request's arena goes back. */
        if (g->slab >= 0) fh_pool_release(&s->pool, g->slab);
        g->slab = -1;
        fh_ws_opened(s, c);
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
        fh_notify(s, g->kind == FH_SEG_WEBSOCKET ? FH_EV_WS_DRAIN : FH_EV_DRAIN, c, fh_seg_seq(c, 0));
    }
    if (!g->ended) return 0;
    if (g->kind == FH_SEG_TAKEOVER || g->kind == FH_SEG_WEBSOCKET) {
        fh_conn_linger(s, c); /* ends when its taker closes it: FIN, then the peer's */
        return -1;
    }
    return fh_retire_head(s, c);
}

/* Writes the ready answers at the head of the queue, several per sendmsg,
 * then settles the connection (which may close it). */
static void fh_conn_flush(fh_server *s, fh_conn *c) {
    struct iovec iov[FH_IOV_MAX];
    if (!c->blocked) c->last_ms = s->now_ms; /* the write timeout runs from here */
    for (;;) {
        uint32_t i, n = 0;
        size_t total = 0;
        ssize_t w;
        int closing = 0;
        fh_skip_held(s, c);
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
                i++; /* nothing after a closing answer is sent */
                break;
            }
        }
        if (i == 0) break;
        w = 0;
        if (total > 0) {
            if (n > 1 && total <= FH_GATHER_MAX && total <= (size_t)n * FH_GATHER_EACH) {
                /* Small answers (pipelined ones): one buffer, one sendto. */
                uint32_t j;
                size_t at = 0;
                for (j = 0; j < n; j++) {
                    memcpy(s->gather + at, iov[j].iov_base, iov[j].iov_len);
                    at += iov[j].iov_len;
                }
                iov[0].iov_base = s->gather;
                iov[0].iov_len = total;
                n = 1;
            }
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
            fh_seg_pop(s, c);
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
