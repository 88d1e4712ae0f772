/*
 * fasthttp.c - the one translation unit bun:ffi's cc compiles.
 *
 * It includes the backend chosen for this platform, then the layers above it:
 * the scanner, the socket layer, the slab pool and the loop core (conn.h
 * lists its files and what each does), and last the table of entry points
 * src/ffi.ts binds (symbols.c). The scanner's test entry points (probe.c)
 * are a translation unit of their own. Define
 * FH_BACKEND_KQUEUE to use the kqueue backend (on Linux, over the test-only
 * emulation in c/testing/).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "backend.h"
#include "layout.h"
#include "scanner.h"
#include "ws.h"

#if defined(FH_BACKEND_KQUEUE) || defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || \
    defined(__NetBSD__) || defined(__DragonFly__)
#if defined(__linux__)
#include "testing/kqueue_emu.h"
#endif
#include "backend_kqueue.c"
#elif defined(__linux__)
#include "backend_epoll.c"
#else
#error "fasthttp needs epoll (Linux) or kqueue (macOS, the BSDs)"
#endif

#include "scanner.c"
#include "chunked.c"
#include "net.c"
#include "pool.c"
#include "utf8.c"
#include "ws_read.c"
#include "deflate.c"
#include "conn.h"
#include "conn.c"
#include "answers.c"
#include "precond.c"
#include "routes.c"
#include "queue.c"
#include "frame.c"
#include "body.c"
#include "timers.c"
#include "wake.c"
#include "api.c"
#include "server.c"
#include "ws.c"
#include "symbols.c"
