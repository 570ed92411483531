/* Send tracking: every esp_now_send that returned ESP_OK owes one status per
 * destination. Statuses are matched to the oldest send of the same generation
 * still waiting for that MAC (ESP-IDF reports them in order), turned into
 * SEND_STATUS events carrying the request id, and a sync send is answered once
 * all of them arrived. When ESP-NOW is deinitialised, Wi-Fi stops or the device
 * restarts, the radio reports nothing more: the sends still waiting are
 * abandoned, each owed status goes out as "abandoned", and the generation moves
 * on so that a late status can never be credited to a newer send. */
#include <string.h>

#include "bridge_state.h"

typedef struct {
    uint16_t req_id;
    uint8_t mac[6];
    bool any_dest;          /* every peer: statuses come from several MACs */
    bool sync;
    bool abandoned;
    uint8_t gen;
    uint8_t total, remaining, failures;
    br_pending_resp_t slot;
} send_t;

static send_t s_sends[BR_SEND_SLOTS];
static uint32_t s_count;           /* entries in use, oldest first */
static uint32_t s_statuses_owed;   /* sum of remaining: bounded by BR_SEND_SLOTS */
static uint32_t s_sync_pending;

void br_sends_init(void)
{
    s_count = 0;
    s_statuses_owed = 0;
    s_sync_pending = 0;
}

uint32_t br_sends_pending_sync(void) { return s_sync_pending; }
bool br_sends_outstanding(void) { return s_count > 0; }

bool br_sends_begin(uint16_t req_id, const uint8_t *mac, uint8_t count, bool sync, br_pending_resp_t *slot)
{
    if (s_count == BR_SEND_SLOTS || s_statuses_owed + count > BR_SEND_SLOTS) return false;
    send_t *s = &s_sends[s_count++];
    s->req_id = req_id;
    s->any_dest = mac == NULL;
    if (mac) memcpy(s->mac, mac, 6); else memset(s->mac, 0, 6);
    s->sync = sync;
    s->abandoned = false;
    s->gen = br_core_send_gen();
    s->total = s->remaining = count;
    s->failures = 0;
    s->slot = *slot;
    s_statuses_owed += count;
    if (sync) s_sync_pending++;
    return true;
}

void br_sends_cancel_last(void)
{
    if (s_count == 0) return;
    s_count--;
    s_statuses_owed -= s_sends[s_count].remaining;
    if (s_sends[s_count].sync) s_sync_pending--;
}

/* Emits one status of send i; false if the event does not fit yet. */
static bool report(uint32_t i, const uint8_t *mac, uint8_t status)
{
    send_t *s = &s_sends[i];
    br_value_t v[3];
    memset(v, 0, sizeof v);
    v[0].i = s->req_id;
    v[1].ptr = mac; v[1].len = 6;
    v[2].i = status;
    if (!br_core_emit_event(BR_EVT_SEND_STATUS, v)) return false;
    if (status == BR_SEND_STATUS_ABANDONED) {
        br_state.counters[BR_STAT_TX_ABANDONED]++;
    } else {
        br_state.counters[BR_STAT_TX_RESPONSES]++;
        if (status != 0) br_state.counters[BR_STAT_TX_FAILURES]++;
    }
    if (status != 0) s->failures++;
    s->remaining--;
    s_statuses_owed--;
    if (s->remaining == 0) {
        if (s->sync) {
            br_value_t r[3];
            memset(r, 0, sizeof r);
            r[0].i = ESP_OK;
            r[1].i = s->total;
            r[2].i = s->failures;
            s_sync_pending--;
            br_core_respond_after_events(&s->slot, BR_CMD_ESPNOW_SEND, r);
        }
        memmove(&s_sends[i], &s_sends[i + 1], (s_count - i - 1) * sizeof s_sends[0]);
        s_count--;
    }
    return true;
}

bool br_sends_on_status(const uint8_t *mac, uint8_t status, uint8_t gen)
{
    uint32_t i = 0;
    while (i < s_count && !(s_sends[i].remaining > 0 && s_sends[i].gen == gen &&
                            (s_sends[i].any_dest || memcmp(s_sends[i].mac, mac, 6) == 0))) i++;
    if (i == s_count) {
        /* A status for no tracked send (radio bug, or later than its abandonment): counted, never hidden. */
        br_state.counters[BR_STAT_EVENTS_DROPPED]++;
        return true;
    }
    return report(i, mac, status);
}

void br_sends_abandon_all(void)
{
    for (uint32_t i = 0; i < s_count; i++) s_sends[i].abandoned = true;
}

void br_sends_flush_abandoned(void)
{
    uint32_t i = 0;
    while (i < s_count) {
        if (!s_sends[i].abandoned) {
            i++;
            continue;
        }
        /* An every-peer send does not know which destinations are left: all-zero MAC. */
        if (!report(i, s_sends[i].mac, BR_SEND_STATUS_ABANDONED)) return;
    }
}
