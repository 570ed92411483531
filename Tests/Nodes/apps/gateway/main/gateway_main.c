/* The gateway for the sensor: a task takes readings from a queue filled by
 * the receive callback, logs them and answers each with an acknowledgement
 * carrying the sleep interval the sensor should use (shorter after the
 * third reading). A periodic esp_timer reports the count. */
#include <string.h>
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/task.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_now.h"
#include "esp_timer.h"
#include "esp_wifi.h"
#include "nvs_flash.h"

static const char *TAG = "gateway";
typedef struct __attribute__((packed)) { char tag; uint32_t seq; int16_t temp_centi; } reading_t;
typedef struct __attribute__((packed)) { char tag; uint32_t seq; uint16_t sleep_s; } ack_t;
typedef struct { uint8_t mac[6]; reading_t r; } item_t;
static QueueHandle_t s_q;
static volatile uint32_t s_count;

static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    if (len != sizeof(reading_t) || data[0] != 'R') return;
    item_t it;
    memcpy(it.mac, info->src_addr, 6);
    memcpy(&it.r, data, sizeof it.r);
    if (xQueueSend(s_q, &it, 0) != pdTRUE) ESP_LOGW(TAG, "queue full");
}

static void stats(void *arg)
{
    (void)arg;
    ESP_LOGI(TAG, "stats: %" PRIu32 " readings", s_count);
}

static void worker(void *arg)
{
    (void)arg;
    item_t it;
    for (;;) {
        if (xQueueReceive(s_q, &it, portMAX_DELAY) != pdTRUE) continue;
        s_count++;
        ESP_LOGI(TAG, "reading %" PRIu32 " from " MACSTR ": %d.%02d C", it.r.seq, MAC2STR(it.mac),
                 it.r.temp_centi / 100, it.r.temp_centi % 100);
        if (!esp_now_is_peer_exist(it.mac)) {
            esp_now_peer_info_t p = { .channel = 0, .ifidx = WIFI_IF_STA };
            memcpy(p.peer_addr, it.mac, 6);
            ESP_ERROR_CHECK(esp_now_add_peer(&p));
        }
        ack_t a = { 'A', it.r.seq, (uint16_t)(it.r.seq >= 3 ? 10 : 30) };
        ESP_ERROR_CHECK(esp_now_send(it.mac, (const uint8_t *)&a, sizeof a));
    }
}

void app_main(void)
{
    ESP_ERROR_CHECK(nvs_flash_init());
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&cfg));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_start());
    uint8_t mac[6], ch;
    wifi_second_chan_t snd;
    ESP_ERROR_CHECK(esp_read_mac(mac, ESP_MAC_WIFI_STA));
    ESP_ERROR_CHECK(esp_wifi_get_channel(&ch, &snd));
    ESP_LOGI(TAG, "up: " MACSTR " channel %u", MAC2STR(mac), ch);
    s_q = xQueueCreate(8, sizeof(item_t));
    ESP_ERROR_CHECK(esp_now_init());
    ESP_ERROR_CHECK(esp_now_register_recv_cb(on_recv));
    xTaskCreate(worker, "worker", 4096, NULL, 5, NULL);
    const esp_timer_create_args_t a = { .callback = stats, .name = "stats" };
    esp_timer_handle_t t;
    ESP_ERROR_CHECK(esp_timer_create(&a, &t));
    ESP_ERROR_CHECK(esp_timer_start_periodic(t, 60 * 1000000));
}
