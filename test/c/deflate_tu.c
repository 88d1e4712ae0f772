/*
 * deflate_tu.c - c/deflate.c in a translation unit of its own, for
 * test/ws-deflate.test.ts: built by bun:ffi's cc (TinyCC, as the core is)
 * and by gcc and clang with every warning. The wrappers below are the only
 * external symbols: the test calls them through FFI, with JS-owned buffers
 * for input and one output buffer kept here per handle.
 */
#define _GNU_SOURCE
#if defined(__GNUC__)
/* ws.h declares the frame reader and the UTF-8 validator too, and this unit
 * defines only deflate.c's part. gcc reports a static declared but never
 * defined at the end of the unit, so the warning is off for all of it (every
 * function deflate.c defines is called below). */
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "../../c/ws.h"
#include "../../c/deflate.c"

/* A handle: the stream and the output buffer its calls reuse. */
typedef struct fh_zt {
    fh_z *z;
    uint8_t *out;
    size_t cap;
} fh_zt;

int fh_zt_load(void) { return fh_z_load(); }

const char *fh_zt_error(void) { return fh_z_error(); }

/* The size of the z_stream declared in deflate.c (the test compares it with zlib's). */
int fh_zt_stream_size(void) { return (int)sizeof(fh_zstream); }

/* `inflater` 1 for a decompressor. NULL when fh_z_deflater / fh_z_inflater refused. */
fh_zt *fh_zt_new(int inflater, int window_bits, int takeover) {
    fh_zt *t = (fh_zt *)calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    t->z = inflater ? fh_z_inflater(window_bits, takeover) : fh_z_deflater(window_bits, takeover);
    if (t->z == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void fh_zt_free(fh_zt *t) {
    if (t == NULL) return;
    fh_z_free(t->z);
    free(t->out);
    free(t);
}

/* fh_z_compress of in[0, n) into the handle's buffer (read with fh_zt_out). */
double fh_zt_compress(fh_zt *t, const uint8_t *in, double n) {
    return (double)fh_z_compress(t->z, in, (size_t)n, &t->out, &t->cap);
}

/* fh_z_decompress of in[0, n) with limit `max`. */
double fh_zt_decompress(fh_zt *t, const uint8_t *in, double n, double max) {
    return (double)fh_z_decompress(t->z, in, (size_t)n, &t->out, &t->cap, (uint64_t)max);
}

const uint8_t *fh_zt_out(fh_zt *t) { return t->out; }

/* The output buffer's capacity: what a message cost in memory. */
double fh_zt_cap(fh_zt *t) { return (double)t->cap; }
