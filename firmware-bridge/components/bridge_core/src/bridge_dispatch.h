/* Internal: executes one request by calling the ESP-IDF function it names. */
#ifndef BRIDGE_DISPATCH_H
#define BRIDGE_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge_msg.h"
#include "bridge_state.h"

void br_dispatch_init(void);
/* Decodes the body against the request layout and answers through br_core_respond
 * (at once, or later for a sync send). */
void br_dispatch(br_pending_resp_t *slot, uint8_t code, const uint8_t *body, size_t len);
/* Periodic work: SET_BAUD revert timer. */
void br_dispatch_poll(void);
/* now_us value by which br_core_poll must run again (0: at once), or -1 for none. */
int64_t br_dispatch_next_deadline_us(void);
/* A Wi-Fi event in the core task: updates the STA status and queues WIFI_EVENT;
 * false when the link queue has no room for it yet. */
bool br_dispatch_wifi_event(uint8_t event, uint8_t channel, uint16_t reason);
/* The HELLO body values (event and HELLO response share them). */
void br_hello_values(br_value_t *v);

#endif
