/* The simulated CPU: tasks are POSIX threads, exactly one of which runs at a
 * time (the one rt_current names, or the runtime's loop when it is NULL). A
 * thread runs while holding rt_mu and waits on its own condition variable for
 * its turn, so the order in which tasks run is decided here alone and a run
 * repeats exactly. Scheduling follows FreeRTOS on one core: the highest
 * priority ready task runs; equal priorities take turns in the order they
 * became ready; a task that makes a higher-priority task ready is preempted at
 * once. Code takes no simulated time: only blocking lets time pass. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

pthread_mutex_t rt_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_loop_cv = PTHREAD_COND_INITIALIZER;
static rt_task_t *s_current;          /* NULL: the runtime loop has the CPU */
static rt_task_t *s_tasks;            /* creation order */
static uint64_t s_ready_seq;
static uint32_t s_next_id = 1;
static __thread rt_task_t *s_me;

rt_task_t *rt_self(void) { return s_me; }
rt_task_t *rt_task_first(void) { return s_tasks; }

bool rt_any_ready(void)
{
    for (rt_task_t *t = s_tasks; t; t = t->next) {
        if (t->state == RT_READY) return true;
    }
    return false;
}

static rt_task_t *pick(void)
{
    rt_task_t *best = NULL;
    for (rt_task_t *t = s_tasks; t; t = t->next) {
        if (t->state != RT_READY) continue;
        if (!best || t->prio > best->prio || (t->prio == best->prio && t->ready_seq < best->ready_seq)) best = t;
    }
    return best;
}

static void wait_turn(rt_task_t *me)
{
    if (me == NULL) {
        while (s_current != NULL) pthread_cond_wait(&s_loop_cv, &rt_mu);
        return;
    }
    while (s_current != me && !me->killed) pthread_cond_wait(&me->cv, &rt_mu);
    if (me->killed) {
        pthread_mutex_unlock(&rt_mu);
        pthread_exit(NULL);
    }
}

static void hand_to(rt_task_t *next)
{
    s_current = next;
    if (next) pthread_cond_signal(&next->cv);
    else pthread_cond_signal(&s_loop_cv);
}

/* The caller (a task whose state is no longer RUNNING-as-best) gives up the
 * CPU to whoever should run now and waits for its own turn. */
static void reschedule(void)
{
    rt_task_t *me = s_me;
    rt_task_t *next = pick();
    if (next == me) return;
    hand_to(next);
    wait_turn(me);
}

void rt_make_ready(rt_task_t *t)
{
    if (t->state == RT_DELETED) return;
    t->state = RT_READY;
    t->wait_obj = NULL;
    t->wake_at = RT_FOREVER;
    t->ready_seq = ++s_ready_seq;
}

static uint64_t s_blocks;
uint64_t rt_block_count(void) { return s_blocks; }

bool rt_block(const void *obj, uint64_t deadline)
{
    rt_task_t *me = s_me;
    s_blocks++;
    if (me == NULL || deadline <= rt_now()) return false;
    me->state = RT_BLOCKED;
    me->wait_obj = obj;
    me->wake_at = deadline;
    me->timed_out = false;
    reschedule();
    return !me->timed_out;
}

rt_task_t *rt_wake_one(const void *obj)
{
    rt_task_t *best = NULL;
    for (rt_task_t *t = s_tasks; t; t = t->next) {
        if (t->state != RT_BLOCKED || t->wait_obj != obj || obj == NULL) continue;
        if (!best || t->prio > best->prio) best = t;
    }
    if (best) rt_make_ready(best);
    return best;
}

void rt_wake_all(const void *obj)
{
    for (rt_task_t *t = s_tasks; t; t = t->next) {
        if (t->state == RT_BLOCKED && t->wait_obj == obj && obj != NULL) rt_make_ready(t);
    }
}

void rt_preempt(void)
{
    rt_task_t *me = s_me;
    if (me == NULL) return;               /* the runtime loop picks the best task itself */
    rt_task_t *next = pick();
    if (next && next != me && next->prio > me->prio) reschedule();
}

void rt_yield(void)
{
    rt_task_t *me = s_me;
    if (me == NULL) return;
    me->ready_seq = ++s_ready_seq;        /* behind the others of its priority */
    reschedule();
}

static void *thread_main(void *p)
{
    rt_task_t *me = p;
    pthread_mutex_lock(&rt_mu);
    s_me = me;
    wait_turn(me);
    me->fn(me->arg);
    /* FreeRTOS tasks must not return; ESP-IDF aborts when one does. */
    char msg[80];
    snprintf(msg, sizeof msg, "task '%s' returned from its function", me->name);
    rt_panic(msg);
    return NULL;
}

rt_task_t *rt_task_new(void (*fn)(void *), const char *name, unsigned prio, void *arg)
{
    rt_task_t *t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    t->prio = prio;
    t->fn = fn;
    t->arg = arg;
    t->id = s_next_id++;
    pthread_cond_init(&t->cv, NULL);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 256 * 1024);
    rt_make_ready(t);
    rt_task_t **pp = &s_tasks;
    while (*pp) pp = &(*pp)->next;
    *pp = t;
    if (pthread_create(&t->th, &a, thread_main, t) != 0) {
        pthread_attr_destroy(&a);
        t->state = RT_DELETED;
        return NULL;
    }
    pthread_attr_destroy(&a);
    t->started = true;
    rt_preempt();
    return t;
}

void rt_task_delete(rt_task_t *t)
{
    if (t == NULL || t->state == RT_DELETED) return;
    t->state = RT_DELETED;
    if (t == s_me) {
        hand_to(pick());
        s_me = NULL;
        pthread_mutex_unlock(&rt_mu);
        pthread_exit(NULL);
    }
    t->killed = true;
    pthread_cond_signal(&t->cv);
}

/* ---- the runtime loop's side (called by node_main.c with rt_mu held) */

/* Runs ready tasks until every task is blocked. */
void rt_run_tasks(void);
void rt_run_tasks(void)
{
    for (;;) {
        rt_task_t *n = pick();
        if (n == NULL) return;
        hand_to(n);
        wait_turn(NULL);
    }
}

/* Makes ready every task whose timeout is at or before now; returns the
 * earliest remaining deadline. */
uint64_t rt_expire(uint64_t now);
uint64_t rt_expire(uint64_t now)
{
    uint64_t next = RT_FOREVER;
    for (rt_task_t *t = s_tasks; t; t = t->next) {
        if (t->state != RT_BLOCKED) continue;
        if (t->wake_at <= now) {
            rt_make_ready(t);
            t->timed_out = true;
        } else if (t->wake_at < next) {
            next = t->wake_at;
        }
    }
    return next;
}
