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
#include "emu_int.h"

const wpa_crypto_funcs_t g_wifi_default_wpa_crypto_funcs = { sizeof(wpa_crypto_funcs_t), 1 };
struct wifi_osi_funcs_t {
    int version;
};
wifi_osi_funcs_t g_wifi_osi_funcs = { 1 };

emu_sim_t s_sim = { .air = { .fd = -1 }, .reset_reason = ESP_RST_POWERON, .med_fd = -1 };
emu_wifi_t s_wifi;
emu_now_t s_now;
emu_txq_t s_tx;

/* -------------------------------------------------------------- utilities */

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t emu_now_us(void) { return s_sim.clock ? s_sim.clock() : mono_us(); }

bool emu_is_multicast(const uint8_t *mac) { return (mac[0] & 1u) != 0; }

bool emu_valid_if(wifi_interface_t ifx) { return ifx == WIFI_IF_STA || ifx == WIFI_IF_AP; }

bool emu_mode_has(wifi_mode_t mode, wifi_interface_t ifx)
{
    if (ifx == WIFI_IF_STA) return mode == WIFI_MODE_STA || mode == WIFI_MODE_APSTA;
    if (ifx == WIFI_IF_AP) return mode == WIFI_MODE_AP || mode == WIFI_MODE_APSTA;
    return false;
}

bool emu_if_active(wifi_interface_t ifx) { return s_wifi.inited && s_wifi.started && emu_mode_has(s_wifi.mode, ifx); }

uint8_t emu_chan_min(void) { return s_wifi.country.schan; }
uint8_t emu_chan_max(void) { return (uint8_t)(s_wifi.country.schan + s_wifi.country.nchan - 1); }
bool emu_chan_ok(unsigned ch) { return ch >= emu_chan_min() && ch <= emu_chan_max(); }

size_t emu_bounded_len(const uint8_t *s, size_t cap)
{
    size_t n = 0;
    while (n < cap && s[n] != 0) n++;
    return n;
}

void emu_med_send(const sim_med_msg_t *m)
{
    uint8_t buf[SIM_MED_MAX_MSG];
    size_t n = sim_med_encode(m, buf, sizeof buf);
    if (n == 0 || s_sim.med_fd < 0) return;
    if (send(s_sim.med_fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) s_sim.cnt.med_tx_errors++;
}

/* Medium mode: tells the medium our radio state if it changed. Called right
 * after every change, before the host can learn of it, so that the medium
 * never judges a frame against a state older than what the host has seen. */
void emu_state_changed(void)
{
    if (s_sim.med_fd < 0) return;
    sim_med_msg_t m = { .type = SIM_MED_STATE };
    bool on = s_wifi.inited && s_wifi.started;
    m.started = on;
    m.channel = s_wifi.channel;
    m.second = (uint8_t)s_wifi.second;
    m.active = (uint8_t)((on && emu_mode_has(s_wifi.mode, WIFI_IF_STA) ? 1u : 0u) | (on && emu_mode_has(s_wifi.mode, WIFI_IF_AP) ? 2u : 0u));
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
    emu_med_send(&m);
}

/* Rates a non-Wi-Fi-6 chip (ESP32) can use. */
bool emu_rate_valid(unsigned r)
{
    if (r == 0x04) return false;
    if (r <= WIFI_PHY_RATE_MCS7_SGI) return true;
    return r == WIFI_PHY_RATE_LORA_250K || r == WIFI_PHY_RATE_LORA_500K;
}

/* WIFI_PROTOCOL_* bit a PHY rate needs. */
uint8_t emu_rate_proto(unsigned r)
{
    if (r <= WIFI_PHY_RATE_11M_S) return WIFI_PROTOCOL_11B;
    if (r <= WIFI_PHY_RATE_9M) return WIFI_PROTOCOL_11G;
    if (r <= WIFI_PHY_RATE_MCS7_SGI) return WIFI_PROTOCOL_11N;
    return WIFI_PROTOCOL_LR;
}

/* Rate a frame goes out at: the configured one if the interface's protocol
 * allows it, else the lowest rate the protocol has (approximation). */
uint8_t emu_effective_rate(wifi_interface_t ifx, unsigned r)
{
    uint8_t p = s_wifi.proto[ifx];
    if (p & emu_rate_proto(r)) return (uint8_t)r;
    if (p & WIFI_PROTOCOL_11B) return WIFI_PHY_RATE_1M_L;
    if (p & WIFI_PROTOCOL_LR) return WIFI_PHY_RATE_LORA_250K;
    return WIFI_PHY_RATE_6M;
}

/* esp_wifi_set_protocol bitmaps valid on ESP32: 11b, 11bg, 11bgn, each optionally
 * with LR, or LR alone (IDF: "802.11b or 802.11bg or 802.11bgn ... or LR mode"). */
bool emu_proto_valid(uint8_t p)
{
    uint8_t base = p & (uint8_t)~WIFI_PROTOCOL_LR;
    if (p & ~(WIFI_PROTOCOL_11B | WIFI_PROTOCOL_11G | WIFI_PROTOCOL_11N | WIFI_PROTOCOL_LR)) return false;
    if (base == 0) return (p & WIFI_PROTOCOL_LR) != 0;
    return base == WIFI_PROTOCOL_11B || base == (WIFI_PROTOCOL_11B | WIFI_PROTOCOL_11G) || base == PROTO_DEFAULT;
}

void emu_default_ap_config(wifi_ap_config_t *ap, const uint8_t *ap_mac)
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

event_t *emu_event_push(int32_t id)
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
void emu_set_home_channel(uint8_t ch, wifi_second_chan_t snd)
{
    if (s_wifi.started && (ch != s_wifi.channel || snd != s_wifi.second)) {
        event_t *e = emu_event_push(WIFI_EVENT_HOME_CHANNEL_CHANGE);
        if (e != NULL) {
            e->data.chan.old_chan = s_wifi.channel;
            e->data.chan.old_snd = s_wifi.second;
            e->data.chan.new_chan = ch;
            e->data.chan.new_snd = snd;
        }
    }
    s_wifi.channel = ch;
    s_wifi.second = snd;
    emu_state_changed();
}

/* Ends a pending connection attempt with a STA_DISCONNECTED event. */
void emu_connect_end(uint8_t reason)
{
    if (!s_wifi.sta_connecting && !s_wifi.sta_connected) return;
    s_wifi.sta_connecting = false;
    s_wifi.sta_connected = false;
    emu_state_changed();
    event_t *e = emu_event_push(WIFI_EVENT_STA_DISCONNECTED);
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
void emu_reset_home_channel(void)
{
    /* An associated STA pins the radio to its AP's channel; the soft-AP follows it. */
    if (s_wifi.sta_connected && s_wifi.started) return;
    uint8_t ch = emu_mode_has(s_wifi.mode, WIFI_IF_AP) ? s_wifi.conf[WIFI_IF_AP].ap.channel : s_sim.cfg.home_channel;
    if (!emu_chan_ok(ch)) ch = emu_chan_min();
    emu_set_home_channel(ch, WIFI_SECOND_CHAN_NONE);
}

/* ------------------------------------------------------------ sim control */

void emu_espnow_reset(void)
{
    memset(&s_now, 0, sizeof s_now);
    emu_txq_clear();
}

void sim_emu_reboot(void)
{
    emu_espnow_reset();
    memset(&s_wifi, 0, sizeof s_wifi);
    s_sim.ev_head = s_sim.ev_count = 0;
    s_sim.boot_us = emu_now_us();
    emu_state_changed();
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
        txq_t *t = emu_txq_at(0);
        if (t->state != TXQ_IN_FLIGHT) return 0;
        deadline = t->deadline_us;
    }
    if (s_wifi.sta_connecting && s_wifi.connect_deadline_us < deadline) deadline = s_wifi.connect_deadline_us;
    if (deadline == UINT64_MAX) return -1;
    uint64_t now = emu_now_us();
    if (now >= deadline) return 0;
    uint64_t ms = (deadline - now + 999u) / 1000u;
    return ms > 60000u ? 60000 : (int)ms;
}

void sim_emu_poll(void)
{
    if (s_sim.med_fd >= 0) emu_drain_medium();
    else emu_drain_air();
    emu_process_tx();
    if (s_wifi.sta_connecting && emu_now_us() >= s_wifi.connect_deadline_us) emu_connect_end(WIFI_REASON_NO_AP_FOUND);
    deliver_events();
    emu_state_changed();
}

void sim_emu_set_event_handler(sim_emu_event_handler_t fn, void *ctx)
{
    s_sim.ev_fn = fn;
    s_sim.ev_ctx = ctx;
}

const sim_emu_counters_t *sim_emu_counters(void) { return &s_sim.cnt; }
void sim_emu_clear_counters(void) { memset(&s_sim.cnt, 0, sizeof s_sim.cnt); }
uint64_t sim_emu_uptime_us(void) { return emu_now_us() - s_sim.boot_us; }
void sim_emu_set_reset_reason(int reason) { s_sim.reset_reason = reason; }
void sim_emu_set_clock(uint64_t (*fn)(void)) { s_sim.clock = fn; }

esp_reset_reason_t esp_reset_reason(void) { return (esp_reset_reason_t)s_sim.reset_reason; }

const char *esp_get_idf_version(void) { return "v5.4.2"; }
