/* ipcrig-demo: the Gecko "Demo" sample (seed 001) as one program on libipc
 * that plays every process of it. Shared between its files: options, the
 * per-process state, the per-connection bookkeeping (rig_link) and the
 * entry points of each role. Everything runs on the process's main thread
 * (its loop), except where a comment says the IO thread. */
#ifndef RIG_DEMO_H
#define RIG_DEMO_H

#include "ipc/actor.h"
#include "ipc/endpoint.h"
#include "ipc/host.h"
#include "ipc/loop.h"

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

/* Exit statuses, of main and of each child (docs/process-model.md, "The
 * Demo sample"). */
#define RIG_EXIT_CLEAN    0 /* every actor NormalShutdown, nothing lost */
#define RIG_EXIT_USAGE    1 /* bad command line or a setup step failed */
#define RIG_EXIT_ABNORMAL 2 /* a crash, an AbnormalShutdown, no assistance */
#define RIG_EXIT_LOST     3 /* clean shutdown, but messages were lost */
#define RIG_EXIT_TIMEOUT  4 /* something hung; main killed what was left */

typedef struct rig_opts {
    int from_content;      /* --from content: the content process asks for help */
    int no_sentinel;       /* --no-sentinel: Close PDemo without EmptyMessageQueue */
    int busy_main;         /* --busy-main: main's thread blocks while the demo works */
    int crash_demo;        /* --crash-demo: the demo aborts on RequestAssistance */
    int timeout_s;         /* --timeout: main's watchdog */
    const char *crash_dir; /* --crash-dir, else $IPC_CRASH_DIR; NULL: no reports */
} rig_opts;

/* One top-level actor and its connection, with what is needed to report
 * its counts honestly. */
typedef struct rig_link {
    struct rig_app *app;
    const char *proto;      /* "PDemo" */
    const char *actor_name; /* "DemoParent" */
    ipc_conn *conn;         /* owned unless owned_by_host */
    int owned_by_host;      /* the ipc_host frees it */
    ipc_actor *actor;       /* one reference held */
    const char *peer_type;
    pid_t peer_pid;
    int bound;
    int destroyed;
    ipc_destroy_reason why;
    int closed_by_us;       /* our Close() sent the Goodbye */
    int goodbye_sent;       /* messages our Close() added to counts.sent (0 or 1) */
    atomic_int chan_closed; /* set on the IO thread when the channel closed */
} rig_link;

#define RIG_MAX_LINKS 4

typedef struct rig_app {
    ipc_loop *loop;
    const char *type;        /* "main", "content", "demo" */
    const char *gecko_label; /* log label: "default", "tab", "demo" */
    pid_t pid;
    rig_opts opts;
    const char *self_exe;
    rig_link links[RIG_MAX_LINKS];
    size_t nlinks;
    int result; /* the worst RIG_EXIT_* seen so far */
    int done;
    int timed_out;
    int (*is_done)(struct rig_app *app); /* role's completion test */
    void *role;                          /* the role's own state */
    /* Called when DemoHelplineParent dies (content closes PContent then). */
    void (*on_helpline_parent_destroyed)(struct rig_app *app);
} rig_app;

/* ---- output (link.c) ---- */

/* One progress line on stdout, "[demo 1234] text", in one write() so the
 * lines of concurrent processes never mix. */
void rig_say(const rig_app *app, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same on stderr, for errors: names what failed. */
void rig_err(const rig_app *app, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Remembers the worst outcome (RIG_EXIT_* ordering: ABNORMAL > LOST > CLEAN;
 * USAGE and TIMEOUT win over everything). */
void rig_note_result(rig_app *app, int code);

/* ---- links (link.c) ---- */

/* A new link slot for `proto` with peer `peer_type`/`peer_pid`. NULL when
 * full (a programming error: the roles use at most RIG_MAX_LINKS). */
rig_link *rig_link_add(rig_app *app, const char *proto, const char *actor_name,
                       const char *peer_type, pid_t peer_pid);
/* An actor's ActorDestroy; ctx is its rig_link. It must call
 * rig_link_destroyed(). */
typedef void (*rig_destroy_fn)(void *ctx, ipc_actor *a, ipc_destroy_reason why);
/* Creates the top-level actor of the link (its ctx is the link). */
int rig_link_new_actor(rig_link *l, const ipc_protocol_desc *proto, ipc_side side,
                       const ipc_msgmap_entry *map, size_t map_len, rig_destroy_fn destroy);
/* Records `conn` and watches its channel close (a filter's on_removed). */
int rig_link_attach(rig_link *l, ipc_conn *conn, int owned_by_host);
/* Close() on the link's actor, counting the Goodbye it sends. Never from a
 * handler of that connection (post a task): the seed forbids it. */
void rig_link_close(rig_link *l);
/* Posts rig_link_close to the loop (safe from handlers and callbacks). */
void rig_link_close_later(rig_link *l);
/* The ActorDestroy bookkeeping every role's actor_destroy calls first. */
void rig_link_destroyed(rig_link *l, ipc_destroy_reason why);
/* 1 once the actor is dead and the channel under it closed (or never was). */
int rig_link_finished(const rig_link *l);
/* Prints the link's counts line and returns its lost count. */
unsigned long rig_link_report(rig_link *l);
/* Frees what the link owns. */
void rig_link_dispose(rig_link *l);
/* Re-checks the role's completion; quits the loop when done. */
void rig_app_check(rig_app *app);
/* Posts rig_app_check (for callers inside libipc callbacks). */
void rig_app_check_later(rig_app *app);
/* Runs the loop until the role is done or `timeout_ms` passes (0: none). */
void rig_app_run(rig_app *app, unsigned timeout_ms);

/* ---- roles ---- */

/* Runs the main process; returns its exit status (RIG_EXIT_*). */
int rig_main_process(rig_app *app); /* parent.c */
/* What an exit status means, for main's last line. */
const char *rig_result_text(int code);
int rig_demo_process(rig_app *app, const ipc_child_info *info);    /* demo.c */
int rig_content_process(rig_app *app, const ipc_child_info *info); /* content.c */

/* DemoHelplineParent (helpline.c), in main or in a content process: binds
 * `ep` (taken) and asks for assistance. 0 or a negative code (printed). */
int rig_helpline_parent_start(rig_app *app, ipc_endpoint *ep);
/* 1 once the assistance string arrived. */
int rig_helpline_parent_answered(const rig_app *app);

#endif
