/*
 * frame.c - reading, framing and dispatching requests.
 *
 * A connection with no bytes of its own reads into the loop's receive buffer
 * (s->rbuf), which is parsed in place: every complete request is copied into
 * its arena slab and described in a descriptor row, and only what is left
 * (an incomplete request, or requests that did not fit in this batch) is
 * kept in the connection's own buffer. An idle keep-alive connection holds
 * no buffer at all.
 */

/* Whether bytes [0, n) begin a HEAD request (for a request whose head could
 * not be parsed: its error answer carries no body either). */
static int fh_starts_head(const uint8_t *p, size_t n) { return n >= 5 && memcmp(p, "HEAD ", 5) == 0; }

/* Copies one framed request into an arena and fills a descriptor row. A
 * negative body_len dispatches the head alone, for a body that streams
 * (FH_REQ_STREAM; body.c takes it from there); if the client waits for 100
 * Continue, a held place for it goes first. Returns 0, or -1 when no slab is
 * free (the connection waits on the ready list until one comes back). */
static int fh_dispatch(fh_server *s, fh_conn *c, const uint8_t *src, const fh_head *h, size_t total,
                       int64_t body_len) {
    int stream = body_len < 0;
    size_t req_len = (size_t)h->head_len + (stream ? 0 : (size_t)body_len);
    int32_t slab = fh_pool_acquire(&s->pool, req_len);
    int32_t flags = h->flags | (stream ? FH_REQ_STREAM : 0);
    uint8_t *dst;
    int32_t *d;
    fh_seg *g, *held = NULL;
    int hold = stream && (flags & FH_REQ_EXPECT_CONTINUE) && !c->continued; /* none sent for it yet */
    if (slab < 0) return -1;
    if (hold) {
        held = fh_seg_push(c);
        if (held != NULL) {
            held->ptr = (const uint8_t *)fh_resp_100;
            held->len = sizeof(fh_resp_100) - 1;
            held->held = 1;
        }
    }
    g = fh_seg_push(c);
    if (g == NULL || (hold && held == NULL)) {
        fh_pool_release(&s->pool, slab);
        fh_conn_close(s, c); /* out of memory */
        return -2;
    }
    /* The keep-alive decision, as far as the request goes: JavaScript builds
     * its heads from this bit. */
    if (s->stopping) flags &= ~FH_REQ_KEEP_ALIVE;
    g->req = flags;
    dst = fh_pool_ptr(&s->pool, slab);
    if (stream) {
        memcpy(dst, src, req_len);
        body_len = 0;
    } else if (h->flags & FH_REQ_CHUNKED) {
        int64_t dec = 0;
        int st = 0;
        memcpy(dst, src, (size_t)h->head_len);
        (void)fh_scan_chunked(src + h->head_len, total - (size_t)h->head_len, s->max_body, s->max_head,
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
    d[FH_D_FLAGS] = flags;
    d[FH_D_TARGET] = h->target_start;
    d[FH_D_TARGET + 1] = h->target_len;
    d[FH_D_RKIND] = FH_R_PENDING;
    d[FH_D_ROFF] = 0;
    d[FH_D_RLEN] = 0;
    d[FH_D_RFLAGS] = 0;
    s->ndesc++;
    if (c->state == FH_READING) fh_conn_enter(s, c, FH_ANSWERING);
    return 0;
}

/*
 * Frames every complete request in buf[0, len) into the batch. buf is the
 * loop's receive buffer or c's own; what is not consumed ends up in c's own
 * buffer (moved to its start). Then answers a framing error, lists the
 * connection if it stopped for want of room, and settles it.
 */
static void fh_parse_bytes(fh_server *s, fh_conn *c, const uint8_t *buf, size_t len) {
    size_t pos = 0;
    int waiting = 0; /* stopped for want of room, not of bytes */
    int err = 0;     /* the status of a request that cannot be served */
    int32_t err_req = 0;
    int last = 0;    /* no request is parsed after this one */
    int cont = 0;    /* 100 Continue is to be queued */
    int own = buf == c->rbuf;
    size_t slab_size = s->pool.slab_size;
    fh_head streamed;       /* the head of a request whose body streams */
    uint32_t streamed_seq = 0;
    streamed.head_len = 0;
    c->need = 0;
    while ((c->state == FH_READING || c->state == FH_ANSWERING) && !c->hold && pos < len) {
        fh_head h;
        const uint8_t *p = buf + pos;
        size_t avail = len - pos, total;
        int64_t body_len;
        int r;
        if (s->ndesc >= s->desc_cap || s->stopping) {
            waiting = !s->stopping;
            break;
        }
        if (s->routes != NULL) {
            /* The head a static route answered last, again: answered as it was (routes.c). */
            int32_t mflags = 0;
            r = fh_route_memo(s, c, p, avail, &mflags);
            if (r < 0) return; /* closed */
            if (r > 0) {
                pos += (size_t)r;
                if (!(mflags & FH_REQ_KEEP_ALIVE)) {
                    last = 1;
                    break;
                }
                continue;
            }
        }
        r = fh_scan_head(p, avail, s->max_head, &h);
        if (r == FH_INCOMPLETE) break;
        if (r == FH_ERROR) {
            err = h.status;
            err_req = fh_starts_head(p, avail) ? FH_REQ_HEAD : 0;
            break;
        }
        /* A body that fits in one slab with its head arrives whole; a larger
         * one streams (body.c): the head is dispatched now. A chunked body's
         * size is known once it is all here: it streams if it is not within
         * a slab's worth of bytes. Its lines are bounded by max_head here as
         * when it streams (fh_body_feed), so either way it gets the same
         * answer (413 for a chunk line too long, 431 for trailers). */
        if (h.flags & FH_REQ_CHUNKED) {
            int st = 0;
            int64_t n = fh_scan_chunked(p + r, avail - (size_t)r, s->max_body, s->max_head, NULL, &body_len, &st);
            if (n == FH_ERROR) {
                err = st;
                err_req = h.flags;
                break;
            }
            if (n == FH_INCOMPLETE) {
                if (avail > slab_size) {
                    body_len = -1;
                } else {
                    c->need = slab_size + 4096; /* read on until it is complete, or streams */
                    cont = (h.flags & FH_REQ_EXPECT_CONTINUE) && !c->continued;
                    break;
                }
            } else if ((size_t)r + (size_t)body_len > slab_size) {
                body_len = -1;
            }
            total = body_len < 0 ? (size_t)r : (size_t)r + (size_t)n;
        } else {
            int64_t cl = h.content_length < 0 ? 0 : h.content_length;
            if (cl > s->max_body) {
                err = 413;
                err_req = h.flags;
                break;
            }
            body_len = cl > 0 && (size_t)r + (size_t)cl > slab_size ? -1 : cl;
            total = (size_t)r + (size_t)(body_len < 0 ? 0 : cl);
        }
        if (body_len >= 0 && total > avail) {
            c->need = total;
            cont = (h.flags & FH_REQ_EXPECT_CONTINUE) && !c->continued;
            break;
        }
        if (s->routes != NULL && body_len >= 0) {
            /* A static route's answers are the core's (routes.c): no row, no JavaScript. */
            r = fh_route_answer(s, c, p, &h);
            if (r < 0) return; /* closed */
            if (r > 0) {
                pos += total;
                if (!(h.flags & FH_REQ_KEEP_ALIVE)) {
                    last = 1;
                    break;
                }
                continue;
            }
        }
        r = fh_dispatch(s, c, p, &h, total, body_len);
        if (r == -2) return; /* closed */
        if (r < 0) {
            waiting = 1;
            break;
        }
        c->continued = 0;
        pos += total;
        if (body_len < 0) { /* its body is read from here on (body.c): nothing after it is parsed yet */
            streamed = h;
            streamed_seq = c->seq_next - 1;
            break;
        }
        if (!(h.flags & FH_REQ_KEEP_ALIVE)) {
            last = 1;
            break;
        }
        if (h.flags & FH_REQ_UPGRADE) {
            /* What follows an upgrade (or CONNECT) may not be HTTP: keep it
             * (for a takeover, it is the taker's) and parse on only once this
             * answer is done. */
            c->hold = 1;
            break;
        }
    }
    /* Bytes of dispatched requests leave first, so that what stays is exactly
     * what follows them (also when an error ends the parse). */
    c->unparsed = 0;
    if (pos > 0) c->since_ms = s->now_ms; /* what is left is the start of the next request */
    if (own) {
        if (pos > 0) memmove(c->rbuf, c->rbuf + pos, len - pos);
        c->rlen = len - pos;
    } else if (len > pos) {
        if (fh_keep_bytes(c, buf + pos, len - pos, 0) < 0) {
            fh_conn_close(s, c);
            return;
        }
    }
    if (c->hold && c->rlen > 0) c->unparsed = 1; /* parsed once the upgrade's answer is done */
    if (c->rlen == 0 && c->rbuf != NULL) { /* nothing kept: an idle connection holds no buffer */
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
    if (streamed.head_len > 0) {
        if (fh_body_begin(s, c, &streamed, streamed_seq) < 0) return;
        if (c->state != FH_BODY) return; /* failed at once: answered, and written */
    } else if (err != 0) {
        if (fh_answer_status(s, c, NULL, err, err_req, 1) < 0) return;
    } else if (last) {
        fh_conn_last(s, c);
    } else if (cont) {
        if (fh_queue_continue(s, c) < 0) return;
    } else if (waiting) {
        c->unparsed = 1;
        fh_list_ready(s, c);
    }
    if (c->qlen > 0 && fh_seg_at(c, 0)->ready) fh_conn_flush(s, c); /* an error or 100 Continue at the head */
    else fh_conn_settle(s, c);
}

/* Parses the bytes c keeps (the ready list: requests that did not fit in the
 * last batch, or bytes read ahead while it answered). */
static void fh_parse(fh_server *s, fh_conn *c) { fh_parse_bytes(s, c, c->rbuf, c->rlen); }

/* Grows c's own buffer so that a read has room, up to what the request
 * being read may need. Returns the room, 0 when the buffer is at its bound. */
static size_t fh_read_room(fh_conn *c, size_t bound) {
    if (c->rlen < c->rcap) return c->rcap - c->rlen;
    if (c->rcap < bound) {
        size_t ncap = c->rcap * 2;
        if (ncap < 4096) ncap = 4096;
        if (ncap > bound) ncap = bound;
        if (fh_keep_bytes(c, NULL, 0, ncap) == 0) return c->rcap - c->rlen;
    }
    return 0;
}

/* Reads while the connection is taken over (for its taker) or answering
 * (ahead of the parser, bounded, so that a FIN or a reset is seen at once;
 * after the last request the bytes are kept only for a takeover, which gets
 * exactly what followed its request). */
static void fh_read_aside(fh_server *s, fh_conn *c, int mask) {
    int raw = c->state == FH_RAW;
    size_t bound = raw ? FH_RAW_BUFFER : fh_read_ahead(s);
    size_t room = fh_read_room(c, bound > c->rlen ? bound : c->rlen);
    ssize_t r;
    if (mask & FH_HUP) {
        /* Broken (a reset, an error) or shut both ways: not a half-close, the
         * client is gone. Whatever it sent last can no longer be answered. */
        fh_conn_close(s, c);
        return;
    }
    if (room == 0 || c->rlen >= bound) {
        fh_conn_settle(s, c); /* full: stop watching until it is taken or parsed */
        return;
    }
    r = fh_recv(c->fd, c->rbuf + c->rlen, room);
    if (r > 0) {
        c->rlen += (size_t)r;
        if (raw) {
            c->last_ms = s->now_ms;
            fh_notify(s, FH_EV_DATA, c, fh_seg_seq(c, 0));
        } else {
            c->unparsed = 1;
        }
    } else if (r == 0) {
        int first = !c->eof;
        c->eof = 1;
        if (raw) {
            fh_notify(s, FH_EV_END, c, fh_seg_seq(c, 0));
        } else if (fh_queue_has_stream(c)) {
            fh_conn_close(s, c); /* FIN during a stream: the client left */
            return;
        } else if (first) {
            fh_queue_fin(s, c);
        }
    } else if (r != -EAGAIN && r != -EWOULDBLOCK) {
        fh_conn_close(s, c); /* a reset: the client left */
        return;
    }
    fh_conn_settle(s, c);
}

static void fh_conn_read(fh_server *s, fh_conn *c, int mask) {
    ssize_t r;
    if (c->state == FH_LINGERING) {
        uint8_t sink[4096];
        do {
            r = fh_recv(c->fd, sink, sizeof(sink));
        } while (r > 0);
        if (r == 0 || (r != -EAGAIN && r != -EWOULDBLOCK)) fh_conn_close(s, c);
        return;
    }
    if (c->state == FH_BODY) {
        fh_body_recv(s, c, mask);
        return;
    }
    if (c->state == FH_WEBSOCKET) {
        fh_ws_recv(s, c, mask);
        return;
    }
    if (c->state != FH_READING) {
        fh_read_aside(s, c, mask);
        return;
    }
    if (c->rlen == 0) {
        /* Nothing of its own: read into the loop's buffer and parse in place. */
        r = fh_recv(c->fd, s->rbuf, s->rbuf_cap);
        if (r > 0) {
            c->since_ms = c->last_ms = s->now_ms; /* a new request begins */
            fh_parse_bytes(s, c, s->rbuf, (size_t)r);
            return;
        }
    } else {
        size_t bound = c->need > s->max_head ? c->need : s->max_head;
        size_t room = fh_read_room(c, bound);
        if (room == 0) {
            fh_parse(s, c); /* at its bound: the scanner answers 431, 414 or 413 */
            return;
        }
        r = fh_recv(c->fd, c->rbuf + c->rlen, room);
        if (r > 0) {
            c->rlen += (size_t)r;
            c->last_ms = s->now_ms;
            fh_parse(s, c);
            return;
        }
    }
    if (r == 0) {
        c->eof = 1;
        fh_conn_settle(s, c); /* no request waits: FIN, then close */
    } else if (r != -EAGAIN && r != -EWOULDBLOCK) {
        fh_conn_close(s, c);
    }
}
