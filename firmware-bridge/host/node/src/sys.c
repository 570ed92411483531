/* esp_log, esp_random, the ROM CRCs, MAC helpers, sleep, restart and RTC
 * memory of a node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp_crc.h"
#include "esp_err.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_random.h"
#include "esp_sleep.h"
#include "esp_system.h"
#include "rt.h"
#include "sim_node.h"

/* ---- esp_log */

#define MAX_TAG_LEVELS 32
static struct { char tag[32]; esp_log_level_t level; } s_tags[MAX_TAG_LEVELS];
static int s_ntags;
static esp_log_level_t s_default_level = (esp_log_level_t)CONFIG_LOG_DEFAULT_LEVEL;

void rt_log_boot(void) { setvbuf(stdout, NULL, _IOFBF, 1 << 16); }

void esp_log_level_set(const char *tag, esp_log_level_t level)
{
    if (tag == NULL) return;
    if (!strcmp(tag, "*")) {
        s_default_level = level;
        s_ntags = 0;
        return;
    }
    for (int i = 0; i < s_ntags; i++) {
        if (!strcmp(s_tags[i].tag, tag)) {
            s_tags[i].level = level;
            return;
        }
    }
    if (s_ntags < MAX_TAG_LEVELS) {
        snprintf(s_tags[s_ntags].tag, sizeof s_tags[0].tag, "%s", tag);
        s_tags[s_ntags++].level = level;
    }
}

esp_log_level_t esp_log_level_get(const char *tag)
{
    for (int i = 0; tag && i < s_ntags; i++) {
        if (!strcmp(s_tags[i].tag, tag)) return s_tags[i].level;
    }
    return s_default_level;
}

uint32_t esp_log_timestamp(void) { return (uint32_t)(rt_uptime_us() / 1000u); }
uint32_t esp_log_early_timestamp(void) { return esp_log_timestamp(); }

void esp_log_writev(esp_log_level_t level, const char *tag, const char *format, va_list args)
{
    if (level > esp_log_level_get(tag)) return;
    vprintf(format, args);
}

void esp_log_write(esp_log_level_t level, const char *tag, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    esp_log_writev(level, tag, format, ap);
    va_end(ap);
}

static void buffer_lines(const char *tag, const uint8_t *b, uint16_t len, esp_log_level_t level, int mode)
{
    for (uint16_t off = 0; off < len; off += 16) {
        char line[160];
        size_t n = 0;
        uint16_t k = len - off < 16 ? len - off : 16;
        if (mode == 2) n += (size_t)snprintf(line + n, sizeof line - n, "0x%08x   ", off);
        for (uint16_t i = 0; i < k; i++) {
            if (mode == 1) n += (size_t)snprintf(line + n, sizeof line - n, "%c", b[off + i]);
            else n += (size_t)snprintf(line + n, sizeof line - n, "%02x ", b[off + i]);
        }
        if (mode != 1 && n) line[--n] = '\0';
        ESP_LOG_LEVEL(level, tag, "%s", line);
    }
}

void esp_log_buffer_hex_internal(const char *tag, const void *b, uint16_t len, esp_log_level_t level) { buffer_lines(tag, b, len, level, 0); }
void esp_log_buffer_char_internal(const char *tag, const void *b, uint16_t len, esp_log_level_t level) { buffer_lines(tag, b, len, level, 1); }
void esp_log_buffer_hexdump_internal(const char *tag, const void *b, uint16_t len, esp_log_level_t level) { buffer_lines(tag, b, len, level, 2); }

void _esp_error_check_failed(esp_err_t rc, const char *file, int line, const char *function, const char *expression)
{
    printf("ESP_ERROR_CHECK failed: esp_err_t 0x%x (%s) at %s:%d\nfunc: %s\nexpression: %s\n", (unsigned)rc,
           esp_err_to_name(rc), file, line, function, expression);
    rt_panic("ESP_ERROR_CHECK failed");
    abort();
}

void _esp_error_check_failed_without_abort(esp_err_t rc, const char *file, int line, const char *function,
                                           const char *expression)
{
    printf("ESP_ERROR_CHECK_WITHOUT_ABORT failed: esp_err_t 0x%x (%s) at %s:%d\nfunc: %s\nexpression: %s\n",
           (unsigned)rc, esp_err_to_name(rc), file, line, function, expression);
}

/* ---- esp_random: splitmix64 from the simulation's seed */

static uint64_t s_rng;

uint32_t esp_random(void)
{
    uint64_t z = (s_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

void esp_fill_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        uint32_t r = esp_random();
        size_t k = len < 4 ? len : 4;
        memcpy(p, &r, k);
        p += k;
        len -= k;
    }
}

/* ---- ROM CRCs: register inverted before and after; _le reflected, _be not */

#define CRC_LE(W, T, RPOLY) \
    T esp_rom_crc##W##_le(T crc, uint8_t const *buf, uint32_t len) \
    { \
        crc = (T)~crc; \
        for (uint32_t i = 0; i < len; i++) { \
            crc ^= buf[i]; \
            for (int k = 0; k < 8; k++) crc = (T)((crc & 1u) ? (crc >> 1) ^ (RPOLY) : crc >> 1); \
        } \
        return (T)~crc; \
    }
#define CRC_BE(W, T, POLY) \
    T esp_rom_crc##W##_be(T crc, uint8_t const *buf, uint32_t len) \
    { \
        crc = (T)~crc; \
        for (uint32_t i = 0; i < len; i++) { \
            crc ^= (T)((T)buf[i] << ((W) - 8)); \
            for (int k = 0; k < 8; k++) crc = (T)((crc >> ((W) - 1)) & 1u ? (T)(crc << 1) ^ (POLY) : (T)(crc << 1)); \
        } \
        return (T)~crc; \
    }
CRC_LE(32, uint32_t, 0xEDB88320u)
CRC_BE(32, uint32_t, 0x04C11DB7u)
CRC_LE(16, uint16_t, 0x8408u)
CRC_BE(16, uint16_t, 0x1021u)
CRC_LE(8, uint8_t, 0xE0u)
CRC_BE(8, uint8_t, 0x07u)

/* ---- MAC */

esp_err_t esp_efuse_mac_get_default(uint8_t *mac) { return esp_read_mac(mac, ESP_MAC_EFUSE_FACTORY); }
esp_err_t esp_base_mac_addr_get(uint8_t *mac) { return esp_read_mac(mac, ESP_MAC_BASE); }
esp_err_t esp_base_mac_addr_set(const uint8_t *mac)
{
    (void)mac;
    return ESP_ERR_NOT_SUPPORTED;     /* the simulator assigns each node's MACs (--node mac=...) */
}

esp_err_t esp_derive_local_mac(uint8_t *local_mac, const uint8_t *universal_mac)
{
    if (local_mac == NULL || universal_mac == NULL) return ESP_ERR_INVALID_ARG;
    memcpy(local_mac, universal_mac, 6);
    for (int i = 0; i < 64; i++) {
        local_mac[0] = (uint8_t)(universal_mac[0] | 0x02);
        local_mac[0] ^= (uint8_t)(i << 2);
        if (memcmp(local_mac, universal_mac, 6)) break;
    }
    return ESP_OK;
}

/* ---- system */

#define MAX_SHUTDOWN 16
static shutdown_handler_t s_shutdown[MAX_SHUTDOWN];

void rt_sys_boot(void) { s_rng = rt_seed() * 0x2545F4914F6CDD1Dull + 0x1234567u; }

esp_err_t esp_register_shutdown_handler(shutdown_handler_t h)
{
    for (int i = 0; i < MAX_SHUTDOWN; i++) {
        if (s_shutdown[i] == h) return ESP_ERR_INVALID_STATE;
    }
    for (int i = 0; i < MAX_SHUTDOWN; i++) {
        if (s_shutdown[i] == NULL) {
            s_shutdown[i] = h;
            return ESP_OK;
        }
    }
    return ESP_ERR_NO_MEM;
}

esp_err_t esp_unregister_shutdown_handler(shutdown_handler_t h)
{
    for (int i = 0; i < MAX_SHUTDOWN; i++) {
        if (s_shutdown[i] == h) {
            s_shutdown[i] = NULL;
            return ESP_OK;
        }
    }
    return ESP_ERR_INVALID_STATE;
}

static void run_shutdown_handlers(void)
{
    for (int i = MAX_SHUTDOWN - 1; i >= 0; i--) {
        if (s_shutdown[i]) s_shutdown[i]();
    }
}

void esp_restart(void)
{
    run_shutdown_handlers();
    rt_halt(SIM_NODE_HALT_RESTART, 0);
    abort();
}

void esp_system_abort(const char *details)
{
    rt_panic(details ? details : "esp_system_abort");
    abort();
}

/* A host process has no fixed heap: report the figures of an ESP32 running a
 * Wi-Fi application, so code that checks them takes its normal path. */
uint32_t esp_get_free_heap_size(void) { return 200000u; }
uint32_t esp_get_free_internal_heap_size(void) { return 200000u; }
uint32_t esp_get_minimum_free_heap_size(void) { return 180000u; }

/* ---- sleep */

static uint64_t s_timer_us = UINT64_MAX;

esp_err_t esp_sleep_enable_timer_wakeup(uint64_t us)
{
    s_timer_us = us;
    return ESP_OK;
}

esp_err_t esp_sleep_disable_wakeup_source(esp_sleep_source_t source)
{
    if (source == ESP_SLEEP_WAKEUP_TIMER || source == ESP_SLEEP_WAKEUP_ALL) {
        s_timer_us = UINT64_MAX;
        return ESP_OK;
    }
    return ESP_ERR_INVALID_STATE;      /* no other source can be enabled here */
}

static int s_light_woke;

esp_sleep_wakeup_cause_t esp_sleep_get_wakeup_cause(void)
{
    if (s_light_woke) return ESP_SLEEP_WAKEUP_TIMER;
    return (esp_sleep_wakeup_cause_t)rt_wake_cause();
}

void esp_deep_sleep_start(void)
{
    run_shutdown_handlers();
    rt_halt(SIM_NODE_HALT_DEEP_SLEEP, s_timer_us);
    abort();
}

void esp_deep_sleep(uint64_t us)
{
    esp_sleep_enable_timer_wakeup(us);
    esp_deep_sleep_start();
}

esp_err_t esp_deep_sleep_try(uint64_t us) { esp_deep_sleep(us); }
esp_err_t esp_deep_sleep_try_to_start(void) { esp_deep_sleep_start(); }

esp_err_t esp_light_sleep_start(void)
{
    if (s_timer_us == UINT64_MAX) return ESP_ERR_SLEEP_REJECT;   /* nothing could wake it */
    rt_light_sleep(s_timer_us);
    s_light_woke = 1;
    return ESP_OK;
}

/* ---- RTC memory (sections rtc_data and rtc_noinit, see esp_attr.h) */

extern char __start_rtc_data[] __attribute__((weak));
extern char __stop_rtc_data[] __attribute__((weak));
extern char __start_rtc_noinit[] __attribute__((weak));
extern char __stop_rtc_noinit[] __attribute__((weak));

static void rtc_path(char *out, size_t cap) { snprintf(out, cap, "%s/rtc.bin", rt_state_dir()); }

void rt_rtc_save(void)
{
    char p[600];
    rtc_path(p, sizeof p);
    FILE *f = fopen(p, "wb");
    if (f == NULL) return;
    uint32_t n1 = (uint32_t)(__stop_rtc_data - __start_rtc_data), n2 = (uint32_t)(__stop_rtc_noinit - __start_rtc_noinit);
    fwrite(&n1, 4, 1, f);
    if (n1) fwrite(__start_rtc_data, 1, n1, f);
    fwrite(&n2, 4, 1, f);
    if (n2) fwrite(__start_rtc_noinit, 1, n2, f);
    fclose(f);
}

/* RTC data survives deep sleep only; RTC no-init memory survives any reset but power-on. */
void rt_rtc_restore(void)
{
    char p[600];
    rtc_path(p, sizeof p);
    int reason = rt_reset_reason();
    if (reason == ESP_RST_POWERON || reason == ESP_RST_UNKNOWN) {
        remove(p);
        return;
    }
    FILE *f = fopen(p, "rb");
    if (f == NULL) return;
    uint32_t n1 = 0, n2 = 0;
    uint32_t want1 = (uint32_t)(__stop_rtc_data - __start_rtc_data), want2 = (uint32_t)(__stop_rtc_noinit - __start_rtc_noinit);
    if (fread(&n1, 4, 1, f) == 1 && n1 == want1) {
        char *tmp = malloc(n1 ? n1 : 1);
        if (tmp && fread(tmp, 1, n1, f) == n1 && reason == ESP_RST_DEEPSLEEP && n1) memcpy(__start_rtc_data, tmp, n1);
        free(tmp);
        if (fread(&n2, 4, 1, f) == 1 && n2 == want2 && n2) {
            if (fread(__start_rtc_noinit, 1, n2, f) != n2) {
                /* a short file: keep what was read; the rest stays as initialised */
            }
        }
    }
    fclose(f);
}
