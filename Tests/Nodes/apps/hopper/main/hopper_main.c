/* A node that does not know its gateway's channel: it tries each channel
 * with a unicast (only the gateway, on its own channel, acknowledges it) and
 * keeps the first that is acknowledged, in NVS. Uses task notifications. */
#include <stdio.h>
#include <string.h>
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "esp_log.h"
#include "esp_now.h"
#include "esp_wifi.h"
#include "nvs_flash.h"

static const char *TAG = "hopper";
static TaskHandle_t s_main;

static void on_sent(const uint8_t *mac, esp_now_send_status_t st)
{
    (void)mac;
    xTaskNotify(s_main, st == ESP_NOW_SEND_SUCCESS ? 1 : 2, eSetValueWithOverwrite);
}

void app_main(void)
{
    ESP_ERROR_CHECK(nvs_flash_init());
    s_main = xTaskGetCurrentTaskHandle();
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&cfg));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_start());
    ESP_ERROR_CHECK(esp_now_init());
    ESP_ERROR_CHECK(esp_now_register_send_cb(on_sent));
    uint8_t gw[6];
    sscanf(CONFIG_HOPPER_GATEWAY_MAC, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &gw[0], &gw[1], &gw[2], &gw[3], &gw[4], &gw[5]);
    esp_now_peer_info_t p = { .channel = 0, .ifidx = WIFI_IF_STA };
    memcpy(p.peer_addr, gw, 6);
    ESP_ERROR_CHECK(esp_now_add_peer(&p));
    for (uint8_t ch = 1; ch <= 11; ch++) {
        ESP_ERROR_CHECK(esp_wifi_set_channel(ch, WIFI_SECOND_CHAN_NONE));
        const char hello[] = "hello";
        ESP_ERROR_CHECK(esp_now_send(gw, (const uint8_t *)hello, sizeof hello));
        uint32_t v = 0;
        xTaskNotifyWait(0, UINT32_MAX, &v, portMAX_DELAY);
        ESP_LOGI(TAG, "channel %u: %s", ch, v == 1 ? "acknowledged" : "no answer");
        if (v == 1) {
            nvs_handle_t h;
            ESP_ERROR_CHECK(nvs_open("hopper", NVS_READWRITE, &h));
            ESP_ERROR_CHECK(nvs_set_u8(h, "channel", ch));
            nvs_close(h);
            ESP_LOGI(TAG, "found gateway on channel %u", ch);
            return;
        }
        vTaskDelay(pdMS_TO_TICKS(100));
    }
    ESP_LOGE(TAG, "gateway not found");
}
