/* Host emulation of ESP-IDF v5.4 esp_wifi_types.h. */
#ifndef ESP_WIFI_TYPES_H
#define ESP_WIFI_TYPES_H

#include "esp_wifi_types_generic.h"
#include "esp_wifi_types_native.h"

#endif
