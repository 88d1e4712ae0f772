/*
 * load.c - the WebSocket load generator of bench/ws.ts: one thread, epoll, non-blocking
 * sockets, so that it is not what limits the server. bench/ws.ts builds it with gcc -O2.
 *
 *   load PORT echo N K S SECONDS [SERVER_PID]
 *       N connections to /echo; each keeps K binary messages of S bytes in flight: every echo
 *       received sends one more. Counts echoes.
 *   load PORT broadcast N K S SECONDS [SERVER_PID]
 *       N subscribers on /sub (each waits for the server's "ready"), then one publisher on
 *       /pub that keeps K broadcasts of S bytes in flight: a broadcast is done when all N
 *       subscribers have it, and then the next is sent. Counts receipts (N per broadcast).
 *
 * All connections are opened (handshakes checked: 101) before the traffic starts; after a
 * 0.5 s ramp the measured window of SECONDS begins. Over that window it reports, as one JSON
 * line on stdout: messages received, seconds, its own CPU (getrusage), and, given
 * SERVER_PID, the server's utime+stime from /proc/<pid>/stat, read at the window's edges so
 * that the handshakes and closes are not in it.
 *
 * Client frames are masked with a fresh key each (RFC 6455 §5.3, from a xorshift generator:
 * unpredictable enough for a benchmark, cheap enough not to show). Server frames are read
 * with a small state machine that never buffers payloads, only counts them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RAMP_S 0.5
#define READ_CHUNK 65536
#define MAX_PENDING_CONNECTS 128 /* handshakes under way at once: stay under the listen backlog */

enum role { ECHO, SUB, PUB };
enum phase { CONNECTING, HANDSHAKE, OPEN, DEAD };

struct conn {
  int fd;
  enum role role;
  enum phase phase;
  /* handshake answer, until its blank line */
  char head[1024];
  size_t head_len;
  /* frame reader: header bytes so far, then payload bytes left to skip */
  uint8_t hdr[14];
  size_t hdr_have, hdr_need;
  uint64_t skip;
  uint8_t opcode;
  uint64_t payload_len;
  /* frames queued for writing */
  uint8_t *out;
  size_t out_len, out_cap, out_off;
  int want_out;
  /* SUB: whether "ready" came; receipts so far (the index of the next broadcast) */
  int ready;
  uint64_t received;
};

static struct {
  enum { MODE_ECHO, MODE_BROADCAST } mode;
  int port;
  int n, k;
  size_t size;
  double seconds;
  int server_pid;
  int ep;
  struct conn *conns; /* n (echo or subscribers), then the publisher */
  int nconns;
  uint8_t *payload;
  uint64_t rng;
  /* counters */
  uint64_t messages, bad_frames, closes, errors;
  int counting;
  /* broadcast */
  uint64_t sent_broadcasts, done_broadcasts;
  uint32_t *slot; /* receipts of broadcast i are slot[i % k] */
  int subs_ready;
} g;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "load: %s: %s\n", what, strerror(errno));
  exit(1);
}

static uint32_t next_rand(void) {
  /* xorshift64* */
  g.rng ^= g.rng >> 12;
  g.rng ^= g.rng << 25;
  g.rng ^= g.rng >> 27;
  return (uint32_t)((g.rng * 2685821657736338717ULL) >> 32);
}

static void out_reserve(struct conn *c, size_t more) {
  if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
  if (c->out_len + more <= c->out_cap) return;
  if (c->out_off > 0) { /* slide the unsent part down first */
    memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
    c->out_len -= c->out_off;
    c->out_off = 0;
    if (c->out_len + more <= c->out_cap) return;
  }
  size_t cap = c->out_cap ? c->out_cap : 4096;
  while (cap < c->out_len + more) cap *= 2;
  uint8_t *p = realloc(c->out, cap);
  if (!p) die("realloc");
  c->out = p;
  c->out_cap = cap;
}

/* Appends one masked binary frame of the payload. */
static void queue_frame(struct conn *c) {
  size_t n = g.size;
  out_reserve(c, n + 14);
  uint8_t *p = c->out + c->out_len;
  size_t h = 0;
  p[h++] = 0x82; /* FIN, binary */
  if (n < 126) {
    p[h++] = (uint8_t)(0x80 | n);
  } else if (n <= 0xFFFF) {
    p[h++] = 0x80 | 126;
    p[h++] = (uint8_t)(n >> 8);
    p[h++] = (uint8_t)n;
  } else {
    p[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) p[h++] = (uint8_t)((uint64_t)n >> (8 * i));
  }
  uint32_t key = next_rand();
  uint8_t m[4] = {(uint8_t)(key >> 24), (uint8_t)(key >> 16), (uint8_t)(key >> 8), (uint8_t)key};
  memcpy(p + h, m, 4);
  h += 4;
  for (size_t i = 0; i < n; i++) p[h + i] = g.payload[i] ^ m[i & 3];
  c->out_len += h + n;
}

static void set_events(struct conn *c, int want_out) {
  if (c->want_out == want_out) return;
  struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
  if (epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
  c->want_out = want_out;
}

static void kill_conn(struct conn *c) {
  if (c->phase == DEAD) return;
  c->phase = DEAD;
  epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  g.errors++;
}

/* Writes what is queued; EPOLLOUT only while something is left. */
static void flush(struct conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      kill_conn(c);
      return;
    }
    c->out_off += (size_t)w;
  }
  set_events(c, c->out_off < c->out_len);
}

static struct conn *publisher(void) { return &g.conns[g.n]; }

/* Sends broadcasts while fewer than k are in flight. */
static void publish_more(void) {
  struct conn *p = publisher();
  if (p->phase != OPEN) return;
  int queued = 0;
  while (g.sent_broadcasts - g.done_broadcasts < (uint64_t)g.k) {
    queue_frame(p);
    g.sent_broadcasts++;
    queued = 1;
  }
  if (queued) flush(p);
}

/* A whole data frame (its payload skipped) has arrived on c. */
static void on_message(struct conn *c, uint8_t opcode, uint64_t len) {
  if (opcode == 0x9 || opcode == 0xA) return; /* pings are not answered: runs are far shorter than any idle timeout */
  if (c->role == SUB && !c->ready) {
    if (opcode != 0x1 || len != 5) g.bad_frames++;
    c->ready = 1;
    g.subs_ready++;
    return;
  }
  if (opcode != 0x2 || len != g.size) {
    g.bad_frames++;
    return;
  }
  if (g.counting) g.messages++;
  if (c->role == ECHO) {
    queue_frame(c);
  } else if (c->role == SUB) {
    uint64_t i = c->received++;
    uint32_t *s = &g.slot[i % (uint64_t)g.k];
    if (++*s == (uint32_t)g.n) { /* every subscriber has broadcast i: so every earlier one too */
      *s = 0;
      g.done_broadcasts++;
    }
  }
}

/* Feeds the frame reader; returns 0, or -1 when the connection must go. */
static int read_frames(struct conn *c, const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (c->skip > 0) {
      size_t take = n - i < c->skip ? n - i : (size_t)c->skip;
      c->skip -= take;
      i += take;
      if (c->skip == 0) on_message(c, c->opcode, c->payload_len);
      continue;
    }
    c->hdr[c->hdr_have++] = p[i++];
    if (c->hdr_have == 2) {
      if (c->hdr[1] & 0x80) return -1; /* a server never masks */
      uint8_t l7 = c->hdr[1] & 0x7F;
      c->hdr_need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0);
    }
    if (c->hdr_have < 2 || c->hdr_have < c->hdr_need) continue;
    uint8_t l7 = c->hdr[1] & 0x7F;
    uint64_t len = l7;
    if (l7 == 126) len = ((uint64_t)c->hdr[2] << 8) | c->hdr[3];
    if (l7 == 127) {
      len = 0;
      for (int b = 0; b < 8; b++) len = (len << 8) | c->hdr[2 + b];
    }
    c->opcode = c->hdr[0] & 0x0F;
    c->payload_len = len;
    c->hdr_have = 0;
    c->hdr_need = 2;
    if (!(c->hdr[0] & 0x80) || c->opcode == 0x0) return -1; /* the apps send whole messages */
    if (c->opcode == 0x8) {
      g.closes++;
      return -1;
    }
    c->skip = len;
    if (len == 0) on_message(c, c->opcode, 0);
  }
  return 0;
}

static void start_handshake(struct conn *c) {
  static const char *paths[] = {"/echo", "/sub", "/pub"};
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   paths[c->role], g.port);
  out_reserve(c, (size_t)n);
  memcpy(c->out + c->out_len, req, (size_t)n);
  c->out_len += (size_t)n;
  c->phase = HANDSHAKE;
  flush(c);
}

static void open_conn(struct conn *c, enum role role) {
  memset(c, 0, sizeof *c);
  c->role = role;
  c->hdr_need = 2;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) die("socket");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) die("connect");
  c->phase = CONNECTING;
  c->want_out = 1;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
}

static void on_event(struct conn *c, uint32_t events) {
  static uint8_t buf[READ_CHUNK];
  if (c->phase == DEAD) return;
  if (c->phase == CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      kill_conn(c);
      return;
    }
    start_handshake(c);
    return;
  }
  if (events & EPOLLOUT) flush(c);
  if (c->phase == DEAD || !(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
  for (;;) {
    ssize_t r = recv(c->fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (r <= 0) {
      kill_conn(c);
      return;
    }
    size_t off = 0;
    if (c->phase == HANDSHAKE) {
      while (off < (size_t)r && c->phase == HANDSHAKE) {
        if (c->head_len >= sizeof c->head) {
          kill_conn(c);
          return;
        }
        c->head[c->head_len++] = (char)buf[off++];
        if (c->head_len >= 4 && memcmp(c->head + c->head_len - 4, "\r\n\r\n", 4) == 0) {
          if (c->head_len < 12 || memcmp(c->head, "HTTP/1.1 101", 12) != 0) {
            fprintf(stderr, "load: handshake refused: %.*s\n", (int)c->head_len, c->head);
            kill_conn(c);
            return;
          }
          c->phase = OPEN;
        }
      }
    }
    size_t before = c->out_len - c->out_off;
    if (off < (size_t)r && read_frames(c, buf + off, (size_t)r - off) < 0) {
      kill_conn(c);
      return;
    }
    if (c->out_len - c->out_off > before) flush(c); /* one send per read for all the echoes it answered */
    if (c->phase == DEAD) return;
    if ((size_t)r < sizeof buf) break;
  }
  if (g.mode == MODE_BROADCAST && c->role == SUB) publish_more();
}

/* Runs the loop until `until` (monotonic seconds) or until done() says so. */
static void loop_until(double until, int (*done)(void)) {
  struct epoll_event evs[256];
  for (;;) {
    if (done && done()) return;
    double left = until - now();
    if (left <= 0) return;
    int ms = (int)(left * 1000) + 1;
    int n = epoll_wait(g.ep, evs, 256, ms > 100 ? 100 : ms);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
  }
}

static int next_to_open, opened_target;
static int all_open(void) {
  int pending = 0, open = 0;
  for (int i = 0; i < next_to_open; i++) {
    if (g.conns[i].phase == OPEN) open++;
    else if (g.conns[i].phase != DEAD) pending++;
  }
  while (next_to_open < opened_target && pending < MAX_PENDING_CONNECTS) {
    open_conn(&g.conns[next_to_open], g.conns[next_to_open].role);
    next_to_open++;
    pending++;
  }
  return open == opened_target || (pending == 0 && next_to_open == opened_target);
}
static int subs_all_ready(void) { return g.subs_ready >= g.n; }

/* Opens conns [from, to) with role, MAX_PENDING_CONNECTS at a time; exits if any fails. */
static void open_all(int from, int to, enum role role) {
  for (int i = from; i < to; i++) g.conns[i].role = role;
  next_to_open = from;
  opened_target = to;
  /* all_open() counts from 0: the earlier ones are OPEN already */
  loop_until(now() + 30, all_open);
  for (int i = from; i < to; i++) {
    if (g.conns[i].phase != OPEN) {
      fprintf(stderr, "load: connection %d of %d did not open\n", i, to);
      exit(1);
    }
  }
}

/* utime+stime of pid in seconds, or -1. */
static double proc_cpu(int pid) {
  if (pid <= 0) return -1;
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  if (!p) return -1;
  unsigned long long ut = 0, st = 0;
  /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double rusage_s(int which_user) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  struct timeval t = which_user ? ru.ru_utime : ru.ru_stime;
  return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

static void usage(void) {
  fprintf(stderr, "usage: load PORT echo N K S SECONDS [SERVER_PID]\n       load PORT broadcast N K S SECONDS [SERVER_PID]\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 7 || argc > 8) usage();
  g.port = atoi(argv[1]);
  if (strcmp(argv[2], "echo") == 0) g.mode = MODE_ECHO;
  else if (strcmp(argv[2], "broadcast") == 0) g.mode = MODE_BROADCAST;
  else usage();
  g.n = atoi(argv[3]);
  g.k = atoi(argv[4]);
  g.size = (size_t)strtoul(argv[5], NULL, 10);
  g.seconds = atof(argv[6]);
  g.server_pid = argc == 8 ? atoi(argv[7]) : 0;
  if (g.port <= 0 || g.n <= 0 || g.k <= 0 || g.seconds <= 0 || g.size > (64u << 20)) usage();

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  g.rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() ^ ((uint64_t)time(NULL) << 20);
  g.payload = malloc(g.size ? g.size : 1);
  if (!g.payload) die("malloc");
  for (size_t i = 0; i < g.size; i++) g.payload[i] = (uint8_t)('a' + i % 26);
  g.ep = epoll_create1(0);
  if (g.ep < 0) die("epoll_create1");
  g.nconns = g.n + (g.mode == MODE_BROADCAST);
  g.conns = calloc((size_t)g.nconns, sizeof *g.conns);
  g.slot = calloc((size_t)g.k, sizeof *g.slot);
  if (!g.conns || !g.slot) die("calloc");

  if (g.mode == MODE_ECHO) {
    open_all(0, g.n, ECHO);
    for (int i = 0; i < g.n; i++) {
      for (int j = 0; j < g.k; j++) queue_frame(&g.conns[i]);
      flush(&g.conns[i]);
    }
  } else {
    open_all(0, g.n, SUB);
    loop_until(now() + 30, subs_all_ready);
    if (!subs_all_ready()) {
      fprintf(stderr, "load: %d of %d subscribers got no \"ready\"\n", g.n - g.subs_ready, g.n);
      return 1;
    }
    open_all(g.n, g.n + 1, PUB);
    publish_more();
  }

  loop_until(now() + RAMP_S, NULL);
  g.counting = 1;
  uint64_t done0 = g.done_broadcasts;
  double server0 = proc_cpu(g.server_pid);
  double u0 = rusage_s(1), s0 = rusage_s(0);
  double t0 = now();
  loop_until(t0 + g.seconds, NULL);
  double t1 = now();
  double u1 = rusage_s(1), s1 = rusage_s(0);
  double server1 = proc_cpu(g.server_pid);
  g.counting = 0;

  printf("{\"mode\":\"%s\",\"connections\":%d,\"inFlight\":%d,\"size\":%zu,\"messages\":%llu,\"seconds\":%.6f,"
         "\"broadcasts\":%llu,\"cpu\":{\"user\":%.6f,\"system\":%.6f},\"serverCpu\":",
         g.mode == MODE_ECHO ? "echo" : "broadcast", g.n, g.k, g.size, (unsigned long long)g.messages, t1 - t0,
         (unsigned long long)(g.done_broadcasts - done0), u1 - u0, s1 - s0);
  if (server0 >= 0 && server1 >= 0) printf("%.6f", server1 - server0);
  else printf("null");
  printf(",\"badFrames\":%llu,\"closes\":%llu,\"errors\":%llu}\n", (unsigned long long)g.bad_frames,
         (unsigned long long)g.closes, (unsigned long long)g.errors);
  fflush(stdout);
  return g.errors || g.bad_frames || g.closes ? 3 : 0;
}
