/* A mains-powered sensor feeding `espnow gateway`: every CONFIG_GWSENSOR_INTERVAL_MS it
 * sends one numbered reading to the gateway's dongle as a unicast and logs whether the
 * radio acknowledged it. Nodes with an even last MAC byte send the packed binary layout
 *   <u8 kind=0x54, u32 seq, i16 temp/100 °C, u8 humidity %
 * (the gateway's declared-layout decoder), odd ones a JSON object
 *   {"seq":N,"temp":21.37,"hum":40}
 * (auto-detected). It starts when the gateway says "go" (any packet from the gateway's
 * MAC starting with those bytes), so that no reading reaches a dongle that is not yet
 * listening. After CONFIG_GWSENSOR_COUNT readings it logs a summary and idles. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_now.h"
#include "esp_wifi.h"

static const char *TAG = "gwsensor";
static EventGroupHandle_t s_ev;
#define SENT_BIT BIT0
#define SENT_OK_BIT BIT1
#define GO_BIT BIT2
static uint8_t s_gw[6];

typedef struct __attribute__((packed)) {
    uint8_t kind;
    uint32_t seq;
    int16_t temp_centi;
    uint8_t humidity;
} reading_t;

static void on_sent(const uint8_t *mac, esp_now_send_status_t st)
{
    (void)mac;
    xEventGroupSetBits(s_ev, SENT_BIT | (st == ESP_NOW_SEND_SUCCESS ? SENT_OK_BIT : 0));
}

static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    if (len >= 2 && data[0] == 'g' && data[1] == 'o' && !memcmp(info->src_addr, s_gw, 6)) xEventGroupSetBits(s_ev, GO_BIT);
}

void app_main(void)
{
    uint8_t *gw = s_gw, me[6];
    sscanf(CONFIG_GWSENSOR_GATEWAY_MAC, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &gw[0], &gw[1], &gw[2], &gw[3], &gw[4], &gw[5]);
    s_ev = xEventGroupCreate();
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&cfg));
    ESP_ERROR_CHECK(esp_wifi_set_storage(WIFI_STORAGE_RAM));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_start());
    ESP_ERROR_CHECK(esp_wifi_set_channel(CONFIG_GWSENSOR_CHANNEL, WIFI_SECOND_CHAN_NONE));
    ESP_ERROR_CHECK(esp_wifi_get_mac(WIFI_IF_STA, me));
    ESP_ERROR_CHECK(esp_now_init());
    ESP_ERROR_CHECK(esp_now_register_send_cb(on_sent));
    ESP_ERROR_CHECK(esp_now_register_recv_cb(on_recv));
    esp_now_peer_info_t peer = { .channel = CONFIG_GWSENSOR_CHANNEL, .ifidx = WIFI_IF_STA };
    memcpy(peer.peer_addr, gw, 6);
    ESP_ERROR_CHECK(esp_now_add_peer(&peer));
    const int json = me[5] & 1;
    ESP_LOGI(TAG, MACSTR " waiting for the gateway", MAC2STR(me));
    xEventGroupWaitBits(s_ev, GO_BIT, pdTRUE, pdFALSE, portMAX_DELAY);
    ESP_LOGI(TAG, MACSTR " sending %d readings as %s", MAC2STR(me), CONFIG_GWSENSOR_COUNT, json ? "json" : "layout");

    uint32_t delivered = 0, lost = 0;
    for (uint32_t seq = 1; seq <= CONFIG_GWSENSOR_COUNT; seq++) {
        int16_t temp = (int16_t)(2000 + (seq * 37) % 500);
        uint8_t hum = (uint8_t)(30 + seq % 40);
        uint8_t buf[64];
        size_t len;
        if (json) {
            len = (size_t)snprintf((char *)buf, sizeof buf, "{\"seq\":%" PRIu32 ",\"temp\":%d.%02d,\"hum\":%u}", seq,
                                   temp / 100, temp % 100, hum);
        } else {
            reading_t r = { 0x54, seq, temp, hum };
            memcpy(buf, &r, sizeof r);
            len = sizeof r;
        }
        ESP_ERROR_CHECK(esp_now_send(gw, buf, len));
        EventBits_t b = xEventGroupWaitBits(s_ev, SENT_BIT | SENT_OK_BIT, pdTRUE, pdFALSE, portMAX_DELAY);
        if (b & SENT_OK_BIT) {
            delivered++;
            ESP_LOGI(TAG, MACSTR " reading %" PRIu32 " delivered temp=%d hum=%u", MAC2STR(me), seq, temp, hum);
        } else {
            lost++;
            ESP_LOGW(TAG, MACSTR " reading %" PRIu32 " not delivered", MAC2STR(me), seq);
        }
        vTaskDelay(pdMS_TO_TICKS(CONFIG_GWSENSOR_INTERVAL_MS));
    }
    ESP_LOGI(TAG, MACSTR " done: %" PRIu32 " delivered, %" PRIu32 " not delivered", MAC2STR(me), delivered, lost);
    for (;;) vTaskDelay(portMAX_DELAY);
}
