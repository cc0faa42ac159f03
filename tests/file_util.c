/* file_util.c — temp directory and file helpers shared by the test suites (see file_util.h). */
#include "file_util.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
