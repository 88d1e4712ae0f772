/*
 * backend_epoll.c - the Linux readiness backend (see backend.h for the contract).
 *
 * Level-triggered: a descriptor that still has unread bytes is reported again
 * by the next poll, so the core may stop reading a connection at any point
 * without losing a wake-up.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* glibc declares struct epoll_event __attribute__((packed)) on x86_64 (12
 * bytes). TinyCC ignores that attribute and would lay it out in 16 bytes, so
 * every event after the first would be read at the wrong offset. #pragma pack
 * is honoured by both compilers; other architectures do not pack the struct.
 * fh_backend_create checks the size, in case a libc ever disagrees. */
#if defined(__x86_64__)
#pragma pack(push, 4)
#include <sys/epoll.h>
#pragma pack(pop)
#else
#include <sys/epoll.h>
#endif

struct fh_backend {
    int epfd;
    int max_events;
    struct epoll_event *events;
};

static uint32_t fh_epoll_bits(int mask) {
    uint32_t ev = 0;
    if (mask & FH_READABLE) ev |= EPOLLIN | EPOLLRDHUP;
    if (mask & FH_WRITABLE) ev |= EPOLLOUT;
    if (mask & FH_ONESHOT) ev |= EPOLLONESHOT;
    return ev;
}

static fh_backend *fh_backend_create(int max_events, int *err) {
    fh_backend *b;
#if defined(__x86_64__)
    if (sizeof(struct epoll_event) != 12) {
        *err = -EINVAL;
        return NULL;
    }
#endif
    if (max_events < 1) max_events = 1;
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    b->events = calloc((size_t)max_events, sizeof(struct epoll_event));
    if (b->events == NULL) {
        free(b);
        *err = -ENOMEM;
        return NULL;
    }
    b->max_events = max_events;
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epfd < 0) {
        *err = -errno;
        free(b->events);
        free(b);
        return NULL;
    }
    return b;
}

static int fh_backend_fd(fh_backend *b) { return b->epfd; }

static int fh_epoll_ctl(fh_backend *b, int op, int fd, int mask) {
    struct epoll_event ev;
    ev.events = fh_epoll_bits(mask);
    ev.data.u64 = 0;
    ev.data.fd = fd;
    if (epoll_ctl(b->epfd, op, fd, &ev) < 0) return -errno;
    return 0;
}

static int fh_backend_add(fh_backend *b, int fd, int mask) {
    return fh_epoll_ctl(b, EPOLL_CTL_ADD, fd, mask);
}

static int fh_backend_mod(fh_backend *b, int fd, int old_mask, int new_mask) {
    (void)old_mask;
    return fh_epoll_ctl(b, EPOLL_CTL_MOD, fd, new_mask);
}

static int fh_backend_del(fh_backend *b, int fd, int old_mask) {
    (void)old_mask;
    /* A non-NULL event pointer keeps kernels before 2.6.9 happy. */
    return fh_epoll_ctl(b, EPOLL_CTL_DEL, fd, 0);
}

static int fh_backend_poll(fh_backend *b, fh_event *out, int max, int timeout_ms) {
    int i, n;
    if (max > b->max_events) max = b->max_events;
    /* By syscall() on the loop's polls (glibc's epoll_wait is a cancellation
     * point: see net.c); epoll_pwait with no mask is epoll_wait, and the only
     * one arm64 has. */
    n = timeout_ms == 0 ? (int)syscall(SYS_epoll_pwait, b->epfd, b->events, max, 0, NULL, (size_t)8)
                        : epoll_wait(b->epfd, b->events, max, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (i = 0; i < n; i++) {
        uint32_t e = b->events[i].events;
        int mask = 0;
        /* EPOLLRDHUP is the peer's FIN (a half-close): readable, the core
         * reads to the end; a request sent before it still gets its answer.
         * EPOLLHUP and EPOLLERR are a broken connection. */
        if (e & (EPOLLIN | EPOLLRDHUP)) mask |= FH_READABLE;
        if (e & EPOLLOUT) mask |= FH_WRITABLE;
        if (e & (EPOLLHUP | EPOLLERR)) mask |= FH_HUP;
        out[i].fd = b->events[i].data.fd;
        out[i].mask = mask;
    }
    return n;
}

static void fh_backend_free(fh_backend *b) {
    if (b == NULL) return;
    if (b->epfd >= 0) close(b->epfd);
    free(b->events);
    free(b);
}

static const char *fh_backend_name(void) { return "epoll"; }
