/* golden_util.c — shared helpers for the golden-case tests (see golden_util.h). */
#define _POSIX_C_SOURCE 200809L
#include "golden_util.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/internal.h"
#include "train/optim.h"

static char golden_msg[4096];

const char *golden_error(void) { return golden_msg; }

/* ------------------------------------------------------------------ case list */

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The files every case directory must hold. */
static const char *const case_files[] = {"case.json", "inputs.safetensors", "expected.safetensors",
                                         "model/config.json"};

int golden_list(char ***names) {
    *names = NULL;
    golden_msg[0] = 0;
    DIR *dir = opendir(GOLDEN_CASES_DIR);
    if (!dir) {
        snprintf(golden_msg, sizeof golden_msg, "%s: cannot open (%s); run the tests from the repository root",
                 GOLDEN_CASES_DIR, strerror(errno));
        return -1;
    }
    char **list = NULL;
    int n = 0, cap = 0, bad = 0;
    struct dirent *e;
    while (!bad && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.') continue;
        for (size_t k = 0; k < sizeof case_files / sizeof *case_files; k++) {
            char path[1024];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s/%s", GOLDEN_CASES_DIR, e->d_name, case_files[k]);
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
                snprintf(golden_msg, sizeof golden_msg, "%s: missing (every golden case needs %s, %s, %s and %s)",
                         path, case_files[0], case_files[1], case_files[2], case_files[3]);
                bad = 1;
                break;
            }
        }
        if (bad) break;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nl = realloc(list, (size_t)cap * sizeof *list);
            if (!nl) { bad = 1; break; }
            list = nl;
        }
        if (!(list[n] = strdup(e->d_name))) { bad = 1; break; }
        n++;
    }
    closedir(dir);
    if (bad) {
        if (!golden_msg[0]) snprintf(golden_msg, sizeof golden_msg, "%s: out of memory", GOLDEN_CASES_DIR);
        golden_free_list(list, n);
        return -1;
    }
    if (n == 0) {
        snprintf(golden_msg, sizeof golden_msg, "%s: no cases (run `make golden`)", GOLDEN_CASES_DIR);
        free(list);
        return -1;
    }
    qsort(list, (size_t)n, sizeof *list, by_name);
    *names = list;
    return n;
}

void golden_assert_list(int n) {
    ck_assert_msg(n >= 0, "%s", golden_msg);
    ck_assert_msg(n == GOLDEN_N_CASES, "%s holds %d cases, expected GOLDEN_N_CASES = %d", GOLDEN_CASES_DIR, n,
                  GOLDEN_N_CASES);
}

void golden_free_list(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* ------------------------------------------------------------------ tensors */

/* Tensor `name` of f converted to 4-byte floats (as_float) or int32s; malloc'd, NULL when absent. */
static void *read_converted(const st_file *f, const char *name, size_t *numel, int as_float) {
    if (!f) return NULL;
    const st_tensor *t = t5pt_st_get(f, name);
    if (!t) return NULL;
    void *out = malloc((t->numel ? t->numel : 1) * 4);
    if (!out) return NULL;
    if ((as_float ? t5pt_st_read_f32(f, t, out) : t5pt_st_read_i32(f, t, out)) != T5PT_OK) {
        free(out);
        return NULL;
    }
    if (numel) *numel = t->numel;
    return out;
}

float *golden_f32(const st_file *f, const char *name, size_t *numel) { return read_converted(f, name, numel, 1); }

int32_t *golden_i32(const st_file *f, const char *name, size_t *numel) { return read_converted(f, name, numel, 0); }

double golden_rel_err(const float *got, const float *want, size_t n) {
    double max_err = 0.0, max_val = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) || isnan(want[i])) return INFINITY;
        double e = fabs((double)got[i] - (double)want[i]);
        if (e > max_err) max_err = e;
        double v = fabs((double)want[i]);
        if (v > max_val) max_val = v;
    }
    return max_val > 0.0 ? max_err / max_val : max_err;
}

/* ------------------------------------------------------------------ open / close */

static int read_inputs(golden_case *g) {
    const st_tensor *ids = t5pt_st_get(g->inputs, "input_ids");
    const st_tensor *msk = t5pt_st_get(g->inputs, "attention_mask");
    const st_tensor *lab = t5pt_st_get(g->inputs, "labels");
    const st_tensor *pe = t5pt_st_get(g->inputs, "prompt_embeddings");
    if (!ids || !msk || !lab || !pe || ids->ndim != 2 || lab->ndim != 2 || pe->ndim != 2) {
        snprintf(golden_msg, sizeof golden_msg, "%s: inputs.safetensors lacks a tensor or has a wrong rank", g->dir);
        return -1;
    }
    g->batch.B = (int)ids->shape[0];
    g->batch.T = (int)ids->shape[1];
    g->batch.L = (int)lab->shape[1];
    g->input_ids = golden_i32(g->inputs, "input_ids", NULL);
    g->attention_mask = golden_i32(g->inputs, "attention_mask", NULL);
    g->labels = golden_i32(g->inputs, "labels", NULL);
    g->prompt = golden_f32(g->inputs, "prompt_embeddings", NULL);
    if (!g->input_ids || !g->attention_mask || !g->labels || !g->prompt) {
        snprintf(golden_msg, sizeof golden_msg, "%s: cannot read inputs.safetensors: %s", g->dir, t5pt_last_error());
        return -1;
    }
    g->batch.input_ids = g->input_ids;
    g->batch.attention_mask = g->attention_mask;
    g->batch.labels = g->labels;
    g->prompt_len = (int)pe->shape[0];
    g->d_model = (int)pe->shape[1];
    return 0;
}

golden_case *golden_open(const char *name) { return golden_open_at(GOLDEN_CASES_DIR, name); }

golden_case *golden_open_at(const char *root, const char *name) {
    golden_case *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(golden_msg, sizeof golden_msg, "%s: out of memory", name);
        return NULL;
    }
    snprintf(g->name, sizeof g->name, "%s", name);
    snprintf(g->dir, sizeof g->dir, "%s/%s", root, name);
    snprintf(g->model_dir, sizeof g->model_dir, "%s/model", g->dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/case.json", g->dir);
    if (t5pt_read_json(path, T5PT_ERR_FORMAT, &g->json) != T5PT_OK) {
        snprintf(golden_msg, sizeof golden_msg, "%s", t5pt_last_error());
        goto fail;
    }
    g->root = t5pt_json_root(g->json);
    const char *pl = t5pt_json_get_str(g->root, "placement");
    char plbuf[64];
    int64_t at = 0;
    if (pl && strcmp(pl, "at") == 0 && t5pt_json_get_int(g->root, "at", &at) == 0) {
        snprintf(plbuf, sizeof plbuf, "at:%lld", (long long)at);
        pl = plbuf;
    }
    if (t5pt_placement_parse(&g->placement, pl ? pl : "prepend") != T5PT_OK) {
        snprintf(golden_msg, sizeof golden_msg, "%s: %s", path, t5pt_last_error());
        goto fail;
    }
    const json_value *loss = t5pt_json_get(g->root, "loss");
    if (loss) {
        const char *kind = t5pt_json_get_str(loss, "kind");
        double z = 0.0;
        if (!kind || (strcmp(kind, "mean") != 0 && strcmp(kind, "sum") != 0) ||
            t5pt_json_get_num(loss, "z_loss", &z) != 0) {
            snprintf(golden_msg, sizeof golden_msg, "%s: \"loss\" needs \"kind\" mean|sum and a \"z_loss\"", path);
            goto fail;
        }
        g->loss_kind = strcmp(kind, "sum") == 0 ? T5PT_LOSS_SUM : T5PT_LOSS_MEAN;
        g->z_loss = (float)z;
    }
    snprintf(path, sizeof path, "%s/inputs.safetensors", g->dir);
    if (t5pt_st_open(&g->inputs, path) != T5PT_OK) {
        snprintf(golden_msg, sizeof golden_msg, "%s", t5pt_last_error());
        goto fail;
    }
    if (read_inputs(g) != 0) goto fail;
    snprintf(path, sizeof path, "%s/expected.safetensors", g->dir);
    if (t5pt_file_exists(path) && t5pt_st_open(&g->expected, path) != T5PT_OK) {
        snprintf(golden_msg, sizeof golden_msg, "%s", t5pt_last_error());
        goto fail;
    }
    snprintf(path, sizeof path, "%s/trajectory.safetensors", g->dir);
    if (t5pt_file_exists(path) && t5pt_st_open(&g->trajectory, path) != T5PT_OK) {
        snprintf(golden_msg, sizeof golden_msg, "%s", t5pt_last_error());
        goto fail;
    }
    return g;
fail:
    golden_close(g);
    return NULL;
}

void golden_close(golden_case *g) {
    if (!g) return;
    if (g->json) t5pt_json_free(g->json);
    if (g->inputs) t5pt_st_close(g->inputs);
    if (g->expected) t5pt_st_close(g->expected);
    if (g->trajectory) t5pt_st_close(g->trajectory);
    free(g->input_ids);
    free(g->attention_mask);
    free(g->labels);
    free(g->prompt);
    free(g);
}

double golden_tol(const golden_case *g, const char *tensor, double dflt) {
    const json_value *tol = t5pt_json_get(g->root, "tolerances");
    double v;
    if (tol && t5pt_json_get_num(tol, tensor, &v) == 0) return v;
    return dflt;
}

/* ------------------------------------------------------------------ optimizer config */

int golden_optim_config_json(const json_value *spec, t5pt_optim_config *oc) {
    return t5pt_optim_config_from_json(oc, spec, "golden optim") == T5PT_OK ? 0 : -1;
}

int golden_optim_config(const golden_case *g, t5pt_optim_config *oc, int *steps) {
    const json_value *spec = t5pt_json_get(g->root, "optim");
    if (!spec || golden_optim_config_json(spec, oc) != 0) return -1;
    int64_t n = 0;
    if (t5pt_json_get_int(spec, "steps", &n) != 0 || n < 1) return -1;
    if (steps) *steps = (int)n;
    return 0;
}

/* ------------------------------------------------------------------ notes */

#define MAX_NOTES 64
static struct {
    char kind[64];
    double worst;
} notes[MAX_NOTES];
static int n_notes;

void golden_note(const char *tensor, double rel) {
    char kind[64];
    snprintf(kind, sizeof kind, "%s", tensor);
    size_t len = strlen(kind);
    size_t i = len;
    while (i > 0 && kind[i - 1] >= '0' && kind[i - 1] <= '9') i--;
    if (i < len && i > 0 && kind[i - 1] == '_') kind[i - 1] = 0;
    for (int k = 0; k < n_notes; k++) {
        if (strcmp(notes[k].kind, kind) == 0) {
            if (rel > notes[k].worst || isnan(rel)) notes[k].worst = rel;
            return;
        }
    }
    if (n_notes == MAX_NOTES) return;
    snprintf(notes[n_notes].kind, sizeof notes[n_notes].kind, "%s", kind);
    notes[n_notes].worst = rel;
    n_notes++;
}

void golden_print_notes(const char *title) {
    if (!n_notes) return;
    printf("worst max-abs-err / max-abs-value per tensor kind (%s, SIMD path %s):\n", title, t5pt_simd_path());
    for (int k = 0; k < n_notes; k++) printf("  %-28s %.3g\n", notes[k].kind, notes[k].worst);
    fflush(stdout);
}
