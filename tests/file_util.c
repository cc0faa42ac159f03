/* file_util.c — temp directory and file helpers shared by the test suites (see file_util.h). */
#include "file_util.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp_root[256];

const char *test_tmpdir_create(const char *tag) {
    snprintf(tmp_root, sizeof tmp_root, "/tmp/t5pt_%s_XXXXXX", tag);
    return mkdtemp(tmp_root);
}

const char *test_tmpdir(void) { return tmp_root; }

const char *test_tmp(const char *name) {
    static char ring[8][512];
    static int k;
    char *p = ring[k++ & 7];
    snprintf(p, sizeof ring[0], "%s/%s", tmp_root, name);
    return p;
}

int test_rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return 0;   /* already gone */
    if (!S_ISDIR(st.st_mode)) return unlink(path) == 0 ? 0 : -1;
    int rc = 0;
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (test_rm_rf(sub) != 0) rc = -1;
    }
    closedir(d);
    return rmdir(path) == 0 ? rc : -1;
}

void test_tmpdir_remove(void) {
    if (tmp_root[0] && test_rm_rf(tmp_root) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
}

void test_write_file(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

void test_write_text(const char *path, const char *text) { test_write_file(path, text, strlen(text)); }

const char *test_t5pt_bin(void) {
    static char path[4096];
    const char *b = getenv("T5PT_BIN");
    if (b) return b;
    if (!path[0]) {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 16);
        char *slash = n > 0 ? (path[n] = 0, strrchr(path, '/')) : NULL;
        if (slash) strcpy(slash, "/../t5pt");
        struct stat st;
        if (!slash || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) snprintf(path, sizeof path, "build/t5pt");
    }
    return path;
}

int test_run(const char *cmd, char **out) {
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p, "popen %s", cmd);
    size_t cap = 4096, n = 0, k;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    while ((k = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 2) {
            buf = realloc(buf, cap *= 2);
            ck_assert_ptr_nonnull(buf);
        }
    }
    buf[n] = 0;
    int st = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}
