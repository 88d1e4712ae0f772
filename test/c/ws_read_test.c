/*
 * ws_read_test.c - table tests for the WebSocket frame reader (c/ws_read.c)
 * and the UTF-8 validator (c/utf8.c), meant to run under
 * -fsanitize=address,undefined too.
 *
 * Every stream case is fed to a fresh reader whole, one byte at a time, and
 * in pseudo-random pieces (several seeds); each way must give exactly the
 * expected events (what got was, the op, the payload, the close or error
 * code) at the same stream offsets, and these must hold after every feed:
 * consumed <= the bytes given, all of them consumed when got is NONE,
 * msg_len <= max_payload, nothing consumed after ERROR, and fh_wsr_next's
 * promises (a message's buffer kept, an open message left alone by a control
 * frame). Then: fail-fast (an error reported before the rest of a frame is
 * fed), the UTF-8 validator against a straightforward reference decoder over
 * every sequence of up to 3 bytes (4M of the 16M three-byte ones: those that
 * start with a lead byte) and sampled 4-byte ones, every code point, the
 * Autobahn section 6 sequences, fh_ws_header and fh_ws_close_code_ok.
 *
 * Prints one line per failure and ends with "N passed, M failed"; exits 1 on
 * any failure. Defining FH_WS_TEST_LIBRARY leaves out main() so that TinyCC
 * (bun:ffi's cc) can call ws_read_test_run(quick) instead; quick leaves out
 * the brute-force UTF-8 sweeps, which TinyCC's unoptimised code makes slow.
 *
 *   gcc -O2 -Wall -Wextra test/c/ws_read_test.c -o ws_read_test && ./ws_read_test
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ws.h also declares deflate.c's functions, which this program does not
 * include: their "declared static but never defined" is not a finding here.
 * (gcc reports it at the end of the unit, so a push/pop around the include
 * does not silence it; the core's own build still checks the reader.) */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "../../c/ws.h"
#include "../../c/utf8.c"
#include "../../c/ws_read.c"

static int passed, failed;

static void check(int ok, const char *name, const char *what) {
    if (ok) {
        passed++;
        return;
    }
    failed++;
    if (failed <= 200) printf("FAIL %s: %s\n", name, what);
}

/* ---- a growable byte string, and frames written into it ------------------ */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n) cap *= 2;
        b->p = (uint8_t *)realloc(b->p, cap);
        if (b->p == NULL) {
            printf("out of memory\n");
            exit(2);
        }
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put1(bytes *b, int c) {
    uint8_t x = (uint8_t)c;
    put(b, &x, 1);
}

static void bytes_free(bytes *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10
#define TEXT FH_WS_OP_TEXT
#define BIN FH_WS_OP_BINARY
#define CONT FH_WS_OP_CONT
#define PING FH_WS_OP_PING
#define PONG FH_WS_OP_PONG
#define CLOSE FH_WS_OP_CLOSE

static unsigned key_count;

/* A frame: first byte b0, masked or not, with its length in `form` (7, 16,
 * 64 bits; 0 for the minimal one). Mask keys vary; every eighth is zero. */
static void frame_form(bytes *b, int b0, int masked, const void *pl, size_t len, int form) {
    const uint8_t *d = (const uint8_t *)pl;
    uint8_t m = masked ? 0x80 : 0;
    size_t i;
    int k;
    put1(b, b0);
    if (form == 0) form = len < 126 ? 7 : len <= 0xffff ? 16 : 64;
    if (form == 7) {
        put1(b, m | (uint8_t)len);
    } else if (form == 16) {
        put1(b, m | 126);
        put1(b, (int)(len >> 8));
        put1(b, (int)len);
    } else {
        put1(b, m | 127);
        for (k = 7; k >= 0; k--) put1(b, (int)((uint64_t)len >> (8 * k)));
    }
    if (!masked) {
        put(b, d, len);
        return;
    }
    {
        uint8_t key[4];
        uint32_t x = (key_count++ % 8 == 7) ? 0 : (uint32_t)rnd();
        memcpy(key, &x, 4);
        put(b, key, 4);
        for (i = 0; i < len; i++) put1(b, d[i] ^ key[i & 3]);
    }
}

static void frame(bytes *b, int b0, const void *pl, size_t len) { frame_form(b, b0, 1, pl, len, 0); }
static void frame_s(bytes *b, int b0, const char *s) { frame(b, b0, s, strlen(s)); }

/* A close frame's body: the code, then the reason. */
static void close_frame(bytes *b, int code, const void *reason, size_t len) {
    uint8_t body[125];
    body[0] = (uint8_t)(code >> 8);
    body[1] = (uint8_t)code;
    memcpy(body + 2, reason, len);
    frame(b, FIN | CLOSE, body, len + 2);
}

/* ---- events: what a run of the reader saw -------------------------------- */

typedef struct event {
    int got, code, op, rsv1;
    size_t len;
    const uint8_t *data;
    size_t at; /* the stream offset feed had consumed up to; 0 in an expectation: not checked */
} event;

static event ev_msg(int op, const void *d, size_t len) {
    event e;
    memset(&e, 0, sizeof e);
    e.got = FH_WSR_MESSAGE;
    e.op = op;
    e.data = (const uint8_t *)d;
    e.len = len;
    return e;
}
static event ev_text(const char *s) { return ev_msg(TEXT, s, strlen(s)); }
static event ev_zmsg(int op, const void *d, size_t len) {
    event e = ev_msg(op, d, len);
    e.rsv1 = 1;
    return e;
}
static event ev_ctl(int got, const void *d, size_t len) {
    event e = ev_msg(0, d, len);
    e.got = got;
    return e;
}
static event ev_close(int code, const char *reason) {
    event e = ev_ctl(FH_WSR_CLOSE, reason, strlen(reason));
    e.code = code;
    return e;
}
static event ev_err(int code) {
    event e = ev_ctl(FH_WSR_ERROR, "", 0);
    e.code = code;
    return e;
}
static event ev_at(event e, size_t at) {
    e.at = at;
    return e;
}

#define MAXEV 40

typedef struct trace {
    event ev[MAXEV];
    uint8_t *copies[MAXEV];
    int n;
    const char *broken; /* an invariant that did not hold */
} trace;

static void trace_free(trace *t) {
    int i;
    for (i = 0; i < t->n; i++) free(t->copies[i]);
    t->n = 0;
}

static void record(trace *t, const fh_wsr *r, size_t at) {
    event *e;
    const uint8_t *d = NULL;
    size_t len = 0;
    if (t->n == MAXEV) {
        t->broken = "too many events";
        return;
    }
    e = &t->ev[t->n];
    memset(e, 0, sizeof *e);
    e->got = r->got;
    e->at = at;
    switch (r->got) {
    case FH_WSR_MESSAGE:
        e->op = r->msg_op;
        e->rsv1 = r->msg_rsv1;
        d = r->msg;
        len = r->msg_len;
        if (r->msg == NULL) t->broken = "MESSAGE with msg NULL";
        break;
    case FH_WSR_PING:
    case FH_WSR_PONG:
        d = r->ctl;
        len = r->ctl_len;
        break;
    case FH_WSR_CLOSE:
        e->code = r->close_code;
        if (r->ctl_len >= 2) {
            d = r->ctl + 2;
            len = (size_t)r->ctl_len - 2;
        }
        break;
    default:
        e->code = r->error;
        break;
    }
    t->copies[t->n] = (uint8_t *)malloc(len ? len : 1);
    if (len) memcpy(t->copies[t->n], d, len);
    e->data = t->copies[t->n];
    e->len = len;
    t->n++;
}

typedef struct settings {
    uint64_t max_payload;
    int rsv1_ok, need_mask;
} settings;

static const settings SERVER = {16u << 20, 0, 1};
static const settings DEFLATE = {16u << 20, 1, 1};
static const settings CLIENT = {16u << 20, 0, 0};

#define WHOLE 0
#define BYTES 1
#define PIECES 2

/* Feeds in[0, n) (copied: the reader unmasks in place) to a fresh reader,
 * whole, a byte at a time, or in pseudo-random pieces, acting on each event
 * as a connection would (fh_wsr_next, then the rest), and records what it
 * saw. Checks the invariants after every feed. */
static void run(const settings *s, const uint8_t *in, size_t n, int mode, trace *t) {
    uint8_t *buf = (uint8_t *)malloc(n ? n : 1);
    fh_wsr r;
    size_t pos = 0;
    memcpy(buf, in, n);
    memset(&r, 0, sizeof r);
    memset(t, 0, sizeof *t);
    r.max_payload = s->max_payload;
    r.rsv1_ok = (uint8_t)s->rsv1_ok;
    r.need_mask = (uint8_t)s->need_mask;
    while (pos < n && !t->broken) {
        size_t piece = mode == WHOLE ? n - pos : mode == BYTES ? 1 : 1 + (size_t)(rnd() % (rnd() % 4 == 0 ? 4096 : 17));
        size_t end = pos + (piece < n - pos ? piece : n - pos);
        while (pos < end && !t->broken) {
            size_t c = fh_wsr_feed(&r, buf + pos, end - pos);
            if (c > end - pos) {
                t->broken = "consumed more than given";
                break;
            }
            pos += c;
            if ((uint64_t)r.msg_len > r.max_payload) t->broken = "msg_len > max_payload";
            if (r.msg_cap > (r.max_payload > FH_WSR_MIN_CAP ? r.max_payload : FH_WSR_MIN_CAP))
                t->broken = "msg_cap > max_payload";
            if (r.got == FH_WSR_NONE) {
                if (pos != end) t->broken = "NONE before all was consumed";
                break;
            }
            record(t, &r, pos);
            if (r.got == FH_WSR_ERROR) {
                static uint8_t more[] = {0x81, 0x80, 1, 2, 3, 4};
                size_t again = pos < n ? fh_wsr_feed(&r, buf + pos, n - pos) : fh_wsr_feed(&r, more, sizeof more);
                if (again != 0 || r.got != FH_WSR_ERROR) t->broken = "consumed after ERROR";
                pos = n;
                break;
            }
            {
                int got = r.got;
                uint8_t *msg = r.msg, in_msg = r.in_msg;
                size_t cap = r.msg_cap, len = r.msg_len;
                fh_wsr_next(&r);
                if (r.got != FH_WSR_NONE) t->broken = "got not NONE after next";
                if (got == FH_WSR_MESSAGE && (r.msg_len != 0 || r.in_msg || r.utf8 != FH_UTF8_ACCEPT || r.msg != msg ||
                                              r.msg_cap != cap))
                    t->broken = "next after MESSAGE: not reset, or buffer not kept";
                if (got != FH_WSR_MESSAGE && (r.in_msg != in_msg || r.msg_len != len))
                    t->broken = "next after a control frame changed the open message";
            }
        }
    }
    fh_wsr_free(&r);
    if (r.msg != NULL || r.msg_cap != 0) t->broken = "fh_wsr_free left a buffer";
    free(buf);
}

static int same_event(const event *a, const event *b) {
    return a->got == b->got && a->code == b->code && a->op == b->op && a->rsv1 == b->rsv1 && a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0) && (a->at == 0 || b->at == 0 || a->at == b->at);
}

static const char *mode_name(int mode) { return mode == WHOLE ? "whole" : mode == BYTES ? "byte at a time" : "in pieces"; }

/* Feeds the stream every way: each must give exactly `exp` (offsets too when
 * given), and the same offsets as when fed whole. */
static void expect_events(const char *name, const settings *s, const bytes *stream, const event *exp, int nexp) {
    trace whole, t;
    char what[256];
    int mode, round, i;
    run(s, stream->p, stream->n, WHOLE, &whole);
    for (mode = WHOLE; mode <= PIECES; mode++) {
        for (round = 0; round < (mode == PIECES ? 4 : 1); round++) {
            int ok = 1;
            run(s, stream->p, stream->n, mode, &t);
            if (t.broken) {
                snprintf(what, sizeof what, "fed %s: %s", mode_name(mode), t.broken);
                check(0, name, what);
                ok = 0;
            } else if (t.n != nexp) {
                snprintf(what, sizeof what, "fed %s: %d events, expected %d (first got %d code %d)", mode_name(mode),
                         t.n, nexp, t.n ? t.ev[0].got : -1, t.n ? t.ev[0].code : -1);
                check(0, name, what);
                ok = 0;
            } else {
                for (i = 0; i < nexp && ok; i++) {
                    if (!same_event(&t.ev[i], &exp[i]) || (i < whole.n && t.ev[i].at != whole.ev[i].at)) {
                        snprintf(what, sizeof what,
                                 "fed %s: event %d is got %d code %d op %d rsv1 %d len %zu at %zu; expected got %d "
                                 "code %d op %d rsv1 %d len %zu at %zu",
                                 mode_name(mode), i, t.ev[i].got, t.ev[i].code, t.ev[i].op, t.ev[i].rsv1, t.ev[i].len,
                                 t.ev[i].at, exp[i].got, exp[i].code, exp[i].op, exp[i].rsv1, exp[i].len,
                                 exp[i].at ? exp[i].at : (i < whole.n ? whole.ev[i].at : 0));
                        check(0, name, what);
                        ok = 0;
                    }
                }
            }
            if (ok) check(1, name, "");
            trace_free(&t);
        }
    }
    trace_free(&whole);
}

static void expect_one(const char *name, const settings *s, const bytes *stream, event e) {
    expect_events(name, s, stream, &e, 1);
}

/* The stream is a single frame or message refused with `code`. */
static void expect_error(const char *name, const settings *s, const bytes *stream, int code) {
    expect_one(name, s, stream, ev_err(code));
}

/* ---- valid frames --------------------------------------------------------- */

static uint8_t *random_bytes(size_t n, int ascii) {
    uint8_t *p = (uint8_t *)malloc(n ? n : 1);
    size_t i;
    for (i = 0; i < n; i++) p[i] = ascii ? (uint8_t)(' ' + rnd() % 95) : (uint8_t)rnd();
    return p;
}

static void test_lengths(void) {
    static const size_t lens[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 125, 126, 127, 1000, 65535, 65536, 65537, 1 << 20};
    size_t i;
    char name[96];
    for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t len = lens[i];
        uint8_t *bin = random_bytes(len, 0), *txt = random_bytes(len, 1);
        bytes b = {0};
        event two[2];
        frame(&b, FIN | BIN, bin, len);
        frame(&b, FIN | TEXT, txt, len);
        two[0] = ev_msg(BIN, bin, len);
        two[1] = ev_msg(TEXT, txt, len);
        snprintf(name, sizeof name, "binary then text frame of %zu bytes", len);
        expect_events(name, &SERVER, &b, two, 2);
        bytes_free(&b);
        /* Unmasked, as a client reads a server. */
        frame_form(&b, FIN | BIN, 0, bin, len, 0);
        snprintf(name, sizeof name, "unmasked binary frame of %zu bytes (need_mask 0)", len);
        expect_one(name, &CLIENT, &b, ev_msg(BIN, bin, len));
        bytes_free(&b);
        if (len < 70000) {
            /* Lengths in longer forms than needed are accepted. */
            frame_form(&b, FIN | BIN, 1, bin, len, 64);
            if (len <= 0xffff) frame_form(&b, FIN | TEXT, 1, txt, len, 16);
            two[1] = ev_msg(TEXT, txt, len);
            snprintf(name, sizeof name, "%zu bytes with a non-minimal length", len);
            expect_events(name, &SERVER, &b, two, len <= 0xffff ? 2 : 1);
            bytes_free(&b);
        }
        free(bin);
        free(txt);
    }
}

static void test_fragments(void) {
    bytes b = {0};
    event e[8];
    uint8_t big[125];
    memset(big, 'p', sizeof big);

    frame_s(&b, TEXT, "Hel");
    frame_s(&b, FIN | PING, "ping!");
    frame_s(&b, CONT, "lo");
    frame_s(&b, FIN | PONG, "");
    frame_s(&b, FIN | CONT, ", world");
    e[0] = ev_ctl(FH_WSR_PING, "ping!", 5);
    e[1] = ev_ctl(FH_WSR_PONG, "", 0);
    e[2] = ev_text("Hello, world");
    expect_events("fragmented text with a ping and a pong between fragments", &SERVER, &b, e, 3);
    bytes_free(&b);

    frame(&b, BIN, "\x00\x01", 2);
    frame(&b, FIN | PING, big, 125);
    frame(&b, FIN | CONT, "\xff", 1);
    frame_s(&b, FIN | TEXT, "next");
    close_frame(&b, 1000, "bye", 3);
    e[0] = ev_ctl(FH_WSR_PING, big, 125);
    e[1] = ev_msg(BIN, "\x00\x01\xff", 3);
    e[2] = ev_text("next");
    e[3] = ev_close(1000, "bye");
    expect_events("fragmented binary, a 125-byte ping inside, then text and a close", &SERVER, &b, e, 4);
    bytes_free(&b);

    frame_s(&b, TEXT, "");
    frame_s(&b, CONT, "");
    frame_s(&b, FIN | CONT, "");
    frame_s(&b, FIN | TEXT, "");
    e[0] = ev_text("");
    e[1] = ev_text("");
    expect_events("empty fragments, then an empty frame: two empty messages", &SERVER, &b, e, 2);
    bytes_free(&b);

    {
        /* Many fragments, one byte each, UTF-8 split across them. */
        const char *s = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xf0\x9f\x98\x80!";
        size_t i, n = strlen(s);
        for (i = 0; i < n; i++) frame(&b, (i == 0 ? TEXT : CONT) | (i == n - 1 ? FIN : 0), s + i, 1);
        expect_one("text sent a byte per fragment", &SERVER, &b, ev_text(s));
        bytes_free(&b);
    }
}

static void test_control(void) {
    bytes b = {0};
    event e[6];
    uint8_t p125[125];
    memset(p125, 0xab, sizeof p125);
    frame(&b, FIN | PING, "", 0);
    frame(&b, FIN | PING, p125, 125);
    frame(&b, FIN | PONG, p125, 125);
    frame(&b, FIN | PONG, "x", 1);
    e[0] = ev_ctl(FH_WSR_PING, "", 0);
    e[1] = ev_ctl(FH_WSR_PING, p125, 125);
    e[2] = ev_ctl(FH_WSR_PONG, p125, 125);
    e[3] = ev_ctl(FH_WSR_PONG, "x", 1);
    expect_events("pings and pongs of 0 and 125 bytes", &SERVER, &b, e, 4);
    bytes_free(&b);

    frame(&b, FIN | CLOSE, "", 0);
    expect_one("close without a body: 1005", &SERVER, &b, ev_close(FH_WS_CLOSE_NO_STATUS, ""));
    bytes_free(&b);
    {
        static const int ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
        static const int bad[] = {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 6000, 65535};
        size_t i;
        char name[64];
        for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
            close_frame(&b, ok[i], "", 0);
            snprintf(name, sizeof name, "close code %d", ok[i]);
            expect_one(name, &SERVER, &b, ev_close(ok[i], ""));
            bytes_free(&b);
            check(fh_ws_close_code_ok(ok[i]), "fh_ws_close_code_ok", name);
        }
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            close_frame(&b, bad[i], "", 0);
            snprintf(name, sizeof name, "close code %d: 1002", bad[i]);
            expect_error(name, &SERVER, &b, FH_WS_CLOSE_PROTOCOL);
            bytes_free(&b);
            check(!fh_ws_close_code_ok(bad[i]), "fh_ws_close_code_ok", name);
        }
    }
    close_frame(&b, 1000, "bye", 3);
    expect_one("close 1000 with a reason", &SERVER, &b, ev_close(1000, "bye"));
    bytes_free(&b);
    close_frame(&b, 4000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11);
    expect_one("close 4000 with a UTF-8 reason", &SERVER, &b, ev_close(4000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"));
    bytes_free(&b);
    memset(p125, 'r', sizeof p125);
    close_frame(&b, 1001, p125, 123);
    e[0] = ev_ctl(FH_WSR_CLOSE, p125, 123);
    e[0].code = 1001;
    expect_events("close with a 123-byte reason (a 125-byte body)", &SERVER, &b, e, 1);
    bytes_free(&b);
    close_frame(&b, 1000, "\xed\xa0\x80", 3);
    expect_error("close reason with a surrogate: 1007", &SERVER, &b, FH_WS_CLOSE_INVALID_DATA);
    bytes_free(&b);
    close_frame(&b, 1000, "ok\xce", 3);
    expect_error("close reason ending inside a code point: 1007", &SERVER, &b, FH_WS_CLOSE_INVALID_DATA);
    bytes_free(&b);
    close_frame(&b, 1000, "\xff", 1);
    expect_error("close reason with FF: 1007", &SERVER, &b, FH_WS_CLOSE_INVALID_DATA);
    bytes_free(&b);
    frame(&b, FIN | CLOSE, "\x03", 1);
    expect_error("close with a 1-byte body: 1002", &SERVER, &b, FH_WS_CLOSE_PROTOCOL);
    bytes_free(&b);
    /* What follows a close is the caller's business: the reader goes on. */
    close_frame(&b, 1000, "", 0);
    frame_s(&b, FIN | TEXT, "after");
    e[0] = ev_close(1000, "");
    e[1] = ev_text("after");
    expect_events("a frame after a close is read if fed", &SERVER, &b, e, 2);
    bytes_free(&b);
}

static void test_deflate_flag(void) {
    bytes b = {0};
    event e[3];
    frame(&b, FIN | RSV1 | TEXT, "\xff\xfe\x00", 3);
    expect_one("compressed text (RSV1, rsv1_ok): not UTF-8 checked, msg_rsv1", &DEFLATE, &b, ev_zmsg(TEXT, "\xff\xfe\x00", 3));
    bytes_free(&b);
    frame(&b, RSV1 | TEXT, "\xc0", 1);
    frame(&b, FIN | PING, "", 0);
    frame(&b, FIN | CONT, "\xed\xa0\x80", 3);
    frame(&b, FIN | TEXT, "plain", 5);
    e[0] = ev_ctl(FH_WSR_PING, "", 0);
    e[1] = ev_zmsg(TEXT, "\xc0\xed\xa0\x80", 4);
    e[2] = ev_text("plain");
    expect_events("fragmented compressed text, then an uncompressed one", &DEFLATE, &b, e, 3);
    bytes_free(&b);
    frame(&b, FIN | RSV1 | BIN, "z", 1);
    expect_one("compressed binary", &DEFLATE, &b, ev_zmsg(BIN, "z", 1));
    bytes_free(&b);
    frame(&b, FIN | TEXT, "\xc0", 1);
    expect_error("uncompressed text is still checked with rsv1_ok", &DEFLATE, &b, FH_WS_CLOSE_INVALID_DATA);
    bytes_free(&b);
}

/* ---- protocol violations -------------------------------------------------- */

static void test_violations(void) {
    bytes b = {0};
    event e[3];
    int op;
    char name[96];
    uint8_t p126[126];
    memset(p126, 1, sizeof p126);

    frame_s(&b, FIN | RSV2 | TEXT, "x");
    expect_error("RSV2: 1002", &SERVER, &b, 1002);
    bytes_free(&b);
    frame_s(&b, FIN | RSV3 | BIN, "x");
    expect_error("RSV3: 1002", &DEFLATE, &b, 1002);
    bytes_free(&b);
    frame_s(&b, FIN | RSV1 | TEXT, "x");
    expect_error("RSV1 without permessage-deflate: 1002", &SERVER, &b, 1002);
    bytes_free(&b);
    frame_s(&b, RSV1 | TEXT, "x");
    frame_s(&b, FIN | RSV1 | CONT, "y");
    expect_error("RSV1 on a continuation: 1002", &DEFLATE, &b, 1002);
    bytes_free(&b);
    frame_s(&b, FIN | RSV1 | PING, "x");
    expect_error("RSV1 on a ping: 1002", &DEFLATE, &b, 1002);
    bytes_free(&b);
    frame_s(&b, FIN | RSV1 | CLOSE, "");
    expect_error("RSV1 on a close: 1002", &DEFLATE, &b, 1002);
    bytes_free(&b);
    for (op = 3; op <= 15; op++) {
        if (op >= 8 && op <= 10) continue;
        frame_s(&b, FIN | op, "x");
        snprintf(name, sizeof name, "reserved opcode %X: 1002", op);
        expect_error(name, &SERVER, &b, 1002);
        bytes_free(&b);
        frame_s(&b, FIN | op, "");
        snprintf(name, sizeof name, "reserved opcode %X, empty, unmasked: 1002", op);
        expect_error(name, &CLIENT, &b, 1002);
        bytes_free(&b);
    }
    frame_form(&b, FIN | TEXT, 0, "x", 1, 0);
    expect_error("unmasked frame to a server: 1002", &SERVER, &b, 1002);
    bytes_free(&b);
    frame_form(&b, FIN | PING, 0, "", 0, 0);
    expect_error("unmasked ping to a server: 1002", &SERVER, &b, 1002);
    bytes_free(&b);
    frame_s(&b, PING, "x");
    expect_error("ping with FIN 0: 1002", &SERVER, &b, 1002);
    bytes_free(&b);
    frame_s(&b, CLOSE, "");
    expect_error("close with FIN 0: 1002", &SERVER, &b, 1002);
    bytes_free(&b);
    frame(&b, FIN | PING, p126, 126);
    expect_error("ping of 126 bytes: 1002", &SERVER, &b, 1002);
    bytes_free(&b);
    frame_form(&b, FIN | PONG, 1, "x", 1, 16);
    expect_error("pong with a 16-bit length: 1002", &SERVER, &b, 1002);
    bytes_free(&b);
    frame_form(&b, FIN | CLOSE, 1, "\x03\xe8", 2, 64);
    expect_error("close with a 64-bit length: 1002", &SERVER, &b, 1002);
    bytes_free(&b);
    frame_s(&b, FIN | CONT, "x");
    expect_error("continuation with no message open: 1002", &SERVER, &b, 1002);
    bytes_free(&b);
    frame_s(&b, FIN | TEXT, "done");
    frame_s(&b, FIN | CONT, "x");
    e[0] = ev_text("done");
    e[1] = ev_err(1002);
    expect_events("continuation after a complete message: 1002", &SERVER, &b, e, 2);
    bytes_free(&b);
    frame_s(&b, TEXT, "a");
    frame_s(&b, FIN | TEXT, "b");
    expect_error("text while a fragmented message is open: 1002", &SERVER, &b, 1002);
    bytes_free(&b);
    frame_s(&b, BIN, "a");
    frame_s(&b, FIN | PING, "");
    frame_s(&b, BIN, "b");
    e[0] = ev_ctl(FH_WSR_PING, "", 0);
    e[1] = ev_err(1002);
    expect_events("binary while a fragmented message is open, after a ping: 1002", &SERVER, &b, e, 2);
    bytes_free(&b);
    /* A 64-bit length with its top bit set, alone: no payload needed. */
    put1(&b, FIN | BIN);
    put1(&b, 0x80 | 127);
    put(&b, "\x80\x00\x00\x00\x00\x00\x00\x00" "abcd", 12);
    expect_one("64-bit length with the top bit set: 1002 at that byte", &SERVER, &b, ev_at(ev_err(1002), 3));
    bytes_free(&b);
}

/* ---- max_payload ---------------------------------------------------------- */

static void test_max_payload(void) {
    settings s = {100, 0, 1};
    bytes b = {0};
    uint8_t *p = random_bytes(300, 1);
    event e[3];

    frame(&b, FIN | TEXT, p, 100);
    expect_one("message of exactly max_payload", &s, &b, ev_msg(TEXT, p, 100));
    bytes_free(&b);
    frame(&b, FIN | TEXT, p, 101);
    expect_one("message of max_payload + 1: 1009 at the header", &s, &b, ev_at(ev_err(1009), 6));
    bytes_free(&b);
    frame(&b, BIN, p, 50);
    frame(&b, FIN | PING, p, 120); /* control frames are not messages: max_payload does not count them */
    frame(&b, FIN | CONT, p + 50, 50);
    e[0] = ev_ctl(FH_WSR_PING, p, 120);
    e[1] = ev_msg(BIN, p, 100);
    expect_events("fragments adding up to max_payload, a bigger ping between", &s, &b, e, 2);
    bytes_free(&b);
    frame(&b, BIN, p, 50);
    frame(&b, CONT, p + 50, 0);
    frame(&b, FIN | CONT, p + 50, 51);
    /* 6 + 50, 6, then the third header is refused at its last byte */
    expect_one("fragments adding up to max_payload + 1: 1009 at the last header", &s, &b, ev_at(ev_err(1009), 56 + 6 + 6));
    bytes_free(&b);
    frame(&b, FIN | TEXT, p, 100);
    frame(&b, FIN | TEXT, p, 100);
    e[0] = ev_msg(TEXT, p, 100);
    e[1] = ev_msg(TEXT, p, 100);
    expect_events("max_payload is per message", &s, &b, e, 2);
    bytes_free(&b);
    s.max_payload = 0;
    frame(&b, FIN | TEXT, p, 0);
    frame(&b, FIN | TEXT, p, 1);
    e[0] = ev_text("");
    e[1] = ev_err(1009);
    expect_events("max_payload 0: empty passes, 1 byte does not", &s, &b, e, 2);
    bytes_free(&b);
    s.max_payload = 5000;
    free(p);
    p = random_bytes(5001, 0);
    frame(&b, FIN | BIN, p, 5000);
    frame(&b, BIN, p, 2500);
    frame(&b, FIN | CONT, p, 2501);
    e[0] = ev_msg(BIN, p, 5000);
    e[1] = ev_err(1009);
    expect_events("max_payload 5000 (the buffer never grows past it), then 2500 + 2501", &s, &b, e, 2);
    bytes_free(&b);
    /* A huge declared length is refused before any payload arrives. */
    s.max_payload = 16u << 20;
    put1(&b, FIN | BIN);
    put1(&b, 0x80 | 127);
    put(&b, "\x00\x00\x00\x01\x00\x00\x00\x00" "abcd", 12);
    expect_one("a 4 GiB frame header: 1009 with no payload", &s, &b, ev_at(ev_err(1009), 14));
    bytes_free(&b);
    s.max_payload = UINT64_MAX;
    put1(&b, FIN | BIN);
    put1(&b, 0x80 | 127);
    put(&b, "\x7f\xff\xff\xff\xff\xff\xff\xff" "abcd", 12);
    put(&b, "0123", 4);
    {
        /* Accepted with no limit: the reader only takes what arrives, and
         * its buffer grows with what arrived, not with what was declared. */
        fh_wsr r;
        size_t c;
        memset(&r, 0, sizeof r);
        r.max_payload = s.max_payload;
        r.need_mask = 1;
        c = fh_wsr_feed(&r, b.p, b.n);
        check(c == b.n && r.got == FH_WSR_NONE && r.msg_len == 4 && r.msg_cap < 65536,
              "a 2^63-1 byte frame with no limit", "reads what arrives, allocates for that only");
        fh_wsr_free(&r);
    }
    bytes_free(&b);
    free(p);
}

/* ---- UTF-8 in text messages ------------------------------------------------ */

typedef struct utf8_case {
    const char *name;
    const char *s;
    size_t len;
    int valid;
} utf8_case;

#define U(name, s, valid) {name, s, sizeof(s) - 1, valid}

/* The sequences of the Autobahn testsuite's section 6 (from its case
 * descriptions), and the code point boundaries. */
static const utf8_case utf8_cases[] = {
    U("6.2 Hello-mu", "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", 1),
    U("6.3 kosme + surrogate", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", 0),
    U("6.4 kosme + F4 90", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64", 0),
    U("6.5 kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 1),
    U("6.7 first 1", "\x00", 1),
    U("6.7 first 2", "\xc2\x80", 1),
    U("6.7 first 3", "\xe0\xa0\x80", 1),
    U("6.7 first 4", "\xf0\x90\x80\x80", 1),
    U("6.8 first 5", "\xf8\x88\x80\x80\x80", 0),
    U("6.8 first 6", "\xfc\x84\x80\x80\x80\x80", 0),
    U("6.9 last 1", "\x7f", 1),
    U("6.9 last 2", "\xdf\xbf", 1),
    U("6.9 last 3", "\xef\xbf\xbf", 1),
    U("6.9 last 4", "\xf4\x8f\xbf\xbf", 1),
    U("6.10 F7 BF BF BF", "\xf7\xbf\xbf\xbf", 0),
    U("6.10 last 5", "\xfb\xbf\xbf\xbf\xbf", 0),
    U("6.10 last 6", "\xfd\xbf\xbf\xbf\xbf\xbf", 0),
    U("6.11 U+D7FF", "\xed\x9f\xbf", 1),
    U("6.11 U+E000", "\xee\x80\x80", 1),
    U("6.11 U+FFFD", "\xef\xbf\xbd", 1),
    U("6.11 U+10FFFF", "\xf4\x8f\xbf\xbf", 1),
    U("6.11 U+110000", "\xf4\x90\x80\x80", 0),
    U("6.12 lone 80", "\x80", 0),
    U("6.12 lone BF", "\xbf", 0),
    U("6.12 80 BF", "\x80\xbf", 0),
    U("6.12 80 BF 80", "\x80\xbf\x80", 0),
    U("6.12 80 BF 80 BF", "\x80\xbf\x80\xbf", 0),
    U("6.12 80 BF 80 BF 80", "\x80\xbf\x80\xbf\x80", 0),
    U("6.12 80 BF 80 BF 80 BF", "\x80\xbf\x80\xbf\x80\xbf", 0),
    U("6.13 C0 space", "\xc0\x20", 0),
    U("6.13 DF space", "\xdf\x20", 0),
    U("6.13 E0 space", "\xe0\x20", 0),
    U("6.13 EF space", "\xef\x20", 0),
    U("6.13 F0 space", "\xf0\x20", 0),
    U("6.13 F7 space", "\xf7\x20", 0),
    U("6.13 F8 space", "\xf8\x20", 0),
    U("6.13 FC space", "\xfc\x20", 0),
    U("6.14 C0", "\xc0", 0),
    U("6.14 E0 80", "\xe0\x80", 0),
    U("6.14 F0 80 80", "\xf0\x80\x80", 0),
    U("6.14 F8 80 80 80", "\xf8\x80\x80\x80", 0),
    U("6.14 FC 80 80 80 80", "\xfc\x80\x80\x80\x80", 0),
    U("6.14 DF", "\xdf", 0),
    U("6.14 EF BF", "\xef\xbf", 0),
    U("6.14 F7 BF BF", "\xf7\xbf\xbf", 0),
    U("6.14 E1 80 (truncated)", "\xe1\x80", 0),
    U("6.14 F1 80 80 (truncated)", "\xf1\x80\x80", 0),
    U("6.15 concatenated incomplete",
      "\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf", 0),
    U("6.16 FE", "\xfe", 0),
    U("6.16 FF", "\xff", 0),
    U("6.16 FE FE FF FF", "\xfe\xfe\xff\xff", 0),
    U("6.17 overlong / 2", "\xc0\xaf", 0),
    U("6.17 overlong / 3", "\xe0\x80\xaf", 0),
    U("6.17 overlong / 4", "\xf0\x80\x80\xaf", 0),
    U("6.17 overlong / 5", "\xf8\x80\x80\x80\xaf", 0),
    U("6.17 overlong / 6", "\xfc\x80\x80\x80\x80\xaf", 0),
    U("6.18 max overlong 2", "\xc1\xbf", 0),
    U("6.18 max overlong 3", "\xe0\x9f\xbf", 0),
    U("6.18 max overlong 4", "\xf0\x8f\xbf\xbf", 0),
    U("6.18 max overlong 5", "\xf8\x87\xbf\xbf\xbf", 0),
    U("6.18 max overlong 6", "\xfc\x83\xbf\xbf\xbf\xbf", 0),
    U("6.19 overlong NUL 2", "\xc0\x80", 0),
    U("6.19 overlong NUL 3", "\xe0\x80\x80", 0),
    U("6.19 overlong NUL 4", "\xf0\x80\x80\x80", 0),
    U("6.19 overlong NUL 5", "\xf8\x80\x80\x80\x80", 0),
    U("6.19 overlong NUL 6", "\xfc\x80\x80\x80\x80\x80", 0),
    U("6.20 U+D800", "\xed\xa0\x80", 0),
    U("6.20 U+DB7F", "\xed\xad\xbf", 0),
    U("6.20 U+DB80", "\xed\xae\x80", 0),
    U("6.20 U+DBFF", "\xed\xaf\xbf", 0),
    U("6.20 U+DC00", "\xed\xb0\x80", 0),
    U("6.20 U+DF80", "\xed\xbe\x80", 0),
    U("6.20 U+DFFF", "\xed\xbf\xbf", 0),
    U("6.21 D800 DC00", "\xed\xa0\x80\xed\xb0\x80", 0),
    U("6.21 D800 DFFF", "\xed\xa0\x80\xed\xbf\xbf", 0),
    U("6.21 DB7F DC00", "\xed\xad\xbf\xed\xb0\x80", 0),
    U("6.21 DBFF DFFF", "\xed\xaf\xbf\xed\xbf\xbf", 0),
    U("6.22 U+FFFE", "\xef\xbf\xbe", 1),
    U("6.22 U+FFFF", "\xef\xbf\xbf", 1),
    U("6.22 U+1FFFE", "\xf0\x9f\xbf\xbe", 1),
    U("6.22 U+10FFFE", "\xf4\x8f\xbf\xbe", 1),
    U("6.22 U+FDD0", "\xef\xb7\x90", 1),
    U("6.23 U+FFFD", "\xef\xbf\xbd", 1),
    U("ASCII then E0 A0 80 in the 9th byte", "abcdefgh\xe0\xa0\x80 ijklmnop", 1),
    U("ASCII then C1 in the 9th byte", "abcdefgh\xc1\x81ijklmnop", 0),
    U("ASCII run then ED A0 80", "abcdefghijklmnopqrstuvwxyz\xed\xa0\x80", 0),
    U("emoji", "\xf0\x9f\x98\x80\xf0\x9f\x8e\x89", 1),
};

/* A straightforward decoder, written differently from utf8.c's automaton:
 * decode each code point arithmetically and check its range. */
static int ref_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i], min;
        int k, j;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            k = 1;
            c &= 0x1f;
            min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            c &= 0x0f;
            min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            c &= 0x07;
            min = 0x10000;
        } else {
            return 0;
        }
        if (n - i <= (size_t)k) return 0;
        for (j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            c = (c << 6) | (s[i + j] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
        i += (size_t)k + 1;
    }
    return 1;
}

/* Whether some bytes appended to s[0, n) make it valid: continuation bytes
 * fall in three ranges that matter (80-8F, 90-9F, A0-BF), one of each is enough. */
static int ref_prefix(const uint8_t *s, size_t n) {
    static const uint8_t reps[3] = {0x80, 0x90, 0xa0};
    uint8_t t[64];
    int k, combo, j;
    if (ref_valid(s, n)) return 1;
    if (n > sizeof t - 3) return 0; /* not called for long strings */
    memcpy(t, s, n);
    for (k = 1; k <= 3; k++) {
        int count = k == 1 ? 3 : k == 2 ? 9 : 27;
        for (combo = 0; combo < count; combo++) {
            int c = combo;
            for (j = 0; j < k; j++, c /= 3) t[n + (size_t)j] = reps[c % 3];
            if (ref_valid(t, n + (size_t)k)) return 1;
        }
    }
    return 0;
}

/* The index of the first byte where s stops being a valid prefix, or n. */
static size_t ref_fail_at(const uint8_t *s, size_t n) {
    size_t i;
    for (i = 1; i <= n; i++)
        if (!ref_prefix(s, i)) return i - 1;
    return n;
}

/* The validator agrees with the reference on s: valid as a whole, and where
 * it fails, whole or a byte at a time. */
static int utf8_agrees(const uint8_t *s, size_t n) {
    uint32_t st = FH_UTF8_ACCEPT, st2 = FH_UTF8_ACCEPT;
    size_t at = fh_utf8_run(&st, s, n), i, at2 = n;
    int whole = fh_utf8_step(&st2, s, n) == 0 && st2 == FH_UTF8_ACCEPT;
    if (whole != ref_valid(s, n)) return 0;
    if ((at == n) != (st != FH_UTF8_REJECT)) return 0;
    if (n <= 60 && at != ref_fail_at(s, n)) return 0;
    st2 = FH_UTF8_ACCEPT;
    for (i = 0; i < n; i++) {
        if (fh_utf8_step(&st2, s + i, 1) != 0) {
            at2 = i;
            break;
        }
    }
    if (at2 != at) return 0;
    /* Sticky: rejected stays rejected. */
    if (st2 == FH_UTF8_REJECT && fh_utf8_step(&st2, (const uint8_t *)"a", 1) != -1) return 0;
    return 1;
}

static void test_utf8_validator(int quick) {
    size_t i;
    uint32_t a, b, c, cp;
    uint8_t s[8];
    long bad = 0;
    char what[96];
    for (i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        const utf8_case *u = &utf8_cases[i];
        uint32_t st = FH_UTF8_ACCEPT;
        int ok = fh_utf8_step(&st, (const uint8_t *)u->s, u->len) == 0 && st == FH_UTF8_ACCEPT;
        check(ok == u->valid, u->name, u->valid ? "valid, refused" : "invalid, accepted");
        check(ref_valid((const uint8_t *)u->s, u->len) == u->valid, u->name, "the reference decoder disagrees");
        check(utf8_agrees((const uint8_t *)u->s, u->len), u->name, "fails at another byte than the reference");
    }
    /* Every code point, encoded; surrogates encoded as if they were code points. */
    for (cp = 0; cp <= 0x10ffff; cp++) {
        size_t n;
        uint32_t st = FH_UTF8_ACCEPT;
        int valid;
        if (cp < 0x80) {
            s[0] = (uint8_t)cp;
            n = 1;
        } else if (cp < 0x800) {
            s[0] = (uint8_t)(0xc0 | (cp >> 6));
            s[1] = (uint8_t)(0x80 | (cp & 0x3f));
            n = 2;
        } else if (cp < 0x10000) {
            s[0] = (uint8_t)(0xe0 | (cp >> 12));
            s[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
            s[2] = (uint8_t)(0x80 | (cp & 0x3f));
            n = 3;
        } else {
            s[0] = (uint8_t)(0xf0 | (cp >> 18));
            s[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
            s[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
            s[3] = (uint8_t)(0x80 | (cp & 0x3f));
            n = 4;
        }
        valid = fh_utf8_step(&st, s, n) == 0 && st == FH_UTF8_ACCEPT;
        if (valid != !(cp >= 0xd800 && cp <= 0xdfff)) bad++;
    }
    snprintf(what, sizeof what, "%ld code points judged wrongly", bad);
    check(bad == 0, "every code point U+0000..U+10FFFF", what);
    if (quick) return;
    /* Every sequence of one and two bytes; three-byte ones starting with a
     * lead byte (those starting otherwise are decided by their first two). */
    bad = 0;
    for (a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        if (!utf8_agrees(s, 1)) bad++;
        for (b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            if (!utf8_agrees(s, 2)) bad++;
        }
    }
    snprintf(what, sizeof what, "%ld sequences judged wrongly", bad);
    check(bad == 0, "every 1- and 2-byte sequence against the reference", what);
    bad = 0;
    for (a = 0xc0; a < 256; a++) {
        for (b = 0; b < 256; b++) {
            for (c = 0; c < 256; c++) {
                uint32_t st = FH_UTF8_ACCEPT;
                int valid;
                s[0] = (uint8_t)a;
                s[1] = (uint8_t)b;
                s[2] = (uint8_t)c;
                valid = fh_utf8_step(&st, s, 3) == 0 && st == FH_UTF8_ACCEPT;
                if (valid != ref_valid(s, 3)) bad++;
            }
        }
    }
    snprintf(what, sizeof what, "%ld sequences judged wrongly", bad);
    check(bad == 0, "every 3-byte sequence with a lead byte against the reference", what);
    /* Sampled longer ones, from bytes near the boundaries, with ASCII runs. */
    bad = 0;
    {
        static const uint8_t pick[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf,
                                       0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf8, 0xff};
        uint8_t t[24];
        long k;
        for (k = 0; k < 300000; k++) {
            size_t n = 1 + (size_t)(rnd() % 12), j;
            for (j = 0; j < n; j++) t[j] = rnd() % 3 == 0 ? (uint8_t)rnd() : pick[rnd() % sizeof pick];
            if (!utf8_agrees(t, n)) bad++;
        }
    }
    snprintf(what, sizeof what, "%ld sequences judged wrongly", bad);
    check(bad == 0, "300000 sampled sequences of up to 12 bytes against the reference", what);
}

/* Each UTF-8 case as a text message: one frame, two fragments split at every
 * byte, a byte per fragment; in a close reason too. */
static void test_utf8_messages(void) {
    size_t i, cut;
    char name[128];
    for (i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        const utf8_case *u = &utf8_cases[i];
        event want = u->valid ? ev_msg(TEXT, u->s, u->len) : ev_err(FH_WS_CLOSE_INVALID_DATA);
        bytes b = {0};
        frame(&b, FIN | TEXT, u->s, u->len);
        snprintf(name, sizeof name, "text message %s", u->name);
        expect_one(name, &SERVER, &b, want);
        bytes_free(&b);
        for (cut = 0; cut <= u->len; cut++) {
            frame(&b, TEXT, u->s, cut);
            frame(&b, FIN | PING, "", 0);
            frame(&b, FIN | CONT, u->s + cut, u->len - cut);
            snprintf(name, sizeof name, "text message %s in two fragments cut at %zu, a ping between", u->name, cut);
            if (u->valid) {
                event e[2];
                e[0] = ev_ctl(FH_WSR_PING, "", 0);
                e[1] = want;
                expect_events(name, &SERVER, &b, e, 2);
            } else {
                /* The error comes at the first bad byte: before the ping
                 * when that byte is in the first fragment (the end of a
                 * message is not the end of its first fragment). */
                uint32_t st = FH_UTF8_ACCEPT;
                size_t at = fh_utf8_run(&st, (const uint8_t *)u->s, u->len);
                if (at < cut) {
                    expect_one(name, &SERVER, &b, want);
                } else {
                    event e[2];
                    e[0] = ev_ctl(FH_WSR_PING, "", 0);
                    e[1] = want;
                    expect_events(name, &SERVER, &b, e, 2);
                }
            }
            bytes_free(&b);
        }
        if (u->len <= 123) {
            close_frame(&b, 1000, u->s, u->len);
            snprintf(name, sizeof name, "close reason %s", u->name);
            if (u->valid) {
                event e = ev_ctl(FH_WSR_CLOSE, u->s, u->len);
                e.code = 1000;
                expect_one(name, &SERVER, &b, e);
            } else {
                expect_error(name, &SERVER, &b, FH_WS_CLOSE_INVALID_DATA);
            }
            bytes_free(&b);
        }
    }
}

/* ---- fail-fast ------------------------------------------------------------- */

/* Feeds stream[0, n) only (whole, then a byte at a time); expects ERROR
 * `code` with exactly `at` bytes consumed. */
static void expect_fail_at(const char *name, const settings *s, const bytes *stream, size_t n, int code, size_t at) {
    int mode;
    char what[160];
    for (mode = WHOLE; mode <= BYTES; mode++) {
        uint8_t *buf = (uint8_t *)malloc(n);
        fh_wsr r;
        size_t pos = 0;
        memcpy(buf, stream->p, n);
        memset(&r, 0, sizeof r);
        r.max_payload = s->max_payload;
        r.rsv1_ok = (uint8_t)s->rsv1_ok;
        r.need_mask = (uint8_t)s->need_mask;
        while (pos < n && r.got != FH_WSR_ERROR) {
            pos += fh_wsr_feed(&r, buf + pos, mode == WHOLE ? n - pos : 1);
            if (r.got != FH_WSR_NONE && r.got != FH_WSR_ERROR) fh_wsr_next(&r);
        }
        snprintf(what, sizeof what, "fed %s: got %d error %d after %zu bytes; expected error %d after %zu",
                 mode_name(mode), r.got, r.error, pos, code, at);
        check(r.got == FH_WSR_ERROR && r.error == code && pos == at, name, what);
        fh_wsr_free(&r);
        free(buf);
    }
}

static void test_fail_fast(void) {
    bytes b = {0};
    size_t mib = 1 << 20;
    uint8_t *p = random_bytes(mib, 1);
    p[10] = 0xc0;
    frame(&b, FIN | TEXT, p, mib);
    /* header 2 + 8 + 4; byte 10 is bad: consumed through it */
    expect_fail_at("1 MiB text, bad byte at 10, 64 bytes fed", &SERVER, &b, 14 + 64, 1007, 14 + 11);
    bytes_free(&b);
    p[10] = 'a';
    frame(&b, TEXT, p, 1000);
    p[1000] = 0xed;
    p[1001] = 0xa0;
    frame(&b, FIN | CONT, p + 1000, mib - 1000);
    expect_fail_at("surrogate at the start of a 1 MiB continuation, 100 bytes of it fed", &SERVER, &b,
                   8 + 1000 + 14 + 100, 1007, 8 + 1000 + 14 + 2);
    bytes_free(&b);
    p[1000] = 0xe0;
    p[1001] = 'a';
    frame(&b, TEXT, p, 1001); /* ends inside a code point: fine until the next byte */
    frame(&b, FIN | CONT, p + 1001, 1000);
    expect_fail_at("a code point cut by a fragment boundary, then a bad byte", &SERVER, &b, 8 + 1001 + 8 + 10, 1007,
                   8 + 1001 + 8 + 1);
    bytes_free(&b);
    frame_s(&b, FIN | 0x03, "x");
    expect_fail_at("reserved opcode: refused at the first byte", &SERVER, &b, 1, 1002, 1);
    bytes_free(&b);
    frame_form(&b, FIN | TEXT, 0, "x", 1, 0);
    expect_fail_at("unmasked: refused at the second byte", &SERVER, &b, 2, 1002, 2);
    bytes_free(&b);
    frame(&b, FIN | CLOSE, "\x03", 1);
    expect_fail_at("close with a 1-byte body: refused at the second byte", &SERVER, &b, 2, 1002, 2);
    bytes_free(&b);
    frame(&b, FIN | PING, "", 0);
    b.p[1] = 0x80 | 126;
    expect_fail_at("ping with a 16-bit length: refused at the second byte", &SERVER, &b, 2, 1002, 2);
    bytes_free(&b);
    frame(&b, FIN | BIN, p, mib);
    {
        settings small = {mib - 1, 0, 1};
        expect_fail_at("1 MiB binary over max_payload: refused at its header", &small, &b, 14, 1009, 14);
    }
    bytes_free(&b);
    free(p);
}

/* ---- fh_ws_header ----------------------------------------------------------- */

static void test_header(void) {
    static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 0xffffffffULL, 0x100000000ULL};
    static const size_t sizes[] = {2, 2, 2, 4, 4, 4, 10, 10, 10, 10};
    size_t i;
    uint8_t h[16];
    char name[64];
    for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t n = fh_ws_header(h, BIN, 0, lens[i]);
        fh_wsr r;
        size_t c;
        snprintf(name, sizeof name, "fh_ws_header len %llu", (unsigned long long)lens[i]);
        check(n == sizes[i] && h[0] == 0x82 && !(h[1] & 0x80), name, "size, FIN|BIN, unmasked");
        /* Read back by the reader as a client would. */
        memset(&r, 0, sizeof r);
        r.max_payload = UINT64_MAX;
        c = fh_wsr_feed(&r, h, n);
        check(c == n && (lens[i] == 0 ? r.got == FH_WSR_MESSAGE : r.got == FH_WSR_NONE && r.left == lens[i]) &&
                  r.op == BIN && r.fin && !r.rsv1,
              name, "read back");
        fh_wsr_free(&r);
    }
    check(fh_ws_header(h, TEXT, 1, 5) == 2 && h[0] == 0xc1 && h[1] == 5, "fh_ws_header", "RSV1 text");
    check(fh_ws_header(h, CLOSE, 0, 2) == 2 && h[0] == 0x88 && h[1] == 2, "fh_ws_header", "close");
    check(fh_ws_header(h, PONG, 0, 300) == 4 && h[0] == 0x8a && h[1] == 126 && h[2] == 1 && h[3] == 44, "fh_ws_header",
          "pong of 300 (as the writer would never, but the bytes are right)");
    check(fh_ws_header(h, BIN, 0, 0x0102030405060708ULL) == 10 && h[1] == 127 && h[2] == 1 && h[9] == 8,
          "fh_ws_header", "64-bit big-endian");
    {
        /* A server's frames, header + payload, read back unmasked. */
        bytes b = {0};
        uint8_t *p = random_bytes(70000, 1);
        size_t n = fh_ws_header(h, TEXT, 0, 70000);
        event e[2];
        put(&b, h, n);
        put(&b, p, 70000);
        n = fh_ws_header(h, PING, 0, 3);
        put(&b, h, n);
        put(&b, "abc", 3);
        e[0] = ev_msg(TEXT, p, 70000);
        e[1] = ev_ctl(FH_WSR_PING, "abc", 3);
        expect_events("fh_ws_header frames read back by a client reader", &CLIENT, &b, e, 2);
        bytes_free(&b);
        free(p);
    }
}

static void test_close_codes(void) {
    int code, bad = 0;
    for (code = -1; code < 70000; code++) {
        int expect = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
        if (fh_ws_close_code_ok(code) != expect) bad++;
    }
    check(bad == 0, "fh_ws_close_code_ok", "-1..69999");
}

/* The reader's buffer: kept across messages, grown by doubling. */
static void test_buffer(void) {
    fh_wsr r;
    bytes b = {0};
    uint8_t *p = random_bytes(10000, 1);
    uint8_t *keep;
    size_t c;
    memset(&r, 0, sizeof r);
    r.max_payload = 1 << 20;
    r.need_mask = 1;
    frame(&b, FIN | TEXT, p, 10000);
    frame(&b, FIN | TEXT, p, 10);
    c = fh_wsr_feed(&r, b.p, b.n);
    check(r.got == FH_WSR_MESSAGE && r.msg_len == 10000 && memcmp(r.msg, p, 10000) == 0 && r.msg_cap >= 10000 &&
              r.msg_cap < 2 * 10000 + FH_WSR_MIN_CAP,
          "buffer", "first message");
    keep = r.msg;
    fh_wsr_next(&r);
    c += fh_wsr_feed(&r, b.p + c, b.n - c);
    check(c == b.n && r.got == FH_WSR_MESSAGE && r.msg == keep && r.msg_len == 10 && memcmp(r.msg, p, 10) == 0,
          "buffer", "kept for the next message");
    /* Feeding without fh_wsr_next does it: after a fragmented message
     * (in_msg is still 1 at MESSAGE), a new one is not a violation, and a
     * partial frame leaves got NONE. */
    bytes_free(&b);
    fh_wsr_next(&r);
    frame(&b, BIN, "y", 1);
    frame(&b, FIN | CONT, "z", 1);
    frame(&b, FIN | BIN, "z", 1);
    c = fh_wsr_feed(&r, b.p, b.n);
    check(c == 14 && r.got == FH_WSR_MESSAGE && r.in_msg && r.msg_len == 2, "buffer", "a fragmented message");
    c += fh_wsr_feed(&r, b.p + c, 3);
    check(c == 17 && r.got == FH_WSR_NONE && r.msg_len == 0, "buffer", "feed after MESSAGE without next: part of a frame");
    c += fh_wsr_feed(&r, b.p + c, b.n - c);
    check(c == b.n && r.got == FH_WSR_MESSAGE && r.msg_len == 1 && r.msg[0] == 'z' && r.msg_op == BIN, "buffer",
          "feed after MESSAGE without next: the rest");
    fh_wsr_free(&r);
    fh_wsr_free(&r); /* twice is harmless */
    check(r.msg == NULL && r.msg_cap == 0, "buffer", "freed");
    bytes_free(&b);
    free(p);
}

/* A few cases, for TinyCC's quick run and as a smoke test. */
static void test_smoke(void) {
    bytes b = {0};
    event e[3];
    frame_s(&b, TEXT, "Hel");
    frame_s(&b, FIN | PING, "p");
    frame_s(&b, FIN | CONT, "lo \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
    frame(&b, FIN | TEXT, "\xed\xa0\x80", 3);
    e[0] = ev_ctl(FH_WSR_PING, "p", 1);
    e[1] = ev_text("Hello \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
    e[2] = ev_err(1007);
    expect_events("smoke: fragments, a ping, then a surrogate", &SERVER, &b, e, 3);
    bytes_free(&b);
}

/* Runs everything (quick: without the brute-force UTF-8 sweeps and the big
 * frames); prints the tally; returns the number of failures. */
int ws_read_test_run(int quick) {
    passed = failed = 0;
    test_smoke();
    test_header();
    test_close_codes();
    test_buffer();
    test_control();
    test_deflate_flag();
    test_violations();
    test_max_payload();
    test_fragments();
    test_utf8_validator(quick);
    test_utf8_messages();
    test_fail_fast();
    if (!quick) test_lengths();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed;
}

#ifndef FH_WS_TEST_LIBRARY
int main(int argc, char **argv) {
    return ws_read_test_run(argc > 1 && strcmp(argv[1], "--quick") == 0) ? 1 : 0;
}
#endif
