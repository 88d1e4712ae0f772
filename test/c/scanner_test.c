/*
 * scanner_test.c - table tests for the request scanner and chunked framer
 * (c/scanner.c), meant to run under -fsanitize=address,undefined.
 *
 * Every input is placed so that its last byte sits right before a PROT_NONE
 * page (scanner_harness.h), and so is every strict prefix of it: a read past
 * the end faults. For each table case:
 *   - fh_scan_head / fh_scan_chunked / fh_scan_response give the expected result;
 *   - every strict prefix of an accepted input is FH_INCOMPLETE, and every
 *     strict prefix of a refused one is FH_INCOMPLETE or the same error;
 *   - an accepted head scans the same with nothing after it as with more.
 * Then NUL, other CTLs, DEL, a bare CR or LF put in place of any byte of a
 * valid head are refused. Finally every file in the directories named on the
 * command line (the seed corpus, made from test/cases/requests.ts by
 * scripts/fuzz-seeds.ts) is framed whole, split in two at every byte
 * boundary, and fed one byte at a time: the events must be identical.
 *
 * Prints one line per failure and ends with "N passed, M failed"; exits 1 on
 * any failure.
 *
 *   clang -g -fsanitize=address,undefined -fno-sanitize-recover=all \
 *     test/c/scanner_test.c -o scanner_test && ./scanner_test seeds/
 */
#include "scanner_harness.h"

#include <dirent.h>

static int passed, failed;
static fh_guard guard, scratch;

#define MAX_HEAD 8192
#define MAX_BODY (16 << 20)

static void fail(const char *what, const char *name, const char *detail) {
    failed++;
    printf("FAIL %s: %s: %s\n", what, name, detail);
}

static void check(int ok, const char *what, const char *name, const char *detail) {
    if (ok) passed++;
    else fail(what, name, detail);
}

/* ---- fh_scan_head ------------------------------------------------------------ */

#define ALL (-100) /* expected length: the whole input */

typedef struct head_case {
    const char *name;
    const char *in;
    size_t len;
    int ret;         /* ALL, a length, FH_ERROR or FH_INCOMPLETE */
    int status;      /* with FH_ERROR */
    size_t max_head; /* 0: MAX_HEAD */
    const char *method, *path;
    int flags_on, flags_off;
    int64_t cl;      /* -2: not checked */
} head_case;

/* Inputs are string literals: their length comes from sizeof, so they may hold NUL. */
#define CASE(n, s, ret, st, mh, m, p, on, off, cl) {n, s, sizeof(s) - 1, ret, st, mh, m, p, on, off, cl}
#define OK(n, s) CASE(n, s, ALL, 0, 0, NULL, NULL, 0, 0, -2)
#define OKP(n, s, m, p) CASE(n, s, ALL, 0, 0, m, p, 0, 0, -2)
#define OKF(n, s, on, off) CASE(n, s, ALL, 0, 0, NULL, NULL, on, off, -2)
#define OKCL(n, s, cl) CASE(n, s, ALL, 0, 0, NULL, NULL, FH_REQ_HAS_CL, FH_REQ_CHUNKED, cl)
#define BAD(n, s, st) CASE(n, s, FH_ERROR, st, 0, NULL, NULL, 0, 0, -2)
#define BADMAX(n, s, st, mh) CASE(n, s, FH_ERROR, st, mh, NULL, NULL, 0, 0, -2)
#define MORE(n, s) CASE(n, s, FH_INCOMPLETE, 0, 0, NULL, NULL, 0, 0, -2)

#define H "Host: a\r\n"

static const head_case head_cases[] = {
    OKP("minimal GET", "GET / HTTP/1.1\r\n" H "\r\n", "GET", "/"),
    OKP("query", "GET /a?b=c&d HTTP/1.1\r\n" H "\r\n", "GET", "/a?b=c&d"),
    OKP("absolute-form", "GET http://a.example:8080/x?y HTTP/1.1\r\n" H "\r\n", "GET", "/x?y"),
    OKP("absolute-form without a path routes as /", "GET http://a.example HTTP/1.1\r\n" H "\r\n", "GET", "/"),
    OKP("asterisk-form", "OPTIONS * HTTP/1.1\r\n" H "\r\n", "OPTIONS", "*"),
    OKP("authority-form", "CONNECT a.example:443 HTTP/1.1\r\n" H "\r\n", "CONNECT", "a.example:443"),
    OKP("IPv6 authority", "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", "CONNECT", "[::1]:443"),
    OKP("leading CRLFs", "\r\n\r\nGET /x HTTP/1.1\r\n" H "\r\n", "GET", "/x"),
    OKP("tchar method", "M-SEARCH_1 /x HTTP/1.1\r\n" H "\r\n", "M-SEARCH_1", "/x"),
    OKF("HTTP/1.0 without Host closes", "GET / HTTP/1.0\r\n\r\n", FH_REQ_HTTP10, FH_REQ_KEEP_ALIVE),
    OKF("HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", FH_REQ_HTTP10 | FH_REQ_KEEP_ALIVE, 0),
    OKF("HTTP/1.1 keeps alive", "GET / HTTP/1.1\r\n" H "\r\n", FH_REQ_KEEP_ALIVE, FH_REQ_HTTP10),
    OKF("Connection: close", "GET / HTTP/1.1\r\n" H "Connection: foo, close\r\n\r\n", 0, FH_REQ_KEEP_ALIVE),
    OKF("HEAD", "HEAD / HTTP/1.1\r\n" H "\r\n", FH_REQ_HEAD, 0),
    OKF("chunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n", FH_REQ_CHUNKED, FH_REQ_HAS_CL),
    OKF("chunked, list with empty elements", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: ,chunked,\r\n\r\n", FH_REQ_CHUNKED, 0),
    OKF("Expect: 100-continue", "POST / HTTP/1.1\r\n" H "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
        FH_REQ_EXPECT_CONTINUE, 0),
    OKF("no 100-continue on HTTP/1.0", "POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", 0, FH_REQ_EXPECT_CONTINUE),
    OKCL("Content-Length", "POST / HTTP/1.1\r\n" H "Content-Length: 12\r\n\r\n", 12),
    OKCL("Content-Length 0", "POST / HTTP/1.1\r\n" H "Content-Length: 0\r\n\r\n", 0),
    OKCL("Content-Length leading zeros", "POST / HTTP/1.1\r\n" H "Content-Length: 0005\r\n\r\n", 5),
    OKCL("identical Content-Length list", "POST / HTTP/1.1\r\n" H "Content-Length: 7, 7\r\n\r\n", 7),
    OKCL("identical Content-Length lines", "POST / HTTP/1.1\r\n" H "Content-Length: 7\r\nContent-Length: 7\r\n\r\n", 7),
    OKCL("Content-Length 10^15 - 1", "POST / HTTP/1.1\r\n" H "Content-Length: 999999999999999\r\n\r\n", 999999999999999LL),
    OK("empty value", "GET / HTTP/1.1\r\n" H "X:\r\n\r\n"),
    OK("value with HTAB and obs-text", "GET / HTTP/1.1\r\n" H "X: a\tb\xff\x80 c \t\r\n\r\n"),
    OK("pct-encoding", "GET /%41%2f HTTP/1.1\r\n" H "\r\n"),
    OK("Host with port", "GET / HTTP/1.1\r\nHost: a.example:80\r\n\r\n"),
    OK("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n"),

    /* the request line */
    BAD("GET CRLF CRLF: no SP after the method", "GET\r\n\r\n", 400),
    BAD("GET CRLF then a header", "GET\r\nHost: a\r\n\r\n", 400),
    BAD("method then LF", "GET\n\n", 400),
    BAD("empty method", " / HTTP/1.1\r\n" H "\r\n", 400),
    BAD("two SP", "GET  / HTTP/1.1\r\n" H "\r\n", 400),
    BAD("HTAB separator", "GET\t/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("no version", "GET /\r\n\r\n", 400),
    BAD("no target", "GET HTTP/1.1\r\n" H "\r\n", 400),
    BAD("SP in target", "GET /a b HTTP/1.1\r\n" H "\r\n", 400),
    BAD("fragment", "GET /a#b HTTP/1.1\r\n" H "\r\n", 400),
    BAD("bad pct-encoding", "GET /%zz HTTP/1.1\r\n" H "\r\n", 400),
    BAD("pct-encoding cut by SP", "GET /% HTTP/1.1\r\n" H "\r\n", 400),
    BAD("pct-encoding with one hex digit", "GET /%a HTTP/1.1\r\n" H "\r\n", 400),
    BAD("brackets in a path", "GET /[x] HTTP/1.1\r\n" H "\r\n", 400),
    BAD("relative target", "GET a HTTP/1.1\r\n" H "\r\n", 400),
    BAD("asterisk with GET", "GET * HTTP/1.1\r\n" H "\r\n", 400),
    BAD("CONNECT without port", "CONNECT a.example HTTP/1.1\r\n" H "\r\n", 400),
    BAD("CONNECT with a path", "CONNECT / HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form without host", "GET http:///x HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form with userinfo", "GET http://u@a/x HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form, scheme only", "GET http: HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form, bad scheme", "GET 1ttp://a/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("IPv6 literal unterminated", "CONNECT [::1:443 HTTP/1.1\r\n" H "\r\n", 400),
    BAD("empty IPv6 literal", "CONNECT []:443 HTTP/1.1\r\n" H "\r\n", 400),
    BAD("port too long", "CONNECT a:123456 HTTP/1.1\r\n" H "\r\n", 400),
    BAD("lower-case version", "GET / http/1.1\r\n" H "\r\n", 400),
    BAD("HTTP/1.10", "GET / HTTP/1.10\r\n" H "\r\n", 400),
    BAD("version with SP after", "GET / HTTP/1.1 \r\n" H "\r\n", 400),
    BAD("version ended by bare LF", "GET / HTTP/1.1\n" H "\r\n", 400),
    BAD("version ended by bare CR", "GET / HTTP/1.1\rX", 400),
    BAD("HTTP/2.0", "GET / HTTP/2.0\r\n" H "\r\n", 505),
    BAD("HTTP/1.2", "GET / HTTP/1.2\r\n" H "\r\n", 505),
    BAD("HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505),
    BAD("leading bare LF", "\nGET / HTTP/1.1\r\n" H "\r\n", 400),
    BAD("leading CR then garbage", "\rGET / HTTP/1.1\r\n" H "\r\n", 400),
    BAD("NUL method", "\x00 / HTTP/1.1\r\n" H "\r\n", 400),

    /* header fields */
    BAD("no Host on HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400),
    BAD("two Hosts", "GET / HTTP/1.1\r\n" H H "\r\n", 400),
    BAD("two Hosts on HTTP/1.0", "GET / HTTP/1.0\r\n" H H "\r\n", 400),
    BAD("bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    BAD("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    BAD("SP before colon", "GET / HTTP/1.1\r\n" H "X : y\r\n\r\n", 400),
    BAD("no colon", "GET / HTTP/1.1\r\n" H "X y\r\n\r\n", 400),
    BAD("empty name", "GET / HTTP/1.1\r\n" H ": y\r\n\r\n", 400),
    BAD("obs-fold", "GET / HTTP/1.1\r\n" H "X: a\r\n b\r\n\r\n", 400),
    BAD("whitespace before the first field", "GET / HTTP/1.1\r\n " H "\r\n", 400),
    BAD("bare LF ends a field", "GET / HTTP/1.1\r\n" H "X: y\n\r\n", 400),
    BAD("bare CR in a value", "GET / HTTP/1.1\r\n" H "X: a\rb\r\n\r\n", 400),
    BAD("NUL in a value", "GET / HTTP/1.1\r\n" H "X: a\x00"
                          "b\r\n\r\n", 400),
    BAD("DEL in a value", "GET / HTTP/1.1\r\n" H "X: a\x7f\r\n\r\n", 400),
    BAD("blank line ended by CR CR", "GET / HTTP/1.1\r\n" H "\r\r", 400),
    BAD("blank line ended by bare LF", "GET / HTTP/1.1\r\n" H "\n", 400),

    /* framing */
    BAD("two different Content-Lengths", "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    BAD("a Content-Length list that differs", "POST / HTTP/1.1\r\n" H "Content-Length: 5, 6\r\n\r\n", 400),
    BAD("an empty Content-Length", "POST / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", 400),
    BAD("a Content-Length of commas", "POST / HTTP/1.1\r\n" H "Content-Length: ,\r\n\r\n", 400),
    BAD("a signed Content-Length", "POST / HTTP/1.1\r\n" H "Content-Length: +5\r\n\r\n", 400),
    BAD("a negative Content-Length", "POST / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n", 400),
    BAD("a hex Content-Length", "POST / HTTP/1.1\r\n" H "Content-Length: 0x10\r\n\r\n", 400),
    BAD("Content-Length with SP inside", "POST / HTTP/1.1\r\n" H "Content-Length: 1 2\r\n\r\n", 400),
    BAD("Content-Length 10^15", "POST / HTTP/1.1\r\n" H "Content-Length: 1000000000000000\r\n\r\n", 400),
    BAD("Content-Length past int64", "POST / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999999\r\n\r\n", 400),
    BAD("Content-Length and chunked", "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("chunked and Content-Length", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
    BAD("chunked twice", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
    BAD("chunked not last", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    BAD("unknown coding", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", 501),
    BAD("empty Transfer-Encoding", "POST / HTTP/1.1\r\n" H "Transfer-Encoding:\r\n\r\n", 400),
    BAD("chunked on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("bad coding characters", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: a/b\r\n\r\n", 400),

    /* limits: the head must be complete within max_head */
    BADMAX("target past max_head", "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 414, 64),
    BADMAX("complete target past max_head", "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n" H "\r\n", 414, 64),
    BADMAX("fields past max_head", "GET / HTTP/1.1\r\n" H "X: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 431, 64),
    BADMAX("complete head past max_head", "GET / HTTP/1.1\r\n" H "X: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", 431, 64),
    BADMAX("bad byte past max_head", "GET / HTTP/1.1\r\n" H "X: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x01\r\n\r\n", 431, 64),
    BADMAX("leading CRLFs past max_head", "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n", 431, 64),
    CASE("head exactly max_head", "GET / HTTP/1.1\r\n" H "\r\n", ALL, 0, 27, NULL, NULL, 0, 0, -2),
    BADMAX("head one past max_head", "GET / HTTP/1.1\r\n" H "\r\n", 431, 26),

    /* incomplete */
    MORE("empty", ""),
    MORE("CR", "\r"),
    MORE("method", "GET"),
    MORE("head without the blank line", "GET / HTTP/1.1\r\n" H),
    MORE("head without the last LF", "GET / HTTP/1.1\r\n" H "\r"),
};

static int scan_at_guard(const uint8_t *in, size_t n, size_t max_head, fh_head *h) {
    return fh_scan_head(fh_guard_put(&guard, in, n), n, max_head, h);
}

static void test_head_case(const head_case *c) {
    const uint8_t *in = (const uint8_t *)c->in;
    size_t n = c->len, k, max_head = c->max_head ? c->max_head : MAX_HEAD;
    fh_head h, hp;
    int r, want = c->ret == ALL ? (int)n : c->ret, prefix_ok = 1;
    char detail[256];
    r = scan_at_guard(in, n, max_head, &h);
    snprintf(detail, sizeof(detail), "returned %d (status %d), expected %d (status %d)", r, h.status, want, c->status);
    check(r == want && (r != FH_ERROR || h.status == c->status), "fh_scan_head", c->name, detail);
    if (r > 0 && r == want) {
        size_t ml = (size_t)h.method_len, pl = (size_t)h.path_len;
        if (c->method) check(ml == strlen(c->method) && memcmp(in + h.method_start, c->method, ml) == 0, "method", c->name, c->method);
        if (c->path) check(pl == strlen(c->path) && memcmp(in + h.path_start, c->path, pl) == 0, "path", c->name, c->path);
        if (c->flags_on) check((h.flags & c->flags_on) == c->flags_on, "flags set", c->name, "a flag is missing");
        if (c->flags_off) check((h.flags & c->flags_off) == 0, "flags clear", c->name, "a flag is set");
        if (c->cl != -2) check(h.content_length == c->cl, "content_length", c->name, "wrong value");
        /* The same head with more bytes after it scans the same. */
        {
            uint8_t *more = malloc(n + 16);
            if (more == NULL) abort();
            memcpy(more, in, n);
            memcpy(more + n, "GET / HTTP/1.1\r\n", 16);
            check(scan_at_guard(more, n + 16, max_head, &hp) == r && fh_head_eq(&h, &hp), "bytes after the head",
                  c->name, "change the result");
            free(more);
        }
    }
    for (k = 0; k < n; k++) {
        int rp = scan_at_guard(in, k, max_head, &hp);
        int ok = r > 0 ? rp == FH_INCOMPLETE
                       : (rp == FH_INCOMPLETE || (rp == FH_ERROR && r == FH_ERROR && hp.status == h.status));
        if (!ok && prefix_ok) {
            snprintf(detail, sizeof(detail), "the %zu-byte prefix returned %d (status %d); the whole, %d (status %d)", k,
                     rp, hp.status, r, h.status);
            fail("strict prefix", c->name, detail);
            prefix_ok = 0;
        }
    }
    if (prefix_ok) passed++;
}

/* NUL, CTLs, DEL and bare CR/LF in place of any byte of a valid head. */
static void test_injection(const char *base) {
    static const uint8_t bad[] = {0x00, 0x01, 0x08, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f, '\r', '\n'};
    size_t n = strlen(base), k, b;
    uint8_t *buf = malloc(n);
    int ok = 1;
    char detail[160];
    fh_head h;
    if (buf == NULL) abort();
    for (k = 0; k < n; k++) {
        for (b = 0; b < sizeof(bad); b++) {
            int r;
            if ((uint8_t)base[k] == bad[b]) continue;
            memcpy(buf, base, n);
            buf[k] = bad[b];
            r = scan_at_guard(buf, n, MAX_HEAD, &h);
            if (r != FH_ERROR && ok) {
                snprintf(detail, sizeof(detail), "byte %zu set to 0x%02x returned %d", k, bad[b], r);
                fail("control byte refused", base, detail);
                ok = 0;
            }
        }
    }
    if (ok) passed++;
    free(buf);
}

/* ---- fh_scan_chunked --------------------------------------------------------- */

typedef struct chunk_case {
    const char *name;
    const char *in;
    int64_t ret; /* ALL, a length, FH_ERROR or FH_INCOMPLETE */
    int status;
    int64_t max_body;
    const char *decoded;
} chunk_case;

static const chunk_case chunk_cases[] = {
    {"empty body", "0\r\n\r\n", ALL, 0, MAX_BODY, ""},
    {"one chunk", "5\r\nhello\r\n0\r\n\r\n", ALL, 0, MAX_BODY, "hello"},
    {"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", ALL, 0, MAX_BODY, "hello world"},
    {"upper-case hex", "A\r\n0123456789\r\n0\r\n\r\n", ALL, 0, MAX_BODY, "0123456789"},
    {"leading zeros", "0005\r\nhello\r\n0000\r\n\r\n", ALL, 0, MAX_BODY, "hello"},
    {"extensions", "5;a=b;c;d=\"x\\\"y\"\r\nhello\r\n0;e\r\n\r\n", ALL, 0, MAX_BODY, "hello"},
    {"extensions with BWS", "5 ; a = b\r\nhello\r\n0\r\n\r\n", ALL, 0, MAX_BODY, "hello"},
    {"trailers", "5\r\nhello\r\n0\r\nX: y\r\nZ:\r\n\r\n", ALL, 0, MAX_BODY, "hello"},
    {"followed by another request", "1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n", 11, 0, MAX_BODY, "a"},
    {"max_body exactly", "5\r\nhello\r\n0\r\n\r\n", ALL, 0, 5, "hello"},
    {"max_body passed", "5\r\nhello\r\n0\r\n\r\n", FH_ERROR, 413, 4, NULL},
    {"max_body passed over two chunks", "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", FH_ERROR, 413, 5, NULL},
    {"size past max_body, before its data", "1000001\r\n", FH_ERROR, 413, MAX_BODY, NULL},
    {"size overflow", "ffffffffffffffffffff\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"no size", "\r\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"negative size", "-5\r\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"size ended by bare LF", "5\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"data longer than the size", "5\r\nhello!\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"data shorter than the size", "5\r\nhell\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"data ended by bare LF", "5\r\nhello\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"SP then no extension", "5 \r\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"extension without a name", "5;\r\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"extension with an empty value", "5;a=\r\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"extension with a CTL in a quoted value", "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"bad trailer", "0\r\nX : y\r\n\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"trailer with bare LF", "0\r\nX: y\n\r\n", FH_ERROR, 400, MAX_BODY, NULL},
    {"last chunk without the final CRLF", "0\r\n\r", FH_INCOMPLETE, 0, MAX_BODY, NULL},
    {"data not yet here", "5\r\nhel", FH_INCOMPLETE, 0, MAX_BODY, NULL},
    {"empty", "", FH_INCOMPLETE, 0, MAX_BODY, NULL},
    {"open quoted value", "5;a=\"xyz", FH_INCOMPLETE, 0, MAX_BODY, NULL},
};

static int64_t chunked_at_guard(const uint8_t *in, size_t n, int64_t max_body, int inplace, int64_t *dec, int *st,
                                uint8_t **out) {
    uint8_t *p = fh_guard_put(&guard, in, n);
    *out = inplace ? p : NULL;
    return fh_scan_chunked(p, n, max_body, *out, dec, st);
}

static void test_chunk_case(const chunk_case *c) {
    const uint8_t *in = (const uint8_t *)c->in;
    size_t n = strlen(c->in), k;
    int64_t want = c->ret == ALL ? (int64_t)n : c->ret, r, rp, dec = -1, decp;
    int st = -1, stp, prefix_ok = 1, mode;
    uint8_t *out;
    char detail[256];
    /* mode 0: framing only; mode 1: decoding in place. Same answer. */
    for (mode = 0; mode < 2; mode++) {
        r = chunked_at_guard(in, n, c->max_body, mode, &dec, &st, &out);
        snprintf(detail, sizeof(detail), "%s: returned %lld (status %d), expected %lld (status %d)",
                 mode ? "in place" : "framing", (long long)r, st, (long long)want, c->status);
        check(r == want && (r != FH_ERROR || st == c->status), "fh_scan_chunked", c->name, detail);
        if (r > 0 && r == want && c->decoded != NULL) {
            check(dec == (int64_t)strlen(c->decoded) && (mode == 0 || memcmp(out, c->decoded, (size_t)dec) == 0),
                  "decoded body", c->name, c->decoded);
        }
    }
    r = chunked_at_guard(in, n, c->max_body, 0, &dec, &st, &out);
    for (k = 0; k < n; k++) {
        rp = chunked_at_guard(in, k, c->max_body, 0, &decp, &stp, &out);
        if (!(r > 0 ? (rp == FH_INCOMPLETE || (size_t)r <= k)
                    : (rp == FH_INCOMPLETE || (rp == FH_ERROR && r == FH_ERROR && stp == st))) &&
            prefix_ok) {
            snprintf(detail, sizeof(detail), "the %zu-byte prefix returned %lld; the whole, %lld", k, (long long)rp,
                     (long long)r);
            fail("strict prefix (chunked)", c->name, detail);
            prefix_ok = 0;
        }
    }
    if (prefix_ok) passed++;
}

/* ---- fh_scan_response ------------------------------------------------------- */

typedef struct resp_case {
    const char *name;
    const char *in;
    int closes;
} resp_case;

static const resp_case resp_cases[] = {
    {"Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 1},
    {"in a list, any case", "HTTP/1.1 200 OK\r\nX: y\r\nconnection: keep-alive, CLOSE \r\n\r\nbody", 1},
    {"keep-alive", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", 0},
    {"closed is not close", "HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n", 0},
    {"another header", "HTTP/1.1 200 OK\r\nX-Connection: close\r\n\r\n", 0},
    {"in the body", "HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\nConnection: close\r\n", 0},
    {"bare LF lines", "HTTP/1.1 200 OK\nConnection: close\n\n", 1},
    {"no header", "HTTP/1.1 200 OK\r\n\r\n", 0},
    {"status line only", "HTTP/1.1 200 OK", 0},
    {"cut inside the header", "HTTP/1.1 200 OK\r\nConnection: clo", 0},
    {"ends without CRLF", "HTTP/1.1 200 OK\r\nConnection: close", 1},
    {"empty", "", 0},
};

static void test_resp_case(const resp_case *c) {
    size_t n = strlen(c->in), k;
    int r = (fh_scan_response(fh_guard_put(&guard, (const uint8_t *)c->in, n), n) & FH_RESP_CLOSE) != 0;
    check(r == c->closes, "fh_scan_response", c->name, r ? "says close" : "says keep");
    /* Every prefix at the guard: no fault, whatever the answer. */
    for (k = 0; k < n; k++) (void)fh_scan_response(fh_guard_put(&guard, (const uint8_t *)c->in, k), k);
    passed++;
}

/* ---- the corpus: splitting never changes the result --------------------------- */

static void frame_cuts(fh_framer *f, const uint8_t *d, size_t n, size_t max_head, int64_t max_body, const size_t *cuts,
                       int ncuts) {
    fh_framer_init(f, &guard, &scratch, max_head, max_body);
    fh_frame_split(f, d, n, cuts, ncuts);
}

static void test_corpus_entry(const char *name, const uint8_t *d, size_t n, size_t max_head, int64_t max_body) {
    static fh_framer whole, part;
    size_t k, cut;
    const char *diff;
    char detail[256];
    int ok = 1;
    size_t *all;
    frame_cuts(&whole, d, n, max_head, max_body, NULL, 0);
    if (whole.fail) {
        fail("invariant", name, whole.fail);
        return;
    }
    /* Split in two at every byte boundary. */
    for (cut = 1; cut < n && ok; cut++) {
        frame_cuts(&part, d, n, max_head, max_body, &cut, 1);
        diff = part.fail ? part.fail : fh_framer_diff(&whole, n, &part, n);
        if (diff) {
            snprintf(detail, sizeof(detail), "split at %zu (max_head %zu): %s", cut, max_head, diff);
            fail("split in two", name, detail);
            ok = 0;
        }
    }
    /* One byte at a time. */
    all = malloc(sizeof(size_t) * (n + 1));
    if (all == NULL) abort();
    for (k = 0; k < n; k++) all[k] = k + 1;
    frame_cuts(&part, d, n, max_head, max_body, all, (int)n);
    free(all);
    diff = part.fail ? part.fail : fh_framer_diff(&whole, n, &part, n);
    if (diff && ok) {
        snprintf(detail, sizeof(detail), "one byte at a time (max_head %zu): %s", max_head, diff);
        fail("byte by byte", name, detail);
        ok = 0;
    }
    /* Every strict prefix of the first complete request frames nothing. */
    if (whole.nev > 0 && whole.ev[0].kind == FH_EV_REQUEST && ok) {
        size_t first = (size_t)whole.ev[0].consumed;
        /* leading CRLFs count in the first request's bytes */
        for (k = 0; k < first && k < n && ok; k++) {
            frame_cuts(&part, d, k, max_head, max_body, NULL, 0);
            if (part.nev != 0) {
                snprintf(detail, sizeof(detail), "the %zu-byte prefix of a %zu-byte request framed %d events", k, first,
                         part.nev);
                fail("strict prefix of a request", name, detail);
                ok = 0;
            }
        }
    }
    if (ok) passed++;
}

static int read_file(const char *path, uint8_t **data, size_t *n) {
    FILE *fp = fopen(path, "rb");
    long sz;
    if (fp == NULL) return -1;
    if (fseek(fp, 0, SEEK_END) != 0 || (sz = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return -1;
    }
    *data = malloc((size_t)sz + 1);
    if (*data == NULL || fread(*data, 1, (size_t)sz, fp) != (size_t)sz) {
        fclose(fp);
        free(*data);
        return -1;
    }
    fclose(fp);
    *n = (size_t)sz;
    return 0;
}

static int corpus_files;

static void test_corpus_dir(const char *dir) {
    DIR *dp = opendir(dir);
    struct dirent *de;
    char path[4096];
    if (dp == NULL) {
        fail("corpus", dir, "cannot open the directory");
        return;
    }
    while ((de = readdir(dp)) != NULL) {
        uint8_t *d;
        size_t n;
        if (de->d_name[0] == '.') continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (read_file(path, &d, &n) != 0) {
            fail("corpus", path, "cannot read");
            continue;
        }
        if (n > 64 * 1024) {
            free(d); /* splitting at every byte is quadratic: the seeds stay small */
            continue;
        }
        corpus_files++;
        test_corpus_entry(de->d_name, d, n, MAX_HEAD, MAX_BODY);
        /* Small limits too, so that 413, 414 and 431 are decided mid-stream. */
        test_corpus_entry(de->d_name, d, n, 64, 16);
        free(d);
    }
    closedir(dp);
}

int main(int argc, char **argv) {
    size_t k;
    int a;
    if (fh_guard_init(&guard, 1 << 20) != 0 || fh_guard_init(&scratch, 1 << 20) != 0) {
        perror("mmap");
        return 2;
    }
    for (k = 0; k < sizeof(head_cases) / sizeof(head_cases[0]); k++) test_head_case(&head_cases[k]);
    test_injection("GET /a?b HTTP/1.1\r\nHost: a.example\r\nX-Y: z\r\n\r\n");
    test_injection("POST http://a.example:80/p HTTP/1.0\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
    test_injection("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (k = 0; k < sizeof(chunk_cases) / sizeof(chunk_cases[0]); k++) test_chunk_case(&chunk_cases[k]);
    for (k = 0; k < sizeof(resp_cases) / sizeof(resp_cases[0]); k++) test_resp_case(&resp_cases[k]);
    /* A few streams built here, so the property runs even without a corpus. */
    {
        static const char *streams[] = {
            "GET /a HTTP/1.1\r\n" H "\r\nGET /b HTTP/1.1\r\n" H "\r\n",
            "POST /a HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n" H "Connection: close\r\n\r\nGET /c",
            "POST /c HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\nGET /d HTTP/1.1\r\n" H "\r\n",
            "\r\n\r\nGET / HTTP/1.0\r\n\r\ntrailing bytes after a closing request",
            "GET / HTTP/1.1\r\n" H "\r\nGET\r\n\r\n",
        };
        for (k = 0; k < sizeof(streams) / sizeof(streams[0]); k++) {
            test_corpus_entry(streams[k], (const uint8_t *)streams[k], strlen(streams[k]), MAX_HEAD, MAX_BODY);
            test_corpus_entry(streams[k], (const uint8_t *)streams[k], strlen(streams[k]), 40, 2);
        }
    }
    for (a = 1; a < argc; a++) test_corpus_dir(argv[a]);
    printf("corpus files: %d\n", corpus_files);
    printf("%d passed, %d failed\n", passed, failed);
    fh_guard_free(&guard);
    fh_guard_free(&scratch);
    return failed ? 1 : 0;
}
