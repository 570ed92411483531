/* Host emulation of ESP-IDF v5.4 esp_interface.h. */
#ifndef ESP_INTERFACE_H
#define ESP_INTERFACE_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ESP_IF_WIFI_STA = 0,
    ESP_IF_WIFI_AP,
    ESP_IF_WIFI_NAN,
    ESP_IF_ETH,
    ESP_IF_MAX
} esp_interface_t;

#ifdef __cplusplus
}
#endif

#endif
