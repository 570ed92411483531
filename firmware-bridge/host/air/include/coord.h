/* The coordinator of `espnow-sim --dongles N`: configuration shared by the
 * command line (coord.c) and the scene file (scene.c). */
#ifndef COORD_H
#define COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define COORD_MAX_RADIOS 64           /* dongles + scripted nodes */
#define COORD_MAX_APS 16

enum { RADIO_DONGLE = 0, RADIO_ECHO, RADIO_SENSOR, RADIO_FLOOD, RADIO_FIRMWARE };
enum { DIR_H2D = 0, DIR_D2H = 1 };

typedef struct {
    int kind;                         /* RADIO_* */
    bool have_sta, have_ap;
    uint8_t sta[6], ap[6];
    uint8_t channel;                  /* 1..14 */
    uint32_t baud;                    /* dongles: serial pacing (0 = none) */
    double ber[2], drop[2];           /* dongles: serial faults per direction */
    /* scripted nodes */
    uint32_t interval_ms;             /* sensor period */
    bool to_broadcast;                /* sensor: broadcast (default) or unicast to `to` */
    uint8_t to[6];
    uint16_t len;                     /* flood payload length */
    uint8_t rate;                     /* wifi_phy_rate_t nodes send at */
    /* firmware nodes (docs/NODES.md) */
    char app[256];                    /* node executable (espnow node build) */
    char dir[256];                    /* its NVS, RTC memory and console log; "" = a fresh temporary one */
} radio_cfg_t;

typedef struct {
    char ssid[33];
    char password[65];
    uint8_t channel;
    int8_t rssi;
    uint8_t bssid[6];
} ap_cfg_t;

typedef struct {
    int ndongles, nnodes;             /* radios[0..ndongles) dongles, then nodes */
    radio_cfg_t radios[COORD_MAX_RADIOS];
    ap_cfg_t aps[COORD_MAX_APS];
    int naps;
    uint64_t seed;
    bool realtime;
    bool leakage;
    int leak_db;                      /* neighbour-channel attenuation, dB */
    int8_t rssi[COORD_MAX_RADIOS][COORD_MAX_RADIOS];
    double loss[COORD_MAX_RADIOS][COORD_MAX_RADIOS];
    int8_t default_rssi;
    int retries;                      /* unicast retransmissions after the first attempt */
    char country[3];
    bool scene_has_links;             /* links index radios: the scene fixes the numbering */
    int scene_dongles;
} coord_cfg_t;

/* Nodes (scene first, then --node) are parked at the end of radios[] while
 * parsing, node k at COORD_MAX_RADIOS - 1 - k, and moved after the dongles. */
#define COORD_NODE_SLOT(k) (COORD_MAX_RADIOS - 1 - (k))

/* Fills cfg from a scene file (JSON, docs/SIMULATOR.md). On error returns false
 * with a message naming the file, line, column and what was wrong. */
bool scene_load(const char *path, coord_cfg_t *cfg, char *err, size_t errcap);
/* Default per-radio settings (channel 1, no faults, ...). */
void coord_radio_defaults(radio_cfg_t *r);
bool coord_parse_mac(const char *s, uint8_t mac[6]);

/* Runs the coordinator (espnow-sim --dongles N / --scene FILE); returns the exit status. */
int coord_main(int argc, char **argv);
void coord_usage(FILE *f);

#endif
