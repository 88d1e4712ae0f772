/*
 * scanner.c - the request-head scanner and the response-head reader (see
 * scanner.h; the chunked coding is chunked.c's).
 *
 * One discipline everywhere: an index `i` walks the buffer and every access is
 * preceded by a check against `len`. Running out of bytes is never an error,
 * only FH_INCOMPLETE; a byte that cannot start or continue a valid request is
 * an error at once, so a strict prefix of a valid request is always
 * incomplete and an invalid one is answered without waiting for more.
 */
#include <string.h>

#include "word.h"

/* Character classes, one bit each, filled once by fh_scanner_init. */
#define FH_C_TCHAR 1  /* token characters (RFC 9110 §5.6.2) */
#define FH_C_TARGET 2 /* request-target bytes: see fh_scanner_init */
#define FH_C_VALUE 4  /* field-value: HTAB, SP, VCHAR, obs-text */
#define FH_C_HOST 8   /* reg-name: unreserved, sub-delims, "%" (RFC 3986 §3.2.2) */
#define FH_C_HEX 16
#define FH_C_BRACKET 32 /* "[" "]": only inside an IP literal */

static uint8_t fh_cls[256];

/* Eight bytes at a time (SWAR, word.h): TinyCC does not optimise loops, so
 * the long runs of a request (field values) are checked a word at a time. */
#define FH_ONES 0x0101010101010101ULL
#define FH_HIGHS 0x8080808080808080ULL

/* Nonzero when one of the eight bytes of x is below 0x20 (a control byte, CR
 * and HTAB included) or is DEL (y is x ^ 0x7f7f...: DEL becomes zero). Exact
 * as a yes/no (bytes >= 0x80 never trigger it); which byte it was is found
 * byte by byte. A macro: a call per word costs TinyCC more than the test. */
#define FH_CTL8(x, y) ((((x) - FH_ONES * 0x20) & ~(x)) | (((y) - FH_ONES) & ~(y))) & FH_HIGHS

static void fh_scanner_init(void) {
    int c;
    const char *p;
    if (fh_cls['a'] != 0) return;
    for (c = 0; c < 256; c++) {
        uint8_t m = 0;
        int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (alnum) m |= FH_C_TCHAR | FH_C_TARGET | FH_C_HOST;
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) m |= FH_C_HEX;
        /* VCHAR and obs-text; HTAB and SP are allowed inside a value. */
        if (c == '\t' || (c >= 0x20 && c != 0x7f)) m |= FH_C_VALUE;
        fh_cls[c] = m;
    }
    for (p = "!#$%&'*+-.^_`|~"; *p; p++) fh_cls[(uint8_t)*p] |= FH_C_TCHAR;
    /* The request-target: unreserved "-._~", sub-delims "!$&'()*+,;=" and
     * ":@/?" of pchar and query (RFC 3986 §3.3-4), and "%" whatever follows
     * it. Content that cannot change how the message is framed is let
     * through as nginx, Node and Bun.serve let it: a "%" that starts no valid
     * escape ("/q?%zz=1", "/a%", "/%a"), and '"' "\" "|" "{" "}" "^" "`",
     * which RFC 3986 leaves out but clients send; the app gets them as sent.
     * Refused (400): SP, HTAB, CR, LF and every other control byte (0x00-0x1F,
     * DEL), which end or break the request line. "#": no form of the target
     * has a fragment (RFC 9112 §3.2), and a WHATWG URL (the fetch adapter's)
     * would end the path and query at it where a raw handler would not, so
     * that one target would be read two ways. "<" ">": kept out, as before.
     * Bytes >= 0x80: not URI characters (RFC 3986 §2.1; RFC 9112 §3: an
     * invalid request-line SHOULD get 400). Bun.serve takes them, but not as
     * sent: it percent-encodes the UTF-8 and turns any invalid sequence into
     * U+FFFD (so "/\xe9", "/\xff" and "/\x80" are one URL there); the fetch
     * adapter reads a target as ASCII; clients percent-encode them. */
    for (p = "-._~!$&'()*+,;=:@/?%\"\\|{}^`"; *p; p++) fh_cls[(uint8_t)*p] |= FH_C_TARGET;
    /* "[" and "]" only ever belong to an IP literal in an authority; the
     * target's form decides (fh_check_target). */
    for (p = "[]"; *p; p++) fh_cls[(uint8_t)*p] |= FH_C_TARGET;
    fh_cls['['] |= FH_C_BRACKET;
    fh_cls[']'] |= FH_C_BRACKET;
    for (p = "-._~!$&'()*+,;=%"; *p; p++) fh_cls[(uint8_t)*p] |= FH_C_HOST;
}

static int fh_lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Case-insensitive comparison of buf[0, n) with a lower-case literal of length n. */
static int fh_ieq(const uint8_t *buf, size_t n, const char *lit, size_t lit_len) {
    size_t k;
    if (n != lit_len) return 0;
    for (k = 0; k < n; k++)
        if (fh_lower(buf[k]) != (uint8_t)lit[k]) return 0;
    return 1;
}

#define FH_LIT(s) s, (sizeof(s) - 1)

/* Walks one comma-separated list element starting at *pos within [0, end):
 * skips OWS and commas, sets *el and *el_len to the trimmed element and
 * returns 1, or 0 when the list is exhausted. Empty elements are skipped, as
 * RFC 9110 §5.6.1 requires of recipients. */
static int fh_list_next(const uint8_t *v, size_t end, size_t *pos, size_t *el, size_t *el_len) {
    size_t i = *pos, s, e;
    while (i < end && (v[i] == ',' || v[i] == ' ' || v[i] == '\t')) i++;
    if (i >= end) {
        *pos = i;
        return 0;
    }
    s = i;
    while (i < end && v[i] != ',') i++;
    e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
    *el = s;
    *el_len = e - s;
    *pos = i;
    return 1;
}

/* State shared by the header-line callbacks while one head is scanned. */
typedef struct fh_scan_state {
    int host_count;
    int te_seen, te_chunked_last, te_chunked_count, te_unknown;
    int conn_close, conn_keep_alive, conn_upgrade;
    int bad;
} fh_scan_state;

static void fh_on_content_length(fh_head *h, fh_scan_state *st, const uint8_t *v, size_t n) {
    size_t pos = 0, el, el_len, k;
    int any = 0;
    while (fh_list_next(v, n, &pos, &el, &el_len)) {
        int64_t x = 0;
        if (el_len == 0) {
            st->bad = 1;
            return;
        }
        for (k = 0; k < el_len; k++) {
            uint8_t c = v[el + k];
            if (c < '0' || c > '9') {
                st->bad = 1;
                return;
            }
            x = x * 10 + (c - '0');
            if (x > 999999999999999LL) {
                st->bad = 1; /* beyond 10^15: no body is that large, and no overflow */
                return;
            }
        }
        if ((h->flags & FH_REQ_HAS_CL) && h->content_length != x) {
            st->bad = 1;
            return;
        }
        h->flags |= FH_REQ_HAS_CL;
        h->content_length = x;
        any = 1;
    }
    if (!any) st->bad = 1;
}

static void fh_on_transfer_encoding(fh_scan_state *st, const uint8_t *v, size_t n) {
    size_t pos = 0, el, el_len, k;
    st->te_seen = 1;
    while (fh_list_next(v, n, &pos, &el, &el_len)) {
        if (fh_ieq(v + el, el_len, FH_LIT("chunked"))) {
            st->te_chunked_count++;
            st->te_chunked_last = 1;
            continue;
        }
        /* Any other coding (or chunked with parameters) is one we do not
         * implement; its characters must still be well formed. */
        for (k = 0; k < el_len; k++) {
            uint8_t c = v[el + k];
            if (!(fh_cls[c] & FH_C_TCHAR) && c != ';' && c != '=' && c != ' ' && c != '\t' && c != '"') {
                st->bad = 1;
                return;
            }
        }
        st->te_unknown = 1;
        st->te_chunked_last = 0;
    }
}

static void fh_on_connection(fh_scan_state *st, const uint8_t *v, size_t n) {
    size_t pos = 0, el, el_len;
    while (fh_list_next(v, n, &pos, &el, &el_len)) {
        if (fh_ieq(v + el, el_len, FH_LIT("close"))) st->conn_close = 1;
        else if (fh_ieq(v + el, el_len, FH_LIT("keep-alive"))) st->conn_keep_alive = 1;
        else if (fh_ieq(v + el, el_len, FH_LIT("upgrade"))) st->conn_upgrade = 1;
    }
}

/* Checks `host [":" port]` (RFC 3986 §3.2.2-3): an IP literal in brackets
 * or a reg-name, then an optional port of up to five digits (required with
 * need_port). No userinfo. Returns 0 when valid, else FH_ERROR. */
static int fh_check_authority(const uint8_t *t, size_t n, int need_port) {
    size_t k = 0, digits;
    if (n == 0) return need_port ? FH_ERROR : 0;
    if (t[0] == '[') {
        for (k = 1; k < n && t[k] != ']'; k++)
            if (!(fh_cls[t[k]] & FH_C_HEX) && t[k] != ':' && t[k] != '.') return FH_ERROR;
        if (k >= n || k == 1) return FH_ERROR;
        k++;
    } else {
        const uint8_t *pct;
        for (; k < n && t[k] != ':'; k++)
            if (!(fh_cls[t[k]] & FH_C_HOST)) return FH_ERROR;
        if (k == 0) return FH_ERROR;
        for (pct = memchr(t, '%', k); pct != NULL; pct = memchr(pct + 1, '%', k - (size_t)(pct + 1 - t))) {
            size_t at = (size_t)(pct - t);
            if (at + 2 >= k || !(fh_cls[t[at + 1]] & FH_C_HEX) || !(fh_cls[t[at + 2]] & FH_C_HEX)) return FH_ERROR;
        }
    }
    if (k == n) return need_port ? FH_ERROR : 0;
    if (t[k] != ':') return FH_ERROR;
    digits = n - k - 1;
    if (digits > 5 || (need_port && digits == 0)) return FH_ERROR;
    for (k++; k < n; k++)
        if (t[k] < '0' || t[k] > '9') return FH_ERROR;
    return 0;
}

static void fh_on_host(fh_scan_state *st, const uint8_t *v, size_t n) {
    st->host_count++;
    if (fh_check_authority(v, n, 0) != 0) st->bad = 1;
}

static void fh_on_header(fh_head *h, fh_scan_state *st, const uint8_t *name, size_t nlen,
                         const uint8_t *v, size_t vlen) {
    switch (nlen) {
    case 4:
        if (fh_ieq(name, nlen, FH_LIT("host"))) fh_on_host(st, v, vlen);
        break;
    case 6:
        /* An HTTP/1.0 client cannot expect 100 Continue (RFC 9110 §10.1.1). */
        if (fh_ieq(name, nlen, FH_LIT("expect")) && fh_ieq(v, vlen, FH_LIT("100-continue")) &&
            !(h->flags & FH_REQ_HTTP10))
            h->flags |= FH_REQ_EXPECT_CONTINUE;
        break;
    case 10:
        if (fh_ieq(name, nlen, FH_LIT("connection"))) fh_on_connection(st, v, vlen);
        break;
    case 14:
        if (fh_ieq(name, nlen, FH_LIT("content-length"))) fh_on_content_length(h, st, v, vlen);
        break;
    case 17:
        if (fh_ieq(name, nlen, FH_LIT("transfer-encoding"))) fh_on_transfer_encoding(st, v, vlen);
        break;
    default:
        break;
    }
}

/* Scans one field line at buf[*pos]: `name: value CRLF`. Returns 1 with the
 * name and trimmed value, FH_INCOMPLETE, or FH_ERROR. Shared by the head and
 * the chunked trailer section. */
static int fh_scan_field_line(const uint8_t *buf, size_t len, size_t *pos, size_t *ns, size_t *nlen,
                              size_t *vs, size_t *vlen) {
    size_t i = *pos, ve;
    *ns = i;
    while (i < len && (fh_cls[buf[i]] & FH_C_TCHAR)) i++;
    if (i >= len) return FH_INCOMPLETE;
    /* No whitespace between name and colon (RFC 9112 §5.1), no empty name. */
    if (buf[i] != ':' || i == *ns) return FH_ERROR;
    *nlen = i - *ns;
    i++;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t')) i++;
    *vs = i;
    for (;;) {
        uint8_t c;
        while (i + 8 <= len) {
            uint64_t x = FH_LOAD64(buf + i), y = x ^ (FH_ONES * 0x7f);
            if ((FH_CTL8(x, y)) != 0) break;
            i += 8;
        }
        if (i >= len) return FH_INCOMPLETE;
        c = buf[i];
        if (c == '\r') break;
        if (!(fh_cls[c] & FH_C_VALUE)) return FH_ERROR; /* NUL, LF, other CTLs, DEL */
        i++;
    }
    for (ve = i; ve > *vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'); ve--) {
    }
    if (i + 1 >= len) return FH_INCOMPLETE;
    if (buf[i + 1] != '\n') return FH_ERROR; /* a bare CR */
    *vlen = ve - *vs;
    *pos = i + 2;
    return 1;
}

/* Classifies the request-target; sets the routed path. Returns 0 or FH_ERROR. */
static int fh_check_target(const uint8_t *buf, fh_head *h) {
    const uint8_t *t = buf + h->target_start;
    size_t n = (size_t)h->target_len, k, a;
    int connect = h->method_len == 7 && memcmp(buf + h->method_start, "CONNECT", 7) == 0;
    int options = h->method_len == 7 && memcmp(buf + h->method_start, "OPTIONS", 7) == 0;
    h->path_start = h->target_start;
    h->path_len = h->target_len;
    /* authority-form: host ":" port, for CONNECT only (RFC 9112 §3.2.3). */
    if (connect) return fh_check_authority(t, n, 1);
    if (t[0] == '/') {
        /* origin-form: brackets belong to no path or query. */
        return (h->flags & FH_REQ_BRACKETS) ? FH_ERROR : 0;
    }
    if (n == 1 && t[0] == '*') return options ? 0 : FH_ERROR; /* asterisk-form */
    /* absolute-form: ("http" / "https") "://" authority [path-abempty] ["?"
     * query]. It is the target URI itself (RFC 9112 §3.2.2, §3.3), and an
     * HTTP origin server serves only http and https URIs (RFC 9110 §4.2):
     * any other scheme (ftp, file, ws, ...) names nothing here, and is 400,
     * as Bun.serve answers it. The scheme is case-insensitive (RFC 3986
     * §3.1): "HTTP://" is fine. */
    if (n < 4 || !fh_ieq(t, 4, FH_LIT("http"))) return FH_ERROR;
    k = 4;
    if (k < n && fh_lower(t[k]) == 's') k++;
    if (k + 3 > n || t[k] != ':' || t[k + 1] != '/' || t[k + 2] != '/') return FH_ERROR;
    k += 3;
    for (a = k; k < n && t[k] != '/' && t[k] != '?'; k++) {
    }
    if (k == a || fh_check_authority(t + a, k - a, 0) != 0) return FH_ERROR; /* http(s) needs a host */
    if (k < n) {
        if (memchr(t + k, '[', n - k) != NULL || memchr(t + k, ']', n - k) != NULL) return FH_ERROR;
        h->path_start = h->target_start + (int32_t)k;
        h->path_len = (int32_t)(n - k);
    } else {
        /* "http://host" routes as "/": point at the "/" inside "HTTP/1.x". */
        h->path_start = h->version_start + 4;
        h->path_len = 1;
    }
    return 0;
}

#define FH_FAIL(code)                                                                              \
    do {                                                                                           \
        h->status = (code);                                                                        \
        return FH_ERROR;                                                                           \
    } while (0)

/* Out of bytes: incomplete, unless the limit is reached. */
#define FH_MORE(in_target)                                                                         \
    do {                                                                                           \
        if (len >= max_head) FH_FAIL((in_target) ? 414 : 431);                                     \
        return FH_INCOMPLETE;                                                                      \
    } while (0)

static int fh_scan_head(const uint8_t *buf, size_t len, size_t max_head, fh_head *h) {
    static const char proto[] = "HTTP/x.y\r\n";
    size_t i = 0, s, k;
    fh_scan_state st;
    memset(h, 0, sizeof(*h));
    memset(&st, 0, sizeof(st));
    h->content_length = -1;
    h->status = 400;
    fh_scanner_init();
    /* Only the first max_head bytes are looked at. A head not complete within
     * them is refused whatever follows, so the answer is the same whether the
     * bytes came in one read or in many (and a long buffer costs no more). */
    if (len > max_head) len = max_head;

    /* Empty lines before the request line are ignored (RFC 9112 §2.2). */
    for (;;) {
        if (i >= len) FH_MORE(0);
        if (buf[i] != '\r') break;
        if (i + 1 >= len) FH_MORE(0);
        if (buf[i + 1] != '\n') FH_FAIL(400);
        i += 2;
    }

    /* method SP (GET first, in one comparison) */
    s = i;
    if (len - i >= 4 && memcmp(buf + i, "GET ", 4) == 0) i += 3;
    else
        while (i < len && (fh_cls[buf[i]] & FH_C_TCHAR)) i++;
    if (i >= len) FH_MORE(0);
    if (buf[i] != ' ' || i == s) FH_FAIL(400);
    h->method_start = (int32_t)s;
    h->method_len = (int32_t)(i - s);
    i++;

    /* request-target SP */
    s = i;
    {
        int seen = 0;
        while (i < len && (fh_cls[buf[i]] & FH_C_TARGET)) {
            seen |= fh_cls[buf[i]];
            i++;
        }
        if (seen & FH_C_BRACKET) h->flags |= FH_REQ_BRACKETS;
    }
    if (i >= len) FH_MORE(1);
    if (buf[i] != ' ' || i == s) FH_FAIL(400);
    h->target_start = (int32_t)s;
    h->target_len = (int32_t)(i - s);
    i++;

    /* HTTP-version CRLF: checked byte by byte against the template, so that a
     * short invalid line is refused without waiting for more. */
    h->version_start = (int32_t)i;
    if (len - i >= 10 && memcmp(buf + i, "HTTP/1.", 7) == 0 && buf[i + 8] == '\r' && buf[i + 9] == '\n' &&
        (buf[i + 7] == '1' || buf[i + 7] == '0')) {
        /* The usual case in one comparison. */
        if (buf[i + 7] == '0') h->flags |= FH_REQ_HTTP10;
        i += 10;
        goto target;
    }
    for (k = 0; k < 10; k++) {
        uint8_t c;
        if (i + k >= len) FH_MORE(0);
        c = buf[i + k];
        if (k == 5 || k == 7) {
            if (c < '0' || c > '9') FH_FAIL(400);
        } else if (c != (uint8_t)proto[k]) {
            FH_FAIL(400);
        }
    }
    if (buf[i + 5] != '1' || (buf[i + 7] != '0' && buf[i + 7] != '1')) FH_FAIL(505);
    if (buf[i + 7] == '0') h->flags |= FH_REQ_HTTP10;
    i += 10;
target:
    if (fh_check_target(buf, h) != 0) FH_FAIL(400);
    h->flags &= ~FH_REQ_BRACKETS;

    /* field lines, then the blank line */
    h->headers_start = (int32_t)i;
    for (;;) {
        size_t ns, nlen, vs, vlen;
        int r;
        if (i >= len) FH_MORE(0);
        if (buf[i] == '\r') {
            if (i + 1 >= len) FH_MORE(0);
            if (buf[i + 1] != '\n') FH_FAIL(400);
            h->headers_len = (int32_t)(i - (size_t)h->headers_start);
            i += 2;
            break;
        }
        /* obs-fold, whitespace before the first field, a bare LF: all refused. */
        r = fh_scan_field_line(buf, len, &i, &ns, &nlen, &vs, &vlen);
        if (r == FH_INCOMPLETE) FH_MORE(0);
        if (r == FH_ERROR) FH_FAIL(400);
        fh_on_header(h, &st, buf + ns, nlen, buf + vs, vlen);
        if (st.bad) FH_FAIL(400);
    }
    h->head_len = (int32_t)i;

    if (!(h->flags & FH_REQ_HTTP10) && st.host_count != 1) FH_FAIL(400);
    if (st.host_count > 1) FH_FAIL(400);
    if (st.te_seen) {
        /* Both framings at once is the smuggling case (RFC 9112 §6.3). */
        if (h->flags & FH_REQ_HAS_CL) FH_FAIL(400);
        if (h->flags & FH_REQ_HTTP10) FH_FAIL(400);
        if (st.te_unknown) FH_FAIL(501);
        if (st.te_chunked_count != 1 || !st.te_chunked_last) FH_FAIL(400);
        h->flags |= FH_REQ_CHUNKED;
    }
    if (h->flags & FH_REQ_HTTP10) {
        if (st.conn_keep_alive && !st.conn_close) h->flags |= FH_REQ_KEEP_ALIVE;
    } else if (!st.conn_close) {
        h->flags |= FH_REQ_KEEP_ALIVE;
    }
    if (h->method_len == 4 && memcmp(buf + h->method_start, "HEAD", 4) == 0) h->flags |= FH_REQ_HEAD;
    if (st.conn_upgrade || (h->method_len == 7 && memcmp(buf + h->method_start, "CONNECT", 7) == 0))
        h->flags |= FH_REQ_UPGRADE;
    h->status = 0;
    return (int)i;
}

/* Eight bytes of a header name at p, lower-cased (letters only differ from
 * their capitals by 0x20; the callers check each non-letter on its own,
 * since OR-ing 0x20 also turns CR into '-'), as one word to compare with a
 * lower-case literal's. */
#define FH_NAME8(p) (FH_LOAD64(p) | (FH_ONES * 0x20))
#define FH_LIT8(lit) FH_LOAD64((const uint8_t *)(lit))

static int fh_scan_response(const uint8_t *buf, size_t len) {
    const uint8_t *p = buf, *end = buf + len;
    int r = 0;
    if (len >= 8 && memcmp(buf, "HTTP/1.0", 8) == 0) r |= FH_RESP_HTTP10;
    if (len >= 12 && buf[8] == ' ' && buf[9] >= '0' && buf[9] <= '9' && buf[10] >= '0' && buf[10] <= '9' &&
        buf[11] >= '0' && buf[11] <= '9') {
        int status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
        if (status < 200 || status == 204 || status == 304) r |= FH_RESP_NO_BODY;
    }
    /* Line by line (memchr finds each end; only lines starting with C or T
     * are looked at, a word at a time: TinyCC does not optimise byte loops),
     * up to the blank line. */
    for (;;) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p)), *colon, *e;
        size_t pos, el, el_len, name;
        size_t left;
        int c;
        if (nl == NULL) return r;
        p = nl + 1;
        if (p >= end || *p == '\r' || *p == '\n') return r; /* the end of the head */
        left = (size_t)(end - p);
        c = *p | 0x20;
        if (c == 'c' && left >= 15 && FH_NAME8(p) == FH_LIT8("content-") && p[7] == '-' &&
            FH_NAME8(p + 6) == FH_LIT8("t-length") && p[14] == ':') {
            r |= FH_RESP_FRAMED;
            continue;
        } else if (c == 'c' && left >= 11 && FH_NAME8(p) == FH_LIT8("connecti") && (p[8] | 0x20) == 'o' &&
                   (p[9] | 0x20) == 'n' && p[10] == ':') {
            name = 10;
        } else if (c == 't' && left >= 18 && FH_NAME8(p) == FH_LIT8("transfer") && p[8] == '-' &&
                   FH_NAME8(p + 8) == FH_LIT8("-encodin") && (p[16] | 0x20) == 'g' && p[17] == ':') {
            name = 17;
        } else {
            continue;
        }
        colon = p + name;
        e = memchr(colon, '\n', (size_t)(end - colon));
        if (e == NULL) e = end;
        if (e > colon && e[-1] == '\r') e--;
        pos = 1;
        if (name == 10) {
            while (fh_list_next(colon, (size_t)(e - colon), &pos, &el, &el_len)) {
                if (fh_ieq(colon + el, el_len, FH_LIT("close"))) r |= FH_RESP_CLOSE;
                else if (fh_ieq(colon + el, el_len, FH_LIT("keep-alive"))) r |= FH_RESP_KEEP_ALIVE;
            }
        } else {
            int chunked_last = 0;
            while (fh_list_next(colon, (size_t)(e - colon), &pos, &el, &el_len))
                chunked_last = fh_ieq(colon + el, el_len, FH_LIT("chunked"));
            if (chunked_last) r |= FH_RESP_FRAMED;
        }
    }
}
