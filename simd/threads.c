/* threads.c — how many threads run, and how idle threads wait.
 *
 * Two things decide whether a second thread helps on a shared machine (a laptop with a
 * browser, a CI runner with another job):
 *  - whether a core is free at all: a team of T threads on T cores with one other busy
 *    program waits at every barrier for whichever thread the scheduler left out (and a
 *    spinning idle thread takes the core the working one needs): a fixed 2-thread step
 *    with one busy program took 1.7x the 1-thread time (BENCHMARKS.md, "Threads on a
 *    shared machine"). The adaptive policy below counts the other programs and runs
 *    fewer threads;
 *  - how an idle thread waits between parallel regions: the runtime's default, see
 *    "wait policy".
 * The thread count never changes a result (every product and reduction has a fixed
 * order, tests/test_backward.c checks bit identity across counts), so adapting it is
 * free of numerical consequences.
 */
#include "base/internal.h"
#include "simd/threads.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------------ wait policy */

/* The wait policy is the OpenMP runtime's own: libgomp spins up to GOMP_SPINCOUNT
 * (300000) times at a barrier before an idle thread sleeps, unless the user sets
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT. Nothing here changes it, for two measured reasons
 * (BENCHMARKS.md, "Threads on a shared machine"):
 *  - passive waiting (OMP_WAIT_POLICY=passive) made a quiet 2-thread t5-small step
 *    1.13-1.23x slower at batch 8 and 1.3-1.7x at batch 2: a step has thousands of
 *    barriers, and each then costs a sleep and a wake-up;
 *  - on a busy machine the adaptive thread count below runs one thread, and a team of one
 *    never waits.
 * (An earlier build set OMP_WAIT_POLICY=passive from a .preinit_array entry. That never
 * reached a dynamically linked libgomp: the C library installs the original environment
 * again before libgomp's constructor reads it, as OMP_DISPLAY_ENV=verbose shows with
 * GOMP_SPINCOUNT = '300000'. The runtime offers no call to set the policy.) */

/* ------------------------------------------------------------------ CPU quota */

/* A container limited to 2 CPUs of a 32-core host (docker --cpus 2, a Kubernetes CPU
 * limit, a CI runner) still shows OpenMP 32 processors: the limit is a cgroup quota of
 * CPU time, not a CPU set. 32 threads on 2 cores' worth of time are throttled in turn
 * and wait at every barrier, so the default thread count is capped by the quota. */

/* Reads a decimal number (a leading '-' allowed) at *p and moves *p past it; 0 when there
 * is none there. */
static int parse_long(const char **p, long long *v) {
    const char *s = *p;
    int neg = *s == '-';
    if (neg) s++;
    if (*s < '0' || *s > '9') return 0;
    long long n = 0;
    while (*s >= '0' && *s <= '9' && n < (1LL << 50)) n = n * 10 + (*s++ - '0');
    *v = neg ? -n : n;
    *p = s;
    return 1;
}

static int quota_cores(long long quota, long long period) {
    if (period <= 0) return -1;
    long long cores = (quota + period - 1) / period;
    return cores < 1 ? 1 : cores > 1 << 20 ? 1 << 20 : (int)cores;
}

int t5pt_cpu_max_cores(const char *text) {
    const char *p = text;
    long long quota, period;
    if (strncmp(p, "max", 3) == 0) {
        p += 3;
        quota = -1;
    } else if (!parse_long(&p, &quota) || quota <= 0) {
        return -1;
    }
    if (*p++ != ' ' || !parse_long(&p, &period) || (*p && *p != '\n') || period <= 0) return -1;
    return quota < 0 ? 0 : quota_cores(quota, period);
}

int t5pt_cfs_quota_cores(const char *quota_text, const char *period_text) {
    const char *q = quota_text, *pp = period_text;
    long long quota, period;
    if (!parse_long(&q, &quota) || (*q && *q != '\n') || !parse_long(&pp, &period) || (*pp && *pp != '\n') ||
        period <= 0 || quota == 0 || quota < -1)
        return -1;
    return quota == -1 ? 0 : quota_cores(quota, period);
}

#ifdef __linux__
/* The first line of a small file, or NULL. */
static char *read_line(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *line = fgets(buf, (int)size, f);
    fclose(f);
    return line;
}

/* The quota set in one cgroup directory: cpu.max (v2) or cpu.cfs_quota_us and
 * cpu.cfs_period_us (v1); 0 for none. */
static int dir_quota(const char *dir, int v1) {
    char path[4300], buf[128], period[64];
    snprintf(path, sizeof path, "%s/%s", dir, v1 ? "cpu.cfs_quota_us" : "cpu.max");
    if (!read_line(path, buf, sizeof buf)) return 0;
    int cores;
    if (!v1) {
        cores = t5pt_cpu_max_cores(buf);
    } else {
        snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
        cores = read_line(path, period, sizeof period) ? t5pt_cfs_quota_cores(buf, period) : 0;
    }
    return cores > 0 ? cores : 0;
}

/* The smallest quota of mount + path and of its parents up to the mount point (a limit
 * set on a parent group binds its children too). */
static int min_quota_up(const char *mount, const char *path, int v1) {
    char dir[4200];
    const size_t root_len = strlen(mount);
    if (strcmp(path, "/") == 0) path = "";
    if (snprintf(dir, sizeof dir, "%s%s", mount, path) >= (int)sizeof dir) return 0;
    int best = 0;
    for (;;) {
        int cores = dir_quota(dir, v1);
        if (cores > 0 && (best == 0 || cores < best)) best = cores;
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < root_len) break;
        *slash = 0;
    }
    return best;
}

/* Whether a comma-separated controller list of /proc/self/cgroup names "cpu". */
static int names_cpu(const char *list, size_t len) {
    for (const char *p = list; p < list + len;) {
        const char *comma = memchr(p, ',', (size_t)(list + len - p));
        size_t n = comma ? (size_t)(comma - p) : (size_t)(list + len - p);
        if (n == 3 && strncmp(p, "cpu", 3) == 0) return 1;
        p += n + 1;
    }
    return 0;
}

/* From /proc/self/cgroup: "0::/path" is the process's cgroup v2 group (mounted at
 * /sys/fs/cgroup), "N:cpu,cpuacct:/path" its cgroup v1 cpu group (under
 * /sys/fs/cgroup/cpu). In a container with its own cgroup namespace the path is "/" and
 * the mount shows the container's group. */
static int read_cgroup_cores(void) {
    char line[4096];
    int best = 0;
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        int cores = 0;
        if (c2 == c1 + 1 && strncmp(line, "0:", 2) == 0)
            cores = min_quota_up("/sys/fs/cgroup", c2 + 1, 0);
        else if (names_cpu(c1 + 1, (size_t)(c2 - c1 - 1)))
            cores = min_quota_up("/sys/fs/cgroup/cpu", c2 + 1, 1);
        if (cores > 0 && (best == 0 || cores < best)) best = cores;
    }
    fclose(f);
    return best;
}
#endif

int t5pt_cgroup_cpu_cores(void) {
    static int cached = -1;
    if (cached < 0) {
#ifdef __linux__
        cached = read_cgroup_cores();
#else
        cached = 0;
#endif
    }
    return cached;
}

/* ------------------------------------------------------------------ thread count */

static t5pt_thread_policy policy_now = T5PT_THREADS_FIXED;
#define SEEN 8
static struct {
    int cap;                /* most threads (0: not set yet, OpenMP's default) */
    double last_check;      /* when the adaptive policy last counted other programs */
    double seen_at[SEEN];   /* the last SEEN checks: when, and how many threads each allowed */
    int seen_threads[SEEN], seen_next, seen_count;
} adapt = {.last_check = -1e9};

/* OpenMP's own setting is the single source of truth for the count in use:
 * OMP_NUM_THREADS at start, t5pt_set_num_threads and the adaptive policy later. */
int t5pt_num_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

#ifdef _OPENMP
/* One thread per core, or per core of the cgroup's CPU quota when that is fewer. */
static int default_threads(void) {
    int n = omp_get_num_procs(), q = t5pt_cgroup_cpu_cores();
    return q > 0 && q < n ? q : n;
}
#endif

void t5pt_set_num_threads(int n) {
#ifdef _OPENMP
    if (n <= 0) n = default_threads();
    adapt.cap = n;
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

void t5pt_set_thread_policy(t5pt_thread_policy policy) {
#ifdef _OPENMP
    if (!adapt.cap) {
        /* OpenMP's count (OMP_NUM_THREADS, else one per processor), capped by the CPU
         * quota unless the user gave the count */
        adapt.cap = omp_get_max_threads();
        const int quota_capped = default_threads();
        if (!getenv("OMP_NUM_THREADS") && quota_capped < adapt.cap) adapt.cap = quota_capped;
    }
    omp_set_num_threads(adapt.cap);
#endif
    policy_now = policy == T5PT_THREADS_ADAPTIVE ? T5PT_THREADS_ADAPTIVE : T5PT_THREADS_FIXED;
    adapt.last_check = -1e9;
    adapt.seen_count = adapt.seen_next = 0;
}

t5pt_thread_policy t5pt_get_thread_policy(void) { return policy_now; }

int t5pt_loadavg_running(const char *text) {
    /* three averages, then "running/total" */
    const char *p = text;
    for (int field = 0; field < 3; field++) {
        while (*p == ' ') p++;
        if (!*p) return -1;
        while (*p && *p != ' ') p++;
    }
    while (*p == ' ') p++;
    if (*p < '0' || *p > '9') return -1;
    long n = 0;
    while (*p >= '0' && *p <= '9' && n < 1000000) n = n * 10 + (*p++ - '0');
    return *p == '/' ? (int)n : -1;
}

int t5pt_threads_for_load(int cap, int cores, int running, int own) {
    int others = running - own;
    if (others < 0) others = 0;
    int n = cores - others;
    if (n > cap) n = cap;
    return n < 1 ? 1 : n;
}

#if defined(_OPENMP) && defined(__linux__)
/* Tasks of the whole system able to run now, or -1. */
static int system_running(void) {
    char buf[128];
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return -1;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    return t5pt_loadavg_running(buf);
}

/* This process's threads in state R (running or runnable), or -1. The calling thread is
 * one of them; idle OpenMP workers sleep (passive wait policy) or spin (counted here, so
 * they are not taken for another program). */
static int own_running(void) {
    DIR *dir = opendir("/proc/self/task");
    if (!dir) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%.20s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue; /* the thread ended */
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        const char *close = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
        if (close && close[1] == ' ' && close[2] == 'R') n++;
    }
    closedir(dir);
    return n;
}
#endif

int t5pt_threads_adapt(void) {
#if defined(_OPENMP) && defined(__linux__)
    if (policy_now != T5PT_THREADS_ADAPTIVE || omp_in_parallel()) return t5pt_num_threads();
    double now = t5pt_seconds();
    if (now - adapt.last_check < T5PT_THREADS_RECHECK_S) return t5pt_num_threads();
    adapt.last_check = now;
    if (!adapt.cap) adapt.cap = omp_get_max_threads();
    /* The most threads of three looks: a shell or a kernel thread that runs for a moment
     * is not a program competing for the step's minutes. */
    const int cores = omp_get_num_procs();
    int n = 0;
    for (int look = 0; look < 3; look++) {
        int running = system_running(), own = own_running();
        if (running < 0 || own < 0) return t5pt_num_threads(); /* no /proc: stay as set */
        int allowed = t5pt_threads_for_load(adapt.cap, cores, running, own);
        if (allowed > n) n = allowed;
    }
    /* ... nor is one that runs for less than a second: the most threads any check of the
     * last second allowed (a forward pass longer than that has one check). */
    adapt.seen_at[adapt.seen_next] = now;
    adapt.seen_threads[adapt.seen_next] = n;
    adapt.seen_next = (adapt.seen_next + 1) % SEEN;
    if (adapt.seen_count < SEEN) adapt.seen_count++;
    for (int i = 0; i < adapt.seen_count; i++)
        if (now - adapt.seen_at[i] <= 1.0 && adapt.seen_threads[i] > n) n = adapt.seen_threads[i];
    if (n != omp_get_max_threads()) omp_set_num_threads(n);
    return n;
#else
    return t5pt_num_threads();
#endif
}
