#ifndef NODE_FREERTOS_EVENT_GROUPS_H
#define NODE_FREERTOS_EVENT_GROUPS_H

#include "freertos/FreeRTOS.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct EventGroupDef_t *EventGroupHandle_t;
typedef TickType_t EventBits_t;

EventGroupHandle_t xEventGroupCreate(void);
void vEventGroupDelete(EventGroupHandle_t g);
EventBits_t xEventGroupWaitBits(EventGroupHandle_t g, EventBits_t bits, BaseType_t clear_on_exit,
                                BaseType_t wait_for_all, TickType_t ticks);
EventBits_t xEventGroupSetBits(EventGroupHandle_t g, EventBits_t bits);
EventBits_t xEventGroupClearBits(EventGroupHandle_t g, EventBits_t bits);
EventBits_t xEventGroupSync(EventGroupHandle_t g, EventBits_t set, EventBits_t wait_for, TickType_t ticks);
EventBits_t xEventGroupGetBitsFromISR(EventGroupHandle_t g);
BaseType_t xEventGroupSetBitsFromISR(EventGroupHandle_t g, EventBits_t bits, BaseType_t *woken);
BaseType_t xEventGroupClearBitsFromISR(EventGroupHandle_t g, EventBits_t bits);
#define xEventGroupGetBits(g) xEventGroupClearBits((g), 0)

#ifdef __cplusplus
}
#endif

#endif
