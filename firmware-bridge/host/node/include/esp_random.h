/* Node runtime: esp_random draws from a generator seeded by the simulation
 * (--seed, the node's index and its boot), so runs repeat exactly. */
#ifndef NODE_ESP_RANDOM_H
#define NODE_ESP_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint32_t esp_random(void);
void esp_fill_random(void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
