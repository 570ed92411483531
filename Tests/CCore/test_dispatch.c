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
static const br_port_t g_port = { port_write, port_now, port_restart, NULL, NULL, NULL };

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
    br_identity_t id = { 0, 1, 0, 0x8000, 0, 3, 0, 1, 7, "v5.4.2-test", BR_CAP_SIMULATED };
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
    CHECK_EQ(o.v[0].i, 1);             /* proto_version */
    CHECK_EQ(o.v[4].i, 0x8000);        /* chip_model: simulator */
    CHECK_EQ(o.v[6].i, 2);             /* ESP-NOW v2 */
    CHECK_EQ(o.v[7].i, 1470);          /* max_payload */
    CHECK(memcmp(o.v[8].ptr, MY_STA, 6) == 0);
    CHECK(memcmp(o.v[9].ptr, MY_AP, 6) == 0);
    CHECK_EQ(o.v[12].i, 7);            /* boot_count */
    CHECK_EQ(o.v[13].i, BR_WINDOW);
    CHECK_EQ(o.v[14].i, 516);          /* rxbuf default */

    CHECK_EQ(call(1, BR_CMD_HELLO, NULL, &o), ESP_OK);
    CHECK_EQ(o.v[1].i, 1);
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
    /* Payload above the maximum is rejected by the layout (bad body). */
    static uint8_t big[1471];
    uint8_t body[6 + 1 + sizeof big];
    memcpy(body, BCAST, 6);
    body[6] = 0;
    memcpy(body + 7, big, sizeof big);
    drain_out();
    send_raw_body(201, BR_CMD_ESPNOW_SEND, body, sizeof body);
    CHECK_EQ(response_err(201, &o), ESP_ERR_INVALID_SIZE);
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
    static const uint8_t nullmac[6] = { 0 };
    br_value_t all[3] = { vmac(nullmac), vint(0), vbytes("all", 3) };
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
    test_log_events();
    sim_emu_shutdown();
    rmdir(g_air_dir);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
