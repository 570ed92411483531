#ifndef NODE_FREERTOS_TIMERS_H
#define NODE_FREERTOS_TIMERS_H

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tmrTimerControl *TimerHandle_t;
typedef void (*TimerCallbackFunction_t)(TimerHandle_t timer);

TimerHandle_t xTimerCreate(const char *name, TickType_t period, BaseType_t auto_reload, void *id,
                           TimerCallbackFunction_t cb);
BaseType_t xTimerStart(TimerHandle_t t, TickType_t ticks);
BaseType_t xTimerStop(TimerHandle_t t, TickType_t ticks);
BaseType_t xTimerReset(TimerHandle_t t, TickType_t ticks);
BaseType_t xTimerChangePeriod(TimerHandle_t t, TickType_t period, TickType_t ticks);
BaseType_t xTimerDelete(TimerHandle_t t, TickType_t ticks);
BaseType_t xTimerIsTimerActive(TimerHandle_t t);
void *pvTimerGetTimerID(TimerHandle_t t);
void vTimerSetTimerID(TimerHandle_t t, void *id);
const char *pcTimerGetName(TimerHandle_t t);
TickType_t xTimerGetPeriod(TimerHandle_t t);
TickType_t xTimerGetExpiryTime(TimerHandle_t t);
void vTimerSetReloadMode(TimerHandle_t t, BaseType_t auto_reload);
#define xTimerStartFromISR(t, w) xTimerStart((t), 0)
#define xTimerStopFromISR(t, w) xTimerStop((t), 0)
#define xTimerResetFromISR(t, w) xTimerReset((t), 0)
#define xTimerChangePeriodFromISR(t, p, w) xTimerChangePeriod((t), (p), 0)

#ifdef __cplusplus
}
#endif

#endif
