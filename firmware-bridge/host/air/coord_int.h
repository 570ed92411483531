/* Internal to the coordinator of the simulated air (espnow-sim --dongles N):
 * the types and state its files share. Not a public interface.
 *
 *   coord.c    state, helpers, the main loop and clean-up
 *   cli.c      command line (--dongles, --node, --ap, link directory lock)
 *   medium.c   the shared medium (airtime, ACKs, retries) and scripted nodes
 *   dongles.c  dongle processes, their ptys and the serial relay with its faults
 *   fwnodes.c  firmware nodes and simulated time
 *   control.c  the control socket */
#ifndef COORD_INT_H
#define COORD_INT_H

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
#include <sys/file.h>
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

typedef struct req_queue {
    req_t *head, *tail;
    uint64_t last_end;                  /* when the channel last went idle */
} chan_t;

typedef struct {
    int fd;
    char buf[512];
    size_t len;
} ctl_client_t;

/* A frame that reaches the medium within this long after the same sender's
 * previous one ended was queued in its radio: the chip would have sent it
 * back to back, so it starts at that end, not after our IPC latency. */
#define BACK_TO_BACK_US 1000u
#define WHO_PARENT (-1000000)

/* State shared by the coordinator's files (defined in coord.c). One thread
 * runs the whole coordinator, so none of it needs a lock. */
extern coord_cfg_t C;
extern radio_t R[COORD_MAX_RADIOS];
extern int NR;
extern chan_t s_ch[15];
extern uint64_t s_rng;
extern uint64_t s_burst_until;
extern uint64_t s_frames, s_burst_lost;
extern const char *s_link_dir;
extern char s_control[108];
extern int s_listen;
extern ctl_client_t s_cli[MAX_CLIENTS];
extern volatile sig_atomic_t s_quit, s_chld;
extern int s_parent_fd;                 /* pidfd of the process that started the coordinator */
extern char s_link_lock[4200];          /* removed on exit (the directory is left as found) */
extern char s_self[4096];               /* this program, run again for each dongle */
extern sigset_t s_orig_mask;
extern uint64_t s_vt, s_t0;             /* simulated time (fwnodes.c) */
extern bool s_quiet;
extern char s_fw_tmp[256];

/* coord.c */
uint64_t now_us(void);
uint64_t rnd64(void);
double rnd01(void);
void mac_str(const uint8_t m[6], char out[18]);
bool bq_push(bq_t *q, const uint8_t *d, size_t n);
void bq_pop(bq_t *q, size_t n);
uint8_t rate_proto(uint8_t r);
void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *kind_name(int k);
void announce(radio_t *r);

/* cli.c */
void on_signal(int sig);
bool parse_node(const char *spec, radio_cfg_t *r, char *err, size_t cap);
bool parse_ap(const char *spec, ap_cfg_t *a, char *err, size_t cap);
void cfg_defaults(void);
void assign_macs(void);
bool check_macs(char *err, size_t cap);
bool lock_link_dir(char *err, size_t n);

/* medium.c */
void med_to(radio_t *r, const sim_med_msg_t *m);
void submit(int src, const sim_med_msg_t *m, uint64_t now);
uint64_t medium_run(uint64_t now);
uint64_t medium_next(void);
void forget_sender(int src);
uint64_t nodes_run(uint64_t now);

/* dongles.c */
int spawn(radio_t *r, int reason);
void process_gone(radio_t *r);
void kill_wait(radio_t *r);
int open_pty(radio_t *r);
void close_pty(radio_t *r);
void reap(void);
void apply_faults(radio_t *r, int dir, uint8_t *d, size_t *n);
uint64_t relay_out(radio_t *r, int dir, int fd, uint64_t now);
size_t d2h_cap(const radio_t *r);
void read_serial(radio_t *r);
void read_medium(radio_t *r, uint64_t now);

/* fwnodes.c */
bool fw(const radio_t *r);
bool fw_send_raw(radio_t *r, const uint8_t *b, size_t n);
bool fw_any_running(void);
void fw_release(void);
void fw_clock(radio_t *r);
void fw_console(radio_t *r);
void fw_msg(radio_t *r, const uint8_t *buf, size_t n);
void fw_exited(radio_t *r, int st);
void fw_kill(radio_t *r);
uint64_t fw_step(uint64_t now);
int fw_fds(struct pollfd *fds, int *who, int nf);
void fw_setup(radio_t *r);
void fw_cleanup(void);
const char *fw_control(radio_t *r, const char *cmd, int reason);

/* control.c */
void reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool parse_int(const char *s, long lo, long hi, long *out);
bool parse_prob(const char *s, double *out);
const char *reason_name(int k);
int control_open(const char *path);
void control_read(int k);

#endif
