/* ews-sim: subscriptions, shared by subs.c (Subscribe, pull), stream.c and push.c. */
#ifndef SIM_SUBS_H
#define SIM_SUBS_H

#include "sim.h"

enum sim_sub_kind { SUB_PULL, SUB_PUSH, SUB_STREAM };

struct sim_evrec {
    uint8_t type;
    uint32_t item;
    uint64_t wm;
    int64_t ts;
};

struct sim_stream;

struct sim_sub {
    uint32_t serial;
    char id[48];
    uint8_t kind, moved;
    uint16_t types;   /* bit per enum sim_event_type */
    uint16_t folders; /* bit per enum sim_folder; all bits for SubscribeToAllFolders */
    int cas, version;
    uint32_t mailbox, account, generation;
    uint64_t last_wm; /* the PreviousWatermark of the next notification */
    uint64_t sent_wm; /* the last watermark in the notification written last */
    struct sim_evrec *q;
    uint32_t nq, capq;
    struct sim_sub *mbx_next;
    struct event *timer; /* pull: expiry; push: status or retry */
    long timeout_s;      /* pull */
    /* push */
    char *host, *path;
    int port, status_freq_min, inflight, failing, queued;
    uint32_t sending; /* events in the notification in flight */
    double fail_start, retry_s;
    /* streaming */
    struct sim_stream *stream;
};

struct sim_sub *sim_sub_find(const char *id);
void sim_sub_delete(struct sim_sub *s);
/* Writes <PREFIX:Notification> with up to max queued events (a StatusEvent when none);
 * returns how many events it wrote. Nothing is dequeued. */
uint32_t sim_sub_write_notification(struct evbuffer *out, struct sim_sub *s, uint32_t max,
                                    const char *prefix);
/* The notification written last reached the client: drops its n events and moves the
 * PreviousWatermark on to its last watermark (that of a StatusEvent when n is 0). */
void sim_sub_consume(struct sim_sub *s, uint32_t n);
double sim_scaled(double seconds);

int sim_push_start(struct sim_sub *s, const char *url);
void sim_push_kick(struct sim_sub *s);
void sim_push_free(void);
void sim_stream_kick(struct sim_sub *s);
void sim_stream_detach(struct sim_sub *s);
void sim_stream_moved(struct sim_sub *s);

#endif
