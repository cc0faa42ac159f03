/* threads.h — the parts of the adaptive thread policy that take no input from the
 * running system, for the tests (the policy itself: include/t5pt.h, simd/threads.c). */
#ifndef T5PT_THREADS_H
#define T5PT_THREADS_H

/* Runnable tasks of the whole system from the text of /proc/loadavg
 * ("0.52 0.58 0.59 3/412 12345": the fourth field's first number, which counts the
 * reading thread itself). Returns -1 if the text has no such field. */
int t5pt_loadavg_running(const char *text);

/* Threads to use: at most `cap`, at most the cores not taken by other programs
 * (`running` system-wide runnable tasks, `own` of them this process's), at least 1. */
int t5pt_threads_for_load(int cap, int cores, int running, int own);

#endif
