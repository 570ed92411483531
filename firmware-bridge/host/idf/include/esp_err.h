/* Host emulation of ESP-IDF v5.4 esp_err.h (names and values as in IDF). */
#ifndef ESP_ERR_H
#define ESP_ERR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int esp_err_t;

#define ESP_OK                   0       /* success */
#define ESP_FAIL                 -1      /* generic failure */

#define ESP_ERR_NO_MEM           0x101
#define ESP_ERR_INVALID_ARG      0x102
#define ESP_ERR_INVALID_STATE    0x103
#define ESP_ERR_INVALID_SIZE     0x104
#define ESP_ERR_NOT_FOUND        0x105
#define ESP_ERR_NOT_SUPPORTED    0x106
#define ESP_ERR_TIMEOUT          0x107
#define ESP_ERR_INVALID_RESPONSE 0x108
#define ESP_ERR_INVALID_CRC      0x109
#define ESP_ERR_INVALID_VERSION  0x10A
#define ESP_ERR_INVALID_MAC      0x10B
#define ESP_ERR_NOT_FINISHED     0x10C
#define ESP_ERR_NOT_ALLOWED      0x10D

#define ESP_ERR_WIFI_BASE        0x3000  /* Wi-Fi codes: see esp_wifi.h; ESP-NOW codes: esp_now.h */
#define ESP_ERR_MESH_BASE        0x4000
#define ESP_ERR_FLASH_BASE       0x6000
#define ESP_ERR_HW_CRYPTO_BASE   0xc000
#define ESP_ERR_MEMPROT_BASE     0xd000

/* Name of a code ("ESP_ERR_ESPNOW_NOT_FOUND"); "ERROR" when unknown (IDF default,
 * CONFIG_ESP_ERR_TO_NAME_LOOKUP=y). */
const char *esp_err_to_name(esp_err_t code);
/* Copies the name into buf; unknown codes give "ERROR 0x<hex>(<dec>)". */
const char *esp_err_to_name_r(esp_err_t code, char *buf, size_t buflen);

#ifdef __cplusplus
}
#endif

#endif /* ESP_ERR_H */
