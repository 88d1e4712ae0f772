/*
 * kqueue_backend_tu.c - the kqueue backend built on Linux the way the core is
 * built: one translation unit that includes backend.h, the kqueue emulation
 * (test support only) and backend_kqueue.c, in that order.
 *
 * test/kqueue-emu.test.ts uses it three ways: gcc -fsyntax-only -Wall -Wextra
 * -Werror; TinyCC through bun:ffi's cc, calling fh_kq_selftest(); and
 * #included by kqueue_emu_test.c, which also calls fh_kq_selftest().
 */
#include "../../c/backend.h"
#include "../../c/testing/kqueue_emu.h"
#include "../../c/backend_kqueue.c"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* On failure, return the line of the check that failed. */
#define FH_KQ_EXPECT(cond)     \
    do {                       \
        if (!(cond)) {         \
            rc = __LINE__;     \
            goto done;         \
        }                      \
    } while (0)

static int fh_kq_find(const fh_event *ev, int n, int fd) {
    int i;
    for (i = 0; i < n; i++)
        if (ev[i].fd == fd) return ev[i].mask;
    return -1;
}

/* Exercises create/add/poll/mod/del through the backend contract only.
 * Returns 0, or the line number of the first check that failed. */
int fh_kq_selftest(void) {
    fh_event ev[8];
    char buf[8];
    int err = 0, rc = 0, n, p[2] = {-1, -1}, s[2] = {-1, -1};
    fh_backend *b = fh_backend_create(8, &err), *outer = NULL;

    FH_KQ_EXPECT(b != NULL && err == 0);
    FH_KQ_EXPECT(fh_backend_fd(b) >= 0);
    FH_KQ_EXPECT(strcmp(fh_backend_name(), "kqueue") == 0);

    /* A pipe: nothing, then readable once a byte is written. */
    FH_KQ_EXPECT(pipe(p) == 0);
    FH_KQ_EXPECT(fh_backend_add(b, p[0], FH_READABLE) == 0);
    FH_KQ_EXPECT(fh_backend_poll(b, ev, 8, 0) == 0);
    FH_KQ_EXPECT(write(p[1], "x", 1) == 1);
    n = fh_backend_poll(b, ev, 8, 0);
    FH_KQ_EXPECT(n == 1 && ev[0].fd == p[0] && ev[0].mask == FH_READABLE);
    /* Level-triggered: still reported while unread. */
    FH_KQ_EXPECT(fh_backend_poll(b, ev, 8, 0) == 1);

    /* A socketpair watched for both directions: one merged entry. */
    FH_KQ_EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    FH_KQ_EXPECT(fh_backend_add(b, s[0], FH_WRITABLE) == 0);
    FH_KQ_EXPECT(write(s[1], "y", 1) == 1);
    FH_KQ_EXPECT(fh_backend_mod(b, s[0], FH_WRITABLE, FH_READABLE | FH_WRITABLE) == 0);
    n = fh_backend_poll(b, ev, 8, 0);
    FH_KQ_EXPECT(n == 2);
    FH_KQ_EXPECT(fh_kq_find(ev, n, s[0]) == (FH_READABLE | FH_WRITABLE));
    FH_KQ_EXPECT(fh_kq_find(ev, n, p[0]) == FH_READABLE);

    /* mod down to reading only, then to nothing. */
    FH_KQ_EXPECT(fh_backend_mod(b, s[0], FH_READABLE | FH_WRITABLE, FH_READABLE) == 0);
    n = fh_backend_poll(b, ev, 8, 0);
    FH_KQ_EXPECT(fh_kq_find(ev, n, s[0]) == FH_READABLE);
    FH_KQ_EXPECT(fh_backend_mod(b, s[0], FH_READABLE, 0) == 0);
    n = fh_backend_poll(b, ev, 8, 0);
    FH_KQ_EXPECT(n == 1 && fh_kq_find(ev, n, s[0]) == -1);

    /* del: nothing more is reported. */
    FH_KQ_EXPECT(fh_backend_del(b, p[0], FH_READABLE) == 0);
    FH_KQ_EXPECT(fh_backend_del(b, s[0], 0) == 0);
    FH_KQ_EXPECT(fh_backend_poll(b, ev, 8, 0) == 0);

    /* Oneshot: fires once, re-armed by mod, deletable after it fired. */
    FH_KQ_EXPECT(fh_backend_add(b, s[0], FH_READABLE | FH_ONESHOT) == 0);
    n = fh_backend_poll(b, ev, 8, 0);
    FH_KQ_EXPECT(n == 1 && ev[0].fd == s[0] && ev[0].mask == FH_READABLE);
    FH_KQ_EXPECT(fh_backend_poll(b, ev, 8, 0) == 0);
    FH_KQ_EXPECT(fh_backend_mod(b, s[0], FH_READABLE | FH_ONESHOT, FH_READABLE | FH_ONESHOT) == 0);
    FH_KQ_EXPECT(fh_backend_poll(b, ev, 8, 0) == 1);
    FH_KQ_EXPECT(fh_backend_del(b, s[0], FH_READABLE | FH_ONESHOT) == 0);

    /* An outer backend watching this one's descriptor (the wake-up). */
    outer = fh_backend_create(4, &err);
    FH_KQ_EXPECT(outer != NULL);
    FH_KQ_EXPECT(fh_backend_add(outer, fh_backend_fd(b), FH_READABLE | FH_ONESHOT) == 0);
    FH_KQ_EXPECT(fh_backend_poll(outer, ev, 4, 0) == 0);
    FH_KQ_EXPECT(fh_backend_add(b, p[0], FH_READABLE) == 0);
    n = fh_backend_poll(outer, ev, 4, 0);
    FH_KQ_EXPECT(n == 1 && ev[0].fd == fh_backend_fd(b) && (ev[0].mask & FH_READABLE));

    /* The writer goes away: a half-close, not a hang-up (backend.h). The last
     * byte is still readable, and reading then finds the end. */
    FH_KQ_EXPECT(close(p[1]) == 0);
    p[1] = -1;
    n = fh_backend_poll(b, ev, 8, 0);
    FH_KQ_EXPECT(n == 1 && ev[0].mask == FH_READABLE);
    FH_KQ_EXPECT(read(p[0], buf, sizeof(buf)) == 1);
    FH_KQ_EXPECT(fh_backend_del(b, p[0], FH_READABLE) == 0);

done:
    if (p[0] >= 0) close(p[0]);
    if (p[1] >= 0) close(p[1]);
    if (s[0] >= 0) close(s[0]);
    if (s[1] >= 0) close(s[1]);
    fh_backend_free(outer);
    fh_backend_free(b);
    return rc;
}
