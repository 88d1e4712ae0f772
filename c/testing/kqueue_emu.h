/*
 * kqueue_emu.h - TEST SUPPORT ONLY. NOT A PRODUCTION BACKEND.
 *
 * ==========================================================================
 *  A small kqueue()/kevent() emulation over epoll, so that backend_kqueue.c
 *  can be compiled and tested on Linux. Never select it for real serving on
 *  Linux: the epoll backend is the real one there. On macOS/BSD the real
 *  <sys/event.h> is used and this file is not included at all.
 * ==========================================================================
 *
 * Include it instead of <sys/event.h>, before backend_kqueue.c. It is
 * header-only (static functions) because the C core is one translation unit;
 * its state is private to the including translation unit, so a kqueue made in
 * one TU is unknown (EBADF) to another.
 *
 * What it does:
 *  - EVFILT_READ and EVFILT_WRITE on anything epoll accepts (sockets, pipes,
 *    eventfds, epoll fds - so an emulated kqueue can watch another one, and a
 *    plain epoll can watch an emulated kqueue: a kqueue here IS an epoll fd).
 *  - EV_ADD, EV_DELETE, EV_ENABLE, EV_DISABLE, EV_ONESHOT, EV_CLEAR; EV_EOF
 *    and EV_ERROR in results. Like FreeBSD, EV_ADD on an existing filter
 *    updates udata but keeps its EV_ONESHOT/EV_CLEAR and its enabled state.
 *  - Changelist errors become EV_ERROR entries (data = errno) while the
 *    eventlist has room, and the call then returns their count without
 *    waiting; with no room, kevent() stops at the failing change and returns
 *    -1 with errno set. This is what FreeBSD and macOS do.
 *  - Thread safety for one waiter and other threads changing registrations
 *    (the outer wake-up pattern): every table access holds one mutex, never
 *    held while sleeping in epoll_wait, and a generation number in each
 *    epoll registration discards an event that a concurrent change made
 *    stale (the change re-queues it if it is still ready).
 *
 * How: the kqueue descriptor is an epoll descriptor. A table keyed by that
 * descriptor holds, per watched fd, each filter's state; the fd's single epoll
 * registration is recomputed from its enabled filters (EPOLLIN|EPOLLRDHUP for
 * read, EPOLLOUT for write, EPOLLET for EV_CLEAR, EPOLLONESHOT if any filter is
 * oneshot). A oneshot filter is deleted in user space when it is reported, and
 * the registration re-armed for the filters that remain. An fd with no enabled
 * filter is removed from epoll, since epoll reports errors even for mask 0.
 *
 * What it does NOT do (be honest with the tests that use it):
 *  - Any other filter (EVFILT_TIMER, EVFILT_SIGNAL, EVFILT_VNODE, ...) or flag
 *    (EV_DISPATCH, EV_RECEIPT): unknown filters fail with EINVAL, other flag
 *    bits are ignored.
 *  - data is 0 in returned events (not the byte count) and fflags is 0 (not
 *    the socket error that accompanies EV_EOF).
 *  - EV_CLEAR is per fd, not per filter: the read and write filters of one fd
 *    must agree on it, otherwise EV_ADD fails with EINVAL.
 *  - Regular files: epoll refuses them (EPERM), real kqueue reports them ready.
 *  - close() is not intercepted. The kernel drops the epoll registration when
 *    the file goes away, but this table still remembers the filters: delete
 *    them before closing the fd (backend.h requires that anyway). A kqueue's
 *    table is freed only when kqueue() hands out the same descriptor number
 *    again.
 *  - With a finite timeout, a wait whose only events turned out stale returns
 *    0 early instead of waiting out the rest of the timeout.
 *  - epoll_wait is asked for at most 64 descriptors per call.
 *  - With room for a single event, an fd ready both ways is reported one
 *    filter per call, alternating; under EV_CLEAR that re-arming can report
 *    a filter once more than real kqueue would.
 *  - A kqueue descriptor that was closed and whose number now names another
 *    kind of file is still taken for a kqueue (epoll then says EINVAL, not
 *    EBADF).
 *
 * TinyCC note: glibc declares struct epoll_event packed on x86_64, and TinyCC
 * ignores __attribute__((packed)); #pragma pack is honoured, so the include is
 * wrapped in it, with the headers it depends on included first so that they
 * are not packed too. If <sys/epoll.h> was already included without the
 * pragma, its include guard wins: include this file early.
 */
#ifndef FH_KQUEUE_EMU_H
#define FH_KQUEUE_EMU_H

#define FH_KQUEUE_EMULATED 1

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#pragma pack(push, 4)
#include <sys/epoll.h>
#pragma pack(pop)
#else
#include <sys/epoll.h>
#endif

/* Field types as on macOS and 64-bit FreeBSD. */
struct kevent {
    uintptr_t ident;
    int16_t filter;
    uint16_t flags;
    uint32_t fflags;
    intptr_t data;
    void *udata;
};

/* Values as on FreeBSD and macOS. */
#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_DISABLE 0x0008
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020
#define EV_ERROR 0x4000
#define EV_EOF 0x8000

#define EV_SET(kevp, a, b, c, d, e, f)              \
    do {                                            \
        struct kevent *fh_kev_ = (kevp);            \
        fh_kev_->ident = (uintptr_t)(a);            \
        fh_kev_->filter = (int16_t)(b);             \
        fh_kev_->flags = (uint16_t)(c);             \
        fh_kev_->fflags = (uint32_t)(d);            \
        fh_kev_->data = (intptr_t)(e);              \
        fh_kev_->udata = (f);                       \
    } while (0)

/* One filter of one fd. */
struct fh_kqe_filter {
    unsigned char on;      /* registered */
    unsigned char enabled; /* not EV_DISABLE'd */
    uint16_t flags;        /* EV_ONESHOT | EV_CLEAR, fixed at creation */
    void *udata;
};

struct fh_kqe_fd {
    struct fh_kqe_filter f[2]; /* [0] EVFILT_READ, [1] EVFILT_WRITE */
    uint32_t events;           /* epoll's registration now; 0 = not in epoll */
    uint32_t gen;              /* bumped by every epoll_ctl ADD/MOD */
    unsigned char first;       /* filter reported first: rotates when one waits */
};

struct fh_kqe_queue {
    int live;
    int nfds;
    struct fh_kqe_fd *fds; /* indexed by the watched fd */
};

/* Indexed by the kqueue (epoll) descriptor. */
static struct fh_kqe_queue *fh_kqe_queues;
static int fh_kqe_nqueues;
static pthread_mutex_t fh_kqe_lock = PTHREAD_MUTEX_INITIALIZER;

static struct fh_kqe_queue *fh_kqe_find(int kq) {
    if (kq < 0 || kq >= fh_kqe_nqueues || !fh_kqe_queues[kq].live) return NULL;
    return &fh_kqe_queues[kq];
}

/* Makes epoll's registration of fd match its enabled filters. Returns 0 or an
 * errno value. The data word carries the fd and the generation. */
static int fh_kqe_sync(int kq, struct fh_kqe_fd *e, int fd) {
    struct epoll_event ev;
    uint32_t want = 0;
    int i;
    for (i = 0; i < 2; i++) {
        const struct fh_kqe_filter *f = &e->f[i];
        if (!f->on || !f->enabled) continue;
        want |= i == 0 ? (uint32_t)(EPOLLIN | EPOLLRDHUP) : (uint32_t)EPOLLOUT;
        if (f->flags & EV_CLEAR) want |= EPOLLET;
        if (f->flags & EV_ONESHOT) want |= EPOLLONESHOT;
    }
    memset(&ev, 0, sizeof(ev));
    if (want == 0) {
        if (e->events == 0) return 0;
        e->events = 0;
        if (epoll_ctl(kq, EPOLL_CTL_DEL, fd, &ev) < 0) return errno;
        return 0;
    }
    e->gen++;
    ev.events = want;
    ev.data.u64 = (uint64_t)(uint32_t)fd | ((uint64_t)e->gen << 32);
    if (e->events != 0) {
        if (epoll_ctl(kq, EPOLL_CTL_MOD, fd, &ev) == 0) {
            e->events = want;
            return 0;
        }
        /* ENOENT: the file was closed (and the number maybe reused) behind
         * our back, which dropped the old registration; add afresh. */
        if (errno != ENOENT) return errno;
        e->events = 0;
    }
    if (epoll_ctl(kq, EPOLL_CTL_ADD, fd, &ev) < 0) return errno;
    e->events = want;
    return 0;
}

/* Applies one change. Returns 0 or an errno value. */
static int fh_kqe_apply(int kq, struct fh_kqe_queue *q, const struct kevent *c) {
    int i = c->filter == EVFILT_READ ? 0 : c->filter == EVFILT_WRITE ? 1 : -1;
    int fd = (int)c->ident, err;
    struct fh_kqe_fd *e;
    struct fh_kqe_filter *f, saved;
    if (i < 0) return EINVAL;
    if (c->ident > (uintptr_t)INT_MAX) return EBADF;
    if (fd >= q->nfds) {
        int n = q->nfds ? q->nfds : 64;
        struct fh_kqe_fd *grown;
        if (!(c->flags & EV_ADD)) return ENOENT;
        while (n <= fd) n *= 2;
        grown = realloc(q->fds, (size_t)n * sizeof(*grown));
        if (grown == NULL) return ENOMEM;
        memset(grown + q->nfds, 0, (size_t)(n - q->nfds) * sizeof(*grown));
        q->fds = grown;
        q->nfds = n;
    }
    e = &q->fds[fd];
    f = &e->f[i];
    saved = *f;
    /* As in FreeBSD, EV_DELETE applies to an existing filter; EV_ADD|EV_DELETE
     * on a new one just adds it. */
    if (f->on && (c->flags & EV_DELETE)) {
        memset(f, 0, sizeof(*f));
        /* The filter is gone whatever epoll says (EBADF: fd already closed). */
        return fh_kqe_sync(kq, e, fd);
    }
    if (!f->on) {
        const struct fh_kqe_filter *other = &e->f[1 - i];
        if (!(c->flags & EV_ADD)) return ENOENT;
        if (other->on && (other->flags & EV_CLEAR) != (c->flags & EV_CLEAR)) return EINVAL;
        f->on = 1;
        f->enabled = 1;
        f->flags = c->flags & (EV_ONESHOT | EV_CLEAR);
    }
    if (c->flags & EV_ADD) f->udata = c->udata;
    if (c->flags & EV_DISABLE) f->enabled = 0;
    if (c->flags & EV_ENABLE) f->enabled = 1;
    err = fh_kqe_sync(kq, e, fd);
    if (err != 0) *f = saved;
    return err;
}

/* Turns one epoll result into at most `room` kevents; returns how many. */
static int fh_kqe_report(int kq, struct fh_kqe_queue *q, const struct epoll_event *r,
                         struct kevent *out, int room) {
    static const uint32_t hit[2] = {EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR,
                                    EPOLLOUT | EPOLLHUP | EPOLLERR};
    static const uint32_t eof[2] = {EPOLLRDHUP | EPOLLHUP | EPOLLERR, EPOLLHUP | EPOLLERR};
    int fd = (int)(uint32_t)r->data.u64, k, n = 0, rearm;
    struct fh_kqe_fd *e;
    if (fd >= q->nfds) return 0;
    e = &q->fds[fd];
    /* A change since epoll queued this made it stale; that change re-queued
     * the fd if it is still ready. */
    if (e->events == 0 || e->gen != (uint32_t)(r->data.u64 >> 32)) return 0;
    rearm = (e->events & EPOLLONESHOT) != 0;
    for (k = 0; k < 2; k++) {
        int i = (e->first + k) & 1;
        struct fh_kqe_filter *f = &e->f[i];
        if (!f->on || !f->enabled || !(r->events & hit[i])) continue;
        if (n == room) {
            /* No room (only possible with room for one event): it goes first
             * next time, and re-arming re-queues the fd for that. */
            e->first = (unsigned char)i;
            rearm = 1;
            continue;
        }
        EV_SET(&out[n], fd, i == 0 ? EVFILT_READ : EVFILT_WRITE,
               f->flags | ((r->events & eof[i]) ? EV_EOF : 0), 0, 0, f->udata);
        n++;
        if (f->flags & EV_ONESHOT) memset(f, 0, sizeof(*f));
    }
    /* Errors here have no caller to go to; the next change will meet them. */
    if (rearm) (void)fh_kqe_sync(kq, e, fd);
    return n;
}

static int kqueue(void) {
    struct fh_kqe_queue *q;
    int kq;
#if defined(__x86_64__)
    if (sizeof(struct epoll_event) != 12) { /* the packing went wrong */
        errno = EINVAL;
        return -1;
    }
#endif
    kq = epoll_create1(EPOLL_CLOEXEC);
    if (kq < 0) return -1;
    pthread_mutex_lock(&fh_kqe_lock);
    if (kq >= fh_kqe_nqueues) {
        int n = fh_kqe_nqueues ? fh_kqe_nqueues : 16;
        while (n <= kq) n *= 2;
        q = realloc(fh_kqe_queues, (size_t)n * sizeof(*q));
        if (q == NULL) {
            pthread_mutex_unlock(&fh_kqe_lock);
            close(kq);
            errno = ENOMEM;
            return -1;
        }
        memset(q + fh_kqe_nqueues, 0, (size_t)(n - fh_kqe_nqueues) * sizeof(*q));
        fh_kqe_queues = q;
        fh_kqe_nqueues = n;
    }
    q = &fh_kqe_queues[kq];
    free(q->fds); /* left by an earlier kqueue with this descriptor number */
    q->fds = NULL;
    q->nfds = 0;
    q->live = 1;
    pthread_mutex_unlock(&fh_kqe_lock);
    return kq;
}

static int kevent(int kq, const struct kevent *changes, int nchanges, struct kevent *events,
                  int nevents, const struct timespec *timeout) {
    struct epoll_event ready[64];
    struct fh_kqe_queue *q;
    int i, n, out = 0, ms = -1, err, max;
    if (nchanges < 0 || nevents < 0) {
        errno = EINVAL;
        return -1;
    }
    if (timeout != NULL) {
        if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L) {
            errno = EINVAL;
            return -1;
        }
        ms = timeout->tv_sec > INT_MAX / 1000 - 1
                 ? INT_MAX
                 : (int)timeout->tv_sec * 1000 + (int)((timeout->tv_nsec + 999999L) / 1000000L);
    }
    pthread_mutex_lock(&fh_kqe_lock);
    q = fh_kqe_find(kq);
    for (i = 0; q != NULL && i < nchanges; i++) {
        err = fh_kqe_apply(kq, q, &changes[i]);
        if (err == 0) continue;
        if (out == nevents) {
            pthread_mutex_unlock(&fh_kqe_lock);
            errno = err;
            return -1;
        }
        /* out <= i, so this never overwrites a change not yet applied when
         * changes and events are the same array. */
        events[out] = changes[i];
        events[out].flags = EV_ERROR;
        events[out].data = err;
        out++;
    }
    pthread_mutex_unlock(&fh_kqe_lock);
    if (q == NULL) {
        errno = EBADF;
        return -1;
    }
    if (out > 0 || nevents == 0) return out;
    /* An fd makes at most two kevents; asking for half as many fds as there
     * is room for means they all fit, unless there is room for only one. */
    max = nevents / 2 < 1 ? 1 : nevents / 2 > 64 ? 64 : nevents / 2;
    for (;;) {
        n = epoll_wait(kq, ready, max, ms);
        if (n < 0) return -1; /* errno from epoll_wait, EINTR included */
#ifdef FH_KQE_TEST_AFTER_WAIT
        /* Lets a single-threaded test make a change right here, where another
         * thread's change could land, to check the stale-event handling. */
        FH_KQE_TEST_AFTER_WAIT(kq);
#endif
        pthread_mutex_lock(&fh_kqe_lock);
        q = fh_kqe_find(kq);
        for (i = 0; q != NULL && i < n; i++)
            out += fh_kqe_report(kq, q, &ready[i], events + out, nevents - out);
        pthread_mutex_unlock(&fh_kqe_lock);
        /* Only a wait with no deadline goes round again after stale events. */
        if (out > 0 || n == 0 || ms >= 0) return out;
    }
}

#endif
