/*
 * backend.h - the one contract every readiness backend implements.
 *
 * The loop core (server.c) never calls epoll_* or kevent() itself: it talks to
 * the operating system through the handful of functions declared here, in the
 * manner of Redis's ae. Exactly one backend file (backend_epoll.c or
 * backend_kqueue.c) is compiled into the translation unit; fasthttp.c picks it
 * with platform macros. Nothing above this layer sees an epoll_event or a
 * kevent: backends translate them into the portable fh_event below.
 *
 * Every function that can fail returns 0 (or a count) on success and -errno on
 * failure; nothing here aborts, because we live inside the user's process.
 */
#ifndef FH_BACKEND_H
#define FH_BACKEND_H

/* Interest and readiness bits. FH_HUP is only ever reported, never asked for:
 * it means the connection is broken (reset, error, both directions shut), and
 * the core finds out which by reading. A half-close (the peer's FIN) is not
 * FH_HUP: it is FH_READABLE, and reading returns the end of the stream. FH_ONESHOT asks that the registration disarm itself after
 * it fires once; registering the same fd again (fh_backend_mod) re-arms it. */
#define FH_READABLE 1
#define FH_WRITABLE 2
#define FH_HUP 4
#define FH_ONESHOT 8

typedef struct fh_event {
    int fd;
    int mask; /* FH_READABLE | FH_WRITABLE | FH_HUP */
} fh_event;

/* Private to each backend. */
typedef struct fh_backend fh_backend;

/* Creates a backend able to report up to `max_events` events per poll.
 * Returns NULL with *err set to -errno on failure. */
static fh_backend *fh_backend_create(int max_events, int *err);

/* A descriptor that is readable whenever any watched fd is ready: the epoll or
 * kqueue descriptor itself. Another backend can watch it (the outer wake-up). */
static int fh_backend_fd(fh_backend *b);

/* Starts watching fd for `mask` (FH_READABLE, FH_WRITABLE, FH_ONESHOT). */
static int fh_backend_add(fh_backend *b, int fd, int mask);

/* Changes what fd is watched for, from `old_mask` (what was last asked) to
 * `new_mask`. new_mask may be 0: the fd stays registered but reports nothing
 * except, on epoll, errors. With FH_ONESHOT in new_mask it re-arms. */
static int fh_backend_mod(fh_backend *b, int fd, int old_mask, int new_mask);

/* Stops watching fd; old_mask is what was last asked. Call before close(). */
static int fh_backend_del(fh_backend *b, int fd, int old_mask);

/* Waits up to timeout_ms (0: do not wait, -1: forever) and fills `out` with
 * at most `max` events, one entry per fd (read and write readiness of the same
 * fd are merged). Returns the count, or -errno. EINTR is returned as 0. */
static int fh_backend_poll(fh_backend *b, fh_event *out, int max, int timeout_ms);

/* Closes the descriptor and frees the state. */
static void fh_backend_free(fh_backend *b);

/* "epoll", "kqueue": for diagnostics. */
static const char *fh_backend_name(void);

#endif
