/* Node runtime: esp_mac = the emulation's esp_read_mac plus the base MAC calls. */
#ifndef NODE_ESP_MAC_H
#define NODE_ESP_MAC_H

#include "../../idf/include/esp_mac.h"

#ifdef __cplusplus
extern "C" {
#endif

esp_err_t esp_efuse_mac_get_default(uint8_t *mac);
esp_err_t esp_base_mac_addr_get(uint8_t *mac);
esp_err_t esp_base_mac_addr_set(const uint8_t *mac);
esp_err_t esp_derive_local_mac(uint8_t *local_mac, const uint8_t *universal_mac);

#ifdef __cplusplus
}
#endif

#endif
