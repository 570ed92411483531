/* Host-only control of the ESP-IDF emulation (not an IDF API).
 *
 * The emulation is single-threaded: the esp_* functions, sim_emu_poll() and the
 * ESP-NOW callbacks all run in the caller's thread. Callbacks run only from
 * sim_emu_poll(), never from inside esp_now_send() or another esp_* call.
 *
 * Typical loop:
 *     sim_emu_configure(&cfg);               // once: factory MACs, air dir
 *     esp_wifi_init(...); ...                // the firmware's boot sequence
 *     for (;;) {
 *         poll({ sim_emu_air_fd(), ... }, timeout = sim_emu_next_timeout_ms());
 *         sim_emu_poll();                    // air in, ACK timeouts, air out, callbacks
 *     }
 */
#ifndef SIM_EMU_H
#define SIM_EMU_H

#include <stdbool.h>
#include <stdint.h>
#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef SIM_EMU_TX_QUEUE_LEN
#define SIM_EMU_TX_QUEUE_LEN 32u      /* frames esp_now_send may queue (then ESP_ERR_ESPNOW_NO_MEM) */
#endif
#define SIM_EMU_DEFAULT_ACK_TIMEOUT_US 5000u
#define SIM_EMU_DEFAULT_RSSI (-40)
#define SIM_EMU_NOISE_FLOOR (-95)
#define SIM_EMU_DEFAULT_CONNECT_FAIL_US 2000000u   /* a full scan finding no AP */
#define SIM_EMU_EVENT_QUEUE_LEN 16u

typedef struct {
    const char *air_dir;           /* NULL or "": no air (nothing heard, unicasts fail) */
    uint8_t sta_mac[6];            /* factory (eFuse) STA MAC; must be unicast */
    uint8_t ap_mac[6];             /* factory soft-AP MAC */
    uint32_t ack_timeout_us;       /* 0: SIM_EMU_DEFAULT_ACK_TIMEOUT_US */
    int8_t rssi;                   /* RSSI reported for received frames; 0: SIM_EMU_DEFAULT_RSSI */
    uint8_t home_channel;          /* channel the radio starts on (no soft-AP); 0: 1 */
    uint32_t connect_fail_us;      /* esp_wifi_connect -> STA_DISCONNECTED(NO_AP_FOUND); 0: default */
    bool use_medium;               /* true: radio through medium_fd (sim_medium.h) instead of air_dir */
    int medium_fd;                 /* SOCK_SEQPACKET to the coordinator's medium (use_medium) */
} sim_emu_config_t;

/* Wi-Fi events, as IDF posts them to the default event loop (WIFI_EVENT base).
 * id is a wifi_event_t; data points to the IDF argument struct (or NULL) and is
 * valid during the call only. Produced: STA_START, STA_STOP, AP_START, AP_STOP,
 * STA_DISCONNECTED, HOME_CHANNEL_CHANGE. */
typedef void (*sim_emu_event_handler_t)(void *ctx, int32_t id, const void *data);

/* Counters for tests (monotonic until sim_emu_clear_counters). */
typedef struct {
    uint32_t tx_frames;            /* DATA frames put on the air */
    uint32_t tx_acked;             /* unicasts completed by an ACK */
    uint32_t tx_no_ack;            /* unicasts completed by the ACK timeout */
    uint32_t tx_aborted;           /* queued frames failed because the interface went down */
    uint32_t send_cb;              /* send callbacks invoked */
    uint32_t send_cb_fail;         /* ... with ESP_NOW_SEND_FAIL */
    uint32_t rx_datagrams;         /* datagrams read from the air socket */
    uint32_t rx_bad;               /* undecodable datagrams */
    uint32_t rx_radio_off;         /* DATA heard while Wi-Fi was not started */
    uint32_t rx_other_channel;     /* DATA on another channel */
    uint32_t rx_not_for_us;        /* unicast DATA for another MAC / inactive interface */
    uint32_t rx_phy_mismatch;      /* DATA at a rate our protocol bitmap cannot receive */
    uint32_t acks_sent;            /* ACKs transmitted */
    uint32_t rx_espnow_off;        /* accepted DATA dropped: esp_now not initialised */
    uint32_t rx_crypto_drop;       /* dropped: key mismatch / unencrypted from encrypted peer */
    uint32_t rx_too_long;          /* dropped: payload above ESP_NOW_MAX_DATA_LEN_V2 */
    uint32_t rx_delivered;         /* recv callbacks invoked */
    uint32_t rx_no_cb;             /* accepted but no recv callback registered */
    uint32_t acks_received;        /* ACKs matching the frame in flight */
    uint32_t acks_stray;           /* ACKs matching nothing (late, or not ours) */
    uint32_t events_dropped;       /* Wi-Fi events lost: event queue full */
    uint32_t med_tx_errors;        /* medium mode: messages the medium socket refused */
} sim_emu_counters_t;

/* Sets the simulated hardware and opens the air socket (named after sta_mac).
 * Also performs sim_emu_reboot(). Returns 0 or -errno from sim_air_open. */
int sim_emu_configure(const sim_emu_config_t *cfg);
/* Simulated power cycle: Wi-Fi and ESP-NOW back to "never initialised", MACs back
 * to the factory ones, queued frames dropped without callbacks, uptime restarts.
 * The air socket stays open. */
void sim_emu_reboot(void);
/* Closes and unlinks the air socket. */
void sim_emu_shutdown(void);
/* Async-signal-safe: only unlinks the air socket file. */
void sim_emu_unlink_air(void);

/* Air (or medium) socket to poll for POLLIN, or -1. */
int sim_emu_air_fd(void);
/* Medium mode: true once the medium hung up (the coordinator is gone). */
bool sim_emu_medium_lost(void);
/* Milliseconds until sim_emu_poll() has timed work (ACK timeout), 0 if it has
 * work now (frames to send, callbacks to run), -1 if none. */
int sim_emu_next_timeout_ms(void);
/* Does all pending work: reads the air socket, completes ACKs and ACK timeouts,
 * transmits queued frames, runs send/recv callbacks. Never blocks. */
void sim_emu_poll(void);

/* Events are delivered from sim_emu_poll(), never from inside an esp_* call. */
void sim_emu_set_event_handler(sim_emu_event_handler_t fn, void *ctx);

const sim_emu_counters_t *sim_emu_counters(void);
void sim_emu_clear_counters(void);
/* Microseconds since the last simulated boot (rx_ctrl.timestamp clock). */
uint64_t sim_emu_uptime_us(void);
/* esp_reset_reason() result for this boot. */
void sim_emu_set_reset_reason(int reason);
/* Test hook: replaces CLOCK_MONOTONIC (µs) with fn (NULL restores it). */
void sim_emu_set_clock(uint64_t (*fn)(void));

#ifdef __cplusplus
}
#endif

#endif
