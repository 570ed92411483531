/* COBS framing (docs/PROTOCOL.md section 2). No heap, caller-owned buffers. */
#ifndef BRIDGE_COBS_H
#define BRIDGE_COBS_H

#include <stddef.h>
#include <stdint.h>
#include "bridge_proto.h"

/* Minimal COBS encoding of in[0..len) into out; no delimiter is written.
 * Returns the encoded length, or 0 when cap is too small (len 0 encodes to 1 byte). */
size_t br_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* Decodes in[0..len) (no delimiter; must not contain 0x00) into out.
 * BR_OK with *out_len set, BR_ERR_BAD_COBS, or BR_ERR_OVERSIZE when cap is too small.
 * in and out may be the same buffer (decoding never writes ahead of reading). */
br_result_t br_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

#endif
