/* fuzz_util.h — what the file-based harnesses share.
 *
 * Most loaders take a path, so a harness writes the fuzz input into files of a private
 * temporary directory ($TMPDIR or /tmp, t5pt-fuzz-XXXXXX, removed at exit) and hands the
 * loader that path. Harnesses that need several files (a model directory, a PEFT adapter)
 * cut one input into parts at FZ_SEPARATOR, so that one corpus file holds a whole directory
 * and libFuzzer can mutate every part.
 *
 * Each harness defines LLVMFuzzerTestOneInput; built with -fsanitize=fuzzer it runs under
 * libFuzzer (tests/fuzz/run_fuzz.sh), built with tests/fuzz/replay.c it replays a corpus
 * directory (make test).
 */
#ifndef T5PT_FUZZ_UTIL_H
#define T5PT_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define FZ_SEPARATOR "#T5PT-NEXT-FILE#\n"
#define FZ_MAX_PARTS 8

/* The private directory (created on first use; aborts when it cannot be). */
const char *fz_dir(void);
/* dir/name in a static buffer (valid until the next call). */
const char *fz_path(const char *name);
/* Writes data[0..len) to dir/name, replacing it; aborts on an I/O error (not a finding). */
void fz_write(const char *name, const void *data, size_t len);
/* Removes every file in the directory (files of the previous input must not linger). */
void fz_clear(void);
/* Cuts data at each FZ_SEPARATOR into at most max parts (the last part keeps any further
 * separators). Returns the number of parts (>= 1). */
int fz_split(const uint8_t *data, size_t size, const uint8_t **part, size_t *len, int max);
/* A malloc'd, exactly sized copy (at least 1 byte), so the sanitizer catches overreads. */
void *fz_copy(const void *data, size_t size);

#endif
