/* sim_medium: messages between a simulated dongle (its radio emulation and its
 * glue) and the coordinator of `espnow-sim --dongles N`, which runs the shared
 * medium. One SOCK_SEQPACKET socketpair per dongle process, one message per
 * packet; all integers little-endian; byte 0 is the type.
 *
 *  dongle -> medium
 *   1 STATE    started u8, channel u8, second u8, active u8 (bit0 STA, bit1 AP),
 *              proto_sta u8, proto_ap u8, sta_mac 6, ap_mac 6, connected u8     (20 bytes)
 *   2 TX       seq u32, ifx u8, rate u8, flags u8, rssi i8 (0), channel u8 (0),
 *              key_tag u64, src 6, dst 6, len u16, payload                     (35 + len)
 *   3 CONNECT  ssid_len u8, ssid 32, pass_len u8, pass 64, bssid_set u8, bssid 6 (106)
 *   4 BOOT     boot_count u32, reset_reason u8                                 (6)
 *   5 BAUD     baud u32: the serial link switches after the bytes already written (5)
 *  medium -> dongle
 *  16 TX_DONE  seq u32, status u8 (0 success, 1 fail), attempts u8             (7)
 *  17 RX       as TX; rssi = received power (dBm), channel = receiver's channel
 *  18 CONNECT_RESULT  ok u8, reason u16, channel u8, bssid 6, rssi i8, authmode u8 (13)
 *
 * The dongle sends STATE whenever its radio state changes, before anything
 * that depends on it reaches the host, so the medium never acts on a state the
 * host has not caused yet. Also: airtime of one frame (sim_airtime_us). */
#ifndef SIM_MEDIUM_H
#define SIM_MEDIUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIM_MED_MAX_PAYLOAD 1536u
#define SIM_MED_MAX_MSG (40u + SIM_MED_MAX_PAYLOAD)

enum {
    SIM_MED_STATE = 1,
    SIM_MED_TX = 2,
    SIM_MED_CONNECT = 3,
    SIM_MED_BOOT = 4,
    SIM_MED_BAUD = 5,
    SIM_MED_TX_DONE = 16,
    SIM_MED_RX = 17,
    SIM_MED_CONNECT_RESULT = 18,
};

typedef struct {
    uint8_t type;
    /* STATE */
    uint8_t started, channel, second, active, proto[2], connected;
    uint8_t sta_mac[6], ap_mac[6];
    /* TX / RX / TX_DONE (channel above is reused by TX/RX) */
    uint32_t seq;
    uint8_t ifx, rate, flags, status, attempts;
    int8_t rssi;
    uint64_t key_tag;
    uint8_t src[6], dst[6];
    uint16_t len;
    const uint8_t *payload;
    /* CONNECT / CONNECT_RESULT */
    uint8_t ssid_len, ssid[32], pass_len, pass[64], bssid_set, bssid[6], ok, authmode;
    uint16_t reason;
    /* BOOT / BAUD */
    uint32_t boot_count, baud;
    uint8_t reset_reason;
} sim_med_msg_t;

/* Encodes m into out; returns the length, 0 if cap is too small or m is invalid. */
size_t sim_med_encode(const sim_med_msg_t *m, uint8_t *out, size_t cap);
/* Decodes one message (payload points into buf); false on any size/type mismatch. */
bool sim_med_decode(const uint8_t *buf, size_t n, sim_med_msg_t *m);

/* Airtime model (see docs/SIMULATOR.md "Calibration").
 * SIM_AIRTIME_ACCESS_US: per-attempt channel access + driver turnaround, fitted
 * so that 250-byte packets at 54 Mbps match the published ESP32 figures. */
#define SIM_AIRTIME_ACCESS_US 200u
#define SIM_ESPNOW_FRAME_OVERHEAD 43u   /* MAC header 24 + action 8 + vendor IE 7 + FCS 4 */
/* PHY duration of a frame of `bytes` MPDU bytes at wifi_phy_rate_t `rate` (µs). */
uint32_t sim_phy_us(uint8_t rate, uint32_t bytes);
/* One transmission attempt of an ESP-NOW payload: access + data frame, plus
 * SIFS + ACK when unicast (a failed attempt waits as long for the ACK). */
uint32_t sim_airtime_us(uint8_t rate, uint32_t payload_len, bool unicast);
/* True if rate is a PHY rate an ESP32 can send. */
bool sim_rate_known(uint8_t rate);

#ifdef __cplusplus
}
#endif

#endif
