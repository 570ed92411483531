/* Timers, light sleep, restart and panic on one node. First boot: a software
 * timer ticks three times, an esp_timer fires once, then the node light-sleeps
 * 5 s (frames sent to it meanwhile are not heard) and restarts. Second boot:
 * it aborts (a panic). Third boot: done. A counter in RTC no-init memory
 * survives the software reset and the panic. */
#include <stdlib.h>
#include <string.h>
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/timers.h"
#include "esp_attr.h"
#include "esp_log.h"
#include "esp_now.h"
#include "esp_sleep.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "esp_wifi.h"

static const char *TAG = "life";
RTC_NOINIT_ATTR static uint32_t s_magic, s_boots;
static EventGroupHandle_t s_ev;
static int s_ticks;

static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    (void)info;
    (void)data;
    ESP_LOGI(TAG, "heard %d bytes", len);
}

static void tick(TimerHandle_t t)
{
    ESP_LOGI(TAG, "timer tick %d", ++s_ticks);
    if (s_ticks == 3) {
        xTimerStop(t, 0);
        xEventGroupSetBits(s_ev, BIT0);
    }
}

static void once(void *arg)
{
    (void)arg;
    ESP_LOGI(TAG, "esp_timer fired");
    xEventGroupSetBits(s_ev, BIT1);
}

void app_main(void)
{
    if (s_magic != 0x5a5a1234u || esp_reset_reason() == ESP_RST_POWERON) {
        s_magic = 0x5a5a1234u;
        s_boots = 0;
    }
    s_boots++;
    ESP_LOGI(TAG, "boot %" PRIu32 " reset=%d", s_boots, (int)esp_reset_reason());
    if (s_boots == 2) abort();
    if (s_boots >= 3) {
        ESP_LOGI(TAG, "done");
        return;
    }
    s_ev = xEventGroupCreate();
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&cfg));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_start());
    ESP_ERROR_CHECK(esp_now_init());
    ESP_ERROR_CHECK(esp_now_register_recv_cb(on_recv));
    TimerHandle_t t = xTimerCreate("tick", pdMS_TO_TICKS(100), pdTRUE, NULL, tick);
    xTimerStart(t, 0);
    const esp_timer_create_args_t a = { .callback = once, .name = "once" };
    esp_timer_handle_t et;
    ESP_ERROR_CHECK(esp_timer_create(&a, &et));
    ESP_ERROR_CHECK(esp_timer_start_once(et, 250000));
    EventBits_t b = xEventGroupWaitBits(s_ev, BIT0 | BIT1, pdTRUE, pdTRUE, portMAX_DELAY);
    ESP_LOGI(TAG, "both timers done (bits %" PRIu32 ") at %lld us", (uint32_t)b, (long long)esp_timer_get_time());
    ESP_ERROR_CHECK(esp_light_sleep_start() == ESP_ERR_SLEEP_REJECT ? ESP_OK : ESP_FAIL);   /* no wake source yet */
    ESP_ERROR_CHECK(esp_sleep_enable_timer_wakeup(5000000));
    int64_t t0 = esp_timer_get_time();
    ESP_ERROR_CHECK(esp_light_sleep_start());
    ESP_LOGI(TAG, "light sleep: %lld us, cause %d", (long long)(esp_timer_get_time() - t0), (int)esp_sleep_get_wakeup_cause());
    vTaskDelay(pdMS_TO_TICKS(3000));
    esp_restart();
}
