/* Host emulation of ESP-IDF v5.4.2 esp_wifi.h (the subset a bridge needs).
 * Signatures, error codes and WIFI_INIT_CONFIG_DEFAULT() follow IDF. */
#ifndef ESP_WIFI_H
#define ESP_WIFI_H

#include <stdbool.h>
#include <stdint.h>
#include "esp_err.h"
#include "esp_wifi_types.h"
#include "esp_wifi_crypto_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ESP_ERR_WIFI_NOT_INIT          (ESP_ERR_WIFI_BASE + 1)   /* 0x3001 driver not installed by esp_wifi_init */
#define ESP_ERR_WIFI_NOT_STARTED       (ESP_ERR_WIFI_BASE + 2)   /* 0x3002 not started by esp_wifi_start */
#define ESP_ERR_WIFI_NOT_STOPPED       (ESP_ERR_WIFI_BASE + 3)   /* 0x3003 not stopped by esp_wifi_stop */
#define ESP_ERR_WIFI_IF                (ESP_ERR_WIFI_BASE + 4)   /* 0x3004 interface error */
#define ESP_ERR_WIFI_MODE              (ESP_ERR_WIFI_BASE + 5)   /* 0x3005 mode error */
#define ESP_ERR_WIFI_STATE             (ESP_ERR_WIFI_BASE + 6)   /* 0x3006 internal state error */
#define ESP_ERR_WIFI_CONN              (ESP_ERR_WIFI_BASE + 7)   /* 0x3007 station/soft-AP control block error */
#define ESP_ERR_WIFI_NVS               (ESP_ERR_WIFI_BASE + 8)   /* 0x3008 NVS error */
#define ESP_ERR_WIFI_MAC               (ESP_ERR_WIFI_BASE + 9)   /* 0x3009 invalid MAC address */
#define ESP_ERR_WIFI_SSID              (ESP_ERR_WIFI_BASE + 10)  /* 0x300A invalid SSID */
#define ESP_ERR_WIFI_PASSWORD          (ESP_ERR_WIFI_BASE + 11)  /* 0x300B invalid password */
#define ESP_ERR_WIFI_TIMEOUT           (ESP_ERR_WIFI_BASE + 12)  /* 0x300C timeout */
#define ESP_ERR_WIFI_WAKE_FAIL         (ESP_ERR_WIFI_BASE + 13)  /* 0x300D sleeping, wake-up failed */
#define ESP_ERR_WIFI_WOULD_BLOCK       (ESP_ERR_WIFI_BASE + 14)  /* 0x300E caller would block */
#define ESP_ERR_WIFI_NOT_CONNECT       (ESP_ERR_WIFI_BASE + 15)  /* 0x300F station disconnected */
#define ESP_ERR_WIFI_POST              (ESP_ERR_WIFI_BASE + 18)
#define ESP_ERR_WIFI_INIT_STATE        (ESP_ERR_WIFI_BASE + 19)
#define ESP_ERR_WIFI_STOP_STATE        (ESP_ERR_WIFI_BASE + 20)
#define ESP_ERR_WIFI_NOT_ASSOC         (ESP_ERR_WIFI_BASE + 21)
#define ESP_ERR_WIFI_TX_DISALLOW       (ESP_ERR_WIFI_BASE + 22)

typedef struct wifi_osi_funcs_t wifi_osi_funcs_t;

/* Members and order as in IDF 5.4.2. */
typedef struct {
    wifi_osi_funcs_t *osi_funcs;
    wpa_crypto_funcs_t wpa_crypto_funcs;
    int static_rx_buf_num;
    int dynamic_rx_buf_num;
    int tx_buf_type;
    int static_tx_buf_num;
    int dynamic_tx_buf_num;
    int rx_mgmt_buf_type;
    int rx_mgmt_buf_num;
    int cache_tx_buf_num;
    int csi_enable;
    int ampdu_rx_enable;
    int ampdu_tx_enable;
    int amsdu_tx_enable;
    int nvs_enable;
    int nano_enable;
    int rx_ba_win;
    int wifi_task_core_id;
    int beacon_max_len;
    int mgmt_sbuf_num;
    uint64_t feature_caps;
    bool sta_disconnected_pm;
    int espnow_max_encrypt_num;      /* encrypted ESP-NOW peer limit the driver enforces */
    int tx_hetb_queue_num;
    bool dump_hesigb_enable;
    int magic;                       /* must be WIFI_INIT_CONFIG_MAGIC */
} wifi_init_config_t;

extern const wpa_crypto_funcs_t g_wifi_default_wpa_crypto_funcs;
extern wifi_osi_funcs_t g_wifi_osi_funcs;

#define WIFI_INIT_CONFIG_MAGIC 0x1F2F3F4F
#define WIFI_STATIC_TX_BUFFER_NUM 0
#define WIFI_CACHE_TX_BUFFER_NUM 0
#define WIFI_DYNAMIC_TX_BUFFER_NUM CONFIG_ESP_WIFI_DYNAMIC_TX_BUFFER_NUM
#define WIFI_RX_MGMT_BUF_NUM_DEF CONFIG_ESP_WIFI_RX_MGMT_BUF_NUM_DEF
#define WIFI_CSI_ENABLED 0
#define WIFI_AMPDU_RX_ENABLED 1
#define WIFI_AMPDU_TX_ENABLED 1
#define WIFI_AMSDU_TX_ENABLED 0
#define WIFI_NVS_ENABLED 1
#define WIFI_NANO_FORMAT_ENABLED 0
#define WIFI_DEFAULT_RX_BA_WIN CONFIG_ESP_WIFI_RX_BA_WIN
#define WIFI_TASK_CORE_ID 0
#define WIFI_SOFTAP_BEACON_MAX_LEN CONFIG_ESP_WIFI_SOFTAP_BEACON_MAX_LEN
#define WIFI_MGMT_SBUF_NUM CONFIG_ESP_WIFI_MGMT_SBUF_NUM
#define WIFI_STA_DISCONNECTED_PM_ENABLED false
#define WIFI_FEATURE_CAPS 0
#define WIFI_DUMP_HESIGB_ENABLED false
#define WIFI_TX_HETB_QUEUE_NUM 1

#define WIFI_INIT_CONFIG_DEFAULT() { \
    .osi_funcs = &g_wifi_osi_funcs, \
    .wpa_crypto_funcs = g_wifi_default_wpa_crypto_funcs, \
    .static_rx_buf_num = CONFIG_ESP_WIFI_STATIC_RX_BUFFER_NUM, \
    .dynamic_rx_buf_num = CONFIG_ESP_WIFI_DYNAMIC_RX_BUFFER_NUM, \
    .tx_buf_type = CONFIG_ESP_WIFI_TX_BUFFER_TYPE, \
    .static_tx_buf_num = WIFI_STATIC_TX_BUFFER_NUM, \
    .dynamic_tx_buf_num = WIFI_DYNAMIC_TX_BUFFER_NUM, \
    .rx_mgmt_buf_type = CONFIG_ESP_WIFI_DYNAMIC_RX_MGMT_BUF, \
    .rx_mgmt_buf_num = WIFI_RX_MGMT_BUF_NUM_DEF, \
    .cache_tx_buf_num = WIFI_CACHE_TX_BUFFER_NUM, \
    .csi_enable = WIFI_CSI_ENABLED, \
    .ampdu_rx_enable = WIFI_AMPDU_RX_ENABLED, \
    .ampdu_tx_enable = WIFI_AMPDU_TX_ENABLED, \
    .amsdu_tx_enable = WIFI_AMSDU_TX_ENABLED, \
    .nvs_enable = WIFI_NVS_ENABLED, \
    .nano_enable = WIFI_NANO_FORMAT_ENABLED, \
    .rx_ba_win = WIFI_DEFAULT_RX_BA_WIN, \
    .wifi_task_core_id = WIFI_TASK_CORE_ID, \
    .beacon_max_len = WIFI_SOFTAP_BEACON_MAX_LEN, \
    .mgmt_sbuf_num = WIFI_MGMT_SBUF_NUM, \
    .feature_caps = WIFI_FEATURE_CAPS, \
    .sta_disconnected_pm = WIFI_STA_DISCONNECTED_PM_ENABLED, \
    .espnow_max_encrypt_num = CONFIG_ESP_WIFI_ESPNOW_MAX_ENCRYPT_NUM, \
    .tx_hetb_queue_num = WIFI_TX_HETB_QUEUE_NUM, \
    .dump_hesigb_enable = WIFI_DUMP_HESIGB_ENABLED, \
    .magic = WIFI_INIT_CONFIG_MAGIC \
}

esp_err_t esp_wifi_init(const wifi_init_config_t *config);
esp_err_t esp_wifi_deinit(void);
esp_err_t esp_wifi_set_mode(wifi_mode_t mode);
esp_err_t esp_wifi_get_mode(wifi_mode_t *mode);
esp_err_t esp_wifi_start(void);
esp_err_t esp_wifi_stop(void);
esp_err_t esp_wifi_connect(void);
esp_err_t esp_wifi_disconnect(void);
esp_err_t esp_wifi_sta_get_ap_info(wifi_ap_record_t *ap_info);
esp_err_t esp_wifi_set_ps(wifi_ps_type_t type);
esp_err_t esp_wifi_get_ps(wifi_ps_type_t *type);
esp_err_t esp_wifi_set_protocol(wifi_interface_t ifx, uint8_t protocol_bitmap);
esp_err_t esp_wifi_get_protocol(wifi_interface_t ifx, uint8_t *protocol_bitmap);
esp_err_t esp_wifi_set_channel(uint8_t primary, wifi_second_chan_t second);
esp_err_t esp_wifi_get_channel(uint8_t *primary, wifi_second_chan_t *second);
esp_err_t esp_wifi_set_country(const wifi_country_t *country);
esp_err_t esp_wifi_get_country(wifi_country_t *country);
esp_err_t esp_wifi_set_mac(wifi_interface_t ifx, const uint8_t mac[6]);
esp_err_t esp_wifi_get_mac(wifi_interface_t ifx, uint8_t mac[6]);
esp_err_t esp_wifi_set_config(wifi_interface_t interface, wifi_config_t *conf);
esp_err_t esp_wifi_get_config(wifi_interface_t interface, wifi_config_t *conf);
esp_err_t esp_wifi_set_storage(wifi_storage_t storage);
esp_err_t esp_wifi_set_max_tx_power(int8_t power);
esp_err_t esp_wifi_get_max_tx_power(int8_t *power);
esp_err_t esp_wifi_set_country_code(const char *country, bool ieee80211d_enabled);
esp_err_t esp_wifi_get_country_code(char *country);

#ifdef __cplusplus
}
#endif

#endif /* ESP_WIFI_H */
