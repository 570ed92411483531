/* The shared medium and the scripted nodes. Per channel, one frame on air at a time, in submission order.
 * A frame's attempt lasts sim_airtime_us() in --realtime (0 otherwise); at the
 * end of the attempt the medium decides who heard it (radio on, same channel
 * or a neighbour one with leakage, an active interface that the frame is for,
 * a protocol that covers the rate, not lost on the link), delivers it (each
 * receiver at most once per frame: retries are deduplicated as the 802.11 MAC
 * does) and, for a unicast, whether it was acknowledged (the addressee heard it
 * on its own channel). No ACK: retried up to `retries` times, then FAIL. */
#include "coord_int.h"

/* ------------------------------------------------------------ medium */

static void deliver(radio_t *x, const req_t *q, int rssi);
static void node_tx_done(radio_t *s, bool ok, uint64_t now);


void med_to(radio_t *r, const sim_med_msg_t *m)
{
    uint8_t buf[SIM_MED_MAX_MSG];
    size_t n = sim_med_encode(m, buf, sizeof buf);
    if (r->med_fd < 0 || n == 0) return;
    if (r->cfg->kind == RADIO_FIRMWARE) {
        fw_clock(r);
        if (!fw_send_raw(r, buf, n) && m->type == SIM_MED_RX) r->rx_overflow++;
        return;
    }
    if (send(r->med_fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && m->type == SIM_MED_RX) r->rx_overflow++;
}

void submit(int src, const sim_med_msg_t *m, uint64_t now)
{
    if (m->channel < 1 || m->channel > 14 || m->len > SIM_MED_MAX_PAYLOAD) return;
    req_t *q = calloc(1, sizeof *q);
    if (q == NULL) {
        fprintf(stderr, "espnow-sim: out of memory: frame from radio %d dropped\n", src);
        return;
    }
    q->src = src;
    q->seq = m->seq;
    q->ifx = m->ifx;
    q->rate = m->rate;
    q->flags = m->flags;
    q->channel = m->channel;
    q->key_tag = m->key_tag;
    memcpy(q->smac, m->src, 6);
    memcpy(q->dst, m->dst, 6);
    q->len = m->len;
    memcpy(q->data, m->payload, m->len);
    q->t_sub = now;
    if (C.realtime && R[src].last_end && now - R[src].last_end < BACK_TO_BACK_US) q->t_sub = R[src].last_end;
    R[src].tx++;
    bool mcast = q->dst[0] & 1;
    if (s_ch[q->channel].tail) {
        s_ch[q->channel].tail->next = q;
    } else {
        s_ch[q->channel].head = q;
        uint64_t start = q->t_sub > s_ch[q->channel].last_end ? q->t_sub : s_ch[q->channel].last_end;
        q->end_at = C.realtime ? start + sim_airtime_us(q->rate, q->len, !mcast) : now;
    }
    s_ch[q->channel].tail = q;
}

/* End of one attempt: who heard it, was it acknowledged. Returns true when the
 * frame is finished (status in *ok). */
static bool attempt_end(req_t *q, uint64_t now, bool *ok)
{
    radio_t *s = &R[q->src];
    bool mcast = q->dst[0] & 1, acked = false;
    bool burst = now < s_burst_until;
    q->attempts++;
    s->attempts++;
    s_frames++;
    for (int i = 0; i < NR; i++) {
        radio_t *x = &R[i];
        if (i == q->src || !x->started) continue;
        int d = abs((int)x->channel - (int)q->channel);
        if (d > 1 || (d == 1 && !C.leakage)) continue;
        int rif = -1;
        if (mcast) rif = (x->active & 1) ? 0 : (x->active & 2) ? 1 : -1;
        else if ((x->active & 1) && !memcmp(q->dst, x->sta, 6)) rif = 0;
        else if ((x->active & 2) && !memcmp(q->dst, x->ap, 6)) rif = 1;
        if (rif < 0) continue;
        if (!(rate_proto(q->rate) & x->proto[rif])) {
            x->rx_phy++;
            continue;
        }
        if (burst) {
            s_burst_lost++;
            x->rx_lost++;
            continue;
        }
        if (C.loss[q->src][i] > 0 && rnd01() < C.loss[q->src][i]) {
            x->rx_lost++;
            continue;
        }
        if (!mcast && d == 0) acked = true;
        if (q->heard & (1ull << i)) continue;           /* a retry of a frame it already has */
        q->heard |= 1ull << i;
        deliver(x, q, C.rssi[q->src][i] - (d ? C.leak_db : 0));
    }
    if (mcast || acked) {
        *ok = true;
        return true;
    }
    if (q->attempts > C.retries) {
        *ok = false;
        return true;
    }
    return false;
}

static void finish(req_t *q, bool ok, uint64_t now)
{
    radio_t *s = &R[q->src];
    if (ok) s->tx_ok++;
    else s->tx_fail++;
    if (s->cfg->kind == RADIO_DONGLE || s->cfg->kind == RADIO_FIRMWARE) {
        sim_med_msg_t m = { .type = SIM_MED_TX_DONE, .seq = q->seq, .status = ok ? 0 : 1, .attempts = q->attempts };
        med_to(s, &m);
    } else {
        node_tx_done(s, ok, now);
    }
}

/* Runs every attempt whose airtime is over; returns the next end time or UINT64_MAX. */
uint64_t medium_run(uint64_t now)
{
    uint64_t next = UINT64_MAX;
    for (int ch = 1; ch <= 14; ch++) {
        for (int guard = 0; guard < 4096 && s_ch[ch].head && s_ch[ch].head->end_at <= now; guard++) {
            req_t *q = s_ch[ch].head;
            bool ok = false, mcast = q->dst[0] & 1;
            uint64_t end = q->end_at;
            if (!attempt_end(q, now, &ok)) {
                q->end_at = C.realtime ? end + sim_airtime_us(q->rate, q->len, !mcast) : now;
                continue;
            }
            s_ch[ch].head = q->next;
            if (s_ch[ch].head == NULL) s_ch[ch].tail = NULL;
            s_ch[ch].last_end = end;
            R[q->src].last_end = end;
            finish(q, ok, now);                            /* may submit (echo, flood) */
            free(q);
            req_t *h = s_ch[ch].head;
            if (h) {
                uint64_t start = h->t_sub > end ? h->t_sub : end;
                h->end_at = C.realtime ? start + sim_airtime_us(h->rate, h->len, !(h->dst[0] & 1)) : now;
            }
        }
        if (s_ch[ch].head && s_ch[ch].head->end_at < next) next = s_ch[ch].head->end_at;
    }
    return next;
}

uint64_t medium_next(void)
{
    uint64_t next = UINT64_MAX;
    for (int ch = 1; ch <= 14; ch++) {
        if (s_ch[ch].head && s_ch[ch].head->end_at < next) next = s_ch[ch].head->end_at;
    }
    return next;
}

/* Frames of a radio that disappeared: finished on air, nobody told. */
void forget_sender(int src)
{
    for (int ch = 1; ch <= 14; ch++) {
        req_t **pp = &s_ch[ch].head, *prev = NULL;
        while (*pp) {
            req_t *q = *pp;
            if (q->src == src && q != s_ch[ch].head) {
                *pp = q->next;
                free(q);
                continue;
            }
            prev = q;
            pp = &q->next;
        }
        s_ch[ch].tail = prev;
    }
}

/* ------------------------------------------------------------ scripted nodes */

static void node_send(radio_t *s, const uint8_t dst[6], const uint8_t *d, uint16_t len, uint64_t now)
{
    sim_med_msg_t m = { .type = SIM_MED_TX, .seq = ++s->seq, .rate = s->cfg->rate, .channel = s->channel,
                        .len = len, .payload = d };
    memcpy(m.src, s->sta, 6);
    memcpy(m.dst, dst, 6);
    submit(s->idx, &m, now);
}

static bool is_node_mac(const uint8_t m[6])
{
    for (int i = C.ndongles; i < NR; i++) {
        if (!memcmp(m, R[i].sta, 6)) return true;
    }
    return false;
}

static void deliver(radio_t *x, const req_t *q, int rssi)
{
    x->rx++;
    if (x->cfg->kind == RADIO_DONGLE || x->cfg->kind == RADIO_FIRMWARE) {
        sim_med_msg_t m = { .type = SIM_MED_RX, .seq = q->seq, .ifx = q->ifx, .rate = q->rate, .flags = q->flags,
                            .rssi = (int8_t)(rssi < -127 ? -127 : rssi > 0 ? 0 : rssi), .channel = x->channel,
                            .key_tag = q->key_tag, .len = q->len, .payload = q->data };
        memcpy(m.src, q->smac, 6);
        memcpy(m.dst, q->dst, 6);
        med_to(x, &m);
    } else if (x->cfg->kind == RADIO_ECHO && !is_node_mac(q->smac)) {
        /* Echo answers dongles only (two echo nodes would ping-pong forever). */
        node_send(x, q->smac, q->data, q->len, now_us());
    }
}

static void node_tx_done(radio_t *s, bool ok, uint64_t now)
{
    (void)ok;
    if (s->cfg->kind == RADIO_FLOOD) {
        /* Next frame as soon as the air allows; without --realtime the air
         * takes no time, so the flood is paced at its own airtime instead. */
        s->next_at = C.realtime ? now : now + sim_airtime_us(s->cfg->rate, s->cfg->len, false);
    }
}

/* Sensor payload (10 bytes, little-endian): 'S', version 1, seq u32,
 * temp_centi i16 (hundredths of °C), humidity u8 (%), node index u8. */
uint64_t nodes_run(uint64_t now)
{
    static const uint8_t bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint64_t next = UINT64_MAX;
    for (int i = C.ndongles; i < NR; i++) {
        radio_t *s = &R[i];
        if (s->cfg->kind == RADIO_SENSOR && now >= s->next_at) {
            uint8_t p[10];
            uint32_t seq = s->seq + 1;
            int16_t t = (int16_t)(2000 + (int)(rnd64() % 600));
            p[0] = 'S'; p[1] = 1;
            for (int k = 0; k < 4; k++) p[2 + k] = (uint8_t)(seq >> (8 * k));
            p[6] = (uint8_t)t; p[7] = (uint8_t)((uint16_t)t >> 8);
            p[8] = (uint8_t)(30 + rnd64() % 50);
            p[9] = (uint8_t)i;
            node_send(s, s->cfg->to_broadcast ? bc : s->cfg->to, p, sizeof p, now);
            s->next_at = now + (uint64_t)s->cfg->interval_ms * 1000u;
        } else if (s->cfg->kind == RADIO_FLOOD && s->next_at != UINT64_MAX && now >= s->next_at) {
            static uint8_t fill[SIM_MED_MAX_PAYLOAD];
            uint32_t seq = s->seq + 1;
            for (int k = 0; k < 4; k++) fill[k] = (uint8_t)(seq >> (8 * k));
            node_send(s, s->cfg->to_broadcast ? bc : s->cfg->to, fill, s->cfg->len, now);
            s->next_at = UINT64_MAX;                    /* until this one is done */
        }
        if (s->cfg->kind != RADIO_DONGLE && s->cfg->kind != RADIO_ECHO && s->next_at < next) next = s->next_at;
    }
    return next;
}
