/* Internal: the core's state shared between its source files. */
#ifndef BRIDGE_STATE_H
#define BRIDGE_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bridge_core.h"
#include "bridge_msg.h"
#include "esp_err.h"
#include "esp_idf_version.h"
#include "esp_now.h"

#if defined(ESP_NOW_MAX_DATA_LEN_V2) && ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 4, 0)
/* The build's own limit (IDF 5.4.0/5.4.1 headers say 1490, later ones 1470); the
 * protocol's layouts carry up to BR_PAYLOAD_WIRE_MAX, so every build fits. */
_Static_assert(ESP_NOW_MAX_DATA_LEN_V2 <= BR_PAYLOAD_WIRE_MAX, "payload limit above the protocol's");
#define BR_ESPNOW_MAX_PAYLOAD ESP_NOW_MAX_DATA_LEN_V2
#define BR_HAVE_ESPNOW_V2 1
#else
#define BR_ESPNOW_MAX_PAYLOAD ESP_NOW_MAX_DATA_LEN
#define BR_HAVE_ESPNOW_V2 0
#endif

/* Counter indices, PROTOCOL.md section 10. */
enum {
    BR_STAT_TX_PACKETS, BR_STAT_TX_RESPONSES, BR_STAT_TX_FAILURES, BR_STAT_RX_PACKETS, BR_STAT_RX_DROPPED,
    BR_STAT_LINK_RX_FRAMES, BR_STAT_LINK_RX_BAD_CRC, BR_STAT_LINK_RX_BAD_COBS, BR_STAT_LINK_RX_OVERSIZE,
    BR_STAT_LINK_RX_TRUNCATED, BR_STAT_LINK_RX_BAD_VERSION, BR_STAT_LINK_RX_BAD_KIND, BR_STAT_REQ_REPLAYED,
    BR_STAT_REQ_BUSY, BR_STAT_LINK_TX_FRAMES, BR_STAT_EVENTS_DROPPED, BR_STAT_LOG_DROPPED, BR_STAT_UPTIME_S,
    BR_STAT_REQ_REJECTED, BR_STAT_REQ_STALE, BR_STAT_TX_ABANDONED, BR_STAT_RESP_UNSENT,
};

typedef struct {
    uint32_t counters[BR_STATS_COUNT];
    /* Written by the Wi-Fi task, read by the core task. */
    _Atomic uint32_t rx_packets, rx_dropped, log_dropped, status_lost;
    _Atomic uint32_t rxbuf, rx_used;
    uint32_t drop_reported[3];
    uint8_t sta_mac[6], ap_mac[6];
    uint64_t boot_us, last_valid_rx_us;
    bool restart_pending;
    uint32_t lost_at_reset;     /* packets held in the device when it last restarted (HELLO) */
} br_core_state_t;

extern br_core_state_t br_state;

/* A request being answered: its id and its replay-window slot. */
typedef struct {
    uint16_t id;
    void *replay;
} br_pending_resp_t;

void br_core_respond(br_pending_resp_t *slot, uint8_t code, const br_value_t *vals);
/* Largest response frame on the wire (HELLO response: 4+4+54+31+4 bytes, COBS, delimiter). */
#define BR_MAX_RESP_WIRE 128u

/* The writer (bridge_core.c), for the request side (bridge_requests.c). */
size_t br_core_encode(uint8_t kind, uint16_t id, uint8_t code, const br_value_t *vals, uint8_t *wire, size_t cap);
/* Queues a response frame ahead of events; false when the response queue is full. */
bool br_core_queue_response(const uint8_t *wire, size_t len);
/* Queues a response frame behind the events already queued (a sync send's statuses). */
bool br_core_queue_response_after_events(const uint8_t *wire, size_t len);
/* Requests counted against the window: answered but not yet written, plus sync sends waiting. */
uint32_t br_core_requests_in_flight(void);
void br_requests_init(void);

/* As br_core_respond, but queued behind the events already queued (a sync send's statuses). */
void br_core_respond_after_events(br_pending_resp_t *slot, uint8_t code, const br_value_t *vals);
/* Gives every in-flight send its final outcome ("abandoned" when the radio will not report it). */
void br_core_abandon_sends(void);
uint8_t br_core_send_gen(void);
bool br_core_emit_event(uint8_t code, const br_value_t *vals);
esp_err_t br_core_register_callbacks(void);
const br_identity_t *br_core_identity(void);
const br_port_t *br_core_port(void);
void br_core_clear_stats(void);

/* Wi-Fi events handed over by br_core_wifi_event (bridge_wifi_events.c). */
void br_wifi_events_init(void);
void br_wifi_events_drain(void);

/* Send tracking (bridge_sends.c). */
void br_sends_init(void);
/* Starts tracking a send of `count` statuses; false when all slots are busy. */
bool br_sends_begin(uint16_t req_id, const uint8_t *mac, uint8_t count, bool sync, br_pending_resp_t *slot);
/* One status from the radio (stamped with the send generation); false if its event does not fit yet. */
bool br_sends_on_status(const uint8_t *mac, uint8_t status, uint8_t gen);
/* Marks every tracked send abandoned; their statuses go out from br_sends_flush_abandoned. */
void br_sends_abandon_all(void);
/* Emits the abandoned statuses (and sync answers) that fit in the link queue. */
void br_sends_flush_abandoned(void);
/* Sync sends not yet answered (they count against the window). */
uint32_t br_sends_pending_sync(void);
/* True while any send still owes a status. */
bool br_sends_outstanding(void);
/* Undoes the last br_sends_begin (esp_now_send refused the packet). */
void br_sends_cancel_last(void);

#endif
