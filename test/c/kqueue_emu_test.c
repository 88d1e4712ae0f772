/*
 * kqueue_emu_test.c - tests for the kqueue emulation (c/testing/kqueue_emu.h,
 * test support only) and for backend_kqueue.c through the backend.h contract.
 *
 * It includes kqueue_backend_tu.c, so it is one translation unit laid out like
 * the core's. Build and run (test/kqueue-emu.test.ts does this):
 *   gcc -Wall -Wextra -Werror -pthread test/c/kqueue_emu_test.c -o t && ./t
 * It prints every failed check and ends with "N passed, N failed"; the exit
 * status is 0 only if nothing failed. Defining FH_KQ_TEST_LIBRARY leaves out
 * main() so that TinyCC (bun:ffi's cc) can run kqueue_emu_test_run() instead.
 */
/* A change made between epoll_wait() and the emulation's bookkeeping, as
 * another thread could: see test_stale_event. Declared before the include so
 * the emulation calls it. */
static void after_wait_hook(int kq);
#define FH_KQE_TEST_AFTER_WAIT(kq) after_wait_hook(kq)

#include "kqueue_backend_tu.c"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

static int passed, failed;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (cond) {                                                             \
            passed++;                                                           \
        } else {                                                                \
            failed++;                                                           \
            fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, \
                    __func__, #cond);                                           \
        }                                                                       \
    } while (0)

/* ---- helpers ---------------------------------------------------------- */

static int change(int kq, int fd, int filter, int flags, void *udata) {
    struct kevent ch;
    EV_SET(&ch, fd, filter, flags, 0, 0, udata);
    return kevent(kq, &ch, 1, NULL, 0, NULL) < 0 ? errno : 0;
}

static int wait_ms(int kq, struct kevent *ev, int n, int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    return kevent(kq, NULL, 0, ev, n, &ts);
}

static int nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void drain(int fd) {
    char buf[4096];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- the emulation, through kqueue()/kevent() -------------------------- */

static void test_read_readiness(void) {
    struct kevent ev[4];
    int kq = kqueue(), p[2], tag;
    CHECK(kq >= 0);
    CHECK(pipe(p) == 0);
    CHECK(change(kq, p[0], EVFILT_READ, EV_ADD, &tag) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 0);
    CHECK(write(p[1], "ab", 2) == 2);
    CHECK(wait_ms(kq, ev, 4, 0) == 1);
    CHECK(ev[0].ident == (uintptr_t)p[0] && ev[0].filter == EVFILT_READ);
    CHECK(ev[0].udata == &tag && !(ev[0].flags & (EV_EOF | EV_ERROR)));
    /* Level-triggered: reported again until the bytes are read. */
    CHECK(wait_ms(kq, ev, 4, 0) == 1);
    CHECK(nonblock(p[0]) == 0);
    drain(p[0]);
    CHECK(wait_ms(kq, ev, 4, 0) == 0);
    /* EV_ADD again updates udata. */
    CHECK(change(kq, p[0], EVFILT_READ, EV_ADD, NULL) == 0);
    CHECK(write(p[1], "c", 1) == 1);
    CHECK(wait_ms(kq, ev, 4, 0) == 1 && ev[0].udata == NULL);
    close(p[0]);
    close(p[1]);
    close(kq);
}

static void test_write_readiness(void) {
    struct kevent ev[4];
    char chunk[4096];
    int kq = kqueue(), s[2], n;
    memset(chunk, 'w', sizeof(chunk));
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    CHECK(nonblock(s[0]) == 0 && nonblock(s[1]) == 0);
    CHECK(change(kq, s[0], EVFILT_WRITE, EV_ADD, NULL) == 0);
    n = wait_ms(kq, ev, 4, 0);
    CHECK(n == 1 && ev[0].filter == EVFILT_WRITE && ev[0].ident == (uintptr_t)s[0]);
    while (write(s[0], chunk, sizeof(chunk)) > 0) {
    }
    CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
    CHECK(wait_ms(kq, ev, 4, 0) == 0); /* full: not writable */
    drain(s[1]);
    CHECK(wait_ms(kq, ev, 4, 200) == 1 && ev[0].filter == EVFILT_WRITE);
    close(s[0]);
    close(s[1]);
    close(kq);
}

static void test_delete(void) {
    struct kevent ch[2], ev[4];
    int kq = kqueue(), p[2];
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK(change(kq, p[0], EVFILT_READ, EV_ADD, NULL) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 1);
    CHECK(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 0);
    /* Deleting what is not there: -1/ENOENT without room for errors... */
    CHECK(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL) == ENOENT);
    CHECK(change(kq, p[0], EVFILT_WRITE, EV_DELETE, NULL) == ENOENT);
    CHECK(change(kq, 999, EVFILT_READ, EV_DELETE, NULL) == ENOENT);
    /* ...and an EV_ERROR entry with room; the call then does not wait or
     * scan, though the change after the failing one was applied. */
    EV_SET(&ch[0], p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
    EV_SET(&ch[1], p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
    CHECK(kevent(kq, ch, 2, ev, 4, NULL) == 1);
    CHECK(ev[0].flags == EV_ERROR && ev[0].data == ENOENT);
    CHECK(ev[0].ident == (uintptr_t)p[0] && ev[0].filter == EVFILT_READ);
    CHECK(wait_ms(kq, ev, 4, 0) == 1 && ev[0].filter == EVFILT_READ);
    close(p[0]);
    close(p[1]);
    close(kq);
}

static void test_disable_enable(void) {
    struct kevent ev[4];
    int kq = kqueue(), p[2];
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK(change(kq, p[0], EVFILT_READ, EV_ADD | EV_DISABLE, NULL) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 0);
    CHECK(change(kq, p[0], EVFILT_READ, EV_ENABLE, NULL) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 1);
    CHECK(change(kq, p[0], EVFILT_READ, EV_DISABLE, NULL) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 0);
    /* Like FreeBSD: EV_ADD on an existing filter does not re-enable it. */
    CHECK(change(kq, p[0], EVFILT_READ, EV_ADD, NULL) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 0);
    /* A disabled filter is still registered: deleting it works once. */
    CHECK(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL) == 0);
    CHECK(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL) == ENOENT);
    CHECK(change(kq, p[0], EVFILT_READ, EV_ENABLE, NULL) == ENOENT);
    close(p[0]);
    close(p[1]);
    close(kq);
}

static void test_oneshot(void) {
    struct kevent ev[4];
    int kq = kqueue(), p[2], s[2], n;
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK(change(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, NULL) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 1 && (ev[0].flags & EV_ONESHOT));
    CHECK(wait_ms(kq, ev, 4, 0) == 0); /* fired once, though still readable */
    CHECK(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL) == ENOENT); /* gone */
    CHECK(change(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, NULL) == 0); /* re-arm */
    CHECK(wait_ms(kq, ev, 4, 0) == 1);
    CHECK(wait_ms(kq, ev, 4, 0) == 0);
    /* Re-arming while it has not fired yet keeps one registration. */
    CHECK(nonblock(p[0]) == 0);
    drain(p[0]);
    CHECK(change(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, NULL) == 0);
    CHECK(change(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, NULL) == 0);
    CHECK(write(p[1], "y", 1) == 1);
    CHECK(wait_ms(kq, ev, 4, 0) == 1);
    CHECK(wait_ms(kq, ev, 4, 0) == 0);
    /* Like FreeBSD: EV_ADD|EV_ONESHOT on a live level filter stays level. */
    CHECK(change(kq, p[0], EVFILT_READ, EV_ADD, NULL) == 0);
    CHECK(change(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, NULL) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 1 && !(ev[0].flags & EV_ONESHOT));
    CHECK(wait_ms(kq, ev, 4, 0) == 1);
    CHECK(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL) == 0);
    /* Oneshot read and level write on one fd: each keeps its own kind. */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    CHECK(write(s[1], "z", 1) == 1);
    CHECK(change(kq, s[0], EVFILT_READ, EV_ADD | EV_ONESHOT, NULL) == 0);
    CHECK(change(kq, s[0], EVFILT_WRITE, EV_ADD, NULL) == 0);
    n = wait_ms(kq, ev, 4, 0);
    CHECK(n == 2);
    n = wait_ms(kq, ev, 4, 0);
    CHECK(n == 1 && ev[0].filter == EVFILT_WRITE);
    CHECK(change(kq, s[0], EVFILT_READ, EV_DELETE, NULL) == ENOENT);
    CHECK(change(kq, s[0], EVFILT_WRITE, EV_DELETE, NULL) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 0);
    close(s[0]);
    close(s[1]);
    close(p[0]);
    close(p[1]);
    close(kq);
}

static void test_clear(void) {
    struct kevent ev[4];
    int kq = kqueue(), p[2], s[2];
    CHECK(pipe(p) == 0);
    CHECK(change(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, NULL) == 0);
    CHECK(write(p[1], "a", 1) == 1);
    CHECK(wait_ms(kq, ev, 4, 0) == 1 && (ev[0].flags & EV_CLEAR));
    CHECK(wait_ms(kq, ev, 4, 0) == 0); /* unread, but already reported */
    CHECK(write(p[1], "b", 1) == 1);
    CHECK(wait_ms(kq, ev, 4, 0) == 1); /* new data: reported again */
    CHECK(wait_ms(kq, ev, 4, 0) == 0);
    /* Honest limitation: EV_CLEAR must agree across one fd's filters. */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    CHECK(change(kq, s[0], EVFILT_READ, EV_ADD | EV_CLEAR, NULL) == 0);
    CHECK(change(kq, s[0], EVFILT_WRITE, EV_ADD, NULL) == EINVAL);
    CHECK(change(kq, s[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, NULL) == 0);
    close(s[0]);
    close(s[1]);
    close(p[0]);
    close(p[1]);
    close(kq);
}

static void test_eof(void) {
    struct kevent ev[4];
    char buf[8];
    int kq = kqueue(), p[2], q[2], s[2];
    /* A socket whose peer sent a byte and closed: EV_EOF, byte still there. */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    CHECK(change(kq, s[0], EVFILT_READ, EV_ADD, NULL) == 0);
    CHECK(write(s[1], "x", 1) == 1);
    CHECK(close(s[1]) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 1 && ev[0].filter == EVFILT_READ && (ev[0].flags & EV_EOF));
    CHECK(read(s[0], buf, sizeof(buf)) == 1);
    CHECK(read(s[0], buf, sizeof(buf)) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 1 && (ev[0].flags & EV_EOF)); /* EOF stays readable */
    /* A half-close (shutdown of the peer's writing side) is EOF too. */
    CHECK(change(kq, s[0], EVFILT_READ, EV_DELETE, NULL) == 0);
    close(s[0]);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    CHECK(change(kq, s[0], EVFILT_READ, EV_ADD, NULL) == 0);
    CHECK(shutdown(s[1], SHUT_WR) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 1 && (ev[0].flags & EV_EOF));
    CHECK(change(kq, s[0], EVFILT_READ, EV_DELETE, NULL) == 0);
    close(s[0]);
    close(s[1]);
    /* A pipe whose writer closed. */
    CHECK(pipe(p) == 0);
    CHECK(change(kq, p[0], EVFILT_READ, EV_ADD, NULL) == 0);
    CHECK(close(p[1]) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 1 && (ev[0].flags & EV_EOF));
    CHECK(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL) == 0);
    close(p[0]);
    /* A pipe whose reader closed: the write filter reports EV_EOF. */
    CHECK(pipe(q) == 0);
    CHECK(change(kq, q[1], EVFILT_WRITE, EV_ADD, NULL) == 0);
    CHECK(close(q[0]) == 0);
    CHECK(wait_ms(kq, ev, 4, 0) == 1 && ev[0].filter == EVFILT_WRITE && (ev[0].flags & EV_EOF));
    CHECK(change(kq, q[1], EVFILT_WRITE, EV_DELETE, NULL) == 0);
    close(q[1]);
    close(kq);
}

static void test_errors(void) {
    struct kevent ch[2], ev[4];
    struct timespec bad;
    int kq = kqueue(), p[2], notkq;
    CHECK(pipe(p) == 0);
    CHECK(change(kq, p[0], 42, EV_ADD, NULL) == EINVAL); /* unknown filter */
    CHECK(change(kq, 12345, EVFILT_READ, EV_ADD, NULL) == EBADF);
    /* A descriptor that kqueue() did not make (a number no kqueue had). */
    notkq = dup2(p[1], 950);
    CHECK(notkq == 950);
    CHECK(change(notkq, p[0], EVFILT_READ, EV_ADD, NULL) == EBADF);
    CHECK(kevent(-1, NULL, 0, ev, 4, NULL) == -1 && errno == EBADF);
    /* With no room, the first failing change stops the call: the later
     * change is not applied. */
    EV_SET(&ch[0], p[0], 42, EV_ADD, 0, 0, NULL);
    EV_SET(&ch[1], p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
    CHECK(kevent(kq, ch, 2, NULL, 0, NULL) == -1 && errno == EINVAL);
    CHECK(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL) == ENOENT);
    /* With room, both errors are reported and nothing else is. */
    EV_SET(&ch[1], 12345, EVFILT_WRITE, EV_ADD, 0, 0, NULL);
    CHECK(kevent(kq, ch, 2, ev, 4, NULL) == 2);
    CHECK(ev[0].flags == EV_ERROR && ev[0].data == EINVAL && ev[0].filter == 42);
    CHECK(ev[1].flags == EV_ERROR && ev[1].data == EBADF && ev[1].ident == 12345);
    /* Room for one error only: the second failure is -1/errno. */
    CHECK(kevent(kq, ch, 2, ev, 1, NULL) == -1 && errno == EBADF);
    bad.tv_sec = 0;
    bad.tv_nsec = 1000000000L;
    CHECK(kevent(kq, NULL, 0, ev, 4, &bad) == -1 && errno == EINVAL);
    CHECK(kevent(kq, NULL, 0, ev, -1, NULL) == -1 && errno == EINVAL);
    CHECK(kevent(kq, NULL, 0, NULL, 0, NULL) == 0); /* no room: no wait */
    close(notkq);
    close(p[0]);
    close(p[1]);
    close(kq);
}

/* Room for one event while an fd is ready both ways: the two filters must
 * take turns, and a oneshot or EV_CLEAR one must not be lost. */
static int both_in_two_calls(int kq) {
    struct kevent ev[1];
    int seen = 0, i;
    for (i = 0; i < 2; i++) {
        if (wait_ms(kq, ev, 1, 0) != 1) return -1;
        seen |= ev[0].filter == EVFILT_READ ? 1 : ev[0].filter == EVFILT_WRITE ? 2 : 4;
    }
    return seen;
}

static void test_room(void) {
    struct kevent ev[4];
    int kq = kqueue(), s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    CHECK(write(s[1], "x", 1) == 1);
    CHECK(change(kq, s[0], EVFILT_READ, EV_ADD, NULL) == 0);
    CHECK(change(kq, s[0], EVFILT_WRITE, EV_ADD, NULL) == 0);
    CHECK(both_in_two_calls(kq) == 3);
    CHECK(both_in_two_calls(kq) == 3);
    CHECK(change(kq, s[0], EVFILT_READ, EV_DELETE, NULL) == 0);
    CHECK(change(kq, s[0], EVFILT_WRITE, EV_DELETE, NULL) == 0);
    CHECK(change(kq, s[0], EVFILT_READ, EV_ADD | EV_ONESHOT, NULL) == 0);
    CHECK(change(kq, s[0], EVFILT_WRITE, EV_ADD | EV_ONESHOT, NULL) == 0);
    CHECK(both_in_two_calls(kq) == 3);
    CHECK(wait_ms(kq, ev, 4, 0) == 0);
    CHECK(change(kq, s[0], EVFILT_READ, EV_ADD | EV_CLEAR, NULL) == 0);
    CHECK(change(kq, s[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, NULL) == 0);
    CHECK(both_in_two_calls(kq) == 3);
    close(s[0]);
    close(s[1]);
    close(kq);
}

static void test_nested(void) {
    struct kevent ev[4];
    struct epoll_event eev[2];
    int inner = kqueue(), outer = kqueue(), ep, p[2];
    CHECK(inner >= 0 && outer >= 0);
    CHECK(pipe(p) == 0);
    CHECK(change(inner, p[0], EVFILT_READ, EV_ADD, NULL) == 0);
    CHECK(change(outer, inner, EVFILT_READ, EV_ADD | EV_ONESHOT, NULL) == 0);
    CHECK(wait_ms(outer, ev, 4, 0) == 0);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK(wait_ms(outer, ev, 4, 0) == 1 && ev[0].ident == (uintptr_t)inner);
    CHECK(wait_ms(outer, ev, 4, 0) == 0); /* oneshot */
    /* Re-arming while the inner queue still has events fires at once: no
     * wake-up is lost (what the outer wake-up relies on). */
    CHECK(change(outer, inner, EVFILT_READ, EV_ADD | EV_ONESHOT, NULL) == 0);
    CHECK(wait_ms(outer, ev, 4, 0) == 1);
    /* Draining the inner queue (the loop's poll) leaves it level-ready
     * while the pipe has bytes; reading them makes it idle. */
    CHECK(wait_ms(inner, ev, 4, 0) == 1);
    CHECK(nonblock(p[0]) == 0);
    drain(p[0]);
    CHECK(change(outer, inner, EVFILT_READ, EV_ADD | EV_ONESHOT, NULL) == 0);
    CHECK(wait_ms(outer, ev, 4, 0) == 0);
    /* A plain epoll can watch an emulated kqueue too: it is an epoll fd. */
    ep = epoll_create1(0);
    memset(eev, 0, sizeof(eev));
    eev[0].events = EPOLLIN;
    eev[0].data.fd = inner;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, inner, &eev[0]) == 0);
    CHECK(epoll_wait(ep, eev, 2, 0) == 0);
    CHECK(write(p[1], "y", 1) == 1);
    CHECK(epoll_wait(ep, eev, 2, 0) == 1 && eev[0].data.fd == inner);
    CHECK(wait_ms(outer, ev, 4, 0) == 1);
    close(ep);
    close(p[0]);
    close(p[1]);
    close(outer);
    close(inner);
}

static void test_timeout(void) {
    struct kevent ev[1];
    int kq = kqueue();
    double t0 = now_ms();
    CHECK(wait_ms(kq, ev, 1, 30) == 0);
    CHECK(now_ms() - t0 >= 25.0);
    close(kq);
}

/* The race the generation number is for, made deterministic: the outer
 * queue's oneshot event for the inner queue has left epoll_wait when another
 * thread drains the inner queue's source and re-arms the outer registration.
 * Real kqueue re-checks readiness before delivering, so it reports nothing
 * and the new arming stays; delivering the stale event instead would spend
 * that arming, and the next byte would wake nobody. */
static int hook_kq = -1, hook_inner, hook_fd;

static void after_wait_hook(int kq) {
    if (kq != hook_kq) return;
    hook_kq = -1;
    drain(hook_fd);
    (void)change(kq, hook_inner, EVFILT_READ, EV_ADD | EV_ONESHOT, NULL);
}

static void test_stale_event(void) {
    struct kevent ev[2];
    int inner = kqueue(), outer = kqueue(), p[2];
    CHECK(pipe(p) == 0 && nonblock(p[0]) == 0);
    CHECK(change(inner, p[0], EVFILT_READ, EV_ADD, NULL) == 0);
    CHECK(change(outer, inner, EVFILT_READ, EV_ADD | EV_ONESHOT, NULL) == 0);
    CHECK(write(p[1], "x", 1) == 1);
    hook_inner = inner;
    hook_fd = p[0];
    hook_kq = outer;
    CHECK(wait_ms(outer, ev, 2, 0) == 0); /* stale: not delivered */
    CHECK(hook_kq == -1);                 /* the hook did run */
    CHECK(write(p[1], "y", 1) == 1);
    CHECK(wait_ms(outer, ev, 2, 0) == 1); /* the re-arm survived */
    close(p[0]);
    close(p[1]);
    close(outer);
    close(inner);
}

/* The outer wake-up: a helper thread sleeps in kevent() on an outer queue
 * that holds the inner one (oneshot), while the main thread re-arms it. The
 * helper waits in 100 ms slices, so a lost wake-up fails the test instead of
 * hanging it. */
struct waker {
    int outer, inner, notify;
    pthread_mutex_t lock;
    int stop, wakes, final_wake, failed;
};

static void *waker_main(void *arg) {
    struct waker *w = arg;
    struct kevent ev[1];
    int n, stop, idle_after_stop = 0;
    for (;;) {
        n = wait_ms(w->outer, ev, 1, 100);
        if (n < 0 && errno == EINTR) continue;
        pthread_mutex_lock(&w->lock);
        if (n < 0 || (n == 1 && ev[0].ident != (uintptr_t)w->inner)) w->failed = 1;
        if (n == 1) {
            w->wakes++;
            if (w->stop) w->final_wake = 1;
        }
        stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        if (n == 1 && write(w->notify, "w", 1) < 0 && errno != EAGAIN) w->failed = 1;
        if (n < 0 || (stop && n == 1) || (stop && ++idle_after_stop > 20)) break;
    }
    return NULL;
}

static int arm(struct waker *w) {
    return change(w->outer, w->inner, EVFILT_READ, EV_ADD | EV_ONESHOT, NULL);
}

static void test_thread_wakeup(void) {
    enum { STRICT_ROUNDS = 300, STRESS_ROUNDS = 3000 };
    struct waker w;
    struct pollfd pfd;
    pthread_t th;
    char c;
    int p[2], note[2], i, ok = 0, final_wake;
    memset(&w, 0, sizeof(w));
    pthread_mutex_init(&w.lock, NULL);
    w.inner = kqueue();
    w.outer = kqueue();
    CHECK(pipe(p) == 0 && pipe(note) == 0);
    CHECK(nonblock(p[0]) == 0 && nonblock(note[0]) == 0 && nonblock(note[1]) == 0);
    w.notify = note[1];
    CHECK(change(w.inner, p[0], EVFILT_READ, EV_ADD, NULL) == 0);
    CHECK(arm(&w) == 0);
    CHECK(pthread_create(&th, NULL, waker_main, &w) == 0);
    /* Strict: every byte written wakes the helper exactly once. */
    for (i = 0; i < STRICT_ROUNDS; i++) {
        if (write(p[1], "x", 1) != 1) break;
        pfd.fd = note[0];
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, 2000) != 1 || read(note[0], &c, 1) != 1) break;
        if (read(p[0], &c, 1) != 1 || read(note[0], &c, 1) != -1) break;
        if (arm(&w) != 0) break;
        ok++;
    }
    CHECK(ok == STRICT_ROUNDS);
    /* Stress: re-arm as fast as possible while the inner queue flips between
     * ready and idle, racing the helper's own bookkeeping. */
    for (i = 0; i < STRESS_ROUNDS; i++) {
        if (i % 2 == 0 && write(p[1], "x", 1) != 1) break;
        if (i % 2 == 1) drain(p[0]);
        if (arm(&w) != 0) break;
        drain(note[0]);
    }
    CHECK(i == STRESS_ROUNDS);
    /* After all that, one more byte must still wake it. */
    pthread_mutex_lock(&w.lock);
    w.stop = 1;
    pthread_mutex_unlock(&w.lock);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK(arm(&w) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    pthread_mutex_lock(&w.lock);
    final_wake = w.final_wake;
    CHECK(!w.failed && w.wakes >= STRICT_ROUNDS + 1);
    pthread_mutex_unlock(&w.lock);
    CHECK(final_wake);
    pthread_mutex_destroy(&w.lock);
    close(p[0]);
    close(p[1]);
    close(note[0]);
    close(note[1]);
    close(w.outer);
    close(w.inner);
}

/* ---- backend_kqueue.c, through the backend.h contract ------------------- */

static void test_backend_selftest(void) {
    int line = fh_kq_selftest();
    if (line != 0) fprintf(stderr, "fh_kq_selftest failed at kqueue_backend_tu.c:%d\n", line);
    CHECK(line == 0);
}

static void test_backend_merge(void) {
    enum { NPAIRS = 5 };
    fh_event ev[16];
    int s[NPAIRS][2], i, j, n, err = 0, total = 0, seen[NPAIRS] = {0};
    fh_backend *b = fh_backend_create(16, &err);
    CHECK(b != NULL);
    for (i = 0; i < NPAIRS; i++) {
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s[i]) == 0);
        CHECK(write(s[i][1], "m", 1) == 1);
        CHECK(fh_backend_add(b, s[i][0], FH_READABLE | FH_WRITABLE) == 0);
    }
    /* Ten kevents, five fds: five entries, each both ways, none twice. */
    n = fh_backend_poll(b, ev, 16, 0);
    CHECK(n == NPAIRS);
    for (i = 0; i < n; i++)
        for (j = 0; j < NPAIRS; j++)
            if (ev[i].fd == s[j][0]) {
                seen[j]++;
                CHECK(ev[i].mask == (FH_READABLE | FH_WRITABLE));
            }
    for (j = 0; j < NPAIRS; j++) CHECK(seen[j] == 1);
    /* A small `max` caps the kevents read, so entries never exceed it, and
     * no fd shows up twice in one poll. */
    n = fh_backend_poll(b, ev, 3, 0);
    CHECK(n >= 1 && n <= 3);
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++) CHECK(ev[i].fd != ev[j].fd);
    for (i = 0; i < 6; i++) {
        n = fh_backend_poll(b, ev, 1, 0);
        total += n;
        CHECK(n == 1);
    }
    for (i = 0; i < NPAIRS; i++) {
        CHECK(fh_backend_del(b, s[i][0], FH_READABLE | FH_WRITABLE) == 0);
        close(s[i][0]);
        close(s[i][1]);
    }
    CHECK(total == 6);
    CHECK(fh_backend_poll(b, ev, 16, 0) == 0);
    fh_backend_free(b);
}

static void test_backend_large_fd(void) {
    fh_event ev[4];
    int err = 0, s[2], big;
    fh_backend *b = fh_backend_create(4, &err);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    big = dup2(s[0], 900);
    CHECK(big == 900);
    CHECK(write(s[1], "x", 1) == 1);
    CHECK(fh_backend_add(b, big, FH_READABLE | FH_WRITABLE) == 0);
    CHECK(fh_backend_poll(b, ev, 4, 0) == 1 && ev[0].fd == big &&
          ev[0].mask == (FH_READABLE | FH_WRITABLE));
    CHECK(fh_backend_del(b, big, FH_READABLE | FH_WRITABLE) == 0);
    close(big);
    close(s[0]);
    close(s[1]);
    fh_backend_free(b);
}

static void test_backend_oneshot(void) {
    fh_event ev[4];
    int err = 0, s[2];
    const int R = FH_READABLE, W = FH_WRITABLE, OS = FH_ONESHOT;
    fh_backend *b = fh_backend_create(4, &err);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    CHECK(write(s[1], "x", 1) == 1);
    /* Level -> oneshot on a live filter: must now fire only once (kqueue
     * would keep the old flags on a plain EV_ADD). */
    CHECK(fh_backend_add(b, s[0], R) == 0);
    CHECK(fh_backend_poll(b, ev, 4, 0) == 1);
    CHECK(fh_backend_mod(b, s[0], R, R | OS) == 0);
    CHECK(fh_backend_poll(b, ev, 4, 0) == 1);
    CHECK(fh_backend_poll(b, ev, 4, 0) == 0);
    /* Oneshot (fired) -> level: reported on every poll again. */
    CHECK(fh_backend_mod(b, s[0], R | OS, R) == 0);
    CHECK(fh_backend_poll(b, ev, 4, 0) == 1);
    CHECK(fh_backend_poll(b, ev, 4, 0) == 1);
    /* Oneshot (not fired yet) -> level, and del of an unfired oneshot. */
    CHECK(fh_backend_del(b, s[0], R) == 0);
    CHECK(fh_backend_add(b, s[0], W | OS) == 0);
    CHECK(fh_backend_mod(b, s[0], W | OS, R) == 0);
    CHECK(fh_backend_poll(b, ev, 4, 0) == 1 && ev[0].mask == R);
    CHECK(fh_backend_mod(b, s[0], R, R | OS) == 0);
    CHECK(fh_backend_del(b, s[0], R | OS) == 0);
    CHECK(fh_backend_poll(b, ev, 4, 0) == 0);
    /* Both directions oneshot: merged into one entry; re-armed by mod. */
    CHECK(fh_backend_add(b, s[0], R | W | OS) == 0);
    CHECK(fh_backend_poll(b, ev, 4, 0) == 1 && ev[0].mask == (R | W));
    CHECK(fh_backend_poll(b, ev, 4, 0) == 0);
    CHECK(fh_backend_mod(b, s[0], R | W | OS, R | W | OS) == 0);
    CHECK(fh_backend_poll(b, ev, 4, 0) == 1 && ev[0].mask == (R | W));
    /* Fired oneshot -> nothing, then delete of the empty registration. */
    CHECK(fh_backend_mod(b, s[0], R | W | OS, 0) == 0);
    CHECK(fh_backend_del(b, s[0], 0) == 0);
    CHECK(fh_backend_poll(b, ev, 4, 0) == 0);
    close(s[0]);
    close(s[1]);
    fh_backend_free(b);
}

static void test_backend_hup(void) {
    fh_event ev[4];
    char buf[8];
    int err = 0, s[2], n;
    fh_backend *b = fh_backend_create(4, &err);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    CHECK(fh_backend_add(b, s[0], FH_READABLE) == 0);
    CHECK(write(s[1], "bye", 3) == 3);
    CHECK(close(s[1]) == 0);
    /* Watching only reads, the peer's close is a half-close (backend.h): readable. */
    n = fh_backend_poll(b, ev, 4, 0);
    CHECK(n == 1 && ev[0].mask == FH_READABLE);
    CHECK(read(s[0], buf, sizeof(buf)) == 3);
    CHECK(read(s[0], buf, sizeof(buf)) == 0);
    CHECK(fh_backend_mod(b, s[0], FH_READABLE, FH_READABLE | FH_WRITABLE) == 0);
    n = fh_backend_poll(b, ev, 4, 0);
    CHECK(n == 1 && (ev[0].mask & FH_HUP) && (ev[0].mask & FH_READABLE));
    CHECK(fh_backend_del(b, s[0], FH_READABLE | FH_WRITABLE) == 0);
    close(s[0]);
    fh_backend_free(b);
}

static void test_backend_errors(void) {
    fh_event ev[2];
    int err = 0, p[2];
    double t0;
    fh_backend *b = fh_backend_create(0, &err); /* 0 is taken as 1 */
    CHECK(b != NULL);
    CHECK(pipe(p) == 0);
    CHECK(fh_backend_add(b, 12345, FH_READABLE) == -EBADF);
    CHECK(fh_backend_add(b, -1, FH_READABLE) == -EBADF);
    CHECK(fh_backend_del(b, p[0], FH_READABLE) == -ENOENT); /* never added */
    CHECK(fh_backend_mod(b, p[0], FH_READABLE, FH_WRITABLE) == -ENOENT);
    CHECK(fh_backend_poll(b, ev, 0, 0) == -EINVAL);
    t0 = now_ms();
    CHECK(fh_backend_poll(b, ev, 2, 30) == 0);
    CHECK(now_ms() - t0 >= 25.0);
    close(p[0]);
    close(p[1]);
    fh_backend_free(b);
    fh_backend_free(NULL);
}

/* Runs everything; prints each failure and then "N passed, N failed".
 * Exported so that test/c/kqueue_tcc_selftest.ts can run the same suite
 * compiled by TinyCC (built with FH_KQ_TEST_LIBRARY defined, without main). */
int kqueue_emu_test_run(void) {
    passed = failed = 0;
    test_read_readiness();
    test_write_readiness();
    test_delete();
    test_disable_enable();
    test_oneshot();
    test_clear();
    test_eof();
    test_errors();
    test_room();
    test_nested();
    test_timeout();
    test_stale_event();
    test_thread_wakeup();
    test_backend_selftest();
    test_backend_merge();
    test_backend_large_fd();
    test_backend_oneshot();
    test_backend_hup();
    test_backend_errors();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    fflush(stderr);
    return failed == 0 ? 0 : 1;
}

#ifndef FH_KQ_TEST_LIBRARY
int main(void) { return kqueue_emu_test_run(); }
#endif
