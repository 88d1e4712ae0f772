/*
 * deflate_asan.c - c/deflate.c under ASan and UBSan (test/ws-deflate.test.ts
 * builds it with clang where its sanitizer runtimes are installed): round
 * trips of random messages through every window and takeover mode, then
 * compressed messages with flipped bits and cut short, and random limits,
 * fed to decompressors with and without takeover. Every result must be the
 * message, -1009 or -1007, and nothing may read or write out of bounds.
 * Prints "fails N ok N toobig N invalid N" and exits 0 when N fails is 0.
 */
#include "deflate_tu.c"

#include <stdio.h>

static uint64_t fh_rs = 88172645463325252ull;

/* xorshift64: the same sequence on every run. */
static uint32_t fh_rnd(void) {
    fh_rs ^= fh_rs << 13;
    fh_rs ^= fh_rs >> 7;
    fh_rs ^= fh_rs << 17;
    return (uint32_t)fh_rs;
}

/* A message of n bytes: random, periodic, or from a 4-letter alphabet. */
static uint8_t *fh_message(size_t n) {
    uint8_t *buf = (uint8_t *)malloc(n + 1);
    uint32_t mode = fh_rnd() % 3;
    size_t k;
    if (buf == NULL) abort();
    for (k = 0; k < n; k++)
        buf[k] = mode == 0 ? (uint8_t)fh_rnd() : mode == 1 ? (uint8_t)"abcabcabd"[k % 9] : (uint8_t)('a' + fh_rnd() % 4);
    return buf;
}

int main(void) {
    int fails = 0, takeover, bits, m, codes[3] = {0, 0, 0};
    fh_zt *d, *i, *it;
    if (fh_zt_load() != 0) {
        printf("zlib: %s\n", fh_zt_error());
        return 1;
    }
    for (takeover = 0; takeover < 2; takeover++) {
        for (bits = 9; bits <= 15; bits += 3) {
            d = fh_zt_new(0, bits, takeover);
            i = fh_zt_new(1, bits, takeover);
            if (d == NULL || i == NULL) return 1;
            for (m = 0; m < 200; m++) {
                size_t n = fh_rnd() % (m % 10 == 0 ? 300000 : 3000);
                uint8_t *buf = fh_message(n), *c;
                double clen = fh_zt_compress(d, buf, (double)n), r;
                if (clen < 0) {
                    fails++;
                    free(buf);
                    continue;
                }
                c = (uint8_t *)malloc((size_t)clen + 1);
                if (c == NULL) abort();
                memcpy(c, fh_zt_out(d), (size_t)clen);
                r = fh_zt_decompress(i, c, clen, 1e9);
                if (r != (double)n || (n > 0 && memcmp(fh_zt_out(i), buf, n) != 0)) fails++;
                free(buf);
                free(c);
            }
            fh_zt_free(d);
            fh_zt_free(i);
        }
    }
    d = fh_zt_new(0, 15, 0);
    i = fh_zt_new(1, 15, 0);
    it = fh_zt_new(1, 15, 1);
    if (d == NULL || i == NULL || it == NULL) return 1;
    for (m = 0; m < 20000; m++) {
        size_t n = fh_rnd() % 2000 + 1, cut;
        uint8_t *buf = fh_message(n), *c;
        double clen = fh_zt_compress(d, buf, (double)n), r;
        int flips = (int)(fh_rnd() % 4), f;
        if (clen < 1) abort();
        c = (uint8_t *)malloc((size_t)clen);
        if (c == NULL) abort();
        memcpy(c, fh_zt_out(d), (size_t)clen);
        for (f = 0; f < flips; f++) c[fh_rnd() % (size_t)clen] ^= (uint8_t)(1u << (fh_rnd() % 8));
        cut = fh_rnd() % 3 == 0 ? fh_rnd() % ((size_t)clen + 1) : (size_t)clen;
        r = fh_zt_decompress(m & 1 ? i : it, c, (double)cut, (double)(fh_rnd() % 3000));
        codes[r >= 0 ? 0 : r == -1009 ? 1 : 2]++;
        if (r < 0 && r != -1009 && r != -1007) fails++;
        if (r >= 0 && flips == 0 && cut == (size_t)clen && (r != (double)n || memcmp(fh_zt_out(m & 1 ? i : it), buf, n) != 0)) {
            /* Unchanged data within the limit reads back as it was, unless an
             * earlier broken message left the takeover stream without context. */
            if (m & 1) fails++;
        }
        free(buf);
        free(c);
    }
    printf("fails %d ok %d toobig %d invalid %d\n", fails, codes[0], codes[1], codes[2]);
    fh_zt_free(d);
    fh_zt_free(i);
    fh_zt_free(it);
    return fails != 0;
}
