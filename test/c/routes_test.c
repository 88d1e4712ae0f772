/*
 * routes_test.c - the static route table's pure parts in C (c/routes.c): the
 * If-None-Match parser and its weak comparison, the path a route matches, the
 * method bits, the Date, the table (fh_route_static's checks, lookups through
 * collisions, the first route winning) and a block's copy on a new second
 * while a place still holds it. Meant to run under
 * -fsanitize=address,undefined: every input to the parsers is placed to end
 * right before a PROT_NONE page, and every strict prefix of it is tried too,
 * so that a read one byte too far faults.
 *
 *   clang -g -fsanitize=address,undefined -pthread test/c/routes_test.c -o routes_test && ./routes_test
 */
#include "../../c/fasthttp.c"

#include <stdio.h>
#include <sys/mman.h>

static int passed, failed;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) passed++;                                                           \
        else {                                                                        \
            failed++;                                                                 \
            printf("FAIL line %d: %s\n", __LINE__, #cond);                            \
        }                                                                             \
    } while (0)

/* ---- guarded input ---------------------------------------------------------- */

static uint8_t *guard_base;
static size_t guard_cap;

static void guard_init(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    guard_cap = 4 * page;
    guard_base = mmap(NULL, guard_cap + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard_base == MAP_FAILED || mprotect(guard_base + guard_cap, page, PROT_NONE) != 0) {
        perror("guard");
        exit(2);
    }
}

/* Copies s[0, n) to end exactly at the guard page. */
static const uint8_t *guarded(const char *s, size_t n) {
    uint8_t *p = guard_base + guard_cap - n;
    memcpy(p, s, n);
    return p;
}

/* ---- If-None-Match ---------------------------------------------------------- */

typedef struct {
    const char *value;
    int want; /* against the tag "abc" (quotes included) */
} inm_case;

static const inm_case inm_cases[] = {
    {"\"abc\"", 1},
    {"W/\"abc\"", 1},
    {"\"x\", \"abc\"", 1},
    {"\"x\",W/\"abc\" ,", 1},
    {" , ,\"abc\"", 1},
    {"*", 1},
    {"\"x\", *", 1},
    {"", 0},
    {" ", 0},
    {",", 0},
    {"\"abd\"", 0},
    {"\"ab\"", 0},
    {"\"abcd\"", 0},
    {"\"\"", 0},
    {"\"x\", \"y\"", 0},
    {"w/\"abc\"", -1},       /* the prefix is case-sensitive */
    {"abc", -1},
    {"\"abc", -1},
    {"\"abc\" \"x\"", -1},
    {"\"abc\"x", -1},
    {"W/", -1},
    {"W", -1},
    {"\"a bc\"", -1},
    {"\"a\x01\"", -1},
    {"\"a\x7f\"", -1},
    {"**", -1},
    {"* \"abc\"", -1},
    {"\"x\";\"abc\"", -1},
};

static void test_inm(void) {
    const uint8_t *tag = (const uint8_t *)"\"abc\"";
    size_t i, k;
    for (i = 0; i < sizeof(inm_cases) / sizeof(inm_cases[0]); i++) {
        const char *v = inm_cases[i].value;
        size_t n = strlen(v);
        int got = fh_inm_match(guarded(v, n), n, tag, 5);
        if (got != inm_cases[i].want) printf("  inm %zu: \"%s\" gave %d, want %d\n", i, v, got, inm_cases[i].want);
        CHECK(got == inm_cases[i].want);
        for (k = 0; k < n; k++) (void)fh_inm_match(guarded(v, k), k, tag, 5); /* every prefix: in bounds */
    }
    /* obs-text is an etagc. */
    CHECK(fh_inm_match(guarded("\"\xe9\"", 3), 3, (const uint8_t *)"\"\xe9\"", 3) == 1);
}

static void test_headers_inm(void) {
    const uint8_t *tag = (const uint8_t *)"\"abc\"";
    static const struct {
        const char *hs;
        int want;
    } cases[] = {
        {"Host: x", 0},
        {"Host: x\r\nIf-None-Match: \"abc\"", 1},
        {"IF-NONE-MATCH:\"abc\"\r\nHost: x", 1},
        {"If-None-Match: \"x\"\r\nif-none-match: W/\"abc\"", 1},
        {"If-None-Match: \"x\"\r\nIf-None-Match: \"y\"", 0},
        {"If-None-Match: \"abc\"\r\nIf-None-Match: bad", -1},
        {"If-None-Match-X: \"abc\"", 0}, /* another field */
        {"If-None-Matc: \"abc\"", 0},
        {"If-None-Match: \t\"abc\" \t", 1},
        {"If-Modified-Since: Tue, 01 Dec 2026 18:53:20 GMT", 0},
        {"", 0},
    };
    size_t i, k;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].hs);
        int got = fh_headers_inm(guarded(cases[i].hs, n), n, tag, 5);
        if (got != cases[i].want) printf("  headers %zu gave %d, want %d\n", i, got, cases[i].want);
        CHECK(got == cases[i].want);
        for (k = 0; k < n; k++) (void)fh_headers_inm(guarded(cases[i].hs, k), k, tag, 5);
    }
}

/* ---- path, method, date ----------------------------------------------------- */

static void test_path_method_date(void) {
    size_t len = 99;
    uint32_t h1 = 0, h2 = 0;
    char d[FH_DATE_LEN + 1];
    CHECK(fh_route_path(guarded("/a/b?x=1", 8), 8, &len, &h1) == 0 && len == 4);
    CHECK(fh_route_path(guarded("/a/b", 4), 4, &len, &h2) == 0 && len == 4 && h1 == h2);
    CHECK(fh_route_path(guarded("/?", 2), 2, &len, &h1) == 0 && len == 1);
    CHECK(fh_route_path(guarded("/a%2f", 5), 5, &len, &h1) < 0);
    CHECK(fh_route_path(guarded("/a?%", 4), 4, &len, &h1) == 0 && len == 2); /* '%' in the query is the query's */
    CHECK(fh_route_path(guarded("*", 1), 1, &len, &h1) < 0);
    CHECK(fh_route_path(guarded("http://x/", 9), 9, &len, &h1) < 0);
    CHECK(fh_route_path(guarded("", 0), 0, &len, &h1) < 0);
    CHECK(fh_method_bit((const uint8_t *)"GET", 3) == FH_M_GET);
    CHECK(fh_method_bit((const uint8_t *)"HEAD", 4) == FH_M_HEAD);
    CHECK(fh_method_bit((const uint8_t *)"OPTIONS", 7) == FH_M_OPTIONS);
    CHECK(fh_method_bit((const uint8_t *)"get", 3) == 0);
    CHECK(fh_method_bit((const uint8_t *)"GETS", 4) == 0);
    CHECK(fh_method_bit((const uint8_t *)"PROPFIND", 8) == 0);
    d[FH_DATE_LEN] = 0;
    fh_format_date(784111777, d);
    CHECK(strcmp(d, "Sun, 06 Nov 1994 08:49:37 GMT") == 0);
    fh_format_date(1796151201, d);
    CHECK(strcmp(d, "Tue, 01 Dec 2026 18:53:21 GMT") == 0);
    fh_format_date(0, d);
    CHECK(strcmp(d, "Thu, 01 Jan 1970 00:00:00 GMT") == 0);
}

/* ---- the table ---------------------------------------------------------------- */

static int add(fh_server *s, const char *path, int methods, const char *body, const char *etag) {
    static const char head[] = "HTTP/1.1 200 OK\r\nX: y\r\n";
    static const char nm[] = "HTTP/1.1 304 Not Modified\r\n";
    return fh_route_static(s, (const uint8_t *)path, (int)strlen(path), methods, 200, (const uint8_t *)head,
                           (int)strlen(head), (const uint8_t *)body, (double)strlen(body), (const uint8_t *)etag,
                           etag ? (int)strlen(etag) : 0, (const uint8_t *)nm, (int)strlen(nm));
}

static fh_route *find(fh_server *s, const char *path, uint32_t m) {
    size_t len;
    uint32_t h;
    if (fh_route_path((const uint8_t *)path, strlen(path), &len, &h) < 0) return NULL;
    return fh_route_find(s->routes, (const uint8_t *)path, len, h, m);
}

static void test_table(void) {
    int32_t err = 0;
    char path[32], body[32];
    int i;
    fh_route *r;
    fh_blob *b, *nb;
    fh_server *s = fh_server_create("127.0.0.1", 0, 16, 8192, 1e6, 4096, 16, 64, 0, 0, -1, &err);
    CHECK(s != NULL);
    if (s == NULL) return;
    static const uint8_t head[] = "HTTP/1.1 200 OK\r\n";
    /* What fh_route_static refuses. */
    CHECK(add(s, "", FH_M_GET, "x", NULL) == -EINVAL);
    CHECK(add(s, "a", FH_M_GET, "x", NULL) == -EINVAL);
    CHECK(add(s, "/a?b", FH_M_GET, "x", NULL) == -EINVAL);
    CHECK(add(s, "/a%20", FH_M_GET, "x", NULL) == -EINVAL);
    CHECK(add(s, "/a", 0, "x", NULL) == -EINVAL);
    CHECK(add(s, "/a", 256, "x", NULL) == -EINVAL);
    CHECK(add(s, "/a", FH_M_GET, "x", "abc") == -EINVAL);
    CHECK(add(s, "/a", FH_M_GET, "x", "*") == -EINVAL);
    CHECK(add(s, "/a", FH_M_GET, "x", "\"a\", \"b\"") == -EINVAL);
    CHECK(add(s, "/a", FH_M_GET, "x", "W/") == -EINVAL);
    CHECK(fh_route_static(s, (const uint8_t *)"/a", 2, FH_M_GET, 204, head, (int)sizeof(head) - 1, NULL, 0, NULL, 0,
                          NULL, 0) == -EINVAL);
    CHECK(fh_route_static(s, (const uint8_t *)"/a", 2, FH_M_GET, 200, (const uint8_t *)"HTTP/1.1 200 OK", 15, NULL,
                          0, NULL, 0, NULL, 0) == -EINVAL);
    CHECK(fh_route_static(s, (const uint8_t *)"/a", 2, FH_M_GET, 200, head, (int)sizeof(head) - 1, NULL, -1, NULL,
                          0, NULL, 0) == -EINVAL);
    CHECK(s->routes == NULL || s->routes->n == 0);
    /* Many routes: every lookup goes through the probing. */
    for (i = 0; i < 300; i++) {
        snprintf(path, sizeof(path), "/r%d", i);
        snprintf(body, sizeof(body), "body %d", i);
        CHECK(add(s, path, i % 2 ? FH_M_GET | FH_M_HEAD : FH_M_ANY, body, i % 3 ? NULL : "W/\"t\"") == 0);
    }
    CHECK(s->routes->n == 300 && s->routes->mask + 1 >= 600);
    for (i = 0; i < 300; i++) {
        snprintf(path, sizeof(path), "/r%d", i);
        snprintf(body, sizeof(body), "body %d", i);
        r = find(s, path, FH_M_GET);
        CHECK(r != NULL && r->path_len == strlen(path) && memcmp(r->path, path, r->path_len) == 0);
        if (r == NULL) continue;
        b = r->ok[FH_CONN_NONE];
        CHECK(b->len - b->head_len == strlen(body) && memcmp(b->bytes + b->head_len, body, strlen(body)) == 0);
        CHECK((find(s, path, FH_M_POST) != NULL) == (i % 2 == 0));
        CHECK((r->etag != NULL) == (i % 3 == 0));
        if (r->etag != NULL) CHECK(r->etag_len == 3 && memcmp(r->etag, "\"t\"", 3) == 0 && r->nm[2] != NULL);
    }
    CHECK(find(s, "/r300", FH_M_GET) == NULL);
    CHECK(find(s, "/r1?x", FH_M_GET) != NULL);
    CHECK(find(s, "/r", FH_M_GET) == NULL);
    /* The first route for a path and method wins. */
    CHECK(add(s, "/r5", FH_M_GET | FH_M_POST, "later", NULL) == 0);
    r = find(s, "/r5", FH_M_GET);
    CHECK(r != NULL && r == &s->routes->v[5]);
    r = find(s, "/r5", FH_M_POST);
    CHECK(r != NULL && r == &s->routes->v[300]);
    /* The head and its wire form: head, Date, Content-Length, Connection, body. */
    r = find(s, "/r7", FH_M_GET);
    b = r->ok[FH_CONN_CLOSE];
    CHECK(b->head_len == strlen("HTTP/1.1 200 OK\r\nX: y\r\nDate: ") + FH_DATE_LEN +
                             strlen("\r\nContent-Length: 6\r\nConnection: close\r\n\r\n"));
    CHECK(memcmp(b->bytes + b->date_at + FH_DATE_LEN, "\r\nContent-Length: 6\r\nConnection: close\r\n\r\nbody 7", 48) == 0);
    /* A new second: a block only the route holds is rewritten in place, one a
     * place holds too is copied (the place keeps its bytes). */
    b->refs++; /* as a place in a queue would */
    s->routes->date_sec++;
    memcpy(s->routes->date, "Mon, 01 Jan 2035 00:00:00 GMT", FH_DATE_LEN);
    nb = fh_blob_current(&r->ok[FH_CONN_CLOSE], s->routes);
    CHECK(nb != NULL && nb != b && r->ok[FH_CONN_CLOSE] == nb && b->refs == 1);
    CHECK(memcmp(nb->bytes + nb->date_at, "Mon, 01 Jan 2035", 16) == 0 && memcmp(b->bytes + b->date_at, "Mon, 01 Jan 2035", 16) != 0);
    CHECK(nb->len == b->len && memcmp(nb->bytes + nb->date_at + FH_DATE_LEN, b->bytes + b->date_at + FH_DATE_LEN, b->len - b->date_at - FH_DATE_LEN) == 0);
    fh_blob_unref(b); /* the place is done */
    b = r->ok[FH_CONN_NONE];
    CHECK(fh_blob_current(&r->ok[FH_CONN_NONE], s->routes) == b && memcmp(b->bytes + b->date_at, "Mon, 01 Jan 2035", 16) == 0);
    /* Clearing drops the table; a block a place still holds outlives it. */
    b = r->ok[FH_CONN_NONE];
    b->refs++;
    fh_routes_clear(s);
    CHECK(s->routes == NULL);
    CHECK(b->refs == 1 && memcmp(b->bytes + b->head_len, "body 7", 6) == 0);
    fh_blob_unref(b);
    fh_destroy(s);
}

int main(void) {
    guard_init();
    test_inm();
    test_headers_inm();
    test_path_method_date();
    test_table();
    printf("backend: %s\n%d passed, %d failed\n", fh_backend_name(), passed, failed);
    return failed ? 1 : 0;
}
