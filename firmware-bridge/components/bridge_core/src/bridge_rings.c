#include "bridge_rings.h"

#include <string.h>

/* Each record is a 2-byte length followed by the data; length 0xFFFF marks a wrap. */
#define REC_HDR 2u
#define WRAP_MARK 0xFFFFu

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static uint32_t rec_size(uint16_t len) { return (REC_HDR + len + 1u) & ~1u; } /* keep headers aligned to 2 */

void br_ring_init(br_ring_t *r, uint8_t *storage, uint32_t size)
{
    r->buf = storage;
    r->size = size & ~1u;
    atomic_store(&r->head, 0);
    atomic_store(&r->tail, 0);
}

void br_ring_clear(br_ring_t *r)
{
    atomic_store(&r->tail, atomic_load(&r->head));
}

uint8_t *br_ring_reserve(br_ring_t *r, uint16_t len)
{
    uint32_t need = rec_size(len);
    uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (len == WRAP_MARK || need + REC_HDR > r->size) return NULL;
    if (head >= tail) {
        /* Free space: [head, size) and [0, tail-1); one byte pair stays empty so head==tail means empty. */
        if (r->size - head >= need + (tail == 0 ? REC_HDR : 0u)) return r->buf + head + REC_HDR;
        if (tail > need + REC_HDR && r->size - head >= REC_HDR) {
            wr16(r->buf + head, WRAP_MARK);
            atomic_store_explicit(&r->head, 0, memory_order_release);
            return r->buf + REC_HDR;
        }
        return NULL;
    }
    if (tail - head > need) return r->buf + head + REC_HDR;
    return NULL;
}

void br_ring_commit(br_ring_t *r, uint16_t len)
{
    uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    wr16(r->buf + head, len);
    head += rec_size(len);
    if (head >= r->size) head = 0;
    atomic_store_explicit(&r->head, head, memory_order_release);
}

const uint8_t *br_ring_peek(br_ring_t *r, uint16_t *len)
{
    for (;;) {
        uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        if (tail == head) return NULL;
        uint16_t l = rd16(r->buf + tail);
        if (l == WRAP_MARK) {
            atomic_store_explicit(&r->tail, 0, memory_order_release);
            continue;
        }
        *len = l;
        return r->buf + tail + REC_HDR;
    }
}

void br_ring_release(br_ring_t *r)
{
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t next = tail + rec_size(rd16(r->buf + tail));
    if (next >= r->size) next = 0;
    atomic_store_explicit(&r->tail, next, memory_order_release);
}
