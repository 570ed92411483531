/* A firmware node's process: the simulated chip around an ESP-IDF
 * application's app_main. The coordinator starts it with a SOCK_SEQPACKET
 * socket (radio messages of sim_medium.h plus the clock of sim_node.h); the
 * radio is the ESP-IDF emulation in medium mode, behind an in-process socket
 * pair so that this loop sees (and orders) every message.
 *
 * The loop owns the CPU whenever no task is ready: it wakes tasks whose
 * timeouts are due, lets the Wi-Fi task run the emulation, and when every task
 * is blocked it tells the coordinator (IDLE with its next deadline) and waits
 * for the clock or a frame. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "esp_wifi.h"
#include "freertos/task.h"
#include "rt.h"
#include "sim_emu.h"
#include "sim_medium.h"
#include "sim_node.h"

void app_main(void);
void rt_run_tasks(void);
uint64_t rt_expire(uint64_t now);

static struct {
    int fd;                       /* to the coordinator */
    int emu_fd, loop_fd;          /* emulation <-> this loop */
    uint64_t now, boot_at;
    uint32_t consumed;
    uint32_t tick_us;
    uint64_t ls_until;            /* light sleep end, 0 when awake */
    bool wifi_work;
    int reset_reason, wake_cause;
    uint64_t seed;
    char dir[512];
} S = { .fd = -1, .emu_fd = -1, .loop_fd = -1 };

uint64_t rt_now(void) { return S.now; }
uint64_t rt_uptime_us(void) { return S.now - S.boot_at; }
uint32_t rt_tick_us(void) { return S.tick_us; }
const char *rt_state_dir(void) { return S.dir; }
int rt_reset_reason(void) { return S.reset_reason; }
int rt_wake_cause(void) { return S.wake_cause; }
uint64_t rt_seed(void) { return S.seed; }

uint64_t rt_ticks_to_deadline(uint32_t ticks)
{
    if (ticks == 0xffffffffu) return RT_FOREVER;
    return S.now + (uint64_t)ticks * S.tick_us;
}

static void send_node(const sim_node_msg_t *m)
{
    uint8_t b[16];
    size_t n = sim_node_encode(m, b, sizeof b);
    if (n && send(S.fd, b, n, MSG_NOSIGNAL) < 0) _exit(0);   /* the coordinator is gone */
}

/* Whatever the emulation sent (STATE, TX, CONNECT) goes to the coordinator in order. */
static void forward_out(void)
{
    static uint8_t buf[SIM_MED_MAX_MSG];
    for (;;) {
        ssize_t n = recv(S.loop_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) return;
        if (send(S.fd, buf, (size_t)n, MSG_NOSIGNAL) < 0) _exit(0);
    }
}

void rt_console_flush(void) { fflush(stdout); }

void rt_halt(int kind, uint64_t sleep_us)
{
    rt_rtc_save();
    forward_out();
    rt_console_flush();
    sim_node_msg_t m = { .type = SIM_NODE_HALT, .kind = (uint8_t)kind, .sleep_us = sleep_us };
    send_node(&m);
    _exit(0);
}

void rt_panic(const char *why)
{
    printf("\nnode panic: %s\nRebooting...\n", why);
    rt_halt(SIM_NODE_HALT_PANIC, 0);
}

void rt_light_sleep(uint64_t us)
{
    forward_out();
    sim_node_msg_t m = { .type = SIM_NODE_RADIO, .on = 0 };
    send_node(&m);
    S.ls_until = S.now + us;
    rt_block(&S.ls_until, S.ls_until);
}

void rt_wifi_kick(void)
{
    S.wifi_work = true;
    rt_wake_one(&S.wifi_work);
}

/* The Wi-Fi task (priority 23 as in ESP-IDF): runs the emulation, whose
 * ESP-NOW callbacks and Wi-Fi events therefore run in a task, as on the chip. */
static void wifi_task(void *arg)
{
    (void)arg;
    for (;;) {
        while (!S.wifi_work) rt_block(&S.wifi_work, RT_FOREVER);
        S.wifi_work = false;
        sim_emu_poll();
    }
}

static void main_task(void *arg)
{
    (void)arg;
    app_main();
    vTaskDelete(NULL);
}

static bool read_in(bool wait)
{
    static uint8_t buf[SIM_MED_MAX_MSG];
    bool got = false;
    for (;;) {
        ssize_t n = recv(S.fd, buf, sizeof buf, wait && !got ? 0 : MSG_DONTWAIT);
        if (n == 0) _exit(0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return got;
            _exit(0);
        }
        got = true;
        S.consumed++;
        sim_node_msg_t m;
        if (buf[0] >= 32) {
            if (sim_node_decode(buf, (size_t)n, &m) && m.type == SIM_NODE_CLOCK && m.now_us > S.now) S.now = m.now_us;
            continue;
        }
        if (send(S.loop_fd, buf, (size_t)n, MSG_NOSIGNAL) < 0) {
            fprintf(stderr, "node: radio message lost: %s\n", strerror(errno));
        }
        S.wifi_work = true;
    }
}

/* abort(), a failed assert or a fault: the chip's panic handler prints, keeps
 * RTC memory and reboots (reset reason PANIC); so does this one. */
static void on_fault(int sig)
{
    printf("\nGuru Meditation Error: %s (simulated panic)\nRebooting...\n", strsignal(sig));
    rt_halt(SIM_NODE_HALT_PANIC, 0);
}

static void usage(void)
{
    fprintf(stderr, "a firmware node of espnow-sim: started by the coordinator (espnow-sim --node app=THIS)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    sim_emu_config_t cfg = { .use_medium = true };
    char country[3] = "01";
    bool have_sta = false, have_ap = false;
    S.reset_reason = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--sim-fd")) S.fd = atoi(v);
        else if (!strcmp(k, "--sta-mac")) have_sta = sscanf(v, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &cfg.sta_mac[0], &cfg.sta_mac[1], &cfg.sta_mac[2], &cfg.sta_mac[3], &cfg.sta_mac[4], &cfg.sta_mac[5]) == 6;
        else if (!strcmp(k, "--ap-mac")) have_ap = sscanf(v, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &cfg.ap_mac[0], &cfg.ap_mac[1], &cfg.ap_mac[2], &cfg.ap_mac[3], &cfg.ap_mac[4], &cfg.ap_mac[5]) == 6;
        else if (!strcmp(k, "--channel")) cfg.home_channel = (uint8_t)atoi(v);
        else if (!strcmp(k, "--reset-reason")) S.reset_reason = atoi(v);
        else if (!strcmp(k, "--wake-cause")) S.wake_cause = atoi(v);
        else if (!strcmp(k, "--seed")) S.seed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--dir")) snprintf(S.dir, sizeof S.dir, "%s", v);
        else if (!strcmp(k, "--country")) snprintf(country, sizeof country, "%s", v);
        else usage();
    }
    if (S.fd < 0 || !have_sta || !have_ap || !S.dir[0]) usage();
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
        perror("node: socketpair");
        return 1;
    }
    int sz = 4 << 20;
    setsockopt(sp[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    S.emu_fd = sp[0];
    S.loop_fd = sp[1];
    fcntl(S.emu_fd, F_SETFL, O_NONBLOCK);
    cfg.medium_fd = S.emu_fd;
#ifdef CONFIG_FREERTOS_HZ
    S.tick_us = 1000000u / CONFIG_FREERTOS_HZ;
#else
    S.tick_us = 10000u;
#endif
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault;
    sa.sa_flags = SA_RESETHAND;                 /* a fault inside the handler ends the process */
    sigaction(SIGABRT, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_lock(&rt_mu);
    /* Nothing runs before the coordinator tells the time. */
    while (S.now == 0) read_in(true);
    S.boot_at = S.now;
    S.wifi_work = false;
    sim_emu_set_clock(rt_now);
    sim_emu_configure(&cfg);
    sim_emu_set_reset_reason(S.reset_reason);
    (void)country;
    rt_rtc_restore();
    rt_sys_boot();
    rt_log_boot();
    rt_nvs_boot();
    rt_event_boot();
    rt_timers_boot();
    rt_esp_timer_boot();
    rt_task_new(wifi_task, "wifi", 23, NULL);
    rt_task_new(main_task, "main", 1, NULL);
    for (;;) {
        uint64_t next;
        if (S.ls_until && S.now < S.ls_until) {
            next = S.ls_until;
        } else {
            if (S.ls_until) {
                S.ls_until = 0;
                forward_out();
                sim_node_msg_t m = { .type = SIM_NODE_RADIO, .on = 1 };
                send_node(&m);
            }
            next = rt_expire(S.now);
            if (S.wifi_work || sim_emu_next_timeout_ms() == 0) rt_wifi_kick();
            rt_run_tasks();
            if (S.wifi_work || sim_emu_next_timeout_ms() == 0) continue;
            next = rt_expire(S.now);
            if (rt_any_ready()) continue;
            int ms = sim_emu_next_timeout_ms();
            if (ms > 0) {
                uint64_t t = S.now + (uint64_t)ms * 1000u;
                if (t < next) next = t;
            }
        }
        forward_out();
        rt_console_flush();
        sim_node_msg_t idle = { .type = SIM_NODE_IDLE, .consumed = S.consumed, .wake_at = next };
        send_node(&idle);
        pthread_mutex_unlock(&rt_mu);
        struct pollfd p = { S.fd, POLLIN, 0 };
        while (poll(&p, 1, -1) < 0 && errno == EINTR) {
        }
        pthread_mutex_lock(&rt_mu);
        read_in(false);
    }
}
