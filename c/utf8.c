/*
 * utf8.c - an incremental UTF-8 validator (see ws.h): a text message is
 * checked as its bytes arrive, across frames and fragments, and fails at the
 * first byte that cannot belong to valid UTF-8 (RFC 3629), which is what
 * RFC 6455 §8.1 asks of an endpoint ("fail fast").
 *
 * A finite automaton: each byte falls into one of 12 classes (fh_utf8_class),
 * and a state plus a class gives the next state (fh_utf8_next). The states
 * are "between code points" (FH_UTF8_ACCEPT), "rejected" (FH_UTF8_REJECT,
 * sticky), and seven "inside a code point" states that say how many
 * continuation bytes are still due and, right after E0, ED, F0 and F4, which
 * narrower range the next one must fall in. Those narrow ranges are what
 * rejects overlong forms (E0 80-9F, F0 80-8F), surrogates (ED A0-BF) and code
 * points above U+10FFFF (F4 90-BF); C0, C1 and F5-FF can never appear.
 *
 * Most text is ASCII, so between code points runs of ASCII are skipped eight
 * bytes at a time.
 */
#include <stdint.h>

#include "word.h"

/* Byte classes. */
#define FH_U8C_ASCII 0 /* 00-7F */
#define FH_U8C_C80 1   /* 80-8F: continuation */
#define FH_U8C_C90 2   /* 90-9F: continuation */
#define FH_U8C_CA0 3   /* A0-BF: continuation */
#define FH_U8C_BAD 4   /* C0 C1 F5-FF: never valid */
#define FH_U8C_L2 5    /* C2-DF: lead of 2 */
#define FH_U8C_E0 6    /* E0: lead of 3, second byte A0-BF */
#define FH_U8C_L3 7    /* E1-EC EE EF: lead of 3 */
#define FH_U8C_ED 8    /* ED: lead of 3, second byte 80-9F */
#define FH_U8C_F0 9    /* F0: lead of 4, second byte 90-BF */
#define FH_U8C_L4 10   /* F1-F3: lead of 4 */
#define FH_U8C_F4 11   /* F4: lead of 4, second byte 80-8F */

static const uint8_t fh_utf8_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 20 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 50 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 90 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* A0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* B0 */
    4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* C0 */
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* D0 */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7, /* E0 */
    9, 10, 10, 10, 11, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* F0 */
};

/* States: ACCEPT (0) and REJECT (1) are ws.h's; the rest are inside a code point. */
#define FH_U8S_NEED1 2 /* one continuation byte (80-BF) due */
#define FH_U8S_NEED2 3 /* two due */
#define FH_U8S_E0 4    /* after E0: A0-BF, then one more */
#define FH_U8S_ED 5    /* after ED: 80-9F, then one more */
#define FH_U8S_NEED3 6 /* three due */
#define FH_U8S_F0 7    /* after F0: 90-BF, then two more */
#define FH_U8S_F4 8    /* after F4: 80-8F, then two more */

/* fh_utf8_next[state][class]: the state after a byte of that class. */
static const uint8_t fh_utf8_next[9][12] = {
    /*            ASCII C80 C90 CA0 BAD L2 E0 L3 ED F0 L4 F4 */
    /* ACCEPT */ {0, 1, 1, 1, 1, 2, 4, 3, 5, 7, 6, 8},
    /* REJECT */ {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    /* NEED1  */ {1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
    /* NEED2  */ {1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1},
    /* E0     */ {1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1},
    /* ED     */ {1, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    /* NEED3  */ {1, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    /* F0     */ {1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    /* F4     */ {1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
};

/* Advances *state over p[0, n). Returns n when every byte fits, else the
 * index of the first byte that does not (*state is then REJECT). The reader
 * (ws_read.c) uses the index to stop at that byte. */
static size_t fh_utf8_run(uint32_t *state, const uint8_t *p, size_t n) {
    uint32_t s = *state;
    size_t i = 0;
    if (s == FH_UTF8_REJECT) return 0;
    while (i < n) {
        if (s == FH_UTF8_ACCEPT) {
            /* Between code points: skip ASCII, a word, then a byte, at a time. */
            while (n - i >= 8 && (FH_LOAD64(p + i) & 0x8080808080808080ULL) == 0) i += 8;
            while (i < n && p[i] < 0x80) i++;
            if (i == n) break;
        }
        s = fh_utf8_next[s][fh_utf8_class[p[i]]];
        if (s == FH_UTF8_REJECT) {
            *state = s;
            return i;
        }
        i++;
    }
    *state = s;
    return n;
}

static int fh_utf8_step(uint32_t *state, const uint8_t *p, size_t n) {
    if (*state == FH_UTF8_REJECT) return -1;
    return fh_utf8_run(state, p, n) == n ? 0 : -1;
}
