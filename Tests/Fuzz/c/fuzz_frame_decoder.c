/* libFuzzer target for the firmware's C wire codec (bridge_core).
 *
 * Each input is used four ways:
 *  1. as a byte stream through br_splitter_t, one byte at a time, checked
 *     against a trivial model of the splitter; every frame is decoded (in
 *     place, as the firmware does, and out of place: both must agree) and,
 *     when its body decodes, re-encoded: the round trip must reproduce the
 *     same fields, the same body bytes and the same decoded frame;
 *  2. each frame that fails only its CRC is decoded again with the CRC fixed,
 *     so mutations of the seed frames reach the message layer (libFuzzer
 *     cannot solve a CRC-32 by itself);
 *  3. as one encoded frame given straight to br_frame_decode;
 *  4. as raw data for a COBS encode/decode round trip, and as field values
 *     for br_msg_encode (whatever the encoder accepts must decode back).
 * Any violated property aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_cobs.h"
#include "bridge_crc32.h"
#include "bridge_frame.h"
#include "bridge_msg.h"
#include "bridge_proto.h"

#define FAIL(msg)                                                                                   \
    do {                                                                                            \
        fprintf(stderr, "property violated: %s (%s:%d)\n", (msg), __FILE__, __LINE__);              \
        abort();                                                                                    \
    } while (0)
#define ASSERT(cond)                                                                                \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            FAIL(#cond);                                                                            \
        }                                                                                           \
    } while (0)

/* Room well beyond the limits, so an off-by-one in a limit check shows up as
 * a property failure rather than hiding behind a small buffer. */
#define BIG 4096u

static int valid_result(br_result_t r)
{
    return r >= BR_OK && r <= BR_ERR_NO_SPACE;
}

/* Same field values: integers, presence, and byte contents. */
static void assert_same_values(const br_msg_t *m, const br_value_t *a, const br_value_t *b)
{
    size_t i;
    for (i = 0; i < m->nfields; i++) {
        ASSERT(a[i].present == b[i].present);
        ASSERT(a[i].i == b[i].i);
        ASSERT(a[i].len == b[i].len);
        if (a[i].len > 0) {
            ASSERT(a[i].ptr != NULL && b[i].ptr != NULL);
            ASSERT(memcmp(a[i].ptr, b[i].ptr, a[i].len) == 0);
        }
    }
}

/* Value invariants of a successful decode. */
static void check_decoded_values(const br_msg_t *m, const br_value_t *v, size_t body_len)
{
    size_t i;
    size_t total = 0;
    int failed_response = (m->kind == BR_KIND_RESPONSE && m->nfields > 0 && v[0].i != 0);
    for (i = 0; i < m->nfields; i++) {
        const br_field_t *fd = &m->fields[i];
        if (failed_response && i > 0) {
            ASSERT(v[i].present == 0);
            continue;
        }
        if (!v[i].present) {
            ASSERT(fd->type == BR_T_DST_ADDR);
            continue;
        }
        switch (fd->type) {
        case BR_T_U8: ASSERT(v[i].i >= 0 && v[i].i <= 0xFF); total += 1; break;
        case BR_T_BOOL: ASSERT(v[i].i == 0 || v[i].i == 1); total += 1; break;
        case BR_T_I8: ASSERT(v[i].i >= -128 && v[i].i <= 127); total += 1; break;
        case BR_T_U16: ASSERT(v[i].i >= 0 && v[i].i <= 0xFFFF); total += 2; break;
        case BR_T_U32: ASSERT(v[i].i >= 0 && v[i].i <= 0xFFFFFFFFLL); total += 4; break;
        case BR_T_I32: ASSERT(v[i].i >= INT32_MIN && v[i].i <= INT32_MAX); total += 4; break;
        case BR_T_U64: total += 8; break;
        case BR_T_MAC: ASSERT(v[i].len == 6); total += 6; break;
        case BR_T_KEY: ASSERT(v[i].len == 16); total += 16; break;
        case BR_T_STR: ASSERT(v[i].len <= fd->max); total += 1u + v[i].len; break;
        case BR_T_BYTES: ASSERT(v[i].len <= fd->max); total += v[i].len; break;
        case BR_T_DST2: ASSERT(v[i].i >= 0 && v[i].i <= 3); break;
        case BR_T_RATE6: ASSERT(v[i].i >= 0 && v[i].i <= 63); total += 1; break;
        case BR_T_DST_ADDR: ASSERT(v[i].len == 6); total += 6; break;
        default: FAIL("unknown field type");
        }
    }
    ASSERT(total == body_len);
}

/* Decodes one encoded frame (no delimiter) and checks every property that
 * holds for it. Returns the frame decode result. */
static br_result_t check_frame(const uint8_t *enc, size_t len)
{
    static uint8_t scratch[BIG], inplace[BIG], body2[BIG], wire2[BIG], scratch2[BIG], cobs2[BIG];
    static br_value_t vals[BR_MAX_FIELDS], vals2[BR_MAX_FIELDS];
    br_frame_t f, g, h;
    br_result_t r, r_in, mr;
    const br_msg_t *m;
    size_t blen, wlen, dlen, clen;

    r = br_frame_decode(enc, len, scratch, sizeof scratch, &f);
    ASSERT(valid_result(r) && r != BR_ERR_BAD_BODY && r != BR_ERR_UNKNOWN_CODE && r != BR_ERR_NO_SPACE);

    /* In-place decoding (scratch == encoded, as the firmware does) agrees. */
    if (len <= sizeof inplace) {
        memcpy(inplace, enc, len);
        r_in = br_frame_decode(inplace, len, inplace, sizeof inplace, &h);
        ASSERT(r_in == r);
        if (r == BR_OK) {
            ASSERT(h.kind == f.kind && h.id == f.id && h.code == f.code && h.body_len == f.body_len);
            ASSERT(h.body_len == 0 || memcmp(h.body, f.body, f.body_len) == 0);
        }
    }
    if (r != BR_OK) {
        return r;
    }

    /* Header invariants. */
    ASSERT(f.version == BR_PROTO_VERSION);
    ASSERT(f.kind >= BR_KIND_REQUEST && f.kind <= BR_KIND_EVENT);
    ASSERT(f.kind != BR_KIND_EVENT || f.id == 0);
    dlen = (size_t)f.body_len + BR_CRC_LEN + (f.kind == BR_KIND_EVENT ? BR_EVT_HEADER_LEN : BR_REQ_HEADER_LEN);
    ASSERT(dlen <= BR_MAX_DECODED);
    ASSERT(f.body == scratch + (dlen - BR_CRC_LEN - f.body_len));
    ASSERT(len <= BR_MAX_ENCODED_NO_DELIM);

    /* Minimal re-encoding of the decoded bytes must decode to the same frame
     * (the input may have used the non-minimal COBS form). */
    /* COBS leaves one freedom only: a trailing 0x01 after a final 0xFF group. */
    clen = br_cobs_encode(scratch, dlen, cobs2, sizeof cobs2);
    ASSERT(clen == len || (clen + 1u == len && enc[len - 1] == 0x01));
    ASSERT(memcmp(cobs2, enc, clen) == 0);

    m = br_msg_find(f.kind, f.code);
    if (m == NULL) {
        return r;
    }
    ASSERT(m->kind == f.kind && m->code == f.code && m->nfields <= BR_MAX_FIELDS);
    mr = br_msg_decode(m, f.body, f.body_len, vals);
    ASSERT(mr == BR_OK || mr == BR_ERR_BAD_BODY);
    if (mr != BR_OK) {
        return r;
    }
    check_decoded_values(m, vals, f.body_len);

    /* Round trip: body -> fields -> body is the identity (strict layouts
     * make the encoding unique). */
    blen = br_msg_encode(m, vals, body2, sizeof body2, &mr);
    ASSERT(mr == BR_OK);
    ASSERT(blen == f.body_len);
    ASSERT(blen == 0 || memcmp(body2, f.body, blen) == 0);

    /* ... and through a whole frame: same header, same fields, and the wire
     * bytes are exactly the minimal COBS form of the original decoded frame. */
    g.version = f.version;
    g.kind = f.kind;
    g.id = f.id;
    g.code = f.code;
    g.body = body2;
    g.body_len = (uint16_t)blen;
    wlen = br_frame_encode(&g, wire2, sizeof wire2);
    ASSERT(wlen >= 2 && wire2[wlen - 1] == 0 && memchr(wire2, 0, wlen - 1) == NULL);
    ASSERT(wlen - 1 == clen && memcmp(wire2, cobs2, clen) == 0);
    r = br_frame_decode(wire2, wlen - 1, scratch2, sizeof scratch2, &h);
    ASSERT(r == BR_OK);
    ASSERT(h.version == f.version && h.kind == f.kind && h.id == f.id && h.code == f.code);
    ASSERT(h.body_len == f.body_len);
    mr = br_msg_decode(m, h.body, h.body_len, vals2);
    ASSERT(mr == BR_OK);
    assert_same_values(m, vals, vals2);
    return BR_OK;
}

/* A frame whose only defect is its CRC: fix the CRC and check it again. */
static void check_with_fixed_crc(const uint8_t *enc, size_t len)
{
    static uint8_t dec[BIG], enc2[BIG];
    size_t n = 0, n2;
    uint32_t crc;
    if (br_cobs_decode(enc, len, dec, BR_MAX_DECODED, &n) != BR_OK || n < BR_MIN_DECODED) {
        return;
    }
    crc = br_crc32(0, dec, n - BR_CRC_LEN);
    dec[n - 4] = (uint8_t)crc;
    dec[n - 3] = (uint8_t)(crc >> 8);
    dec[n - 2] = (uint8_t)(crc >> 16);
    dec[n - 1] = (uint8_t)(crc >> 24);
    n2 = br_cobs_encode(dec, n, enc2, sizeof enc2);
    ASSERT(n2 > 0);
    ASSERT(check_frame(enc2, n2) != BR_ERR_BAD_CRC);
}

/* The splitter against a model: split at each 0x00; an empty piece is
 * nothing, a piece longer than 1543 bytes is OVERSIZE, anything else is a
 * FRAME with exactly those bytes; an unterminated tail is nothing yet. */
static void check_stream(const uint8_t *data, size_t size)
{
    static br_splitter_t sp;
    static uint8_t frame[BR_MAX_ENCODED_NO_DELIM];
    size_t i, start = 0;

    br_splitter_init(&sp);
    for (i = 0; i < size; i++) {
        br_split_t s = br_splitter_push(&sp, data[i]);
        size_t piece = i - start;
        if (data[i] != 0) {
            ASSERT(s == BR_SPLIT_NONE);
            continue;
        }
        start = i + 1;
        if (piece == 0) {
            ASSERT(s == BR_SPLIT_NONE);
        } else if (piece > BR_MAX_ENCODED_NO_DELIM) {
            ASSERT(s == BR_SPLIT_OVERSIZE);
        } else {
            br_frame_t f;
            br_result_t r_in, r;
            ASSERT(s == BR_SPLIT_FRAME);
            ASSERT(sp.len == piece && memcmp(sp.buf, data + i - piece, piece) == 0);
            memcpy(frame, sp.buf, sp.len);
            /* The firmware decodes in the splitter's own buffer. */
            r_in = br_frame_decode(sp.buf, sp.len, sp.buf, sizeof sp.buf, &f);
            r = check_frame(frame, piece);
            ASSERT(r_in == r);
            if (r == BR_ERR_BAD_CRC) {
                check_with_fixed_crc(frame, piece);
            }
        }
    }
}

static void check_cobs(const uint8_t *data, size_t size)
{
    static uint8_t enc[BIG], dec[BIG];
    size_t n, dn = 0, bound;
    br_result_t r;
    if (size > BR_MAX_DECODED) {
        size = BR_MAX_DECODED;
    }
    bound = size + (size + 253u) / 254u + (size == 0 ? 1u : 0u);
    n = br_cobs_encode(data, size, enc, sizeof enc);
    ASSERT(n > 0 && n <= bound);
    ASSERT(memchr(enc, 0, n) == NULL);
    /* exactly enough room works, one byte less fails cleanly */
    ASSERT(br_cobs_encode(data, size, dec, n) == n);
    ASSERT(br_cobs_encode(data, size, dec, n - 1) == 0);
    r = br_cobs_decode(enc, n, dec, sizeof dec, &dn);
    ASSERT(r == BR_OK && dn == size && (size == 0 || memcmp(dec, data, size) == 0));
    if (size > 0) {
        ASSERT(br_cobs_decode(enc, n, dec, size - 1, &dn) == BR_ERR_OVERSIZE);
    }
    /* in place */
    r = br_cobs_decode(enc, n, enc, sizeof enc, &dn);
    ASSERT(r == BR_OK && dn == size && (size == 0 || memcmp(enc, data, size) == 0));
}

/* Field values taken from the input; whatever the encoder accepts must
 * decode back to the same values. */
static void check_encoder(const uint8_t *data, size_t size)
{
    static br_value_t vals[BR_MAX_FIELDS], back[BR_MAX_FIELDS];
    static uint8_t body[BIG];
    const br_msg_t *m;
    size_t i, p = 1, nbody;
    br_result_t res;
    int64_t last_dst = -1;

    if (size < 1 || br_msg_count() == 0) {
        return;
    }
    m = br_msg_at(data[0] % br_msg_count());
    ASSERT(m != NULL);
    memset(vals, 0, sizeof vals);
    for (i = 0; i < m->nfields; i++) {
        uint8_t sel = p < size ? data[p++] : 0;
        int64_t x = 0;
        size_t k;
        /* 8 bytes of integer, small values most of the time so that range
         * checks pass often enough to reach the decoder. */
        for (k = 0; k < 8 && p < size; k++) {
            x = (int64_t)((uint64_t)x << 8 | data[p++]);
        }
        if (sel & 1u) {
            x = (int8_t)(x & 0xFF);
        } else if (sel & 2u) {
            x &= 0x3F;
        }
        vals[i].i = x;
        vals[i].len = (uint16_t)((sel >> 2) * 6u);
        if (m->fields[i].type == BR_T_MAC || m->fields[i].type == BR_T_DST_ADDR) {
            vals[i].len = (sel & 4u) ? 5 : 6;
        } else if (m->fields[i].type == BR_T_KEY) {
            vals[i].len = 16;
        }
        if (vals[i].len > size - p) {
            vals[i].len = (uint16_t)(size - p); /* the encoder reads ptr[0..len) */
        }
        vals[i].ptr = data + p;
        p += vals[i].len;
    }
    nbody = br_msg_encode(m, vals, body, sizeof body, &res);
    ASSERT(res == BR_OK || res == BR_ERR_BAD_BODY);
    if (res != BR_OK) {
        return;
    }
    ASSERT(br_msg_decode(m, body, nbody, back) == BR_OK);
    for (i = 0; i < m->nfields; i++) {
        uint8_t t = m->fields[i].type;
        if (t == BR_T_DST2) {
            last_dst = vals[i].i;
        }
        if (!back[i].present) {
            continue;
        }
        if (t == BR_T_MAC || t == BR_T_KEY || t == BR_T_STR || t == BR_T_BYTES || t == BR_T_DST_ADDR) {
            ASSERT(back[i].len == vals[i].len);
            ASSERT(back[i].len == 0 || memcmp(back[i].ptr, vals[i].ptr, back[i].len) == 0);
            if (t == BR_T_DST_ADDR) {
                ASSERT(last_dst == BR_DST_OTHER);
            }
        } else {
            ASSERT(back[i].i == vals[i].i);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    br_result_t r;

    check_stream(data, size);

    /* The whole input as one encoded frame (no delimiter). */
    r = check_frame(data, size);
    if (size > BR_MAX_ENCODED_NO_DELIM) {
        ASSERT(r == BR_ERR_OVERSIZE);
    } else if (memchr(data, 0, size) != NULL) {
        ASSERT(r == BR_ERR_BAD_COBS);
    }
    if (r == BR_ERR_BAD_CRC) {
        check_with_fixed_crc(data, size);
    }

    check_cobs(data, size);
    check_encoder(data, size);
    return 0;
}
