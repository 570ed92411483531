/* Message layouts (docs/PROTOCOL.md sections 6-7): one descriptor table drives
 * both decoding and encoding of every body, nanopb-style. */
#ifndef BRIDGE_MSG_H
#define BRIDGE_MSG_H

#include <stddef.h>
#include <stdint.h>
#include "bridge_proto.h"

typedef enum {
    BR_T_U8, BR_T_I8, BR_T_U16, BR_T_U32, BR_T_I32, BR_T_U64,
    BR_T_MAC,        /* 6 bytes */
    BR_T_KEY,        /* 16 bytes */
    BR_T_STR,        /* u8 length + bytes, length <= max */
    BR_T_BYTES,      /* rest of body, length <= max; last field only */
    BR_T_DST2,       /* RECV: bits 7..6 of the dst_rate byte (value 0..3) */
    BR_T_RATE6,      /* RECV: bits 5..0 of the same byte; must follow BR_T_DST2 */
    BR_T_DST_ADDR,   /* RECV: 6-byte MAC present only when the preceding dst field == 3 */
    BR_T_BOOL,       /* 1 byte, 0 or 1; any other value is a bad body */
} br_type_t;

typedef struct {
    const char *name;      /* the field name used in PROTOCOL.md and the vectors */
    uint8_t type;          /* br_type_t */
    uint16_t max;          /* STR/BYTES maximum length */
} br_field_t;

typedef struct {
    uint8_t kind;          /* BR_KIND_REQUEST / RESPONSE / EVENT */
    uint8_t code;
    const char *name;      /* e.g. "ESPNOW_SEND", "RECV" */
    uint8_t nfields;
    const br_field_t *fields;  /* responses: first field is "err" (i32); the rest only when err == 0 */
} br_msg_t;

/* One decoded field. Integers in i (sign-extended for I8/I32, zero-extended otherwise);
 * MAC/KEY/STR/BYTES/DST_ADDR as ptr+len into the body; absent DST_ADDR has present == 0. */
typedef struct {
    int64_t i;
    const uint8_t *ptr;
    uint16_t len;
    uint8_t present;
} br_value_t;

#define BR_MAX_FIELDS 24u

const br_msg_t *br_msg_find(uint8_t kind, uint8_t code);
/* Table of every layout, for tests and tools. */
const br_msg_t *br_msg_at(size_t index);
size_t br_msg_count(void);

/* Decodes body into vals[0..m->nfields). For a response with err != 0 only vals[0] is set
 * and the others have present == 0. Returns BR_OK or BR_ERR_BAD_BODY. */
br_result_t br_msg_decode(const br_msg_t *m, const uint8_t *body, size_t len, br_value_t *vals);

/* Encodes vals into out; returns the body length, or 0 with *res set on error
 * (BR_ERR_NO_SPACE, BR_ERR_BAD_BODY for a value out of range). An empty body returns 0 with BR_OK. */
size_t br_msg_encode(const br_msg_t *m, const br_value_t *vals, uint8_t *out, size_t cap, br_result_t *res);

#endif
