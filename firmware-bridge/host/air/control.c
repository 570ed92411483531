/* The control socket: line commands that unplug, reset or fault a radio and
 * report counters. */
#include "coord_int.h"

/* ------------------------------------------------------------ control socket */

void reply(int fd, const char *fmt, ...)
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

bool parse_int(const char *s, long lo, long hi, long *out)
{
    char *e;
    errno = 0;
    long v = s ? strtol(s, &e, 10) : 0;
    if (!s || errno || e == s || *e || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool parse_prob(const char *s, double *out)
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
const char *reason_name(int k)
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

int control_open(const char *path)
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

void control_read(int k)
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
