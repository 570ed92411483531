/* The esp_event default loop: a queue of posted events (copied, as ESP-IDF
 * copies them) drained by the "sys_evt" task at priority 20. Handlers run in
 * the order ESP-IDF uses: those for any base, then those for any id of the
 * base, then those for the id; each group in registration order. The
 * emulation's Wi-Fi events are posted here from the Wi-Fi task. */
#include <stdlib.h>
#include <string.h>

#include "esp_event.h"
#include "esp_wifi.h"
#include "rt.h"
#include "sim_emu.h"

ESP_EVENT_DEFINE_BASE(WIFI_EVENT);
ESP_EVENT_DEFINE_BASE(IP_EVENT);

#ifndef CONFIG_ESP_SYSTEM_EVENT_QUEUE_SIZE
#define CONFIG_ESP_SYSTEM_EVENT_QUEUE_SIZE 32
#endif

typedef struct handler {
    struct handler *next;
    esp_event_base_t base;
    int32_t id;
    esp_event_handler_t fn;
    void *arg;
    bool instance, removed;
} handler_t;

typedef struct {
    esp_event_base_t base;
    int32_t id;
    void *data;
} event_t;

static struct {
    bool created;
    handler_t *handlers;          /* registration order */
    event_t q[CONFIG_ESP_SYSTEM_EVENT_QUEUE_SIZE];
    unsigned head, count;
    char can_rx, can_tx;
    rt_task_t *task;
    uint32_t dropped;
} L;

static bool base_eq(esp_event_base_t a, esp_event_base_t b) { return a == b || (a && b && !strcmp(a, b)); }

static void dispatch(const event_t *e)
{
    for (int pass = 0; pass < 3; pass++) {
        for (handler_t *h = L.handlers; h; h = h->next) {
            if (h->removed) continue;
            bool any_base = h->base == ESP_EVENT_ANY_BASE, any_id = h->id == ESP_EVENT_ANY_ID;
            bool match = pass == 0 ? any_base
                       : pass == 1 ? !any_base && any_id && base_eq(h->base, e->base)
                                   : !any_base && !any_id && base_eq(h->base, e->base) && h->id == e->id;
            if (match) h->fn(h->arg, e->base, e->id, e->data);
        }
    }
}

static void loop_task(void *arg)
{
    (void)arg;
    for (;;) {
        while (L.count == 0) rt_block(&L.can_rx, RT_FOREVER);
        event_t e = L.q[L.head];
        L.head = (L.head + 1) % CONFIG_ESP_SYSTEM_EVENT_QUEUE_SIZE;
        L.count--;
        rt_wake_one(&L.can_tx);
        dispatch(&e);
        free(e.data);
    }
}

static void on_wifi_event(void *ctx, int32_t id, const void *data)
{
    (void)ctx;
    size_t n = 0;
    if (id == WIFI_EVENT_STA_CONNECTED) n = sizeof(wifi_event_sta_connected_t);
    else if (id == WIFI_EVENT_STA_DISCONNECTED) n = sizeof(wifi_event_sta_disconnected_t);
    else if (id == WIFI_EVENT_HOME_CHANNEL_CHANGE) n = sizeof(wifi_event_home_channel_change_t);
    if (L.created && esp_event_post(WIFI_EVENT, id, data, data ? n : 0, 0) != ESP_OK) L.dropped++;
}

void rt_event_boot(void) { sim_emu_set_event_handler(on_wifi_event, NULL); }

esp_err_t esp_event_loop_create_default(void)
{
    if (L.created) return ESP_ERR_INVALID_STATE;
    L.created = true;
    if (L.task == NULL) L.task = rt_task_new(loop_task, "sys_evt", 20, NULL);
    return L.task ? ESP_OK : ESP_ERR_NO_MEM;
}

esp_err_t esp_event_loop_delete_default(void)
{
    if (!L.created) return ESP_ERR_INVALID_STATE;
    L.created = false;
    for (handler_t *h = L.handlers; h; h = h->next) h->removed = true;
    return ESP_OK;
}

static esp_err_t add(esp_event_base_t base, int32_t id, esp_event_handler_t fn, void *arg, bool instance,
                     esp_event_handler_instance_t *out)
{
    if (!L.created) return ESP_ERR_INVALID_STATE;
    if (fn == NULL || (base == ESP_EVENT_ANY_BASE && id != ESP_EVENT_ANY_ID)) return ESP_ERR_INVALID_ARG;
    handler_t *h = calloc(1, sizeof *h);
    if (h == NULL) return ESP_ERR_NO_MEM;
    *h = (handler_t){ .base = base, .id = id, .fn = fn, .arg = arg, .instance = instance };
    handler_t **pp = &L.handlers;
    while (*pp) pp = &(*pp)->next;
    *pp = h;
    if (out) *out = h;
    return ESP_OK;
}

esp_err_t esp_event_handler_register(esp_event_base_t base, int32_t id, esp_event_handler_t handler, void *arg)
{
    /* A plain registration of the same handler for the same event replaces its argument. */
    for (handler_t *h = L.handlers; L.created && h; h = h->next) {
        if (!h->removed && !h->instance && h->fn == handler && base_eq(h->base, base) && h->id == id) {
            h->arg = arg;
            return ESP_OK;
        }
    }
    return add(base, id, handler, arg, false, NULL);
}

esp_err_t esp_event_handler_instance_register(esp_event_base_t base, int32_t id, esp_event_handler_t handler,
                                              void *arg, esp_event_handler_instance_t *instance)
{
    if (instance == NULL) return ESP_ERR_INVALID_ARG;
    return add(base, id, handler, arg, true, instance);
}

esp_err_t esp_event_handler_unregister(esp_event_base_t base, int32_t id, esp_event_handler_t handler)
{
    if (!L.created) return ESP_ERR_INVALID_STATE;
    if (base == ESP_EVENT_ANY_BASE && id != ESP_EVENT_ANY_ID) return ESP_ERR_INVALID_ARG;
    for (handler_t *h = L.handlers; h; h = h->next) {
        if (!h->removed && !h->instance && h->fn == handler && base_eq(h->base, base) && h->id == id) h->removed = true;
    }
    return ESP_OK;
}

esp_err_t esp_event_handler_instance_unregister(esp_event_base_t base, int32_t id,
                                                esp_event_handler_instance_t instance)
{
    if (!L.created) return ESP_ERR_INVALID_STATE;
    if (instance == NULL) return ESP_ERR_INVALID_ARG;
    for (handler_t *h = L.handlers; h; h = h->next) {
        if (h == instance && base_eq(h->base, base) && h->id == id) {
            h->removed = true;
            return ESP_OK;
        }
    }
    return ESP_ERR_NOT_FOUND;
}

esp_err_t esp_event_post(esp_event_base_t base, int32_t id, const void *data, size_t size, TickType_t ticks)
{
    if (!L.created) return ESP_ERR_INVALID_STATE;
    if (base == ESP_EVENT_ANY_BASE || id == ESP_EVENT_ANY_ID) return ESP_ERR_INVALID_ARG;
    uint64_t deadline = rt_ticks_to_deadline(ticks);
    while (L.count == CONFIG_ESP_SYSTEM_EVENT_QUEUE_SIZE) {
        if (ticks == 0 || !rt_block(&L.can_tx, deadline)) return ESP_ERR_TIMEOUT;
    }
    void *copy = NULL;
    if (data && size) {
        copy = malloc(size);
        if (copy == NULL) return ESP_ERR_NO_MEM;
        memcpy(copy, data, size);
    }
    L.q[(L.head + L.count) % CONFIG_ESP_SYSTEM_EVENT_QUEUE_SIZE] = (event_t){ base, id, copy };
    L.count++;
    rt_wake_one(&L.can_rx);
    rt_preempt();
    return ESP_OK;
}

esp_err_t esp_event_isr_post(esp_event_base_t base, int32_t id, const void *data, size_t size, BaseType_t *woken)
{
    esp_err_t e = esp_event_post(base, id, data, size, 0);
    if (e == ESP_ERR_TIMEOUT) e = ESP_FAIL;
    if (woken) *woken = pdFALSE;
    return e;
}

/* esp_netif: ESP-NOW needs no IP stack; these only keep the usual init sequence working. */
#include "esp_netif.h"
struct esp_netif_obj { int unused; };
static bool s_netif_init;
static struct esp_netif_obj s_netif[2];
esp_err_t esp_netif_init(void)
{
    s_netif_init = true;
    return ESP_OK;
}
esp_err_t esp_netif_deinit(void) { return ESP_ERR_NOT_SUPPORTED; }   /* as ESP-IDF with lwIP */
esp_netif_t *esp_netif_create_default_wifi_sta(void) { return s_netif_init ? &s_netif[0] : NULL; }
esp_netif_t *esp_netif_create_default_wifi_ap(void) { return s_netif_init ? &s_netif[1] : NULL; }
void esp_netif_destroy_default_wifi(void *netif) { (void)netif; }
void esp_netif_destroy(esp_netif_t *netif) { (void)netif; }
