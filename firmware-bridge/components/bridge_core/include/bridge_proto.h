/* Wire protocol v1 constants (docs/PROTOCOL.md is normative). */
#ifndef BRIDGE_PROTO_H
#define BRIDGE_PROTO_H

#include <stdint.h>

#define BR_PROTO_VERSION 2u
#define BR_MAX_DECODED 1536u                 /* header + body + CRC */
#define BR_MAX_ENCODED_NO_DELIM 1543u        /* BR_MAX_DECODED + ceil(1536/254) */
#define BR_MAX_ENCODED (BR_MAX_ENCODED_NO_DELIM + 1u)
#define BR_CRC_LEN 4u
#define BR_REQ_HEADER_LEN 4u                 /* ver_kind, id (2), code */
#define BR_EVT_HEADER_LEN 2u                 /* ver_kind, code */
#define BR_MIN_DECODED 6u
#define BR_MAX_BODY (BR_MAX_DECODED - BR_CRC_LEN - BR_EVT_HEADER_LEN)
/* Largest ESP-NOW payload the SEND and RECV layouts carry: the largest
 * ESP_NOW_MAX_DATA_LEN_V2 of any ESP-IDF release (1490 in 5.4.0/5.4.1). */
#define BR_PAYLOAD_WIRE_MAX 1490u

typedef enum {
    BR_KIND_REQUEST = 1,
    BR_KIND_RESPONSE = 2,
    BR_KIND_EVENT = 3,
} br_kind_t;

/* Results of every decode step; the names match the vectors' reject reasons. */
typedef enum {
    BR_OK = 0,
    BR_ERR_TRUNCATED = 1,
    BR_ERR_BAD_CRC = 2,
    BR_ERR_BAD_COBS = 3,
    BR_ERR_OVERSIZE = 4,
    BR_ERR_BAD_VERSION = 5,
    BR_ERR_BAD_KIND = 6,
    BR_ERR_BAD_BODY = 7,       /* body does not match the layout of its code */
    BR_ERR_UNKNOWN_CODE = 8,   /* no layout for this kind/code */
    BR_ERR_NO_SPACE = 9,       /* output buffer too small (encoders) */
} br_result_t;

/* Command codes (requests and their responses). */
typedef enum {
    BR_CMD_HELLO = 0x01,
    BR_CMD_PING = 0x02,
    BR_CMD_RESET = 0x03,
    BR_CMD_STATS = 0x04,
    BR_CMD_SET_BAUD = 0x05,
    BR_CMD_SET_RXBUF = 0x06,
    BR_CMD_ESPNOW_INIT = 0x10,
    BR_CMD_ESPNOW_DEINIT = 0x11,
    BR_CMD_ESPNOW_GET_VERSION = 0x12,
    BR_CMD_ESPNOW_SEND = 0x13,
    BR_CMD_ESPNOW_ADD_PEER = 0x14,
    BR_CMD_ESPNOW_DEL_PEER = 0x15,
    BR_CMD_ESPNOW_MOD_PEER = 0x16,
    BR_CMD_ESPNOW_GET_PEER = 0x17,
    BR_CMD_ESPNOW_FETCH_PEER = 0x18,
    BR_CMD_ESPNOW_IS_PEER_EXIST = 0x19,
    BR_CMD_ESPNOW_GET_PEER_NUM = 0x1A,
    BR_CMD_ESPNOW_SET_PMK = 0x1B,
    BR_CMD_ESPNOW_SET_WAKE_WINDOW = 0x1C,
    BR_CMD_ESPNOW_SET_PEER_RATE_CONFIG = 0x1D,
    BR_CMD_WIFI_SET_MODE = 0x30,
    BR_CMD_WIFI_GET_MODE = 0x31,
    BR_CMD_WIFI_START = 0x32,
    BR_CMD_WIFI_STOP = 0x33,
    BR_CMD_WIFI_SET_CHANNEL = 0x34,
    BR_CMD_WIFI_GET_CHANNEL = 0x35,
    BR_CMD_WIFI_GET_MAC = 0x36,
    BR_CMD_WIFI_SET_MAC = 0x37,
    BR_CMD_WIFI_SET_PS = 0x38,
    BR_CMD_WIFI_GET_PS = 0x39,
    BR_CMD_WIFI_SET_PROTOCOL = 0x3A,
    BR_CMD_WIFI_GET_PROTOCOL = 0x3B,
    BR_CMD_WIFI_SET_MAX_TX_POWER = 0x3C,
    BR_CMD_WIFI_GET_MAX_TX_POWER = 0x3D,
    BR_CMD_WIFI_SET_IF_ACTIVE = 0x3E,
    BR_CMD_WIFI_GET_IF_ACTIVE = 0x3F,
    BR_CMD_WIFI_STA_CONNECT = 0x40,
    BR_CMD_WIFI_STA_DISCONNECT = 0x41,
    BR_CMD_WIFI_STA_STATUS = 0x42,
    BR_CMD_WIFI_AP_CONFIG = 0x43,
    BR_CMD_WIFI_CONFIG_ESPNOW_RATE = 0x44,
    BR_CMD_WIFI_SET_COUNTRY_CODE = 0x45,
    BR_CMD_WIFI_GET_COUNTRY_CODE = 0x46,
} br_cmd_t;

typedef enum {
    BR_EVT_HELLO = 0x80,
    BR_EVT_RECV = 0x81,
    BR_EVT_SEND_STATUS = 0x82,
    BR_EVT_LOG = 0x83,
    BR_EVT_DROPPED = 0x84,
    BR_EVT_WIFI_EVENT = 0x85,
} br_evt_t;

/* RECV dst field (bits 7..6 of dst_rate). */
typedef enum {
    BR_DST_STA = 0,
    BR_DST_AP = 1,
    BR_DST_BROADCAST = 2,
    BR_DST_OTHER = 3,
} br_dst_t;

#define BR_ERR_BRIDGE_BUSY 0xB001   /* esp_err_t value: window exceeded, not executed */
#define BR_ERR_BRIDGE_STALE 0xB002  /* esp_err_t value: id older than the replay window, not executed */

/* ESPNOW_SEND flags. */
#define BR_SEND_SYNC 0x01u
#define BR_SEND_ALL_PEERS 0x02u

/* SEND_STATUS status values beyond esp_now_send_status_t. */
#define BR_SEND_STATUS_ABANDONED 2u

/* HELLO caps bits. */
#define BR_CAP_ESPNOW_V2 (1u << 0)
#define BR_CAP_SET_BAUD (1u << 1)
#define BR_CAP_LONG_RANGE (1u << 2)
#define BR_CAP_SIMULATED (1u << 3)
#define BR_CAP_WAKE_WINDOW (1u << 4)
#define BR_CAP_PEER_RATE_CONFIG (1u << 5)
#define BR_CAP_5GHZ (1u << 6)

#define BR_STATS_COUNT 22u

#endif
