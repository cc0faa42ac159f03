/* test_optim.c — optimizers against the PyTorch reference (golden/optim, and the
 * optimizer half of golden/cases/traj_*), state round trips, schedules, argument errors. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "base/internal.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "t5pt.h"

#define OPTIM_DIR "golden/optim"
#define MAX_CASES 64
/* golden/export.py writes 11 optimizer-only cases (golden/README.md lists them) */
#define N_OPTIM_CASES 11

/* ---------------------------------------------------------------- helpers */

static char *case_names[MAX_CASES];
static int num_cases;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The case list: every golden/optim/<name>.json (sorted, so the loop index is stable). */
static void list_cases(void) {
    DIR *d = opendir(OPTIM_DIR);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) && num_cases < MAX_CASES) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) {
            case_names[num_cases] = malloc(len - 4);
            memcpy(case_names[num_cases], e->d_name, len - 5);
            case_names[num_cases][len - 5] = 0;
            num_cases++;
        }
    }
    closedir(d);
    qsort(case_names, (size_t)num_cases, sizeof(char *), cmp_str);
}

static json_doc *load_json(const char *path) {
    json_doc *doc;
    ck_assert_msg(t5pt_read_json(path, T5PT_ERR_FORMAT, &doc) == T5PT_OK, "%s", t5pt_last_error());
    return doc;
}

static double num_or(const json_value *obj, const char *key, double dflt) {
    double v;
    return t5pt_json_get_num(obj, key, &v) == 0 ? v : dflt;
}

/* The "optim" object of a golden json -> config (the parser the golden suites share). */
static void config_from_json(t5pt_optim_config *oc, const json_value *spec) {
    ck_assert_msg(golden_optim_config_json(spec, oc) == 0, "cannot parse the \"optim\" object");
}

static float *read_tensor(st_file *f, const char *name, size_t *numel, const st_tensor **tout) {
    const st_tensor *t = t5pt_st_get(f, name);
    ck_assert_msg(t != NULL, "%s: no tensor %s", t5pt_st_path(f), name);
    float *buf = malloc(t->numel * sizeof(float) + 1);
    ck_assert_msg(t5pt_st_read_f32(f, t, buf) == T5PT_OK, "%s", t5pt_last_error());
    if (numel) *numel = t->numel;
    if (tout) *tout = t;
    return buf;
}

/* ---------------------------------------------------------------- golden/optim/<case> */

/* Per-step error we hold ourselves to: 1e-5 (the json's tolerance is 1e-4). */
#define STEP_TOL 1e-5

START_TEST(test_golden_optim_case) {
    ck_assert_msg(num_cases == N_OPTIM_CASES, "expected %d golden optimizer cases in %s, found %d", N_OPTIM_CASES,
                  OPTIM_DIR, num_cases);
    const char *name = case_names[_i];
    char path[512];
    snprintf(path, sizeof path, OPTIM_DIR "/%s.json", name);
    json_doc *doc = load_json(path);
    const json_value *spec = t5pt_json_root(doc);
    t5pt_optim_config oc;
    config_from_json(&oc, spec);
    double tol = num_or(spec, "tolerance", 1e-4);
    int steps = (int)num_or(spec, "steps", 0);
    ck_assert_msg(steps >= 1, "%s: no \"steps\"", path);

    snprintf(path, sizeof path, OPTIM_DIR "/%s.safetensors", name);
    st_file *f;
    ck_assert_msg(t5pt_st_open(&f, path) == T5PT_OK, "%s", t5pt_last_error());
    const st_tensor *tp0;
    size_t n;
    float *p = read_tensor(f, "param0", &n, &tp0);
    /* a 1-D [c] parameter runs as [1, c]: bit-identical to HF's unfactored rule (see optim.c) */
    int rows = tp0->ndim == 2 ? (int)tp0->shape[0] : 1;
    int cols = (int)tp0->shape[tp0->ndim - 1];
    size_t ng, np;
    float *grads = read_tensor(f, "grads", &ng, NULL);
    float *params = read_tensor(f, "params", &np, NULL);
    ck_assert_uint_eq(ng, (size_t)steps * n);
    ck_assert_uint_eq(np, (size_t)steps * n);

    t5pt_optim *o;
    ck_assert_msg(t5pt_optim_create(&o, &oc, rows, cols) == T5PT_OK, "%s", t5pt_last_error());
    double worst = 0.0;
    for (int s = 0; s < steps; s++) {
        ck_assert_int_eq(t5pt_optim_step(o, p, grads + (size_t)s * n), T5PT_OK);
        double e = golden_rel_err(p, params + (size_t)s * n, n);
        if (e > worst) worst = e;
        ck_assert_msg(e <= tol && e <= STEP_TOL, "%s step %d: rel err %.3g (tol %.1g)", name, s + 1, e, STEP_TOL);
    }
    ck_assert_int_eq(t5pt_optim_steps_done(o), steps);
    printf("optim %-26s [%d,%d] %d steps  worst max|err|/max|ref| = %.2e\n", name, rows, cols, steps, worst);
    t5pt_optim_free(o);
    free(p);
    free(grads);
    free(params);
    t5pt_st_close(f);
    t5pt_json_free(doc);
}
END_TEST

/* ---------------------------------------------------------------- golden/cases/traj_*: the optimizer half */

/* The trajectory cases record the gradient used at each step (grads) and the prompt after it
 * (prompt_after). Replaying the recorded gradients isolates the optimizer from the model. */
static void replay_trajectory(const char *cname) {
    char path[512];
    snprintf(path, sizeof path, "golden/cases/%s/case.json", cname);
    json_doc *doc = load_json(path);
    const json_value *spec = t5pt_json_get(t5pt_json_root(doc), "optim");
    ck_assert_ptr_nonnull(spec);
    t5pt_optim_config oc;
    config_from_json(&oc, spec);
    int steps = (int)num_or(spec, "steps", 0);
    ck_assert_msg(steps >= 1, "%s: no \"optim\".\"steps\"", path);

    snprintf(path, sizeof path, "golden/cases/%s/inputs.safetensors", cname);
    st_file *fi;
    ck_assert_msg(t5pt_st_open(&fi, path) == T5PT_OK, "%s", t5pt_last_error());
    const st_tensor *tp;
    size_t n;
    float *p = read_tensor(fi, "prompt_embeddings", &n, &tp);
    int rows = (int)tp->shape[0], cols = (int)tp->shape[1];

    snprintf(path, sizeof path, "golden/cases/%s/trajectory.safetensors", cname);
    st_file *ft;
    ck_assert_msg(t5pt_st_open(&ft, path) == T5PT_OK, "%s", t5pt_last_error());
    size_t ng, na;
    float *grads = read_tensor(ft, "grads", &ng, NULL);
    float *after = read_tensor(ft, "prompt_after", &na, NULL);
    ck_assert_uint_eq(ng, (size_t)steps * n);
    ck_assert_uint_eq(na, (size_t)steps * n);

    t5pt_optim *o;
    ck_assert_msg(t5pt_optim_create(&o, &oc, rows, cols) == T5PT_OK, "%s", t5pt_last_error());
    double worst = 0.0;
    for (int s = 0; s < steps; s++) {
        ck_assert_int_eq(t5pt_optim_step(o, p, grads + (size_t)s * n), T5PT_OK);
        double e = golden_rel_err(p, after + (size_t)s * n, n);
        if (e > worst) worst = e;
        ck_assert_msg(e <= STEP_TOL, "%s step %d: rel err %.3g", cname, s + 1, e);
    }
    printf("traj  %-26s [%d,%d] %d steps  worst max|err|/max|ref| = %.2e (recorded grads)\n", cname, rows, cols,
           steps, worst);
    t5pt_optim_free(o);
    free(p);
    free(grads);
    free(after);
    t5pt_st_close(fi);
    t5pt_st_close(ft);
    t5pt_json_free(doc);
}

static const char *traj_cases[] = {"traj_adafactor", "traj_adafactor_t5x", "traj_adamw", "traj_adafactor_beta1_warmup"};

START_TEST(test_golden_trajectory_replay) {
    ck_assert_int_eq(sizeof traj_cases / sizeof *traj_cases, GOLDEN_N_TRAJECTORY_CASES);
    replay_trajectory(traj_cases[_i]);
}
END_TEST

/* ---------------------------------------------------------------- state round trip */

static void fill_grad(float *g, size_t n, int step, uint64_t seed) {
    t5pt_rng r;
    t5pt_rng_seed(&r, seed * 1000003u + (uint64_t)step);
    for (size_t i = 0; i < n; i++) g[i] = 0.1f * t5pt_rng_normal(&r) * (float)(1 + (i % 7));
}

/* Runs 6 steps uninterrupted and 3 + (save state, new optimizer, restore) + 3: same bits. */
static void roundtrip(const t5pt_optim_config *oc, int rows, int cols) {
    size_t n = (size_t)rows * cols;
    float *pa = malloc(n * sizeof(float)), *pb = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    fill_grad(pa, n, 99, 7);
    memcpy(pb, pa, n * sizeof(float));
    t5pt_optim *a, *b;
    ck_assert_int_eq(t5pt_optim_create(&a, oc, rows, cols), T5PT_OK);
    ck_assert_int_eq(t5pt_optim_create(&b, oc, rows, cols), T5PT_OK);
    for (int s = 0; s < 3; s++) {
        fill_grad(g, n, s, 1);
        ck_assert_int_eq(t5pt_optim_step(a, pa, g), T5PT_OK);
    }
    size_t ns = t5pt_optim_state_size(a);
    ck_assert_uint_eq(ns, t5pt_optim_state_size(b));
    float *state = malloc((ns + 1) * sizeof(float));
    int64_t step = -1;
    t5pt_optim_state_get(a, state, &step);
    ck_assert_int_eq((int)step, 3);
    memcpy(pb, pa, n * sizeof(float));   /* the checkpointed prompt */
    ck_assert_int_eq(t5pt_optim_state_set(b, state, ns, step), T5PT_OK);
    ck_assert_int_eq(t5pt_optim_steps_done(b), 3);
    ck_assert(t5pt_optim_current_lr(a) == t5pt_optim_current_lr(b));
    for (int s = 3; s < 6; s++) {
        fill_grad(g, n, s, 1);
        ck_assert_int_eq(t5pt_optim_step(a, pa, g), T5PT_OK);
        ck_assert_int_eq(t5pt_optim_step(b, pb, g), T5PT_OK);
    }
    ck_assert_msg(memcmp(pa, pb, n * sizeof(float)) == 0, "resumed run differs (kind %d)", (int)oc->kind);
    /* the wrong state size is refused and leaves the optimizer alone */
    ck_assert_int_eq(t5pt_optim_state_set(b, state, ns + 1, step), T5PT_ERR_SHAPE);
    ck_assert_int_eq(t5pt_optim_steps_done(b), 6);
    t5pt_optim_free(a);
    t5pt_optim_free(b);
    free(state);
    free(pa);
    free(pb);
    free(g);
}

START_TEST(test_state_roundtrip) {
    t5pt_optim_config oc;
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAFACTOR);
    roundtrip(&oc, 6, 40);                 /* factored */
    oc.beta1 = 0.9f;
    oc.scale_parameter = 1;
    oc.schedule = T5PT_SCHED_LINEAR;
    oc.warmup_steps = 2;
    oc.total_steps = 10;
    roundtrip(&oc, 6, 40);                 /* factored + momentum + schedule */
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAFACTOR_T5X);
    roundtrip(&oc, 6, 40);                 /* unfactored (6 < 128) */
    roundtrip(&oc, 130, 140);              /* factored */
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAMW);
    oc.schedule = T5PT_SCHED_LINEAR;
    oc.warmup_steps = 3;
    oc.total_steps = 8;
    roundtrip(&oc, 5, 16);
}
END_TEST

START_TEST(test_state_sizes) {
    t5pt_optim_config oc;
    t5pt_optim *o;
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAFACTOR);
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 100, 512), T5PT_OK);
    ck_assert_uint_eq(t5pt_optim_state_size(o), 100 + 512);           /* HF: factored R + C */
    t5pt_optim_free(o);
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAFACTOR_T5X);
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 100, 512), T5PT_OK);
    ck_assert_uint_eq(t5pt_optim_state_size(o), 100 * 512);           /* T5X: 100 < 128, full V */
    t5pt_optim_free(o);
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 128, 512), T5PT_OK);
    ck_assert_uint_eq(t5pt_optim_state_size(o), 128 + 512);           /* T5X: factored from 128 */
    t5pt_optim_free(o);
    oc.beta1 = 0.9f;
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 128, 512), T5PT_OK);
    ck_assert_uint_eq(t5pt_optim_state_size(o), 128 + 512 + 128 * 512);
    t5pt_optim_free(o);
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAMW);
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 10, 32), T5PT_OK);
    ck_assert_uint_eq(t5pt_optim_state_size(o), 2 * 10 * 32);
    t5pt_optim_free(o);
}
END_TEST

/* ---------------------------------------------------------------- schedules */

/* Multipliers printed by golden/reference.py lr_multiplier for these two schedules. */
static const double lin_w3_s8[10] = {1.0 / 3.0, 2.0 / 3.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0};
static const double lin_w0_s4[6] = {1.0, 0.75, 0.5, 0.25, 0.0, 0.0};

static void check_schedule(t5pt_optim_kind kind, int W, int S, const double *mult, int nsteps) {
    t5pt_optim_config oc;
    t5pt_optim_config_default(&oc, kind);
    oc.lr = 0.5f;
    oc.schedule = T5PT_SCHED_LINEAR;
    oc.warmup_steps = W;
    oc.total_steps = S;
    t5pt_optim *o;
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 2, 4), T5PT_OK);
    float p[8] = {1, 2, 3, 4, 5, 6, 7, 8}, g[8] = {.1f, -.2f, .3f, -.4f, .5f, -.6f, .7f, -.8f};
    for (int s = 0; s < nsteps; s++) {
        float want = (float)(0.5 * mult[s]);
        ck_assert_msg(fabsf(t5pt_optim_current_lr(o) - want) <= 1e-7f * (1 + want), "step %d: lr %g want %g", s,
                      (double)t5pt_optim_current_lr(o), (double)want);
        float before[8];
        memcpy(before, p, sizeof p);
        ck_assert_int_eq(t5pt_optim_step(o, p, g), T5PT_OK);
        if (mult[s] == 0.0 && kind != T5PT_OPT_ADAMW) /* lr 0: nothing moves (decay is lr-scaled in HF) */
            ck_assert(memcmp(before, p, sizeof p) == 0);
    }
    t5pt_optim_free(o);
}

START_TEST(test_schedules) {
    check_schedule(T5PT_OPT_ADAFACTOR, 3, 8, lin_w3_s8, 10);
    check_schedule(T5PT_OPT_ADAMW, 3, 8, lin_w3_s8, 10);
    check_schedule(T5PT_OPT_ADAFACTOR, 0, 4, lin_w0_s4, 6);
    /* constant */
    t5pt_optim_config oc;
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAFACTOR);
    t5pt_optim *o;
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 1, 3), T5PT_OK);
    float p[3] = {1, 2, 3}, g[3] = {1, 1, 1};
    for (int s = 0; s < 4; s++) {
        ck_assert(t5pt_optim_current_lr(o) == 0.3f);
        ck_assert_int_eq(t5pt_optim_step(o, p, g), T5PT_OK);
    }
    t5pt_optim_free(o);
    /* a linear schedule without total_steps is an error */
    oc.schedule = T5PT_SCHED_LINEAR;
    oc.total_steps = 0;
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 1, 3), T5PT_ERR_ARG);
    ck_assert_ptr_null(o);
    oc.total_steps = 5;
    oc.warmup_steps = 6;
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 1, 3), T5PT_ERR_ARG);
}
END_TEST

/* ---------------------------------------------------------------- defaults, names, errors */

START_TEST(test_defaults_and_names) {
    t5pt_optim_config oc;
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAFACTOR);
    /* the paper's setting (Lester et al. 2021 §3) and HF's eps */
    ck_assert(oc.lr == 0.3f && oc.weight_decay == 1e-5f && oc.decay_rate == -0.8f && oc.clip_threshold == 1.0f);
    ck_assert(oc.beta1 < 0 && !oc.scale_parameter && !oc.relative_step && !oc.warmup_init);
    ck_assert(oc.eps1 == 1e-30f && oc.eps2 == 1e-3f && oc.schedule == T5PT_SCHED_CONSTANT);
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAMW);
    ck_assert(oc.adam_beta1 == 0.9f && oc.adam_beta2 == 0.999f && oc.adam_eps == 1e-8f && oc.weight_decay == 0.01f);

    t5pt_optim_kind k;
    ck_assert_int_eq(t5pt_optim_parse_kind(&k, "adafactor"), T5PT_OK);
    ck_assert_int_eq(k, T5PT_OPT_ADAFACTOR);
    ck_assert_int_eq(t5pt_optim_parse_kind(&k, "adafactor-t5x"), T5PT_OK);
    ck_assert_int_eq(k, T5PT_OPT_ADAFACTOR_T5X);
    ck_assert_int_eq(t5pt_optim_parse_kind(&k, "adamw"), T5PT_OK);
    ck_assert_int_eq(k, T5PT_OPT_ADAMW);
    ck_assert_int_eq(t5pt_optim_parse_kind(&k, "sgd"), T5PT_ERR_ARG);
    ck_assert(strstr(t5pt_last_error(), "sgd") != NULL);
    ck_assert_int_eq(t5pt_optim_parse_kind(&k, NULL), T5PT_ERR_ARG);
}
END_TEST

START_TEST(test_errors) {
    t5pt_optim_config oc;
    t5pt_optim *o;
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAFACTOR);
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 0, 4), T5PT_ERR_ARG);
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 4, -1), T5PT_ERR_ARG);
    oc.warmup_init = 1;   /* HF: warmup_init requires relative_step */
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 2, 2), T5PT_ERR_ARG);
    ck_assert(strstr(t5pt_last_error(), "relative_step") != NULL);
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAFACTOR);
    oc.lr = 0.0f;         /* no lr and no relative step */
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 2, 2), T5PT_ERR_ARG);
    oc.relative_step = 1; /* fine: HF's relative step */
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 2, 2), T5PT_OK);
    /* a non-finite gradient is refused and the parameter is left alone */
    float p[4] = {1, 2, 3, 4}, g[4] = {0.1f, NAN, 0.3f, 0.4f};
    ck_assert_int_eq(t5pt_optim_step(o, p, g), T5PT_ERR_ARG);
    ck_assert(p[0] == 1 && p[1] == 2 && p[2] == 3 && p[3] == 4);
    ck_assert_int_eq(t5pt_optim_steps_done(o), 0);
    g[1] = INFINITY;
    ck_assert_int_eq(t5pt_optim_step(o, p, g), T5PT_ERR_ARG);
    t5pt_optim_free(o);
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAMW);
    oc.adam_beta2 = 1.0f;
    ck_assert_int_eq(t5pt_optim_create(&o, &oc, 2, 2), T5PT_ERR_ARG);
}
END_TEST

static Suite *optim_suite(void) {
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_golden_optim_case, 0, num_cases > 0 ? num_cases : 1);
    tcase_add_loop_test(tc, test_golden_trajectory_replay, 0, (int)(sizeof traj_cases / sizeof traj_cases[0]));
    suite_add_tcase(s, tc);
    TCase *tu = tcase_create("unit");
    tcase_add_test(tu, test_state_roundtrip);
    tcase_add_test(tu, test_state_sizes);
    tcase_add_test(tu, test_schedules);
    tcase_add_test(tu, test_defaults_and_names);
    tcase_add_test(tu, test_errors);
    suite_add_tcase(s, tu);
    return s;
}

int main(void) {
    list_cases();
    SRunner *sr = srunner_create(optim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int i = 0; i < num_cases; i++) free(case_names[i]);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
