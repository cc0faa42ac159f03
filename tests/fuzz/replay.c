/* replay.c — runs a libFuzzer harness over corpus directories without libFuzzer.
 *
 *   replay_<harness> DIR...     every regular file of each DIR, in name order, is passed
 *                               to LLVMFuzzerTestOneInput once
 *
 * Linked with one harness and built with the normal compiler, so `make test` replays the
 * committed corpora and crash reproducers (tests/fuzz/corpus/<harness>/) and `make asan`
 * does the same under AddressSanitizer + UBSan. A crashing input ends the process (the
 * sanitizer report, then "replay: crashed on PATH"); a harness reporting a broken invariant
 * calls abort(). Exit status 0 only when every input ran.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* sanitizer runtime hook, present only in sanitizer builds */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static char current[4096]; /* the input being run */

static void name_input(void) {
    static const char msg[] = "replay: crashed on ";
    if (write(2, msg, sizeof msg - 1) < 0 || write(2, current, strlen(current)) < 0 || write(2, "\n", 1) < 0) return;
}

static void on_signal(int sig) {
    name_input();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Replays one directory; returns the number of inputs run, -1 when it cannot be read. */
static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) abort();
            names = nn;
        }
        if (!(names[n++] = strdup(e->d_name))) abort();
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    int ran = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = current;
        snprintf(path, sizeof current, "%s/%s", dir, names[i]);
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        FILE *f = fopen(path, "rb");
        uint8_t *buf = malloc((size_t)sb.st_size ? (size_t)sb.st_size : 1);
        if (!f || !buf || (sb.st_size && fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size)) {
            perror(path);
            exit(1);
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t)sb.st_size);
        free(buf);
        ran++;
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return ran;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
        return 2;
    }
    signal(SIGABRT, on_signal);
    if (__sanitizer_set_death_callback) {
        __sanitizer_set_death_callback(name_input);  /* the sanitizer keeps its own SEGV report */
    } else {
        signal(SIGSEGV, on_signal);
        signal(SIGBUS, on_signal);
        signal(SIGFPE, on_signal);
    }
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int total = 0;
    for (int i = 1; i < argc; i++) {
        int ran = replay_dir(argv[i]);
        if (ran <= 0) {
            fprintf(stderr, "%s: %s\n", argv[i], ran < 0 ? "cannot read the corpus" : "no inputs (an empty corpus tests nothing)");
            return 1;
        }
        total += ran;
    }
    current[0] = 0;
    fprintf(stderr, "%s: %d inputs replayed, none crashed\n", argv[0], total);
    return 0;
}
