/* Dongle processes: each dongle is this program run again as a child, its
 * serial link relayed through a pty the coordinator owns. */
#include "coord_int.h"

/* ------------------------------------------------------------ dongle processes */


static void relay_reset(radio_t *r)
{
    for (int d = 0; d < 2; d++) {
        r->q[d].len = 0;
        r->free_at[d] = 0;
    }
    r->baud = r->cfg->baud;
    r->baud_after = 0;
}

int spawn(radio_t *r, int reason)
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

void process_gone(radio_t *r)
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

void kill_wait(radio_t *r)
{
    if (r->pid <= 0) return;
    r->expect_exit = true;
    kill(r->pid, SIGKILL);
    while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    process_gone(r);
}

int open_pty(radio_t *r)
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

void close_pty(radio_t *r)
{
    if (r->link[0]) unlink(r->link);
    r->link[0] = '\0';
    if (r->master >= 0) close(r->master);
    if (r->slave >= 0) close(r->slave);
    r->master = r->slave = -1;
    r->plugged = false;
}

void reap(void)
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

/* ------------------------------------------------------------ serial relay */

void apply_faults(radio_t *r, int dir, uint8_t *d, size_t *n)
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
uint64_t relay_out(radio_t *r, int dir, int fd, uint64_t now)
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
size_t d2h_cap(const radio_t *r) { return r->baud ? 256u : QCAP_MAX; }

void read_serial(radio_t *r)
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

void read_medium(radio_t *r, uint64_t now)
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
