/* Node runtime: the ROM CRC helpers (the register is inverted before and after
 * each call: esp_crc32_le(0, buf, len) is the zlib CRC-32). */
#ifndef NODE_ESP_CRC_H
#define NODE_ESP_CRC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint32_t esp_rom_crc32_le(uint32_t crc, uint8_t const *buf, uint32_t len);
uint32_t esp_rom_crc32_be(uint32_t crc, uint8_t const *buf, uint32_t len);
uint16_t esp_rom_crc16_le(uint16_t crc, uint8_t const *buf, uint32_t len);
uint16_t esp_rom_crc16_be(uint16_t crc, uint8_t const *buf, uint32_t len);
uint8_t esp_rom_crc8_le(uint8_t crc, uint8_t const *buf, uint32_t len);
uint8_t esp_rom_crc8_be(uint8_t crc, uint8_t const *buf, uint32_t len);

static inline uint32_t esp_crc32_le(uint32_t crc, uint8_t const *buf, uint32_t len) { return esp_rom_crc32_le(crc, buf, len); }
static inline uint32_t esp_crc32_be(uint32_t crc, uint8_t const *buf, uint32_t len) { return esp_rom_crc32_be(crc, buf, len); }
static inline uint16_t esp_crc16_le(uint16_t crc, uint8_t const *buf, uint32_t len) { return esp_rom_crc16_le(crc, buf, len); }
static inline uint16_t esp_crc16_be(uint16_t crc, uint8_t const *buf, uint32_t len) { return esp_rom_crc16_be(crc, buf, len); }
static inline uint8_t esp_crc8_le(uint8_t crc, uint8_t const *buf, uint32_t len) { return esp_rom_crc8_le(crc, buf, len); }
static inline uint8_t esp_crc8_be(uint8_t crc, uint8_t const *buf, uint32_t len) { return esp_rom_crc8_be(crc, buf, len); }

#ifdef __cplusplus
}
#endif

#endif
