/* common.c — error lines, path checks, tokenizer lookup and small helpers shared by the subcommands. */
#include "cli/cli.h"
#include "base/internal.h"

#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* ------------------------------------------------------------------ paths checked up front */

static int path_problem(const char *cmd, const char *flag, const char *path, const char *problem) {
    return cli_fail(cmd, "--%s %s: %s", flag, path, problem);
}

static const char *file_kind(mode_t m) {
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

/* want: 1 regular file, 2 directory, 3 either */
static int check_input(const char *cmd, const char *flag, const char *path, int want) {
    struct stat st;
    if (stat(path, &st) != 0) return path_problem(cmd, flag, path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if (want & 2) return access(path, R_OK | X_OK) == 0 ? 0 : path_problem(cmd, flag, path, strerror(errno));
        return path_problem(cmd, flag, path, "is a directory, expected a file");
    }
    if (!(want & 1)) return path_problem(cmd, flag, path, "is not a directory");
    if (!S_ISREG(st.st_mode)) {
        char why[96];
        snprintf(why, sizeof why, "is %s, expected a regular file", file_kind(st.st_mode));
        return path_problem(cmd, flag, path, why);
    }
    if (access(path, R_OK) != 0) return path_problem(cmd, flag, path, strerror(errno));
    return 0;
}

int cli_check_input_file(const char *cmd, const char *flag, const char *path) { return check_input(cmd, flag, path, 1); }
int cli_check_input_dir(const char *cmd, const char *flag, const char *path) { return check_input(cmd, flag, path, 2); }
int cli_check_input_any(const char *cmd, const char *flag, const char *path) { return check_input(cmd, flag, path, 3); }

/* The directory part of path ("." when there is none), malloc'd. */
static char *parent_dir(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;   /* "a/b/" names b */
    while (n > 0 && path[n - 1] != '/') n--;
    while (n > 1 && path[n - 1] == '/') n--;
    char *d = malloc(n + 2);
    if (!d) return NULL;
    if (n == 0) strcpy(d, ".");
    else { memcpy(d, path, n); d[n] = 0; }
    return d;
}

static int check_parent_writable(const char *cmd, const char *flag, const char *path) {
    char *dir = parent_dir(path);
    if (!dir) return cli_fail(cmd, "out of memory");
    struct stat st;
    int rc = 0;
    char why[256];
    if (stat(dir, &st) != 0) {
        snprintf(why, sizeof why, "cannot be created: %s: %s", dir, strerror(errno));
        rc = path_problem(cmd, flag, path, why);
    } else if (!S_ISDIR(st.st_mode)) {
        snprintf(why, sizeof why, "cannot be created: %s is not a directory", dir);
        rc = path_problem(cmd, flag, path, why);
    } else if (access(dir, W_OK | X_OK) != 0) {
        snprintf(why, sizeof why, "cannot be created: %s: %s", dir, strerror(errno));
        rc = path_problem(cmd, flag, path, why);
    }
    free(dir);
    return rc;
}

int cli_check_output_file(const char *cmd, const char *flag, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return check_parent_writable(cmd, flag, path);
    if (S_ISDIR(st.st_mode)) return path_problem(cmd, flag, path, "is a directory, expected a file name");
    if (access(path, W_OK) != 0) return path_problem(cmd, flag, path, strerror(errno));
    /* a regular file is replaced by temp file + rename: its directory must be writable too */
    if (S_ISREG(st.st_mode)) return check_parent_writable(cmd, flag, path);
    return 0;
}

int cli_check_distinct(const char *cmd, const char *out_flag, const char *out_path, const char *in_flag,
                       const char *in_path) {
    struct stat a, b;
    if (!out_path || !in_path || stat(out_path, &a) != 0 || stat(in_path, &b) != 0) return 0;
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino || !S_ISREG(a.st_mode)) return 0;
    return cli_fail(cmd, "--%s %s is the --%s file: writing it would destroy the input", out_flag, out_path, in_flag);
}

int cli_check_output_dir(const char *cmd, const char *flag, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return check_parent_writable(cmd, flag, path);
    if (!S_ISDIR(st.st_mode)) return path_problem(cmd, flag, path, "exists and is not a directory");
    if (access(path, W_OK | X_OK) != 0) return path_problem(cmd, flag, path, strerror(errno));
    return 0;
}

/* ------------------------------------------------------------------ tokenizer lookup */

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

/* Where the T5 vocabulary shipped with t5pt is looked for when the model directory has no
 * tokenizer, in this order (the first file that exists is used). */
typedef enum { FROM_ENV_ASSETS, FROM_EXE_DIR, FROM_CWD, FROM_DATADIR } lookup_base;
static const struct {
    lookup_base base;
    const char *rel;     /* path below the base */
    const char *shown;   /* as --help shows it */
} shipped_tokenizer[] = {
    {FROM_ENV_ASSETS, "t5/spiece.model", "$T5PT_ASSETS/t5/spiece.model"},
    {FROM_EXE_DIR, "../assets/t5/spiece.model", "<directory of the t5pt executable>/../assets/t5/spiece.model"},
    {FROM_EXE_DIR, "assets/t5/spiece.model", "<directory of the t5pt executable>/assets/t5/spiece.model"},
    {FROM_CWD, "assets/t5/spiece.model", "./assets/t5/spiece.model"},
#ifdef T5PT_DATADIR /* where `make install` put assets/ (the Makefile defines it) */
    {FROM_DATADIR, "t5/spiece.model", T5PT_DATADIR "/t5/spiece.model"},
#endif
};
enum { N_SHIPPED = sizeof shipped_tokenizer / sizeof shipped_tokenizer[0] };

void cli_print_tokenizer_lookup(FILE *f) {
    fputs("tokenizer: the first of these that exists is used\n"
          "  --tokenizer FILE (a spiece.model or tokenizer.json, or a directory holding one)\n"
          "  spiece.model, then tokenizer.json, in the --model directory\n",
          f);
    for (int i = 0; i < N_SHIPPED; i++) fprintf(f, "  %s\n", shipped_tokenizer[i].shown);
    fputs("The last ones are the real T5 vocabulary shipped with t5pt (assets/t5/), which every T5, T5 1.1,\n"
          "LM-adapted and Flan-T5 checkpoint uses; set T5PT_ASSETS to a copy of t5pt's assets/ directory\n"
          "when the t5pt executable was moved away from it.\n",
          f);
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
    const char *env = getenv("T5PT_ASSETS");
    char *exe = exe_dir();
    t5pt_status st = T5PT_ERR_IO;
    int found = 0;
    for (int i = 0; i < N_SHIPPED && !found; i++) {
        const lookup_base from = shipped_tokenizer[i].base;
        const char *base = from == FROM_ENV_ASSETS ? env : from == FROM_EXE_DIR ? exe : from == FROM_CWD ? "." : NULL;
#ifdef T5PT_DATADIR
        if (from == FROM_DATADIR) base = T5PT_DATADIR;
#endif
        char *path = base && base[0] ? t5pt_path_join(base, shipped_tokenizer[i].rel) : NULL;
        if (path && t5pt_file_exists(path)) {
            found = 1;
            fprintf(stderr, "t5pt %s: note: %s has no spiece.model or tokenizer.json; using %s\n", cmd,
                    model_dir ? model_dir : "(no model)", path);
            st = t5pt_tokenizer_load(tok, path);
        }
        free(path);
    }
    free(exe);
    if (!found)
        st = t5pt_set_error(T5PT_ERR_IO,
                            "%s: no spiece.model or tokenizer.json, and the shipped assets/t5/spiece.model was not "
                            "found (use --tokenizer FILE, or set T5PT_ASSETS to t5pt's assets directory)",
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

int cli_parse_labels(const char *cmd, const char *arg, char ***labels, int *count) {
    int n = 0;
    char **v = cli_split_labels(arg, &n);
    if (!v) return cli_fail(cmd, "out of memory");
    for (int k = 0; k < n; k++) {
        int dup = -1;
        for (int j = 0; j < k && dup < 0; j++) if (!strcmp(v[j], v[k])) dup = j;
        if (!v[k][0] || dup >= 0) {
            int rc = v[k][0] ? cli_usage_error(cmd, "--labels: '%s' is given twice", v[k])
                             : cli_usage_error(cmd, "--labels: label %d is empty", k + 1);
            cli_free_strings(v, n);
            return rc;
        }
    }
    *labels = v;
    *count = n;
    return 0;
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

int cli_check_optim(const char *cmd, const t5pt_optim_config *oc) {
    t5pt_optim *o;
    if (t5pt_optim_create(&o, oc, 1, 1) != T5PT_OK) return cli_usage_error(cmd, "%s", t5pt_last_error());
    t5pt_optim_free(o);
    return 0;
}

int cli_parse_placement(const char *cmd, const char *text, t5pt_placement *pl) {
    if (t5pt_placement_parse(pl, text) != T5PT_OK) return cli_usage_error(cmd, "--placement: %s", t5pt_last_error());
    return 0;
}

int cli_load_prompt(const char *cmd, const char *path, const char *model_dir, int d_model, float **P, int *n,
                    t5pt_prompt_info *info) {
    int pd;
    if (t5pt_prompt_load_ex(path, P, n, &pd, info) != T5PT_OK) return cli_fail_lib(cmd);
    if (pd != d_model)
        return cli_fail(cmd, "--prompt %s: prompt rows have width %d, but d_model of %s is %d (a prompt trained for "
                        "another model?)", path, pd, model_dir, d_model);
    const size_t len = strlen(path);
    if (!info->from_config && len > 12 && strcmp(path + len - 12, ".safetensors") == 0)
        fprintf(stderr, "t5pt %s: note: %s has no adapter_config.json beside it: all %d rows of prompt_embeddings are "
                "the prompt (a PEFT seq2seq adapter stores 2 x num_virtual_tokens rows; give its directory)\n", cmd,
                path, *n);
    return 0;
}

int cli_resolve_placement(const char *cmd, int given, const char *const *paths, const t5pt_prompt_info *infos,
                          int count, t5pt_placement *pl) {
    const char *recorded = NULL;
    int first = -1;
    for (int e = 0; e < count; e++) {
        const char *r = infos[e].placement;
        if (!r[0]) continue;
        if (given) {
            t5pt_placement rp;
            if (t5pt_placement_parse(&rp, r) == T5PT_OK && (rp.kind != pl->kind || (rp.kind == T5PT_PLACE_AT && rp.at != pl->at)))
                fprintf(stderr, "t5pt %s: note: %s was trained with --placement %s; using the --placement given\n", cmd,
                        paths[e], r);
        } else if (!recorded) {
            recorded = r;
            first = e;
        } else if (strcmp(recorded, r) != 0) {
            return cli_usage_error(cmd, "the prompts were trained with different placements (%s: %s, %s: %s); give "
                                   "--placement", paths[first], recorded, paths[e], r);
        }
    }
    if (given || !recorded) return 0;
    if (t5pt_placement_parse(pl, recorded) != T5PT_OK) return cli_usage_error(cmd, "%s", t5pt_last_error());
    if (pl->kind != T5PT_PLACE_PREPEND)
        fprintf(stderr, "t5pt %s: using placement %s, recorded in %s (--placement overrides)\n", cmd, recorded,
                paths[first]);
    return 0;
}

void cli_set_threads(int n) {
    if (n > 0) t5pt_set_num_threads(n);
    t5pt_set_thread_policy(n > 0 || getenv("OMP_NUM_THREADS") ? T5PT_THREADS_FIXED : T5PT_THREADS_ADAPTIVE);
}

int cli_check_thread_env(void) {
    const char *env = getenv("OMP_NUM_THREADS");
    if (!env) return 0;
    /* a list "8,4" gives the outer level first; only that level is used. Text OpenMP cannot
     * read is OpenMP's to report; a number too large to create is refused here. */
    char *end;
    errno = 0;
    long n = strtol(env, &end, 10);
    if (end == env || (errno == 0 && n <= CLI_MAX_THREADS)) return 0;
    fprintf(stderr, "t5pt: OMP_NUM_THREADS=%s: at most %d threads (set it lower, or unset it to use every core)\n", env,
            CLI_MAX_THREADS);
    return 2;
}

/* ------------------------------------------------------------------ stopping on a signal */

static volatile sig_atomic_t stop_requested = 0;

/* The first SIGINT/SIGTERM asks for a clean stop after the current step; a second one ends
 * the process at once (the last checkpoint on disk stays valid: it is replaced atomically). */
static void on_stop_signal(int sig) {
    if (stop_requested) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_requested = 1;
}

void cli_catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;   /* a signal during a read or a metrics write must not fail that call */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

volatile sig_atomic_t *cli_stop_flag(void) { return &stop_requested; }

int cli_set_precision(const char *cmd, t5pt_model *m, const char *text) {
    t5pt_precision p = T5PT_PRECISION_FP32;
    if (text && t5pt_precision_parse(text, &p) != T5PT_OK) return cli_usage_error(cmd, "--precision %s: use fp32 or bf16", text);
    if (t5pt_model_set_precision(m, p) != T5PT_OK) return cli_fail_lib(cmd);
    return 0;
}
