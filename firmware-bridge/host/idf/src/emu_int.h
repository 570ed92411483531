/* Internal to the ESP-IDF emulation: the state its files share and the helpers
 * they call. Not a public interface (sim_emu.h is).
 *
 *   esp_emu.c    state, utilities, simulation control (sim_emu_*)
 *   emu_radio.c  the TX queue and reception (air and medium)
 *   emu_wifi.c   esp_wifi_* and esp_read_mac / esp_base_mac
 *   emu_now.c    esp_now_* */
#ifndef EMU_INT_H
#define EMU_INT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include "esp_err.h"
#include "esp_idf_version.h"
#include "esp_mac.h"
#include "esp_now.h"
#include "esp_system.h"
#include "esp_wifi.h"
#include "sim_air.h"
#include "sim_emu.h"
#include "sim_medium.h"

#define IF_COUNT 2                      /* STA, AP (NAN is not emulated) */
#define PROTO_DEFAULT (WIFI_PROTOCOL_11B | WIFI_PROTOCOL_11G | WIFI_PROTOCOL_11N)
#define ESPNOW_OVERHEAD 43u             /* 802.11 header 24 + action 8 + vendor IE 7 + FCS 4 */

typedef struct {
    esp_now_peer_info_t info;
    bool has_rate;
    wifi_tx_rate_config_t rate;
} peer_t;

typedef enum { TXQ_QUEUED = 0, TXQ_IN_FLIGHT, TXQ_ACKED } txq_state_t;

typedef struct {
    uint8_t dst[6];
    wifi_interface_t ifx;
    uint8_t rate;                       /* wifi_phy_rate_t */
    bool encrypted;
    uint64_t key_tag;
    uint8_t state;                      /* txq_state_t */
    uint8_t done_status;                /* medium mode: status reported by TX_DONE */
    uint8_t src[6];                     /* set when transmitted */
    uint32_t seq;
    uint64_t deadline_us;
    uint16_t len;
    uint8_t data[ESP_NOW_MAX_DATA_LEN_V2];
} txq_t;

typedef struct {
    int32_t id;
    union {
        wifi_event_sta_disconnected_t disc;
        wifi_event_home_channel_change_t chan;
        wifi_event_sta_connected_t conn;
    } data;
} event_t;

typedef struct {
    sim_emu_config_t cfg;
    char air_dir[SIM_AIR_PATH_MAX];
    sim_air_t air;
    uint64_t (*clock)(void);
    uint64_t boot_us;
    int reset_reason;
    sim_emu_counters_t cnt;
    uint32_t seq;
    sim_emu_event_handler_t ev_fn;
    void *ev_ctx;
    event_t ev[SIM_EMU_EVENT_QUEUE_LEN];
    unsigned ev_head, ev_count;
    int med_fd;                         /* medium mode: socket to the coordinator's medium, else -1 */
    bool med_lost;                      /* the medium hung up */
    uint8_t med_state[32];              /* last STATE sent (encoded) */
    size_t med_state_len;
} emu_sim_t;

typedef struct {
    bool inited, started;
    wifi_mode_t mode;
    wifi_storage_t storage;
    wifi_ps_type_t ps;
    uint8_t mac[IF_COUNT][6];
    uint8_t proto[IF_COUNT];
    wifi_phy_rate_t espnow_rate[IF_COUNT];
    uint8_t channel;
    wifi_second_chan_t second;
    int8_t max_tx_power;
    wifi_country_t country;
    wifi_config_t conf[IF_COUNT];
    int espnow_max_encrypt;
    bool sta_connecting;
    uint64_t connect_deadline_us;
    bool sta_connected;                 /* medium mode: associated with a scene AP */
    wifi_ap_record_t ap_info;
} emu_wifi_t;

typedef struct {
    bool inited;
    esp_now_recv_cb_t recv_cb;
    esp_now_send_cb_t send_cb;
    uint8_t pmk[ESP_NOW_KEY_LEN];
    peer_t peers[ESP_NOW_MAX_TOTAL_PEER_NUM];
    int npeers;
    int fetch_pos;
    uint16_t wake_window;
} emu_now_t;

typedef struct {
    txq_t q[SIM_EMU_TX_QUEUE_LEN];
    unsigned head, count;
} emu_txq_t;

/* Single-threaded, no heap: all of the emulation's state (defined in esp_emu.c). */
extern emu_sim_t s_sim;
extern emu_wifi_t s_wifi;
extern emu_now_t s_now;
extern emu_txq_t s_tx;

/* esp_emu.c */
uint64_t emu_now_us(void);
bool emu_is_multicast(const uint8_t *mac);
bool emu_valid_if(wifi_interface_t ifx);
bool emu_mode_has(wifi_mode_t mode, wifi_interface_t ifx);
bool emu_if_active(wifi_interface_t ifx);
uint8_t emu_chan_min(void);
uint8_t emu_chan_max(void);
bool emu_chan_ok(unsigned ch);
size_t emu_bounded_len(const uint8_t *s, size_t cap);
void emu_med_send(const sim_med_msg_t *m);
void emu_state_changed(void);
bool emu_rate_valid(unsigned r);
uint8_t emu_rate_proto(unsigned r);
uint8_t emu_effective_rate(wifi_interface_t ifx, unsigned r);
bool emu_proto_valid(uint8_t p);
void emu_default_ap_config(wifi_ap_config_t *ap, const uint8_t *ap_mac);
event_t *emu_event_push(int32_t id);
void emu_set_home_channel(uint8_t ch, wifi_second_chan_t snd);
void emu_connect_end(uint8_t reason);
void emu_reset_home_channel(void);
void emu_espnow_reset(void);

/* emu_radio.c */
void emu_txq_clear(void);
txq_t *emu_txq_at(unsigned i);
void emu_process_tx(void);
peer_t *emu_peer_find(const uint8_t *mac);
void emu_drain_air(void);
void emu_drain_medium(void);

#endif
