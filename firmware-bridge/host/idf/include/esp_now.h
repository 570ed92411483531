/* Host emulation of ESP-IDF v5.4.2 esp_now.h: same names, values, types and
 * signatures (including the pre-5.5 send callback taking the peer MAC). */
#ifndef ESP_NOW_H
#define ESP_NOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "esp_err.h"
#include "esp_wifi_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ESP_ERR_ESPNOW_BASE         (ESP_ERR_WIFI_BASE + 100) /* 0x3064 */
#define ESP_ERR_ESPNOW_NOT_INIT     (ESP_ERR_ESPNOW_BASE + 1) /* 0x3065 not initialized */
#define ESP_ERR_ESPNOW_ARG          (ESP_ERR_ESPNOW_BASE + 2) /* 0x3066 invalid argument */
#define ESP_ERR_ESPNOW_NO_MEM       (ESP_ERR_ESPNOW_BASE + 3) /* 0x3067 out of memory / queue full */
#define ESP_ERR_ESPNOW_FULL         (ESP_ERR_ESPNOW_BASE + 4) /* 0x3068 peer list full */
#define ESP_ERR_ESPNOW_NOT_FOUND    (ESP_ERR_ESPNOW_BASE + 5) /* 0x3069 peer not found */
#define ESP_ERR_ESPNOW_INTERNAL     (ESP_ERR_ESPNOW_BASE + 6) /* 0x306A internal error */
#define ESP_ERR_ESPNOW_EXIST        (ESP_ERR_ESPNOW_BASE + 7) /* 0x306B peer exists */
#define ESP_ERR_ESPNOW_IF           (ESP_ERR_ESPNOW_BASE + 8) /* 0x306C interface error */
#define ESP_ERR_ESPNOW_CHAN         (ESP_ERR_ESPNOW_BASE + 9) /* 0x306D channel error */

#define ESP_NOW_ETH_ALEN             6
#define ESP_NOW_KEY_LEN              16

#define ESP_NOW_MAX_TOTAL_PEER_NUM   20
/* The header value. The driver enforces wifi_init_config_t.espnow_max_encrypt_num
 * (CONFIG_ESP_WIFI_ESPNOW_MAX_ENCRYPT_NUM, default 7), and so does the emulation. */
#define ESP_NOW_MAX_ENCRYPT_PEER_NUM 6

#define ESP_NOW_MAX_IE_DATA_LEN      250
#define ESP_NOW_MAX_DATA_LEN         ESP_NOW_MAX_IE_DATA_LEN
/* v5.4.2+ value (the v5.4.0/v5.4.2 header said 1490; fixed to 1470 in v5.4.2,
 * commit "fix the ESPNOW data length issue"). */
#ifndef ESP_NOW_MAX_DATA_LEN_V2
#define ESP_NOW_MAX_DATA_LEN_V2      1470   /* IDF >= 5.4.2; 5.4.0/5.4.1 say 1490 (a build option here, to test that) */
#endif

typedef enum {
    ESP_NOW_SEND_SUCCESS = 0,
    ESP_NOW_SEND_FAIL,
} esp_now_send_status_t;

typedef struct esp_now_peer_info {
    uint8_t peer_addr[ESP_NOW_ETH_ALEN];
    uint8_t lmk[ESP_NOW_KEY_LEN];
    uint8_t channel;               /* 0: the interface's current channel; else it must equal it */
    wifi_interface_t ifidx;
    bool encrypt;
    void *priv;
} esp_now_peer_info_t;

typedef struct esp_now_peer_num {
    int total_num;
    int encrypt_num;
} esp_now_peer_num_t;

typedef struct esp_now_recv_info {
    uint8_t *src_addr;
    uint8_t *des_addr;
    wifi_pkt_rx_ctrl_t *rx_ctrl;
} esp_now_recv_info_t;

typedef wifi_tx_rate_config_t esp_now_rate_config_t;

typedef void (*esp_now_recv_cb_t)(const esp_now_recv_info_t *esp_now_info, const uint8_t *data, int data_len);
typedef void (*esp_now_send_cb_t)(const uint8_t *mac_addr, esp_now_send_status_t status);

esp_err_t esp_now_init(void);
esp_err_t esp_now_deinit(void);
esp_err_t esp_now_get_version(uint32_t *version);
esp_err_t esp_now_register_recv_cb(esp_now_recv_cb_t cb);
esp_err_t esp_now_unregister_recv_cb(void);
esp_err_t esp_now_register_send_cb(esp_now_send_cb_t cb);
esp_err_t esp_now_unregister_send_cb(void);
esp_err_t esp_now_send(const uint8_t *peer_addr, const uint8_t *data, size_t len);
esp_err_t esp_now_add_peer(const esp_now_peer_info_t *peer);
esp_err_t esp_now_del_peer(const uint8_t *peer_addr);
esp_err_t esp_now_mod_peer(const esp_now_peer_info_t *peer);
/* Deprecated in IDF 5.4 (use esp_now_set_peer_rate_config). IDF marks it with
 * __attribute__((deprecated)) but builds with -Wno-error=deprecated-declarations;
 * host builds use plain -Werror, so the attribute is only applied on request. */
#ifdef ESP_HOST_WARN_DEPRECATED
#define ESP_HOST_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define ESP_HOST_DEPRECATED(msg)
#endif
esp_err_t esp_wifi_config_espnow_rate(wifi_interface_t ifx, wifi_phy_rate_t rate)
    ESP_HOST_DEPRECATED("use esp_now_set_peer_rate_config");
esp_err_t esp_now_set_peer_rate_config(const uint8_t *peer_addr, esp_now_rate_config_t *config);
esp_err_t esp_now_get_peer(const uint8_t *peer_addr, esp_now_peer_info_t *peer);
esp_err_t esp_now_fetch_peer(bool from_head, esp_now_peer_info_t *peer);
bool esp_now_is_peer_exist(const uint8_t *peer_addr);
esp_err_t esp_now_get_peer_num(esp_now_peer_num_t *num);
esp_err_t esp_now_set_pmk(const uint8_t *pmk);
esp_err_t esp_now_set_wake_window(uint16_t window);

#ifdef __cplusplus
}
#endif

#endif /* ESP_NOW_H */
