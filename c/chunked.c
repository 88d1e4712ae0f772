/*
 * chunked.c - request bodies as they are framed (RFC 9112 §6, §7.1): the
 * chunked coding whole (fh_scan_chunked, for a body that has arrived) and
 * incrementally (fh_body_feed, for one that streams), over one grammar for
 * the chunk line (fh_scan_chunk_line) and the scanner's field-line check for
 * trailers, and one bound (max_line) on a chunk line (413 past it) and on the
 * trailer section (431 past it), so the two can never accept different
 * bodies nor answer one with different statuses.
 *
 * Same discipline as scanner.c: every access is checked against `len`;
 * running out of bytes is FH_INCOMPLETE, a byte that cannot continue a valid
 * body is an error at once.
 */

/* Scans one chunk line at buf[*pos]: chunk-size [ chunk-ext ] CRLF. Returns 1
 * with *size and *pos past the CRLF, FH_INCOMPLETE, or FH_ERROR. */
static int fh_scan_chunk_line(const uint8_t *buf, size_t len, size_t *pos, int64_t *size) {
    size_t i = *pos, digits = 0;
    int64_t n = 0;
    while (i < len && (fh_cls[buf[i]] & FH_C_HEX)) {
        uint8_t c = buf[i];
        int d = c <= '9' ? c - '0' : fh_lower(c) - 'a' + 10;
        digits++;
        n = n * 16 + d;
        if (n > 0xFFFFFFFFFFFFFLL) return FH_ERROR; /* beyond 2^52: overflow, not a size */
        i++;
    }
    if (i >= len) return FH_INCOMPLETE;
    if (digits == 0) return FH_ERROR;
    /* chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) */
    for (;;) {
        size_t e = i;
        while (e < len && (buf[e] == ' ' || buf[e] == '\t')) e++;
        if (e >= len) return FH_INCOMPLETE;
        if (buf[e] != ';') {
            if (e != i) return FH_ERROR; /* whitespace, then not an extension */
            break;
        }
        e++;
        while (e < len && (buf[e] == ' ' || buf[e] == '\t')) e++;
        i = e;
        while (e < len && (fh_cls[buf[e]] & FH_C_TCHAR)) e++;
        if (e >= len) return FH_INCOMPLETE;
        if (e == i) return FH_ERROR; /* ";" without a name */
        i = e;
        while (e < len && (buf[e] == ' ' || buf[e] == '\t')) e++;
        if (e >= len) return FH_INCOMPLETE;
        if (buf[e] != '=') continue; /* no value; i stays before the whitespace */
        e++;
        while (e < len && (buf[e] == ' ' || buf[e] == '\t')) e++;
        if (e >= len) return FH_INCOMPLETE;
        if (buf[e] == '"') {
            for (e++;; e++) {
                uint8_t c;
                if (e >= len) return FH_INCOMPLETE;
                c = buf[e];
                if (c == '"') break;
                if (c == '\\') {
                    if (++e >= len) return FH_INCOMPLETE;
                    c = buf[e];
                }
                if (!(fh_cls[c] & FH_C_VALUE)) return FH_ERROR; /* qdtext, quoted-pair */
            }
            e++;
        } else {
            size_t v = e;
            while (e < len && (fh_cls[buf[e]] & FH_C_TCHAR)) e++;
            if (e >= len) return FH_INCOMPLETE;
            if (e == v) return FH_ERROR;
        }
        i = e;
    }
    if (i + 1 >= len) return FH_INCOMPLETE;
    if (buf[i] != '\r' || buf[i + 1] != '\n') return FH_ERROR;
    *pos = i + 2;
    *size = n;
    return 1;
}

/* Scans the trailer section's next line at buf[*pos]: a field line, or the
 * blank line that ends the section. Returns 1 (a field), 0 (the end: *pos
 * past it), FH_INCOMPLETE or FH_ERROR. */
static int fh_scan_trailer_line(const uint8_t *buf, size_t len, size_t *pos) {
    size_t i = *pos, ns, nlen, vs, vlen;
    if (i >= len) return FH_INCOMPLETE;
    if (buf[i] == '\r') {
        if (i + 1 >= len) return FH_INCOMPLETE;
        if (buf[i + 1] != '\n') return FH_ERROR;
        *pos = i + 2;
        return 0;
    }
    return fh_scan_field_line(buf, len, pos, &ns, &nlen, &vs, &vlen);
}

/*
 * The statuses for a line past max_line. A chunk line (its extensions
 * included) is body framing, not a header field: 413 Content Too Large (RFC
 * 9110 §15.5.14), as Bun.serve answers a 20 KiB chunk extension. The trailer
 * section is header fields (RFC 9112 §7.1.2): 431 Request Header Fields Too
 * Large (RFC 6585 §5), as for a head past max_head.
 */
#define FH_CHUNK_LINE_TOO_LONG 413
#define FH_TRAILERS_TOO_LONG 431

/*
 * Frames (and, with dst, decodes) a chunked body at buf[0, len) (RFC 9112
 * §7.1). Returns the bytes consumed through the end of the trailer section,
 * FH_INCOMPLETE, or FH_ERROR with *status set: 400 (framing), 413 (the
 * decoded size passes max_body, or a chunk line is longer than max_line), 431
 * (the trailer section in all is longer than max_line). *decoded receives the
 * body's decoded length.
 * With dst non-NULL the chunk data is copied there (dst may alias buf: it
 * never runs ahead of the source). Chunk extensions and trailer fields are
 * checked for well-formedness and skipped.
 *
 * max_line is bounded exactly as fh_body_feed bounds it, so that a body is
 * answered the same whether it arrived whole or streamed: only the first
 * max_line + 1 bytes of a line are looked at, and a line not complete within
 * max_line bytes is refused (413 or 431) once more than that is here (not
 * FH_INCOMPLETE).
 */
static int64_t fh_scan_chunked(const uint8_t *buf, size_t len, int64_t max_body, size_t max_line, uint8_t *dst,
                               int64_t *decoded, int *status) {
    size_t i = 0, trailers = 0;
    int64_t total = 0;
    int r;
    fh_scanner_init();
    *status = 400;
    for (;;) {
        size_t at = i, avail = len - i;
        int64_t size = 0;
        /* Only the first max_line + 1 bytes of the line, as fh_body_feed. */
        r = fh_scan_chunk_line(buf, avail > max_line ? at + max_line + 1 : len, &i, &size);
        if (r == FH_INCOMPLETE && avail > max_line) {
            *status = FH_CHUNK_LINE_TOO_LONG; /* not complete within max_line bytes */
            return FH_ERROR;
        }
        if (r != 1) return r;
        if (i - at > max_line) {
            *status = FH_CHUNK_LINE_TOO_LONG;
            return FH_ERROR;
        }
        if (size == 0) break;
        if (total + size > max_body) {
            *status = 413;
            return FH_ERROR;
        }
        if ((int64_t)(len - i) < size + 2) return FH_INCOMPLETE;
        if (dst != NULL) memmove(dst + total, buf + i, (size_t)size);
        total += size;
        i += (size_t)size;
        if (buf[i] != '\r' || buf[i + 1] != '\n') return FH_ERROR;
        i += 2;
    }
    for (;;) {
        size_t at = i, avail = len - i, room = max_line - trailers;
        /* Likewise, only up to one byte past what the trailers may take. */
        r = fh_scan_trailer_line(buf, avail > room ? at + room + 1 : len, &i);
        if (r == FH_INCOMPLETE && avail > room) {
            *status = FH_TRAILERS_TOO_LONG;
            return FH_ERROR;
        }
        if (r < 0) return r;
        trailers += i - at;
        if (trailers > max_line) {
            *status = FH_TRAILERS_TOO_LONG;
            return FH_ERROR;
        }
        if (r == 0) break;
    }
    *decoded = total;
    *status = 0;
    return (int64_t)i;
}

/* n bytes of the data expected (f->left) have passed: the phase moves on at
 * the end of the data (to the chunk's CRLF, or the end of the body). */
static void fh_body_frame_passed(fh_body_frame *f, int64_t n) {
    f->left -= n;
    f->total += n;
    if (f->left == 0) f->phase = f->chunked ? FH_BF_DATA_END : FH_BF_DONE;
}

/* Starts framing a body: `chunked`, or `length` bytes (Content-Length). */
static void fh_body_frame_init(fh_body_frame *f, int chunked, int64_t length) {
    memset(f, 0, sizeof(*f));
    f->chunked = (uint8_t)chunked;
    if (chunked) {
        f->phase = FH_BF_SIZE;
    } else {
        f->left = length;
        f->phase = length > 0 ? FH_BF_DATA : FH_BF_DONE;
    }
}

/*
 * Frames the bytes of a body that arrive over time, decoding in place.
 * buf[0, *dec) is body data decoded so far, buf[*raw, len) bytes not yet
 * looked at (*dec <= *raw: decoded data only ever moves towards the start).
 * Frames as much as buf holds and advances both; at FH_BF_DONE, buf[*raw,
 * len) is what followed the body. A line that is not complete within
 * `max_line` bytes (a chunk line, a trailer field), or a trailer section
 * longer than that in all, is refused. Returns 0 (more bytes wanted, or
 * done), or the status a bad body is answered with: 400 (framing), 413 (the
 * decoded size passes max_body, or a chunk line is too long), 431 (a trailer
 * line or the trailer section too long), as fh_scan_chunked answers.
 */
static int fh_body_feed(fh_body_frame *f, uint8_t *buf, size_t len, size_t *dec, size_t *raw, int64_t max_body,
                        size_t max_line) {
    fh_scanner_init();
    for (;;) {
        size_t at = *raw, avail = len - *raw, pos = at;
        int64_t size = 0;
        int r;
        switch (f->phase) {
        case FH_BF_DATA: {
            size_t n = avail;
            if ((int64_t)n > f->left) n = (size_t)f->left;
            if (n == 0) return 0;
            if (*dec != at) memmove(buf + *dec, buf + at, n);
            *dec += n;
            *raw += n;
            fh_body_frame_passed(f, (int64_t)n);
            continue;
        }
        case FH_BF_DATA_END:
            if (avail < 2) return 0; /* checked whole, as fh_scan_chunked does */
            if (buf[at] != '\r' || buf[at + 1] != '\n') return 400;
            *raw += 2;
            f->phase = FH_BF_SIZE;
            continue;
        case FH_BF_SIZE:
            /* Only the first max_line + 1 bytes of the line are looked at, so
             * that 400 or 413 does not depend on how the bytes came. */
            r = fh_scan_chunk_line(buf, avail > max_line ? at + max_line + 1 : len, &pos, &size);
            if (r == FH_ERROR) return 400;
            if (r == FH_INCOMPLETE) return avail > max_line ? FH_CHUNK_LINE_TOO_LONG : 0;
            if (pos - at > max_line) return FH_CHUNK_LINE_TOO_LONG;
            *raw = pos;
            if (size == 0) {
                f->phase = FH_BF_TRAILERS;
                continue;
            }
            if (f->total + size > max_body) return 413;
            f->left = size;
            f->phase = FH_BF_DATA;
            continue;
        case FH_BF_TRAILERS:
            /* Likewise, only up to one byte past what the trailers may take. */
            r = fh_scan_trailer_line(buf, avail > max_line - f->trailers ? at + (max_line - f->trailers) + 1 : len,
                                     &pos);
            if (r == FH_ERROR) return 400;
            if (r == FH_INCOMPLETE) return f->trailers + avail > max_line ? FH_TRAILERS_TOO_LONG : 0;
            f->trailers += pos - at;
            if (f->trailers > max_line) return FH_TRAILERS_TOO_LONG;
            *raw = pos;
            if (r == 0) f->phase = FH_BF_DONE;
            continue;
        default: /* FH_BF_DONE */
            return 0;
        }
    }
}
