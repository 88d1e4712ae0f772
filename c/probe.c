/*
 * probe.c - entry points for benchmarks: the scanner on a buffer from
 * JavaScript, without a server or a socket. A translation unit of its own
 * (bench/micro/probe.ts compiles it), so that a server does not compile it.
 */
#include <stdint.h>
#include <string.h>

/* The scanner's files hold more than these entry points call (the response
 * reader, the streaming body framer): unused here, not dead. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "scanner.h"
#include "scanner.c"
#include "chunked.c"

/* Scans buf[0, len) as a request head and, when complete, its body. Fills
 * out[0..15]: result (head length, FH_INCOMPLETE or FH_ERROR), status, flags,
 * method start/len, path start/len, target start/len, headers start/len,
 * content length (low 31 bits; -1 none), body framing result (total length,
 * FH_INCOMPLETE, FH_ERROR or 0 when not reached), decoded body length.
 * Returns out[0]. */
int fh_scan_probe(const uint8_t *buf, int len, int max_head, double max_body, int32_t *out) {
    fh_head h;
    int r, k;
    for (k = 0; k < 16; k++) out[k] = 0;
    if (len < 0) return FH_ERROR;
    r = fh_scan_head(buf, (size_t)len, (size_t)max_head, &h);
    out[0] = r;
    out[1] = h.status;
    out[2] = h.flags;
    out[3] = h.method_start;
    out[4] = h.method_len;
    out[5] = h.path_start;
    out[6] = h.path_len;
    out[7] = h.target_start;
    out[8] = h.target_len;
    out[9] = h.headers_start;
    out[10] = h.headers_len;
    out[11] = h.content_length < 0 ? -1 : (int32_t)(h.content_length & 0x7fffffff);
    if (r > 0) {
        if (h.flags & FH_REQ_CHUNKED) {
            int64_t dec = 0;
            int st = 0;
            int64_t n = fh_scan_chunked(buf + r, (size_t)len - (size_t)r, (int64_t)max_body, (size_t)max_head,
                                        NULL, &dec, &st);
            out[12] = n > 0 ? (int32_t)(r + n) : (int32_t)n;
            out[13] = (int32_t)dec;
            if (n == FH_ERROR) out[1] = st;
        } else {
            int64_t cl = h.content_length < 0 ? 0 : h.content_length;
            out[12] = (int64_t)len - r >= cl ? (int32_t)(r + cl) : FH_INCOMPLETE;
            out[13] = (int32_t)cl;
        }
    }
    return r;
}

/* Scans the same complete requests `iters` times, as a pipelined batch:
 * buf holds one or more requests back to back. Returns how many requests
 * were scanned (so the work cannot be skipped). For per-request cost in C
 * alone, without a crossing per request. */
int fh_scan_loop(const uint8_t *buf, int len, int iters) {
    int i, count = 0;
    fh_head h;
    for (i = 0; i < iters; i++) {
        size_t pos = 0;
        while (pos < (size_t)len) {
            int r = fh_scan_head(buf + pos, (size_t)len - pos, 1 << 20, &h);
            if (r <= 0) break;
            pos += (size_t)r + (size_t)(h.content_length > 0 ? h.content_length : 0);
            count++;
        }
    }
    return count;
}

/* Does nothing: one FFI round trip. */
int fh_noop(int x) { return x + 1; }
