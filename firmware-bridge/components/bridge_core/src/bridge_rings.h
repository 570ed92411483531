/* Internal: lock-free single-producer/single-consumer rings that carry data
 * from the Wi-Fi task (radio callbacks) to the core task without blocking. */
#ifndef BRIDGE_RINGS_H
#define BRIDGE_RINGS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Variable-length records in a byte ring. A record never wraps: when it does
 * not fit before the end, the producer writes a wrap marker and starts at 0. */
typedef struct {
    uint8_t *buf;
    uint32_t size;
    _Atomic uint32_t head;   /* producer writes here */
    _Atomic uint32_t tail;   /* consumer reads here */
} br_ring_t;

void br_ring_init(br_ring_t *r, uint8_t *storage, uint32_t size);
void br_ring_clear(br_ring_t *r);  /* consumer side only, producer must be idle */
/* Producer: reserve len bytes (contiguous); NULL when full. Commit publishes it. */
uint8_t *br_ring_reserve(br_ring_t *r, uint16_t len);
void br_ring_commit(br_ring_t *r, uint16_t len);
/* Consumer: the oldest record (NULL when empty); release drops it. */
const uint8_t *br_ring_peek(br_ring_t *r, uint16_t *len);
void br_ring_release(br_ring_t *r);

#endif
