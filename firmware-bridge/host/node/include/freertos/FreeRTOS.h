/* Node runtime: the FreeRTOS (ESP-IDF flavour) names and types, for one
 * simulated core. See docs/NODES.md for what is supported. */
#ifndef NODE_FREERTOS_H
#define NODE_FREERTOS_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sdkconfig.h"
#include "esp_err.h"
#include "esp_bit_defs.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t TickType_t;
typedef int BaseType_t;
typedef unsigned int UBaseType_t;
typedef uint8_t StackType_t;

#ifndef CONFIG_FREERTOS_HZ
#define CONFIG_FREERTOS_HZ 100
#endif
#define configTICK_RATE_HZ CONFIG_FREERTOS_HZ
#define configMAX_PRIORITIES 25
#define configMINIMAL_STACK_SIZE 768
#define configMAX_TASK_NAME_LEN 16
#define configASSERT(x) assert(x)
#define configNUM_CORES 1

#define pdFALSE ((BaseType_t)0)
#define pdTRUE ((BaseType_t)1)
#define pdPASS pdTRUE
#define pdFAIL pdFALSE
#define errQUEUE_EMPTY ((BaseType_t)0)
#define errQUEUE_FULL ((BaseType_t)0)

#define portMAX_DELAY ((TickType_t)0xffffffffUL)
#define portTICK_PERIOD_MS ((TickType_t)1000 / configTICK_RATE_HZ)
#define portTICK_RATE_MS portTICK_PERIOD_MS
#define pdMS_TO_TICKS(ms) ((TickType_t)(((uint64_t)(ms) * (uint64_t)configTICK_RATE_HZ) / 1000U))
#define pdTICKS_TO_MS(t) ((TickType_t)(((uint64_t)(t) * 1000U) / (uint64_t)configTICK_RATE_HZ))
#define portNUM_PROCESSORS 1
#define portSTACK_TYPE uint8_t
#define portBASE_TYPE int

/* One simulated core, and a task never loses the CPU except where it calls a
 * blocking or waking function: critical sections have nothing to exclude. */
typedef struct { uint32_t owner; uint32_t count; } portMUX_TYPE;
#define portMUX_INITIALIZER_UNLOCKED { 0, 0 }
#define spinlock_initialize(m) ((void)(m))
#define portENTER_CRITICAL(m) ((void)(m))
#define portEXIT_CRITICAL(m) ((void)(m))
#define portENTER_CRITICAL_ISR(m) ((void)(m))
#define portEXIT_CRITICAL_ISR(m) ((void)(m))
#define portENTER_CRITICAL_SAFE(m) ((void)(m))
#define portEXIT_CRITICAL_SAFE(m) ((void)(m))
#define taskENTER_CRITICAL(m) ((void)(m))
#define taskEXIT_CRITICAL(m) ((void)(m))
#define taskENTER_CRITICAL_ISR(m) ((void)(m))
#define taskEXIT_CRITICAL_ISR(m) ((void)(m))
#define portDISABLE_INTERRUPTS() ((void)0)
#define portENABLE_INTERRUPTS() ((void)0)
#define xPortGetCoreID() 0
#define xPortInIsrContext() 0

void vPortYield(void);
void vPortYieldFromISR(BaseType_t woken);
#define portYIELD() vPortYield()
/* Switching only ever happens to a higher-priority ready task, so it is safe unconditionally. */
#define portYIELD_FROM_ISR(...) vPortYieldFromISR(1)
#define portEND_SWITCHING_ISR(x) vPortYieldFromISR(x)

#ifdef __cplusplus
}
#endif

#endif
