/* sim_air: Unix-datagram shared medium (see sim_air.h for the format). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sim_air.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

size_t sim_air_encode(const sim_air_frame_t *f, uint8_t *out, size_t cap)
{
    if (f->len > SIM_AIR_MAX_PAYLOAD || cap < SIM_AIR_HDR_LEN + (size_t)f->len) return 0;
    if (f->len > 0 && f->payload == NULL) return 0;
    out[0] = (uint8_t)SIM_AIR_VERSION;
    out[1] = f->type;
    out[2] = f->channel;
    out[3] = f->rate;
    out[4] = f->flags;
    out[5] = (uint8_t)f->tx_power;
    put16(out + 6, f->len);
    put32(out + 8, f->seq);
    memcpy(out + 12, f->src, 6);
    memcpy(out + 18, f->dst, 6);
    put64(out + 24, f->key_tag);
    if (f->len > 0) memcpy(out + SIM_AIR_HDR_LEN, f->payload, f->len);
    return SIM_AIR_HDR_LEN + (size_t)f->len;
}

bool sim_air_decode(const uint8_t *d, size_t n, sim_air_frame_t *f)
{
    if (n < SIM_AIR_HDR_LEN || d[0] != SIM_AIR_VERSION) return false;
    if (d[1] != SIM_AIR_TYPE_DATA && d[1] != SIM_AIR_TYPE_ACK) return false;
    uint16_t len = get16(d + 6);
    if (len > SIM_AIR_MAX_PAYLOAD || n != SIM_AIR_HDR_LEN + (size_t)len) return false;
    f->version = d[0];
    f->type = d[1];
    f->channel = d[2];
    f->rate = d[3];
    f->flags = d[4];
    f->tx_power = (int8_t)d[5];
    f->len = len;
    f->seq = get32(d + 8);
    memcpy(f->src, d + 12, 6);
    memcpy(f->dst, d + 18, 6);
    f->key_tag = get64(d + 24);
    f->payload = d + SIM_AIR_HDR_LEN;
    return true;
}

uint64_t sim_air_key_tag(const uint8_t pmk[16], const uint8_t lmk[16])
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 32; i++) {
        h ^= i < 16 ? pmk[i] : lmk[i - 16];
        h *= 0x100000001b3ull;
    }
    return h ? h : 1;
}

void sim_air_default_dir(char *out, size_t cap)
{
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (rt != NULL && rt[0] == '/') snprintf(out, cap, "%s/espnow-sim-air", rt);
    else snprintf(out, cap, "/tmp/espnow-sim-air-%u", (unsigned)getuid());
}

static int make_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof sa->sun_path) return -ENAMETOOLONG;
    memcpy(sa->sun_path, path, n + 1);
    return 0;
}

/* True if a live socket is bound at path (a datagram "connect" succeeds). */
static bool socket_alive(const char *path)
{
    struct sockaddr_un sa;
    if (make_addr(&sa, path) != 0) return false;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return true;    /* cannot tell: assume alive */
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int err = errno;
    close(fd);
    return r == 0 || (err != ECONNREFUSED && err != ENOENT);
}

int sim_air_open(sim_air_t *a, const char *dir, const uint8_t id_mac[6])
{
    memset(a, 0, sizeof *a);
    a->fd = -1;
    if (dir == NULL || dir[0] == '\0') return -EINVAL;
    if (strlen(dir) >= sizeof a->dir) return -ENAMETOOLONG;
    snprintf(a->dir, sizeof a->dir, "%s", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -errno;
    int n = snprintf(a->path, sizeof a->path, "%s/%02x%02x%02x%02x%02x%02x.sock", dir, id_mac[0], id_mac[1],
                     id_mac[2], id_mac[3], id_mac[4], id_mac[5]);
    if (n < 0 || (size_t)n >= sizeof a->path || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        a->path[0] = '\0';
        return -ENAMETOOLONG;
    }
    struct sockaddr_un sa;
    make_addr(&sa, a->path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int err = errno;
        if (err == EADDRINUSE && !socket_alive(a->path)) {
            unlink(a->path);
            a->stale_removed++;
            if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0) err = 0;
            else err = errno;
        }
        if (err != 0) {
            close(fd);
            a->path[0] = '\0';
            return -err;
        }
    }
    /* Room for bursts of full-size frames. */
    int sz = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    a->fd = fd;
    return 0;
}

void sim_air_unlink(const sim_air_t *a)
{
    if (a->path[0] != '\0') unlink(a->path);
}

void sim_air_close(sim_air_t *a)
{
    if (a->fd >= 0) {
        close(a->fd);
        sim_air_unlink(a);
    }
    a->fd = -1;
    a->path[0] = '\0';
}

static int send_path(sim_air_t *a, const char *path, const uint8_t *d, size_t n, bool cleanup_stale)
{
    struct sockaddr_un sa;
    if (make_addr(&sa, path) != 0) return -ENAMETOOLONG;
    ssize_t r = sendto(a->fd, d, n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof sa);
    if (r >= 0) {
        a->tx_datagrams++;
        return 1;
    }
    int err = errno;
    if (err == ECONNREFUSED && cleanup_stale) {
        /* Socket file of a process that died without cleaning up. */
        unlink(path);
        a->stale_removed++;
    }
    a->tx_dropped++;
    return -err;
}

int sim_air_transmit(sim_air_t *a, const uint8_t *d, size_t n)
{
    if (a->fd < 0) return -EBADF;
    DIR *dp = opendir(a->dir);
    if (dp == NULL) return -errno;
    int count = 0;
    char path[SIM_AIR_PATH_MAX];
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".sock") != 0) continue;
        int m = snprintf(path, sizeof path, "%s/%s", a->dir, e->d_name);
        if (m < 0 || (size_t)m >= sizeof path) continue;
        if (strcmp(path, a->path) == 0) continue;
        if (send_path(a, path, d, n, true) > 0) count++;
    }
    closedir(dp);
    return count;
}

int sim_air_send_to(sim_air_t *a, const sim_air_from_t *to, const uint8_t *d, size_t n)
{
    if (a->fd < 0) return -EBADF;
    if (to == NULL || to->path[0] == '\0') return -EDESTADDRREQ;
    int r = send_path(a, to->path, d, n, false);
    return r > 0 ? 0 : r;
}

int sim_air_receive(sim_air_t *a, uint8_t *buf, size_t cap, sim_air_from_t *from)
{
    if (a->fd < 0) return -EBADF;
    struct sockaddr_un sa;
    socklen_t sl = sizeof sa;
    memset(&sa, 0, sizeof sa);
    ssize_t r = recvfrom(a->fd, buf, cap, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&sa, &sl);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -errno;
    }
    if (r == 0) return -EBADMSG;             /* empty datagram: not a frame */
    if ((size_t)r > cap) return -EMSGSIZE;   /* truncated: not a valid frame */
    if (from != NULL) {
        from->path[0] = '\0';
        size_t off = offsetof(struct sockaddr_un, sun_path);
        if (sl > off && sa.sun_path[0] != '\0') {
            size_t pl = (size_t)sl - off;
            if (pl >= sizeof from->path) pl = sizeof from->path - 1;
            memcpy(from->path, sa.sun_path, pl);
            from->path[pl] = '\0';
        }
    }
    return (int)r;
}
