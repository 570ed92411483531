/* esp_timer on the simulated clock: callbacks run in the "esp_timer" task
 * (priority 22, as ESP-IDF's), ISR dispatch included. Error codes as ESP-IDF
 * documents them. */
#include <stdlib.h>

#include "alarm.h"
#include "esp_timer.h"

struct esp_timer {
    rt_alarm_t alarm;
    esp_timer_cb_t cb;
    void *arg;
};

static rt_alarm_svc_t s_svc;

void rt_esp_timer_boot(void) { rt_alarm_svc_start(&s_svc, "esp_timer", 22); }

static void fire(rt_alarm_t *a)
{
    esp_timer_handle_t t = (esp_timer_handle_t)a;
    t->cb(t->arg);
}

esp_err_t esp_timer_early_init(void) { return ESP_OK; }
esp_err_t esp_timer_init(void) { return ESP_OK; }

esp_err_t esp_timer_create(const esp_timer_create_args_t *args, esp_timer_handle_t *out)
{
    if (args == NULL || args->callback == NULL || out == NULL || args->dispatch_method >= ESP_TIMER_MAX)
        return ESP_ERR_INVALID_ARG;
    esp_timer_handle_t t = calloc(1, sizeof *t);
    if (t == NULL) return ESP_ERR_NO_MEM;
    t->cb = args->callback;
    t->arg = args->arg;
    t->alarm.fire = fire;
    *out = t;
    return ESP_OK;
}

static esp_err_t start(esp_timer_handle_t t, uint64_t us, bool periodic)
{
    if (t == NULL) return ESP_ERR_INVALID_ARG;
    if (t->alarm.active) return ESP_ERR_INVALID_STATE;
    if (periodic && us < 50) us = 50;          /* ESP-IDF's minimum period */
    rt_alarm_arm(&s_svc, &t->alarm, rt_now() + us, periodic ? us : 0);
    return ESP_OK;
}

esp_err_t esp_timer_start_once(esp_timer_handle_t t, uint64_t timeout_us) { return start(t, timeout_us, false); }
esp_err_t esp_timer_start_periodic(esp_timer_handle_t t, uint64_t period_us) { return start(t, period_us, true); }

esp_err_t esp_timer_restart(esp_timer_handle_t t, uint64_t timeout_us)
{
    if (t == NULL) return ESP_ERR_INVALID_ARG;
    if (!t->alarm.active) return ESP_ERR_INVALID_STATE;
    bool periodic = t->alarm.period != 0;
    rt_alarm_arm(&s_svc, &t->alarm, rt_now() + timeout_us, periodic ? timeout_us : 0);
    return ESP_OK;
}

esp_err_t esp_timer_stop(esp_timer_handle_t t)
{
    if (t == NULL) return ESP_ERR_INVALID_ARG;
    if (!t->alarm.active) return ESP_ERR_INVALID_STATE;
    rt_alarm_disarm(&s_svc, &t->alarm);
    return ESP_OK;
}

esp_err_t esp_timer_delete(esp_timer_handle_t t)
{
    if (t == NULL) return ESP_ERR_INVALID_ARG;
    if (t->alarm.active) return ESP_ERR_INVALID_STATE;
    rt_alarm_remove(&s_svc, &t->alarm);
    free(t);
    return ESP_OK;
}

int64_t esp_timer_get_time(void) { return (int64_t)rt_uptime_us(); }

int64_t esp_timer_get_next_alarm(void)
{
    uint64_t next = RT_FOREVER;
    for (rt_alarm_t *a = s_svc.list; a; a = a->next) {
        if (a->active && a->at < next) next = a->at;
    }
    if (next == RT_FOREVER) return INT64_MAX;
    return (int64_t)(next - (rt_now() - rt_uptime_us()));
}

bool esp_timer_is_active(esp_timer_handle_t t) { return t && t->alarm.active; }

esp_err_t esp_timer_get_expiry_time(esp_timer_handle_t t, uint64_t *expiry)
{
    if (t == NULL || expiry == NULL) return ESP_ERR_INVALID_ARG;
    if (t->alarm.period) return ESP_ERR_NOT_SUPPORTED;
    if (!t->alarm.active) return ESP_ERR_INVALID_STATE;
    *expiry = t->alarm.at - (rt_now() - rt_uptime_us());
    return ESP_OK;
}

esp_err_t esp_timer_get_period(esp_timer_handle_t t, uint64_t *period)
{
    if (t == NULL || period == NULL) return ESP_ERR_INVALID_ARG;
    *period = t->alarm.period;
    return ESP_OK;
}
