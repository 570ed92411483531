/* Host emulation of ESP-IDF v5.4.2 esp_wifi_types_native.h, ESP32 target
 * (CONFIG_IDF_TARGET_ESP32, no CONFIG_SOC_WIFI_HE_SUPPORT): wifi_pkt_rx_ctrl_t
 * has the ESP32 bit layout. */
#ifndef ESP_WIFI_TYPES_NATIVE_H
#define ESP_WIFI_TYPES_NATIVE_H

#include "sdkconfig.h"
#include "esp_wifi_types_generic.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ESP_WIFI_MAX_CONN_NUM (15)   /* stations a soft-AP accepts (ESP32) */

/* Radio metadata of a received packet. */
typedef struct {
    signed rssi: 8;                /* dBm */
    unsigned rate: 5;              /* PHY rate (wifi_phy_rate_t) for non-HT (sig_mode 0) packets */
    unsigned : 1;
    unsigned sig_mode: 2;          /* 0 non-HT (11b/g), 1 HT (11n), 3 VHT */
    unsigned : 16;
    unsigned mcs: 7;               /* HT packets: MCS index */
    unsigned cwb: 1;               /* 0 20 MHz, 1 40 MHz */
    unsigned : 16;
    unsigned smoothing: 1;
    unsigned not_sounding: 1;
    unsigned : 1;
    unsigned aggregation: 1;
    unsigned stbc: 2;
    unsigned fec_coding: 1;
    unsigned sgi: 1;
    signed noise_floor: 8;         /* dBm */
    unsigned ampdu_cnt: 8;
    unsigned channel: 4;           /* primary channel the packet was received on */
    unsigned secondary_channel: 4; /* 0 none, 1 above, 2 below */
    unsigned : 8;
    unsigned timestamp: 32;        /* local time of reception, microseconds */
    unsigned : 32;
    unsigned : 31;
    unsigned ant: 1;
    unsigned sig_len: 12;          /* packet length including FCS */
    unsigned : 12;
    unsigned rx_state: 8;          /* 0: no error */
} wifi_pkt_rx_ctrl_t;

#ifdef __cplusplus
}
#endif

#endif
