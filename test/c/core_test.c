/*
 * core_test.c - the loop core's queue and connection state in C, with no
 * JavaScript, meant to run under -fsanitize=address,undefined.
 *
 * It includes the whole core (c/fasthttp.c, one translation unit) so that it
 * sees the static functions and the structs. A server is created as usual
 * (listening on 127.0.0.1:0), but each connection is one end of a
 * socketpair(2) handed to fh_conn_new; the test is the client on the other
 * end. The server is driven exactly as src/server.ts drives it: fh_poll fills
 * descriptor rows (layout.h), the test answers them in the request's slab
 * (FH_R_ARENA), with the core's own answer (FH_R_STATUS) or later through
 * fh_respond / fh_respond_status / the stream calls, then fh_flush(s, 0, n).
 * After each step it checks the connection's state, its queue length, what
 * the client received, the events and the pool.
 *
 * Every client read has a deadline, and an alarm ends a run that hangs.
 * Prints a line per failed check (with the case's name), "ok"/"FAIL" per
 * case, and ends with "N passed, M failed"; exits 1 on any failure.
 *
 *   clang -g -fsanitize=address,undefined -fno-sanitize-recover=all -pthread \
 *     test/c/core_test.c -o core_test && ./core_test
 *   (add -DFH_BACKEND_KQUEUE=1 -I c for the kqueue backend over c/testing/kqueue_emu.h)
 */
#include "../../c/fasthttp.c"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>

/* ---- checks ---------------------------------------------------------------- */

static int passed, failed, cases_ok, cases_failed;
static const char *cur = "";
static int cur_failed;

static void t_fail(int line, const char *fmt, ...) {
    va_list ap;
    failed++;
    cur_failed = 1;
    printf("FAIL %s (line %d): ", cur, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

#define CHECK(cond)                                \
    do {                                           \
        if (cond) passed++;                        \
        else t_fail(__LINE__, "%s", #cond);        \
    } while (0)

#define CHECK_EQ(got, want)                                                                               \
    do {                                                                                                  \
        long long g_ = (long long)(got), w_ = (long long)(want);                                          \
        if (g_ == w_) passed++;                                                                           \
        else t_fail(__LINE__, "%s is %lld, expected %s (%lld)", #got, g_, #want, w_);                     \
    } while (0)

static const char *state_name(int st) {
    switch (st) {
    case FH_READING: return "READING";
    case FH_ANSWERING: return "ANSWERING";
    case FH_CLOSING: return "CLOSING";
    case FH_RAW: return "RAW";
    case FH_LINGERING: return "LINGERING";
    }
    return "?";
}

static fh_conn *conn_of(fh_server *s, int fd) { return fd >= 0 && fd < s->conns_cap ? s->conns[fd] : NULL; }

/* The connection on fd is open and in state st. */
#define CHECK_STATE(s, fd, st)                                                                                 \
    do {                                                                                                       \
        fh_conn *c_ = conn_of((s), (fd));                                                                      \
        if (c_ != NULL && c_->state == (st)) passed++;                                                         \
        else t_fail(__LINE__, "connection %d is %s, expected %s", (fd), c_ ? state_name(c_->state) : "closed", \
                    state_name(st));                                                                           \
    } while (0)

#define CHECK_CLOSED(s, fd)                                                                                    \
    do {                                                                                                       \
        fh_conn *c_ = conn_of((s), (fd));                                                                      \
        if (c_ == NULL) passed++;                                                                              \
        else t_fail(__LINE__, "connection %d is still open (%s, qlen %u, eof %d)", (fd), state_name(c_->state), \
                    c_->qlen, c_->eof);                                                                        \
    } while (0)

#define CHECK_QLEN(s, fd, n)                                                                        \
    do {                                                                                            \
        fh_conn *c_ = conn_of((s), (fd));                                                           \
        if (c_ != NULL && c_->qlen == (uint32_t)(n)) passed++;                                      \
        else if (c_ == NULL) t_fail(__LINE__, "connection %d is closed, expected qlen %d", (fd), (n)); \
        else t_fail(__LINE__, "connection %d has qlen %u, expected %d", (fd), c_->qlen, (n));        \
    } while (0)

/* Prints bytes with CR, LF and other controls escaped. */
static void t_escape(char *out, size_t cap, const uint8_t *p, size_t n) {
    size_t i, o = 0;
    for (i = 0; i < n && o + 8 < cap; i++) {
        if (p[i] == '\r') o += (size_t)snprintf(out + o, cap - o, "\\r");
        else if (p[i] == '\n') o += (size_t)snprintf(out + o, cap - o, "\\n");
        else if (p[i] < 32 || p[i] >= 127) o += (size_t)snprintf(out + o, cap - o, "\\x%02x", p[i]);
        else out[o++] = (char)p[i];
    }
    if (i < n && o + 4 < cap) o += (size_t)snprintf(out + o, cap - o, "...");
    out[o < cap ? o : cap - 1] = '\0';
}

/* ---- the server and its socketpair connections ------------------------------ */

#define MAX_HEAD 8192
#define SLAB 16384

static fh_server *srv_new(void) {
    int32_t err = 0;
    fh_server *s = fh_server_create("127.0.0.1", 0, 16, MAX_HEAD, 1 << 20, SLAB, 64, 64, 0, 0, -1, &err);
    if (s == NULL) {
        printf("FAIL %s: fh_server_create: %s\n", cur, fh_strerror(err));
        exit(1);
    }
    return s;
}

/* A socketpair: the server end adopted by fh_conn_new (returned), the client
 * end (blocking) in *client. */
static int pair_new(fh_server *s, int *client) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || fh_set_nonblock(sv[0]) < 0) {
        printf("FAIL %s: socketpair: %s\n", cur, strerror(errno));
        exit(1);
    }
    if (fh_conn_new(s, sv[0]) == NULL) {
        printf("FAIL %s: fh_conn_new refused fd %d\n", cur, sv[0]);
        exit(1);
    }
    *client = sv[1];
    return sv[0];
}

static void cl_send(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            t_fail(__LINE__, "client send: %s", strerror(errno));
            return;
        }
        b += w;
        n -= (size_t)w;
    }
}

static void cl_sends(int fd, const char *str) { cl_send(fd, str, strlen(str)); }

/* Reads up to n bytes within ms. Returns the count; *eof is set when the
 * server's FIN came first. */
static size_t cl_read(int fd, uint8_t *buf, size_t n, int ms, int *eof) {
    size_t got = 0;
    int64_t end = fh_now_ms() + ms;
    if (eof) *eof = 0;
    while (got < n) {
        struct pollfd p;
        int64_t left = end - fh_now_ms();
        ssize_t r;
        p.fd = fd;
        p.events = POLLIN;
        if (left < 0) left = 0;
        if (poll(&p, 1, (int)left) <= 0) break;
        r = recv(fd, buf + got, n - got, 0);
        if (r == 0) {
            if (eof) *eof = 1;
            break;
        }
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            break;
        }
        got += (size_t)r;
    }
    return got;
}

/* The client receives exactly `want` (within a second). */
#define CHECK_RECV(cl, want) check_recv(__LINE__, (cl), (const uint8_t *)(want), strlen(want))
static void check_recv(int line, int cl, const uint8_t *want, size_t n) {
    uint8_t *got = malloc(n + 1);
    char a[512], b[512];
    size_t k = cl_read(cl, got, n, 1000, NULL);
    if (k == n && memcmp(got, want, n) == 0) {
        passed++;
    } else {
        t_escape(a, sizeof(a), got, k);
        t_escape(b, sizeof(b), want, n);
        t_fail(line, "client received \"%s\" (%zu bytes), expected \"%s\" (%zu bytes)", a, k, b, n);
    }
    free(got);
}

/* Nothing arrives for the client within ms (neither bytes nor FIN). */
#define CHECK_QUIET(cl, ms) check_quiet(__LINE__, (cl), (ms))
static void check_quiet(int line, int cl, int ms) {
    struct pollfd p;
    p.fd = cl;
    p.events = POLLIN;
    if (poll(&p, 1, ms) == 0) {
        passed++;
    } else {
        uint8_t buf[256];
        char a[512];
        ssize_t r = recv(cl, buf, sizeof(buf), MSG_DONTWAIT);
        t_escape(a, sizeof(a), buf, r > 0 ? (size_t)r : 0);
        t_fail(line, "the client got something unexpected: %s \"%s\"", r == 0 ? "FIN" : "bytes", a);
    }
}

/* The next thing the client reads is the server's FIN. */
#define CHECK_EOF(cl) check_eof(__LINE__, (cl))
static void check_eof(int line, int cl) {
    uint8_t buf[256];
    int eof = 0;
    size_t k = cl_read(cl, buf, sizeof(buf), 1000, &eof);
    if (k == 0 && eof) {
        passed++;
    } else {
        char a[512];
        t_escape(a, sizeof(a), buf, k);
        t_fail(line, "expected the server's FIN, got %zu bytes \"%s\"%s", k, a, eof ? " then FIN" : ", no FIN");
    }
}

/* Polls until rows are ready (or 1 s passed). Returns fh_poll's count. */
static int poll_rows(fh_server *s) {
    int64_t end = fh_now_ms() + 1000;
    int n;
    do {
        n = fh_poll(s, 0);
        if (n != 0) return n;
        usleep(1000);
    } while (fh_now_ms() < end);
    return 0;
}

/* Polls a few times (the peer's FIN or reset is seen within them). */
static void poll_some(fh_server *s, int times) {
    int k;
    for (k = 0; k < times; k++) {
        (void)fh_poll(s, 0);
        usleep(1000);
    }
}

/* What a row says about its request (the row itself is reused by the next poll). */
typedef struct t_row {
    int fd, gen, seq, slab, len, flags;
} t_row;

static t_row row_at(fh_server *s, int i) {
    int32_t *d = s->desc + (size_t)i * FH_D_SIZE;
    t_row r;
    r.fd = d[FH_D_FD];
    r.gen = d[FH_D_GEN];
    r.seq = d[FH_D_SEQ];
    r.slab = d[FH_D_SLAB];
    r.len = d[FH_D_LEN];
    r.flags = d[FH_D_FLAGS];
    return r;
}

/* Puts a response into the request's slab after the request's bytes, as
 * src/server.ts does. Returns its offset. */
static int put_in_slab(fh_server *s, const t_row *r, const char *resp) {
    int off = (r->len + 7) & ~7;
    size_t n = strlen(resp);
    if ((size_t)off + n > fh_pool_size(&s->pool, r->slab)) {
        printf("FAIL %s: the response does not fit the slab\n", cur);
        exit(1);
    }
    memcpy(fh_pool_ptr(&s->pool, r->slab) + off, resp, n);
    return off;
}

/* The RF_* flags src/server.ts would pass for a response to this request. */
static int rflags_for(const t_row *r, const char *resp) {
    int f = (r->flags & FH_REQ_KEEP_ALIVE) ? 0 : FH_RF_CLOSE;
    if (strncmp(resp, "HTTP/", 5) == 0) f |= FH_RF_RAW;
    return f;
}

/* Answers row i in its slab (FH_R_ARENA); the caller flushes. */
static void answer_arena(fh_server *s, int i, const char *resp) {
    int32_t *d = s->desc + (size_t)i * FH_D_SIZE;
    t_row r = row_at(s, i);
    d[FH_D_RKIND] = FH_R_ARENA;
    d[FH_D_ROFF] = put_in_slab(s, &r, resp);
    d[FH_D_RLEN] = (int32_t)strlen(resp);
    d[FH_D_RFLAGS] = rflags_for(&r, resp);
}

static void answer_status(fh_server *s, int i, int status) {
    int32_t *d = s->desc + (size_t)i * FH_D_SIZE;
    d[FH_D_RKIND] = FH_R_STATUS;
    d[FH_D_ROFF] = status;
}

/* Answers a request later, from its slab (an async handler). */
static int respond_async(fh_server *s, const t_row *r, const char *resp) {
    int off = put_in_slab(s, r, resp);
    return fh_respond(s, r->fd, r->gen, r->seq, r->slab, NULL, 0, r->slab, off, (int)strlen(resp), rflags_for(r, resp));
}

/* The next event is (type, fd, gen, seq). */
#define CHECK_EVENT(s, type, r) check_event(__LINE__, (s), (type), (r))
static void check_event(int line, fh_server *s, int type, const t_row *r) {
    int32_t ev[FH_EV_SIZE];
    int n = fh_events_pending(s) > 0 ? fh_events_take(s, ev, 1) : 0; /* case_events_empty takes from none */
    if (n == 1 && ev[0] == type && ev[1] == r->fd && ev[2] == r->gen && ev[3] == r->seq) passed++;
    else if (n == 0) t_fail(line, "no event, expected type %d for fd %d gen %d seq %d", type, r->fd, r->gen, r->seq);
    else
        t_fail(line, "event (%d, %d, %d, %d), expected (%d, %d, %d, %d)", ev[0], ev[1], ev[2], ev[3], type, r->fd,
               r->gen, r->seq);
}

#define CHECK_NO_EVENTS(s) CHECK_EQ(fh_events_pending(s), 0)

#define GET(path) "GET " path " HTTP/1.1\r\nHost: a\r\n\r\n"
#define OK_BODY(b) "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" b
#define ERR500_HEAD "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\r\n"
#define ERR400 \
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n"

/* ---- guarded buffers (a read past the end faults, with or without ASan) ----- */

static uint8_t *guard_base;
static size_t guard_cap;

static void guard_init(void) {
    long page = sysconf(_SC_PAGESIZE);
    guard_cap = page > 0 ? (size_t)page : 4096;
    guard_base = mmap(NULL, guard_cap * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard_base == MAP_FAILED || mprotect(guard_base + guard_cap, guard_cap, PROT_NONE) != 0) {
        printf("FAIL guard page: %s\n", strerror(errno));
        exit(1);
    }
}

/* Copies n bytes so that they end right before the PROT_NONE page. */
static const uint8_t *guard_put(const char *p, size_t n) {
    uint8_t *at = guard_base + guard_cap - n;
    if (n > guard_cap) abort();
    memcpy(at, p, n);
    return at;
}

/* ---- the cases ----------------------------------------------------------------- */

/* fh_scan_response: the flags of response heads built by user code, and every
 * strict prefix scanned within its bounds. */
static void case_scan_response(void) {
    static const struct {
        const char *in;
        int flags;
    } t[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", FH_RESP_FRAMED},
        {"HTTP/1.1 200 OK\r\ncontent-length:5\r\n\r\n", FH_RESP_FRAMED},
        {"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", FH_RESP_HTTP10 | FH_RESP_FRAMED},
        {"HTTP/1.0 200 OK\r\n\r\n", FH_RESP_HTTP10},
        {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", FH_RESP_CLOSE},
        {"HTTP/1.1 200 OK\r\nCONNECTION: Close\r\n\r\n", FH_RESP_CLOSE},
        {"HTTP/1.1 200 OK\r\nConnection: upgrade, close\r\n\r\n", FH_RESP_CLOSE},
        {"HTTP/1.1 200 OK\r\nconnection: Keep-Alive\r\n\r\n", FH_RESP_KEEP_ALIVE},
        {"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\n\r\n", FH_RESP_KEEP_ALIVE | FH_RESP_CLOSE},
        {"HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nConnection-X: close\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nX-Connection: close\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length-X: 5\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", FH_RESP_FRAMED},
        {"HTTP/1.1 200 OK\r\nTRANSFER-ENCODING:  Chunked \t\r\n\r\n", FH_RESP_FRAMED},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", FH_RESP_FRAMED},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0},
        {"HTTP/1.1 204 No Content\r\n\r\n", FH_RESP_NO_BODY},
        {"HTTP/1.1 304 Not Modified\r\n\r\n", FH_RESP_NO_BODY},
        {"HTTP/1.1 100 Continue\r\n\r\n", FH_RESP_NO_BODY},
        {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n", FH_RESP_NO_BODY},
        {"HTTP/1.1 199 X\r\n\r\n", FH_RESP_NO_BODY},
        {"HTTP/1.1 200 OK\r\n\r\n", 0},
        {"HTTP/1.1 205 Reset Content\r\n\r\n", 0},
        {"HTTP/1.0 304 Not Modified\r\nConnection: keep-alive\r\n\r\n",
         FH_RESP_HTTP10 | FH_RESP_NO_BODY | FH_RESP_KEEP_ALIVE},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
         FH_RESP_CLOSE | FH_RESP_FRAMED},
        {"HTTP/1.1 200 OK\r\n\r\nConnection: close\r\nContent-Length: 5\r\n", 0}, /* a body, not headers */
        {"HTTP/1.1 200 OK\nContent-Length: 5\n\n", FH_RESP_FRAMED},
        {"HTTP/1.1 200 OK\r\nConnection: close", FH_RESP_CLOSE}, /* cut before its CRLF */
        {"HTTP/1.0", FH_RESP_HTTP10},
        {"HTTP/1.1 20", 0},
        {"", 0},
    };
    size_t i, k;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t n = strlen(t[i].in);
        int r = fh_scan_response(guard_put(t[i].in, n), n);
        if (r == t[i].flags) {
            passed++;
        } else {
            char a[256];
            t_escape(a, sizeof(a), (const uint8_t *)t[i].in, n);
            t_fail(__LINE__, "fh_scan_response(\"%s\") = %d, expected %d", a, r, t[i].flags);
        }
        for (k = 0; k < n; k++) (void)fh_scan_response(guard_put(t[i].in, k), k); /* in bounds: faults if not */
        passed++;
    }
}

/* fh_persists, the one keep-alive decision: request flags x answer flags x raw head. */
static void case_persists(void) {
#define KA FH_REQ_KEEP_ALIVE
#define H10 FH_REQ_HTTP10
#define RAW FH_RF_RAW
    static const struct {
        const char *name;
        int32_t req;
        int rflags;
        const char *head; /* NULL: not raw */
        int keeps;
    } t[] = {
        {"HTTP/1.1 plain answer", KA, 0, NULL, 1},
        {"HTTP/1.1 raw answer with Content-Length", KA, RAW, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1},
        {"request Connection: close", 0, 0, NULL, 0},
        {"request Connection: close, raw framed answer", 0, RAW, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 0},
        {"HTTP/1.0 request without keep-alive", H10, 0, NULL, 0},
        {"answer RF_CLOSE", KA, FH_RF_CLOSE, NULL, 0},
        {"answer RF_CLOSE, raw framed", KA, FH_RF_CLOSE | RAW, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 0},
        {"HTTP/1.0 keep-alive request, plain answer", KA | H10, 0, NULL, 1},
        {"HTTP/1.0 keep-alive request, raw head without keep-alive", KA | H10, RAW,
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 0},
        {"HTTP/1.0 keep-alive request, raw head with keep-alive", KA | H10, RAW,
         "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n", 1},
        {"raw HTTP/1.0 200 head", KA, RAW, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", 0},
        {"raw HTTP/1.0 200 head with keep-alive", KA, RAW,
         "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n", 1},
        {"raw head with Connection: close", KA, RAW, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
         0},
        {"raw head, keep-alive and close", KA, RAW,
         "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\n", 0},
        {"raw head without framing: ends at the close", KA, RAW, "HTTP/1.1 200 OK\r\n\r\nbody", 0},
        {"raw head without framing, keep-alive said", KA, RAW, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", 0},
        {"raw 204 without framing", KA, RAW, "HTTP/1.1 204 No Content\r\n\r\n", 1},
        {"raw 304 without framing", KA, RAW, "HTTP/1.1 304 Not Modified\r\n\r\n", 1},
        {"raw 1xx without framing", KA, RAW, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 1},
        {"raw head without framing to a HEAD request", KA | FH_REQ_HEAD, RAW, "HTTP/1.1 200 OK\r\n\r\n", 1},
        {"raw Transfer-Encoding: chunked", KA, RAW, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 1},
        {"raw Transfer-Encoding: chunked, gzip (not framed)", KA, RAW,
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 0},
        {"not raw: the head is not read", KA, 0, "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n", 1},
    };
#undef KA
#undef H10
#undef RAW
    fh_server *s = srv_new();
    size_t i;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t n = t[i].head ? strlen(t[i].head) : 0;
        int r;
        r = fh_persists(t[i].req, t[i].rflags, t[i].head ? guard_put(t[i].head, n) : NULL, n);
        if (r == t[i].keeps) passed++;
        else t_fail(__LINE__, "fh_persists: %s: %s, expected %s", t[i].name, r ? "keeps" : "closes",
                    t[i].keeps ? "keeps" : "closes");
    }
    fh_destroy(s);
}

/* One request: READING -> ANSWERING (after poll) -> READING (after flush). */
static void case_one_request(void) {
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl), n;
    fh_conn *c = conn_of(s, fd);
    CHECK_STATE(s, fd, FH_READING);
    CHECK_EQ(fh_poll(s, 0), 0);
    CHECK_STATE(s, fd, FH_READING);
    cl_sends(cl, GET("/one"));
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        t_row r = row_at(s, 0);
        int32_t *d = s->desc;
        const uint8_t *req = fh_pool_ptr(&s->pool, r.slab);
        CHECK_EQ(r.fd, fd);
        CHECK_EQ(r.gen, c->gen);
        CHECK_EQ(r.len, (int)strlen(GET("/one")));
        CHECK(memcmp(req, GET("/one"), strlen(GET("/one"))) == 0);
        CHECK(d[FH_D_PATH + 1] == 4 && memcmp(req + d[FH_D_PATH], "/one", 4) == 0);
        CHECK(r.flags & FH_REQ_KEEP_ALIVE);
        CHECK_EQ(d[FH_D_RKIND], FH_R_PENDING);
        CHECK_STATE(s, fd, FH_ANSWERING);
        CHECK_QLEN(s, fd, 1);
        CHECK_EQ(s->pool.in_use, 1);
        answer_arena(s, 0, OK_BODY("1"));
        fh_flush(s, 0, n);
        CHECK_STATE(s, fd, FH_READING);
        CHECK_QLEN(s, fd, 0);
        CHECK_RECV(cl, OK_BODY("1"));
        CHECK_QUIET(cl, 20);
        CHECK_EQ(s->pool.in_use, 0);
        c = conn_of(s, fd);
        CHECK(c != NULL && c->rbuf == NULL && c->rlen == 0); /* an idle connection keeps no buffer */
        CHECK_EQ(fh_poll(s, 0), 0);
        CHECK_STATE(s, fd, FH_READING);
    }
    /* The same connection serves a second request. */
    cl_sends(cl, GET("/two"));
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        answer_arena(s, 0, OK_BODY("2"));
        fh_flush(s, 0, n);
        CHECK_RECV(cl, OK_BODY("2"));
        CHECK_STATE(s, fd, FH_READING);
    }
    CHECK_NO_EVENTS(s);
    close(cl);
    poll_some(s, 3);
    CHECK_CLOSED(s, fd); /* the peer's FIN with nothing waiting: closed */
    fh_destroy(s);
}

/* Sends three pipelined GETs (/a, /b, /c) in one write and takes their rows
 * into r. Returns 1 when exactly three came. */
static int pipeline3(fh_server *s, int cl, t_row r[3]) {
    int i, n;
    cl_sends(cl, GET("/a") GET("/b") GET("/c"));
    n = poll_rows(s);
    CHECK_EQ(n, 3);
    if (n != 3) return 0;
    for (i = 0; i < 3; i++) r[i] = row_at(s, i);
    return 1;
}

/* Three pipelined requests in one write, answered out of order: they leave in
 * request order. */
static void case_pipelined(void) {
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl);
    t_row r[3];
    if (pipeline3(s, cl, r)) {
        CHECK(r[0].seq + 1 == r[1].seq && r[1].seq + 1 == r[2].seq);
        CHECK_STATE(s, fd, FH_ANSWERING);
        CHECK_QLEN(s, fd, 3);
        CHECK_EQ(s->pool.in_use, 3);
        fh_flush(s, 0, 3); /* all three pending (async handlers) */
        CHECK_QLEN(s, fd, 3);
        CHECK_QUIET(cl, 10);
        respond_async(s, &r[2], OK_BODY("c"));
        CHECK_QLEN(s, fd, 3); /* waits behind 0 and 1 */
        CHECK_QUIET(cl, 10);
        CHECK_EQ(fh_poll(s, 0), 0);
        respond_async(s, &r[0], OK_BODY("a"));
        CHECK_QLEN(s, fd, 2);
        CHECK_RECV(cl, OK_BODY("a"));
        CHECK_QUIET(cl, 10);
        CHECK_STATE(s, fd, FH_ANSWERING);
        respond_async(s, &r[1], OK_BODY("b"));
        CHECK_QLEN(s, fd, 0);
        CHECK_RECV(cl, OK_BODY("b") OK_BODY("c"));
        CHECK_STATE(s, fd, FH_READING);
        CHECK_EQ(s->pool.in_use, 0);
        /* A second answer to a request already answered is ignored (and frees nothing twice). */
        respond_async(s, &r[1], OK_BODY("x"));
        CHECK_QUIET(cl, 10);
        CHECK_EQ(s->pool.in_use, 0);
    }
    fh_destroy(s);
    close(cl);
}

/* A graceful stop with pipelined answers outstanding: the connection goes
 * CLOSING, every answer already queued still goes out, in order, then FIN. */
static void case_stop_pipelined(void) {
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl);
    t_row r[3];
    if (pipeline3(s, cl, r)) {
        fh_flush(s, 0, 3); /* all pending */
        CHECK_EQ(fh_stop(s, 0), 1);
        CHECK_STATE(s, fd, FH_CLOSING);
        respond_async(s, &r[1], OK_BODY("b"));
        respond_async(s, &r[0], OK_BODY("a"));
        CHECK_RECV(cl, OK_BODY("a") OK_BODY("b"));
        CHECK_STATE(s, fd, FH_CLOSING);
        respond_async(s, &r[2], OK_BODY("c"));
        CHECK_RECV(cl, OK_BODY("c"));
        CHECK_EOF(cl);
        CHECK_EQ(s->pool.in_use, 0);
    }
    close(cl);
    (void)fh_poll(s, 0);
    CHECK_EQ(s->nconns, 0);
    fh_destroy(s);
}

/* Connection: close -> CLOSING; after the flush LINGERING (FIN sent); the
 * client closes -> freed on the next poll. */
static void case_connection_close(void) {
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl), n;
    cl_sends(cl, "GET /bye HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        CHECK(!(row_at(s, 0).flags & FH_REQ_KEEP_ALIVE));
        CHECK_STATE(s, fd, FH_CLOSING);
        CHECK_QLEN(s, fd, 1);
        answer_arena(s, 0, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye");
        fh_flush(s, 0, n);
        CHECK_STATE(s, fd, FH_LINGERING);
        CHECK_EQ(s->nlinger, 1);
        CHECK_RECV(cl, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye");
        CHECK_EOF(cl);
        CHECK_EQ(s->pool.in_use, 0);
    }
    close(cl);
    (void)fh_poll(s, 0);
    CHECK_CLOSED(s, fd);
    CHECK_EQ(s->nlinger, 0);
    CHECK_EQ(s->nconns, 0);
    fh_destroy(s);
}

/* FH_R_STATUS 500: no body for HEAD (Content-Length as GET would have it),
 * the connection stays; a 500 on GET (here async, fh_respond_status) has it. */
static void case_status_500(void) {
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl), n;
    cl_sends(cl, "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n");
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        CHECK(row_at(s, 0).flags & FH_REQ_HEAD);
        answer_status(s, 0, 500);
        fh_flush(s, 0, n);
        CHECK_RECV(cl, ERR500_HEAD);
        CHECK_QUIET(cl, 20);
        CHECK_STATE(s, fd, FH_READING);
        CHECK_EQ(s->pool.in_use, 0);
    }
    cl_sends(cl, GET("/after"));
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        answer_arena(s, 0, OK_BODY("g"));
        fh_flush(s, 0, n);
        CHECK_RECV(cl, OK_BODY("g"));
        CHECK_STATE(s, fd, FH_READING);
    }
    cl_sends(cl, GET("/fails"));
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) { /* in a batch */
        answer_status(s, 0, 500);
        fh_flush(s, 0, n);
        CHECK_RECV(cl, ERR500_HEAD "Internal Server Error\n");
        CHECK_STATE(s, fd, FH_READING);
    }
    cl_sends(cl, GET("/fails-later"));
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) { /* async */
        t_row r = row_at(s, 0);
        fh_flush(s, 0, n);
        CHECK_QUIET(cl, 10);
        fh_respond_status(s, r.fd, r.gen, r.seq, r.slab, 500);
        CHECK_RECV(cl, ERR500_HEAD "Internal Server Error\n");
        CHECK_STATE(s, fd, FH_READING);
        CHECK_EQ(s->pool.in_use, 0);
    }
    fh_destroy(s);
    close(cl);
}

/* A framing error: 400 with Connection: close, then FIN; a valid request
 * before it (in the same read) is answered first. */
static void case_framing_error(void) {
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl), n;
    cl_sends(cl, GET("/ok") "GARBAGE\r\n\r\n");
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        CHECK_STATE(s, fd, FH_CLOSING);
        CHECK_QLEN(s, fd, 2); /* the request's place, then the 400 */
        CHECK_QUIET(cl, 10);  /* the 400 waits for the answer before it */
        answer_arena(s, 0, OK_BODY("k"));
        fh_flush(s, 0, n);
        CHECK_RECV(cl, OK_BODY("k") ERR400);
        CHECK_EOF(cl);
        CHECK_STATE(s, fd, FH_LINGERING);
    }
    close(cl);
    (void)fh_poll(s, 0);
    CHECK_CLOSED(s, fd);

    /* Alone: answered during the poll itself. */
    fd = pair_new(s, &cl);
    cl_sends(cl, "GARBAGE\r\n\r\n");
    CHECK_EQ(fh_poll(s, 0), 0);
    CHECK_RECV(cl, ERR400);
    CHECK_EOF(cl);
    CHECK_STATE(s, fd, FH_LINGERING);
    close(cl);
    (void)fh_poll(s, 0);
    CHECK_CLOSED(s, fd);
    CHECK_EQ(s->pool.in_use, 0);
    fh_destroy(s);
}

/* Expect: 100-continue with no body yet: 100 Continue after one poll; then
 * the body makes a row. */
static void case_continue(void) {
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl), n;
    static const char head[] = "POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    cl_sends(cl, head);
    CHECK_EQ(fh_poll(s, 0), 0);
    CHECK_RECV(cl, "HTTP/1.1 100 Continue\r\n\r\n");
    CHECK_QUIET(cl, 10);
    CHECK_STATE(s, fd, FH_READING);
    CHECK_QLEN(s, fd, 0);
    CHECK_EQ(fh_poll(s, 0), 0);
    CHECK_QUIET(cl, 10); /* only once */
    cl_sends(cl, "hello");
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        int32_t *d = s->desc;
        const uint8_t *req = fh_pool_ptr(&s->pool, d[FH_D_SLAB]);
        CHECK_EQ(d[FH_D_LEN], (int)strlen(head) + 5);
        CHECK_EQ(d[FH_D_BODY + 1], 5);
        CHECK(memcmp(req + d[FH_D_BODY], "hello", 5) == 0);
        CHECK(d[FH_D_FLAGS] & FH_REQ_EXPECT_CONTINUE);
        CHECK_STATE(s, fd, FH_ANSWERING);
        answer_arena(s, 0, OK_BODY("p"));
        fh_flush(s, 0, n);
        CHECK_RECV(cl, OK_BODY("p"));
        CHECK_STATE(s, fd, FH_READING);
        CHECK_EQ(s->pool.in_use, 0);
        CHECK(conn_of(s, fd) != NULL && conn_of(s, fd)->rbuf == NULL);
    }
    fh_destroy(s);
    close(cl);
}

/* A late answer to a request whose client left: nothing is written, its slab
 * comes back. */
static void check_late_answer(fh_server *s, const t_row *r) {
    respond_async(s, r, OK_BODY("late"));
    CHECK_EQ(s->pool.in_use, 0);
    CHECK_NO_EVENTS(s);
}

/* The client of a request still at work closes its socket (the peer of a
 * socketpair that is closed: FIN and hang-up; nothing more can be sent to
 * it) -> after a poll the connection is freed, FH_EV_GONE is reported. */
static void case_gone_close(void) {
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl), n;
    cl_sends(cl, GET("/slow"));
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        t_row r = row_at(s, 0);
        fh_flush(s, 0, n); /* pending */
        close(cl);
        poll_some(s, 3);
#ifndef FH_BACKEND_KQUEUE
        CHECK_CLOSED(s, fd);
        CHECK_EVENT(s, FH_EV_GONE, &r);
#else
        /* kqueue reports a closed peer as EV_EOF, exactly as a half-close
         * (no hang-up of its own): the core keeps the half-close rule (the
         * handler is told, FH_EV_FIN) and learns the client is gone when
         * the late answer's write fails. */
        CHECK_EVENT(s, FH_EV_FIN, &r);
#endif
        if (conn_of(s, fd) != NULL) {
            /* Still open: at least it must not be reported ready on every
             * poll (a busy loop while the handler works). */
            fh_event ev[8];
            int k, m = fh_backend_poll(s->be, ev, 8, 0), busy = 0;
            for (k = 0; k < m; k++)
                if (ev[k].fd == fd) busy = ev[k].mask;
            if (busy == 0) passed++;
            else t_fail(__LINE__, "the backend reports fd %d (mask %d) on every poll while it waits", fd, busy);
        }
        check_late_answer(s, &r);
    } else {
        close(cl);
    }
    CHECK_EQ(s->nconns, 0);
    fh_destroy(s);
}

/* The client resets the connection (unread answers in its buffer, then close:
 * on an AF_UNIX socketpair that makes the server's next read ECONNRESET, the
 * way SO_LINGER 0 does over TCP) while a handler is at work. */
static void case_gone_reset_unix(void) {
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl), n;
    cl_sends(cl, GET("/first") GET("/slow"));
    n = poll_rows(s);
    CHECK_EQ(n, 2);
    if (n == 2) {
        t_row r = row_at(s, 1);
        answer_arena(s, 0, OK_BODY("1")); /* the client never reads it */
        fh_flush(s, 0, n);
        CHECK_QLEN(s, fd, 1);
        close(cl);
        poll_some(s, 3);
        CHECK_CLOSED(s, fd);
        CHECK_EVENT(s, FH_EV_GONE, &r);
        check_late_answer(s, &r);
    } else {
        close(cl);
    }
    fh_destroy(s);
}

/* The same over TCP through the listener: SO_LINGER 0 + close sends a RST. */
static void case_gone_reset_tcp(void) {
    fh_server *s = srv_new();
    struct sockaddr_in a;
    struct linger lg;
    int cl = socket(AF_INET, SOCK_STREAM, 0), n;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (cl < 0 || connect(cl, (struct sockaddr *)&a, sizeof(a)) < 0) {
        t_fail(__LINE__, "connect: %s", strerror(errno));
        if (cl >= 0) close(cl);
        fh_destroy(s);
        return;
    }
    cl_sends(cl, GET("/slow"));
    n = poll_rows(s); /* accepts, then reads */
    if (n == 0) n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        t_row r = row_at(s, 0);
        fh_flush(s, 0, n);
        CHECK_STATE(s, r.fd, FH_ANSWERING);
        lg.l_onoff = 1;
        lg.l_linger = 0;
        CHECK(setsockopt(cl, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
        close(cl);
        poll_some(s, 5);
        CHECK_CLOSED(s, r.fd);
        CHECK_EVENT(s, FH_EV_GONE, &r);
        check_late_answer(s, &r);
    } else {
        close(cl);
    }
    CHECK_EQ(s->nconns, 0);
    fh_destroy(s);
}

/* A half-close (shutdown SHUT_WR) after a complete request: its handler is
 * told (FH_EV_FIN, so that it may stop), and a late answer is still
 * delivered, then the connection closes. */
static void case_half_close(void) {
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl), n;
    cl_sends(cl, GET("/half"));
    CHECK(shutdown(cl, SHUT_WR) == 0);
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        t_row r = row_at(s, 0);
        fh_flush(s, 0, n);
        poll_some(s, 3); /* the FIN is read */
        CHECK_STATE(s, fd, FH_ANSWERING);
        CHECK(conn_of(s, fd) != NULL && conn_of(s, fd)->eof);
        CHECK_EVENT(s, FH_EV_FIN, &r);
        CHECK_NO_EVENTS(s);
        poll_some(s, 2); /* told once */
        CHECK_NO_EVENTS(s);
        respond_async(s, &r, OK_BODY("h"));
        CHECK_RECV(cl, OK_BODY("h"));
        CHECK_EOF(cl);
        (void)fh_poll(s, 0);
        CHECK_CLOSED(s, fd);
        CHECK_EQ(s->pool.in_use, 0);
        CHECK_NO_EVENTS(s);
    }
    close(cl);
    fh_destroy(s);
}

#define STREAM_HEAD "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

/* Opens a stream on row i in the batch, with its head in the slab. */
static int open_stream(fh_server *s, int i, int kind, const char *head) {
    t_row r = row_at(s, i);
    int off = put_in_slab(s, &r, head);
    int rc = fh_stream_open(s, r.fd, r.gen, r.seq, r.slab, r.slab, kind, off, (int)strlen(head));
    s->desc[(size_t)i * FH_D_SIZE + FH_D_RKIND] = FH_R_DONE;
    return rc;
}

/* A stream whose client sends FIN: closed, FH_EV_CLOSED; writes then fail. */
static void case_stream_fin(void) {
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl), n;
    cl_sends(cl, GET("/events"));
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        t_row r = row_at(s, 0);
        CHECK(open_stream(s, 0, FH_SEG_STREAM, STREAM_HEAD) >= 0);
        fh_flush(s, 0, n);
        CHECK_RECV(cl, STREAM_HEAD);
        CHECK_STATE(s, fd, FH_ANSWERING);
        CHECK_QLEN(s, fd, 1);
        CHECK_EQ(fh_stream_write(s, r.fd, r.gen, r.seq, (const uint8_t *)"hello", 5, 1), 0);
        CHECK_RECV(cl, "5\r\nhello\r\n");
        CHECK_NO_EVENTS(s);
        CHECK(shutdown(cl, SHUT_WR) == 0);
        poll_some(s, 3);
        CHECK_CLOSED(s, fd);
        CHECK_EVENT(s, FH_EV_CLOSED, &r);
        CHECK_NO_EVENTS(s);
        CHECK_EQ(fh_stream_write(s, r.fd, r.gen, r.seq, (const uint8_t *)"x", 1, 1), -EPIPE);
        CHECK_EQ(fh_stream_end(s, r.fd, r.gen, r.seq, 0), -EPIPE);
        CHECK_EQ(s->pool.in_use, 0);
        CHECK_EOF(cl);
    }
    close(cl);
    fh_destroy(s);
}

/* A stream writer past FH_STREAM_BUFFER_MAX (the client does not read) gets
 * -ENOBUFS; once the client reads, FH_EV_DRAIN, and every byte accepted
 * arrives in order. */
static void case_stream_nobufs(void) {
    enum { CHUNK = 65536 };
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl), n;
    cl_sends(cl, GET("/big-stream"));
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        t_row r = row_at(s, 0);
        char prefix[16];
        /* The core frames each write as one chunk: size line, data, CRLF. */
        size_t plen = (size_t)snprintf(prefix, sizeof(prefix), "%x\r\n", CHUNK), clen = plen + CHUNK + 2;
        uint8_t *data = malloc(CHUNK), *chunk = malloc(clen), *want, *got;
        size_t accepted = 0, total, have = 0, k;
        int rc = 0, writes = 0, i, drained = 0, last_buffered = 0;
        int64_t end;
        for (k = 0; k < CHUNK; k++) data[k] = (uint8_t)('a' + k % 26);
        memcpy(chunk, prefix, plen);
        memcpy(chunk + plen, data, CHUNK);
        memcpy(chunk + plen + CHUNK, "\r\n", 2);
        CHECK(open_stream(s, 0, FH_SEG_STREAM, STREAM_HEAD) >= 0);
        fh_flush(s, 0, n);
        for (i = 0; i < 1000; i++) {
            rc = fh_stream_write(s, r.fd, r.gen, r.seq, data, CHUNK, 1);
            if (rc < 0) break;
            last_buffered = rc;
            writes++;
        }
        CHECK_EQ(rc, -ENOBUFS);
        CHECK(last_buffered > 0 && last_buffered <= FH_STREAM_BUFFER_MAX);
        CHECK(last_buffered + (int)clen > FH_STREAM_BUFFER_MAX);
        CHECK(conn_of(s, fd) != NULL && conn_of(s, fd)->blocked);
        CHECK_STATE(s, fd, FH_ANSWERING);
        /* Refused again while nothing drained: nothing was taken. */
        CHECK_EQ(fh_stream_write(s, r.fd, r.gen, r.seq, data, CHUNK, 1), -ENOBUFS);
        accepted = (size_t)writes * clen;
        total = strlen(STREAM_HEAD) + accepted + 5;
        want = malloc(total);
        got = malloc(total);
        memcpy(want, STREAM_HEAD, strlen(STREAM_HEAD));
        for (i = 0; i < writes; i++) memcpy(want + strlen(STREAM_HEAD) + (size_t)i * clen, chunk, clen);
        memcpy(want + total - 5, "0\r\n\r\n", 5);
        /* The client reads; the server writes as the socket drains. */
        end = fh_now_ms() + 5000;
        while (have < total - 5 && fh_now_ms() < end) {
            ssize_t m = recv(cl, got + have, total - 5 - have, MSG_DONTWAIT);
            int32_t ev[FH_EV_SIZE];
            if (m > 0) have += (size_t)m;
            (void)fh_poll(s, 0);
            while (fh_events_take(s, ev, 1) == 1)
                if (ev[0] == FH_EV_DRAIN && ev[1] == r.fd && ev[3] == r.seq) drained++;
        }
        CHECK_EQ(have, total - 5);
        CHECK_EQ(drained, 1);
        CHECK(conn_of(s, fd) != NULL && !conn_of(s, fd)->blocked);
        CHECK_EQ(fh_stream_write(s, r.fd, r.gen, r.seq, (const uint8_t *)"0\r\n\r\n", 5, 0), 0);
        CHECK(fh_stream_end(s, r.fd, r.gen, r.seq, 0) >= 0);
        have += cl_read(cl, got + have, total - have, 1000, NULL);
        CHECK_EQ(have, total);
        CHECK(have == total && memcmp(got, want, total) == 0);
        CHECK_STATE(s, fd, FH_READING); /* a chunked stream ended: keep-alive */
        CHECK_QLEN(s, fd, 0);
        CHECK_EQ(s->pool.in_use, 0);
        free(data);
        free(chunk);
        free(want);
        free(got);
    }
    close(cl);
    fh_destroy(s);
}

/* Takeover with bytes after the request: FH_RAW once at the head, FH_EV_TAKEN
 * and FH_EV_DATA, fh_raw_take gives exactly the bytes after the request. */
static void case_takeover(void) {
    static const char req[] = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n";
    static const char head[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n";
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl), n;
    cl_sends(cl, req);
    cl_sends(cl, "RAW\x00BYTES\r\n\r\nGET / HTTP/1.1");
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        t_row r = row_at(s, 0);
        uint8_t buf[64];
        static const char after[] = "RAW\x00BYTES\r\n\r\nGET / HTTP/1.1";
        size_t alen = sizeof(after) - 1;
        CHECK(r.flags & FH_REQ_UPGRADE);
        CHECK_EQ(r.len, (int)strlen(req));
        CHECK_STATE(s, fd, FH_ANSWERING);
        CHECK(open_stream(s, 0, FH_SEG_TAKEOVER, head) >= 0);
        fh_flush(s, 0, n);
        CHECK_STATE(s, fd, FH_RAW);
        CHECK_RECV(cl, head);
        CHECK_EVENT(s, FH_EV_TAKEN, &r);
        CHECK_EVENT(s, FH_EV_DATA, &r);
        CHECK_NO_EVENTS(s);
        CHECK_EQ(s->pool.in_use, 0); /* the request's arena went back at the handover */
        n = fh_raw_take(s, r.fd, r.gen, buf, sizeof(buf));
        CHECK_EQ(n, (int)alen);
        CHECK(n == (int)alen && memcmp(buf, after, alen) == 0);
        CHECK_EQ(fh_raw_take(s, r.fd, r.gen, buf, sizeof(buf)), 0);
        /* More bytes from the client: FH_EV_DATA again, nothing parsed as HTTP. */
        cl_sends(cl, GET("/not-http"));
        poll_some(s, 2);
        CHECK_EQ(fh_poll(s, 0), 0);
        /* At least one FH_EV_DATA (the core may read one client write in
         * more than one piece and say so each time), nothing else. */
        CHECK_EVENT(s, FH_EV_DATA, &r);
        while (fh_events_pending(s) > 0) CHECK_EVENT(s, FH_EV_DATA, &r);
        n = fh_raw_take(s, r.fd, r.gen, buf, sizeof(buf));
        CHECK_EQ(n, (int)strlen(GET("/not-http")));
        CHECK(n == (int)strlen(GET("/not-http")) && memcmp(buf, GET("/not-http"), (size_t)n) == 0);
        /* The taker writes, then ends it: FIN after its bytes. */
        CHECK_EQ(fh_stream_write(s, r.fd, r.gen, r.seq, (const uint8_t *)"pong", 4, 0), 0);
        CHECK_RECV(cl, "pong");
        CHECK(fh_stream_end(s, r.fd, r.gen, r.seq, 0) >= 0);
        CHECK_STATE(s, fd, FH_LINGERING);
        CHECK_EOF(cl);
        CHECK_EQ(fh_raw_take(s, r.fd, r.gen, buf, sizeof(buf)), -EPIPE);
        close(cl);
        (void)fh_poll(s, 0);
        CHECK_CLOSED(s, fd);
        /* The connection is gone: the core says so (FH_EV_CLOSED) even though
         * its taker ended it; at most once, nothing else. */
        if (fh_events_pending(s) > 0) CHECK_EVENT(s, FH_EV_CLOSED, &r);
        CHECK_NO_EVENTS(s);
    } else {
        close(cl);
    }
    fh_destroy(s);
}

/* A large answer from JavaScript memory (fh_respond with bytes, len 0) to a
 * client that does not read: the socket takes part, the connection is
 * blocked, the rest is copied (borrowed cleared); then the client reads
 * every byte. */
static void case_write_blocking(void) {
    enum { BODY = 4 << 20 };
    fh_server *s = srv_new();
    int cl, fd = pair_new(s, &cl), n;
    cl_sends(cl, GET("/big"));
    n = poll_rows(s);
    CHECK_EQ(n, 1);
    if (n == 1) {
        t_row r = row_at(s, 0);
        char head[96];
        size_t hl = (size_t)snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BODY);
        size_t total = hl + BODY, have = 0, k;
        uint8_t *lent = malloc(total), *want = malloc(total), *got = malloc(total);
        fh_conn *c;
        int64_t end;
        memcpy(want, head, hl);
        for (k = 0; k < BODY; k++) want[hl + k] = (uint8_t)(k * 7 + (k >> 13));
        memcpy(lent, want, total);
        fh_flush(s, 0, n); /* pending: answered below, outside the batch */
        fh_respond(s, r.fd, r.gen, r.seq, r.slab, lent, (int)total, r.slab, 0, 0, FH_RF_RAW);
        memset(lent, 'X', total); /* JavaScript's memory is not the core's after the call */
        c = conn_of(s, fd);
        CHECK(c != NULL && c->blocked);
        CHECK_QLEN(s, fd, 1);
        if (c != NULL && c->qlen == 1) {
            fh_seg *g = fh_seg_at(c, 0);
            CHECK(!g->borrowed);
            CHECK(g->heap != NULL && g->ptr == g->heap);
            CHECK(g->len - g->off < total); /* the socket took part of it */
            CHECK(!g->close);
        }
        CHECK_EQ(s->pool.in_use, 0);
        CHECK_STATE(s, fd, FH_ANSWERING);
        end = fh_now_ms() + 5000;
        while (have < total && fh_now_ms() < end) {
            ssize_t m = recv(cl, got + have, total - have, MSG_DONTWAIT);
            if (m > 0) have += (size_t)m;
            (void)fh_poll(s, 0);
        }
        CHECK_EQ(have, total);
        CHECK(have == total && memcmp(got, want, total) == 0);
        (void)fh_poll(s, 0);
        CHECK_STATE(s, fd, FH_READING);
        CHECK_QLEN(s, fd, 0);
        CHECK(conn_of(s, fd) != NULL && !conn_of(s, fd)->blocked);
        CHECK_QUIET(cl, 10);
        free(lent);
        free(want);
        free(got);
    }
    close(cl);
    fh_destroy(s);
}

/* fh_events_take when no event was ever recorded (JavaScript asks on every
 * drain while connections are open): 0, and no undefined behaviour (UBSan:
 * memcpy/memmove from a NULL s->ev, even of 0 bytes). */
static void case_events_empty(void) {
    fh_server *s = srv_new();
    int32_t ev[FH_EV_SIZE * 4];
    CHECK_EQ(fh_events_pending(s), 0);
    CHECK_EQ(fh_events_take(s, ev, 4), 0);
    CHECK_EQ(fh_events_pending(s), 0);
    fh_destroy(s);
}

static void run(const char *name, void (*fn)(void)) {
    cur = name;
    cur_failed = 0;
    fn();
    if (cur_failed) cases_failed++;
    else cases_ok++;
    printf("%s %s\n", cur_failed ? "FAIL" : "ok  ", name);
    fflush(stdout);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    alarm(30); /* nothing may hang: the default action ends the run */
    guard_init();
    fh_scanner_init();
    printf("backend: %s\n", fh_backend_name());
    run("fh_scan_response flags and prefixes", case_scan_response);
    run("fh_persists table", case_persists);
    run("fh_events_take with no events", case_events_empty);
    run("one request: READING -> ANSWERING -> READING", case_one_request);
    run("pipelined, answered out of order", case_pipelined);
    run("graceful stop with pipelined answers outstanding", case_stop_pipelined);
    run("Connection: close -> CLOSING -> LINGERING -> freed", case_connection_close);
    run("FH_R_STATUS 500 (HEAD without body, GET with)", case_status_500);
    run("framing error: 400, Connection: close, FIN", case_framing_error);
    run("100 Continue", case_continue);
    run("client gone: close (socketpair)", case_gone_close);
    run("client gone: reset (socketpair, unread data)", case_gone_reset_unix);
    run("client gone: reset (TCP, SO_LINGER 0)", case_gone_reset_tcp);
    run("half-close: the late answer is delivered", case_half_close);
    run("stream: client FIN -> closed, FH_EV_CLOSED, -EPIPE", case_stream_fin);
    run("stream: -ENOBUFS past FH_STREAM_BUFFER_MAX, then drain", case_stream_nobufs);
    run("takeover: FH_RAW, TAKEN, DATA, fh_raw_take", case_takeover);
    run("write blocking: blocked, borrowed bytes copied", case_write_blocking);
    printf("cases: %d ok, %d failed\n", cases_ok, cases_failed);
    printf("%d passed, %d failed\n", passed, failed);
    munmap(guard_base, guard_cap * 2);
    return failed ? 1 : 0;
}
