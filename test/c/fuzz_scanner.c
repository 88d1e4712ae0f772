/*
 * fuzz_scanner.c - libFuzzer target over the request scanner, the chunked
 * framer and de-chunker, and fh_scan_response (c/scanner.c).
 *
 * Each input is a byte stream as a client could send it. It is run with the
 * server's default limits and with small limits picked from the input's hash
 * (so 413, 414 and 431 are reached), and these must hold (else abort()):
 *   - fh_scan_head returns the head's length, FH_INCOMPLETE or FH_ERROR with a
 *     status the server knows; an accepted head's slices lie inside it, and it
 *     scans the same with nothing after it;
 *   - a strict prefix of an accepted head is FH_INCOMPLETE; a strict prefix of
 *     a refused input is FH_INCOMPLETE or the same error;
 *   - fh_scan_chunked over the input (max_line: max_head, as c/frame.c
 *     does): consumed length within the input,
 *     decoded length <= consumed and <= max_body; decoding into a separate
 *     buffer and in place (destination aliasing the source) agree with
 *     framing alone and with each other; prefixes behave as above;
 *   - the connection framer (scanner_harness.h, what c/server.c's fh_parse
 *     does) gives the same events whether the stream arrives whole, cut at
 *     two points, in pieces of varying size, or one byte at a time; a strict
 *     prefix of the first complete request frames nothing;
 *   - If-None-Match (c/precond.c), over the input as a field value and over an
 *     accepted head's header lines: -1, 0 or 1, and the same with empty list
 *     elements and whitespace around it;
 *   - fh_body_feed (the incremental framer), over the input and over a chunked
 *     request's body, agrees with fh_scan_chunked whether fed whole, cut at a
 *     point, or in pieces, after every read, at a big max_line and at a small
 *     one (a small one only ever adds a 413 or a 431); a Content-Length
 *     body passes through.
 * Every scan reads from a guarded buffer: one byte too far faults.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined test/c/fuzz_scanner.c -o fuzz_scanner
 *   ./fuzz_scanner -max_total_time=60 corpus/ seeds/      (or: npm run fuzz -- 60)
 */
#include "scanner_harness.h"
#include "../../c/precond.c"

static fh_guard g_in, g_frame, g_scratch;

static void die(const char *what, size_t max_head, int64_t max_body) {
    fprintf(stderr, "fuzz_scanner: invariant broken (max_head %zu, max_body %lld): %s\n", max_head,
            (long long)max_body, what);
    abort();
}


/* Up to max cut points in [1, size], 1 to 64 bytes apart, taken from the
 * hash (xorshift): how a long input is split into reads. Returns how many. */
static int hash_cuts(uint64_t hash, size_t size, size_t *cuts, int max) {
    uint64_t x = hash | 1;
    size_t at = 0;
    int nc = 0;
    while (nc < max && at < size) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        at += 1 + (size_t)(x % 64);
        cuts[nc++] = at;
    }
    return nc;
}

/* Up to `max` prefix lengths below n, spread by the hash; all of them when n is small. */
static int pick_prefixes(size_t n, uint64_t h, size_t *out, int max) {
    int c = 0;
    size_t k;
    if (n <= (size_t)max) {
        for (k = 0; k < n; k++) out[c++] = k;
        return c;
    }
    for (; c < max; c++) {
        h = h * 6364136223846793005ULL + 1442695040888963407ULL;
        out[c] = (size_t)(h >> 17) % n;
    }
    return c;
}

static void check_head(const uint8_t *data, size_t size, size_t max_head, int64_t max_body, uint64_t hash) {
    fh_head h, hp;
    fh_framer ctx;
    size_t pre[48];
    int np, j, r, rp;
    r = fh_scan_head(fh_guard_put(&g_in, data, size), size, max_head, &h);
    if (r == FH_ERROR) {
        if (!fh_valid_error_status(h.status)) die("error status", max_head, max_body);
    } else if (r != FH_INCOMPLETE) {
        fh_framer_init(&ctx, &g_frame, &g_scratch, max_head, max_body);
        fh_check_head(&ctx, &h, r, size);
        if (ctx.fail) die(ctx.fail, max_head, max_body);
        /* Nothing after the head changes it. */
        rp = fh_scan_head(fh_guard_put(&g_in, data, (size_t)r), (size_t)r, max_head, &hp);
        if (rp != r || !fh_head_eq(&h, &hp)) die("the head alone scans differently", max_head, max_body);
    }
    np = pick_prefixes(size, hash, pre, 40);
    if (r > 0 && np < 48) pre[np++] = (size_t)r - 1;
    for (j = 0; j < np; j++) {
        size_t k = pre[j];
        rp = fh_scan_head(fh_guard_put(&g_in, data, k), k, max_head, &hp);
        if (r > 0 && (size_t)r > k) {
            if (rp != FH_INCOMPLETE) die("a strict prefix of a head is not incomplete", max_head, max_body);
        } else if (r > 0) {
            if (rp != r) die("a prefix holding the whole head scans differently", max_head, max_body);
        } else if (r == FH_INCOMPLETE) {
            if (rp != FH_INCOMPLETE) die("a prefix of an incomplete head is not incomplete", max_head, max_body);
        } else if (rp != FH_INCOMPLETE && !(rp == FH_ERROR && hp.status == h.status)) {
            die("a prefix of a refused head gives another answer", max_head, max_body);
        }
    }
}

static void check_chunked(const uint8_t *data, size_t size, size_t max_head, int64_t max_body, uint64_t hash) {
    int64_t n, n2, n3, dec = -1, dec2 = -1, dec3 = -1, decp;
    int st = -1, st2 = -1, st3 = -1, stp, np, j;
    size_t pre[40];
    uint8_t *sep = malloc(size + 1), *in;
    if (sep == NULL) abort();
    n = fh_scan_chunked(fh_guard_put(&g_in, data, size), size, max_body, max_head, NULL, &dec, &st);
    if (n > 0) {
        if ((size_t)n > size || st != 0) die("chunked length within the input", max_head, max_body);
        if (dec < 0 || dec > n || dec > max_body) die("decoded length within bounds", max_head, max_body);
    } else if (n == FH_ERROR) {
        if (st != 400 && st != 413 && st != 431) die("chunked error status", max_head, max_body);
    } else if (n != FH_INCOMPLETE) {
        die("fh_scan_chunked returns > 0, -1 or -2", max_head, max_body);
    }
    /* Decoding: into a separate buffer, and in place. */
    n2 = fh_scan_chunked(fh_guard_put(&g_in, data, size), size, max_body, max_head, sep, &dec2, &st2);
    in = fh_guard_put(&g_scratch, data, size);
    n3 = fh_scan_chunked(in, size, max_body, max_head, in, &dec3, &st3);
    if (n2 != n || n3 != n || (n == FH_ERROR && (st2 != st || st3 != st)))
        die("decoding frames differently from framing", max_head, max_body);
    if (n > 0 && (dec2 != dec || dec3 != dec || memcmp(sep, in, (size_t)dec) != 0))
        die("in-place decoding differs", max_head, max_body);
    free(sep);
    np = pick_prefixes(size, hash ^ 0x9e3779b97f4a7c15ULL, pre, 32);
    for (j = 0; j < np; j++) {
        size_t k = pre[j];
        int64_t rp = fh_scan_chunked(fh_guard_put(&g_in, data, k), k, max_body, max_head, NULL, &decp, &stp);
        if (n > 0 && (size_t)n > k) {
            if (rp != FH_INCOMPLETE) die("a strict prefix of a chunked body is not incomplete", max_head, max_body);
        } else if (n > 0) {
            if (rp != n || decp != dec) die("a prefix holding the whole chunked body frames differently", max_head, max_body);
        } else if (n == FH_INCOMPLETE) {
            if (rp != FH_INCOMPLETE) die("a prefix of an incomplete chunked body is not incomplete", max_head, max_body);
        } else if (rp != FH_INCOMPLETE && !(rp == FH_ERROR && stp == st)) {
            die("a prefix of a refused chunked body gives another answer", max_head, max_body);
        }
    }
}

static void check_framing(const uint8_t *data, size_t size, size_t max_head, int64_t max_body, uint64_t hash) {
    static fh_framer whole, part;
    size_t cuts[64], k;
    int nc = 0;
    const char *diff;
    fh_framer_init(&whole, &g_frame, &g_scratch, max_head, max_body);
    fh_framer_feed(&whole, data, size);
    if (whole.fail) die(whole.fail, max_head, max_body);
    if (size < 2) return;
    /* Cut at two points. */
    cuts[0] = 1 + (size_t)(hash % (size - 1));
    cuts[1] = 1 + (size_t)((hash >> 24) % (size - 1));
    if (cuts[0] > cuts[1]) {
        k = cuts[0];
        cuts[0] = cuts[1];
        cuts[1] = k;
    }
    fh_framer_init(&part, &g_frame, &g_scratch, max_head, max_body);
    fh_frame_split(&part, data, size, cuts, 2);
    if ((diff = part.fail ? part.fail : fh_framer_diff(&whole, size, &part, size)) != NULL)
        die(diff, max_head, max_body);
    /* Pieces of 1 to 64 bytes, or one byte at a time when the input is short. */
    if (size <= 256) {
        size_t *all = malloc(sizeof(size_t) * size);
        if (all == NULL) abort();
        for (k = 0; k < size; k++) all[k] = k + 1;
        fh_framer_init(&part, &g_frame, &g_scratch, max_head, max_body);
        fh_frame_split(&part, data, size, all, (int)size);
        free(all);
    } else {
        nc = hash_cuts(hash, size, cuts, 64);
        fh_framer_init(&part, &g_frame, &g_scratch, max_head, max_body);
        fh_frame_split(&part, data, size, cuts, nc);
    }
    if ((diff = part.fail ? part.fail : fh_framer_diff(&whole, size, &part, size)) != NULL)
        die(diff, max_head, max_body);
    /* A strict prefix of the first complete request frames nothing. */
    if (whole.nev > 0 && whole.ev[0].kind == FH_EV_REQUEST) {
        size_t first = (size_t)whole.ev[0].consumed, pre[8];
        int np = pick_prefixes(first, hash >> 3, pre, 8), j;
        for (j = 0; j < np; j++) {
            fh_framer_init(&part, &g_frame, &g_scratch, max_head, max_body);
            fh_framer_feed(&part, data, pre[j]);
            if (part.nev != 0) die("a strict prefix of a request framed an event", max_head, max_body);
        }
    }
}

/* The incremental framer (fh_body_feed) over the input as a chunked body:
 * in one read, cut at a point taken from the hash, and in pieces (a byte at a
 * time when short), decoded bytes kept or taken, it must agree with
 * fh_scan_chunked over the same bytes (at the end, and after every call:
 * fh_feed_split), at a big max_line and, likewise, at a small one, where
 * fh_scan_chunked's answer must be the big max_line's, or 413 (a chunk line)
 * or 431 (the trailers). As a
 * Content-Length body (a length from the hash), the first bytes pass through
 * and what follows stays. */
static void check_body_feed(const uint8_t *data, size_t size, int64_t max_body, uint64_t hash) {
    fh_feed_run one, part, small;
    uint8_t *dst = malloc(size + 1), *sdst = malloc(size + 1);
    int64_t w, wdec = -1, sw, sdec = -1, cl;
    int wst = -1, sst = -1, nc = 0, take = (int)((hash >> 8) & 1), i;
    size_t cut = size >= 2 ? 1 + (size_t)(hash % (size - 1)) : 0, cuts[64], *pieces = cuts, ml, want;
    const char *diff;
    if (dst == NULL || sdst == NULL) abort();
    if (size <= 256) {
        pieces = malloc(sizeof(size_t) * (size + 1));
        if (pieces == NULL) abort();
        for (nc = 0; (size_t)nc < size; nc++) pieces[nc] = (size_t)nc + 1;
    } else {
        nc = hash_cuts(hash, size, cuts, 64);
    }
    w = fh_scan_chunked(fh_guard_put(&g_in, data, size), size, max_body, SIZE_MAX / 4, dst, &wdec, &wst);
    fh_feed_split(&one, &g_frame, data, size, NULL, 0, 1, 0, max_body, SIZE_MAX / 4, 0, 1, NULL, 0);
    if ((diff = fh_feed_agrees(&one, w, wdec, wst, dst)) != NULL) die(diff, 0, max_body);
    fh_feed_split(&part, &g_frame, data, size, &cut, cut > 0, 1, 0, max_body, SIZE_MAX / 4, take, 1, one.out,
                  one.outlen);
    if ((diff = fh_feed_agrees(&part, w, wdec, wst, dst)) != NULL) die(diff, 0, max_body);
    fh_feed_run_free(&part);
    fh_feed_split(&part, &g_frame, data, size, pieces, nc, 1, 0, max_body, SIZE_MAX / 4, !take, 1, one.out,
                  one.outlen);
    if ((diff = fh_feed_agrees(&part, w, wdec, wst, dst)) != NULL) die(diff, 0, max_body);
    fh_feed_run_free(&part);
    /* A small max_line: fh_scan_chunked at it only ever adds a 413 (a chunk
     * line) or a 431 (the trailers), and fh_body_feed at it gives exactly
     * fh_scan_chunked's answer. */
    ml = 1 + (size_t)((hash >> 40) % 64);
    sw = fh_scan_chunked(fh_guard_put(&g_in, data, size), size, max_body, ml, sdst, &sdec, &sst);
    if (!(sw == FH_ERROR && (sst == 413 || sst == 431)) &&
        !(sw == w && (sw != FH_ERROR || sst == wst) && (sw < 0 || sdec == wdec)))
        die("with a small max_line, fh_scan_chunked gives neither the same answer nor 413 or 431", ml, max_body);
    fh_feed_split(&small, &g_frame, data, size, NULL, 0, 1, 0, max_body, ml, 0, 1, NULL, 0);
    if ((diff = fh_feed_agrees(&small, sw, sdec, sst, sdst)) != NULL) die(diff, ml, max_body);
    for (i = 0; i < 2; i++) {
        if (i == 0) fh_feed_split(&part, &g_frame, data, size, &cut, cut > 0, 1, 0, max_body, ml, take, 1, NULL, 0);
        else fh_feed_split(&part, &g_frame, data, size, pieces, nc, 1, 0, max_body, ml, !take, 1, NULL, 0);
        if ((diff = fh_feed_agrees(&part, sw, sdec, sst, sdst)) != NULL) die(diff, ml, max_body);
        fh_feed_run_free(&part);
    }
    fh_feed_run_free(&small);
    fh_feed_run_free(&one);
    /* Content-Length. */
    cl = (int64_t)((hash >> 20) % (size + 2));
    want = cl < (int64_t)size ? (size_t)cl : size;
    for (i = 0; i < 2; i++) {
        if (i == 0) fh_feed_split(&part, &g_frame, data, size, &cut, cut > 0, 0, cl, max_body, ml, take, 0, NULL, 0);
        else fh_feed_split(&part, &g_frame, data, size, pieces, nc, 0, cl, max_body, ml, !take, 0, NULL, 0);
        if (part.fail) die(part.fail, ml, max_body);
        if (part.status != 0 || part.outlen != want || memcmp(part.out, data, want) != 0 || part.raw != want ||
            (part.phase == FH_BF_DONE) != (cl <= (int64_t)size))
            die("a Content-Length body does not pass its first bytes through", ml, max_body);
        fh_feed_run_free(&part);
    }
    if (pieces != cuts) free(pieces);
    free(dst);
    free(sdst);
}

/* If-None-Match: the input as a field value, and an accepted head's lines. */
static void check_inm(const uint8_t *data, size_t size) {
    static const uint8_t tag[] = "\"abc\"";
    static uint8_t wrapped[(1 << 20) + 8];
    fh_head h;
    int r, w, hr;
    r = fh_inm_match(fh_guard_put(&g_in, data, size), size, tag, 5);
    if (r < -1 || r > 1) die("fh_inm_match out of range", 0, 0);
    memcpy(wrapped, ", ", 2);
    memcpy(wrapped + 2, data, size);
    memcpy(wrapped + 2 + size, " ,", 2);
    w = fh_inm_match(fh_guard_put(&g_scratch, wrapped, size + 4), size + 4, tag, 5);
    if (w != r) die("fh_inm_match differs with empty elements around the value", 0, 0);
    if (size > 0 && size < 64) (void)fh_inm_match(fh_guard_put(&g_in, data, size), size, data, size);
    hr = fh_scan_head(fh_guard_put(&g_in, data, size), size, 8192, &h);
    if (hr > 0) {
        r = fh_headers_inm(fh_guard_put(&g_frame, data + h.headers_start, (size_t)h.headers_len), (size_t)h.headers_len, tag, 5);
        if (r < -1 || r > 1) die("fh_headers_inm out of range", 0, 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    uint64_t hash;
    size_t max_head;
    int64_t max_body;
    if (!ready) {
        if (fh_guard_init(&g_in, 1 << 20) != 0 || fh_guard_init(&g_frame, 1 << 20) != 0 ||
            fh_guard_init(&g_scratch, 1 << 20) != 0)
            abort();
        ready = 1;
    }
    if (size > (1 << 20)) return 0;
    hash = fh_hash(data, size);
    /* The server's defaults, then small limits so the limit paths are reached. */
    check_head(data, size, 8192, 16 << 20, hash);
    check_chunked(data, size, 8192, 16 << 20, hash);
    {
        /* A chunked request: its body too, where the de-chunker meets it. */
        fh_head h;
        int r = fh_scan_head(fh_guard_put(&g_in, data, size), size, 8192, &h);
        if (r > 0 && (h.flags & FH_REQ_CHUNKED)) {
            check_chunked(data + r, size - (size_t)r, 8192, 16 << 20, hash);
            check_body_feed(data + r, size - (size_t)r, 16 << 20, hash);
            check_body_feed(data + r, size - (size_t)r, (int64_t)((hash >> 12) % 80), hash >> 1);
        }
    }
    check_body_feed(data, size, 16 << 20, hash);
    check_framing(data, size, 8192, 16 << 20, hash);
    max_head = 8 + (size_t)(hash % 300);
    max_body = (int64_t)((hash >> 12) % 80);
    check_head(data, size, max_head, max_body, hash);
    check_chunked(data, size, max_head, max_body, hash);
    check_framing(data, size, max_head, max_body, hash);
    check_body_feed(data, size, max_body, hash);
    check_inm(data, size);
    /* fh_scan_response only has to stay in bounds. */
    (void)fh_scan_response(fh_guard_put(&g_in, data, size), size);
    if (size > 0) (void)fh_scan_response(fh_guard_put(&g_in, data, size - 1), size - 1);
    return 0;
}
