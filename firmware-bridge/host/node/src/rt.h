/* Internals of the node runtime: one simulated single-core CPU shared by the
 * tasks (POSIX threads that run one at a time, handing a baton), the simulated
 * clock and the link to the coordinator. Not an IDF API. */
#ifndef NODE_RT_H
#define NODE_RT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define RT_FOREVER UINT64_MAX

enum { RT_READY = 0, RT_BLOCKED, RT_SUSPENDED, RT_DELETED };

typedef struct rt_task {
    pthread_t th;
    pthread_cond_t cv;
    char name[16];
    unsigned prio;
    int state;
    bool killed;                  /* deleted by another task: the thread ends when it next wakes */
    bool started;
    const void *wait_obj;         /* what it is blocked on (NULL: a plain delay) */
    uint64_t wake_at;             /* simulated µs, RT_FOREVER for none */
    bool timed_out;
    uint64_t ready_seq;           /* FIFO order among ready tasks of one priority */
    void (*fn)(void *);
    void *arg;
    uint32_t notify_value;
    uint8_t notify_state;         /* 0 none, 1 waiting, 2 pending */
    uint32_t id;
    /* event group wait, judged by the setter for all waiters at once */
    uint32_t ev_want, ev_result;
    bool ev_all, ev_clear, ev_done;
    struct rt_task *next;
} rt_task_t;

/* Everything below is called with the CPU held (from a task, or from the
 * runtime's own loop where noted). */
extern pthread_mutex_t rt_mu;
rt_task_t *rt_self(void);                 /* NULL outside a task */
uint64_t rt_now(void);                    /* simulated µs (shared by every radio) */
uint64_t rt_uptime_us(void);              /* since this boot */
uint32_t rt_tick_us(void);
uint64_t rt_ticks_to_deadline(uint32_t ticks);   /* now + ticks; RT_FOREVER for portMAX_DELAY */
/* Blocks the calling task on obj until rt_wake()d or until deadline. Returns
 * false on timeout. A call outside a task (or with deadline <= now) returns false at once. */
bool rt_block(const void *obj, uint64_t deadline);
/* How many times tasks have blocked (a loop that never blocks can be told apart). */
uint64_t rt_block_count(void);
/* Makes the highest-priority task blocked on obj ready; returns it (or NULL). */
rt_task_t *rt_wake_one(const void *obj);
void rt_wake_all(const void *obj);
void rt_make_ready(rt_task_t *t);
/* Switches to a ready task of higher priority than the caller, if any. */
void rt_preempt(void);
/* Gives the CPU to the next ready task of the same or higher priority. */
void rt_yield(void);
rt_task_t *rt_task_new(void (*fn)(void *), const char *name, unsigned prio, void *arg);
void rt_task_delete(rt_task_t *t);
rt_task_t *rt_task_first(void);
bool rt_any_ready(void);

/* Node services */
void rt_panic(const char *why);                           /* never returns */
void rt_halt(int kind, uint64_t sleep_us);                /* deep sleep / restart: never returns */
void rt_light_sleep(uint64_t us);
void rt_wifi_kick(void);                                  /* the Wi-Fi task has work */
const char *rt_state_dir(void);
int rt_reset_reason(void);
int rt_wake_cause(void);
uint64_t rt_seed(void);
void rt_console_flush(void);

/* Per-module boot hooks (node_main.c calls them before app_main). */
void rt_log_boot(void);
void rt_nvs_boot(void);
void rt_event_boot(void);
void rt_timers_boot(void);
void rt_esp_timer_boot(void);
void rt_sys_boot(void);
void rt_rtc_restore(void);
void rt_rtc_save(void);

#endif
