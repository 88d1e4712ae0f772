/*
 * precond.c - If-None-Match (RFC 9110 §13.1.2): the entity-tag list parser
 * and its weak comparison, over header lines. Standalone (string.h and
 * stdint.h only, no knowledge of connections), so that it is tested and
 * fuzzed on buffers alone (test/c/routes_test.c, test/c/fuzz_scanner.c);
 * c/routes.c answers a static route's 304 with it. Every read is bounded by
 * the length it is given.
 */

static int fh_is_ows(uint8_t ch) { return ch == ' ' || ch == '\t'; }

/*
 * Whether an If-None-Match field value v[0, n) matches the opaque-tag
 * tag[0, tlen) (quotes included, no W/) by the weak comparison (RFC 9110
 * §13.1.2: W/ prefixes ignored) or is "*". Returns 1, 0, or -1 when the value
 * is not a well-formed list of entity tags (RFC 9110 §8.8.3: "*" or
 * 1#entity-tag, with empty list elements allowed).
 */
static int fh_inm_match(const uint8_t *v, size_t n, const uint8_t *tag, size_t tlen) {
    size_t i = 0;
    int match = 0;
    for (;;) {
        size_t start;
        while (i < n && (fh_is_ows(v[i]) || v[i] == ',')) i++;
        if (i >= n) return match;
        if (v[i] == '*') {
            match = 1;
            i++;
        } else {
            if (v[i] == 'W' && i + 1 < n && v[i + 1] == '/') i += 2;
            if (i >= n || v[i] != '"') return -1;
            start = i++;
            /* etagc = %x21 / %x23-7E / obs-text */
            while (i < n && v[i] != '"') {
                if (v[i] < 0x21 || v[i] == 0x7f) return -1;
                i++;
            }
            if (i >= n) return -1;
            i++; /* the closing quote */
            if (i - start == tlen && memcmp(v + start, tag, tlen) == 0) match = 1;
        }
        while (i < n && fh_is_ows(v[i])) i++;
        if (i < n && v[i] != ',') return -1;
    }
}

/* Whether line[0, n) begins with the header name `name` (lower case, with
 * its colon), case-insensitively. */
static int fh_header_is(const uint8_t *line, size_t n, const char *name, size_t nlen) {
    size_t i;
    if (n < nlen) return 0;
    for (i = 0; i < nlen; i++) {
        uint8_t ch = line[i];
        if (ch >= 'A' && ch <= 'Z') ch = (uint8_t)(ch + 32);
        if (ch != (uint8_t)name[i]) return 0;
    }
    return 1;
}

/* What the If-None-Match fields among header lines hs[0, n) say about tag
 * (several fields are one list): 1 a match, 0 none (or no field), -1 one is
 * malformed. */
static int fh_headers_inm(const uint8_t *hs, size_t n, const uint8_t *tag, size_t tlen) {
    size_t i = 0;
    int match = 0;
    while (i < n) {
        const uint8_t *line = hs + i;
        const uint8_t *nl = memchr(line, '\n', n - i);
        size_t len = nl != NULL ? (size_t)(nl - line) : n - i;
        i += len + 1;
        if (len > 0 && line[len - 1] == '\r') len--;
        if (len >= 14 && (line[0] | 0x20) == 'i' && fh_header_is(line, len, "if-none-match:", 14)) {
            size_t a = 14, b = len;
            int r;
            while (a < b && fh_is_ows(line[a])) a++;
            while (b > a && fh_is_ows(line[b - 1])) b--;
            r = fh_inm_match(line + a, b - a, tag, tlen);
            if (r < 0) return -1;
            if (r > 0) match = 1;
        }
    }
    return match;
}
