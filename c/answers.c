/*
 * answers.c - the answers the core makes itself: the error statuses, the 500
 * for a handler that failed, and 100 Continue.
 *
 * They are one table (as uWebSockets keeps its HttpErrors.h), and each answer
 * is a place in the connection's queue like a handler's, written by the one
 * write path (queue.c) and under the same rules: no body for HEAD (the
 * headers stay as GET would have them), and the one keep-alive decision
 * (fh_persists) says whether the connection stays open.
 */
#include <stdio.h>

typedef struct fh_canned {
    int status;
    const char *reason; /* also the body, with a newline */
} fh_canned;

static const fh_canned fh_canned_table[] = {
    {400, "Bad Request"},
    {408, "Request Timeout"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {503, "Service Unavailable"},
    {505, "HTTP Version Not Supported"},
};

static const char fh_resp_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static const fh_canned *fh_canned_find(int status) {
    size_t i;
    for (i = 0; i < sizeof(fh_canned_table) / sizeof(fh_canned_table[0]); i++)
        if (fh_canned_table[i].status == status) return &fh_canned_table[i];
    return &fh_canned_table[0]; /* an unknown status is answered as a plain 400 */
}

/*
 * Answers with the core's own response for `status`: in place g (a request
 * still waiting for its answer), or in a new place at the tail when g is
 * NULL. `req` is the request's FH_REQ_* flags (0 when no head was read);
 * `last`: no request of this connection is parsed after it (a framing error,
 * a timeout, a refused connection), so it closes after this answer. The
 * caller writes the queue (fh_conn_flush). On running out of memory the
 * connection is closed: returns -1 (c is gone), else 0.
 */
static int fh_answer_status(fh_server *s, fh_conn *c, fh_seg *g, int status, int32_t req, int last) {
    const fh_canned *k = fh_canned_find(status);
    int keep = !last && fh_persists(req, 0, NULL, 0);
    const char *conn = !keep ? "Connection: close\r\n" : (req & FH_REQ_HTTP10) ? "Connection: keep-alive\r\n" : "";
    size_t body = strlen(k->reason) + 1, cap = 160 + 2 * body;
    uint8_t *buf;
    int n;
    if (g == NULL) g = fh_seg_push(c);
    buf = g != NULL ? malloc(cap) : NULL;
    if (buf == NULL) {
        fh_conn_close(s, c);
        return -1;
    }
    n = snprintf((char *)buf, cap,
                 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n%s%s", k->status,
                 k->reason, body, conn, (req & FH_REQ_HEAD) ? "" : k->reason, (req & FH_REQ_HEAD) ? "" : "\n");
    if (n < 0 || (size_t)n >= cap) n = 0; /* cannot happen: the table's reasons are short */
    g->ptr = g->heap = buf;
    g->len = (size_t)n;
    g->off = 0;
    g->req = req;
    g->ready = 1;
    g->close = !keep;
    if (c->state == FH_READING) fh_conn_enter(s, c, FH_ANSWERING);
    if (last) fh_conn_last(s, c);
    return 0;
}

/* Queues 100 Continue for the request being read (RFC 9110 §10.1.1): behind
 * any answers still outstanding, so it never overtakes them. Returns 0, or -1
 * when the connection was closed (out of memory). */
static int fh_queue_continue(fh_server *s, fh_conn *c) {
    fh_seg *g = fh_seg_push(c);
    if (g == NULL) {
        fh_conn_close(s, c);
        return -1;
    }
    g->ptr = (const uint8_t *)fh_resp_100;
    g->len = sizeof(fh_resp_100) - 1;
    g->ready = 1;
    c->continued = 1;
    if (c->state == FH_READING) fh_conn_enter(s, c, FH_ANSWERING);
    return 0;
}
