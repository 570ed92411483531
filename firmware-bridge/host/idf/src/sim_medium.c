/* sim_medium: message codec and airtime model (see sim_medium.h). */
#include "sim_medium.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

#define FRAME_HDR 35u

size_t sim_med_encode(const sim_med_msg_t *m, uint8_t *o, size_t cap)
{
    size_t n = 0;
    switch (m->type) {
    case SIM_MED_STATE:
        n = 20;
        if (cap < n) return 0;
        o[1] = m->started; o[2] = m->channel; o[3] = m->second; o[4] = m->active;
        o[5] = m->proto[0]; o[6] = m->proto[1];
        memcpy(o + 7, m->sta_mac, 6); memcpy(o + 13, m->ap_mac, 6);
        o[19] = m->connected;
        break;
    case SIM_MED_TX:
    case SIM_MED_RX:
        if (m->len > SIM_MED_MAX_PAYLOAD || (m->len > 0 && m->payload == NULL)) return 0;
        n = FRAME_HDR + m->len;
        if (cap < n) return 0;
        put32(o + 1, m->seq); o[5] = m->ifx; o[6] = m->rate; o[7] = m->flags;
        o[8] = (uint8_t)m->rssi; o[9] = m->channel; put64(o + 10, m->key_tag);
        memcpy(o + 18, m->src, 6); memcpy(o + 24, m->dst, 6); put16(o + 30, m->len);
        o[32] = o[33] = o[34] = 0;
        if (m->len) memcpy(o + FRAME_HDR, m->payload, m->len);
        break;
    case SIM_MED_CONNECT:
        n = 106;
        if (cap < n || m->ssid_len > 32 || m->pass_len > 64) return 0;
        o[1] = m->ssid_len; memcpy(o + 2, m->ssid, 32); o[34] = m->pass_len; memcpy(o + 35, m->pass, 64);
        o[99] = m->bssid_set; memcpy(o + 100, m->bssid, 6);
        break;
    case SIM_MED_BOOT:
        n = 6;
        if (cap < n) return 0;
        put32(o + 1, m->boot_count); o[5] = m->reset_reason;
        break;
    case SIM_MED_BAUD:
        n = 5;
        if (cap < n) return 0;
        put32(o + 1, m->baud);
        break;
    case SIM_MED_TX_DONE:
        n = 7;
        if (cap < n) return 0;
        put32(o + 1, m->seq); o[5] = m->status; o[6] = m->attempts;
        break;
    case SIM_MED_CONNECT_RESULT:
        n = 13;
        if (cap < n) return 0;
        o[1] = m->ok; put16(o + 2, m->reason); o[4] = m->channel; memcpy(o + 5, m->bssid, 6);
        o[11] = (uint8_t)m->rssi; o[12] = m->authmode;
        break;
    default:
        return 0;
    }
    o[0] = m->type;
    return n;
}

bool sim_med_decode(const uint8_t *b, size_t n, sim_med_msg_t *m)
{
    memset(m, 0, sizeof *m);
    if (n < 1) return false;
    m->type = b[0];
    switch (m->type) {
    case SIM_MED_STATE:
        if (n != 20) return false;
        m->started = b[1]; m->channel = b[2]; m->second = b[3]; m->active = b[4];
        m->proto[0] = b[5]; m->proto[1] = b[6];
        memcpy(m->sta_mac, b + 7, 6); memcpy(m->ap_mac, b + 13, 6);
        m->connected = b[19];
        return true;
    case SIM_MED_TX:
    case SIM_MED_RX:
        if (n < FRAME_HDR) return false;
        m->len = get16(b + 30);
        if (m->len > SIM_MED_MAX_PAYLOAD || n != FRAME_HDR + (size_t)m->len) return false;
        m->seq = get32(b + 1); m->ifx = b[5]; m->rate = b[6]; m->flags = b[7];
        m->rssi = (int8_t)b[8]; m->channel = b[9]; m->key_tag = get64(b + 10);
        memcpy(m->src, b + 18, 6); memcpy(m->dst, b + 24, 6);
        m->payload = b + FRAME_HDR;
        return true;
    case SIM_MED_CONNECT:
        if (n != 106 || b[1] > 32 || b[34] > 64) return false;
        m->ssid_len = b[1]; memcpy(m->ssid, b + 2, 32); m->pass_len = b[34]; memcpy(m->pass, b + 35, 64);
        m->bssid_set = b[99]; memcpy(m->bssid, b + 100, 6);
        return true;
    case SIM_MED_BOOT:
        if (n != 6) return false;
        m->boot_count = get32(b + 1); m->reset_reason = b[5];
        return true;
    case SIM_MED_BAUD:
        if (n != 5) return false;
        m->baud = get32(b + 1);
        return true;
    case SIM_MED_TX_DONE:
        if (n != 7) return false;
        m->seq = get32(b + 1); m->status = b[5]; m->attempts = b[6];
        return true;
    case SIM_MED_CONNECT_RESULT:
        if (n != 13) return false;
        m->ok = b[1]; m->reason = get16(b + 2); m->channel = b[4]; memcpy(m->bssid, b + 5, 6);
        m->rssi = (int8_t)b[11]; m->authmode = b[12];
        return true;
    default:
        return false;
    }
}

/* ------------------------------------------------------------ airtime */

/* wifi_phy_rate_t values on a chip without Wi-Fi 6 (ESP32): MCS0..7 SGI follow MCS7 LGI. */
#define R_MCS0_LGI 0x10u
#define R_MCS7_LGI 0x17u
#define R_MCS0_SGI 0x18u
#define R_MCS7_SGI 0x1Fu
#define R_LORA_250K 0x29u
#define R_LORA_500K 0x2Au

bool sim_rate_known(uint8_t r)
{
    return (r <= 0x0F && r != 0x04) || (r >= R_MCS0_LGI && r <= R_MCS7_SGI) || r == R_LORA_250K || r == R_LORA_500K;
}

static uint32_t div_up(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

/* OFDM data bits per 4 µs symbol for the 11g rates 0x08..0x0F. */
static uint32_t ofdm_mbps(uint8_t r)
{
    static const uint8_t mbps[8] = { 48, 24, 12, 6, 54, 36, 18, 9 };
    return mbps[r - 0x08];
}

uint32_t sim_phy_us(uint8_t r, uint32_t bytes)
{
    uint32_t bits = 8u * bytes;
    switch (r) {                                       /* 802.11b DSSS/CCK: PLCP long 192 µs, short 96 µs */
    case 0x00: return 192 + bits;
    case 0x01: return 192 + div_up(bits, 2);
    case 0x05: return 96 + div_up(bits, 2);
    case 0x02: return 192 + div_up(bits * 2, 11);
    case 0x06: return 96 + div_up(bits * 2, 11);
    case 0x03: return 192 + div_up(bits, 11);
    case 0x07: return 96 + div_up(bits, 11);
    default: break;
    }
    if (r >= 0x08 && r <= 0x0F) {
        /* ERP-OFDM: preamble 16 + SIGNAL 4, 4 µs symbols of (service 16 + data + tail 6) bits, 6 µs signal extension */
        uint32_t dbps = 4u * ofdm_mbps(r);
        return 20u + 4u * div_up(16u + bits + 6u, dbps) + 6u;
    }
    if (r >= R_MCS0_LGI && r <= R_MCS7_SGI) {
        /* HT-mixed 20 MHz, one stream: legacy + HT preamble 36 µs, symbols 4 µs (3.6 µs short GI) */
        static const uint16_t dbps[8] = { 26, 52, 78, 104, 156, 208, 234, 260 };
        bool sgi = r >= R_MCS0_SGI;
        uint32_t syms = div_up(16u + bits + 6u, dbps[sgi ? r - R_MCS0_SGI : r - R_MCS0_LGI]);
        return 36u + (sgi ? div_up(syms * 36u, 10u) : 4u * syms) + 6u;
    }
    if (r == R_LORA_250K) return 192 + bits * 4;      /* ESP LR: long DSSS-style preamble assumed (approximation) */
    if (r == R_LORA_500K) return 192 + bits * 2;
    return 192 + bits;                                /* unknown: as 1 Mbps */
}

/* Control response rate for the ACK (highest mandatory rate <= the data rate). */
static uint8_t ack_rate(uint8_t r)
{
    if (r == 0x00) return 0x00;
    if (r <= 0x07) return r >= 0x05 ? 0x05 : 0x01;                 /* 2 Mbps, same preamble */
    if (r >= 0x08 && r <= 0x0F) {
        uint32_t m = ofdm_mbps(r);
        return m >= 24 ? 0x09 : m >= 12 ? 0x0A : 0x0B;
    }
    if (r >= R_MCS0_LGI && r <= R_MCS7_SGI) {
        unsigned mcs = r >= R_MCS0_SGI ? r - R_MCS0_SGI : r - R_MCS0_LGI;
        return mcs >= 3 ? 0x09 : mcs >= 1 ? 0x0A : 0x0B;
    }
    return r;                                                     /* LR: ACK at the LR rate */
}

uint32_t sim_airtime_us(uint8_t rate, uint32_t payload_len, bool unicast)
{
    uint32_t t = SIM_AIRTIME_ACCESS_US + sim_phy_us(rate, payload_len + SIM_ESPNOW_FRAME_OVERHEAD);
    if (unicast) t += 10u + sim_phy_us(ack_rate(rate), 14u);      /* SIFS + ACK (14 bytes) */
    return t;
}
