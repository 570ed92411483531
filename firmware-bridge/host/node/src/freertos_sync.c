/* FreeRTOS queues, semaphores, mutexes and event groups. As in FreeRTOS,
 * semaphores are queues of zero-sized items; a waiter that wakes re-checks,
 * and the highest-priority waiter is woken first. */
#include <stdlib.h>
#include <string.h>

#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/queue.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "rt.h"

enum { Q_QUEUE, Q_BINARY, Q_COUNTING, Q_MUTEX, Q_RECURSIVE };

struct QueueDefinition {
    int kind;
    UBaseType_t len, item, count, head;
    rt_task_t *owner;
    UBaseType_t depth;            /* recursive mutex */
    char can_rx, can_tx;          /* addresses used as wait objects */
    uint8_t *buf;
};

static QueueHandle_t q_new(int kind, UBaseType_t len, UBaseType_t item)
{
    if (len == 0) return NULL;
    QueueHandle_t q = calloc(1, sizeof *q);
    if (q == NULL) return NULL;
    q->buf = item ? malloc((size_t)len * item) : NULL;
    if (item && q->buf == NULL) {
        free(q);
        return NULL;
    }
    q->kind = kind;
    q->len = len;
    q->item = item;
    return q;
}

QueueHandle_t xQueueCreate(UBaseType_t length, UBaseType_t item_size) { return q_new(Q_QUEUE, length, item_size); }

void vQueueDelete(QueueHandle_t q)
{
    if (q == NULL) return;
    free(q->buf);
    free(q);
}

static void put(QueueHandle_t q, const void *item, BaseType_t pos)
{
    if (pos == queueOVERWRITE && q->count == q->len) q->count = 0;    /* length-1 queues only */
    if (q->item) {
        UBaseType_t slot;
        if (pos == queueSEND_TO_FRONT) {
            q->head = (q->head + q->len - 1) % q->len;
            slot = q->head;
        } else {
            slot = (q->head + q->count) % q->len;
        }
        memcpy(q->buf + (size_t)slot * q->item, item, q->item);
    }
    q->count++;
    rt_wake_one(&q->can_rx);
}

static void take(QueueHandle_t q, void *out, bool peek)
{
    if (q->item && out) memcpy(out, q->buf + (size_t)q->head * q->item, q->item);
    if (peek) {
        rt_wake_one(&q->can_rx);             /* another reader may peek or take it too */
        return;
    }
    q->head = (q->head + 1) % q->len;
    q->count--;
    rt_wake_one(&q->can_tx);
}

BaseType_t xQueueGenericSend(QueueHandle_t q, const void *item, TickType_t ticks, BaseType_t pos)
{
    if (q == NULL) return pdFAIL;
    uint64_t deadline = rt_ticks_to_deadline(ticks);
    for (;;) {
        if (q->count < q->len || pos == queueOVERWRITE) {
            put(q, item, pos);
            rt_preempt();
            return pdPASS;
        }
        if (ticks == 0 || !rt_block(&q->can_tx, deadline)) return errQUEUE_FULL;
    }
}

BaseType_t xQueueGenericSendFromISR(QueueHandle_t q, const void *item, BaseType_t *woken, BaseType_t pos)
{
    if (q == NULL || (q->count >= q->len && pos != queueOVERWRITE)) return errQUEUE_FULL;
    rt_task_t *w = NULL;
    for (rt_task_t *t = rt_task_first(); t; t = t->next) {
        if (t->state == RT_BLOCKED && t->wait_obj == &q->can_rx && (!w || t->prio > w->prio)) w = t;
    }
    put(q, item, pos);
    if (woken && w && rt_self() && w->prio > rt_self()->prio) *woken = pdTRUE;
    return pdPASS;
}

static BaseType_t receive(QueueHandle_t q, void *buf, TickType_t ticks, bool peek)
{
    if (q == NULL) return pdFAIL;
    uint64_t deadline = rt_ticks_to_deadline(ticks);
    for (;;) {
        if (q->count > 0) {
            take(q, buf, peek);
            rt_preempt();
            return pdPASS;
        }
        if (ticks == 0 || !rt_block(&q->can_rx, deadline)) return errQUEUE_EMPTY;
    }
}

BaseType_t xQueueReceive(QueueHandle_t q, void *buffer, TickType_t ticks) { return receive(q, buffer, ticks, false); }
BaseType_t xQueuePeek(QueueHandle_t q, void *buffer, TickType_t ticks) { return receive(q, buffer, ticks, true); }

BaseType_t xQueueReceiveFromISR(QueueHandle_t q, void *buffer, BaseType_t *woken)
{
    if (q == NULL || q->count == 0) return pdFAIL;
    take(q, buffer, false);
    if (woken) *woken = pdTRUE;
    return pdPASS;
}

BaseType_t xQueuePeekFromISR(QueueHandle_t q, void *buffer)
{
    if (q == NULL || q->count == 0) return pdFAIL;
    if (q->item) memcpy(buffer, q->buf + (size_t)q->head * q->item, q->item);
    return pdPASS;
}

UBaseType_t uxQueueMessagesWaiting(QueueHandle_t q) { return q ? q->count : 0; }
UBaseType_t uxQueueMessagesWaitingFromISR(QueueHandle_t q) { return uxQueueMessagesWaiting(q); }
UBaseType_t uxQueueSpacesAvailable(QueueHandle_t q) { return q ? q->len - q->count : 0; }
BaseType_t xQueueIsQueueEmptyFromISR(QueueHandle_t q) { return q && q->count == 0; }
BaseType_t xQueueIsQueueFullFromISR(QueueHandle_t q) { return q && q->count == q->len; }

BaseType_t xQueueGenericReset(QueueHandle_t q, BaseType_t new_queue)
{
    (void)new_queue;
    if (q == NULL) return pdFAIL;
    q->count = q->head = 0;
    rt_wake_one(&q->can_tx);
    rt_preempt();
    return pdPASS;
}

/* ---- semaphores and mutexes */

SemaphoreHandle_t xSemaphoreCreateBinary(void) { return q_new(Q_BINARY, 1, 0); }

SemaphoreHandle_t xSemaphoreCreateCounting(UBaseType_t max, UBaseType_t initial)
{
    if (initial > max) return NULL;
    SemaphoreHandle_t s = q_new(Q_COUNTING, max, 0);
    if (s) s->count = initial;
    return s;
}

SemaphoreHandle_t xSemaphoreCreateMutex(void)
{
    SemaphoreHandle_t s = q_new(Q_MUTEX, 1, 0);
    if (s) s->count = 1;
    return s;
}

SemaphoreHandle_t xSemaphoreCreateRecursiveMutex(void)
{
    SemaphoreHandle_t s = q_new(Q_RECURSIVE, 1, 0);
    if (s) s->count = 1;
    return s;
}

BaseType_t xSemaphoreTake(SemaphoreHandle_t s, TickType_t ticks)
{
    BaseType_t rc = receive(s, NULL, ticks, false);
    if (rc == pdPASS && s && (s->kind == Q_MUTEX || s->kind == Q_RECURSIVE)) s->owner = rt_self();
    return rc;
}

BaseType_t xSemaphoreGive(SemaphoreHandle_t s)
{
    if (s == NULL) return pdFAIL;
    if (s->kind == Q_MUTEX || s->kind == Q_RECURSIVE) {
        if (s->owner != rt_self() || s->count != 0) return pdFAIL;   /* only the holder gives a mutex */
        s->owner = NULL;
    }
    if (s->count >= s->len) return pdFAIL;
    put(s, NULL, queueSEND_TO_BACK);
    rt_preempt();
    return pdPASS;
}

BaseType_t xSemaphoreTakeRecursive(SemaphoreHandle_t s, TickType_t ticks)
{
    if (s == NULL) return pdFAIL;
    if (s->owner != NULL && s->owner == rt_self()) {
        s->depth++;
        return pdPASS;
    }
    BaseType_t rc = xSemaphoreTake(s, ticks);
    if (rc == pdPASS) s->depth = 1;
    return rc;
}

BaseType_t xSemaphoreGiveRecursive(SemaphoreHandle_t s)
{
    if (s == NULL || s->owner != rt_self() || s->depth == 0) return pdFAIL;
    if (--s->depth > 0) return pdPASS;
    return xSemaphoreGive(s);
}

BaseType_t xSemaphoreTakeFromISR(SemaphoreHandle_t s, BaseType_t *woken) { return xQueueReceiveFromISR(s, NULL, woken); }

BaseType_t xSemaphoreGiveFromISR(SemaphoreHandle_t s, BaseType_t *woken)
{
    if (s == NULL || s->kind == Q_MUTEX || s->kind == Q_RECURSIVE) return pdFAIL;
    return xQueueGenericSendFromISR(s, NULL, woken, queueSEND_TO_BACK);
}

UBaseType_t uxSemaphoreGetCount(SemaphoreHandle_t s) { return s ? s->count : 0; }
TaskHandle_t xSemaphoreGetMutexHolder(SemaphoreHandle_t s) { return s ? (TaskHandle_t)s->owner : NULL; }

/* ---- event groups: the setter judges every waiter against the same bits, then
 * clears what the satisfied waiters asked to clear (FreeRTOS semantics). */

#define EG_BITS 0x00ffffffu   /* the top 8 bits of a 32-bit EventBits_t are reserved */

struct EventGroupDef_t {
    EventBits_t bits;
    char waiters;
};

EventGroupHandle_t xEventGroupCreate(void) { return calloc(1, sizeof(struct EventGroupDef_t)); }

void vEventGroupDelete(EventGroupHandle_t g)
{
    if (g == NULL) return;
    for (rt_task_t *t = rt_task_first(); t; t = t->next) {
        if (t->state == RT_BLOCKED && t->wait_obj == &g->waiters) {
            t->ev_result = 0;
            t->ev_done = true;
            rt_make_ready(t);
        }
    }
    free(g);
}

static bool satisfied(EventBits_t have, EventBits_t want, bool all)
{
    return all ? (have & want) == want : (have & want) != 0;
}

static void judge_waiters(EventGroupHandle_t g)
{
    EventBits_t clear = 0;
    for (rt_task_t *t = rt_task_first(); t; t = t->next) {
        if (t->state != RT_BLOCKED || t->wait_obj != &g->waiters) continue;
        if (!satisfied(g->bits, t->ev_want, t->ev_all)) continue;
        t->ev_result = g->bits;
        t->ev_done = true;
        if (t->ev_clear) clear |= t->ev_want;
        rt_make_ready(t);
    }
    g->bits &= ~clear;
}

EventBits_t xEventGroupWaitBits(EventGroupHandle_t g, EventBits_t bits, BaseType_t clear_on_exit,
                                BaseType_t wait_for_all, TickType_t ticks)
{
    if (g == NULL || bits == 0 || (bits & ~EG_BITS)) return 0;
    if (satisfied(g->bits, bits, wait_for_all)) {
        EventBits_t v = g->bits;
        if (clear_on_exit) g->bits &= ~bits;
        return v;
    }
    rt_task_t *me = rt_self();
    if (me == NULL || ticks == 0) return g->bits;
    me->ev_want = bits;
    me->ev_all = wait_for_all;
    me->ev_clear = clear_on_exit;
    me->ev_done = false;
    rt_block(&g->waiters, rt_ticks_to_deadline(ticks));
    return me->ev_done ? me->ev_result : g->bits;
}

EventBits_t xEventGroupSetBits(EventGroupHandle_t g, EventBits_t bits)
{
    if (g == NULL) return 0;
    g->bits |= bits & EG_BITS;
    judge_waiters(g);
    EventBits_t v = g->bits;
    rt_preempt();
    return v;
}

EventBits_t xEventGroupClearBits(EventGroupHandle_t g, EventBits_t bits)
{
    if (g == NULL) return 0;
    EventBits_t v = g->bits;
    g->bits &= ~bits;
    return v;
}

EventBits_t xEventGroupSync(EventGroupHandle_t g, EventBits_t set, EventBits_t wait_for, TickType_t ticks)
{
    if (g == NULL) return 0;
    EventBits_t before = g->bits;
    g->bits |= set & EG_BITS;
    if ((g->bits & wait_for) == wait_for) {
        EventBits_t v = g->bits | before;
        g->bits &= ~wait_for;
        judge_waiters(g);
        rt_preempt();
        return v;
    }
    judge_waiters(g);
    return xEventGroupWaitBits(g, wait_for, pdTRUE, pdTRUE, ticks);
}

EventBits_t xEventGroupGetBitsFromISR(EventGroupHandle_t g) { return g ? g->bits : 0; }

BaseType_t xEventGroupSetBitsFromISR(EventGroupHandle_t g, EventBits_t bits, BaseType_t *woken)
{
    if (g == NULL) return pdFAIL;
    g->bits |= bits & EG_BITS;
    judge_waiters(g);
    if (woken) *woken = pdTRUE;
    return pdPASS;
}

BaseType_t xEventGroupClearBitsFromISR(EventGroupHandle_t g, EventBits_t bits)
{
    xEventGroupClearBits(g, bits);
    return pdPASS;
}
