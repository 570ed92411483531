#include "esp_crc.h"
#define crc32_le esp_rom_crc32_le
#define crc32_be esp_rom_crc32_be
#define crc16_le esp_rom_crc16_le
#define crc16_be esp_rom_crc16_be
#define crc8_le esp_rom_crc8_le
#define crc8_be esp_rom_crc8_be
