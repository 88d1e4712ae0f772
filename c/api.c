/*
 * api.c - the functions JavaScript calls (declared in src/ffi.ts).
 *
 * Thin: each checks its arguments, finds the connection and the place, and
 * hands over to the layer that does the work. Every answer call goes through
 * fh_waiting_place, the one check that fd/gen/seq is a request still waiting
 * for its answer (those that send arena bytes through fh_answer_begin).
 */

/* The place of answer `seq` of connection fd/gen, when that connection is
 * alive and the place still waits for its answer; else NULL. */
static fh_seg *fh_waiting_place(fh_server *s, int fd, int gen, int seq, fh_conn **pc, uint32_t *idx) {
    fh_conn *c = fh_lookup(s, fd, (uint32_t)gen);
    fh_seg *g;
    if (c == NULL || c->state == FH_LINGERING) return NULL;
    g = fh_seg_find(c, (uint32_t)seq, idx);
    if (g == NULL || g->ready) return NULL;
    *pc = c;
    return g;
}

/* Bytes [off, off+len) of slab `data_slab`, which must belong to the arena
 * that begins with `slab`; NULL when they do not lie there. */
static uint8_t *fh_arena_bytes(fh_server *s, int slab, int data_slab, int off, int len) {
    size_t size;
    if (!fh_pool_in_arena(&s->pool, slab, data_slab) || off < 0 || len < 0) return NULL;
    size = fh_pool_size(&s->pool, data_slab);
    if ((size_t)off + (size_t)len > size) return NULL;
    return fh_pool_ptr(&s->pool, data_slab) + off;
}

/* How every answer call that sends arena bytes begins: the clock, the place
 * of request `seq` (fh_waiting_place) and the bytes [off, off+len) of slab
 * `data_slab` (fh_arena_bytes). `valid` is the caller's check of its other
 * arguments. NULL, with the arena released, when the place does not wait, the
 * bytes are not there or `valid` is 0. */
static fh_seg *fh_answer_begin(fh_server *s, int fd, int gen, int seq, int slab, int data_slab, int off, int len,
                               int valid, fh_conn **pc, uint32_t *idx, uint8_t **bytes) {
    fh_seg *g = fh_waiting_place(s, fd, gen, seq, pc, idx);
    *bytes = fh_arena_bytes(s, slab, data_slab, off, len);
    s->now_ms = fh_now_ms();
    if (g == NULL || *bytes == NULL || !valid) {
        fh_pool_release(&s->pool, slab);
        return NULL;
    }
    return g;
}

/* Whether the place at idx is the next to be written: the head of the queue,
 * or right behind a held 100 Continue (which its answer skips). */
static int fh_at_head(fh_conn *c, uint32_t idx) {
    return idx == 0 || (idx == 1 && fh_seg_at(c, 0)->held && !fh_seg_at(c, 0)->ready);
}

/* Marks c to be written at the end of fh_flush. */
static void fh_mark_dirty(fh_server *s, fh_conn *c) {
    if (c->dirty || fh_grow((void **)&s->dirty, &s->dirty_cap, sizeof(fh_ref), s->ndirty + 1) < 0) return;
    c->dirty = 1;
    s->dirty[s->ndirty].fd = c->fd;
    s->dirty[s->ndirty].gen = c->gen;
    s->ndirty++;
}

/* Polls without blocking and frames what is ready. Returns the number of
 * requests now in the descriptor array, FH_POLL_BUSY, or -errno. When
 * nothing is ready (no request left to parse, no event for JavaScript), the
 * backend is polled again and again, for up to spin_us microseconds, before
 * 0 is returned: JavaScript polls a while before it sleeps (a wake-up costs
 * far more than a poll, and a client that answers a response with its next
 * request within that time costs none), and a run of empty polls made here
 * costs one crossing, not one each (at 50 connections there were 1.5 empty
 * polls per request). The time is a duration, not a count of polls: polls
 * made here are faster than they were from JavaScript, and a count of them
 * gave up before the next request of a single connection came.
 * When what came was all answered here (static routes, routes.c), the
 * spin starts again: those requests are activity as much as JavaScript's
 * (returning 0 for them put the loop to sleep after each one: a wake-up per
 * request at one connection). After FH_POLL_BUSY_US of that it returns
 * FH_POLL_BUSY, so that JavaScript's own work (timers, promises) gets its
 * turn while the core serves on. */
int fh_poll(fh_server *s, int spin_us) {
    int n, i, k, nready;
    int64_t busy_until = 0;
    uint32_t hits;
    fh_ref *list;
    s->ndesc = 0;
    s->in_batch = 0;
    s->polls++;
    fh_ws_release_rows(s); /* the last batch is done: JavaScript copied what it kept */
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
        if (c->state == FH_WEBSOCKET) fh_ws_resume(s, c);
        if (c->state != FH_READING) continue; /* listed again when its answers are done */
        fh_parse(s, c);
    }
    for (;;) {
        if (s->ndesc >= s->desc_cap) {
            s->in_batch = 1;
            return s->ndesc;
        }
        n = fh_backend_poll(s->be, s->events, s->max_events, 0);
        if (n == 0 && spin_us > 0 && s->ndesc == 0 && s->nev == 0) {
            int64_t until = fh_now_us() + spin_us;
            do {
                n = fh_backend_poll(s->be, s->events, s->max_events, 0);
            } while (n == 0 && fh_now_us() < until);
        }
        if (n < 0) return n;
        hits = s->static_hits;
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
                if (s->ndesc >= s->desc_cap && (c->state == FH_READING || c->state == FH_WEBSOCKET)) continue; /* reported again next poll */
                fh_conn_read(s, c, mask);
            }
        }
        /* Only static answers came (nothing for JavaScript, nothing listed to
         * parse): poll on, spinning afresh, within the busy budget. */
        if (n == 0 || spin_us <= 0 || s->ndesc > 0 || s->nev > 0 || s->nready > 0 || s->static_hits == hits) break;
        if (busy_until == 0) busy_until = fh_now_us() + FH_POLL_BUSY_US;
        else if (fh_now_us() >= busy_until) return FH_POLL_BUSY;
        s->now_ms = fh_now_ms();
    }
    s->in_batch = s->ndesc > 0; /* WebSocket sends from here to fh_flush leave with the batch */
    return s->ndesc;
}

/* Takes the answers JavaScript wrote into rows [from, to) and writes them.
 * Returns 1 when connections wait to be parsed (poll soon), else 0. */
int fh_flush(fh_server *s, int from, int to) {
    int i;
    s->now_ms = fh_now_ms();
    if (to > s->ndesc) to = s->ndesc;
    /* A batch JavaScript runs in parts (it yields to Bun's event loop in
     * between) stays one batch: WebSocket sends keep leaving with it. */
    s->in_batch = to < s->ndesc;
    for (i = from < 0 ? 0 : from; i < to; i++) {
        int32_t *d = s->desc + (size_t)i * FH_D_SIZE;
        int kind = d[FH_D_RKIND];
        fh_conn *c = NULL;
        fh_seg *g;
        if (kind != FH_R_ARENA && kind != FH_R_STATUS) continue;
        g = fh_waiting_place(s, d[FH_D_FD], d[FH_D_GEN], d[FH_D_SEQ], &c, NULL);
        if (g == NULL) {
            fh_pool_release(&s->pool, d[FH_D_SLAB]);
            continue;
        }
        if (kind == FH_R_STATUS) {
            fh_pool_release(&s->pool, d[FH_D_SLAB]);
            if (fh_answer_status(s, c, g, d[FH_D_ROFF], g->req, 0) < 0) continue;
        } else {
            uint8_t *bytes = fh_arena_bytes(s, d[FH_D_SLAB], d[FH_D_SLAB], d[FH_D_ROFF], d[FH_D_RLEN]);
            if (bytes == NULL) { /* out of its slab: answered as a failed handler */
                fh_pool_release(&s->pool, d[FH_D_SLAB]);
                if (fh_answer_status(s, c, g, 500, g->req, 0) < 0) continue;
            } else {
                g->ptr = bytes;
                g->len = (size_t)d[FH_D_RLEN];
                g->slab = d[FH_D_SLAB];
                g->ready = 1;
                g->close = !fh_persists(g->req, d[FH_D_RFLAGS], g->ptr, g->len);
            }
        }
        fh_mark_dirty(s, c);
    }
    /* The batch's connections (also those WebSocket sends marked since fh_poll). */
    for (i = 0; i < s->ndirty; i++) {
        fh_conn *c = fh_lookup(s, s->dirty[i].fd, s->dirty[i].gen);
        if (c == NULL) continue;
        c->dirty = 0;
        if (c->state == FH_WEBSOCKET) fh_ws_write(s, c);
        else fh_conn_flush(s, c);
    }
    s->ndirty = 0;
    return s->nready > 0;
}

/* Writes the queue of c if the place at idx is at its head (an answer
 * outside a batch). */
static int fh_answered(fh_server *s, fh_conn *c, uint32_t idx) {
    if (fh_at_head(c, idx) && !c->blocked) fh_conn_flush(s, c);
    return s->nready > 0;
}

/*
 * Answers one request outside a batch (an async handler), or with bytes that
 * live in JavaScript memory (too large for the arena), or from a slab of the
 * arena other than the first. The answer is [off, off+len) of slab
 * `data_slab` (which must belong to the arena that begins with `slab`)
 * followed by bytes[0, bytes_len). Bytes from JavaScript are valid only
 * during this call: whatever the socket does not take at once is copied. The
 * arena comes back to the pool here unless the answer still lives in it.
 * Returns 1 when connections wait to be parsed (JavaScript should poll soon),
 * else 0.
 */
int fh_respond(fh_server *s, int fd, int gen, int seq, int slab, const uint8_t *bytes, int bytes_len, int data_slab,
               int off, int len, int flags) {
    fh_conn *c = NULL;
    uint32_t idx = 0;
    uint8_t *arena = NULL;
    fh_seg *g = fh_answer_begin(s, fd, gen, seq, slab, data_slab, off, len,
                                bytes_len >= 0 && (bytes != NULL || bytes_len == 0), &c, &idx, &arena);
    if (g == NULL) return s->nready > 0;
    if (bytes == NULL) {
        g->ptr = arena;
        g->len = (size_t)len;
        g->slab = slab;
    } else if (len == 0) {
        g->ptr = bytes; /* lent for this call: written now if it can be, else copied below */
        g->len = (size_t)bytes_len;
        g->borrowed = 1;
        fh_pool_release(&s->pool, slab);
    } else {
        uint8_t *heap = malloc((size_t)len + (size_t)bytes_len);
        if (heap == NULL) {
            fh_pool_release(&s->pool, slab);
            fh_conn_close(s, c);
            return s->nready > 0;
        }
        memcpy(heap, arena, (size_t)len);
        memcpy(heap + len, bytes, (size_t)bytes_len);
        g->ptr = g->heap = heap;
        g->len = (size_t)len + (size_t)bytes_len;
        fh_pool_release(&s->pool, slab);
    }
    g->ready = 1;
    g->close = !fh_persists(g->req, flags, g->ptr, g->len);
    if (g->borrowed) {
        if (fh_at_head(c, idx) && !c->blocked) fh_conn_flush(s, c);
        c = fh_lookup(s, fd, (uint32_t)gen);
        g = c != NULL ? fh_seg_find(c, (uint32_t)seq, NULL) : NULL;
        if (g != NULL && g->borrowed && fh_seg_own(g) < 0) fh_conn_close(s, c);
        return s->nready > 0;
    }
    return fh_answered(s, c, idx);
}

/* Answers request `seq` with the core's own answer for `status` (a handler
 * that failed outside a batch) and releases its arena. Returns as
 * fh_respond. */
int fh_respond_status(fh_server *s, int fd, int gen, int seq, int slab, int status) {
    fh_conn *c = NULL;
    uint32_t idx = 0;
    fh_seg *g = fh_waiting_place(s, fd, gen, seq, &c, &idx);
    s->now_ms = fh_now_ms();
    fh_pool_release(&s->pool, slab);
    if (g == NULL || fh_answer_status(s, c, g, status, g->req, 0) < 0) return s->nready > 0;
    return fh_answered(s, c, idx);
}

/* The place of response `seq`, if its connection is alive and the place is
 * a stream or takeover JavaScript opened. */
static fh_seg *fh_stream_seg(fh_server *s, int fd, int gen, int seq, fh_conn **pc, uint32_t *idx) {
    fh_conn *c = fh_lookup(s, fd, (uint32_t)gen);
    fh_seg *g;
    if (c == NULL || c->state == FH_LINGERING) return NULL;
    g = fh_seg_find(c, (uint32_t)seq, idx);
    if (g == NULL || !g->ready || (g->kind != FH_SEG_STREAM && g->kind != FH_SEG_TAKEOVER)) return NULL;
    *pc = c;
    return g;
}

/*
 * Answers request `seq` with a stream (FH_SEG_STREAM: bytes written over
 * time, then the connection serves on) or a takeover (FH_SEG_TAKEOVER: once
 * every earlier answer is written, the connection is the handler's). The
 * arena's [off, off+len) of slab `data_slab` is sent first (a stream's head);
 * the arena is kept until the stream ends (a takeover's until the connection
 * is handed over). Returns 1 when connections wait to be parsed, 0, or
 * -EPIPE when the connection is gone (the arena is released).
 */
int fh_stream_open(fh_server *s, int fd, int gen, int seq, int slab, int data_slab, int kind, int off, int len) {
    fh_conn *c = NULL;
    uint32_t idx = 0;
    uint8_t *head = NULL;
    fh_seg *g = fh_answer_begin(s, fd, gen, seq, slab, data_slab, off, len,
                                kind == FH_SEG_STREAM || kind == FH_SEG_TAKEOVER, &c, &idx, &head);
    if (g == NULL) return -EPIPE;
    g->ready = 1;
    g->kind = (uint8_t)kind;
    g->slab = slab;
    if (kind == FH_SEG_TAKEOVER) {
        g->close = 1;
        fh_conn_last(s, c); /* nothing after it is parsed */
    }
    if (fh_stream_append(g, head, (size_t)len, 0) < 0) {
        fh_conn_close(s, c);
        return -EPIPE;
    }
    return fh_answered(s, c, idx);
}

/* Appends bytes to an open stream (chunked: as one chunk of a chunked body)
 * and writes what the socket takes. Returns the bytes still buffered
 * (JavaScript waits for FH_EV_DRAIN when it wants them gone), -ENOBUFS when
 * the writer is FH_STREAM_BUFFER_MAX ahead of the socket (nothing was taken),
 * or -EPIPE when the connection is gone. */
int fh_stream_write(fh_server *s, int fd, int gen, int seq, const uint8_t *bytes, int n, int chunked) {
    fh_conn *c = NULL;
    uint32_t idx = 0;
    fh_seg *g = fh_stream_seg(s, fd, gen, seq, &c, &idx);
    int rc;
    s->now_ms = fh_now_ms();
    if (g == NULL || g->ended || n < 0) return -EPIPE;
    rc = fh_stream_append(g, bytes, (size_t)n, chunked);
    if (rc == -ENOBUFS) return rc;
    if (rc < 0) {
        fh_conn_close(s, c);
        return -EPIPE;
    }
    if (fh_at_head(c, idx) && !c->blocked) {
        fh_conn_flush(s, c);
        if (fh_lookup(s, fd, (uint32_t)gen) != c) return -EPIPE;
        g = fh_seg_find(c, (uint32_t)seq, NULL);
        if (g == NULL) return 0;
    }
    if (g->len > g->off) g->drain_wanted = 1;
    return (int)(g->len - g->off);
}

/* Ends a stream (close_after: and the connection after it) or a takeover
 * (always closes). Returns 1 when connections wait to be parsed, 0, or
 * -EPIPE. */
int fh_stream_end(fh_server *s, int fd, int gen, int seq, int close_after) {
    fh_conn *c = NULL;
    uint32_t idx = 0;
    fh_seg *g = fh_stream_seg(s, fd, gen, seq, &c, &idx);
    s->now_ms = fh_now_ms();
    if (g == NULL) return -EPIPE;
    g->ended = 1;
    if (close_after) g->close = 1;
    if (fh_at_head(c, idx)) fh_conn_flush(s, c);
    return s->nready > 0;
}

/* Copies up to max bytes a taken-over connection has read into dst. Returns
 * the count, or -EPIPE when the connection is gone. */
int fh_raw_take(fh_server *s, int fd, int gen, uint8_t *dst, int max) {
    fh_conn *c = fh_lookup(s, fd, (uint32_t)gen);
    size_t n;
    if (c == NULL || c->state != FH_RAW || max < 0) return -EPIPE;
    n = c->rlen < (size_t)max ? c->rlen : (size_t)max;
    if (n > 0) {
        memcpy(dst, c->rbuf, n);
        memmove(c->rbuf, c->rbuf + n, c->rlen - n);
        c->rlen -= n;
    }
    fh_conn_settle(s, c);
    return (int)n;
}

/*
 * Answers request `seq` with [off, off+len) of slab `data_slab` of its arena
 * (a head) followed by `file_len` bytes of the open file `file_fd` from
 * `file_off`, by sendfile, resumed on writability. The core owns file_fd from
 * here and closes it. Returns 1 when connections wait to be parsed, 0, or
 * -EPIPE.
 */
int fh_respond_file(fh_server *s, int fd, int gen, int seq, int slab, int data_slab, int off, int len, int file_fd,
                    double file_off, double file_len, int flags) {
    fh_conn *c = NULL;
    uint32_t idx = 0;
    uint8_t *head = NULL;
    fh_seg *g = fh_answer_begin(s, fd, gen, seq, slab, data_slab, off, len, file_off >= 0 && file_len >= 0, &c,
                                &idx, &head);
    if (g == NULL) {
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
    g->close = !fh_persists(g->req, flags | FH_RF_RAW, head, (size_t)len);
    return fh_answered(s, c, idx);
}

/*
 * Takes up to `cap` bytes of the streamed body of request `seq` (body.c) into
 * dst and returns how many. state[0] says what follows (FH_B_*): MORE (with
 * no bytes: FH_EV_BODY comes when there are some), END (these were the last),
 * GONE, or FAILED with the status in state[1]; state[2] is 1 when
 * connections wait to be parsed (poll soon); state[3] is the
 * FH_REQ_KEEP_ALIVE an answer given now would have (its head says so).
 * After its answer has been written, a body can no longer be read (GONE). The first read releases a held
 * 100 Continue; taking bytes reopens the window, and when it is empty one
 * read is tried at once, before waiting for the next poll.
 */
/* Whether body b is no longer that of a live connection fd/gen (a call that
 * may close or finish it has just run). */
static int fh_body_lost(fh_server *s, int fd, int gen, fh_body *b) {
    fh_conn *c = fh_lookup(s, fd, (uint32_t)gen);
    return c == NULL || c->body != b;
}

int fh_body_read(fh_server *s, int fd, int gen, int seq, uint8_t *dst, int cap, int32_t *state) {
    fh_conn *c = fh_lookup(s, fd, (uint32_t)gen);
    fh_body *b = c != NULL ? c->body : NULL;
    fh_seg *held;
    size_t n;
    state[0] = FH_B_GONE;
    state[1] = 0;
    state[2] = 0;
    state[3] = 0;
    if (b == NULL || b->seq != (uint32_t)seq || cap < 0) return 0;
    s->now_ms = fh_now_ms();
    if (b->draining) return 0; /* answered: the rest is not the handler's */
    b->poked = 0;
    held = fh_body_held(c);
    if (held != NULL) {
        held->ready = 1; /* the handler reads: the client may send the body */
        fh_body_keep(c);
        if (!c->blocked) fh_conn_flush(s, c); /* now, or once the answers before it have left */
        if (fh_body_lost(s, fd, gen, b)) return 0;
    }
    n = 0;
    if (b->dec == 0) {
        ssize_t r = fh_body_recv_into(s, c, dst, (size_t)cap);
        if (r < 0) return 0; /* closed */
        n = (size_t)r;
        if (n == 0 && fh_body_pull(s, c) < 0 && fh_body_lost(s, fd, gen, b)) return 0;
    }
    if (n == 0 && b->dec > 0) {
        n = b->dec < (size_t)cap ? b->dec : (size_t)cap;
        fh_body_take(c, dst, n);
    }
    if (b->error != 0) {
        state[0] = b->dec > 0 ? FH_B_MORE : FH_B_FAILED;
        state[1] = b->error;
    } else if (b->gone) {
        state[0] = FH_B_GONE;
    } else if (b->frame.phase == FH_BF_DONE && b->dec == 0) {
        state[0] = FH_B_END;
        state[3] = b->keep;
        fh_body_finish(s, c);
        fh_conn_settle(s, c);
    } else {
        state[0] = FH_B_MORE;
        state[3] = fh_body_keeps(c) ? FH_REQ_KEEP_ALIVE : 0;
        if (b->dec == 0) b->wanted = 1;
        if (n > 0) {
            c->last_ms = s->now_ms; /* the stall clock runs from when the window reopened */
            fh_conn_settle(s, c);   /* read again if it was full */
        }
    }
    state[2] = s->nready > 0;
    return (int)n;
}
