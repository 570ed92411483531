/* Emulation of the ESP-IDF v5.4 Wi-Fi / ESP-NOW / MAC API for the host build.
 *
 * Single-threaded, no heap: all state is in the static structs below. The rules
 * (argument checks, states, error codes) follow IDF's headers and documented or
 * observed driver behaviour; the ones that could not be checked against IDF are
 * marked "UNVERIFIED" (IDF's Wi-Fi driver is closed source).
 *
 * Radio model (see sim_air.h for the air itself):
 *  - one radio, one home channel shared by STA and AP;
 *  - an interface is active when Wi-Fi is started and the mode includes it;
 *  - frames go out one at a time in esp_now_send order from sim_emu_poll();
 *    a unicast waits for an ACK (success) or the ACK timeout (failure), a
 *    broadcast/multicast completes with success once transmitted;
 *  - a receiver hears a DATA frame when Wi-Fi is started, it is on the frame's
 *    channel, an active interface's protocol bitmap covers the frame's PHY rate,
 *    and the destination is broadcast/multicast or the MAC of an active interface;
 *    a unicast it hears is ACKed even if ESP-NOW then drops it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "esp_err.h"
#include "esp_idf_version.h"
#include "esp_mac.h"
#include "esp_now.h"
#include "esp_system.h"
#include "esp_wifi.h"
#include "sim_air.h"
#include "sim_emu.h"
#include "sim_medium.h"

#include <sys/socket.h>

/* ------------------------------------------------------------------ globals */

const wpa_crypto_funcs_t g_wifi_default_wpa_crypto_funcs = { sizeof(wpa_crypto_funcs_t), 1 };
struct wifi_osi_funcs_t {
    int version;
};
wifi_osi_funcs_t g_wifi_osi_funcs = { 1 };

#define IF_COUNT 2                      /* STA, AP (NAN is not emulated) */
#define PROTO_DEFAULT (WIFI_PROTOCOL_11B | WIFI_PROTOCOL_11G | WIFI_PROTOCOL_11N)
#define ESPNOW_OVERHEAD 43u             /* 802.11 header 24 + action 8 + vendor IE 7 + FCS 4 */

/* The driver's built-in PMK is not documented; any fixed value shared by all
 * emulated devices behaves the same. */
static const uint8_t k_default_pmk[ESP_NOW_KEY_LEN] = { 'P', 'M', 'K', '1', '2', '3', '4', '5',
                                                        '6', '7', '8', '9', '0', '1', '2', '3' };

typedef struct {
    esp_now_peer_info_t info;
    bool has_rate;
    wifi_tx_rate_config_t rate;
} peer_t;

typedef enum { TXQ_QUEUED = 0, TXQ_IN_FLIGHT, TXQ_ACKED } txq_state_t;

typedef struct {
    uint8_t dst[6];
    wifi_interface_t ifx;
    uint8_t rate;                       /* wifi_phy_rate_t */
    bool encrypted;
    uint64_t key_tag;
    uint8_t state;                      /* txq_state_t */
    uint8_t done_status;                /* medium mode: status reported by TX_DONE */
    uint8_t src[6];                     /* set when transmitted */
    uint32_t seq;
    uint64_t deadline_us;
    uint16_t len;
    uint8_t data[ESP_NOW_MAX_DATA_LEN_V2];
} txq_t;

typedef struct {
    int32_t id;
    union {
        wifi_event_sta_disconnected_t disc;
        wifi_event_home_channel_change_t chan;
        wifi_event_sta_connected_t conn;
    } data;
} event_t;

static struct {
    sim_emu_config_t cfg;
    char air_dir[SIM_AIR_PATH_MAX];
    sim_air_t air;
    uint64_t (*clock)(void);
    uint64_t boot_us;
    int reset_reason;
    sim_emu_counters_t cnt;
    uint32_t seq;
    sim_emu_event_handler_t ev_fn;
    void *ev_ctx;
    event_t ev[SIM_EMU_EVENT_QUEUE_LEN];
    unsigned ev_head, ev_count;
    int med_fd;                         /* medium mode: socket to the coordinator's medium, else -1 */
    bool med_lost;                      /* the medium hung up */
    uint8_t med_state[32];              /* last STATE sent (encoded) */
    size_t med_state_len;
} s_sim = { .air = { .fd = -1 }, .reset_reason = ESP_RST_POWERON, .med_fd = -1 };

static struct {
    bool inited, started;
    wifi_mode_t mode;
    wifi_storage_t storage;
    wifi_ps_type_t ps;
    uint8_t mac[IF_COUNT][6];
    uint8_t proto[IF_COUNT];
    wifi_phy_rate_t espnow_rate[IF_COUNT];
    uint8_t channel;
    wifi_second_chan_t second;
    int8_t max_tx_power;
    wifi_country_t country;
    wifi_config_t conf[IF_COUNT];
    int espnow_max_encrypt;
    bool sta_connecting;
    uint64_t connect_deadline_us;
    bool sta_connected;                 /* medium mode: associated with a scene AP */
    wifi_ap_record_t ap_info;
} s_wifi;

static struct {
    bool inited;
    esp_now_recv_cb_t recv_cb;
    esp_now_send_cb_t send_cb;
    uint8_t pmk[ESP_NOW_KEY_LEN];
    peer_t peers[ESP_NOW_MAX_TOTAL_PEER_NUM];
    int npeers;
    int fetch_pos;
    uint16_t wake_window;
} s_now;

static struct {
    txq_t q[SIM_EMU_TX_QUEUE_LEN];
    unsigned head, count;
} s_tx;

/* -------------------------------------------------------------- utilities */

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now_us(void) { return s_sim.clock ? s_sim.clock() : mono_us(); }

static bool is_multicast(const uint8_t *mac) { return (mac[0] & 1u) != 0; }

static bool valid_if(wifi_interface_t ifx) { return ifx == WIFI_IF_STA || ifx == WIFI_IF_AP; }

static bool mode_has(wifi_mode_t mode, wifi_interface_t ifx)
{
    if (ifx == WIFI_IF_STA) return mode == WIFI_MODE_STA || mode == WIFI_MODE_APSTA;
    if (ifx == WIFI_IF_AP) return mode == WIFI_MODE_AP || mode == WIFI_MODE_APSTA;
    return false;
}

static bool if_active(wifi_interface_t ifx) { return s_wifi.inited && s_wifi.started && mode_has(s_wifi.mode, ifx); }

static uint8_t chan_min(void) { return s_wifi.country.schan; }
static uint8_t chan_max(void) { return (uint8_t)(s_wifi.country.schan + s_wifi.country.nchan - 1); }
static bool chan_ok(unsigned ch) { return ch >= chan_min() && ch <= chan_max(); }

static size_t bounded_len(const uint8_t *s, size_t cap)
{
    size_t n = 0;
    while (n < cap && s[n] != 0) n++;
    return n;
}

static void med_send(const sim_med_msg_t *m)
{
    uint8_t buf[SIM_MED_MAX_MSG];
    size_t n = sim_med_encode(m, buf, sizeof buf);
    if (n == 0 || s_sim.med_fd < 0) return;
    if (send(s_sim.med_fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) s_sim.cnt.med_tx_errors++;
}

/* Medium mode: tells the medium our radio state if it changed. Called right
 * after every change, before the host can learn of it, so that the medium
 * never judges a frame against a state older than what the host has seen. */
static void state_changed(void)
{
    if (s_sim.med_fd < 0) return;
    sim_med_msg_t m = { .type = SIM_MED_STATE };
    bool on = s_wifi.inited && s_wifi.started;
    m.started = on;
    m.channel = s_wifi.channel;
    m.second = (uint8_t)s_wifi.second;
    m.active = (uint8_t)((on && mode_has(s_wifi.mode, WIFI_IF_STA) ? 1u : 0u) | (on && mode_has(s_wifi.mode, WIFI_IF_AP) ? 2u : 0u));
    m.proto[0] = s_wifi.proto[0];
    m.proto[1] = s_wifi.proto[1];
    memcpy(m.sta_mac, s_wifi.inited ? s_wifi.mac[WIFI_IF_STA] : s_sim.cfg.sta_mac, 6);
    memcpy(m.ap_mac, s_wifi.inited ? s_wifi.mac[WIFI_IF_AP] : s_sim.cfg.ap_mac, 6);
    m.connected = s_wifi.sta_connected;
    uint8_t buf[32];
    size_t n = sim_med_encode(&m, buf, sizeof buf);
    if (n == s_sim.med_state_len && memcmp(buf, s_sim.med_state, n) == 0) return;
    memcpy(s_sim.med_state, buf, n);
    s_sim.med_state_len = n;
    med_send(&m);
}

/* Rates a non-Wi-Fi-6 chip (ESP32) can use. */
static bool rate_valid(unsigned r)
{
    if (r == 0x04) return false;
    if (r <= WIFI_PHY_RATE_MCS7_SGI) return true;
    return r == WIFI_PHY_RATE_LORA_250K || r == WIFI_PHY_RATE_LORA_500K;
}

/* WIFI_PROTOCOL_* bit a PHY rate needs. */
static uint8_t rate_proto(unsigned r)
{
    if (r <= WIFI_PHY_RATE_11M_S) return WIFI_PROTOCOL_11B;
    if (r <= WIFI_PHY_RATE_9M) return WIFI_PROTOCOL_11G;
    if (r <= WIFI_PHY_RATE_MCS7_SGI) return WIFI_PROTOCOL_11N;
    return WIFI_PROTOCOL_LR;
}

/* Rate a frame goes out at: the configured one if the interface's protocol
 * allows it, else the lowest rate the protocol has (approximation). */
static uint8_t effective_rate(wifi_interface_t ifx, unsigned r)
{
    uint8_t p = s_wifi.proto[ifx];
    if (p & rate_proto(r)) return (uint8_t)r;
    if (p & WIFI_PROTOCOL_11B) return WIFI_PHY_RATE_1M_L;
    if (p & WIFI_PROTOCOL_LR) return WIFI_PHY_RATE_LORA_250K;
    return WIFI_PHY_RATE_6M;
}

/* esp_wifi_set_protocol bitmaps valid on ESP32: 11b, 11bg, 11bgn, each optionally
 * with LR, or LR alone (IDF: "802.11b or 802.11bg or 802.11bgn ... or LR mode"). */
static bool proto_valid(uint8_t p)
{
    uint8_t base = p & (uint8_t)~WIFI_PROTOCOL_LR;
    if (p & ~(WIFI_PROTOCOL_11B | WIFI_PROTOCOL_11G | WIFI_PROTOCOL_11N | WIFI_PROTOCOL_LR)) return false;
    if (base == 0) return (p & WIFI_PROTOCOL_LR) != 0;
    return base == WIFI_PROTOCOL_11B || base == (WIFI_PROTOCOL_11B | WIFI_PROTOCOL_11G) || base == PROTO_DEFAULT;
}

static void default_ap_config(wifi_ap_config_t *ap, const uint8_t *ap_mac)
{
    memset(ap, 0, sizeof *ap);
    int n = snprintf((char *)ap->ssid, sizeof ap->ssid, "ESP_%02X%02X%02X", ap_mac[3], ap_mac[4], ap_mac[5]);
    ap->ssid_len = (uint8_t)n;
    ap->channel = 1;
    ap->authmode = WIFI_AUTH_OPEN;
    ap->max_connection = 4;     /* UNVERIFIED default (IDF docs: "default 10" for some targets) */
    ap->beacon_interval = 100;
    ap->csa_count = 3;
    ap->dtim_period = 1;
}

static event_t *event_push(int32_t id)
{
    if (s_sim.ev_count >= SIM_EMU_EVENT_QUEUE_LEN) {
        s_sim.cnt.events_dropped++;
        return NULL;
    }
    event_t *e = &s_sim.ev[(s_sim.ev_head + s_sim.ev_count++) % SIM_EMU_EVENT_QUEUE_LEN];
    memset(e, 0, sizeof *e);
    e->id = id;
    return e;
}

static void deliver_events(void)
{
    while (s_sim.ev_count > 0) {
        event_t e = s_sim.ev[s_sim.ev_head];
        s_sim.ev_head = (s_sim.ev_head + 1) % SIM_EMU_EVENT_QUEUE_LEN;
        s_sim.ev_count--;
        if (s_sim.ev_fn == NULL) continue;
        const void *data = NULL;
        if (e.id == WIFI_EVENT_STA_DISCONNECTED) data = &e.data.disc;
        else if (e.id == WIFI_EVENT_STA_CONNECTED) data = &e.data.conn;
        else if (e.id == WIFI_EVENT_HOME_CHANNEL_CHANGE) data = &e.data.chan;
        s_sim.ev_fn(s_sim.ev_ctx, e.id, data);
    }
}

/* Home channel changes while started are reported as IDF 5.x does. */
static void set_home_channel(uint8_t ch, wifi_second_chan_t snd)
{
    if (s_wifi.started && (ch != s_wifi.channel || snd != s_wifi.second)) {
        event_t *e = event_push(WIFI_EVENT_HOME_CHANNEL_CHANGE);
        if (e != NULL) {
            e->data.chan.old_chan = s_wifi.channel;
            e->data.chan.old_snd = s_wifi.second;
            e->data.chan.new_chan = ch;
            e->data.chan.new_snd = snd;
        }
    }
    s_wifi.channel = ch;
    s_wifi.second = snd;
    state_changed();
}

/* Ends a pending connection attempt with a STA_DISCONNECTED event. */
static void connect_end(uint8_t reason)
{
    if (!s_wifi.sta_connecting && !s_wifi.sta_connected) return;
    s_wifi.sta_connecting = false;
    s_wifi.sta_connected = false;
    state_changed();
    event_t *e = event_push(WIFI_EVENT_STA_DISCONNECTED);
    if (e != NULL) {
        const wifi_sta_config_t *sta = &s_wifi.conf[WIFI_IF_STA].sta;
        size_t n = 0;
        while (n < sizeof sta->ssid && sta->ssid[n] != 0) n++;
        memcpy(e->data.disc.ssid, sta->ssid, n);
        e->data.disc.ssid_len = (uint8_t)n;
        if (sta->bssid_set) memcpy(e->data.disc.bssid, sta->bssid, 6);
        e->data.disc.reason = reason;
        e->data.disc.rssi = -127;
    }
}

/* Home channel after start or an AP (re)configuration: a soft-AP runs on its
 * configured channel; otherwise the radio starts on channel 1 (set_channel is
 * not persisted across stop/start, IDF doc). */
static void reset_home_channel(void)
{
    /* An associated STA pins the radio to its AP's channel; the soft-AP follows it. */
    if (s_wifi.sta_connected && s_wifi.started) return;
    uint8_t ch = mode_has(s_wifi.mode, WIFI_IF_AP) ? s_wifi.conf[WIFI_IF_AP].ap.channel : s_sim.cfg.home_channel;
    if (!chan_ok(ch)) ch = chan_min();
    set_home_channel(ch, WIFI_SECOND_CHAN_NONE);
}

/* ------------------------------------------------------------ TX queue */

static void txq_clear(void)
{
    s_tx.head = 0;
    s_tx.count = 0;
}

static txq_t *txq_at(unsigned i) { return &s_tx.q[(s_tx.head + i) % SIM_EMU_TX_QUEUE_LEN]; }

/* Pops the head and reports its status (callback read at completion time). */
static void txq_complete(esp_now_send_status_t st)
{
    txq_t *t = txq_at(0);
    uint8_t dst[6];
    memcpy(dst, t->dst, 6);
    s_tx.head = (s_tx.head + 1) % SIM_EMU_TX_QUEUE_LEN;
    s_tx.count--;
    if (s_now.inited && s_now.send_cb != NULL) {
        s_sim.cnt.send_cb++;
        if (st != ESP_NOW_SEND_SUCCESS) s_sim.cnt.send_cb_fail++;
        s_now.send_cb(dst, st);
    }
}

static void transmit(txq_t *t)
{
    memcpy(t->src, s_wifi.mac[t->ifx], 6);
    t->seq = ++s_sim.seq;
    sim_air_frame_t f = {
        .type = SIM_AIR_TYPE_DATA,
        .channel = s_wifi.channel,
        .rate = effective_rate(t->ifx, t->rate),
        .flags = t->encrypted ? SIM_AIR_FLAG_ENCRYPTED : 0,
        .tx_power = s_wifi.max_tx_power,
        .len = t->len,
        .seq = t->seq,
        .key_tag = t->encrypted ? t->key_tag : 0,
        .payload = t->data,
    };
    memcpy(f.src, t->src, 6);
    memcpy(f.dst, t->dst, 6);
    s_sim.cnt.tx_frames++;
    if (s_sim.med_fd >= 0) {
        state_changed();
        sim_med_msg_t m = { .type = SIM_MED_TX, .seq = f.seq, .ifx = (uint8_t)t->ifx, .rate = f.rate, .flags = f.flags,
                            .channel = f.channel, .key_tag = f.key_tag, .len = f.len, .payload = f.payload };
        memcpy(m.src, f.src, 6);
        memcpy(m.dst, f.dst, 6);
        med_send(&m);
        return;
    }
    uint8_t buf[SIM_AIR_MAX_DGRAM];
    size_t n = sim_air_encode(&f, buf, sizeof buf);
    if (n > 0 && s_sim.air.fd >= 0) sim_air_transmit(&s_sim.air, buf, n);
}

static void process_tx(void)
{
    while (s_tx.count > 0) {
        txq_t *t = txq_at(0);
        if (t->state == TXQ_QUEUED) {
            if (!s_now.inited) {            /* deinit raced the queue: drop */
                txq_clear();
                return;
            }
            if (!if_active(t->ifx)) {
                s_sim.cnt.tx_aborted++;
                txq_complete(ESP_NOW_SEND_FAIL);
                continue;
            }
            transmit(t);
            if (s_sim.med_fd >= 0) {
                /* The medium reports the outcome (TX_DONE) once the air is done with it. */
                t->state = TXQ_IN_FLIGHT;
                t->deadline_us = UINT64_MAX;
                return;
            }
            if (is_multicast(t->dst)) {
                txq_complete(ESP_NOW_SEND_SUCCESS);
                continue;
            }
            t->state = TXQ_IN_FLIGHT;
            t->deadline_us = now_us() + s_sim.cfg.ack_timeout_us;
            return;
        }
        if (t->state == TXQ_ACKED) {
            if (s_sim.med_fd >= 0) {
                bool ok = t->done_status == 0;
                if (!is_multicast(t->dst)) {
                    if (ok) s_sim.cnt.tx_acked++;
                    else s_sim.cnt.tx_no_ack++;
                }
                txq_complete(ok ? ESP_NOW_SEND_SUCCESS : ESP_NOW_SEND_FAIL);
                continue;
            }
            s_sim.cnt.tx_acked++;
            txq_complete(ESP_NOW_SEND_SUCCESS);
            continue;
        }
        if (now_us() >= t->deadline_us) {
            s_sim.cnt.tx_no_ack++;
            txq_complete(ESP_NOW_SEND_FAIL);
            continue;
        }
        return;
    }
}

/* ------------------------------------------------------------ reception */

static peer_t *peer_find(const uint8_t *mac)
{
    for (int i = 0; i < s_now.npeers; i++) {
        if (memcmp(s_now.peers[i].info.peer_addr, mac, 6) == 0) return &s_now.peers[i];
    }
    return NULL;
}

static void handle_ack(const sim_air_frame_t *f)
{
    if (s_tx.count > 0) {
        txq_t *t = txq_at(0);
        if (t->state == TXQ_IN_FLIGHT && t->seq == f->seq && memcmp(f->src, t->dst, 6) == 0 &&
            memcmp(f->dst, t->src, 6) == 0) {
            t->state = TXQ_ACKED;
            s_sim.cnt.acks_received++;
            return;
        }
    }
    s_sim.cnt.acks_stray++;
}

static void fill_rx_ctrl(wifi_pkt_rx_ctrl_t *rx, const sim_air_frame_t *f, int rssi)
{
    memset(rx, 0, sizeof *rx);
    rx->rssi = rssi;
    rx->noise_floor = SIM_EMU_NOISE_FLOOR;
    rx->channel = f->channel & 0x0f;
    rx->secondary_channel = 0;
    if (f->rate <= WIFI_PHY_RATE_9M) {
        rx->sig_mode = 0;                     /* 11b/g: rate holds the wifi_phy_rate_t */
        rx->rate = f->rate;
    } else if (f->rate <= WIFI_PHY_RATE_MCS7_SGI) {
        rx->sig_mode = 1;                     /* 11n: MCS index, short GI flag */
        rx->mcs = (unsigned)(f->rate >= WIFI_PHY_RATE_MCS0_SGI ? f->rate - WIFI_PHY_RATE_MCS0_SGI
                                                              : f->rate - WIFI_PHY_RATE_MCS0_LGI);
        rx->sgi = f->rate >= WIFI_PHY_RATE_MCS0_SGI;
    } else {
        /* LR (0x29/0x2A) does not fit the 5-bit rate field: reported with the
         * reserved sig_mode 2 so that readers treat the rate as unknown. */
        rx->sig_mode = 2;
        rx->rate = 0;
    }
    rx->timestamp = (uint32_t)sim_emu_uptime_us();
    rx->sig_len = (unsigned)(f->len + ESPNOW_OVERHEAD) & 0xfffu;
    rx->rx_state = 0;
}

/* from == NULL: the frame came from the medium, which has already acknowledged
 * it (and chose who hears it); rssi is the received power. */
static void handle_data(const sim_air_frame_t *f, const sim_air_from_t *from, int rssi)
{
    if (!s_wifi.inited || !s_wifi.started) {
        s_sim.cnt.rx_radio_off++;
        return;
    }
    /* The medium decided reception (and acknowledged) when the frame's airtime ended,
     * with this radio's channel as it was then; a channel switch since does not undo
     * what the radio already received. Frames straight off the air are checked here. */
    if (from != NULL && f->channel != s_wifi.channel) {
        s_sim.cnt.rx_other_channel++;
        return;
    }
    bool mcast = is_multicast(f->dst);
    int rx_if = -1;
    if (!mcast) {
        for (int i = 0; i < IF_COUNT; i++) {
            if (if_active((wifi_interface_t)i) && memcmp(f->dst, s_wifi.mac[i], 6) == 0) rx_if = i;
        }
        if (rx_if < 0) {
            s_sim.cnt.rx_not_for_us++;
            return;
        }
    }
    uint8_t need = rate_proto(f->rate);
    bool phy_ok = false;
    for (int i = 0; i < IF_COUNT; i++) {
        if ((rx_if < 0 || rx_if == i) && if_active((wifi_interface_t)i) && (s_wifi.proto[i] & need)) phy_ok = true;
    }
    if (!phy_ok) {
        s_sim.cnt.rx_phy_mismatch++;
        return;
    }
    if (!mcast && from != NULL) {
        /* The MAC layer acknowledges what it received, whatever ESP-NOW does next. */
        sim_air_frame_t ack = { .type = SIM_AIR_TYPE_ACK, .channel = f->channel, .rate = f->rate,
                                .tx_power = s_wifi.max_tx_power, .seq = f->seq };
        memcpy(ack.src, f->dst, 6);
        memcpy(ack.dst, f->src, 6);
        uint8_t buf[SIM_AIR_HDR_LEN];
        size_t n = sim_air_encode(&ack, buf, sizeof buf);
        if (n > 0 && sim_air_send_to(&s_sim.air, from, buf, n) == 0) s_sim.cnt.acks_sent++;
    }
    if (!s_now.inited) {
        s_sim.cnt.rx_espnow_off++;
        return;
    }
    peer_t *p = peer_find(f->src);
    if (f->flags & SIM_AIR_FLAG_ENCRYPTED) {
        /* Decryptable only with the same PMK and the sender as an encrypted peer
         * with the same LMK (multicast frames are never encrypted). */
        if (mcast || p == NULL || !p->info.encrypt || sim_air_key_tag(s_now.pmk, p->info.lmk) != f->key_tag) {
            s_sim.cnt.rx_crypto_drop++;
            return;
        }
    } else if (!mcast && p != NULL && p->info.encrypt) {
        /* Unencrypted unicast from a peer registered as encrypted: dropped
         * (IDF issue #8577, fixed in the driver). */
        s_sim.cnt.rx_crypto_drop++;
        return;
    }
    if (f->len > ESP_NOW_MAX_DATA_LEN_V2) {
        s_sim.cnt.rx_too_long++;
        return;
    }
    if (s_now.recv_cb == NULL) {
        s_sim.cnt.rx_no_cb++;
        return;
    }
    uint8_t src[6], dst[6];
    memcpy(src, f->src, 6);
    memcpy(dst, f->dst, 6);
    wifi_pkt_rx_ctrl_t rx;
    fill_rx_ctrl(&rx, f, rssi);
    esp_now_recv_info_t info = { .src_addr = src, .des_addr = dst, .rx_ctrl = &rx };
    s_sim.cnt.rx_delivered++;
    s_now.recv_cb(&info, f->payload, (int)f->len);
}

static void drain_air(void)
{
    if (s_sim.air.fd < 0) return;
    static uint8_t buf[SIM_AIR_MAX_DGRAM];
    for (int budget = 0; budget < 256; budget++) {
        sim_air_from_t from;
        int n = sim_air_receive(&s_sim.air, buf, sizeof buf, &from);
        if (n == 0) return;
        if (n < 0) {
            if (n == -EBADMSG || n == -EMSGSIZE) {
                s_sim.cnt.rx_bad++;
                continue;
            }
            return;
        }
        s_sim.cnt.rx_datagrams++;
        sim_air_frame_t f;
        if (!sim_air_decode(buf, (size_t)n, &f)) {
            s_sim.cnt.rx_bad++;
            continue;
        }
        if (f.type == SIM_AIR_TYPE_ACK) handle_ack(&f);
        else handle_data(&f, &from, s_sim.cfg.rssi);
    }
}

static void connect_result(const sim_med_msg_t *m)
{
    if (!s_wifi.sta_connecting) return;                 /* stopped or disconnected meanwhile */
    if (!m->ok) {
        connect_end((uint8_t)m->reason);
        return;
    }
    s_wifi.sta_connecting = false;
    s_wifi.sta_connected = true;
    const wifi_sta_config_t *sta = &s_wifi.conf[WIFI_IF_STA].sta;
    memset(&s_wifi.ap_info, 0, sizeof s_wifi.ap_info);
    memcpy(s_wifi.ap_info.bssid, m->bssid, 6);
    memcpy(s_wifi.ap_info.ssid, sta->ssid, sizeof sta->ssid);
    s_wifi.ap_info.primary = m->channel;
    s_wifi.ap_info.rssi = m->rssi;
    s_wifi.ap_info.authmode = (wifi_auth_mode_t)m->authmode;
    /* The STA follows its AP; the soft-AP (same radio) follows the STA. */
    set_home_channel(m->channel, WIFI_SECOND_CHAN_NONE);
    event_t *e = event_push(WIFI_EVENT_STA_CONNECTED);
    if (e != NULL) {
        size_t n = 0;
        while (n < sizeof sta->ssid && sta->ssid[n] != 0) n++;
        memcpy(e->data.conn.ssid, sta->ssid, n);
        e->data.conn.ssid_len = (uint8_t)n;
        memcpy(e->data.conn.bssid, m->bssid, 6);
        e->data.conn.channel = m->channel;
        e->data.conn.authmode = (wifi_auth_mode_t)m->authmode;
        e->data.conn.aid = 1;
    }
    state_changed();
}

static void drain_medium(void)
{
    static uint8_t buf[SIM_MED_MAX_MSG];
    for (int budget = 0; budget < 256; budget++) {
        ssize_t n = recv(s_sim.med_fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) s_sim.med_lost = true;
            return;
        }
        if (n == 0) {                                    /* coordinator gone */
            s_sim.med_lost = true;
            return;
        }
        s_sim.cnt.rx_datagrams++;
        sim_med_msg_t m;
        if ((size_t)n > sizeof buf || !sim_med_decode(buf, (size_t)n, &m)) {
            s_sim.cnt.rx_bad++;
            continue;
        }
        if (m.type == SIM_MED_TX_DONE) {
            txq_t *t = s_tx.count > 0 ? txq_at(0) : NULL;
            if (t != NULL && t->state == TXQ_IN_FLIGHT && t->seq == m.seq) {
                t->state = TXQ_ACKED;
                t->done_status = m.status;
                if (m.status == 0 && !is_multicast(t->dst)) s_sim.cnt.acks_received++;
            } else {
                s_sim.cnt.acks_stray++;
            }
        } else if (m.type == SIM_MED_RX) {
            sim_air_frame_t f = { .type = SIM_AIR_TYPE_DATA, .channel = m.channel, .rate = m.rate, .flags = m.flags,
                                  .len = m.len, .seq = m.seq, .key_tag = m.key_tag, .payload = m.payload };
            memcpy(f.src, m.src, 6);
            memcpy(f.dst, m.dst, 6);
            handle_data(&f, NULL, m.rssi);
        } else if (m.type == SIM_MED_CONNECT_RESULT) {
            connect_result(&m);
        } else {
            s_sim.cnt.rx_bad++;
        }
    }
}

/* ------------------------------------------------------------ sim control */

static void espnow_reset(void)
{
    memset(&s_now, 0, sizeof s_now);
    txq_clear();
}

void sim_emu_reboot(void)
{
    espnow_reset();
    memset(&s_wifi, 0, sizeof s_wifi);
    s_sim.ev_head = s_sim.ev_count = 0;
    s_sim.boot_us = now_us();
    state_changed();
}

int sim_emu_configure(const sim_emu_config_t *cfg)
{
    sim_emu_shutdown();
    s_sim.cfg = *cfg;
    if (s_sim.cfg.ack_timeout_us == 0) s_sim.cfg.ack_timeout_us = SIM_EMU_DEFAULT_ACK_TIMEOUT_US;
    if (s_sim.cfg.rssi == 0) s_sim.cfg.rssi = SIM_EMU_DEFAULT_RSSI;
    if (s_sim.cfg.home_channel == 0 || s_sim.cfg.home_channel > 14) s_sim.cfg.home_channel = 1;
    if (s_sim.cfg.connect_fail_us == 0) s_sim.cfg.connect_fail_us = SIM_EMU_DEFAULT_CONNECT_FAIL_US;
    s_sim.air_dir[0] = '\0';
    if (cfg->air_dir != NULL) snprintf(s_sim.air_dir, sizeof s_sim.air_dir, "%s", cfg->air_dir);
    s_sim.cfg.air_dir = s_sim.air_dir;
    memset(&s_sim.cnt, 0, sizeof s_sim.cnt);
    s_sim.med_fd = cfg->use_medium ? cfg->medium_fd : -1;
    s_sim.med_lost = false;
    s_sim.med_state_len = 0;
    sim_emu_reboot();
    if (s_sim.med_fd >= 0 || s_sim.air_dir[0] == '\0') return 0;
    return sim_air_open(&s_sim.air, s_sim.air_dir, cfg->sta_mac);
}

void sim_emu_shutdown(void)
{
    sim_air_close(&s_sim.air);
}

void sim_emu_unlink_air(void) { sim_air_unlink(&s_sim.air); }

int sim_emu_air_fd(void) { return s_sim.med_fd >= 0 ? s_sim.med_fd : s_sim.air.fd; }
bool sim_emu_medium_lost(void) { return s_sim.med_lost; }

int sim_emu_next_timeout_ms(void)
{
    if (s_sim.ev_count > 0) return 0;
    uint64_t deadline = UINT64_MAX;
    if (s_tx.count > 0) {
        txq_t *t = txq_at(0);
        if (t->state != TXQ_IN_FLIGHT) return 0;
        deadline = t->deadline_us;
    }
    if (s_wifi.sta_connecting && s_wifi.connect_deadline_us < deadline) deadline = s_wifi.connect_deadline_us;
    if (deadline == UINT64_MAX) return -1;
    uint64_t now = now_us();
    if (now >= deadline) return 0;
    uint64_t ms = (deadline - now + 999u) / 1000u;
    return ms > 60000u ? 60000 : (int)ms;
}

void sim_emu_poll(void)
{
    if (s_sim.med_fd >= 0) drain_medium();
    else drain_air();
    process_tx();
    if (s_wifi.sta_connecting && now_us() >= s_wifi.connect_deadline_us) connect_end(WIFI_REASON_NO_AP_FOUND);
    deliver_events();
    state_changed();
}

void sim_emu_set_event_handler(sim_emu_event_handler_t fn, void *ctx)
{
    s_sim.ev_fn = fn;
    s_sim.ev_ctx = ctx;
}

const sim_emu_counters_t *sim_emu_counters(void) { return &s_sim.cnt; }
void sim_emu_clear_counters(void) { memset(&s_sim.cnt, 0, sizeof s_sim.cnt); }
uint64_t sim_emu_uptime_us(void) { return now_us() - s_sim.boot_us; }
void sim_emu_set_reset_reason(int reason) { s_sim.reset_reason = reason; }
void sim_emu_set_clock(uint64_t (*fn)(void)) { s_sim.clock = fn; }

esp_reset_reason_t esp_reset_reason(void) { return (esp_reset_reason_t)s_sim.reset_reason; }

const char *esp_get_idf_version(void) { return "v5.4.2"; }

/* ------------------------------------------------------------------ MAC */

esp_err_t esp_read_mac(uint8_t *mac, esp_mac_type_t type)
{
    if (mac == NULL) return ESP_ERR_INVALID_ARG;
    const uint8_t *base = s_sim.cfg.sta_mac;
    switch (type) {
    case ESP_MAC_WIFI_STA:
    case ESP_MAC_BASE:
    case ESP_MAC_EFUSE_FACTORY:
        memcpy(mac, base, 6);
        return ESP_OK;
    case ESP_MAC_WIFI_SOFTAP:
        memcpy(mac, s_sim.cfg.ap_mac, 6);
        return ESP_OK;
    case ESP_MAC_BT:
    case ESP_MAC_ETH: {
        /* Universal MAC scheme: base + 2 (BT), base + 3 (Ethernet). */
        unsigned add = type == ESP_MAC_BT ? 2u : 3u;
        memcpy(mac, base, 6);
        for (int i = 5; i >= 3 && add; i--) {
            unsigned v = mac[i] + add;
            mac[i] = (uint8_t)v;
            add = v >> 8;
        }
        return ESP_OK;
    }
    case ESP_MAC_EFUSE_CUSTOM:
        return ESP_ERR_INVALID_MAC;       /* no custom MAC burnt */
    default:
        return ESP_ERR_INVALID_ARG;       /* IEEE 802.15.4 / EXT: not on ESP32 */
    }
}

/* ----------------------------------------------------------------- Wi-Fi */

esp_err_t esp_wifi_init(const wifi_init_config_t *config)
{
    if (s_wifi.inited) return ESP_OK;                 /* IDF: a second init is a no-op */
    if (config == NULL || config->magic != WIFI_INIT_CONFIG_MAGIC) return ESP_ERR_INVALID_ARG;   /* UNVERIFIED code */
    memset(&s_wifi, 0, sizeof s_wifi);
    s_wifi.inited = true;
    s_wifi.mode = WIFI_MODE_STA;                      /* IDF: "The default mode is station mode" */
    s_wifi.storage = WIFI_STORAGE_FLASH;
    s_wifi.ps = WIFI_PS_MIN_MODEM;
    memcpy(s_wifi.mac[WIFI_IF_STA], s_sim.cfg.sta_mac, 6);
    memcpy(s_wifi.mac[WIFI_IF_AP], s_sim.cfg.ap_mac, 6);
    for (int i = 0; i < IF_COUNT; i++) {
        s_wifi.proto[i] = PROTO_DEFAULT;
        s_wifi.espnow_rate[i] = WIFI_PHY_RATE_1M_L;   /* ESP-NOW default: 1 Mbps */
    }
    s_wifi.channel = s_sim.cfg.home_channel ? s_sim.cfg.home_channel : 1;
    s_wifi.max_tx_power = 80;
    memcpy(s_wifi.country.cc, "01", 3);               /* IDF 5.x default: world safe, channels 1..11 */
    s_wifi.country.schan = 1;
    s_wifi.country.nchan = 11;
    s_wifi.country.max_tx_power = 20;
    s_wifi.country.policy = WIFI_COUNTRY_POLICY_AUTO;
    default_ap_config(&s_wifi.conf[WIFI_IF_AP].ap, s_wifi.mac[WIFI_IF_AP]);
    int enc = config->espnow_max_encrypt_num;
    s_wifi.espnow_max_encrypt = enc < 0 ? 0 : enc > 17 ? 17 : enc;
    state_changed();
    return ESP_OK;
}

esp_err_t esp_wifi_deinit(void)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (s_wifi.started) return ESP_ERR_WIFI_NOT_STOPPED;   /* IDF wifi_init.c */
    espnow_reset();                                      /* UNVERIFIED: ESP-NOW goes with the driver */
    memset(&s_wifi, 0, sizeof s_wifi);
    state_changed();
    return ESP_OK;
}

esp_err_t esp_wifi_set_mode(wifi_mode_t mode)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if ((unsigned)mode >= WIFI_MODE_MAX) return ESP_ERR_INVALID_ARG;
    if (mode == WIFI_MODE_NAN) return ESP_ERR_NOT_SUPPORTED;   /* NAN not emulated (needs CONFIG_ESP_WIFI_NAN_ENABLE) */
    wifi_mode_t old = s_wifi.mode;
    if (s_wifi.started && mode_has(old, WIFI_IF_STA) && !mode_has(mode, WIFI_IF_STA)) {
        connect_end(WIFI_REASON_ASSOC_LEAVE);
        event_push(WIFI_EVENT_STA_STOP);
    }
    if (s_wifi.started && mode_has(old, WIFI_IF_AP) && !mode_has(mode, WIFI_IF_AP)) event_push(WIFI_EVENT_AP_STOP);
    s_wifi.mode = mode;
    if (s_wifi.started && !mode_has(old, WIFI_IF_STA) && mode_has(mode, WIFI_IF_STA)) event_push(WIFI_EVENT_STA_START);
    if (s_wifi.started && !mode_has(old, WIFI_IF_AP) && mode_has(mode, WIFI_IF_AP)) {
        event_push(WIFI_EVENT_AP_START);
        reset_home_channel();
    }
    state_changed();
    return ESP_OK;
}

esp_err_t esp_wifi_get_mode(wifi_mode_t *mode)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (mode == NULL) return ESP_ERR_INVALID_ARG;
    *mode = s_wifi.mode;
    return ESP_OK;
}

esp_err_t esp_wifi_start(void)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (s_wifi.started) return ESP_OK;
    reset_home_channel();                               /* not reported: the radio was off */
    s_wifi.started = true;
    if (mode_has(s_wifi.mode, WIFI_IF_STA)) event_push(WIFI_EVENT_STA_START);
    if (mode_has(s_wifi.mode, WIFI_IF_AP)) event_push(WIFI_EVENT_AP_START);
    state_changed();
    return ESP_OK;
}

esp_err_t esp_wifi_stop(void)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!s_wifi.started) return ESP_OK;
    connect_end(WIFI_REASON_ASSOC_LEAVE);
    if (mode_has(s_wifi.mode, WIFI_IF_STA)) event_push(WIFI_EVENT_STA_STOP);
    if (mode_has(s_wifi.mode, WIFI_IF_AP)) event_push(WIFI_EVENT_AP_STOP);
    s_wifi.started = false;
    state_changed();
    return ESP_OK;
}

esp_err_t esp_wifi_connect(void)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!s_wifi.started) return ESP_ERR_WIFI_NOT_STARTED;
    if (!mode_has(s_wifi.mode, WIFI_IF_STA)) return ESP_ERR_WIFI_MODE;
    if (s_wifi.conf[WIFI_IF_STA].sta.ssid[0] == 0) return ESP_ERR_WIFI_SSID;
    /* No access points exist in the simulated air: after a scan's worth of time
     * the attempt ends with STA_DISCONNECTED, reason NO_AP_FOUND (201). */
    if (s_wifi.sta_connected) connect_end(WIFI_REASON_ASSOC_LEAVE);   /* reconnect: leave the current AP first */
    if (s_sim.med_fd >= 0) {
        /* The medium knows the scene's APs and answers with CONNECT_RESULT. */
        if (!s_wifi.sta_connecting) {
            const wifi_sta_config_t *sta = &s_wifi.conf[WIFI_IF_STA].sta;
            sim_med_msg_t m = { .type = SIM_MED_CONNECT, .bssid_set = sta->bssid_set };
            m.ssid_len = (uint8_t)bounded_len(sta->ssid, sizeof sta->ssid);
            memcpy(m.ssid, sta->ssid, m.ssid_len);
            m.pass_len = (uint8_t)bounded_len(sta->password, sizeof sta->password);
            memcpy(m.pass, sta->password, m.pass_len);
            memcpy(m.bssid, sta->bssid, 6);
            s_wifi.sta_connecting = true;
            s_wifi.connect_deadline_us = UINT64_MAX;
            med_send(&m);
        }
        return ESP_OK;
    }
    if (!s_wifi.sta_connecting) {
        s_wifi.sta_connecting = true;
        s_wifi.connect_deadline_us = now_us() + s_sim.cfg.connect_fail_us;
    }
    return ESP_OK;
}

esp_err_t esp_wifi_disconnect(void)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!s_wifi.started) return ESP_ERR_WIFI_NOT_STARTED;
    connect_end(WIFI_REASON_ASSOC_LEAVE);
    return ESP_OK;
}

esp_err_t esp_wifi_sta_get_ap_info(wifi_ap_record_t *ap_info)
{
    if (ap_info == NULL) return ESP_ERR_INVALID_ARG;
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!if_active(WIFI_IF_STA)) return ESP_ERR_WIFI_CONN;
    if (s_wifi.sta_connected) {
        *ap_info = s_wifi.ap_info;
        return ESP_OK;
    }
    return ESP_ERR_WIFI_NOT_CONNECT;
}

esp_err_t esp_wifi_set_ps(wifi_ps_type_t type)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if ((unsigned)type > WIFI_PS_MAX_MODEM) return ESP_ERR_INVALID_ARG;
    s_wifi.ps = type;
    return ESP_OK;
}

esp_err_t esp_wifi_get_ps(wifi_ps_type_t *type)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (type == NULL) return ESP_ERR_INVALID_ARG;
    *type = s_wifi.ps;
    return ESP_OK;
}

esp_err_t esp_wifi_set_protocol(wifi_interface_t ifx, uint8_t protocol_bitmap)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!valid_if(ifx) || !mode_has(s_wifi.mode, ifx)) return ESP_ERR_WIFI_IF;   /* mode check UNVERIFIED */
    if (!proto_valid(protocol_bitmap)) return ESP_ERR_INVALID_ARG;
    s_wifi.proto[ifx] = protocol_bitmap;
    state_changed();
    return ESP_OK;
}

esp_err_t esp_wifi_get_protocol(wifi_interface_t ifx, uint8_t *protocol_bitmap)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!valid_if(ifx) || !mode_has(s_wifi.mode, ifx)) return ESP_ERR_WIFI_IF;
    if (protocol_bitmap == NULL) return ESP_ERR_INVALID_ARG;
    *protocol_bitmap = s_wifi.proto[ifx];
    return ESP_OK;
}

esp_err_t esp_wifi_set_channel(uint8_t primary, wifi_second_chan_t second)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!s_wifi.started) return ESP_ERR_WIFI_NOT_STARTED;
    if (s_wifi.mode == WIFI_MODE_NULL) return ESP_ERR_WIFI_IF;            /* UNVERIFIED */
    /* IDF 5.x: "Channel number 13 is out of range from 1 to 11 in country code cc=01" */
    if (!chan_ok(primary)) return ESP_ERR_INVALID_ARG;
    if ((unsigned)second > WIFI_SECOND_CHAN_BELOW) return ESP_ERR_INVALID_ARG;
    if (second == WIFI_SECOND_CHAN_ABOVE && primary + 4 > chan_max()) return ESP_ERR_INVALID_ARG;
    if (second == WIFI_SECOND_CHAN_BELOW && primary < chan_min() + 4) return ESP_ERR_INVALID_ARG;
    /* ESP-IDF refuses while the STA is connecting or connected: esp_wifi.h, "should not be
     * called when STA is scanning or connecting to an external AP"; the driver logs "STA is
     * scanning or connecting, or AP has connected with external STAs, cannot set channel" and
     * returns ESP_FAIL (espressif/esp-idf#4706). The home channel stays the AP's. */
    if (s_wifi.sta_connecting || s_wifi.sta_connected) return ESP_FAIL;
    set_home_channel(primary, second);
    return ESP_OK;
}

esp_err_t esp_wifi_get_channel(uint8_t *primary, wifi_second_chan_t *second)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (primary == NULL || second == NULL) return ESP_ERR_INVALID_ARG;
    *primary = s_wifi.channel;
    *second = s_wifi.second;
    return ESP_OK;
}

esp_err_t esp_wifi_set_country(const wifi_country_t *country)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (country == NULL || country->schan < 1 || country->nchan < 1 || country->schan + country->nchan - 1 > 14 ||
        (unsigned)country->policy > WIFI_COUNTRY_POLICY_MANUAL)
        return ESP_ERR_INVALID_ARG;
    s_wifi.country = *country;
    s_wifi.country.cc[2] = '\0';
    if (!chan_ok(s_wifi.channel)) set_home_channel(chan_min(), WIFI_SECOND_CHAN_NONE);
    return ESP_OK;
}

esp_err_t esp_wifi_get_country(wifi_country_t *country)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (country == NULL) return ESP_ERR_INVALID_ARG;
    *country = s_wifi.country;
    return ESP_OK;
}

esp_err_t esp_wifi_set_country_code(const char *country, bool ieee80211d_enabled)
{
    (void)ieee80211d_enabled;
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (country == NULL || country[0] == '\0' || country[1] == '\0') return ESP_ERR_INVALID_ARG;
    /* Simplified regulatory table (2.4 GHz): 01/US/CA/TW: 1..11, JP: 1..14, others: 1..13. */
    char cc[3] = { country[0], country[1], '\0' };
    uint8_t n = 13;
    if (!strcmp(cc, "01") || !strcmp(cc, "US") || !strcmp(cc, "CA") || !strcmp(cc, "TW")) n = 11;
    else if (!strcmp(cc, "JP")) n = 14;
    wifi_country_t c = { .schan = 1, .nchan = n, .max_tx_power = 20, .policy = WIFI_COUNTRY_POLICY_MANUAL };
    memcpy(c.cc, cc, 3);
    return esp_wifi_set_country(&c);
}

esp_err_t esp_wifi_get_country_code(char *country)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (country == NULL) return ESP_ERR_INVALID_ARG;
    memcpy(country, s_wifi.country.cc, 3);
    return ESP_OK;
}

esp_err_t esp_wifi_set_mac(wifi_interface_t ifx, const uint8_t mac[6])
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!valid_if(ifx)) return ESP_ERR_WIFI_IF;
    if (mac == NULL) return ESP_ERR_INVALID_ARG;
    if (is_multicast(mac)) return ESP_ERR_WIFI_MAC;                         /* IDF doc: bit 0 of byte 0 must be 0 */
    if (if_active(ifx)) return ESP_ERR_WIFI_MODE;                           /* "only when the interface is disabled"; code UNVERIFIED */
    wifi_interface_t other = ifx == WIFI_IF_STA ? WIFI_IF_AP : WIFI_IF_STA;
    /* esp_wifi.h (IDF 5.x), esp_wifi_set_mac: "Above mentioned interfaces have different MAC
     * addresses, do not set them to be the same", and ESP_ERR_WIFI_MAC is its "invalid mac
     * address" result. */
    if (memcmp(mac, s_wifi.mac[other], 6) == 0) return ESP_ERR_WIFI_MAC;
    memcpy(s_wifi.mac[ifx], mac, 6);
    state_changed();
    return ESP_OK;
}

esp_err_t esp_wifi_get_mac(wifi_interface_t ifx, uint8_t mac[6])
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!valid_if(ifx)) return ESP_ERR_WIFI_IF;
    if (mac == NULL) return ESP_ERR_INVALID_ARG;
    memcpy(mac, s_wifi.mac[ifx], 6);
    return ESP_OK;
}


esp_err_t esp_wifi_set_config(wifi_interface_t interface, wifi_config_t *conf)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (conf == NULL) return ESP_ERR_INVALID_ARG;
    if (!valid_if(interface)) return ESP_ERR_WIFI_IF;
    if (!mode_has(s_wifi.mode, interface)) return ESP_ERR_WIFI_MODE;
    if (interface == WIFI_IF_AP) {
        const wifi_ap_config_t *ap = &conf->ap;
        if (ap->ssid_len > sizeof ap->ssid) return ESP_ERR_WIFI_SSID;
        if ((unsigned)ap->authmode >= WIFI_AUTH_MAX || ap->authmode == WIFI_AUTH_WEP ||
            ap->authmode == WIFI_AUTH_WAPI_PSK || ap->authmode == WIFI_AUTH_OWE)
            return ESP_ERR_INVALID_ARG;                 /* IDF doc: not supported in soft-AP mode */
        if (ap->authmode != WIFI_AUTH_OPEN && bounded_len(ap->password, sizeof ap->password) < 8)
            return ESP_ERR_WIFI_PASSWORD;
        if (!chan_ok(ap->channel)) return ESP_ERR_INVALID_ARG;
        if (ap->max_connection > ESP_WIFI_MAX_CONN_NUM) return ESP_ERR_INVALID_ARG;
        s_wifi.conf[WIFI_IF_AP].ap = *ap;
        if (if_active(WIFI_IF_AP)) reset_home_channel();
    } else {
        if (conf->sta.channel > 14) return ESP_ERR_INVALID_ARG;
        s_wifi.conf[WIFI_IF_STA].sta = conf->sta;
    }
    return ESP_OK;
}

esp_err_t esp_wifi_get_config(wifi_interface_t interface, wifi_config_t *conf)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!valid_if(interface)) return ESP_ERR_WIFI_IF;
    if (conf == NULL) return ESP_ERR_INVALID_ARG;
    *conf = s_wifi.conf[interface];
    return ESP_OK;
}

esp_err_t esp_wifi_set_storage(wifi_storage_t storage)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if ((unsigned)storage > WIFI_STORAGE_RAM) return ESP_ERR_INVALID_ARG;
    s_wifi.storage = storage;
    return ESP_OK;
}

esp_err_t esp_wifi_set_max_tx_power(int8_t power)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!s_wifi.started) return ESP_ERR_WIFI_NOT_STARTED;
    if (power < 8 || power > 84) return ESP_ERR_INVALID_ARG;
    /* IDF doc: set value range -> actual value. */
    static const int8_t steps[] = { 8, 20, 28, 34, 44, 52, 56, 60, 66, 72, 80 };
    int8_t actual = steps[0];
    for (size_t i = 0; i < sizeof steps; i++) {
        if (power >= steps[i]) actual = steps[i];
    }
    s_wifi.max_tx_power = actual;
    return ESP_OK;
}

esp_err_t esp_wifi_get_max_tx_power(int8_t *power)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!s_wifi.started) return ESP_ERR_WIFI_NOT_STARTED;
    if (power == NULL) return ESP_ERR_INVALID_ARG;
    *power = s_wifi.max_tx_power;
    return ESP_OK;
}

esp_err_t esp_wifi_config_espnow_rate(wifi_interface_t ifx, wifi_phy_rate_t rate)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!s_wifi.started) return ESP_ERR_WIFI_NOT_STARTED;      /* doc: call after esp_wifi_start; code UNVERIFIED */
    if (!valid_if(ifx) || !mode_has(s_wifi.mode, ifx)) return ESP_ERR_WIFI_IF;   /* doc: interface enabled */
    if (!rate_valid((unsigned)rate)) return ESP_ERR_INVALID_ARG;
    /* LR rates need WIFI_PROTOCOL_LR (users see "not supported" otherwise). */
    if (rate_proto((unsigned)rate) == WIFI_PROTOCOL_LR && !(s_wifi.proto[ifx] & WIFI_PROTOCOL_LR))
        return ESP_ERR_NOT_SUPPORTED;
    s_wifi.espnow_rate[ifx] = rate;
    return ESP_OK;
}

/* --------------------------------------------------------------- ESP-NOW */

esp_err_t esp_now_init(void)
{
    if (!s_wifi.inited) return ESP_ERR_ESPNOW_INTERNAL;        /* UNVERIFIED: Wi-Fi must be initialised */
    if (s_now.inited) return ESP_OK;
    espnow_reset();
    s_now.inited = true;
    memcpy(s_now.pmk, k_default_pmk, ESP_NOW_KEY_LEN);
    s_now.wake_window = 0xffff;                               /* doc: default is the maximum */
    return ESP_OK;
}

esp_err_t esp_now_deinit(void)
{
    /* Peers, callbacks and queued frames go; queued frames get no callback. */
    espnow_reset();
    return ESP_OK;
}

esp_err_t esp_now_get_version(uint32_t *version)
{
    if (version == NULL) return ESP_ERR_ESPNOW_ARG;
    *version = 2;                                              /* IDF >= 5.4 speaks ESP-NOW v2.0 */
    return ESP_OK;
}

esp_err_t esp_now_register_recv_cb(esp_now_recv_cb_t cb)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    s_now.recv_cb = cb;
    return ESP_OK;
}

esp_err_t esp_now_unregister_recv_cb(void)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    s_now.recv_cb = NULL;
    return ESP_OK;
}

esp_err_t esp_now_register_send_cb(esp_now_send_cb_t cb)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    s_now.send_cb = cb;
    return ESP_OK;
}

esp_err_t esp_now_unregister_send_cb(void)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    s_now.send_cb = NULL;
    return ESP_OK;
}

static int encrypt_count(void)
{
    int n = 0;
    for (int i = 0; i < s_now.npeers; i++) n += s_now.peers[i].info.encrypt ? 1 : 0;
    return n;
}

/* Checks shared by add_peer and mod_peer (argument errors only). */
static esp_err_t peer_args_ok(const esp_now_peer_info_t *peer)
{
    if (peer == NULL) return ESP_ERR_ESPNOW_ARG;
    if (!valid_if(peer->ifidx)) return ESP_ERR_ESPNOW_ARG;
    if (peer->channel > 14) return ESP_ERR_ESPNOW_ARG;        /* doc: channel range 0..14 */
    if (peer->encrypt && is_multicast(peer->peer_addr)) return ESP_ERR_ESPNOW_ARG;   /* no encrypted multicast */
    return ESP_OK;
}

esp_err_t esp_now_add_peer(const esp_now_peer_info_t *peer)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    esp_err_t e = peer_args_ok(peer);
    if (e != ESP_OK) return e;
    if (peer_find(peer->peer_addr) != NULL) return ESP_ERR_ESPNOW_EXIST;
    if (s_now.npeers >= ESP_NOW_MAX_TOTAL_PEER_NUM) return ESP_ERR_ESPNOW_FULL;
    if (peer->encrypt && encrypt_count() >= s_wifi.espnow_max_encrypt) return ESP_ERR_ESPNOW_FULL;
    peer_t *p = &s_now.peers[s_now.npeers++];
    memset(p, 0, sizeof *p);
    p->info = *peer;
    return ESP_OK;
}

esp_err_t esp_now_del_peer(const uint8_t *peer_addr)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    if (peer_addr == NULL) return ESP_ERR_ESPNOW_ARG;
    peer_t *p = peer_find(peer_addr);
    if (p == NULL) return ESP_ERR_ESPNOW_NOT_FOUND;
    int idx = (int)(p - s_now.peers);
    memmove(p, p + 1, (size_t)(s_now.npeers - idx - 1) * sizeof *p);
    s_now.npeers--;
    if (idx < s_now.fetch_pos) s_now.fetch_pos--;
    return ESP_OK;
}

esp_err_t esp_now_mod_peer(const esp_now_peer_info_t *peer)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    esp_err_t e = peer_args_ok(peer);
    if (e != ESP_OK) return e;
    peer_t *p = peer_find(peer->peer_addr);
    /* esp_now.h lists NOT_INIT, ARG, FULL only; the driver (closed source) answers an unknown
     * peer with ESP_ERR_ESPNOW_NOT_FOUND, as MicroPython's mod_peer reports it. UNVERIFIED on a board. */
    if (p == NULL) return ESP_ERR_ESPNOW_NOT_FOUND;
    if (peer->encrypt && !p->info.encrypt && encrypt_count() >= s_wifi.espnow_max_encrypt) return ESP_ERR_ESPNOW_FULL;
    p->info = *peer;
    return ESP_OK;
}

esp_err_t esp_now_set_peer_rate_config(const uint8_t *peer_addr, esp_now_rate_config_t *config)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    if (peer_addr == NULL || config == NULL) return ESP_ERR_ESPNOW_ARG;
    /* ESP32: no 11a/ac/ax, so no HE20/VHT20/11A phymodes, ERSU or DCM. */
    if (!rate_valid((unsigned)config->rate) || (unsigned)config->phymode > WIFI_PHY_MODE_VHT20 ||
        config->phymode == WIFI_PHY_MODE_11A || config->phymode == WIFI_PHY_MODE_HE20 ||
        config->phymode == WIFI_PHY_MODE_VHT20 || config->ersu || config->dcm)
        return ESP_ERR_ESPNOW_ARG;
    peer_t *p = peer_find(peer_addr);
    /* esp_now.h documents NOT_INIT, ARG and INTERNAL only and the driver is closed source;
     * an unknown peer answers NOT_FOUND here, like MOD_PEER, GET_PEER and DEL_PEER do.
     * UNVERIFIED on a board. */
    if (p == NULL) return ESP_ERR_ESPNOW_NOT_FOUND;
    p->has_rate = true;
    p->rate = *config;
    return ESP_OK;
}

esp_err_t esp_now_get_peer(const uint8_t *peer_addr, esp_now_peer_info_t *peer)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    if (peer_addr == NULL || peer == NULL) return ESP_ERR_ESPNOW_ARG;
    peer_t *p = peer_find(peer_addr);
    if (p == NULL) return ESP_ERR_ESPNOW_NOT_FOUND;
    *peer = p->info;
    return ESP_OK;
}

esp_err_t esp_now_fetch_peer(bool from_head, esp_now_peer_info_t *peer)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    if (peer == NULL) return ESP_ERR_ESPNOW_ARG;
    if (from_head) s_now.fetch_pos = 0;
    for (int i = s_now.fetch_pos; i < s_now.npeers; i++) {
        if (!is_multicast(s_now.peers[i].info.peer_addr)) {   /* unicast peers only */
            *peer = s_now.peers[i].info;
            s_now.fetch_pos = i + 1;
            return ESP_OK;
        }
    }
    s_now.fetch_pos = s_now.npeers;
    return ESP_ERR_ESPNOW_NOT_FOUND;
}

bool esp_now_is_peer_exist(const uint8_t *peer_addr)
{
    if (!s_now.inited || peer_addr == NULL) return false;
    return peer_find(peer_addr) != NULL;
}

esp_err_t esp_now_get_peer_num(esp_now_peer_num_t *num)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    if (num == NULL) return ESP_ERR_ESPNOW_ARG;
    num->total_num = s_now.npeers;
    num->encrypt_num = encrypt_count();
    return ESP_OK;
}

esp_err_t esp_now_set_pmk(const uint8_t *pmk)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    if (pmk == NULL) return ESP_ERR_ESPNOW_ARG;
    memcpy(s_now.pmk, pmk, ESP_NOW_KEY_LEN);
    return ESP_OK;
}

esp_err_t esp_now_set_wake_window(uint16_t window)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    s_now.wake_window = window;
    return ESP_OK;
}

/* Checks that a frame to peer p can go out now (interface up, channel right). */
static esp_err_t peer_sendable(const peer_t *p)
{
    if (!if_active(p->info.ifidx)) return ESP_ERR_ESPNOW_IF;
    if (p->info.channel != 0 && p->info.channel != s_wifi.channel) return ESP_ERR_ESPNOW_CHAN;
    return ESP_OK;
}

static void enqueue(const peer_t *p, const uint8_t *data, size_t len)
{
    txq_t *t = txq_at(s_tx.count++);
    memcpy(t->dst, p->info.peer_addr, 6);
    t->ifx = p->info.ifidx;
    t->rate = (uint8_t)(p->has_rate ? p->rate.rate : s_wifi.espnow_rate[p->info.ifidx]);
    t->encrypted = p->info.encrypt;
    t->key_tag = p->info.encrypt ? sim_air_key_tag(s_now.pmk, p->info.lmk) : 0;
    t->state = TXQ_QUEUED;
    t->len = (uint16_t)len;
    memcpy(t->data, data, len);
}

esp_err_t esp_now_send(const uint8_t *peer_addr, const uint8_t *data, size_t len)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    /* len 0 is rejected by the driver ("ESPNOW: Invalid argument!"). */
    if (data == NULL || len == 0 || len > ESP_NOW_MAX_DATA_LEN_V2) return ESP_ERR_ESPNOW_ARG;
    if (peer_addr != NULL) {
        const peer_t *p = peer_find(peer_addr);
        if (p == NULL) return ESP_ERR_ESPNOW_NOT_FOUND;
        esp_err_t e = peer_sendable(p);
        if (e != ESP_OK) return e;
        if (s_tx.count >= SIM_EMU_TX_QUEUE_LEN) return ESP_ERR_ESPNOW_NO_MEM;
        enqueue(p, data, len);
        return ESP_OK;
    }
    /* NULL: every unicast peer in the list, in list order; all or nothing. */
    unsigned n = 0;
    for (int i = 0; i < s_now.npeers; i++) {
        const peer_t *p = &s_now.peers[i];
        if (is_multicast(p->info.peer_addr)) continue;
        esp_err_t e = peer_sendable(p);
        if (e != ESP_OK) return e;
        n++;
    }
    if (n == 0) return ESP_ERR_ESPNOW_NOT_FOUND;
    if (s_tx.count + n > SIM_EMU_TX_QUEUE_LEN) return ESP_ERR_ESPNOW_NO_MEM;
    for (int i = 0; i < s_now.npeers; i++) {
        if (!is_multicast(s_now.peers[i].info.peer_addr)) enqueue(&s_now.peers[i], data, len);
    }
    return ESP_OK;
}
