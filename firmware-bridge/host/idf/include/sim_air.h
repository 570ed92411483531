/* sim_air: the minimal simulated air shared by simulated dongles (host only).
 *
 * Every simulated radio binds a Unix datagram socket in one "air directory",
 * named <AIRDIR>/<12 lowercase hex digits of its factory STA MAC>.sock. A
 * transmission is one datagram sent to every other socket in the directory (a
 * shared medium: receivers decide what they hear). An ACK is one datagram sent
 * back to the socket the acknowledged frame came from.
 *
 * Datagram format, version 1 (all integers little-endian), 32-byte header:
 *
 *   off size field
 *    0   1   version     SIM_AIR_VERSION (1); receivers drop other versions
 *    1   1   type        1 DATA (an ESP-NOW action frame), 2 ACK
 *    2   1   channel     primary channel the frame is sent on (1..14)
 *    3   1   rate        wifi_phy_rate_t used for the frame
 *    4   1   flags       bit 0: encrypted (CCMP with the peer's LMK)
 *    5   1   tx_power    i8, transmitter's max TX power, 0.25 dBm units
 *    6   2   len         payload length (0 for ACK; <= SIM_AIR_MAX_PAYLOAD)
 *    8   4   seq         transmitter's frame sequence number (ACK: echoed)
 *   12   6   src         transmitter MAC (the interface MAC it sends from)
 *   18   6   dst         receiver MAC (ff:ff:ff:ff:ff:ff broadcast)
 *   24   8   key_tag     encrypted frames: 64-bit FNV-1a of PMK||LMK (16+16
 *                        bytes); a receiver decrypts only if its own
 *                        PMK||LMK-for-src gives the same tag. 0 otherwise.
 *   32   len payload     the ESP-NOW data
 *
 * An ACK has type 2, src = the acknowledging radio's MAC (the DATA's dst),
 * dst = the DATA's src, the DATA's seq and channel, len 0.
 *
 * No heap; the caller owns sim_air_t. Sockets are non-blocking. */
#ifndef SIM_AIR_H
#define SIM_AIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIM_AIR_VERSION 1u
#define SIM_AIR_HDR_LEN 32u
#define SIM_AIR_MAX_PAYLOAD 1536u
#define SIM_AIR_MAX_DGRAM (SIM_AIR_HDR_LEN + SIM_AIR_MAX_PAYLOAD)

#define SIM_AIR_TYPE_DATA 1u
#define SIM_AIR_TYPE_ACK 2u
#define SIM_AIR_FLAG_ENCRYPTED 0x01u

#define SIM_AIR_PATH_MAX 108u       /* sizeof(sockaddr_un.sun_path) on Linux */

typedef struct {
    uint8_t version;
    uint8_t type;
    uint8_t channel;
    uint8_t rate;
    uint8_t flags;
    int8_t tx_power;
    uint16_t len;
    uint32_t seq;
    uint8_t src[6];
    uint8_t dst[6];
    uint64_t key_tag;
    const uint8_t *payload;         /* len bytes; points into the datagram when decoded */
} sim_air_frame_t;

/* Where a received datagram came from (to send an ACK back). */
typedef struct {
    char path[SIM_AIR_PATH_MAX];
} sim_air_from_t;

typedef struct {
    int fd;                         /* -1 when closed */
    char dir[SIM_AIR_PATH_MAX];
    char path[SIM_AIR_PATH_MAX];    /* our own socket */
    uint32_t tx_datagrams;          /* datagrams handed to the kernel */
    uint32_t tx_dropped;            /* a receiver's queue was full (or it vanished) */
    uint32_t stale_removed;         /* sockets of dead processes unlinked */
} sim_air_t;

/* Encodes f (version forced to SIM_AIR_VERSION) into out; returns the datagram
 * length, or 0 if cap is too small or f->len > SIM_AIR_MAX_PAYLOAD. */
size_t sim_air_encode(const sim_air_frame_t *f, uint8_t *out, size_t cap);
/* Decodes a datagram; false if it is shorter than the header, has another
 * version or type, or len disagrees with the datagram size. */
bool sim_air_decode(const uint8_t *dgram, size_t n, sim_air_frame_t *f);

/* 64-bit FNV-1a of pmk[16] || lmk[16] (never 0). */
uint64_t sim_air_key_tag(const uint8_t pmk[16], const uint8_t lmk[16]);

/* Creates dir (mode 0700) if needed and binds <dir>/<id_mac hex>.sock. A socket
 * file left by a dead process is replaced. Returns 0 or -errno (-EADDRINUSE when a
 * live radio already uses that name, -ENAMETOOLONG for a long dir). */
int sim_air_open(sim_air_t *a, const char *dir, const uint8_t id_mac[6]);
/* Closes the socket and unlinks its file. Safe on a closed sim_air_t. */
void sim_air_close(sim_air_t *a);
/* Signal-safe variant: only unlinks the socket file. */
void sim_air_unlink(const sim_air_t *a);

/* Sends the datagram to every other socket in the directory. Returns how many
 * receivers it was handed to (0 is fine: nobody listening), or -errno. */
int sim_air_transmit(sim_air_t *a, const uint8_t *dgram, size_t n);
/* Sends a datagram to one socket (an ACK to a received frame's sender). */
int sim_air_send_to(sim_air_t *a, const sim_air_from_t *to, const uint8_t *dgram, size_t n);
/* Non-blocking receive: returns the datagram length, 0 when nothing is queued,
 * or -errno. from may be NULL. */
int sim_air_receive(sim_air_t *a, uint8_t *buf, size_t cap, sim_air_from_t *from);

/* Default air directory: $XDG_RUNTIME_DIR/espnow-sim-air if set, else
 * /tmp/espnow-sim-air-<uid>. */
void sim_air_default_dir(char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
