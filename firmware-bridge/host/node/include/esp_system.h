/* Node runtime: esp_system = the emulation's reset reasons plus restart and heap figures. */
#ifndef NODE_ESP_SYSTEM_H
#define NODE_ESP_SYSTEM_H

#include "../../idf/include/esp_system.h"
#include <stdint.h>
#include "esp_idf_version.h"
#include "esp_mac.h"
#include "esp_random.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*shutdown_handler_t)(void);

void esp_restart(void) __attribute__((noreturn));
void esp_system_abort(const char *details) __attribute__((noreturn));
esp_err_t esp_register_shutdown_handler(shutdown_handler_t handler);
esp_err_t esp_unregister_shutdown_handler(shutdown_handler_t handler);
uint32_t esp_get_free_heap_size(void);
uint32_t esp_get_free_internal_heap_size(void);
uint32_t esp_get_minimum_free_heap_size(void);
const char *esp_get_idf_version(void);

#ifdef __cplusplus
}
#endif

#endif
