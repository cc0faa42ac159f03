/* common.c — option parsing, error lines and tokenizer lookup shared by the subcommands. */
#include "cli/cli.h"
#include "base/internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "t5pt %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_fail_lib(const char *cmd) { return cli_fail(cmd, "%s", t5pt_last_error()); }

int cli_opt(int argc, char **argv, int *i, const char *name, const char **val) {
    const char *a = argv[*i];
    if (a[0] != '-' || a[1] != '-') return 0;
    size_t n = strlen(name);
    if (strncmp(a + 2, name, n) != 0) return 0;
    if (a[2 + n] == '=') {
        *val = a + 3 + n;
        return 1;
    }
    if (a[2 + n] != 0) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "t5pt: --%s needs a value\n", name);
        *val = NULL;
        return 1;
    }
    *val = argv[++*i];
    return 1;
}

int cli_int(const char *cmd, const char *opt, const char *s, int min, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > INT_MAX)
        return cli_fail(cmd, "--%s %s: expected an integer >= %d", opt, s, min);
    *out = (int)v;
    return 0;
}

int cli_float(const char *cmd, const char *opt, const char *s, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) return cli_fail(cmd, "--%s %s: expected a number", opt, s);
    *out = (float)v;
    return 0;
}

int cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-') return cli_fail(cmd, "--%s %s: expected a non-negative integer", opt, s);
    *out = (uint64_t)v;
    return 0;
}

/* Directory of the running executable (for the shipped assets), or NULL. */
static char *exe_dir(void) {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return NULL;
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    if (!slash) return NULL;
    *slash = 0;
    size_t len = strlen(buf);
    char *p = malloc(len + 1);
    if (p) memcpy(p, buf, len + 1);
    return p;
}

t5pt_status cli_load_tokenizer(const char *cmd, const char *model_dir, const char *tokenizer_path,
                               t5pt_tokenizer **tok) {
    if (tokenizer_path) return t5pt_tokenizer_load(tok, tokenizer_path);
    if (model_dir) {
        char *a = t5pt_path_join(model_dir, "spiece.model"), *b = t5pt_path_join(model_dir, "tokenizer.json");
        int has = (a && t5pt_file_exists(a)) || (b && t5pt_file_exists(b));
        free(a);
        free(b);
        if (has) return t5pt_tokenizer_load(tok, model_dir);
    }
    /* the real T5 vocabulary ships with t5pt: every T5 / T5 1.1 / LM-adapted / Flan-T5 checkpoint uses it */
    char *candidates[5] = {0};
    const char *env = getenv("T5PT_ASSETS");
    if (env) candidates[0] = t5pt_path_join(env, "t5/spiece.model");
    char *ed = exe_dir();
    if (ed) {
        candidates[1] = t5pt_path_join(ed, "../assets/t5/spiece.model");
        candidates[2] = t5pt_path_join(ed, "assets/t5/spiece.model");
        free(ed);
    }
    candidates[3] = t5pt_path_join(".", "assets/t5/spiece.model");
#ifdef T5PT_DATADIR   /* where `make install` put assets/ (the Makefile defines it) */
    candidates[4] = t5pt_path_join(T5PT_DATADIR, "t5/spiece.model");
#endif
    t5pt_status st = T5PT_ERR_IO;
    int found = 0;
    for (int i = 0; i < 5 && !found; i++) {
        if (!candidates[i] || !t5pt_file_exists(candidates[i])) continue;
        found = 1;
        fprintf(stderr, "t5pt %s: note: %s has no spiece.model or tokenizer.json; using %s\n", cmd,
                model_dir ? model_dir : "(no model)", candidates[i]);
        st = t5pt_tokenizer_load(tok, candidates[i]);
    }
    for (int i = 0; i < 5; i++) free(candidates[i]);
    if (!found)
        st = t5pt_set_error(T5PT_ERR_IO,
                            "%s: no spiece.model or tokenizer.json, and the shipped assets/t5/spiece.model was not "
                            "found (use --tokenizer FILE)",
                            model_dir ? model_dir : "(no model)");
    return st;
}

char **cli_split_labels(const char *s, int *count) {
    size_t n = strlen(s);
    int cap = 1;
    for (size_t i = 0; i < n; i++) cap += s[i] == ',';
    char **v = calloc((size_t)cap, sizeof *v);
    char *cur = malloc(n + 1);
    if (!v || !cur) { free(v); free(cur); return NULL; }
    int k = 0;
    size_t len = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] == '\\' && i + 1 < n && s[i + 1] == ',') { cur[len++] = ','; i++; continue; }
        if (i == n || s[i] == ',') {
            cur[len] = 0;
            v[k] = malloc(len + 1);
            if (!v[k]) { cli_free_strings(v, k); free(cur); return NULL; }
            memcpy(v[k++], cur, len + 1);
            len = 0;
            continue;
        }
        cur[len++] = s[i];
    }
    free(cur);
    *count = k;
    return v;
}

void cli_free_strings(char **v, int n) {
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

long cli_getline(char **buf, size_t *cap, FILE *f) {
    ssize_t n = getline(buf, cap, f);
    if (n < 0) return -1;
    while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r')) (*buf)[--n] = 0;
    return (long)n;
}

void cli_set_threads(int n) {
    if (n > 0) t5pt_set_num_threads(n);
}
