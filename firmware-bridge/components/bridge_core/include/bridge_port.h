/* The narrow port layer: everything the portable core needs from the
 * application glue (main/ on the chip, host/ on Linux). The core itself calls
 * only these and the ESP-IDF esp_now_* / esp_wifi_* / esp_read_mac API. */
#ifndef BRIDGE_PORT_H
#define BRIDGE_PORT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "esp_err.h"

/* A few words that survive a software reset, panic or watchdog reset (on the
 * chip: RTC_NOINIT_ATTR memory; in the simulator: memory kept across a
 * respawn). The core keeps in it, at all times, how many received packets the
 * radio acknowledged that have not yet been written to the host, so the next
 * boot can report the ones a restart lost. Contents are garbage after power-on. */
typedef struct {
    uint32_t magic;
    _Atomic uint32_t at_risk;
} br_persist_t;

typedef struct {
    /* Non-blocking write towards the host; returns how many bytes were taken
     * (0..len). The core keeps the rest queued and retries from br_core_poll. */
    size_t (*link_write)(void *ctx, const uint8_t *data, size_t len);
    /* Monotonic microseconds since boot. */
    uint64_t (*now_us)(void *ctx);
    /* Restart the device after the current response has been written out. */
    void (*restart)(void *ctx);
    /* Switch the link's baud rate (UART only); ESP_ERR_NOT_SUPPORTED otherwise. */
    esp_err_t (*set_baud)(void *ctx, uint32_t baud);
    /* Wake the core task; called from radio callbacks, must not block. May be NULL. */
    void (*notify)(void *ctx);
    void *ctx;
    /* Memory that survives a software reset (see br_persist_t); NULL if none. */
    br_persist_t *persist;
} br_port_t;

/* Facts about this device for HELLO, filled by the glue at boot. */
typedef struct {
    uint8_t fw_major, fw_minor, fw_patch;
    uint16_t chip_model;        /* esp_chip_model_t, 0x8000 for the simulator */
    uint16_t chip_revision;
    uint8_t transport;          /* 0 USB-Serial-JTAG, 1 TinyUSB CDC, 2 UART, 3 simulator pty */
    uint32_t baud;              /* UART rate in force, 0 for USB */
    uint8_t reset_reason;       /* esp_reset_reason_t */
    uint32_t boot_count;
    const char *idf_version;    /* e.g. "v5.4.1" (<= 31 bytes) */
    uint32_t caps;              /* extra BR_CAP_* bits from the glue (SET_BAUD, SIMULATED, ...) */
} br_identity_t;

#endif
