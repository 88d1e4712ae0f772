/*
 * fuzz_ws.c - libFuzzer target over the WebSocket frame reader (c/ws_read.c)
 * and the UTF-8 validator (c/utf8.c).
 *
 * An input is two bytes of settings, then a byte stream as a peer could
 * send it:
 *   byte 0  bit 0: rsv1_ok (permessage-deflate agreed), bit 1: need_mask
 *           (a server's reader), bits 4-7: max_payload, from a table of
 *           boundaries (0, 1, 125, 126, 65535, 65536, ..., 2^64-1)
 *   byte 1  the seed of the piece sizes the stream is fed in
 * The stream is fed to a fresh reader whole, one byte at a time, and in
 * pieces of 1 to 64 bytes (sizes from the seed), acting on each event as a
 * connection would (fh_wsr_next, then the rest). These must hold (else
 * abort()):
 *   - after every feed: consumed <= the bytes given, all of them when got is
 *     NONE; msg_len <= max_payload; ctl_len <= 125; got and error are values
 *     ws.h names; a text message's payload (uncompressed) and a close reason
 *     are valid UTF-8 (by a separate decoder, below), a close code is one
 *     fh_ws_close_code_ok allows or 1005;
 *   - after ERROR, feed consumes nothing and got stays ERROR;
 *   - all three ways give the same events (kind, code, op, RSV1, payload
 *     hash and length, and the stream offset each was reported at);
 *   - those events are exactly what a second, simple model of RFC 6455
 *     computes from the whole stream at once (ref_events below: frame by
 *     frame over a complete buffer, nothing incremental).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined test/c/fuzz_ws.c -o fuzz_ws
 *   ./fuzz_ws -max_total_time=60 corpus/      (or: scripts/fuzz.sh ws 60)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ws.h also declares deflate.c's functions, not part of this program. */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "../../c/ws.h"
#include "../../c/utf8.c"
#include "../../c/ws_read.c"

static void die(const char *what) {
    fprintf(stderr, "fuzz_ws: invariant broken: %s\n", what);
    abort();
}

static const uint64_t max_payloads[16] = {
    0, 1, 2, 10, 125, 126, 127, 200, 1000, 4096, 65535, 65536, 16u << 20, (1ULL << 63) - 1, 1ULL << 63, UINT64_MAX,
};

typedef struct event {
    int got, code, op, rsv1;
    size_t len, at;
    uint64_t hash;
} event;

#define MAXEV 8192

typedef struct events {
    event ev[MAXEV];
    int n;
} events;

static events e_whole, e_bytes, e_pieces, e_ref;

static uint64_t fnv(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static void add(events *e, int got, int code, int op, int rsv1, const uint8_t *p, size_t len, size_t at) {
    event *v;
    if (e->n == MAXEV) die("too many events");
    v = &e->ev[e->n++];
    v->got = got;
    v->code = code;
    v->op = op;
    v->rsv1 = rsv1;
    v->len = len;
    v->hash = fnv(p, len);
    v->at = at;
}

/* A second UTF-8 checker, from the table of well-formed sequences (Unicode
 * §3.9, table 3-7), byte ranges per position. Returns the index of the first
 * byte that cannot continue a valid string, or n; *partial says whether the
 * string ends inside a code point. */
static size_t ref_utf8(const uint8_t *s, size_t n, int *partial) {
    size_t i = 0;
    *partial = 0;
    while (i < n) {
        uint8_t c = s[i], lo = 0x80, hi = 0xbf;
        int k, j;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) k = 1;
        else if (c == 0xe0) k = 2, lo = 0xa0;
        else if (c == 0xed) k = 2, hi = 0x9f;
        else if (c >= 0xe1 && c <= 0xef) k = 2;
        else if (c == 0xf0) k = 3, lo = 0x90;
        else if (c == 0xf4) k = 3, hi = 0x8f;
        else if (c >= 0xf1 && c <= 0xf3) k = 3;
        else return i;
        for (j = 1; j <= k; j++) {
            if (i + (size_t)j >= n) {
                *partial = 1;
                return n;
            }
            if (s[i + j] < (j == 1 ? lo : 0x80) || s[i + j] > (j == 1 ? hi : 0xbf)) return i + (size_t)j;
        }
        i += (size_t)k + 1;
    }
    return n;
}

static int ref_utf8_valid(const uint8_t *s, size_t n) {
    int partial;
    return ref_utf8(s, n, &partial) == n && !partial;
}

typedef struct settings {
    uint64_t max_payload;
    int rsv1_ok, need_mask;
} settings;

/* The model: RFC 6455's rules applied to the whole stream, frame by frame.
 * An event's offset is where the reader must have stopped: the end of the
 * frame, or the byte that showed the violation. Stops at the first frame
 * the stream does not hold all of (or at its violation). */
static void ref_events(const settings *s, const uint8_t *in, size_t n, events *out) {
    static uint8_t msg[1 << 16];
    size_t pos = 0, msg_len = 0;
    int in_msg = 0, msg_op = 0, msg_rsv1 = 0;
    out->n = 0;
#define REF_FAIL(code, at)                          \
    do {                                            \
        add(out, FH_WSR_ERROR, code, 0, 0, NULL, 0, at); \
        return;                                     \
    } while (0)
    while (pos < n) {
        uint8_t b0 = in[pos], b1, key[4] = {0, 0, 0, 0};
        int fin = b0 >> 7, rsv1 = (b0 >> 6) & 1, op = b0 & 15, control = op >= 8, masked, len7;
        size_t hsize, avail, i, before;
        uint64_t len = 0;
        uint8_t pay[1 << 13];
        if ((b0 & 0x30) || (op >= 3 && op <= 7) || op >= 11) REF_FAIL(1002, pos + 1);
        if (control && (!fin || rsv1)) REF_FAIL(1002, pos + 1);
        if (op == 0 && (rsv1 || !in_msg)) REF_FAIL(1002, pos + 1);
        if ((op == 1 || op == 2) && (in_msg || (rsv1 && !s->rsv1_ok))) REF_FAIL(1002, pos + 1);
        if (pos + 1 >= n) return;
        b1 = in[pos + 1];
        masked = b1 >> 7;
        len7 = b1 & 127;
        if (s->need_mask && !masked) REF_FAIL(1002, pos + 2);
        if (control && len7 > 125) REF_FAIL(1002, pos + 2);
        if (op == 8 && len7 == 1) REF_FAIL(1002, pos + 2);
        if (len7 == 127 && pos + 2 < n && (in[pos + 2] & 0x80)) REF_FAIL(1002, pos + 3);
        hsize = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
        if (n - pos < hsize) return;
        if (len7 < 126) len = (uint64_t)len7;
        for (i = 0; i < (len7 == 126 ? 2u : len7 == 127 ? 8u : 0u); i++) len = (len << 8) | in[pos + 2 + i];
        if (masked) memcpy(key, in + pos + hsize - 4, 4);
        before = op == 0 ? msg_len : 0;
        if (!control && (uint64_t)before + len > s->max_payload) REF_FAIL(1009, pos + hsize);
        if (op == 1 || op == 2) {
            msg_op = op;
            msg_rsv1 = rsv1;
            msg_len = 0;
        }
        if (!control && !fin) in_msg = 1;
        avail = n - pos - hsize;
        if ((uint64_t)avail > len) avail = (size_t)len;
        if (avail > sizeof pay) die("model: frame longer than its buffer");
        for (i = 0; i < avail; i++) pay[i] = in[pos + hsize + i] ^ key[i & 3];
        if (!control) {
            if (msg_len + avail > sizeof msg) die("model: message longer than its buffer");
            memcpy(msg + msg_len, pay, avail);
            if (msg_op == 1 && !msg_rsv1) {
                int partial;
                size_t bad = ref_utf8(msg, msg_len + avail, &partial);
                if (bad < msg_len + avail) REF_FAIL(1007, pos + hsize + (bad - msg_len) + 1);
            }
            msg_len += avail;
        }
        if ((uint64_t)avail < len) return; /* the stream ends inside this frame */
        pos += hsize + (size_t)len;
        switch (op) {
        case 0:
        case 1:
        case 2:
            if (!fin) break;
            if (msg_op == 1 && !msg_rsv1 && !ref_utf8_valid(msg, msg_len)) REF_FAIL(1007, pos);
            add(out, FH_WSR_MESSAGE, 0, msg_op, msg_rsv1, msg, msg_len, pos);
            in_msg = 0;
            msg_len = 0;
            break;
        case 9:
        case 10:
            add(out, op == 9 ? FH_WSR_PING : FH_WSR_PONG, 0, 0, 0, pay, (size_t)len, pos);
            break;
        default: {
            int code;
            if (len == 0) {
                add(out, FH_WSR_CLOSE, 1005, 0, 0, NULL, 0, pos);
                break;
            }
            code = (pay[0] << 8) | pay[1];
            if (!((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)))
                REF_FAIL(1002, pos);
            if (!ref_utf8_valid(pay + 2, (size_t)len - 2)) REF_FAIL(1007, pos);
            add(out, FH_WSR_CLOSE, code, 0, 0, pay + 2, (size_t)len - 2, pos);
        }
        }
    }
#undef REF_FAIL
}

#define WHOLE 0
#define BYTES 1
#define PIECES 2

static uint8_t buf[1 << 16];

/* Feeds the stream to a fresh reader, records its events, checks the
 * invariants after every feed. */
static void feed_all(const settings *s, const uint8_t *in, size_t n, int mode, uint64_t seed, events *out) {
    fh_wsr r;
    size_t pos = 0;
    uint64_t x = seed * 2654435761u + 1;
    memset(&r, 0, sizeof r);
    r.max_payload = s->max_payload;
    r.rsv1_ok = (uint8_t)s->rsv1_ok;
    r.need_mask = (uint8_t)s->need_mask;
    out->n = 0;
    memcpy(buf, in, n); /* the reader unmasks in place */
    while (pos < n) {
        size_t piece = n - pos, end, c;
        if (mode == BYTES) piece = 1;
        if (mode == PIECES) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            piece = 1 + (size_t)(x % 64);
            if (piece > n - pos) piece = n - pos;
        }
        end = pos + piece;
        while (pos < end) {
            c = fh_wsr_feed(&r, buf + pos, end - pos);
            if (c > end - pos) die("consumed more than given");
            pos += c;
            if ((uint64_t)r.msg_len > r.max_payload) die("msg_len > max_payload");
            if (r.msg_len > r.msg_cap) die("msg_len > msg_cap");
            if (r.ctl_len > 125) die("ctl_len > 125");
            if (r.got == FH_WSR_NONE) {
                if (pos != end) die("NONE with bytes left");
                break;
            }
            switch (r.got) {
            case FH_WSR_MESSAGE:
                if (r.msg_op != FH_WS_OP_TEXT && r.msg_op != FH_WS_OP_BINARY) die("MESSAGE op");
                if (r.msg == NULL) die("MESSAGE with msg NULL");
                if (r.msg_op == FH_WS_OP_TEXT && !r.msg_rsv1 && !ref_utf8_valid(r.msg, r.msg_len))
                    die("text message not valid UTF-8");
                if (r.msg_rsv1 && !s->rsv1_ok) die("compressed without rsv1_ok");
                add(out, r.got, 0, r.msg_op, r.msg_rsv1, r.msg, r.msg_len, pos);
                break;
            case FH_WSR_PING:
            case FH_WSR_PONG:
                add(out, r.got, 0, 0, 0, r.ctl, r.ctl_len, pos);
                break;
            case FH_WSR_CLOSE:
                if (r.close_code == FH_WS_CLOSE_NO_STATUS ? r.ctl_len != 0 : !fh_ws_close_code_ok(r.close_code))
                    die("close code");
                if (r.ctl_len >= 2 && !ref_utf8_valid(r.ctl + 2, (size_t)r.ctl_len - 2)) die("close reason not UTF-8");
                add(out, r.got, r.close_code, 0, 0, r.ctl + 2, r.ctl_len >= 2 ? (size_t)r.ctl_len - 2 : 0, pos);
                break;
            case FH_WSR_ERROR:
                if (r.error != 1002 && r.error != 1007 && r.error != 1009) die("error code");
                add(out, r.got, r.error, 0, 0, NULL, 0, pos);
                if (fh_wsr_feed(&r, buf + pos, n - pos) != 0 || r.got != FH_WSR_ERROR) die("consumed after ERROR");
                fh_wsr_free(&r);
                return;
            default:
                die("got");
            }
            fh_wsr_next(&r);
            if (r.got != FH_WSR_NONE) die("got after next");
        }
    }
    fh_wsr_free(&r);
}

static void same(const events *a, const events *b, const char *what) {
    int i;
    if (a->n != b->n) {
        fprintf(stderr, "%s: %d events vs %d\n", what, a->n, b->n);
        die(what);
    }
    for (i = 0; i < a->n; i++) {
        const event *x = &a->ev[i], *y = &b->ev[i];
        if (x->got != y->got || x->code != y->code || x->op != y->op || x->rsv1 != y->rsv1 || x->len != y->len ||
            x->hash != y->hash || x->at != y->at) {
            fprintf(stderr, "%s: event %d: got %d code %d op %d rsv1 %d len %zu at %zu vs got %d code %d op %d rsv1 %d len %zu at %zu\n",
                    what, i, x->got, x->code, x->op, x->rsv1, x->len, x->at, y->got, y->code, y->op, y->rsv1, y->len, y->at);
            die(what);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    settings s;
    const uint8_t *in;
    size_t n;
    if (size < 2 || size - 2 > sizeof buf) return 0;
    s.rsv1_ok = data[0] & 1;
    s.need_mask = (data[0] >> 1) & 1;
    s.max_payload = max_payloads[data[0] >> 4];
    in = data + 2;
    n = size - 2;
    if (n > (1 << 13)) return 0; /* the model's frame buffer */
    feed_all(&s, in, n, WHOLE, 0, &e_whole);
    feed_all(&s, in, n, BYTES, 0, &e_bytes);
    feed_all(&s, in, n, PIECES, data[1], &e_pieces);
    same(&e_whole, &e_bytes, "whole vs a byte at a time");
    same(&e_whole, &e_pieces, "whole vs in pieces");
    ref_events(&s, in, n, &e_ref);
    same(&e_whole, &e_ref, "reader vs model");
    /* The validator alone, over the raw stream: agrees with the model's checker. */
    {
        uint32_t st = FH_UTF8_ACCEPT;
        int partial;
        size_t a = fh_utf8_run(&st, in, n), b = ref_utf8(in, n, &partial);
        if (a != b) die("fh_utf8_run vs the table checker: first bad byte");
        if (a == n && (st != FH_UTF8_ACCEPT) != partial) die("fh_utf8_run vs the table checker: ends inside a code point");
    }
    return 0;
}
