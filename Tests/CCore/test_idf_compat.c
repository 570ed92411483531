/* Tests of the core's boundary with ESP-IDF's tasks and releases, against the
 * ESP-IDF emulation: log lines from before br_core_init, Wi-Fi events handed from
 * the event-loop task to the core task, and WIFI_CONFIG_ESPNOW_RATE on an ESP-IDF
 * without esp_wifi_config_espnow_rate (6.0). Built with BR_HAVE_CONFIG_ESPNOW_RATE=0
 * and esp_now_set_peer_rate_config wrapped (-Wl,--wrap) to see the calls the core makes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge_core.h"
#include "bridge_frame.h"
#include "bridge_msg.h"
#include "esp_now.h"
#include "esp_wifi.h"
#include "sim_emu.h"

static int g_pass, g_fail;
#define CHECK(cond) do { if (cond) g_pass++; else { g_fail++; printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); if (_a == _b) g_pass++; else { g_fail++; \
    printf("FAIL %s:%d: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, #a, #b, _a, _b); } } while (0)

/* ---------- the observed rate calls ---------- */
esp_err_t __real_esp_now_set_peer_rate_config(const uint8_t *peer_addr, esp_now_rate_config_t *config);
static struct { uint8_t mac[6]; esp_now_rate_config_t rc; } g_rate_calls[16];
static int g_rate_count;
esp_err_t __wrap_esp_now_set_peer_rate_config(const uint8_t *peer_addr, esp_now_rate_config_t *config)
{
    if (g_rate_count < 16 && peer_addr != NULL && config != NULL) {
        memcpy(g_rate_calls[g_rate_count].mac, peer_addr, 6);
        g_rate_calls[g_rate_count].rc = *config;
    }
    g_rate_count++;
    return __real_esp_now_set_peer_rate_config(peer_addr, config);
}

/* ---------- a fake port ---------- */
static uint8_t g_out[1 << 16];
static size_t g_out_len, g_out_read;
static uint64_t g_now = 1000000;
static int g_notified;

static size_t port_write(void *ctx, const uint8_t *d, size_t n)
{
    (void)ctx;
    if (n > sizeof g_out - g_out_len) n = sizeof g_out - g_out_len;
    memcpy(g_out + g_out_len, d, n);
    g_out_len += n;
    return n;
}
static uint64_t port_now(void *ctx) { (void)ctx; return g_now; }
static uint64_t emu_clock(void) { return g_now; }
static void port_restart(void *ctx) { (void)ctx; }
static void port_notify(void *ctx) { (void)ctx; g_notified++; }
static const br_port_t g_port = { port_write, port_now, port_restart, NULL, port_notify, NULL, NULL };

static void pump(void)
{
    for (int i = 0; i < 10; i++) {
        sim_emu_poll();
        br_core_poll();
    }
}

typedef struct {
    br_frame_t f;
    uint8_t buf[BR_MAX_ENCODED];
    br_value_t v[BR_MAX_FIELDS];
} out_frame_t;

static bool next_out(out_frame_t *o)
{
    size_t start = g_out_read;
    while (g_out_read < g_out_len) {
        if (g_out[g_out_read++] != 0) continue;
        size_t len = g_out_read - 1 - start;
        if (len == 0) { start = g_out_read; continue; }
        memcpy(o->buf, g_out + start, len);
        if (br_frame_decode(o->buf, len, o->buf, sizeof o->buf, &o->f) != BR_OK) return false;
        const br_msg_t *m = br_msg_find(o->f.kind, o->f.code);
        memset(o->v, 0, sizeof o->v);
        return m != NULL && br_msg_decode(m, o->f.body, o->f.body_len, o->v) == BR_OK;
    }
    g_out_read = start;
    return false;
}

/* The next event with this code (others skipped), or false. */
static bool next_event(uint8_t code, out_frame_t *o)
{
    while (next_out(o)) {
        if (o->f.kind == BR_KIND_EVENT && o->f.code == code) return true;
    }
    return false;
}

static int32_t call(uint16_t id, uint8_t code, const br_value_t *v, out_frame_t *o)
{
    static uint8_t body[BR_MAX_BODY];
    static uint8_t wire[BR_MAX_ENCODED];
    const br_msg_t *m = br_msg_find(BR_KIND_REQUEST, code);
    br_result_t res = BR_OK;
    size_t n = m ? br_msg_encode(m, v, body, sizeof body, &res) : 0;
    if (res != BR_OK) { printf("encode failed for code 0x%02x\n", code); exit(2); }
    br_frame_t f = { BR_PROTO_VERSION, BR_KIND_REQUEST, id, code, body, (uint16_t)n };
    size_t w = br_frame_encode(&f, wire, sizeof wire);
    g_out_read = g_out_len;
    br_core_feed(wire, w);
    pump();
    while (next_out(o)) {
        if (o->f.kind == BR_KIND_RESPONSE && o->f.id == id) return (int32_t)o->v[0].i;
    }
    return INT32_MIN;
}

static br_value_t vint(int64_t i) { br_value_t v = { i, NULL, 0, 1 }; return v; }
static br_value_t vmac(const uint8_t *m) { br_value_t v = { 0, m, 6, 1 }; return v; }
static br_value_t vbytes(const void *p, size_t n) { br_value_t v = { 0, p, (uint16_t)n, 1 }; return v; }

static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t PEER1[6] = { 0x24, 0x0a, 0xc4, 0x00, 0x00, 0x01 };
static const uint8_t PEER2[6] = { 0x24, 0x0a, 0xc4, 0x00, 0x00, 0x02 };
static const uint8_t ZKEY[16] = { 0 };
static char g_air_dir[128];

static void boot(void)
{
    sim_emu_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.air_dir = g_air_dir;
    static const uint8_t sta[6] = { 0x02, 0xee, 0x00, 0x00, 0x00, 0x01 };
    static const uint8_t ap[6] = { 0x02, 0xee, 0x00, 0x00, 0x00, 0x02 };
    memcpy(cfg.sta_mac, sta, 6);
    memcpy(cfg.ap_mac, ap, 6);
    sim_emu_set_clock(emu_clock);
    if (sim_emu_configure(&cfg) != 0) { printf("sim_emu_configure failed\n"); exit(2); }
    wifi_init_config_t wcfg = WIFI_INIT_CONFIG_DEFAULT();
    esp_wifi_init(&wcfg);
    br_identity_t id = { 0, 1, 0, 0x8000, 0, 3, 0, 1, 7, "v5.4.2-test", BR_CAP_SIMULATED };
    br_core_init(&g_port, &id);
    g_out_len = g_out_read = 0;
    br_core_emit_hello();
    pump();
}

static uint32_t stat(int index)
{
    uint32_t c[BR_STATS_COUNT];
    br_core_stats(c);
    return c[index];
}

/* On the chip the log redirect is installed before anything else, so ESP-IDF's boot
 * lines (esp_wifi_init's among them) reach br_core_log before br_core_init. */
static void test_log_lines_before_init_are_kept(void)
{
    static const char line1[] = "I (310) wifi:wifi driver task: 3fca0b4c, prio:23, stack:6656, core=0";
    static const char line2[] = "I (372) wifi_init: rx ba win: 6";
    br_core_log(3, line1, strlen(line1));
    br_core_log(3, line2, strlen(line2));
    boot();
    out_frame_t o;
    CHECK(next_event(BR_EVT_HELLO, &o));
    CHECK(next_event(BR_EVT_LOG, &o));
    CHECK_EQ(o.v[2].len, strlen(line1));
    CHECK(o.v[2].ptr != NULL && memcmp(o.v[2].ptr, line1, strlen(line1)) == 0);
    CHECK(next_event(BR_EVT_LOG, &o));
    CHECK_EQ(o.v[2].len, strlen(line2));
    CHECK(o.v[2].ptr != NULL && memcmp(o.v[2].ptr, line2, strlen(line2)) == 0);
    CHECK_EQ(stat(16), 0);   /* log_dropped */

    /* A later init (the simulator's restart) starts with an empty log, as a reset does. */
    br_core_log(3, line1, strlen(line1));
    boot();
    CHECK(next_event(BR_EVT_HELLO, &o));
    CHECK(!next_event(BR_EVT_LOG, &o));
}

/* br_core_wifi_event runs in the event-loop task: it must not touch the link queue
 * (the core task's); the event appears only when the core task polls. */
static void test_wifi_event_is_emitted_by_poll_only(void)
{
    boot();
    g_out_read = g_out_len;
    size_t before = g_out_len;
    g_notified = 0;
    br_core_wifi_event(2, 6, 201);
    CHECK(!br_core_tx_pending());
    CHECK_EQ(g_out_len, before);
    CHECK_EQ(g_notified, 1);             /* the core task is woken */
    br_core_poll();
    out_frame_t o;
    CHECK(next_event(BR_EVT_WIFI_EVENT, &o));
    CHECK_EQ(o.v[0].i, 2);
    CHECK_EQ(o.v[1].i, 6);
    CHECK_EQ(o.v[2].i, 201);
    CHECK(!next_event(BR_EVT_WIFI_EVENT, &o));
}

/* More events than the hand-off ring holds between two polls: the first ones arrive in
 * order, every other one is counted as a dropped event (and reported), none vanishes. */
static void test_wifi_event_overflow_is_counted(void)
{
    boot();
    g_out_read = g_out_len;
    br_value_t clear[1] = { vint(1) };
    out_frame_t o;
    CHECK_EQ(call(1, BR_CMD_STATS, clear, &o), ESP_OK);
    g_out_read = g_out_len;
    enum { N = 40 };
    for (int i = 0; i < N; i++) br_core_wifi_event(3, (uint8_t)(i + 1), 0);
    pump();
    int got = 0;
    while (next_event(BR_EVT_WIFI_EVENT, &o)) {
        CHECK_EQ(o.v[1].i, got + 1);
        got++;
    }
    uint32_t dropped = stat(15);          /* events_dropped */
    CHECK(got >= 8);
    CHECK(dropped > 0);
    CHECK_EQ((uint32_t)got + dropped, N);
}

static int32_t config_rate(uint16_t id, int ifidx, int rate)
{
    out_frame_t o;
    br_value_t v[2] = { vint(ifidx), vint(rate) };
    g_rate_count = 0;
    return call(id, BR_CMD_WIFI_CONFIG_ESPNOW_RATE, v, &o);
}

/* Without esp_wifi_config_espnow_rate (ESP-IDF 6.0) the rate goes to every peer of the
 * interface through esp_now_set_peer_rate_config, with the PHY mode of the rate. */
static void test_config_espnow_rate_without_the_idf_call(void)
{
    boot();
    out_frame_t o;
    CHECK(next_event(BR_EVT_HELLO, &o));
    CHECK((o.v[10].i & BR_CAP_PEER_RATE_CONFIG) != 0);   /* the emulated IDF has the per-peer API */

    CHECK_EQ(config_rate(1, 0, WIFI_PHY_RATE_6M), ESP_ERR_ESPNOW_NOT_INIT);
    CHECK_EQ(g_rate_count, 0);
    br_value_t mode[1] = { vint(WIFI_MODE_APSTA) };
    CHECK_EQ(call(2, BR_CMD_WIFI_SET_MODE, mode, &o), ESP_OK);
    CHECK_EQ(call(3, BR_CMD_WIFI_START, NULL, &o), ESP_OK);
    CHECK_EQ(call(4, BR_CMD_ESPNOW_INIT, NULL, &o), ESP_OK);
    CHECK_EQ(config_rate(5, 0, WIFI_PHY_RATE_6M), ESP_OK);   /* no peers: nothing to set */
    CHECK_EQ(g_rate_count, 0);

    const uint8_t *macs[3] = { PEER1, PEER2, BCAST };
    const int ifs[3] = { 0, 1, 0 };
    for (int i = 0; i < 3; i++) {
        br_value_t p[5] = { vmac(macs[i]), vbytes(ZKEY, 16), vint(0), vint(ifs[i]), vint(0) };
        CHECK_EQ(call((uint16_t)(10 + i), BR_CMD_ESPNOW_ADD_PEER, p, &o), ESP_OK);
    }

    CHECK_EQ(config_rate(20, 0, WIFI_PHY_RATE_6M), ESP_OK);
    CHECK_EQ(g_rate_count, 2);            /* PEER1 and the broadcast peer, not PEER2 (AP) */
    bool saw_peer1 = false, saw_bcast = false;
    for (int i = 0; i < 2 && i < g_rate_count; i++) {
        saw_peer1 |= memcmp(g_rate_calls[i].mac, PEER1, 6) == 0;
        saw_bcast |= memcmp(g_rate_calls[i].mac, BCAST, 6) == 0;
        CHECK_EQ(g_rate_calls[i].rc.phymode, WIFI_PHY_MODE_11G);
        CHECK_EQ(g_rate_calls[i].rc.rate, WIFI_PHY_RATE_6M);
        CHECK(!g_rate_calls[i].rc.ersu && !g_rate_calls[i].rc.dcm);
    }
    CHECK(saw_peer1 && saw_bcast);

    CHECK_EQ(config_rate(21, 1, WIFI_PHY_RATE_MCS3_SGI), ESP_OK);
    CHECK_EQ(g_rate_count, 1);
    CHECK(memcmp(g_rate_calls[0].mac, PEER2, 6) == 0);
    CHECK_EQ(g_rate_calls[0].rc.phymode, WIFI_PHY_MODE_HT20);
    CHECK_EQ(g_rate_calls[0].rc.rate, WIFI_PHY_RATE_MCS3_SGI);

    CHECK_EQ(config_rate(22, 1, WIFI_PHY_RATE_11M_S), ESP_OK);
    CHECK_EQ(g_rate_count, 1);
    CHECK_EQ(g_rate_calls[0].rc.phymode, WIFI_PHY_MODE_11B);

    CHECK_EQ(config_rate(23, 0, 0x04), ESP_ERR_INVALID_ARG);   /* no such wifi_phy_rate_t */
    CHECK_EQ(g_rate_count, 0);
    CHECK_EQ(config_rate(24, 0, 0x3F), ESP_ERR_INVALID_ARG);
    CHECK_EQ(g_rate_count, 0);
    CHECK_EQ(config_rate(25, 2, WIFI_PHY_RATE_6M), ESP_ERR_INVALID_ARG);
    CHECK_EQ(g_rate_count, 0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    snprintf(g_air_dir, sizeof g_air_dir, "/tmp/bridge-test-air-compat-%d", (int)getpid());
    test_log_lines_before_init_are_kept();   /* first: nothing may have initialised the core */
    test_wifi_event_is_emitted_by_poll_only();
    test_wifi_event_overflow_is_counted();
    test_config_espnow_rate_without_the_idf_call();
    sim_emu_shutdown();
    rmdir(g_air_dir);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
