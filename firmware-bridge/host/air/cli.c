/* The coordinator's command line: radios, nodes, access points, MACs and the
 * link directory lock. */
#include "coord_int.h"

/* ------------------------------------------------------------ command line */

void on_signal(int sig)
{
    if (sig == SIGCHLD) s_chld = 1;
    else s_quit = 1;
}

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

bool parse_node(const char *spec, radio_cfg_t *r, char *err, size_t cap)
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

bool parse_ap(const char *spec, ap_cfg_t *a, char *err, size_t cap)
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

void cfg_defaults(void)
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
void assign_macs(void)
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

bool check_macs(char *err, size_t cap)
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

/* One simulator per --link-dir: a second one would repoint the links and delete them on
 * exit. DIR/.lock holds the owner's pid under flock (released when the process ends). */

bool lock_link_dir(char *err, size_t n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", s_link_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, n, "--link-dir %s: cannot create %s: %s", s_link_dir, path, strerror(errno));
        return false;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t r = pread(fd, pid, sizeof pid - 1, 0);
        pid[r > 0 ? r : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, n, "link dir %s in use by pid %s", s_link_dir, pid[0] ? pid : "?");
        close(fd);
        return false;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        snprintf(err, n, "--link-dir %s: cannot write %s: %s", s_link_dir, path, strerror(errno));
        close(fd);
        return false;
    }
    snprintf(s_link_lock, sizeof s_link_lock, "%s", path);
    return true;  /* fd stays open: the lock lives as long as this process */
}
