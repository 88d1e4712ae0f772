/*
 * net.c - the thin socket layer: listen, accept, send without SIGPIPE.
 *
 * The few differences between Linux and the BSDs live here and nowhere else:
 * accept4 vs accept + fcntl, MSG_NOSIGNAL vs SO_NOSIGPIPE.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/sendfile.h>
#include <sys/syscall.h>
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__DragonFly__)
#include <sys/uio.h>
#endif

#if defined(MSG_NOSIGNAL)
#define FH_SEND_FLAGS MSG_NOSIGNAL
#else
#define FH_SEND_FLAGS 0 /* SO_NOSIGPIPE is set on every socket instead */
#endif

/* getaddrinfo failures are reported as FH_EAI_BASE + the EAI code (negative). */
#define FH_EAI_BASE (-10000)

/* The peer of socket fd as text into out[0, cap) (NUL-terminated), with
 * info[0] its port and info[1] its family (4 or 6), as the socket has it (an
 * IPv4 client of a dual-stack socket is an IPv4-mapped IPv6 address, as Bun
 * reports it). Returns the length, or -1 (no address: a socketpair). */
static int fh_net_peer(int fd, char *out, size_t cap, int32_t *info) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    const char *r = NULL;
    memset(&ss, 0, sizeof(ss));
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        r = inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)cap);
        info[0] = ntohs(a->sin_port);
        info[1] = 4;
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        r = inet_ntop(AF_INET6, &a->sin6_addr, out, (socklen_t)cap);
        info[0] = ntohs(a->sin6_port);
        info[1] = 6;
    }
    if (r == NULL) return -1;
    return (int)strnlen(out, cap);
}

static int fh_set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return -errno;
    return 0;
}

static void fh_socket_opts(int fd) {
    int one = 1;
    /* Small responses must not wait for Nagle. A failure only costs latency. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
    (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
}

/* Binds and listens on host:port (host NULL or "" means "::" dual-stack, with
 * a fallback to 0.0.0.0 where IPv6 is unavailable). Returns the fd or -errno
 * (or FH_EAI_BASE + EAI code when the name does not resolve). */
static int fh_listen(const char *host, int port, int backlog, int reuse_port) {
    struct addrinfo hints, *res = NULL, *ai;
    char portbuf[16];
    int fd = -1, err = -EADDRNOTAVAIL, rc, one = 1, zero = 0;
    const char *h = (host != NULL && host[0] != '\0') ? host : "::";
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    rc = getaddrinfo(h, portbuf, &hints, &res);
    if (rc != 0 && (host == NULL || host[0] == '\0')) {
        h = "0.0.0.0";
        rc = getaddrinfo(h, portbuf, &hints, &res);
    }
    if (rc != 0) return rc == EAI_SYSTEM ? -errno : FH_EAI_BASE + rc;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            err = -errno;
            continue;
        }
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
#if defined(SO_REUSEPORT)
        if (reuse_port) (void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
#else
        (void)reuse_port;
#endif
        if (ai->ai_family == AF_INET6) (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0 &&
            (err = fh_set_nonblock(fd)) == 0)
            break;
        if (err == 0 || err == -EADDRNOTAVAIL) err = -errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd >= 0 ? fd : err;
}

/* The port a listening socket is bound to, or -errno. */
static int fh_local_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return -errno;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

/* Accepts one connection, non-blocking and close-on-exec. Returns fd or -errno
 * (-EAGAIN when the queue is empty). */
static int fh_accept(int lfd) {
    int fd;
    for (;;) {
#if defined(__linux__)
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
        fd = accept(lfd, NULL, NULL);
#endif
        if (fd >= 0) break;
        if (errno == EINTR) continue;
        /* ECONNABORTED: the peer gave up while queued; try the next one. */
        if (errno == ECONNABORTED) continue;
        return -errno;
    }
#if !defined(__linux__)
    if (fh_set_nonblock(fd) < 0) {
        close(fd);
        return -EAGAIN;
    }
#endif
    fh_socket_opts(fd);
    return fd;
}

/*
 * The per-request system calls. In a process with threads (Bun has several),
 * glibc's send, sendmsg and recv are cancellation points: each call switches
 * asynchronous cancellation on and off around the system call, ~1% of the
 * server's CPU at 50 connections (perf). No thread here is ever cancelled, so
 * on Linux they are made with syscall(), which is not a cancellation point.
 * One buffer goes by sendto, which copies no msghdr and no iovec array
 * (sendmsg's import of them was another ~1.5%).
 */
#if defined(__linux__)
#define FH_SYS_SENDTO(fd, p, n) syscall(SYS_sendto, (fd), (p), (n), FH_SEND_FLAGS, NULL, 0)
#define FH_SYS_SENDMSG(fd, m) syscall(SYS_sendmsg, (fd), (m), FH_SEND_FLAGS)
#define FH_SYS_RECV(fd, p, n) syscall(SYS_recvfrom, (fd), (p), (n), 0, NULL, NULL)
#else
#define FH_SYS_SENDTO(fd, p, n) send((fd), (p), (n), FH_SEND_FLAGS)
#define FH_SYS_SENDMSG(fd, m) sendmsg((fd), (m), FH_SEND_FLAGS)
#define FH_SYS_RECV(fd, p, n) recv((fd), (p), (n), 0)
#endif

/* Sends an iovec array without raising SIGPIPE. Returns bytes sent or -errno. */
static ssize_t fh_sendv(int fd, struct iovec *iov, int n) {
    struct msghdr m;
    ssize_t w;
    if (n == 1) {
        do {
            w = (ssize_t)FH_SYS_SENDTO(fd, iov[0].iov_base, iov[0].iov_len);
        } while (w < 0 && errno == EINTR);
        return w < 0 ? -errno : w;
    }
    memset(&m, 0, sizeof(m));
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)n;
    do {
        w = (ssize_t)FH_SYS_SENDMSG(fd, &m);
    } while (w < 0 && errno == EINTR);
    return w < 0 ? -errno : w;
}

/* Reads into buf. Returns bytes read, 0 at end of stream, or -errno. */
static ssize_t fh_recv(int fd, uint8_t *buf, size_t n) {
    ssize_t r;
    do {
        r = (ssize_t)FH_SYS_RECV(fd, buf, n);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

/* Sends up to n bytes of file `in` from *off to socket `out`, advancing *off.
 * Returns bytes sent, 0 at the end of the file, or -errno (-EAGAIN when the
 * socket is full). Each system spells sendfile its own way; where there is
 * none, the bytes go through a small buffer. */
static ssize_t fh_sendfile(int out, int in, int64_t *off, size_t n) {
#if defined(__linux__)
    off_t o = (off_t)*off;
    ssize_t w;
    do {
        w = sendfile(out, in, &o, n);
    } while (w < 0 && errno == EINTR);
    if (w < 0) return -errno;
    *off = (int64_t)o;
    return w;
#elif defined(__APPLE__)
    off_t len = (off_t)n;
    int r = sendfile(in, out, (off_t)*off, &len, NULL, 0);
    if (len > 0) {
        *off += len;
        return (ssize_t)len;
    }
    if (r < 0) return errno == EINTR ? -EAGAIN : -errno;
    return 0;
#elif defined(__FreeBSD__) || defined(__DragonFly__)
    off_t sent = 0;
    int r = sendfile(in, out, (off_t)*off, n, NULL, &sent, 0);
    if (sent > 0) {
        *off += sent;
        return (ssize_t)sent;
    }
    if (r < 0) return errno == EINTR ? -EAGAIN : -errno;
    return 0;
#else
    uint8_t buf[16384];
    ssize_t r, w;
    struct iovec v;
    if (n > sizeof(buf)) n = sizeof(buf);
    do {
        r = pread(in, buf, n, (off_t)*off);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) return r < 0 ? -errno : 0;
    v.iov_base = buf;
    v.iov_len = (size_t)r;
    w = fh_sendv(out, &v, 1);
    if (w > 0) *off += w;
    return w;
#endif
}
