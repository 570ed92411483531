/* esp_err_to_name for the emulated ESP-IDF (codes of the emulated headers). */
#include <stdio.h>
#include <string.h>
#include "esp_err.h"
#include "esp_wifi.h"
#include "esp_now.h"

#define E(x) { x, #x }
static const struct {
    esp_err_t code;
    const char *name;
} s_names[] = {
    E(ESP_OK), E(ESP_FAIL),
    E(ESP_ERR_NO_MEM), E(ESP_ERR_INVALID_ARG), E(ESP_ERR_INVALID_STATE), E(ESP_ERR_INVALID_SIZE),
    E(ESP_ERR_NOT_FOUND), E(ESP_ERR_NOT_SUPPORTED), E(ESP_ERR_TIMEOUT), E(ESP_ERR_INVALID_RESPONSE),
    E(ESP_ERR_INVALID_CRC), E(ESP_ERR_INVALID_VERSION), E(ESP_ERR_INVALID_MAC), E(ESP_ERR_NOT_FINISHED),
    E(ESP_ERR_NOT_ALLOWED),
    E(ESP_ERR_WIFI_BASE),
    E(ESP_ERR_WIFI_NOT_INIT), E(ESP_ERR_WIFI_NOT_STARTED), E(ESP_ERR_WIFI_NOT_STOPPED), E(ESP_ERR_WIFI_IF),
    E(ESP_ERR_WIFI_MODE), E(ESP_ERR_WIFI_STATE), E(ESP_ERR_WIFI_CONN), E(ESP_ERR_WIFI_NVS),
    E(ESP_ERR_WIFI_MAC), E(ESP_ERR_WIFI_SSID), E(ESP_ERR_WIFI_PASSWORD), E(ESP_ERR_WIFI_TIMEOUT),
    E(ESP_ERR_WIFI_WAKE_FAIL), E(ESP_ERR_WIFI_WOULD_BLOCK), E(ESP_ERR_WIFI_NOT_CONNECT),
    E(ESP_ERR_WIFI_POST), E(ESP_ERR_WIFI_INIT_STATE), E(ESP_ERR_WIFI_STOP_STATE), E(ESP_ERR_WIFI_NOT_ASSOC),
    E(ESP_ERR_WIFI_TX_DISALLOW),
    E(ESP_ERR_ESPNOW_BASE),
    E(ESP_ERR_ESPNOW_NOT_INIT), E(ESP_ERR_ESPNOW_ARG), E(ESP_ERR_ESPNOW_NO_MEM), E(ESP_ERR_ESPNOW_FULL),
    E(ESP_ERR_ESPNOW_NOT_FOUND), E(ESP_ERR_ESPNOW_INTERNAL), E(ESP_ERR_ESPNOW_EXIST), E(ESP_ERR_ESPNOW_IF),
    E(ESP_ERR_ESPNOW_CHAN),
    E(ESP_ERR_MESH_BASE), E(ESP_ERR_FLASH_BASE), E(ESP_ERR_HW_CRYPTO_BASE), E(ESP_ERR_MEMPROT_BASE),
};
#undef E

static const char *lookup(esp_err_t code)
{
    for (size_t i = 0; i < sizeof s_names / sizeof s_names[0]; i++) {
        if (s_names[i].code == code) return s_names[i].name;
    }
    return NULL;
}

const char *esp_err_to_name(esp_err_t code)
{
    const char *n = lookup(code);
    return n ? n : "ERROR";
}

const char *esp_err_to_name_r(esp_err_t code, char *buf, size_t buflen)
{
    if (buf == NULL || buflen == 0) return esp_err_to_name(code);
    const char *n = lookup(code);
    if (n != NULL) snprintf(buf, buflen, "%s", n);
    else snprintf(buf, buflen, "ERROR 0x%x(%d)", (unsigned)code, code);
    return buf;
}
