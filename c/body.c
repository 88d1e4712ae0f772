/*
 * body.c - request bodies that stream (state FH_BODY).
 *
 * A request whose body does not fit in one arena slab is dispatched as soon
 * as its head is complete (FH_REQ_STREAM); its body is then framed as it
 * arrives (chunked.c's fh_body_feed, decoded in place) into the connection's
 * own buffer and taken by JavaScript through fh_body_read (api.c). The buffer
 * holds at most FH_BODY_WINDOW: when the handler does not take what came,
 * reading stops and the client waits (TCP's window closes), so memory per
 * connection is bounded whatever the body's size.
 *
 * Keep-alive (fh_body_keep): an answer that comes after the body's end lets
 * the connection parse on from the bytes that followed the body. One that
 * comes before keeps the connection only if the rest is known to be small
 * (Content-Length, at most FH_BODY_DRAIN left) and the client is not waiting
 * for a 100 Continue it never got: that rest is then read and dropped after
 * the answer (as Bun.serve, nginx and Node do). Otherwise the answer closes
 * the connection (and says so: Connection: close, RFC 9112 §9.6), and what is
 * left of the body is never read as a request.
 *
 * Faults: a bad chunk line, a body past max_body or a stall past the idle
 * timeout fail the body: the request is answered 400, 413 (also for an
 * over-long chunk line; 431 for over-long trailers) or 408 in its place if
 * its handler has not answered yet, the connection closes after the answers
 * before it, and the reader is told.
 * A client that leaves mid-body closes the connection (fh_conn_close).
 */

/* Whether c reads for its body now: in state FH_BODY, the body not ended or
 * failed, room in the window. */
static int fh_body_reading(fh_conn *c) {
    fh_body *b = c->body;
    return b != NULL && c->state == FH_BODY && !c->eof && b->frame.phase != FH_BF_DONE && b->error == 0 &&
           !b->gone && !b->poked && c->rlen < FH_BODY_WINDOW;
}

/* The held 100 Continue of c's body (the place right before its request's),
 * while it is held; else NULL. */
static fh_seg *fh_body_held(fh_conn *c) {
    fh_seg *g = fh_seg_find(c, c->body->seq - 1, NULL);
    return g != NULL && g->held && !g->ready ? g : NULL;
}

/* Whether the reader may read the socket itself, straight into its buffer
 * (fh_body_recv_into): a Content-Length body in its data, nothing buffered,
 * and reading. */
static int fh_body_direct(fh_conn *c) {
    fh_body *b = c->body;
    return !b->frame.chunked && b->frame.phase == FH_BF_DATA && c->rlen == 0 && fh_body_reading(c);
}

/* Removes the first n decoded bytes from the window (copied to dst first,
 * unless dst is NULL: dropped). */
static void fh_body_take(fh_conn *c, uint8_t *dst, size_t n) {
    fh_body *b = c->body;
    if (n == 0) return;
    if (dst != NULL) memcpy(dst, c->rbuf, n);
    memmove(c->rbuf, c->rbuf + n, c->rlen - n);
    c->rlen -= n;
    b->dec -= n;
    b->raw -= n;
}

/* Tells JavaScript (FH_EV_BODY) when it waits and there is something to take:
 * data, the end, a failure. */
static void fh_body_notify(fh_server *s, fh_conn *c) {
    fh_body *b = c->body;
    if (!b->wanted) return;
    if (b->dec == 0 && b->error == 0 && !b->gone && b->frame.phase != FH_BF_DONE) return;
    b->wanted = 0;
    fh_notify(s, FH_EV_BODY, c, b->seq);
}

/* Fails the body with `status`: answered in the request's place if its
 * handler has not answered, else that answer is the connection's last. Either
 * way nothing after it is parsed. The reader learns it on its next read. */
static void fh_body_fail(fh_server *s, fh_conn *c, int status) {
    fh_body *b = c->body;
    fh_seg *g;
    if (b->error != 0 || b->gone) return;
    b->error = status;
    fh_body_notify(s, c);
    g = fh_seg_find(c, b->seq, NULL);
    if (g != NULL && !g->ready) {
        if (fh_answer_status(s, c, g, status, g->req, 1) < 0) return; /* closed: out of memory */
    } else {
        if (g != NULL) g->close = 1;
        fh_conn_last(s, c);
        if (c->state == FH_LINGERING) return;
    }
    if (c->qlen > 0) fh_conn_flush(s, c);
    else fh_conn_settle(s, c);
}

/* Whether an answer given now would leave the connection open: the request
 * wants it, and the body has ended, or what is left of it is known, at most
 * FH_BODY_DRAIN, and coming (no 100 Continue held back). */
static int fh_body_keeps(fh_conn *c) {
    fh_body *b = c->body;
    if (!b->keep || b->error != 0 || b->gone) return 0;
    if (b->frame.phase == FH_BF_DONE) return 1;
    return !b->frame.chunked && b->frame.left <= FH_BODY_DRAIN && fh_body_held(c) == NULL;
}

/* Sets the keep-alive an answer would get now on the request's place (until
 * it is answered): every answer call decides from it (fh_persists), and
 * JavaScript's heads from what fh_body_read reports. It only ever turns on. */
static void fh_body_keep(fh_conn *c) {
    fh_body *b = c->body;
    fh_seg *g = fh_seg_find(c, b->seq, NULL);
    if (g == NULL || g->ready) return;
    if (fh_body_keeps(c)) g->req |= FH_REQ_KEEP_ALIVE;
    else g->req &= ~FH_REQ_KEEP_ALIVE;
}

/* Frames what has arrived (dropping it, when draining) and updates the
 * keep-alive. Returns -1 when the body failed (c may be closing), else 0. */
static int fh_body_frame_more(fh_server *s, fh_conn *c) {
    fh_body *b = c->body;
    int st = fh_body_feed(&b->frame, c->rbuf, c->rlen, &b->dec, &b->raw, s->max_body, s->max_head);
    if (st != 0) {
        fh_body_fail(s, c, st);
        return -1;
    }
    if (b->draining) fh_body_take(c, NULL, b->dec);
    fh_body_keep(c);
    if (b->draining && b->frame.phase == FH_BF_DONE) {
        fh_body_finish(s, c); /* drained: parse on */
        return 0;
    }
    fh_body_notify(s, c);
    return 0;
}

/*
 * Starts streaming the body of request `seq`, just dispatched with its head
 * (frame.c): c->rbuf holds what followed the head. Enters FH_BODY and frames
 * those bytes. Returns 0, or -1 when the connection was closed.
 */
static int fh_body_begin(fh_server *s, fh_conn *c, const fh_head *h, uint32_t seq) {
    fh_body *b = calloc(1, sizeof(fh_body));
    fh_seg *g = fh_seg_find(c, seq, NULL);
    if (b == NULL || g == NULL) {
        free(b);
        fh_conn_close(s, c);
        return -1;
    }
    b->seq = seq;
    b->keep = g->req & FH_REQ_KEEP_ALIVE;
    fh_body_frame_init(&b->frame, (h->flags & FH_REQ_CHUNKED) != 0, h->content_length < 0 ? 0 : h->content_length);
    c->body = b;
    c->need = 0;
    fh_conn_enter(s, c, FH_BODY);
    if (fh_body_frame_more(s, c) == 0 && s->ndesc > 0) {
        /* The row just dispatched tells JavaScript the keep-alive as it is now. */
        int32_t *d = s->desc + (size_t)(s->ndesc - 1) * FH_D_SIZE;
        d[FH_D_FLAGS] = (d[FH_D_FLAGS] & ~FH_REQ_KEEP_ALIVE) | (g->req & FH_REQ_KEEP_ALIVE);
    }
    return fh_lookup(s, c->fd, c->gen) == c ? 0 : -1;
}

/* One read for the body into the window, framed. Returns 1 when bytes came,
 * 0 when none did (EAGAIN, or not reading), -1 when the connection closed
 * (the client left: FIN or a reset mid-body) or the body failed. */
static int fh_body_pull(fh_server *s, fh_conn *c) {
    ssize_t r;
    if (!fh_body_reading(c)) return 0;
    if (c->rcap < FH_BODY_WINDOW && fh_keep_bytes(c, NULL, 0, FH_BODY_WINDOW) < 0) {
        fh_conn_close(s, c);
        return -1;
    }
    r = fh_recv(c->fd, c->rbuf + c->rlen, FH_BODY_WINDOW - c->rlen);
    if (r > 0) {
        c->rlen += (size_t)r;
        c->last_ms = s->now_ms;
        return fh_body_frame_more(s, c) < 0 ? -1 : 1;
    }
    if (r == -EAGAIN || r == -EWOULDBLOCK) return 0;
    /* FIN before the body's end (it can never be complete), or a reset. */
    fh_conn_close(s, c);
    return -1;
}

/* A Content-Length body with nothing buffered: reads straight into the
 * reader's dst (at most cap bytes, and no further than the body's end),
 * sparing the window's copy. Returns the bytes read (0: none now), or -1 when
 * the connection closed (the client left). */
static ssize_t fh_body_recv_into(fh_server *s, fh_conn *c, uint8_t *dst, size_t cap) {
    fh_body *b = c->body;
    ssize_t r;
    if (!fh_body_direct(c)) return 0;
    if ((int64_t)cap > b->frame.left) cap = (size_t)b->frame.left;
    r = fh_recv(c->fd, dst, cap);
    if (r > 0) {
        fh_body_frame_passed(&b->frame, r);
        c->last_ms = s->now_ms;
        fh_body_keep(c);
        return r;
    }
    if (r == -EAGAIN || r == -EWOULDBLOCK) return 0;
    fh_conn_close(s, c); /* FIN before the body's end, or a reset */
    return -1;
}

/* The socket is readable (or hung up) in state FH_BODY. A reader that waits
 * for a Content-Length body with nothing buffered is told (FH_EV_BODY) and
 * reads the socket itself, straight into its buffer (one copy, not two);
 * otherwise the bytes go into the window. */
static void fh_body_recv(fh_server *s, fh_conn *c, int mask) {
    fh_body *b = c->body;
    if (mask & FH_HUP) {
        fh_conn_close(s, c); /* a reset, or shut both ways: the client is gone */
        return;
    }
    if (b->wanted && fh_body_direct(c)) {
        b->wanted = 0;
        b->poked = 1; /* not watched again until the reader has read */
        fh_notify(s, FH_EV_BODY, c, b->seq);
        fh_conn_settle(s, c);
        return;
    }
    if (fh_body_pull(s, c) < 0) return;
    fh_conn_settle(s, c);
}

/* Leaves FH_BODY once the body has ended and is taken (or its answer is
 * written): the bytes that followed it are parsed next, as requests. */
static void fh_body_finish(fh_server *s, fh_conn *c) {
    fh_body *b = c->body;
    size_t keep = c->rlen - b->raw;
    int last = !b->keep; /* Connection: close, or HTTP/1.0: nothing after it is a request */
    if (keep > 0) memmove(c->rbuf, c->rbuf + b->raw, keep);
    c->rlen = keep;
    free(b);
    c->body = NULL;
    c->unparsed = keep > 0;
    c->since_ms = c->last_ms = s->now_ms; /* what is left is the start of the next request */
    if (c->rlen == 0 && c->rbuf != NULL) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
    fh_conn_enter(s, c, FH_ANSWERING); /* READING once the queue is written (fh_conn_settle) */
    if (last || s->stopping) fh_conn_last(s, c);
}

/* The answer of the body's request has been written (queue.c, as it retires
 * a place that did not close the connection: see fh_body_keeps). What the
 * handler did not take is dropped, and so is the rest of the body as it
 * comes; then the connection parses on. */
static void fh_body_answered(fh_server *s, fh_conn *c) {
    fh_body *b = c->body;
    if (b->error != 0 || b->gone) return;
    b->draining = 1;
    b->wanted = 0;
    b->poked = 0;
    fh_body_take(c, NULL, b->dec);
    if (b->frame.phase == FH_BF_DONE) fh_body_finish(s, c);
}

/* The connection leaves FH_BODY other than by the body's end (it closes,
 * lingers, or an answer made it its last): the reader is told it is over;
 * what was buffered for it is dropped. */
static void fh_body_stop(fh_server *s, fh_conn *c) {
    fh_body *b = c->body;
    if (b->gone) return;
    b->gone = 1;
    b->dec = b->raw = 0;
    if (c->state == FH_BODY) c->rlen = 0;
    fh_body_notify(s, c);
}
