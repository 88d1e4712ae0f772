/*
 * ws.h - WebSocket frames (RFC 6455) and permessage-deflate (RFC 7692): the
 * pure parts, with no I/O, so that they can be unit-tested and fuzzed alone.
 *
 *   utf8.c     an incremental UTF-8 validator (state kept across calls, so
 *              across frames and fragments; fails at the first bad byte)
 *   ws_read.c  the reader of a connection's incoming frames: a state
 *              machine fed bytes as they arrive, in chunks of any size
 *   deflate.c  permessage-deflate over the system zlib, loaded with dlopen
 *
 * ws.c (the connection in state FH_WEBSOCKET) feeds the reader what it
 * reads and acts on what the reader stopped at.
 */
#ifndef FH_WS_H
#define FH_WS_H

#include <stddef.h>
#include <stdint.h>

/* Opcodes (RFC 6455 §5.2). */
#define FH_WS_OP_CONT 0x0
#define FH_WS_OP_TEXT 0x1
#define FH_WS_OP_BINARY 0x2
#define FH_WS_OP_CLOSE 0x8
#define FH_WS_OP_PING 0x9
#define FH_WS_OP_PONG 0xA

/* Close codes the reader fails with (RFC 6455 §7.4.1). */
#define FH_WS_CLOSE_NORMAL 1000
#define FH_WS_CLOSE_PROTOCOL 1002
#define FH_WS_CLOSE_NO_STATUS 1005 /* never sent: a close frame without a body */
#define FH_WS_CLOSE_ABNORMAL 1006  /* never sent: the connection ended without a close frame */
#define FH_WS_CLOSE_INVALID_DATA 1007
#define FH_WS_CLOSE_TOO_BIG 1009

/* ---- utf8.c ------------------------------------------------------------- */

#define FH_UTF8_ACCEPT 0 /* the state between whole code points */
#define FH_UTF8_REJECT 1 /* sticky: once rejected, always rejected */

/* Advances the validator over p[0, n). Returns 0 while the bytes so far are a
 * valid prefix of UTF-8 (*state may be mid code point), -1 at the first
 * invalid byte (overlong forms, surrogates U+D800..DFFF, > U+10FFFF, stray
 * continuation bytes, truncated sequences followed by a non-continuation
 * byte). A message is valid when every step returned 0 and the final state
 * is FH_UTF8_ACCEPT. */
static int fh_utf8_step(uint32_t *state, const uint8_t *p, size_t n);

/* ---- ws_read.c ---------------------------------------------------------- */

/* What fh_wsr_feed stopped at (r->got). */
#define FH_WSR_NONE 0    /* every byte given was consumed: more are needed */
#define FH_WSR_MESSAGE 1 /* a data message is complete: r->msg[0, msg_len), r->msg_op TEXT or BINARY,
                            r->msg_rsv1 1 when compressed (its UTF-8 is then not checked yet) */
#define FH_WSR_PING 2    /* a ping: its payload r->ctl[0, ctl_len) */
#define FH_WSR_PONG 3    /* a pong: likewise */
#define FH_WSR_CLOSE 4   /* a valid close frame: r->close_code (FH_WS_CLOSE_NO_STATUS for an empty body),
                            its reason r->ctl[2, ctl_len) (valid UTF-8) */
#define FH_WSR_ERROR 5   /* a protocol violation: r->error is the close code to fail with
                            (1002, 1007 or 1009); the reader reads nothing more */

/* The reader of one connection. Zero it, set the settings, then feed it. */
typedef struct fh_wsr {
    /* settings */
    uint64_t max_payload; /* a message longer than this (the sum of its fragments, as sent): 1009 */
    uint8_t rsv1_ok;      /* permessage-deflate was agreed: RSV1 on a message's first frame marks it
                             compressed (RSV1 elsewhere, RSV2 and RSV3 are always 1002) */
    uint8_t need_mask;    /* frames must be masked (a server reading a client: 1); unmasked is 1002 */
    /* the message being assembled (the reader owns msg: malloc'd, grown up to max_payload) */
    uint8_t *msg;
    size_t msg_len, msg_cap;
    uint8_t msg_op;   /* TEXT or BINARY while a message is open or complete */
    uint8_t msg_rsv1; /* the message is compressed */
    uint8_t in_msg;   /* a fragmented message is open (its first frame had FIN 0) */
    uint32_t utf8;    /* the validator over an uncompressed text message so far */
    /* the frame being read */
    uint8_t phase;    /* 0: header, 1: payload */
    uint8_t hdr[14];
    uint8_t hlen;     /* header bytes gathered */
    uint8_t op, fin, rsv1, masked;
    uint8_t mask[4];
    uint8_t mi;       /* the mask's index for the next payload byte (0..3) */
    uint64_t left;    /* payload bytes of this frame still to come */
    uint8_t ctl[125]; /* a control frame's payload */
    uint8_t ctl_len;
    /* what feed stopped at */
    int got;          /* FH_WSR_* */
    int error;        /* FH_WSR_ERROR: the close code */
    int close_code;   /* FH_WSR_CLOSE */
} fh_wsr;

/*
 * Feeds bytes p[0, n) (unmasked in place as payload is read) and returns how
 * many were consumed. Stops right after a frame that completes something
 * (r->got is MESSAGE, PING, PONG or CLOSE: the caller acts on it, then calls
 * fh_wsr_next and feeds the rest), at a violation (r->got is ERROR, as soon
 * as the offending byte is seen: a header, or the first invalid UTF-8 byte
 * of an uncompressed text message, even mid-frame), or when all n are
 * consumed (r->got is NONE). Frames of any size are read in pieces: the
 * payload is copied into msg or ctl as it comes; no frame is ever needed
 * whole in p.
 */
static size_t fh_wsr_feed(fh_wsr *r, uint8_t *p, size_t n);

/* After MESSAGE, PING, PONG or CLOSE: readies the reader for what follows
 * (a message's buffer is kept for the next one; a fragmented message open
 * around a control frame stays open). */
static void fh_wsr_next(fh_wsr *r);

/* Frees what the reader holds. */
static void fh_wsr_free(fh_wsr *r);

/* Whether `code` may be sent in a close frame by a peer (RFC 6455 §7.4,
 * IANA registry): 1000-1003, 1007-1014, 3000-4999. */
static int fh_ws_close_code_ok(int code);

/* Writes a frame header for a server frame (never masked) with FIN, `rsv1`,
 * opcode `op` and payload length `len` into out (at least 10 bytes). Returns
 * its length (2, 4 or 10). */
static size_t fh_ws_header(uint8_t *out, int op, int rsv1, uint64_t len);

/* ---- deflate.c ---------------------------------------------------------- */

/* One direction of permessage-deflate: a raw deflate or inflate stream. */
typedef struct fh_z fh_z;

/* Loads the system zlib (dlopen of libz.so.1, then libz.so, libz.dylib).
 * Returns 0, or -1 when it is missing (fh_z_error() says what was tried). */
static int fh_z_load(void);
static const char *fh_z_error(void);

/* A compressor whose window is 2^window_bits (9..15; 8 is not offered:
 * zlib's raw deflate cannot make an 8-bit window) / a decompressor (8..15).
 * `takeover` 0: the context is reset after each message (no_context_takeover).
 * NULL when zlib is not loaded or out of memory. */
static fh_z *fh_z_deflater(int window_bits, int takeover);
static fh_z *fh_z_inflater(int window_bits, int takeover);
static void fh_z_free(fh_z *z);

/* Compresses one message in[0, n) into *out (malloc'd and grown; *cap its
 * size), as RFC 7692 §7.2.1: a sync flush, the final 00 00 ff ff removed,
 * never a BFINAL block. Returns the compressed length, or -1. */
static int64_t fh_z_compress(fh_z *z, const uint8_t *in, size_t n, uint8_t **out, size_t *cap);

/* Decompresses one message in[0, n) (the 00 00 ff ff tail appended, §7.2.2)
 * into *out (malloc'd and grown). Returns the length, -FH_WS_CLOSE_TOO_BIG
 * when it would pass `max` bytes (stops there: a zip bomb costs no more than
 * max), or -FH_WS_CLOSE_INVALID_DATA when the data is not valid deflate. */
static int64_t fh_z_decompress(fh_z *z, const uint8_t *in, size_t n, uint8_t **out, size_t *cap, uint64_t max);

#endif
