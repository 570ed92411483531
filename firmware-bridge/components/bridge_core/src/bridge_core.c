/* The bridge core: the radio callbacks' hand-off rings and the single writer
 * towards the host (requests come in through bridge_requests.c). See bridge_core.h. */
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
#include "esp_system.h"

br_core_state_t br_state;

#define RESPQ_SLOTS (2u * BR_WINDOW)
#define TXQ_RECORDS 64u
/* A received packet in the rx ring: the RECV event body, ready to send. */
#define RX_META 19u
/* A status record in the status ring: MAC, status, generation. */
#define STATUS_REC 8u

_Static_assert(BR_WINDOW <= 64u, "window too large for the response queue");

static uint8_t s_rx_storage[BR_RXBUF_MAX * 2u];
static uint8_t s_status_storage[BR_SEND_SLOTS * (STATUS_REC + 2u) + 16u];
static uint8_t s_log_storage[BR_LOG_RING];
static br_ring_t s_rx_ring, s_status_ring, s_log_ring;
/* Log try-lock: an exchange on a word, which every supported IDF implements on every
 * chip (on a core without atomic instructions, as a call into IDF's atomics). */
static _Atomic uint32_t s_log_lock;
static bool s_log_ring_ready;   /* guarded by s_log_lock */
static bool s_core_inited;
/* Bumped when every in-flight send is abandoned; the send callback stamps it. */
static _Atomic uint8_t s_send_gen;

/* Towards the host there are two queues and one writer. Responses wait in their
 * own small queue and overtake events, so a control call is never stuck behind a
 * flood of received packets; events keep their order among themselves. A frame
 * once started is always finished before the writer switches queues. */
static struct { uint16_t len; uint8_t wire[BR_MAX_RESP_WIRE]; } s_respq[RESPQ_SLOTS];
static uint32_t s_respq_head, s_respq_count;
static uint8_t s_txq[BR_TXQ_SIZE];
static uint32_t s_txq_head, s_txq_tail, s_txq_used;
/* What an event-queue record holds: the writer's bookkeeping differs per kind. */
enum { REC_EVENT, REC_RECV, REC_SYNC_RESP, REC_DELIMITER };
static struct { uint16_t len; uint8_t kind; uint32_t packets; } s_txrec[TXQ_RECORDS];
static uint32_t s_txrec_head, s_txrec_count;
/* The frame being written: 0 none, 1 the response queue's head, 2 the event queue's head. */
static uint8_t s_cur;
static uint32_t s_cur_off;
/* Responses queued among the events (sync sends answer after their statuses). */
static uint32_t s_ev_resp_queued;

static const br_port_t *s_port;
static br_identity_t s_identity;
static br_persist_t s_no_persist;
static br_persist_t *s_persist = &s_no_persist;
#define PERSIST_MAGIC 0x42524731u

/* ---------- link output ---------- */

static uint32_t txq_free(void) { return BR_TXQ_SIZE - s_txq_used; }

static bool respq_put(const uint8_t *wire, size_t len)
{
    if (len == 0 || len > BR_MAX_RESP_WIRE || s_respq_count == RESPQ_SLOTS) return false;
    uint32_t i = (s_respq_head + s_respq_count) % RESPQ_SLOTS;
    memcpy(s_respq[i].wire, wire, len);
    s_respq[i].len = (uint16_t)len;
    s_respq_count++;
    return true;
}

static bool txq_put(const uint8_t *wire, size_t len, uint8_t kind)
{
    if (len == 0 || len > txq_free() || s_txrec_count == TXQ_RECORDS) return false;
    for (size_t i = 0; i < len; i++) {
        s_txq[s_txq_head] = wire[i];
        s_txq_head = (s_txq_head + 1u) % BR_TXQ_SIZE;
    }
    s_txq_used += (uint32_t)len;
    uint32_t slot = (s_txrec_head + s_txrec_count) % TXQ_RECORDS;
    s_txrec[slot].len = (uint16_t)len;
    s_txrec[slot].kind = kind;
    s_txrec[slot].packets = kind == REC_RECV ? 1u : 0u;
    s_txrec_count++;
    return true;
}

/* Room for an event: it must leave space for the answer of every sync send still waiting. */
static bool event_fits(size_t len)
{
    uint32_t reserve = (br_sends_pending_sync() + 1u) * BR_MAX_RESP_WIRE;
    return s_txrec_count + 1u + br_sends_pending_sync() < TXQ_RECORDS && len + reserve <= txq_free();
}

/* The event queue's head record is written out: its bookkeeping. */
static void txrec_done(void)
{
    uint8_t kind = s_txrec[s_txrec_head].kind;
    /* The host now has these packets, or the news that they were dropped. */
    if (s_txrec[s_txrec_head].packets) atomic_fetch_sub(&s_persist->at_risk, s_txrec[s_txrec_head].packets);
    if (kind == REC_SYNC_RESP) s_ev_resp_queued--;
    if (kind != REC_DELIMITER) br_state.counters[BR_STAT_LINK_TX_FRAMES]++;
    s_txrec_head = (s_txrec_head + 1u) % TXQ_RECORDS;
    s_txrec_count--;
}

static void txq_flush(void)
{
    for (;;) {
        if (s_cur == 0) {
            if (s_respq_count > 0) s_cur = 1;
            else if (s_txrec_count > 0) s_cur = 2;
            else return;
            s_cur_off = 0;
        }
        if (s_cur == 1) {
            size_t left = s_respq[s_respq_head].len - s_cur_off;
            size_t n = s_port->link_write(s_port->ctx, s_respq[s_respq_head].wire + s_cur_off, left);
            if (n == 0) return;
            s_cur_off += (uint32_t)n;
            if (s_cur_off == s_respq[s_respq_head].len) {
                s_respq_head = (s_respq_head + 1u) % RESPQ_SLOTS;
                s_respq_count--;
                br_state.counters[BR_STAT_LINK_TX_FRAMES]++;
                s_cur = 0;
            }
            continue;
        }
        /* Events: with no response waiting, as many whole records as lie contiguous go in
         * one write (a response can only be queued between two calls of this function). */
        size_t left = s_respq_count > 0 ? s_txrec[s_txrec_head].len - s_cur_off : s_txq_used;
        if (s_txq_tail + left > BR_TXQ_SIZE) left = BR_TXQ_SIZE - s_txq_tail;
        size_t n = s_port->link_write(s_port->ctx, s_txq + s_txq_tail, left);
        if (n == 0) return;
        s_txq_tail = (uint32_t)((s_txq_tail + n) % BR_TXQ_SIZE);
        s_txq_used -= (uint32_t)n;
        s_cur_off += (uint32_t)n;
        while (s_txrec_count > 0 && s_cur_off >= s_txrec[s_txrec_head].len) {
            s_cur_off -= s_txrec[s_txrec_head].len;
            txrec_done();
        }
        /* Part of the head record is out: finish it before anything else. */
        if (s_cur_off == 0) s_cur = 0;
    }
}

/* Requests counted against the window: answered but not yet written, plus sync sends waiting. */
static uint32_t requests_in_flight(void) { return s_respq_count + s_ev_resp_queued + br_sends_pending_sync(); }

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

static bool emit_event(uint8_t code, const br_value_t *vals, bool is_recv)
{
    static uint8_t wire[BR_MAX_ENCODED];
    size_t n = encode_msg(BR_KIND_EVENT, 0, code, vals, wire, sizeof wire);
    if (n == 0) {
        /* Values outside the layout (a bug): drop and count rather than stall the queue behind it. */
        br_state.counters[BR_STAT_EVENTS_DROPPED]++;
        return true;
    }
    if (!event_fits(n)) return false;
    return txq_put(wire, n, is_recv ? REC_RECV : REC_EVENT);
}

bool br_core_emit_event(uint8_t code, const br_value_t *vals) { return emit_event(code, vals, false); }

bool br_core_queue_response(const uint8_t *wire, size_t len) { return respq_put(wire, len); }

bool br_core_queue_response_after_events(const uint8_t *wire, size_t len)
{
    /* Space for it was reserved while the send was pending (event_fits). */
    if (!txq_put(wire, len, REC_SYNC_RESP)) return false;
    s_ev_resp_queued++;
    return true;
}

size_t br_core_encode(uint8_t kind, uint16_t id, uint8_t code, const br_value_t *vals, uint8_t *wire, size_t cap)
{
    return encode_msg(kind, id, code, vals, wire, cap);
}

uint32_t br_core_requests_in_flight(void) { return requests_in_flight(); }

/* ---------- radio callbacks (Wi-Fi task: copy and return, never block) ---------- */

static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    if (info == NULL || info->src_addr == NULL || data == NULL || len < 0) return;
    atomic_fetch_add(&br_state.rx_packets, 1);
    if (len > BR_ESPNOW_MAX_PAYLOAD) {
        /* Longer than the protocol can carry: counted with the receive drops. */
        atomic_fetch_add(&br_state.rx_dropped, 1);
        atomic_fetch_add(&s_persist->at_risk, 1);
        if (s_port->notify) s_port->notify(s_port->ctx);
        return;
    }
    uint32_t cost = ((uint32_t)len + 7u + 3u) & ~3u;   /* the seed's accounting: data + MAC + length byte */
    if (atomic_load(&br_state.rx_used) + cost > atomic_load(&br_state.rxbuf)) {
        atomic_fetch_add(&br_state.rx_dropped, 1);
        atomic_fetch_add(&s_persist->at_risk, 1);
        if (s_port->notify) s_port->notify(s_port->ctx);
        return;
    }
    uint8_t *rec = br_ring_reserve(&s_rx_ring, (uint16_t)(RX_META + (uint32_t)len));
    if (rec == NULL) {
        atomic_fetch_add(&br_state.rx_dropped, 1);
        atomic_fetch_add(&s_persist->at_risk, 1);
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
    atomic_fetch_add(&s_persist->at_risk, 1);
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
    uint8_t *rec = br_ring_reserve(&s_status_ring, STATUS_REC);
    if (rec == NULL) {
        /* Cannot happen: sends are refused while BR_SEND_SLOTS statuses are outstanding. */
        atomic_fetch_add(&br_state.status_lost, 1);
        return;
    }
    if (mac) memcpy(rec, mac, 6); else memset(rec, 0, 6);
    rec[6] = (uint8_t)status;
    rec[7] = atomic_load(&s_send_gen);
    br_ring_commit(&s_status_ring, STATUS_REC);
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
        if (!br_sends_on_status(rec, rec[6], rec[7])) return;   /* no room for the event yet: keep it */
        br_ring_release(&s_status_ring);
    }
}

uint8_t br_core_send_gen(void) { return atomic_load(&s_send_gen); }

/* True while the status ring still holds a status of an abandoned generation. */
static bool old_status_waiting(void)
{
    uint16_t len;
    const uint8_t *rec = br_ring_peek(&s_status_ring, &len);
    return rec != NULL && rec[7] != atomic_load(&s_send_gen);
}

void br_core_abandon_sends(void)
{
    /* Statuses the radio already reported still count; later ones of the old
     * generation can only belong to the abandoned sends. */
    drain_statuses();
    br_sends_abandon_all();
    atomic_fetch_add(&s_send_gen, 1);
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
        if (!emit_event(BR_EVT_RECV, v, true)) return;
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
        /* Dropped packets stay "at risk" until the host has been told of them. */
        if (w == 0) s_txrec[(s_txrec_head + s_txrec_count - 1u) % TXQ_RECORDS].packets = delta;
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
    if (!old_status_waiting()) br_sends_flush_abandoned();
    drain_rx();
    drain_logs();
    br_wifi_events_drain();
    br_dispatch_poll();
    txq_flush();
    if (br_state.restart_pending && !br_core_tx_pending() && !br_sends_outstanding()) {
        br_state.restart_pending = false;
        s_port->restart(s_port->ctx);
    }
}

bool br_core_tx_pending(void) { return s_txq_used > 0 || s_respq_count > 0; }

int64_t br_core_next_timeout_us(void)
{
    int64_t at = br_dispatch_next_deadline_us();
    if (at < 0) return -1;
    int64_t now = (int64_t)s_port->now_us(s_port->ctx);
    return at > now ? at - now : 0;
}

void br_core_emit_hello(void)
{
    /* A lone delimiter first: a frame the restart cut off half-way at the host ends
     * here, instead of swallowing the HELLO. */
    static const uint8_t delim = 0;
    (void)txq_put(&delim, 1, REC_DELIMITER);
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
    atomic_store(&br_state.rxbuf, BR_RXBUF_DEFAULT ? BR_RXBUF_DEFAULT : 2u * (14u + BR_ESPNOW_MAX_PAYLOAD));
    br_ring_init(&s_rx_ring, s_rx_storage, sizeof s_rx_storage);
    br_ring_init(&s_status_ring, s_status_storage, sizeof s_status_storage);
    log_ring_boot();
    br_wifi_events_init();
    s_txq_head = s_txq_tail = s_txq_used = 0;
    s_txrec_head = s_txrec_count = 0;
    s_respq_head = s_respq_count = 0;
    s_cur = 0;
    s_cur_off = 0;
    s_ev_resp_queued = 0;
    br_requests_init();
    /* Packets held at the last restart were lost with it: report them once in HELLO. */
    s_persist = port->persist ? port->persist : &s_no_persist;
    bool kept = s_persist->magic == PERSIST_MAGIC && identity->reset_reason != ESP_RST_POWERON &&
                identity->reset_reason != ESP_RST_BROWNOUT && identity->reset_reason != ESP_RST_UNKNOWN;
    br_state.lost_at_reset = kept ? atomic_load(&s_persist->at_risk) : 0;
    s_persist->magic = PERSIST_MAGIC;
    atomic_store(&s_persist->at_risk, 0);
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
    /* Drops not yet reported are reported by this STATS answer: no longer at risk. */
    atomic_fetch_sub(&s_persist->at_risk, atomic_load(&br_state.rx_dropped) - br_state.drop_reported[0]);
    memset(br_state.counters, 0, sizeof br_state.counters);
    atomic_store(&br_state.rx_packets, 0);
    atomic_store(&br_state.rx_dropped, 0);
    atomic_store(&br_state.log_dropped, 0);
    memset(br_state.drop_reported, 0, sizeof br_state.drop_reported);
}
