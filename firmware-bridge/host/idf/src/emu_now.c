/* esp_now_* of the emulation. */
#include "emu_int.h"

/* The driver's built-in PMK is not documented; any fixed value shared by all
 * emulated devices behaves the same. */
static const uint8_t k_default_pmk[ESP_NOW_KEY_LEN] = { 'P', 'M', 'K', '1', '2', '3', '4', '5',
                                                        '6', '7', '8', '9', '0', '1', '2', '3' };

/* --------------------------------------------------------------- ESP-NOW */

esp_err_t esp_now_init(void)
{
    if (!s_wifi.inited) return ESP_ERR_ESPNOW_INTERNAL;        /* UNVERIFIED: Wi-Fi must be initialised */
    if (s_now.inited) return ESP_OK;
    emu_espnow_reset();
    s_now.inited = true;
    memcpy(s_now.pmk, k_default_pmk, ESP_NOW_KEY_LEN);
    s_now.wake_window = 0xffff;                               /* doc: default is the maximum */
    return ESP_OK;
}

esp_err_t esp_now_deinit(void)
{
    /* Peers, callbacks and queued frames go; queued frames get no callback. */
    emu_espnow_reset();
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
    if (!emu_valid_if(peer->ifidx)) return ESP_ERR_ESPNOW_ARG;
    if (peer->channel > 14) return ESP_ERR_ESPNOW_ARG;        /* doc: channel range 0..14 */
    if (peer->encrypt && emu_is_multicast(peer->peer_addr)) return ESP_ERR_ESPNOW_ARG;   /* no encrypted multicast */
    return ESP_OK;
}

esp_err_t esp_now_add_peer(const esp_now_peer_info_t *peer)
{
    if (!s_now.inited) return ESP_ERR_ESPNOW_NOT_INIT;
    esp_err_t e = peer_args_ok(peer);
    if (e != ESP_OK) return e;
    if (emu_peer_find(peer->peer_addr) != NULL) return ESP_ERR_ESPNOW_EXIST;
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
    peer_t *p = emu_peer_find(peer_addr);
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
    peer_t *p = emu_peer_find(peer->peer_addr);
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
    if (!emu_rate_valid((unsigned)config->rate) || (unsigned)config->phymode > WIFI_PHY_MODE_VHT20 ||
        config->phymode == WIFI_PHY_MODE_11A || config->phymode == WIFI_PHY_MODE_HE20 ||
        config->phymode == WIFI_PHY_MODE_VHT20 || config->ersu || config->dcm)
        return ESP_ERR_ESPNOW_ARG;
    peer_t *p = emu_peer_find(peer_addr);
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
    peer_t *p = emu_peer_find(peer_addr);
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
        if (!emu_is_multicast(s_now.peers[i].info.peer_addr)) {   /* unicast peers only */
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
    return emu_peer_find(peer_addr) != NULL;
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
    if (!emu_if_active(p->info.ifidx)) return ESP_ERR_ESPNOW_IF;
    if (p->info.channel != 0 && p->info.channel != s_wifi.channel) return ESP_ERR_ESPNOW_CHAN;
    return ESP_OK;
}

static void enqueue(const peer_t *p, const uint8_t *data, size_t len)
{
    txq_t *t = emu_txq_at(s_tx.count++);
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
        const peer_t *p = emu_peer_find(peer_addr);
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
        if (emu_is_multicast(p->info.peer_addr)) continue;
        esp_err_t e = peer_sendable(p);
        if (e != ESP_OK) return e;
        n++;
    }
    if (n == 0) return ESP_ERR_ESPNOW_NOT_FOUND;
    if (s_tx.count + n > SIM_EMU_TX_QUEUE_LEN) return ESP_ERR_ESPNOW_NO_MEM;
    for (int i = 0; i < s_now.npeers; i++) {
        if (!emu_is_multicast(s_now.peers[i].info.peer_addr)) enqueue(&s_now.peers[i], data, len);
    }
    return ESP_OK;
}
