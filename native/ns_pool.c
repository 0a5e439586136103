/* ns_pool.c: see ns_pool.h. */
#include "ns_pool.h"

#include <stdlib.h>

struct ns_pool {
    uint8_t *memory;     /* count * buf_size bytes, owned by the caller */
    uint32_t count;
    uint32_t buf_size;
    ns_ring *free_ring;  /* indices of the free buffers, MP/MC */
};

static uint32_t next_power_of_two(uint32_t n)
{
    uint32_t size = 2;
    while (size < n)
        size <<= 1;
    return size;
}

ns_pool *ns_pool_create(uint32_t count, uint32_t buf_size, uint8_t *memory)
{
    if (count == 0 || count > NS_RING_MAX_SIZE || buf_size == 0 || memory == NULL)
        return NULL;
    ns_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    /* Big enough for every buffer at once, so returning a buffer can never fail. */
    pool->free_ring = ns_ring_create(next_power_of_two(count), 0);
    if (pool->free_ring == NULL) {
        free(pool);
        return NULL;
    }
    pool->memory = memory;
    pool->count = count;
    pool->buf_size = buf_size;
    uintptr_t chunk[256];
    for (uint32_t first = 0; first < count; first += 256) {
        unsigned n = count - first < 256 ? count - first : 256;
        for (unsigned i = 0; i < n; i++)
            chunk[i] = first + i;
        ns_ring_enqueue_bulk(pool->free_ring, chunk, n);
    }
    return pool;
}

void ns_pool_free(ns_pool *pool)
{
    if (pool == NULL)
        return;
    ns_ring_free(pool->free_ring);
    free(pool);
}

unsigned ns_pool_get_burst(ns_pool *pool, uintptr_t *indices, unsigned n)
{
    return ns_ring_dequeue_burst(pool->free_ring, indices, n);
}

unsigned ns_pool_put_bulk(ns_pool *pool, const uintptr_t *indices, unsigned n)
{
    if (n > pool->count)
        return 0;
    return ns_ring_enqueue_bulk(pool->free_ring, indices, n);
}

unsigned ns_pool_available(const ns_pool *pool)
{
    return ns_ring_count(pool->free_ring);
}

uint32_t ns_pool_count(const ns_pool *pool)
{
    return pool->count;
}

uint32_t ns_pool_buf_size(const ns_pool *pool)
{
    return pool->buf_size;
}

uint8_t *ns_pool_buffer(const ns_pool *pool, uint32_t index)
{
    return pool->memory + (size_t)index * pool->buf_size;
}
