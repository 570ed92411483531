/* Host emulation: IDF's wpa_crypto_funcs_t is a table of crypto callbacks handed
 * to esp_wifi_init; the emulation needs none, so it is reduced to its header. */
#ifndef ESP_WIFI_CRYPTO_TYPES_H
#define ESP_WIFI_CRYPTO_TYPES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t size;
    uint32_t version;
} wpa_crypto_funcs_t;

#ifdef __cplusplus
}
#endif

#endif
