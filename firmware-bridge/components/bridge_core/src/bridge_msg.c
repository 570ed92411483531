/* Message layouts (docs/PROTOCOL.md sections 6, 7 and 10) and the generic
 * table-driven body codec. Field names are the spec's, so tools and the
 * protocol vectors can address fields by name. */
#include "bridge_msg.h"

#include <stdbool.h>

/* Per-field maxima from the spec. */
#define PING_DATA_MAX 64u
#define PAYLOAD_MAX BR_PAYLOAD_WIRE_MAX   /* devices enforce their own max_payload (ESPNOW_ARG) */
#define LOG_TEXT_MAX 200u
#define SSID_MAX 32u
#define PASSWORD_MAX 64u
#define IDF_VERSION_MAX 31u

#define F(n, t) { (n), (uint8_t)(t), 0u }
#define FM(n, t, m) { (n), (uint8_t)(t), (uint16_t)(m) }

#define ERR_FIELD F("err", BR_T_I32)

/* esp_now_peer_info_t on the wire (section 6.2), flattened. */
#define PEER_INFO_FIELDS                                                                            \
    F("peer_addr", BR_T_MAC), F("lmk", BR_T_KEY), F("channel", BR_T_U8), F("ifidx", BR_T_U8),        \
        F("encrypt", BR_T_BOOL)

/* HELLO event body (section 7.1), also the HELLO command's outputs. */
#define HELLO_FIELDS                                                                                \
    F("proto_version", BR_T_U8), F("fw_major", BR_T_U8), F("fw_minor", BR_T_U8),                    \
        F("fw_patch", BR_T_U8), F("chip_model", BR_T_U16), F("chip_revision", BR_T_U16),            \
        F("espnow_version", BR_T_U32), F("max_payload", BR_T_U16), F("sta_mac", BR_T_MAC),          \
        F("ap_mac", BR_T_MAC), F("caps", BR_T_U32), F("reset_reason", BR_T_U8),                     \
        F("boot_count", BR_T_U32), F("window", BR_T_U8), F("rxbuf", BR_T_U32),                      \
        F("max_frame", BR_T_U16), F("transport", BR_T_U8), F("baud", BR_T_U32),                     \
        FM("idf_version", BR_T_STR, IDF_VERSION_MAX), F("max_encrypt", BR_T_U8), F("lost_at_reset", BR_T_U32)

/* Device counters (section 10), in table order. */
#define STATS_FIELDS                                                                                \
    F("tx_packets", BR_T_U32), F("tx_responses", BR_T_U32), F("tx_failures", BR_T_U32),             \
        F("rx_packets", BR_T_U32), F("rx_dropped", BR_T_U32), F("link_rx_frames", BR_T_U32),        \
        F("link_rx_bad_crc", BR_T_U32), F("link_rx_bad_cobs", BR_T_U32),                            \
        F("link_rx_oversize", BR_T_U32), F("link_rx_truncated", BR_T_U32),                          \
        F("link_rx_bad_version", BR_T_U32), F("link_rx_bad_kind", BR_T_U32),                        \
        F("req_replayed", BR_T_U32), F("req_busy", BR_T_U32), F("link_tx_frames", BR_T_U32),        \
        F("events_dropped", BR_T_U32), F("log_dropped", BR_T_U32), F("uptime_s", BR_T_U32), F("req_rejected", BR_T_U32),  \
        F("req_stale", BR_T_U32), F("tx_abandoned", BR_T_U32), F("resp_unsent", BR_T_U32)

/* ---- request bodies (shared where identical) ---- */
static const br_field_t rq_ping[] = { FM("data", BR_T_BYTES, PING_DATA_MAX) };
static const br_field_t rq_stats[] = { F("clear", BR_T_BOOL) };
static const br_field_t rq_set_baud[] = { F("baud", BR_T_U32) };
static const br_field_t rq_size[] = { F("size", BR_T_U32) };
static const br_field_t rq_send[] = { F("peer_addr", BR_T_MAC), F("flags", BR_T_U8), FM("data", BR_T_BYTES, PAYLOAD_MAX) };
static const br_field_t rq_peer_info[] = { PEER_INFO_FIELDS };
static const br_field_t rq_peer_addr[] = { F("peer_addr", BR_T_MAC) };
static const br_field_t rq_fetch_peer[] = { F("from_head", BR_T_BOOL) };
static const br_field_t rq_set_pmk[] = { F("pmk", BR_T_KEY) };
static const br_field_t rq_wake_window[] = { F("window_ms", BR_T_U16) };
static const br_field_t rq_peer_rate[] = { F("peer_addr", BR_T_MAC), F("phymode", BR_T_U8), F("rate", BR_T_U8),
                                           F("ersu", BR_T_BOOL), F("dcm", BR_T_BOOL) };
static const br_field_t rq_mode[] = { F("mode", BR_T_U8) };
static const br_field_t rq_channel[] = { F("primary", BR_T_U8), F("second", BR_T_U8) };
static const br_field_t rq_ifidx[] = { F("ifidx", BR_T_U8) };
static const br_field_t rq_set_mac[] = { F("ifidx", BR_T_U8), F("mac", BR_T_MAC) };
static const br_field_t rq_ps[] = { F("type", BR_T_U8) };
static const br_field_t rq_set_protocol[] = { F("ifidx", BR_T_U8), F("bitmap", BR_T_U8) };
static const br_field_t rq_tx_power[] = { F("power", BR_T_I8) };
static const br_field_t rq_if_active[] = { F("ifidx", BR_T_U8), F("active", BR_T_BOOL) };
static const br_field_t rq_sta_connect[] = { FM("ssid", BR_T_STR, SSID_MAX), FM("password", BR_T_STR, PASSWORD_MAX),
                                             F("bssid", BR_T_MAC) };
static const br_field_t rq_ap_config[] = { FM("ssid", BR_T_STR, SSID_MAX),
                                           FM("password", BR_T_STR, PASSWORD_MAX),
                                           F("channel", BR_T_U8),
                                           F("authmode", BR_T_U8),
                                           F("hidden", BR_T_BOOL),
                                           F("max_connection", BR_T_U8) };
static const br_field_t rq_espnow_rate[] = { F("ifidx", BR_T_U8), F("rate", BR_T_U8) };
static const br_field_t rq_country[] = { FM("country", BR_T_STR, 2), F("ieee80211d", BR_T_BOOL) };

/* ---- response bodies: err, then the outputs ---- */
static const br_field_t rs_err[] = { ERR_FIELD };
static const br_field_t rs_hello[] = { ERR_FIELD, HELLO_FIELDS };
static const br_field_t rs_ping[] = { ERR_FIELD, F("uptime_us", BR_T_U64), FM("data", BR_T_BYTES, PING_DATA_MAX) };
static const br_field_t rs_stats[] = { ERR_FIELD, STATS_FIELDS };
static const br_field_t rs_size[] = { ERR_FIELD, F("size", BR_T_U32) };
static const br_field_t rs_version[] = { ERR_FIELD, F("version", BR_T_U32) };
static const br_field_t rs_send[] = { ERR_FIELD, F("statuses", BR_T_U8), F("failures", BR_T_U8) };
static const br_field_t rs_peer_info[] = { ERR_FIELD, PEER_INFO_FIELDS };
static const br_field_t rs_exists[] = { ERR_FIELD, F("exists", BR_T_BOOL) };
static const br_field_t rs_peer_num[] = { ERR_FIELD, F("total_num", BR_T_U8), F("encrypt_num", BR_T_U8) };
static const br_field_t rs_mode[] = { ERR_FIELD, F("mode", BR_T_U8) };
static const br_field_t rs_channel[] = { ERR_FIELD, F("primary", BR_T_U8), F("second", BR_T_U8) };
static const br_field_t rs_mac[] = { ERR_FIELD, F("mac", BR_T_MAC) };
static const br_field_t rs_ps[] = { ERR_FIELD, F("type", BR_T_U8) };
static const br_field_t rs_bitmap[] = { ERR_FIELD, F("bitmap", BR_T_U8) };
static const br_field_t rs_country[] = { ERR_FIELD, FM("country", BR_T_STR, 2) };
static const br_field_t rs_tx_power[] = { ERR_FIELD, F("power", BR_T_I8) };
static const br_field_t rs_active[] = { ERR_FIELD, F("active", BR_T_BOOL) };
static const br_field_t rs_sta_status[] = { ERR_FIELD, F("status", BR_T_U16), F("channel", BR_T_U8),
                                            F("bssid", BR_T_MAC), F("rssi", BR_T_I8) };

/* ---- event bodies ---- */
static const br_field_t ev_hello[] = { HELLO_FIELDS };
static const br_field_t ev_recv[] = { F("src_addr", BR_T_MAC),      F("dst", BR_T_DST2),
                                      F("rate", BR_T_RATE6),        F("rssi", BR_T_I8),
                                      F("channel", BR_T_U8),        F("timestamp_us", BR_T_U32),
                                      F("dst_addr", BR_T_DST_ADDR), FM("data", BR_T_BYTES, PAYLOAD_MAX) };
static const br_field_t ev_send_status[] = { F("req_id", BR_T_U16), F("peer_addr", BR_T_MAC), F("status", BR_T_U8) };
static const br_field_t ev_log[] = { F("level", BR_T_U8), F("flags", BR_T_U8), FM("text", BR_T_BYTES, LOG_TEXT_MAX) };
static const br_field_t ev_dropped[] = { F("what", BR_T_U8), F("count", BR_T_U32), F("total", BR_T_U32) };
static const br_field_t ev_wifi_event[] = { F("event", BR_T_U8), F("channel", BR_T_U8), F("reason", BR_T_U16) };

#define NF(a) (uint8_t)(sizeof(a) / sizeof((a)[0]))
#define RQ(code, name, a) { (uint8_t)BR_KIND_REQUEST, (uint8_t)(code), (name), NF(a), (a) }
#define RQ0(code, name) { (uint8_t)BR_KIND_REQUEST, (uint8_t)(code), (name), 0u, NULL }
#define RS(code, name, a) { (uint8_t)BR_KIND_RESPONSE, (uint8_t)(code), (name), NF(a), (a) }
#define EV(code, name, a) { (uint8_t)BR_KIND_EVENT, (uint8_t)(code), (name), NF(a), (a) }

/* Each command appears twice: its request, then its response. */
static const br_msg_t msgs[] = {
    RQ0(BR_CMD_HELLO, "HELLO"),
    RS(BR_CMD_HELLO, "HELLO", rs_hello),
    RQ(BR_CMD_PING, "PING", rq_ping),
    RS(BR_CMD_PING, "PING", rs_ping),
    RQ0(BR_CMD_RESET, "RESET"),
    RS(BR_CMD_RESET, "RESET", rs_err),
    RQ(BR_CMD_STATS, "STATS", rq_stats),
    RS(BR_CMD_STATS, "STATS", rs_stats),
    RQ(BR_CMD_SET_BAUD, "SET_BAUD", rq_set_baud),
    RS(BR_CMD_SET_BAUD, "SET_BAUD", rs_err),
    RQ(BR_CMD_SET_RXBUF, "SET_RXBUF", rq_size),
    RS(BR_CMD_SET_RXBUF, "SET_RXBUF", rs_size),

    RQ0(BR_CMD_ESPNOW_INIT, "ESPNOW_INIT"),
    RS(BR_CMD_ESPNOW_INIT, "ESPNOW_INIT", rs_err),
    RQ0(BR_CMD_ESPNOW_DEINIT, "ESPNOW_DEINIT"),
    RS(BR_CMD_ESPNOW_DEINIT, "ESPNOW_DEINIT", rs_err),
    RQ0(BR_CMD_ESPNOW_GET_VERSION, "ESPNOW_GET_VERSION"),
    RS(BR_CMD_ESPNOW_GET_VERSION, "ESPNOW_GET_VERSION", rs_version),
    RQ(BR_CMD_ESPNOW_SEND, "ESPNOW_SEND", rq_send),
    RS(BR_CMD_ESPNOW_SEND, "ESPNOW_SEND", rs_send),
    RQ(BR_CMD_ESPNOW_ADD_PEER, "ESPNOW_ADD_PEER", rq_peer_info),
    RS(BR_CMD_ESPNOW_ADD_PEER, "ESPNOW_ADD_PEER", rs_err),
    RQ(BR_CMD_ESPNOW_DEL_PEER, "ESPNOW_DEL_PEER", rq_peer_addr),
    RS(BR_CMD_ESPNOW_DEL_PEER, "ESPNOW_DEL_PEER", rs_err),
    RQ(BR_CMD_ESPNOW_MOD_PEER, "ESPNOW_MOD_PEER", rq_peer_info),
    RS(BR_CMD_ESPNOW_MOD_PEER, "ESPNOW_MOD_PEER", rs_err),
    RQ(BR_CMD_ESPNOW_GET_PEER, "ESPNOW_GET_PEER", rq_peer_addr),
    RS(BR_CMD_ESPNOW_GET_PEER, "ESPNOW_GET_PEER", rs_peer_info),
    RQ(BR_CMD_ESPNOW_FETCH_PEER, "ESPNOW_FETCH_PEER", rq_fetch_peer),
    RS(BR_CMD_ESPNOW_FETCH_PEER, "ESPNOW_FETCH_PEER", rs_peer_info),
    RQ(BR_CMD_ESPNOW_IS_PEER_EXIST, "ESPNOW_IS_PEER_EXIST", rq_peer_addr),
    RS(BR_CMD_ESPNOW_IS_PEER_EXIST, "ESPNOW_IS_PEER_EXIST", rs_exists),
    RQ0(BR_CMD_ESPNOW_GET_PEER_NUM, "ESPNOW_GET_PEER_NUM"),
    RS(BR_CMD_ESPNOW_GET_PEER_NUM, "ESPNOW_GET_PEER_NUM", rs_peer_num),
    RQ(BR_CMD_ESPNOW_SET_PMK, "ESPNOW_SET_PMK", rq_set_pmk),
    RS(BR_CMD_ESPNOW_SET_PMK, "ESPNOW_SET_PMK", rs_err),
    RQ(BR_CMD_ESPNOW_SET_WAKE_WINDOW, "ESPNOW_SET_WAKE_WINDOW", rq_wake_window),
    RS(BR_CMD_ESPNOW_SET_WAKE_WINDOW, "ESPNOW_SET_WAKE_WINDOW", rs_err),
    RQ(BR_CMD_ESPNOW_SET_PEER_RATE_CONFIG, "ESPNOW_SET_PEER_RATE_CONFIG", rq_peer_rate),
    RS(BR_CMD_ESPNOW_SET_PEER_RATE_CONFIG, "ESPNOW_SET_PEER_RATE_CONFIG", rs_err),

    RQ(BR_CMD_WIFI_SET_MODE, "WIFI_SET_MODE", rq_mode),
    RS(BR_CMD_WIFI_SET_MODE, "WIFI_SET_MODE", rs_err),
    RQ0(BR_CMD_WIFI_GET_MODE, "WIFI_GET_MODE"),
    RS(BR_CMD_WIFI_GET_MODE, "WIFI_GET_MODE", rs_mode),
    RQ0(BR_CMD_WIFI_START, "WIFI_START"),
    RS(BR_CMD_WIFI_START, "WIFI_START", rs_err),
    RQ0(BR_CMD_WIFI_STOP, "WIFI_STOP"),
    RS(BR_CMD_WIFI_STOP, "WIFI_STOP", rs_err),
    RQ(BR_CMD_WIFI_SET_CHANNEL, "WIFI_SET_CHANNEL", rq_channel),
    RS(BR_CMD_WIFI_SET_CHANNEL, "WIFI_SET_CHANNEL", rs_err),
    RQ0(BR_CMD_WIFI_GET_CHANNEL, "WIFI_GET_CHANNEL"),
    RS(BR_CMD_WIFI_GET_CHANNEL, "WIFI_GET_CHANNEL", rs_channel),
    RQ(BR_CMD_WIFI_GET_MAC, "WIFI_GET_MAC", rq_ifidx),
    RS(BR_CMD_WIFI_GET_MAC, "WIFI_GET_MAC", rs_mac),
    RQ(BR_CMD_WIFI_SET_MAC, "WIFI_SET_MAC", rq_set_mac),
    RS(BR_CMD_WIFI_SET_MAC, "WIFI_SET_MAC", rs_err),
    RQ(BR_CMD_WIFI_SET_PS, "WIFI_SET_PS", rq_ps),
    RS(BR_CMD_WIFI_SET_PS, "WIFI_SET_PS", rs_err),
    RQ0(BR_CMD_WIFI_GET_PS, "WIFI_GET_PS"),
    RS(BR_CMD_WIFI_GET_PS, "WIFI_GET_PS", rs_ps),
    RQ(BR_CMD_WIFI_SET_PROTOCOL, "WIFI_SET_PROTOCOL", rq_set_protocol),
    RS(BR_CMD_WIFI_SET_PROTOCOL, "WIFI_SET_PROTOCOL", rs_err),
    RQ(BR_CMD_WIFI_GET_PROTOCOL, "WIFI_GET_PROTOCOL", rq_ifidx),
    RS(BR_CMD_WIFI_GET_PROTOCOL, "WIFI_GET_PROTOCOL", rs_bitmap),
    RQ(BR_CMD_WIFI_SET_MAX_TX_POWER, "WIFI_SET_MAX_TX_POWER", rq_tx_power),
    RS(BR_CMD_WIFI_SET_MAX_TX_POWER, "WIFI_SET_MAX_TX_POWER", rs_err),
    RQ0(BR_CMD_WIFI_GET_MAX_TX_POWER, "WIFI_GET_MAX_TX_POWER"),
    RS(BR_CMD_WIFI_GET_MAX_TX_POWER, "WIFI_GET_MAX_TX_POWER", rs_tx_power),
    RQ(BR_CMD_WIFI_SET_IF_ACTIVE, "WIFI_SET_IF_ACTIVE", rq_if_active),
    RS(BR_CMD_WIFI_SET_IF_ACTIVE, "WIFI_SET_IF_ACTIVE", rs_err),
    RQ(BR_CMD_WIFI_GET_IF_ACTIVE, "WIFI_GET_IF_ACTIVE", rq_ifidx),
    RS(BR_CMD_WIFI_GET_IF_ACTIVE, "WIFI_GET_IF_ACTIVE", rs_active),
    RQ(BR_CMD_WIFI_STA_CONNECT, "WIFI_STA_CONNECT", rq_sta_connect),
    RS(BR_CMD_WIFI_STA_CONNECT, "WIFI_STA_CONNECT", rs_err),
    RQ0(BR_CMD_WIFI_STA_DISCONNECT, "WIFI_STA_DISCONNECT"),
    RS(BR_CMD_WIFI_STA_DISCONNECT, "WIFI_STA_DISCONNECT", rs_err),
    RQ0(BR_CMD_WIFI_STA_STATUS, "WIFI_STA_STATUS"),
    RS(BR_CMD_WIFI_STA_STATUS, "WIFI_STA_STATUS", rs_sta_status),
    RQ(BR_CMD_WIFI_AP_CONFIG, "WIFI_AP_CONFIG", rq_ap_config),
    RS(BR_CMD_WIFI_AP_CONFIG, "WIFI_AP_CONFIG", rs_err),
    RQ(BR_CMD_WIFI_CONFIG_ESPNOW_RATE, "WIFI_CONFIG_ESPNOW_RATE", rq_espnow_rate),
    RS(BR_CMD_WIFI_CONFIG_ESPNOW_RATE, "WIFI_CONFIG_ESPNOW_RATE", rs_err),
    RQ(BR_CMD_WIFI_SET_COUNTRY_CODE, "WIFI_SET_COUNTRY_CODE", rq_country),
    RS(BR_CMD_WIFI_SET_COUNTRY_CODE, "WIFI_SET_COUNTRY_CODE", rs_err),
    RQ0(BR_CMD_WIFI_GET_COUNTRY_CODE, "WIFI_GET_COUNTRY_CODE"),
    RS(BR_CMD_WIFI_GET_COUNTRY_CODE, "WIFI_GET_COUNTRY_CODE", rs_country),

    EV(BR_EVT_HELLO, "HELLO", ev_hello),
    EV(BR_EVT_RECV, "RECV", ev_recv),
    EV(BR_EVT_SEND_STATUS, "SEND_STATUS", ev_send_status),
    EV(BR_EVT_LOG, "LOG", ev_log),
    EV(BR_EVT_DROPPED, "DROPPED", ev_dropped),
    EV(BR_EVT_WIFI_EVENT, "WIFI_EVENT", ev_wifi_event),
};

#define MSG_COUNT (sizeof(msgs) / sizeof(msgs[0]))

const br_msg_t *br_msg_find(uint8_t kind, uint8_t code)
{
    size_t i;
    for (i = 0; i < MSG_COUNT; i++) {
        if (msgs[i].kind == kind && msgs[i].code == code) {
            return &msgs[i];
        }
    }
    return NULL;
}

const br_msg_t *br_msg_at(size_t index)
{
    return (index < MSG_COUNT) ? &msgs[index] : NULL;
}

size_t br_msg_count(void)
{
    return MSG_COUNT;
}

/* ---- decoding ---- */

/* body + off without forming NULL + 0, which is undefined behaviour. */
static const uint8_t *at(const uint8_t *body, size_t off)
{
    return (body == NULL) ? NULL : body + off;
}

static uint32_t rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Two's complement reinterpretations written out, so the result does not
 * depend on implementation-defined unsigned-to-signed conversion. */
static int64_t s_from_u32(uint32_t u)
{
    return (u & 0x80000000u) ? (int64_t)u - (int64_t)0x100000000LL : (int64_t)u;
}

static int64_t s_from_u64(uint64_t u)
{
    if (u <= (uint64_t)INT64_MAX) {
        return (int64_t)u;
    }
    return (int64_t)(u - (uint64_t)INT64_MAX - 1u) + INT64_MIN;
}

static size_t fixed_size(uint8_t type)
{
    switch (type) {
    case BR_T_U8:
    case BR_T_I8:
    case BR_T_BOOL:
    case BR_T_RATE6:
        return 1;
    case BR_T_U16:
        return 2;
    case BR_T_U32:
    case BR_T_I32:
        return 4;
    case BR_T_U64:
        return 8;
    case BR_T_MAC:
        return 6;
    case BR_T_KEY:
        return 16;
    default:
        return 0;
    }
}

static void clear_value(br_value_t *v)
{
    v->i = 0;
    v->ptr = NULL;
    v->len = 0;
    v->present = 0;
}

br_result_t br_msg_decode(const br_msg_t *m, const uint8_t *body, size_t len, br_value_t *vals)
{
    size_t off = 0;
    size_t i;
    size_t first = 0;
    int64_t last_dst = -1;

    if (m == NULL) {
        return BR_ERR_UNKNOWN_CODE;
    }
    if (vals == NULL || (body == NULL && len != 0u) || m->nfields > BR_MAX_FIELDS ||
        (m->fields == NULL && m->nfields != 0u)) {
        return BR_ERR_BAD_BODY;
    }
    for (i = 0; i < m->nfields; i++) {
        clear_value(&vals[i]);
    }
    if (m->kind == (uint8_t)BR_KIND_RESPONSE && m->nfields > 0u) {
        /* err decides whether the outputs follow (section 5). */
        if (len < 4u) {
            return BR_ERR_BAD_BODY;
        }
        vals[0].i = s_from_u32(rd_u32(body));
        vals[0].present = 1;
        if (vals[0].i != 0) {
            return (len == 4u) ? BR_OK : BR_ERR_BAD_BODY;
        }
        off = 4;
        first = 1;
    }
    for (i = first; i < m->nfields; i++) {
        const br_field_t *fd = &m->fields[i];
        br_value_t *v = &vals[i];
        size_t rem = len - off;
        const uint8_t *p = at(body, off);
        size_t need = fixed_size(fd->type);

        if (need > rem) {
            return BR_ERR_BAD_BODY;
        }
        switch (fd->type) {
        case BR_T_U8:
            v->i = p[0];
            break;
        case BR_T_BOOL:
            if (p[0] > 1u) {
                return BR_ERR_BAD_BODY;
            }
            v->i = p[0];
            break;
        case BR_T_I8:
            v->i = (p[0] & 0x80u) ? (int64_t)p[0] - 256 : (int64_t)p[0];
            break;
        case BR_T_U16:
            v->i = (int64_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8));
            break;
        case BR_T_U32:
            v->i = (int64_t)rd_u32(p);
            break;
        case BR_T_I32:
            v->i = s_from_u32(rd_u32(p));
            break;
        case BR_T_U64:
            v->i = s_from_u64((uint64_t)rd_u32(p) | ((uint64_t)rd_u32(p + 4) << 32));
            break;
        case BR_T_MAC:
        case BR_T_KEY:
            v->ptr = p;
            v->len = (uint16_t)need;
            break;
        case BR_T_STR: {
            size_t n;
            if (rem < 1u) {
                return BR_ERR_BAD_BODY;
            }
            n = p[0];
            if (n > fd->max || n > rem - 1u) {
                return BR_ERR_BAD_BODY;
            }
            v->ptr = p + 1;
            v->len = (uint16_t)n;
            need = 1u + n;
            break;
        }
        case BR_T_BYTES:
            /* Only the last field may take the rest of the body. */
            if (i + 1u != m->nfields || rem > fd->max) {
                return BR_ERR_BAD_BODY;
            }
            v->ptr = p;
            v->len = (uint16_t)rem;
            need = rem;
            break;
        case BR_T_DST2:
            /* Shares its byte with the RATE6 field after it, which consumes it. */
            if (rem < 1u) {
                return BR_ERR_BAD_BODY;
            }
            v->i = p[0] >> 6;
            last_dst = v->i;
            break;
        case BR_T_RATE6:
            v->i = p[0] & 0x3Fu;
            break;
        case BR_T_DST_ADDR:
            if (last_dst != (int64_t)BR_DST_OTHER) {
                continue; /* absent: present stays 0 */
            }
            if (rem < 6u) {
                return BR_ERR_BAD_BODY;
            }
            v->ptr = p;
            v->len = 6;
            need = 6;
            break;
        default:
            return BR_ERR_BAD_BODY;
        }
        v->present = 1;
        off += need;
    }
    return (off == len) ? BR_OK : BR_ERR_BAD_BODY;
}

/* ---- encoding ---- */

static bool in_range(int64_t v, int64_t lo, int64_t hi)
{
    return v >= lo && v <= hi;
}

size_t br_msg_encode(const br_msg_t *m, const br_value_t *vals, uint8_t *out, size_t cap, br_result_t *res)
{
    br_result_t dummy;
    size_t o = 0;
    size_t nf;
    size_t i;
    int64_t last_dst = -1;

    if (res == NULL) {
        res = &dummy;
    }
    *res = BR_OK;
    if (m == NULL) {
        *res = BR_ERR_UNKNOWN_CODE;
        return 0;
    }
    if (m->nfields > BR_MAX_FIELDS || (m->fields == NULL && m->nfields != 0u) ||
        (vals == NULL && m->nfields != 0u)) {
        *res = BR_ERR_BAD_BODY;
        return 0;
    }
    nf = m->nfields;
    if (m->kind == (uint8_t)BR_KIND_RESPONSE && nf > 0u && vals[0].i != 0) {
        nf = 1; /* a failed command has no outputs */
    }
    for (i = 0; i < nf; i++) {
        const br_field_t *fd = &m->fields[i];
        const br_value_t *v = &vals[i];
        uint64_t u = (uint64_t)v->i; /* well-defined modulo 2^64 */
        size_t need = fixed_size(fd->type);
        const uint8_t *src = NULL; /* bytes to copy after the fixed part */
        size_t n = 0;
        bool ok;
        size_t k;

        switch (fd->type) {
        case BR_T_U8:
            ok = in_range(v->i, 0, 0xFF);
            break;
        case BR_T_BOOL:
            ok = in_range(v->i, 0, 1);
            break;
        case BR_T_I8:
            ok = in_range(v->i, -128, 127);
            break;
        case BR_T_U16:
            ok = in_range(v->i, 0, 0xFFFF);
            break;
        case BR_T_U32:
            ok = in_range(v->i, 0, 0xFFFFFFFFLL);
            break;
        case BR_T_I32:
            ok = in_range(v->i, -2147483647LL - 1, 2147483647LL);
            break;
        case BR_T_U64:
            ok = true; /* any bit pattern */
            break;
        case BR_T_MAC:
        case BR_T_KEY:
            ok = (v->ptr != NULL && v->len == need);
            src = v->ptr;
            n = need;
            need = 0;
            break;
        case BR_T_STR:
            ok = (v->len <= fd->max && v->len <= 0xFFu && (v->ptr != NULL || v->len == 0u));
            u = v->len;
            need = 1;
            src = v->ptr;
            n = v->len;
            break;
        case BR_T_BYTES:
            ok = (i + 1u == m->nfields && v->len <= fd->max && (v->ptr != NULL || v->len == 0u));
            src = v->ptr;
            n = v->len;
            break;
        case BR_T_DST2:
            /* Written together with the RATE6 field that follows it. */
            ok = in_range(v->i, 0, 3);
            last_dst = v->i;
            break;
        case BR_T_RATE6:
            ok = (last_dst >= 0 && in_range(v->i, 0, 0x3F));
            u = ((uint64_t)last_dst << 6) | u;
            break;
        case BR_T_DST_ADDR:
            if (last_dst != (int64_t)BR_DST_OTHER) {
                continue; /* only present when dst == 3 */
            }
            ok = (v->ptr != NULL && v->len == 6u);
            src = v->ptr;
            n = 6;
            break;
        default:
            ok = false;
            break;
        }
        if (!ok) {
            *res = BR_ERR_BAD_BODY;
            return 0;
        }
        if (need + n > cap - o) {
            *res = BR_ERR_NO_SPACE;
            return 0;
        }
        /* Little-endian by construction, whatever the host's byte order. */
        for (k = 0; k < need; k++) {
            out[o++] = (uint8_t)((u >> (8u * k)) & 0xFFu);
        }
        for (k = 0; k < n; k++) {
            out[o++] = src[k];
        }
    }
    return o;
}
