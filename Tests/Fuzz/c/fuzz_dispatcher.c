/* libFuzzer target: the bridge core's dispatcher behind a valid frame layer.
 * Each input is a sequence of requests: [code][len lo][len hi][body...]...,
 * wrapped into correctly framed, CRC-valid request frames so the fuzzer spends
 * its time in argument decoding and the esp_now/esp_wifi paths (the frame
 * decoder has its own target). The raw input is also fed as link bytes. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bridge_core.h"
#include "bridge_frame.h"
#include "esp_wifi.h"
#include "sim_emu.h"

static uint64_t g_now = 1;
static size_t sink(void *ctx, const uint8_t *d, size_t n) { (void)ctx; (void)d; return n; }
static uint64_t now(void *ctx) { (void)ctx; return g_now; }
static uint64_t emu_now(void) { return g_now; }
static void restart(void *ctx) { (void)ctx; }
static const br_port_t port = { sink, now, restart, NULL, NULL, NULL, NULL };

static void boot(void)
{
    static char dir[64];
    sim_emu_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(dir, sizeof dir, "/tmp/bridge-fuzz-air-%d", (int)getpid());
    cfg.air_dir = dir;
    static const uint8_t sta[6] = { 2, 0xf0, 0, 0, 0, 1 }, ap[6] = { 2, 0xf0, 0, 0, 0, 2 };
    memcpy(cfg.sta_mac, sta, 6);
    memcpy(cfg.ap_mac, ap, 6);
    sim_emu_set_clock(emu_now);
    sim_emu_configure(&cfg);
    wifi_init_config_t w = WIFI_INIT_CONFIG_DEFAULT();
    esp_wifi_init(&w);
    br_identity_t id = { 0, 1, 0, 0x8000, 0, 3, 0, 1, 1, "fuzz", BR_CAP_SIMULATED };
    br_core_init(&port, &id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int booted;
    static unsigned runs;
    /* Reboot now and then so state (peers, modes) does not saturate. */
    if (!booted || (++runs % 64) == 0) {
        sim_emu_reboot();
        boot();
        booted = 1;
    }
    static uint8_t wire[BR_MAX_ENCODED];
    static uint16_t id;
    size_t i = 0;
    while (i + 3 <= size) {
        uint8_t code = data[i];
        size_t len = (size_t)(data[i + 1] | (data[i + 2] << 8)) % 1600u;
        i += 3;
        if (len > size - i) len = size - i;
        br_frame_t f = { BR_PROTO_VERSION, BR_KIND_REQUEST, id++, code, data + i, (uint16_t)len };
        size_t n = br_frame_encode(&f, wire, sizeof wire);
        if (n > 0) br_core_feed(wire, n);
        i += len;
        g_now += 3000;   /* lets ACK timeouts and the SET_BAUD timer fire */
        sim_emu_poll();
        br_core_poll();
    }
    br_core_feed(data, size);
    sim_emu_poll();
    br_core_poll();
    return 0;
}
