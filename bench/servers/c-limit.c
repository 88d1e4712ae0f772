/*
 * c-limit.c - the one-core limit: the least work a hello-world HTTP/1.1
 * server can do per request on this machine.
 *
 * Not a real server. It never parses a request: it counts request heads by
 * their terminating "\r\n\r\n" (bodies are never sent by the benchmark) and,
 * for every read, writes that many canned responses in one send(). One thread,
 * one epoll descriptor, level-triggered, non-blocking sockets. Whatever
 * fasthttp, Bun.serve or node:http do on top of this is their overhead.
 *
 * Built by the harness at bench time with the system compiler:
 *     gcc -O2 -o c-limit c-limit.c
 * Usage: c-limit [port]   (or PORT in the environment; default 3000)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 512
#define READ_SIZE 65536

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Length: 13\r\n"
    "Content-Type: text/plain;charset=utf-8\r\n"
    "\r\n"
    "Hello, World!";
#define RESPONSE_LEN (sizeof(RESPONSE) - 1)

/* Per connection: how far into a "\r\n\r\n" the last read ended (0..3), so a
 * terminator split across two reads still counts, and output that a full
 * socket buffer refused, kept until EPOLLOUT. */
typedef struct conn {
    int match;
    char *out;
    size_t out_len, out_cap;
} conn;

static conn **conns;
static int conns_cap;
static int ep;
static char rbuf[READ_SIZE];
static char *wbuf;
static size_t wbuf_cap;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static conn *conn_get(int fd) {
    if (fd >= conns_cap) {
        int cap = conns_cap ? conns_cap : 1024;
        while (cap <= fd) cap *= 2;
        conns = realloc(conns, sizeof(conn *) * (size_t)cap);
        if (!conns) die("realloc");
        memset(conns + conns_cap, 0, sizeof(conn *) * (size_t)(cap - conns_cap));
        conns_cap = cap;
    }
    if (!conns[fd]) {
        conns[fd] = calloc(1, sizeof(conn));
        if (!conns[fd]) die("calloc");
    }
    return conns[fd];
}

static void conn_close(int fd) {
    conn *c = fd < conns_cap ? conns[fd] : NULL;
    if (c) {
        free(c->out);
        free(c);
        conns[fd] = NULL;
    }
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
}

/* Counts complete request heads in buf, carrying the partial match. */
static long count_heads(conn *c, const char *buf, ssize_t n) {
    static const char term[4] = {'\r', '\n', '\r', '\n'};
    long heads = 0;
    int m = c->match;
    for (ssize_t i = 0; i < n; i++) {
        char ch = buf[i];
        if (ch == term[m]) {
            if (++m == 4) {
                heads++;
                m = 0;
            }
        } else {
            m = (ch == '\r') ? 1 : 0;
        }
    }
    c->match = m;
    return heads;
}

/* Sends what it can of buf; keeps the rest and asks for EPOLLOUT. */
static int send_or_keep(int fd, conn *c, const char *buf, size_t len) {
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return -1;
    }
    if (off < len) {
        size_t rest = len - off;
        if (c->out_len + rest > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 4096;
            while (cap < c->out_len + rest) cap *= 2;
            c->out = realloc(c->out, cap);
            if (!c->out) die("realloc");
            c->out_cap = cap;
        }
        memcpy(c->out + c->out_len, buf + off, rest);
        c->out_len += rest;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) return -1;
    }
    return 0;
}

static void on_readable(int fd) {
    /* An event for a descriptor closed earlier in this batch: nothing to do. */
    conn *c = fd < conns_cap ? conns[fd] : NULL;
    if (!c) return;
    for (;;) {
        ssize_t n = recv(fd, rbuf, sizeof rbuf, 0);
        if (n == 0) {
            conn_close(fd);
            return;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            conn_close(fd);
            return;
        }
        long heads = count_heads(c, rbuf, n);
        if (heads > 0) {
            size_t need = (size_t)heads * RESPONSE_LEN;
            if (need > wbuf_cap) {
                wbuf_cap = need * 2;
                wbuf = realloc(wbuf, wbuf_cap);
                if (!wbuf) die("realloc");
            }
            for (long i = 0; i < heads; i++) memcpy(wbuf + (size_t)i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);
            if (c->out_len) {
                /* Earlier output is still waiting for EPOLLOUT: queue behind it, in order. */
                if (c->out_len + need > c->out_cap) {
                    size_t cap = c->out_cap;
                    while (cap < c->out_len + need) cap *= 2;
                    c->out = realloc(c->out, cap);
                    if (!c->out) die("realloc");
                    c->out_cap = cap;
                }
                memcpy(c->out + c->out_len, wbuf, need);
                c->out_len += need;
            } else if (send_or_keep(fd, c, wbuf, need) < 0) {
                conn_close(fd);
                return;
            }
        }
        if ((size_t)n < sizeof rbuf) return; /* drained; level-triggered epoll reports the rest */
    }
}

static void on_writable(int fd) {
    conn *c = fd < conns_cap ? conns[fd] : NULL;
    if (!c) return;
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t w = send(fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        conn_close(fd);
        return;
    }
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
    if (c->out_len == 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) conn_close(fd);
    }
}

int main(int argc, char **argv) {
    const char *port_s = argc > 1 ? argv[1] : getenv("PORT");
    int port = port_s ? atoi(port_s) : 3000;
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(lfd, 4096) < 0) die("listen");
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) die("epoll_ctl");

    printf("ready: c-limit listening on http://127.0.0.1:%d/\n", ntohs(addr.sin_port));
    fflush(stdout);

    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (cfd < 0) break; /* EAGAIN, or EMFILE: retried on the next poll */
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ev = {.events = EPOLLIN, .data.fd = cfd};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev) < 0) {
                        close(cfd);
                        continue;
                    }
                    conn_get(cfd);
                }
                continue;
            }
            if (events[i].events & EPOLLOUT) {
                on_writable(fd);
            }
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(fd);
        }
    }
}
