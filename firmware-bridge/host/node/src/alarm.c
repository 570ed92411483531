#include "alarm.h"

static uint64_t s_order;

static void svc_task(void *arg)
{
    rt_alarm_svc_t *s = arg;
    for (;;) {
        rt_alarm_t *due = NULL;
        for (rt_alarm_t *a = s->list; a; a = a->next) {
            if (a->active && (!due || a->at < due->at || (a->at == due->at && a->order < due->order))) due = a;
        }
        if (due == NULL || due->at > rt_now()) {
            rt_block(&s->wait, due ? due->at : RT_FOREVER);
            continue;
        }
        if (due->period) {
            due->at += due->period;
            due->order = ++s_order;
        } else {
            due->active = false;
        }
        due->fire(due);
    }
}

void rt_alarm_svc_start(rt_alarm_svc_t *s, const char *name, unsigned prio)
{
    s->task = rt_task_new(svc_task, name, prio, s);
}

void rt_alarm_arm(rt_alarm_svc_t *s, rt_alarm_t *a, uint64_t at, uint64_t period)
{
    if (!a->listed) {
        a->next = s->list;
        s->list = a;
        a->listed = true;
    }
    a->at = at;
    a->period = period;
    a->order = ++s_order;
    a->active = true;
    rt_wake_one(&s->wait);
    rt_preempt();
}

void rt_alarm_disarm(rt_alarm_svc_t *s, rt_alarm_t *a)
{
    (void)s;
    a->active = false;
}

void rt_alarm_remove(rt_alarm_svc_t *s, rt_alarm_t *a)
{
    for (rt_alarm_t **pp = &s->list; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    }
    a->listed = false;
    a->active = false;
}
