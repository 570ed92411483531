/* What differs between the ESP-IDF releases and chips the bridge supports
 * (firmware-bridge/README.md): the receive rate of Wi-Fi 6 chips and the ESP-NOW
 * rate APIs. Each function hides one difference behind one behaviour. */
#include "bridge_idf_compat.h"

#include <string.h>

#include "esp_now.h"
#include "esp_wifi.h"
#include "sdkconfig.h"

uint8_t br_rate_of_rx(const wifi_pkt_rx_ctrl_t *rx)
{
    if (rx == NULL) return BR_RATE_UNKNOWN;
#if CONFIG_SOC_WIFI_HE_SUPPORT
    /* Wi-Fi 6 chips (esp_wifi_rxctrl_t): `rate` is the 11b rate or the L-SIG rate,
     * which is the real rate only for 11b/11g frames (cur_bb_format 0 and 1, the
     * wifi_rx_bb_format_t values). HT/HE frames carry their MCS in fields this
     * struct does not name, so their rate is reported as unknown. */
    if (rx->cur_bb_format <= 1) return (uint8_t)(rx->rate & 0x1F);
    return BR_RATE_UNKNOWN;
#else
    if (rx->sig_mode == 0) return (uint8_t)(rx->rate & 0x1F);
    if (rx->sig_mode == 1) return (uint8_t)((rx->sgi ? 0x18 : 0x10) + (rx->mcs & 7));  /* HT MCS0..7, long/short GI */
    return BR_RATE_UNKNOWN;
#endif
}

esp_err_t br_set_peer_rate(const uint8_t *mac, int64_t phymode, int64_t rate, bool ersu, bool dcm)
{
#if BR_HAVE_PEER_RATE_CONFIG
    esp_now_rate_config_t rc;
    memset(&rc, 0, sizeof rc);
    rc.phymode = (wifi_phy_mode_t)phymode;
    rc.rate = (wifi_phy_rate_t)rate;
    rc.ersu = ersu;
    rc.dcm = dcm;
    return esp_now_set_peer_rate_config(mac, &rc);
#else
    (void)mac; (void)phymode; (void)rate; (void)ersu; (void)dcm;
    return ESP_ERR_NOT_SUPPORTED;
#endif
}

#if !BR_HAVE_CONFIG_ESPNOW_RATE && BR_HAVE_PEER_RATE_CONFIG
/* The PHY mode a wifi_phy_rate_t belongs to (named values only, so that the
 * chip-specific numbering of the MCS rates on Wi-Fi 6 chips follows the headers). */
static bool phymode_of(wifi_phy_rate_t rate, wifi_phy_mode_t *mode)
{
    if (rate <= WIFI_PHY_RATE_11M_S && rate != 0x04) *mode = WIFI_PHY_MODE_11B;
    else if (rate >= WIFI_PHY_RATE_48M && rate <= WIFI_PHY_RATE_9M) *mode = WIFI_PHY_MODE_11G;
    else if ((rate >= WIFI_PHY_RATE_MCS0_LGI && rate <= WIFI_PHY_RATE_MCS7_LGI) ||
             (rate >= WIFI_PHY_RATE_MCS0_SGI && rate <= WIFI_PHY_RATE_MCS7_SGI)) *mode = WIFI_PHY_MODE_HT20;
    else if (rate == WIFI_PHY_RATE_LORA_250K || rate == WIFI_PHY_RATE_LORA_500K) *mode = WIFI_PHY_MODE_LR;
    else return false;
    return true;
}

static esp_err_t set_rate_if_on(const esp_now_peer_info_t *p, wifi_interface_t ifx, const esp_now_rate_config_t *rc)
{
    if (p->ifidx != ifx) return ESP_OK;
    esp_now_rate_config_t c = *rc;
    return esp_now_set_peer_rate_config(p->peer_addr, &c);
}
#endif

esp_err_t br_config_espnow_rate(wifi_interface_t ifx, wifi_phy_rate_t rate)
{
#if BR_HAVE_CONFIG_ESPNOW_RATE
    /* Deprecated since ESP-IDF 5.1 but still the one call that sets the rate of a
     * whole interface, as MicroPython's ESPNow.config(rate=) uses it: call it 1:1. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    return esp_wifi_config_espnow_rate(ifx, rate);
#pragma GCC diagnostic pop
#elif BR_HAVE_PEER_RATE_CONFIG
    /* ESP-IDF 6.0 removed it: give every peer on that interface the rate instead
     * (the broadcast peer too, which esp_now_fetch_peer skips). Peers added later
     * keep ESP-NOW's default rate. */
    esp_now_rate_config_t rc;
    memset(&rc, 0, sizeof rc);
    rc.rate = rate;
    if (!phymode_of(rate, &rc.phymode)) return ESP_ERR_INVALID_ARG;
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    esp_now_peer_info_t p;
    memset(&p, 0, sizeof p);
    esp_err_t e = esp_now_get_peer(bcast, &p);
    if (e == ESP_OK) e = set_rate_if_on(&p, ifx, &rc);
    else if (e == ESP_ERR_ESPNOW_NOT_FOUND) e = ESP_OK;
    for (bool head = true; e == ESP_OK; head = false) {
        esp_err_t f = esp_now_fetch_peer(head, &p);
        if (f == ESP_ERR_ESPNOW_NOT_FOUND) break;   /* end of the list */
        e = f == ESP_OK ? set_rate_if_on(&p, ifx, &rc) : f;
    }
    return e;
#else
    (void)ifx; (void)rate;
    return ESP_ERR_NOT_SUPPORTED;
#endif
}
