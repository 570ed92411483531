/* Node runtime: esp_now.h = the emulation's (ESP-IDF v5.4 API); built with
 * `--idf 5.5` (SIM_NODE_IDF_5_5), the send callback takes v5.5's
 * esp_now_send_info_t instead of the destination MAC. */
#ifndef NODE_ESP_NOW_H
#define NODE_ESP_NOW_H

#ifdef SIM_NODE_IDF_5_5
#define esp_now_send_cb_t sim_node_send_cb_v54_t
#define esp_now_register_send_cb sim_node_register_send_cb_v54_unused
#endif
#include "../../idf/include/esp_now.h"
#ifdef SIM_NODE_IDF_5_5
#undef esp_now_send_cb_t
#undef esp_now_register_send_cb
#include "sim_node_idf55.h"

#ifdef __cplusplus
extern "C" {
#endif
typedef wifi_tx_info_t esp_now_send_info_t;
typedef void (*esp_now_send_cb_t)(const esp_now_send_info_t *tx_info, esp_now_send_status_t status);
static inline esp_err_t esp_now_register_send_cb(esp_now_send_cb_t cb)
{
    return sim_node_register_send_cb_v55(cb);
}
#ifdef __cplusplus
}
#endif
#endif

#endif
