/*
 * routes.c - static routes: answers rendered once (at run, and on reload)
 * that the core gives by itself, in the poll that read the request, without
 * JavaScript.
 *
 * JavaScript installs each route (fh_route_static): an exact path, the
 * methods it answers, its response head (status line and headers, in Bun's
 * order, without Date, Content-Length and Connection), its body, its entity
 * tag and the head of its 304. The core keeps, per route, the whole answer
 * for each of the three Connection lines an answer can carry (none,
 * "close", "keep-alive" for HTTP/1.0), 200 and 304, each one contiguous
 * block (fh_blob) whose Date the first answer of a new second rewrites; a
 * HEAD answer is the same block cut after its head. A place in the queue
 * holds a reference to its block, so a reload or a new second never changes
 * bytes still waiting to be written (a block still referenced is copied, not
 * rewritten).
 *
 * A request is answered here only when nothing about it is unusual: an
 * origin-form target whose path (before any '?') has no '%' and equals a
 * route's path byte for byte, a method the route takes, no body or a
 * complete Content-Length one, no upgrade, no Expect, and a well-formed
 * If-None-Match if it has one. Anything else goes to JavaScript, whose router
 * serves the same routes.
 */

/* One answer, ready to write: bytes [0, len), its head [0, head_len) (what
 * HEAD gets), the Date's value (FH_DATE_LEN bytes) at date_at. Freed when
 * its last reference (the route's, the queue's places) goes. */
struct fh_blob {
    uint8_t *bytes;  /* right after the struct, in the same allocation */
    size_t len, head_len, date_at;
    int64_t sec;     /* the second its Date says */
    uint32_t refs;
};

#define FH_ROUTE_MEMO 256 /* the longest head fh_route_memo remembers */
#define FH_DATE_LEN 29 /* IMF-fixdate (RFC 9110 §5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT" */
#define FH_CONN_NONE 0
#define FH_CONN_CLOSE 1
#define FH_CONN_KEEP10 2

typedef struct fh_route {
    uint8_t *path;   /* path_len bytes, the route's own copy */
    size_t path_len;
    uint32_t hash;
    uint32_t methods; /* FH_M_* */
    uint8_t *etag;    /* the opaque-tag with its quotes (no W/), or NULL: no 304 */
    size_t etag_len;
    fh_blob *ok[3];   /* by FH_CONN_* */
    fh_blob *nm[3];   /* 304 Not Modified, by FH_CONN_* (NULL without an etag) */
} fh_route;

struct fh_routes {
    fh_route *v;
    uint32_t n, cap;
    int32_t *slots;   /* open addressing over v by path hash: index + 1, 0 empty */
    uint32_t mask;    /* slots - 1 (a power of two, at least twice n) */
    uint32_t date_poll; /* the poll (s->polls) the clock was last read in */
    int64_t date_sec;
    char date[FH_DATE_LEN];
    /* The last head answered from a route, when it had no body: a request
     * that begins with the same bytes has the same head (the scanner looks
     * at nothing past the blank line), so it gets the same answer without
     * being scanned again. memo_len 0: none. */
    uint8_t memo[FH_ROUTE_MEMO];
    size_t memo_len;
    uint32_t memo_route; /* its index in v */
    int32_t memo_flags;  /* its FH_REQ_* */
    uint8_t memo_nm;     /* it got the 304 */
};

static const char *const fh_conn_lines[3] = {"", "Connection: close\r\n", "Connection: keep-alive\r\n"};

/* ---- pure parts: method, path, date ----------------------------------------- */

/* The FH_M_* bit of a method, 0 for one the core does not answer. */
static uint32_t fh_method_bit(const uint8_t *m, size_t n) {
    switch (n) {
    case 3:
        if (memcmp(m, "GET", 3) == 0) return FH_M_GET;
        if (memcmp(m, "PUT", 3) == 0) return FH_M_PUT;
        break;
    case 4:
        if (memcmp(m, "HEAD", 4) == 0) return FH_M_HEAD;
        if (memcmp(m, "POST", 4) == 0) return FH_M_POST;
        break;
    case 5:
        if (memcmp(m, "PATCH", 5) == 0) return FH_M_PATCH;
        if (memcmp(m, "TRACE", 5) == 0) return FH_M_TRACE;
        break;
    case 6:
        if (memcmp(m, "DELETE", 6) == 0) return FH_M_DELETE;
        break;
    case 7:
        if (memcmp(m, "OPTIONS", 7) == 0) return FH_M_OPTIONS;
        break;
    }
    return 0;
}

/* The path a route is matched by: target[0, *len) before any '?', with its
 * hash (FNV-1a). Returns 0, or -1 when the target is not origin-form or the path has a
 * '%' (a percent-encoded path is JavaScript's to decode). */
static int fh_route_path(const uint8_t *t, size_t n, size_t *len, uint32_t *hash) {
    uint32_t h = 2166136261u;
    size_t i;
    if (n == 0 || t[0] != '/') return -1;
    for (i = 0; i < n; i++) {
        uint8_t ch = t[i];
        if (ch == '?') break;
        if (ch == '%') return -1;
        h = (h ^ ch) * 16777619u;
    }
    *len = i;
    *hash = h;
    return 0;
}

/* Writes the IMF-fixdate of Unix time `sec` into out[0, FH_DATE_LEN). */
static void fh_format_date(int64_t sec, char *out) {
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t t = (time_t)sec;
    struct tm tm;
    char buf[40];
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        memcpy(out, "Thu, 01 Jan 1970 00:00:00 GMT", FH_DATE_LEN);
        return;
    }
    snprintf(buf, sizeof(buf), "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT", days + 3 * tm.tm_wday, tm.tm_mday,
             months + 3 * tm.tm_mon, tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(out, buf, FH_DATE_LEN);
}

/* ---- blobs --------------------------------------------------------------- */

static fh_blob *fh_blob_new(size_t len) {
    fh_blob *b = malloc(sizeof(fh_blob) + (len > 0 ? len : 1));
    if (b == NULL) return NULL;
    memset(b, 0, sizeof(*b));
    b->bytes = (uint8_t *)(b + 1);
    b->len = len;
    b->refs = 1;
    return b;
}

static void fh_blob_unref(fh_blob *b) {
    if (b != NULL && --b->refs == 0) free(b);
}

/*
 * Renders head[0, hl) + Date + (with body_len >= 0: Content-Length) + the
 * Connection line `conn` + CRLF + body. Returns the block, or NULL when out
 * of memory.
 */
static fh_blob *fh_blob_render(const uint8_t *head, size_t hl, const uint8_t *body, int64_t body_len, int conn,
                               const fh_routes *rt) {
    char cl[48];
    size_t cll = 0, connl = strlen(fh_conn_lines[conn]), bl = body_len > 0 ? (size_t)body_len : 0, at;
    fh_blob *b;
    if (body_len >= 0) cll = (size_t)snprintf(cl, sizeof(cl), "Content-Length: %lld\r\n", (long long)body_len);
    b = fh_blob_new(hl + 6 + FH_DATE_LEN + 2 + cll + connl + 2 + bl);
    if (b == NULL) return NULL;
    memcpy(b->bytes, head, hl);
    at = hl;
    memcpy(b->bytes + at, "Date: ", 6);
    at += 6;
    b->date_at = at;
    memcpy(b->bytes + at, rt->date, FH_DATE_LEN);
    at += FH_DATE_LEN;
    memcpy(b->bytes + at, "\r\n", 2);
    at += 2;
    memcpy(b->bytes + at, cl, cll);
    at += cll;
    memcpy(b->bytes + at, fh_conn_lines[conn], connl);
    at += connl;
    memcpy(b->bytes + at, "\r\n", 2);
    at += 2;
    b->head_len = at;
    if (bl > 0) memcpy(b->bytes + at, body, bl);
    b->sec = rt->date_sec;
    return b;
}

/* The block in *slot with the current Date: rewritten in place when only the
 * route holds it, else replaced by a copy (places in queues keep the old
 * one). NULL when out of memory (the route's block stays as it was). */
static fh_blob *fh_blob_current(fh_blob **slot, const fh_routes *rt) {
    fh_blob *b = *slot, *nb;
    if (b->sec == rt->date_sec) return b;
    if (b->refs > 1) {
        nb = fh_blob_new(b->len);
        if (nb == NULL) return NULL;
        memcpy(nb->bytes, b->bytes, b->len);
        nb->head_len = b->head_len;
        nb->date_at = b->date_at;
        fh_blob_unref(b);
        *slot = b = nb;
    }
    memcpy(b->bytes + b->date_at, rt->date, FH_DATE_LEN);
    b->sec = rt->date_sec;
    return b;
}

/* Reads the wall clock once per poll, and formats the Date when the second
 * has changed. */
static void fh_routes_clock(fh_server *s, fh_routes *rt) {
    int64_t sec;
    if (rt->date_poll == s->polls && rt->date_sec != 0) return;
    rt->date_poll = s->polls;
    sec = (int64_t)time(NULL);
    if (sec == rt->date_sec) return;
    rt->date_sec = sec;
    fh_format_date(sec, rt->date);
}

/* ---- the table ------------------------------------------------------------ */

static void fh_route_free(fh_route *r) {
    int k;
    free(r->path);
    free(r->etag);
    for (k = 0; k < 3; k++) {
        fh_blob_unref(r->ok[k]);
        fh_blob_unref(r->nm[k]);
    }
}

/* Drops every route (places in queues keep their blocks until written). */
static void fh_routes_free(fh_server *s) {
    fh_routes *rt = s->routes;
    uint32_t i;
    if (rt == NULL) return;
    for (i = 0; i < rt->n; i++) fh_route_free(&rt->v[i]);
    free(rt->v);
    free(rt->slots);
    free(rt);
    s->routes = NULL;
}

/* Rebuilds the hash slots for rt->n routes. Returns 0 or -ENOMEM. */
static int fh_routes_index(fh_routes *rt) {
    uint32_t cap = 8, i;
    int32_t *slots;
    while (cap < rt->n * 2) cap *= 2;
    slots = calloc(cap, sizeof(int32_t));
    if (slots == NULL) return -ENOMEM;
    for (i = 0; i < rt->n; i++) {
        uint32_t k = rt->v[i].hash & (cap - 1);
        while (slots[k] != 0) k = (k + 1) & (cap - 1);
        slots[k] = (int32_t)i + 1;
    }
    free(rt->slots);
    rt->slots = slots;
    rt->mask = cap - 1;
    return 0;
}

/* The first route (in the order installed) for path p[0, n) with hash h that
 * takes method bit m, or NULL. */
static fh_route *fh_route_find(fh_routes *rt, const uint8_t *p, size_t n, uint32_t h, uint32_t m) {
    uint32_t k = h & rt->mask;
    fh_route *best = NULL;
    int32_t at;
    while ((at = rt->slots[k]) != 0) {
        fh_route *r = &rt->v[at - 1];
        if (r->hash == h && r->path_len == n && (r->methods & m) && memcmp(r->path, p, n) == 0 &&
            (best == NULL || r < best))
            best = r;
        k = (k + 1) & rt->mask;
    }
    return best;
}

/* Answers with route r (nm: its 304) in a new place at the tail of c's
 * queue. Returns 1, 0 when out of memory for a new Date (JavaScript may still
 * manage), or -1 when c was closed (out of memory). */
static int fh_route_give(fh_server *s, fh_conn *c, fh_route *r, int nm, int32_t flags) {
    fh_routes *rt = s->routes;
    fh_blob *b;
    fh_seg *g;
    size_t n;
    int keep, conn;
    if (s->stopping) flags &= ~FH_REQ_KEEP_ALIVE;
    keep = fh_persists(flags, 0, NULL, 0);
    conn = !keep ? FH_CONN_CLOSE : (flags & FH_REQ_HTTP10) ? FH_CONN_KEEP10 : FH_CONN_NONE;
    fh_routes_clock(s, rt);
    b = fh_blob_current(nm ? &r->nm[conn] : &r->ok[conn], rt);
    if (b == NULL) return 0;
    n = (flags & FH_REQ_HEAD) ? b->head_len : b->len;
    g = fh_seg_push(c);
    if (g == NULL) {
        fh_conn_close(s, c);
        return -1;
    }
    /* The place refers to the block (small answers back to back are copied
     * into one send by fh_conn_flush's gather, as JavaScript's are). */
    b->refs++;
    g->blob = b;
    g->ptr = b->bytes;
    g->len = n;
    g->req = flags;
    g->ready = 1;
    g->close = !keep;
    s->static_hits++;
    if (c->state == FH_READING) fh_conn_enter(s, c, FH_ANSWERING);
    return 1;
}

/*
 * Answers the complete request at p (head h, no body or a complete
 * Content-Length one) from a static route, in a new place at the tail of
 * c's queue. Returns 1 when answered, 0 when it is not a static route's
 * (JavaScript has it), -1 when c was closed (out of memory).
 */
static int fh_route_answer(fh_server *s, fh_conn *c, const uint8_t *p, const fh_head *h) {
    fh_routes *rt = s->routes;
    fh_route *r;
    size_t plen;
    uint32_t hash, m;
    int nm = 0, rc;
    if (h->flags & (FH_REQ_UPGRADE | FH_REQ_EXPECT_CONTINUE | FH_REQ_CHUNKED)) return 0;
    if (fh_route_path(p + h->target_start, (size_t)h->target_len, &plen, &hash) < 0) return 0;
    m = fh_method_bit(p + h->method_start, (size_t)h->method_len);
    if (m == 0 || (r = fh_route_find(rt, p + h->target_start, plen, hash, m)) == NULL) return 0;
    if (r->etag != NULL && (m & (FH_M_GET | FH_M_HEAD))) {
        nm = fh_headers_inm(p + h->headers_start, (size_t)h->headers_len, r->etag, r->etag_len);
        if (nm < 0) return 0;
    }
    rc = fh_route_give(s, c, r, nm, h->flags);
    if (rc > 0 && h->content_length <= 0 && (size_t)h->head_len <= FH_ROUTE_MEMO) {
        memcpy(rt->memo, p, (size_t)h->head_len);
        rt->memo_len = (size_t)h->head_len;
        rt->memo_route = (uint32_t)(r - rt->v);
        rt->memo_flags = h->flags;
        rt->memo_nm = (uint8_t)nm;
    }
    return rc;
}

/*
 * Answers the request at p[0, avail) if it begins with the head last answered
 * from a route (fh_routes.memo): the same bytes, so the same head and the
 * same answer, without scanning it again. Returns the head's length (and its
 * FH_REQ_* in *flags) when answered, 0 when it is not that head, -1 when c
 * was closed.
 */
static int fh_route_memo(fh_server *s, fh_conn *c, const uint8_t *p, size_t avail, int32_t *flags) {
    fh_routes *rt = s->routes;
    size_t n = rt->memo_len;
    int rc;
    if (n == 0 || n > avail || p[0] != rt->memo[0] || memcmp(p, rt->memo, n) != 0) return 0;
    rc = fh_route_give(s, c, &rt->v[rt->memo_route], rt->memo_nm, rt->memo_flags);
    if (rc <= 0) return rc;
    *flags = rt->memo_flags;
    return (int)n;
}

/* ---- exports ---------------------------------------------------------------- */

/* Drops every static route (a reload installs the new ones after). */
void fh_routes_clear(fh_server *s) { fh_routes_free(s); }

/*
 * Adds a static route: requests for exactly path[0, path_len) (no '%', no
 * '?') by a method in `methods` (FH_M_*) are answered by the core with
 * head[0, head_len) (the status line and header lines, each ending in CRLF,
 * without Date, Content-Length and Connection), then Date, Content-Length,
 * the Connection line the keep-alive decision asks for, and body[0,
 * body_len). With etag[0, etag_len) (an entity tag, quotes included, W/
 * allowed), a GET or HEAD whose If-None-Match matches it gets nm_head[0,
 * nm_len) (a 304's status line and headers) with Date and no body. All bytes
 * are copied: they need only live during the call. Several routes may share
 * a path (different methods): the first installed that takes the method
 * answers. `status` is the answer's: one without a body (1xx, 204, 304) is
 * refused. Returns 0, -EINVAL or -ENOMEM.
 */
int fh_route_static(fh_server *s, const uint8_t *path, int path_len, int methods, int status, const uint8_t *head,
                    int head_len, const uint8_t *body, double body_len, const uint8_t *etag, int etag_len,
                    const uint8_t *nm_head, int nm_len) {
    fh_routes *rt = s->routes;
    fh_route r;
    size_t plen;
    uint32_t hash;
    int k;
    if (path == NULL || path_len <= 0 || head == NULL || head_len < 12 || body_len < 0 || body_len > 2147483647.0 ||
        (body_len > 0 && body == NULL) || etag_len < 0 || (etag_len > 0 && (etag == NULL || nm_head == NULL || nm_len < 12)) ||
        (methods & ~FH_M_ANY) != 0 || methods == 0 || status < 200 || status > 999 || status == 204 || status == 304 ||
        memcmp(head, "HTTP/1.1 ", 9) != 0 || head[head_len - 1] != '\n' ||
        fh_route_path(path, (size_t)path_len, &plen, &hash) < 0 || plen != (size_t)path_len)
        return -EINVAL;
    if (etag_len > 0) {
        size_t off = etag_len > 2 && etag[0] == 'W' && etag[1] == '/' ? 2 : 0;
        if ((size_t)etag_len <= off || etag[off] != '"' ||
            fh_inm_match(etag, (size_t)etag_len, etag + off, (size_t)etag_len - off) != 1 ||
            memchr(etag, ',', (size_t)etag_len) != NULL || nm_head[nm_len - 1] != '\n')
            return -EINVAL; /* not one entity tag */
    }
    if (rt == NULL) {
        rt = calloc(1, sizeof(*rt));
        if (rt == NULL) return -ENOMEM;
        s->routes = rt;
    }
    fh_routes_clock(s, rt);
    memset(&r, 0, sizeof(r));
    r.path_len = plen;
    r.hash = hash;
    r.methods = (uint32_t)methods;
    r.path = malloc(plen);
    if (r.path == NULL) goto oom;
    memcpy(r.path, path, plen);
    if (etag_len > 0) {
        size_t off = etag[0] == 'W' ? 2 : 0;
        r.etag_len = (size_t)etag_len - off;
        r.etag = malloc(r.etag_len);
        if (r.etag == NULL) goto oom;
        memcpy(r.etag, etag + off, r.etag_len);
    }
    for (k = 0; k < 3; k++) {
        r.ok[k] = fh_blob_render(head, (size_t)head_len, body, (int64_t)body_len, k, rt);
        if (r.ok[k] == NULL) goto oom;
        if (etag_len > 0 && (r.nm[k] = fh_blob_render(nm_head, (size_t)nm_len, NULL, -1, k, rt)) == NULL) goto oom;
    }
    if (rt->n == rt->cap) {
        uint32_t ncap = rt->cap ? rt->cap * 2 : 8;
        fh_route *nv = realloc(rt->v, sizeof(fh_route) * ncap);
        if (nv == NULL) goto oom;
        rt->v = nv;
        rt->cap = ncap;
    }
    rt->v[rt->n++] = r;
    rt->memo_len = 0; /* the first route for its head may be another now */
    if (fh_routes_index(rt) < 0) {
        rt->n--;
        goto oom;
    }
    return 0;
oom:
    fh_route_free(&r);
    return -ENOMEM;
}
