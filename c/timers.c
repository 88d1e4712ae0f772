/*
 * timers.c - every timeout, on one pass over the connections.
 *
 * Nothing runs per request: the sweep runs at most once per sweep period
 * (four times per shortest timeout, at most every FH_SWEEP_MS), from fh_poll,
 * and what it does to a connection follows from its state.
 */

/* The idle timeout of c (ms, 0: none): its own (fh_conn_timeout) or the server's. */
static int64_t fh_idle_of(fh_server *s, fh_conn *c) { return c->idle_ms >= 0 ? c->idle_ms : s->idle_to_ms; }

static void fh_sweep_conn(fh_server *s, fh_conn *c, int64_t now) {
    int64_t idle = fh_idle_of(s, c);
    if (c->state == FH_LINGERING) {
        if (now - c->since_ms > FH_LINGER_MS) fh_conn_close(s, c);
        return;
    }
    if (c->state == FH_WEBSOCKET) {
        fh_ws_sweep(s, c, now); /* its own timeouts (a reader that lags is backpressure, not a fault) */
        return;
    }
    if (c->blocked) {
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
        return;
    }
    if (c->state == FH_BODY) {
        /* A body that stops coming while there is room for it: 408. (A full
         * window is the handler's to take: its time is its own.) */
        if (fh_body_reading(c) && idle > 0 && now - c->last_ms > idle) fh_body_fail(s, c, 408);
        return;
    }
    if (c->state != FH_READING) return; /* a handler, a stream or a taker is at work: its time is its own */
    if (c->rlen > 0) {
        /* Part of a request: the head has headerTimeout from its first byte
         * (the slowloris defence); a body must keep moving. */
        int late = c->need == 0 ? (s->header_to_ms > 0 && now - c->since_ms > s->header_to_ms)
                                : (idle > 0 && now - c->last_ms > idle);
        if (late && fh_answer_status(s, c, NULL, 408, 0, 1) == 0) fh_conn_flush(s, c);
    } else if (idle > 0 && now - c->last_ms > idle) {
        fh_conn_linger(s, c); /* an idle keep-alive connection */
    }
}

/* The timeouts, lingering closes the peer never finished, and resuming
 * accept after running out of descriptors. */
static void fh_sweep(fh_server *s) {
    int64_t now = s->now_ms;
    int fd;
    if (now - s->last_sweep_ms < s->sweep_ms) return;
    s->last_sweep_ms = now;
    if (s->accept_paused && now >= s->accept_resume_ms && s->lfd >= 0) {
        s->accept_paused = 0;
        (void)fh_backend_mod(s->be, s->lfd, 0, FH_READABLE);
    }
    for (fd = 0; fd < s->conns_cap; fd++)
        if (s->conns[fd] != NULL) fh_sweep_conn(s, s->conns[fd], now);
}
