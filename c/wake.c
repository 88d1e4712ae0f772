/*
 * wake.c - the helper thread that wakes JavaScript.
 *
 * JavaScript sleeps in Bun's event loop while nothing is ready. This thread
 * blocks on an outer backend watching the loop's backend descriptor (armed
 * one-shot by fh_arm, re-armed before JavaScript goes idle: re-arming while
 * events are pending fires at once, so no wake-up is lost) and calls `wake`,
 * a thread-safe JSCallback, when it fires, or every sweep period while
 * connections are open, so that timeouts run.
 */

static void *fh_wake_main(void *arg) {
    fh_server *s = arg;
    fh_event ev[2];
    for (;;) {
        /* The count is read each time round, not trusted from before the
         * wait (it changes in JavaScript meanwhile), so the thread wakes every
         * sweep period and calls JavaScript only when there is timed work. */
        int n = fh_backend_poll(s->outer, ev, 2, s->sweep_ms), i, stop = 0;
        if (n < 0) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        for (i = 0; i < n; i++)
            if (ev[i].fd == s->stop_pipe[0]) stop = 1;
        if (stop) break;
        if (n == 0 && s->nconns == 0 && !s->accept_paused) continue;
        s->wake();
    }
    return NULL;
}

/* Starts the wake-up thread. Returns 0 or -errno. */
int fh_start(fh_server *s, void (*wake)(void)) {
    sigset_t all, old;
    int rc;
    if (s->thread_started) return 0;
    s->wake = wake;
    s->outer = fh_backend_create(2, &rc);
    if (s->outer == NULL) return rc;
    if (pipe(s->stop_pipe) < 0) return -errno;
    (void)fh_set_nonblock(s->stop_pipe[0]);
    (void)fh_set_nonblock(s->stop_pipe[1]);
    rc = fh_backend_add(s->outer, s->stop_pipe[0], FH_READABLE);
    if (rc == 0) rc = fh_backend_add(s->outer, fh_backend_fd(s->be), FH_READABLE | FH_ONESHOT);
    if (rc != 0) return rc;
    /* The thread takes no signals: SIGINT and SIGTERM stay with JavaScript. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&s->thread, NULL, fh_wake_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) return -rc;
    s->thread_started = 1;
    return 0;
}

/* Re-arms the one-shot wake-up before JavaScript goes idle. */
int fh_arm(fh_server *s) {
    if (s->outer == NULL) return -EINVAL;
    return fh_backend_mod(s->outer, fh_backend_fd(s->be), FH_READABLE | FH_ONESHOT, FH_READABLE | FH_ONESHOT);
}

/* Stops the thread (before the server is freed). */
static void fh_wake_stop(fh_server *s) {
    char x = 1;
    if (s->thread_started) {
        while (write(s->stop_pipe[1], &x, 1) < 0 && errno == EINTR) {
        }
        pthread_join(s->thread, NULL);
        s->thread_started = 0;
    }
    if (s->stop_pipe[0] >= 0) close(s->stop_pipe[0]);
    if (s->stop_pipe[1] >= 0) close(s->stop_pipe[1]);
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    fh_backend_free(s->outer);
    s->outer = NULL;
}
