/* The bridge core: link input, the request dispatcher, the radio callbacks'
 * hand-off rings, and the single writer towards the host. See bridge_core.h. */
#include "bridge_core.h"

#include <stdatomic.h>
#include <string.h>

#include "bridge_dispatch.h"
#include "bridge_frame.h"
#include "bridge_idf_compat.h"
#include "bridge_msg.h"
#include "bridge_rings.h"
#include "bridge_state.h"
#include "esp_mac.h"
#include "esp_now.h"

br_core_state_t br_state;

/* Largest response frame on the wire (HELLO response: 4+4+47+32+4 bytes, COBS, delimiter). */
#define MAX_RESP_WIRE 128u
#define REPLAY_SLOTS (2u * BR_WINDOW)
#define TXQ_RECORDS 64u
/* A received packet in the rx ring: the RECV event body, ready to send. */
#define RX_META 19u

static uint8_t s_rx_storage[BR_RXBUF_MAX * 2u];
static uint8_t s_status_storage[BR_SEND_SLOTS * 12u + 16u];
static uint8_t s_log_storage[BR_LOG_RING];
static br_ring_t s_rx_ring, s_status_ring, s_log_ring;
/* Log try-lock: an exchange on a word, which every supported IDF implements on every
 * chip (on a core without atomic instructions, as a call into IDF's atomics). */
static _Atomic uint32_t s_log_lock;
static bool s_log_ring_ready;   /* guarded by s_log_lock */
static bool s_core_inited;

static br_splitter_t s_splitter;

/* Queue towards the host: whole frames in a byte ring, with a record per frame
 * so that space can be reserved for responses. */
static uint8_t s_txq[BR_TXQ_SIZE];
static uint32_t s_txq_head, s_txq_tail, s_txq_used;
static struct { uint16_t len; uint8_t is_resp; } s_txrec[TXQ_RECORDS];
static uint32_t s_txrec_head, s_txrec_count, s_txq_sent_in_rec;
static uint32_t s_resp_queued;

typedef struct {
    uint16_t id;
    uint32_t req_crc;
    uint16_t len;          /* 0: slot unused; 0xFFFF: response still pending (sync send) */
    uint8_t wire[MAX_RESP_WIRE];
} replay_slot_t;
static replay_slot_t s_replay[REPLAY_SLOTS];
static uint32_t s_replay_next;

static const br_port_t *s_port;
static br_identity_t s_identity;

/* ---------- link output ---------- */

static uint32_t txq_free(void) { return BR_TXQ_SIZE - s_txq_used; }

static bool txq_put(const uint8_t *wire, size_t len, bool is_resp)
{
    if (len == 0 || len > txq_free() || s_txrec_count == TXQ_RECORDS) return false;
    for (size_t i = 0; i < len; i++) {
        s_txq[s_txq_head] = wire[i];
        s_txq_head = (s_txq_head + 1u) % BR_TXQ_SIZE;
    }
    s_txq_used += (uint32_t)len;
    uint32_t slot = (s_txrec_head + s_txrec_count) % TXQ_RECORDS;
    s_txrec[slot].len = (uint16_t)len;
    s_txrec[slot].is_resp = is_resp;
    s_txrec_count++;
    if (is_resp) s_resp_queued++;
    return true;
}

/* Room for an event: it must leave space for every response the window allows. */
static bool event_fits(size_t len)
{
    uint32_t reserve = (BR_WINDOW + 1u - (s_resp_queued > BR_WINDOW ? BR_WINDOW : s_resp_queued)) * MAX_RESP_WIRE;
    return s_txrec_count + 2u < TXQ_RECORDS && len + reserve <= txq_free();
}

static void txq_flush(void)
{
    while (s_txq_used > 0) {
        size_t chunk = s_txq_tail + s_txq_used > BR_TXQ_SIZE ? BR_TXQ_SIZE - s_txq_tail : s_txq_used;
        size_t n = s_port->link_write(s_port->ctx, s_txq + s_txq_tail, chunk);
        if (n == 0) return;
        s_txq_tail = (uint32_t)((s_txq_tail + n) % BR_TXQ_SIZE);
        s_txq_used -= (uint32_t)n;
        s_txq_sent_in_rec += (uint32_t)n;
        while (s_txrec_count > 0 && s_txq_sent_in_rec >= s_txrec[s_txrec_head].len) {
            s_txq_sent_in_rec -= s_txrec[s_txrec_head].len;
            if (s_txrec[s_txrec_head].is_resp) s_resp_queued--;
            s_txrec_head = (s_txrec_head + 1u) % TXQ_RECORDS;
            s_txrec_count--;
            br_state.counters[BR_STAT_LINK_TX_FRAMES]++;
        }
    }
}

/* Encodes a frame from a layout and values; returns the wire length or 0. */
static size_t encode_msg(uint8_t kind, uint16_t id, uint8_t code, const br_value_t *vals, uint8_t *wire, size_t cap)
{
    static uint8_t body[BR_MAX_BODY];
    const br_msg_t *m = br_msg_find(kind, code);
    br_result_t res = BR_OK;
    size_t blen = 0;
    if (m != NULL) {
        blen = br_msg_encode(m, vals, body, sizeof body, &res);
        if (res != BR_OK) return 0;
    } else {
        /* No layout (unknown request code): the response is err only. */
        int32_t err = (int32_t)vals[0].i;
        for (int i = 0; i < 4; i++) body[i] = (uint8_t)((uint32_t)err >> (8 * i));
        blen = 4;
    }
    br_frame_t f = { BR_PROTO_VERSION, kind, id, code, body, (uint16_t)blen };
    return br_frame_encode(&f, wire, cap);
}

bool br_core_emit_event(uint8_t code, const br_value_t *vals)
{
    static uint8_t wire[BR_MAX_ENCODED];
    size_t n = encode_msg(BR_KIND_EVENT, 0, code, vals, wire, sizeof wire);
    if (n == 0) {
        /* Values outside the layout (a bug): drop and count rather than stall the queue behind it. */
        br_state.counters[BR_STAT_EVENTS_DROPPED]++;
        return true;
    }
    if (!event_fits(n)) return false;
    return txq_put(wire, n, false);
}

static replay_slot_t *replay_find(uint16_t id, uint32_t crc)
{
    for (uint32_t i = 0; i < REPLAY_SLOTS; i++) {
        if (s_replay[i].len != 0 && s_replay[i].id == id && s_replay[i].req_crc == crc) return &s_replay[i];
    }
    return NULL;
}

static replay_slot_t *replay_claim(uint16_t id, uint32_t crc)
{
    /* Oldest first, but never evict a sync send still waiting for its statuses. */
    uint32_t tries = 0;
    while (s_replay[s_replay_next].len == BR_REPLAY_PENDING && ++tries < REPLAY_SLOTS) {
        s_replay_next = (s_replay_next + 1u) % REPLAY_SLOTS;
    }
    replay_slot_t *s = &s_replay[s_replay_next];
    s_replay_next = (s_replay_next + 1u) % REPLAY_SLOTS;
    s->id = id;
    s->req_crc = crc;
    s->len = BR_REPLAY_PENDING;
    return s;
}

void br_core_respond(br_pending_resp_t *slot, uint8_t code, const br_value_t *vals)
{
    static replay_slot_t detached;
    replay_slot_t *s = (replay_slot_t *)slot->replay;
    if (s->id != slot->id || s->len != BR_REPLAY_PENDING) {
        /* The host overran the window and the slot was reused: answer without caching. */
        s = &detached;
        s->id = slot->id;
    }
    size_t n = encode_msg(BR_KIND_RESPONSE, slot->id, code, vals, s->wire, sizeof s->wire);
    if (n == 0) {
        /* Cannot happen with the layouts in the table; answer ESP_FAIL rather than nothing. */
        br_value_t e[1] = { { .i = -1 } };
        n = encode_msg(BR_KIND_RESPONSE, slot->id, code, e, s->wire, sizeof s->wire);
    }
    s->len = (uint16_t)n;
    if (!txq_put(s->wire, n, true)) {
        /* Host exceeded its window and filled the queue: the response stays in the
         * replay window, so the host's retransmission gets it. */
        br_state.counters[BR_STAT_REQ_BUSY]++;
    }
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
    br_state.last_valid_rx_us = s_port->now_us(s_port->ctx);
    /* The frame's own CRC identifies a retransmission of the very same request. */
    const uint8_t *c = f.body + f.body_len;
    uint32_t crc = (uint32_t)c[0] | ((uint32_t)c[1] << 8) | ((uint32_t)c[2] << 16) | ((uint32_t)c[3] << 24);
    replay_slot_t *old = replay_find(f.id, crc);
    if (old != NULL) {
        br_state.counters[BR_STAT_REQ_REPLAYED]++;
        /* A pending (sync send) request answers when its statuses arrive. */
        if (old->len != BR_REPLAY_PENDING && !txq_put(old->wire, old->len, true)) {
            br_state.counters[BR_STAT_REQ_BUSY]++;
        }
        return;
    }
    br_pending_resp_t slot = { f.id, replay_claim(f.id, crc) };
    if (s_resp_queued >= BR_WINDOW) {
        br_value_t e[1] = { { .i = BR_ERR_BRIDGE_BUSY } };
        br_state.counters[BR_STAT_REQ_BUSY]++;
        /* BUSY must not be replayed as if the request had run: forget the slot after answering. */
        br_core_respond(&slot, f.code, e);
        ((replay_slot_t *)slot.replay)->len = 0;
        return;
    }
    br_dispatch(&slot, f.code, f.body, f.body_len);
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

/* ---------- radio callbacks (Wi-Fi task: copy and return, never block) ---------- */

static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    if (info == NULL || info->src_addr == NULL || data == NULL || len < 0) return;
    atomic_fetch_add(&br_state.rx_packets, 1);
    if (len > BR_ESPNOW_MAX_PAYLOAD) {
        /* Longer than the protocol can carry: counted with the receive drops. */
        atomic_fetch_add(&br_state.rx_dropped, 1);
        if (s_port->notify) s_port->notify(s_port->ctx);
        return;
    }
    uint32_t cost = ((uint32_t)len + 7u + 3u) & ~3u;   /* the seed's accounting: data + MAC + length byte */
    if (atomic_load(&br_state.rx_used) + cost > atomic_load(&br_state.rxbuf)) {
        atomic_fetch_add(&br_state.rx_dropped, 1);
        if (s_port->notify) s_port->notify(s_port->ctx);
        return;
    }
    uint8_t *rec = br_ring_reserve(&s_rx_ring, (uint16_t)(RX_META + (uint32_t)len));
    if (rec == NULL) {
        atomic_fetch_add(&br_state.rx_dropped, 1);
        if (s_port->notify) s_port->notify(s_port->ctx);
        return;
    }
    atomic_fetch_add(&br_state.rx_used, cost);
    const wifi_pkt_rx_ctrl_t *rx = info->rx_ctrl;
    uint8_t dst = BR_DST_OTHER;
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    if (info->des_addr == NULL || memcmp(info->des_addr, br_state.sta_mac, 6) == 0) dst = BR_DST_STA;
    else if (memcmp(info->des_addr, bcast, 6) == 0) dst = BR_DST_BROADCAST;
    else if (memcmp(info->des_addr, br_state.ap_mac, 6) == 0) dst = BR_DST_AP;
    memcpy(rec, info->src_addr, 6);
    rec[6] = (uint8_t)(dst << 6 | br_rate_of_rx(rx));
    rec[7] = rx ? (uint8_t)(int8_t)rx->rssi : 0;
    rec[8] = rx ? (uint8_t)rx->channel : 0;
    uint32_t ts = rx ? (uint32_t)rx->timestamp : 0;
    for (int i = 0; i < 4; i++) rec[9 + i] = (uint8_t)(ts >> (8 * i));
    if (dst == BR_DST_OTHER) memcpy(rec + 13, info->des_addr, 6);
    else memset(rec + 13, 0, 6);
    memcpy(rec + RX_META, data, (size_t)len);
    br_ring_commit(&s_rx_ring, (uint16_t)(RX_META + (uint32_t)len));
    if (s_port->notify) s_port->notify(s_port->ctx);
}

#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 5, 0)
static void on_send(const esp_now_send_info_t *tx, esp_now_send_status_t status)
{
    const uint8_t *mac = tx ? tx->des_addr : NULL;
#else
static void on_send(const uint8_t *mac, esp_now_send_status_t status)
{
#endif
    uint8_t *rec = br_ring_reserve(&s_status_ring, 7);
    if (rec == NULL) {
        /* Cannot happen: sends are refused while BR_SEND_SLOTS statuses are outstanding. */
        atomic_fetch_add(&br_state.status_lost, 1);
        return;
    }
    if (mac) memcpy(rec, mac, 6); else memset(rec, 0, 6);
    rec[6] = (uint8_t)status;
    br_ring_commit(&s_status_ring, 7);
    if (s_port->notify) s_port->notify(s_port->ctx);
}

esp_err_t br_core_register_callbacks(void)
{
    esp_err_t e = esp_now_register_recv_cb(on_recv);
    if (e == ESP_OK) e = esp_now_register_send_cb(on_send);
    return e;
}

/* The log ring works before br_core_init: lines logged during boot wait for the core. */
static void log_ring_ready(void)
{
    if (!s_log_ring_ready) {
        br_ring_init(&s_log_ring, s_log_storage, sizeof s_log_storage);
        s_log_ring_ready = true;
    }
}

void br_core_log(uint8_t level, const char *text, size_t len)
{
    if (len > 200) len = 200;
    /* Try-lock: a contended log line is dropped and counted rather than blocking a task. */
    if (atomic_exchange(&s_log_lock, 1u) != 0u) {
        atomic_fetch_add(&br_state.log_dropped, 1);
        return;
    }
    log_ring_ready();
    uint8_t *rec = br_ring_reserve(&s_log_ring, (uint16_t)(len + 1));
    if (rec == NULL) {
        atomic_fetch_add(&br_state.log_dropped, 1);
    } else {
        rec[0] = level;
        memcpy(rec + 1, text, len);
        br_ring_commit(&s_log_ring, (uint16_t)(len + 1));
    }
    atomic_store(&s_log_lock, 0u);
    if (s_port && s_port->notify) s_port->notify(s_port->ctx);
}

/* First init keeps what was logged before it; a later one (the host build's
 * simulated restart) starts empty, as a real restart does. */
static void log_ring_boot(void)
{
    if (atomic_exchange(&s_log_lock, 1u) != 0u) return;   /* a logger holds it and readies the ring */
    if (s_core_inited) s_log_ring_ready = false;
    log_ring_ready();
    atomic_store(&s_log_lock, 0u);
}

/* ---------- core task ---------- */

static void drain_statuses(void)
{
    uint16_t len;
    const uint8_t *rec;
    while ((rec = br_ring_peek(&s_status_ring, &len)) != NULL) {
        if (!br_sends_on_status(rec, rec[6])) return;   /* no room for the event yet: keep it */
        br_ring_release(&s_status_ring);
    }
}

static void drain_rx(void)
{
    uint16_t len;
    const uint8_t *rec;
    while ((rec = br_ring_peek(&s_rx_ring, &len)) != NULL) {
        uint8_t dst = rec[6] >> 6;
        br_value_t v[8];
        memset(v, 0, sizeof v);
        v[0].ptr = rec; v[0].len = 6;
        v[1].i = dst;
        v[2].i = rec[6] & 0x3F;
        v[3].i = (int8_t)rec[7];
        v[4].i = rec[8];
        v[5].i = (int64_t)((uint32_t)rec[9] | (uint32_t)rec[10] << 8 | (uint32_t)rec[11] << 16 | (uint32_t)rec[12] << 24);
        v[6].ptr = rec + 13; v[6].len = 6; v[6].present = dst == BR_DST_OTHER;
        v[7].ptr = rec + RX_META; v[7].len = (uint16_t)(len - RX_META);
        /* Backpressure: a packet stays in the rx buffer until the link has room. */
        if (!br_core_emit_event(BR_EVT_RECV, v)) return;
        uint32_t cost = ((uint32_t)(len - RX_META) + 7u + 3u) & ~3u;
        atomic_fetch_sub(&br_state.rx_used, cost);
        br_ring_release(&s_rx_ring);
    }
}

static void drain_logs(void)
{
    uint16_t len;
    const uint8_t *rec;
    while ((rec = br_ring_peek(&s_log_ring, &len)) != NULL) {
        br_value_t v[3];
        memset(v, 0, sizeof v);
        v[0].i = rec[0];
        v[1].i = 0;
        v[2].ptr = rec + 1; v[2].len = (uint16_t)(len - 1);
        if (!br_core_emit_event(BR_EVT_LOG, v)) return;
        br_ring_release(&s_log_ring);
    }
}

/* Reports each kind of drop once there is room, so the host always learns of it. */
static void report_drops(void)
{
    uint32_t totals[3] = { atomic_load(&br_state.rx_dropped), br_state.counters[BR_STAT_EVENTS_DROPPED],
                           atomic_load(&br_state.log_dropped) };
    for (int w = 0; w < 3; w++) {
        uint32_t delta = totals[w] - br_state.drop_reported[w];
        if (delta == 0) continue;
        br_value_t v[3];
        memset(v, 0, sizeof v);
        v[0].i = w + 1;
        v[1].i = delta;
        v[2].i = totals[w];
        if (!br_core_emit_event(BR_EVT_DROPPED, v)) {
            return;
        }
        br_state.drop_reported[w] = totals[w];
    }
}

void br_core_poll(void)
{
    /* Statuses the Wi-Fi task could not queue are reported with the dropped events. */
    br_state.counters[BR_STAT_EVENTS_DROPPED] += atomic_exchange(&br_state.status_lost, 0);
    txq_flush();
    report_drops();
    drain_statuses();
    drain_rx();
    drain_logs();
    br_wifi_events_drain();
    br_dispatch_poll();
    txq_flush();
    if (s_txq_used == 0 && br_state.restart_pending) {
        br_state.restart_pending = false;
        s_port->restart(s_port->ctx);
    }
}

bool br_core_tx_pending(void) { return s_txq_used > 0; }

void br_core_emit_hello(void)
{
    br_value_t v[BR_MAX_FIELDS];
    br_hello_values(v);
    if (!br_core_emit_event(BR_EVT_HELLO, v)) br_state.counters[BR_STAT_EVENTS_DROPPED]++;
}

const br_identity_t *br_core_identity(void) { return &s_identity; }
const br_port_t *br_core_port(void) { return s_port; }

void br_core_init(const br_port_t *port, const br_identity_t *identity)
{
    s_port = port;
    s_identity = *identity;
    /* Log lines dropped before the first init stay counted. */
    uint32_t early_log_drops = s_core_inited ? 0u : atomic_load(&br_state.log_dropped);
    memset(&br_state, 0, sizeof br_state);
    atomic_store(&br_state.log_dropped, early_log_drops);
    atomic_store(&br_state.rxbuf, BR_RXBUF_DEFAULT);
    br_ring_init(&s_rx_ring, s_rx_storage, sizeof s_rx_storage);
    br_ring_init(&s_status_ring, s_status_storage, sizeof s_status_storage);
    log_ring_boot();
    br_wifi_events_init();
    br_splitter_init(&s_splitter);
    s_txq_head = s_txq_tail = s_txq_used = 0;
    s_txrec_head = s_txrec_count = s_txq_sent_in_rec = 0;
    s_resp_queued = 0;
    memset(s_replay, 0, sizeof s_replay);
    s_replay_next = 0;
    br_state.boot_us = port->now_us(port->ctx);
    esp_read_mac(br_state.sta_mac, ESP_MAC_WIFI_STA);
    esp_read_mac(br_state.ap_mac, ESP_MAC_WIFI_SOFTAP);
    br_dispatch_init();
    s_core_inited = true;
}

void br_core_stats(uint32_t out[BR_STATS_COUNT])
{
    br_state.counters[BR_STAT_RX_PACKETS] = atomic_load(&br_state.rx_packets);
    br_state.counters[BR_STAT_RX_DROPPED] = atomic_load(&br_state.rx_dropped);
    br_state.counters[BR_STAT_LOG_DROPPED] = atomic_load(&br_state.log_dropped);
    br_state.counters[BR_STAT_UPTIME_S] =
        (uint32_t)((s_port->now_us(s_port->ctx) - br_state.boot_us) / 1000000u);
    memcpy(out, br_state.counters, sizeof br_state.counters);
}

void br_core_clear_stats(void)
{
    memset(br_state.counters, 0, sizeof br_state.counters);
    atomic_store(&br_state.rx_packets, 0);
    atomic_store(&br_state.rx_dropped, 0);
    atomic_store(&br_state.log_dropped, 0);
    memset(br_state.drop_reported, 0, sizeof br_state.drop_reported);
}
