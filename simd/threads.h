/* threads.h — the parts of the adaptive thread policy that take no input from the
 * running system, for the tests (the policy itself: include/t5pt.h, simd/threads.c). */
#ifndef T5PT_THREADS_H
#define T5PT_THREADS_H

/* Runnable tasks of the whole system from the text of /proc/loadavg
 * ("0.52 0.58 0.59 3/412 12345": the fourth field's first number, which counts the
 * reading thread itself). Returns -1 if the text has no such field. */
int t5pt_loadavg_running(const char *text);

/* A cgroup's CPU quota in whole cores (rounded up, at least 1); 0 when it sets none.
 * t5pt_cpu_max_cores reads the text of a cgroup v2 cpu.max ("max 100000", "150000 100000":
 * 1.5 cores, so 2); t5pt_cfs_quota_cores the texts of cgroup v1's cpu.cfs_quota_us ("-1":
 * none) and cpu.cfs_period_us. -1 when a text is not that format. */
int t5pt_cpu_max_cores(const char *text);
int t5pt_cfs_quota_cores(const char *quota_text, const char *period_text);

/* The CPU quota of this process's cgroup and of the groups above it, in whole cores (the
 * smallest); 0 when none is set or none can be read. Read once (simd/threads.c). */
int t5pt_cgroup_cpu_cores(void);

/* Threads to use: at most `cap`, at most the cores not taken by other programs
 * (`running` system-wide runnable tasks, `own` of them this process's), at least 1. */
int t5pt_threads_for_load(int cap, int cores, int running, int own);

#endif
