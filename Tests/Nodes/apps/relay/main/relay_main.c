/* A relay between sensors and a gateway that cannot hear each other: what a
 * sensor sends it goes to the gateway, what the gateway answers goes back to
 * the last sensor. The callback only queues; a task forwards. */
#include <stdio.h>
#include <string.h>
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/task.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_now.h"
#include "esp_wifi.h"

static const char *TAG = "relay";
typedef struct { uint8_t from[6]; int len; uint8_t data[250]; } msg_t;
static QueueHandle_t s_q;
static uint8_t s_gw[6];

static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    msg_t m = { .len = len > 250 ? 250 : len };
    memcpy(m.from, info->src_addr, 6);
    memcpy(m.data, data, (size_t)m.len);
    xQueueSend(s_q, &m, 0);
}

static void ensure_peer(const uint8_t *mac)
{
    if (esp_now_is_peer_exist(mac)) return;
    esp_now_peer_info_t p = { .channel = 0, .ifidx = WIFI_IF_STA };
    memcpy(p.peer_addr, mac, 6);
    ESP_ERROR_CHECK(esp_now_add_peer(&p));
}

static void forward_task(void *arg)
{
    (void)arg;
    uint8_t sensor[6] = { 0 };
    msg_t m;
    for (;;) {
        xQueueReceive(s_q, &m, portMAX_DELAY);
        if (!memcmp(m.from, s_gw, 6)) {
            ESP_LOGI(TAG, "gateway -> " MACSTR ": %d bytes", MAC2STR(sensor), m.len);
            ESP_ERROR_CHECK(esp_now_send(sensor, m.data, (size_t)m.len));
        } else {
            memcpy(sensor, m.from, 6);
            ensure_peer(sensor);
            ESP_LOGI(TAG, MACSTR " -> gateway: %d bytes", MAC2STR(sensor), m.len);
            ESP_ERROR_CHECK(esp_now_send(s_gw, m.data, (size_t)m.len));
        }
    }
}

void app_main(void)
{
    sscanf(CONFIG_RELAY_GATEWAY_MAC, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &s_gw[0], &s_gw[1], &s_gw[2], &s_gw[3], &s_gw[4], &s_gw[5]);
    s_q = xQueueCreate(8, sizeof(msg_t));
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&cfg));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_start());
    ESP_ERROR_CHECK(esp_now_init());
    ESP_ERROR_CHECK(esp_now_register_recv_cb(on_recv));
    ensure_peer(s_gw);
    xTaskCreate(forward_task, "forward", 4096, NULL, 6, NULL);
}
