/*
 * ws.c - a connection after its 101: state FH_WEBSOCKET.
 *
 * The upgrade's place (FH_SEG_WEBSOCKET) stays at the head of the queue for
 * the connection's life: its buffer is the frames going out, written by the
 * one write path (queue.c). What comes in goes through the reader (ws_read.c)
 * as it is read; each message or control frame it completes becomes a row of
 * the batch (FH_REQ_WS), its payload copied into a slab shared by the batch's
 * WebSocket rows and released with the batch. A row that finds no room (the
 * batch is full, the pool is empty) waits in the reader, and the connection
 * is not read until it is delivered: a client cannot make the server hold
 * more than one message and one receive buffer for it, and a read's
 * messages are delivered only as fast as the batches run (oven-sh/bun#32483:
 * Bun delivers what it has read whatever the app's handlers still hold).
 *
 * The core answers pings, runs the closing handshake (RFC 6455 §5.5.1, §7):
 * the peer's close is echoed, then FIN; our own close waits for the peer's
 * at most FH_WS_CLOSE_WAIT_MS; a protocol violation gets the close code the
 * reader found (1002, 1007, 1009) and the same handshake. The sweep sends
 * pings (sendPings) at half the idle timeout of silence and closes at the
 * whole of it.
 */

/* The connection's frames-out place: the last of its queue (nothing is
 * queued after a 101), at the head once it is open. */
static fh_seg *fh_ws_out(fh_conn *c) {
    fh_seg *g;
    if (c->qlen == 0) return NULL;
    g = fh_seg_at(c, c->qlen - 1);
    return g->kind == FH_SEG_WEBSOCKET ? g : NULL;
}

/* Appends a[0, an) then b[0, bn) to the place's buffer. Returns 0 or -ENOMEM. */
static int fh_ws_append(fh_seg *g, const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    if (fh_seg_reserve(g, an + bn) < 0) return -ENOMEM;
    if (an > 0) memcpy(g->heap + g->len, a, an);
    g->len += an;
    if (bn > 0) memcpy(g->heap + g->len, b, bn);
    g->len += bn;
    g->ptr = g->heap;
    return 0;
}

/* Queues one frame (compressed first when `compress` and agreed). Returns
 * the bytes buffered after it, or -ENOMEM. */
static int64_t fh_ws_frame(fh_server *s, fh_conn *c, fh_seg *g, int op, const uint8_t *p, size_t n, int compress) {
    uint8_t hdr[10];
    size_t hl;
    int rsv1 = 0;
    fh_wsc *w = c->ws;
    (void)s;
    if (compress && w->deflater != NULL && op != FH_WS_OP_CLOSE && op != FH_WS_OP_PING && op != FH_WS_OP_PONG) {
        int64_t z = fh_z_compress(w->deflater, p, n, &w->zbuf, &w->zcap);
        if (z < 0) return -ENOMEM;
        p = w->zbuf;
        n = (size_t)z;
        rsv1 = 1;
    }
    hl = fh_ws_header(hdr, op, rsv1, (uint64_t)n);
    if (fh_ws_append(g, hdr, hl, p, n) < 0) return -ENOMEM;
    return (int64_t)(g->len - g->off);
}

/* Queues our close frame (code 0: an empty body) and stops sending. */
static int fh_ws_send_close(fh_server *s, fh_conn *c, int code, const uint8_t *reason, size_t rlen) {
    fh_seg *g = fh_ws_out(c);
    uint8_t body[125];
    size_t n = 0;
    fh_wsc *w = c->ws;
    if (g == NULL || w->close_sent) return 0;
    if (code > 0) {
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)code;
        if (rlen > 123) rlen = 123;
        if (rlen > 0) memcpy(body + 2, reason, rlen);
        n = 2 + rlen;
    }
    w->close_sent = 1;
    w->close_ms = s->now_ms;
    return fh_ws_frame(s, c, g, FH_WS_OP_CLOSE, body, n, 0) < 0 ? -ENOMEM : 0;
}

/* The handshake is over (or given up): once the frames queued are written,
 * FIN (queue.c lingers when an ended WebSocket place is written). */
static void fh_ws_finish(fh_server *s, fh_conn *c) {
    fh_seg *g = fh_ws_out(c);
    if (g == NULL) {
        fh_conn_close(s, c);
        return;
    }
    g->ended = 1;
    if (!c->blocked) fh_conn_flush(s, c);
}

/* Fails the connection (RFC 6455 §7.1.7): a close frame with `code`, then FIN. */
static void fh_ws_fail(fh_server *s, fh_conn *c, int code) {
    fh_wsc *w = c->ws;
    if (!w->close_got && !w->close_sent) w->code = code;
    w->close_got = 1; /* nothing more is read */
    if (fh_ws_send_close(s, c, code, NULL, 0) < 0) {
        fh_conn_close(s, c);
        return;
    }
    fh_ws_finish(s, c);
}

/* Room for a row of `len` payload bytes: its place in the slab this batch's
 * WebSocket rows share (a new one when it is full). NULL when the batch or
 * the pool is full. */
static uint8_t *fh_ws_room(fh_server *s, size_t len, int32_t *slab, size_t *off) {
    size_t at = (s->wslab_used + 7) & ~(size_t)7;
    if (s->ndesc >= s->desc_cap) return NULL;
    if (s->wslab < 0 || at + len > s->wslab_size) {
        size_t want = len > s->pool.slab_size ? len : s->pool.slab_size;
        int32_t id;
        if (fh_grow((void **)&s->wslabs, &s->wslabs_cap, sizeof(int32_t), s->nwslabs + 1) < 0) return NULL;
        id = fh_pool_acquire(&s->pool, want);
        if (id < 0) return NULL;
        s->wslabs[s->nwslabs++] = id;
        s->wslab = id;
        s->wslab_size = fh_pool_size(&s->pool, id);
        at = 0;
    }
    s->wslab_used = at + len;
    *slab = s->wslab;
    *off = at;
    return fh_pool_ptr(&s->pool, s->wslab) + at;
}

/* Gives back the slabs of the batch's WebSocket rows (JavaScript has run
 * them all: what it kept, it copied). */
static void fh_ws_release_rows(fh_server *s) {
    int i;
    for (i = 0; i < s->nwslabs; i++) fh_pool_release(&s->pool, s->wslabs[i]);
    s->nwslabs = 0;
    s->wslab = -1;
    s->wslab_used = s->wslab_size = 0;
}

/* Adds a row for c: opcode `op`, payload p[0, n), close code `code`.
 * Returns 0, or -1 when there is no room in this batch. */
/* Fills the next row for c: its payload is [off, off+n) of `slab`. */
static void fh_ws_row_at(fh_server *s, fh_conn *c, int op, int32_t slab, size_t off, size_t n, int code) {
    int32_t *d = s->desc + (size_t)s->ndesc * FH_D_SIZE;
    memset(d, 0, sizeof(int32_t) * FH_D_SIZE);
    d[FH_D_FD] = c->fd;
    d[FH_D_GEN] = (int32_t)c->gen;
    d[FH_D_SLAB] = slab;
    d[FH_D_LEN] = (int32_t)n;
    d[FH_D_WS_OP] = op;
    d[FH_D_WS_CODE] = code;
    d[FH_D_WS_DATA] = (int32_t)off;
    d[FH_D_WS_DATA + 1] = (int32_t)n;
    d[FH_D_FLAGS] = FH_REQ_WS;
    d[FH_D_RKIND] = FH_R_WS;
    s->ndesc++;
    c->ws->row_poll = s->polls;
}

static int fh_ws_row(fh_server *s, fh_conn *c, int op, const uint8_t *p, size_t n, int code) {
    int32_t slab = -1;
    size_t off = 0;
    uint8_t *dst = fh_ws_room(s, n, &slab, &off);
    if (dst == NULL) return -1;
    if (n > 0) memcpy(dst, p, n);
    fh_ws_row_at(s, c, op, slab, off, n, code);
    return 0;
}

/* Copies n masked bytes from src to dst, unmasking them with mask[0, 4)
 * (from its first byte), 32 bytes a loop where it can (TinyCC does not
 * unroll or vectorise). */
static void fh_ws_unmask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t *mask) {
    uint8_t m8[8];
    uint64_t m;
    size_t k = 0;
    memcpy(dst, src, n);
    memcpy(m8, mask, 4);
    memcpy(m8 + 4, mask, 4);
    memcpy(&m, m8, 8);
    for (; k + 32 <= n; k += 32) {
        FH_STORE64(dst + k, FH_LOAD64(dst + k) ^ m);
        FH_STORE64(dst + k + 8, FH_LOAD64(dst + k + 8) ^ m);
        FH_STORE64(dst + k + 16, FH_LOAD64(dst + k + 16) ^ m);
        FH_STORE64(dst + k + 24, FH_LOAD64(dst + k + 24) ^ m);
    }
    for (; k + 8 <= n; k += 8) FH_STORE64(dst + k, FH_LOAD64(dst + k) ^ m);
    for (; k < n; k++) dst[k] ^= mask[k & 3];
}

/* Decompresses the complete message in the reader in place of itself (so
 * that a retry, when its row found no room, does not inflate twice) and
 * checks a text's UTF-8. Returns 0 or the close code to fail with. */
static int fh_ws_inflate(fh_conn *c) {
    fh_wsc *w = c->ws;
    fh_wsr *r = &w->r;
    int64_t n;
    uint8_t *t;
    size_t tc;
    if (w->inflater == NULL) return FH_WS_CLOSE_PROTOCOL;
    n = fh_z_decompress(w->inflater, r->msg, r->msg_len, &w->zbuf, &w->zcap, r->max_payload);
    if (n < 0) return (int)-n;
    t = r->msg; /* swap: the reader's buffer becomes the scratch one */
    tc = r->msg_cap;
    r->msg = w->zbuf;
    r->msg_cap = w->zcap;
    r->msg_len = (size_t)n;
    w->zbuf = t;
    w->zcap = tc;
    r->msg_rsv1 = 0;
    if (r->msg_op == FH_WS_OP_TEXT) {
        uint32_t st = FH_UTF8_ACCEPT;
        if (fh_utf8_step(&st, r->msg, r->msg_len) < 0 || st != FH_UTF8_ACCEPT) return FH_WS_CLOSE_INVALID_DATA;
    }
    return 0;
}

/* Acts on what the reader stopped at. Returns 1 when it is done (the reader
 * goes on), 0 when its row found no room (it waits; nothing more is read),
 * -1 when the connection is closing or closed (nothing more is read). */
static int fh_ws_got(fh_server *s, fh_conn *c) {
    fh_wsc *w = c->ws;
    fh_wsr *r = &w->r;
    fh_seg *g;
    int rc;
    /* A close (the peer's, or for a violation) waits for the next poll when
     * this one gave the connection rows: their handlers run first, and may
     * still send (an echo before the close). */
    if ((r->got == FH_WSR_ERROR || r->got == FH_WSR_CLOSE) && !w->acted && w->row_poll == s->polls && s->ndesc > 0)
        return 0;
    switch (r->got) {
    case FH_WSR_ERROR:
        w->pending = 0;
        fh_ws_fail(s, c, r->error);
        return -1;
    case FH_WSR_MESSAGE:
        if (w->close_sent) break; /* closing: what comes now is not delivered */
        if (r->msg_rsv1 && (rc = fh_ws_inflate(c)) != 0) {
            w->pending = 0;
            fh_ws_fail(s, c, rc);
            return -1;
        }
        if (fh_ws_row(s, c, r->msg_op, r->msg, r->msg_len, 0) < 0) return 0;
        break;
    case FH_WSR_PING:
        if (!w->acted && !w->close_sent && (g = fh_ws_out(c)) != NULL) {
            if (fh_ws_frame(s, c, g, FH_WS_OP_PONG, r->ctl, r->ctl_len, 0) < 0) {
                fh_conn_close(s, c);
                return -1;
            }
            if (!s->in_batch && !c->blocked) {
                fh_conn_flush(s, c);
                if (c->state != FH_WEBSOCKET) return -1;
            } else {
                fh_mark_dirty(s, c);
            }
        }
        w->acted = 1;
        if ((w->opts & FH_WSO_PING_ROWS) && !w->close_sent && fh_ws_row(s, c, FH_WS_OP_PING, r->ctl, r->ctl_len, 0) < 0)
            return 0;
        break;
    case FH_WSR_PONG:
        if ((w->opts & FH_WSO_PONG_ROWS) && !w->close_sent && fh_ws_row(s, c, FH_WS_OP_PONG, r->ctl, r->ctl_len, 0) < 0)
            return 0;
        break;
    case FH_WSR_CLOSE: {
        size_t rl = r->ctl_len > 2 ? (size_t)r->ctl_len - 2 : 0;
        if (!w->acted) {
            w->acted = 1;
            if (!w->close_sent) w->code = r->close_code;
            /* Echo the code and reason (RFC 6455 §5.5.1, as Bun does); an empty close is answered empty. */
            if (fh_ws_send_close(s, c, r->close_code == FH_WS_CLOSE_NO_STATUS ? 0 : r->close_code, r->ctl + 2, rl) < 0) {
                fh_conn_close(s, c);
                return -1;
            }
            w->close_got = 1;
        }
        if (fh_ws_row(s, c, FH_WS_OP_CLOSE, r->ctl + 2, rl, r->close_code) < 0) return 0;
        w->pending = 0;
        w->acted = 0;
        fh_ws_finish(s, c);
        return -1;
    }
    default:
        break;
    }
    w->pending = 0;
    w->acted = 0;
    fh_wsr_next(r);
    return 1;
}

/* Feeds buf[0, len) (the loop's receive buffer, or c's own) to the reader
 * and acts on what it completes; keeps what could not be taken yet in c's
 * own buffer, and lists c to be resumed when a row waits for room. */
static void fh_ws_feed(fh_server *s, fh_conn *c, uint8_t *buf, size_t len) {
    fh_wsc *w = c->ws;
    size_t pos = 0;
    int own = buf == c->rbuf;
    for (;;) {
        if (w->pending) {
            int r = fh_ws_got(s, c);
            if (r < 0) return; /* closing: the bytes after are dropped */
            if (r == 0) break;
        }
        if (pos >= len || w->close_got) break;
        if (w->r.phase == 0 && w->r.hlen == 0 && !w->r.in_msg && !w->close_sent && len - pos >= 6) {
            /* The usual frame, taken here in one piece (TinyCC inlines
             * nothing): a whole masked text or binary message of at most
             * 125 bytes, FIN, no RSV bit. Anything else, or no room for its
             * row, goes through the reader below, which checks everything. */
            const uint8_t *p = buf + pos;
            size_t n = p[1] & 0x7f;
            int op = p[0] & 0x0f;
            int plain = (p[0] & 0xf0) == 0x80 && (p[1] & 0x80); /* FIN, no RSV, masked */
            if (plain && (op == FH_WS_OP_TEXT || op == FH_WS_OP_BINARY) && n < 126 && len - pos >= 6 + n &&
                (uint64_t)n <= w->r.max_payload) {
                uint8_t tmp[128];
                uint32_t st = FH_UTF8_ACCEPT;
                fh_ws_unmask_copy(tmp, p + 6, n, p + 2);
                if ((op == FH_WS_OP_BINARY || (fh_utf8_step(&st, tmp, n) == 0 && st == FH_UTF8_ACCEPT)) &&
                    fh_ws_row(s, c, op, tmp, n, 0) == 0) {
                    pos += 6 + n;
                    w->rx_ms = s->now_ms;
                    w->pinged = 0;
                    continue;
                }
            } else if (plain && op == FH_WS_OP_BINARY && n == 126 && len - pos >= 8) {
                /* A binary message of up to 64 KiB: unmasked straight into its row's slab. */
                size_t m16 = ((size_t)p[2] << 8) | p[3];
                int32_t slab;
                size_t off;
                uint8_t *dst;
                if (len - pos >= 8 + m16 && (uint64_t)m16 <= w->r.max_payload && (dst = fh_ws_room(s, m16, &slab, &off)) != NULL) {
                    fh_ws_unmask_copy(dst, p + 8, m16, p + 4);
                    fh_ws_row_at(s, c, op, slab, off, m16, 0);
                    pos += 8 + m16;
                    w->rx_ms = s->now_ms;
                    w->pinged = 0;
                    continue;
                }
            }
        }
        pos += fh_wsr_feed(&w->r, buf + pos, len - pos);
        w->rx_ms = s->now_ms;
        w->pinged = 0;
        if (w->r.got != FH_WSR_NONE) w->pending = 1;
    }
    if (own) {
        if (pos > 0) memmove(c->rbuf, c->rbuf + pos, len - pos);
        c->rlen = len - pos;
    } else if (len > pos && fh_keep_bytes(c, buf + pos, len - pos, 0) < 0) {
        fh_conn_close(s, c);
        return;
    }
    if (c->rlen == 0 && c->rbuf != NULL) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
    if (w->pending || c->rlen > 0) fh_list_ready(s, c);
    fh_conn_settle(s, c);
}

/* Writes an open WebSocket's frames at the end of a batch: what
 * fh_conn_flush does for it, in one piece (one sendmsg; a broadcast makes a
 * thousand of these per batch). Anything unusual goes the general way. */
static void fh_ws_write(fh_server *s, fh_conn *c) {
    fh_seg *g = c->qlen == 1 ? fh_seg_at(c, 0) : NULL;
    struct iovec v;
    ssize_t w;
    if (g == NULL || g->kind != FH_SEG_WEBSOCKET || c->state != FH_WEBSOCKET || g->ended || c->blocked) {
        fh_conn_flush(s, c);
        return;
    }
    if (g->off < g->len) {
        v.iov_base = (void *)(g->ptr + g->off);
        v.iov_len = g->len - g->off;
        w = fh_sendv(c->fd, &v, 1);
        if (w == -EAGAIN || w == -EWOULDBLOCK) {
            c->blocked = 1;
            fh_conn_settle(s, c); /* watch for writability */
            return;
        }
        if (w < 0) {
            fh_conn_close(s, c);
            return;
        }
        g->off += (size_t)w;
        c->last_ms = s->now_ms;
        if (g->off < g->len) { /* a short write: the socket buffer is full */
            c->blocked = 1;
            fh_conn_settle(s, c);
            return;
        }
    }
    g->off = g->len = 0;
    if (g->drain_wanted) {
        g->drain_wanted = 0;
        fh_notify(s, FH_EV_WS_DRAIN, c, fh_seg_seq(c, 0));
    }
}

/* Whether c is read: not while a row waits for room, or bytes of its own
 * wait to be fed, or after the peer's close. */
static int fh_ws_reading(fh_conn *c) {
    return c->ws != NULL && !c->eof && !c->ws->pending && !c->ws->close_got && !c->ws->paused && c->rlen == 0;
}

/* The ready list: a row that waited, or bytes kept (what followed the
 * upgrade request, or the rest of a read that filled the batch). */
static void fh_ws_resume(fh_server *s, fh_conn *c) {
    if (c->ws != NULL && c->ws->doomed) {
        fh_conn_close(s, c);
        return;
    }
    if (c->ws == NULL || c->ws->paused) return;
    fh_ws_feed(s, c, c->rbuf, c->rlen);
}

/* The connection is readable. */
static void fh_ws_recv(fh_server *s, fh_conn *c, int mask) {
    ssize_t r;
    if (mask & FH_HUP) {
        fh_conn_close(s, c);
        return;
    }
    if (!fh_ws_reading(c)) {
        fh_conn_settle(s, c);
        return;
    }
    r = fh_recv(c->fd, s->rbuf, s->rbuf_cap);
    if (r > 0) {
        c->last_ms = s->now_ms;
        fh_ws_feed(s, c, s->rbuf, (size_t)r);
    } else if (r == 0 || (r != -EAGAIN && r != -EWOULDBLOCK)) {
        c->eof = 1;
        fh_conn_close(s, c); /* gone without (or after) the closing handshake */
    }
}

/* The 101 reached the head of the queue and is being written: the
 * connection is a WebSocket from here on. */
static void fh_ws_opened(fh_server *s, fh_conn *c) {
    fh_conn_enter(s, c, FH_WEBSOCKET);
    c->ws->rx_ms = s->now_ms; /* (JavaScript has opened it already: in upgrade(), as Bun) */
    if (c->rlen > 0) fh_list_ready(s, c); /* frames that came with the upgrade: read at the next poll */
}

/* Timeouts: the peer's close that does not come, and silence (a ping at
 * half the idle timeout, with sendPings; closed at the whole of it). */
static void fh_ws_sweep(fh_server *s, fh_conn *c, int64_t now) {
    fh_wsc *w = c->ws;
    fh_seg *g;
    if (w->close_sent) {
        if (now - w->close_ms > FH_WS_CLOSE_WAIT_MS) fh_conn_close(s, c);
        return;
    }
    if (w->idle_ms <= 0) return;
    if (w->paused) {
        w->rx_ms = now; /* paused by the app: its silence is not the client's (the timeout is suspended, as Bun's) */
        return;
    }
    if (now - w->rx_ms > w->idle_ms) {
        fh_conn_close(s, c);
        return;
    }
    if ((w->opts & FH_WSO_PINGS) && !w->pinged && now - w->rx_ms > w->idle_ms / 2 && (g = fh_ws_out(c)) != NULL) {
        w->pinged = 1;
        if (fh_ws_frame(s, c, g, FH_WS_OP_PING, NULL, 0, 0) < 0) {
            fh_conn_close(s, c);
            return;
        }
        if (!c->blocked) fh_conn_flush(s, c);
    }
}

/* A graceful stop: 1001 Going Away, then the handshake. */
static void fh_ws_stop(fh_server *s, fh_conn *c) {
    if (c->ws == NULL || c->ws->close_sent) return;
    if (fh_ws_send_close(s, c, 1001, NULL, 0) < 0) {
        fh_conn_close(s, c);
        return;
    }
    if (!c->blocked) fh_conn_flush(s, c);
}

/* A forced stop: 1001 "Server closed" if the socket takes it now, then
 * closed at once without waiting for an answer (the close handler gets 1001). */
static void fh_ws_kill(fh_server *s, fh_conn *c) {
    static const uint8_t why[] = "Server closed";
    if (c->ws != NULL && !c->ws->close_sent) {
        if (!c->ws->close_got) c->ws->code = 1001;
        if (fh_ws_send_close(s, c, 1001, why, sizeof(why) - 1) == 0 && !c->blocked) {
            fh_seg *g = fh_ws_out(c);
            if (g != NULL && g->off < g->len) {
                struct iovec v;
                v.iov_base = (void *)(g->ptr + g->off);
                v.iov_len = g->len - g->off;
                (void)fh_sendv(c->fd, &v, 1); /* what the socket takes now; the rest is dropped with it */
            }
        }
    }
    fh_conn_close(s, c);
}

/* Frees what c's WebSocket holds (with the connection). */
static void fh_ws_free(fh_server *s, fh_conn *c) {
    fh_wsc *w = c->ws;
    (void)s;
    if (w == NULL) return;
    fh_wsr_free(&w->r);
    if (w->own_z & 1) fh_z_free(w->deflater);
    if (w->own_z & 2) fh_z_free(w->inflater);
    free(w->zbuf);
    free(w);
    c->ws = NULL;
}

/* ---- the calls JavaScript makes (src/ffi.ts) -------------------------------- */

/*
 * Answers request `seq` with a 101 (the arena's [off, off+len) of slab
 * `data_slab`) that makes the connection a WebSocket once every earlier
 * answer is written (JavaScript opens its socket at once, in upgrade(), as Bun does). `max_payload` is maxPayloadLength,
 * `limit` backpressureLimit, `idle_ms` idleTimeout (0: none), `opts`
 * FH_WSO_*, `zopts` the agreed permessage-deflate (FH_WSZ_*; bits 0-3 and
 * 4-7 the server's and client's window bits). Returns 1 when connections
 * wait to be parsed, 0, -EPIPE when the connection is gone, -ENOMEM, or
 * -ENOSYS when deflate was agreed but zlib cannot be loaded.
 */
int fh_ws_accept(fh_server *s, int fd, int gen, int seq, int slab, int data_slab, int off, int len, double max_payload,
                 double limit, double idle_ms, int opts, int zopts) {
    fh_conn *c = NULL;
    uint32_t idx = 0;
    uint8_t *head = NULL;
    fh_wsc *w;
    fh_seg *g = fh_answer_begin(s, fd, gen, seq, slab, data_slab, off, len, max_payload >= 0 && limit >= 0 && idle_ms >= 0,
                                &c, &idx, &head);
    if (g == NULL) return -EPIPE;
    if ((opts & FH_WSO_DEFLATE) && fh_z_load() < 0) {
        fh_pool_release(&s->pool, slab);
        return -ENOSYS;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        fh_pool_release(&s->pool, slab);
        return -ENOMEM;
    }
    w->r.max_payload = (uint64_t)max_payload;
    w->r.need_mask = 1;
    w->r.rsv1_ok = (opts & FH_WSO_DEFLATE) != 0;
    w->limit = (int64_t)limit;
    w->idle_ms = (int64_t)idle_ms;
    w->opts = opts;
    w->code = FH_WS_CLOSE_ABNORMAL;
    if (opts & FH_WSO_DEFLATE) {
        int sbits = zopts & 15, cbits = (zopts >> 4) & 15;
        int stake = (zopts & FH_WSZ_SERVER_TAKEOVER) != 0, ctake = (zopts & FH_WSZ_CLIENT_TAKEOVER) != 0;
        (void)cbits; /* a 15-bit inflate window reads any smaller window */
        if (!stake && sbits == 15) {
            if (s->zdef == NULL) s->zdef = fh_z_deflater(15, 0);
            w->deflater = s->zdef;
        } else {
            w->deflater = fh_z_deflater(sbits, stake);
            w->own_z |= 1;
        }
        if (!ctake) {
            if (s->zinf == NULL) s->zinf = fh_z_inflater(15, 0);
            w->inflater = s->zinf;
        } else {
            w->inflater = fh_z_inflater(15, 1);
            w->own_z |= 2;
        }
        if (w->deflater == NULL || w->inflater == NULL) {
            c->ws = w;
            fh_ws_free(s, c);
            fh_pool_release(&s->pool, slab);
            return -ENOMEM;
        }
    }
    if (w->idle_ms > 0 && fh_sweep_period(w->idle_ms / 2) < s->sweep_ms) s->sweep_ms = fh_sweep_period(w->idle_ms / 2);
    c->ws = w;
    g->ready = 1;
    g->kind = FH_SEG_WEBSOCKET;
    g->slab = slab;
    g->close = 1;
    fh_conn_last(s, c); /* nothing after it is HTTP */
    if (fh_ws_append(g, head, (size_t)len, NULL, 0) < 0) {
        fh_conn_close(s, c);
        return -EPIPE;
    }
    return fh_answered(s, c, idx);
}

/* The open WebSocket fd/gen (or one accepted, not yet open), or NULL. */
static fh_conn *fh_ws_conn(fh_server *s, int fd, int gen) {
    fh_conn *c = fh_lookup(s, fd, (uint32_t)gen);
    if (c == NULL || c->ws == NULL || c->state == FH_LINGERING) return NULL;
    return c;
}

/* Writes c's frames now, or with the batch (in a batch, or corked) while
 * they are at most FH_WS_CORK_MAX: more is written at once, so that a
 * handler that sends a lot meets backpressure as it sends, as in Bun. */
static void fh_ws_push(fh_server *s, fh_conn *c, fh_seg *g, int cork) {
    if ((cork || s->in_batch) && g->len - g->off <= FH_WS_CORK_MAX) fh_mark_dirty(s, c);
    else if (!c->blocked) fh_conn_flush(s, c);
}

/* What the socket has not taken (getBufferedAmount): what waits behind
 * backpressure; frames only held for the batch's one write are not counted
 * (as uWebSockets does not count its cork buffer). */
static int64_t fh_ws_unsent(fh_conn *c, fh_seg *g) { return c->blocked ? (int64_t)(g->len - g->off) : 0; }

/*
 * Sends one message (opcode TEXT or BINARY, or PING / PONG) as Bun's
 * ws.send: returns the bytes of the message (all of it is sent, in the
 * socket's buffer or held for the batch's write; 0 for an empty one), -1
 * when it is queued behind backpressure (the socket took less than it was
 * given: FH_EV_WS_DRAIN comes), 0 when it is dropped (more than
 * backpressureLimit was already waiting; with closeOnBackpressureLimit the
 * connection is then closed; or the connection is closing or gone).
 * flags: FH_WSS_*.
 */
int fh_ws_send(fh_server *s, int fd, int gen, int op, const uint8_t *bytes, int n, int flags) {
    fh_conn *c = fh_ws_conn(s, fd, gen);
    fh_seg *g;
    if (c == NULL || c->ws->close_sent || n < 0 || (g = fh_ws_out(c)) == NULL) return 0;
    if ((op == FH_WS_OP_PING || op == FH_WS_OP_PONG) && n > 125) return 0;
    /* No clock read here (a send is the hot path): s->now_ms is the batch's, or the last call's. */
    if (c->ws->doomed) return 0;
    if (c->ws->limit > 0 && fh_ws_unsent(c, g) > c->ws->limit) {
        if (c->ws->opts & FH_WSO_CLOSE_ON_LIMIT) {
            /* Closed at the next poll, not in the middle of the app's code (as Bun). */
            c->ws->doomed = 1;
            fh_list_ready(s, c);
        }
        return 0;
    }
    if (fh_ws_frame(s, c, g, op, bytes, (size_t)n, (flags & FH_WSS_COMPRESS) != 0) < 0) {
        fh_conn_close(s, c);
        return 0;
    }
    if (c->state == FH_WEBSOCKET) fh_ws_push(s, c, g, flags & FH_WSS_CORK);
    c = fh_ws_conn(s, fd, gen);
    if (c == NULL) return 0; /* the write found it gone */
    if (c->blocked) {
        /* The socket took less than it was given: backpressure, drain comes. */
        g = fh_ws_out(c);
        if (g != NULL) g->drain_wanted = 1;
        return -1;
    }
    return n;
}

/* ws.pause() (on 1) / ws.resume() (on 0): while paused nothing is read or
 * delivered. Returns 1 when bytes kept wait to be read (poll soon), 0, or
 * -EPIPE when the connection is gone. */
int fh_ws_pause(fh_server *s, int fd, int gen, int on) {
    fh_conn *c = fh_ws_conn(s, fd, gen);
    if (c == NULL) return -EPIPE;
    c->ws->paused = on != 0;
    if (!on && (c->rlen > 0 || c->ws->pending)) fh_list_ready(s, c);
    if (c->state == FH_WEBSOCKET) fh_conn_settle(s, c);
    return s->nready > 0;
}

/* The servers that send through their scratch (fh_ws_send_s), by sid. One
 * table per compiled core, that is per JavaScript thread. */
static fh_server *fh_sids[FH_SIDS];

/* Gives the server a sid and its scratch (once). Returns the scratch
 * (FH_WS_SCRATCH bytes; its sid in out[0], -1 when the table is full), or
 * NULL out of memory. */
uint8_t *fh_ws_scratch(fh_server *s, int32_t *out) {
    int i;
    if (s->wsout == NULL && (s->wsout = malloc(FH_WS_SCRATCH)) == NULL) return NULL;
    if (s->sid < 0) {
        for (i = 0; i < FH_SIDS; i++) {
            if (fh_sids[i] == NULL) {
                fh_sids[i] = s;
                s->sid = i;
                break;
            }
        }
    }
    out[0] = s->sid;
    return s->wsout;
}

static void fh_ws_unregister(fh_server *s) {
    if (s->sid >= 0 && s->sid < FH_SIDS && fh_sids[s->sid] == s) fh_sids[s->sid] = NULL;
    s->sid = -1;
    free(s->wsout);
    s->wsout = NULL;
}

/* fh_ws_send of the n bytes JavaScript wrote at the start of server sid's
 * scratch; `opflags` is the opcode | FH_WSS_* << 8. */
int fh_ws_send_s(int sid, int fd, int gen, int opflags, int n) {
    fh_server *s;
    fh_conn *c;
    fh_seg *g;
    int op = opflags & 0xff, flags = opflags >> 8;
    if (sid < 0 || sid >= FH_SIDS || (s = fh_sids[sid]) == NULL || n < 0 || n > FH_WS_SCRATCH) return 0;
    /* The usual case, written here in one piece (TinyCC inlines nothing): a
     * message to an open socket with room, held for the batch's write. The
     * same as fh_ws_send takes it, minus the calls. */
    c = fh_lookup(s, fd, (uint32_t)gen);
    if (c != NULL && c->state == FH_WEBSOCKET && c->ws != NULL && !c->ws->close_sent && !c->ws->doomed && !c->blocked &&
        (op == FH_WS_OP_TEXT || op == FH_WS_OP_BINARY) && !((flags & FH_WSS_COMPRESS) && c->ws->deflater != NULL) &&
        ((flags & FH_WSS_CORK) || s->in_batch) && (g = fh_ws_out(c)) != NULL) {
        size_t total = 10 + (size_t)n; /* a header is at most 10 bytes */
        if (g->off > 0 && g->off == g->len) g->off = g->len = 0;
        if (g->heap != NULL && g->len + total <= g->cap && g->len - g->off + total <= FH_WS_CORK_MAX) {
            size_t hl = fh_ws_header(g->heap + g->len, op, 0, (uint64_t)n);
            memcpy(g->heap + g->len + hl, s->wsout, (size_t)n);
            g->len += hl + (size_t)n;
            g->ptr = g->heap;
            fh_mark_dirty(s, c);
            return n;
        }
    }
    return fh_ws_send(s, fd, gen, op, s->wsout, n, flags);
}

/* Writes what a cork buffered. */
int fh_ws_flush(fh_server *s, int fd, int gen) {
    fh_conn *c = fh_ws_conn(s, fd, gen);
    if (c == NULL) return -EPIPE;
    if (!s->in_batch && !c->blocked && c->state == FH_WEBSOCKET) fh_conn_flush(s, c);
    return 0;
}

/* The bytes queued and not yet taken by the socket (getBufferedAmount), or
 * 0 when the connection is gone. */
double fh_ws_buffered(fh_server *s, int fd, int gen) {
    fh_conn *c = fh_ws_conn(s, fd, gen);
    fh_seg *g = c != NULL ? fh_ws_out(c) : NULL;
    return g == NULL ? 0 : (double)fh_ws_unsent(c, g);
}

/* ws.close(code, reason): our close frame (code 0: none), then the peer's,
 * then FIN; `terminate`: closes at once. Returns 0, or -EPIPE when gone. */
int fh_ws_close(fh_server *s, int fd, int gen, int code, const uint8_t *reason, int rlen, int terminate) {
    fh_conn *c = fh_ws_conn(s, fd, gen);
    if (c == NULL) return -EPIPE;
    s->now_ms = fh_now_ms();
    if (terminate) {
        fh_conn_close(s, c);
        return 0;
    }
    if (c->ws->close_sent) return 0;
    if (!c->ws->close_got) c->ws->code = code > 0 ? code : FH_WS_CLOSE_NO_STATUS;
    if (fh_ws_send_close(s, c, code, reason, rlen > 0 ? (size_t)rlen : 0) < 0) {
        fh_conn_close(s, c);
        return 0;
    }
    if (c->ws->close_got) fh_ws_finish(s, c);
    else if (c->state == FH_WEBSOCKET && !c->blocked) fh_conn_flush(s, c);
    return 0;
}

/* Loads the system zlib for permessage-deflate (at start-up, when the
 * server may agree to it). Returns 0, or -1 with the reason in out (NUL-ended). */
int fh_ws_zlib(uint8_t *out, int cap) {
    const char *e;
    size_t n;
    if (fh_z_load() == 0) return 0;
    if (cap <= 0) return -1;
    e = fh_z_error();
    n = strlen(e);
    if (n >= (size_t)cap) n = (size_t)cap - 1;
    memcpy(out, e, n);
    out[n] = 0;
    return -1;
}
