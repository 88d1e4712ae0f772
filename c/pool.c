/*
 * pool.c - the arena slab pool.
 *
 * Slabs of a fixed size are carved on demand from one reserved region of
 * virtual memory, mapped once and shown to JavaScript once as one ArrayBuffer:
 * taking or returning a slab is a push or a pop, and no JS object is made per
 * slab. The region is never unmapped while the process lives (a view kept past
 * its request reads stale bytes, never faults); fh_pool_free returns its pages
 * to the OS instead. A request larger than a slab gets a "large" slab of its
 * own from malloc, freed when its arena ends.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define FH_LARGE_BASE (1 << 24) /* ids at and above this are large slabs */

typedef struct fh_pool {
    uint8_t *base;
    size_t slab_size;
    int32_t cap;     /* slabs the region can hold */
    int32_t carved;  /* slabs handed out at least once */
    int32_t *free_ids;
    int32_t nfree;
    int32_t in_use;
    int32_t high_water;
    uint8_t **large;
    size_t *large_size;
    int32_t large_cap;
    int32_t large_in_use;
    int poison; /* fill released slabs with 0xDB (FASTHTTP_DEBUG_ARENA) */
} fh_pool;

static int fh_pool_init(fh_pool *p, size_t slab_size, int32_t cap) {
    void *m;
    memset(p, 0, sizeof(*p));
    m = mmap(NULL, slab_size * (size_t)cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return -errno;
    p->free_ids = malloc(sizeof(int32_t) * (size_t)cap);
    if (p->free_ids == NULL) {
        munmap(m, slab_size * (size_t)cap);
        return -ENOMEM;
    }
    p->base = m;
    p->slab_size = slab_size;
    p->cap = cap;
    return 0;
}

/* Takes a slab able to hold `need` bytes. Returns its id, or -1 when the pool
 * is at its cap (the caller retries once slabs come back) or out of memory. */
static int32_t fh_pool_acquire(fh_pool *p, size_t need) {
    int32_t id;
    if (need > p->slab_size) {
        int32_t k;
        uint8_t *m;
        for (k = 0; k < p->large_cap && p->large[k] != NULL; k++) {
        }
        if (k == p->large_cap) {
            int32_t ncap = p->large_cap ? p->large_cap * 2 : 8;
            uint8_t **nl = realloc(p->large, sizeof(uint8_t *) * (size_t)ncap);
            size_t *ns;
            if (nl == NULL) return -1;
            p->large = nl;
            ns = realloc(p->large_size, sizeof(size_t) * (size_t)ncap);
            if (ns == NULL) return -1;
            p->large_size = ns;
            memset(p->large + p->large_cap, 0, sizeof(uint8_t *) * (size_t)(ncap - p->large_cap));
            p->large_cap = ncap;
        }
        m = malloc(need);
        if (m == NULL) return -1;
        p->large[k] = m;
        p->large_size[k] = need;
        p->large_in_use++;
        return FH_LARGE_BASE + k;
    }
    if (p->nfree > 0) {
        id = p->free_ids[--p->nfree];
    } else if (p->carved < p->cap) {
        id = p->carved++;
    } else {
        return -1;
    }
    p->in_use++;
    if (p->in_use > p->high_water) p->high_water = p->in_use;
    return id;
}

static uint8_t *fh_pool_ptr(fh_pool *p, int32_t id) {
    if (id >= FH_LARGE_BASE) {
        int32_t k = id - FH_LARGE_BASE;
        return (k < p->large_cap) ? p->large[k] : NULL;
    }
    if (id < 0 || id >= p->carved) return NULL;
    return p->base + (size_t)id * p->slab_size;
}

static size_t fh_pool_size(fh_pool *p, int32_t id) {
    if (id >= FH_LARGE_BASE) {
        int32_t k = id - FH_LARGE_BASE;
        return (k < p->large_cap && p->large[k] != NULL) ? p->large_size[k] : 0;
    }
    return p->slab_size;
}

/* Returns a slab to the pool. Ids that are not out are ignored. */
static void fh_pool_release(fh_pool *p, int32_t id) {
    if (id >= FH_LARGE_BASE) {
        int32_t k = id - FH_LARGE_BASE;
        if (k < p->large_cap && p->large[k] != NULL) {
            free(p->large[k]);
            p->large[k] = NULL;
            p->large_in_use--;
        }
        return;
    }
    if (id < 0 || id >= p->carved || p->nfree >= p->carved) return;
    if (p->poison) memset(p->base + (size_t)id * p->slab_size, 0xDB, p->slab_size);
    p->free_ids[p->nfree++] = id;
    p->in_use--;
}

static void fh_pool_free(fh_pool *p) {
    int32_t k;
    if (p->base != NULL) {
        /* Keep the mapping (views may outlive the server), give back the pages. */
        (void)madvise(p->base, p->slab_size * (size_t)p->cap, MADV_DONTNEED);
    }
    for (k = 0; k < p->large_cap; k++) free(p->large[k]);
    free(p->large);
    free(p->large_size);
    free(p->free_ids);
    p->large = NULL;
    p->large_size = NULL;
    p->free_ids = NULL;
}
