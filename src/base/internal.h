/* internal.h — helpers shared by the library's translation units (not installed). */
#ifndef T5PT_INTERNAL_H
#define T5PT_INTERNAL_H

#include "t5pt.h"
#include <stddef.h>
#include <stdint.h>

/* Records the error message of the current thread (one line, printf-style) and
 * returns `st`, so a failing path can write `return t5pt_set_error(T5PT_ERR_IO, "...")`.
 * The arguments may include t5pt_last_error() itself (to add context to a message). */
t5pt_status t5pt_set_error(t5pt_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Reads a whole regular file into a malloc'd, NUL-terminated buffer. A FIFO, device or
 * directory is refused at once (never waited on). */
t5pt_status t5pt_read_file(const char *path, char **data, size_t *len);
/* Writes data to path atomically: path.tmp.<pid> is written, fsync'd, then renamed over path.
 * An existing FIFO or device (/dev/null, /dev/stdout) is written in place instead. */
t5pt_status t5pt_write_file_atomic(const char *path, const void *data, size_t len);
/* The same for a file made of n pieces data[i][0..len[i]) written in order (no joined copy). */
t5pt_status t5pt_write_parts_atomic(const char *path, int n, const void *const *data, const size_t *len);
/* Joins dir and name with one '/'; returns a malloc'd string (NULL on OOM). */
char *t5pt_path_join(const char *dir, const char *name);
int t5pt_file_exists(const char *path);
/* Monotonic wall-clock time in seconds (for progress, ETA and benchmarks). */
double t5pt_seconds(void);
int t5pt_is_dir(const char *path);

/* Aligned allocation (64 bytes) for float arenas; free with t5pt_free_aligned. */
void *t5pt_alloc_aligned(size_t bytes);
void t5pt_free_aligned(void *p);

/* splitmix64 step: mixes x + 0x9e3779b97f4a7c15 into 64 well-spread bits. Seeds the
 * generator below and hashes counters (dropout masks) without any state. */
uint64_t t5pt_splitmix64(uint64_t x);

/* splitmix64-seeded xoshiro256** generator: reproducible across platforms. */
typedef struct { uint64_t s[4]; } t5pt_rng;
void t5pt_rng_seed(t5pt_rng *r, uint64_t seed);
uint64_t t5pt_rng_next(t5pt_rng *r);
double t5pt_rng_uniform(t5pt_rng *r);   /* [0,1) with 53 bits */
float t5pt_rng_normal(t5pt_rng *r);     /* N(0,1), Box-Muller */

#endif
