/* An encrypted pair: the initiator sends three secrets to the responder over
 * an encrypted peer (PMK + LMK), the responder answers each, also encrypted.
 * The role follows the node's MAC. A semaphore carries each reply. */
#include <stdio.h>
#include <string.h>
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_now.h"
#include "esp_wifi.h"

static const char *TAG = "secure";
static uint8_t s_peer[6];
static bool s_initiator;
static SemaphoreHandle_t s_reply;

static void parse(const char *s, uint8_t m[6])
{
    sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]);
}

static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    ESP_LOGI(TAG, "got \"%.*s\" from " MACSTR, len, (const char *)data, MAC2STR(info->src_addr));
    if (s_initiator) {
        xSemaphoreGive(s_reply);
        return;
    }
    char reply[64];
    int n = snprintf(reply, sizeof reply, "reply to %.*s", len, (const char *)data);
    esp_err_t e = esp_now_send(info->src_addr, (const uint8_t *)reply, (size_t)n);
    if (e != ESP_OK) ESP_LOGE(TAG, "reply: %s", esp_err_to_name(e));
}

void app_main(void)
{
    uint8_t me[6], initiator[6], responder[6];
    parse(CONFIG_SECURE_INITIATOR_MAC, initiator);
    parse(CONFIG_SECURE_RESPONDER_MAC, responder);
    ESP_ERROR_CHECK(esp_read_mac(me, ESP_MAC_WIFI_STA));
    s_initiator = !memcmp(me, initiator, 6);
    memcpy(s_peer, s_initiator ? responder : initiator, 6);
    s_reply = xSemaphoreCreateBinary();
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&cfg));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_start());
    ESP_ERROR_CHECK(esp_now_init());
    ESP_ERROR_CHECK(esp_now_register_recv_cb(on_recv));
    ESP_ERROR_CHECK(esp_now_set_pmk((const uint8_t *)CONFIG_SECURE_PMK));
    esp_now_peer_info_t p = { .channel = 0, .ifidx = WIFI_IF_STA, .encrypt = true };
    memcpy(p.peer_addr, s_peer, 6);
    memcpy(p.lmk, CONFIG_SECURE_LMK, ESP_NOW_KEY_LEN);
    ESP_ERROR_CHECK(esp_now_add_peer(&p));
    ESP_LOGI(TAG, "%s, encrypted peer " MACSTR, s_initiator ? "initiator" : "responder", MAC2STR(s_peer));
    if (!s_initiator) return;
    vTaskDelay(pdMS_TO_TICKS(500));                  /* let the responder boot */
    for (int i = 1; i <= 3; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "secret %d", i);
        ESP_ERROR_CHECK(esp_now_send(s_peer, (const uint8_t *)msg, (size_t)n));
        if (xSemaphoreTake(s_reply, pdMS_TO_TICKS(1000)) != pdTRUE) ESP_LOGW(TAG, "secret %d: no reply", i);
    }
    ESP_LOGI(TAG, "done");
}
