/* Checks of the node runtime's API behaviour, each printed as
 * "CHECK <what>: ok" or "CHECK <what>: FAIL (...)": ROM CRCs against the
 * standard check values, NVS codes, queues, semaphores, mutexes, event groups,
 * notifications, priorities, esp_event handler order, esp_timer states. */
#include <string.h>
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/queue.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "esp_crc.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "nvs_flash.h"

static const char *TAG = "api";
static int s_fail;
#define CHECK(what, cond, ...) do { \
        if (cond) ESP_LOGI(TAG, "CHECK %s: ok", what); \
        else { s_fail++; ESP_LOGE(TAG, "CHECK %s: FAIL " __VA_ARGS__); } \
    } while (0)

static const uint8_t k9[] = "123456789";

static void crcs(void)
{
    CHECK("crc32_le", esp_crc32_le(0, k9, 9) == 0xCBF43926u, "%08" PRIx32, esp_crc32_le(0, k9, 9));
    CHECK("crc32_be", esp_crc32_be(0, k9, 9) == 0xFC891918u, "%08" PRIx32, esp_crc32_be(0, k9, 9));
    CHECK("crc16_le", esp_crc16_le(0, k9, 9) == 0x906E, "%04x", esp_crc16_le(0, k9, 9));
    CHECK("crc16_be", esp_crc16_be(0, k9, 9) == 0xD64E, "%04x", esp_crc16_be(0, k9, 9));
    uint32_t a = esp_crc32_le(0, k9, 4);
    CHECK("crc32 chained", esp_crc32_le(a, k9 + 4, 5) == 0xCBF43926u);
}

static void nvs(void)
{
    nvs_handle_t h;
    CHECK("nvs before init", nvs_open("x", NVS_READWRITE, &h) == ESP_ERR_NVS_NOT_INITIALIZED);
    CHECK("nvs init", nvs_flash_init() == ESP_OK);
    CHECK("nvs read-only open of a new namespace", nvs_open("fresh", NVS_READONLY, &h) == ESP_ERR_NVS_NOT_FOUND);
    CHECK("nvs namespace too long", nvs_open("sixteen-chars-ns", NVS_READWRITE, &h) == ESP_ERR_NVS_KEY_TOO_LONG);
    CHECK("nvs open", nvs_open("app", NVS_READWRITE, &h) == ESP_OK);
    CHECK("nvs key too long", nvs_set_u8(h, "sixteen-chars-ky", 1) == ESP_ERR_NVS_KEY_TOO_LONG);
    uint32_t v = 0;
    CHECK("nvs missing key", nvs_get_u32(h, "n", &v) == ESP_ERR_NVS_NOT_FOUND);
    CHECK("nvs set u32", nvs_set_u32(h, "n", 0xdeadbeef) == ESP_OK && nvs_get_u32(h, "n", &v) == ESP_OK && v == 0xdeadbeef);
    int32_t i = 0;
    CHECK("nvs other type not found", nvs_get_i32(h, "n", &i) == ESP_ERR_NVS_NOT_FOUND);
    CHECK("nvs set str", nvs_set_str(h, "s", "hello") == ESP_OK);
    size_t len = 0;
    CHECK("nvs str length query", nvs_get_str(h, "s", NULL, &len) == ESP_OK && len == 6);
    char small[3];
    len = sizeof small;
    CHECK("nvs str short buffer", nvs_get_str(h, "s", small, &len) == ESP_ERR_NVS_INVALID_LENGTH && len == 6);
    char big[8];
    len = sizeof big;
    CHECK("nvs str", nvs_get_str(h, "s", big, &len) == ESP_OK && !strcmp(big, "hello"));
    CHECK("nvs erase key", nvs_erase_key(h, "s") == ESP_OK && nvs_erase_key(h, "s") == ESP_ERR_NVS_NOT_FOUND);
    nvs_handle_t ro;
    CHECK("nvs read-only handle", nvs_open("app", NVS_READONLY, &ro) == ESP_OK && nvs_set_u8(ro, "k", 1) == ESP_ERR_NVS_READ_ONLY);
    nvs_close(ro);
    nvs_close(h);
    CHECK("nvs closed handle", nvs_set_u8(h, "k", 1) == ESP_ERR_NVS_INVALID_HANDLE);
}

static SemaphoreHandle_t s_mutex;
static int s_order[8], s_n;

static void hi_task(void *arg)
{
    s_order[s_n++] = (int)(intptr_t)arg;
    vTaskDelete(NULL);
}

static void mutex_task(void *arg)
{
    (void)arg;
    CHECK("mutex give by a non-holder", xSemaphoreGive(s_mutex) == pdFALSE);
    vTaskDelete(NULL);
}

static void rtos(void)
{
    QueueHandle_t q = xQueueCreate(2, sizeof(int));
    int a = 1, b = 2, c = 3, out = 0;
    xQueueSend(q, &a, 0);
    xQueueSendToFront(q, &b, 0);
    CHECK("queue full", xQueueSend(q, &c, 0) == errQUEUE_FULL && uxQueueSpacesAvailable(q) == 0);
    CHECK("queue send to front", xQueueReceive(q, &out, 0) == pdTRUE && out == 2);
    CHECK("queue peek", xQueuePeek(q, &out, 0) == pdTRUE && out == 1 && uxQueueMessagesWaiting(q) == 1);
    TickType_t t0 = xTaskGetTickCount();
    xQueueReceive(q, &out, 0);
    CHECK("queue receive timeout", xQueueReceive(q, &out, pdMS_TO_TICKS(50)) == pdFALSE && xTaskGetTickCount() - t0 == 50,
          "after %" PRIu32 " ticks", xTaskGetTickCount() - t0);
    QueueHandle_t one = xQueueCreate(1, sizeof(int));
    xQueueOverwrite(one, &a);
    xQueueOverwrite(one, &c);
    CHECK("queue overwrite", xQueueReceive(one, &out, 0) == pdTRUE && out == 3);

    SemaphoreHandle_t cs = xSemaphoreCreateCounting(2, 1);
    CHECK("counting semaphore", xSemaphoreGive(cs) == pdTRUE && xSemaphoreGive(cs) == pdFALSE && uxSemaphoreGetCount(cs) == 2);
    SemaphoreHandle_t bin = xSemaphoreCreateBinary();
    CHECK("binary semaphore starts empty", xSemaphoreTake(bin, 0) == pdFALSE);
    s_mutex = xSemaphoreCreateMutex();
    CHECK("mutex take", xSemaphoreTake(s_mutex, 0) == pdTRUE && xSemaphoreGetMutexHolder(s_mutex) == xTaskGetCurrentTaskHandle());
    xTaskCreate(mutex_task, "m", 2048, NULL, 5, NULL);
    CHECK("mutex give", xSemaphoreGive(s_mutex) == pdTRUE && xSemaphoreGive(s_mutex) == pdFALSE);
    SemaphoreHandle_t rm = xSemaphoreCreateRecursiveMutex();
    CHECK("recursive mutex", xSemaphoreTakeRecursive(rm, 0) && xSemaphoreTakeRecursive(rm, 0) && xSemaphoreGiveRecursive(rm) &&
                             xSemaphoreGiveRecursive(rm) && !xSemaphoreGiveRecursive(rm));

    /* Priorities: a created task of higher priority runs at once; equal ones in creation order after we block. */
    s_n = 0;
    UBaseType_t me = uxTaskPriorityGet(NULL);
    xTaskCreate(hi_task, "eq1", 2048, (void *)1, me, NULL);
    xTaskCreate(hi_task, "hi", 2048, (void *)9, me + 2, NULL);
    xTaskCreate(hi_task, "eq2", 2048, (void *)2, me, NULL);
    s_order[s_n++] = 0;
    vTaskDelay(1);
    CHECK("priority order", s_n == 4 && s_order[0] == 9 && s_order[1] == 0 && s_order[2] == 1 && s_order[3] == 2,
          "%d %d %d %d", s_order[0], s_order[1], s_order[2], s_order[3]);

    EventGroupHandle_t g = xEventGroupCreate();
    xEventGroupSetBits(g, BIT0 | BIT2);
    CHECK("event group any", xEventGroupWaitBits(g, BIT1 | BIT2, pdTRUE, pdFALSE, 0) == (BIT0 | BIT2) &&
                             xEventGroupGetBits(g) == BIT0);
    CHECK("event group all, timeout", (xEventGroupWaitBits(g, BIT0 | BIT1, pdFALSE, pdTRUE, pdMS_TO_TICKS(10)) & BIT1) == 0);

    xTaskNotify(xTaskGetCurrentTaskHandle(), 0x5, eSetBits);
    xTaskNotify(xTaskGetCurrentTaskHandle(), 0x8, eSetBits);
    uint32_t nv = 0;
    CHECK("notify bits", xTaskNotifyWait(0, UINT32_MAX, &nv, 0) == pdTRUE && nv == 0xD);
    xTaskNotifyGive(xTaskGetCurrentTaskHandle());
    xTaskNotifyGive(xTaskGetCurrentTaskHandle());
    CHECK("notify take counts", ulTaskNotifyTake(pdFALSE, 0) == 2 && ulTaskNotifyTake(pdTRUE, 0) == 1 && ulTaskNotifyTake(pdTRUE, 0) == 0);
}

static int s_ev_order[4], s_ev_n;
ESP_EVENT_DEFINE_BASE(APP_EVENT);
static void h_any(void *a, esp_event_base_t b, int32_t id, void *d) { (void)b; (void)id; (void)d; s_ev_order[s_ev_n++] = (int)(intptr_t)a; }

static void events(void)
{
    CHECK("event post without loop", esp_event_post(APP_EVENT, 1, NULL, 0, 0) == ESP_ERR_INVALID_STATE);
    CHECK("default loop", esp_event_loop_create_default() == ESP_OK && esp_event_loop_create_default() == ESP_ERR_INVALID_STATE);
    esp_event_handler_register(APP_EVENT, 1, h_any, (void *)3);
    esp_event_handler_register(APP_EVENT, ESP_EVENT_ANY_ID, h_any, (void *)2);
    esp_event_handler_register(ESP_EVENT_ANY_BASE, ESP_EVENT_ANY_ID, h_any, (void *)1);
    int payload = 7;
    esp_event_post(APP_EVENT, 1, &payload, sizeof payload, 0);
    vTaskDelay(1);
    CHECK("event handler order", s_ev_n == 3 && s_ev_order[0] == 1 && s_ev_order[1] == 2 && s_ev_order[2] == 3);
}

static void tcb(void *arg) { (void)arg; }

static void timers(void)
{
    esp_timer_handle_t t;
    const esp_timer_create_args_t a = { .callback = tcb, .name = "t" };
    CHECK("esp_timer create", esp_timer_create(&a, &t) == ESP_OK);
    CHECK("esp_timer stop idle", esp_timer_stop(t) == ESP_ERR_INVALID_STATE);
    CHECK("esp_timer start twice", esp_timer_start_once(t, 1000) == ESP_OK && esp_timer_start_once(t, 1000) == ESP_ERR_INVALID_STATE);
    CHECK("esp_timer delete running", esp_timer_delete(t) == ESP_ERR_INVALID_STATE);
    vTaskDelay(pdMS_TO_TICKS(2));
    CHECK("esp_timer one-shot done", !esp_timer_is_active(t) && esp_timer_delete(t) == ESP_OK);
}

void app_main(void)
{
    crcs();
    nvs();
    rtos();
    events();
    timers();
    ESP_LOGI(TAG, "checks done, %d failed", s_fail);
}
