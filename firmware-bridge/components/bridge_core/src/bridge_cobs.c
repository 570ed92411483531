/* COBS framing (docs/PROTOCOL.md section 2). */
#include "bridge_cobs.h"

size_t br_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t i;
    size_t o;
    size_t code_idx;
    uint8_t code;
    /* A full 0xFF group is closed at once, but the next group is only opened
     * when another byte arrives: that keeps the encoding minimal (no trailing
     * 0x01 when the data ends exactly on a 0xFF group). */
    int pending = 0;

    if (out == NULL || cap < 1u) {
        return 0;
    }
    code_idx = 0;
    o = 1;
    code = 1;
    for (i = 0; i < len; i++) {
        uint8_t b = in[i];
        if (pending) {
            if (o >= cap) {
                return 0;
            }
            code_idx = o++;
            code = 1;
            pending = 0;
        }
        if (b == 0u) {
            /* The zero is implied by the code byte; a group always follows a
             * zero, even an empty last one (code 0x01). */
            out[code_idx] = code;
            if (o >= cap) {
                return 0;
            }
            code_idx = o++;
            code = 1;
        } else {
            if (o >= cap) {
                return 0;
            }
            out[o++] = b;
            code++;
            if (code == 0xFFu) {
                out[code_idx] = code;
                pending = 1;
            }
        }
    }
    if (!pending) {
        out[code_idx] = code;
    }
    return o;
}

br_result_t br_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t i = 0;
    size_t o = 0;

    /* o never passes i (each group of 1+n input bytes yields at most n+1
     * output bytes), so in == out is safe. Bytes past cap are counted but
     * not written, so malformed input is reported as BAD_COBS even when it is
     * also too long: the result does not depend on the caller's cap. */
    while (i < len) {
        uint8_t code = in[i];
        size_t n;
        size_t k;

        if (code == 0u) {
            return BR_ERR_BAD_COBS;
        }
        i++;
        n = (size_t)code - 1u;
        if (n > len - i) {
            return BR_ERR_BAD_COBS; /* code byte points past the end */
        }
        for (k = 0; k < n; k++) {
            uint8_t b = in[i + k];
            if (b == 0u) {
                return BR_ERR_BAD_COBS;
            }
            if (o < cap) {
                out[o] = b;
            }
            o++;
        }
        i += n;
        /* Every group but a 0xFF one and the last one stood for a zero. */
        if (code != 0xFFu && i < len) {
            if (o < cap) {
                out[o] = 0;
            }
            o++;
        }
    }
    if (o > cap) {
        return BR_ERR_OVERSIZE;
    }
    if (out_len != NULL) {
        *out_len = o;
    }
    return BR_OK;
}
