/*
 * scanner.h - the HTTP/1.1 request-head scanner (RFC 9112).
 *
 * The contract follows picohttpparser's: the caller owns the buffer, the
 * scanner allocates nothing and returns the head's length (> 0), FH_INCOMPLETE
 * when more bytes are needed, or FH_ERROR with the HTTP status to answer in
 * head->status. It is strict where RFC 9112 says MUST, so that a request this
 * server accepts can be framed only one way. Every read is bounded by `len`.
 */
#ifndef FH_SCANNER_H
#define FH_SCANNER_H

#include <stddef.h>
#include <stdint.h>

#define FH_INCOMPLETE (-2)
#define FH_ERROR (-1)

/* head->flags */
#define FH_REQ_KEEP_ALIVE 1    /* the connection may stay open after the response */
#define FH_REQ_HTTP10 2        /* HTTP/1.0 request */
#define FH_REQ_HEAD 4          /* HEAD method: the response carries no body */
#define FH_REQ_CHUNKED 8       /* Transfer-Encoding: chunked */
#define FH_REQ_EXPECT_CONTINUE 16 /* Expect: 100-continue */
#define FH_REQ_HAS_CL 32       /* a Content-Length header was present */
#define FH_REQ_BRACKETS 64     /* scanner-internal: "[" or "]" in the request-target */
#define FH_REQ_UPGRADE 128     /* Connection: upgrade, or CONNECT: what follows may not be HTTP */

typedef struct fh_head {
    /* Offsets are relative to the start of the buffer given to the scanner. */
    int32_t method_start, method_len;
    int32_t target_start, target_len; /* the request-target as sent */
    int32_t path_start, path_len;     /* what a router matches: the path and query */
    int32_t version_start;            /* always 8 bytes long */
    int32_t headers_start, headers_len; /* the header lines, without the blank line */
    int32_t head_len;                 /* through the blank line's CRLF */
    int32_t flags;
    int32_t status;                   /* with FH_ERROR: 400, 414, 431, 501, 505 */
    int64_t content_length;           /* -1 when absent */
} fh_head;

/* Fills the character-class table; call once before scanning. */
static void fh_scanner_init(void);

/* Scans buf[0, len). `max_head` bounds the head: a head not complete within it
 * is an error (414 while still in the request-target, 431 after). */
static int fh_scan_head(const uint8_t *buf, size_t len, size_t max_head, fh_head *head);

/* Frames a chunked body in buf[0, len): returns the bytes its framing takes
 * (chunks, last chunk, trailers), FH_INCOMPLETE, or FH_ERROR with the status
 * in *status (400; 413 once the decoded size passes max_body or when a chunk
 * line is longer than max_line; 431 when the trailer section in all is, both
 * bounded as fh_body_feed bounds them). *decoded receives the decoded length; with dst
 * non-NULL the data is copied there (dst may alias buf). */
static int64_t fh_scan_chunked(const uint8_t *buf, size_t len, int64_t max_body, size_t max_line, uint8_t *dst,
                               int64_t *decoded, int *status);

/* chunked.c: a body framed as it arrives (Content-Length or chunked),
 * decoded in place; see fh_body_feed. */
#define FH_BF_DATA 0     /* data: `left` bytes of it to come (of the body, or of the chunk) */
#define FH_BF_DATA_END 1 /* the CRLF after a chunk's data */
#define FH_BF_SIZE 2     /* a chunk line */
#define FH_BF_TRAILERS 3 /* the trailer section */
#define FH_BF_DONE 4     /* the body is complete */
typedef struct fh_body_frame {
    int64_t left;    /* FH_BF_DATA: bytes still to come */
    int64_t total;   /* decoded bytes so far */
    size_t trailers; /* trailer bytes so far */
    uint8_t chunked;
    uint8_t phase;   /* FH_BF_* */
} fh_body_frame;
static void fh_body_frame_init(fh_body_frame *f, int chunked, int64_t length);
static void fh_body_frame_passed(fh_body_frame *f, int64_t n);
static int fh_body_feed(fh_body_frame *f, uint8_t *buf, size_t len, size_t *dec, size_t *raw, int64_t max_body,
                        size_t max_line);

/* What a response head built by user code says about its connection
 * (FH_RESP_*). Scans at most `len` bytes and stops at the blank line. */
#define FH_RESP_HTTP10 1     /* the status line says HTTP/1.0 */
#define FH_RESP_CLOSE 2      /* a Connection header lists "close" */
#define FH_RESP_KEEP_ALIVE 4 /* a Connection header lists "keep-alive" */
#define FH_RESP_FRAMED 8     /* Content-Length, or Transfer-Encoding ending in chunked: the body has its own end */
#define FH_RESP_NO_BODY 16   /* a status that never has a body: 1xx, 204, 304 */
static int fh_scan_response(const uint8_t *buf, size_t len);

#endif
