/*
 * word.h - eight bytes at a time: an unaligned 64-bit load and store, for the
 * loops that check or mask a word at once (the scanner's field values, the
 * UTF-8 validator's ASCII runs, WebSocket unmasking).
 *
 * TinyCC does not optimise, and a memcpy is a call there, so under TinyCC the
 * access is a plain dereference (x86 and arm64 allow it unaligned); other
 * compilers get a memcpy, which they turn into one load or store without the
 * undefined behaviour.
 */
#ifndef FH_WORD_H
#define FH_WORD_H

#include <stdint.h>
#include <string.h>

#if defined(__TINYC__)
#define FH_LOAD64(p) (*(const uint64_t *)(const void *)(p))
#define FH_STORE64(p, v) (*(uint64_t *)(void *)(p) = (v))
#else
static inline uint64_t fh_load64(const uint8_t *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}
static inline void fh_store64(uint8_t *p, uint64_t x) { memcpy(p, &x, 8); }
#define FH_LOAD64(p) fh_load64(p)
#define FH_STORE64(p, v) fh_store64(p, v)
#endif

#endif
