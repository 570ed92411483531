/* espnow-sim coordinator: the shared medium, N dongle processes, the serial
 * relay with its faults, scripted nodes and the control socket.
 *
 * One thread, one ppoll loop; every wait is bounded by the next deadline
 * (end of a frame on air, the next paced serial chunk, a node's timer).
 * This file holds the shared state, small helpers and the loop; coord_int.h
 * lists the other files. */
#include "coord_int.h"

coord_cfg_t C;
radio_t R[COORD_MAX_RADIOS];
int NR;
chan_t s_ch[15];
uint64_t s_rng;
uint64_t s_burst_until;
uint64_t s_frames, s_burst_lost;
const char *s_link_dir;
char s_control[108];
int s_listen = -1;
ctl_client_t s_cli[MAX_CLIENTS];
volatile sig_atomic_t s_quit, s_chld;
int s_parent_fd = -1;
char s_link_lock[4200];
char s_self[4096];
sigset_t s_orig_mask;
uint64_t s_vt = 1, s_t0;
bool s_quiet;
char s_fw_tmp[256];

/* ------------------------------------------------------------ helpers */

uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* xorshift64*: deterministic from --seed, so loss and faults repeat. */
uint64_t rnd64(void)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 2685821657736338717ull;
}
double rnd01(void) { return (double)(rnd64() >> 11) / 9007199254740992.0; }

void mac_str(const uint8_t m[6], char out[18])
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

bool bq_push(bq_t *q, const uint8_t *d, size_t n)
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
void bq_pop(bq_t *q, size_t n)
{
    memmove(q->b, q->b + n, q->len - n);
    q->len -= n;
}

uint8_t rate_proto(uint8_t r)
{
    if (r <= 0x07) return 1;            /* WIFI_PROTOCOL_11B */
    if (r <= 0x0F) return 2;            /* 11G */
    if (r <= 0x1F) return 4;            /* 11N */
    return 8;                           /* LR */
}

void emit(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

const char *kind_name(int k)
{
    static const char *n[] = { "dongle", "echo", "sensor", "flood", "firmware" };
    return k >= 0 && k <= RADIO_FIRMWARE ? n[k] : "?";
}

/* One JSON line per radio when it is ready (and again after reboot/replug). */
void announce(radio_t *r)
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

static int fail(const char *msg)
{
    fprintf(stderr, "espnow-sim: %s\n", msg);
    return 2;
}

static void cleanup(void)
{
    if (s_link_lock[0]) unlink(s_link_lock);
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
    if (s_link_dir && !lock_link_dir(err, sizeof err)) return fail(err);
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
