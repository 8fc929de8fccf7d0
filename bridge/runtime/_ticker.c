/* bridge's epoch ticker: one native thread advances wasmtime engines' epochs, so that a
 * guest stops at its deadline whatever Python threads do with the GIL.
 *
 * bridge/runtime/ticker.py loads it with ctypes. It is optional: a wheel built without a
 * C compiler has none, and a Python thread ticks instead. It links nothing of wasmtime:
 * Python hands over wasmtime_engine_increment_epoch's address and engine references of
 * its own (wasmtime_engine_clone), which it deletes only after bridge_ticker_remove.
 *
 * Until `fast_until`, which callers push forward before arming deadlines, the thread
 * wakes every `fast_ticks` ticks of `tick_ns` and adds them; after that it wakes every
 * `idle_ns` and adds one tick, so an idle process costs next to nothing. A thread that
 * waited for a CPU does not make the missed ticks up, nor does one woken early by a
 * caller, so epochs fall behind the clock but never run ahead of it: deadlines fire
 * late, never early. Engines are advanced under the lock, so an engine removed is
 * never touched again. fork() is safe: the lock is held across it, and the child starts
 * a thread of its own on its first bridge_ticker_run_until. */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define MAX_ENGINES 64
#define NS_PER_S 1000000000LL

typedef void (*increment_fn)(void *engine);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed;
static increment_fn increment;
static void *engines[MAX_ENGINES];
static int engine_count;
static int64_t tick_ns, fast_ticks, idle_ns, fast_until;
static int running, initialized;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * NS_PER_S + t.tv_nsec;
}

static void *run(void *unused) {
    (void)unused;
    sigset_t all; /* signals are Python's main thread's business */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
#ifdef __linux__
    prctl(PR_SET_NAME, "bridge-ticker"); /* what ps, top and /proc show */
#endif
    pthread_mutex_lock(&lock);
    int64_t fast_ns = tick_ns * fast_ticks;
    int64_t next = now_ns() + fast_ns, ticks = fast_ticks;
    for (;;) {
        struct timespec at = {(time_t)(next / NS_PER_S), (long)(next % NS_PER_S)};
        int woken = pthread_cond_timedwait(&changed, &lock, &at) == 0;
        int64_t now = now_ns();
        if (woken) { /* the pace may have quickened: a fast step from now, nothing owed */
            if (now < fast_until && now + fast_ns < next) next = now + fast_ns, ticks = fast_ticks;
            continue;
        }
        if (now < next) continue;
        for (int i = 0; i < engine_count; i++)
            for (int64_t t = 0; t < ticks; t++) increment(engines[i]);
        int fast = now < fast_until;
        int64_t step = fast ? fast_ns : idle_ns;
        ticks = fast ? fast_ticks : 1;
        next += step;
        if (next <= now) next = now + step; /* late by a whole step: not made up */
    }
    return NULL;
}

static void before_fork(void) { pthread_mutex_lock(&lock); }
static void after_fork_in_parent(void) { pthread_mutex_unlock(&lock); }

static void after_fork_in_child(void) {
    /* The thread stayed in the parent, and so did any wait on the condition. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&changed, &attr);
    pthread_condattr_destroy(&attr);
    running = 0;
    fast_until = 0;
    pthread_mutex_unlock(&lock);
}

/* Once per process, before anything else: 0 or an errno. */
int bridge_ticker_init(increment_fn fn, int64_t tick, int64_t ticks_per_wake, int64_t idle) {
    pthread_mutex_lock(&lock);
    int rc = 0;
    if (!initialized) {
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        if (!rc) rc = pthread_cond_init(&changed, &attr);
        pthread_condattr_destroy(&attr);
        if (!rc) rc = pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
        initialized = !rc;
    }
    increment = fn;
    tick_ns = tick;
    fast_ticks = ticks_per_wake;
    idle_ns = idle;
    pthread_mutex_unlock(&lock);
    return rc;
}

/* 0, or ENOSPC when MAX_ENGINES engines are ticking already. */
int bridge_ticker_add(void *engine) {
    pthread_mutex_lock(&lock);
    int rc = ENOSPC;
    if (engine_count < MAX_ENGINES) {
        engines[engine_count++] = engine;
        rc = 0;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* Once this returns, the thread never touches `engine` again. */
void bridge_ticker_remove(void *engine) {
    pthread_mutex_lock(&lock);
    for (int i = 0; i < engine_count; i++) {
        if (engines[i] == engine) {
            engines[i] = engines[--engine_count];
            break;
        }
    }
    pthread_mutex_unlock(&lock);
}

/* Tick fast until `until` (monotonic ns) at least; starts the thread the first time.
 * 0 or pthread_create's errno. */
int bridge_ticker_run_until(int64_t until) {
    pthread_mutex_lock(&lock);
    int rc = 0;
    if (until > fast_until) fast_until = until;
    if (!running) {
        pthread_attr_t attr;
        pthread_t thread;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        rc = pthread_create(&thread, &attr, run, NULL);
        pthread_attr_destroy(&attr);
        running = !rc;
    }
    pthread_cond_signal(&changed);
    pthread_mutex_unlock(&lock);
    return rc;
}
