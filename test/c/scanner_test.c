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
 * fh_body_feed, the incremental framer, must agree with fh_scan_chunked on
 * chunked bodies (the corpus's chunked requests, a table, pseudo-random valid
 * bodies and one-byte mutations of them) whether fed in one read, in two at
 * every boundary, or a byte at a time, checked after every read; its
 * max_line bound (413 for a chunk line, 431 for the trailer section) and
 * Content-Length mode are tested on their own.
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
#define HUGE_LINE (SIZE_MAX / 4) /* the line bound never triggers */

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
    OKP("absolute-form https", "GET https://a.example/x?y HTTP/1.1\r\n" H "\r\n", "GET", "/x?y"),
    OKP("absolute-form scheme in capitals", "GET HTTP://a.example/x HTTP/1.1\r\n" H "\r\n", "GET", "/x"),
    OKP("absolute-form scheme in mixed case", "GET hTtPs://a.example HTTP/1.1\r\n" H "\r\n", "GET", "/"),
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
    /* Content that cannot change the framing reaches the app as sent. */
    OKP("bad pct-encoding in the query", "GET /q?%zz=1 HTTP/1.1\r\n" H "\r\n", "GET", "/q?%zz=1"),
    OKP("bad pct-encoding", "GET /a%zz HTTP/1.1\r\n" H "\r\n", "GET", "/a%zz"),
    OKP("pct-encoding cut by SP", "GET /% HTTP/1.1\r\n" H "\r\n", "GET", "/%"),
    OKP("pct-encoding with one hex digit", "GET /%a HTTP/1.1\r\n" H "\r\n", "GET", "/%a"),
    OKP("'%' then another '%'", "GET /%%41?a=%&b=%4 HTTP/1.1\r\n" H "\r\n", "GET", "/%%41?a=%&b=%4"),
    OKP("'\"' '\\' '|' '{' '}' '^' '`' in the path and query", "GET /a\"\\|{}^`b?c=\"\\|{}^` HTTP/1.1\r\n" H "\r\n",
        "GET", "/a\"\\|{}^`b?c=\"\\|{}^`"),
    OKP("the same in an absolute-form path", "GET http://a.example/%zz\"|{}?q=^`\\ HTTP/1.1\r\n" H "\r\n", "GET",
        "/%zz\"|{}?q=^`\\"),
    OKP("'{' '}' right after an absolute-form authority", "GET http://a.example?{} HTTP/1.1\r\n" H "\r\n", "GET",
        "?{}"),
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
    BAD("fragment in the query", "GET /a?b=1#c HTTP/1.1\r\n" H "\r\n", 400),
    BAD("'<' in a path", "GET /a<b HTTP/1.1\r\n" H "\r\n", 400),
    BAD("'>' in a query", "GET /a?b> HTTP/1.1\r\n" H "\r\n", 400),
    BAD("a byte >= 0x80 in a path", "GET /\xce\xb4 HTTP/1.1\r\n" H "\r\n", 400),
    BAD("a byte >= 0x80 in a query", "GET /?q=\xff HTTP/1.1\r\n" H "\r\n", 400),
    BAD("a control byte after a bare '%'", "GET /%\x01 HTTP/1.1\r\n" H "\r\n", 400),
    BAD("HTAB after a bare '%'", "GET /%\t HTTP/1.1\r\n" H "\r\n", 400),
    BAD("'\\' in an absolute-form authority", "GET http://a.example\\@b/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("'{' in an absolute-form authority", "GET http://a{b}/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("bad pct-encoding in an absolute-form authority", "GET http://a%zz/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("'|' in an authority-form target", "CONNECT a|b:443 HTTP/1.1\r\n" H "\r\n", 400),
    BAD("brackets in a path", "GET /[x] HTTP/1.1\r\n" H "\r\n", 400),
    BAD("relative target", "GET a HTTP/1.1\r\n" H "\r\n", 400),
    BAD("asterisk with GET", "GET * HTTP/1.1\r\n" H "\r\n", 400),
    BAD("CONNECT without port", "CONNECT a.example HTTP/1.1\r\n" H "\r\n", 400),
    BAD("CONNECT with a path", "CONNECT / HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form without host", "GET http:///x HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form with userinfo", "GET http://u@a/x HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form, scheme only", "GET http: HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form, bad scheme", "GET 1ttp://a/ HTTP/1.1\r\n" H "\r\n", 400),
    /* Only http and https in absolute-form (RFC 9112 §3.2.2). */
    BAD("absolute-form ftp", "GET ftp://x/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form zzz", "GET zzz://x/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form file", "GET file://host/x HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form ws", "GET ws://x/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form httpx", "GET httpx://x/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form httpss", "GET httpss://x/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form http+s", "GET http+s://x/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form shttp", "GET shttp://x/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form htt", "GET htt://x/ HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form http alone", "GET http HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form https:/ (one slash)", "GET https:/x HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form https://", "GET https:// HTTP/1.1\r\n" H "\r\n", 400),
    BAD("absolute-form OPTIONS ftp", "OPTIONS ftp://x HTTP/1.1\r\n" H "\r\n", 400),
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
    BAD("Host with '\"'", "GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n", 400),
    BAD("Host with '{'", "GET / HTTP/1.1\r\nHost: a{b}\r\n\r\n", 400),
    BAD("Host with '\\'", "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", 400),
    BAD("Host with a bad pct-encoding", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400),
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

/* Every byte value in place of one byte of an origin-form path and of its
 * query: accepted exactly for the characters of the target's class (RFC 3986
 * pchar and "/" "?", "%" with anything after it, and the seven RFC 3986
 * leaves out that clients send), and then the path is the bytes as sent. */
static void test_target_bytes(void) {
    static const char base[] = "GET /p?q HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char allowed[] = "-._~!$&'()*+,;=:@/?%\"\\|{}^`";
    static const size_t at[] = {5, 7}; /* the 'p' and the 'q' */
    uint8_t buf[sizeof(base) - 1];
    size_t n = sizeof(base) - 1, k;
    int c, ok = 1;
    char detail[160];
    fh_head h;
    for (k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
        for (c = 0; c < 256; c++) {
            int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            int want = alnum || (c != 0 && strchr(allowed, c) != NULL), r, bad;
            memcpy(buf, base, n);
            buf[at[k]] = (uint8_t)c;
            r = scan_at_guard(buf, n, MAX_HEAD, &h);
            /* The scanner never writes the buffer: the slices are the bytes sent. */
            if (want)
                bad = r != (int)n || h.target_start != 4 || h.target_len != 4 || h.path_start != 4 || h.path_len != 4;
            else
                bad = r != FH_ERROR || h.status != 400;
            if (bad) {
                if (ok) {
                    snprintf(detail, sizeof(detail), "byte 0x%02x at %zu returned %d (status %d), expected %s", c,
                             at[k], r, h.status, want ? "the whole head" : "400");
                    fail("target byte", "GET /p?q", detail);
                }
                ok = 0;
            }
        }
    }
    if (ok) passed++;
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

/* The bound on a chunk line and on the trailer section (RFC 9112 leaves it to
 * the server; this one uses maxHeaderSize, as fh_body_feed does): each case
 * at a small max_line, and the same input where the bound cannot matter. */
typedef struct chunk_line_case {
    chunk_case c;
    size_t max_line;
} chunk_line_case;

#define A10 "aaaaaaaaaa"
#define LINE(n, s, ret, st, ml, dec) {{n, s, ret, st, MAX_BODY, dec}, ml}

static const chunk_line_case chunk_line_cases[] = {
    /* "1;" 28 a CRLF: 32 bytes; one more a: 33. */
    LINE("a chunk line of max_line bytes", "1;" A10 A10 "aaaaaaaa\r\nx\r\n0\r\n\r\n", ALL, 0, 32, "x"),
    LINE("a chunk line of max_line + 1 bytes", "1;" A10 A10 "aaaaaaaaa\r\nx\r\n0\r\n\r\n", FH_ERROR, 413, 32, NULL),
    LINE("a chunk line of max_line + 1 bytes, big max_line", "1;" A10 A10 "aaaaaaaaa\r\nx\r\n0\r\n\r\n", ALL, 0,
         HUGE_LINE, "x"),
    LINE("a second chunk's line over max_line", "3\r\nabc\r\n1;" A10 A10 A10 A10 "\r\nx\r\n0\r\n\r\n", FH_ERROR, 413,
         32, NULL),
    LINE("a second chunk's line over max_line, big max_line", "3\r\nabc\r\n1;" A10 A10 A10 A10 "\r\nx\r\n0\r\n\r\n",
         ALL, 0, HUGE_LINE, "abcx"),
    LINE("a last-chunk line over max_line", "1\r\nx\r\n0;" A10 A10 A10 A10 "\r\n\r\n", FH_ERROR, 413, 32, NULL),
    LINE("a last-chunk line over max_line, big max_line", "1\r\nx\r\n0;" A10 A10 A10 A10 "\r\n\r\n", ALL, 0,
         HUGE_LINE, "x"),
    /* An open line: max_line bytes of it wait for more, one more is 413. */
    LINE("an open chunk line of max_line bytes", "1;" A10 A10 A10, FH_INCOMPLETE, 0, 32, NULL),
    LINE("an open chunk line of max_line + 1 bytes", "1;" A10 A10 A10 "a", FH_ERROR, 413, 32, NULL),
    LINE("an open chunk line over max_line", "1;" A10 A10 A10 A10 A10 A10, FH_ERROR, 413, 32, NULL),
    LINE("an open quoted extension over max_line", "1;a=\"" A10 A10 A10, FH_ERROR, 413, 32, NULL),
    LINE("an open chunk line over max_line, big max_line", "1;" A10 A10 A10 A10 A10 A10, FH_INCOMPLETE, 0, HUGE_LINE,
         NULL),
    /* Over max_line, the line's bound answers before the size is looked at
     * (413 either way). */
    LINE("a size past max_body on a line over max_line", "fffffffffff;" A10 A10 A10 "\r\n", FH_ERROR, 413, 32, NULL),
    LINE("a size past max_body on a line over max_line, big max_line", "fffffffffff;" A10 A10 A10 "\r\n", FH_ERROR, 413,
         HUGE_LINE, NULL),
    /* Only the first max_line + 1 bytes of a line are looked at. */
    LINE("a bad byte past max_line", "1;aaaa\x01\x01", FH_ERROR, 413, 4, NULL),
    LINE("a bad byte past max_line, big max_line", "1;aaaa\x01\x01", FH_ERROR, 400, HUGE_LINE, NULL),
    LINE("a bad byte within max_line", "1;a\x01\x01" "aaaaaaa", FH_ERROR, 400, 4, NULL),
    /* Trailers: 32 bytes in all, the blank line included; then 33. */
    LINE("trailers of max_line bytes", "0\r\nA: 0123456789\r\nB: 0123456789\r\n\r\n", ALL, 0, 32, ""),
    LINE("trailers of max_line + 1 bytes", "0\r\nA: 0123456789\r\nB: 01234567890\r\n\r\n", FH_ERROR, 431, 32, NULL),
    LINE("trailers of max_line + 1 bytes, big max_line", "0\r\nA: 0123456789\r\nB: 01234567890\r\n\r\n", ALL, 0,
         HUGE_LINE, ""),
    LINE("one trailer line over max_line", "5\r\nhello\r\n0\r\nX: " A10 A10 A10 A10 "\r\n\r\n", FH_ERROR, 431, 32,
         NULL),
    LINE("one trailer line over max_line, big max_line", "5\r\nhello\r\n0\r\nX: " A10 A10 A10 A10 "\r\n\r\n", ALL, 0,
         HUGE_LINE, "hello"),
    LINE("open trailers over max_line", "0\r\nA: 0123456789\r\nB: 0123456789012345678901234567890", FH_ERROR, 431, 40,
         NULL),
    LINE("open trailers over max_line, big max_line", "0\r\nA: 0123456789\r\nB: 0123456789012345678901234567890",
         FH_INCOMPLETE, 0, HUGE_LINE, NULL),
    /* The first bound passed decides: a chunk line's (413), then the trailers' (431). */
    LINE("a chunk line of max_line bytes, then trailers over it", "1;" A10 A10 "aaaaaaaa\r\nx\r\n0\r\nX: " A10 A10 A10
         "\r\n\r\n", FH_ERROR, 431, 32, NULL),
    LINE("a chunk line over max_line, then trailers over it", "1;" A10 A10 A10 "\r\nx\r\n0\r\nX: " A10 A10 A10
         "\r\n\r\n", FH_ERROR, 413, 32, NULL),
    /* What follows the body is not the body's: it does not count. */
    LINE("a long request after the body", "1\r\nx\r\n0\r\n\r\nGET /" A10 A10 A10 A10 " HTTP/1.1\r\n", 11, 0, 32, "x"),
};

static int64_t chunked_at_guard(const uint8_t *in, size_t n, int64_t max_body, size_t max_line, int inplace,
                                int64_t *dec, int *st, uint8_t **out) {
    uint8_t *p = fh_guard_put(&guard, in, n);
    *out = inplace ? p : NULL;
    return fh_scan_chunked(p, n, max_body, max_line, *out, dec, st);
}

static void test_chunk_case(const chunk_case *c, size_t max_line) {
    const uint8_t *in = (const uint8_t *)c->in;
    size_t n = strlen(c->in), k;
    int64_t want = c->ret == ALL ? (int64_t)n : c->ret, r, rp, dec = -1, decp;
    int st = -1, stp, prefix_ok = 1, mode;
    uint8_t *out;
    char detail[256];
    /* mode 0: framing only; mode 1: decoding in place. Same answer. */
    for (mode = 0; mode < 2; mode++) {
        r = chunked_at_guard(in, n, c->max_body, max_line, mode, &dec, &st, &out);
        snprintf(detail, sizeof(detail), "%s: returned %lld (status %d), expected %lld (status %d)",
                 mode ? "in place" : "framing", (long long)r, st, (long long)want, c->status);
        check(r == want && (r != FH_ERROR || st == c->status), "fh_scan_chunked", c->name, detail);
        if (r > 0 && r == want && c->decoded != NULL) {
            check(dec == (int64_t)strlen(c->decoded) && (mode == 0 || memcmp(out, c->decoded, (size_t)dec) == 0),
                  "decoded body", c->name, c->decoded);
        }
    }
    r = chunked_at_guard(in, n, c->max_body, max_line, 0, &dec, &st, &out);
    for (k = 0; k < n; k++) {
        rp = chunked_at_guard(in, k, c->max_body, max_line, 0, &decp, &stp, &out);
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

/* ---- fh_body_feed: framing as the bytes arrive agrees with framing whole ------ */

#define SMALL_LINE 24
#define PIPELINED "GET / HTTP/1.1\r\nHost: a\r\n\r\n"

static int feed_inputs;

static void feed(fh_feed_run *o, const uint8_t *b, size_t n, const size_t *cuts, int ncuts, int chunked,
                 int64_t length, int64_t max_body, size_t max_line, int take, int whole, const fh_feed_run *ref) {
    fh_feed_split(o, &guard, b, n, cuts, ncuts, chunked, length, max_body, max_line, take, whole,
                  ref ? ref->out : NULL, ref ? ref->outlen : 0);
}

static size_t *every_byte(size_t n) {
    size_t *all = malloc(sizeof(size_t) * (n + 1)), k;
    if (all == NULL) abort();
    for (k = 0; k < n; k++) all[k] = k + 1;
    return all;
}

static void feed_fail(const char *what, const char *name, const char *how, const fh_feed_run *o, const char *diff) {
    char detail[320];
    snprintf(detail, sizeof(detail), "%s: %s (status %d, phase %d, raw %zu, decoded %zu; broke with %zu bytes present)",
             how, diff, o->status, o->phase, o->raw, o->outlen, o->fail ? o->fail_at : o->arrived);
    fail(what, name, detail);
}

/*
 * The property for one chunked body text b[0, n) and max_body m: fed to
 * fh_body_feed whole, split in two at every byte boundary, and one byte at a
 * time (keeping the decoded bytes in the buffer, and taking them), it ends as
 * fh_scan_chunked over b says: done at the same length with the same decoded
 * bytes, the same error status, or wanting more; and after every call it
 * agrees with fh_scan_chunked over the bytes present (fh_feed_split). Then
 * the same with a small max_line: whatever the split, exactly fh_scan_chunked's
 * answer at that max_line, which is the big max_line's, or 413 (a chunk line)
 * or 431 (the trailers) where the bound was passed.
 */
static void test_feed_chunked(const char *name, const uint8_t *b, size_t n, int64_t m) {
    fh_feed_run one, part, small, sp;
    uint8_t *dst = malloc(n + 1), *sdst = malloc(n + 1);
    int64_t wdec = -1, w, sdec = -1, sw;
    int wst = -1, sst = -1, take;
    size_t k, *all = every_byte(n);
    const char *diff = NULL;
    char how[64];
    if (dst == NULL || sdst == NULL) abort();
    feed_inputs++;
    w = fh_scan_chunked(fh_guard_put(&guard, b, n), n, m, HUGE_LINE, dst, &wdec, &wst);
    if (w == FH_ERROR) memset(dst, 0, n + 1);
    sw = fh_scan_chunked(fh_guard_put(&guard, b, n), n, m, SMALL_LINE, sdst, &sdec, &sst);
    if (sw == FH_ERROR) memset(sdst, 0, n + 1);
    /* A bound only ever adds a 413 or a 431: else the same answer as without it. */
    if (!(sw == FH_ERROR && (sst == 413 || sst == 431)) &&
        !(sw == w && (sw != FH_ERROR || sst == wst) && (sw < 0 || sdec == wdec)))
        fail("fh_scan_chunked small max_line", name, "neither the big max_line's answer nor 413 or 431");
    else passed++;
    feed(&one, b, n, NULL, 0, 1, 0, m, HUGE_LINE, 0, 1, NULL);
    diff = fh_feed_agrees(&one, w, wdec, wst, dst);
    if (diff) feed_fail("fh_body_feed whole", name, "in one read", &one, diff);
    else passed++;
    /* Two reads, at every boundary. */
    for (k = 1, diff = NULL; k < n && diff == NULL; k++) {
        feed(&part, b, n, &k, 1, 1, 0, m, HUGE_LINE, 0, 1, &one);
        diff = fh_feed_agrees(&part, w, wdec, wst, dst);
        if (diff) {
            snprintf(how, sizeof(how), "split at %zu (max_body %lld)", k, (long long)m);
            feed_fail("fh_body_feed split in two", name, how, &part, diff);
        }
        fh_feed_run_free(&part);
    }
    if (diff == NULL) passed++;
    /* One byte at a time, the decoded bytes kept and taken. */
    for (take = 0; take < 2; take++) {
        feed(&part, b, n, all, (int)n, 1, 0, m, HUGE_LINE, take, 1, &one);
        diff = fh_feed_agrees(&part, w, wdec, wst, dst);
        if (diff) {
            snprintf(how, sizeof(how), "one byte at a time%s (max_body %lld)", take ? ", taken" : "", (long long)m);
            feed_fail("fh_body_feed byte by byte", name, how, &part, diff);
        } else {
            passed++;
        }
        fh_feed_run_free(&part);
    }
    /* A small max_line: fh_scan_chunked's answer at it, whatever the split. */
    feed(&small, b, n, NULL, 0, 1, 0, m, SMALL_LINE, 0, 1, NULL);
    diff = fh_feed_agrees(&small, sw, sdec, sst, sdst);
    if (diff) feed_fail("fh_body_feed small max_line", name, "in one read", &small, diff);
    else passed++;
    for (k = 1, diff = NULL; k <= n && diff == NULL; k++) {
        if (k < n) feed(&sp, b, n, &k, 1, 1, 0, m, SMALL_LINE, k & 1, 1, NULL);
        else feed(&sp, b, n, all, (int)n, 1, 0, m, SMALL_LINE, 0, 1, NULL);
        diff = fh_feed_agrees(&sp, sw, sdec, sst, sdst);
        if (diff) {
            if (k < n) snprintf(how, sizeof(how), "max_line %d, split at %zu", SMALL_LINE, k);
            else snprintf(how, sizeof(how), "max_line %d, one byte at a time", SMALL_LINE);
            feed_fail("fh_body_feed small max_line, split", name, how, &sp, diff);
        }
        fh_feed_run_free(&sp);
    }
    if (diff == NULL) passed++;
    fh_feed_run_free(&small);
    fh_feed_run_free(&one);
    free(all);
    free(dst);
    free(sdst);
}

/* A chunk_line_cases entry: fh_scan_chunked gives the expected answer at its
 * max_line (test_chunk_case), and fh_body_feed at the same max_line gives
 * exactly that answer, fed in one read, in two at every boundary, or a byte at
 * a time (kept and taken), checked after every read. */
static void test_chunk_line_case(const chunk_line_case *lc) {
    const chunk_case *c = &lc->c;
    const uint8_t *b = (const uint8_t *)c->in;
    size_t n = strlen(c->in), k, *all = every_byte(n);
    uint8_t *dst = malloc(n + 1);
    int64_t w, wdec = -1;
    int wst = -1, take;
    const char *diff = NULL;
    char how[96];
    fh_feed_run o;
    if (dst == NULL) abort();
    test_chunk_case(c, lc->max_line);
    w = fh_scan_chunked(fh_guard_put(&guard, b, n), n, c->max_body, lc->max_line, dst, &wdec, &wst);
    for (k = 0; k < n && diff == NULL; k++) {
        /* k = 0: one read; else two, split at k. */
        feed(&o, b, n, &k, k > 0, 1, 0, c->max_body, lc->max_line, (int)(k & 1), 1, NULL);
        diff = fh_feed_agrees(&o, w, wdec, wst, dst);
        if (diff) {
            snprintf(how, sizeof(how), "max_line %zu, %s %zu", lc->max_line, k ? "split at" : "one read", k);
            feed_fail("fh_body_feed agrees with fh_scan_chunked (line case)", c->name, how, &o, diff);
        }
        fh_feed_run_free(&o);
    }
    for (take = 0; take < 2 && diff == NULL; take++) {
        feed(&o, b, n, all, (int)n, 1, 0, c->max_body, lc->max_line, take, 1, NULL);
        diff = fh_feed_agrees(&o, w, wdec, wst, dst);
        if (diff) {
            snprintf(how, sizeof(how), "max_line %zu, one byte at a time%s", lc->max_line, take ? ", taken" : "");
            feed_fail("fh_body_feed agrees with fh_scan_chunked (line case)", c->name, how, &o, diff);
        }
        fh_feed_run_free(&o);
    }
    if (diff == NULL) passed++;
    free(all);
    free(dst);
}

typedef struct feed_case {
    const char *name;
    const char *in;
    size_t len;
    int64_t ret; /* fh_scan_chunked's: ALL, a length, FH_ERROR or FH_INCOMPLETE */
    int status;
    int64_t max_body;
} feed_case;

#define FEED(n, s, ret, st, m) {n, s, sizeof(s) - 1, ret, st, m}

static const feed_case feed_cases[] = {
    FEED("empty body", "0\r\n\r\n", ALL, 0, MAX_BODY),
    FEED("several chunks", "5\r\nhello\r\n1\r\n,\r\n6\r\n world\r\n0\r\n\r\n", ALL, 0, MAX_BODY),
    FEED("lower- and upper-case hex", "a\r\n0123456789\r\nA\r\n9876543210\r\n1f\r\n0123456789abcdef0123456789abcde\r\n"
         "1F\r\n0123456789ABCDEF0123456789ABCDE\r\n0\r\n\r\n", ALL, 0, MAX_BODY),
    FEED("leading zeros", "0003\r\nabc\r\n000\r\n\r\n", ALL, 0, MAX_BODY),
    FEED("data holding CRLFs", "4\r\n\r\n\r\n\r\n2\r\n\r\n\r\n0\r\n\r\n", ALL, 0, MAX_BODY),
    FEED("token extensions", "5;name=value;flag;n2=v2\r\nhello\r\n0;last\r\n\r\n", ALL, 0, MAX_BODY),
    FEED("quoted extension with escapes", "5;q=\"a\\\"b\\\\c d;e=f\"\r\nhello\r\n0;q=\"\"\r\n\r\n", ALL, 0, MAX_BODY),
    FEED("extensions with BWS", "5 ;a = b\t;\tc ; d=\"x\"\r\nhello\r\n0 ; z\r\n\r\n", ALL, 0, MAX_BODY),
    FEED("trailers", "3\r\nabc\r\n0\r\nX-A: 1\r\nX-B: two  \r\nEmpty:\r\n\r\n", ALL, 0, MAX_BODY),
    FEED("followed by a pipelined request", "3\r\nabc\r\n0\r\n\r\n" PIPELINED, 13, 0, MAX_BODY),
    FEED("trailers, then a pipelined request", "1\r\nz\r\n0\r\nT: v\r\n\r\n" PIPELINED, 17, 0, MAX_BODY),
    FEED("max_body exactly, over two chunks", "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", ALL, 0, 16),
    FEED("max_body passed by a chunk size", "11\r\n0123456789abcdef!\r\n0\r\n\r\n", FH_ERROR, 413, 16),
    FEED("max_body passed by a size alone", "fffffffffffff\r\n", FH_ERROR, 413, MAX_BODY),
    FEED("max_body passed by the sum", "8\r\n12345678\r\n9\r\n123456789\r\n0\r\n\r\n", FH_ERROR, 413, 16),
    FEED("max_body 0, an empty body", "0\r\n\r\n", ALL, 0, 0),
    FEED("max_body 0, one byte", "1\r\na\r\n0\r\n\r\n", FH_ERROR, 413, 0),
    FEED("size not hex", "zz\r\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("size then SP then CRLF", "4 \r\nabcd\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("size then SP then junk", "4 x\r\nabcd\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("negative size", "-1\r\na\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("oversize hex", "10000000000000\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("very long hex", "000000000000000000000000000000001\r\na\r\n0\r\n\r\n", ALL, 0, MAX_BODY),
    FEED("size ended by bare LF", "5\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("size ended by bare CR", "5\rhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("no CRLF after the data", "5\r\nhello0\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("CR alone after the data", "5\r\nhello\r0\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("LF alone after the data", "5\r\nhello\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("no CRLF after the last data, the body followed", "1\r\nab\r\n0\r\n\r\n" PIPELINED, FH_ERROR, 400, MAX_BODY),
    FEED("extension without a name", "5;\r\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("extension with an empty value", "5;a=\r\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("extension with a NUL", "5;a\0=b\r\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("quoted value with a CTL", "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("bad trailer name", "0\r\nX : y\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("trailer with a bare LF", "0\r\nX: y\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("trailer folded", "0\r\nX: y\r\n z\r\n\r\n", FH_ERROR, 400, MAX_BODY),
    FEED("trailers end with a bare CR", "0\r\nX: y\r\n\rZ", FH_ERROR, 400, MAX_BODY),
    FEED("nothing yet", "", FH_INCOMPLETE, 0, MAX_BODY),
    FEED("size line not ended", "5;a=\"xyz", FH_INCOMPLETE, 0, MAX_BODY),
    FEED("data not all here", "5\r\nhel", FH_INCOMPLETE, 0, MAX_BODY),
    FEED("data here, its CRLF not", "5\r\nhello\r", FH_INCOMPLETE, 0, MAX_BODY),
    FEED("last chunk without the final CRLF", "0\r\n\r", FH_INCOMPLETE, 0, MAX_BODY),
    FEED("trailers not ended", "3\r\nabc\r\n0\r\nX: y\r\n", FH_INCOMPLETE, 0, MAX_BODY),
};

static void test_feed_case(const feed_case *c) {
    const uint8_t *in = (const uint8_t *)c->in;
    int64_t want = c->ret == ALL ? (int64_t)c->len : c->ret, dec = -1, r;
    int st = -1;
    char detail[160];
    r = fh_scan_chunked(fh_guard_put(&guard, in, c->len), c->len, c->max_body, HUGE_LINE, NULL, &dec, &st);
    snprintf(detail, sizeof(detail), "returned %lld (status %d), expected %lld (status %d)", (long long)r, st,
             (long long)want, c->status);
    check(r == want && (r != FH_ERROR || st == c->status), "fh_scan_chunked (feed case)", c->name, detail);
    test_feed_chunked(c->name, in, c->len, c->max_body);
    if (c->ret == ALL) {
        /* The same body with a pipelined request after it: those bytes stay. */
        size_t n = c->len + sizeof(PIPELINED) - 1;
        uint8_t *more = malloc(n);
        if (more == NULL) abort();
        memcpy(more, in, c->len);
        memcpy(more + c->len, PIPELINED, sizeof(PIPELINED) - 1);
        r = fh_scan_chunked(fh_guard_put(&guard, more, n), n, c->max_body, HUGE_LINE, NULL, &dec, &st);
        check(r == (int64_t)c->len, "fh_scan_chunked (feed case, pipelined)", c->name, "another length");
        test_feed_chunked(c->name, more, n, c->max_body);
        free(more);
    }
}

/* xorshift64*: the pseudo-random bodies are the same on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}
static size_t rndn(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static void put_s(uint8_t *b, size_t *n, const char *s) {
    size_t l = strlen(s);
    memcpy(b + *n, s, l);
    *n += l;
}

static void put_token(uint8_t *b, size_t *n) {
    static const char t[] = "abcXYZ09!#$%&'*+-.^_`|~";
    size_t l = 1 + rndn(6), k;
    for (k = 0; k < l; k++) b[(*n)++] = (uint8_t)t[rndn(sizeof(t) - 1)];
}

static void put_bws(uint8_t *b, size_t *n) {
    size_t l = rndn(4) == 0 ? 1 + rndn(2) : 0, k;
    for (k = 0; k < l; k++) b[(*n)++] = rndn(2) ? ' ' : '\t';
}

/* A chunk line's extensions: ";name", ";name=token", ';name="quoted \" value"', with BWS. */
static void put_exts(uint8_t *b, size_t *n) {
    size_t e = rndn(3) == 0 ? 1 + rndn(3) : 0, k, j;
    for (k = 0; k < e; k++) {
        put_bws(b, n);
        b[(*n)++] = ';';
        put_bws(b, n);
        put_token(b, n);
        switch (rndn(3)) {
        case 0:
            break;
        case 1:
            put_bws(b, n);
            b[(*n)++] = '=';
            put_bws(b, n);
            put_token(b, n);
            break;
        default:
            put_bws(b, n);
            b[(*n)++] = '=';
            put_bws(b, n);
            b[(*n)++] = '"';
            for (j = rndn(8); j > 0; j--) {
                static const char q[] = "ab ;=\t,\x80\xff";
                if (rndn(4) == 0) {
                    b[(*n)++] = '\\';
                    b[(*n)++] = rndn(2) ? '"' : '\\';
                } else {
                    b[(*n)++] = (uint8_t)q[rndn(sizeof(q) - 1)];
                }
            }
            b[(*n)++] = '"';
        }
    }
}

static void put_size(uint8_t *b, size_t *n, size_t size) {
    char hex[32];
    size_t z = rndn(5) == 0 ? rndn(4) : 0;
    while (z-- > 0) b[(*n)++] = '0';
    snprintf(hex, sizeof(hex), rndn(2) ? "%zx" : "%zX", size);
    put_s(b, n, hex);
}

/* A valid chunked body, maybe with trailers and pipelined bytes after it;
 * returns its length, *total its decoded size. b holds at least 4096 bytes. */
static size_t random_body(uint8_t *b, size_t *total) {
    size_t n = 0, chunks = rndn(4), k, j;
    *total = 0;
    for (k = 0; k < chunks; k++) {
        size_t size = 1 + rndn(300);
        put_size(b, &n, size);
        put_exts(b, &n);
        put_s(b, &n, "\r\n");
        for (j = 0; j < size; j++) {
            uint8_t c = (uint8_t)rnd();
            b[n++] = rndn(8) == 0 ? (rndn(2) ? '\r' : '\n') : c;
        }
        *total += size;
        put_s(b, &n, "\r\n");
    }
    put_size(b, &n, 0);
    put_exts(b, &n);
    put_s(b, &n, "\r\n");
    for (k = rndn(3) == 0 ? 1 + rndn(3) : 0; k > 0; k--) {
        put_token(b, &n);
        b[n++] = ':';
        put_bws(b, &n);
        for (j = rndn(12); j > 0; j--) b[n++] = (uint8_t)"v a\t\x90-"[rndn(6)];
        put_s(b, &n, "\r\n");
    }
    put_s(b, &n, "\r\n");
    if (rndn(3) == 0) put_s(b, &n, PIPELINED);
    return n;
}

#define RANDOM_BODIES 300

static void test_feed_random(void) {
    static uint8_t b[4096], m[4097];
    static const uint8_t interesting[] = {'\r', '\n', ';', '=', '"', '\\', ' ', '\t', '0', '9', 'a', 'F', 'g', ':', 0, 0x7f};
    int i;
    char name[64];
    for (i = 0; i < RANDOM_BODIES; i++) {
        size_t total, n = random_body(b, &total), at;
        int64_t mb;
        uint8_t c;
        switch (rndn(4)) {
        case 0: mb = MAX_BODY; break;
        case 1: mb = (int64_t)total; break;
        case 2: mb = total > 0 ? (int64_t)total - 1 : 0; break;
        default: mb = (int64_t)rndn(total + 1);
        }
        snprintf(name, sizeof(name), "random body %d", i);
        test_feed_chunked(name, b, n, mb);
        /* One byte flipped. */
        memcpy(m, b, n);
        at = rndn(n);
        m[at] ^= (uint8_t)(1 + rndn(255));
        snprintf(name, sizeof(name), "random body %d, byte %zu flipped", i, at);
        test_feed_chunked(name, m, n, mb);
        /* One byte inserted. */
        at = rndn(n + 1);
        c = rndn(2) ? interesting[rndn(sizeof(interesting))] : (uint8_t)rnd();
        memcpy(m, b, at);
        m[at] = c;
        memcpy(m + at + 1, b + at, n - at);
        snprintf(name, sizeof(name), "random body %d, 0x%02x inserted at %zu", i, c, at);
        test_feed_chunked(name, m, n + 1, mb);
    }
}

/* Feeds b[0, n) with max_line ml, one read, split at every boundary and one
 * byte at a time; checks each ends with `status` (and done when it is 0),
 * and (for a status) that it was decided once `at` bytes were present, when
 * fed a byte at a time. */
static void expect_feed(const char *name, const char *b, size_t n, size_t ml, int status, size_t at) {
    fh_feed_run o;
    size_t k, *all = every_byte(n);
    char how[96];
    int ok = 1;
    for (k = 0; k <= n && ok; k++) {
        /* k = 0: one read; 0 < k < n: two; k = n: a byte at a time. */
        if (k == n) feed(&o, (const uint8_t *)b, n, all, (int)n, 1, 0, MAX_BODY, ml, 0, 0, NULL);
        else feed(&o, (const uint8_t *)b, n, &k, k > 0, 1, 0, MAX_BODY, ml, 0, 0, NULL);
        if (o.fail || o.status != status || (status == 0 && o.phase != FH_BF_DONE) ||
            (status != 0 && k == n && at != 0 && o.arrived != at)) {
            snprintf(how, sizeof(how), "max_line %zu, %s %zu: expected %d%s", ml, k == n ? "bytes" : "split at", k,
                     status, status ? "" : " and done");
            feed_fail("fh_body_feed max_line", name, how, &o, o.fail ? o.fail : "another result");
            ok = 0;
        }
        fh_feed_run_free(&o);
    }
    free(all);
    if (ok) passed++;
}

#define EXPECT_FEED(name, s, ml, st, at) expect_feed(name, s, sizeof(s) - 1, ml, st, at)

static void test_feed_max_line(void) {
    /* A chunk line of 62 bytes, no CRLF yet: 413 once 33 bytes of it are here (max_line 32). */
    static const char open_line[] = "1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    size_t k, n = sizeof(open_line) - 1;
    int ok = 1;
    for (k = 0; k <= n; k++) {
        fh_body_frame f;
        size_t dec = 0, raw = 0;
        int r;
        fh_body_frame_init(&f, 1, 0);
        r = fh_body_feed(&f, fh_guard_put(&guard, (const uint8_t *)open_line, k), k, &dec, &raw, MAX_BODY, 32);
        if (r != (k > 32 ? 413 : 0) && ok) {
            char detail[96];
            snprintf(detail, sizeof(detail), "%zu bytes of the line returned %d", k, r);
            fail("fh_body_feed max_line", "an open chunk line", detail);
            ok = 0;
        }
    }
    if (ok) passed++;
    EXPECT_FEED("an open chunk line", "1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 32, 413, 33);
    EXPECT_FEED("an open chunk line after a chunk", "3\r\nabc\r\n1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                32, 413, 8 + 33);
    /* With a big max_line it just waits for the rest. */
    {
        fh_feed_run o;
        feed(&o, (const uint8_t *)open_line, n, NULL, 0, 1, 0, MAX_BODY, HUGE_LINE, 0, 0, NULL);
        check(!o.fail && o.status == 0 && o.phase == FH_BF_SIZE, "fh_body_feed max_line", "an open chunk line, big max_line",
              "not waiting for the rest of the line");
        fh_feed_run_free(&o);
    }
    /* The same line, complete: 64 bytes. */
    EXPECT_FEED("a long chunk line", "1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nx\r\n0\r\n\r\n", 32, 413, 33);
    EXPECT_FEED("a long chunk line, big max_line",
                "1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nx\r\n0\r\n\r\n", HUGE_LINE, 0, 0);
    EXPECT_FEED("a long last-chunk line", "1\r\nx\r\n0;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", 32, 413,
                6 + 33);
    /* A chunk line of exactly max_line bytes (CRLF included) is accepted; one more is not. */
    EXPECT_FEED("a chunk line of max_line bytes", "1;aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nx\r\n0\r\n\r\n", 32, 0, 0);
    EXPECT_FEED("a chunk line of max_line + 1 bytes", "1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nx\r\n0\r\n\r\n", 32, 413, 33);
    /* Trailers: each line short, 32 bytes in all (the blank line included). */
    EXPECT_FEED("trailers of max_line bytes", "0\r\nA: 0123456789\r\nB: 0123456789\r\n\r\n", 32, 0, 0);
    EXPECT_FEED("trailers of max_line + 1 bytes", "0\r\nA: 0123456789\r\nB: 01234567890\r\n\r\n", 32, 431, 3 + 33);
    EXPECT_FEED("trailers of max_line + 1 bytes, big max_line", "0\r\nA: 0123456789\r\nB: 01234567890\r\n\r\n", HUGE_LINE,
                0, 0);
    EXPECT_FEED("three short trailers over max_line", "0\r\nA: 0123456789\r\nB: 0123456789\r\nC: 0123456789\r\n\r\n", 40,
                431, 3 + 41);
    EXPECT_FEED("three short trailers, big max_line", "0\r\nA: 0123456789\r\nB: 0123456789\r\nC: 0123456789\r\n\r\n",
                HUGE_LINE, 0, 0);
    /* A bad byte past the first max_line + 1 bytes of a line: the bound's
     * answer (413 in a chunk line, 431 in the trailers) whatever the split
     * (it used to be 400 in one read, the bound's when cut after 5 or 8 bytes). */
    EXPECT_FEED("a bad byte past max_line in a chunk line", "1;aaaa\x01\x01", 4, 413, 5);
    EXPECT_FEED("a bad byte past max_line in a trailer", "0\r\nA: aaaa\x01", 4, 431, 3 + 5);
    EXPECT_FEED("a bad byte within max_line in a chunk line", "1;a\x01\x01" "aaaaaaa", 4, 400, 5);
    EXPECT_FEED("an open trailer line over max_line", "0\r\nA: 0123456789\r\nB: 0123456789012345678901234567890", 40, 431,
                3 + 41);
}

/* Content-Length bodies: the first L bytes pass through, what follows stays. */
static void test_feed_length(void) {
    static const char s[] = "hello world" PIPELINED;
    static const int64_t lens[] = {0, 1, 5, 11, (int64_t)sizeof(s) - 1, (int64_t)sizeof(s) + 100};
    size_t n = sizeof(s) - 1, k, *all = every_byte(n), i;
    const uint8_t *b = (const uint8_t *)s;
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        int64_t l = lens[i];
        size_t want = l < (int64_t)n ? (size_t)l : n;
        int ok = 1, mode;
        char detail[128];
        fh_feed_run o;
        /* mode 0: one read; 1: split at every boundary; 2, 3: a byte at a time, kept and taken. */
        for (mode = 0; mode < 4 && ok; mode++) {
            for (k = mode == 1 ? 1 : 0; k < (mode == 1 ? n : 1) && ok; k++) {
                if (mode == 0) feed(&o, b, n, NULL, 0, 0, l, 0, HUGE_LINE, 0, 1, NULL);
                else if (mode == 1) feed(&o, b, n, &k, 1, 0, l, 0, HUGE_LINE, (int)(k & 1), 1, NULL);
                else feed(&o, b, n, all, (int)n, 0, l, 0, 16, mode == 3, 1, NULL);
                if (o.fail || o.status != 0 || o.outlen != want || memcmp(o.out, s, want) != 0 || o.raw != want ||
                    (o.phase == FH_BF_DONE) != (l <= (int64_t)n)) {
                    snprintf(detail, sizeof(detail), "length %lld, mode %d, split %zu: %s", (long long)l, mode, k,
                             o.fail ? o.fail : "another result");
                    fail("fh_body_feed Content-Length", s, detail);
                    ok = 0;
                }
                fh_feed_run_free(&o);
            }
        }
        if (ok) passed++;
    }
    free(all);
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

static int corpus_files, corpus_chunked;

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
        /* A chunked request's body: fh_body_feed agrees with fh_scan_chunked. */
        {
            fh_head h;
            int r = fh_scan_head(fh_guard_put(&guard, d, n), n, MAX_HEAD, &h);
            if (r > 0 && (h.flags & FH_REQ_CHUNKED)) {
                corpus_chunked++;
                test_feed_chunked(de->d_name, d + r, n - (size_t)r, MAX_BODY);
                test_feed_chunked(de->d_name, d + r, n - (size_t)r, 16);
            }
        }
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
    test_injection("GET HTTPS://a.example?q HTTP/1.1\r\nHost: a.example\r\n\r\n");
    test_injection("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\nTransfer-Encoding: chunked\r\n\r\n");
    test_injection("GET /a%zz\"\\|{}^`?q=%&r=%4 HTTP/1.1\r\nHost: a.example\r\n\r\n");
    test_target_bytes();
    for (k = 0; k < sizeof(chunk_cases) / sizeof(chunk_cases[0]); k++) test_chunk_case(&chunk_cases[k], MAX_HEAD);
    for (k = 0; k < sizeof(chunk_line_cases) / sizeof(chunk_line_cases[0]); k++)
        test_chunk_line_case(&chunk_line_cases[k]);
    for (k = 0; k < sizeof(resp_cases) / sizeof(resp_cases[0]); k++) test_resp_case(&resp_cases[k]);
    for (k = 0; k < sizeof(feed_cases) / sizeof(feed_cases[0]); k++) test_feed_case(&feed_cases[k]);
    test_feed_random();
    test_feed_max_line();
    test_feed_length();
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
    printf("chunked bodies fed to fh_body_feed: %d (%d from the corpus)\n", feed_inputs, corpus_chunked);
    printf("corpus files: %d\n", corpus_files);
    printf("%d passed, %d failed\n", passed, failed);
    fh_guard_free(&guard);
    fh_guard_free(&scratch);
    return failed ? 1 : 0;
}
