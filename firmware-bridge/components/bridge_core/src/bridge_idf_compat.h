/* Internal: one behaviour over the ESP-IDF releases and chips the bridge supports
 * (ESP-IDF 5.1 to 5.5 and 6.0; Wi-Fi 4 and Wi-Fi 6 chips). */
#ifndef BRIDGE_IDF_COMPAT_H
#define BRIDGE_IDF_COMPAT_H

#include <stdbool.h>
#include <stdint.h>

#include "esp_err.h"
#include "esp_idf_version.h"
#include "esp_wifi_types.h"

/* esp_now_rate_config_t / esp_now_set_peer_rate_config: ESP-IDF 5.1 and later
 * (HELLO's per-peer rate capability follows this). */
#ifndef BR_HAVE_PEER_RATE_CONFIG
#define BR_HAVE_PEER_RATE_CONFIG (ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 1, 0))
#endif
/* esp_wifi_config_espnow_rate: deprecated in 5.1, removed in 6.0. */
#ifndef BR_HAVE_CONFIG_ESPNOW_RATE
#define BR_HAVE_CONFIG_ESPNOW_RATE (ESP_IDF_VERSION < ESP_IDF_VERSION_VAL(6, 0, 0))
#endif

/* RECV's rate value when the receive metadata does not tell (PROTOCOL.md). */
#define BR_RATE_UNKNOWN 63u

/* The wifi_phy_rate_t of a received frame, or BR_RATE_UNKNOWN. */
uint8_t br_rate_of_rx(const wifi_pkt_rx_ctrl_t *rx);
/* esp_now_set_peer_rate_config; ESP_ERR_NOT_SUPPORTED where ESP-IDF lacks it. */
esp_err_t br_set_peer_rate(const uint8_t *mac, int64_t phymode, int64_t rate, bool ersu, bool dcm);
/* esp_wifi_config_espnow_rate where ESP-IDF has it; on 6.0 the same rate for every
 * peer on the interface through the per-peer API; else ESP_ERR_NOT_SUPPORTED. */
esp_err_t br_config_espnow_rate(wifi_interface_t ifx, wifi_phy_rate_t rate);

#endif
