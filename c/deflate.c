/*
 * deflate.c - permessage-deflate (RFC 7692) over the system zlib.
 *
 * zlib is loaded at run time with dlopen, not linked and not included: the
 * core is compiled by TinyCC at start-up, on machines that may have
 * libz.so.1 but no zlib.h. So the z_stream structure and the few constants
 * used are declared here, with zlib's ABI (the layout of z_stream has not
 * changed since zlib 1.0; *Init2_ is given its size and the library's own
 * version string, so a mismatch is refused by zlib, not misread).
 *
 * A compressor turns one message into raw DEFLATE data ended by a sync
 * flush, with the final empty stored block (00 00 ff ff) removed (§7.2.1);
 * it never ends a block with BFINAL set, so the peer's inflater never sees
 * the end of its stream. A decompressor appends 00 00 ff ff and inflates
 * into a buffer that grows only up to the caller's limit plus one byte, so
 * a small message that inflates to gigabytes costs no more than that limit.
 *
 * Without context takeover each message is compressed from an empty window
 * and the stream is reset after it (and after an error): such an fh_z holds
 * nothing between calls, and one of them can serve every connection of a
 * thread in turn.
 */

#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

/* zlib's z_stream, declared as zlib.h declares it (Bytef = unsigned char,
 * uInt = unsigned int, uLong = unsigned long, voidpf = void *). */
typedef struct fh_zstream {
    const uint8_t *next_in;
    unsigned int avail_in;
    unsigned long total_in;
    uint8_t *next_out;
    unsigned int avail_out;
    unsigned long total_out;
    const char *msg;
    void *state;
    void *(*zalloc)(void *, unsigned int, unsigned int);
    void (*zfree)(void *, void *);
    void *opaque;
    int data_type;
    unsigned long adler;
    unsigned long reserved;
} fh_zstream;

/* zlib.h's values. */
#define FH_Z_NO_FLUSH 0
#define FH_Z_SYNC_FLUSH 2
#define FH_Z_OK 0
#define FH_Z_STREAM_END 1
#define FH_Z_BUF_ERROR (-5)
#define FH_Z_DEFLATED 8
#define FH_Z_DEFAULT_STRATEGY 0

/* The compression level: 1, zlib's fastest. Measured on zlib 1.2.13 (x86-64,
 * 15-bit window, reset per message): a 160 KB JSON message took 320 us at
 * level 1 to 14.0% of its size, 463 us at 3 (13.0%), 989 us at the default 6
 * (11.7%); 13 KB of C source 35, 42 and 87 us (36.5%, 34.3%, 31.8%); a 4 KB
 * JSON message 6.7, 6.6 and 13.2 us. A server pays for compression in CPU
 * per message; the bytes saved past level 1 are few. */
#ifndef FH_Z_LEVEL
#define FH_Z_LEVEL 1
#endif

/* The most given to zlib in one call (its counts are unsigned int). */
#define FH_Z_CHUNK ((size_t)1 << 30)

typedef int (*fh_z_deflate_init_fn)(fh_zstream *, int, int, int, int, int, const char *, int);
typedef int (*fh_z_inflate_init_fn)(fh_zstream *, int, const char *, int);
typedef int (*fh_z_step_fn)(fh_zstream *, int);
typedef int (*fh_z_stream_fn)(fh_zstream *);
typedef const char *(*fh_z_version_fn)(void);

/* The loaded library: fh_z_lib.state is 0 before fh_z_load, 1 loaded, -1 missing. */
static struct {
    int state;
    void *handle;
    const char *version;
    fh_z_deflate_init_fn deflate_init;
    fh_z_step_fn deflate;
    fh_z_stream_fn deflate_reset, deflate_end;
    fh_z_inflate_init_fn inflate_init;
    fh_z_step_fn inflate;
    fh_z_stream_fn inflate_reset, inflate_end;
    char error[320];
} fh_z_lib;

struct fh_z {
    fh_zstream s;
    uint8_t inflater; /* 1: a decompressor, 0: a compressor */
    uint8_t takeover; /* 0: reset after each message */
};

/* The names tried, in order: Linux's soname, the development link, macOS's.
 * A build may define FH_Z_NAMES as its own list (a zlib elsewhere: a path). */
#ifndef FH_Z_NAMES
#define FH_Z_NAMES "libz.so.1", "libz.so", "libz.1.dylib", "libz.dylib"
#endif
static const char *const fh_z_names[] = {FH_Z_NAMES};

/* Looks one symbol up into *fn (a function pointer of any type, sized like
 * void *: POSIX's guarantee for dlsym; memcpy avoids the object-to-function
 * pointer cast ISO C leaves undefined). Returns 0, or -1 when it is missing. */
static int fh_z_sym(void *handle, const char *name, void *fn, size_t size) {
    void *p = dlsym(handle, name);
    if (p == NULL || size != sizeof p) return -1;
    memcpy(fn, &p, sizeof p);
    return 0;
}

static int fh_z_load(void) {
    size_t i;
    void *h = NULL;
    if (fh_z_lib.state != 0) return fh_z_lib.state > 0 ? 0 : -1;
    for (i = 0; i < sizeof fh_z_names / sizeof fh_z_names[0] && h == NULL; i++) h = dlopen(fh_z_names[i], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        size_t at = 0;
        int k = snprintf(fh_z_lib.error, sizeof fh_z_lib.error,
                         "fasthttp: permessage-deflate needs the system zlib (libz.so.1); tried");
        for (i = 0; k > 0 && i < sizeof fh_z_names / sizeof fh_z_names[0]; i++) {
            at += (size_t)k;
            if (at >= sizeof fh_z_lib.error) break;
            k = snprintf(fh_z_lib.error + at, sizeof fh_z_lib.error - at, "%s %s", i > 0 ? "," : "", fh_z_names[i]);
        }
        if (k > 0 && at + (size_t)k < sizeof fh_z_lib.error) {
            at += (size_t)k;
            snprintf(fh_z_lib.error + at, sizeof fh_z_lib.error - at,
                     " (install zlib, e.g. apt-get install zlib1g, or leave perMessageDeflate off)");
        }
        fh_z_lib.state = -1;
        return -1;
    }
    {
        fh_z_version_fn version = NULL;
        if (fh_z_sym(h, "zlibVersion", &version, sizeof version) != 0 ||
            fh_z_sym(h, "deflateInit2_", &fh_z_lib.deflate_init, sizeof fh_z_lib.deflate_init) != 0 ||
            fh_z_sym(h, "deflate", &fh_z_lib.deflate, sizeof fh_z_lib.deflate) != 0 ||
            fh_z_sym(h, "deflateReset", &fh_z_lib.deflate_reset, sizeof fh_z_lib.deflate_reset) != 0 ||
            fh_z_sym(h, "deflateEnd", &fh_z_lib.deflate_end, sizeof fh_z_lib.deflate_end) != 0 ||
            fh_z_sym(h, "inflateInit2_", &fh_z_lib.inflate_init, sizeof fh_z_lib.inflate_init) != 0 ||
            fh_z_sym(h, "inflate", &fh_z_lib.inflate, sizeof fh_z_lib.inflate) != 0 ||
            fh_z_sym(h, "inflateReset", &fh_z_lib.inflate_reset, sizeof fh_z_lib.inflate_reset) != 0 ||
            fh_z_sym(h, "inflateEnd", &fh_z_lib.inflate_end, sizeof fh_z_lib.inflate_end) != 0) {
            snprintf(fh_z_lib.error, sizeof fh_z_lib.error,
                     "fasthttp: permessage-deflate needs the system zlib; the libz found lacks deflateInit2_, "
                     "inflateInit2_ or another of the functions used");
            dlclose(h);
            fh_z_lib.state = -1;
            return -1;
        }
        fh_z_lib.version = version();
    }
    fh_z_lib.handle = h;
    fh_z_lib.state = 1;
    return 0;
}

static const char *fh_z_error(void) {
    if (fh_z_lib.state >= 0) return fh_z_lib.state > 0 ? "" : "fasthttp: zlib is not loaded yet (fh_z_load)";
    return fh_z_lib.error;
}

/* zlib's memLevel for a compressor's window: 8 (zlib's default) at 15 bits,
 * one less per bit below, so the hash table shrinks with the window and the
 * compressor costs what its size in Bun's table ("4KB" for 9 bits .. "256KB"
 * for 15) says: 2^(bits+2) + 2^(memLevel+9) bytes, plus zlib's state of
 * about 6 KB. */
static int fh_z_mem_level(int window_bits) { return window_bits - 7; }

static fh_z *fh_z_deflater(int window_bits, int takeover) {
    fh_z *z;
    if (fh_z_lib.state <= 0 || window_bits < 9 || window_bits > 15) return NULL;
    z = (fh_z *)calloc(1, sizeof *z);
    if (z == NULL) return NULL;
    /* Negative window bits: raw DEFLATE, no zlib header or checksum. */
    if (fh_z_lib.deflate_init(&z->s, FH_Z_LEVEL, FH_Z_DEFLATED, -window_bits, fh_z_mem_level(window_bits),
                              FH_Z_DEFAULT_STRATEGY, fh_z_lib.version, (int)sizeof z->s) != FH_Z_OK) {
        free(z);
        return NULL;
    }
    z->takeover = takeover != 0;
    return z;
}

static fh_z *fh_z_inflater(int window_bits, int takeover) {
    fh_z *z;
    if (fh_z_lib.state <= 0 || window_bits < 8 || window_bits > 15) return NULL;
    /* A peer promised an 8-bit window may still send a 9-bit one: zlib's
     * own raw deflate cannot make 8 and uses 9 (so do Node's zlib and others
     * built on it), and a 256-byte inflate window would refuse their
     * distances. A larger inflate window reads any smaller window's data. */
    if (window_bits < 9) window_bits = 9;
    z = (fh_z *)calloc(1, sizeof *z);
    if (z == NULL) return NULL;
    if (fh_z_lib.inflate_init(&z->s, -window_bits, fh_z_lib.version, (int)sizeof z->s) != FH_Z_OK) {
        free(z);
        return NULL;
    }
    z->inflater = 1;
    z->takeover = takeover != 0;
    return z;
}

static void fh_z_free(fh_z *z) {
    if (z == NULL) return;
    if (z->inflater) fh_z_lib.inflate_end(&z->s);
    else fh_z_lib.deflate_end(&z->s);
    free(z);
}

/* Grows *out to at least `need` bytes (doubling, at most `limit`). Returns 0, or -1. */
static int fh_z_grow(uint8_t **out, size_t *cap, size_t need, size_t limit) {
    size_t n = *cap < 256 ? 256 : *cap;
    uint8_t *p;
    if (need > limit) return -1;
    while (n < need) n = n > limit / 2 ? limit : n * 2;
    if (n > limit) n = limit;
    if (*out != NULL && n <= *cap) return 0;
    p = (uint8_t *)realloc(*out, n);
    if (p == NULL) return -1;
    *out = p;
    *cap = n;
    return 0;
}

/* The most bytes an output buffer may hold (its sizes must fit int64_t). */
#define FH_Z_MAX_OUT ((size_t)INT64_MAX < SIZE_MAX ? (size_t)INT64_MAX : SIZE_MAX)

static int64_t fh_z_compress(fh_z *z, const uint8_t *in, size_t n, uint8_t **out, size_t *cap) {
    size_t len = 0, left = n;
    int rc;
    if (z == NULL || z->inflater || out == NULL || cap == NULL || (in == NULL && n > 0)) return -1;
    if (n == 0) {
        /* §7.2.3.6: an empty message is one empty stored block, 00 00 00 ff
         * ff, less its last four bytes. Made here, not by zlib: a sync flush
         * with no new input after another one gives nothing (Z_BUF_ERROR),
         * and the byte leaves the stream's window as it was. */
        if (fh_z_grow(out, cap, 1, FH_Z_MAX_OUT) != 0) return -1;
        (*out)[0] = 0x00;
        return 1;
    }
    /* Room for data that does not compress: stored blocks add 5 bytes per
     * 16 KB or more, and the flush 5; growth below covers the rest. */
    if (fh_z_grow(out, cap, n > FH_Z_MAX_OUT - 64 - n / 256 ? FH_Z_MAX_OUT : n + n / 256 + 64, FH_Z_MAX_OUT) != 0) return -1;
    for (;;) {
        size_t ai = left < FH_Z_CHUNK ? left : FH_Z_CHUNK;
        size_t room, ao;
        int flush = ai == left ? FH_Z_SYNC_FLUSH : FH_Z_NO_FLUSH;
        /* More than 6 bytes of room, or zlib may end a flush with the output
         * full and then repeat the flush marker (zlib.h, deflate()). */
        if (*cap - len < 16 && fh_z_grow(out, cap, len + 16, FH_Z_MAX_OUT) != 0) goto fail;
        room = *cap - len;
        ao = room < FH_Z_CHUNK ? room : FH_Z_CHUNK;
        z->s.next_in = in + (n - left);
        z->s.avail_in = (unsigned int)ai;
        z->s.next_out = *out + len;
        z->s.avail_out = (unsigned int)ao;
        rc = fh_z_lib.deflate(&z->s, flush);
        left -= ai - z->s.avail_in;
        len += ao - z->s.avail_out;
        if (rc != FH_Z_OK && rc != FH_Z_BUF_ERROR) goto fail;
        if (rc == FH_Z_BUF_ERROR && z->s.avail_in == ai && z->s.avail_out == ao) goto fail; /* no progress */
        /* The flush is complete when deflate returns with output room to spare. */
        if (flush == FH_Z_SYNC_FLUSH && left == 0 && z->s.avail_out > 0) break;
    }
    /* A sync flush ends with an empty stored block, whose last four bytes
     * the peer puts back (§7.2.1). */
    if (len < 5 || memcmp(*out + len - 4, "\x00\x00\xff\xff", 4) != 0) goto fail;
    len -= 4;
    if (!z->takeover) fh_z_lib.deflate_reset(&z->s);
    z->s.next_in = NULL;
    z->s.next_out = NULL;
    return (int64_t)len;
fail:
    fh_z_lib.deflate_reset(&z->s);
    z->s.next_in = NULL;
    z->s.next_out = NULL;
    return -1;
}

static int64_t fh_z_decompress(fh_z *z, const uint8_t *in, size_t n, uint8_t **out, size_t *cap, uint64_t max) {
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    size_t len = 0, left = n, tail_left = sizeof tail, guess;
    /* The buffer holds up to max + 1 bytes: one byte past max says "too big". */
    size_t limit = max >= (uint64_t)FH_Z_MAX_OUT ? FH_Z_MAX_OUT : (size_t)max + 1;
    int64_t result = -FH_WS_CLOSE_INVALID_DATA;
    int rc;
    if (z == NULL || !z->inflater || out == NULL || cap == NULL || (in == NULL && n > 0)) return -FH_WS_CLOSE_INVALID_DATA;
    /* An empty payload is an empty message. §7.2.1 makes it 00, but some
     * peers send nothing (Bun and ws read both as empty); the tail alone
     * would open a stored block that the next message would continue. */
    if (n == 0) return 0;
    /* A first guess of the size (messages usually inflate 2-10x): growth is
     * by doubling, and never past the limit. */
    guess = n < limit / 4 ? n * 4 : limit;
    if (fh_z_grow(out, cap, guess < 256 && limit > 256 ? 256 : guess, limit) != 0) {
        result = -FH_WS_CLOSE_TOO_BIG; /* out of memory below the limit: the message cannot be held */
        goto done;
    }
    for (;;) {
        const uint8_t *src = left > 0 ? in + (n - left) : tail + (sizeof tail - tail_left);
        size_t avail = left > 0 ? left : tail_left;
        size_t ai = avail < FH_Z_CHUNK ? avail : FH_Z_CHUNK;
        size_t room, ao;
        if (len == *cap) {
            if (*cap >= limit) {
                result = -FH_WS_CLOSE_TOO_BIG;
                goto done;
            }
            if (fh_z_grow(out, cap, len + 1, limit) != 0) {
                result = -FH_WS_CLOSE_TOO_BIG; /* out of memory below the limit: the message cannot be held */
                goto done;
            }
        }
        room = *cap - len;
        ao = room < FH_Z_CHUNK ? room : FH_Z_CHUNK;
        z->s.next_in = src;
        z->s.avail_in = (unsigned int)ai;
        z->s.next_out = *out + len;
        z->s.avail_out = (unsigned int)ao;
        rc = fh_z_lib.inflate(&z->s, FH_Z_SYNC_FLUSH);
        if (left > 0) left -= ai - z->s.avail_in;
        else tail_left -= ai - z->s.avail_in;
        len += ao - z->s.avail_out;
        /* zlib moves when it has input and room; if it did not, the data is wrong. */
        if (rc == FH_Z_BUF_ERROR && z->s.avail_in == ai && z->s.avail_out == ao && ai > 0) goto done;
        if ((uint64_t)len > max) {
            result = -FH_WS_CLOSE_TOO_BIG;
            goto done;
        }
        if (rc == FH_Z_STREAM_END) {
            /* A block with BFINAL set ended the peer's stream: legal in a
             * message (§7.2.3.4; some deflaters flush so). The message ends
             * there if the peer sent nothing more (what is left is the tail
             * appended here); what it did send next is a new stream, read
             * from an empty window, as browsers read it. */
            if (fh_z_lib.inflate_reset(&z->s) != FH_Z_OK) goto done;
            if (left == 0) break;
            continue;
        }
        if (rc != FH_Z_OK && rc != FH_Z_BUF_ERROR) goto done; /* Z_DATA_ERROR, Z_NEED_DICT, Z_MEM_ERROR... */
        if (left == 0 && tail_left == 0 && z->s.avail_out > 0) {
            /* All input read, all output given. The tail must have closed
             * an empty stored block: zlib's data_type has 128 when it
             * stopped between blocks. Otherwise the message was cut inside
             * a block, and with takeover the next one would be read as its
             * rest. */
            if ((z->s.data_type & 128) == 0) goto done;
            break;
        }
    }
    result = (int64_t)len;
done:
    /* After an error the stream is reset too: the caller closes the
     * connection, and a shared decompressor stays usable for the others. */
    if (!z->takeover || result < 0) fh_z_lib.inflate_reset(&z->s);
    z->s.next_in = NULL;
    z->s.next_out = NULL;
    return result;
}
