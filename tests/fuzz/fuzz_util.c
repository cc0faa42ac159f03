/* fuzz_util.c — temp files and input splitting for the harnesses (see fuzz_util.h). */
#define _POSIX_C_SOURCE 200809L
#include "tests/fuzz/fuzz_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[512];
static char path_buf[1024];

static void remove_dir(void) {
    if (!dir[0]) return;
    fz_clear();
    rmdir(dir);
}

const char *fz_dir(void) {
    if (dir[0]) return dir;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/t5pt-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_dir);
    return dir;
}

const char *fz_path(const char *name) {
    snprintf(path_buf, sizeof path_buf, "%s/%s", fz_dir(), name);
    return path_buf;
}

void fz_write(const char *name, const void *data, size_t len) {
    const char *p = fz_path(name);
    FILE *f = fopen(p, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(p);
        abort();
    }
}

/* Empties directory p (one level of subdirectories: the harnesses make no deeper ones). */
static void clear_dir(const char *p, int depth) {
    DIR *d = opendir(p);
    if (!d) return;
    struct dirent *e;
    char sub[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(sub, sizeof sub, "%s/%s", p, e->d_name);
        if (unlink(sub) != 0 && depth < 2) {
            clear_dir(sub, depth + 1);
            rmdir(sub);
        }
    }
    closedir(d);
}

void fz_clear(void) { clear_dir(fz_dir(), 0); }

int fz_split(const uint8_t *data, size_t size, const uint8_t **part, size_t *len, int max) {
    const size_t sl = sizeof FZ_SEPARATOR - 1;
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; n < max - 1 && i + sl <= size; i++)
        if (data[i] == FZ_SEPARATOR[0] && memcmp(data + i, FZ_SEPARATOR, sl) == 0) {
            part[n] = data + start;
            len[n++] = i - start;
            start = i + sl;
            i = start - 1;
        }
    part[n] = data + start;
    len[n++] = size - start;
    return n;
}

void *fz_copy(const void *data, size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) abort();
    if (size) memcpy(p, data, size);
    return p;
}
