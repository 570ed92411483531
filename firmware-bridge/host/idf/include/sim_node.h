/* sim_node: the messages a firmware node process (firmware-bridge/host/node)
 * exchanges with the coordinator beside the radio messages of sim_medium.h,
 * on the same SOCK_SEQPACKET socket (types 32..47 are the node's; all integers
 * little-endian; byte 0 is the type).
 *
 *  coordinator -> node
 *   32 CLOCK   now_us u64: simulated time is now_us; the node may run   (9 bytes)
 *  node -> coordinator
 *   33 IDLE    consumed u32, wake_at u64: every task is blocked; consumed counts
 *              the coordinator's messages (any type) read so far; wake_at is the
 *              simulated time of the node's next timer, UINT64_MAX for none (13)
 *   34 HALT    kind u8 (1 deep sleep, 2 software restart, 3 panic), sleep_us u64
 *              (deep sleep timer, UINT64_MAX = no wake-up source); the process
 *              exits right after it                                     (10)
 *   35 RADIO   on u8: 0 while in light sleep (hears nothing), 1 after      (2)
 *
 * The coordinator sends CLOCK before any other message whenever the time
 * changed since it last told the node, so the node always knows the time of
 * the frame it receives. The node is blocked (simulated time may advance) when
 * its last IDLE has consumed == every message sent to it. */
#ifndef SIM_NODE_H
#define SIM_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    SIM_NODE_CLOCK = 32,
    SIM_NODE_IDLE = 33,
    SIM_NODE_HALT = 34,
    SIM_NODE_RADIO = 35,
};
enum { SIM_NODE_HALT_DEEP_SLEEP = 1, SIM_NODE_HALT_RESTART = 2, SIM_NODE_HALT_PANIC = 3 };

typedef struct {
    uint8_t type;
    uint64_t now_us;        /* CLOCK */
    uint32_t consumed;      /* IDLE */
    uint64_t wake_at;       /* IDLE */
    uint8_t kind;           /* HALT */
    uint64_t sleep_us;      /* HALT */
    uint8_t on;             /* RADIO */
} sim_node_msg_t;

static inline void sim_node_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t sim_node_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Returns the encoded length, 0 for an unknown type or a short buffer. */
static inline size_t sim_node_encode(const sim_node_msg_t *m, uint8_t *out, size_t cap)
{
    if (cap < 13) return 0;
    out[0] = m->type;
    switch (m->type) {
    case SIM_NODE_CLOCK: sim_node_put64(out + 1, m->now_us); return 9;
    case SIM_NODE_IDLE:
        for (int i = 0; i < 4; i++) out[1 + i] = (uint8_t)(m->consumed >> (8 * i));
        sim_node_put64(out + 5, m->wake_at);
        return 13;
    case SIM_NODE_HALT: out[1] = m->kind; sim_node_put64(out + 2, m->sleep_us); return 10;
    case SIM_NODE_RADIO: out[1] = m->on; return 2;
    default: return 0;
    }
}

/* False unless buf is exactly one well-formed node message. */
static inline bool sim_node_decode(const uint8_t *buf, size_t n, sim_node_msg_t *m)
{
    if (n < 1) return false;
    *m = (sim_node_msg_t){ .type = buf[0] };
    switch (buf[0]) {
    case SIM_NODE_CLOCK: if (n != 9) return false; m->now_us = sim_node_get64(buf + 1); return true;
    case SIM_NODE_IDLE:
        if (n != 13) return false;
        m->consumed = (uint32_t)buf[1] | (uint32_t)buf[2] << 8 | (uint32_t)buf[3] << 16 | (uint32_t)buf[4] << 24;
        m->wake_at = sim_node_get64(buf + 5);
        return true;
    case SIM_NODE_HALT:
        if (n != 10) return false;
        m->kind = buf[1];
        m->sleep_us = sim_node_get64(buf + 2);
        return true;
    case SIM_NODE_RADIO: if (n != 2) return false; m->on = buf[1]; return true;
    default: return false;
    }
}

#endif
