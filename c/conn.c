/*
 * conn.c - connection lifecycle: accept, the state machine, the one
 * keep-alive decision, close, linger, and noticing a client that left.
 *
 * fh_conn_enter is the only function that changes c->state, and
 * fh_conn_watch derives what the backend watches from the state, so "what
 * happens to this connection next" is answered here and nowhere else.
 */

static int64_t fh_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t fh_now_ms(void) { return fh_now_us() / 1000; }

static fh_conn *fh_lookup(fh_server *s, int fd, uint32_t gen) {
    fh_conn *c;
    if (fd < 0 || fd >= s->conns_cap) return NULL;
    c = s->conns[fd];
    if (c == NULL || c->gen != gen) return NULL;
    return c;
}

/* Puts c on the list of connections to parse first on the next poll (the
 * backend does not report bytes that were already read). */
static void fh_list_ready(fh_server *s, fh_conn *c) {
    if (c->listed) return;
    if (fh_grow((void **)&s->ready, &s->ready_cap, sizeof(fh_ref), s->nready + 1) < 0) return;
    s->ready[s->nready].fd = c->fd;
    s->ready[s->nready].gen = c->gen;
    s->nready++;
    c->listed = 1;
}

static void fh_notify(fh_server *s, int type, fh_conn *c, uint32_t seq) {
    if (fh_grow((void **)&s->ev, &s->ev_cap, sizeof(int32_t), s->nev + FH_EV_SIZE) < 0) return;
    s->ev[s->nev++] = type;
    s->ev[s->nev++] = c->fd;
    s->ev[s->nev++] = (int32_t)c->gen;
    s->ev[s->nev++] = (int32_t)seq;
}

/* Keeps n bytes (an incomplete request, bytes read ahead, a taker's) in c's
 * own buffer, which grows to hold at least cap_hint. Returns 0 or -ENOMEM. */
static int fh_keep_bytes(fh_conn *c, const uint8_t *p, size_t n, size_t cap_hint) {
    size_t want = c->rlen + n;
    if (want < cap_hint) want = cap_hint;
    if (want > c->rcap) {
        uint8_t *nb = realloc(c->rbuf, want);
        if (nb == NULL) return -ENOMEM;
        c->rbuf = nb;
        c->rcap = want;
    }
    if (n > 0) memcpy(c->rbuf + c->rlen, p, n);
    c->rlen += n;
    return 0;
}

/* How many bytes a connection reads ahead of its parser while it answers:
 * enough for a pipelined burst and to see a FIN or a reset at once. */
static size_t fh_read_ahead(fh_server *s) { return s->max_head; }

/* What the backend should watch, from the state alone. */
static int fh_conn_watch(fh_server *s, fh_conn *c) {
    int mask = c->blocked ? FH_WRITABLE : 0;
    switch (c->state) {
    case FH_READING:
        if (!c->eof) mask |= FH_READABLE;
        break;
    case FH_ANSWERING:
    case FH_CLOSING:
        if (!c->eof && c->rlen < fh_read_ahead(s)) mask |= FH_READABLE;
        break;
    case FH_RAW:
        if (!c->eof && c->rlen < FH_RAW_BUFFER) mask |= FH_READABLE;
        break;
    case FH_LINGERING:
        mask = FH_READABLE;
        break;
    case FH_BODY:
        if (fh_body_reading(c)) mask |= FH_READABLE;
        break;
    case FH_WEBSOCKET:
        if (fh_ws_reading(c)) mask |= FH_READABLE;
        break;
    }
    return mask;
}

static void fh_set_interest(fh_server *s, fh_conn *c, int mask) {
    if (mask == c->mask) return;
    if (fh_backend_mod(s->be, c->fd, c->mask, mask) == 0) c->mask = mask;
}

/* The one place a connection changes state. */
static void fh_conn_enter(fh_server *s, fh_conn *c, fh_state st) {
    if (c->state == FH_LINGERING) return; /* only closing ends it */
    if (c->state == FH_BODY && st != FH_BODY && c->body != NULL) fh_body_stop(s, c); /* not by its end */
    if (st == FH_LINGERING) {
        s->nlinger++;
        c->since_ms = s->now_ms;
        c->rlen = 0;
        c->unparsed = 0;
    }
    if (st == FH_RAW || st == FH_WEBSOCKET) c->hold = 0;
    c->state = st;
    fh_set_interest(s, c, fh_conn_watch(s, c));
}

/* After a read, a write or an answer: where the connection goes next. */
static void fh_conn_settle(fh_server *s, fh_conn *c) {
    fh_state next = c->state;
    if (next == FH_ANSWERING && c->qlen == 0) {
        next = FH_READING;
        c->hold = 0;
        if (c->unparsed) fh_list_ready(s, c); /* bytes read ahead, or held: parse them next poll */
    }
    if ((next == FH_READING && (s->stopping || (c->eof && !c->listed))) || (next == FH_CLOSING && c->qlen == 0)) {
        /* Done with this connection: the server is stopping, the peer left
         * with no request waiting, or the last answer is written. */
        fh_conn_linger(s, c);
        return;
    }
    fh_conn_enter(s, c, next);
}

/* No request of c is parsed again: it closes once its queue is written. */
static void fh_conn_last(fh_server *s, fh_conn *c) {
    if (c->state == FH_LINGERING || c->state == FH_RAW || c->state == FH_WEBSOCKET) return;
    if (c->qlen == 0) {
        fh_conn_linger(s, c);
        return;
    }
    fh_conn_enter(s, c, FH_CLOSING);
}

/* Closes at once: a reset, a hang-up, a failed write, FIN during a stream, a
 * forced stop. Every waiting answer is dropped: the writers of its streams
 * and takeovers are told (FH_EV_CLOSED), and so are the handlers still at
 * work on its requests (FH_EV_GONE, fh_queue_clear); their answers, when they
 * come, find no connection and only release their arenas. */
static void fh_conn_close(fh_server *s, fh_conn *c) {
    if (c->state == FH_LINGERING) s->nlinger--;
    (void)fh_backend_del(s->be, c->fd, c->mask);
    close(c->fd);
    if (c->body != NULL) {
        fh_body_stop(s, c);
        free(c->body);
        c->body = NULL;
    }
    fh_queue_clear(s, c);
    fh_ws_free(s, c);
    s->conns[c->fd] = NULL;
    s->nconns--;
    free(c->q);
    free(c->rbuf);
    free(c);
}

/* Ends a connection gracefully: FIN after the last answer, then read and
 * discard until the peer closes too (or FH_LINGER_MS passes). Closing with
 * unread bytes would send a RST that can destroy the answer in flight. */
static void fh_conn_linger(fh_server *s, fh_conn *c) {
    if (c->state == FH_LINGERING) return;
    fh_queue_clear(s, c);
    if (c->eof || shutdown(c->fd, SHUT_WR) < 0) {
        fh_conn_close(s, c);
        return;
    }
    fh_conn_enter(s, c, FH_LINGERING);
}

/*
 * The one place that decides whether a connection stays open after an
 * answer (RFC 9112 §9.3): both sides must want it, and the answer's body must
 * have an end other than the close. `req` is the request's FH_REQ_* flags
 * (the scanner sets FH_REQ_KEEP_ALIVE for HTTP/1.1 without "close" and for
 * HTTP/1.0 with "keep-alive"), `rflags` the answer's FH_RF_*; a head built by
 * user code (FH_RF_RAW) is read for its version, Connection and framing.
 * A stopping server is not this function's business: stop() moves every
 * connection to CLOSING, and the answers already queued still all go out.
 */
static int fh_persists(int32_t req, int rflags, const uint8_t *head, size_t len) {
    int r;
    if (!(req & FH_REQ_KEEP_ALIVE) || (rflags & FH_RF_CLOSE)) return 0;
    if (!(rflags & FH_RF_RAW)) return 1;
    r = fh_scan_response(head, len);
    if (r & FH_RESP_CLOSE) return 0;
    if (((r & FH_RESP_HTTP10) || (req & FH_REQ_HTTP10)) && !(r & FH_RESP_KEEP_ALIVE)) return 0;
    if (!(r & (FH_RESP_FRAMED | FH_RESP_NO_BODY)) && !(req & FH_REQ_HEAD)) return 0; /* ends at the close */
    return 1;
}

/* Adopts a connected, non-blocking socket as a new connection in state
 * READING (accept, and the C unit tests over socketpair). Returns it, or NULL
 * (the socket is closed). */
static fh_conn *fh_conn_new(fh_server *s, int fd) {
    fh_conn *c;
    if (fh_grow((void **)&s->conns, &s->conns_cap, sizeof(fh_conn *), fd + 1) < 0 ||
        (c = calloc(1, sizeof(fh_conn))) == NULL) {
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->gen = ++s->next_gen;
    c->state = FH_READING;
    if (fh_backend_add(s->be, fd, FH_READABLE) < 0) {
        free(c);
        close(fd);
        return NULL;
    }
    c->mask = FH_READABLE;
    c->since_ms = c->last_ms = s->now_ms;
    c->idle_ms = -1;
    s->conns[fd] = c;
    s->nconns++;
    return c;
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
        c = fh_conn_new(s, fd);
        if (c != NULL && s->max_conns > 0 && s->nconns - s->nlinger > s->max_conns &&
            fh_answer_status(s, c, NULL, 503, 0, 1) == 0)
            fh_conn_flush(s, c);
    }
}
