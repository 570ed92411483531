/* The dongle application: brings up NVS and Wi-Fi, the host link and the core
 * task, then lets the host drive everything through the bridge protocol. */
#include <string.h>

#include "bridge_core.h"
#include "esp_attr.h"
#include "esp_chip_info.h"
#include "esp_event.h"
#include "esp_idf_version.h"
#include "esp_mac.h"
#include "esp_now.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/stream_buffer.h"
#include "freertos/task.h"
#include "link_transport.h"
#include "nvs.h"
#include "nvs_flash.h"
#include "sdkconfig.h"

#if ESP_IDF_VERSION < ESP_IDF_VERSION_VAL(5, 1, 0)
#error "espnow-bridge needs ESP-IDF 5.1 or later (see firmware-bridge/README.md)"
#endif

/* Console text on the bridge's own port would land between frames (boot log,
 * printf, panic output); sdkconfig.defaults turns both consoles off. */
#if CONFIG_BRIDGE_TRANSPORT_USB_SERIAL_JTAG && \
    (defined(CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG) || defined(CONFIG_ESP_CONSOLE_SECONDARY_USB_SERIAL_JTAG))
#error "a console shares the USB-Serial-JTAG bridge link: set CONFIG_ESP_CONSOLE_NONE and CONFIG_ESP_CONSOLE_SECONDARY_NONE"
#endif
#if CONFIG_BRIDGE_TRANSPORT_UART && defined(CONFIG_ESP_CONSOLE_UART) && CONFIG_ESP_CONSOLE_UART_NUM == CONFIG_BRIDGE_UART_NUM
#error "the UART console shares the bridge's UART: set CONFIG_ESP_CONSOLE_NONE or another BRIDGE_UART_NUM"
#endif

#define FW_MAJOR 0
#define FW_MINOR 1
#define FW_PATCH 0

void log_redirect_install(void);

static TaskHandle_t s_core_task;
static StreamBufferHandle_t s_link_rx;
static br_identity_t s_identity;
static char s_idf_version[32];

static size_t port_write(void *ctx, const uint8_t *data, size_t len) { (void)ctx; return link_write(data, len); }
static uint64_t port_now_us(void *ctx) { (void)ctx; return (uint64_t)esp_timer_get_time(); }
static void port_restart(void *ctx) { (void)ctx; esp_restart(); }
static esp_err_t port_set_baud(void *ctx, uint32_t baud) { (void)ctx; return link_set_baud(baud); }
static void port_notify(void *ctx)
{
    (void)ctx;
    /* Radio callbacks run in the Wi-Fi task: a notification never blocks. */
    if (s_core_task) xTaskNotifyGive(s_core_task);
}

/* Survives software resets, panics and watchdog resets: the core counts in it the
 * received packets a restart would lose, and reports them in the next HELLO. Chips
 * without RTC memory (ESP32-C2, C61) keep it in DRAM's .noinit, which a software
 * reset leaves alone too. */
#if CONFIG_SOC_RTC_FAST_MEM_SUPPORTED || CONFIG_SOC_RTC_SLOW_MEM_SUPPORTED
static RTC_NOINIT_ATTR br_persist_t s_rtc_persist;
#else
static __NOINIT_ATTR br_persist_t s_rtc_persist;
#endif

static const br_port_t s_port = {
    .link_write = port_write,
    .now_us = port_now_us,
    .restart = port_restart,
    .set_baud = port_set_baud,
    .notify = port_notify,
    .ctx = NULL,
    .persist = &s_rtc_persist,
};

static uint32_t next_boot_count(void)
{
    nvs_handle_t h;
    uint32_t count = 0;
    if (nvs_open("bridge", NVS_READWRITE, &h) == ESP_OK) {
        nvs_get_u32(h, "boots", &count);
        count++;
        nvs_set_u32(h, "boots", count);
        nvs_commit(h);
        nvs_close(h);
    }
    return count;
}

/* Runs in the event-loop task: the core only queues the event (a lock-free hand-off)
 * and emits it from the core task. */
static void on_wifi_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)arg;
    (void)base;
    uint8_t primary = 0;
    wifi_second_chan_t second;
    esp_wifi_get_channel(&primary, &second);
    if (id == WIFI_EVENT_STA_CONNECTED) {
        br_core_wifi_event(1, primary, 0);
    } else if (id == WIFI_EVENT_STA_DISCONNECTED) {
        const wifi_event_sta_disconnected_t *d = data;
        br_core_wifi_event(2, primary, d ? d->reason : 0);
#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 2, 0)
    } else if (id == WIFI_EVENT_HOME_CHANNEL_CHANGE) {
        const wifi_event_home_channel_change_t *c = data;
        br_core_wifi_event(3, c ? c->new_chan : primary, 0);
#endif
    }
}

/* Reads the link and hands bytes to the core task (the only task that runs the core). */
static void link_reader_task(void *arg)
{
    (void)arg;
    uint8_t buf[256];
    for (;;) {
        size_t n = link_read(buf, sizeof buf, portMAX_DELAY);
        if (n > 0) {
            xStreamBufferSend(s_link_rx, buf, n, portMAX_DELAY);
            xTaskNotifyGive(s_core_task);
        }
    }
}

static void core_task(void *arg)
{
    (void)arg;
    uint8_t buf[256];
    br_core_emit_hello();
    for (;;) {
        size_t n;
        while ((n = xStreamBufferReceive(s_link_rx, buf, sizeof buf, 0)) > 0) br_core_feed(buf, n);
        br_core_poll();
        /* Sleep until bytes, a radio callback or a log line arrive; while output is
         * pending, come back after one tick to push more into the driver. */
        ulTaskNotifyTake(pdTRUE, br_core_tx_pending() ? 1 : pdMS_TO_TICKS(100));
    }
}

void app_main(void)
{
    /* First: every log line from here on (the esp_wifi_init lines included) becomes a
     * LOG event, kept by the core until it runs; none is written to a console. */
    log_redirect_install();
    esp_err_t e = nvs_flash_init();
    if (e == ESP_ERR_NVS_NO_FREE_PAGES || e == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        nvs_flash_erase();
        nvs_flash_init();
    }
    esp_chip_info_t chip;
    esp_chip_info(&chip);
    strncpy(s_idf_version, esp_get_idf_version(), sizeof s_idf_version - 1);
    s_identity = (br_identity_t){
        .fw_major = FW_MAJOR, .fw_minor = FW_MINOR, .fw_patch = FW_PATCH,
        .chip_model = (uint16_t)chip.model,
        .chip_revision = chip.revision,
        .transport = link_transport_id(),
        .baud = link_baud(),
        .reset_reason = (uint8_t)esp_reset_reason(),
        .boot_count = next_boot_count(),
        .idf_version = s_idf_version,
        .caps = link_transport_id() == 2 ? BR_CAP_SET_BAUD : 0,
    };

    /* Wi-Fi is initialised but not started: like MicroPython, the host activates
     * interfaces (WLAN.active) itself. Peers and keys live in RAM only. */
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    wifi_init_config_t wcfg = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&wcfg));
    ESP_ERROR_CHECK(esp_wifi_set_storage(WIFI_STORAGE_RAM));
    ESP_ERROR_CHECK(esp_event_handler_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_wifi_event, NULL));

    s_link_rx = xStreamBufferCreate(4096, 1);
    ESP_ERROR_CHECK(link_init());
    br_core_init(&s_port, &s_identity);
    xTaskCreate(core_task, "bridge_core", 6144, NULL, 10, &s_core_task);
    xTaskCreate(link_reader_task, "bridge_rx", 3072, NULL, 11, NULL);
}
