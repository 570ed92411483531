/* espnow-sim: one simulated bridge dongle. The bridge core runs against the
 * emulated ESP-IDF Wi-Fi/ESP-NOW API.
 *
 * Standalone (no --dongles/--scene): the host link is a pseudo-terminal and the
 * radio is a socket in the simulated air directory (sim_air.h). Prints one JSON
 * line on stdout once the port is ready:
 *   {"port":"/dev/pts/N","sta_mac":"..","ap_mac":"..","pid":N}
 * then runs until SIGINT/SIGTERM.
 *
 * With --dongles N or --scene FILE it is the coordinator (coord.c), which runs
 * the medium and starts every dongle as a child of this same program with
 * --medium-fd/--serial-fd: the link is then a stream socket to the coordinator
 * (which owns the pty) and the radio talks to the medium (sim_medium.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bridge_core.h"
#include "bridge_proto.h"
#include "esp_err.h"
#include "esp_idf_version.h"
#include "esp_mac.h"
#include "esp_system.h"
#include "esp_wifi.h"
#include "sim_air.h"
#include "sim_emu.h"
#include "coord.h"
#include "sim_medium.h"


#ifndef SIM_FW_MAJOR
#define SIM_FW_MAJOR 0
#define SIM_FW_MINOR 1
#define SIM_FW_PATCH 0
#endif
#define SIM_CHIP_MODEL 0x8000u        /* HELLO chip_model of the simulator */
#define SIM_TRANSPORT_PTY 3u
#define SIM_IDF_VERSION "v5.4.2-sim"

static volatile sig_atomic_t s_quit;
static char s_link_path[4096];
static int s_master = -1;
static bool s_restart;
static bool s_wake;
static int s_med_fd = -1;             /* child of the coordinator: the medium socket */
static uint32_t s_uart_baud;          /* child: the coordinator paces the link at this rate (UART bridge) */

/* ------------------------------------------------------------ port layer */

static size_t port_link_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(s_master, data + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;                         /* EAGAIN: the pty/socket buffer is full, the core retries */
    }
    return done;
}

static uint64_t port_now_us(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void port_restart(void *ctx)
{
    (void)ctx;
    s_restart = true;                  /* the loop reboots the emulation and the core */
}

static void med_tell(const sim_med_msg_t *m)
{
    uint8_t buf[64];
    size_t n = sim_med_encode(m, buf, sizeof buf);
    if (n > 0 && s_med_fd >= 0 && send(s_med_fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        fprintf(stderr, "espnow-sim: medium: %s\n", strerror(errno));
}

static esp_err_t port_set_baud(void *ctx, uint32_t baud)
{
    (void)ctx;
    if (s_uart_baud == 0 || s_med_fd < 0) return ESP_ERR_NOT_SUPPORTED;   /* a bare pty has no baud rate */
    /* The coordinator paces the link: the bytes already written (the SET_BAUD
     * response) go at the old rate, everything after at the new one. */
    sim_med_msg_t m = { .type = SIM_MED_BAUD, .baud = baud };
    med_tell(&m);
    s_uart_baud = baud;
    return ESP_OK;
}

static void port_notify(void *ctx)
{
    (void)ctx;
    s_wake = true;                     /* callbacks run in this thread: poll the core next */
}

/* The chip's RTC no-init memory: in-process restarts keep this; a dongle started by the
 * coordinator maps the coordinator's copy instead, which outlives the process. */
static br_persist_t s_rtc_noinit;

static br_port_t s_port = {
    .link_write = port_link_write,
    .now_us = port_now_us,
    .restart = port_restart,
    .set_baud = port_set_baud,
    .notify = port_notify,
    .ctx = NULL,
    .persist = &s_rtc_noinit,
};

/* How long the loop may sleep: the radio's next deadline or the core's (SET_BAUD revert). */
static int next_timeout_ms(void)
{
    int t = sim_emu_next_timeout_ms();
    int64_t c = br_core_next_timeout_us();
    if (c >= 0) {
        int cm = (int)((c + 999) / 1000);
        if (t < 0 || cm < t) t = cm;
    }
    return t;
}

/* Wi-Fi events -> bridge WIFI_EVENT (as main/app_main.c does on the chip). */
static void on_wifi_event(void *ctx, int32_t id, const void *data)
{
    (void)ctx;
    uint8_t primary = 0;
    wifi_second_chan_t second;
    esp_wifi_get_channel(&primary, &second);
    if (id == WIFI_EVENT_STA_CONNECTED) {
        br_core_wifi_event(1, primary, 0);
    } else if (id == WIFI_EVENT_STA_DISCONNECTED) {
        const wifi_event_sta_disconnected_t *d = data;
        br_core_wifi_event(2, primary, d ? d->reason : 0);
    } else if (id == WIFI_EVENT_HOME_CHANNEL_CHANGE) {
        const wifi_event_home_channel_change_t *c = data;
        br_core_wifi_event(3, c ? c->new_chan : primary, 0);
    }
    s_wake = true;
}

/* ------------------------------------------------------------ helpers */

static void on_signal(int sig)
{
    (void)sig;
    s_quit = 1;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;
    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6) return false;
    for (int i = 0; i < 6; i++) mac[i] = (uint8_t)v[i];
    return true;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max) return false;
    *out = v;
    return true;
}

static void mac_str(const uint8_t m[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void json_escape(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in && o + 7 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: espnow-sim [options]\n"
            "  --sta-mac aa:bb:cc:dd:ee:ff   factory STA MAC (default: locally administered, from the pid)\n"
            "  --ap-mac  aa:bb:cc:dd:ee:ff   factory soft-AP MAC (default: STA MAC + 1)\n"
            "  --air-dir DIR                 simulated air directory (default: per-user temp dir)\n"
            "  --link PATH                   create a symlink PATH -> the pty slave\n"
            "  --channel N                   channel the radio starts on (default 1)\n"
            "  --country CC                  regulatory country (default 01 = IDF default, channels 1..11)\n"
            "  --boot-count N                boot_count reported by the first HELLO (default 1)\n"
            "  --ack-timeout-ms N            unicast ACK timeout (default 5)\n"
            "  (--medium-fd, --serial-fd, --uart-baud and --reset-reason are set by the coordinator)\n\n");
    coord_usage(f);
}

/* One simulated boot: what main/app_main.c does on the chip (Wi-Fi initialised,
 * RAM storage, not started), then the core and its HELLO event. */
static void boot(br_identity_t *id, const char *country, uint32_t boot_count, esp_reset_reason_t reason)
{
    sim_emu_reboot();
    sim_emu_set_reset_reason(reason);
    wifi_init_config_t wcfg = WIFI_INIT_CONFIG_DEFAULT();
    esp_err_t e = esp_wifi_init(&wcfg);
    if (e == ESP_OK) e = esp_wifi_set_storage(WIFI_STORAGE_RAM);
    if (e == ESP_OK && country != NULL) e = esp_wifi_set_country_code(country, false);
    if (e != ESP_OK) {
        fprintf(stderr, "espnow-sim: Wi-Fi init failed: %s\n", esp_err_to_name(e));
        exit(1);
    }
    id->reset_reason = (uint8_t)esp_reset_reason();
    id->boot_count = boot_count;
    br_core_init(&s_port, id);
    br_core_emit_hello();
    sim_med_msg_t m = { .type = SIM_MED_BOOT, .boot_count = boot_count, .reset_reason = (uint8_t)reason };
    if (s_med_fd >= 0) med_tell(&m);
}

static void install_quit_signals(sigset_t *wait_mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* The quit signals are only delivered inside ppoll(), so a signal can never
     * slip in between the s_quit test and the wait. */
    sigset_t quit_set;
    sigemptyset(&quit_set);
    sigaddset(&quit_set, SIGINT);
    sigaddset(&quit_set, SIGTERM);
    sigaddset(&quit_set, SIGHUP);
    sigprocmask(SIG_BLOCK, &quit_set, wait_mask);
    sigdelset(wait_mask, SIGINT);
    sigdelset(wait_mask, SIGTERM);
    sigdelset(wait_mask, SIGHUP);
}

/* A dongle started by the coordinator: link = stream socket, radio = medium.
 * Exits when either socket hangs up (unplugged, or the coordinator is gone). */
static int child_main(const uint8_t sta[6], const uint8_t ap[6], int med_fd, int ser_fd, uint32_t uart_baud,
                      uint8_t channel, const char *country, uint32_t boots, int reset_reason)
{
    s_med_fd = med_fd;
    s_master = ser_fd;
    s_uart_baud = uart_baud;
    fcntl(ser_fd, F_SETFL, fcntl(ser_fd, F_GETFL) | O_NONBLOCK);
    fcntl(ser_fd, F_SETFD, FD_CLOEXEC);
    fcntl(med_fd, F_SETFD, FD_CLOEXEC);
    sim_emu_config_t cfg = { .use_medium = true, .medium_fd = med_fd, .home_channel = channel };
    memcpy(cfg.sta_mac, sta, 6);
    memcpy(cfg.ap_mac, ap, 6);
    sim_emu_configure(&cfg);
    sim_emu_set_event_handler(on_wifi_event, NULL);
    sigset_t wait_mask;
    install_quit_signals(&wait_mask);
    br_identity_t id = {
        .fw_major = SIM_FW_MAJOR, .fw_minor = SIM_FW_MINOR, .fw_patch = SIM_FW_PATCH,
        .chip_model = SIM_CHIP_MODEL,
        .transport = uart_baud ? 2u : SIM_TRANSPORT_PTY,     /* paced link: looks like a UART bridge */
        .baud = uart_baud,
        .idf_version = SIM_IDF_VERSION,
        .caps = BR_CAP_SIMULATED | (uart_baud ? BR_CAP_SET_BAUD : 0u),
    };
    boot(&id, country, boots, (esp_reset_reason_t)reset_reason);
    uint8_t buf[4096];
    while (!s_quit && !sim_emu_medium_lost()) {
        struct pollfd fds[2] = {
            { .fd = ser_fd, .events = POLLIN | (br_core_tx_pending() ? POLLOUT : 0) },
            { .fd = med_fd, .events = POLLIN },
        };
        int timeout = s_wake ? 0 : next_timeout_ms();
        struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000L };
        int n = ppoll(fds, 2, timeout < 0 ? NULL : &ts, &wait_mask);
        if (n < 0 && errno != EINTR) break;
        s_wake = false;
        if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP))) {
            ssize_t got = read(ser_fd, buf, sizeof buf);
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) break;   /* link gone */
            if (got > 0) {
                br_core_feed(buf, (size_t)got);
                br_core_poll();
            }
        }
        sim_emu_poll();
        br_core_poll();
        if (s_restart) {
            s_restart = false;
            boots++;
            if (s_uart_baud != uart_baud) {
                /* app_main configures the UART at its build rate again: the line follows. */
                sim_med_msg_t m = { .type = SIM_MED_BAUD, .baud = uart_baud };
                med_tell(&m);
            }
            s_uart_baud = uart_baud;
            boot(&id, country, boots, ESP_RST_SW);
            s_wake = true;
        }
    }
    sim_emu_shutdown();
    return 0;
}

int main(int argc, char **argv)
{
    uint8_t sta[6], ap[6];
    bool have_sta = false, have_ap = false;
    char air_dir[SIM_AIR_PATH_MAX] = "";
    const char *link = NULL, *country = NULL;
    unsigned long channel = 1, boot_count = 1, ack_ms = 5;
    unsigned long med_fd = 0, ser_fd = 0, uart_baud = 0, reset_reason = ESP_RST_POWERON;
    bool child = false;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--version")) {
            printf("espnow-sim (bridge protocol %u, ESP-IDF emulation %d.%d.%d)\n", (unsigned)BR_PROTO_VERSION,
                   ESP_IDF_VERSION_MAJOR, ESP_IDF_VERSION_MINOR, ESP_IDF_VERSION_PATCH);
            return 0;
        }
        if (!strcmp(argv[i], "--dongles") || !strcmp(argv[i], "--scene") || !strcmp(argv[i], "--node"))
            return coord_main(argc, argv);
    }
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--sta-mac")) {
            ok = ok && parse_mac(v, sta);
            have_sta = true;
        } else if (!strcmp(a, "--ap-mac")) {
            ok = ok && parse_mac(v, ap);
            have_ap = true;
        } else if (!strcmp(a, "--air-dir")) {
            ok = ok && strlen(v) < sizeof air_dir - 20;
            if (ok) snprintf(air_dir, sizeof air_dir, "%s", v);
        } else if (!strcmp(a, "--link")) {
            link = v;
        } else if (!strcmp(a, "--channel")) {
            ok = ok && parse_uint(v, 14, &channel) && channel >= 1;
        } else if (!strcmp(a, "--country")) {
            ok = ok && strlen(v) == 2;
            country = v;
        } else if (!strcmp(a, "--boot-count")) {
            ok = ok && parse_uint(v, 0xffffffffUL, &boot_count);
        } else if (!strcmp(a, "--ack-timeout-ms")) {
            ok = ok && parse_uint(v, 10000, &ack_ms) && ack_ms >= 1;
        } else if (!strcmp(a, "--medium-fd")) {          /* internal: started by the coordinator */
            ok = ok && parse_uint(v, 1023, &med_fd) && med_fd >= 3;
            child = true;
        } else if (!strcmp(a, "--serial-fd")) {
            ok = ok && parse_uint(v, 1023, &ser_fd) && ser_fd >= 3;
            child = true;
        } else if (!strcmp(a, "--uart-baud")) {
            ok = ok && parse_uint(v, 5000000, &uart_baud);
        } else if (!strcmp(a, "--reset-reason")) {
            ok = ok && parse_uint(v, 255, &reset_reason);
        } else if (!strcmp(a, "--persist-fd")) {          /* internal: the coordinator's RTC memory */
            unsigned long pfd = 0;
            ok = ok && parse_uint(v, 1023, &pfd) && pfd >= 3;
            if (ok) {
                void *mem = mmap(NULL, sizeof(br_persist_t), PROT_READ | PROT_WRITE, MAP_SHARED, (int)pfd, 0);
                if (mem != MAP_FAILED) s_port.persist = mem;
                close((int)pfd);
            }
        } else {
            fprintf(stderr, "espnow-sim: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "espnow-sim: bad or missing value for %s\n", a);
            return 2;
        }
    }
    if (!have_sta) {
        /* Locally administered unicast MAC, unique per process. */
        pid_t pid = getpid();
        uint32_t t = (uint32_t)port_now_us(NULL);
        sta[0] = 0x02; sta[1] = 0x5e;
        sta[2] = (uint8_t)(t >> 8); sta[3] = (uint8_t)(pid >> 16); sta[4] = (uint8_t)(pid >> 8); sta[5] = (uint8_t)(pid & 0xfe);
    }
    if (!have_ap) {
        /* ESP32 universal MAC scheme: soft-AP = STA + 1. */
        memcpy(ap, sta, 6);
        for (int i = 5; i >= 3; i--) {
            if (++ap[i] != 0) break;
        }
    }
    if ((sta[0] & 1) || (ap[0] & 1) || memcmp(sta, ap, 6) == 0) {
        fprintf(stderr, "espnow-sim: STA and AP MACs must be distinct unicast addresses\n");
        return 2;
    }
    if (child && (med_fd == 0 || ser_fd == 0)) {
        fprintf(stderr, "espnow-sim: --medium-fd and --serial-fd go together (they are set by the coordinator)\n");
        return 2;
    }
    if (child) return child_main(sta, ap, (int)med_fd, (int)ser_fd, (uint32_t)uart_baud, (uint8_t)channel, country,
                                 (uint32_t)boot_count, (int)reset_reason);
    if (air_dir[0] == '\0') sim_air_default_dir(air_dir, sizeof air_dir);

    /* Pseudo-terminal: the slave is the dongle's serial port. */
    s_master = posix_openpt(O_RDWR | O_NOCTTY);
    if (s_master < 0 || grantpt(s_master) != 0 || unlockpt(s_master) != 0) {
        perror("espnow-sim: pty");
        return 1;
    }
    const char *slave_name = ptsname(s_master);
    if (slave_name == NULL) {
        perror("espnow-sim: ptsname");
        return 1;
    }
    char port[256];
    snprintf(port, sizeof port, "%s", slave_name);
    /* Keep a slave descriptor open ourselves: the master then never sees a hangup
     * when the host closes and reopens the port. */
    int slave = open(port, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) {
        perror("espnow-sim: open pty slave");
        return 1;
    }
    struct termios tio;
    if (tcgetattr(slave, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(slave, TCSANOW, &tio);
    }
    fcntl(s_master, F_SETFL, fcntl(s_master, F_GETFL) | O_NONBLOCK);
    fcntl(s_master, F_SETFD, FD_CLOEXEC);

    sim_emu_config_t cfg = {
        .air_dir = air_dir,
        .ack_timeout_us = (uint32_t)ack_ms * 1000u,
        .home_channel = (uint8_t)channel,
    };
    memcpy(cfg.sta_mac, sta, 6);
    memcpy(cfg.ap_mac, ap, 6);
    int r = sim_emu_configure(&cfg);
    if (r != 0) {
        fprintf(stderr, "espnow-sim: cannot join the air in %s: %s\n", air_dir, strerror(-r));
        return 1;
    }
    sim_emu_set_event_handler(on_wifi_event, NULL);

    if (link != NULL) {
        snprintf(s_link_path, sizeof s_link_path, "%s", link);
        unlink(s_link_path);
        if (symlink(port, s_link_path) != 0) {
            fprintf(stderr, "espnow-sim: symlink %s: %s\n", s_link_path, strerror(errno));
            s_link_path[0] = '\0';
            sim_emu_shutdown();
            return 1;
        }
    }

    sigset_t wait_mask;
    install_quit_signals(&wait_mask);

    br_identity_t id = {
        .fw_major = SIM_FW_MAJOR, .fw_minor = SIM_FW_MINOR, .fw_patch = SIM_FW_PATCH,
        .chip_model = SIM_CHIP_MODEL,
        .chip_revision = 0,
        .transport = SIM_TRANSPORT_PTY,
        .baud = 0,
        .idf_version = SIM_IDF_VERSION,
        .caps = BR_CAP_SIMULATED,
    };
    uint32_t boots = (uint32_t)boot_count;
    boot(&id, country, boots, ESP_RST_POWERON);
    wifi_country_t ctry;
    if (esp_wifi_get_country(&ctry) == ESP_OK &&
        (channel < ctry.schan || channel >= (unsigned long)ctry.schan + ctry.nchan)) {
        fprintf(stderr, "espnow-sim: --channel %lu is outside country %s (channels %u..%u); use --country\n",
                channel, ctry.cc, ctry.schan, ctry.schan + ctry.nchan - 1);
        sim_emu_shutdown();
        if (s_link_path[0] != '\0') unlink(s_link_path);
        return 2;
    }

    char sm[18], am[18], pj[512];
    mac_str(sta, sm);
    mac_str(ap, am);
    json_escape(port, pj, sizeof pj);
    printf("{\"port\":\"%s\",\"sta_mac\":\"%s\",\"ap_mac\":\"%s\",\"pid\":%ld}\n", pj, sm, am, (long)getpid());
    fflush(stdout);

    uint8_t buf[4096];
    while (!s_quit) {
        struct pollfd fds[2] = {
            { .fd = s_master, .events = POLLIN | (br_core_tx_pending() ? POLLOUT : 0) },
            { .fd = sim_emu_air_fd(), .events = POLLIN },
        };
        int timeout = s_wake ? 0 : next_timeout_ms();
        struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000L };
        int n = ppoll(fds, 2, timeout < 0 ? NULL : &ts, &wait_mask);
        if (n < 0 && errno != EINTR) {
            perror("espnow-sim: ppoll");
            break;
        }
        s_wake = false;
        if (n > 0 && (fds[0].revents & POLLIN)) {
            for (int k = 0; k < 16; k++) {
                ssize_t got = read(s_master, buf, sizeof buf);
                if (got <= 0) break;
                br_core_feed(buf, (size_t)got);
                br_core_poll();
            }
        }
        /* Radio work (air in, ACK timeouts, air out) runs the ESP-NOW callbacks. */
        sim_emu_poll();
        br_core_poll();
        if (s_restart) {
            /* esp_restart(): everything but the pty and the air socket is lost. */
            s_restart = false;
            boots++;
            boot(&id, country, boots, ESP_RST_SW);
            s_wake = true;
        }
    }

    sim_emu_shutdown();
    if (s_link_path[0] != '\0') unlink(s_link_path);
    close(slave);
    close(s_master);
    return 0;
}
