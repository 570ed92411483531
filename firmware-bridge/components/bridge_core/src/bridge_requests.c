/* Requests from the host: the link splitter, the replay window that makes every
 * request run at most once, the window (BUSY) and the answers (see PROTOCOL.md 8). */
#include <string.h>

#include "bridge_dispatch.h"
#include "bridge_frame.h"
#include "bridge_state.h"

/* R: 2 x W rounded up to a power of two, so that id mod R stays consistent when the
 * 16-bit ids wrap (16 for the default W = 8). */
#define REPLAY_SLOTS (2u * BR_WINDOW <= 2u ? 2u : 2u * BR_WINDOW <= 4u ? 4u : 2u * BR_WINDOW <= 8u ? 8u : \
                      2u * BR_WINDOW <= 16u ? 16u : 2u * BR_WINDOW <= 32u ? 32u : 64u)
_Static_assert(2u * BR_WINDOW <= REPLAY_SLOTS && (65536u % REPLAY_SLOTS) == 0u, "replay window size");

enum { REPLAY_EMPTY, REPLAY_PENDING, REPLAY_DONE };
/* Slot = id mod R, so the response to id X stays until id X + R (or a new session). */
typedef struct {
    uint16_t id;
    uint8_t state;
    uint32_t req_crc;
    uint16_t len;
    uint8_t wire[BR_MAX_RESP_WIRE];
} replay_slot_t;
static replay_slot_t s_replay[REPLAY_SLOTS];
static br_splitter_t s_splitter;

void br_requests_init(void)
{
    memset(s_replay, 0, sizeof s_replay);
    br_splitter_init(&s_splitter);
}

/* Answers a request without remembering it (BUSY, stale): a retransmission is judged afresh. */
static void respond_unremembered(uint16_t id, uint8_t code, int32_t err)
{
    static uint8_t wire[BR_MAX_RESP_WIRE];
    br_value_t e[1] = { { .i = err } };
    size_t n = br_core_encode(BR_KIND_RESPONSE, id, code, e, wire, sizeof wire);
    if (!br_core_queue_response(wire, n)) br_state.counters[BR_STAT_RESP_UNSENT]++;
}

static void respond_to(br_pending_resp_t *slot, uint8_t code, const br_value_t *vals, bool after_events)
{
    static replay_slot_t detached;
    replay_slot_t *s = (replay_slot_t *)slot->replay;
    if (s == NULL || s->id != slot->id || s->state != REPLAY_PENDING) {
        /* A new session forgot the slot meanwhile: answer without caching. */
        s = &detached;
        s->id = slot->id;
    }
    size_t n = br_core_encode(BR_KIND_RESPONSE, slot->id, code, vals, s->wire, sizeof s->wire);
    if (n == 0) {
        /* Cannot happen with the layouts in the table; answer ESP_FAIL rather than nothing. */
        br_value_t e[1] = { { .i = -1 } };
        n = br_core_encode(BR_KIND_RESPONSE, slot->id, code, e, s->wire, sizeof s->wire);
    }
    s->len = (uint16_t)n;
    s->state = REPLAY_DONE;
    bool queued = after_events ? br_core_queue_response_after_events(s->wire, n) : br_core_queue_response(s->wire, n);
    /* Not queued (cannot happen within the window): the host's retransmission gets it from the replay window. */
    if (!queued) br_state.counters[BR_STAT_RESP_UNSENT]++;
}

void br_core_respond(br_pending_resp_t *slot, uint8_t code, const br_value_t *vals)
{
    respond_to(slot, code, vals, false);
}

void br_core_respond_after_events(br_pending_resp_t *slot, uint8_t code, const br_value_t *vals)
{
    respond_to(slot, code, vals, true);
}

/* A new host session (its HELLO request): every remembered id is forgotten. */
static void replay_forget_all(void)
{
    for (uint32_t i = 0; i < REPLAY_SLOTS; i++) s_replay[i].state = REPLAY_EMPTY;
}

/* ---------- link input ---------- */

static void handle_frame(uint8_t *enc, size_t len)
{
    br_frame_t f;
    br_result_t r = br_frame_decode(enc, len, enc, BR_MAX_ENCODED_NO_DELIM, &f);
    switch (r) {
    case BR_OK: break;
    case BR_ERR_BAD_CRC: br_state.counters[BR_STAT_LINK_RX_BAD_CRC]++; return;
    case BR_ERR_BAD_COBS: br_state.counters[BR_STAT_LINK_RX_BAD_COBS]++; return;
    case BR_ERR_OVERSIZE: br_state.counters[BR_STAT_LINK_RX_OVERSIZE]++; return;
    case BR_ERR_BAD_VERSION: br_state.counters[BR_STAT_LINK_RX_BAD_VERSION]++; return;
    case BR_ERR_BAD_KIND: br_state.counters[BR_STAT_LINK_RX_BAD_KIND]++; return;
    default: br_state.counters[BR_STAT_LINK_RX_TRUNCATED]++; return;
    }
    if (f.kind != BR_KIND_REQUEST) {
        br_state.counters[BR_STAT_LINK_RX_BAD_KIND]++;
        return;
    }
    br_state.counters[BR_STAT_LINK_RX_FRAMES]++;
    br_state.last_valid_rx_us = br_core_port()->now_us(br_core_port()->ctx);
    /* The frame's own CRC identifies a retransmission of the very same request. */
    const uint8_t *c = f.body + f.body_len;
    uint32_t crc = (uint32_t)c[0] | ((uint32_t)c[1] << 8) | ((uint32_t)c[2] << 16) | ((uint32_t)c[3] << 24);
    replay_slot_t *slot = &s_replay[f.id % REPLAY_SLOTS];
    if (slot->state != REPLAY_EMPTY && slot->id == f.id && slot->req_crc == crc) {
        br_state.counters[BR_STAT_REQ_REPLAYED]++;
        /* A pending sync send answers when its statuses arrive. */
        if (slot->state == REPLAY_DONE && !br_core_queue_response(slot->wire, slot->len)) {
            br_state.counters[BR_STAT_RESP_UNSENT]++;
        }
        return;
    }
    if (f.code == BR_CMD_HELLO && br_core_requests_in_flight() < BR_WINDOW) {
        /* A new session: its ids start anywhere, nothing of the previous one may answer them. */
        replay_forget_all();
    }
    if (slot->state != REPLAY_EMPTY && slot->id != f.id && (int16_t)(uint16_t)(f.id - slot->id) < 0) {
        /* Older than an id already executed in this slot: R or more ids behind, a
         * retransmission the window no longer covers. Executing it could run it twice. */
        br_state.counters[BR_STAT_REQ_STALE]++;
        respond_unremembered(f.id, f.code, BR_ERR_BRIDGE_STALE);
        return;
    }
    if (br_core_requests_in_flight() >= BR_WINDOW || slot->state == REPLAY_PENDING) {
        br_state.counters[BR_STAT_REQ_BUSY]++;
        respond_unremembered(f.id, f.code, BR_ERR_BRIDGE_BUSY);
        return;
    }
    slot->id = f.id;
    slot->req_crc = crc;
    slot->state = REPLAY_PENDING;
    br_pending_resp_t pending = { f.id, slot };
    br_dispatch(&pending, f.code, f.body, f.body_len);
}

void br_core_feed(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        br_split_t r = br_splitter_push(&s_splitter, data[i]);
        if (r == BR_SPLIT_FRAME) {
            handle_frame(s_splitter.buf, s_splitter.len);
        } else if (r == BR_SPLIT_OVERSIZE) {
            br_state.counters[BR_STAT_LINK_RX_OVERSIZE]++;
        }
    }
}

