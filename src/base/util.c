/* util.c — error messages, whole-file I/O, aligned allocation and the RNG. */
#define _POSIX_C_SOURCE 200809L
#include "base/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char error_message[1024];

t5pt_status t5pt_set_error(t5pt_status st, const char *fmt, ...) {
    /* formatted aside first, so a caller may add context to the last message:
     * t5pt_set_error(st, "%s (hint)", t5pt_last_error()) */
    char msg[sizeof error_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(error_message, msg, sizeof msg);
    return st;
}

const char *t5pt_last_error(void) { return error_message; }

const char *t5pt_status_name(t5pt_status st) {
    switch (st) {
    case T5PT_OK: return "ok";
    case T5PT_ERR_IO: return "I/O error";
    case T5PT_ERR_FORMAT: return "malformed file";
    case T5PT_ERR_CONFIG: return "bad configuration";
    case T5PT_ERR_SHAPE: return "shape mismatch";
    case T5PT_ERR_NOMEM: return "out of memory";
    case T5PT_ERR_ARG: return "bad argument";
    case T5PT_ERR_UNSUPPORTED: return "unsupported";
    case T5PT_ERR_INTERRUPTED: return "interrupted";
    case T5PT_ERR_NUMERIC: return "numerical fault";
    }
    return "unknown error";
}

t5pt_status t5pt_read_file(const char *path, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever;
     * only regular files are read (a FIFO or a device has no end to read to) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return t5pt_set_error(T5PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st = {0};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int is_dir = S_ISDIR(st.st_mode);
        close(fd);
        return t5pt_set_error(T5PT_ERR_IO, "%s: %s", path, is_dir ? "is a directory, expected a file" : "not a regular file");
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags != -1) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return t5pt_set_error(T5PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return t5pt_set_error(T5PT_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return t5pt_set_error(T5PT_ERR_IO, "%s: short read", path);
    }
    fclose(f);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return T5PT_OK;
}

/* Writes the parts straight into an existing non-regular file (a FIFO, /dev/null, /dev/stdout):
 * renaming a temp file over it would replace the device or FIFO itself. */
static t5pt_status write_parts_in_place(const char *path, int n, const void *const *data, const size_t *len) {
    FILE *f = fopen(path, "wb");
    if (!f) return t5pt_set_error(T5PT_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    int ok = 1;
    for (int i = 0; ok && i < n; i++) ok = len[i] == 0 || fwrite(data[i], 1, len[i], f) == len[i];
    ok = fflush(f) == 0 && ok;
    ok = (fclose(f) == 0) && ok;
    return ok ? T5PT_OK : t5pt_set_error(T5PT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
}

t5pt_status t5pt_write_parts_atomic(const char *path, int n, const void *const *data, const size_t *len) {
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        if (S_ISDIR(sb.st_mode)) return t5pt_set_error(T5PT_ERR_IO, "%s: is a directory, expected a file name", path);
        return write_parts_in_place(path, n, data, len);
    }
    size_t plen = strlen(path) + 32;
    char *tmp = malloc(plen);
    if (!tmp) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
    /* the pid keeps two processes saving to the same path from sharing a temp file */
    snprintf(tmp, plen, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        t5pt_status st = t5pt_set_error(T5PT_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    int ok = 1;
    for (int i = 0; ok && i < n; i++) ok = len[i] == 0 || fwrite(data[i], 1, len[i], f) == len[i];
    /* fsync before the rename: after a crash the name points at the old or the new
     * contents, never at a file whose data blocks were not written yet */
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        t5pt_status st = t5pt_set_error(T5PT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return T5PT_OK;
}

t5pt_status t5pt_write_file_atomic(const char *path, const void *data, size_t len) {
    return t5pt_write_parts_atomic(path, 1, &data, &len);
}

char *t5pt_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

double t5pt_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int t5pt_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int t5pt_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void *t5pt_alloc_aligned(size_t bytes) {
    void *p = NULL;
    if (bytes == 0) bytes = 64;
    bytes = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, bytes) != 0) return NULL;
    return p;
}

void t5pt_free_aligned(void *p) { free(p); }

uint64_t t5pt_splitmix64(uint64_t x) {
    uint64_t z = x + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void t5pt_rng_seed(t5pt_rng *r, uint64_t seed) {
    /* the splitmix64 sequence of seed: outputs of seed + k*golden, k = 1..4 */
    for (int i = 0; i < 4; i++, seed += 0x9e3779b97f4a7c15ULL) r->s[i] = t5pt_splitmix64(seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t t5pt_rng_next(t5pt_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double t5pt_rng_uniform(t5pt_rng *r) { return (double)(t5pt_rng_next(r) >> 11) * 0x1.0p-53; }

float t5pt_rng_normal(t5pt_rng *r) {
    double u1 = t5pt_rng_uniform(r), u2 = t5pt_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
