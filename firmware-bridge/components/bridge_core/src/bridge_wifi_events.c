/* Wi-Fi events, from the task that runs the IDF event loop to the core task.
 * The event handler must not touch the core's state (encode buffers, link queue),
 * which only the core task owns: it copies the event into a small single-producer
 * ring, like the radio callbacks do, and br_core_poll turns it into WIFI_EVENT. */
#include <string.h>

#include "bridge_dispatch.h"
#include "bridge_rings.h"
#include "bridge_state.h"

#define EVT_LEN 4u          /* event, channel, reason (u16 LE) */
#define EVT_SLOTS 16u       /* a connect/disconnect storm between two polls */

static uint8_t s_storage[EVT_SLOTS * (EVT_LEN + 2u) + 2u];
static br_ring_t s_ring;
static _Atomic uint32_t s_lost;   /* events the full ring could not take */

/* s_lost is not reset: an event lost before init is still reported by the first poll. */
void br_wifi_events_init(void)
{
    br_ring_init(&s_ring, s_storage, sizeof s_storage);
}

void br_core_wifi_event(uint8_t event, uint8_t channel, uint16_t reason)
{
    uint8_t *rec = s_ring.buf != NULL ? br_ring_reserve(&s_ring, EVT_LEN) : NULL;
    if (rec == NULL) {
        atomic_fetch_add(&s_lost, 1);
    } else {
        rec[0] = event;
        rec[1] = channel;
        rec[2] = (uint8_t)reason;
        rec[3] = (uint8_t)(reason >> 8);
        br_ring_commit(&s_ring, EVT_LEN);
    }
    const br_port_t *p = br_core_port();
    if (p != NULL && p->notify != NULL) p->notify(p->ctx);
}

void br_wifi_events_drain(void)
{
    /* Events lost to a full ring are reported with the dropped events. */
    br_state.counters[BR_STAT_EVENTS_DROPPED] += atomic_exchange(&s_lost, 0);
    uint16_t len;
    const uint8_t *rec;
    while ((rec = br_ring_peek(&s_ring, &len)) != NULL) {
        uint16_t reason = (uint16_t)(rec[2] | (rec[3] << 8));
        if (!br_dispatch_wifi_event(rec[0], rec[1], reason)) return;   /* link queue full: keep it */
        br_ring_release(&s_ring);
    }
}
