/* Node runtime: esp_netif as far as ESP-NOW applications use it (no IP stack). */
#ifndef NODE_ESP_NETIF_H
#define NODE_ESP_NETIF_H

#include "esp_err.h"
#include "esp_event.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct esp_netif_obj esp_netif_t;

esp_err_t esp_netif_init(void);
esp_err_t esp_netif_deinit(void);
esp_netif_t *esp_netif_create_default_wifi_sta(void);
esp_netif_t *esp_netif_create_default_wifi_ap(void);
void esp_netif_destroy_default_wifi(void *netif);
void esp_netif_destroy(esp_netif_t *netif);

#ifdef __cplusplus
}
#endif

#endif
