/* Frames (docs/PROTOCOL.md sections 2-4) and the stream splitter. */
#include "bridge_frame.h"

#include "bridge_cobs.h"
#include "bridge_crc32.h"

/* Streaming COBS encoder: the decoded frame (header, body, CRC) is never
 * assembled in one buffer, so encoding needs no 1.5 KiB scratch on a small
 * task stack; bytes go straight from their three sources into out. Same
 * minimal-encoding rule as br_cobs_encode. */
typedef struct {
    uint8_t *out;
    size_t cap;
    size_t o;
    size_t code_idx;
    uint8_t code;
    bool pending; /* a 0xFF group was just closed; open the next one lazily */
    bool fail;    /* out of space */
} cobs_stream_t;

static void cs_init(cobs_stream_t *cs, uint8_t *out, size_t cap)
{
    cs->out = out;
    cs->cap = cap;
    cs->code_idx = 0;
    cs->o = 1;
    cs->code = 1;
    cs->pending = false;
    cs->fail = (out == NULL || cap < 1u);
}

static void cs_put(cobs_stream_t *cs, uint8_t b)
{
    if (cs->fail) {
        return;
    }
    if (cs->pending) {
        if (cs->o >= cs->cap) {
            cs->fail = true;
            return;
        }
        cs->code_idx = cs->o++;
        cs->code = 1;
        cs->pending = false;
    }
    if (b == 0u) {
        cs->out[cs->code_idx] = cs->code;
        if (cs->o >= cs->cap) {
            cs->fail = true;
            return;
        }
        cs->code_idx = cs->o++;
        cs->code = 1;
    } else {
        if (cs->o >= cs->cap) {
            cs->fail = true;
            return;
        }
        cs->out[cs->o++] = b;
        cs->code++;
        if (cs->code == 0xFFu) {
            cs->out[cs->code_idx] = cs->code;
            cs->pending = true;
        }
    }
}

static void cs_put_n(cobs_stream_t *cs, const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        cs_put(cs, p[i]);
    }
}

/* Closes the last group and appends the 0x00 delimiter; 0 when out of space. */
static size_t cs_finish(cobs_stream_t *cs)
{
    if (cs->fail) {
        return 0;
    }
    if (!cs->pending) {
        cs->out[cs->code_idx] = cs->code;
    }
    if (cs->o >= cs->cap) {
        return 0;
    }
    cs->out[cs->o++] = 0;
    return cs->o;
}

size_t br_frame_encode(const br_frame_t *f, uint8_t *out, size_t cap)
{
    uint8_t hdr[BR_REQ_HEADER_LEN];
    uint8_t crc_le[BR_CRC_LEN];
    size_t hl;
    uint8_t version;
    uint32_t crc;
    cobs_stream_t cs;

    if (f == NULL || (f->body == NULL && f->body_len != 0u)) {
        return 0;
    }
    if (f->kind < (uint8_t)BR_KIND_REQUEST || f->kind > (uint8_t)BR_KIND_EVENT) {
        return 0;
    }
    /* A zero-initialised frame means "this protocol"; version 0 is never
     * valid on the wire. Other versions are allowed so tests and tools can
     * build wrong-version frames. */
    version = (f->version == 0u) ? (uint8_t)BR_PROTO_VERSION : f->version;
    if (version > 0x0Fu) {
        return 0;
    }
    hdr[0] = (uint8_t)((uint8_t)(version << 4) | f->kind);
    if (f->kind == (uint8_t)BR_KIND_EVENT) {
        hdr[1] = f->code;
        hl = BR_EVT_HEADER_LEN;
    } else {
        hdr[1] = (uint8_t)(f->id & 0xFFu);
        hdr[2] = (uint8_t)(f->id >> 8);
        hdr[3] = f->code;
        hl = BR_REQ_HEADER_LEN;
    }
    if (hl + (size_t)f->body_len + BR_CRC_LEN > BR_MAX_DECODED) {
        return 0;
    }
    crc = br_crc32(0, hdr, hl);
    crc = br_crc32(crc, f->body, f->body_len);
    crc_le[0] = (uint8_t)(crc & 0xFFu);
    crc_le[1] = (uint8_t)((crc >> 8) & 0xFFu);
    crc_le[2] = (uint8_t)((crc >> 16) & 0xFFu);
    crc_le[3] = (uint8_t)((crc >> 24) & 0xFFu);

    cs_init(&cs, out, cap);
    cs_put_n(&cs, hdr, hl);
    cs_put_n(&cs, f->body, f->body_len);
    cs_put_n(&cs, crc_le, BR_CRC_LEN);
    return cs_finish(&cs);
}

br_result_t br_frame_decode(const uint8_t *encoded, size_t len, uint8_t *scratch, size_t scratch_cap,
                            br_frame_t *f)
{
    size_t n;
    size_t cap;
    uint32_t want;
    uint8_t version;
    uint8_t kind;
    br_result_t r;

    if (f == NULL) {
        return BR_ERR_TRUNCATED;
    }
    f->version = 0;
    f->kind = 0;
    f->id = 0;
    f->code = 0;
    f->body = NULL;
    f->body_len = 0;

    if (len > BR_MAX_ENCODED_NO_DELIM) {
        return BR_ERR_OVERSIZE;
    }
    /* MAX_DECODED is a protocol limit, not just the caller's buffer size: a
     * 1543-byte encoding can decode to up to 1542 bytes, which is oversize. */
    cap = (scratch_cap < BR_MAX_DECODED) ? scratch_cap : BR_MAX_DECODED;
    n = 0;
    r = br_cobs_decode(encoded, len, scratch, cap, &n);
    if (r != BR_OK) {
        return r;
    }
    if (n < BR_MIN_DECODED) {
        return BR_ERR_TRUNCATED;
    }
    n -= BR_CRC_LEN;
    want = (uint32_t)scratch[n] | ((uint32_t)scratch[n + 1u] << 8) | ((uint32_t)scratch[n + 2u] << 16) |
           ((uint32_t)scratch[n + 3u] << 24);
    if (br_crc32(0, scratch, n) != want) {
        return BR_ERR_BAD_CRC;
    }
    /* Byte 0 is frozen across versions, so report it even for a wrong
     * version: a host can then recognise another version's HELLO. */
    version = (uint8_t)(scratch[0] >> 4);
    kind = (uint8_t)(scratch[0] & 0x0Fu);
    f->version = version;
    f->kind = kind;
    if (version != BR_PROTO_VERSION) {
        return BR_ERR_BAD_VERSION;
    }
    if (kind < (uint8_t)BR_KIND_REQUEST || kind > (uint8_t)BR_KIND_EVENT) {
        return BR_ERR_BAD_KIND;
    }
    if (kind == (uint8_t)BR_KIND_EVENT) {
        /* n >= 2 here (BR_MIN_DECODED - BR_CRC_LEN), the event header fits. */
        f->code = scratch[1];
        f->body = scratch + BR_EVT_HEADER_LEN;
        f->body_len = (uint16_t)(n - BR_EVT_HEADER_LEN);
    } else {
        if (n < BR_REQ_HEADER_LEN) {
            return BR_ERR_TRUNCATED;
        }
        f->id = (uint16_t)((uint16_t)scratch[1] | (uint16_t)((uint16_t)scratch[2] << 8));
        f->code = scratch[3];
        f->body = scratch + BR_REQ_HEADER_LEN;
        f->body_len = (uint16_t)(n - BR_REQ_HEADER_LEN);
    }
    return BR_OK;
}

void br_splitter_init(br_splitter_t *sp)
{
    sp->len = 0;
    sp->overflow = false;
    sp->ready = false;
}

br_split_t br_splitter_push(br_splitter_t *sp, uint8_t byte)
{
    if (sp->ready) {
        /* The caller had the previous frame until this push. */
        sp->ready = false;
        sp->len = 0;
    }
    if (byte == 0u) {
        if (sp->overflow) {
            sp->overflow = false;
            sp->len = 0;
            return BR_SPLIT_OVERSIZE;
        }
        if (sp->len == 0u) {
            return BR_SPLIT_NONE; /* empty frame: a flush, not a frame */
        }
        sp->ready = true;
        return BR_SPLIT_FRAME;
    }
    if (sp->overflow) {
        return BR_SPLIT_NONE;
    }
    if (sp->len >= BR_MAX_ENCODED_NO_DELIM) {
        /* Too long to be a frame: drop it and resynchronise on the next delimiter. */
        sp->overflow = true;
        sp->len = 0;
        return BR_SPLIT_NONE;
    }
    sp->buf[sp->len++] = byte;
    return BR_SPLIT_NONE;
}
