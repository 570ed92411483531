/* esp_wifi_* and the MAC address functions of the emulation. */
#include "emu_int.h"

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
    emu_default_ap_config(&s_wifi.conf[WIFI_IF_AP].ap, s_wifi.mac[WIFI_IF_AP]);
    int enc = config->espnow_max_encrypt_num;
    s_wifi.espnow_max_encrypt = enc < 0 ? 0 : enc > 17 ? 17 : enc;
    emu_state_changed();
    return ESP_OK;
}

esp_err_t esp_wifi_deinit(void)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (s_wifi.started) return ESP_ERR_WIFI_NOT_STOPPED;   /* IDF wifi_init.c */
    emu_espnow_reset();                                      /* UNVERIFIED: ESP-NOW goes with the driver */
    memset(&s_wifi, 0, sizeof s_wifi);
    emu_state_changed();
    return ESP_OK;
}

esp_err_t esp_wifi_set_mode(wifi_mode_t mode)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if ((unsigned)mode >= WIFI_MODE_MAX) return ESP_ERR_INVALID_ARG;
    if (mode == WIFI_MODE_NAN) return ESP_ERR_NOT_SUPPORTED;   /* NAN not emulated (needs CONFIG_ESP_WIFI_NAN_ENABLE) */
    wifi_mode_t old = s_wifi.mode;
    if (s_wifi.started && emu_mode_has(old, WIFI_IF_STA) && !emu_mode_has(mode, WIFI_IF_STA)) {
        emu_connect_end(WIFI_REASON_ASSOC_LEAVE);
        emu_event_push(WIFI_EVENT_STA_STOP);
    }
    if (s_wifi.started && emu_mode_has(old, WIFI_IF_AP) && !emu_mode_has(mode, WIFI_IF_AP)) emu_event_push(WIFI_EVENT_AP_STOP);
    s_wifi.mode = mode;
    if (s_wifi.started && !emu_mode_has(old, WIFI_IF_STA) && emu_mode_has(mode, WIFI_IF_STA)) emu_event_push(WIFI_EVENT_STA_START);
    if (s_wifi.started && !emu_mode_has(old, WIFI_IF_AP) && emu_mode_has(mode, WIFI_IF_AP)) {
        emu_event_push(WIFI_EVENT_AP_START);
        emu_reset_home_channel();
    }
    emu_state_changed();
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
    emu_reset_home_channel();                               /* not reported: the radio was off */
    s_wifi.started = true;
    if (emu_mode_has(s_wifi.mode, WIFI_IF_STA)) emu_event_push(WIFI_EVENT_STA_START);
    if (emu_mode_has(s_wifi.mode, WIFI_IF_AP)) emu_event_push(WIFI_EVENT_AP_START);
    emu_state_changed();
    return ESP_OK;
}

esp_err_t esp_wifi_stop(void)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!s_wifi.started) return ESP_OK;
    emu_connect_end(WIFI_REASON_ASSOC_LEAVE);
    if (emu_mode_has(s_wifi.mode, WIFI_IF_STA)) emu_event_push(WIFI_EVENT_STA_STOP);
    if (emu_mode_has(s_wifi.mode, WIFI_IF_AP)) emu_event_push(WIFI_EVENT_AP_STOP);
    s_wifi.started = false;
    emu_state_changed();
    return ESP_OK;
}

esp_err_t esp_wifi_connect(void)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!s_wifi.started) return ESP_ERR_WIFI_NOT_STARTED;
    if (!emu_mode_has(s_wifi.mode, WIFI_IF_STA)) return ESP_ERR_WIFI_MODE;
    if (s_wifi.conf[WIFI_IF_STA].sta.ssid[0] == 0) return ESP_ERR_WIFI_SSID;
    /* No access points exist in the simulated air: after a scan's worth of time
     * the attempt ends with STA_DISCONNECTED, reason NO_AP_FOUND (201). */
    if (s_wifi.sta_connected) emu_connect_end(WIFI_REASON_ASSOC_LEAVE);   /* reconnect: leave the current AP first */
    if (s_sim.med_fd >= 0) {
        /* The medium knows the scene's APs and answers with CONNECT_RESULT. */
        if (!s_wifi.sta_connecting) {
            const wifi_sta_config_t *sta = &s_wifi.conf[WIFI_IF_STA].sta;
            sim_med_msg_t m = { .type = SIM_MED_CONNECT, .bssid_set = sta->bssid_set };
            m.ssid_len = (uint8_t)emu_bounded_len(sta->ssid, sizeof sta->ssid);
            memcpy(m.ssid, sta->ssid, m.ssid_len);
            m.pass_len = (uint8_t)emu_bounded_len(sta->password, sizeof sta->password);
            memcpy(m.pass, sta->password, m.pass_len);
            memcpy(m.bssid, sta->bssid, 6);
            s_wifi.sta_connecting = true;
            s_wifi.connect_deadline_us = UINT64_MAX;
            emu_med_send(&m);
        }
        return ESP_OK;
    }
    if (!s_wifi.sta_connecting) {
        s_wifi.sta_connecting = true;
        s_wifi.connect_deadline_us = emu_now_us() + s_sim.cfg.connect_fail_us;
    }
    return ESP_OK;
}

esp_err_t esp_wifi_disconnect(void)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!s_wifi.started) return ESP_ERR_WIFI_NOT_STARTED;
    emu_connect_end(WIFI_REASON_ASSOC_LEAVE);
    return ESP_OK;
}

esp_err_t esp_wifi_sta_get_ap_info(wifi_ap_record_t *ap_info)
{
    if (ap_info == NULL) return ESP_ERR_INVALID_ARG;
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!emu_if_active(WIFI_IF_STA)) return ESP_ERR_WIFI_CONN;
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
    if (!emu_valid_if(ifx) || !emu_mode_has(s_wifi.mode, ifx)) return ESP_ERR_WIFI_IF;   /* mode check UNVERIFIED */
    if (!emu_proto_valid(protocol_bitmap)) return ESP_ERR_INVALID_ARG;
    s_wifi.proto[ifx] = protocol_bitmap;
    emu_state_changed();
    return ESP_OK;
}

esp_err_t esp_wifi_get_protocol(wifi_interface_t ifx, uint8_t *protocol_bitmap)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!emu_valid_if(ifx) || !emu_mode_has(s_wifi.mode, ifx)) return ESP_ERR_WIFI_IF;
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
    if (!emu_chan_ok(primary)) return ESP_ERR_INVALID_ARG;
    if ((unsigned)second > WIFI_SECOND_CHAN_BELOW) return ESP_ERR_INVALID_ARG;
    if (second == WIFI_SECOND_CHAN_ABOVE && primary + 4 > emu_chan_max()) return ESP_ERR_INVALID_ARG;
    if (second == WIFI_SECOND_CHAN_BELOW && primary < emu_chan_min() + 4) return ESP_ERR_INVALID_ARG;
    /* ESP-IDF refuses while the STA is connecting or connected: esp_wifi.h, "should not be
     * called when STA is scanning or connecting to an external AP"; the driver logs "STA is
     * scanning or connecting, or AP has connected with external STAs, cannot set channel" and
     * returns ESP_FAIL (espressif/esp-idf#4706). The home channel stays the AP's. */
    if (s_wifi.sta_connecting || s_wifi.sta_connected) return ESP_FAIL;
    emu_set_home_channel(primary, second);
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
    if (!emu_chan_ok(s_wifi.channel)) emu_set_home_channel(emu_chan_min(), WIFI_SECOND_CHAN_NONE);
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
    if (!emu_valid_if(ifx)) return ESP_ERR_WIFI_IF;
    if (mac == NULL) return ESP_ERR_INVALID_ARG;
    if (emu_is_multicast(mac)) return ESP_ERR_WIFI_MAC;                         /* IDF doc: bit 0 of byte 0 must be 0 */
    if (emu_if_active(ifx)) return ESP_ERR_WIFI_MODE;                           /* "only when the interface is disabled"; code UNVERIFIED */
    wifi_interface_t other = ifx == WIFI_IF_STA ? WIFI_IF_AP : WIFI_IF_STA;
    /* esp_wifi.h (IDF 5.x), esp_wifi_set_mac: "Above mentioned interfaces have different MAC
     * addresses, do not set them to be the same", and ESP_ERR_WIFI_MAC is its "invalid mac
     * address" result. */
    if (memcmp(mac, s_wifi.mac[other], 6) == 0) return ESP_ERR_WIFI_MAC;
    memcpy(s_wifi.mac[ifx], mac, 6);
    emu_state_changed();
    return ESP_OK;
}

esp_err_t esp_wifi_get_mac(wifi_interface_t ifx, uint8_t mac[6])
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!emu_valid_if(ifx)) return ESP_ERR_WIFI_IF;
    if (mac == NULL) return ESP_ERR_INVALID_ARG;
    memcpy(mac, s_wifi.mac[ifx], 6);
    return ESP_OK;
}


esp_err_t esp_wifi_set_config(wifi_interface_t interface, wifi_config_t *conf)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (conf == NULL) return ESP_ERR_INVALID_ARG;
    if (!emu_valid_if(interface)) return ESP_ERR_WIFI_IF;
    if (!emu_mode_has(s_wifi.mode, interface)) return ESP_ERR_WIFI_MODE;
    if (interface == WIFI_IF_AP) {
        const wifi_ap_config_t *ap = &conf->ap;
        if (ap->ssid_len > sizeof ap->ssid) return ESP_ERR_WIFI_SSID;
        if ((unsigned)ap->authmode >= WIFI_AUTH_MAX || ap->authmode == WIFI_AUTH_WEP ||
            ap->authmode == WIFI_AUTH_WAPI_PSK || ap->authmode == WIFI_AUTH_OWE)
            return ESP_ERR_INVALID_ARG;                 /* IDF doc: not supported in soft-AP mode */
        if (ap->authmode != WIFI_AUTH_OPEN && emu_bounded_len(ap->password, sizeof ap->password) < 8)
            return ESP_ERR_WIFI_PASSWORD;
        if (!emu_chan_ok(ap->channel)) return ESP_ERR_INVALID_ARG;
        if (ap->max_connection > ESP_WIFI_MAX_CONN_NUM) return ESP_ERR_INVALID_ARG;
        s_wifi.conf[WIFI_IF_AP].ap = *ap;
        if (emu_if_active(WIFI_IF_AP)) emu_reset_home_channel();
    } else {
        if (conf->sta.channel > 14) return ESP_ERR_INVALID_ARG;
        s_wifi.conf[WIFI_IF_STA].sta = conf->sta;
    }
    return ESP_OK;
}

esp_err_t esp_wifi_get_config(wifi_interface_t interface, wifi_config_t *conf)
{
    if (!s_wifi.inited) return ESP_ERR_WIFI_NOT_INIT;
    if (!emu_valid_if(interface)) return ESP_ERR_WIFI_IF;
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
    if (!emu_valid_if(ifx) || !emu_mode_has(s_wifi.mode, ifx)) return ESP_ERR_WIFI_IF;   /* doc: interface enabled */
    if (!emu_rate_valid((unsigned)rate)) return ESP_ERR_INVALID_ARG;
    /* LR rates need WIFI_PROTOCOL_LR (users see "not supported" otherwise). */
    if (emu_rate_proto((unsigned)rate) == WIFI_PROTOCOL_LR && !(s_wifi.proto[ifx] & WIFI_PROTOCOL_LR))
        return ESP_ERR_NOT_SUPPORTED;
    s_wifi.espnow_rate[ifx] = rate;
    return ESP_OK;
}
