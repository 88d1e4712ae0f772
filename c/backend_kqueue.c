/*
 * backend_kqueue.c - the macOS and BSD readiness backend (see backend.h for
 * the contract).
 *
 * kqueue keeps one registration per (fd, filter) where epoll keeps one per fd:
 * readiness to read and to write are the separate EVFILT_READ and EVFILT_WRITE
 * filters, each added and deleted on its own and reported as its own kevent.
 * add/mod/del therefore turn the old and new masks into per-filter changes, and
 * poll merges the two kevents of one fd back into a single fh_event. Filters
 * are level-triggered, like the epoll backend.
 *
 * FH_ONESHOT is EV_ONESHOT, which differs from EPOLLONESHOT in two ways that
 * this file absorbs:
 *  - kqueue deletes a oneshot filter once it fires (epoll only disarms the fd),
 *    so a filter asked for with FH_ONESHOT may already be gone: deleting it
 *    tolerates ENOENT, and re-arming is simply EV_ADD|EV_ONESHOT again.
 *  - EV_ADD on a filter that still exists keeps its old EV_ONESHOT setting
 *    (FreeBSD ignores the new flags), so switching a live filter between
 *    oneshot and level deletes it and adds it again.
 * One difference stays visible: for FH_READABLE|FH_WRITABLE|FH_ONESHOT, epoll
 * disarms both directions when either fires, kqueue only the one that fired.
 *
 * With new_mask 0 the fd keeps no filter at all, so unlike epoll it reports
 * nothing, not even errors, until it is asked for something again.
 *
 * On Linux this file is compiled only for tests, against the emulation in
 * c/testing/kqueue_emu.h, which the including file puts before this one (it
 * defines FH_KQUEUE_EMULATED, so <sys/event.h> is not looked for).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>
#ifndef FH_KQUEUE_EMULATED
#include <sys/event.h>
#include <sys/time.h>
#endif

struct fh_backend {
    int kqfd;
    int max_events;
    struct kevent *events;
    /* fd -> index of that fd's entry in the output of the poll in progress,
     * used to merge its read and write kevents. An entry counts only if it is
     * below the number of entries written so far and that entry names the same
     * fd, so stale values are harmless and the array is never cleared. It is
     * grown by add, which sees every fd that poll can report. */
    int *slot;
    int nslots;
};

static fh_backend *fh_backend_create(int max_events, int *err) {
    fh_backend *b;
    if (max_events < 1) max_events = 1;
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    b->events = calloc((size_t)max_events, sizeof(struct kevent));
    if (b->events == NULL) {
        free(b);
        *err = -ENOMEM;
        return NULL;
    }
    b->max_events = max_events;
    /* kqueue descriptors are not inherited by fork(), but they do survive
     * exec() unless marked close-on-exec, and kqueue1() is not everywhere. */
    b->kqfd = kqueue();
    if (b->kqfd < 0 || fcntl(b->kqfd, F_SETFD, FD_CLOEXEC) < 0) {
        *err = -errno;
        if (b->kqfd >= 0) close(b->kqfd);
        free(b->events);
        free(b);
        return NULL;
    }
    return b;
}

static int fh_backend_fd(fh_backend *b) { return b->kqfd; }

/* Applies `n` changes in one call. With no room for events, kevent() stops at
 * the first change that fails and reports it as -1/errno. */
static int fh_kq_submit(fh_backend *b, struct kevent *changes, int n) {
    if (n > 0 && kevent(b->kqfd, changes, n, NULL, 0, NULL) < 0) return -errno;
    return 0;
}

/* Deletes a filter that was asked for with FH_ONESHOT: if it already fired,
 * kqueue has deleted it itself and says ENOENT, which is the state we want. */
static int fh_kq_delete_oneshot(fh_backend *b, int fd, int filter) {
    struct kevent ch;
    int rc;
    EV_SET(&ch, fd, filter, EV_DELETE, 0, 0, 0);
    rc = fh_kq_submit(b, &ch, 1);
    return rc == -ENOENT ? 0 : rc;
}

static int fh_kq_grow_slots(fh_backend *b, int fd) {
    int n = b->nslots ? b->nslots : 64, *s;
    while (n <= fd) n *= 2;
    s = realloc(b->slot, (size_t)n * sizeof(int));
    if (s == NULL) return -ENOMEM;
    while (b->nslots < n) s[b->nslots++] = 0;
    b->slot = s;
    return 0;
}

/* Moves fd from watching old_mask to watching new_mask: add, mod and del are
 * all this one computation. A filter is only ever deleted if old_mask says it
 * is registered, and only added if new_mask wants it. */
static int fh_kq_change(fh_backend *b, int fd, int old_mask, int new_mask) {
    static const int bits[2] = {FH_READABLE, FH_WRITABLE};
    static const int filters[2] = {EVFILT_READ, EVFILT_WRITE};
    struct kevent ch[4];
    int old_os = (old_mask & FH_ONESHOT) != 0, new_os = (new_mask & FH_ONESHOT) != 0;
    int i, n = 0, rc;
    if (fd < 0) return -EBADF;
    if ((new_mask & (FH_READABLE | FH_WRITABLE)) && fd >= b->nslots) {
        rc = fh_kq_grow_slots(b, fd);
        if (rc < 0) return rc;
    }
    for (i = 0; i < 2; i++) {
        int was = (old_mask & bits[i]) != 0, now = (new_mask & bits[i]) != 0;
        if (was && (!now || old_os != new_os)) {
            if (old_os) {
                rc = fh_kq_delete_oneshot(b, fd, filters[i]);
                if (rc < 0) return rc;
            } else {
                EV_SET(&ch[n], fd, filters[i], EV_DELETE, 0, 0, 0);
                n++;
            }
        }
        /* Level -> level needs nothing; anything oneshot is (re-)added. */
        if (now && (!was || old_os || new_os)) {
            EV_SET(&ch[n], fd, filters[i], EV_ADD | (new_os ? EV_ONESHOT : 0), 0, 0, 0);
            n++;
        }
    }
    return fh_kq_submit(b, ch, n);
}

static int fh_backend_add(fh_backend *b, int fd, int mask) {
    return fh_kq_change(b, fd, 0, mask);
}

static int fh_backend_mod(fh_backend *b, int fd, int old_mask, int new_mask) {
    return fh_kq_change(b, fd, old_mask, new_mask);
}

static int fh_backend_del(fh_backend *b, int fd, int old_mask) {
    return fh_kq_change(b, fd, old_mask, 0);
}

static int fh_backend_poll(fh_backend *b, fh_event *out, int max, int timeout_ms) {
    struct timespec ts, *tsp = NULL;
    int i, n, count = 0;
    if (max > b->max_events) max = b->max_events;
    if (max < 1) return -EINVAL;
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        tsp = &ts;
    }
    /* At most `max` kevents make at most `max` merged entries. */
    n = kevent(b->kqfd, NULL, 0, b->events, max, tsp);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (i = 0; i < n; i++) {
        const struct kevent *e = &b->events[i];
        int fd = (int)e->ident, mask = 0, j;
        if (e->filter == EVFILT_READ) mask = FH_READABLE;
        else if (e->filter == EVFILT_WRITE) mask = FH_WRITABLE;
        /* EV_EOF on a read filter is the peer's FIN (a half-close): bytes may
         * still be buffered, and a request sent before it still deserves its
         * response, so it stays FH_READABLE and the core reads to the end.
         * EOF on the write side, or an error, is a broken connection. */
        if ((e->flags & EV_ERROR) || ((e->flags & EV_EOF) && e->filter != EVFILT_READ)) mask |= FH_HUP;
        if (fd >= 0 && fd < b->nslots) {
            j = b->slot[fd];
            if (j >= 0 && j < count && out[j].fd == fd) {
                out[j].mask |= mask;
                continue;
            }
            b->slot[fd] = count;
        }
        out[count].fd = fd;
        out[count].mask = mask;
        count++;
    }
    return count;
}

static void fh_backend_free(fh_backend *b) {
    if (b == NULL) return;
    if (b->kqfd >= 0) close(b->kqfd);
    free(b->events);
    free(b->slot);
    free(b);
}

static const char *fh_backend_name(void) { return "kqueue"; }
