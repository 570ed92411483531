#include "coord_int.h"

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


bool fw(const radio_t *r) { return r->cfg && r->cfg->kind == RADIO_FIRMWARE; }

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
bool fw_send_raw(radio_t *r, const uint8_t *b, size_t n)
{
    if (r->med_fd < 0) return false;
    if (C.realtime || (r->fw_q.len == 0 && !fw_other_running(r))) return fw_send_now(r, b, n);
    uint8_t len[2] = { (uint8_t)n, (uint8_t)(n >> 8) };
    return bq_push(&r->fw_q, len, 2) && bq_push(&r->fw_q, b, n);
}

bool fw_any_running(void) { return fw_other_running(NULL); }

/* Lets the lowest-numbered node with held messages run, when none runs. */
void fw_release(void)
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
void fw_clock(radio_t *r)
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

void fw_console(radio_t *r)
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

void fw_msg(radio_t *r, const uint8_t *buf, size_t n)
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
void fw_exited(radio_t *r, int st)
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

void fw_kill(radio_t *r)
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
uint64_t fw_step(uint64_t now)
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

int fw_fds(struct pollfd *fds, int *who, int nf)
{
    for (int i = 0; i < NR; i++) {
        radio_t *r = &R[i];
        if (!fw(r)) continue;
        if (r->med_fd >= 0) { fds[nf] = (struct pollfd){ r->med_fd, POLLIN, 0 }; who[nf++] = i * 4; }
        if (r->fw_con >= 0) { fds[nf] = (struct pollfd){ r->fw_con, POLLIN, 0 }; who[nf++] = i * 4 + 3; }
    }
    return nf;
}

void fw_setup(radio_t *r)
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
void fw_cleanup(void)
{
    if (s_fw_tmp[0]) nftw(s_fw_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Control socket: reboot (reset pin), unplug (power off: RTC memory lost, NVS kept), replug. */
const char *fw_control(radio_t *r, const char *cmd, int reason)
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
