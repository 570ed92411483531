/* Frames: header + body + CRC inside COBS (docs/PROTOCOL.md sections 2-4),
 * and the streaming splitter that finds frames in a byte stream. */
#ifndef BRIDGE_FRAME_H
#define BRIDGE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bridge_proto.h"

typedef struct {
    uint8_t version;       /* from ver_kind; BR_PROTO_VERSION when encoding (0 means the same) */
    uint8_t kind;          /* br_kind_t */
    uint16_t id;           /* requests/responses only; 0 for events */
    uint8_t code;          /* br_cmd_t or br_evt_t */
    const uint8_t *body;   /* points into the caller's buffer */
    uint16_t body_len;
} br_frame_t;

/* Encodes header + body + CRC, COBS, and the 0x00 delimiter into out.
 * Returns the number of bytes written, or 0 if cap is too small or the
 * frame is larger than BR_MAX_DECODED / has an invalid kind. */
size_t br_frame_encode(const br_frame_t *f, uint8_t *out, size_t cap);

/* Decodes one encoded frame (the bytes between delimiters, delimiter excluded).
 * scratch receives the decoded bytes (it may be the same buffer as encoded);
 * f->body points into scratch. Checks in this order: oversize (encoded length),
 * bad COBS, oversize (decoded > BR_MAX_DECODED or > scratch_cap), truncated,
 * bad CRC, bad version, bad kind, truncated header. f is filled on BR_OK; on
 * BR_ERR_BAD_VERSION / BR_ERR_BAD_KIND only f->version and f->kind are set. */
br_result_t br_frame_decode(const uint8_t *encoded, size_t len, uint8_t *scratch, size_t scratch_cap,
                            br_frame_t *f);

/* Byte-stream splitter with a fixed buffer. */
typedef struct {
    uint8_t buf[BR_MAX_ENCODED_NO_DELIM];
    uint16_t len;
    bool overflow;         /* discarding until the next delimiter */
    bool ready;            /* buf holds a delivered frame: start afresh on the next push */
} br_splitter_t;

typedef enum {
    BR_SPLIT_NONE = 0,     /* byte consumed, no frame yet */
    BR_SPLIT_FRAME = 1,    /* sp->buf[0..sp->len) holds one encoded frame until the next push */
    BR_SPLIT_OVERSIZE = 2, /* a frame longer than BR_MAX_ENCODED_NO_DELIM ended: dropped (count it) */
} br_split_t;

void br_splitter_init(br_splitter_t *sp);
/* Feeds one byte. Empty frames (two delimiters) return BR_SPLIT_NONE. */
br_split_t br_splitter_push(br_splitter_t *sp, uint8_t byte);

#endif
