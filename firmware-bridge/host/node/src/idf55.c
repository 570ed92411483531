/* The ESP-IDF v5.5 send callback on top of the emulation's v5.4 one. */
#include <string.h>

#include "esp_now.h"
#include "esp_wifi.h"
#include "sim_node_idf55.h"

static sim_node_send_cb_v55_t s_cb;

static void adapter(const uint8_t *mac, esp_now_send_status_t status)
{
    if (s_cb == NULL) return;
    static uint8_t dst[6], src[6];
    esp_now_peer_info_t peer;
    wifi_interface_t ifx = WIFI_IF_STA;
    if (mac && esp_now_get_peer(mac, &peer) == ESP_OK) ifx = peer.ifidx;
    if (mac) memcpy(dst, mac, 6);
    esp_wifi_get_mac(ifx, src);
    wifi_tx_info_t info = { .des_addr = mac ? dst : NULL, .src_addr = src, .ifidx = ifx, .data = NULL, .data_len = 0,
                            .rate = WIFI_PHY_RATE_1M_L,
                            .tx_status = status == ESP_NOW_SEND_SUCCESS ? WIFI_SEND_SUCCESS : WIFI_SEND_FAIL };
    s_cb(&info, status);
}

esp_err_t sim_node_register_send_cb_v55(sim_node_send_cb_v55_t cb)
{
    esp_err_t e = esp_now_register_send_cb(adapter);
    if (e == ESP_OK) s_cb = cb;
    return e;
}
