/* Dispatcher and buffer tests of bridge_core, run against the ESP-IDF emulation
 * (firmware-bridge/host/idf): requests go in as wire bytes, responses and events
 * come out as wire bytes, exactly as on the serial link. Every error path the
 * firmware issue lists is asserted with its exact esp_err_t value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge_core.h"
#include "bridge_frame.h"
#include "bridge_msg.h"
#include "esp_mac.h"
#include "esp_now.h"
#include "esp_wifi.h"
#include "sim_air.h"
#include "sim_emu.h"

/* The build's payload limit: 1470 by default, 1490 in the IDF 5.4.0/5.4.1 build of this test. */
#define MAXP ESP_NOW_MAX_DATA_LEN_V2

static int g_pass, g_fail;
#define CHECK(cond) do { if (cond) g_pass++; else { g_fail++; printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); if (_a == _b) g_pass++; else { g_fail++; \
    printf("FAIL %s:%d: %s == %s (%lld != %lld, 0x%llx != 0x%llx)\n", __FILE__, __LINE__, #a, #b, _a, _b, _a, _b); } } while (0)

/* ---------- a fake port: captures the link, controls time ---------- */
static uint8_t g_out[1 << 20];
static size_t g_out_len, g_out_read;
static size_t g_write_limit = (size_t)-1;   /* bytes the "host" accepts before stalling */
static uint64_t g_now = 1000000;
static int g_restarts;

static size_t port_write(void *ctx, const uint8_t *d, size_t n)
{
    (void)ctx;
    if (n > g_write_limit) n = g_write_limit;
    if (g_write_limit != (size_t)-1) g_write_limit -= n;
    memcpy(g_out + g_out_len, d, n);
    g_out_len += n;
    return n;
}
static uint64_t port_now(void *ctx) { (void)ctx; return g_now; }
static uint64_t emu_clock(void) { return g_now; }
static void port_restart(void *ctx) { (void)ctx; g_restarts++; }
static uint32_t g_baud_set[8];
static int g_baud_calls;
static esp_err_t port_set_baud(void *ctx, uint32_t baud)
{
    (void)ctx;
    if (g_baud_calls < 8) g_baud_set[g_baud_calls] = baud;
    g_baud_calls++;
    return ESP_OK;
}
/* Survives "restarts" of the core in this process, like RTC no-init memory. */
static br_persist_t g_persist;
static const br_port_t g_port = { port_write, port_now, port_restart, port_set_baud, NULL, NULL, &g_persist };

static void pump(void)
{
    for (int i = 0; i < 20; i++) {
        sim_emu_poll();
        br_core_poll();
    }
}

static void advance_ms(uint32_t ms)
{
    g_now += (uint64_t)ms * 1000u;
    pump();
}

/* ---------- frames in and out ---------- */
static uint8_t g_wire[BR_MAX_ENCODED];
static size_t g_wire_len;

static void encode_req(uint16_t id, uint8_t code, const br_value_t *v)
{
    static uint8_t body[BR_MAX_BODY];
    const br_msg_t *m = br_msg_find(BR_KIND_REQUEST, code);
    br_result_t res = BR_OK;
    size_t n = m ? br_msg_encode(m, v, body, sizeof body, &res) : 0;
    if (res != BR_OK) { printf("encode failed for code 0x%02x\n", code); exit(2); }
    br_frame_t f = { BR_PROTO_VERSION, BR_KIND_REQUEST, id, code, body, (uint16_t)n };
    g_wire_len = br_frame_encode(&f, g_wire, sizeof g_wire);
}

static void send_raw_body(uint16_t id, uint8_t code, const uint8_t *body, size_t n)
{
    br_frame_t f = { BR_PROTO_VERSION, BR_KIND_REQUEST, id, code, body, (uint16_t)n };
    g_wire_len = br_frame_encode(&f, g_wire, sizeof g_wire);
    br_core_feed(g_wire, g_wire_len);
    pump();
}

static void request(uint16_t id, uint8_t code, const br_value_t *v)
{
    encode_req(id, code, v);
    br_core_feed(g_wire, g_wire_len);
    pump();
}

typedef struct {
    br_frame_t f;
    uint8_t buf[BR_MAX_ENCODED];
    br_value_t v[BR_MAX_FIELDS];
} out_frame_t;

/* Next frame from the device, decoded with the layout of its kind/code. */
static bool next_out(out_frame_t *o)
{
    size_t start = g_out_read;
    while (g_out_read < g_out_len) {
        if (g_out[g_out_read++] == 0) {
            size_t len = g_out_read - 1 - start;
            if (len == 0) { start = g_out_read; continue; }
            memcpy(o->buf, g_out + start, len);
            if (br_frame_decode(o->buf, len, o->buf, sizeof o->buf, &o->f) != BR_OK) {
                printf("device sent an undecodable frame\n");
                return false;
            }
            const br_msg_t *m = br_msg_find(o->f.kind, o->f.code);
            memset(o->v, 0, sizeof o->v);
            if (m == NULL && o->f.kind == BR_KIND_RESPONSE && o->f.body_len == 4) {
                /* Answer to a code without a layout: err only. */
                const uint8_t *b = o->f.body;
                o->v[0].i = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
                return true;
            }
            if (m == NULL || br_msg_decode(m, o->f.body, o->f.body_len, o->v) != BR_OK) {
                printf("device sent a frame with a bad body (code 0x%02x)\n", o->f.code);
                return false;
            }
            return true;
        }
    }
    g_out_read = start;
    return false;
}

static void drain_out(void) { g_out_read = g_out_len; }

/* Skips events and returns the err of the response with this id (or INT32_MIN). */
static int32_t response_err(uint16_t id, out_frame_t *o)
{
    while (next_out(o)) {
        if (o->f.kind == BR_KIND_RESPONSE && o->f.id == id) return (int32_t)o->v[0].i;
    }
    return INT32_MIN;
}

static int32_t call(uint16_t id, uint8_t code, const br_value_t *v, out_frame_t *o)
{
    drain_out();
    request(id, code, v);
    return response_err(id, o);
}

static br_value_t vmac(const uint8_t *m) { br_value_t v = { 0, m, 6, 1 }; return v; }
static br_value_t vint(int64_t i) { br_value_t v = { i, NULL, 0, 1 }; return v; }
static br_value_t vbytes(const void *p, size_t n) { br_value_t v = { 0, p, (uint16_t)n, 1 }; return v; }

static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t PEER1[6] = { 0x24, 0x0a, 0xc4, 0x00, 0x00, 0x01 };
static const uint8_t PEER2[6] = { 0x24, 0x0a, 0xc4, 0x00, 0x00, 0x02 };
static const uint8_t OTHER[6] = { 0x24, 0x0a, 0xc4, 0x00, 0x00, 0x99 };
static const uint8_t LMK[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t ZKEY[16] = { 0 };
static const uint8_t MY_STA[6] = { 0x02, 0xee, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t MY_AP[6] = { 0x02, 0xee, 0x00, 0x00, 0x00, 0x02 };

static int32_t add_peer(uint16_t id, const uint8_t *mac, uint8_t channel, uint8_t ifidx, uint8_t encrypt, out_frame_t *o)
{
    br_value_t v[5] = { vmac(mac), vbytes(encrypt ? LMK : ZKEY, 16), vint(channel), vint(ifidx), vint(encrypt) };
    return call(id, BR_CMD_ESPNOW_ADD_PEER, v, o);
}

static const uint8_t ZERO_MAC[6] = { 0 };

static int32_t send_to(uint16_t id, const uint8_t *mac, bool sync, const char *text, out_frame_t *o)
{
    br_value_t v[3] = { vmac(mac), vint(sync ? 1 : 0), vbytes(text, strlen(text)) };
    return call(id, BR_CMD_ESPNOW_SEND, v, o);
}

static uint32_t stat(int index)
{
    uint32_t c[BR_STATS_COUNT];
    br_core_stats(c);
    return c[index];
}

static char g_air_dir[128];

static uint8_t g_reset_reason = 1;   /* ESP_RST_POWERON */
static uint32_t g_boot_baud;

static void boot(void)
{
    sim_emu_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.air_dir = g_air_dir;
    memcpy(cfg.sta_mac, MY_STA, 6);
    memcpy(cfg.ap_mac, MY_AP, 6);
    sim_emu_set_clock(emu_clock);
    if (sim_emu_configure(&cfg) != 0) { printf("sim_emu_configure failed\n"); exit(2); }
    wifi_init_config_t wcfg = WIFI_INIT_CONFIG_DEFAULT();
    esp_wifi_init(&wcfg);
    br_identity_t id = { 0, 1, 0, 0x8000, 0, g_boot_baud ? 2 : 3, g_boot_baud, g_reset_reason, 7, "v5.4.2-test",
                         BR_CAP_SIMULATED | (g_boot_baud ? BR_CAP_SET_BAUD : 0u) };
    br_core_init(&g_port, &id);
    g_out_len = g_out_read = 0;
    g_write_limit = (size_t)-1;
    br_core_emit_hello();
    pump();
}

static void test_hello_and_housekeeping(void)
{
    out_frame_t o;
    boot();
    CHECK(next_out(&o));
    CHECK_EQ(o.f.kind, BR_KIND_EVENT);
    CHECK_EQ(o.f.code, BR_EVT_HELLO);
    CHECK_EQ(o.v[0].i, 2);             /* proto_version */
    CHECK_EQ(o.v[4].i, 0x8000);        /* chip_model: simulator */
    CHECK_EQ(o.v[6].i, 2);             /* ESP-NOW v2 */
    CHECK_EQ(o.v[7].i, MAXP);          /* max_payload */
    CHECK(memcmp(o.v[8].ptr, MY_STA, 6) == 0);
    CHECK(memcmp(o.v[9].ptr, MY_AP, 6) == 0);
    CHECK_EQ(o.v[12].i, 7);            /* boot_count */
    CHECK_EQ(o.v[13].i, BR_WINDOW);
    CHECK_EQ(o.v[14].i, 2 * (14 + MAXP));   /* rxbuf default: MicroPython's v2 sizing */
    CHECK_EQ(o.v[19].i, 7);            /* max_encrypt: CONFIG_ESP_WIFI_ESPNOW_MAX_ENCRYPT_NUM */
    CHECK_EQ(o.v[20].i, 0);            /* lost_at_reset after power-on */

    CHECK_EQ(call(1, BR_CMD_HELLO, NULL, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 2);
    br_value_t ping[1] = { vbytes("hi", 2) };
    CHECK_EQ(call(2, BR_CMD_PING, ping, &o), ESP_OK);
    CHECK_EQ(o.v[2].len, 2);
    CHECK(memcmp(o.v[2].ptr, "hi", 2) == 0);

    br_value_t baud[1] = { vint(921600) };
    CHECK_EQ(call(3, BR_CMD_SET_BAUD, baud, &o), ESP_ERR_NOT_SUPPORTED);
    br_value_t rx[1] = { vint(1) };
    CHECK_EQ(call(4, BR_CMD_SET_RXBUF, rx, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 64);            /* clamped to the minimum */
    rx[0] = vint(100000000);
    CHECK_EQ(call(5, BR_CMD_SET_RXBUF, rx, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, BR_RXBUF_MAX);

    /* RESET answers first, then restarts once the answer is out. */
    int before = g_restarts;
    CHECK_EQ(call(6, BR_CMD_RESET, NULL, &o), ESP_OK);
    CHECK_EQ(g_restarts, before + 1);
}

static void test_bad_frames(void)
{
    out_frame_t o;
    boot();
    drain_out();
    /* Unknown command: counted, answered NOT_SUPPORTED. */
    send_raw_body(10, 0x7E, NULL, 0);
    CHECK_EQ(response_err(10, &o), ESP_ERR_NOT_SUPPORTED);
    /* Malformed arguments: PING with 65 bytes, SEND with 5 bytes. */
    uint8_t big[65] = { 0 };
    send_raw_body(11, BR_CMD_PING, big, sizeof big);
    CHECK_EQ(response_err(11, &o), ESP_ERR_INVALID_SIZE);
    send_raw_body(12, BR_CMD_ESPNOW_SEND, big, 5);
    CHECK_EQ(response_err(12, &o), ESP_ERR_INVALID_SIZE);
    CHECK_EQ(stat(18), 3);             /* req_rejected */
    /* A corrupted frame is dropped and counted: no response at all. */
    br_value_t ping[1] = { vbytes("x", 1) };
    encode_req(13, BR_CMD_PING, ping);
    g_wire[2] ^= 0x40;
    br_core_feed(g_wire, g_wire_len);
    pump();
    CHECK_EQ(response_err(13, &o), INT32_MIN);
    CHECK_EQ(stat(6), 1);              /* link_rx_bad_crc */
    /* Garbage and an oversize run are skipped; the next frame still works. */
    uint8_t junk[2000];
    memset(junk, 'A', sizeof junk);
    br_core_feed(junk, sizeof junk);
    br_core_feed((const uint8_t *)"\0", 1);
    CHECK_EQ(stat(8), 1);              /* link_rx_oversize */
    CHECK_EQ(call(14, BR_CMD_PING, ping, &o), ESP_OK);
    /* A response frame sent by the host is the wrong kind. */
    br_frame_t f = { BR_PROTO_VERSION, BR_KIND_RESPONSE, 15, BR_CMD_PING, (const uint8_t *)"\0\0\0\0", 4 };
    g_wire_len = br_frame_encode(&f, g_wire, sizeof g_wire);
    br_core_feed(g_wire, g_wire_len);
    CHECK_EQ(stat(11), 1);             /* link_rx_bad_kind */
}

static void test_espnow_errors(void)
{
    out_frame_t o;
    boot();
    CHECK_EQ(send_to(20, BCAST, false, "x", &o), ESP_ERR_ESPNOW_NOT_INIT);
    br_value_t act[2] = { vint(0), vint(1) };
    CHECK_EQ(call(21, BR_CMD_WIFI_SET_IF_ACTIVE, act, &o), ESP_OK);
    CHECK_EQ(call(22, BR_CMD_ESPNOW_INIT, NULL, &o), ESP_OK);
    CHECK_EQ(call(23, BR_CMD_ESPNOW_GET_VERSION, NULL, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 2);
    /* Broadcast peers cannot be encrypted. */
    CHECK_EQ(add_peer(24, BCAST, 0, 0, 1, &o), ESP_ERR_ESPNOW_ARG);
    CHECK_EQ(add_peer(25, PEER1, 0, 0, 0, &o), ESP_OK);
    CHECK_EQ(add_peer(26, PEER1, 0, 0, 0, &o), ESP_ERR_ESPNOW_EXIST);
    /* ifidx out of range is an argument error, not a crash. */
    CHECK_EQ(add_peer(27, PEER2, 0, 7, 0, &o), ESP_ERR_ESPNOW_ARG);
    br_value_t del[1] = { vmac(OTHER) };
    CHECK_EQ(call(28, BR_CMD_ESPNOW_DEL_PEER, del, &o), ESP_ERR_ESPNOW_NOT_FOUND);
    CHECK_EQ(call(29, BR_CMD_ESPNOW_GET_PEER, del, &o), ESP_ERR_ESPNOW_NOT_FOUND);
    CHECK_EQ(send_to(30, OTHER, false, "x", &o), ESP_ERR_ESPNOW_NOT_FOUND);
    /* Peer channel must be 0 or the home channel (1). */
    CHECK_EQ(add_peer(31, PEER2, 6, 0, 0, &o), ESP_OK);
    CHECK_EQ(send_to(32, PEER2, false, "x", &o), ESP_ERR_ESPNOW_CHAN);
    /* Peer on the AP interface while only STA is active. */
    CHECK_EQ(add_peer(33, OTHER, 0, 1, 0, &o), ESP_OK);
    CHECK_EQ(send_to(34, OTHER, false, "x", &o), ESP_ERR_ESPNOW_IF);
    /* Peer table: 20 in all, then FULL. */
    int added = 3;
    int32_t err = ESP_OK;
    for (uint16_t i = 0; i < 40 && err == ESP_OK; i++) {
        uint8_t mac[6] = { 0x30, 0, 0, 0, 0, (uint8_t)i };
        err = add_peer((uint16_t)(100 + i), mac, 0, 0, 0, &o);
        if (err == ESP_OK) added++;
    }
    CHECK_EQ(err, ESP_ERR_ESPNOW_FULL);
    CHECK_EQ(added, ESP_NOW_MAX_TOTAL_PEER_NUM);
    CHECK_EQ(call(200, BR_CMD_ESPNOW_GET_PEER_NUM, NULL, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, ESP_NOW_MAX_TOTAL_PEER_NUM);
    /* Payload rule: above the layout's 1490 a bad body; 0 or above max_payload
     * ESPNOW_ARG without calling the radio; 1..max_payload goes out. */
    static uint8_t big[1491];
    static uint8_t body[6 + 1 + sizeof big];
    memcpy(body, BCAST, 6);
    body[6] = 0;
    memcpy(body + 7, big, sizeof big);
    memcpy(body, PEER1, 6);
    uint32_t tx_before = stat(0);
    drain_out();
    send_raw_body(201, BR_CMD_ESPNOW_SEND, body, 7 + 1491);
    CHECK_EQ(response_err(201, &o), ESP_ERR_INVALID_SIZE);
    if (MAXP < 1490) {
        send_raw_body(211, BR_CMD_ESPNOW_SEND, body, 7 + 1490);
        CHECK_EQ(response_err(211, &o), ESP_ERR_ESPNOW_ARG);
        send_raw_body(212, BR_CMD_ESPNOW_SEND, body, 7 + MAXP + 1);
        CHECK_EQ(response_err(212, &o), ESP_ERR_ESPNOW_ARG);
    }
    send_raw_body(213, BR_CMD_ESPNOW_SEND, body, 7);
    CHECK_EQ(response_err(213, &o), ESP_ERR_ESPNOW_ARG);
    CHECK_EQ(stat(0), tx_before);
    send_raw_body(214, BR_CMD_ESPNOW_SEND, body, 7 + MAXP);
    CHECK_EQ(response_err(214, &o), ESP_OK);
    CHECK_EQ(stat(0), tx_before + 1);
    /* Unknown flag bits. */
    br_value_t badflags[3] = { vmac(PEER1), vint(0x80), vbytes("x", 1) };
    CHECK_EQ(call(202, BR_CMD_ESPNOW_SEND, badflags, &o), ESP_ERR_ESPNOW_ARG);
    CHECK_EQ(call(203, BR_CMD_ESPNOW_DEINIT, NULL, &o), ESP_OK);
    CHECK_EQ(send_to(204, PEER1, false, "x", &o), ESP_ERR_ESPNOW_NOT_INIT);
    /* Wi-Fi argument errors. */
    br_value_t chan[2] = { vint(15), vint(0) };
    CHECK_EQ(call(205, BR_CMD_WIFI_SET_CHANNEL, chan, &o), ESP_ERR_INVALID_ARG);
    br_value_t mode[1] = { vint(9) };
    CHECK_EQ(call(206, BR_CMD_WIFI_SET_MODE, mode, &o), ESP_ERR_INVALID_ARG);
}

static void espnow_up(void)
{
    out_frame_t o;
    br_value_t act[2] = { vint(0), vint(1) };
    call(1, BR_CMD_WIFI_SET_IF_ACTIVE, act, &o);
    call(2, BR_CMD_ESPNOW_INIT, NULL, &o);
}

static void test_send_tracking(void)
{
    out_frame_t o;
    boot();
    espnow_up();
    CHECK_EQ(add_peer(3, BCAST, 0, 0, 0, &o), ESP_OK);
    CHECK_EQ(add_peer(4, PEER1, 0, 0, 0, &o), ESP_OK);
    CHECK_EQ(add_peer(5, PEER2, 0, 0, 0, &o), ESP_OK);

    /* Async broadcast: answered at once, then one SEND_STATUS success with the request id. */
    CHECK_EQ(send_to(40, BCAST, false, "hello", &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 1);
    CHECK_EQ(o.v[2].i, 0);
    CHECK(next_out(&o));
    CHECK_EQ(o.f.code, BR_EVT_SEND_STATUS);
    CHECK_EQ(o.v[0].i, 40);
    CHECK(memcmp(o.v[1].ptr, BCAST, 6) == 0);
    CHECK_EQ(o.v[2].i, 0);

    /* Sync unicast to a peer nobody answers: no response until the ACK timeout,
     * then the failed status and only then the response with failures = 1. */
    drain_out();
    br_value_t v[3] = { vmac(PEER1), vint(1), vbytes("x", 1) };
    request(41, BR_CMD_ESPNOW_SEND, v);
    CHECK(!next_out(&o));
    advance_ms(50);
    CHECK(next_out(&o));
    CHECK_EQ(o.f.code, BR_EVT_SEND_STATUS);
    CHECK_EQ(o.v[0].i, 41);
    CHECK_EQ(o.v[2].i, 1);
    CHECK(next_out(&o));
    CHECK_EQ(o.f.kind, BR_KIND_RESPONSE);
    CHECK_EQ(o.f.id, 41);
    CHECK_EQ(o.v[0].i, ESP_OK);
    CHECK_EQ(o.v[1].i, 1);
    CHECK_EQ(o.v[2].i, 1);

    /* A retransmission of the pending-then-answered sync send is replayed, not re-sent. */
    uint32_t sent_before = stat(0);
    drain_out();
    request(41, BR_CMD_ESPNOW_SEND, v);
    CHECK_EQ(response_err(41, &o), ESP_OK);
    CHECK_EQ(stat(0), sent_before);
    CHECK_EQ(stat(12), 1);             /* req_replayed */

    /* NULL destination: every unicast peer (2), one status each. */
    drain_out();
    br_value_t all[3] = { vmac(ZERO_MAC), vint(BR_SEND_ALL_PEERS), vbytes("all", 3) };
    request(42, BR_CMD_ESPNOW_SEND, all);
    CHECK_EQ(response_err(42, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 2);
    /* The radio sends one frame at a time: each unicast waits for its own ACK timeout. */
    advance_ms(50);
    advance_ms(50);
    int statuses = 0;
    while (next_out(&o)) {
        if (o.f.code == BR_EVT_SEND_STATUS && o.v[0].i == 42) statuses++;
    }
    CHECK_EQ(statuses, 2);
    CHECK_EQ(stat(1), 4);              /* tx_responses: 1 + 1 + 2 */
    CHECK_EQ(stat(2), 3);              /* tx_failures */

    /* Send slots: 32 statuses outstanding at most, then ESP_ERR_ESPNOW_NO_MEM surfaced. */
    int32_t err = ESP_OK;
    int accepted = 0;
    for (uint16_t i = 0; i < 40 && err == ESP_OK; i++) {
        err = send_to((uint16_t)(300 + i), PEER1, false, "q", &o);
        if (err == ESP_OK) accepted++;
    }
    CHECK_EQ(err, ESP_ERR_ESPNOW_NO_MEM);
    CHECK(accepted >= 1 && accepted <= (int)BR_SEND_SLOTS);
    advance_ms(500);
    advance_ms(500);
    CHECK_EQ(send_to(400, PEER1, false, "again", &o), ESP_OK);
}

static void test_replay_window(void)
{
    out_frame_t o;
    boot();
    espnow_up();
    /* The same ADD_PEER frame twice: executed once, the second gets the cached ESP_OK. */
    br_value_t v[5] = { vmac(PEER1), vbytes(ZKEY, 16), vint(0), vint(0), vint(0) };
    CHECK_EQ(call(50, BR_CMD_ESPNOW_ADD_PEER, v, &o), ESP_OK);
    CHECK_EQ(call(50, BR_CMD_ESPNOW_ADD_PEER, v, &o), ESP_OK);
    CHECK_EQ(stat(12), 1);
    /* Same id, different request (different CRC): a new request, executed. */
    CHECK_EQ(add_peer(50, PEER1, 0, 0, 1, &o), ESP_ERR_ESPNOW_EXIST);
    CHECK_EQ(call(51, BR_CMD_ESPNOW_GET_PEER_NUM, NULL, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 1);
}

/* A sync send waiting for its status keeps its replay slot while many other
 * requests pass; both it and the later requests still replay correctly. */
static void test_replay_keeps_pending_sync_send(void)
{
    out_frame_t o;
    boot();
    espnow_up();
    CHECK_EQ(add_peer(3, PEER1, 0, 0, 0, &o), ESP_OK);
    drain_out();
    br_value_t send[3] = { vmac(PEER1), vint(1), vbytes("slow", 4) };
    request(500, BR_CMD_ESPNOW_SEND, send);
    br_value_t ping[1] = { vbytes("p", 1) };
    for (uint16_t i = 0; i < 40; i++) request((uint16_t)(501 + i), BR_CMD_PING, ping);
    advance_ms(50);
    CHECK_EQ(response_err(500, &o), ESP_OK);
    CHECK_EQ(o.f.code, BR_CMD_ESPNOW_SEND);
    CHECK_EQ(o.v[2].i, 1);             /* failures: nobody acked */
    uint32_t sends = stat(0);
    drain_out();
    request(500, BR_CMD_ESPNOW_SEND, send);   /* retransmission: replayed, not re-sent */
    CHECK_EQ(response_err(500, &o), ESP_OK);
    CHECK_EQ(o.f.code, BR_CMD_ESPNOW_SEND);
    CHECK_EQ(stat(0), sends);
    drain_out();
    request(540, BR_CMD_PING, ping);          /* the newest PING is still in the window */
    CHECK_EQ(response_err(540, &o), ESP_OK);
    CHECK_EQ(o.f.code, BR_CMD_PING);
}

static void test_window_busy(void)
{
    out_frame_t o;
    boot();
    drain_out();
    /* The host stops reading: W responses queue up, the next request is BUSY. */
    g_write_limit = 0;
    br_value_t ping[1] = { vbytes("p", 1) };
    for (uint16_t i = 0; i <= BR_WINDOW; i++) request((uint16_t)(60 + i), BR_CMD_PING, ping);
    g_write_limit = (size_t)-1;
    pump();
    int ok = 0, busy = 0;
    while (next_out(&o)) {
        if (o.f.kind != BR_KIND_RESPONSE) continue;
        if (o.v[0].i == ESP_OK) ok++;
        if (o.v[0].i == 0xB001) busy++;
    }
    CHECK_EQ(ok, BR_WINDOW);
    CHECK_EQ(busy, 1);
    CHECK_EQ(stat(13), 1);             /* req_busy */
}

/* A second radio in the same air: sends DATA frames to our dongle. */
static void air_send(sim_air_t *a, const uint8_t *dst, const void *payload, uint16_t len, uint32_t seq);

/* ---------- exactly once: the replay window under every arrival order ---------- */

static br_value_t g_ping[1];

static void ping_ids(uint16_t from, uint16_t to)
{
    for (uint32_t i = from; i <= to; i++) request((uint16_t)i, BR_CMD_PING, g_ping);
}

/* Host side of the rule: with R = 2W = 16, a host may send id X + 15 while X is
 * its oldest unanswered request. Every order below keeps to that rule. */
static void test_replay_bad_orders(void)
{
    out_frame_t o;
    g_ping[0] = vbytes("p", 1);
    boot();
    espnow_up();
    CHECK_EQ(add_peer(3, BCAST, 0, 0, 0, &o), ESP_OK);
    CHECK_EQ(add_peer(5, PEER1, 0, 0, 0, &o), ESP_OK);     /* nobody acks: a sync send stays pending */
    request(4, BR_CMD_HELLO, NULL);   /* a session starts: ids may begin anywhere */

    /* 1. An answered request whose response was lost is retransmitted after 15 newer ids. */
    drain_out();
    uint32_t tx0 = stat(0);
    br_value_t s100[3] = { vmac(BCAST), vint(0), vbytes("once-100", 8) };
    request(100, BR_CMD_ESPNOW_SEND, s100);           /* its response "is lost": ignored */
    ping_ids(101, 115);
    CHECK_EQ(stat(0), tx0 + 1);
    drain_out();
    request(100, BR_CMD_ESPNOW_SEND, s100);
    CHECK_EQ(response_err(100, &o), ESP_OK);
    CHECK_EQ(o.f.code, BR_CMD_ESPNOW_SEND);
    CHECK_EQ(stat(0), tx0 + 1);                        /* replayed, not sent again */

    /* 2. Late first copy: id 200's first copy is lost, 201..215 run, 200 arrives as a
     * retransmission and runs; 201's response was lost too, and the host (oldest
     * unanswered now 201) sends 216. 201's retransmission must still be replayed. */
    br_value_t s201[3] = { vmac(BCAST), vint(0), vbytes("once-201", 8) };
    drain_out();
    request(201, BR_CMD_ESPNOW_SEND, s201);
    ping_ids(202, 215);
    br_value_t s200[3] = { vmac(BCAST), vint(0), vbytes("once-200", 8) };
    request(200, BR_CMD_ESPNOW_SEND, s200);
    ping_ids(216, 216);
    uint32_t tx1 = stat(0);
    drain_out();
    request(201, BR_CMD_ESPNOW_SEND, s201);
    CHECK_EQ(response_err(201, &o), ESP_OK);
    CHECK_EQ(stat(0), tx1);

    /* 3. Two late first copies and a pending sync send in the middle of the window. */
    drain_out();
    br_value_t s300[3] = { vmac(PEER1), vint(1), vbytes("sync-300", 8) };
    br_value_t s301[3] = { vmac(BCAST), vint(0), vbytes("once-301", 8) };
    request(302, BR_CMD_PING, g_ping);
    request(300, BR_CMD_ESPNOW_SEND, s300);
    ping_ids(303, 314);
    request(301, BR_CMD_ESPNOW_SEND, s301);
    uint32_t tx2 = stat(0);
    advance_ms(50);                                     /* the sync send completes */
    CHECK_EQ(response_err(300, &o), ESP_OK);
    ping_ids(315, 315);
    drain_out();
    request(301, BR_CMD_ESPNOW_SEND, s301);
    CHECK_EQ(response_err(301, &o), ESP_OK);
    request(300, BR_CMD_ESPNOW_SEND, s300);
    CHECK_EQ(response_err(300, &o), ESP_OK);
    CHECK_EQ(stat(0), tx2);

    /* 4. A copy older than the window (R ids behind a newer one in its slot) is not executed. */
    uint32_t stale0 = stat(BR_STATS_COUNT - 3);
    ping_ids(316, 316);                                  /* 316 = 300 + R: slot taken by a newer id */
    drain_out();
    request(300, BR_CMD_ESPNOW_SEND, s300);
    CHECK_EQ(response_err(300, &o), BR_ERR_BRIDGE_STALE);
    CHECK_EQ(stat(0), tx2);
    CHECK_EQ(stat(BR_STATS_COUNT - 3), stale0 + 1);      /* req_stale */
}

/* A request answered BUSY is not remembered; a new session (HELLO) forgets the window. */
static void test_replay_sessions_and_busy(void)
{
    out_frame_t o;
    boot();
    espnow_up();
    CHECK_EQ(add_peer(3, PEER1, 0, 0, 0, &o), ESP_OK);
    /* The window counts sync sends waiting for their status: W of them, then BUSY. */
    drain_out();
    for (uint16_t i = 0; i < BR_WINDOW; i++) {
        br_value_t v[3] = { vmac(PEER1), vint(1), vbytes("s", 1) };
        request((uint16_t)(10 + i), BR_CMD_ESPNOW_SEND, v);
    }
    br_value_t add[5] = { vmac(PEER2), vbytes(ZKEY, 16), vint(0), vint(0), vint(0) };
    request(30, BR_CMD_ESPNOW_ADD_PEER, add);
    CHECK_EQ(response_err(30, &o), BR_ERR_BRIDGE_BUSY);
    CHECK_EQ(stat(13), 1);                               /* req_busy */
    for (int i = 0; i < 10; i++) advance_ms(50);         /* every sync send answered */
    int answered = 0;
    drain_out();
    g_out_read = 0;
    while (next_out(&o)) {
        if (o.f.kind == BR_KIND_RESPONSE && o.f.code == BR_CMD_ESPNOW_SEND && o.v[0].i == ESP_OK) answered++;
    }
    CHECK_EQ(answered, BR_WINDOW);
    /* The same ADD_PEER frame again: executed now (OK), not a replayed BUSY. */
    drain_out();
    request(30, BR_CMD_ESPNOW_ADD_PEER, add);
    CHECK_EQ(response_err(30, &o), ESP_OK);
    CHECK_EQ(call(31, BR_CMD_ESPNOW_IS_PEER_EXIST, add, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 1);

    /* Session: id 40 of the old host, then a new host's HELLO, then its own id 40 with
     * byte-identical bytes: executed afresh, not answered with the old session's reply. */
    br_value_t st[1] = { vint(0) };
    CHECK_EQ(call(40, BR_CMD_STATS, st, &o), ESP_OK);
    uint32_t frames_then = (uint32_t)o.v[6].i;           /* link_rx_frames */
    uint32_t replayed = stat(12);
    CHECK_EQ(call(7, BR_CMD_HELLO, NULL, &o), ESP_OK);
    CHECK_EQ(call(40, BR_CMD_STATS, st, &o), ESP_OK);
    CHECK_EQ(o.v[6].i, frames_then + 2);                 /* a fresh answer */
    CHECK_EQ(stat(12), replayed);
    /* A new session may start with an id "older" than one the last session left in its
     * slot: still a new session, not a stale request. */
    CHECK_EQ(call(57, BR_CMD_STATS, st, &o), ESP_OK);     /* slot 9 now holds 57 */
    CHECK_EQ(call(9, BR_CMD_HELLO, NULL, &o), ESP_OK);
    CHECK_EQ(call(10, BR_CMD_STATS, st, &o), ESP_OK);
    /* A retransmitted HELLO is replayed and does not start another session. */
    CHECK_EQ(call(9, BR_CMD_HELLO, NULL, &o), ESP_OK);
    CHECK_EQ(stat(12), replayed + 1);
    CHECK_EQ(call(10, BR_CMD_STATS, st, &o), ESP_OK);
    CHECK_EQ(stat(12), replayed + 2);
}

/* ---------- "every peer" is a flag; the zero MAC is just an invalid address ---------- */

static void test_every_peer_flag(void)
{
    out_frame_t o;
    boot();
    espnow_up();
    CHECK_EQ(add_peer(3, PEER1, 0, 0, 0, &o), ESP_OK);
    CHECK_EQ(add_peer(4, PEER2, 0, 0, 0, &o), ESP_OK);
    /* A zero MAC typed by mistake: ESPNOW_ARG, nothing on air. */
    CHECK_EQ(send_to(10, ZERO_MAC, false, "oops", &o), ESP_ERR_ESPNOW_ARG);
    CHECK_EQ(send_to(11, ZERO_MAC, true, "oops", &o), ESP_ERR_ESPNOW_ARG);
    CHECK_EQ(stat(0), 0);
    /* The flag with a real MAC is contradictory. */
    br_value_t bad[3] = { vmac(PEER1), vint(BR_SEND_ALL_PEERS), vbytes("x", 1) };
    CHECK_EQ(call(12, BR_CMD_ESPNOW_SEND, bad, &o), ESP_ERR_ESPNOW_ARG);
    /* The flag: every unicast peer, sync, answered with both statuses. */
    drain_out();
    br_value_t all[3] = { vmac(ZERO_MAC), vint(BR_SEND_ALL_PEERS | BR_SEND_SYNC), vbytes("all", 3) };
    request(13, BR_CMD_ESPNOW_SEND, all);
    advance_ms(50);
    advance_ms(50);
    CHECK_EQ(response_err(13, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 2);
    CHECK_EQ(o.v[2].i, 2);
    CHECK_EQ(stat(0), 1);
    /* A peer with the zero MAC can never be addressed: refused. */
    CHECK_EQ(add_peer(14, ZERO_MAC, 0, 0, 0, &o), ESP_ERR_ESPNOW_ARG);
    br_value_t mod[5] = { vmac(ZERO_MAC), vbytes(ZKEY, 16), vint(0), vint(0), vint(0) };
    CHECK_EQ(call(15, BR_CMD_ESPNOW_MOD_PEER, mod, &o), ESP_ERR_ESPNOW_ARG);
    CHECK_EQ(call(16, BR_CMD_ESPNOW_GET_PEER_NUM, NULL, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 2);
}

/* ---------- every in-flight send gets exactly one final outcome ---------- */

typedef struct { int statuses[512]; int abandoned[512]; int responses[512]; int failures[512]; } outcome_t;

static void collect(outcome_t *oc)
{
    out_frame_t o;
    while (next_out(&o)) {
        if (o.f.kind == BR_KIND_EVENT && o.f.code == BR_EVT_SEND_STATUS) {
            oc->statuses[o.v[0].i % 512]++;
            if (o.v[2].i == BR_SEND_STATUS_ABANDONED) oc->abandoned[o.v[0].i % 512]++;
        }
        if (o.f.kind == BR_KIND_RESPONSE && o.f.code == BR_CMD_ESPNOW_SEND && o.v[0].i == ESP_OK) {
            oc->responses[o.f.id % 512]++;
            oc->failures[o.f.id % 512] = (int)o.v[2].i;
        }
    }
}

static void test_deinit_abandons_sends(void)
{
    static outcome_t oc;
    out_frame_t o;
    boot();
    br_value_t act[2] = { vint(0), vint(1) };
    CHECK_EQ(call(1, BR_CMD_WIFI_SET_IF_ACTIVE, act, &o), ESP_OK);
    memset(&oc, 0, sizeof oc);
    uint16_t id = 100;
    int cycles_ok = 0;
    /* Twelve INIT / send / DEINIT cycles: slots never leak, ids never cross. */
    for (int cycle = 0; cycle < 12; cycle++) {
        drain_out();
        request(id++, BR_CMD_ESPNOW_INIT, NULL);
        br_value_t v[5] = { vmac(PEER1), vbytes(ZKEY, 16), vint(0), vint(0), vint(0) };
        request(id++, BR_CMD_ESPNOW_ADD_PEER, v);
        uint16_t first = id;
        int accepted = 0;
        for (int k = 0; k < 4; k++) {
            br_value_t s[3] = { vmac(PEER1), vint(k == 3 ? 1 : 0), vbytes("x", 1) };
            encode_req(id, BR_CMD_ESPNOW_SEND, s);
            br_core_feed(g_wire, g_wire_len);     /* no pump: the radio has not answered yet */
            id++;
            accepted++;
        }
        size_t mark = g_out_len;
        request(id++, BR_CMD_ESPNOW_DEINIT, NULL);
        pump();
        g_out_read = mark;
        collect(&oc);
        bool ok = true;
        for (uint16_t r = first; r < first + accepted; r++) {
            ok = ok && oc.statuses[r % 512] == 1 && oc.abandoned[r % 512] == 1;
        }
        ok = ok && oc.responses[(first + 3) % 512] == 1 && oc.failures[(first + 3) % 512] == 1;
        if (ok) cycles_ok++;
        advance_ms(200);                          /* anything late from the radio would show now */
        memset(&oc, 0, sizeof oc);
        drain_out();
    }
    CHECK_EQ(cycles_ok, 12);
    /* After all that the slots are free and a send works and reports its own id only. */
    drain_out();
    request(id++, BR_CMD_ESPNOW_INIT, NULL);
    CHECK_EQ(add_peer(id++, BCAST, 0, 0, 0, &o), ESP_OK);
    uint16_t last = id;
    size_t mark = g_out_len;
    CHECK_EQ(send_to(id++, BCAST, true, "after", &o), ESP_OK);
    g_out_read = mark;
    memset(&oc, 0, sizeof oc);
    collect(&oc);
    int foreign = 0;
    for (int r = 0; r < 512; r++) if (r != last % 512) foreign += oc.statuses[r];
    CHECK_EQ(foreign, 0);
    CHECK_EQ(oc.statuses[last % 512], 1);
    CHECK_EQ(stat(BR_STATS_COUNT - 2), 12 * 4);         /* tx_abandoned */

    /* Wi-Fi stop (last interface off) and RESET abandon in the same way. */
    CHECK_EQ(add_peer(id++, PEER1, 0, 0, 0, &o), ESP_OK);
    drain_out();
    uint16_t w = id;
    br_value_t s[3] = { vmac(PEER1), vint(1), vbytes("y", 1) };
    encode_req(id++, BR_CMD_ESPNOW_SEND, s);
    br_core_feed(g_wire, g_wire_len);
    br_value_t off[2] = { vint(0), vint(0) };
    mark = g_out_len;
    request(id++, BR_CMD_WIFI_SET_IF_ACTIVE, off);
    g_out_read = mark;
    memset(&oc, 0, sizeof oc);
    collect(&oc);
    CHECK_EQ(oc.statuses[w % 512], 1);
    CHECK_EQ(oc.responses[w % 512], 1);
    CHECK_EQ(oc.failures[w % 512], 1);
    CHECK_EQ(call(id++, BR_CMD_WIFI_SET_IF_ACTIVE, act, &o), ESP_OK);
    drain_out();
    uint16_t r = id;
    encode_req(id++, BR_CMD_ESPNOW_SEND, s);
    br_core_feed(g_wire, g_wire_len);
    int restarts = g_restarts;
    mark = g_out_len;
    request(id++, BR_CMD_RESET, NULL);
    g_out_read = mark;
    memset(&oc, 0, sizeof oc);
    collect(&oc);
    CHECK_EQ(oc.abandoned[r % 512], 1);
    CHECK_EQ(oc.responses[r % 512], 1);
    CHECK_EQ(g_restarts, restarts + 1);
}

/* ---------- the writer: responses overtake queued events ---------- */

static void test_responses_overtake_events(void)
{
    out_frame_t o;
    boot();
    espnow_up();
    br_value_t rx[1] = { vint(16384) };
    CHECK_EQ(call(3, BR_CMD_SET_RXBUF, rx, &o), ESP_OK);
    sim_air_t other;
    memset(&other, 0, sizeof other);
    other.fd = -1;
    CHECK_EQ(sim_air_open(&other, g_air_dir, PEER1), 0);
    drain_out();
    g_write_limit = 0;                         /* a slow link: nothing leaves for now */
    uint8_t payload[200];
    for (uint32_t i = 0; i < 30; i++) {
        memset(payload, 0, sizeof payload);
        payload[0] = (uint8_t)i;
        air_send(&other, BCAST, payload, sizeof payload, 100 + i);
        pump();
    }
    br_value_t ping[1] = { vbytes("now", 3) };
    request(50, BR_CMD_PING, ping);
    /* The link drains 300 bytes at a time: the first frame that completes after the
     * one already started is the PING response, and the packets keep their order. */
    int pos = 0, ping_pos = -1, recv_count = 0, next_seq = 0;
    bool in_order = true;
    for (int round = 0; round < 200; round++) {
        g_write_limit = 300;
        pump();
        while (next_out(&o)) {
            pos++;
            if (o.f.kind == BR_KIND_RESPONSE && o.f.id == 50) ping_pos = pos;
            if (o.f.kind == BR_KIND_EVENT && o.f.code == BR_EVT_RECV) {
                in_order = in_order && o.v[7].ptr[0] == next_seq;
                next_seq++;
                recv_count++;
            }
        }
    }
    g_write_limit = (size_t)-1;
    CHECK(ping_pos >= 1 && ping_pos <= 2);
    CHECK_EQ(recv_count, 30);
    CHECK(in_order);
    sim_air_close(&other);
}

/* ---------- packets lost to a restart are counted in the next HELLO ---------- */

static void test_lost_at_reset(void)
{
    out_frame_t o;
    g_reset_reason = 1;                       /* power-on: nothing carried over */
    memset(&g_persist, 0xA5, sizeof g_persist);
    boot();
    CHECK(next_out(&o));
    CHECK_EQ(o.v[20].i, 0);
    espnow_up();
    sim_air_t other;
    memset(&other, 0, sizeof other);
    other.fd = -1;
    CHECK_EQ(sim_air_open(&other, g_air_dir, PEER1), 0);
    br_value_t rx[1] = { vint(16384) };
    CHECK_EQ(call(3, BR_CMD_SET_RXBUF, rx, &o), ESP_OK);
    /* The host stops reading; 40 packets are acknowledged by the radio and held. */
    drain_out();
    g_write_limit = 0;
    uint8_t payload[100];
    memset(payload, 7, sizeof payload);
    for (uint32_t i = 0; i < 40; i++) {
        air_send(&other, BCAST, payload, sizeof payload, 500 + i);
        pump();
    }
    g_write_limit = 700;                      /* a few get out before the crash */
    pump();
    int delivered = 0;
    while (next_out(&o)) delivered += o.f.code == BR_EVT_RECV && o.f.kind == BR_KIND_EVENT;
    CHECK(delivered > 0 && delivered < 40);
    sim_air_close(&other);
    /* A panic/watchdog/software reset: the core starts again, the memory survives. */
    g_reset_reason = 4;                       /* ESP_RST_PANIC */
    boot();
    CHECK(next_out(&o));
    CHECK_EQ(o.f.code, BR_EVT_HELLO);
    CHECK_EQ(o.v[20].i, 40 - delivered);
    CHECK_EQ(call(1, BR_CMD_HELLO, NULL, &o), ESP_OK);
    CHECK_EQ(o.v[21].i, 40 - delivered);      /* the HELLO response says the same for this boot */
    /* The next restart lost nothing. */
    boot();
    CHECK(next_out(&o));
    CHECK_EQ(o.v[20].i, 0);
    g_reset_reason = 1;
}

/* ---------- SET_BAUD: HELLO says the rate in force, the revert timer is visible ---------- */

static void test_set_baud(void)
{
    out_frame_t o;
    static const uint32_t rates[] = { 921600, 2000000 };
    for (size_t k = 0; k < 2; k++) {
        g_boot_baud = 115200;
        boot();
        g_baud_calls = 0;
        br_value_t b[1] = { vint(rates[k]) };
        CHECK_EQ(call(1, BR_CMD_SET_BAUD, b, &o), ESP_OK);
        CHECK_EQ(g_baud_calls, 1);
        CHECK_EQ(g_baud_set[0], rates[k]);
        /* The core asks to be polled again by the revert deadline, not "never". */
        int64_t t = br_core_next_timeout_us();
        CHECK(t > 0 && t <= 2000000);
        g_now += 1000;
        CHECK_EQ(call(2, BR_CMD_HELLO, NULL, &o), ESP_OK);   /* a valid frame: the switch holds */
        CHECK_EQ(o.v[18].i, rates[k]);                    /* baud in force */
        CHECK_EQ(br_core_next_timeout_us(), -1);
        /* Again, and this time the host says nothing: back to 115200 after 2 s. */
        b[0] = vint(rates[k] == 921600 ? 460800 : 1000000);
        CHECK_EQ(call(3, BR_CMD_SET_BAUD, b, &o), ESP_OK);
        g_now += br_core_next_timeout_us();
        pump();
        CHECK_EQ(g_baud_calls, 3);
        CHECK_EQ(g_baud_set[2], rates[k]);               /* the rate before the unanswered switch */
        CHECK_EQ(call(4, BR_CMD_HELLO, NULL, &o), ESP_OK);
        CHECK_EQ(o.v[18].i, rates[k]);
    }
    g_boot_baud = 0;
}

/* ---------- booleans are 0 or 1 ---------- */

static void test_strict_booleans(void)
{
    out_frame_t o;
    boot();
    drain_out();
    const uint8_t two = 2;
    send_raw_body(1, BR_CMD_STATS, &two, 1);
    CHECK_EQ(response_err(1, &o), ESP_ERR_INVALID_SIZE);
    const uint8_t act[2] = { 0, 2 };
    send_raw_body(2, BR_CMD_WIFI_SET_IF_ACTIVE, act, 2);
    CHECK_EQ(response_err(2, &o), ESP_ERR_INVALID_SIZE);
    send_raw_body(3, BR_CMD_ESPNOW_FETCH_PEER, &two, 1);
    CHECK_EQ(response_err(3, &o), ESP_ERR_INVALID_SIZE);
    CHECK_EQ(stat(18), 3);                    /* req_rejected */
    br_value_t get[1] = { vint(0) };
    CHECK_EQ(call(4, BR_CMD_WIFI_GET_IF_ACTIVE, get, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 0);                    /* SET_IF_ACTIVE 2 did nothing */
}


static void air_send(sim_air_t *a, const uint8_t *dst, const void *payload, uint16_t len, uint32_t seq)
{
    sim_air_frame_t f;
    memset(&f, 0, sizeof f);
    f.type = SIM_AIR_TYPE_DATA;
    f.channel = 1;
    f.rate = 0;
    f.len = len;
    f.seq = seq;
    memcpy(f.src, PEER1, 6);
    memcpy(f.dst, dst, 6);
    f.payload = payload;
    uint8_t dg[SIM_AIR_MAX_DGRAM];
    size_t n = sim_air_encode(&f, dg, sizeof dg);
    sim_air_transmit(a, dg, n);
}

static void test_receive_path(void)
{
    out_frame_t o;
    boot();
    espnow_up();
    sim_air_t other;
    memset(&other, 0, sizeof other);
    other.fd = -1;
    CHECK_EQ(sim_air_open(&other, g_air_dir, PEER1), 0);

    drain_out();
    air_send(&other, BCAST, "ping!", 5, 1);
    pump();
    CHECK(next_out(&o));
    CHECK_EQ(o.f.code, BR_EVT_RECV);
    CHECK(memcmp(o.v[0].ptr, PEER1, 6) == 0);
    CHECK_EQ(o.v[1].i, BR_DST_BROADCAST);
    CHECK_EQ(o.v[4].i, 1);             /* channel */
    CHECK_EQ(o.v[7].len, 5);
    CHECK(memcmp(o.v[7].ptr, "ping!", 5) == 0);

    air_send(&other, MY_STA, "uni", 3, 2);
    pump();
    CHECK(next_out(&o));
    CHECK_EQ(o.f.code, BR_EVT_RECV);
    CHECK_EQ(o.v[1].i, BR_DST_STA);

    /* rxbuf 64 bytes: one 40-byte packet costs 48; with the link stalled the rest
     * are dropped and counted, then reported by a DROPPED event. */
    br_value_t rx[1] = { vint(64) };
    CHECK_EQ(call(70, BR_CMD_SET_RXBUF, rx, &o), ESP_OK);
    drain_out();
    g_write_limit = 0;
    uint8_t payload[40];
    memset(payload, 0x5a, sizeof payload);
    /* Fill the link queue first so received packets must wait in the rx buffer. */
    for (uint32_t i = 0; i < 400; i++) {
        air_send(&other, BCAST, payload, sizeof payload, 10 + i);
        if (i % 4 == 3) pump();   /* keep the air socket's queue short */
    }
    pump();
    uint32_t dropped = stat(4);
    CHECK(dropped > 0);
    g_write_limit = (size_t)-1;
    pump();
    pump();
    int recv = 0, drop_events = 0;
    uint32_t reported = 0;
    while (next_out(&o)) {
        if (o.f.code == BR_EVT_RECV && o.f.kind == BR_KIND_EVENT) recv++;
        if (o.f.code == BR_EVT_DROPPED && o.f.kind == BR_KIND_EVENT && o.v[0].i == 1) {
            drop_events++;
            reported += (uint32_t)o.v[1].i;
        }
    }
    CHECK(drop_events >= 1);
    CHECK_EQ(reported, stat(4));
    CHECK_EQ((uint32_t)recv + stat(4), 400u);
    CHECK_EQ(stat(3), 402u);           /* rx_packets */
    sim_air_close(&other);
}

/* The largest packet of this build goes out and comes in whole (1490 on IDF 5.4.0/5.4.1). */
static void test_max_payload_both_ways(void)
{
    out_frame_t o;
    boot();
    espnow_up();
    sim_air_t other;
    memset(&other, 0, sizeof other);
    other.fd = -1;
    CHECK_EQ(sim_air_open(&other, g_air_dir, PEER1), 0);
    static uint8_t big[MAXP];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
    drain_out();
    air_send(&other, MY_STA, big, MAXP, 77);
    pump();
    bool got = false;
    while (next_out(&o)) {
        if (o.f.kind == BR_KIND_EVENT && o.f.code == BR_EVT_RECV)
            got = o.v[7].len == MAXP && memcmp(o.v[7].ptr, big, MAXP) == 0;
    }
    CHECK(got);
    CHECK_EQ(stat(4), 0);              /* nothing dropped: the default rxbuf holds two of them */
    CHECK_EQ(add_peer(5, BCAST, 0, 0, 0, &o), ESP_OK);
    br_value_t s[3] = { vmac(BCAST), vint(1), vbytes(big, MAXP) };
    CHECK_EQ(call(6, BR_CMD_ESPNOW_SEND, s, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 1);
    CHECK_EQ(o.v[2].i, 0);
    sim_air_close(&other);
}

static void test_if_active(void)
{
    out_frame_t o;
    boot();
    br_value_t sta[1] = { vint(0) };
    CHECK_EQ(call(80, BR_CMD_WIFI_GET_IF_ACTIVE, sta, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 0);             /* after boot Wi-Fi is not started */
    br_value_t on[2] = { vint(0), vint(1) }, off[2] = { vint(0), vint(0) };
    CHECK_EQ(call(81, BR_CMD_WIFI_SET_IF_ACTIVE, on, &o), ESP_OK);
    CHECK_EQ(call(82, BR_CMD_WIFI_GET_IF_ACTIVE, sta, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 1);
    br_value_t ap[1] = { vint(1) };
    CHECK_EQ(call(83, BR_CMD_WIFI_GET_IF_ACTIVE, ap, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 0);
    CHECK_EQ(call(84, BR_CMD_WIFI_SET_IF_ACTIVE, off, &o), ESP_OK);
    CHECK_EQ(call(85, BR_CMD_WIFI_GET_IF_ACTIVE, sta, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 0);
    CHECK_EQ(call(86, BR_CMD_WIFI_GET_MODE, NULL, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 0);             /* WIFI_MODE_NULL */
}

/* The country decides which channels WIFI_SET_CHANNEL accepts; a code that is not two
 * characters is refused before the driver sees it. */
static void test_country_code(void)
{
    out_frame_t o;
    boot();
    espnow_up();
    CHECK_EQ(call(90, BR_CMD_WIFI_GET_COUNTRY_CODE, NULL, &o), ESP_OK);
    CHECK_EQ(o.v[1].len, 2);
    CHECK(o.v[1].len == 2 && memcmp(o.v[1].ptr, "01", 2) == 0);
    br_value_t ch13[2] = { vint(13), vint(0) };
    CHECK_EQ(call(91, BR_CMD_WIFI_SET_CHANNEL, ch13, &o), ESP_ERR_INVALID_ARG);
    br_value_t jp[2] = { vbytes("JP", 2), vint(0) };
    CHECK_EQ(call(92, BR_CMD_WIFI_SET_COUNTRY_CODE, jp, &o), ESP_OK);
    CHECK_EQ(call(93, BR_CMD_WIFI_GET_COUNTRY_CODE, NULL, &o), ESP_OK);
    CHECK(o.v[1].len == 2 && memcmp(o.v[1].ptr, "JP", 2) == 0);
    CHECK_EQ(call(94, BR_CMD_WIFI_SET_CHANNEL, ch13, &o), ESP_OK);
    br_value_t one[2] = { vbytes("U", 1), vint(0) };
    CHECK_EQ(call(95, BR_CMD_WIFI_SET_COUNTRY_CODE, one, &o), ESP_ERR_INVALID_ARG);
    br_value_t us[2] = { vbytes("US", 2), vint(1) };
    CHECK_EQ(call(96, BR_CMD_WIFI_SET_COUNTRY_CODE, us, &o), ESP_OK);
    CHECK_EQ(call(97, BR_CMD_WIFI_GET_CHANNEL, NULL, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 1);   /* channel 13 is outside US's 1..11: the radio moved to the first one */
}

static void test_log_events(void)
{
    out_frame_t o;
    boot();
    drain_out();
    br_core_log(2, "W (12) wifi: hello", 18);
    pump();
    CHECK(next_out(&o));
    CHECK_EQ(o.f.code, BR_EVT_LOG);
    CHECK_EQ(o.v[0].i, 2);
    CHECK_EQ(o.v[2].len, 18);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    snprintf(g_air_dir, sizeof g_air_dir, "/tmp/bridge-test-air-%d", (int)getpid());
    test_hello_and_housekeeping();
    test_bad_frames();
    test_espnow_errors();
    test_send_tracking();
    test_replay_window();
    test_replay_keeps_pending_sync_send();
    test_window_busy();
    test_receive_path();
    test_if_active();
    test_max_payload_both_ways();
    test_log_events();
    test_country_code();
    test_replay_bad_orders();
    test_replay_sessions_and_busy();
    test_every_peer_flag();
    test_deinit_abandons_sends();
    test_responses_overtake_events();
    test_lost_at_reset();
    test_set_baud();
    test_strict_booleans();
    sim_emu_shutdown();
    rmdir(g_air_dir);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
