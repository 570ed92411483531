/* host-bench-c: the C side of `make bench-host` (Benchmarks/HostBench/main.swift runs it).
 *
 *   host-bench-c produce [RATE]        synthetic dongle: creates a pty, prints its path, answers
 *                                       HELLO/PING requests, then writes pre-encoded 250-byte RECV
 *                                       frames into it: as fast as the pty takes them (RATE 0,
 *                                       64 frames per write) or RATE frames/s, one frame per write.
 *                                       Exits when the reader closes the port; prints "produced N".
 *   host-bench-c read PATH WARM SECS   minimal reader: read + COBS + CRC (the firmware's portable
 *                                       codec) + count RECV events; after WARM s measures SECS s and
 *                                       prints "packets P wall W cpu C switches S".
 *   host-bench-c ping PATH N           PING round trips on a dongle (simulated): prints
 *                                       "n N p50 US p99 US switches S" (µs; switches of this process).
 *   host-bench-c codec SECS            the reader's decoding alone, on 64 frames in memory:
 *                                       prints "frames F seconds S".
 *
 * Context switches are getrusage(RUSAGE_SELF) voluntary + involuntary, like the Swift side's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bridge_frame.h"
#include "bridge_msg.h"
#include "bridge_proto.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage_now(double *cpu, long *switches) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
    *switches = ru.ru_nvcsw + ru.ru_nivcsw;
}

static void die(const char *what) {
    fprintf(stderr, "host-bench-c: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void make_raw(int fd) {
    struct termios t;
    if (tcgetattr(fd, &t) != 0) die("tcgetattr");
    cfmakeraw(&t);
    if (tcsetattr(fd, TCSANOW, &t) != 0) die("tcsetattr");
}

/* Sets the field called `name` of a layout's value array. */
static void set_field(const br_msg_t *m, br_value_t *v, const char *name, int64_t i, const void *ptr, uint16_t len) {
    for (unsigned k = 0; k < m->nfields; k++) {
        if (strcmp(m->fields[k].name, name) == 0) {
            v[k].i = i;
            v[k].ptr = ptr;
            v[k].len = len;
            v[k].present = 1;
            return;
        }
    }
    fprintf(stderr, "host-bench-c: layout %s has no field %s\n", m->name, name);
    exit(1);
}

/* Encodes a frame of `kind`/`code` whose body is `vals` along its layout; returns the wire length. */
static size_t encode(uint8_t kind, uint16_t id, uint8_t code, const br_value_t *vals, uint8_t *out, size_t cap) {
    const br_msg_t *m = br_msg_find(kind, code);
    if (!m) {
        fprintf(stderr, "host-bench-c: no layout for kind %u code 0x%02x\n", kind, code);
        exit(1);
    }
    uint8_t body[BR_MAX_BODY];
    br_result_t res = BR_OK;
    size_t n = br_msg_encode(m, vals, body, sizeof body, &res);
    if (res != BR_OK) {
        fprintf(stderr, "host-bench-c: encoding %s failed (%d)\n", m->name, (int)res);
        exit(1);
    }
    br_frame_t f = { .version = BR_PROTO_VERSION, .kind = kind, .id = id, .code = code, .body = body,
                     .body_len = (uint16_t)n };
    size_t w = br_frame_encode(&f, out, cap);
    if (w == 0) {
        fprintf(stderr, "host-bench-c: frame encode failed\n");
        exit(1);
    }
    return w;
}

/* ---- the synthetic producer ---- */

static const uint8_t k_sta[6] = { 0x02, 0x00, 0x00, 0xbe, 0x00, 0x01 };
static const uint8_t k_ap[6] = { 0x02, 0x00, 0x00, 0xbe, 0x00, 0x02 };
static const uint8_t k_src[6] = { 0x24, 0x0a, 0xc4, 0x9a, 0xbc, 0xde };

static size_t hello_response(uint16_t id, uint8_t *out, size_t cap) {
    const br_msg_t *m = br_msg_find(BR_KIND_RESPONSE, BR_CMD_HELLO);
    br_value_t v[BR_MAX_FIELDS];
    memset(v, 0, sizeof v);
    for (unsigned k = 0; k < m->nfields; k++) v[k].present = 1;  /* zero unless set below */
    static const char idf[] = "synthetic";
    set_field(m, v, "err", 0, NULL, 0);
    set_field(m, v, "proto_version", BR_PROTO_VERSION, NULL, 0);
    set_field(m, v, "max_payload", 250, NULL, 0);
    set_field(m, v, "sta_mac", 0, k_sta, 6);
    set_field(m, v, "ap_mac", 0, k_ap, 6);
    set_field(m, v, "boot_count", 1, NULL, 0);
    set_field(m, v, "window", 8, NULL, 0);
    set_field(m, v, "rxbuf", 65536, NULL, 0);
    set_field(m, v, "max_frame", BR_MAX_DECODED, NULL, 0);
    set_field(m, v, "transport", 3, NULL, 0);  /* not a UART: the host does not pace */
    set_field(m, v, "idf_version", 0, idf, (uint16_t)strlen(idf));
    return encode(BR_KIND_RESPONSE, id, BR_CMD_HELLO, v, out, cap);
}

static size_t ping_response(uint16_t id, uint8_t *out, size_t cap) {
    const br_msg_t *m = br_msg_find(BR_KIND_RESPONSE, BR_CMD_PING);
    br_value_t v[BR_MAX_FIELDS];
    memset(v, 0, sizeof v);
    set_field(m, v, "err", 0, NULL, 0);
    set_field(m, v, "uptime_us", (int64_t)(now_s() * 1e6), NULL, 0);
    set_field(m, v, "data", 0, NULL, 0);
    return encode(BR_KIND_RESPONSE, id, BR_CMD_PING, v, out, cap);
}

static size_t recv_event(uint32_t seq, uint8_t *out, size_t cap) {
    const br_msg_t *m = br_msg_find(BR_KIND_EVENT, BR_EVT_RECV);
    br_value_t v[BR_MAX_FIELDS];
    memset(v, 0, sizeof v);
    uint8_t payload[250];
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(1 + (i * 37 + seq) % 255);
    memcpy(payload, &seq, sizeof seq);
    set_field(m, v, "src_addr", 0, k_src, 6);
    set_field(m, v, "dst", 0, NULL, 0);
    set_field(m, v, "rate", 11, NULL, 0);
    set_field(m, v, "rssi", -45, NULL, 0);
    set_field(m, v, "channel", 1, NULL, 0);
    set_field(m, v, "timestamp_us", seq, NULL, 0);
    set_field(m, v, "data", 0, payload, sizeof payload);
    return encode(BR_KIND_EVENT, 0, BR_EVT_RECV, v, out, cap);
}

/* Reads what the host wrote and answers HELLO and PING; other requests are ignored. */
typedef struct {
    uint8_t acc[BR_MAX_ENCODED];
    size_t len;
    int hello_seen;
} request_reader_t;

static void answer_requests(int master, request_reader_t *rr) {
    uint8_t buf[4096];
    ssize_t n = read(master, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        /* the reader closed the port */
        rr->hello_seen = -1;
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] != 0) {
            if (rr->len < sizeof rr->acc) rr->acc[rr->len++] = buf[i];
            continue;
        }
        uint8_t scratch[BR_MAX_DECODED];
        br_frame_t f;
        if (rr->len > 0 && br_frame_decode(rr->acc, rr->len, scratch, sizeof scratch, &f) == BR_OK &&
            f.kind == BR_KIND_REQUEST) {
            uint8_t out[BR_MAX_ENCODED];
            size_t w = 0;
            if (f.code == BR_CMD_HELLO) {
                w = hello_response(f.id, out, sizeof out);
                rr->hello_seen = 1;
            } else if (f.code == BR_CMD_PING) {
                w = ping_response(f.id, out, sizeof out);
            }
            /* Responses are small and the pty has room before the flood starts; later they
             * wait their turn like a dongle's (blocking briefly is fine for a producer). */
            size_t off = 0;
            while (off < w) {
                ssize_t k = write(master, out + off, w - off);
                if (k > 0) off += (size_t)k;
                else if (k < 0 && errno != EAGAIN && errno != EINTR) return;
                else {
                    struct pollfd p = { .fd = master, .events = POLLOUT };
                    poll(&p, 1, 100);
                }
            }
        }
        rr->len = 0;
    }
}

static int produce(double rate) {
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0) die("posix_openpt");
    if (grantpt(master) != 0 || unlockpt(master) != 0) die("grantpt/unlockpt");
    const char *slave_path = ptsname(master);
    if (!slave_path) die("ptsname");
    /* Raw before the reader opens it (no echo of the host's requests); not kept open, so the
     * reader finds no other process on its port. */
    int slave = open(slave_path, O_RDWR | O_NOCTTY);
    if (slave < 0) die("open slave");
    make_raw(slave);
    close(slave);
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    printf("%s\n", slave_path);
    fflush(stdout);

    /* 64 distinct frames, encoded once. */
    enum { K = 64 };
    static uint8_t frames[K * BR_MAX_ENCODED];
    size_t flen = 0, one = 0;
    for (uint32_t i = 0; i < K; i++) {
        size_t w = recv_event(i, frames + flen, BR_MAX_ENCODED);
        if (i == 0) one = w;
        else if (w != one) {
            fprintf(stderr, "host-bench-c: frames differ in length\n");
            return 1;
        }
        flen += w;
    }

    request_reader_t rr = { .len = 0, .hello_seen = 0 };
    /* Until a reader has opened the port and said HELLO (the master reports HUP meanwhile). */
    while (rr.hello_seen == 0) {
        struct pollfd p = { .fd = master, .events = POLLIN };
        poll(&p, 1, 5);
        if (p.revents & POLLIN) answer_requests(master, &rr);
        if (rr.hello_seen < 0) rr.hello_seen = 0;  /* nobody there yet */
        if (!(p.revents & POLLIN)) usleep(1000);
    }

    uint64_t produced = 0;
    size_t off = 0;  /* into frames */
    double period = rate > 0 ? 1.0 / rate : 0, next = now_s();
    for (;;) {
        if (rate > 0) {
            double t = now_s();
            if (t < next) {
                struct pollfd p = { .fd = master, .events = POLLIN };
                int ms = (int)((next - t) * 1000);
                if (ms > 0) {
                    poll(&p, 1, ms);
                } else {
                    struct timespec ts = { 0, (long)((next - t) * 1e9) };
                    nanosleep(&ts, NULL);
                    p.revents = 0;
                    poll(&p, 1, 0);
                }
                if (p.revents & POLLIN) answer_requests(master, &rr);
                if (p.revents & (POLLHUP | POLLERR)) break;
                continue;
            }
            next += period;
            if (next < t - 0.1) next = t;  /* far behind (descheduled): do not burst */
            ssize_t k = write(master, frames + (produced % K) * one, one);
            if (k == (ssize_t)one) {
                produced++;
            } else if (k < 0 && errno != EAGAIN && errno != EINTR) {
                break;
            } else if (k >= 0) {
                /* partial: finish this frame before the next tick */
                size_t done = (size_t)k;
                while (done < one) {
                    struct pollfd p = { .fd = master, .events = POLLOUT };
                    if (poll(&p, 1, 1000) > 0 && (p.revents & (POLLHUP | POLLERR))) goto out;
                    ssize_t r = write(master, frames + (produced % K) * one + done, one - done);
                    if (r > 0) done += (size_t)r;
                    else if (r < 0 && errno != EAGAIN && errno != EINTR) goto out;
                }
                produced++;
            }
        } else {
            struct pollfd p = { .fd = master, .events = POLLIN | POLLOUT };
            if (poll(&p, 1, 1000) < 0 && errno != EINTR) break;
            if (p.revents & POLLIN) answer_requests(master, &rr);
            if (rr.hello_seen < 0 || (p.revents & (POLLHUP | POLLERR))) break;
            if (p.revents & POLLOUT) {
                ssize_t k = write(master, frames + off, flen - off);
                if (k > 0) {
                    size_t before = off;
                    off += (size_t)k;
                    produced += (off / one) - (before / one);
                    if (off == flen) off = 0;
                } else if (k < 0 && errno != EAGAIN && errno != EINTR) {
                    break;
                }
            }
        }
        if (rr.hello_seen < 0) break;
    }
out:
    printf("produced %llu\n", (unsigned long long)produced);
    return 0;
}

/* ---- the minimal reader ---- */

static int open_port(const char *path) {
    int fd = open(path, O_RDWR | O_NOCTTY);
    if (fd < 0) die(path);
    make_raw(fd);
    return fd;
}

static void write_all(int fd, const uint8_t *b, size_t n) {
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("write");
        }
        b += k;
        n -= (size_t)k;
    }
}

static void send_request(int fd, uint16_t id, uint8_t code) {
    uint8_t out[64];
    br_frame_t f = { .version = BR_PROTO_VERSION, .kind = BR_KIND_REQUEST, .id = id, .code = code,
                     .body = NULL, .body_len = 0 };
    size_t w = br_frame_encode(&f, out, sizeof out);
    if (w == 0) {
        fprintf(stderr, "host-bench-c: request encode failed\n");
        exit(1);
    }
    write_all(fd, out, w);
}

/* Splits a byte stream on 0x00 and decodes each frame; calls on_frame for each good one. */
typedef struct {
    uint8_t acc[BR_MAX_ENCODED];
    size_t len;
    uint64_t bad;
} splitter_t;

typedef void (*frame_fn)(const br_frame_t *f, void *ctx);

static void feed(splitter_t *s, const uint8_t *b, size_t n, frame_fn fn, void *ctx) {
    uint8_t scratch[BR_MAX_DECODED];
    while (n > 0) {
        const uint8_t *z = memchr(b, 0, n);
        size_t run = z ? (size_t)(z - b) : n;
        if (s->len + run <= sizeof s->acc) {
            if (s->len == 0 && z) {
                /* the whole frame is in this read: decode in place */
                br_frame_t f;
                if (run > 0) {
                    if (br_frame_decode(b, run, scratch, sizeof scratch, &f) == BR_OK) fn(&f, ctx);
                    else s->bad++;
                }
                b += run + 1;
                n -= run + 1;
                continue;
            }
            memcpy(s->acc + s->len, b, run);
            s->len += run;
        } else {
            s->len = sizeof s->acc + 1;  /* oversize: dropped at the delimiter */
        }
        if (!z) return;
        if (s->len > 0 && s->len <= sizeof s->acc) {
            br_frame_t f;
            if (br_frame_decode(s->acc, s->len, scratch, sizeof scratch, &f) == BR_OK) fn(&f, ctx);
            else s->bad++;
        } else if (s->len > sizeof s->acc) {
            s->bad++;
        }
        s->len = 0;
        b += run + 1;
        n -= run + 1;
    }
}

typedef struct {
    uint64_t recv;
    uint64_t bytes;
} count_t;

static void count_recv(const br_frame_t *f, void *ctx) {
    count_t *c = ctx;
    if (f->kind == BR_KIND_EVENT && f->code == BR_EVT_RECV) {
        c->recv++;
        c->bytes += f->body_len;
    }
}

static int reader(const char *path, double warm, double secs) {
    int fd = open_port(path);
    uint8_t zero = 0;
    write_all(fd, &zero, 1);
    send_request(fd, 1, BR_CMD_HELLO);
    static uint8_t buf[65536];
    splitter_t sp = { .len = 0, .bad = 0 };
    count_t c = { 0, 0 };
    double t0 = now_s(), start = t0 + warm, end = start + secs;
    int measuring = 0;
    uint64_t p0 = 0;
    double cpu0 = 0, w0 = 0;
    long sw0 = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("read");
        feed(&sp, buf, (size_t)n, count_recv, &c);
        double t = now_s();
        if (!measuring && t >= start) {
            measuring = 1;
            p0 = c.recv;
            w0 = t;
            usage_now(&cpu0, &sw0);
        } else if (measuring && t >= end) {
            double cpu1;
            long sw1;
            usage_now(&cpu1, &sw1);
            printf("packets %llu wall %.6f cpu %.6f switches %ld bad %llu\n", (unsigned long long)(c.recv - p0),
                   t - w0, cpu1 - cpu0, sw1 - sw0, (unsigned long long)sp.bad);
            fflush(stdout);
            close(fd);
            return 0;
        }
    }
}

/* ---- PING round trips ---- */

typedef struct {
    uint16_t want;
    int got;
} ping_wait_t;

static void on_response(const br_frame_t *f, void *ctx) {
    ping_wait_t *w = ctx;
    if (f->kind == BR_KIND_RESPONSE && f->id == w->want) w->got = 1;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int pinger(const char *path, int count) {
    int fd = open_port(path);
    uint8_t zero = 0;
    write_all(fd, &zero, 1);
    splitter_t sp = { .len = 0, .bad = 0 };
    uint8_t buf[4096];
    uint64_t *us = calloc((size_t)count, sizeof *us);
    if (!us) die("calloc");
    uint16_t id = 100;
    double cpu0 = 0, cpu1;
    long sw0 = 0, sw1;
    /* The first round trip (the HELLO) is not measured. */
    for (int i = -1; i < count; i++) {
        if (i == 0) usage_now(&cpu0, &sw0);
        ping_wait_t w = { .want = ++id, .got = 0 };
        double t = now_s();
        send_request(fd, id, i < 0 ? BR_CMD_HELLO : BR_CMD_PING);
        while (!w.got) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) die("read");
            feed(&sp, buf, (size_t)n, on_response, &w);
        }
        if (i >= 0) us[i] = (uint64_t)((now_s() - t) * 1e6);
    }
    usage_now(&cpu1, &sw1);
    qsort(us, (size_t)count, sizeof *us, cmp_u64);
    printf("n %d p50 %llu p99 %llu switches %ld cpu %.6f\n", count, (unsigned long long)us[count / 2],
           (unsigned long long)us[(count * 99) / 100], sw1 - sw0, cpu1 - cpu0);
    free(us);
    close(fd);
    return 0;
}

/* ---- the codec alone ---- */

static int codec(double secs) {
    enum { K = 64 };
    static uint8_t frames[K * BR_MAX_ENCODED];
    size_t flen = 0;
    for (uint32_t i = 0; i < K; i++) flen += recv_event(i, frames + flen, BR_MAX_ENCODED);
    splitter_t sp = { .len = 0, .bad = 0 };
    count_t c = { 0, 0 };
    for (int i = 0; i < 2000; i++) feed(&sp, frames, flen, count_recv, &c);  /* warm-up */
    c.recv = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < secs) {
        for (int i = 0; i < 100; i++) feed(&sp, frames, flen, count_recv, &c);
        t = now_s();
    }
    printf("frames %llu seconds %.6f bad %llu\n", (unsigned long long)c.recv, t - t0, (unsigned long long)sp.bad);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "produce") == 0) return produce(argc >= 3 ? atof(argv[2]) : 0);
    if (argc >= 5 && strcmp(argv[1], "read") == 0) return reader(argv[2], atof(argv[3]), atof(argv[4]));
    if (argc >= 4 && strcmp(argv[1], "ping") == 0) return pinger(argv[2], atoi(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "codec") == 0) return codec(atof(argv[2]));
    fprintf(stderr, "usage: host-bench-c produce [RATE] | read PATH WARM SECS | ping PATH N | codec SECS\n");
    return 2;
}
