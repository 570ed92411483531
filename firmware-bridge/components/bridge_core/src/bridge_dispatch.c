/* The dispatcher: one case per command, each calling the ESP-IDF function of
 * the same name with the decoded arguments and answering with its esp_err_t. */
#include "bridge_dispatch.h"

#include <string.h>

#include "bridge_idf_compat.h"
#include "bridge_proto.h"
#include "esp_mac.h"
#include "esp_now.h"
#include "esp_wifi.h"

#define BAUD_REVERT_US 2000000u

/* The encrypted-peer limit the driver enforces (IDF >= 5.1: this Kconfig value via
 * wifi_init_config_t; esp_now.h's ESP_NOW_MAX_ENCRYPT_PEER_NUM is an older fixed 6). */
#ifdef CONFIG_ESP_WIFI_ESPNOW_MAX_ENCRYPT_NUM
#define BR_MAX_ENCRYPT CONFIG_ESP_WIFI_ESPNOW_MAX_ENCRYPT_NUM
#else
#define BR_MAX_ENCRYPT ESP_NOW_MAX_ENCRYPT_PEER_NUM
#endif

static const uint8_t k_zero_mac[6] = { 0 };

static struct {
    bool wifi_started;      /* IDF has no getter: the core started it, so it knows */
    bool sta_connect_requested;
    uint16_t last_disconnect_reason;
    uint32_t baud_pending, baud_previous, baud_now;
    uint64_t baud_switched_us;
    bool baud_probation;
} s;

void br_dispatch_init(void)
{
    memset(&s, 0, sizeof s);
    s.baud_now = br_core_identity()->baud;
    br_sends_init();
}

static void respond_err(br_pending_resp_t *slot, uint8_t code, esp_err_t err)
{
    br_value_t v[1];
    memset(v, 0, sizeof v);
    v[0].i = err;
    br_core_respond(slot, code, v);
}

static void values_from_peer(br_value_t *v, const esp_now_peer_info_t *p)
{
    v[0].ptr = p->peer_addr; v[0].len = 6;
    v[1].ptr = p->lmk; v[1].len = ESP_NOW_KEY_LEN;
    v[2].i = p->channel;
    v[3].i = p->ifidx;
    v[4].i = p->encrypt ? 1 : 0;
}

static esp_err_t peer_from_values(const br_value_t *v, esp_now_peer_info_t *p)
{
    memset(p, 0, sizeof *p);
    /* The all-zero MAC is no station's address (and is not "every peer" here either). */
    if (memcmp(v[0].ptr, k_zero_mac, 6) == 0) return ESP_ERR_ESPNOW_ARG;
    memcpy(p->peer_addr, v[0].ptr, 6);
    memcpy(p->lmk, v[1].ptr, ESP_NOW_KEY_LEN);
    p->channel = (uint8_t)v[2].i;
    if (v[3].i > 1 || v[4].i > 1) return ESP_ERR_ESPNOW_ARG;
    p->ifidx = (wifi_interface_t)v[3].i;
    p->encrypt = v[4].i != 0;
    return ESP_OK;
}

void br_hello_values(br_value_t *v)
{
    const br_identity_t *id = br_core_identity();
    memset(v, 0, sizeof(br_value_t) * 21);
    uint8_t mac[6];
    if (esp_wifi_get_mac(WIFI_IF_STA, mac) == ESP_OK) memcpy(br_state.sta_mac, mac, 6);
    if (esp_wifi_get_mac(WIFI_IF_AP, mac) == ESP_OK) memcpy(br_state.ap_mac, mac, 6);
    uint32_t caps = id->caps | BR_CAP_LONG_RANGE | BR_CAP_WAKE_WINDOW;
    if (BR_HAVE_PEER_RATE_CONFIG) caps |= BR_CAP_PEER_RATE_CONFIG;
    if (BR_HAVE_ESPNOW_V2) caps |= BR_CAP_ESPNOW_V2;
    size_t n = 0;
    v[n++].i = BR_PROTO_VERSION;
    v[n++].i = id->fw_major;
    v[n++].i = id->fw_minor;
    v[n++].i = id->fw_patch;
    v[n++].i = id->chip_model;
    v[n++].i = id->chip_revision;
    v[n++].i = BR_HAVE_ESPNOW_V2 ? 2 : 1;
    v[n++].i = BR_ESPNOW_MAX_PAYLOAD;
    v[n].ptr = br_state.sta_mac; v[n++].len = 6;
    v[n].ptr = br_state.ap_mac; v[n++].len = 6;
    v[n++].i = caps;
    v[n++].i = id->reset_reason;
    v[n++].i = id->boot_count;
    v[n++].i = BR_WINDOW;
    v[n++].i = atomic_load(&br_state.rxbuf);
    v[n++].i = BR_MAX_DECODED;
    v[n++].i = id->transport;
    v[n++].i = s.baud_now;
    size_t l = 0;
    while (id->idf_version && id->idf_version[l] != '\0' && l < 31) l++;
    v[n].ptr = (const uint8_t *)id->idf_version;
    v[n++].len = (uint16_t)l;
    v[n++].i = BR_MAX_ENCRYPT;
    v[n++].i = br_state.lost_at_reset;
}

/* MicroPython's network.STAT_* for WLAN.status(). */
static uint16_t sta_status(wifi_ap_record_t *ap, bool *connected)
{
    *connected = esp_wifi_sta_get_ap_info(ap) == ESP_OK;
    if (*connected) return 1010;
    if (!s.sta_connect_requested) return 1000;
    switch (s.last_disconnect_reason) {
    case 200: case 201: case 202: case 203: case 204: return s.last_disconnect_reason;
    case 15: return 204;
    default: return 1001;
    }
}

static esp_err_t set_if_active(uint8_t ifidx, bool on)
{
    wifi_mode_t mode = WIFI_MODE_NULL;
    esp_err_t e = esp_wifi_get_mode(&mode);
    if (e != ESP_OK) return e;
    unsigned bit = ifidx == WIFI_IF_STA ? 1u : 2u;   /* WIFI_MODE_STA / WIFI_MODE_AP bits */
    unsigned m = on ? ((unsigned)mode | bit) : ((unsigned)mode & ~bit);
    if (m == 0) {
        /* Last interface off: stop the radio and clear the mode, so GET_IF_ACTIVE says so. */
        e = esp_wifi_stop();
        if (e == ESP_OK) {
            s.wifi_started = false;
            br_core_abandon_sends();
        }
        return e == ESP_OK ? esp_wifi_set_mode(WIFI_MODE_NULL) : e;
    }
    if (m != (unsigned)mode) e = esp_wifi_set_mode((wifi_mode_t)m);
    if (e == ESP_OK) e = esp_wifi_start();   /* an interface is active only while Wi-Fi runs */
    if (e == ESP_OK) s.wifi_started = true;
    return e;
}

static esp_err_t do_send(br_pending_resp_t *slot, const br_value_t *v, uint8_t *statuses, bool *deferred)
{
    uint32_t flags = (uint32_t)v[1].i;
    bool sync = (flags & BR_SEND_SYNC) != 0;
    bool all = (flags & BR_SEND_ALL_PEERS) != 0;
    bool zero = memcmp(v[0].ptr, k_zero_mac, 6) == 0;
    if (flags & ~(BR_SEND_SYNC | BR_SEND_ALL_PEERS)) return ESP_ERR_ESPNOW_ARG;
    /* "Every peer" is only ever the flag; a zero MAC without it is a mistake, not a broadcast. */
    if (all != zero) return ESP_ERR_ESPNOW_ARG;
    if (v[2].len == 0 || v[2].len > BR_ESPNOW_MAX_PAYLOAD) return ESP_ERR_ESPNOW_ARG;
    const uint8_t *mac = all ? NULL : v[0].ptr;
    uint8_t count = 1;
    if (mac == NULL) {
        /* esp_now_send(NULL) reaches every unicast peer in the list: count them for tracking. */
        esp_now_peer_num_t num;
        esp_err_t e = esp_now_get_peer_num(&num);
        if (e != ESP_OK) return e;
        count = 0;
        esp_now_peer_info_t p;
        for (bool head = true; esp_now_fetch_peer(head, &p) == ESP_OK; head = false) count++;
        if (count == 0) return ESP_ERR_ESPNOW_NOT_FOUND;
    }
    /* Reserve tracking before calling the radio, so a status can never be orphaned. */
    if (!br_sends_begin(slot->id, mac, count, sync, slot)) return ESP_ERR_ESPNOW_NO_MEM;
    esp_err_t e = esp_now_send(mac, v[2].ptr, v[2].len);
    if (e != ESP_OK) {
        br_sends_cancel_last();
        return e;
    }
    br_state.counters[BR_STAT_TX_PACKETS]++;
    *statuses = count;
    *deferred = sync;
    return ESP_OK;
}

void br_dispatch(br_pending_resp_t *slot, uint8_t code, const uint8_t *body, size_t len)
{
    const br_msg_t *m = br_msg_find(BR_KIND_REQUEST, code);
    if (m == NULL) {
        br_state.counters[BR_STAT_REQ_REJECTED]++;
        respond_err(slot, code, ESP_ERR_NOT_SUPPORTED);
        return;
    }
    br_value_t in[BR_MAX_FIELDS];
    if (br_msg_decode(m, body, len, in) != BR_OK) {
        br_state.counters[BR_STAT_REQ_REJECTED]++;
        respond_err(slot, code, ESP_ERR_INVALID_SIZE);
        return;
    }
    br_value_t out[BR_MAX_FIELDS];
    memset(out, 0, sizeof out);
    esp_err_t e = ESP_OK;
    esp_now_peer_info_t peer;
    uint8_t mac[6];

    switch (code) {
    case BR_CMD_HELLO:
        br_hello_values(out + 1);
        break;
    case BR_CMD_PING: {
        uint64_t up = br_core_port()->now_us(br_core_port()->ctx) - br_state.boot_us;
        out[1].i = (int64_t)up;
        out[2] = in[0];
        break;
    }
    case BR_CMD_RESET:
        /* Nothing of the radio survives the restart: every send still in flight is abandoned. */
        (void)esp_now_deinit();
        br_core_abandon_sends();
        br_state.restart_pending = true;
        break;
    case BR_CMD_STATS: {
        uint32_t c[BR_STATS_COUNT];
        br_core_stats(c);
        for (size_t i = 0; i < BR_STATS_COUNT; i++) out[1 + i].i = c[i];
        if (in[0].i != 0) br_core_clear_stats();
        break;
    }
    case BR_CMD_SET_BAUD: {
        const br_port_t *p = br_core_port();
        if (!(br_core_identity()->caps & BR_CAP_SET_BAUD) || p->set_baud == NULL) e = ESP_ERR_NOT_SUPPORTED;
        else if (in[0].i < 9600 || in[0].i > 5000000) e = ESP_ERR_INVALID_ARG;
        else s.baud_pending = (uint32_t)in[0].i;   /* applied once this response is out */
        break;
    }
    case BR_CMD_SET_RXBUF: {
        uint32_t want = (uint32_t)in[0].i;
        if (want < 64) want = 64;
        if (want > BR_RXBUF_MAX) want = BR_RXBUF_MAX;
        atomic_store(&br_state.rxbuf, want);
        out[1].i = want;
        break;
    }
    case BR_CMD_ESPNOW_INIT:
        e = esp_now_init();
        if (e == ESP_OK) e = br_core_register_callbacks();
        break;
    case BR_CMD_ESPNOW_DEINIT:
        e = esp_now_deinit();
        if (e == ESP_OK) br_core_abandon_sends();   /* the radio reports nothing more for them */
        break;
    case BR_CMD_ESPNOW_GET_VERSION: {
        uint32_t ver = 0;
        e = esp_now_get_version(&ver);
        out[1].i = ver;
        break;
    }
    case BR_CMD_ESPNOW_SEND: {
        uint8_t statuses = 0;
        bool deferred = false;
        e = do_send(slot, in, &statuses, &deferred);
        if (e == ESP_OK && deferred) return;   /* answered by bridge_sends.c with the outcome */
        out[1].i = statuses;
        out[2].i = 0;
        break;
    }
    case BR_CMD_ESPNOW_ADD_PEER:
        e = peer_from_values(in, &peer);
        if (e == ESP_OK) e = esp_now_add_peer(&peer);
        break;
    case BR_CMD_ESPNOW_MOD_PEER:
        e = peer_from_values(in, &peer);
        if (e == ESP_OK) e = esp_now_mod_peer(&peer);
        break;
    case BR_CMD_ESPNOW_DEL_PEER:
        e = esp_now_del_peer(in[0].ptr);
        break;
    case BR_CMD_ESPNOW_GET_PEER:
        memset(&peer, 0, sizeof peer);
        e = esp_now_get_peer(in[0].ptr, &peer);
        values_from_peer(out + 1, &peer);
        break;
    case BR_CMD_ESPNOW_FETCH_PEER:
        memset(&peer, 0, sizeof peer);
        e = esp_now_fetch_peer(in[0].i != 0, &peer);
        values_from_peer(out + 1, &peer);
        break;
    case BR_CMD_ESPNOW_IS_PEER_EXIST:
        out[1].i = esp_now_is_peer_exist(in[0].ptr) ? 1 : 0;
        break;
    case BR_CMD_ESPNOW_GET_PEER_NUM: {
        esp_now_peer_num_t num = { 0, 0 };
        e = esp_now_get_peer_num(&num);
        out[1].i = num.total_num;
        out[2].i = num.encrypt_num;
        break;
    }
    case BR_CMD_ESPNOW_SET_PMK:
        e = esp_now_set_pmk(in[0].ptr);
        break;
    case BR_CMD_ESPNOW_SET_WAKE_WINDOW:
        e = esp_now_set_wake_window((uint16_t)in[0].i);
        break;
    case BR_CMD_ESPNOW_SET_PEER_RATE_CONFIG:
        e = br_set_peer_rate(in[0].ptr, in[1].i, in[2].i, in[3].i != 0, in[4].i != 0);
        break;
    case BR_CMD_WIFI_SET_MODE:
        e = in[0].i > 3 ? ESP_ERR_INVALID_ARG : esp_wifi_set_mode((wifi_mode_t)in[0].i);
        break;
    case BR_CMD_WIFI_GET_MODE: {
        wifi_mode_t mode = WIFI_MODE_NULL;
        e = esp_wifi_get_mode(&mode);
        out[1].i = mode;
        break;
    }
    case BR_CMD_WIFI_START:
        e = esp_wifi_start();
        if (e == ESP_OK) s.wifi_started = true;
        break;
    case BR_CMD_WIFI_STOP:
        e = esp_wifi_stop();
        if (e == ESP_OK) {
            s.wifi_started = false;
            br_core_abandon_sends();
        }
        break;
    case BR_CMD_WIFI_SET_CHANNEL:
        e = in[1].i > 2 ? ESP_ERR_INVALID_ARG
                        : esp_wifi_set_channel((uint8_t)in[0].i, (wifi_second_chan_t)in[1].i);
        break;
    case BR_CMD_WIFI_GET_CHANNEL: {
        uint8_t primary = 0;
        wifi_second_chan_t second = WIFI_SECOND_CHAN_NONE;
        e = esp_wifi_get_channel(&primary, &second);
        out[1].i = primary;
        out[2].i = second;
        break;
    }
    case BR_CMD_WIFI_GET_MAC:
        memset(mac, 0, sizeof mac);
        e = in[0].i > 1 ? ESP_ERR_INVALID_ARG : esp_wifi_get_mac((wifi_interface_t)in[0].i, mac);
        out[1].ptr = mac; out[1].len = 6;
        break;
    case BR_CMD_WIFI_SET_MAC:
        e = in[0].i > 1 ? ESP_ERR_INVALID_ARG : esp_wifi_set_mac((wifi_interface_t)in[0].i, in[1].ptr);
        if (e == ESP_OK) memcpy(in[0].i == 0 ? br_state.sta_mac : br_state.ap_mac, in[1].ptr, 6);
        break;
    case BR_CMD_WIFI_SET_PS:
        e = in[0].i > 2 ? ESP_ERR_INVALID_ARG : esp_wifi_set_ps((wifi_ps_type_t)in[0].i);
        break;
    case BR_CMD_WIFI_GET_PS: {
        wifi_ps_type_t ps = WIFI_PS_NONE;
        e = esp_wifi_get_ps(&ps);
        out[1].i = ps;
        break;
    }
    case BR_CMD_WIFI_SET_PROTOCOL:
        e = in[0].i > 1 ? ESP_ERR_INVALID_ARG : esp_wifi_set_protocol((wifi_interface_t)in[0].i, (uint8_t)in[1].i);
        break;
    case BR_CMD_WIFI_GET_PROTOCOL: {
        uint8_t bitmap = 0;
        e = in[0].i > 1 ? ESP_ERR_INVALID_ARG : esp_wifi_get_protocol((wifi_interface_t)in[0].i, &bitmap);
        out[1].i = bitmap;
        break;
    }
    case BR_CMD_WIFI_SET_MAX_TX_POWER:
        e = esp_wifi_set_max_tx_power((int8_t)in[0].i);
        break;
    case BR_CMD_WIFI_GET_MAX_TX_POWER: {
        int8_t power = 0;
        e = esp_wifi_get_max_tx_power(&power);
        out[1].i = power;
        break;
    }
    case BR_CMD_WIFI_SET_IF_ACTIVE:
        e = in[0].i > 1 ? ESP_ERR_INVALID_ARG : set_if_active((uint8_t)in[0].i, in[1].i != 0);
        break;
    case BR_CMD_WIFI_GET_IF_ACTIVE: {
        wifi_mode_t mode = WIFI_MODE_NULL;
        e = in[0].i > 1 ? ESP_ERR_INVALID_ARG : esp_wifi_get_mode(&mode);
        out[1].i = s.wifi_started && ((unsigned)mode & (in[0].i == 0 ? 1u : 2u)) != 0;
        break;
    }
    case BR_CMD_WIFI_STA_CONNECT: {
        wifi_config_t cfg;
        memset(&cfg, 0, sizeof cfg);
        memcpy(cfg.sta.ssid, in[0].ptr, in[0].len);
        memcpy(cfg.sta.password, in[1].ptr, in[1].len);
        static const uint8_t any[6] = { 0 };
        if (memcmp(in[2].ptr, any, 6) != 0) {
            cfg.sta.bssid_set = true;
            memcpy(cfg.sta.bssid, in[2].ptr, 6);
        }
        e = esp_wifi_set_config(WIFI_IF_STA, &cfg);
        if (e == ESP_OK) e = esp_wifi_connect();
        if (e == ESP_OK) {
            s.sta_connect_requested = true;
            s.last_disconnect_reason = 0;
        }
        break;
    }
    case BR_CMD_WIFI_STA_DISCONNECT:
        e = esp_wifi_disconnect();
        s.sta_connect_requested = false;
        break;
    case BR_CMD_WIFI_STA_STATUS: {
        static wifi_ap_record_t ap;
        bool connected;
        memset(&ap, 0, sizeof ap);
        out[1].i = sta_status(&ap, &connected);
        out[2].i = connected ? ap.primary : 0;
        out[3].ptr = ap.bssid; out[3].len = 6;
        out[4].i = connected ? ap.rssi : 0;
        break;
    }
    case BR_CMD_WIFI_AP_CONFIG: {
        wifi_config_t cfg;
        memset(&cfg, 0, sizeof cfg);
        memcpy(cfg.ap.ssid, in[0].ptr, in[0].len);
        cfg.ap.ssid_len = (uint8_t)in[0].len;
        memcpy(cfg.ap.password, in[1].ptr, in[1].len);
        cfg.ap.channel = (uint8_t)in[2].i;
        cfg.ap.authmode = (wifi_auth_mode_t)in[3].i;
        cfg.ap.ssid_hidden = (uint8_t)in[4].i;
        cfg.ap.max_connection = (uint8_t)in[5].i;
        e = esp_wifi_set_config(WIFI_IF_AP, &cfg);
        break;
    }
    case BR_CMD_WIFI_CONFIG_ESPNOW_RATE:
        e = in[0].i > 1 ? ESP_ERR_INVALID_ARG
                        : br_config_espnow_rate((wifi_interface_t)in[0].i, (wifi_phy_rate_t)in[1].i);
        break;
    case BR_CMD_WIFI_SET_COUNTRY_CODE: {
        /* Two characters, as esp_wifi_set_country_code reads them; the driver checks the code. */
        char cc[3] = { 0 };
        if (in[0].len != 2) {
            e = ESP_ERR_INVALID_ARG;
            break;
        }
        memcpy(cc, in[0].ptr, 2);
        e = esp_wifi_set_country_code(cc, in[1].i != 0);
        break;
    }
    case BR_CMD_WIFI_GET_COUNTRY_CODE: {
        static char cc[3];   /* outlives this call: the response is encoded after the switch */
        memset(cc, 0, sizeof cc);
        e = esp_wifi_get_country_code(cc);
        out[1].ptr = (const uint8_t *)cc;
        out[1].len = (uint16_t)(cc[0] == 0 ? 0 : cc[1] == 0 ? 1 : 2);
        break;
    }
    default:
        e = ESP_ERR_NOT_SUPPORTED;
        break;
    }
    out[0].i = e;
    br_core_respond(slot, code, out);
}

bool br_dispatch_wifi_event(uint8_t event, uint8_t channel, uint16_t reason)
{
    if (event == 2) s.last_disconnect_reason = reason;
    br_value_t v[3];
    memset(v, 0, sizeof v);
    v[0].i = event;
    v[1].i = channel;
    v[2].i = reason;
    return br_core_emit_event(BR_EVT_WIFI_EVENT, v);
}

void br_dispatch_poll(void)
{
    const br_port_t *p = br_core_port();
    uint64_t now = p->now_us(p->ctx);
    if (s.baud_pending != 0 && !br_core_tx_pending()) {
        /* The response went out at the old rate; switch now and wait for the host to speak. */
        s.baud_previous = s.baud_now;
        if (p->set_baud(p->ctx, s.baud_pending) == ESP_OK) {
            s.baud_probation = true;
            s.baud_switched_us = now;
            s.baud_now = s.baud_pending;
        }
        s.baud_pending = 0;
    }
    if (s.baud_probation) {
        if (br_state.last_valid_rx_us > s.baud_switched_us) {
            s.baud_probation = false;
        } else if (now - s.baud_switched_us >= BAUD_REVERT_US) {
            if (p->set_baud(p->ctx, s.baud_previous) == ESP_OK) s.baud_now = s.baud_previous;
            s.baud_probation = false;
        }
    }
}

int64_t br_dispatch_next_deadline_us(void)
{
    if (s.baud_pending != 0) return 0;
    if (s.baud_probation) return (int64_t)(s.baud_switched_us + BAUD_REVERT_US);
    return -1;
}



