/* Plain-C unit tests of the firmware wire codec (bridge_core: COBS, CRC-32,
 * frames, splitter, message layouts). No framework: the last line printed is
 * "N passed, M failed" and the exit status is non-zero on any failure.
 * The JSON protocol vectors are checked from Swift; this file covers the
 * edge cases the vectors cannot express (splitter, buffer limits, encoders). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_cobs.h"
#include "bridge_crc32.h"
#include "bridge_frame.h"
#include "bridge_msg.h"
#include "bridge_proto.h"

static int g_passed;
static int g_failed;

#define CHECK(cond)                                                                                 \
    do {                                                                                            \
        if (cond) {                                                                                 \
            g_passed++;                                                                             \
        } else {                                                                                    \
            g_failed++;                                                                             \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                  \
        }                                                                                           \
    } while (0)

#define CHECK_EQ(a, b)                                                                              \
    do {                                                                                            \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                       \
        if (va_ == vb_) {                                                                           \
            g_passed++;                                                                             \
        } else {                                                                                    \
            g_failed++;                                                                             \
            printf("FAIL %s:%d: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, #a, #b, va_, vb_);  \
        }                                                                                           \
    } while (0)

/* ---------- helpers ---------- */

static size_t from_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (hex[0] != '\0' && hex[1] != '\0' && n < cap) {
        unsigned v;
        if (sscanf(hex, "%2x", &v) != 1) {
            break;
        }
        out[n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

/* raw header+body -> wire bytes with a valid CRC and delimiter (like the
 * vectors generator's seal()), so each reject test has exactly one defect. */
static size_t seal(const uint8_t *raw, size_t n, uint8_t *wire, size_t cap)
{
    static uint8_t tmp[4096];
    uint32_t crc = br_crc32(0, raw, n);
    size_t e;
    memcpy(tmp, raw, n);
    tmp[n] = (uint8_t)crc;
    tmp[n + 1] = (uint8_t)(crc >> 8);
    tmp[n + 2] = (uint8_t)(crc >> 16);
    tmp[n + 3] = (uint8_t)(crc >> 24);
    e = br_cobs_encode(tmp, n + 4, wire, cap - 1);
    if (e == 0) {
        return 0;
    }
    wire[e] = 0;
    return e + 1;
}

/* Decodes one wire frame (delimiter included) with a roomy scratch. */
static br_result_t decode_wire(const uint8_t *wire, size_t n, br_frame_t *f)
{
    static uint8_t scratch[4096];
    return br_frame_decode(wire, n - 1, scratch, sizeof scratch, f);
}

static const br_field_t *field_named(const br_msg_t *m, const char *name, size_t *idx)
{
    size_t i;
    for (i = 0; i < m->nfields; i++) {
        if (strcmp(m->fields[i].name, name) == 0) {
            if (idx != NULL) {
                *idx = i;
            }
            return &m->fields[i];
        }
    }
    return NULL;
}

/* Decodes body with the layout for kind/code. */
static br_result_t body_decode(uint8_t kind, uint8_t code, const uint8_t *body, size_t len, br_value_t *vals)
{
    const br_msg_t *m = br_msg_find(kind, code);
    if (m == NULL) {
        return BR_ERR_UNKNOWN_CODE;
    }
    return br_msg_decode(m, body, len, vals);
}

/* ---------- CRC ---------- */

static void test_crc(void)
{
    const uint8_t *s = (const uint8_t *)"123456789";
    uint32_t c;
    CHECK_EQ(br_crc32(0, s, 9), 0xCBF43926u);
    c = br_crc32(0, s, 4);
    CHECK_EQ(br_crc32(c, s + 4, 5), 0xCBF43926u); /* running CRC */
    CHECK_EQ(br_crc32(0, s, 0), 0u);
    CHECK_EQ(br_crc32(0, (const uint8_t *)"a", 1), 0xE8B7BE43u);
}

/* ---------- COBS ---------- */

static void test_cobs(void)
{
    static uint8_t in[600], enc[700], dec[700];
    size_t i, n, dn;
    br_result_t r;

    /* empty and all-zero inputs */
    n = br_cobs_encode(in, 0, enc, sizeof enc);
    CHECK_EQ(n, 1);
    CHECK_EQ(enc[0], 0x01);
    memset(in, 0, 3);
    n = br_cobs_encode(in, 1, enc, sizeof enc);
    CHECK(n == 2 && enc[0] == 1 && enc[1] == 1);
    n = br_cobs_encode(in, 3, enc, sizeof enc);
    CHECK(n == 4 && enc[0] == 1 && enc[1] == 1 && enc[2] == 1 && enc[3] == 1);
    r = br_cobs_decode(enc, n, dec, sizeof dec, &dn);
    CHECK(r == BR_OK && dn == 3 && dec[0] == 0 && dec[1] == 0 && dec[2] == 0);

    /* 11 00 22 -> 02 11 02 22 */
    in[0] = 0x11;
    in[1] = 0;
    in[2] = 0x22;
    n = br_cobs_encode(in, 3, enc, sizeof enc);
    CHECK(n == 4 && enc[0] == 2 && enc[1] == 0x11 && enc[2] == 2 && enc[3] == 0x22);

    /* 254 non-zero bytes: FF + 254 bytes, no trailing 01 (minimal) */
    for (i = 0; i < sizeof in; i++) {
        in[i] = (uint8_t)(i % 255u + 1u);
    }
    n = br_cobs_encode(in, 254, enc, sizeof enc);
    CHECK_EQ(n, 255);
    CHECK_EQ(enc[0], 0xFF);
    CHECK(memcmp(enc + 1, in, 254) == 0);
    r = br_cobs_decode(enc, n, dec, sizeof dec, &dn);
    CHECK(r == BR_OK && dn == 254 && memcmp(dec, in, 254) == 0);

    /* the non-minimal form FF + 254 bytes + 01 decodes to the same 254 bytes */
    enc[255] = 0x01;
    r = br_cobs_decode(enc, 256, dec, sizeof dec, &dn);
    CHECK(r == BR_OK && dn == 254 && memcmp(dec, in, 254) == 0);

    /* 255 non-zero bytes: FF + 254, then 02 + 1 */
    n = br_cobs_encode(in, 255, enc, sizeof enc);
    CHECK_EQ(n, 257);
    CHECK(enc[0] == 0xFF && enc[255] == 0x02 && enc[256] == in[254]);
    r = br_cobs_decode(enc, n, dec, sizeof dec, &dn);
    CHECK(r == BR_OK && dn == 255 && memcmp(dec, in, 255) == 0);

    /* 254 non-zero then a zero: FF + 254, 01, 01 */
    in[254] = 0;
    n = br_cobs_encode(in, 255, enc, sizeof enc);
    CHECK(n == 257 && enc[0] == 0xFF && enc[255] == 1 && enc[256] == 1);
    r = br_cobs_decode(enc, n, dec, sizeof dec, &dn);
    CHECK(r == BR_OK && dn == 255 && memcmp(dec, in, 255) == 0);
    in[254] = 0xFF;

    /* overhead bound n + ceil(n/254) for runs without zeros */
    n = br_cobs_encode(in, 508, enc, sizeof enc);
    CHECK_EQ(n, 510);
    n = br_cobs_encode(in, 509, enc, sizeof enc);
    CHECK_EQ(n, 512);

    /* encoder out of space: 0, never a partial write past cap */
    CHECK_EQ(br_cobs_encode(in, 254, enc, 254), 0);
    CHECK_EQ(br_cobs_encode(in, 254, enc, 255), 255);
    CHECK_EQ(br_cobs_encode(in, 0, enc, 0), 0);

    /* bad COBS: code past the end, a zero inside, a short 0xFF group */
    {
        const uint8_t past[] = { 0x05, 0x11, 0x22 };
        const uint8_t zero[] = { 0x03, 0x11, 0x00 };
        const uint8_t lead0[] = { 0x00, 0x01 };
        CHECK_EQ(br_cobs_decode(past, sizeof past, dec, sizeof dec, &dn), BR_ERR_BAD_COBS);
        CHECK_EQ(br_cobs_decode(zero, sizeof zero, dec, sizeof dec, &dn), BR_ERR_BAD_COBS);
        CHECK_EQ(br_cobs_decode(lead0, sizeof lead0, dec, sizeof dec, &dn), BR_ERR_BAD_COBS);
        CHECK_EQ(br_cobs_decode(enc, 200, dec, sizeof dec, &dn), BR_ERR_BAD_COBS);
    }

    /* decoder out of space: OVERSIZE; bad COBS wins regardless of cap */
    n = br_cobs_encode(in, 300, enc, sizeof enc);
    CHECK_EQ(br_cobs_decode(enc, n, dec, 299, &dn), BR_ERR_OVERSIZE);
    CHECK_EQ(br_cobs_decode(enc, n, dec, 300, &dn), BR_OK);
    CHECK_EQ(br_cobs_decode(enc, n - 1, dec, 10, &dn), BR_ERR_BAD_COBS);

    /* in-place decode */
    memset(in, 0x5A, 40);
    in[3] = 0;
    in[39] = 0;
    n = br_cobs_encode(in, 40, enc, sizeof enc);
    r = br_cobs_decode(enc, n, enc, sizeof enc, &dn);
    CHECK(r == BR_OK && dn == 40 && memcmp(enc, in, 40) == 0);
}

/* ---------- frames ---------- */

static void test_frame_example(void)
{
    /* PROTOCOL.md section 11 / vector ping_request_example */
    static const uint8_t hi[] = { 0x68, 0x69 };
    uint8_t want[32], wire[32];
    size_t wn = from_hex("03210108026869bdb29cda00", want, sizeof want);
    br_frame_t f = { BR_PROTO_VERSION, BR_KIND_REQUEST, 1, BR_CMD_PING, hi, 2 };
    br_frame_t g;
    size_t n = br_frame_encode(&f, wire, sizeof wire);
    CHECK(n == wn && memcmp(wire, want, n) == 0);
    CHECK_EQ(decode_wire(wire, n, &g), BR_OK);
    CHECK(g.version == 2 && g.kind == BR_KIND_REQUEST && g.id == 1 && g.code == BR_CMD_PING);
    CHECK(g.body_len == 2 && memcmp(g.body, hi, 2) == 0);
    /* exactly enough room, and one byte less */
    CHECK_EQ(br_frame_encode(&f, wire, wn), wn);
    CHECK_EQ(br_frame_encode(&f, wire, wn - 1), 0);
}

static void test_frame_roundtrips(void)
{
    static uint8_t body[BR_MAX_DECODED], wire[BR_MAX_ENCODED + 8];
    static const uint8_t kinds[3] = { BR_KIND_REQUEST, BR_KIND_RESPONSE, BR_KIND_EVENT };
    size_t k, i;
    for (i = 0; i < sizeof body; i++) {
        body[i] = (uint8_t)(i * 37u + 5u); /* contains zeros: exercises COBS */
    }
    for (k = 0; k < 3; k++) {
        size_t hl = kinds[k] == BR_KIND_EVENT ? BR_EVT_HEADER_LEN : BR_REQ_HEADER_LEN;
        size_t lens[4];
        size_t li;
        lens[0] = 0;
        lens[1] = 1;
        lens[2] = 250;
        lens[3] = BR_MAX_DECODED - hl - BR_CRC_LEN; /* largest frame */
        for (li = 0; li < 4; li++) {
            br_frame_t f = { BR_PROTO_VERSION, kinds[k], 0xBEEF, 0x13, body, (uint16_t)lens[li] };
            br_frame_t g;
            size_t n;
            if (kinds[k] == BR_KIND_EVENT) {
                f.id = 0;
                f.code = BR_EVT_RECV;
            }
            n = br_frame_encode(&f, wire, sizeof wire);
            CHECK(n > 0 && n <= BR_MAX_ENCODED);
            CHECK(memchr(wire, 0, n - 1) == NULL && wire[n - 1] == 0);
            CHECK_EQ(decode_wire(wire, n, &g), BR_OK);
            CHECK(g.kind == f.kind && g.id == f.id && g.code == f.code && g.version == 2);
            CHECK(g.body_len == f.body_len && (f.body_len == 0 || memcmp(g.body, body, f.body_len) == 0));
        }
        {
            /* one byte over MAX_DECODED is refused by the encoder */
            br_frame_t f = { BR_PROTO_VERSION, kinds[k], 0, 0x13, body, (uint16_t)(BR_MAX_DECODED - hl - 3) };
            CHECK_EQ(br_frame_encode(&f, wire, sizeof wire), 0);
        }
    }
    {
        br_frame_t f = { BR_PROTO_VERSION, 0, 0, 1, NULL, 0 };
        CHECK_EQ(br_frame_encode(&f, wire, sizeof wire), 0); /* kind 0 */
        f.kind = 4;
        CHECK_EQ(br_frame_encode(&f, wire, sizeof wire), 0);
        f.kind = BR_KIND_EVENT;
        f.version = 16;
        CHECK_EQ(br_frame_encode(&f, wire, sizeof wire), 0);
        f.version = 0; /* zero-initialised: means this protocol version */
        CHECK(br_frame_encode(&f, wire, sizeof wire) > 0);
    }
}

static void test_frame_rejects(void)
{
    static uint8_t raw[2100], wire[2200];
    br_frame_t f;
    size_t n, i;

    /* bad CRC: flip a bit of a valid frame's data */
    n = from_hex("03210108026869bdb29cda00", wire, sizeof wire);
    CHECK_EQ(decode_wire(wire, n, &f), BR_OK);
    wire[5] ^= 0x01;
    CHECK_EQ(decode_wire(wire, n, &f), BR_ERR_BAD_CRC);

    /* bad COBS: a code byte pointing past the end, and a truncated 0xFF group */
    n = from_hex("0921010102686900", wire, sizeof wire);
    CHECK_EQ(decode_wire(wire, n, &f), BR_ERR_BAD_COBS);
    n = from_hex("03210108026869bdb29c00", wire, sizeof wire);
    CHECK_EQ(decode_wire(wire, n, &f), BR_ERR_BAD_COBS);

    /* truncated: decoded shorter than 6, and request/response header cut */
    n = from_hex("03210103026800", wire, sizeof wire);
    CHECK_EQ(decode_wire(wire, n, &f), BR_ERR_TRUNCATED);
    n = from_hex("0100", wire, sizeof wire);
    CHECK_EQ(decode_wire(wire, n, &f), BR_ERR_TRUNCATED);
    raw[0] = 0x21;
    raw[1] = 0x01;
    n = seal(raw, 2, wire, sizeof wire); /* request, 6 bytes decoded */
    CHECK_EQ(decode_wire(wire, n, &f), BR_ERR_TRUNCATED);
    raw[0] = 0x22;
    raw[2] = 0x00;
    n = seal(raw, 3, wire, sizeof wire); /* response, 7 bytes decoded */
    CHECK_EQ(decode_wire(wire, n, &f), BR_ERR_TRUNCATED);
    raw[0] = 0x23;
    n = seal(raw, 2, wire, sizeof wire); /* event with an empty body: fine */
    CHECK_EQ(decode_wire(wire, n, &f), BR_OK);
    CHECK(f.kind == BR_KIND_EVENT && f.code == 0x01 && f.body_len == 0);

    /* oversize: 1544 encoded bytes; 1543 is only checked further */
    for (i = 0; i < 2000; i++) {
        raw[i] = (uint8_t)(i % 255u + 1u);
    }
    n = br_cobs_encode(raw, 1541, wire, sizeof wire); /* 1541 + 7 = 1548 */
    CHECK_EQ(n, 1548);
    CHECK_EQ(decode_wire(wire, 1545, &f), BR_ERR_OVERSIZE);
    CHECK(decode_wire(wire, 1544, &f) != BR_ERR_OVERSIZE);
    /* decoded longer than MAX_DECODED inside a 1543-byte encoding: oversize */
    for (i = 0; i < 1543; i += 2) {
        wire[i] = 0x02;
        wire[i + 1] = 0x41;
    }
    wire[1542] = 0x01;
    CHECK_EQ(decode_wire(wire, 1544, &f), BR_ERR_OVERSIZE);
    /* scratch smaller than the frame: oversize, not a buffer overflow */
    n = from_hex("03210108026869bdb29cda00", wire, sizeof wire);
    {
        uint8_t small[9];
        CHECK_EQ(br_frame_decode(wire, n - 1, small, sizeof small, &f), BR_ERR_OVERSIZE);
    }

    /* wrong version (1, 0, 15) and unknown kind (0, 4, 15), each with a valid CRC */
    {
        static const uint8_t vk[6] = { 0x11, 0x01, 0xF1, 0x20, 0x24, 0x2F };
        static const br_result_t want[6] = { BR_ERR_BAD_VERSION, BR_ERR_BAD_VERSION, BR_ERR_BAD_VERSION,
                                             BR_ERR_BAD_KIND,    BR_ERR_BAD_KIND,    BR_ERR_BAD_KIND };
        for (i = 0; i < 6; i++) {
            raw[0] = vk[i];
            raw[1] = 0x01;
            raw[2] = 0x00;
            raw[3] = 0x02;
            raw[4] = 0x68;
            n = seal(raw, 5, wire, sizeof wire);
            CHECK_EQ(decode_wire(wire, n, &f), want[i]);
        }
        /* byte 0 is reported even for another version (HELLO detection) */
        raw[0] = 0x13;
        raw[1] = 0x80;
        n = seal(raw, 2, wire, sizeof wire);
        CHECK_EQ(decode_wire(wire, n, &f), BR_ERR_BAD_VERSION);
        CHECK(f.version == 1 && f.kind == 3);
    }
    /* check order: a frame that is both bad CRC and wrong version is bad CRC */
    raw[0] = 0x11;
    n = seal(raw, 5, wire, sizeof wire);
    wire[2] ^= 0x40; /* the id byte */
    CHECK_EQ(decode_wire(wire, n, &f), BR_ERR_BAD_CRC);
}

/* ---------- splitter ---------- */

static int push_all(br_splitter_t *sp, const uint8_t *p, size_t n, int *frames, int *oversize)
{
    size_t i;
    int last = BR_SPLIT_NONE;
    for (i = 0; i < n; i++) {
        br_split_t r = br_splitter_push(sp, p[i]);
        if (r == BR_SPLIT_FRAME) {
            (*frames)++;
        } else if (r == BR_SPLIT_OVERSIZE) {
            (*oversize)++;
        }
        last = (int)r;
    }
    return last;
}

static void test_splitter(void)
{
    static br_splitter_t sp;
    static uint8_t wire[64], junk[2100];
    br_frame_t f;
    int frames = 0, over = 0;
    size_t n = from_hex("03210108026869bdb29cda00", wire, sizeof wire);
    size_t i;

    br_splitter_init(&sp);
    /* a frame split across pushes */
    CHECK_EQ(push_all(&sp, wire, 5, &frames, &over), BR_SPLIT_NONE);
    CHECK_EQ(push_all(&sp, wire + 5, n - 5, &frames, &over), BR_SPLIT_FRAME);
    CHECK(frames == 1 && over == 0);
    CHECK(sp.len == n - 1 && memcmp(sp.buf, wire, n - 1) == 0);
    /* the splitter's buffer can be decoded in place */
    CHECK_EQ(br_frame_decode(sp.buf, sp.len, sp.buf, sizeof sp.buf, &f), BR_OK);
    CHECK(f.code == BR_CMD_PING && f.body_len == 2 && f.body[0] == 0x68);

    /* empty frames (lone delimiters) are ignored; the buffer restarts after a frame */
    frames = 0;
    CHECK_EQ(push_all(&sp, (const uint8_t *)"\0\0\0", 3, &frames, &over), BR_SPLIT_NONE);
    CHECK_EQ(frames, 0);
    CHECK_EQ(sp.len, 0);
    CHECK_EQ(push_all(&sp, wire, n, &frames, &over), BR_SPLIT_FRAME);
    CHECK_EQ(push_all(&sp, wire, n, &frames, &over), BR_SPLIT_FRAME);
    CHECK(frames == 2 && sp.len == n - 1 && memcmp(sp.buf, wire, n - 1) == 0);

    /* garbage (ROM boot text) then a delimiter then a frame: the garbage is a
     * frame that fails to decode, the real one decodes */
    {
        const char *rom = "ets Jun  8 2016 00:22:57\r\nrst:0x1 (POWERON_RESET)\r\n";
        size_t k;
        int good = 0, badf = 0;
        br_splitter_init(&sp);
        for (k = 0; rom[k] != '\0'; k++) {
            CHECK_EQ(br_splitter_push(&sp, (uint8_t)rom[k]), BR_SPLIT_NONE);
        }
        CHECK_EQ(br_splitter_push(&sp, 0), BR_SPLIT_FRAME);
        if (br_frame_decode(sp.buf, sp.len, sp.buf, sizeof sp.buf, &f) != BR_OK) {
            badf++;
        }
        for (k = 0; k < n; k++) {
            if (br_splitter_push(&sp, wire[k]) == BR_SPLIT_FRAME &&
                br_frame_decode(sp.buf, sp.len, sp.buf, sizeof sp.buf, &f) == BR_OK) {
                good++;
            }
        }
        CHECK(badf == 1 && good == 1);
    }

    /* an oversize frame followed by a good one */
    for (i = 0; i < sizeof junk; i++) {
        junk[i] = (uint8_t)(i % 255u + 1u);
    }
    br_splitter_init(&sp);
    frames = over = 0;
    CHECK_EQ(push_all(&sp, junk, 2000, &frames, &over), BR_SPLIT_NONE);
    CHECK_EQ(br_splitter_push(&sp, 0), BR_SPLIT_OVERSIZE);
    CHECK_EQ(push_all(&sp, wire, n, &frames, &over), BR_SPLIT_FRAME);
    CHECK(frames == 1 && over == 0 && sp.len == n - 1 && memcmp(sp.buf, wire, n - 1) == 0);

    /* boundary: 1543 bytes is a frame, 1544 is oversize */
    br_splitter_init(&sp);
    frames = over = 0;
    push_all(&sp, junk, BR_MAX_ENCODED_NO_DELIM, &frames, &over);
    CHECK_EQ(br_splitter_push(&sp, 0), BR_SPLIT_FRAME);
    CHECK_EQ(sp.len, BR_MAX_ENCODED_NO_DELIM);
    push_all(&sp, junk, BR_MAX_ENCODED_NO_DELIM + 1, &frames, &over);
    CHECK_EQ(br_splitter_push(&sp, 0), BR_SPLIT_OVERSIZE);
    CHECK(frames == 0 && over == 0);
    CHECK_EQ(push_all(&sp, wire, n, &frames, &over), BR_SPLIT_FRAME);
}

/* ---------- message layouts ---------- */

static void test_msg_table(void)
{
    size_t i, j, count = br_msg_count();
    int resp = 0, req = 0, evt = 0;
    CHECK(count > 0 && br_msg_at(count) == NULL);
    for (i = 0; i < count; i++) {
        const br_msg_t *m = br_msg_at(i);
        CHECK(m != NULL && br_msg_find(m->kind, m->code) == m); /* kind/code unique */
        CHECK(m->nfields <= BR_MAX_FIELDS);
        for (j = 0; j < m->nfields; j++) {
            uint8_t t = m->fields[j].type;
            if (t == BR_T_BYTES) {
                CHECK(j + 1u == m->nfields);
            }
            if (t == BR_T_RATE6) {
                CHECK(j > 0 && m->fields[j - 1].type == BR_T_DST2);
            }
            if (t == BR_T_STR || t == BR_T_BYTES) {
                CHECK(m->fields[j].max > 0);
            }
        }
        if (m->kind == BR_KIND_RESPONSE) {
            resp++;
            CHECK(m->nfields >= 1 && strcmp(m->fields[0].name, "err") == 0 && m->fields[0].type == BR_T_I32);
            /* every response has its request */
            CHECK(br_msg_find(BR_KIND_REQUEST, m->code) != NULL);
            CHECK(strcmp(br_msg_find(BR_KIND_REQUEST, m->code)->name, m->name) == 0);
        } else if (m->kind == BR_KIND_REQUEST) {
            req++;
            CHECK(br_msg_find(BR_KIND_RESPONSE, m->code) != NULL);
        } else {
            evt++;
            CHECK(m->kind == BR_KIND_EVENT && m->code >= 0x80);
        }
    }
    CHECK_EQ(req, 43);
    CHECK_EQ(resp, 43);
    CHECK_EQ(evt, 6);
    CHECK(br_msg_find(BR_KIND_REQUEST, 0x07) == NULL);
    CHECK(br_msg_find(BR_KIND_EVENT, 0x86) == NULL);
    CHECK(br_msg_find(BR_KIND_EVENT, BR_CMD_PING) == NULL);

    /* HELLO response outputs are the HELLO event body */
    {
        const br_msg_t *ev = br_msg_find(BR_KIND_EVENT, BR_EVT_HELLO);
        const br_msg_t *rs = br_msg_find(BR_KIND_RESPONSE, BR_CMD_HELLO);
        CHECK(ev->nfields == 21 && rs->nfields == 22);
        for (j = 0; j < ev->nfields; j++) {
            CHECK(strcmp(ev->fields[j].name, rs->fields[j + 1].name) == 0);
            CHECK(ev->fields[j].type == rs->fields[j + 1].type && ev->fields[j].max == rs->fields[j + 1].max);
        }
        CHECK(strcmp(ev->fields[18].name, "idf_version") == 0 && ev->fields[18].max == 31);
        CHECK(strcmp(ev->fields[19].name, "max_encrypt") == 0 && strcmp(ev->fields[20].name, "lost_at_reset") == 0);
    }
    /* STATS: err + the 22 counters of section 10 */
    {
        const br_msg_t *rs = br_msg_find(BR_KIND_RESPONSE, BR_CMD_STATS);
        CHECK_EQ(rs->nfields, 1 + BR_STATS_COUNT);
        CHECK_EQ(BR_STATS_COUNT, 22);
        CHECK(strcmp(rs->fields[1].name, "tx_packets") == 0 && strcmp(rs->fields[18].name, "uptime_s") == 0);
        CHECK(strcmp(rs->fields[19].name, "req_rejected") == 0);
        CHECK(strcmp(rs->fields[22].name, "resp_unsent") == 0);
        for (j = 1; j < rs->nfields; j++) {
            CHECK(rs->fields[j].type == BR_T_U32);
        }
    }
    /* RECV layout and peer_info flattening */
    {
        static const char *names[8] = { "src_addr", "dst", "rate", "rssi", "channel", "timestamp_us", "dst_addr",
                                        "data" };
        static const uint8_t types[8] = { BR_T_MAC, BR_T_DST2, BR_T_RATE6, BR_T_I8,
                                          BR_T_U8,  BR_T_U32,  BR_T_DST_ADDR, BR_T_BYTES };
        const br_msg_t *m = br_msg_find(BR_KIND_EVENT, BR_EVT_RECV);
        CHECK_EQ(m->nfields, 8);
        for (j = 0; j < 8 && j < m->nfields; j++) {
            CHECK(strcmp(m->fields[j].name, names[j]) == 0 && m->fields[j].type == types[j]);
        }
        CHECK_EQ(m->fields[7].max, 1490);
        m = br_msg_find(BR_KIND_REQUEST, BR_CMD_ESPNOW_ADD_PEER);
        CHECK(m->nfields == 5 && field_named(m, "lmk", NULL) != NULL && field_named(m, "encrypt", NULL) != NULL);
        m = br_msg_find(BR_KIND_RESPONSE, BR_CMD_ESPNOW_GET_PEER);
        CHECK(m->nfields == 6 && strcmp(m->fields[1].name, "peer_addr") == 0);
    }
}

static void test_msg_roundtrip(void)
{
    static uint8_t body[2048], wire[4096];
    br_value_t v[BR_MAX_FIELDS], w[BR_MAX_FIELDS];
    br_result_t res;
    size_t n;
    const br_msg_t *m;
    static const uint8_t mac[6] = { 0x24, 0x0a, 0xc4, 0x9a, 0xbc, 0xde };
    static const uint8_t mac2[6] = { 0xff, 0xee, 0xdd, 0x00, 0x11, 0x22 };
    static uint8_t data[1490];
    size_t i;
    for (i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)i;
    }

    /* request: ESPNOW_SEND (peer_addr, flags, data) with 1490 bytes, through a whole frame */
    memset(v, 0, sizeof v);
    m = br_msg_find(BR_KIND_REQUEST, BR_CMD_ESPNOW_SEND);
    CHECK(m->nfields == 3 && strcmp(m->fields[1].name, "flags") == 0);
    v[0].ptr = mac;
    v[0].len = 6;
    v[1].i = 1; /* sync */
    v[2].ptr = data;
    v[2].len = 1490;
    n = br_msg_encode(m, v, body, sizeof body, &res);
    CHECK(res == BR_OK && n == 1497 && body[6] == 1);
    {
        br_frame_t f = { BR_PROTO_VERSION, BR_KIND_REQUEST, 7, BR_CMD_ESPNOW_SEND, body, (uint16_t)n };
        br_frame_t g;
        size_t wn = br_frame_encode(&f, wire, sizeof wire);
        CHECK(wn > 0);
        CHECK_EQ(decode_wire(wire, wn, &g), BR_OK);
        CHECK_EQ(body_decode(g.kind, g.code, g.body, g.body_len, w), BR_OK);
        CHECK(w[0].len == 6 && memcmp(w[0].ptr, mac, 6) == 0 && w[1].i == 1 && w[2].len == 1490 &&
              memcmp(w[2].ptr, data, 1490) == 0 && w[2].present == 1);
    }
    v[2].len = 1491;
    CHECK_EQ(br_msg_encode(m, v, body, sizeof body, &res), 0);
    CHECK_EQ(res, BR_ERR_BAD_BODY);
    v[2].len = 10;
    CHECK_EQ(br_msg_encode(m, v, body, 16, &res), 0); /* 17 needed */
    CHECK_EQ(res, BR_ERR_NO_SPACE);
    CHECK_EQ(br_msg_encode(m, v, body, 17, &res), 17);
    CHECK_EQ(res, BR_OK);
    /* its response: err, statuses, failures */
    memset(v, 0, sizeof v);
    m = br_msg_find(BR_KIND_RESPONSE, BR_CMD_ESPNOW_SEND);
    v[1].i = 3;
    v[2].i = 1;
    n = br_msg_encode(m, v, body, sizeof body, &res);
    CHECK(res == BR_OK && n == 6 && body[4] == 3 && body[5] == 1);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_ESPNOW_SEND, body, n, w), BR_OK);
    CHECK(w[1].i == 3 && w[2].i == 1);

    /* response: STA_STATUS ok, little-endian u16 and negative i8 */
    memset(v, 0, sizeof v);
    m = br_msg_find(BR_KIND_RESPONSE, BR_CMD_WIFI_STA_STATUS);
    v[0].i = 0;
    v[1].i = 0x1234;
    v[2].i = 6;
    v[3].ptr = mac;
    v[3].len = 6;
    v[4].i = -58;
    n = br_msg_encode(m, v, body, sizeof body, &res);
    CHECK(res == BR_OK && n == 14);
    CHECK(body[0] == 0 && body[4] == 0x34 && body[5] == 0x12 && body[13] == (uint8_t)(-58 & 0xFF));
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_WIFI_STA_STATUS, body, n, w), BR_OK);
    CHECK(w[1].i == 0x1234 && w[4].i == -58 && w[3].present && memcmp(w[3].ptr, mac, 6) == 0);

    /* error response: 4 bytes, outputs ignored on encode and absent on decode */
    v[0].i = -1;
    n = br_msg_encode(m, v, body, sizeof body, &res);
    CHECK(res == BR_OK && n == 4 && body[0] == 0xFF && body[3] == 0xFF);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_WIFI_STA_STATUS, body, n, w), BR_OK);
    CHECK(w[0].i == -1 && w[0].present == 1 && w[1].present == 0 && w[4].present == 0);
    v[0].i = BR_ERR_BRIDGE_BUSY;
    n = br_msg_encode(m, v, body, sizeof body, &res);
    CHECK(n == 4 && body[0] == 0x01 && body[1] == 0xB0 && body[2] == 0 && body[3] == 0);

    /* PING response: u64 with the high bit set survives */
    memset(v, 0, sizeof v);
    m = br_msg_find(BR_KIND_RESPONSE, BR_CMD_PING);
    v[1].i = INT64_MIN + 5; /* 0x8000000000000005 */
    n = br_msg_encode(m, v, body, sizeof body, &res);
    CHECK(res == BR_OK && n == 12 && body[4] == 5 && body[11] == 0x80);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_PING, body, n, w), BR_OK);
    CHECK(w[1].i == INT64_MIN + 5 && w[2].present == 1 && w[2].len == 0);

    /* event: RECV, dst 3 carries dst_addr, other dst values omit it */
    memset(v, 0, sizeof v);
    m = br_msg_find(BR_KIND_EVENT, BR_EVT_RECV);
    v[0].ptr = mac;
    v[0].len = 6;
    v[1].i = 3;
    v[2].i = 16;
    v[3].i = -88;
    v[4].i = 11;
    v[5].i = 0xFFFFFFFFLL;
    v[6].ptr = mac2;
    v[6].len = 6;
    v[7].ptr = data;
    v[7].len = 5;
    n = br_msg_encode(m, v, body, sizeof body, &res);
    CHECK(res == BR_OK && n == 24 && body[6] == 0xD0 && memcmp(body + 13, mac2, 6) == 0);
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_RECV, body, n, w), BR_OK);
    CHECK(w[1].i == 3 && w[2].i == 16 && w[3].i == -88 && w[5].i == 0xFFFFFFFFLL && w[6].present == 1);
    CHECK(memcmp(w[6].ptr, mac2, 6) == 0 && w[7].len == 5);
    v[1].i = BR_DST_BROADCAST;
    n = br_msg_encode(m, v, body, sizeof body, &res);
    CHECK(res == BR_OK && n == 18 && body[6] == 0x90);
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_RECV, body, n, w), BR_OK);
    CHECK(w[6].present == 0 && w[6].ptr == NULL && w[7].len == 5 && memcmp(w[7].ptr, data, 5) == 0);

    /* out-of-range values are refused by the encoder */
    v[1].i = 4;
    CHECK_EQ(br_msg_encode(m, v, body, sizeof body, &res), 0);
    CHECK_EQ(res, BR_ERR_BAD_BODY);
    v[1].i = 0;
    v[2].i = 64;
    CHECK_EQ(br_msg_encode(m, v, body, sizeof body, &res), 0);
    v[2].i = 1;
    v[3].i = 128;
    CHECK_EQ(br_msg_encode(m, v, body, sizeof body, &res), 0);
    v[3].i = 0;
    v[5].i = -1;
    CHECK_EQ(br_msg_encode(m, v, body, sizeof body, &res), 0);
    v[5].i = 0;
    v[0].len = 5;
    CHECK_EQ(br_msg_encode(m, v, body, sizeof body, &res), 0);
    CHECK_EQ(res, BR_ERR_BAD_BODY);

    /* empty layouts: 0 bytes with BR_OK */
    m = br_msg_find(BR_KIND_REQUEST, BR_CMD_HELLO);
    res = BR_ERR_NO_SPACE;
    CHECK_EQ(br_msg_encode(m, NULL, NULL, 0, &res), 0);
    CHECK_EQ(res, BR_OK);
    CHECK_EQ(br_msg_decode(m, NULL, 0, v), BR_OK);

    /* str: UTF-8 ssid, max lengths */
    memset(v, 0, sizeof v);
    m = br_msg_find(BR_KIND_REQUEST, BR_CMD_WIFI_STA_CONNECT);
    v[0].ptr = (const uint8_t *)"caf\xc3\xa9";
    v[0].len = 5;
    v[1].ptr = (const uint8_t *)"0123456789012345678901234567890123456789012345678901234567890123";
    v[1].len = 64;
    v[2].ptr = mac;
    v[2].len = 6;
    n = br_msg_encode(m, v, body, sizeof body, &res);
    CHECK(res == BR_OK && n == 1 + 5 + 1 + 64 + 6 && body[0] == 5 && body[6] == 64);
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_WIFI_STA_CONNECT, body, n, w), BR_OK);
    CHECK(w[0].len == 5 && memcmp(w[0].ptr, "caf\xc3\xa9", 5) == 0 && w[1].len == 64);
    v[1].len = 65;
    CHECK_EQ(br_msg_encode(m, v, body, sizeof body, &res), 0);
    CHECK_EQ(res, BR_ERR_BAD_BODY);
}

static void test_bad_bodies(void)
{
    static uint8_t b[2048];
    br_value_t v[BR_MAX_FIELDS];
    size_t i;
    for (i = 0; i < sizeof b; i++) {
        b[i] = (uint8_t)(i | 1u);
    }

    /* bytes maxima: PING 64, SEND 1490 (+7), LOG 200 (+2), RECV 1490 (+13) */
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_PING, b, 64, v), BR_OK);
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_PING, b, 65, v), BR_ERR_BAD_BODY);
    memset(b, 0, 4);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_PING, b, 4 + 8 + 64, v), BR_OK);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_PING, b, 4 + 8 + 65, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_PING, b, 4 + 7, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_ESPNOW_SEND, b, 7 + 1490, v), BR_OK);
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_ESPNOW_SEND, b, 7 + 1491, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_ESPNOW_SEND, b, 7, v), BR_OK);
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_ESPNOW_SEND, b, 6, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_LOG, b, 2 + 200, v), BR_OK);
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_LOG, b, 2 + 201, v), BR_ERR_BAD_BODY);
    b[6] = 0x00; /* dst 0 */
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_RECV, b, 13 + 1490, v), BR_OK);
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_RECV, b, 13 + 1491, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_RECV, b, 12, v), BR_ERR_BAD_BODY);
    b[6] = 0xC0; /* dst 3: needs dst_addr */
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_RECV, b, 13, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_RECV, b, 18, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_RECV, b, 19, v), BR_OK);
    CHECK(v[6].present == 1 && v[7].len == 0);
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_RECV, b, 19 + 1490, v), BR_OK);
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_RECV, b, 19 + 1491, v), BR_ERR_BAD_BODY);

    /* str: ssid 32 ok / 33 bad, password 64 / 65, running past the end, extra byte */
    {
        uint8_t s[128];
        size_t n = 0;
        s[n++] = 32;
        memset(s + n, 's', 32);
        n += 32;
        s[n++] = 64;
        memset(s + n, 'p', 64);
        n += 64;
        memset(s + n, 0xAA, 6);
        n += 6;
        CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_WIFI_STA_CONNECT, s, n, v), BR_OK);
        CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_WIFI_STA_CONNECT, s, n - 1, v), BR_ERR_BAD_BODY);
        s[n] = 0;
        CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_WIFI_STA_CONNECT, s, n + 1, v), BR_ERR_BAD_BODY);
        s[0] = 33;
        CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_WIFI_STA_CONNECT, s, n + 1, v), BR_ERR_BAD_BODY);
        s[0] = 32;
        s[33] = 65;
        CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_WIFI_STA_CONNECT, s, n + 1, v), BR_ERR_BAD_BODY);
        s[0] = 20; /* ssid past the end */
        CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_WIFI_STA_CONNECT, s, 10, v), BR_ERR_BAD_BODY);
        CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_WIFI_STA_CONNECT, s, 0, v), BR_ERR_BAD_BODY);
    }
    /* HELLO idf_version: 31 ok, 32 bad, missing bad */
    {
        uint8_t h[96];
        memset(h, 1, sizeof h);
        h[47] = 31;
        CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_HELLO, h, 48 + 31 + 5, v), BR_OK);
        CHECK(v[18].len == 31 && v[19].i == 1 && v[20].i == 0x01010101);
        CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_HELLO, h, 48 + 31, v), BR_ERR_BAD_BODY);
        h[47] = 32;
        CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_HELLO, h, 48 + 32 + 5, v), BR_ERR_BAD_BODY);
        CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_HELLO, h, 47, v), BR_ERR_BAD_BODY);
    }

    /* fixed layouts: one byte short or long */
    memset(b, 0, 64);
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_ESPNOW_ADD_PEER, b, 25, v), BR_OK);
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_ESPNOW_ADD_PEER, b, 24, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_ESPNOW_ADD_PEER, b, 26, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_SEND_STATUS, b, 8, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_DROPPED, b, 10, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_EVENT, BR_EVT_WIFI_EVENT, b, 3, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_ESPNOW_INIT, b, 1, v), BR_ERR_BAD_BODY);

    /* responses: err missing / truncated, err != 0 with extra bytes, ok without outputs */
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_RESET, b, 0, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_RESET, b, 3, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_RESET, b, 4, v), BR_OK);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_RESET, b, 5, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_WIFI_GET_MODE, b, 4, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_WIFI_GET_MODE, b, 5, v), BR_OK);
    b[0] = 0x01;
    b[1] = 0x30; /* ESP_ERR_WIFI_NOT_INIT, 0x3001 */
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_WIFI_GET_MODE, b, 4, v), BR_OK);
    CHECK(v[0].i == 0x3001 && v[1].present == 0);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_WIFI_GET_MODE, b, 5, v), BR_ERR_BAD_BODY);
    /* IS_PEER_EXIST decodes generically: err then exists */
    memset(b, 0, 8);
    b[4] = 1;
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_ESPNOW_IS_PEER_EXIST, b, 5, v), BR_OK);
    CHECK(v[0].i == 0 && v[1].i == 1);
    /* STATS with one counter short / one too many */
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_STATS, b, 4 + 21 * 4, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_STATS, b, 4 + 22 * 4, v), BR_OK);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_STATS, b, 4 + 23 * 4, v), BR_ERR_BAD_BODY);
    /* booleans: 0 and 1 only (IS_PEER_EXIST exists, STATS clear, SET_IF_ACTIVE active) */
    b[4] = 2;
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_ESPNOW_IS_PEER_EXIST, b, 5, v), BR_ERR_BAD_BODY);
    b[0] = 2;
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_STATS, b, 1, v), BR_ERR_BAD_BODY);
    b[0] = 1;
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_STATS, b, 1, v), BR_OK);
    b[0] = 0; b[1] = 0xFF;
    CHECK_EQ(body_decode(BR_KIND_REQUEST, BR_CMD_WIFI_SET_IF_ACTIVE, b, 2, v), BR_ERR_BAD_BODY);
    memset(b, 0, 8);
    /* SEND response without failures (the pre-sync layout) */
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_ESPNOW_SEND, b, 5, v), BR_ERR_BAD_BODY);
    CHECK_EQ(body_decode(BR_KIND_RESPONSE, BR_CMD_ESPNOW_SEND, b, 6, v), BR_OK);
}

int main(void)
{
    test_crc();
    test_cobs();
    test_frame_example();
    test_frame_roundtrips();
    test_frame_rejects();
    test_splitter();
    test_msg_table();
    test_msg_roundtrip();
    test_bad_bodies();
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
