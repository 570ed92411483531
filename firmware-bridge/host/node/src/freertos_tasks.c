/* FreeRTOS tasks and task notifications on the simulated core (sched.c). */
#include <string.h>

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "rt.h"

#define T(h) ((rt_task_t *)(h))
#define H(t) ((TaskHandle_t)(t))

static unsigned clamp_prio(UBaseType_t p) { return p >= configMAX_PRIORITIES ? configMAX_PRIORITIES - 1 : p; }

BaseType_t xTaskCreatePinnedToCore(TaskFunction_t fn, const char *name, uint32_t stack_depth, void *arg,
                                   UBaseType_t prio, TaskHandle_t *created, BaseType_t core)
{
    (void)stack_depth;
    (void)core;
    rt_task_t *t = rt_task_new(fn, name, clamp_prio(prio), arg);
    if (created) *created = H(t);
    return t ? pdPASS : pdFAIL;
}

BaseType_t xTaskCreate(TaskFunction_t fn, const char *name, uint32_t stack_depth, void *arg, UBaseType_t prio,
                       TaskHandle_t *created)
{
    return xTaskCreatePinnedToCore(fn, name, stack_depth, arg, prio, created, tskNO_AFFINITY);
}

void vTaskDelete(TaskHandle_t task) { rt_task_delete(task ? T(task) : rt_self()); }

void vTaskDelay(TickType_t ticks)
{
    if (ticks == 0) {
        rt_yield();
        return;
    }
    rt_block(NULL, rt_ticks_to_deadline(ticks));
}

TickType_t xTaskGetTickCount(void) { return (TickType_t)(rt_uptime_us() / rt_tick_us()); }
TickType_t xTaskGetTickCountFromISR(void) { return xTaskGetTickCount(); }

BaseType_t xTaskDelayUntil(TickType_t *previous_wake, TickType_t increment)
{
    TickType_t now = xTaskGetTickCount();
    TickType_t target = *previous_wake + increment;
    *previous_wake = target;
    /* Wrap-safe "target is in the future" as FreeRTOS computes it. */
    bool wait = (TickType_t)(target - now) != 0 && (TickType_t)(target - now) <= increment;
    if (wait) vTaskDelay(target - now);
    else rt_yield();
    return wait ? pdTRUE : pdFALSE;
}

void vTaskSuspend(TaskHandle_t task)
{
    rt_task_t *t = task ? T(task) : rt_self();
    if (t == NULL || t->state == RT_DELETED) return;
    t->state = RT_SUSPENDED;
    t->wait_obj = NULL;
    if (t == rt_self()) rt_yield();
}

void vTaskResume(TaskHandle_t task)
{
    rt_task_t *t = T(task);
    if (t == NULL || t->state != RT_SUSPENDED) return;
    rt_make_ready(t);
    rt_preempt();
}

BaseType_t xTaskResumeFromISR(TaskHandle_t task)
{
    rt_task_t *t = T(task);
    if (t == NULL || t->state != RT_SUSPENDED) return pdFALSE;
    rt_make_ready(t);
    return rt_self() && t->prio > rt_self()->prio;
}

UBaseType_t uxTaskPriorityGet(TaskHandle_t task)
{
    rt_task_t *t = task ? T(task) : rt_self();
    return t ? t->prio : 0;
}

void vTaskPrioritySet(TaskHandle_t task, UBaseType_t prio)
{
    rt_task_t *t = task ? T(task) : rt_self();
    if (t == NULL) return;
    t->prio = clamp_prio(prio);
    if (t == rt_self()) rt_preempt();
    else rt_preempt();
}

TaskHandle_t xTaskGetCurrentTaskHandle(void) { return H(rt_self()); }

TaskHandle_t xTaskGetHandle(const char *name)
{
    for (rt_task_t *t = rt_task_first(); t; t = t->next) {
        if (t->state != RT_DELETED && !strncmp(t->name, name, sizeof t->name - 1)) return H(t);
    }
    return NULL;
}

char *pcTaskGetName(TaskHandle_t task)
{
    rt_task_t *t = task ? T(task) : rt_self();
    return t ? t->name : NULL;
}

eTaskState eTaskGetState(TaskHandle_t task)
{
    rt_task_t *t = T(task);
    if (t == NULL) return eInvalid;
    if (t == rt_self()) return eRunning;
    switch (t->state) {
    case RT_READY: return eReady;
    case RT_BLOCKED: return eBlocked;
    case RT_SUSPENDED: return eSuspended;
    default: return eDeleted;
    }
}

UBaseType_t uxTaskGetNumberOfTasks(void)
{
    UBaseType_t n = 0;
    for (rt_task_t *t = rt_task_first(); t; t = t->next) n += t->state != RT_DELETED;
    return n;
}

/* Threads have host-sized stacks: report the depth as untouched. */
UBaseType_t uxTaskGetStackHighWaterMark(TaskHandle_t task)
{
    (void)task;
    return 4096;
}

/* With one core and no time slicing, nothing else runs unless the caller
 * blocks, which FreeRTOS forbids while suspended. */
void vTaskSuspendAll(void) {}
BaseType_t xTaskResumeAll(void) { return pdFALSE; }
BaseType_t xTaskGetSchedulerState(void) { return taskSCHEDULER_RUNNING; }

BaseType_t xTaskAbortDelay(TaskHandle_t task)
{
    rt_task_t *t = T(task);
    if (t == NULL || t->state != RT_BLOCKED) return pdFAIL;
    rt_make_ready(t);
    t->timed_out = true;
    rt_preempt();
    return pdPASS;
}

void vPortYield(void) { rt_yield(); }
void vPortYieldFromISR(BaseType_t woken)
{
    if (woken) rt_preempt();
}

/* ---- notifications (index 0 only, as ESP-IDF's default of one per task) */

#define NOTIFY_NONE 0
#define NOTIFY_WAITING 1
#define NOTIFY_PENDING 2

static BaseType_t notify(rt_task_t *t, uint32_t value, eNotifyAction action, uint32_t *previous)
{
    if (t == NULL) return pdFAIL;
    if (previous) *previous = t->notify_value;
    uint8_t old = t->notify_state;
    BaseType_t rc = pdPASS;
    switch (action) {
    case eSetBits: t->notify_value |= value; break;
    case eIncrement: t->notify_value++; break;
    case eSetValueWithOverwrite: t->notify_value = value; break;
    case eSetValueWithoutOverwrite:
        if (old == NOTIFY_PENDING) rc = pdFAIL;
        else t->notify_value = value;
        break;
    case eNoAction: break;
    }
    t->notify_state = NOTIFY_PENDING;
    if (old == NOTIFY_WAITING && t->state == RT_BLOCKED && t->wait_obj == &t->notify_state) rt_make_ready(t);
    return rc;
}

BaseType_t xTaskGenericNotify(TaskHandle_t task, UBaseType_t index, uint32_t value, eNotifyAction action,
                              uint32_t *previous)
{
    (void)index;
    BaseType_t rc = notify(T(task), value, action, previous);
    rt_preempt();
    return rc;
}

BaseType_t xTaskGenericNotifyFromISR(TaskHandle_t task, UBaseType_t index, uint32_t value, eNotifyAction action,
                                     uint32_t *previous, BaseType_t *woken)
{
    (void)index;
    BaseType_t rc = notify(T(task), value, action, previous);
    if (woken && T(task) && rt_self() && T(task)->state == RT_READY && T(task)->prio > rt_self()->prio) *woken = pdTRUE;
    return rc;
}

void vTaskGenericNotifyGiveFromISR(TaskHandle_t task, UBaseType_t index, BaseType_t *woken)
{
    xTaskGenericNotifyFromISR(task, index, 0, eIncrement, NULL, woken);
}

BaseType_t xTaskGenericNotifyWait(UBaseType_t index, uint32_t clear_on_entry, uint32_t clear_on_exit,
                                  uint32_t *value, TickType_t ticks)
{
    (void)index;
    rt_task_t *me = rt_self();
    if (me == NULL) return pdFALSE;
    if (me->notify_state != NOTIFY_PENDING) {
        me->notify_value &= ~clear_on_entry;
        me->notify_state = NOTIFY_WAITING;
        if (ticks) rt_block(&me->notify_state, rt_ticks_to_deadline(ticks));
    }
    if (value) *value = me->notify_value;
    BaseType_t rc = pdFALSE;
    if (me->notify_state == NOTIFY_PENDING) {
        me->notify_value &= ~clear_on_exit;
        rc = pdTRUE;
    }
    me->notify_state = NOTIFY_NONE;
    return rc;
}

uint32_t ulTaskGenericNotifyTake(UBaseType_t index, BaseType_t clear_on_exit, TickType_t ticks)
{
    (void)index;
    rt_task_t *me = rt_self();
    if (me == NULL) return 0;
    if (me->notify_value == 0) {
        me->notify_state = NOTIFY_WAITING;
        if (ticks) rt_block(&me->notify_state, rt_ticks_to_deadline(ticks));
    }
    uint32_t v = me->notify_value;
    if (v) me->notify_value = clear_on_exit ? 0 : v - 1;
    me->notify_state = NOTIFY_NONE;
    return v;
}

BaseType_t xTaskGenericNotifyStateClear(TaskHandle_t task, UBaseType_t index)
{
    (void)index;
    rt_task_t *t = task ? T(task) : rt_self();
    if (t == NULL || t->notify_state != NOTIFY_PENDING) return pdFAIL;
    t->notify_state = NOTIFY_NONE;
    return pdPASS;
}

uint32_t ulTaskGenericNotifyValueClear(TaskHandle_t task, UBaseType_t index, uint32_t bits)
{
    (void)index;
    rt_task_t *t = task ? T(task) : rt_self();
    if (t == NULL) return 0;
    uint32_t v = t->notify_value;
    t->notify_value &= ~bits;
    return v;
}
