/* CRC-32 IEEE 802.3 (zlib's), docs/PROTOCOL.md section 3. */
#ifndef BRIDGE_CRC32_H
#define BRIDGE_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* zlib-style running CRC: br_crc32(0, p, n) is the CRC of p; pass a previous
 * result as crc to continue over more bytes. */
uint32_t br_crc32(uint32_t crc, const uint8_t *p, size_t n);

#endif
