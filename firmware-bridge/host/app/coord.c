/* espnow-sim coordinator: the shared medium, N dongle processes, the serial
 * relay with its faults, scripted nodes and the control socket.
 *
 * One thread, one ppoll loop; every wait is bounded by the next deadline
 * (end of a frame on air, the next paced serial chunk, a node's timer).
 *
 * Medium: per channel, one frame on air at a time, in submission order.
 * A frame's attempt lasts sim_airtime_us() in --realtime (0 otherwise); at the
 * end of the attempt the medium decides who heard it (radio on, same channel
 * or a neighbour one with leakage, an active interface that the frame is for,
 * a protocol that covers the rate, not lost on the link), delivers it (each
 * receiver at most once per frame: retries are deduplicated as the 802.11 MAC
 * does) and, for a unicast, whether it was acknowledged (the addressee heard it
 * on its own channel). No ACK: retried up to `retries` times, then FAIL. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "sim_medium.h"
#include "sim_node.h"

#define QCAP_MAX (64u * 1024u)          /* relay queue per direction before we stop reading */
#define MAX_CLIENTS 8
#define RST_POWERON 1
#define RST_EXT 2
#define RST_PANIC 4

typedef struct {
    uint8_t *b;
    size_t len, cap;
} bq_t;

typedef struct {
    radio_cfg_t *cfg;
    int idx;
    /* radio state as last reported (dongles) or fixed (nodes) */
    bool started;
    uint8_t channel, active, proto[2], connected;
    uint8_t sta[6], ap[6];
    /* dongle process and its serial link */
    pid_t pid;
    int med_fd, ser_fd, master, slave;
    int med_peer_fd;                    /* the dongle's end of the medium socket, kept to count what it never read */
    char port[64], link[4096];
    bool plugged, announced, expect_exit;
    const char *event;                  /* JSON "event" for the next ready line */
    uint32_t boot_count;
    int persist_fd;                     /* the dongle's "RTC memory": kept across resets, not power-off */
    bq_t q[2];
    uint64_t free_at[2];
    uint32_t baud, baud_next;
    size_t baud_after;                  /* d2h bytes still at the old rate */
    uint64_t bytes[2], flipped[2], dropped[2];
    /* scripted nodes */
    uint64_t next_at;
    uint32_t seq;
    uint64_t last_end;                  /* air time its previous frame ended */
    /* counters */
    uint64_t tx, tx_ok, tx_fail, attempts, rx, rx_lost, rx_phy, rx_overflow, respawns;
    uint64_t rx_unread;                 /* delivered, but the dongle died or lost power before reading them */
    uint64_t d2h_lost_recv;             /* whole RECV events lost on the serial link when the dongle died */
    /* firmware nodes (the "firmware nodes" section) */
    uint32_t fw_sent, fw_consumed, fw_boots;
    bool fw_idle, fw_halting, fw_powered, fw_saved_started;
    uint64_t fw_wake, fw_told, fw_restart_at, fw_pending_at;
    int fw_con, fw_reason, fw_next_reason, fw_next_wake;
    const char *fw_event;
    char fw_dir[300];
    FILE *fw_log;
    char fw_cbuf[4096];
    size_t fw_clen;
    bq_t fw_q;                          /* instant mode: messages held while another node runs */
} radio_t;

typedef struct req {
    struct req *next;
    int src;
    uint32_t seq;
    uint8_t ifx, rate, flags, channel, attempts;
    uint64_t key_tag, heard, t_sub, end_at;
    uint8_t smac[6], dst[6];
    uint16_t len;
    uint8_t data[SIM_MED_MAX_PAYLOAD];
} req_t;

static coord_cfg_t C;
static radio_t R[COORD_MAX_RADIOS];
static int NR;
static struct {
    req_t *head, *tail;
    uint64_t last_end;                  /* when the channel last went idle */
} s_ch[15];
/* A frame that reaches the medium within this long after the same sender's
 * previous one ended was queued in its radio: the chip would have sent it
 * back to back, so it starts at that end, not after our IPC latency. */
#define BACK_TO_BACK_US 1000u
static uint64_t s_rng;
static uint64_t s_burst_until;
static uint64_t s_frames, s_burst_lost;
static const char *s_link_dir;
static char s_control[108];
static int s_listen = -1;
static struct {
    int fd;
    char buf[512];
    size_t len;
} s_cli[MAX_CLIENTS];
static volatile sig_atomic_t s_quit, s_chld;
static int s_parent_fd = -1;            /* pidfd of the process that started the coordinator */
#define WHO_PARENT (-1000000)

/* ------------------------------------------------------------ helpers */

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* xorshift64*: deterministic from --seed, so loss and faults repeat. */
static uint64_t rnd64(void)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 2685821657736338717ull;
}
static double rnd01(void) { return (double)(rnd64() >> 11) / 9007199254740992.0; }

static void mac_str(const uint8_t m[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

bool coord_parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6) return false;
    for (int i = 0; i < 6; i++) mac[i] = (uint8_t)v[i];
    return true;
}

void coord_radio_defaults(radio_cfg_t *r)
{
    memset(r, 0, sizeof *r);
    r->channel = 1;
    r->interval_ms = 1000;
    r->to_broadcast = true;
    r->len = 250;
    r->rate = 0;                        /* 1 Mbps */
}

static bool bq_push(bq_t *q, const uint8_t *d, size_t n)
{
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->len + n) cap *= 2;
        uint8_t *b = realloc(q->b, cap);
        if (b == NULL) return false;
        q->b = b;
        q->cap = cap;
    }
    memcpy(q->b + q->len, d, n);
    q->len += n;
    return true;
}
static void bq_pop(bq_t *q, size_t n)
{
    memmove(q->b, q->b + n, q->len - n);
    q->len -= n;
}

static uint8_t rate_proto(uint8_t r)
{
    if (r <= 0x07) return 1;            /* WIFI_PROTOCOL_11B */
    if (r <= 0x0F) return 2;            /* 11G */
    if (r <= 0x1F) return 4;            /* 11N */
    return 8;                           /* LR */
}

static void emit(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static const char *kind_name(int k)
{
    static const char *n[] = { "dongle", "echo", "sensor", "flood", "firmware" };
    return k >= 0 && k <= RADIO_FIRMWARE ? n[k] : "?";
}

/* One JSON line per radio when it is ready (and again after reboot/replug). */
static void announce(radio_t *r)
{
    char sm[18], am[18];
    mac_str(r->cfg->sta, sm);
    mac_str(r->cfg->ap, am);
    if (r->cfg->kind != RADIO_DONGLE) {
        emit("{\"index\":%d,\"script\":\"%s\",\"sta_mac\":\"%s\",\"ap_mac\":\"%s\",\"channel\":%u}\n", r->idx,
             kind_name(r->cfg->kind), sm, am, r->channel);
        return;
    }
    char ev[48] = "", lk[4200] = "";
    if (r->event) snprintf(ev, sizeof ev, "\"event\":\"%s\",", r->event);
    if (r->link[0]) snprintf(lk, sizeof lk, "\"link\":\"%s\",", r->link);
    emit("{%s\"index\":%d,\"port\":\"%s\",%s\"sta_mac\":\"%s\",\"ap_mac\":\"%s\",\"pid\":%ld,\"channel\":%u,"
         "\"boot_count\":%u}\n",
         ev, r->idx, r->port, lk, sm, am, (long)r->pid, r->cfg->channel, r->boot_count);
    r->announced = true;
    r->event = NULL;
}

/* ------------------------------------------------------------ medium */

static void deliver(radio_t *x, const req_t *q, int rssi);
static void node_tx_done(radio_t *s, bool ok, uint64_t now);

static void fw_clock(radio_t *r);
static bool fw_send_raw(radio_t *r, const uint8_t *b, size_t n);
static bool fw(const radio_t *r);
static void fw_exited(radio_t *r, int st);

static void med_to(radio_t *r, const sim_med_msg_t *m)
{
    uint8_t buf[SIM_MED_MAX_MSG];
    size_t n = sim_med_encode(m, buf, sizeof buf);
    if (r->med_fd < 0 || n == 0) return;
    if (r->cfg->kind == RADIO_FIRMWARE) {
        fw_clock(r);
        if (!fw_send_raw(r, buf, n) && m->type == SIM_MED_RX) r->rx_overflow++;
        return;
    }
    if (send(r->med_fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && m->type == SIM_MED_RX) r->rx_overflow++;
}

static void submit(int src, const sim_med_msg_t *m, uint64_t now)
{
    if (m->channel < 1 || m->channel > 14 || m->len > SIM_MED_MAX_PAYLOAD) return;
    req_t *q = calloc(1, sizeof *q);
    if (q == NULL) {
        fprintf(stderr, "espnow-sim: out of memory: frame from radio %d dropped\n", src);
        return;
    }
    q->src = src;
    q->seq = m->seq;
    q->ifx = m->ifx;
    q->rate = m->rate;
    q->flags = m->flags;
    q->channel = m->channel;
    q->key_tag = m->key_tag;
    memcpy(q->smac, m->src, 6);
    memcpy(q->dst, m->dst, 6);
    q->len = m->len;
    memcpy(q->data, m->payload, m->len);
    q->t_sub = now;
    if (C.realtime && R[src].last_end && now - R[src].last_end < BACK_TO_BACK_US) q->t_sub = R[src].last_end;
    R[src].tx++;
    bool mcast = q->dst[0] & 1;
    if (s_ch[q->channel].tail) {
        s_ch[q->channel].tail->next = q;
    } else {
        s_ch[q->channel].head = q;
        uint64_t start = q->t_sub > s_ch[q->channel].last_end ? q->t_sub : s_ch[q->channel].last_end;
        q->end_at = C.realtime ? start + sim_airtime_us(q->rate, q->len, !mcast) : now;
    }
    s_ch[q->channel].tail = q;
}

/* End of one attempt: who heard it, was it acknowledged. Returns true when the
 * frame is finished (status in *ok). */
static bool attempt_end(req_t *q, uint64_t now, bool *ok)
{
    radio_t *s = &R[q->src];
    bool mcast = q->dst[0] & 1, acked = false;
    bool burst = now < s_burst_until;
    q->attempts++;
    s->attempts++;
    s_frames++;
    for (int i = 0; i < NR; i++) {
        radio_t *x = &R[i];
        if (i == q->src || !x->started) continue;
        int d = abs((int)x->channel - (int)q->channel);
        if (d > 1 || (d == 1 && !C.leakage)) continue;
        int rif = -1;
        if (mcast) rif = (x->active & 1) ? 0 : (x->active & 2) ? 1 : -1;
        else if ((x->active & 1) && !memcmp(q->dst, x->sta, 6)) rif = 0;
        else if ((x->active & 2) && !memcmp(q->dst, x->ap, 6)) rif = 1;
        if (rif < 0) continue;
        if (!(rate_proto(q->rate) & x->proto[rif])) {
            x->rx_phy++;
            continue;
        }
        if (burst) {
            s_burst_lost++;
            x->rx_lost++;
            continue;
        }
        if (C.loss[q->src][i] > 0 && rnd01() < C.loss[q->src][i]) {
            x->rx_lost++;
            continue;
        }
        if (!mcast && d == 0) acked = true;
        if (q->heard & (1ull << i)) continue;           /* a retry of a frame it already has */
        q->heard |= 1ull << i;
        deliver(x, q, C.rssi[q->src][i] - (d ? C.leak_db : 0));
    }
    if (mcast || acked) {
        *ok = true;
        return true;
    }
    if (q->attempts > C.retries) {
        *ok = false;
        return true;
    }
    return false;
}

static void finish(req_t *q, bool ok, uint64_t now)
{
    radio_t *s = &R[q->src];
    if (ok) s->tx_ok++;
    else s->tx_fail++;
    if (s->cfg->kind == RADIO_DONGLE || s->cfg->kind == RADIO_FIRMWARE) {
        sim_med_msg_t m = { .type = SIM_MED_TX_DONE, .seq = q->seq, .status = ok ? 0 : 1, .attempts = q->attempts };
        med_to(s, &m);
    } else {
        node_tx_done(s, ok, now);
    }
}

/* Runs every attempt whose airtime is over; returns the next end time or UINT64_MAX. */
static uint64_t medium_run(uint64_t now)
{
    uint64_t next = UINT64_MAX;
    for (int ch = 1; ch <= 14; ch++) {
        for (int guard = 0; guard < 4096 && s_ch[ch].head && s_ch[ch].head->end_at <= now; guard++) {
            req_t *q = s_ch[ch].head;
            bool ok = false, mcast = q->dst[0] & 1;
            uint64_t end = q->end_at;
            if (!attempt_end(q, now, &ok)) {
                q->end_at = C.realtime ? end + sim_airtime_us(q->rate, q->len, !mcast) : now;
                continue;
            }
            s_ch[ch].head = q->next;
            if (s_ch[ch].head == NULL) s_ch[ch].tail = NULL;
            s_ch[ch].last_end = end;
            R[q->src].last_end = end;
            finish(q, ok, now);                            /* may submit (echo, flood) */
            free(q);
            req_t *h = s_ch[ch].head;
            if (h) {
                uint64_t start = h->t_sub > end ? h->t_sub : end;
                h->end_at = C.realtime ? start + sim_airtime_us(h->rate, h->len, !(h->dst[0] & 1)) : now;
            }
        }
        if (s_ch[ch].head && s_ch[ch].head->end_at < next) next = s_ch[ch].head->end_at;
    }
    return next;
}

static uint64_t medium_next(void)
{
    uint64_t next = UINT64_MAX;
    for (int ch = 1; ch <= 14; ch++) {
        if (s_ch[ch].head && s_ch[ch].head->end_at < next) next = s_ch[ch].head->end_at;
    }
    return next;
}

/* Frames of a radio that disappeared: finished on air, nobody told. */
static void forget_sender(int src)
{
    for (int ch = 1; ch <= 14; ch++) {
        req_t **pp = &s_ch[ch].head, *prev = NULL;
        while (*pp) {
            req_t *q = *pp;
            if (q->src == src && q != s_ch[ch].head) {
                *pp = q->next;
                free(q);
                continue;
            }
            prev = q;
            pp = &q->next;
        }
        s_ch[ch].tail = prev;
    }
}

/* ------------------------------------------------------------ scripted nodes */

static void node_send(radio_t *s, const uint8_t dst[6], const uint8_t *d, uint16_t len, uint64_t now)
{
    sim_med_msg_t m = { .type = SIM_MED_TX, .seq = ++s->seq, .rate = s->cfg->rate, .channel = s->channel,
                        .len = len, .payload = d };
    memcpy(m.src, s->sta, 6);
    memcpy(m.dst, dst, 6);
    submit(s->idx, &m, now);
}

static bool is_node_mac(const uint8_t m[6])
{
    for (int i = C.ndongles; i < NR; i++) {
        if (!memcmp(m, R[i].sta, 6)) return true;
    }
    return false;
}

static void deliver(radio_t *x, const req_t *q, int rssi)
{
    x->rx++;
    if (x->cfg->kind == RADIO_DONGLE || x->cfg->kind == RADIO_FIRMWARE) {
        sim_med_msg_t m = { .type = SIM_MED_RX, .seq = q->seq, .ifx = q->ifx, .rate = q->rate, .flags = q->flags,
                            .rssi = (int8_t)(rssi < -127 ? -127 : rssi > 0 ? 0 : rssi), .channel = x->channel,
                            .key_tag = q->key_tag, .len = q->len, .payload = q->data };
        memcpy(m.src, q->smac, 6);
        memcpy(m.dst, q->dst, 6);
        med_to(x, &m);
    } else if (x->cfg->kind == RADIO_ECHO && !is_node_mac(q->smac)) {
        /* Echo answers dongles only (two echo nodes would ping-pong forever). */
        node_send(x, q->smac, q->data, q->len, now_us());
    }
}

static void node_tx_done(radio_t *s, bool ok, uint64_t now)
{
    (void)ok;
    if (s->cfg->kind == RADIO_FLOOD) {
        /* Next frame as soon as the air allows; without --realtime the air
         * takes no time, so the flood is paced at its own airtime instead. */
        s->next_at = C.realtime ? now : now + sim_airtime_us(s->cfg->rate, s->cfg->len, false);
    }
}

/* Sensor payload (10 bytes, little-endian): 'S', version 1, seq u32,
 * temp_centi i16 (hundredths of °C), humidity u8 (%), node index u8. */
static uint64_t nodes_run(uint64_t now)
{
    static const uint8_t bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint64_t next = UINT64_MAX;
    for (int i = C.ndongles; i < NR; i++) {
        radio_t *s = &R[i];
        if (s->cfg->kind == RADIO_SENSOR && now >= s->next_at) {
            uint8_t p[10];
            uint32_t seq = s->seq + 1;
            int16_t t = (int16_t)(2000 + (int)(rnd64() % 600));
            p[0] = 'S'; p[1] = 1;
            for (int k = 0; k < 4; k++) p[2 + k] = (uint8_t)(seq >> (8 * k));
            p[6] = (uint8_t)t; p[7] = (uint8_t)((uint16_t)t >> 8);
            p[8] = (uint8_t)(30 + rnd64() % 50);
            p[9] = (uint8_t)i;
            node_send(s, s->cfg->to_broadcast ? bc : s->cfg->to, p, sizeof p, now);
            s->next_at = now + (uint64_t)s->cfg->interval_ms * 1000u;
        } else if (s->cfg->kind == RADIO_FLOOD && s->next_at != UINT64_MAX && now >= s->next_at) {
            static uint8_t fill[SIM_MED_MAX_PAYLOAD];
            uint32_t seq = s->seq + 1;
            for (int k = 0; k < 4; k++) fill[k] = (uint8_t)(seq >> (8 * k));
            node_send(s, s->cfg->to_broadcast ? bc : s->cfg->to, fill, s->cfg->len, now);
            s->next_at = UINT64_MAX;                    /* until this one is done */
        }
        if (s->cfg->kind != RADIO_DONGLE && s->cfg->kind != RADIO_ECHO && s->next_at < next) next = s->next_at;
    }
    return next;
}

/* ------------------------------------------------------------ dongle processes */

static char s_self[4096];
static sigset_t s_orig_mask;

static void relay_reset(radio_t *r)
{
    for (int d = 0; d < 2; d++) {
        r->q[d].len = 0;
        r->free_at[d] = 0;
    }
    r->baud = r->cfg->baud;
    r->baud_after = 0;
}

static int spawn(radio_t *r, int reason)
{
    int med[2], ser[2];
    if (reason == RST_POWERON && r->persist_fd > 0) {
        close(r->persist_fd);                        /* power-off: the memory is gone */
        r->persist_fd = 0;
    }
    if (r->persist_fd <= 0) {
        r->persist_fd = memfd_create("espnow-sim-rtc", MFD_CLOEXEC);
        if (r->persist_fd < 0 || ftruncate(r->persist_fd, 4096) != 0) return -errno;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, med) != 0) return -errno;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ser) != 0) {
        int e = errno;
        close(med[0]);
        close(med[1]);
        return -e;
    }
    int sz = 4 << 20;                   /* bursts of received frames towards a busy dongle */
    setsockopt(med[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(med[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    int small = 4096;                   /* the dongle's serial output: a small FIFO, like a UART's */
    setsockopt(ser[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    char a[16][64];
    char sm[18], am[18];
    mac_str(r->cfg->sta, sm);
    mac_str(r->cfg->ap, am);
    snprintf(a[0], 64, "%u", r->cfg->channel);
    snprintf(a[1], 64, "%u", r->boot_count);
    snprintf(a[2], 64, "%d", reason);
    snprintf(a[3], 64, "%d", med[1]);
    snprintf(a[4], 64, "%d", ser[1]);
    snprintf(a[5], 64, "%u", r->cfg->baud);
    snprintf(a[6], 64, "%d", r->persist_fd);
    char *argv[] = { s_self, "--sta-mac", sm, "--ap-mac", am, "--channel", a[0], "--boot-count", a[1],
                     "--reset-reason", a[2], "--medium-fd", a[3], "--serial-fd", a[4], "--uart-baud", a[5],
                     "--persist-fd", a[6], "--country", C.country, NULL };
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(med[0]); close(med[1]); close(ser[0]); close(ser[1]);
        return -e;
    }
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &s_orig_mask, NULL);
        /* A coordinator killed outright (a test that dies) takes its dongles with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(0);
        fcntl(med[1], F_SETFD, 0);
        fcntl(ser[1], F_SETFD, 0);
        fcntl(r->persist_fd, F_SETFD, 0);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);                /* stdout is the coordinator's JSON stream */
        }
        execv(s_self, argv);
        _exit(127);
    }
    r->med_peer_fd = med[1];            /* CLOEXEC here; the child cleared it on its own copy */
    close(ser[1]);
    fcntl(med[0], F_SETFL, O_NONBLOCK);
    fcntl(ser[0], F_SETFL, O_NONBLOCK);
    r->pid = pid;
    r->med_fd = med[0];
    r->ser_fd = ser[0];
    r->started = false;
    r->active = 0;
    r->expect_exit = false;
    relay_reset(r);
    return 0;
}

/* After the process is gone: its radio leaves the air, its sockets close. */
/* Counts the whole RECV event frames in bytes a dead dongle had written but the host
 * never got (its serial socket and our relay queue): a UART FIFO or a USB buffer lost at
 * a reset. A frame already half-way to the host is not counted here; the host sees it
 * as a bad frame. */
static uint64_t count_recv_frames(const uint8_t *b, size_t n)
{
    uint64_t count = 0;
    size_t start = 0;
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0) continue;
        if (!first && i - start >= 3) {
            /* COBS: a code byte, then the decoded frame: ver_kind 0x23 (v2 event), code 0x81. */
            if (b[start] > 2 && b[start + 1] == 0x23 && b[start + 2] == 0x81) count++;
        }
        first = false;
        start = i + 1;
    }
    return count;
}

static void count_lost_d2h(radio_t *r)
{
    bq_t *q = &r->q[DIR_D2H];
    if (r->ser_fd >= 0) {
        uint8_t buf[4096];
        ssize_t k;
        while ((k = read(r->ser_fd, buf, sizeof buf)) > 0) bq_push(q, buf, (size_t)k);
    }
    /* The head of the queue may be the rest of a frame already partly written. */
    r->d2h_lost_recv += count_recv_frames(q->b, q->len);
}

static void process_gone(radio_t *r)
{
    count_lost_d2h(r);
    /* Frames the medium handed to a radio whose software never read them: in a board's
     * hardware queue at a crash or power cut. The device cannot count these; the books do. */
    if (r->med_peer_fd > 0) {
        static uint8_t buf[SIM_MED_MAX_MSG];
        ssize_t n;
        while ((n = recv(r->med_peer_fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
            sim_med_msg_t m;
            if (sim_med_decode(buf, (size_t)n, &m) && m.type == SIM_MED_RX) r->rx_unread++;
        }
        close(r->med_peer_fd);
        r->med_peer_fd = 0;
    }
    if (r->med_fd >= 0) close(r->med_fd);
    if (r->ser_fd >= 0) close(r->ser_fd);
    r->med_fd = r->ser_fd = -1;
    r->pid = -1;
    r->started = false;
    r->active = 0;
    r->fw_q.len = 0;
    forget_sender(r->idx);
}

static void kill_wait(radio_t *r)
{
    if (r->pid <= 0) return;
    r->expect_exit = true;
    kill(r->pid, SIGKILL);
    while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    process_gone(r);
}

static int open_pty(radio_t *r)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return -errno;
    if (grantpt(m) != 0 || unlockpt(m) != 0 || ptsname(m) == NULL) {
        int e = errno;
        close(m);
        return -e;
    }
    snprintf(r->port, sizeof r->port, "%s", ptsname(m));
    /* Our own slave descriptor: the host may close and reopen the port. */
    int s = open(r->port, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        int e = errno;
        close(m);
        return -e;
    }
    struct termios tio;
    if (tcgetattr(s, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(s, TCSANOW, &tio);
    }
    fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
    r->master = m;
    r->slave = s;
    r->link[0] = '\0';
    if (s_link_dir) {
        snprintf(r->link, sizeof r->link, "%s/dongle%d", s_link_dir, r->idx);
        unlink(r->link);
        if (symlink(r->port, r->link) != 0) {
            fprintf(stderr, "espnow-sim: symlink %s: %s\n", r->link, strerror(errno));
            r->link[0] = '\0';
        }
    }
    r->plugged = true;
    return 0;
}

static void close_pty(radio_t *r)
{
    if (r->link[0]) unlink(r->link);
    r->link[0] = '\0';
    if (r->master >= 0) close(r->master);
    if (r->slave >= 0) close(r->slave);
    r->master = r->slave = -1;
    r->plugged = false;
}

static void reap(void)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (int i = 0; i < NR; i++) {
            radio_t *r = &R[i];
            if (r->pid != pid) continue;
            if (fw(r)) {
                fw_exited(r, st);
                continue;
            }
            bool expected = r->expect_exit;
            process_gone(r);
            if (!expected && !s_quit && r->plugged) {
                /* A crash: the board resets itself, as a panic would. */
                fprintf(stderr, "espnow-sim: dongle %d (pid %ld) died (%s %d); restarting it\n", i, (long)pid,
                        WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
                r->boot_count++;
                r->respawns++;
                r->event = "crash";
                if (spawn(r, RST_PANIC) != 0) fprintf(stderr, "espnow-sim: cannot restart dongle %d\n", i);
            }
        }
    }
}

/* ------------------------------------------------------------ firmware nodes
 *
 * A firmware node is an ESP-IDF application built for the host (espnow node
 * build), one process per node, speaking sim_medium.h for its radio plus
 * sim_node.h for the simulated clock. Its console (stdout) comes back through a
 * pipe: every line is printed as {"node":I,"t_us":T,"log":"..."} and appended
 * to DIR/console.log.
 *
 * Simulated time (s_vt, µs): with --realtime it follows the wall clock; in
 * instant mode it only moves when every firmware node is blocked (its last
 * IDLE has consumed every message sent to it), nothing is on the air, and a
 * poll finds no input: then it jumps to the earliest node deadline. */

#define FW_FOREVER UINT64_MAX
#define FW_CRASH_DELAY_US 1000000u     /* a crashed node boots again after 1 s, as after a panic */
#define RST_SW 3
#define RST_DEEPSLEEP 8
#define WAKE_TIMER 4

static uint64_t s_vt = 1, s_t0;
static bool s_quiet;
static char s_fw_tmp[256];

static bool fw(const radio_t *r) { return r->cfg && r->cfg->kind == RADIO_FIRMWARE; }

static uint64_t vt_now(void)
{
    if (C.realtime) {
        uint64_t t = now_us() - s_t0 + 1;
        if (t > s_vt) s_vt = t;
    }
    return s_vt;
}

static bool fw_send_now(radio_t *r, const uint8_t *b, size_t n)
{
    if (r->med_fd < 0 || send(r->med_fd, b, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) return false;
    r->fw_sent++;
    return true;
}

static bool fw_blocked(const radio_t *r);

static bool fw_other_running(const radio_t *r)
{
    for (int i = 0; i < NR; i++) {
        const radio_t *x = &R[i];
        if (x != r && fw(x) && x->pid > 0 && !fw_blocked(x)) return true;
    }
    return false;
}

/* In instant mode one firmware node runs at a time, so that a run repeats
 * exactly: what reaches a node while another runs waits here, in order. */
static bool fw_send_raw(radio_t *r, const uint8_t *b, size_t n)
{
    if (r->med_fd < 0) return false;
    if (C.realtime || (r->fw_q.len == 0 && !fw_other_running(r))) return fw_send_now(r, b, n);
    uint8_t len[2] = { (uint8_t)n, (uint8_t)(n >> 8) };
    return bq_push(&r->fw_q, len, 2) && bq_push(&r->fw_q, b, n);
}

static bool fw_any_running(void) { return fw_other_running(NULL); }

/* Lets the lowest-numbered node with held messages run, when none runs. */
static void fw_release(void)
{
    for (int i = 0; i < NR; i++) {
        radio_t *r = &R[i];
        if (fw(r) && r->pid > 0 && !fw_blocked(r)) return;
    }
    for (int i = 0; i < NR; i++) {
        radio_t *r = &R[i];
        if (!fw(r) || r->fw_q.len == 0) continue;
        size_t off = 0;
        while (off + 2 <= r->fw_q.len) {
            size_t n = (size_t)r->fw_q.b[off] | (size_t)r->fw_q.b[off + 1] << 8;
            if (!fw_send_now(r, r->fw_q.b + off + 2, n)) r->rx_overflow++;
            off += 2 + n;
        }
        r->fw_q.len = 0;
        return;
    }
}

/* Before anything reaches a node, it learns the time. */
static void fw_clock(radio_t *r)
{
    uint64_t t = vt_now();
    if (r->fw_told == t) return;
    uint8_t b[16];
    sim_node_msg_t m = { .type = SIM_NODE_CLOCK, .now_us = t };
    if (fw_send_raw(r, b, sim_node_encode(&m, b, sizeof b))) r->fw_told = t;
}

static bool fw_blocked(const radio_t *r)
{
    if (r->pid <= 0) return true;
    if (r->fw_halting) return false;              /* until its process is reaped */
    if (r->fw_sent == 0) return true;             /* not started: its first clock is held */
    return r->fw_idle && r->fw_consumed == r->fw_sent;
}

static void json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void fw_line(radio_t *r, const char *s, size_t n)
{
    if (n && s[n - 1] == '\r') n--;
    printf("{\"node\":%d,\"t_us\":%llu,\"log\":", r->idx, (unsigned long long)vt_now());
    json_str(stdout, s, n);
    printf("}\n");
    fflush(stdout);
    if (r->fw_log) {
        fwrite(s, 1, n, r->fw_log);
        fputc('\n', r->fw_log);
        fflush(r->fw_log);
    }
}

static void fw_console(radio_t *r)
{
    while (r->fw_con >= 0) {
        ssize_t n = read(r->fw_con, r->fw_cbuf + r->fw_clen, sizeof r->fw_cbuf - 1 - r->fw_clen);
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                if (r->fw_clen) fw_line(r, r->fw_cbuf, r->fw_clen);
                r->fw_clen = 0;
                close(r->fw_con);
                r->fw_con = -1;
            }
            return;
        }
        r->fw_clen += (size_t)n;
        char *start = r->fw_cbuf, *nl;
        while ((nl = memchr(start, '\n', r->fw_clen - (size_t)(start - r->fw_cbuf))) != NULL) {
            fw_line(r, start, (size_t)(nl - start));
            start = nl + 1;
        }
        r->fw_clen -= (size_t)(start - r->fw_cbuf);
        memmove(r->fw_cbuf, start, r->fw_clen);
        if (r->fw_clen == sizeof r->fw_cbuf - 1) {            /* a very long line: cut it */
            fw_line(r, r->fw_cbuf, r->fw_clen);
            r->fw_clen = 0;
        }
    }
}

static const char *reason_name(int k);

static void fw_announce(radio_t *r, const char *event)
{
    char sm[18], am[18], ev[48] = "";
    mac_str(r->cfg->sta, sm);
    mac_str(r->cfg->ap, am);
    if (event) snprintf(ev, sizeof ev, "\"event\":\"%s\",", event);
    const char *base = strrchr(r->cfg->app, '/');
    emit("{%s\"index\":%d,\"script\":\"firmware\",\"app\":\"%s\",\"sta_mac\":\"%s\",\"ap_mac\":\"%s\",\"channel\":%u,"
         "\"pid\":%ld,\"boot\":%u,\"reset_reason\":\"%s\",\"dir\":\"%s\"}\n",
         ev, r->idx, base ? base + 1 : r->cfg->app, sm, am, r->cfg->channel, (long)r->pid, r->fw_boots,
         reason_name(r->fw_reason), r->fw_dir);
}

static int fw_spawn(radio_t *r, int reason, int wake_cause, const char *event)
{
    int med[2], con[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, med) != 0) return -errno;
    if (pipe2(con, O_CLOEXEC) != 0) {
        int e = errno;
        close(med[0]);
        close(med[1]);
        return -e;
    }
    int sz = 4 << 20;
    setsockopt(med[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(med[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    char a[6][64], sm[18], am[18];
    mac_str(r->cfg->sta, sm);
    mac_str(r->cfg->ap, am);
    snprintf(a[0], 64, "%d", med[1]);
    snprintf(a[1], 64, "%u", r->cfg->channel);
    snprintf(a[2], 64, "%d", reason);
    snprintf(a[3], 64, "%d", wake_cause);
    snprintf(a[4], 64, "%llu", (unsigned long long)(C.seed * 1000003u + (uint64_t)r->idx * 7919u + r->fw_boots));
    char *argv[] = { r->cfg->app, "--sim-fd", a[0], "--sta-mac", sm, "--ap-mac", am, "--channel", a[1],
                     "--reset-reason", a[2], "--wake-cause", a[3], "--seed", a[4], "--dir", r->fw_dir,
                     "--country", C.country, NULL };
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(med[0]); close(med[1]); close(con[0]); close(con[1]);
        return -e;
    }
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &s_orig_mask, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);           /* gone with the coordinator, like the dongles */
        if (getppid() != parent) _exit(0);
        fcntl(med[1], F_SETFD, 0);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, 0);
        dup2(con[1], 1);
        execv(r->cfg->app, argv);
        fprintf(stderr, "espnow-sim: cannot run firmware node %s: %s\n", r->cfg->app, strerror(errno));
        _exit(127);
    }
    close(med[1]);
    close(con[1]);
    fcntl(med[0], F_SETFL, O_NONBLOCK);
    fcntl(con[0], F_SETFL, O_NONBLOCK);
    r->pid = pid;
    r->med_fd = med[0];
    r->fw_con = con[0];
    r->fw_clen = 0;
    r->fw_q.len = 0;
    r->fw_sent = r->fw_consumed = 0;
    r->fw_idle = r->fw_halting = false;
    r->fw_told = 0;
    r->fw_restart_at = FW_FOREVER;
    r->started = false;
    r->active = 0;
    r->expect_exit = false;
    r->fw_boots++;
    r->fw_reason = reason;
    fw_announce(r, event);
    fw_clock(r);                         /* the node waits for the time before it boots */
    return 0;
}

static void fw_start(radio_t *r, int reason, int wake_cause, const char *event)
{
    int e = fw_spawn(r, reason, wake_cause, event);
    if (e != 0) fprintf(stderr, "espnow-sim: cannot start firmware node %d: %s\n", r->idx, strerror(-e));
}

static void fw_msg(radio_t *r, const uint8_t *buf, size_t n)
{
    sim_node_msg_t m;
    if (!sim_node_decode(buf, n, &m)) {
        fprintf(stderr, "espnow-sim: firmware node %d sent a malformed node message (%zu bytes); ignored\n", r->idx, n);
        return;
    }
    if (m.type == SIM_NODE_IDLE) {
        fw_console(r);                   /* its output so far, before anything else happens */
        r->fw_idle = true;
        r->fw_consumed = m.consumed;
        r->fw_wake = m.wake_at;
    } else if (m.type == SIM_NODE_HALT) {
        fw_console(r);
        uint64_t t = vt_now();
        r->fw_halting = true;
        r->expect_exit = true;
        r->started = false;
        r->active = 0;
        if (m.kind == SIM_NODE_HALT_DEEP_SLEEP) {
            r->fw_next_reason = RST_DEEPSLEEP;
            r->fw_next_wake = WAKE_TIMER;
            r->fw_pending_at = m.sleep_us == FW_FOREVER ? FW_FOREVER : t + m.sleep_us;
            r->fw_event = "deep_sleep_wake";
            emit("{\"event\":\"deep_sleep\",\"index\":%d,\"t_us\":%llu,\"sleep_us\":%lld}\n", r->idx,
                 (unsigned long long)t, m.sleep_us == FW_FOREVER ? -1LL : (long long)m.sleep_us);
        } else {
            r->fw_next_reason = m.kind == SIM_NODE_HALT_RESTART ? RST_SW : RST_PANIC;
            r->fw_next_wake = 0;
            r->fw_pending_at = m.kind == SIM_NODE_HALT_RESTART ? t : t + FW_CRASH_DELAY_US;
            r->fw_event = m.kind == SIM_NODE_HALT_RESTART ? "restart" : "panic";
        }
    } else if (m.type == SIM_NODE_RADIO) {
        /* Light sleep: the radio hears nothing until the node wakes. */
        if (!m.on) {
            r->fw_saved_started = r->started;
            r->started = false;
        } else {
            r->started = r->fw_saved_started;
        }
    }
}

/* Process gone (reaped): restart when its sleep or reboot is due. */
static void fw_exited(radio_t *r, int st)
{
    fw_console(r);
    if (r->fw_con >= 0) close(r->fw_con);
    r->fw_con = -1;
    bool expected = r->expect_exit;
    process_gone(r);
    if (!r->fw_powered) return;
    if (expected && r->fw_halting) {
        r->fw_restart_at = r->fw_pending_at;
        return;
    }
    if (!expected && !s_quit) {
        fprintf(stderr, "espnow-sim: firmware node %d died (%s %d); restarting it\n", r->idx,
                WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        r->fw_next_reason = RST_PANIC;
        r->fw_next_wake = 0;
        r->fw_event = "crash";
        r->fw_restart_at = vt_now() + FW_CRASH_DELAY_US;
        r->respawns++;
    }
}

static void fw_kill(radio_t *r)
{
    if (r->pid <= 0) return;
    r->expect_exit = true;
    r->fw_halting = false;
    kill(r->pid, SIGKILL);
    while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    fw_console(r);
    if (r->fw_con >= 0) close(r->fw_con);
    r->fw_con = -1;
    process_gone(r);
}

/* Wakes what is due at the current simulated time; returns the wall-clock
 * deadline of the next step (UINT64_MAX: none; now: poll and come back). */
static uint64_t fw_step(uint64_t now)
{
    bool any = false, busy = false;
    uint64_t next = FW_FOREVER;
    for (int i = 0; i < NR; i++) {
        radio_t *r = &R[i];
        if (!fw(r)) continue;
        any = true;
        if ((r->pid > 0 && !fw_blocked(r)) || r->fw_q.len) busy = true;
        uint64_t t = r->pid > 0 ? r->fw_wake : r->fw_restart_at;
        if (r->pid > 0 && !r->fw_idle) t = FW_FOREVER;
        if (t < next) next = t;
    }
    if (!any) return UINT64_MAX;
    if (!C.realtime) {
        if (busy || medium_next() != UINT64_MAX || next == FW_FOREVER) return UINT64_MAX;
        if (!s_quiet) return now;          /* let pending input in first: it happened before the jump */
        if (next > s_vt) s_vt = next;
    } else if (next > vt_now()) {
        return next == FW_FOREVER ? UINT64_MAX : s_t0 + next - 1;
    }
    fw_release();
    uint64_t t = vt_now();
    for (int i = 0; i < NR; i++) {
        radio_t *r = &R[i];
        if (!fw(r)) continue;
        if (r->pid > 0 && r->fw_idle && r->fw_wake <= t && fw_blocked(r) && r->fw_told != t) {
            fw_clock(r);
        } else if (r->pid <= 0 && r->fw_powered && r->fw_restart_at <= t) {
            fw_start(r, r->fw_next_reason, r->fw_next_wake, r->fw_event);
        }
    }
    return now;
}

static int fw_fds(struct pollfd *fds, int *who, int nf)
{
    for (int i = 0; i < NR; i++) {
        radio_t *r = &R[i];
        if (!fw(r)) continue;
        if (r->med_fd >= 0) { fds[nf] = (struct pollfd){ r->med_fd, POLLIN, 0 }; who[nf++] = i * 4; }
        if (r->fw_con >= 0) { fds[nf] = (struct pollfd){ r->fw_con, POLLIN, 0 }; who[nf++] = i * 4 + 3; }
    }
    return nf;
}

static void fw_setup(radio_t *r)
{
    r->fw_con = -1;
    r->fw_powered = true;
    r->fw_restart_at = FW_FOREVER;
    if (r->cfg->dir[0]) {
        snprintf(r->fw_dir, sizeof r->fw_dir, "%s", r->cfg->dir);
    } else {
        if (!s_fw_tmp[0]) {
            snprintf(s_fw_tmp, sizeof s_fw_tmp, "%s/espnow-sim-nodes-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
            if (!mkdtemp(s_fw_tmp)) s_fw_tmp[0] = '\0';
        }
        snprintf(r->fw_dir, sizeof r->fw_dir, "%s/node%d", s_fw_tmp, r->idx);
    }
    mkdir(r->fw_dir, 0755);
    char p[600];
    snprintf(p, sizeof p, "%s/console.log", r->fw_dir);
    r->fw_log = fopen(p, "a");
    fw_start(r, RST_POWERON, 0, NULL);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The temporary node directories go with the run (a node given dir= keeps its own). */
static void fw_cleanup(void)
{
    if (s_fw_tmp[0]) nftw(s_fw_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Control socket: reboot (reset pin), unplug (power off: RTC memory lost, NVS kept), replug. */
static const char *fw_control(radio_t *r, const char *cmd, int reason)
{
    if (!strcmp(cmd, "reboot")) {
        if (!r->fw_powered) return "node is unplugged";
        fw_kill(r);
        r->fw_restart_at = FW_FOREVER;
        fw_start(r, reason, 0, "reboot");
    } else if (!strcmp(cmd, "unplug")) {
        if (!r->fw_powered) return "node is already unplugged";
        fw_kill(r);
        r->fw_powered = false;
        r->fw_restart_at = FW_FOREVER;
        emit("{\"event\":\"unplug\",\"index\":%d}\n", r->idx);
    } else if (!strcmp(cmd, "replug")) {
        if (r->fw_powered) return "node is plugged in";
        r->fw_powered = true;
        fw_start(r, RST_POWERON, 0, "replug");
    }
    return NULL;
}

/* ------------------------------------------------------------ serial relay */

static void apply_faults(radio_t *r, int dir, uint8_t *d, size_t *n)
{
    size_t o = 0;
    double ber = r->cfg->ber[dir], drop = r->cfg->drop[dir];
    for (size_t i = 0; i < *n; i++) {
        r->bytes[dir]++;
        if (drop > 0 && rnd01() < drop) {
            r->dropped[dir]++;
            continue;
        }
        uint8_t b = d[i];
        if (ber > 0) {
            for (int k = 0; k < 8; k++) {
                if (rnd01() < ber) {
                    b ^= (uint8_t)(1u << k);
                    r->flipped[dir]++;
                }
            }
        }
        d[o++] = b;
    }
    *n = o;
}

/* Writes what the pacing allows; returns the time more may go, or UINT64_MAX. */
static uint64_t relay_out(radio_t *r, int dir, int fd, uint64_t now)
{
    bq_t *q = &r->q[dir];
    while (q->len > 0 && fd >= 0) {
        uint32_t baud = r->baud;
        size_t n = q->len;
        if (dir == DIR_D2H && r->baud_after > 0 && n > r->baud_after) n = r->baud_after;
        if (baud) {
            if (now < r->free_at[dir]) return r->free_at[dir];
            size_t chunk = baud / 10000u ? baud / 10000u : 1u;   /* about 1 ms of line time */
            if (n > chunk) n = chunk;
        }
        ssize_t w = write(fd, q->b, n);
        if (w <= 0) return UINT64_MAX;                  /* full: wait for POLLOUT */
        bq_pop(q, (size_t)w);
        if (baud) {
            uint64_t start = r->free_at[dir] > now ? r->free_at[dir] : now;
            r->free_at[dir] = start + ((uint64_t)w * 10000000u + baud - 1) / baud;   /* 10 bits per byte */
        }
        if (dir == DIR_D2H && r->baud_after > 0) {
            r->baud_after -= (size_t)w < r->baud_after ? (size_t)w : r->baud_after;
            if (r->baud_after == 0) r->baud = r->baud_next;
        }
    }
    return UINT64_MAX;
}

/* A paced (UART) link buffers little, so a slow link backs up into the
 * dongle's own queues, where the firmware counts what it has to drop. */
static size_t d2h_cap(const radio_t *r) { return r->baud ? 256u : QCAP_MAX; }

static void read_serial(radio_t *r)
{
    uint8_t buf[4096];
    while (r->ser_fd >= 0 && r->q[DIR_D2H].len < d2h_cap(r)) {
        size_t room = d2h_cap(r) - r->q[DIR_D2H].len;
        ssize_t n = read(r->ser_fd, buf, room < sizeof buf ? room : sizeof buf);
        if (n == 0) {                                    /* the process is going; reap() handles it */
            close(r->ser_fd);
            r->ser_fd = -1;
            return;
        }
        if (n < 0) return;
        size_t k = (size_t)n;
        apply_faults(r, DIR_D2H, buf, &k);
        if (r->master >= 0) bq_push(&r->q[DIR_D2H], buf, k);   /* unplugged: bytes go nowhere */
    }
}

static void read_medium(radio_t *r, uint64_t now)
{
    static uint8_t buf[SIM_MED_MAX_MSG];
    for (int budget = 0; budget < 512 && r->med_fd >= 0; budget++) {
        ssize_t n = recv(r->med_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) {
            /* The process is exiting: off the air now; reap() restarts it if needed. */
            close(r->med_fd);
            r->med_fd = -1;
            r->started = false;
            r->active = 0;
            return;
        }
        if (n < 0) return;
        if (fw(r) && buf[0] >= SIM_NODE_CLOCK) {
            fw_msg(r, buf, (size_t)n);
            continue;
        }
        sim_med_msg_t m;
        if (!sim_med_decode(buf, (size_t)n, &m)) {
            fprintf(stderr, "espnow-sim: dongle %d sent a malformed medium message (%zd bytes); ignored\n", r->idx, n);
            continue;
        }
        switch (m.type) {
        case SIM_MED_STATE:
            r->started = m.started;
            r->channel = m.channel;
            r->active = m.active;
            r->proto[0] = m.proto[0];
            r->proto[1] = m.proto[1];
            r->connected = m.connected;
            memcpy(r->sta, m.sta_mac, 6);
            memcpy(r->ap, m.ap_mac, 6);
            break;
        case SIM_MED_TX:
            submit(r->idx, &m, now);
            break;
        case SIM_MED_BOOT:
            r->boot_count = m.boot_count;
            if (!r->announced || r->event) announce(r);
            break;
        case SIM_MED_BAUD:
            /* Bytes written before the switch still go at the old rate. */
            read_serial(r);
            r->baud_next = m.baud;
            r->baud_after = r->q[DIR_D2H].len;
            if (r->baud_after == 0) r->baud = m.baud;
            break;
        case SIM_MED_CONNECT: {
            sim_med_msg_t res = { .type = SIM_MED_CONNECT_RESULT, .reason = 201 };   /* NO_AP_FOUND */
            for (int i = 0; i < C.naps; i++) {
                const ap_cfg_t *a = &C.aps[i];
                if (strlen(a->ssid) != m.ssid_len || memcmp(a->ssid, m.ssid, m.ssid_len) != 0) continue;
                if (m.bssid_set && memcmp(m.bssid, a->bssid, 6) != 0) continue;
                if (strlen(a->password) != m.pass_len || memcmp(a->password, m.pass, m.pass_len) != 0) {
                    res.reason = 202;                      /* AUTH_FAIL: MicroPython's WRONG_PASSWORD */
                    break;
                }
                res.ok = 1;
                res.reason = 0;
                res.channel = a->channel;
                res.rssi = a->rssi;
                res.authmode = a->password[0] ? 3 : 0;     /* WPA2_PSK / OPEN */
                memcpy(res.bssid, a->bssid, 6);
                break;
            }
            med_to(r, &res);
            break;
        }
        default:
            fprintf(stderr, "espnow-sim: dongle %d sent medium message type %u; ignored\n", r->idx, m.type);
        }
    }
}

/* ------------------------------------------------------------ control socket */

static void reply(int fd, const char *fmt, ...)
{
    static char buf[1 << 16];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    if (write(fd, buf, (size_t)n) < 0) {
        /* the client went away; its socket is closed on the next read */
    }
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
    char *e;
    errno = 0;
    long v = s ? strtol(s, &e, 10) : 0;
    if (!s || errno || e == s || *e || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_prob(const char *s, double *out)
{
    char *e;
    if (!s) return false;
    double v = strtod(s, &e);
    if (e == s || *e || !(v >= 0.0 && v <= 1.0)) return false;
    *out = v;
    return true;
}

static int stats_json(char *o, size_t cap)
{
    size_t n = 0;
#define OUT(...) do { if (n < cap) { int k_ = snprintf(o + n, cap - n, __VA_ARGS__); if (k_ > 0) n += (size_t)k_; } } while (0)
    OUT("{\"frames\":%llu,\"burst_lost\":%llu,\"leakage\":%s,\"realtime\":%s,\"radios\":[", (unsigned long long)s_frames,
        (unsigned long long)s_burst_lost, C.leakage ? "true" : "false", C.realtime ? "true" : "false");
    for (int i = 0; i < NR; i++) {
        radio_t *r = &R[i];
        OUT("%s{\"index\":%d,\"kind\":\"%s\",\"on\":%s,\"channel\":%u,\"tx\":%llu,\"tx_ok\":%llu,\"tx_fail\":%llu,"
            "\"attempts\":%llu,\"rx\":%llu,\"rx_lost\":%llu,\"rx_phy\":%llu,\"rx_overflow\":%llu,\"rx_unread\":%llu,\"d2h_lost_recv\":%llu",
            i ? "," : "", i, kind_name(r->cfg->kind), r->started ? "true" : "false", r->channel,
            (unsigned long long)r->tx, (unsigned long long)r->tx_ok, (unsigned long long)r->tx_fail,
            (unsigned long long)r->attempts, (unsigned long long)r->rx, (unsigned long long)r->rx_lost,
            (unsigned long long)r->rx_phy, (unsigned long long)r->rx_overflow, (unsigned long long)r->rx_unread,
            (unsigned long long)r->d2h_lost_recv);
        if (r->cfg->kind == RADIO_DONGLE) {
            OUT(",\"pid\":%ld,\"plugged\":%s,\"boot_count\":%u,\"respawns\":%llu,\"baud\":%u", (long)r->pid,
                r->plugged ? "true" : "false", r->boot_count, (unsigned long long)r->respawns, r->baud);
            for (int d = 0; d < 2; d++) {
                OUT(",\"%s\":{\"bytes\":%llu,\"dropped\":%llu,\"flipped_bits\":%llu}", d ? "d2h" : "h2d",
                    (unsigned long long)r->bytes[d], (unsigned long long)r->dropped[d],
                    (unsigned long long)r->flipped[d]);
            }
        }
        OUT("}");
    }
    OUT("]}");
#undef OUT
    return (int)n;
}

static bool dir_arg(const char *s, int *d0, int *d1)
{
    if (!s) return false;
    if (!strcmp(s, "h2d")) { *d0 = *d1 = DIR_H2D; return true; }
    if (!strcmp(s, "d2h")) { *d0 = *d1 = DIR_D2H; return true; }
    if (!strcmp(s, "both")) { *d0 = DIR_H2D; *d1 = DIR_D2H; return true; }
    return false;
}

static const char *reason_names[] = { "unknown", "poweron", "ext", "sw", "panic", "int_wdt", "task_wdt", "wdt",
                                      "deepsleep", "brownout" };
static const char *reason_name(int k)
{
    return k >= 0 && k < (int)(sizeof reason_names / sizeof *reason_names) ? reason_names[k] : "unknown";
}

static void control_cmd(int fd, char *line)
{
    char *tok[8] = { 0 };
    int nt = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t\r", &save); t && nt < 8; t = strtok_r(NULL, " \t\r", &save))
        tok[nt++] = t;
    if (nt == 0) return;
    const char *c = tok[0];
    long i = -1, j = -1, v = 0;
    double p = 0;
    bool need_dongle = !strcmp(c, "reboot") || !strcmp(c, "unplug") || !strcmp(c, "replug") || !strcmp(c, "ber") ||
                       !strcmp(c, "drop") || !strcmp(c, "baud");
    bool power = !strcmp(c, "reboot") || !strcmp(c, "unplug") || !strcmp(c, "replug");
    if (power && parse_int(tok[1], 0, NR - 1, &i) && fw(&R[i])) {
        int reason = RST_EXT;
        for (int k = 0; tok[2] && k < (int)(sizeof reason_names / sizeof *reason_names); k++)
            if (!strcmp(tok[2], reason_names[k])) reason = k;
        const char *e = fw_control(&R[i], c, reason);
        if (e) reply(fd, "ERR %s: %s", c, e);
        else reply(fd, "OK");
        return;
    }
    if (need_dongle && !parse_int(tok[1], 0, C.ndongles - 1, &i)) {
        reply(fd, "ERR %s: dongle index must be 0..%d (or a firmware node for reboot/unplug/replug)", c, C.ndongles - 1);
        return;
    }
    uint64_t now = now_us();
    if (!strcmp(c, "help")) {
        reply(fd, "OK commands: reboot I [REASON], unplug I, replug I, ber I h2d|d2h|both RATE, drop I h2d|d2h|both P, "
                  "baud I RATE, loss-burst MS, leakage on|off, rssi I J DBM, loss I J P, stats, help");
    } else if (!strcmp(c, "reboot")) {
        radio_t *r = &R[i];
        int reason = RST_EXT;
        if (tok[2]) {
            reason = -1;
            for (int k = 0; k < (int)(sizeof reason_names / sizeof *reason_names); k++)
                if (!strcmp(tok[2], reason_names[k])) reason = k;
            if (reason < 0) {
                reply(fd, "ERR reboot: unknown reset reason '%s' (poweron ext sw panic int_wdt task_wdt wdt brownout)", tok[2]);
                return;
            }
        }
        if (!r->plugged) {
            reply(fd, "ERR reboot: dongle %ld is unplugged", i);
            return;
        }
        kill_wait(r);
        r->boot_count++;
        r->event = "reboot";
        if (spawn(r, reason) != 0) reply(fd, "ERR reboot: cannot start dongle %ld", i);
        else reply(fd, "OK");
    } else if (!strcmp(c, "unplug")) {
        radio_t *r = &R[i];
        if (!r->plugged) {
            reply(fd, "ERR unplug: dongle %ld is already unplugged", i);
            return;
        }
        kill_wait(r);                               /* USB-powered: no power, no radio */
        close_pty(r);
        emit("{\"event\":\"unplug\",\"index\":%ld}\n", i);
        reply(fd, "OK");
    } else if (!strcmp(c, "replug")) {
        radio_t *r = &R[i];
        if (r->plugged) {
            reply(fd, "ERR replug: dongle %ld is plugged in", i);
            return;
        }
        if (open_pty(r) != 0) {
            reply(fd, "ERR replug: cannot open a pty: %s", strerror(errno));
            return;
        }
        r->boot_count++;
        r->event = "replug";
        if (spawn(r, RST_POWERON) != 0) reply(fd, "ERR replug: cannot start dongle %ld", i);
        else reply(fd, "OK");
    } else if (!strcmp(c, "ber") || !strcmp(c, "drop")) {
        int d0, d1;
        if (!dir_arg(tok[2], &d0, &d1) || !parse_prob(tok[3], &p)) {
            reply(fd, "ERR %s: usage: %s I h2d|d2h|both PROBABILITY (0..1)", c, c);
            return;
        }
        for (int d = d0; d <= d1; d++) {
            if (c[0] == 'b') R[i].cfg->ber[d] = p;
            else R[i].cfg->drop[d] = p;
        }
        reply(fd, "OK");
    } else if (!strcmp(c, "baud")) {
        if (!parse_int(tok[2], 0, 5000000, &v) || (v != 0 && v < 9600)) {
            reply(fd, "ERR baud: RATE must be 0 (no pacing) or 9600..5000000");
            return;
        }
        R[i].baud = (uint32_t)v;                    /* pacing only; HELLO keeps what the dongle booted with */
        R[i].baud_after = 0;
        reply(fd, "OK");
    } else if (!strcmp(c, "loss-burst")) {
        if (!parse_int(tok[1], 0, 3600000, &v)) {
            reply(fd, "ERR loss-burst: MS must be 0..3600000");
            return;
        }
        s_burst_until = now + (uint64_t)v * 1000u;
        reply(fd, "OK");
    } else if (!strcmp(c, "leakage")) {
        if (!tok[1] || (strcmp(tok[1], "on") && strcmp(tok[1], "off"))) {
            reply(fd, "ERR leakage: on or off");
            return;
        }
        C.leakage = !strcmp(tok[1], "on");
        reply(fd, "OK");
    } else if (!strcmp(c, "rssi") || !strcmp(c, "loss")) {
        bool ok = parse_int(tok[1], 0, NR - 1, &i) && parse_int(tok[2], 0, NR - 1, &j) && i != j;
        if (ok && c[1] == 's') ok = parse_int(tok[3], -127, 0, &v);
        else if (ok) ok = parse_prob(tok[3], &p);
        if (!ok) {
            reply(fd, "ERR %s: usage: %s I J %s with radios 0..%d, I != J", c, c, c[1] == 's' ? "DBM (-127..0)" : "P (0..1)",
                  NR - 1);
            return;
        }
        if (c[1] == 's') C.rssi[i][j] = C.rssi[j][i] = (int8_t)v;
        else C.loss[i][j] = C.loss[j][i] = p;
        reply(fd, "OK");
    } else if (!strcmp(c, "stats")) {
        static char buf[(1 << 16) - 16];          /* 64 radios need about 30 kB */
        stats_json(buf, sizeof buf);
        reply(fd, "OK %s", buf);
    } else {
        reply(fd, "ERR unknown command '%s' (try help)", c);
    }
}

static int control_open(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) return -ENAMETOOLONG;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    snprintf(s_control, sizeof s_control, "%s", path);
    return fd;
}

static void control_read(int k)
{
    int fd = s_cli[k].fd;
    ssize_t n = read(fd, s_cli[k].buf + s_cli[k].len, sizeof s_cli[k].buf - 1 - s_cli[k].len);
    if (n <= 0) {
        close(fd);
        s_cli[k].fd = -1;
        return;
    }
    s_cli[k].len += (size_t)n;
    char *nl;
    while ((nl = memchr(s_cli[k].buf, '\n', s_cli[k].len)) != NULL) {
        *nl = '\0';
        control_cmd(fd, s_cli[k].buf);
        size_t used = (size_t)(nl - s_cli[k].buf) + 1;
        memmove(s_cli[k].buf, nl + 1, s_cli[k].len - used);
        s_cli[k].len -= used;
    }
    if (s_cli[k].len == sizeof s_cli[k].buf - 1) {
        reply(fd, "ERR line too long (max %zu bytes)", sizeof s_cli[k].buf - 2);
        s_cli[k].len = 0;
    }
}

/* ------------------------------------------------------------ command line */

static void on_signal(int sig)
{
    if (sig == SIGCHLD) s_chld = 1;
    else s_quit = 1;
}

void coord_usage(FILE *f);
void coord_usage(FILE *f)
{
    fprintf(f,
            "coordinator: espnow-sim --dongles N [options]   or   espnow-sim --scene FILE [options]\n"
            "  Runs the simulated air and N dongles (one process each); prints one JSON line per radio\n"
            "  when ready: {\"index\":0,\"port\":\"/dev/pts/7\",\"link\":\"DIR/dongle0\",\"sta_mac\":..,\"ap_mac\":..,\n"
            "  \"pid\":N,\"channel\":1,\"boot_count\":1}; later lines carry \"event\" (reboot, replug, crash, unplug).\n"
            "  --dongles N             number of dongles (1..%d with the nodes)\n"
            "  --scene FILE            scene file (JSON, docs/SIMULATOR.md); flags given too override it\n"
            "  --seed S                MACs, loss and fault randomness (default 1)\n"
            "  --link-dir DIR          stable symlinks DIR/dongle0, DIR/dongle1, ... to the ports\n"
            "  --realtime              airtime elapses (default: instant, same ordering and ACK rules)\n"
            "  --control PATH          control socket (Unix stream, line commands; send 'help')\n"
            "  --channel C             channel every dongle's radio starts on (default 1)\n"
            "  --country CC            regulatory country of every dongle (default 01: channels 1..11)\n"
            "  --rssi DBM              RSSI of every link (default -40)\n"
            "  --loss P                frame loss probability of every link (default 0)\n"
            "  --leakage on|off        frames also heard on channel c+-1 (default off)\n"
            "  --leak-db N             attenuation of a neighbour-channel frame (default 20)\n"
            "  --retries N             unicast retransmissions after the first attempt (default 3)\n"
            "  --baud RATE             pace every serial link like a UART bridge (0 = pty speed; HELLO then\n"
            "                          reports transport UART and SET_BAUD works)\n"
            "  --ber-h2d P, --ber-d2h P      serial bit error probability per bit, host->dongle / dongle->host\n"
            "  --drop-h2d P, --drop-d2h P    serial byte drop probability\n"
            "  --ap SSID:PASSWORD:CHANNEL    an access point (repeatable; empty password = open)\n"
            "  --node SPEC             a scripted node (repeatable): echo[,channel=C] |\n"
            "                          sensor[,interval=MS][,to=MAC][,channel=C] | flood[,len=N][,rate=R][,to=MAC][,channel=C]\n"
            "  --node app=BINARY[,mac=MAC][,channel=C][,dir=DIR]\n"
            "                          a firmware node: an ESP-IDF app or Arduino sketch built by `espnow node build`\n"
            "                          (docs/NODES.md); without --realtime simulated time jumps whenever every\n"
            "                          firmware node is blocked; its console lines print as {\"node\":I,\"log\":..}\n",
            COORD_MAX_RADIOS);
}

static bool parse_node(const char *spec, radio_cfg_t *r, char *err, size_t cap)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    coord_radio_defaults(r);
    char *save = NULL;
    char *kind = strtok_r(buf, ",", &save);
    if (!kind) kind = "";
    if (!strncmp(kind, "app=", 4)) {
        r->kind = RADIO_FIRMWARE;
        if (snprintf(r->app, sizeof r->app, "%s", kind + 4) >= (int)sizeof r->app || !r->app[0] ||
            access(r->app, X_OK) != 0) {
            snprintf(err, cap, "--node app=%s: not an executable (build one with `espnow node build`)", kind + 4);
            return false;
        }
        kind = "app";
    } else if (!strcmp(kind, "echo")) r->kind = RADIO_ECHO;
    else if (!strcmp(kind, "sensor")) r->kind = RADIO_SENSOR;
    else if (!strcmp(kind, "flood")) r->kind = RADIO_FLOOD;
    else {
        snprintf(err, cap, "--node: unknown script '%s' (echo, sensor, flood)", kind);
        return false;
    }
    for (char *kv = strtok_r(NULL, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        long v;
        if (!eq) {
            snprintf(err, cap, "--node %s: '%s' is not key=value", kind, kv);
            return false;
        }
        *eq = '\0';
        const char *val = eq + 1;
        bool ok = true;
        if (!strcmp(kv, "channel")) ok = parse_int(val, 1, 14, &v) && (r->channel = (uint8_t)v);
        else if (!strcmp(kv, "interval")) ok = parse_int(val, 1, 3600000, &v) && (r->interval_ms = (uint32_t)v);
        else if (!strcmp(kv, "len")) ok = parse_int(val, 1, 1470, &v) && (r->len = (uint16_t)v);
        else if (!strcmp(kv, "rate")) ok = parse_int(val, 0, 255, &v) && sim_rate_known((uint8_t)v) && ((r->rate = (uint8_t)v), true);
        else if (r->kind == RADIO_FIRMWARE && !strcmp(kv, "mac")) ok = coord_parse_mac(val, r->sta) && (r->have_sta = true);
        else if (r->kind == RADIO_FIRMWARE && !strcmp(kv, "dir"))
            ok = snprintf(r->dir, sizeof r->dir, "%s", val) < (int)sizeof r->dir;
        else if (!strcmp(kv, "to")) {
            ok = !strcmp(val, "broadcast") || coord_parse_mac(val, r->to);
            r->to_broadcast = !strcmp(val, "broadcast");
        } else {
            snprintf(err, cap, "--node %s: unknown key '%s' (%s)", kind, kv,
                     r->kind == RADIO_FIRMWARE ? "mac, channel, dir" : "channel, interval, len, rate, to");
            return false;
        }
        if (!ok) {
            snprintf(err, cap, "--node %s: bad value '%s' for %s", kind, val, kv);
            return false;
        }
    }
    return true;
}

static bool parse_ap(const char *spec, ap_cfg_t *a, char *err, size_t cap)
{
    const char *c1 = strchr(spec, ':');
    const char *c2 = c1 ? strrchr(spec, ':') : NULL;
    long ch;
    memset(a, 0, sizeof *a);
    if (!c1 || c2 == c1 || (size_t)(c1 - spec) > 32 || (size_t)(c2 - c1 - 1) > 64 || c1 == spec ||
        !parse_int(c2 + 1, 1, 14, &ch)) {
        snprintf(err, cap, "--ap '%s': want SSID:PASSWORD:CHANNEL (SSID 1..32 bytes, password 0..64, channel 1..14)", spec);
        return false;
    }
    memcpy(a->ssid, spec, (size_t)(c1 - spec));
    memcpy(a->password, c1 + 1, (size_t)(c2 - c1 - 1));
    if (a->password[0] && strlen(a->password) < 8) {
        snprintf(err, cap, "--ap '%s': a WPA2 password has at least 8 characters (empty = open)", spec);
        return false;
    }
    a->channel = (uint8_t)ch;
    a->rssi = -55;
    return true;
}

static void cfg_defaults(void)
{
    memset(&C, 0, sizeof C);
    C.seed = 1;
    C.leak_db = 20;
    C.default_rssi = -40;
    C.retries = 3;
    memcpy(C.country, "01", 3);
    for (int i = 0; i < COORD_MAX_RADIOS; i++) coord_radio_defaults(&C.radios[i]);
}

/* Deterministic distinct MACs: locally administered 02:5e:<seed hash 2 bytes>:<index>:00 (AP :01). */
static void assign_macs(void)
{
    uint64_t h = C.seed * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    for (int i = 0; i < C.ndongles + C.nnodes; i++) {
        radio_cfg_t *r = &C.radios[i];
        if (!r->have_sta) {
            uint8_t m[6] = { 0x02, 0x5e, (uint8_t)(h >> 8), (uint8_t)(h >> 16), (uint8_t)i, 0x00 };
            memcpy(r->sta, m, 6);
        }
        if (!r->have_ap) {
            memcpy(r->ap, r->sta, 6);
            for (int k = 5; k >= 3; k--) {
                if (++r->ap[k] != 0) break;
            }
        }
    }
    for (int i = 0; i < C.naps; i++) {
        uint8_t b[6] = { 0x02, 0xa9, (uint8_t)(h >> 24), (uint8_t)(h >> 32), 0x00, (uint8_t)i };
        memcpy(C.aps[i].bssid, b, 6);
    }
}

static bool check_macs(char *err, size_t cap)
{
    int n = C.ndongles + C.nnodes;
    for (int i = 0; i < n; i++) {
        const radio_cfg_t *a = &C.radios[i];
        if ((a->sta[0] & 1) || (a->ap[0] & 1) || !memcmp(a->sta, a->ap, 6)) {
            snprintf(err, cap, "radio %d: STA and AP MACs must be distinct unicast addresses", i);
            return false;
        }
        for (int j = i + 1; j < n; j++) {
            const radio_cfg_t *b = &C.radios[j];
            if (!memcmp(a->sta, b->sta, 6) || !memcmp(a->sta, b->ap, 6) || !memcmp(a->ap, b->sta, 6) ||
                !memcmp(a->ap, b->ap, 6)) {
                snprintf(err, cap, "radios %d and %d share a MAC address", i, j);
                return false;
            }
        }
    }
    return true;
}

static int fail(const char *msg)
{
    fprintf(stderr, "espnow-sim: %s\n", msg);
    return 2;
}

static void cleanup(void)
{
    for (int i = 0; i < NR; i++) {
        if (R[i].pid > 0 && fw(&R[i])) fw_kill(&R[i]);
        if (R[i].fw_log) fclose(R[i].fw_log);
        R[i].fw_log = NULL;
    }
    for (int i = 0; i < C.ndongles; i++) {
        if (R[i].pid > 0) kill(R[i].pid, SIGTERM);
    }
    for (int i = 0; i < C.ndongles; i++) {
        if (R[i].pid > 0) {
            while (waitpid(R[i].pid, NULL, 0) < 0 && errno == EINTR) {
            }
            R[i].pid = -1;
        }
        close_pty(&R[i]);
    }
    if (s_control[0]) unlink(s_control);
    fw_cleanup();
    for (int ch = 1; ch <= 14; ch++) {
        while (s_ch[ch].head) {
            req_t *q = s_ch[ch].head;
            s_ch[ch].head = q->next;
            free(q);
        }
    }
    for (int i = 0; i < NR; i++) {
        free(R[i].fw_q.b);
        free(R[i].q[0].b);
        free(R[i].q[1].b);
    }
}

int coord_main(int argc, char **argv)
{
    char err[512];
    /* The program that started us goes away: so do we, and our dongles with us. A pidfd
     * watches the parent process (PR_SET_PDEATHSIG would follow the parent's thread, and
     * a test's spawning thread may end long before the test does). */
    s_parent_fd = (int)syscall(SYS_pidfd_open, getppid(), 0);
    cfg_defaults();
    const char *scene = NULL, *control = NULL;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--scene")) scene = argv[i + 1];
    }
    if (scene && !scene_load(scene, &C, err, sizeof err)) return fail(err);
    double ber[2] = { -1, -1 }, drop[2] = { -1, -1 }, loss = -1;
    long baud = -1, channel = -1, rssi = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        bool ok = true, takes = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            coord_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--realtime")) {
            C.realtime = true;
            takes = false;
        } else if (!v) {
            snprintf(err, sizeof err, "%s needs a value (see --help)", a);
            return fail(err);
        } else if (!strcmp(a, "--dongles")) {
            ok = parse_int(v, 1, COORD_MAX_RADIOS, &n);
            if (ok) C.ndongles = (int)n;
        } else if (!strcmp(a, "--scene")) {
        } else if (!strcmp(a, "--seed")) {
            ok = parse_int(v, 0, 0x7fffffffL, &n);
            if (ok) C.seed = (uint64_t)n;
        } else if (!strcmp(a, "--link-dir")) {
            s_link_dir = v;
        } else if (!strcmp(a, "--control")) {
            control = v;
        } else if (!strcmp(a, "--channel")) {
            ok = parse_int(v, 1, 14, &channel);
        } else if (!strcmp(a, "--country")) {
            ok = strlen(v) == 2;
            if (ok) memcpy(C.country, v, 3);
        } else if (!strcmp(a, "--rssi")) {
            ok = parse_int(v, -127, 0, &rssi);
        } else if (!strcmp(a, "--loss")) {
            ok = parse_prob(v, &loss);
        } else if (!strcmp(a, "--leakage")) {
            ok = !strcmp(v, "on") || !strcmp(v, "off");
            C.leakage = !strcmp(v, "on");
        } else if (!strcmp(a, "--leak-db")) {
            ok = parse_int(v, 0, 100, &n);
            if (ok) C.leak_db = (int)n;
        } else if (!strcmp(a, "--retries")) {
            ok = parse_int(v, 0, 31, &n);
            if (ok) C.retries = (int)n;
        } else if (!strcmp(a, "--baud")) {
            ok = parse_int(v, 0, 5000000, &baud) && (baud == 0 || baud >= 9600);
        } else if (!strcmp(a, "--ber-h2d") || !strcmp(a, "--ber-d2h")) {
            ok = parse_prob(v, &ber[a[6] == 'd' ? DIR_D2H : DIR_H2D]);
        } else if (!strcmp(a, "--drop-h2d") || !strcmp(a, "--drop-d2h")) {
            ok = parse_prob(v, &drop[a[7] == 'd' ? DIR_D2H : DIR_H2D]);
        } else if (!strcmp(a, "--ap")) {
            if (C.naps >= COORD_MAX_APS) return fail("too many --ap (max 16)");
            if (!parse_ap(v, &C.aps[C.naps], err, sizeof err)) return fail(err);
            C.naps++;
        } else if (!strcmp(a, "--node")) {
            if (C.nnodes >= COORD_MAX_RADIOS) return fail("too many --node");
            /* nodes are stored after the dongles once the count is known */
            if (!parse_node(v, &C.radios[COORD_MAX_RADIOS - 1 - C.nnodes], err, sizeof err)) return fail(err);
            C.nnodes++;
        } else {
            snprintf(err, sizeof err, "unknown option %s (see --help)", a);
            return fail(err);
        }
        if (!ok) {
            snprintf(err, sizeof err, "bad value '%s' for %s (see --help)", v ? v : "", a);
            return fail(err);
        }
        if (takes) i++;
    }
    /* CLI nodes were parked at the end of the table; move them after the dongles/scene nodes. */
    int cli_nodes = 0;
    for (int k = 0; k < argc; k++) cli_nodes += argv[k] && !strcmp(argv[k], "--node");
    int scene_nodes = C.nnodes - cli_nodes;
    bool have_fw = false;
    for (int k = 0; k < C.nnodes; k++) have_fw |= C.radios[COORD_MAX_RADIOS - 1 - k].kind == RADIO_FIRMWARE;
    if (C.ndongles < 1 && !have_fw)
        return fail("at least one dongle or firmware node is needed (--dongles N, --node app=BINARY, or the scene)");
    if (C.ndongles + C.nnodes > COORD_MAX_RADIOS) {
        snprintf(err, sizeof err, "%d dongles + %d nodes: more than %d radios", C.ndongles, C.nnodes, COORD_MAX_RADIOS);
        return fail(err);
    }
    if (C.scene_has_links && C.ndongles != C.scene_dongles)
        return fail("--dongles changes the radio numbering the scene's links use; set the count in the scene");
    static radio_cfg_t parked[COORD_MAX_RADIOS];
    for (int k = 0; k < C.nnodes; k++) parked[k] = C.radios[COORD_MAX_RADIOS - 1 - k];
    for (int k = 0; k < C.nnodes; k++) C.radios[C.ndongles + k] = parked[k];
    (void)scene_nodes;
    for (int i = 0; i < C.ndongles; i++) {
        radio_cfg_t *r = &C.radios[i];
        r->kind = RADIO_DONGLE;
        if (channel > 0) r->channel = (uint8_t)channel;
        if (baud >= 0) r->baud = (uint32_t)baud;
        for (int d = 0; d < 2; d++) {
            if (ber[d] >= 0) r->ber[d] = ber[d];
            if (drop[d] >= 0) r->drop[d] = drop[d];
        }
    }
    if (rssi <= 0) C.default_rssi = (int8_t)rssi;
    NR = C.ndongles + C.nnodes;
    for (int i = 0; i < NR; i++) {
        for (int j = 0; j < NR; j++) {
            if (C.rssi[i][j] == 0) C.rssi[i][j] = C.default_rssi;   /* scene links set theirs (never 0 dBm) */
            if (loss >= 0) C.loss[i][j] = loss;
        }
    }
    assign_macs();
    if (!check_macs(err, sizeof err)) return fail(err);
    s_rng = C.seed * 0x2545F4914F6CDD1Dull + 0x9E3779B97F4A7C15ull;
    if (s_link_dir && mkdir(s_link_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, sizeof err, "--link-dir %s: %s", s_link_dir, strerror(errno));
        return fail(err);
    }
    ssize_t sl = readlink("/proc/self/exe", s_self, sizeof s_self - 1);
    if (sl <= 0) return fail("cannot find our own executable (/proc/self/exe)");
    s_self[sl] = '\0';

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t block, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &s_orig_mask);
    wait_mask = s_orig_mask;
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGHUP);
    sigdelset(&wait_mask, SIGCHLD);

    for (int k = 0; k < MAX_CLIENTS; k++) s_cli[k].fd = -1;
    if (control) {
        s_listen = control_open(control);
        if (s_listen < 0) {
            snprintf(err, sizeof err, "--control %s: %s", control, strerror(-s_listen));
            return fail(err);
        }
    }
    uint64_t now = now_us();
    s_t0 = now;
    int rc = 0;
    for (int i = 0; i < NR; i++) {
        radio_t *r = &R[i];
        r->idx = i;
        r->cfg = &C.radios[i];
        r->pid = -1;
        r->med_fd = r->ser_fd = r->master = r->slave = -1;
        memcpy(r->sta, r->cfg->sta, 6);
        memcpy(r->ap, r->cfg->ap, 6);
        r->channel = r->cfg->channel;
        if (fw(r)) {
            r->next_at = UINT64_MAX;
            fw_setup(r);
            continue;
        }
        if (r->cfg->kind != RADIO_DONGLE) {
            /* Scripted nodes: STA up on their channel, 11b/g/n, from the start. */
            r->started = true;
            r->active = 1;
            r->proto[0] = r->proto[1] = 7;
            r->next_at = r->cfg->kind == RADIO_ECHO ? UINT64_MAX : now;
            announce(r);
            continue;
        }
        r->boot_count = 1;
        int e = open_pty(r);
        if (e == 0) e = spawn(r, RST_POWERON);
        if (e != 0) {
            fprintf(stderr, "espnow-sim: cannot start dongle %d: %s\n", i, strerror(-e));
            rc = 1;
            s_quit = 1;
            break;
        }
    }

    struct pollfd fds[4 * COORD_MAX_RADIOS + MAX_CLIENTS + 2];
    int who[4 * COORD_MAX_RADIOS + MAX_CLIENTS + 2];
    while (!s_quit) {
        now = now_us();
        /* A dongle tells the medium of a state change before it answers its host, so a
         * frame another dongle sent after that answer must be judged against the new
         * state: take every message already queued by any dongle before judging frames
         * (one poll round alone would see only the sockets ready when it started). */
        for (int i = 0; i < C.ndongles; i++) {
            if (R[i].cfg->kind == RADIO_DONGLE && R[i].med_fd >= 0) read_medium(&R[i], now);
        }
        /* Instant mode: frames of a running firmware node go on the air once it blocks. */
        bool hold = !C.realtime && fw_any_running();
        if (!hold) medium_run(now);
        uint64_t next = nodes_run(now);                 /* may put frames on the air */
        uint64_t t = hold ? UINT64_MAX : medium_next();
        if (t < next) next = t;
        fw_release();
        t = fw_step(now);
        if (t < next) next = t;
        int nf = 0;
        for (int i = 0; i < C.ndongles; i++) {
            radio_t *r = &R[i];
            for (int d = 0; d < 2; d++) {
                int out = d == DIR_H2D ? r->ser_fd : r->master;
                uint64_t ready = relay_out(r, d, out, now);
                if (ready < next) next = ready;
            }
            if (r->med_fd >= 0) { fds[nf] = (struct pollfd){ r->med_fd, POLLIN, 0 }; who[nf++] = i * 4; }
            if (r->ser_fd >= 0) {
                short ev = r->q[DIR_D2H].len < d2h_cap(r) ? POLLIN : 0;
                if (r->q[DIR_H2D].len && now >= r->free_at[DIR_H2D]) ev |= POLLOUT;
                fds[nf] = (struct pollfd){ r->ser_fd, ev, 0 };
                who[nf++] = i * 4 + 1;
            }
            if (r->master >= 0) {
                short ev = r->q[DIR_H2D].len < QCAP_MAX ? POLLIN : 0;
                if (r->q[DIR_D2H].len && now >= r->free_at[DIR_D2H]) ev |= POLLOUT;
                fds[nf] = (struct pollfd){ r->master, ev, 0 };
                who[nf++] = i * 4 + 2;
            }
        }
        nf = fw_fds(fds, who, nf);
        if (s_listen >= 0) { fds[nf] = (struct pollfd){ s_listen, POLLIN, 0 }; who[nf++] = -1; }
        if (s_parent_fd >= 0) { fds[nf] = (struct pollfd){ s_parent_fd, POLLIN, 0 }; who[nf++] = WHO_PARENT; }
        for (int k = 0; k < MAX_CLIENTS; k++) {
            if (s_cli[k].fd >= 0) { fds[nf] = (struct pollfd){ s_cli[k].fd, POLLIN, 0 }; who[nf++] = -2 - k; }
        }
        struct timespec ts, *tp = NULL;
        if (next != UINT64_MAX) {
            uint64_t w = next > now ? next - now : 0;
            ts.tv_sec = (time_t)(w / 1000000u);
            ts.tv_nsec = (long)(w % 1000000u) * 1000L;
            tp = &ts;
        }
        int n = ppoll(fds, (nfds_t)nf, tp, &wait_mask);
        if (n < 0 && errno != EINTR) {
            perror("espnow-sim: ppoll");
            rc = 1;
            break;
        }
        if (s_quit) break;
        s_quiet = n == 0 && tp != NULL && tp->tv_sec == 0 && tp->tv_nsec == 0;
        if (s_chld) {
            s_chld = 0;
            reap();
        }
        now = now_us();
        for (int k = 0; n > 0 && k < nf; k++) {
            if (!fds[k].revents) continue;
            if (who[k] == WHO_PARENT) {
                s_quit = 1;                     /* the parent exited: clean up as for SIGTERM */
                continue;
            }
            if (who[k] == -1) {
                int c = accept4(s_listen, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0) continue;
                int slot = -1;
                for (int q = 0; q < MAX_CLIENTS; q++) if (s_cli[q].fd < 0) slot = q;
                if (slot < 0) {
                    reply(c, "ERR too many control clients (max %d)", MAX_CLIENTS);
                    close(c);
                    continue;
                }
                s_cli[slot].fd = c;
                s_cli[slot].len = 0;
                continue;
            }
            if (who[k] <= -2) {
                control_read(-2 - who[k]);
                continue;
            }
            radio_t *r = &R[who[k] / 4];
            int role = who[k] % 4;
            if (role == 3) {
                fw_console(r);
            } else if (role == 0 && fds[k].fd == r->med_fd) {
                read_medium(r, now);
            } else if (role == 1 && fds[k].fd == r->ser_fd) {
                if (fds[k].revents & POLLIN) read_serial(r);
            } else if (role == 2 && fds[k].fd == r->master && (fds[k].revents & POLLIN)) {
                uint8_t buf[4096];
                ssize_t got = read(r->master, buf, sizeof buf);
                if (got > 0) {
                    size_t m = (size_t)got;
                    apply_faults(r, DIR_H2D, buf, &m);
                    if (r->ser_fd >= 0) bq_push(&r->q[DIR_H2D], buf, m);
                }
            }
        }
    }
    cleanup();
    return rc;
}
