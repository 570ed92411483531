/* Host emulation: the Kconfig values the emulated ESP-IDF headers need.
 * The emulated chip is an ESP32 (no Wi-Fi 6, no 5 GHz) with IDF v5.4 defaults. */
#ifndef HOST_SDKCONFIG_H
#define HOST_SDKCONFIG_H

#define CONFIG_IDF_TARGET_ESP32 1
#define CONFIG_IDF_TARGET "esp32"
#define CONFIG_SOC_WIFI_SUPPORTED 1
#define CONFIG_SOC_WIFI_NAN_SUPPORT 1
#define CONFIG_SOC_WIFI_HE_SUPPORT 0
#define CONFIG_SOC_WIFI_SUPPORT_5G 0

#define CONFIG_ESP_WIFI_STATIC_RX_BUFFER_NUM 10
#define CONFIG_ESP_WIFI_DYNAMIC_RX_BUFFER_NUM 32
#define CONFIG_ESP_WIFI_TX_BUFFER_TYPE 1
#define CONFIG_ESP_WIFI_DYNAMIC_TX_BUFFER_NUM 32
#define CONFIG_ESP_WIFI_DYNAMIC_RX_MGMT_BUF 0
#define CONFIG_ESP_WIFI_RX_MGMT_BUF_NUM_DEF 5
#define CONFIG_ESP_WIFI_AMPDU_RX_ENABLED 1
#define CONFIG_ESP_WIFI_AMPDU_TX_ENABLED 1
#define CONFIG_ESP_WIFI_RX_BA_WIN 6
#define CONFIG_ESP_WIFI_NVS_ENABLED 1
#define CONFIG_ESP_WIFI_SOFTAP_BEACON_MAX_LEN 752
#define CONFIG_ESP_WIFI_MGMT_SBUF_NUM 32
/* IDF >= 5.1: the encrypted ESP-NOW peer limit is this Kconfig value (range 0..17,
 * default 7; ESP32-C2: 0..4, default 2), passed to the driver through
 * wifi_init_config_t.espnow_max_encrypt_num. ESP_NOW_MAX_ENCRYPT_PEER_NUM (6) in
 * esp_now.h is the old fixed value and is NOT what the driver enforces. */
#define CONFIG_ESP_WIFI_ESPNOW_MAX_ENCRYPT_NUM 7

#endif
