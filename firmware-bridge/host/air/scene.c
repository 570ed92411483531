/* Scene file: a small strict JSON parser (RFC 8259 minus \u escapes beyond
 * ASCII, which no scene needs) and the scene schema of docs/SIMULATOR.md.
 * Unknown keys, wrong types and out-of-range values are errors that name the
 * file, line and column. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "sim_medium.h"

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
    int type, line, col;
    double num;
    bool b;
    char *str;                 /* J_STR value; object member name for members */
    char *key;
    struct jv *kids, *next;    /* array items / object members */
} jv_t;

typedef struct {
    const char *s, *path;
    size_t i, n;
    int line, col;
    char *err;
    size_t errcap;
    bool failed;
} jp_t;

static void jerr(jp_t *p, int line, int col, const char *fmt, ...)
{
    if (p->failed) return;
    p->failed = true;
    int k = snprintf(p->err, p->errcap, "%s:%d:%d: ", p->path, line, col);
    va_list ap;
    va_start(ap, fmt);
    if (k >= 0 && (size_t)k < p->errcap) vsnprintf(p->err + k, p->errcap - (size_t)k, fmt, ap);
    va_end(ap);
}

static int peek(jp_t *p) { return p->i < p->n ? (unsigned char)p->s[p->i] : -1; }
static void adv(jp_t *p)
{
    if (p->i >= p->n) return;
    if (p->s[p->i] == '\n') {
        p->line++;
        p->col = 1;
    } else {
        p->col++;
    }
    p->i++;
}
static void ws(jp_t *p)
{
    while (peek(p) == ' ' || peek(p) == '\t' || peek(p) == '\n' || peek(p) == '\r') adv(p);
}

static void jfree(jv_t *v)
{
    while (v) {
        jv_t *n = v->next;
        jfree(v->kids);
        free(v->str);
        free(v->key);
        free(v);
        v = n;
    }
}

static jv_t *jvalue(jp_t *p, int depth);

static char *jstring(jp_t *p)
{
    int l = p->line, c = p->col;
    adv(p);                                  /* opening quote */
    size_t cap = 32, len = 0;
    char *o = malloc(cap);
    if (!o) {
        jerr(p, l, c, "out of memory");
        return NULL;
    }
    for (;;) {
        int ch = peek(p);
        if (ch < 0) {
            jerr(p, l, c, "unterminated string");
            free(o);
            return NULL;
        }
        if (ch == '"') {
            adv(p);
            break;
        }
        if (ch < 0x20) {
            jerr(p, p->line, p->col, "control character in a string");
            free(o);
            return NULL;
        }
        if (ch == '\\') {
            adv(p);
            int e = peek(p);
            const char *map = "\"\\/bfnrt", *rep = "\"\\/\b\f\n\r\t";
            const char *m = e > 0 ? strchr(map, e) : NULL;
            if (m) {
                ch = rep[m - map];
            } else if (e == 'u') {
                unsigned v = 0;
                for (int k = 0; k < 4; k++) {
                    adv(p);
                    int h = peek(p);
                    int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                    if (d < 0) {
                        jerr(p, p->line, p->col, "bad \\u escape");
                        free(o);
                        return NULL;
                    }
                    v = v * 16 + (unsigned)d;
                }
                if (v == 0 || v > 0x7f) {
                    jerr(p, p->line, p->col, "only ASCII \\u escapes (1..7f) are accepted");
                    free(o);
                    return NULL;
                }
                ch = (int)v;
            } else {
                jerr(p, p->line, p->col, "bad escape");
                free(o);
                return NULL;
            }
        }
        if (len + 2 > cap) {
            char *n2 = realloc(o, cap *= 2);
            if (!n2) {
                free(o);
                jerr(p, l, c, "out of memory");
                return NULL;
            }
            o = n2;
        }
        o[len++] = (char)ch;
        adv(p);
    }
    o[len] = '\0';
    return o;
}

static jv_t *jnew(jp_t *p, int type)
{
    jv_t *v = calloc(1, sizeof *v);
    if (!v) {
        jerr(p, p->line, p->col, "out of memory");
        return NULL;
    }
    v->type = type;
    v->line = p->line;
    v->col = p->col;
    return v;
}

static jv_t *jvalue(jp_t *p, int depth)
{
    ws(p);
    int ch = peek(p);
    if (depth > 16) {
        jerr(p, p->line, p->col, "nested too deeply");
        return NULL;
    }
    if (ch == '{' || ch == '[') {
        bool obj = ch == '{';
        jv_t *v = jnew(p, obj ? J_OBJ : J_ARR), **tail;
        if (!v) return NULL;
        tail = &v->kids;
        adv(p);
        ws(p);
        if (peek(p) == (obj ? '}' : ']')) {
            adv(p);
            return v;
        }
        for (;;) {
            char *key = NULL;
            int kl = 0, kc = 0;
            if (obj) {
                ws(p);
                kl = p->line;
                kc = p->col;
                if (peek(p) != '"') {
                    jerr(p, p->line, p->col, "expected a member name in quotes");
                    break;
                }
                key = jstring(p);
                if (!key) break;
                for (jv_t *k = v->kids; k; k = k->next) {
                    if (!strcmp(k->key, key)) {
                        jerr(p, kl, kc, "duplicate key \"%s\"", key);
                        free(key);
                        key = NULL;
                        break;
                    }
                }
                if (!key) break;
                ws(p);
                if (peek(p) != ':') {
                    jerr(p, p->line, p->col, "expected ':' after \"%s\"", key);
                    free(key);
                    break;
                }
                adv(p);
            }
            jv_t *item = jvalue(p, depth + 1);
            if (!item) {
                free(key);
                break;
            }
            item->key = key;
            if (obj) {
                item->line = kl;
                item->col = kc;
            }
            *tail = item;
            tail = &item->next;
            ws(p);
            if (peek(p) == ',') {
                adv(p);
                continue;
            }
            if (peek(p) == (obj ? '}' : ']')) {
                adv(p);
                return v;
            }
            jerr(p, p->line, p->col, "expected ',' or '%c'", obj ? '}' : ']');
            break;
        }
        jfree(v);
        return NULL;
    }
    if (ch == '"') {
        jv_t *v = jnew(p, J_STR);
        if (!v) return NULL;
        v->str = jstring(p);
        if (!v->str) {
            jfree(v);
            return NULL;
        }
        return v;
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
        jv_t *v = jnew(p, J_NUM);
        if (!v) return NULL;
        char buf[64];
        size_t k = 0;
        while (k + 1 < sizeof buf && (peek(p) == '-' || peek(p) == '+' || peek(p) == '.' || peek(p) == 'e' ||
                                      peek(p) == 'E' || (peek(p) >= '0' && peek(p) <= '9'))) {
            buf[k++] = (char)peek(p);
            adv(p);
        }
        buf[k] = '\0';
        char *end;
        errno = 0;
        v->num = strtod(buf, &end);
        if (*end || errno || !isfinite(v->num) || (buf[0] == '0' && isdigit((unsigned char)buf[1])) ||
            (buf[0] == '-' && buf[1] == '0' && isdigit((unsigned char)buf[2]))) {
            jerr(p, v->line, v->col, "bad number '%s'", buf);
            jfree(v);
            return NULL;
        }
        return v;
    }
    static const struct { const char *w; int t; bool b; } words[] = {
        { "true", J_BOOL, true }, { "false", J_BOOL, false }, { "null", J_NULL, false } };
    for (size_t w = 0; w < 3; w++) {
        size_t len = strlen(words[w].w);
        if (p->n - p->i >= len && !strncmp(p->s + p->i, words[w].w, len)) {
            jv_t *v = jnew(p, words[w].t);
            if (!v) return NULL;
            v->b = words[w].b;
            for (size_t k = 0; k < len; k++) adv(p);
            return v;
        }
    }
    if (ch < 0) jerr(p, p->line, p->col, "unexpected end of file");
    else jerr(p, p->line, p->col, "unexpected character '%c'", ch);
    return NULL;
}

/* ------------------------------------------------------------ schema */

typedef struct {
    jp_t *p;
    coord_cfg_t *c;
} sc_t;

static bool bad(sc_t *s, const jv_t *v, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jerr(s->p, v->line, v->col, "%s", msg);
    return false;
}

static const char *tname(int t)
{
    static const char *n[] = { "null", "a boolean", "a number", "a string", "an array", "an object" };
    return n[t];
}

static bool want(sc_t *s, const jv_t *v, int type)
{
    if (v->type == type) return true;
    return bad(s, v, "\"%s\" must be %s, not %s", v->key ? v->key : "value", tname(type), tname(v->type));
}

static bool get_int(sc_t *s, const jv_t *v, long lo, long hi, long *out)
{
    if (!want(s, v, J_NUM)) return false;
    if (v->num < (double)lo || v->num > (double)hi || v->num != (double)(long)v->num)
        return bad(s, v, "\"%s\" must be an integer in %ld..%ld", v->key ? v->key : "value", lo, hi);
    *out = (long)v->num;
    return true;
}

static bool get_prob(sc_t *s, const jv_t *v, double *out)
{
    if (!want(s, v, J_NUM)) return false;
    if (!(v->num >= 0 && v->num <= 1)) return bad(s, v, "\"%s\" must be a probability in 0..1", v->key);
    *out = v->num;
    return true;
}

static bool get_mac(sc_t *s, const jv_t *v, uint8_t mac[6])
{
    if (!want(s, v, J_STR)) return false;
    if (!coord_parse_mac(v->str, mac)) return bad(s, v, "\"%s\": '%s' is not a MAC aa:bb:cc:dd:ee:ff", v->key, v->str);
    if (mac[0] & 1) return bad(s, v, "\"%s\": %s is a multicast address", v->key, v->str);
    return true;
}

static bool unknown(sc_t *s, const jv_t *m, const char *where, const char *keys)
{
    return bad(s, m, "unknown key \"%s\" in %s (known: %s)", m->key, where, keys);
}

static bool serial_obj(sc_t *s, const jv_t *o, radio_cfg_t *r)
{
    if (!want(s, o, J_OBJ)) return false;
    for (const jv_t *m = o->kids; m; m = m->next) {
        long v;
        if (!strcmp(m->key, "baud")) {
            if (!get_int(s, m, 0, 5000000, &v)) return false;
            if (v != 0 && v < 9600) return bad(s, m, "\"baud\" must be 0 (no pacing) or 9600..5000000");
            r->baud = (uint32_t)v;
        } else if (!strcmp(m->key, "ber_h2d")) {
            if (!get_prob(s, m, &r->ber[DIR_H2D])) return false;
        } else if (!strcmp(m->key, "ber_d2h")) {
            if (!get_prob(s, m, &r->ber[DIR_D2H])) return false;
        } else if (!strcmp(m->key, "drop_h2d")) {
            if (!get_prob(s, m, &r->drop[DIR_H2D])) return false;
        } else if (!strcmp(m->key, "drop_d2h")) {
            if (!get_prob(s, m, &r->drop[DIR_D2H])) return false;
        } else {
            return unknown(s, m, "\"serial\"", "baud, ber_h2d, ber_d2h, drop_h2d, drop_d2h");
        }
    }
    return true;
}

static bool radio_obj(sc_t *s, const jv_t *o, radio_cfg_t *r, bool node)
{
    if (!want(s, o, J_OBJ)) return false;
    if (node) {
        const jv_t *k = NULL;
        for (const jv_t *m = o->kids; m; m = m->next) if (!strcmp(m->key, "script")) k = m;
        if (!k) return bad(s, o, "a node needs \"script\": \"echo\", \"sensor\", \"flood\" or \"firmware\"");
        if (!want(s, k, J_STR)) return false;
        if (!strcmp(k->str, "echo")) r->kind = RADIO_ECHO;
        else if (!strcmp(k->str, "sensor")) r->kind = RADIO_SENSOR;
        else if (!strcmp(k->str, "flood")) r->kind = RADIO_FLOOD;
        else if (!strcmp(k->str, "firmware")) r->kind = RADIO_FIRMWARE;
        else return bad(s, k, "unknown script \"%s\" (echo, sensor, flood, firmware)", k->str);
    }
    for (const jv_t *m = o->kids; m; m = m->next) {
        long v;
        if (!strcmp(m->key, "sta_mac")) {
            if (!get_mac(s, m, r->sta)) return false;
            r->have_sta = true;
        } else if (!strcmp(m->key, "ap_mac")) {
            if (!get_mac(s, m, r->ap)) return false;
            r->have_ap = true;
        } else if (!strcmp(m->key, "channel")) {
            if (!get_int(s, m, 1, 14, &v)) return false;
            r->channel = (uint8_t)v;
        } else if (!node && !strcmp(m->key, "serial")) {
            if (!serial_obj(s, m, r)) return false;
        } else if (node && !strcmp(m->key, "script")) {
        } else if (node && r->kind == RADIO_FIRMWARE && (!strcmp(m->key, "app") || !strcmp(m->key, "dir"))) {
            /* a firmware node (docs/NODES.md): its executable and its state directory */
            if (!want(s, m, J_STR)) return false;
            char *dst = m->key[0] == 'a' ? r->app : r->dir;
            if (strlen(m->str) >= sizeof r->app) return bad(s, m, "\"%s\" is longer than %zu bytes", m->key, sizeof r->app - 1);
            memcpy(dst, m->str, strlen(m->str) + 1);
        } else if (node && !strcmp(m->key, "interval_ms")) {
            if (!get_int(s, m, 1, 3600000, &v)) return false;
            r->interval_ms = (uint32_t)v;
        } else if (node && !strcmp(m->key, "len")) {
            if (!get_int(s, m, 1, 1470, &v)) return false;
            r->len = (uint16_t)v;
        } else if (node && !strcmp(m->key, "rate")) {
            if (!get_int(s, m, 0, 255, &v)) return false;
            if (!sim_rate_known((uint8_t)v)) return bad(s, m, "\"rate\" %ld is not a wifi_phy_rate_t an ESP32 sends", v);
            r->rate = (uint8_t)v;
        } else if (node && !strcmp(m->key, "to")) {
            if (!want(s, m, J_STR)) return false;
            r->to_broadcast = !strcmp(m->str, "broadcast");
            if (!r->to_broadcast && !get_mac(s, m, r->to)) return false;
        } else {
            return unknown(s, m, node ? "a node" : "a dongle",
                           node ? "script, sta_mac, ap_mac, channel, interval_ms, len, rate, to, app, dir"
                                : "sta_mac, ap_mac, channel, serial");
        }
    }
    if (node && r->kind == RADIO_FIRMWARE && !r->app[0]) return bad(s, o, "a firmware node needs \"app\": the executable");
    return true;
}

static bool scene_root(sc_t *s, const jv_t *root)
{
    coord_cfg_t *c = s->c;
    if (!want(s, root, J_OBJ)) return false;
    const jv_t *links = NULL, *serial = NULL;
    radio_cfg_t serial_defaults;
    coord_radio_defaults(&serial_defaults);
    for (const jv_t *m = root->kids; m; m = m->next) {
        long v;
        if (!strcmp(m->key, "dongles")) {
            if (m->type == J_NUM) {
                if (!get_int(s, m, 1, COORD_MAX_RADIOS, &v)) return false;
                c->ndongles = (int)v;
            } else {
                if (!want(s, m, J_ARR)) return false;
                int n = 0;
                for (const jv_t *d = m->kids; d; d = d->next) {
                    if (n >= COORD_MAX_RADIOS / 2) return bad(s, d, "too many dongles (max %d)", COORD_MAX_RADIOS / 2);
                    if (!radio_obj(s, d, &c->radios[n], false)) return false;
                    n++;
                }
                if (n == 0) return bad(s, m, "\"dongles\" is empty");
                c->ndongles = n;
            }
        } else if (!strcmp(m->key, "nodes")) {
            if (!want(s, m, J_ARR)) return false;
            for (const jv_t *d = m->kids; d; d = d->next) {
                if (c->nnodes >= COORD_MAX_RADIOS / 2) return bad(s, d, "too many nodes (max %d)", COORD_MAX_RADIOS / 2);
                radio_cfg_t *r = &c->radios[COORD_NODE_SLOT(c->nnodes)];
                coord_radio_defaults(r);
                if (!radio_obj(s, d, r, true)) return false;
                c->nnodes++;
            }
        } else if (!strcmp(m->key, "aps")) {
            if (!want(s, m, J_ARR)) return false;
            for (const jv_t *a = m->kids; a; a = a->next) {
                if (c->naps >= COORD_MAX_APS) return bad(s, a, "too many access points (max %d)", COORD_MAX_APS);
                if (!want(s, a, J_OBJ)) return false;
                ap_cfg_t *ap = &c->aps[c->naps];
                memset(ap, 0, sizeof *ap);
                ap->rssi = -55;
                bool have_ssid = false, have_ch = false;
                for (const jv_t *k = a->kids; k; k = k->next) {
                    if (!strcmp(k->key, "ssid")) {
                        if (!want(s, k, J_STR)) return false;
                        if (strlen(k->str) < 1 || strlen(k->str) > 32) return bad(s, k, "\"ssid\" must be 1..32 bytes");
                        snprintf(ap->ssid, sizeof ap->ssid, "%s", k->str);
                        have_ssid = true;
                    } else if (!strcmp(k->key, "password")) {
                        if (!want(s, k, J_STR)) return false;
                        size_t l = strlen(k->str);
                        if (l > 64 || (l > 0 && l < 8)) return bad(s, k, "\"password\" must be empty (open) or 8..64 bytes");
                        snprintf(ap->password, sizeof ap->password, "%s", k->str);
                    } else if (!strcmp(k->key, "channel")) {
                        if (!get_int(s, k, 1, 14, &v)) return false;
                        ap->channel = (uint8_t)v;
                        have_ch = true;
                    } else if (!strcmp(k->key, "rssi")) {
                        if (!get_int(s, k, -127, -1, &v)) return false;
                        ap->rssi = (int8_t)v;
                    } else {
                        return unknown(s, k, "an access point", "ssid, password, channel, rssi");
                    }
                }
                if (!have_ssid || !have_ch) return bad(s, a, "an access point needs \"ssid\" and \"channel\"");
                c->naps++;
            }
        } else if (!strcmp(m->key, "links")) {
            if (!want(s, m, J_ARR)) return false;
            links = m;
        } else if (!strcmp(m->key, "serial")) {
            serial = m;
            if (!serial_obj(s, m, &serial_defaults)) return false;
        } else if (!strcmp(m->key, "seed")) {
            if (!get_int(s, m, 0, 0x7fffffffL, &v)) return false;
            c->seed = (uint64_t)v;
        } else if (!strcmp(m->key, "realtime")) {
            if (!want(s, m, J_BOOL)) return false;
            c->realtime = m->b;
        } else if (!strcmp(m->key, "leakage")) {
            if (!want(s, m, J_BOOL)) return false;
            c->leakage = m->b;
        } else if (!strcmp(m->key, "leak_db")) {
            if (!get_int(s, m, 0, 100, &v)) return false;
            c->leak_db = (int)v;
        } else if (!strcmp(m->key, "rssi")) {
            if (!get_int(s, m, -127, -1, &v)) return false;
            c->default_rssi = (int8_t)v;
        } else if (!strcmp(m->key, "loss")) {
            double p;
            if (!get_prob(s, m, &p)) return false;
            for (int i = 0; i < COORD_MAX_RADIOS; i++)
                for (int j = 0; j < COORD_MAX_RADIOS; j++) c->loss[i][j] = p;
        } else if (!strcmp(m->key, "retries")) {
            if (!get_int(s, m, 0, 31, &v)) return false;
            c->retries = (int)v;
        } else if (!strcmp(m->key, "country")) {
            if (!want(s, m, J_STR)) return false;
            if (strlen(m->str) != 2) return bad(s, m, "\"country\" is a 2-letter code such as \"01\", \"US\", \"JP\"");
            memcpy(c->country, m->str, 3);
        } else {
            return unknown(s, m, "the scene",
                           "dongles, nodes, aps, links, serial, seed, realtime, leakage, leak_db, rssi, loss, retries, country");
        }
    }
    if (c->ndongles < 1) return bad(s, root, "the scene needs \"dongles\" (a count or an array)");
    if (serial) {
        for (int i = 0; i < c->ndongles; i++) {
            radio_cfg_t *r = &c->radios[i];
            /* Per-dongle "serial" wins over the scene-wide defaults. */
            if (r->baud == 0) r->baud = serial_defaults.baud;
            for (int d = 0; d < 2; d++) {
                if (r->ber[d] == 0) r->ber[d] = serial_defaults.ber[d];
                if (r->drop[d] == 0) r->drop[d] = serial_defaults.drop[d];
            }
        }
    }
    int nr = c->ndongles + c->nnodes;
    if (links) {
        c->scene_has_links = true;
        for (const jv_t *l = links->kids; l; l = l->next) {
            if (!want(s, l, J_OBJ)) return false;
            long a = -1, b = -1, rssi = 0;
            double loss = -1;
            for (const jv_t *k = l->kids; k; k = k->next) {
                if (!strcmp(k->key, "a")) {
                    if (!get_int(s, k, 0, nr - 1, &a)) return false;
                } else if (!strcmp(k->key, "b")) {
                    if (!get_int(s, k, 0, nr - 1, &b)) return false;
                } else if (!strcmp(k->key, "rssi")) {
                    if (!get_int(s, k, -127, -1, &rssi)) return false;
                } else if (!strcmp(k->key, "loss")) {
                    if (!get_prob(s, k, &loss)) return false;
                } else {
                    return unknown(s, k, "a link", "a, b, rssi, loss");
                }
            }
            if (a < 0 || b < 0 || a == b) return bad(s, l, "a link needs two different radios \"a\" and \"b\" (0..%d)", nr - 1);
            if (rssi) c->rssi[a][b] = c->rssi[b][a] = (int8_t)rssi;
            if (loss >= 0) c->loss[a][b] = c->loss[b][a] = loss;
        }
    }
    c->scene_dongles = c->ndongles;
    return true;
}

bool scene_load(const char *path, coord_cfg_t *cfg, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "scene %s: %s", path, strerror(errno));
        return false;
    }
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    bool too_big = n == sizeof buf - 1 && fgetc(f) != EOF;
    fclose(f);
    if (too_big) {
        snprintf(err, errcap, "scene %s: larger than 1 MiB", path);
        return false;
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        snprintf(err, errcap, "scene %s: contains a NUL byte (not a text file?)", path);
        return false;
    }
    jp_t p = { .s = buf, .path = path, .n = n, .line = 1, .col = 1, .err = err, .errcap = errcap };
    jv_t *root = jvalue(&p, 0);
    if (root && !p.failed) {
        ws(&p);
        if (p.i < p.n) jerr(&p, p.line, p.col, "unexpected text after the scene object");
    }
    if (root && !p.failed) {
        sc_t s = { &p, cfg };
        scene_root(&s, root);
    }
    jfree(root);
    return !p.failed;
}
