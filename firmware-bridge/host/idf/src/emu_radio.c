/* The emulated radio: the TX queue (one frame at a time, ACK or timeout) and
 * reception from the minimal air or the coordinator's medium. */
#include "emu_int.h"

/* ------------------------------------------------------------ TX queue */

void emu_txq_clear(void)
{
    s_tx.head = 0;
    s_tx.count = 0;
}

txq_t *emu_txq_at(unsigned i) { return &s_tx.q[(s_tx.head + i) % SIM_EMU_TX_QUEUE_LEN]; }

/* Pops the head and reports its status (callback read at completion time). */
static void txq_complete(esp_now_send_status_t st)
{
    txq_t *t = emu_txq_at(0);
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
        .rate = emu_effective_rate(t->ifx, t->rate),
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
        emu_state_changed();
        sim_med_msg_t m = { .type = SIM_MED_TX, .seq = f.seq, .ifx = (uint8_t)t->ifx, .rate = f.rate, .flags = f.flags,
                            .channel = f.channel, .key_tag = f.key_tag, .len = f.len, .payload = f.payload };
        memcpy(m.src, f.src, 6);
        memcpy(m.dst, f.dst, 6);
        emu_med_send(&m);
        return;
    }
    uint8_t buf[SIM_AIR_MAX_DGRAM];
    size_t n = sim_air_encode(&f, buf, sizeof buf);
    if (n > 0 && s_sim.air.fd >= 0) sim_air_transmit(&s_sim.air, buf, n);
}

void emu_process_tx(void)
{
    while (s_tx.count > 0) {
        txq_t *t = emu_txq_at(0);
        if (t->state == TXQ_QUEUED) {
            if (!s_now.inited) {            /* deinit raced the queue: drop */
                emu_txq_clear();
                return;
            }
            if (!emu_if_active(t->ifx)) {
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
            if (emu_is_multicast(t->dst)) {
                txq_complete(ESP_NOW_SEND_SUCCESS);
                continue;
            }
            t->state = TXQ_IN_FLIGHT;
            t->deadline_us = emu_now_us() + s_sim.cfg.ack_timeout_us;
            return;
        }
        if (t->state == TXQ_ACKED) {
            if (s_sim.med_fd >= 0) {
                bool ok = t->done_status == 0;
                if (!emu_is_multicast(t->dst)) {
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
        if (emu_now_us() >= t->deadline_us) {
            s_sim.cnt.tx_no_ack++;
            txq_complete(ESP_NOW_SEND_FAIL);
            continue;
        }
        return;
    }
}

/* ------------------------------------------------------------ reception */

peer_t *emu_peer_find(const uint8_t *mac)
{
    for (int i = 0; i < s_now.npeers; i++) {
        if (memcmp(s_now.peers[i].info.peer_addr, mac, 6) == 0) return &s_now.peers[i];
    }
    return NULL;
}

static void handle_ack(const sim_air_frame_t *f)
{
    if (s_tx.count > 0) {
        txq_t *t = emu_txq_at(0);
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
    bool mcast = emu_is_multicast(f->dst);
    int rx_if = -1;
    if (!mcast) {
        for (int i = 0; i < IF_COUNT; i++) {
            if (emu_if_active((wifi_interface_t)i) && memcmp(f->dst, s_wifi.mac[i], 6) == 0) rx_if = i;
        }
        if (rx_if < 0) {
            s_sim.cnt.rx_not_for_us++;
            return;
        }
    }
    uint8_t need = emu_rate_proto(f->rate);
    bool phy_ok = false;
    for (int i = 0; i < IF_COUNT; i++) {
        if ((rx_if < 0 || rx_if == i) && emu_if_active((wifi_interface_t)i) && (s_wifi.proto[i] & need)) phy_ok = true;
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
    peer_t *p = emu_peer_find(f->src);
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

void emu_drain_air(void)
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
        emu_connect_end((uint8_t)m->reason);
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
    emu_set_home_channel(m->channel, WIFI_SECOND_CHAN_NONE);
    event_t *e = emu_event_push(WIFI_EVENT_STA_CONNECTED);
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
    emu_state_changed();
}

void emu_drain_medium(void)
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
            txq_t *t = s_tx.count > 0 ? emu_txq_at(0) : NULL;
            if (t != NULL && t->state == TXQ_IN_FLIGHT && t->seq == m.seq) {
                t->state = TXQ_ACKED;
                t->done_status = m.status;
                if (m.status == 0 && !emu_is_multicast(t->dst)) s_sim.cnt.acks_received++;
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
