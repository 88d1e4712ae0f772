/*
 * pool.c - the arena slab pool.
 *
 * Slabs of a fixed size are carved on demand from one reserved region of
 * virtual memory, mapped once and shown to JavaScript once as one ArrayBuffer:
 * taking or returning a slab is a push or a pop, and no JS object is made per
 * slab. A request's arena is a chain of slabs: the first holds the request
 * itself, and an arena that outgrows it links more (fh_pool_grow). Releasing
 * the first slab releases the chain: an arena is freed as a unit, and walking
 * it touches one link per slab, never the allocations inside.
 *
 * Memory shown to JavaScript is never unmapped while the process lives, so a
 * view kept past its request reads stale bytes (or poison, with
 * FASTHTTP_DEBUG_ARENA) and never faults. Large slabs, for a request or an
 * allocation bigger than a slab, are mappings of their own in power-of-two
 * classes, kept for reuse once released; their pages go back to the OS.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define FH_LARGE_BASE (1 << 24) /* ids at and above this are large slabs */
#define FH_POISON 0xDB

typedef struct fh_large {
    uint8_t *ptr;
    size_t cap;
    int32_t next; /* the next slab of the same arena, -1: none */
    uint8_t in_use;
} fh_large;

typedef struct fh_pool {
    uint8_t *base;
    size_t slab_size;
    int32_t cap;     /* slabs the region can hold */
    int32_t carved;  /* slabs handed out at least once */
    int32_t *free_ids;
    int32_t *next;   /* per slab: the next slab of the same arena, -1: none */
    uint8_t *out;    /* per slab: 1 while it is out (a release of a free slab is ignored) */
    int32_t nfree;
    int32_t in_use;
    int32_t high_water;
    fh_large *large;
    int32_t large_cap;
    int32_t large_in_use;
    int poison; /* fill released memory with FH_POISON (FASTHTTP_DEBUG_ARENA) */
    /* Trace mode (FASTHTTP_TRACE_ARENA): the arenas freed since JavaScript last looked. */
    int trace;
    int32_t *trace_ids;
    double *trace_ms;
    int32_t ntrace, trace_cap;
} fh_pool;

/* Grows an array of `elem`-sized items to hold at least `need` (doubling,
 * zero-filled). Returns 0 or -ENOMEM. */
static int fh_grow(void **p, int *cap, size_t elem, int need) {
    int ncap = *cap ? *cap : 16;
    void *np;
    if (need <= *cap) return 0;
    while (ncap < need) ncap *= 2;
    np = realloc(*p, elem * (size_t)ncap);
    if (np == NULL) return -ENOMEM;
    memset((char *)np + elem * (size_t)*cap, 0, elem * (size_t)(ncap - *cap));
    *p = np;
    *cap = ncap;
    return 0;
}

static double fh_clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int fh_pool_init(fh_pool *p, size_t slab_size, int32_t cap) {
    void *m;
    memset(p, 0, sizeof(*p));
    m = mmap(NULL, slab_size * (size_t)cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return -errno;
    p->free_ids = malloc(sizeof(int32_t) * (size_t)cap);
    p->next = malloc(sizeof(int32_t) * (size_t)cap);
    p->out = calloc((size_t)cap, 1);
    if (p->free_ids == NULL || p->next == NULL || p->out == NULL) {
        free(p->free_ids);
        free(p->next);
        free(p->out);
        munmap(m, slab_size * (size_t)cap);
        return -ENOMEM;
    }
    p->base = m;
    p->slab_size = slab_size;
    p->cap = cap;
    return 0;
}

static fh_large *fh_pool_large(fh_pool *p, int32_t id) {
    int32_t k = id - FH_LARGE_BASE;
    if (id < FH_LARGE_BASE || k >= p->large_cap || p->large[k].ptr == NULL) return NULL;
    return &p->large[k];
}

/* A large slab of at least `need` bytes: a free one of the same class, or a
 * new mapping. Returns its id or -1. */
static int32_t fh_pool_acquire_large(fh_pool *p, size_t need) {
    size_t cap = 65536;
    int32_t k, empty = -1;
    void *m;
    while (cap < need) cap *= 2;
    for (k = 0; k < p->large_cap; k++) {
        fh_large *l = &p->large[k];
        if (l->ptr == NULL) {
            if (empty < 0) empty = k;
        } else if (!l->in_use && l->cap == cap && !p->poison) {
            break; /* in debug mode freed memory stays poisoned and is never reused */
        }
    }
    if (k == p->large_cap) {
        if (empty < 0) {
            int32_t ncap = p->large_cap ? p->large_cap * 2 : 8;
            fh_large *nl = realloc(p->large, sizeof(fh_large) * (size_t)ncap);
            if (nl == NULL) return -1;
            memset(nl + p->large_cap, 0, sizeof(fh_large) * (size_t)(ncap - p->large_cap));
            p->large = nl;
            empty = p->large_cap;
            p->large_cap = ncap;
        }
        m = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return -1;
        k = empty;
        p->large[k].ptr = m;
        p->large[k].cap = cap;
    }
    p->large[k].in_use = 1;
    p->large[k].next = -1;
    p->large_in_use++;
    return FH_LARGE_BASE + k;
}

/* Takes a slab able to hold `need` bytes. Returns its id, or -1 when the pool
 * is at its cap (the caller retries once slabs come back) or out of memory. */
static int32_t fh_pool_acquire(fh_pool *p, size_t need) {
    int32_t id;
    if (need > p->slab_size) return fh_pool_acquire_large(p, need);
    if (p->poison) {
        /* Debug mode: fresh slabs first, then the longest-freed one, so that a
         * view kept past its request reads poison for as long as possible. */
        if (p->carved < p->cap) {
            id = p->carved++;
        } else if (p->nfree > 0) {
            id = p->free_ids[0];
            memmove(p->free_ids, p->free_ids + 1, sizeof(int32_t) * (size_t)--p->nfree);
        } else {
            return -1;
        }
    } else if (p->nfree > 0) {
        id = p->free_ids[--p->nfree]; /* the most recently freed: still warm in cache */
    } else if (p->carved < p->cap) {
        id = p->carved++;
    } else {
        return -1;
    }
    p->next[id] = -1;
    p->out[id] = 1;
    p->in_use++;
    if (p->in_use > p->high_water) p->high_water = p->in_use;
    return id;
}

static uint8_t *fh_pool_ptr(fh_pool *p, int32_t id) {
    fh_large *l;
    if (id >= FH_LARGE_BASE) return (l = fh_pool_large(p, id)) != NULL && l->in_use ? l->ptr : NULL;
    if (id < 0 || id >= p->carved) return NULL;
    return p->base + (size_t)id * p->slab_size;
}

static size_t fh_pool_size(fh_pool *p, int32_t id) {
    fh_large *l;
    if (id >= FH_LARGE_BASE) return (l = fh_pool_large(p, id)) != NULL && l->in_use ? l->cap : 0;
    return (id >= 0 && id < p->carved) ? p->slab_size : 0;
}

static int32_t *fh_pool_link(fh_pool *p, int32_t id) {
    fh_large *l;
    if (id >= FH_LARGE_BASE) return (l = fh_pool_large(p, id)) != NULL ? &l->next : NULL;
    return (id >= 0 && id < p->carved) ? &p->next[id] : NULL;
}

/* Adds a slab able to hold `need` bytes to the arena that begins with `head`.
 * Returns its id, or -1 when none can be had. */
static int32_t fh_pool_grow(fh_pool *p, int32_t head, size_t need) {
    int32_t *link = fh_pool_link(p, head), id;
    if (link == NULL || fh_pool_ptr(p, head) == NULL) return -1;
    id = fh_pool_acquire(p, need);
    if (id < 0) return -1;
    /* Insert right after the head: order within an arena does not matter. */
    *fh_pool_link(p, id) = *link;
    *link = id;
    return id;
}

/* Whether `id` belongs to the arena that begins with `head`. */
static int fh_pool_in_arena(fh_pool *p, int32_t head, int32_t id) {
    int32_t k = head, *link;
    while (k >= 0) {
        if (k == id) return 1;
        link = fh_pool_link(p, k);
        if (link == NULL) return 0;
        k = *link;
    }
    return 0;
}

static void fh_pool_release_one(fh_pool *p, int32_t id) {
    if (id >= FH_LARGE_BASE) {
        fh_large *l = fh_pool_large(p, id);
        if (l == NULL || !l->in_use) return;
        /* Keep the mapping for reuse; give its pages back (or poison them). */
        if (p->poison) memset(l->ptr, FH_POISON, l->cap);
        else (void)madvise(l->ptr, l->cap, MADV_DONTNEED);
        l->in_use = 0;
        p->large_in_use--;
        return;
    }
    if (id < 0 || id >= p->carved || !p->out[id]) return;
    if (p->poison) memset(p->base + (size_t)id * p->slab_size, FH_POISON, p->slab_size);
    p->out[id] = 0;
    p->free_ids[p->nfree++] = id;
    p->in_use--;
}

/* Frees the arena that begins with `head`: every slab of its chain. Ids that
 * are not out are ignored. */
static void fh_pool_release(fh_pool *p, int32_t head) {
    int32_t id = head, guard = p->cap + p->large_cap + 1;
    if (head >= 0 && head < p->carved && p->next[head] < 0 && !p->poison && !p->trace) {
        /* The usual arena: one slab, nothing to trace or poison. */
        if (!p->out[head]) return;
        p->out[head] = 0;
        p->free_ids[p->nfree++] = head;
        p->in_use--;
        return;
    }
    if (fh_pool_ptr(p, head) == NULL) return;
    if (head < FH_LARGE_BASE && !p->out[head]) return;
    if (p->trace && fh_grow((void **)&p->trace_ids, &p->trace_cap, sizeof(int32_t), p->ntrace + 1) == 0) {
        int dcap = p->trace_cap;
        double *nt = realloc(p->trace_ms, sizeof(double) * (size_t)dcap);
        if (nt != NULL) {
            p->trace_ms = nt;
            p->trace_ids[p->ntrace] = head;
            p->trace_ms[p->ntrace] = fh_clock_ms();
            p->ntrace++;
        }
    }
    while (id >= 0 && guard-- > 0) {
        int32_t *link = fh_pool_link(p, id), nxt = link ? *link : -1;
        if (link) *link = -1;
        fh_pool_release_one(p, id);
        id = nxt;
    }
}

static void fh_pool_free(fh_pool *p) {
    int32_t k;
    if (p->base != NULL) {
        /* Keep the mappings (views may outlive the server), give back the pages. */
        (void)madvise(p->base, p->slab_size * (size_t)p->cap, MADV_DONTNEED);
    }
    for (k = 0; k < p->large_cap; k++)
        if (p->large[k].ptr != NULL) (void)madvise(p->large[k].ptr, p->large[k].cap, MADV_DONTNEED);
    free(p->large);
    free(p->free_ids);
    free(p->next);
    free(p->out);
    free(p->trace_ids);
    free(p->trace_ms);
    p->large = NULL;
    p->free_ids = NULL;
    p->next = NULL;
    p->out = NULL;
    p->trace_ids = NULL;
    p->trace_ms = NULL;
}
