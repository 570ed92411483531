/* The device under test of examples/hil: a mains-powered sensor that broadcasts a reading
 * every interval and takes its interval from a downlink.
 *
 * Uplink (broadcast, 12 bytes, little-endian):
 *   'S', version 1, seq u32 (from 1), slot_ms u32 (the uptime the reading was due at: the
 *   schedule, exact, where the send itself may be late), temp_centi i16
 * Downlink (unicast to the sensor): 'I', interval_ms u16 (50...60000)
 * Reply (unicast to the downlink's sender): 'K', interval_ms u16 now in force, or
 *   'E', the rejected value u16 */
#include <inttypes.h>
#include <string.h>
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/task.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_now.h"
#include "esp_random.h"
#include "esp_wifi.h"
#include "nvs_flash.h"

static const char *TAG = "hil_sensor";
static const uint8_t BROADCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

typedef struct {
    uint8_t from[6];
    uint8_t data[3];
} downlink_t;

static QueueHandle_t s_downlinks;

/* Runs in the Wi-Fi task: hand over and return. */
static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    if (len != 3 || data[0] != 'I') return;
    downlink_t d;
    memcpy(d.from, info->src_addr, 6);
    memcpy(d.data, data, 3);
    xQueueSend(s_downlinks, &d, 0);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void app_main(void)
{
    ESP_ERROR_CHECK(nvs_flash_init());
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&cfg));
    ESP_ERROR_CHECK(esp_wifi_set_storage(WIFI_STORAGE_RAM));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_start());
    ESP_ERROR_CHECK(esp_wifi_set_channel(CONFIG_HIL_SENSOR_CHANNEL, WIFI_SECOND_CHAN_NONE));
    s_downlinks = xQueueCreate(4, sizeof(downlink_t));
    ESP_ERROR_CHECK(esp_now_init());
    ESP_ERROR_CHECK(esp_now_register_recv_cb(on_recv));
    esp_now_peer_info_t peer = {.channel = 0, .ifidx = WIFI_IF_STA};
    memcpy(peer.peer_addr, BROADCAST, 6);
    ESP_ERROR_CHECK(esp_now_add_peer(&peer));

    uint32_t interval_ms = CONFIG_HIL_SENSOR_INTERVAL_MS;
    uint32_t seq = 0;
    TickType_t next = xTaskGetTickCount();
    ESP_LOGI(TAG, "up, interval %" PRIu32 " ms", interval_ms);
    for (;;) {
        uint8_t r[12] = {'S', 1};
        put_u32(r + 2, ++seq);
        put_u32(r + 6, (uint32_t)(next * portTICK_PERIOD_MS));
        int16_t temp = (int16_t)(2000 + esp_random() % 600);
        r[10] = (uint8_t)temp;
        r[11] = (uint8_t)((uint16_t)temp >> 8);
        esp_err_t err = esp_now_send(BROADCAST, r, sizeof r);
        if (err != ESP_OK) ESP_LOGW(TAG, "reading %" PRIu32 ": %s", seq, esp_err_to_name(err));

        next += pdMS_TO_TICKS(interval_ms);
        downlink_t d;
        /* Wait for the next reading's time, serving downlinks meanwhile. */
        for (;;) {
            TickType_t now = xTaskGetTickCount();
            if ((int32_t)(next - now) <= 0) break;
            if (xQueueReceive(s_downlinks, &d, next - now) != pdTRUE) continue;
            uint16_t want = (uint16_t)(d.data[1] | (d.data[2] << 8));
            uint8_t reply[3] = {'K', 0, 0};
            if (want >= 50 && want <= 60000) {
                interval_ms = want;
                next = xTaskGetTickCount() + pdMS_TO_TICKS(interval_ms);
                ESP_LOGI(TAG, "downlink: interval %" PRIu32 " ms", interval_ms);
            } else {
                reply[0] = 'E';
                ESP_LOGW(TAG, "downlink: interval %u refused", want);
            }
            reply[1] = (uint8_t)want;
            reply[2] = (uint8_t)(want >> 8);
            if (!esp_now_is_peer_exist(d.from)) {
                esp_now_peer_info_t p = {.channel = 0, .ifidx = WIFI_IF_STA};
                memcpy(p.peer_addr, d.from, 6);
                esp_now_add_peer(&p);
            }
            esp_now_send(d.from, reply, sizeof reply);
        }
    }
}
