/* Node runtime: ESP-IDF's esp_err.h = the emulation's codes plus the checking
 * macros (a failed ESP_ERROR_CHECK aborts: the node panics and reboots). */
#ifndef NODE_ESP_ERR_H
#define NODE_ESP_ERR_H

#include "../../idf/include/esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

void _esp_error_check_failed(esp_err_t rc, const char *file, int line, const char *function, const char *expression)
    __attribute__((noreturn));
void _esp_error_check_failed_without_abort(esp_err_t rc, const char *file, int line, const char *function,
                                           const char *expression);

#define ESP_ERROR_CHECK(x) do { \
        esp_err_t err_rc_ = (x); \
        if (err_rc_ != ESP_OK) _esp_error_check_failed(err_rc_, __FILE__, __LINE__, __func__, #x); \
    } while (0)
#define ESP_ERROR_CHECK_WITHOUT_ABORT(x) ({ \
        esp_err_t err_rc_ = (x); \
        if (err_rc_ != ESP_OK) _esp_error_check_failed_without_abort(err_rc_, __FILE__, __LINE__, __func__, #x); \
        err_rc_; \
    })

#ifdef __cplusplus
}
#endif

#endif
