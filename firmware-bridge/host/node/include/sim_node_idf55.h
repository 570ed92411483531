/* Node runtime: the ESP-NOW send-callback types of ESP-IDF v5.5 and later, for
 * applications built with `--idf 5.5` (the emulation itself has v5.4's API; the
 * runtime adapts its callbacks). */
#ifndef SIM_NODE_IDF55_H
#define SIM_NODE_IDF55_H

#include <stdint.h>
#include "esp_err.h"
#include "esp_wifi_types.h"
#include "../../idf/include/esp_now.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    WIFI_SEND_SUCCESS = 0,
    WIFI_SEND_FAIL,
} wifi_tx_status_t;

/* ESP-IDF v5.5 member names and order. Here data is NULL and data_len 0 (the
 * 802.11 frame is not kept), rate is the peer's configured rate or 1 Mbps. */
typedef struct {
    uint8_t *des_addr;
    uint8_t *src_addr;
    wifi_interface_t ifidx;
    uint8_t *data;
    uint8_t data_len;
    wifi_phy_rate_t rate;
    wifi_tx_status_t tx_status;
} wifi_tx_info_t;

typedef wifi_tx_info_t sim_node_send_info_v55_t;
typedef void (*sim_node_send_cb_v55_t)(const sim_node_send_info_v55_t *tx_info, esp_now_send_status_t status);
esp_err_t sim_node_register_send_cb_v55(sim_node_send_cb_v55_t cb);

#ifdef __cplusplus
}
#endif

#endif
