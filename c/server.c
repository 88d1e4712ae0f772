/*
 * server.c - the server's life cycle and its small exports: create, limits,
 * events and figures for JavaScript, stop and destroy.
 */

/* Hands JavaScript the stream and takeover events: four int32 each (type,
 * fd, gen, seq). Returns how many events were written. */
int fh_events_take(fh_server *s, int32_t *out, int max) {
    int n = s->nev / FH_EV_SIZE < max ? s->nev / FH_EV_SIZE : max;
    if (n <= 0) return 0;
    memcpy(out, s->ev, sizeof(int32_t) * FH_EV_SIZE * (size_t)n);
    memmove(s->ev, s->ev + FH_EV_SIZE * n, sizeof(int32_t) * (size_t)(s->nev - FH_EV_SIZE * n));
    s->nev -= FH_EV_SIZE * n;
    return n;
}

/* How many events wait for JavaScript. */
int fh_events_pending(fh_server *s) { return s->nev / FH_EV_SIZE; }

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
    s->wslab = -1;
    s->sid = -1;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    s->max_head = (size_t)max_head;
    s->sweep_ms = FH_SWEEP_MS;
    s->now_ms = fh_now_ms();
    s->max_body = (int64_t)max_body;
    s->desc_cap = batch;
    s->max_events = batch;
    s->desc = calloc((size_t)batch, sizeof(int32_t) * FH_D_SIZE);
    s->events = calloc((size_t)batch, sizeof(fh_event));
    s->rbuf_cap = FH_RECV_BUFFER;
    s->rbuf = malloc(s->rbuf_cap);
    s->gather = malloc(FH_GATHER_MAX);
    if (s->desc == NULL || s->events == NULL || s->rbuf == NULL || s->gather == NULL) rc = -ENOMEM;
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
        free(s->rbuf);
        free(s->gather);
        free(s);
        return NULL;
    }
    return s;
}

/* The sweep period for a shortest timeout of `shortest` ms: four sweeps per
 * timeout, but no more often than every 10 ms. */
static int fh_sweep_period(int64_t shortest) { return (int)(shortest / 4 < 10 ? 10 : shortest / 4); }

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
    s->sweep_ms = fh_sweep_period(shortest);
}

int fh_server_port(fh_server *s) { return s->port; }

/* Sets connection fd/gen's idle timeout (ms, 0: none, -1: the server's
 * again), as Bun's server.timeout(request, seconds) does; the sweep runs
 * often enough for it. Returns 0, or -1 when the connection is gone. */
int fh_conn_timeout(fh_server *s, int fd, int gen, double ms) {
    fh_conn *c = fh_lookup(s, fd, (uint32_t)gen);
    if (c == NULL || c->state == FH_LINGERING || ms < -1) return -1;
    c->idle_ms = (int64_t)ms;
    if (c->idle_ms > 0 && fh_sweep_period(c->idle_ms) < s->sweep_ms) s->sweep_ms = fh_sweep_period(c->idle_ms);
    return 0;
}

/* The peer address of connection fd/gen: its text into out[0, cap), the port
 * in info[0] and the family (4 or 6) in info[1]. Returns the text's length,
 * or -1 when the connection is gone or has no address (a socketpair). */
int fh_peer(fh_server *s, int fd, int gen, uint8_t *out, int cap, int32_t *info) {
    fh_conn *c = fh_lookup(s, fd, (uint32_t)gen);
    if (c == NULL || c->state == FH_LINGERING || out == NULL || info == NULL || cap < 1) return -1;
    return fh_net_peer(c->fd, (char *)out, (size_t)cap, info);
}

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


/* Pool and connection figures, FH_ST_SIZE int32 at FH_ST_* (layout.h). */
void fh_stats(fh_server *s, int32_t *out) {
    out[FH_ST_CONNS] = s->nconns;
    out[FH_ST_SLABS] = s->pool.carved;
    out[FH_ST_IN_USE] = s->pool.in_use;
    out[FH_ST_HIGH_WATER] = s->pool.high_water;
    out[FH_ST_CAP] = s->pool.cap;
    out[FH_ST_LARGE_IN_USE] = s->pool.large_in_use;
    out[FH_ST_SLAB_SIZE] = (int32_t)s->pool.slab_size;
    out[FH_ST_KQUEUE] = fh_backend_name()[0] == 'k';
    out[FH_ST_STATIC] = (int32_t)(s->static_hits & 0x7fffffff);
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
        if (force && c->state == FH_WEBSOCKET) fh_ws_kill(s, c); /* 1001 "Server closed", then closed (as Bun) */
        else if (force || c->state == FH_RAW) fh_conn_close(s, c); /* a taken-over connection is out of HTTP's hands */
        else if (c->state == FH_WEBSOCKET) fh_ws_stop(s, c); /* 1001 Going Away, then the closing handshake */
        else if (c->state != FH_BODY) fh_conn_last(s, c); /* a body still coming is read to its end first */
    }
    return s->nconns;
}

/* Frees everything. Call after fh_stop; closes what is still open. */
void fh_destroy(fh_server *s) {
    int fd;
    fh_wake_stop(s);
    (void)fh_stop(s, 1);
    fh_ws_unregister(s);
    for (fd = 0; fd < s->conns_cap; fd++)
        if (s->conns[fd] != NULL) fh_conn_close(s, s->conns[fd]);
    fh_routes_free(s);
    fh_backend_free(s->be);
    fh_pool_free(&s->pool);
    if (s->zdef != NULL) fh_z_free(s->zdef);
    if (s->zinf != NULL) fh_z_free(s->zinf);
    free(s->wslabs);
    free(s->conns);
    free(s->rbuf);
    free(s->gather);
    free(s->ready);
    free(s->ready_spare);
    free(s->dirty);
    free(s->ev);
    free(s->desc);
    free(s->events);
    free(s);
}

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
