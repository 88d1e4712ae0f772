/*
 * ws_read.c - the reader of a connection's incoming WebSocket frames
 * (RFC 6455 §5), and the two small helpers the writer side needs
 * (fh_ws_header, fh_ws_close_code_ok). See ws.h for the contract; ws.h and
 * utf8.c must be included before this file.
 *
 * A state machine fed bytes in chunks of any size, one byte included:
 *   phase 0  the header's 2 to 14 bytes are gathered into r->hdr, checked
 *            byte by byte as they come (a bad first byte fails before the
 *            second is read), and decoded once the last one is in;
 *   phase 1  the payload is unmasked in place (the mask index r->mi carries
 *            across feeds) and appended to r->msg (data) or r->ctl
 *            (control) as it arrives, an uncompressed text message's bytes
 *            run through the UTF-8 validator on the way.
 * A frame is never needed whole in memory: the caller's buffer is only read
 * once. Every check that can be made from the header (length limits, the
 * fragmentation rules) is made there, before any payload is read, so a peer
 * cannot make the reader allocate for a message it is going to refuse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "word.h"

/* The smallest allocation for a message's buffer: a message of a few bytes
 * then costs one malloc, not a run of doublings. */
#define FH_WSR_MIN_CAP 1024

static int fh_ws_close_code_ok(int code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

static size_t fh_ws_header(uint8_t *out, int op, int rsv1, uint64_t len) {
    int k;
    out[0] = (uint8_t)(0x80 | (rsv1 ? 0x40 : 0) | (op & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (k = 0; k < 8; k++) out[2 + k] = (uint8_t)(len >> (56 - 8 * k));
    return 10;
}

static void fh_wsr_free(fh_wsr *r) {
    free(r->msg);
    r->msg = NULL;
    r->msg_len = r->msg_cap = 0;
}

static void fh_wsr_next(fh_wsr *r) {
    if (r->got == FH_WSR_MESSAGE) {
        r->msg_len = 0;
        r->in_msg = 0;
        r->utf8 = FH_UTF8_ACCEPT;
        r->msg_op = 0;
        r->msg_rsv1 = 0;
    }
    if (r->got != FH_WSR_ERROR) r->got = FH_WSR_NONE;
    r->ctl_len = 0;
}

/* Stops the reader: r->got ERROR with `code`, for good. */
static void fh_wsr_fail(fh_wsr *r, int code) {
    r->got = FH_WSR_ERROR;
    r->error = code;
}

/* The header's length once its second byte is known. */
static uint8_t fh_wsr_hdr_size(uint8_t b1) {
    uint8_t len7 = b1 & 0x7f;
    return (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0));
}

/* Makes room for `need` bytes of message (need <= max_payload, checked at
 * the header). Doubling, so a message read in small pieces costs a few
 * reallocs; never more than max_payload (the largest message allowed),
 * unless that is below FH_WSR_MIN_CAP. Returns 0, or -1 out of memory. */
static int fh_wsr_reserve(fh_wsr *r, size_t need) {
    size_t cap;
    uint8_t *m;
    if (r->msg != NULL && need <= r->msg_cap) return 0;
    cap = r->msg_cap < FH_WSR_MIN_CAP ? FH_WSR_MIN_CAP : r->msg_cap;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if ((uint64_t)cap > r->max_payload && (uint64_t)need <= r->max_payload && r->max_payload >= FH_WSR_MIN_CAP)
        cap = (size_t)r->max_payload;
    m = (uint8_t *)realloc(r->msg, cap);
    if (m == NULL) return -1;
    r->msg = m;
    r->msg_cap = cap;
    return 0;
}

/* Checks the first header byte (FIN, RSV, opcode) against the rules that
 * need nothing more. Returns 0, or fails the reader. */
static int fh_wsr_byte0(fh_wsr *r, uint8_t b) {
    r->fin = b >> 7;
    r->rsv1 = (b >> 6) & 1;
    r->op = b & 0x0f;
    if (b & 0x30) goto bad; /* RSV2, RSV3: no extension of ours defines them */
    switch (r->op) {
    case FH_WS_OP_CONT:
        /* RSV1 marks a whole message as compressed, on its first frame only (RFC 7692 §6.1). */
        if (r->rsv1 || !r->in_msg) goto bad;
        return 0;
    case FH_WS_OP_TEXT:
    case FH_WS_OP_BINARY:
        if (r->in_msg || (r->rsv1 && !r->rsv1_ok)) goto bad;
        return 0;
    case FH_WS_OP_CLOSE:
    case FH_WS_OP_PING:
    case FH_WS_OP_PONG:
        /* Control frames are never fragmented nor compressed (§5.5, RFC 7692 §6.1). */
        if (!r->fin || r->rsv1) goto bad;
        return 0;
    default: /* 3-7, B-F: reserved */
        goto bad;
    }
bad:
    fh_wsr_fail(r, FH_WS_CLOSE_PROTOCOL);
    return -1;
}

/* Checks the second byte (MASK, the 7-bit length). */
static int fh_wsr_byte1(fh_wsr *r, uint8_t b) {
    r->masked = b >> 7;
    if (r->need_mask && !r->masked) goto bad;
    if ((r->op & 0x08) && (b & 0x7f) > 125) goto bad; /* 126 and 127 too: a control payload is <= 125 */
    if (r->op == FH_WS_OP_CLOSE && (b & 0x7f) == 1) goto bad; /* a close body is empty or a code (§5.5.1) */
    return 0;
bad:
    fh_wsr_fail(r, FH_WS_CLOSE_PROTOCOL);
    return -1;
}

/* The whole header is in: decodes the length and mask and starts the
 * payload. Returns 0, or fails the reader. */
static int fh_wsr_header_done(fh_wsr *r) {
    uint8_t len7 = r->hdr[1] & 0x7f;
    uint64_t len = len7;
    uint8_t at = 2;
    int k;
    if (len7 == 126) {
        len = ((uint64_t)r->hdr[2] << 8) | r->hdr[3];
        at = 4;
    } else if (len7 == 127) {
        len = 0;
        for (k = 0; k < 8; k++) len = (len << 8) | r->hdr[2 + k];
        at = 10; /* its top bit was checked as it came; non-minimal lengths
                    are accepted: refusing them would protect nothing */
    }
    if (r->masked) memcpy(r->mask, r->hdr + at, 4);
    else memset(r->mask, 0, 4);
    r->mi = 0;
    r->left = len;
    if (!(r->op & 0x08)) {
        /* The message so far (its earlier frames, all read: msg_len) plus
         * this frame, decided before a byte of it is read. */
        size_t before = r->op == FH_WS_OP_CONT ? r->msg_len : 0;
        if ((uint64_t)before > r->max_payload || len > r->max_payload - (uint64_t)before ||
            len > (uint64_t)(SIZE_MAX - before)) {
            fh_wsr_fail(r, FH_WS_CLOSE_TOO_BIG);
            return -1;
        }
        if (r->op != FH_WS_OP_CONT) {
            r->msg_op = r->op;
            r->msg_rsv1 = r->rsv1;
            r->msg_len = 0;
            r->utf8 = FH_UTF8_ACCEPT;
        }
        if (!r->fin) r->in_msg = 1;
        /* A buffer exists once a message is open, so that msg is never NULL
         * at MESSAGE, even for an empty one. */
        if (fh_wsr_reserve(r, r->msg_len) != 0) {
            fh_wsr_fail(r, FH_WS_CLOSE_TOO_BIG);
            return -1;
        }
    }
    r->ctl_len = 0;
    r->phase = 1;
    return 0;
}

/* The frame's payload is all in: says what it completed, if anything. */
static void fh_wsr_frame_done(fh_wsr *r) {
    r->phase = 0;
    r->hlen = 0;
    switch (r->op) {
    case FH_WS_OP_CONT:
    case FH_WS_OP_TEXT:
    case FH_WS_OP_BINARY:
        if (!r->fin) return; /* more fragments to come */
        /* A text message that ends inside a code point is invalid (§8.1). */
        if (r->msg_op == FH_WS_OP_TEXT && !r->msg_rsv1 && r->utf8 != FH_UTF8_ACCEPT) {
            fh_wsr_fail(r, FH_WS_CLOSE_INVALID_DATA);
            return;
        }
        r->got = FH_WSR_MESSAGE;
        return;
    case FH_WS_OP_PING:
        r->got = FH_WSR_PING;
        return;
    case FH_WS_OP_PONG:
        r->got = FH_WSR_PONG;
        return;
    default: { /* CLOSE: an empty body, or a code and a UTF-8 reason (§5.5.1) */
        uint32_t u = FH_UTF8_ACCEPT;
        if (r->ctl_len == 0) {
            r->close_code = FH_WS_CLOSE_NO_STATUS;
            r->got = FH_WSR_CLOSE;
            return;
        }
        r->close_code = (r->ctl[0] << 8) | r->ctl[1]; /* ctl_len >= 2: a 1-byte body failed at the header */
        if (!fh_ws_close_code_ok(r->close_code)) {
            fh_wsr_fail(r, FH_WS_CLOSE_PROTOCOL);
            return;
        }
        if (fh_utf8_step(&u, r->ctl + 2, (size_t)r->ctl_len - 2) != 0 || u != FH_UTF8_ACCEPT) {
            fh_wsr_fail(r, FH_WS_CLOSE_INVALID_DATA);
            return;
        }
        r->got = FH_WSR_CLOSE;
        return;
    }
    }
}

/* XORs p[0, n) with the mask, starting at mask index r->mi. */
static void fh_wsr_unmask(fh_wsr *r, uint8_t *p, size_t n) {
    size_t i = 0;
    unsigned mi = r->mi;
    if (r->masked && n > 0) {
        if (n >= 8) {
            /* The mask rotated to start at mi, twice: eight bytes, and eight
             * is a multiple of four, so mi is the same after each word. */
            uint8_t m8[8];
            uint64_t m;
            int k;
            for (k = 0; k < 8; k++) m8[k] = r->mask[(mi + (unsigned)k) & 3];
            memcpy(&m, m8, 8);
            for (; n - i >= 32; i += 32) { /* unrolled: TinyCC does not */
                FH_STORE64(p + i, FH_LOAD64(p + i) ^ m);
                FH_STORE64(p + i + 8, FH_LOAD64(p + i + 8) ^ m);
                FH_STORE64(p + i + 16, FH_LOAD64(p + i + 16) ^ m);
                FH_STORE64(p + i + 24, FH_LOAD64(p + i + 24) ^ m);
            }
            for (; n - i >= 8; i += 8) FH_STORE64(p + i, FH_LOAD64(p + i) ^ m);
        }
        for (; i < n; i++) p[i] ^= r->mask[(mi + (unsigned)i) & 3];
        r->mi = (uint8_t)((mi + n) & 3);
    }
}

static size_t fh_wsr_feed(fh_wsr *r, uint8_t *p, size_t n) {
    size_t i = 0;
    if (r->got == FH_WSR_ERROR) return 0;
    if (r->got != FH_WSR_NONE) fh_wsr_next(r); /* the caller skipped it: what it had is done with */
    while (i < n) {
        if (r->phase == 0 && r->hlen == 0 && n - i >= 6 && (p[i + 1] & 0x80) && (p[i + 1] & 0x7f) < 126) {
            /* A whole short masked header at hand (what clients send most):
             * taken at once, with the same checks as byte by byte below. */
            r->hdr[0] = p[i];
            r->hlen = 1;
            if (fh_wsr_byte0(r, p[i]) != 0) return i + 1;
            r->hdr[1] = p[i + 1];
            r->hlen = 2;
            if (fh_wsr_byte1(r, p[i + 1]) != 0) return i + 2;
            memcpy(r->hdr + 2, p + i + 2, 4);
            r->hlen = 6;
            i += 6;
            if (fh_wsr_header_done(r) != 0) return i;
            if (r->left == 0) {
                fh_wsr_frame_done(r);
                if (r->got != FH_WSR_NONE) return i;
            }
            continue;
        }
        if (r->phase == 0) {
            uint8_t b = p[i++];
            r->hdr[r->hlen++] = b;
            if (r->hlen == 1) {
                if (fh_wsr_byte0(r, b) != 0) return i;
                continue;
            }
            if (r->hlen == 2 && fh_wsr_byte1(r, b) != 0) return i;
            /* A 64-bit length's most significant bit MUST be 0 (§5.2). */
            if (r->hlen == 3 && (r->hdr[1] & 0x7f) == 127 && (b & 0x80)) {
                fh_wsr_fail(r, FH_WS_CLOSE_PROTOCOL);
                return i;
            }
            if (r->hlen < fh_wsr_hdr_size(r->hdr[1])) continue;
            if (fh_wsr_header_done(r) != 0) return i;
            if (r->left == 0) {
                fh_wsr_frame_done(r);
                if (r->got != FH_WSR_NONE) return i;
            }
            continue;
        }
        {
            /* Payload: as much of this frame as p holds. */
            size_t k = n - i;
            if ((uint64_t)k > r->left) k = (size_t)r->left;
            fh_wsr_unmask(r, p + i, k);
            if (r->op & 0x08) {
                memcpy(r->ctl + r->ctl_len, p + i, k); /* k <= left <= 125 - ctl_len */
                r->ctl_len = (uint8_t)(r->ctl_len + k);
            } else {
                if (r->msg_op == FH_WS_OP_TEXT && !r->msg_rsv1) {
                    size_t ok = fh_utf8_run(&r->utf8, p + i, k);
                    if (ok < k) {
                        /* Fail at the bad byte, whatever follows it. */
                        fh_wsr_fail(r, FH_WS_CLOSE_INVALID_DATA);
                        return i + ok + 1;
                    }
                }
                if (fh_wsr_reserve(r, r->msg_len + k) != 0) {
                    fh_wsr_fail(r, FH_WS_CLOSE_TOO_BIG);
                    return i;
                }
                memcpy(r->msg + r->msg_len, p + i, k);
                r->msg_len += k;
            }
            i += k;
            r->left -= k;
            if (r->left == 0) {
                fh_wsr_frame_done(r);
                if (r->got != FH_WSR_NONE) return i;
            }
        }
    }
    return i;
}
