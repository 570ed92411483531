/* A battery sensor as ESP-IDF applications are written: wake, send one
 * reading to the gateway, wait for its acknowledgement (which carries a
 * downlink: the next sleep interval, kept in NVS), deep-sleep. The reading
 * counter lives in RTC memory. */
#include <stdio.h>
#include <string.h>
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/queue.h"
#include "esp_attr.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_now.h"
#include "esp_random.h"
#include "esp_sleep.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "esp_wifi.h"
#include "nvs_flash.h"

static const char *TAG = "sensor";
RTC_DATA_ATTR static uint32_t s_readings;
static EventGroupHandle_t s_ev;
static QueueHandle_t s_ack_q;
static uint8_t s_gw[6];
#define SENT_BIT BIT0
#define SENT_OK_BIT BIT1

typedef struct __attribute__((packed)) { char tag; uint32_t seq; int16_t temp_centi; } reading_t;
typedef struct __attribute__((packed)) { char tag; uint32_t seq; uint16_t sleep_s; } ack_t;

static void on_sent(const uint8_t *mac, esp_now_send_status_t st)
{
    (void)mac;
    xEventGroupSetBits(s_ev, SENT_BIT | (st == ESP_NOW_SEND_SUCCESS ? SENT_OK_BIT : 0));
}

static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    if (len == sizeof(ack_t) && data[0] == 'A' && !memcmp(info->src_addr, s_gw, 6)) {
        ack_t a;
        memcpy(&a, data, sizeof a);
        xQueueSend(s_ack_q, &a, 0);
    }
}

void app_main(void)
{
    ESP_ERROR_CHECK(nvs_flash_init());
    nvs_handle_t nvs;
    ESP_ERROR_CHECK(nvs_open("sensor", NVS_READWRITE, &nvs));
    uint16_t sleep_s = CONFIG_SENSOR_SLEEP_S;
    nvs_get_u16(nvs, "sleep_s", &sleep_s);
    s_readings++;
    ESP_LOGI(TAG, "boot: reset=%d wake=%d reading=%" PRIu32 " sleep_s=%u", (int)esp_reset_reason(),
             (int)esp_sleep_get_wakeup_cause(), s_readings, sleep_s);

    sscanf(CONFIG_SENSOR_GATEWAY_MAC, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &s_gw[0], &s_gw[1], &s_gw[2], &s_gw[3],
           &s_gw[4], &s_gw[5]);
    s_ev = xEventGroupCreate();
    s_ack_q = xQueueCreate(4, sizeof(ack_t));
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&cfg));
    ESP_ERROR_CHECK(esp_wifi_set_storage(WIFI_STORAGE_RAM));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_start());
    ESP_ERROR_CHECK(esp_wifi_set_channel(CONFIG_SENSOR_CHANNEL, WIFI_SECOND_CHAN_NONE));
    ESP_ERROR_CHECK(esp_now_init());
    ESP_ERROR_CHECK(esp_now_register_send_cb(on_sent));
    ESP_ERROR_CHECK(esp_now_register_recv_cb(on_recv));
    esp_now_peer_info_t peer = { .channel = CONFIG_SENSOR_CHANNEL, .ifidx = WIFI_IF_STA };
    memcpy(peer.peer_addr, s_gw, 6);
    ESP_ERROR_CHECK(esp_now_add_peer(&peer));

    reading_t r = { 'R', s_readings, (int16_t)(2000 + esp_random() % 500) };
    int64_t t0 = esp_timer_get_time();
    ESP_ERROR_CHECK(esp_now_send(s_gw, (const uint8_t *)&r, sizeof r));
    EventBits_t b = xEventGroupWaitBits(s_ev, SENT_BIT, pdTRUE, pdFALSE, portMAX_DELAY);
    ack_t ack;
    if (!(b & SENT_OK_BIT)) {
        ESP_LOGW(TAG, "reading %" PRIu32 ": not delivered", s_readings);
    } else if (xQueueReceive(s_ack_q, &ack, pdMS_TO_TICKS(CONFIG_SENSOR_ACK_TIMEOUT_MS)) == pdTRUE &&
               ack.seq == s_readings) {
        ESP_LOGI(TAG, "reading %" PRIu32 ": ack after %lld us, downlink sleep_s=%u", s_readings,
                 (long long)(esp_timer_get_time() - t0), ack.sleep_s);
        if (ack.sleep_s != sleep_s) {
            sleep_s = ack.sleep_s;
            ESP_ERROR_CHECK(nvs_set_u16(nvs, "sleep_s", sleep_s));
            ESP_ERROR_CHECK(nvs_commit(nvs));
        }
    } else {
        ESP_LOGW(TAG, "reading %" PRIu32 ": no ack", s_readings);
    }
    nvs_close(nvs);
    ESP_LOGI(TAG, "sleeping %u s", sleep_s);
    esp_deep_sleep((uint64_t)sleep_s * 1000000u);
}
