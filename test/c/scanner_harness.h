/*
 * scanner_harness.h - what the scanner's C tests and its fuzz target share.
 *
 * It compiles the scanner the way c/fasthttp.c does (the system headers, then
 * scanner.h and scanner.c in one translation unit) and adds three tools:
 *
 * - guarded buffers: input copied so that its last byte sits right before a
 *   PROT_NONE page, so reading one byte too far faults (ASan reports it);
 * - a connection framer that does what c/server.c's fh_parse does with the
 *   scanner (head, then a Content-Length or chunked body, pipelined requests,
 *   an error ends the connection) and records every outcome as an event;
 * - feeding that framer the same bytes in pieces, each piece copied to a
 *   guarded buffer so that a read past the bytes that have arrived faults.
 *
 * The property everything rests on: how the bytes are split into reads never
 * changes the events. The scanner re-scans from the start of a request each
 * time (it keeps no state), so this holds exactly when every strict prefix of
 * what it accepts is FH_INCOMPLETE and an error is decided only by the bytes
 * that are present.
 */
#ifndef FH_SCANNER_HARNESS_H
#define FH_SCANNER_HARNESS_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include "../../c/scanner.h"
#include "../../c/scanner.c"
#include "../../c/chunked.c"

/* ---- guarded buffers ------------------------------------------------------ */

typedef struct fh_guard {
    uint8_t *base; /* cap usable bytes, then one PROT_NONE page */
    size_t cap;
} fh_guard;

static size_t fh_page(void) {
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* Maps `cap` bytes (rounded up to pages) followed by an inaccessible page. */
static int fh_guard_init(fh_guard *g, size_t cap) {
    size_t page = fh_page();
    uint8_t *m;
    cap = (cap + page - 1) / page * page;
    if (cap == 0) cap = page;
    m = mmap(NULL, cap + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return -errno;
    if (mprotect(m + cap, page, PROT_NONE) != 0) {
        munmap(m, cap + page);
        return -errno;
    }
    g->base = m;
    g->cap = cap;
    return 0;
}

static inline void fh_guard_free(fh_guard *g) {
    if (g->base != NULL) munmap(g->base, g->cap + fh_page());
    g->base = NULL;
}

/* Copies data so that it ends exactly at the guard page; returns where it starts. */
static uint8_t *fh_guard_put(fh_guard *g, const uint8_t *data, size_t n) {
    uint8_t *p;
    if (n > g->cap) {
        fprintf(stderr, "harness: %zu bytes do not fit a %zu-byte guarded buffer\n", n, g->cap);
        abort();
    }
    p = g->base + g->cap - n;
    if (n > 0) memcpy(p, data, n);
    return p;
}

/* ---- the framer ------------------------------------------------------------ */

#define FH_EV_REQUEST 1
#define FH_EV_ERROR 2

/* One outcome. Offsets are relative to the start of the request. */
typedef struct fh_ev {
    int32_t kind, status;
    fh_head head;
    int64_t consumed;  /* head plus framed body */
    int64_t body_len;  /* decoded */
    uint64_t body_hash;
} fh_ev;

#define FH_MAX_EVENTS 256

typedef struct fh_framer {
    size_t max_head;
    int64_t max_body;
    fh_guard *g;        /* where each scan's bytes are placed */
    fh_guard *scratch;  /* for decoding a chunked body in place */
    size_t pos;         /* start of the next request in the stream */
    int done;           /* an error, or a request that closes: nothing more is framed */
    int nev;
    fh_ev ev[FH_MAX_EVENTS];
    const char *fail;   /* the first invariant that broke, or NULL */
} fh_framer;

static uint64_t fh_hash(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    size_t k;
    for (k = 0; k < n; k++) h = (h ^ p[k]) * 1099511628211ULL;
    return h ^ (uint64_t)n;
}

static void fh_framer_init(fh_framer *f, fh_guard *g, fh_guard *scratch, size_t max_head, int64_t max_body) {
    memset(f, 0, sizeof(*f));
    f->g = g;
    f->scratch = scratch;
    f->max_head = max_head;
    f->max_body = max_body;
}

#define FH_CHECK(f, cond, what)                                                                    \
    do {                                                                                           \
        if (!(cond) && (f)->fail == NULL) (f)->fail = (what);                                      \
    } while (0)

/* Checks what fh_scan_head promises about a head it accepted from len bytes. */
static void fh_check_head(fh_framer *f, const fh_head *h, int r, size_t len) {
    size_t n = (size_t)r;
    FH_CHECK(f, r > 0 && n <= len, "head length within the input");
    FH_CHECK(f, n <= f->max_head, "head length within max_head");
    FH_CHECK(f, h->head_len == r && h->status == 0, "head_len and status of an accepted head");
    FH_CHECK(f, h->method_start >= 0 && h->method_len > 0 && (size_t)h->method_start + (size_t)h->method_len < n,
             "method within the head");
    FH_CHECK(f, h->target_start > h->method_start && h->target_len > 0 &&
                    (size_t)h->target_start + (size_t)h->target_len < n,
             "target within the head");
    FH_CHECK(f, h->path_start >= 0 && h->path_len > 0 && (size_t)h->path_start + (size_t)h->path_len <= n,
             "path within the head");
    FH_CHECK(f, h->version_start > h->target_start && (size_t)h->version_start + 8 <= n, "version within the head");
    FH_CHECK(f, h->headers_start >= h->version_start + 10 && h->headers_len >= 0 &&
                    (size_t)h->headers_start + (size_t)h->headers_len + 2 == n,
             "header block ends at the blank line");
    FH_CHECK(f, h->content_length >= -1, "content_length >= -1");
    FH_CHECK(f, ((h->flags & FH_REQ_HAS_CL) != 0) == (h->content_length >= 0), "HAS_CL matches content_length");
    FH_CHECK(f, !((h->flags & FH_REQ_CHUNKED) && (h->flags & FH_REQ_HAS_CL)), "never both framings");
}

static int fh_valid_error_status(int st) {
    return st == 400 || st == 414 || st == 431 || st == 501 || st == 505;
}

/* Frames what it can of stream[f->pos, have): each call is one "read" having
 * arrived. The bytes are copied to the guarded buffer first. */
static void fh_framer_feed(fh_framer *f, const uint8_t *stream, size_t have) {
    while (!f->done && f->pos < have && f->nev < FH_MAX_EVENTS) {
        size_t avail = have - f->pos, total;
        const uint8_t *p = fh_guard_put(f->g, stream + f->pos, avail);
        fh_head h;
        fh_ev *e = &f->ev[f->nev];
        int64_t body_len = 0;
        int r = fh_scan_head(p, avail, f->max_head, &h);
        if (r == FH_INCOMPLETE) return;
        memset(e, 0, sizeof(*e));
        if (r == FH_ERROR) {
            FH_CHECK(f, fh_valid_error_status(h.status), "error status is one of 400 414 431 501 505");
            e->kind = FH_EV_ERROR;
            e->status = h.status;
            f->nev++;
            f->done = 1;
            return;
        }
        FH_CHECK(f, r > 0, "fh_scan_head returns > 0, -1 or -2");
        if (r <= 0) {
            f->done = 1;
            return;
        }
        fh_check_head(f, &h, r, avail);
        if (h.flags & FH_REQ_CHUNKED) {
            int st = -1;
            int64_t dec = -1;
            int64_t n = fh_scan_chunked(p + r, avail - (size_t)r, f->max_body, f->max_head, NULL, &dec, &st);
            if (n == FH_INCOMPLETE) return;
            if (n == FH_ERROR) {
                FH_CHECK(f, st == 400 || st == 413 || st == 431, "chunked error status is 400, 413 or 431");
                e->kind = FH_EV_ERROR;
                e->status = st;
                f->nev++;
                f->done = 1;
                return;
            }
            FH_CHECK(f, n > 0 && (size_t)n <= avail - (size_t)r, "chunked length within the input");
            FH_CHECK(f, st == 0 && dec >= 0 && dec <= n && dec <= f->max_body, "decoded length within bounds");
            body_len = dec;
            total = (size_t)r + (size_t)n;
        } else {
            int64_t cl = h.content_length < 0 ? 0 : h.content_length;
            if (cl > f->max_body) {
                e->kind = FH_EV_ERROR;
                e->status = 413;
                f->nev++;
                f->done = 1;
                return;
            }
            body_len = cl;
            total = (size_t)r + (size_t)cl;
            if (total > avail) return;
        }
        /* A complete request: record it, with its decoded body. */
        e->kind = FH_EV_REQUEST;
        e->head = h;
        e->consumed = (int64_t)total;
        e->body_len = body_len;
        if (h.flags & FH_REQ_CHUNKED) {
            /* Decode twice: into a separate buffer, and in place (the
             * destination aliases the source), and compare. */
            size_t blen = total - (size_t)r;
            uint8_t *sep = malloc(blen > 0 ? blen : 1);
            uint8_t *inplace = fh_guard_put(f->scratch, p + r, blen);
            int64_t d1 = -1, d2 = -1, n1, n2;
            int s1 = -1, s2 = -1;
            if (sep == NULL) abort();
            n1 = fh_scan_chunked(p + r, blen, f->max_body, f->max_head, sep, &d1, &s1);
            n2 = fh_scan_chunked(inplace, blen, f->max_body, f->max_head, inplace, &d2, &s2);
            FH_CHECK(f, n1 == (int64_t)blen && n2 == (int64_t)blen, "decoding consumes what framing measured");
            FH_CHECK(f, d1 == body_len && d2 == body_len && s1 == 0 && s2 == 0, "decoding gives the framed length");
            FH_CHECK(f, d1 < 0 || d1 != d2 || memcmp(sep, inplace, (size_t)d1) == 0,
                     "in-place decoding gives the same bytes");
            e->body_hash = fh_hash(sep, d1 > 0 ? (size_t)d1 : 0);
            free(sep);
        } else {
            e->body_hash = fh_hash(p + r, (size_t)body_len);
        }
        f->nev++;
        f->pos += total;
        if (!(h.flags & FH_REQ_KEEP_ALIVE)) f->done = 1;
    }
}

/* Bytes of the stream that were never framed (a request still incomplete). */
static size_t fh_framer_left(const fh_framer *f, size_t len) { return f->done ? 0 : len - f->pos; }

/* Frames the stream delivered in pieces: cuts[0..ncuts) are increasing
 * offsets where a read ends (the stream's end is always one). */
static void fh_frame_split(fh_framer *f, const uint8_t *stream, size_t len, const size_t *cuts, int ncuts) {
    int k;
    for (k = 0; k < ncuts; k++)
        if (cuts[k] > 0 && cuts[k] < len) fh_framer_feed(f, stream, cuts[k]);
    fh_framer_feed(f, stream, len);
}

static int fh_head_eq(const fh_head *x, const fh_head *y) {
    return x->method_start == y->method_start && x->method_len == y->method_len &&
           x->target_start == y->target_start && x->target_len == y->target_len &&
           x->path_start == y->path_start && x->path_len == y->path_len && x->version_start == y->version_start &&
           x->headers_start == y->headers_start && x->headers_len == y->headers_len &&
           x->head_len == y->head_len && x->flags == y->flags && x->status == y->status &&
           x->content_length == y->content_length;
}

static int fh_ev_eq(const fh_ev *x, const fh_ev *y) {
    return x->kind == y->kind && x->status == y->status && x->consumed == y->consumed &&
           x->body_len == y->body_len && x->body_hash == y->body_hash &&
           (x->kind != FH_EV_REQUEST || fh_head_eq(&x->head, &y->head));
}

/* Compares two framings; returns NULL when equal, else what differs. */
static const char *fh_framer_diff(const fh_framer *a, size_t alen, const fh_framer *b, size_t blen) {
    int k;
    if (a->nev != b->nev) return "a different number of events";
    for (k = 0; k < a->nev; k++)
        if (!fh_ev_eq(&a->ev[k], &b->ev[k])) return "a different event";
    if (fh_framer_left(a, alen) != fh_framer_left(b, blen)) return "a different number of unframed bytes";
    return NULL;
}

/* ---- the incremental body framer (fh_body_feed) ----------------------------- */

/*
 * Feeds stream[0, len) to fh_body_feed in reads ending at cuts[0..ncuts) (and
 * at len), as c/body.c does: one buffer that keeps its contents between calls
 * (decoded data at its start, then what is not framed yet), each read appended
 * at its end. Before every call the buffer is copied to the guarded buffer so
 * that it ends at the guard page (a read past the bytes that have arrived
 * faults), and copied back after. With `take`, the decoded bytes are taken
 * after every call (moved out, the rest moved down, as fh_body_frame_more does
 * when draining). After the first call that fails, nothing more is fed.
 *
 * After every call: the status is 0, 400, 413 or 431 (always 0 for a
 * Content-Length body); dec <= raw <= len; the frame's total is what was
 * decoded; the decoded bytes so far are a prefix of `ref` (when given); at
 * FH_BF_DONE the bytes after the body are untouched. With `whole` (chunked),
 * fh_scan_chunked with the same max_line over the bytes that have arrived
 * must agree with the call: the same error, complete (at the same length,
 * with the same decoded length) exactly when FH_BF_DONE, else incomplete.
 */
typedef struct fh_feed_run {
    int status;       /* the first nonzero result of fh_body_feed, or 0 */
    int phase;        /* FH_BF_* at the end */
    size_t arrived;   /* bytes of the stream present at the call that failed, or len */
    size_t raw;       /* where framing stopped, as an offset in the stream */
    uint8_t *out;     /* the decoded bytes (malloc'd), outlen of them */
    size_t outlen;
    const char *fail; /* the first invariant that broke, or NULL */
    size_t fail_at;   /* bytes present when it broke */
} fh_feed_run;

static void fh_feed_run_free(fh_feed_run *o) {
    free(o->out);
    o->out = NULL;
}

#define FH_FEED_CHECK(o, cond, what, have)                                                         \
    do {                                                                                           \
        if (!(cond) && (o)->fail == NULL) {                                                        \
            (o)->fail = (what);                                                                    \
            (o)->fail_at = (have);                                                                 \
        }                                                                                          \
    } while (0)

static void fh_feed_split(fh_feed_run *o, fh_guard *g, const uint8_t *stream, size_t len, const size_t *cuts,
                          int ncuts, int chunked, int64_t length, int64_t max_body, size_t max_line, int take,
                          int whole, const uint8_t *ref, size_t reflen) {
    fh_body_frame f;
    uint8_t *acc = malloc(len + 1);
    size_t rlen = 0, have = 0, dec = 0, raw = 0, shift = 0;
    int k = 0;
    memset(o, 0, sizeof(*o));
    o->out = malloc(len + 1);
    if (acc == NULL || o->out == NULL) abort();
    fh_body_frame_init(&f, chunked, length);
    for (;;) {
        /* The next read ends at the next cut past what has arrived, or at len (fed once, last). */
        size_t to = len;
        uint8_t *p;
        int r;
        while (k < ncuts && (cuts[k] <= have || cuts[k] >= len)) k++;
        if (k < ncuts) to = cuts[k++];
        memcpy(acc + rlen, stream + have, to - have);
        rlen += to - have;
        have = to;
        p = fh_guard_put(g, acc, rlen);
        r = fh_body_feed(&f, p, rlen, &dec, &raw, max_body, max_line);
        memcpy(acc, p, rlen);
        FH_FEED_CHECK(o, r == 0 || r == 400 || r == 413 || r == 431, "fh_body_feed returns 0, 400, 413 or 431", have);
        FH_FEED_CHECK(o, chunked || r == 0, "a Content-Length body never fails", have);
        FH_FEED_CHECK(o, dec <= raw && raw <= rlen, "dec <= raw <= len", have);
        FH_FEED_CHECK(o, f.phase <= FH_BF_DONE, "a known phase", have);
        FH_FEED_CHECK(o, f.total == (int64_t)(o->outlen + dec), "the frame's total is what was decoded", have);
        FH_FEED_CHECK(o, !chunked || f.total <= max_body, "decoded within max_body", have);
        FH_FEED_CHECK(o, chunked || (f.total <= length && (f.phase == FH_BF_DONE) == (f.total == length)),
                      "a Content-Length body is done at its length", have);
        if (ref != NULL)
            FH_FEED_CHECK(o, o->outlen + dec <= reflen && memcmp(o->out, ref, o->outlen) == 0 &&
                                 memcmp(acc, ref + o->outlen, dec) == 0,
                          "the decoded bytes so far are a prefix of the body's", have);
        if (f.phase == FH_BF_DONE)
            FH_FEED_CHECK(o, memcmp(acc + raw, stream + shift + raw, rlen - raw) == 0,
                          "the bytes after the body are untouched", have);
        if (whole && chunked) {
            int64_t wd = -1;
            int ws = -1;
            int64_t w = fh_scan_chunked(fh_guard_put(g, stream, have), have, max_body, max_line, NULL, &wd, &ws);
            if (r != 0) FH_FEED_CHECK(o, w == FH_ERROR && ws == r, "fails as fh_scan_chunked does, with the same status", have);
            else if (f.phase == FH_BF_DONE)
                FH_FEED_CHECK(o, w >= 0 && (size_t)w == shift + raw && wd == f.total,
                              "done where fh_scan_chunked is complete, at the same length", have);
            else FH_FEED_CHECK(o, w == FH_INCOMPLETE, "wants more where fh_scan_chunked is incomplete", have);
        }
        if (take && dec > 0) {
            memcpy(o->out + o->outlen, acc, dec);
            o->outlen += dec;
            memmove(acc, acc + dec, rlen - dec);
            rlen -= dec;
            raw -= dec;
            shift += dec;
            dec = 0;
        }
        if (r != 0) {
            o->status = r;
            break;
        }
        if (have == len) break;
    }
    memcpy(o->out + o->outlen, acc, dec);
    o->outlen += dec;
    o->phase = f.phase;
    o->arrived = have;
    o->raw = shift + raw;
    free(acc);
}

/* Whether a run agrees with fh_scan_chunked's answer over the same bytes (w,
 * with wdec decoded bytes in dst, or the status wst): complete at the same
 * length with the same bytes, the same error, or both wanting more. NULL
 * when it does, else what differs. */
static const char *fh_feed_agrees(const fh_feed_run *o, int64_t w, int64_t wdec, int wst, const uint8_t *dst) {
    if (o->fail) return o->fail;
    if (w >= 0) {
        if (o->status != 0 || o->phase != FH_BF_DONE) return "not done where fh_scan_chunked is complete";
        if ((int64_t)o->raw != w) return "done at another length than fh_scan_chunked's";
        if ((int64_t)o->outlen != wdec || memcmp(o->out, dst, o->outlen) != 0) return "decoded other bytes";
    } else if (w == FH_ERROR) {
        if (o->status != wst) return "another status than fh_scan_chunked's";
    } else if (o->status != 0 || o->phase == FH_BF_DONE) {
        return "done or failed where fh_scan_chunked is incomplete";
    }
    return NULL;
}

#endif
