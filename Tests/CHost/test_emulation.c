/* Tests of the ESP-IDF Wi-Fi / ESP-NOW emulation (firmware-bridge/host/idf).
 *
 * Calls the esp_* functions directly. Air behaviour is checked with a "fake
 * radio" (a second sim_air socket in the same air directory, driven by hand)
 * and with a forked second emulated dongle.
 *
 * Build (from the repository root; SRC = every .c in firmware-bridge/host/idf/src):
 *   gcc -std=c11 -Wall -Wextra -Werror -fsanitize=address,undefined
 *       -Ifirmware-bridge/host/idf/include Tests/CHost/test_emulation.c SRC -o test_emulation
 * Last line of output: "N passed, M failed"; exit status 1 on any failure. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "esp_err.h"
#include "esp_idf_version.h"
#include "esp_mac.h"
#include "esp_now.h"
#include "esp_system.h"
#include "esp_wifi.h"
#include "sim_air.h"
#include "sim_emu.h"
#include "sim_medium.h"

static int s_pass, s_fail;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) s_pass++;                                                           \
        else {                                                                        \
            s_fail++;                                                                 \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                    \
        }                                                                             \
    } while (0)

#define CHECK_ERR(expr, want)                                                         \
    do {                                                                              \
        esp_err_t got_ = (expr);                                                      \
        esp_err_t want_ = (want);                                                     \
        if (got_ == want_) s_pass++;                                                  \
        else {                                                                        \
            s_fail++;                                                                 \
            printf("FAIL %s:%d: %s = %s (0x%x), want %s (0x%x)\n", __FILE__, __LINE__, \
                   #expr, esp_err_to_name(got_), (unsigned)got_, esp_err_to_name(want_), \
                   (unsigned)want_);                                                  \
        }                                                                             \
    } while (0)

/* ------------------------------------------------------------ fixtures */

static const uint8_t MAC_A[6] = { 0x24, 0x6f, 0x28, 0x00, 0x00, 0x0a };     /* device under test, STA */
static const uint8_t MAC_A_AP[6] = { 0x24, 0x6f, 0x28, 0x00, 0x00, 0x0b };
static const uint8_t MAC_F[6] = { 0x24, 0x6f, 0x28, 0x00, 0x00, 0xf0 };     /* fake radio */
static const uint8_t MAC_B[6] = { 0x24, 0x6f, 0x28, 0x00, 0x00, 0xb0 };     /* forked dongle */
static const uint8_t MAC_X[6] = { 0x24, 0x6f, 0x28, 0x00, 0x00, 0x77 };     /* nobody */
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t LMK1[16] = "lmk-one-16bytes";
static const uint8_t LMK2[16] = "lmk-two-16bytes";
static const uint8_t PMK2[16] = "pmk-two-16bytes";

static char s_air_dir[256];
static uint64_t s_fake_now = 1000000;
static uint64_t fake_clock(void) { return s_fake_now; }

/* Send callback log. */
static struct {
    int n;
    uint8_t mac[64][6];
    esp_now_send_status_t st[64];
} s_sent;

static void on_send(const uint8_t *mac, esp_now_send_status_t st)
{
    if (s_sent.n < 64) {
        memcpy(s_sent.mac[s_sent.n], mac, 6);
        s_sent.st[s_sent.n] = st;
    }
    s_sent.n++;
}

/* Receive callback log (last packet). */
static struct {
    int n;
    uint8_t src[6], dst[6];
    uint8_t data[1500];
    int len;
    wifi_pkt_rx_ctrl_t rx;
} s_recv;

static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    s_recv.n++;
    memcpy(s_recv.src, info->src_addr, 6);
    memcpy(s_recv.dst, info->des_addr, 6);
    s_recv.len = len;
    if (len > 0 && len <= (int)sizeof s_recv.data) memcpy(s_recv.data, data, (size_t)len);
    s_recv.rx = *info->rx_ctrl;
}

static void reset_logs(void)
{
    memset(&s_sent, 0, sizeof s_sent);
    memset(&s_recv, 0, sizeof s_recv);
}

static sim_emu_config_t base_config(const uint8_t sta[6], const uint8_t ap[6])
{
    sim_emu_config_t c = { .air_dir = s_air_dir, .ack_timeout_us = 5000 };
    memcpy(c.sta_mac, sta, 6);
    memcpy(c.ap_mac, ap, 6);
    return c;
}

/* Wi-Fi up in STA mode with ESP-NOW and both callbacks. */
static void bring_up(void)
{
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    CHECK_ERR(esp_wifi_init(&cfg), ESP_OK);
    CHECK_ERR(esp_wifi_set_mode(WIFI_MODE_STA), ESP_OK);
    CHECK_ERR(esp_wifi_start(), ESP_OK);
    CHECK_ERR(esp_now_init(), ESP_OK);
    CHECK_ERR(esp_now_register_send_cb(on_send), ESP_OK);
    CHECK_ERR(esp_now_register_recv_cb(on_recv), ESP_OK);
}

static esp_now_peer_info_t peer(const uint8_t mac[6], uint8_t channel, wifi_interface_t ifx, bool enc,
                                const uint8_t *lmk)
{
    esp_now_peer_info_t p;
    memset(&p, 0, sizeof p);
    memcpy(p.peer_addr, mac, 6);
    p.channel = channel;
    p.ifidx = ifx;
    p.encrypt = enc;
    if (lmk) memcpy(p.lmk, lmk, 16);
    return p;
}

/* Fake radio helpers. */
static int fake_recv(sim_air_t *f, sim_air_frame_t *out, uint8_t *buf, size_t cap, sim_air_from_t *from)
{
    int n = sim_air_receive(f, buf, cap, from);
    if (n <= 0) return n;
    return sim_air_decode(buf, (size_t)n, out) ? n : -1;
}

static int fake_drain(sim_air_t *f)
{
    uint8_t buf[SIM_AIR_MAX_DGRAM];
    int n = 0;
    while (sim_air_receive(f, buf, sizeof buf, NULL) > 0) n++;
    return n;
}

static void fake_send_data(sim_air_t *f, const uint8_t src[6], const uint8_t dst[6], uint8_t channel, uint8_t rate,
                           bool enc, uint64_t tag, const char *text, uint32_t seq)
{
    sim_air_frame_t fr = { .type = SIM_AIR_TYPE_DATA, .channel = channel, .rate = rate,
                           .flags = enc ? SIM_AIR_FLAG_ENCRYPTED : 0, .len = (uint16_t)strlen(text),
                           .seq = seq, .key_tag = tag, .payload = (const uint8_t *)text };
    memcpy(fr.src, src, 6);
    memcpy(fr.dst, dst, 6);
    uint8_t buf[SIM_AIR_MAX_DGRAM];
    size_t n = sim_air_encode(&fr, buf, sizeof buf);
    CHECK(n == SIM_AIR_HDR_LEN + strlen(text));
    CHECK(sim_air_transmit(f, buf, n) >= 1);
}

/* Reads an ACK for seq from the fake radio's socket (false if none queued). */
static bool fake_got_ack(sim_air_t *f, uint32_t seq)
{
    uint8_t buf[SIM_AIR_MAX_DGRAM];
    sim_air_frame_t fr;
    bool got = false;
    while (fake_recv(f, &fr, buf, sizeof buf, NULL) > 0) {
        if (fr.type == SIM_AIR_TYPE_ACK && fr.seq == seq && memcmp(fr.dst, MAC_F, 6) == 0) got = true;
    }
    return got;
}

/* ------------------------------------------------------------ tests */

static void test_err_names(void)
{
    CHECK(strcmp(esp_err_to_name(ESP_ERR_ESPNOW_NOT_FOUND), "ESP_ERR_ESPNOW_NOT_FOUND") == 0);
    CHECK(strcmp(esp_err_to_name(ESP_ERR_WIFI_NOT_INIT), "ESP_ERR_WIFI_NOT_INIT") == 0);
    CHECK(strcmp(esp_err_to_name(0x12345), "ERROR") == 0);
    CHECK(ESP_ERR_WIFI_NOT_INIT == 0x3001 && ESP_ERR_WIFI_NOT_CONNECT == 0x300F && ESP_ERR_WIFI_MAC == 0x3009);
    CHECK(ESP_ERR_ESPNOW_NOT_INIT == 0x3065 && ESP_ERR_ESPNOW_CHAN == 0x306D && ESP_ERR_ESPNOW_EXIST == 0x306B);
    CHECK(ESP_IDF_VERSION == ESP_IDF_VERSION_VAL(5, 4, 2));
    CHECK(WIFI_PHY_RATE_MCS0_SGI == 0x18 && WIFI_PHY_RATE_MCS7_SGI == 0x1F && WIFI_PHY_RATE_LORA_250K == 0x29);
    CHECK(WIFI_EVENT_STA_DISCONNECTED == 5 && WIFI_EVENT_HOME_CHANNEL_CHANGE == 43);
    char buf[64];
    CHECK(strcmp(esp_err_to_name_r(0x3066, buf, sizeof buf), "ESP_ERR_ESPNOW_ARG") == 0);
}

static void test_not_initialised(void)
{
    sim_emu_config_t c = base_config(MAC_A, MAC_A_AP);
    CHECK(sim_emu_configure(&c) == 0);
    wifi_mode_t m;
    uint8_t ch;
    wifi_second_chan_t sc;
    uint8_t mac[6];
    CHECK_ERR(esp_wifi_set_mode(WIFI_MODE_STA), ESP_ERR_WIFI_NOT_INIT);
    CHECK_ERR(esp_wifi_get_mode(&m), ESP_ERR_WIFI_NOT_INIT);
    CHECK_ERR(esp_wifi_start(), ESP_ERR_WIFI_NOT_INIT);
    CHECK_ERR(esp_wifi_stop(), ESP_ERR_WIFI_NOT_INIT);
    CHECK_ERR(esp_wifi_deinit(), ESP_ERR_WIFI_NOT_INIT);
    CHECK_ERR(esp_wifi_set_channel(1, WIFI_SECOND_CHAN_NONE), ESP_ERR_WIFI_NOT_INIT);
    CHECK_ERR(esp_wifi_get_channel(&ch, &sc), ESP_ERR_WIFI_NOT_INIT);
    CHECK_ERR(esp_wifi_get_mac(WIFI_IF_STA, mac), ESP_ERR_WIFI_NOT_INIT);
    CHECK_ERR(esp_now_init(), ESP_ERR_ESPNOW_INTERNAL);
    CHECK_ERR(esp_read_mac(mac, ESP_MAC_WIFI_STA), ESP_OK);
    CHECK(memcmp(mac, MAC_A, 6) == 0);
    CHECK_ERR(esp_read_mac(mac, ESP_MAC_WIFI_SOFTAP), ESP_OK);
    CHECK(memcmp(mac, MAC_A_AP, 6) == 0);
    CHECK_ERR(esp_read_mac(mac, ESP_MAC_BT), ESP_OK);
    CHECK(mac[5] == MAC_A[5] + 2);
    CHECK_ERR(esp_read_mac(NULL, ESP_MAC_WIFI_STA), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_read_mac(mac, ESP_MAC_IEEE802154), ESP_ERR_INVALID_ARG);

    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    CHECK(cfg.espnow_max_encrypt_num == 7 && cfg.magic == WIFI_INIT_CONFIG_MAGIC);
    CHECK_ERR(esp_wifi_init(NULL), ESP_ERR_INVALID_ARG);
    wifi_init_config_t bad = cfg;
    bad.magic = 0;
    CHECK_ERR(esp_wifi_init(&bad), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_init(&cfg), ESP_OK);
    CHECK_ERR(esp_wifi_init(&cfg), ESP_OK);          /* second init is a no-op */
}

static void test_wifi_rules(void)
{
    sim_emu_config_t c = base_config(MAC_A, MAC_A_AP);
    CHECK(sim_emu_configure(&c) == 0);
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    CHECK_ERR(esp_wifi_init(&cfg), ESP_OK);
    wifi_mode_t m = WIFI_MODE_MAX;
    CHECK_ERR(esp_wifi_get_mode(&m), ESP_OK);
    CHECK(m == WIFI_MODE_STA);
    CHECK_ERR(esp_wifi_get_mode(NULL), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_mode(WIFI_MODE_MAX), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_mode(WIFI_MODE_NAN), ESP_ERR_NOT_SUPPORTED);
    CHECK_ERR(esp_wifi_set_storage(WIFI_STORAGE_RAM), ESP_OK);
    CHECK_ERR(esp_wifi_set_storage((wifi_storage_t)7), ESP_ERR_INVALID_ARG);

    /* Not started. */
    int8_t pw;
    CHECK_ERR(esp_wifi_set_channel(6, WIFI_SECOND_CHAN_NONE), ESP_ERR_WIFI_NOT_STARTED);
    CHECK_ERR(esp_wifi_get_max_tx_power(&pw), ESP_ERR_WIFI_NOT_STARTED);
    CHECK_ERR(esp_wifi_set_max_tx_power(60), ESP_ERR_WIFI_NOT_STARTED);
    CHECK_ERR(esp_wifi_connect(), ESP_ERR_WIFI_NOT_STARTED);
    CHECK_ERR(esp_wifi_disconnect(), ESP_ERR_WIFI_NOT_STARTED);

    /* MAC rules. */
    uint8_t mac[6];
    const uint8_t mc[6] = { 0x25, 1, 2, 3, 4, 5 };
    const uint8_t uc[6] = { 0x1a, 1, 2, 3, 4, 5 };
    const uint8_t uc2[6] = { 0x1a, 1, 2, 3, 4, 6 };
    CHECK_ERR(esp_wifi_set_mac(WIFI_IF_STA, mc), ESP_ERR_WIFI_MAC);
    CHECK_ERR(esp_wifi_set_mac((wifi_interface_t)5, uc), ESP_ERR_WIFI_IF);
    CHECK_ERR(esp_wifi_set_mac(WIFI_IF_STA, NULL), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_mac(WIFI_IF_STA, uc), ESP_OK);               /* stopped: allowed */
    CHECK_ERR(esp_wifi_set_mac(WIFI_IF_AP, uc), ESP_ERR_WIFI_MAC);      /* same as STA */
    CHECK_ERR(esp_wifi_get_mac(WIFI_IF_STA, mac), ESP_OK);
    CHECK(memcmp(mac, uc, 6) == 0);
    CHECK_ERR(esp_wifi_get_mac((wifi_interface_t)3, mac), ESP_ERR_WIFI_IF);
    CHECK_ERR(esp_wifi_get_mac(WIFI_IF_STA, NULL), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_read_mac(mac, ESP_MAC_WIFI_STA), ESP_OK);             /* eFuse MAC unchanged */
    CHECK(memcmp(mac, MAC_A, 6) == 0);

    CHECK_ERR(esp_wifi_start(), ESP_OK);
    CHECK_ERR(esp_wifi_start(), ESP_OK);
    CHECK_ERR(esp_wifi_set_mac(WIFI_IF_STA, uc2), ESP_ERR_WIFI_MODE);   /* STA active */
    CHECK_ERR(esp_wifi_set_mac(WIFI_IF_AP, uc2), ESP_OK);               /* AP not in mode: inactive */
    CHECK_ERR(esp_wifi_get_mac(WIFI_IF_AP, mac), ESP_OK);
    CHECK(memcmp(mac, uc2, 6) == 0);

    /* Channels: default country "01" = 1..11. */
    uint8_t ch = 0;
    wifi_second_chan_t sc;
    CHECK_ERR(esp_wifi_get_channel(&ch, &sc), ESP_OK);
    CHECK(ch == 1 && sc == WIFI_SECOND_CHAN_NONE);
    CHECK_ERR(esp_wifi_get_channel(NULL, &sc), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_channel(0, WIFI_SECOND_CHAN_NONE), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_channel(12, WIFI_SECOND_CHAN_NONE), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_channel(15, WIFI_SECOND_CHAN_NONE), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_channel(6, (wifi_second_chan_t)3), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_channel(11, WIFI_SECOND_CHAN_ABOVE), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_channel(2, WIFI_SECOND_CHAN_BELOW), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_channel(6, WIFI_SECOND_CHAN_ABOVE), ESP_OK);
    CHECK_ERR(esp_wifi_set_channel(11, WIFI_SECOND_CHAN_NONE), ESP_OK);
    CHECK_ERR(esp_wifi_get_channel(&ch, &sc), ESP_OK);
    CHECK(ch == 11);
    char cc[3];
    CHECK_ERR(esp_wifi_get_country_code(cc), ESP_OK);
    CHECK(strcmp(cc, "01") == 0);
    CHECK_ERR(esp_wifi_set_country_code("JP", false), ESP_OK);
    CHECK_ERR(esp_wifi_set_channel(14, WIFI_SECOND_CHAN_NONE), ESP_OK);
    CHECK_ERR(esp_wifi_set_country_code("US", false), ESP_OK);          /* 14 out of range: back to 1 */
    CHECK_ERR(esp_wifi_get_channel(&ch, &sc), ESP_OK);
    CHECK(ch == 1);

    /* Power save, protocol, TX power. */
    wifi_ps_type_t ps;
    CHECK_ERR(esp_wifi_get_ps(&ps), ESP_OK);
    CHECK(ps == WIFI_PS_MIN_MODEM);
    CHECK_ERR(esp_wifi_set_ps(WIFI_PS_NONE), ESP_OK);
    CHECK_ERR(esp_wifi_get_ps(&ps), ESP_OK);
    CHECK(ps == WIFI_PS_NONE);
    CHECK_ERR(esp_wifi_set_ps((wifi_ps_type_t)3), ESP_ERR_INVALID_ARG);
    uint8_t proto = 0;
    CHECK_ERR(esp_wifi_get_protocol(WIFI_IF_STA, &proto), ESP_OK);
    CHECK(proto == (WIFI_PROTOCOL_11B | WIFI_PROTOCOL_11G | WIFI_PROTOCOL_11N));
    CHECK_ERR(esp_wifi_set_protocol(WIFI_IF_STA, WIFI_PROTOCOL_11G), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_protocol(WIFI_IF_STA, WIFI_PROTOCOL_11B | WIFI_PROTOCOL_11AX), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_protocol(WIFI_IF_STA, 0), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_protocol(WIFI_IF_AP, WIFI_PROTOCOL_LR), ESP_ERR_WIFI_IF);   /* AP not in mode */
    CHECK_ERR(esp_wifi_set_protocol(WIFI_IF_STA, WIFI_PROTOCOL_LR), ESP_OK);
    CHECK_ERR(esp_wifi_set_protocol(WIFI_IF_STA, WIFI_PROTOCOL_11B | WIFI_PROTOCOL_11G | WIFI_PROTOCOL_LR), ESP_OK);
    CHECK_ERR(esp_wifi_get_protocol(WIFI_IF_STA, &proto), ESP_OK);
    CHECK(proto == (WIFI_PROTOCOL_11B | WIFI_PROTOCOL_11G | WIFI_PROTOCOL_LR));
    CHECK_ERR(esp_wifi_get_max_tx_power(&pw), ESP_OK);
    CHECK(pw == 80);
    CHECK_ERR(esp_wifi_set_max_tx_power(7), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_max_tx_power(85), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_max_tx_power(50), ESP_OK);
    CHECK_ERR(esp_wifi_get_max_tx_power(&pw), ESP_OK);
    CHECK(pw == 44);
    CHECK_ERR(esp_wifi_get_max_tx_power(NULL), ESP_ERR_INVALID_ARG);

    /* Config / connect. */
    wifi_config_t wc;
    memset(&wc, 0, sizeof wc);
    CHECK_ERR(esp_wifi_set_config(WIFI_IF_AP, &wc), ESP_ERR_WIFI_MODE);   /* AP not in mode */
    CHECK_ERR(esp_wifi_set_config(WIFI_IF_STA, NULL), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_set_config((wifi_interface_t)4, &wc), ESP_ERR_WIFI_IF);
    CHECK_ERR(esp_wifi_set_config(WIFI_IF_STA, &wc), ESP_OK);
    CHECK_ERR(esp_wifi_connect(), ESP_ERR_WIFI_SSID);                    /* empty SSID */
    wifi_ap_record_t rec;
    CHECK_ERR(esp_wifi_sta_get_ap_info(&rec), ESP_ERR_WIFI_NOT_CONNECT);
    CHECK_ERR(esp_wifi_sta_get_ap_info(NULL), ESP_ERR_INVALID_ARG);

    CHECK_ERR(esp_wifi_set_mode(WIFI_MODE_APSTA), ESP_OK);
    CHECK_ERR(esp_wifi_get_config(WIFI_IF_AP, &wc), ESP_OK);
    CHECK(wc.ap.channel == 1 && wc.ap.authmode == WIFI_AUTH_OPEN && wc.ap.ssid[0] == 'E');
    wc.ap.authmode = WIFI_AUTH_WPA2_PSK;
    memcpy(wc.ap.password, "short", 6);
    CHECK_ERR(esp_wifi_set_config(WIFI_IF_AP, &wc), ESP_ERR_WIFI_PASSWORD);
    memcpy(wc.ap.password, "longenough", 11);
    wc.ap.channel = 12;
    CHECK_ERR(esp_wifi_set_config(WIFI_IF_AP, &wc), ESP_ERR_INVALID_ARG); /* out of country range */
    wc.ap.channel = 6;
    wc.ap.authmode = WIFI_AUTH_WEP;
    CHECK_ERR(esp_wifi_set_config(WIFI_IF_AP, &wc), ESP_ERR_INVALID_ARG);
    wc.ap.authmode = WIFI_AUTH_WPA2_PSK;
    wc.ap.max_connection = 16;
    CHECK_ERR(esp_wifi_set_config(WIFI_IF_AP, &wc), ESP_ERR_INVALID_ARG);
    wc.ap.max_connection = 4;
    CHECK_ERR(esp_wifi_set_config(WIFI_IF_AP, &wc), ESP_OK);
    CHECK_ERR(esp_wifi_get_channel(&ch, &sc), ESP_OK);
    CHECK(ch == 6);                                                       /* soft-AP moved the radio */
    CHECK_ERR(esp_wifi_set_mac(WIFI_IF_AP, uc), ESP_ERR_WIFI_MODE);      /* AP now active */

    CHECK_ERR(esp_wifi_deinit(), ESP_ERR_WIFI_NOT_STOPPED);
    CHECK_ERR(esp_wifi_stop(), ESP_OK);
    CHECK_ERR(esp_wifi_deinit(), ESP_OK);
    CHECK_ERR(esp_wifi_get_mode(&m), ESP_ERR_WIFI_NOT_INIT);
}

static struct {
    int n;
    int32_t id[16];
    uint8_t reason;
    uint8_t new_chan;
} s_ev;

static void on_event(void *ctx, int32_t id, const void *data)
{
    (void)ctx;
    if (s_ev.n < 16) s_ev.id[s_ev.n] = id;
    s_ev.n++;
    if (id == WIFI_EVENT_STA_DISCONNECTED) s_ev.reason = ((const wifi_event_sta_disconnected_t *)data)->reason;
    if (id == WIFI_EVENT_HOME_CHANNEL_CHANGE) s_ev.new_chan = ((const wifi_event_home_channel_change_t *)data)->new_chan;
}

static void test_events(void)
{
    sim_emu_config_t c = base_config(MAC_A, MAC_A_AP);
    c.connect_fail_us = 2000000;
    CHECK(sim_emu_configure(&c) == 0);
    sim_emu_set_clock(fake_clock);
    sim_emu_set_event_handler(on_event, NULL);
    memset(&s_ev, 0, sizeof s_ev);
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    CHECK_ERR(esp_wifi_init(&cfg), ESP_OK);
    CHECK_ERR(esp_wifi_start(), ESP_OK);
    CHECK(s_ev.n == 0);                                   /* delivered from sim_emu_poll only */
    sim_emu_poll();
    CHECK(s_ev.n == 1 && s_ev.id[0] == WIFI_EVENT_STA_START);
    CHECK_ERR(esp_wifi_set_channel(9, WIFI_SECOND_CHAN_NONE), ESP_OK);
    sim_emu_poll();
    CHECK(s_ev.n == 2 && s_ev.id[1] == WIFI_EVENT_HOME_CHANNEL_CHANGE && s_ev.new_chan == 9);
    wifi_config_t wc;
    memset(&wc, 0, sizeof wc);
    memcpy(wc.sta.ssid, "nowhere", 8);
    CHECK_ERR(esp_wifi_set_config(WIFI_IF_STA, &wc), ESP_OK);
    CHECK_ERR(esp_wifi_connect(), ESP_OK);
    CHECK(sim_emu_next_timeout_ms() == 2000);
    /* As ESP-IDF: no channel change while the STA is connecting (or connected). */
    CHECK_ERR(esp_wifi_set_channel(3, WIFI_SECOND_CHAN_NONE), ESP_FAIL);
    uint8_t pch = 0;
    wifi_second_chan_t sch;
    CHECK_ERR(esp_wifi_get_channel(&pch, &sch), ESP_OK);
    CHECK(pch == 9);
    s_fake_now += 1999000;
    sim_emu_poll();
    CHECK(s_ev.n == 2);
    s_fake_now += 1000;
    sim_emu_poll();
    CHECK(s_ev.n == 3 && s_ev.id[2] == WIFI_EVENT_STA_DISCONNECTED && s_ev.reason == WIFI_REASON_NO_AP_FOUND);
    CHECK(sim_emu_next_timeout_ms() == -1);
    CHECK_ERR(esp_wifi_set_channel(3, WIFI_SECOND_CHAN_NONE), ESP_OK);   /* the attempt ended */
    sim_emu_poll();
    s_ev.n = 3;
    CHECK_ERR(esp_wifi_stop(), ESP_OK);
    sim_emu_poll();
    CHECK(s_ev.n == 4 && s_ev.id[3] == WIFI_EVENT_STA_STOP);
    sim_emu_set_event_handler(NULL, NULL);
    sim_emu_set_clock(NULL);
}

static void test_peers(void)
{
    sim_emu_config_t c = base_config(MAC_A, MAC_A_AP);
    CHECK(sim_emu_configure(&c) == 0);
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    CHECK_ERR(esp_wifi_init(&cfg), ESP_OK);
    esp_now_peer_info_t p = peer(MAC_F, 0, WIFI_IF_STA, false, NULL), got;
    esp_now_peer_num_t num;
    uint32_t ver = 0;

    /* Before esp_now_init. */
    CHECK_ERR(esp_now_add_peer(&p), ESP_ERR_ESPNOW_NOT_INIT);
    CHECK_ERR(esp_now_del_peer(MAC_F), ESP_ERR_ESPNOW_NOT_INIT);
    CHECK_ERR(esp_now_send(MAC_F, (const uint8_t *)"x", 1), ESP_ERR_ESPNOW_NOT_INIT);
    CHECK_ERR(esp_now_register_send_cb(on_send), ESP_ERR_ESPNOW_NOT_INIT);
    CHECK_ERR(esp_now_register_recv_cb(on_recv), ESP_ERR_ESPNOW_NOT_INIT);
    CHECK_ERR(esp_now_get_peer_num(&num), ESP_ERR_ESPNOW_NOT_INIT);
    CHECK_ERR(esp_now_set_pmk(PMK2), ESP_ERR_ESPNOW_NOT_INIT);
    CHECK_ERR(esp_now_fetch_peer(true, &got), ESP_ERR_ESPNOW_NOT_INIT);
    CHECK(!esp_now_is_peer_exist(MAC_F));
    CHECK_ERR(esp_now_get_version(&ver), ESP_OK);
    CHECK(ver == 2);
    CHECK_ERR(esp_now_get_version(NULL), ESP_ERR_ESPNOW_ARG);

    CHECK_ERR(esp_now_init(), ESP_OK);
    CHECK_ERR(esp_now_init(), ESP_OK);
    CHECK_ERR(esp_now_add_peer(NULL), ESP_ERR_ESPNOW_ARG);
    esp_now_peer_info_t bad = p;
    bad.ifidx = (wifi_interface_t)2;
    CHECK_ERR(esp_now_add_peer(&bad), ESP_ERR_ESPNOW_ARG);
    bad = p;
    bad.channel = 15;
    CHECK_ERR(esp_now_add_peer(&bad), ESP_ERR_ESPNOW_ARG);
    bad = peer(BCAST, 0, WIFI_IF_STA, true, LMK1);
    CHECK_ERR(esp_now_add_peer(&bad), ESP_ERR_ESPNOW_ARG);             /* encrypted broadcast */
    const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };
    bad = peer(mcast, 0, WIFI_IF_STA, true, LMK1);
    CHECK_ERR(esp_now_add_peer(&bad), ESP_ERR_ESPNOW_ARG);             /* encrypted multicast */

    esp_now_peer_info_t b = peer(BCAST, 0, WIFI_IF_STA, false, NULL);
    CHECK_ERR(esp_now_add_peer(&b), ESP_OK);
    p.priv = &p;
    CHECK_ERR(esp_now_add_peer(&p), ESP_OK);
    CHECK_ERR(esp_now_add_peer(&p), ESP_ERR_ESPNOW_EXIST);
    CHECK(esp_now_is_peer_exist(MAC_F) && esp_now_is_peer_exist(BCAST) && !esp_now_is_peer_exist(MAC_X));
    CHECK(!esp_now_is_peer_exist(NULL));
    CHECK_ERR(esp_now_get_peer(MAC_F, &got), ESP_OK);
    CHECK(memcmp(got.peer_addr, MAC_F, 6) == 0 && got.priv == &p && !got.encrypt);
    CHECK_ERR(esp_now_get_peer(MAC_X, &got), ESP_ERR_ESPNOW_NOT_FOUND);
    CHECK_ERR(esp_now_get_peer(NULL, &got), ESP_ERR_ESPNOW_ARG);
    CHECK_ERR(esp_now_del_peer(MAC_X), ESP_ERR_ESPNOW_NOT_FOUND);
    CHECK_ERR(esp_now_del_peer(NULL), ESP_ERR_ESPNOW_ARG);
    esp_now_peer_info_t x = peer(MAC_X, 0, WIFI_IF_STA, false, NULL);
    CHECK_ERR(esp_now_mod_peer(&x), ESP_ERR_ESPNOW_NOT_FOUND);

    /* Encrypted peers: the limit is espnow_max_encrypt_num (7). */
    uint8_t mac[6] = { 0x30, 0, 0, 0, 0, 0 };
    for (int i = 0; i < 7; i++) {
        mac[5] = (uint8_t)(i + 1);
        esp_now_peer_info_t e = peer(mac, 0, WIFI_IF_STA, true, LMK1);
        CHECK_ERR(esp_now_add_peer(&e), ESP_OK);
    }
    mac[5] = 8;
    esp_now_peer_info_t e8 = peer(mac, 0, WIFI_IF_STA, true, LMK1);
    CHECK_ERR(esp_now_add_peer(&e8), ESP_ERR_ESPNOW_FULL);
    e8.encrypt = false;
    CHECK_ERR(esp_now_add_peer(&e8), ESP_OK);
    e8.encrypt = true;
    CHECK_ERR(esp_now_mod_peer(&e8), ESP_ERR_ESPNOW_FULL);              /* would be the 8th encrypted */
    CHECK_ERR(esp_now_get_peer_num(&num), ESP_OK);
    CHECK(num.total_num == 10 && num.encrypt_num == 7);
    CHECK_ERR(esp_now_get_peer_num(NULL), ESP_ERR_ESPNOW_ARG);

    /* Total limit 20. */
    mac[0] = 0x32;
    for (int i = 0; i < 10; i++) {
        mac[5] = (uint8_t)(i + 1);
        esp_now_peer_info_t u = peer(mac, 0, WIFI_IF_STA, false, NULL);
        CHECK_ERR(esp_now_add_peer(&u), ESP_OK);
    }
    mac[5] = 99;
    esp_now_peer_info_t u21 = peer(mac, 0, WIFI_IF_STA, false, NULL);
    CHECK_ERR(esp_now_add_peer(&u21), ESP_ERR_ESPNOW_FULL);
    CHECK_ERR(esp_now_get_peer_num(&num), ESP_OK);
    CHECK(num.total_num == 20);

    /* fetch_peer: unicast only, in list order, NOT_FOUND at the end. */
    int fetched = 0;
    bool saw_bcast = false;
    esp_err_t r = esp_now_fetch_peer(true, &got);
    while (r == ESP_OK) {
        fetched++;
        if (memcmp(got.peer_addr, BCAST, 6) == 0) saw_bcast = true;
        r = esp_now_fetch_peer(false, &got);
    }
    CHECK(r == ESP_ERR_ESPNOW_NOT_FOUND);
    CHECK(fetched == 19 && !saw_bcast);
    CHECK_ERR(esp_now_fetch_peer(false, &got), ESP_ERR_ESPNOW_NOT_FOUND);
    CHECK_ERR(esp_now_fetch_peer(true, &got), ESP_OK);
    CHECK(memcmp(got.peer_addr, MAC_F, 6) == 0);
    CHECK_ERR(esp_now_fetch_peer(true, NULL), ESP_ERR_ESPNOW_ARG);

    /* Deleting frees room; deinit clears the list. */
    CHECK_ERR(esp_now_del_peer(MAC_F), ESP_OK);
    CHECK_ERR(esp_now_add_peer(&u21), ESP_OK);
    esp_now_rate_config_t rc = { .phymode = WIFI_PHY_MODE_11G, .rate = WIFI_PHY_RATE_54M };
    CHECK_ERR(esp_now_set_peer_rate_config(u21.peer_addr, &rc), ESP_OK);
    CHECK_ERR(esp_now_set_peer_rate_config(MAC_X, &rc), ESP_ERR_ESPNOW_NOT_FOUND);
    CHECK_ERR(esp_now_set_peer_rate_config(NULL, &rc), ESP_ERR_ESPNOW_ARG);
    rc.rate = (wifi_phy_rate_t)0x04;
    CHECK_ERR(esp_now_set_peer_rate_config(u21.peer_addr, &rc), ESP_ERR_ESPNOW_ARG);
    rc.rate = WIFI_PHY_RATE_1M_L;
    rc.phymode = WIFI_PHY_MODE_HE20;
    CHECK_ERR(esp_now_set_peer_rate_config(u21.peer_addr, &rc), ESP_ERR_ESPNOW_ARG);
    CHECK_ERR(esp_now_set_pmk(NULL), ESP_ERR_ESPNOW_ARG);
    CHECK_ERR(esp_now_set_pmk(PMK2), ESP_OK);
    CHECK_ERR(esp_now_set_wake_window(50), ESP_OK);
    CHECK_ERR(esp_now_deinit(), ESP_OK);
    CHECK(!esp_now_is_peer_exist(BCAST));
    CHECK_ERR(esp_now_set_wake_window(50), ESP_ERR_ESPNOW_NOT_INIT);
    CHECK_ERR(esp_now_init(), ESP_OK);
    CHECK_ERR(esp_now_get_peer_num(&num), ESP_OK);
    CHECK(num.total_num == 0 && num.encrypt_num == 0);
}

static void test_send_rules(void)
{
    sim_emu_config_t c = base_config(MAC_A, MAC_A_AP);
    c.air_dir = NULL;                                  /* nobody hears us */
    CHECK(sim_emu_configure(&c) == 0);
    sim_emu_set_clock(fake_clock);
    reset_logs();
    bring_up();
    const uint8_t d[4] = { 1, 2, 3, 4 };
    static uint8_t big[ESP_NOW_MAX_DATA_LEN_V2 + 1];

    CHECK_ERR(esp_now_send(BCAST, d, 4), ESP_ERR_ESPNOW_NOT_FOUND);     /* broadcast peer not added */
    CHECK_ERR(esp_now_send(NULL, d, 4), ESP_ERR_ESPNOW_NOT_FOUND);      /* no unicast peers */
    esp_now_peer_info_t b = peer(BCAST, 0, WIFI_IF_STA, false, NULL);
    CHECK_ERR(esp_now_add_peer(&b), ESP_OK);
    CHECK_ERR(esp_now_send(BCAST, d, 0), ESP_ERR_ESPNOW_ARG);
    CHECK_ERR(esp_now_send(BCAST, NULL, 4), ESP_ERR_ESPNOW_ARG);
    CHECK_ERR(esp_now_send(BCAST, big, sizeof big), ESP_ERR_ESPNOW_ARG);
    CHECK_ERR(esp_now_send(MAC_X, d, 4), ESP_ERR_ESPNOW_NOT_FOUND);
    CHECK_ERR(esp_now_send(NULL, d, 4), ESP_ERR_ESPNOW_NOT_FOUND);      /* broadcast peer does not count */
    CHECK_ERR(esp_now_send(BCAST, big, ESP_NOW_MAX_DATA_LEN_V2), ESP_OK);
    CHECK(s_sent.n == 0);                                                 /* never from inside esp_now_send */
    CHECK(sim_emu_next_timeout_ms() == 0);
    sim_emu_poll();
    CHECK(s_sent.n == 1 && s_sent.st[0] == ESP_NOW_SEND_SUCCESS && memcmp(s_sent.mac[0], BCAST, 6) == 0);
    CHECK(sim_emu_next_timeout_ms() == -1);

    /* Channel and interface of the peer, checked at send time. */
    esp_now_peer_info_t p6 = peer(MAC_F, 6, WIFI_IF_STA, false, NULL);
    CHECK_ERR(esp_now_add_peer(&p6), ESP_OK);                            /* channel need not match now */
    CHECK_ERR(esp_now_send(MAC_F, d, 4), ESP_ERR_ESPNOW_CHAN);
    CHECK_ERR(esp_now_send(NULL, d, 4), ESP_ERR_ESPNOW_CHAN);
    CHECK_ERR(esp_wifi_set_channel(6, WIFI_SECOND_CHAN_NONE), ESP_OK);
    CHECK_ERR(esp_now_send(MAC_F, d, 4), ESP_OK);
    esp_now_peer_info_t pap = peer(MAC_X, 0, WIFI_IF_AP, false, NULL);
    CHECK_ERR(esp_now_add_peer(&pap), ESP_OK);
    CHECK_ERR(esp_now_send(MAC_X, d, 4), ESP_ERR_ESPNOW_IF);             /* AP not active */
    CHECK_ERR(esp_now_send(NULL, d, 4), ESP_ERR_ESPNOW_IF);
    CHECK_ERR(esp_now_del_peer(MAC_X), ESP_OK);

    /* The unicast queued above: no ACK ever (no air) -> FAIL after the timeout. */
    reset_logs();
    sim_emu_poll();
    CHECK(s_sent.n == 0);
    CHECK(sim_emu_next_timeout_ms() == 5);
    s_fake_now += 4999;
    sim_emu_poll();
    CHECK(s_sent.n == 0);
    s_fake_now += 1;
    sim_emu_poll();
    CHECK(s_sent.n == 1 && s_sent.st[0] == ESP_NOW_SEND_FAIL && memcmp(s_sent.mac[0], MAC_F, 6) == 0);

    /* Queue full -> NO_MEM. */
    reset_logs();
    unsigned ok = 0;
    esp_err_t r;
    while ((r = esp_now_send(BCAST, d, 4)) == ESP_OK) ok++;
    CHECK(r == ESP_ERR_ESPNOW_NO_MEM && ok == SIM_EMU_TX_QUEUE_LEN);
    sim_emu_poll();
    CHECK(s_sent.n == (int)SIM_EMU_TX_QUEUE_LEN);

    /* Wi-Fi stopped: interface inactive -> IF; queued frames fail. */
    reset_logs();
    CHECK_ERR(esp_now_send(MAC_F, d, 4), ESP_OK);
    CHECK_ERR(esp_wifi_stop(), ESP_OK);
    CHECK_ERR(esp_now_send(MAC_F, d, 4), ESP_ERR_ESPNOW_IF);
    sim_emu_poll();
    CHECK(s_sent.n == 1 && s_sent.st[0] == ESP_NOW_SEND_FAIL);
    CHECK(sim_emu_counters()->tx_aborted == 1);

    /* Deinit drops queued frames without callbacks. */
    CHECK_ERR(esp_wifi_start(), ESP_OK);
    reset_logs();
    CHECK_ERR(esp_now_send(BCAST, d, 4), ESP_OK);
    CHECK_ERR(esp_now_deinit(), ESP_OK);
    sim_emu_poll();
    CHECK(s_sent.n == 0);
    CHECK_ERR(esp_now_send(BCAST, d, 4), ESP_ERR_ESPNOW_NOT_INIT);
    sim_emu_set_clock(NULL);
}

static void test_air_with_fake_radio(void)
{
    sim_emu_config_t c = base_config(MAC_A, MAC_A_AP);
    CHECK(sim_emu_configure(&c) == 0);
    sim_emu_set_clock(fake_clock);
    sim_air_t fake;
    CHECK(sim_air_open(&fake, s_air_dir, MAC_F) == 0);
    reset_logs();
    bring_up();
    sim_emu_clear_counters();
    uint8_t buf[SIM_AIR_MAX_DGRAM];
    sim_air_frame_t fr;
    sim_air_from_t from;

    /* Unicast to the fake radio: frame contents, then ACK -> SUCCESS. */
    esp_now_peer_info_t pf = peer(MAC_F, 0, WIFI_IF_STA, false, NULL);
    CHECK_ERR(esp_now_add_peer(&pf), ESP_OK);
    CHECK_ERR(esp_now_send(MAC_F, (const uint8_t *)"hello", 5), ESP_OK);
    CHECK(fake_recv(&fake, &fr, buf, sizeof buf, &from) == 0);           /* not on air before poll */
    sim_emu_poll();
    CHECK(fake_recv(&fake, &fr, buf, sizeof buf, &from) > 0);
    CHECK(fr.type == SIM_AIR_TYPE_DATA && fr.channel == 1 && fr.rate == WIFI_PHY_RATE_1M_L && fr.flags == 0);
    CHECK(memcmp(fr.src, MAC_A, 6) == 0 && memcmp(fr.dst, MAC_F, 6) == 0);
    CHECK(fr.len == 5 && memcmp(fr.payload, "hello", 5) == 0);
    CHECK(sim_emu_next_timeout_ms() == 5);
    sim_air_frame_t ack = { .type = SIM_AIR_TYPE_ACK, .channel = 1, .seq = fr.seq + 1 };
    memcpy(ack.src, MAC_F, 6);
    memcpy(ack.dst, MAC_A, 6);
    size_t n = sim_air_encode(&ack, buf, sizeof buf);
    CHECK(sim_air_send_to(&fake, &from, buf, n) == 0);                   /* wrong seq: ignored */
    sim_emu_poll();
    CHECK(s_sent.n == 0 && sim_emu_counters()->acks_stray == 1);
    ack.seq = fr.seq;
    n = sim_air_encode(&ack, buf, sizeof buf);
    CHECK(sim_air_send_to(&fake, &from, buf, n) == 0);
    sim_emu_poll();
    CHECK(s_sent.n == 1 && s_sent.st[0] == ESP_NOW_SEND_SUCCESS && memcmp(s_sent.mac[0], MAC_F, 6) == 0);

    /* Two unicasts: one at a time, callbacks in send order (no ACK, then ACK). */
    reset_logs();
    esp_now_peer_info_t px = peer(MAC_X, 0, WIFI_IF_STA, false, NULL);
    CHECK_ERR(esp_now_add_peer(&px), ESP_OK);
    CHECK_ERR(esp_now_send(MAC_X, (const uint8_t *)"1", 1), ESP_OK);
    CHECK_ERR(esp_now_send(MAC_F, (const uint8_t *)"2", 1), ESP_OK);
    sim_emu_poll();
    CHECK(fake_recv(&fake, &fr, buf, sizeof buf, &from) > 0 && memcmp(fr.dst, MAC_X, 6) == 0);
    CHECK(fake_recv(&fake, &fr, buf, sizeof buf, &from) == 0);           /* second waits its turn */
    s_fake_now += 5000;
    sim_emu_poll();
    CHECK(s_sent.n == 1 && s_sent.st[0] == ESP_NOW_SEND_FAIL && memcmp(s_sent.mac[0], MAC_X, 6) == 0);
    CHECK(fake_recv(&fake, &fr, buf, sizeof buf, &from) > 0 && memcmp(fr.dst, MAC_F, 6) == 0);
    ack.seq = fr.seq;
    n = sim_air_encode(&ack, buf, sizeof buf);
    sim_air_send_to(&fake, &from, buf, n);
    sim_emu_poll();
    CHECK(s_sent.n == 2 && s_sent.st[1] == ESP_NOW_SEND_SUCCESS && memcmp(s_sent.mac[1], MAC_F, 6) == 0);

    /* NULL peer: one frame and one callback per unicast peer, in list order. */
    reset_logs();
    esp_now_peer_info_t b = peer(BCAST, 0, WIFI_IF_STA, false, NULL);
    CHECK_ERR(esp_now_add_peer(&b), ESP_OK);
    CHECK_ERR(esp_now_send(NULL, (const uint8_t *)"all", 3), ESP_OK);
    for (int i = 0; i < 4; i++) {
        sim_emu_poll();
        while (fake_recv(&fake, &fr, buf, sizeof buf, &from) > 0) {
            if (memcmp(fr.dst, MAC_F, 6) == 0) {
                ack.seq = fr.seq;
                n = sim_air_encode(&ack, buf, sizeof buf);
                sim_air_send_to(&fake, &from, buf, n);
            }
        }
        s_fake_now += 5000;
    }
    CHECK(s_sent.n == 2);
    CHECK(memcmp(s_sent.mac[0], MAC_F, 6) == 0 && s_sent.st[0] == ESP_NOW_SEND_SUCCESS);
    CHECK(memcmp(s_sent.mac[1], MAC_X, 6) == 0 && s_sent.st[1] == ESP_NOW_SEND_FAIL);

    /* Broadcast: on air, SUCCESS without ACK. */
    reset_logs();
    CHECK_ERR(esp_now_send(BCAST, (const uint8_t *)"b", 1), ESP_OK);
    sim_emu_poll();
    CHECK(s_sent.n == 1 && s_sent.st[0] == ESP_NOW_SEND_SUCCESS);
    CHECK(fake_recv(&fake, &fr, buf, sizeof buf, &from) > 0 && memcmp(fr.dst, BCAST, 6) == 0);

    /* Per-peer rate and interface rate go into the frame. */
    esp_now_rate_config_t rc = { .phymode = WIFI_PHY_MODE_HT20, .rate = WIFI_PHY_RATE_MCS3_SGI };
    CHECK_ERR(esp_now_set_peer_rate_config(BCAST, &rc), ESP_OK);
    CHECK_ERR(esp_now_send(BCAST, (const uint8_t *)"r", 1), ESP_OK);
    sim_emu_poll();
    CHECK(fake_recv(&fake, &fr, buf, sizeof buf, &from) > 0 && fr.rate == WIFI_PHY_RATE_MCS3_SGI);
    CHECK_ERR(esp_wifi_config_espnow_rate(WIFI_IF_STA, WIFI_PHY_RATE_LORA_250K), ESP_ERR_NOT_SUPPORTED);
    CHECK_ERR(esp_wifi_config_espnow_rate(WIFI_IF_STA, (wifi_phy_rate_t)0x20), ESP_ERR_INVALID_ARG);
    CHECK_ERR(esp_wifi_config_espnow_rate(WIFI_IF_AP, WIFI_PHY_RATE_6M), ESP_ERR_WIFI_IF);
    CHECK_ERR(esp_wifi_config_espnow_rate(WIFI_IF_STA, WIFI_PHY_RATE_11M_L), ESP_OK);
    CHECK_ERR(esp_now_send(MAC_X, (const uint8_t *)"r", 1), ESP_OK);
    sim_emu_poll();
    CHECK(fake_recv(&fake, &fr, buf, sizeof buf, &from) > 0 && fr.rate == WIFI_PHY_RATE_11M_L);
    s_fake_now += 5000;
    sim_emu_poll();
    fake_drain(&fake);

    /* ---- reception ---- */
    reset_logs();
    s_fake_now = 5000000;
    fake_send_data(&fake, MAC_F, BCAST, 1, WIFI_PHY_RATE_2M_L, false, 0, "bc", 100);
    sim_emu_poll();
    CHECK(s_recv.n == 1 && s_recv.len == 2 && memcmp(s_recv.data, "bc", 2) == 0);
    CHECK(memcmp(s_recv.src, MAC_F, 6) == 0 && memcmp(s_recv.dst, BCAST, 6) == 0);
    CHECK(s_recv.rx.rssi == -40 && s_recv.rx.channel == 1 && s_recv.rx.sig_mode == 0 && s_recv.rx.rate == 1);
    CHECK(s_recv.rx.timestamp == (uint32_t)sim_emu_uptime_us() && s_recv.rx.noise_floor == -95);
    CHECK(s_recv.rx.sig_len == 2 + 43);
    CHECK(!fake_got_ack(&fake, 100));                                    /* no ACK for broadcast */

    fake_send_data(&fake, MAC_F, BCAST, 2, WIFI_PHY_RATE_1M_L, false, 0, "ch2", 101);
    sim_emu_poll();
    CHECK(s_recv.n == 1 && sim_emu_counters()->rx_other_channel == 1);   /* other channel: not heard */

    fake_send_data(&fake, MAC_F, MAC_A, 1, WIFI_PHY_RATE_MCS5_LGI, false, 0, "uni", 102);
    sim_emu_poll();
    CHECK(s_recv.n == 2 && memcmp(s_recv.dst, MAC_A, 6) == 0 && s_recv.rx.sig_mode == 1 && s_recv.rx.mcs == 5 &&
          s_recv.rx.sgi == 0);
    CHECK(fake_got_ack(&fake, 102));

    fake_send_data(&fake, MAC_F, MAC_X, 1, WIFI_PHY_RATE_1M_L, false, 0, "other", 103);
    sim_emu_poll();
    CHECK(s_recv.n == 2 && !fake_got_ack(&fake, 103));                   /* not for us: no ACK */

    fake_send_data(&fake, MAC_F, MAC_A_AP, 1, WIFI_PHY_RATE_1M_L, false, 0, "ap", 104);
    sim_emu_poll();
    CHECK(s_recv.n == 2 && !fake_got_ack(&fake, 104));                   /* AP inactive */

    fake_send_data(&fake, MAC_F, MAC_A, 1, WIFI_PHY_RATE_LORA_250K, false, 0, "lr", 105);
    sim_emu_poll();
    CHECK(s_recv.n == 2 && !fake_got_ack(&fake, 105));                   /* 11bgn radio cannot hear LR */
    CHECK(sim_emu_counters()->rx_phy_mismatch == 1);
    CHECK_ERR(esp_wifi_set_protocol(WIFI_IF_STA, WIFI_PROTOCOL_11B | WIFI_PROTOCOL_11G | WIFI_PROTOCOL_11N |
                                                     WIFI_PROTOCOL_LR), ESP_OK);
    fake_send_data(&fake, MAC_F, MAC_A, 1, WIFI_PHY_RATE_LORA_250K, false, 0, "lr", 106);
    sim_emu_poll();
    CHECK(s_recv.n == 3 && fake_got_ack(&fake, 106) && s_recv.rx.sig_mode == 2);

    /* Encryption: the receiver needs the sender as an encrypted peer, same LMK, same PMK. */
    uint8_t default_pmk[16] = { 'P', 'M', 'K', '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '1', '2', '3' };
    uint64_t tag1 = sim_air_key_tag(default_pmk, LMK1);
    fake_send_data(&fake, MAC_F, MAC_A, 1, WIFI_PHY_RATE_1M_L, true, tag1, "enc", 110);
    sim_emu_poll();
    CHECK(s_recv.n == 3 && fake_got_ack(&fake, 110));                    /* F is an unencrypted peer: dropped, ACKed */
    esp_now_peer_info_t pfe = peer(MAC_F, 0, WIFI_IF_STA, true, LMK1);
    CHECK_ERR(esp_now_mod_peer(&pfe), ESP_OK);
    fake_send_data(&fake, MAC_F, MAC_A, 1, WIFI_PHY_RATE_1M_L, true, tag1, "enc", 111);
    sim_emu_poll();
    CHECK(s_recv.n == 4 && memcmp(s_recv.data, "enc", 3) == 0 && fake_got_ack(&fake, 111));
    fake_send_data(&fake, MAC_F, MAC_A, 1, WIFI_PHY_RATE_1M_L, true, sim_air_key_tag(default_pmk, LMK2), "bad", 112);
    sim_emu_poll();
    CHECK(s_recv.n == 4 && fake_got_ack(&fake, 112));                    /* wrong LMK */
    fake_send_data(&fake, MAC_F, MAC_A, 1, WIFI_PHY_RATE_1M_L, false, 0, "plain", 113);
    sim_emu_poll();
    CHECK(s_recv.n == 4 && fake_got_ack(&fake, 113));                    /* plain unicast from encrypted peer */
    fake_send_data(&fake, MAC_F, BCAST, 1, WIFI_PHY_RATE_1M_L, false, 0, "pb", 114);
    sim_emu_poll();
    CHECK(s_recv.n == 5);                                                /* broadcast from encrypted peer: fine */
    CHECK_ERR(esp_now_set_pmk(PMK2), ESP_OK);
    fake_send_data(&fake, MAC_F, MAC_A, 1, WIFI_PHY_RATE_1M_L, true, tag1, "pmk", 115);
    sim_emu_poll();
    CHECK(s_recv.n == 5 && fake_got_ack(&fake, 115));                    /* PMK differs */
    fake_send_data(&fake, MAC_F, MAC_A, 1, WIFI_PHY_RATE_1M_L, true, sim_air_key_tag(PMK2, LMK1), "pmk2", 116);
    sim_emu_poll();
    CHECK(s_recv.n == 6 && memcmp(s_recv.data, "pmk2", 4) == 0);
    CHECK(sim_emu_counters()->rx_crypto_drop == 4);

    /* Our encrypted send carries the tag of our PMK and the peer's LMK. */
    fake_drain(&fake);
    CHECK_ERR(esp_now_send(MAC_F, (const uint8_t *)"e", 1), ESP_OK);
    sim_emu_poll();
    CHECK(fake_recv(&fake, &fr, buf, sizeof buf, &from) > 0 && fr.flags == SIM_AIR_FLAG_ENCRYPTED &&
          fr.key_tag == sim_air_key_tag(PMK2, LMK1));
    s_fake_now += 5000;
    sim_emu_poll();

    /* ESP-NOW off: unicast still ACKed by the MAC layer, not delivered. */
    CHECK_ERR(esp_now_deinit(), ESP_OK);
    fake_send_data(&fake, MAC_F, MAC_A, 1, WIFI_PHY_RATE_1M_L, false, 0, "off", 120);
    sim_emu_poll();
    CHECK(s_recv.n == 6 && fake_got_ack(&fake, 120) && sim_emu_counters()->rx_espnow_off == 1);

    /* Wi-Fi stopped: radio off, no ACK. */
    CHECK_ERR(esp_wifi_stop(), ESP_OK);
    fake_send_data(&fake, MAC_F, MAC_A, 1, WIFI_PHY_RATE_1M_L, false, 0, "off", 121);
    sim_emu_poll();
    CHECK(!fake_got_ack(&fake, 121) && sim_emu_counters()->rx_radio_off == 1);

    /* Soft-AP interface: frames to the AP MAC are heard once AP is active. */
    CHECK_ERR(esp_wifi_set_mode(WIFI_MODE_AP), ESP_OK);
    CHECK_ERR(esp_wifi_start(), ESP_OK);
    CHECK_ERR(esp_now_init(), ESP_OK);
    CHECK_ERR(esp_now_register_send_cb(on_send), ESP_OK);
    CHECK_ERR(esp_now_register_recv_cb(on_recv), ESP_OK);
    fake_send_data(&fake, MAC_F, MAC_A_AP, 1, WIFI_PHY_RATE_1M_L, false, 0, "toap", 122);
    fake_send_data(&fake, MAC_F, MAC_A, 1, WIFI_PHY_RATE_1M_L, false, 0, "tosta", 123);
    sim_emu_poll();
    CHECK(s_recv.n == 7 && memcmp(s_recv.dst, MAC_A_AP, 6) == 0);
    CHECK(fake_got_ack(&fake, 122));
    /* Sending through the AP interface uses the AP MAC. */
    esp_now_peer_info_t pap = peer(MAC_F, 0, WIFI_IF_AP, false, NULL);
    CHECK_ERR(esp_now_add_peer(&pap), ESP_OK);
    CHECK_ERR(esp_now_send(MAC_F, (const uint8_t *)"a", 1), ESP_OK);
    sim_emu_poll();
    CHECK(fake_recv(&fake, &fr, buf, sizeof buf, &from) > 0 && memcmp(fr.src, MAC_A_AP, 6) == 0);
    s_fake_now += 5000;
    sim_emu_poll();

    sim_air_close(&fake);
    sim_emu_set_clock(NULL);
}

/* ---- two emulated dongles in two processes ---- */

static int s_child_echoes;

static void child_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    /* Echo back to the sender (queued; the callback returns at once). */
    if (esp_now_send(info->src_addr, data, (size_t)len) == ESP_OK) s_child_echoes++;
}

static void loop_for(int ms, int (*done)(void))
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (done && done()) return;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= ms) return;
        struct pollfd pf = { .fd = sim_emu_air_fd(), .events = POLLIN };
        int to = sim_emu_next_timeout_ms();
        if (to < 0 || to > 20) to = 20;
        poll(&pf, 1, to);
        sim_emu_poll();
    }
}

/* The child runs until the parent closes this pipe (60 s at most, a hang guard only). */
static int s_quit_fd = -1;
static int child_quit(void)
{
    char c;
    struct pollfd pf = { .fd = s_quit_fd, .events = POLLIN };
    return poll(&pf, 1, 0) > 0 && read(s_quit_fd, &c, 1) <= 0;
}

static int child_main(int ready_fd)
{
    sim_emu_config_t c = base_config(MAC_B, (const uint8_t[6]){ 0x24, 0x6f, 0x28, 0, 0, 0xb1 });
    c.ack_timeout_us = 5000000;     /* as the parent's: see test_two_processes */
    if (sim_emu_configure(&c) != 0) return 10;
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    if (esp_wifi_init(&cfg) != ESP_OK || esp_wifi_start() != ESP_OK) return 11;
    if (esp_wifi_set_channel(3, WIFI_SECOND_CHAN_NONE) != ESP_OK) return 12;
    if (esp_now_init() != ESP_OK || esp_now_register_recv_cb(child_recv) != ESP_OK) return 13;
    esp_now_peer_info_t pa = peer(MAC_A, 0, WIFI_IF_STA, true, LMK1);
    if (esp_now_add_peer(&pa) != ESP_OK) return 14;
    if (write(ready_fd, "r", 1) != 1) return 15;
    close(ready_fd);
    loop_for(60000, child_quit);
    sim_emu_shutdown();
    return s_child_echoes == 5 ? 0 : 20 + s_child_echoes;
}

static int parent_echoed(void) { return s_recv.n >= 5 && s_sent.n >= 5; }
static int parent_done(void) { return s_recv.n >= 5 && s_sent.n >= 6; }
static int parent_gone_done(void) { return s_sent.n >= 7; }

static void test_two_processes(void)
{
    int pfd[2], qfd[2];
    CHECK(pipe(pfd) == 0);
    CHECK(pipe(qfd) == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        close(qfd[1]);
        s_quit_fd = qfd[0];
        _exit(child_main(pfd[1]));
    }
    close(pfd[1]);
    close(qfd[0]);
    char ch;
    CHECK(read(pfd[0], &ch, 1) == 1);
    close(pfd[0]);

    sim_emu_config_t c = base_config(MAC_A, MAC_A_AP);
    /* The ACK comes from another process, which a busy machine may not run for a
     * while: the deadline only has to end the wait for a peer that is gone. */
    c.ack_timeout_us = 5000000;
    CHECK(sim_emu_configure(&c) == 0);
    reset_logs();
    bring_up();
    CHECK_ERR(esp_wifi_set_channel(3, WIFI_SECOND_CHAN_NONE), ESP_OK);
    esp_now_peer_info_t pb = peer(MAC_B, 3, WIFI_IF_STA, true, LMK1);
    CHECK_ERR(esp_now_add_peer(&pb), ESP_OK);
    char msg[8];
    for (int i = 0; i < 5; i++) {
        snprintf(msg, sizeof msg, "m%d", i);
        CHECK_ERR(esp_now_send(MAC_B, (const uint8_t *)msg, strlen(msg)), ESP_OK);
    }
    loop_for(20000, parent_echoed);   /* a hang guard: returns as soon as all is in */
    /* 5 sends acked + 5 echoes received (encrypted both ways). */
    int ok = 0;
    for (int i = 0; i < s_sent.n && i < 64; i++) ok += s_sent.st[i] == ESP_NOW_SEND_SUCCESS;
    CHECK(s_sent.n == 5 && ok == 5);
    CHECK(s_recv.n == 5 && memcmp(s_recv.src, MAC_B, 6) == 0 && memcmp(s_recv.data, "m4", 2) == 0);
    CHECK(s_recv.rx.channel == 3);

    /* Wrong LMK: acked (SUCCESS) but the peer cannot decrypt, so no echo. */
    esp_now_peer_info_t pbad = peer(MAC_B, 3, WIFI_IF_STA, true, LMK2);
    CHECK_ERR(esp_now_mod_peer(&pbad), ESP_OK);
    CHECK_ERR(esp_now_send(MAC_B, (const uint8_t *)"x", 1), ESP_OK);
    loop_for(20000, parent_done);
    CHECK(s_sent.n == 6 && s_sent.st[5] == ESP_NOW_SEND_SUCCESS && s_recv.n == 5);
    close(qfd[1]);                   /* the child may stop now */

    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) printf("child exit status %d\n", WEXITSTATUS(status));

    /* The peer is gone: unicast fails after the ACK timeout. */
    CHECK_ERR(esp_now_send(MAC_B, (const uint8_t *)"y", 1), ESP_OK);
    loop_for(20000, parent_gone_done);
    CHECK(s_sent.n == 7 && s_sent.st[6] == ESP_NOW_SEND_FAIL);
}

static void test_air_module(void)
{
    /* Format round trip and rejects. */
    sim_air_frame_t f = { .type = SIM_AIR_TYPE_DATA, .channel = 11, .rate = 0x0b, .flags = 1, .tx_power = -4,
                          .len = 3, .seq = 0xA1B2C3D4u, .key_tag = 0x1122334455667788ull,
                          .payload = (const uint8_t *)"abc" };
    memcpy(f.src, MAC_A, 6);
    memcpy(f.dst, MAC_F, 6);
    uint8_t buf[64];
    size_t n = sim_air_encode(&f, buf, sizeof buf);
    CHECK(n == 35 && buf[0] == 1 && buf[1] == 1 && buf[2] == 11 && buf[6] == 3 && buf[7] == 0 && buf[8] == 0xD4);
    sim_air_frame_t g;
    CHECK(sim_air_decode(buf, n, &g));
    CHECK(g.seq == f.seq && g.key_tag == f.key_tag && g.tx_power == -4 && memcmp(g.payload, "abc", 3) == 0);
    CHECK(!sim_air_decode(buf, n - 1, &g));
    buf[0] = 2;
    CHECK(!sim_air_decode(buf, n, &g));
    CHECK(sim_air_encode(&f, buf, 34) == 0);

    /* Two radios in one directory; duplicate name refused; stale file replaced. */
    sim_air_t a, b, dup;
    CHECK(sim_air_open(&a, s_air_dir, MAC_X) == 0);
    CHECK(sim_air_open(&dup, s_air_dir, MAC_X) == -EADDRINUSE);
    CHECK(sim_air_open(&b, s_air_dir, MAC_F) == 0);
    n = sim_air_encode(&f, buf, sizeof buf);
    CHECK(sim_air_transmit(&a, buf, n) == 1);
    sim_air_from_t from;
    uint8_t rx[64];
    CHECK(sim_air_receive(&b, rx, sizeof rx, &from) == (int)n);
    CHECK(strcmp(from.path, a.path) == 0);
    CHECK(sim_air_receive(&a, rx, sizeof rx, NULL) == 0);                /* no echo to self */
    CHECK(sim_air_send_to(&b, &from, buf, n) == 0);
    CHECK(sim_air_receive(&a, rx, sizeof rx, NULL) == (int)n);
    int fd = b.fd;
    close(fd);                                                           /* dies without unlinking */
    b.fd = -1;
    CHECK(sim_air_transmit(&a, buf, n) == 0);                            /* stale socket removed */
    CHECK(access(b.path, F_OK) != 0);
    CHECK(sim_air_open(&b, s_air_dir, MAC_F) == 0);
    sim_air_close(&b);
    sim_air_close(&a);
    CHECK(access(a.path, F_OK) != 0);
}

/* Medium messages and the airtime model (docs/SIMULATOR.md "Calibration"). */
static void test_medium_codec_and_airtime(void)
{
    uint8_t buf[SIM_MED_MAX_MSG], payload[250];
    memset(payload, 0x5a, sizeof payload);
    sim_med_msg_t m = { .type = SIM_MED_RX, .seq = 0x01020304, .ifx = 1, .rate = 0x0c, .flags = 1, .rssi = -61,
                        .channel = 6, .key_tag = 0x1122334455667788ull, .len = 250, .payload = payload };
    memcpy(m.src, MAC_A, 6);
    memcpy(m.dst, MAC_F, 6);
    size_t n = sim_med_encode(&m, buf, sizeof buf);
    CHECK(n == 35 + 250);
    sim_med_msg_t d;
    CHECK(sim_med_decode(buf, n, &d));
    CHECK(d.seq == m.seq && d.ifx == 1 && d.rate == 0x0c && d.flags == 1 && d.rssi == -61 && d.channel == 6 &&
          d.key_tag == m.key_tag && d.len == 250 && !memcmp(d.src, MAC_A, 6) && !memcmp(d.dst, MAC_F, 6) &&
          !memcmp(d.payload, payload, 250));
    CHECK(!sim_med_decode(buf, n - 1, &d));                /* length disagrees with len */
    CHECK(sim_med_encode(&m, buf, 100) == 0);              /* no room */
    buf[0] = 99;
    CHECK(!sim_med_decode(buf, n, &d));                    /* unknown type */
    sim_med_msg_t c = { .type = SIM_MED_CONNECT, .ssid_len = 4, .pass_len = 11, .bssid_set = 0 };
    memcpy(c.ssid, "home", 4);
    memcpy(c.pass, "password123", 11);
    n = sim_med_encode(&c, buf, sizeof buf);
    CHECK(n == 106 && sim_med_decode(buf, n, &d) && d.ssid_len == 4 && !memcmp(d.pass, "password123", 11));
    buf[1] = 33;                                           /* SSID longer than 32 */
    CHECK(!sim_med_decode(buf, n, &d));
    /* PHY durations: 293-byte MPDU (250 + 43) at 1 Mbps long preamble = 192 + 2344 µs;
     * at 54 Mbps = 20 + 11 symbols * 4 + 6 = 70 µs; 14-byte ACK at 24 Mbps = 34 µs. */
    CHECK(sim_phy_us(0x00, 293) == 2536);
    CHECK(sim_phy_us(0x0C, 293) == 70);
    CHECK(sim_phy_us(0x09, 14) == 34);
    CHECK(sim_airtime_us(0x00, 250, false) == SIM_AIRTIME_ACCESS_US + 2536);
    CHECK(sim_airtime_us(0x0C, 250, true) == SIM_AIRTIME_ACCESS_US + 70 + 10 + 34);
    CHECK(sim_airtime_us(0x29, 250, false) > sim_airtime_us(0x2A, 250, false));   /* LR 250k slower than 500k */
    CHECK(sim_rate_known(0x1F) && !sim_rate_known(0x04) && !sim_rate_known(0x20) && sim_rate_known(0x29));
}

int main(void)
{
    snprintf(s_air_dir, sizeof s_air_dir, "/tmp/emu-test-air-XXXXXX");
    if (mkdtemp(s_air_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_err_names();
    test_air_module();
    test_not_initialised();
    test_wifi_rules();
    test_events();
    test_peers();
    test_send_rules();
    test_air_with_fake_radio();
    test_two_processes();
    test_medium_codec_and_airtime();
    sim_emu_shutdown();
    rmdir(s_air_dir);
    printf("%d passed, %d failed\n", s_pass, s_fail);
    return s_fail ? 1 : 0;
}
