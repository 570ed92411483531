#ifndef NODE_FREERTOS_TASK_H
#define NODE_FREERTOS_TASK_H

#include "freertos/FreeRTOS.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tskTaskControlBlock *TaskHandle_t;
typedef void (*TaskFunction_t)(void *);

typedef enum { eRunning = 0, eReady, eBlocked, eSuspended, eDeleted, eInvalid } eTaskState;
typedef enum { eNoAction = 0, eSetBits, eIncrement, eSetValueWithOverwrite, eSetValueWithoutOverwrite } eNotifyAction;

#define tskIDLE_PRIORITY ((UBaseType_t)0U)
#define tskNO_AFFINITY ((BaseType_t)0x7FFFFFFF)
#define taskYIELD() vPortYield()
#define taskSCHEDULER_SUSPENDED ((BaseType_t)0)
#define taskSCHEDULER_NOT_STARTED ((BaseType_t)1)
#define taskSCHEDULER_RUNNING ((BaseType_t)2)

BaseType_t xTaskCreate(TaskFunction_t fn, const char *name, uint32_t stack_depth, void *arg, UBaseType_t prio,
                       TaskHandle_t *created);
BaseType_t xTaskCreatePinnedToCore(TaskFunction_t fn, const char *name, uint32_t stack_depth, void *arg,
                                   UBaseType_t prio, TaskHandle_t *created, BaseType_t core);
void vTaskDelete(TaskHandle_t task);
void vTaskDelay(TickType_t ticks);
BaseType_t xTaskDelayUntil(TickType_t *previous_wake, TickType_t increment);
#define vTaskDelayUntil(prev, inc) ((void)xTaskDelayUntil((prev), (inc)))
TickType_t xTaskGetTickCount(void);
TickType_t xTaskGetTickCountFromISR(void);
void vTaskSuspend(TaskHandle_t task);
void vTaskResume(TaskHandle_t task);
BaseType_t xTaskResumeFromISR(TaskHandle_t task);
UBaseType_t uxTaskPriorityGet(TaskHandle_t task);
void vTaskPrioritySet(TaskHandle_t task, UBaseType_t prio);
TaskHandle_t xTaskGetCurrentTaskHandle(void);
TaskHandle_t xTaskGetHandle(const char *name);
char *pcTaskGetName(TaskHandle_t task);
#define pcTaskGetTaskName pcTaskGetName
eTaskState eTaskGetState(TaskHandle_t task);
UBaseType_t uxTaskGetNumberOfTasks(void);
UBaseType_t uxTaskGetStackHighWaterMark(TaskHandle_t task);
void vTaskSuspendAll(void);
BaseType_t xTaskResumeAll(void);
BaseType_t xTaskGetSchedulerState(void);
BaseType_t xTaskAbortDelay(TaskHandle_t task);

BaseType_t xTaskGenericNotify(TaskHandle_t task, UBaseType_t index, uint32_t value, eNotifyAction action,
                              uint32_t *previous);
BaseType_t xTaskGenericNotifyFromISR(TaskHandle_t task, UBaseType_t index, uint32_t value, eNotifyAction action,
                                     uint32_t *previous, BaseType_t *woken);
BaseType_t xTaskGenericNotifyWait(UBaseType_t index, uint32_t clear_on_entry, uint32_t clear_on_exit,
                                  uint32_t *value, TickType_t ticks);
uint32_t ulTaskGenericNotifyTake(UBaseType_t index, BaseType_t clear_on_exit, TickType_t ticks);
void vTaskGenericNotifyGiveFromISR(TaskHandle_t task, UBaseType_t index, BaseType_t *woken);
BaseType_t xTaskGenericNotifyStateClear(TaskHandle_t task, UBaseType_t index);
uint32_t ulTaskGenericNotifyValueClear(TaskHandle_t task, UBaseType_t index, uint32_t bits);

#define tskDEFAULT_INDEX_TO_NOTIFY 0
#define xTaskNotify(t, v, a) xTaskGenericNotify((t), 0, (v), (a), NULL)
#define xTaskNotifyIndexed(t, i, v, a) xTaskGenericNotify((t), (i), (v), (a), NULL)
#define xTaskNotifyAndQuery(t, v, a, p) xTaskGenericNotify((t), 0, (v), (a), (p))
#define xTaskNotifyFromISR(t, v, a, w) xTaskGenericNotifyFromISR((t), 0, (v), (a), NULL, (w))
#define xTaskNotifyAndQueryFromISR(t, v, a, p, w) xTaskGenericNotifyFromISR((t), 0, (v), (a), (p), (w))
#define xTaskNotifyGive(t) xTaskGenericNotify((t), 0, 0, eIncrement, NULL)
#define vTaskNotifyGiveFromISR(t, w) vTaskGenericNotifyGiveFromISR((t), 0, (w))
#define xTaskNotifyWait(ce, cx, v, t) xTaskGenericNotifyWait(0, (ce), (cx), (v), (t))
#define ulTaskNotifyTake(c, t) ulTaskGenericNotifyTake(0, (c), (t))
#define xTaskNotifyStateClear(t) xTaskGenericNotifyStateClear((t), 0)
#define ulTaskNotifyValueClear(t, b) ulTaskGenericNotifyValueClear((t), 0, (b))

#ifdef __cplusplus
}
#endif

#endif
