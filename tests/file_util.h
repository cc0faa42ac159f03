/* file_util.h — the temp directory and small file helpers every file-writing suite uses.
 * Linked into every test binary by the Makefile (like golden_util.c). */
#ifndef T5PT_FILE_UTIL_H
#define T5PT_FILE_UTIL_H

#include <stddef.h>

/* Creates this process's temp directory /tmp/t5pt_<tag>_XXXXXX (mkdtemp: unique, so suites
 * and runs in parallel never share one). Returns its path, or NULL when it cannot be made.
 * Called in main (every forked test shares it) or in a checked fixture (one per test). */
const char *test_tmpdir_create(const char *tag);
/* The directory made by test_tmpdir_create. */
const char *test_tmpdir(void);
/* "<test_tmpdir()>/<name>" in a ring of 8 buffers: up to 8 paths live at once. */
const char *test_tmp(const char *name);
/* Removes the temp directory and everything in it. */
void test_tmpdir_remove(void);
/* Removes path recursively (a missing path is fine). Returns 0, or -1 when something stayed. */
int test_rm_rf(const char *path);

/* Writes n bytes / a string to path, replacing it; Check-asserts that it worked. */
void test_write_file(const char *path, const void *bytes, size_t n);
void test_write_text(const char *path, const char *text);

/* The t5pt command next to this test's build directory (build/tests/test_x -> build/t5pt, so
 * the sanitizer build tests its own binary), else build/t5pt; T5PT_BIN overrides. */
const char *test_t5pt_bin(void);
/* Runs a shell command; returns its exit status and (if out) its stdout, malloc'd
 * (commands append 2>&1 to capture stderr too). Check-asserts that it could start. */
int test_run(const char *cmd, char **out);

#endif
