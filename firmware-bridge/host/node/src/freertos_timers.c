/* FreeRTOS software timers: callbacks run in the timer service task
 * ("Tmr Svc", CONFIG_FREERTOS_TIMER_TASK_PRIORITY); a command takes effect at
 * once (the command queue never fills, so the block time is not used). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alarm.h"
#include "freertos/FreeRTOS.h"
#include "freertos/timers.h"

#ifndef CONFIG_FREERTOS_TIMER_TASK_PRIORITY
#define CONFIG_FREERTOS_TIMER_TASK_PRIORITY 1
#endif

struct tmrTimerControl {
    rt_alarm_t alarm;             /* first: the alarm callback casts back */
    char name[16];
    TickType_t period;
    bool reload;
    void *id;
    TimerCallbackFunction_t cb;
};

static rt_alarm_svc_t s_svc;

void rt_timers_boot(void) { rt_alarm_svc_start(&s_svc, "Tmr Svc", CONFIG_FREERTOS_TIMER_TASK_PRIORITY); }

static void fire(rt_alarm_t *a)
{
    TimerHandle_t t = (TimerHandle_t)a;
    t->cb(t);
}

TimerHandle_t xTimerCreate(const char *name, TickType_t period, BaseType_t auto_reload, void *id,
                           TimerCallbackFunction_t cb)
{
    if (period == 0 || cb == NULL) return NULL;
    TimerHandle_t t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    t->period = period;
    t->reload = auto_reload;
    t->id = id;
    t->cb = cb;
    t->alarm.fire = fire;
    return t;
}

static void arm(TimerHandle_t t)
{
    uint64_t p = (uint64_t)t->period * rt_tick_us();
    rt_alarm_arm(&s_svc, &t->alarm, rt_now() + p, t->reload ? p : 0);
}

BaseType_t xTimerStart(TimerHandle_t t, TickType_t ticks)
{
    (void)ticks;
    if (t == NULL) return pdFAIL;
    arm(t);
    return pdPASS;
}

BaseType_t xTimerReset(TimerHandle_t t, TickType_t ticks) { return xTimerStart(t, ticks); }

BaseType_t xTimerStop(TimerHandle_t t, TickType_t ticks)
{
    (void)ticks;
    if (t == NULL) return pdFAIL;
    rt_alarm_disarm(&s_svc, &t->alarm);
    return pdPASS;
}

BaseType_t xTimerChangePeriod(TimerHandle_t t, TickType_t period, TickType_t ticks)
{
    (void)ticks;
    if (t == NULL || period == 0) return pdFAIL;
    t->period = period;
    arm(t);
    return pdPASS;
}

BaseType_t xTimerDelete(TimerHandle_t t, TickType_t ticks)
{
    (void)ticks;
    if (t == NULL) return pdFAIL;
    rt_alarm_remove(&s_svc, &t->alarm);
    free(t);
    return pdPASS;
}

BaseType_t xTimerIsTimerActive(TimerHandle_t t) { return t && t->alarm.active; }
void *pvTimerGetTimerID(TimerHandle_t t) { return t ? t->id : NULL; }
void vTimerSetTimerID(TimerHandle_t t, void *id) { if (t) t->id = id; }
const char *pcTimerGetName(TimerHandle_t t) { return t ? t->name : NULL; }
TickType_t xTimerGetPeriod(TimerHandle_t t) { return t ? t->period : 0; }

TickType_t xTimerGetExpiryTime(TimerHandle_t t)
{
    extern uint64_t rt_uptime_us(void);
    if (t == NULL) return 0;
    uint64_t boot = rt_now() - rt_uptime_us();
    return (TickType_t)((t->alarm.at - boot) / rt_tick_us());
}

void vTimerSetReloadMode(TimerHandle_t t, BaseType_t auto_reload)
{
    if (t == NULL) return;
    t->reload = auto_reload;
    t->alarm.period = auto_reload ? (uint64_t)t->period * rt_tick_us() : 0;
}
