/* Node runtime: sleep. Deep sleep ends the node's process; the coordinator
 * starts it again when the timer expires (reset reason ESP_RST_DEEPSLEEP, wake
 * cause TIMER, RTC memory restored). Light sleep pauses every task with the
 * radio off. Only the timer wakes a node. */
#ifndef NODE_ESP_SLEEP_H
#define NODE_ESP_SLEEP_H

#include <stdint.h>
#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ESP_SLEEP_WAKEUP_UNDEFINED,
    ESP_SLEEP_WAKEUP_ALL,
    ESP_SLEEP_WAKEUP_EXT0,
    ESP_SLEEP_WAKEUP_EXT1,
    ESP_SLEEP_WAKEUP_TIMER,
    ESP_SLEEP_WAKEUP_TOUCHPAD,
    ESP_SLEEP_WAKEUP_ULP,
    ESP_SLEEP_WAKEUP_GPIO,
    ESP_SLEEP_WAKEUP_UART,
    ESP_SLEEP_WAKEUP_WIFI,
    ESP_SLEEP_WAKEUP_COCPU,
    ESP_SLEEP_WAKEUP_COCPU_TRAP_TRIG,
    ESP_SLEEP_WAKEUP_BT,
} esp_sleep_source_t;
typedef esp_sleep_source_t esp_sleep_wakeup_cause_t;

#define ESP_ERR_SLEEP_REJECT ESP_ERR_INVALID_STATE
#define ESP_ERR_SLEEP_TOO_SHORT_SLEEP_DURATION ESP_ERR_INVALID_ARG

esp_err_t esp_sleep_enable_timer_wakeup(uint64_t time_in_us);
esp_err_t esp_sleep_disable_wakeup_source(esp_sleep_source_t source);
esp_sleep_wakeup_cause_t esp_sleep_get_wakeup_cause(void);
void esp_deep_sleep_start(void) __attribute__((noreturn));
void esp_deep_sleep(uint64_t time_in_us) __attribute__((noreturn));
esp_err_t esp_deep_sleep_try(uint64_t time_in_us);
esp_err_t esp_deep_sleep_try_to_start(void);
esp_err_t esp_light_sleep_start(void);

#ifdef __cplusplus
}
#endif

#endif
