/* Deadline lists served by a task: FreeRTOS software timers (the timer
 * service task) and esp_timer (the esp_timer task) are both built on it. */
#ifndef NODE_ALARM_H
#define NODE_ALARM_H

#include <stdbool.h>
#include <stdint.h>
#include "rt.h"

typedef struct rt_alarm {
    struct rt_alarm *next;
    uint64_t at, period;          /* simulated µs; period 0 = one-shot */
    uint64_t order;               /* ties at one instant fire in arming order */
    bool active, listed;
    void (*fire)(struct rt_alarm *a);
} rt_alarm_t;

typedef struct {
    rt_alarm_t *list;
    rt_task_t *task;
    char wait;
} rt_alarm_svc_t;

void rt_alarm_svc_start(rt_alarm_svc_t *s, const char *name, unsigned prio);
void rt_alarm_arm(rt_alarm_svc_t *s, rt_alarm_t *a, uint64_t at, uint64_t period);
void rt_alarm_disarm(rt_alarm_svc_t *s, rt_alarm_t *a);
void rt_alarm_remove(rt_alarm_svc_t *s, rt_alarm_t *a);

#endif
