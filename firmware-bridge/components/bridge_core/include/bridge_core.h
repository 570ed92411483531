/* The bridge core: decodes host requests, executes each one by calling the
 * ESP-IDF function of the same name, and streams responses and events back.
 *
 * Threading: br_core_feed/br_core_poll/br_core_emit_hello run in one task (the
 * core task). The ESP-NOW callbacks the core registers run in the Wi-Fi task, and
 * br_core_wifi_event in the event-loop task: they only copy into lock-free
 * single-producer rings, then call port->notify; the core task turns the records
 * into events in br_core_poll. br_core_log may be called from any task, also before
 * br_core_init (it is lock-free too; drops are counted).
 * No heap is used: every buffer is static and sized by the constants below. */
#ifndef BRIDGE_CORE_H
#define BRIDGE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bridge_port.h"
#include "bridge_proto.h"

#ifndef BR_WINDOW
#define BR_WINDOW 8u                 /* requests in flight (HELLO window) */
#endif
#ifndef BR_RXBUF_MAX
#define BR_RXBUF_MAX 16384u          /* largest rxbuf the host may configure, bytes */
#endif
#ifndef BR_RXBUF_DEFAULT
/* MicroPython's default (modespnow.c): room for two packets of the largest payload,
 * each with its 14-byte packed header (2 x (14 + 1470) = 2968 on ESP-NOW v2 builds,
 * 528 on v1). */
#define BR_RXBUF_DEFAULT 0u          /* 0: 2 x (14 + max_payload) */
#endif
#ifndef BR_SEND_SLOTS
#define BR_SEND_SLOTS 32u            /* sends awaiting their status callback */
#endif
#ifndef BR_TXQ_SIZE
#define BR_TXQ_SIZE 8192u            /* bytes queued towards the host */
#endif
#ifndef BR_LOG_RING
#define BR_LOG_RING 2048u            /* bytes of pending log text */
#endif

/* Called once at boot (and again by the host build after a simulated restart). */
void br_core_init(const br_port_t *port, const br_identity_t *identity);
/* Bytes received from the host link. */
void br_core_feed(const uint8_t *data, size_t len);
/* Moves received packets, send statuses and logs into events and flushes the
 * link queue. Call after feed, after notify, and when the link becomes writable. */
void br_core_poll(void);
/* True while bytes are waiting for the link (poll again when it is writable). */
bool br_core_tx_pending(void);
/* Microseconds until br_core_poll must run again for a timer of the core (the
 * SET_BAUD revert), 0 for at once, or -1 when no timer is running. */
int64_t br_core_next_timeout_us(void);
/* Queues the boot HELLO event (call once after init). */
void br_core_emit_hello(void);
/* Queues a LOG event; safe from any task, never blocks. */
void br_core_log(uint8_t level, const char *text, size_t len);
/* A Wi-Fi event from the glue's event handler (1 STA connected, 2 STA disconnected,
 * 3 home channel changed). One producer task; never blocks. The WIFI_EVENT event
 * is queued by the next br_core_poll (a full hand-off ring counts it as dropped). */
void br_core_wifi_event(uint8_t event, uint8_t channel, uint16_t reason);
/* Counter snapshot in the order of PROTOCOL.md section 10. */
void br_core_stats(uint32_t out[BR_STATS_COUNT]);

#endif
