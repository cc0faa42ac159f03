/* test_sweep.c — the ablation sweep (src/train/sweep.c).
 *
 *   - the plan: the length x init grid with prepend, the placement study without repeating its
 *     prepend cell, seed by seed; every malformed grid is refused;
 *   - the summary: mean and sample standard deviation per cell against hand-computed values;
 *     summary.md rows; figure.svg is well-formed XML (checked by a small parser here),
 *     self-contained (no script, no link, no external font) and draws one line per init;
 *   - results.jsonl: a file of other settings or a malformed line is refused;
 *   - resuming: a sweep stopped between runs and inside a run (its checkpoint), then rerun,
 *     skips the finished runs and ends with the same results, bit for bit, as a sweep that
 *     was never stopped.
 * The end-to-end runs use a small random T5 with the real T5 vocabulary and an "always answer
 * yes" task (as test_train): they check bookkeeping, not learning.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "file_util.h"
#include "train/data.h"
#include "train/sweep.h"
#include "train/train.h"
#include "xml_check.h"

static int count(const char *s, const char *what) {
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

START_TEST(test_xml_checker) {
    /* the shared checker (tests/xml_check.c) rejects what it claims to */
    static const char *const bad[] = {"<a><b></a></b>", "<a x=1/>", "<a>&</a>", "<a>x < y</a>",
                                      "<a/><b/>", "<a x=\"<\"/>", "<a>"};
    xml_report r;
    const char *good = "<?xml version=\"1.0\"?>\n<a x=\"1\"><b/>t &amp; &#177;<!-- c --></a>\n";
    ck_assert_msg(xml_check(good, strlen(good), &r) == 0, "%s", r.error);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        ck_assert_msg(xml_check(bad[k], strlen(bad[k]), &r) != 0, "accepted %s", bad[k]);
}
END_TEST

/* ------------------------------------------------------------------ the plan */

static const int lens5[] = {1, 5, 20, 100, 150};
static const char *const inits3[] = {"random-uniform", "sampled-vocab", "class-labels"};
static const char *const pls3[] = {"prepend", "at:2", "append"};
static const uint64_t seeds3[] = {1, 2, 3};

static t5pt_sweep_grid paper_grid(void) {
    return (t5pt_sweep_grid){.lengths = lens5, .num_lengths = 5, .inits = inits3, .num_inits = 3, .placements = pls3,
                             .num_placements = 3, .placement_len = 20, .placement_init = "class-labels",
                             .seeds = seeds3, .num_seeds = 3};
}

START_TEST(test_plan) {
    t5pt_sweep_grid g = paper_grid();
    t5pt_sweep_run *r;
    int n;
    ck_assert_msg(t5pt_sweep_plan(&g, &r, &n) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(n, 3 * (15 + 2));   /* the prepend cell of the placement study is the grid's */
    /* seed by seed; within a seed the lengths, then the inits, then the placement study */
    ck_assert(r[0].prompt_len == 1 && !strcmp(r[0].init, "random-uniform") && !strcmp(r[0].placement, "prepend") &&
              r[0].seed == 1);
    ck_assert(r[14].prompt_len == 150 && !strcmp(r[14].init, "class-labels") && r[14].seed == 1);
    ck_assert(r[15].prompt_len == 20 && !strcmp(r[15].init, "class-labels") && !strcmp(r[15].placement, "at:2"));
    ck_assert(!strcmp(r[16].placement, "append") && r[16].seed == 1 && r[17].seed == 2);
    char name[128];
    t5pt_sweep_run_name(&r[15], name, sizeof name);
    ck_assert_str_eq(name, "len20-class-labels-at2-seed1");
    free(r);
    /* a placement study whose init is not in the grid runs its own prepend */
    g.placement_init = "random-uniform-t5x";
    ck_assert_int_eq(t5pt_sweep_plan(&g, &r, &n), T5PT_OK);
    ck_assert_int_eq(n, 3 * 18);
    free(r);
    /* only a placement study */
    g.num_lengths = 0;
    ck_assert_int_eq(t5pt_sweep_plan(&g, &r, &n), T5PT_OK);
    ck_assert_int_eq(n, 9);
    free(r);
    /* refused */
    static const int dup[] = {5, 5}, zero[] = {0};
    static const char *const bad_init[] = {"text"}, *const unknown[] = {"xavier"}, *const bad_pl[] = {"sideways"},
                             *const dup_pl[] = {"at:3", "at:3"};
    static const uint64_t dup_seed[] = {7, 7};
    struct { t5pt_sweep_grid g; const char *want; } cases[] = {
        {paper_grid(), NULL}, {paper_grid(), NULL}, {paper_grid(), NULL}, {paper_grid(), NULL},
        {paper_grid(), NULL}, {paper_grid(), NULL}, {paper_grid(), NULL}, {paper_grid(), NULL}};
    cases[0].g.lengths = dup, cases[0].g.num_lengths = 2, cases[0].want = "given twice";
    cases[1].g.lengths = zero, cases[1].g.num_lengths = 1, cases[1].want = "< 1";
    cases[2].g.inits = bad_init, cases[2].g.num_inits = 1, cases[2].want = "text";
    cases[3].g.inits = unknown, cases[3].g.num_inits = 1, cases[3].want = "xavier";
    cases[4].g.placements = bad_pl, cases[4].g.num_placements = 1, cases[4].want = "placement";
    cases[5].g.placements = dup_pl, cases[5].g.num_placements = 2, cases[5].want = "at:3 given twice";
    cases[6].g.seeds = dup_seed, cases[6].g.num_seeds = 2, cases[6].want = "seed 7";
    cases[7].g.num_lengths = 0, cases[7].g.num_placements = 0, cases[7].want = "nothing to run";
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(t5pt_sweep_plan(&cases[i].g, &r, &n), T5PT_ERR_ARG);
        ck_assert_msg(strstr(t5pt_last_error(), cases[i].want), "case %d: %s", i, t5pt_last_error());
        ck_assert_ptr_null(r);
    }
}
END_TEST

/* ------------------------------------------------------------------ summary and figure */

static t5pt_sweep_result result(int len, const char *init, const char *pl, uint64_t seed, double best) {
    t5pt_sweep_result x = {.best = best, .first = 0.5, .final = best, .best_step = 10, .steps = 30, .seconds = 1.5};
    x.run.prompt_len = len;
    snprintf(x.run.init, sizeof x.run.init, "%s", init);
    snprintf(x.run.placement, sizeof x.run.placement, "%s", pl);
    x.run.seed = seed;
    snprintf(x.metric, sizeof x.metric, "rank_accuracy");
    return x;
}

START_TEST(test_cells_and_report) {
    ck_assert_ptr_nonnull(test_tmpdir_create("sweep_report"));
    t5pt_sweep_grid g = paper_grid();
    t5pt_sweep_result res[8] = {
        result(20, "class-labels", "prepend", 1, 0.9), result(20, "class-labels", "prepend", 2, 0.7),
        result(20, "class-labels", "prepend", 3, 0.8), result(1, "random-uniform", "prepend", 2, 0.6),
        result(20, "class-labels", "append", 1, 0.55), result(20, "class-labels", "append", 2, 0.65),
        result(5, "sampled-vocab", "prepend", 9, 0.99),   /* a seed outside the grid: ignored */
        result(150, "sampled-vocab", "prepend", 1, 0.75)};
    t5pt_sweep_cell *c;
    int nc;
    ck_assert_int_eq(t5pt_sweep_cells(&g, res, 8, &c, &nc), T5PT_OK);
    ck_assert_int_eq(nc, 4);   /* in plan order: len1-random, len20-class-labels, len150-sampled, append */
    ck_assert(c[0].prompt_len == 1 && c[0].n == 1 && c[0].mean == 0.6 && c[0].sd == 0.0);
    ck_assert(c[1].prompt_len == 20 && c[1].n == 3 && !strcmp(c[1].init, "class-labels"));
    ck_assert(fabs(c[1].mean - 0.8) < 1e-12 && fabs(c[1].sd - 0.1) < 1e-12);   /* sample sd of .9 .7 .8 */
    ck_assert(c[1].min == 0.7 && c[1].max == 0.9);
    ck_assert(c[2].prompt_len == 150 && c[2].n == 1);
    ck_assert(!strcmp(c[3].placement, "append") && c[3].n == 2 && fabs(c[3].mean - 0.6) < 1e-12);
    ck_assert(fabs(c[3].sd - sqrt(0.005)) < 1e-12);
    ck_assert_int_eq(t5pt_sweep_write_report(test_tmpdir(), &g, c, nc, "rank_accuracy"), T5PT_OK);
    char *md, *svg;
    size_t len;
    ck_assert_int_eq(t5pt_read_file(test_tmp("summary.md"), &md, &len), T5PT_OK);
    ck_assert_msg(strstr(md, "| length x init | 20 | class-labels | prepend | 3 | 0.8000 | 0.1000 | 0.7000 | 0.9000 |"),
                  "%s", md);
    ck_assert_msg(strstr(md, "| placement | 20 | class-labels | append | 2 | 0.6000 | 0.0707 | 0.5500 | 0.6500 |"), "%s", md);
    /* the header, 4 cells, and the placement study's own prepend row (the grid's cell again) */
    ck_assert_int_eq(count(md, "\n| "), 6);
    ck_assert(strstr(md, "| placement | 20 | class-labels | prepend | 3 | 0.8000 |"));
    ck_assert_int_eq(t5pt_read_file(test_tmp("figure.svg"), &svg, &len), T5PT_OK);
    xml_report xr;
    ck_assert_msg(xml_check(svg, len, &xr) == 0, "figure.svg is not well-formed XML: %s", xr.error);
    ck_assert(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    ck_assert(!strstr(svg, "<script") && !strstr(svg, "href") && !strstr(svg, "url(") && !strstr(svg, "@import") &&
              !strstr(svg, "<image") && !strstr(svg, "<foreignObject"));
    /* one series and one polyline per init that has a cell, a dot per cell, an error bar only
     * where there are several seeds */
    ck_assert_int_eq(xml_count_class(svg, "series"), 3);
    ck_assert_int_eq(count(svg, "<polyline"), 3);
    ck_assert_int_eq(count(svg, "<circle"), 3);
    int with_bar = 0;
    for (int k = 0; k < nc; k++) with_bar += !strcmp(c[k].placement, "prepend") && c[k].n > 1 && c[k].sd > 0;
    ck_assert_int_ge(with_bar, 1);
    ck_assert_int_eq(count(svg, "<path d=\"M"), with_bar);
    ck_assert_int_eq(count(svg, "log scale"), 1);
    for (int i = 0; i < 3; i++) ck_assert(strstr(svg, inits3[i]));
    free(md);
    free(svg);
    free(c);
    test_tmpdir_remove();
}
END_TEST

/* ------------------------------------------------------------------ end to end */

static t5pt_tokenizer *tok;
static t5pt_model *model;
static t5pt_dataset *dtrain, *dvalid;
static const char *const yes_no[] = {"yes", "no"};

static void setup(void) {
    ck_assert_ptr_nonnull(test_tmpdir_create("sweep"));
    ck_assert_msg(t5pt_tokenizer_load(&tok, "assets/t5/spiece.model") == T5PT_OK, "%s", t5pt_last_error());
    t5pt_config cfg = {.vocab_size = 32128, .d_model = 16, .d_kv = 4, .d_ff = 32, .num_layers = 1,
                       .num_decoder_layers = 1, .num_heads = 4, .rel_num_buckets = 32, .rel_max_distance = 128,
                       .layer_norm_epsilon = 1e-6f, .tie_word_embeddings = 1, .eos_token_id = 1};
    ck_assert_msg(t5pt_model_init_random(&model, &cfg, 21) == T5PT_OK, "%s", t5pt_last_error());
    const char *words[] = {"apple", "river", "stone", "cloud"};
    char line[128], text[4096] = "", vtext[1024] = "";
    for (int i = 0; i < 20; i++) {
        snprintf(line, sizeof line, "{\"input\": \"%s %s\", \"target\": \"yes\"}\n", words[i % 4], words[(i / 4) % 4]);
        strcat(i < 16 ? text : vtext, line);
    }
    test_write_text(test_tmp("train.jsonl"), text);
    test_write_text(test_tmp("valid.jsonl"), vtext);
    ck_assert(t5pt_dataset_load(&dtrain, test_tmp("train.jsonl"), tok, NULL) == T5PT_OK);
    ck_assert(t5pt_dataset_load(&dvalid, test_tmp("valid.jsonl"), tok, NULL) == T5PT_OK);
}

static void teardown(void) {
    t5pt_dataset_free(dtrain);
    t5pt_dataset_free(dvalid);
    t5pt_model_free(model);
    t5pt_tokenizer_free(tok);
    test_tmpdir_remove();
}

static const int small_lens[] = {1, 3};
static const char *const small_inits[] = {"random-uniform", "class-labels"};
static const char *const small_pls[] = {"prepend", "append"};
static const uint64_t small_seeds[] = {1, 2};

static t5pt_sweep_grid small_grid(void) {
    return (t5pt_sweep_grid){.lengths = small_lens, .num_lengths = 2, .inits = small_inits, .num_inits = 2,
                             .placements = small_pls, .num_placements = 2, .placement_len = 3,
                             .placement_init = "class-labels", .seeds = small_seeds, .num_seeds = 2};
}

typedef struct {
    int started, finished, skipped, stop_before;   /* stop_before: stop before this run index (-1 never) */
} counts;

static int count_runs(const t5pt_sweep_event *e, void *user) {
    counts *c = user;
    if (e->skipped) c->skipped++;
    else if (e->result) c->finished++;
    else {
        if (e->index == c->stop_before) return 1;
        c->started++;
    }
    return 0;
}

static int step_stop_at = -1, steps_seen = 0;
static int stop_mid_run(const t5pt_train_progress *p, void *user) {
    (void)user;
    return !p->is_eval && ++steps_seen == step_stop_at;
}

static t5pt_sweep_options small_options(const char *out, counts *c) {
    t5pt_sweep_options o = {.m = model, .tok = tok, .train = dtrain, .valid = dvalid, .labels = yes_no, .num_labels = 2,
                            .out_dir = out, .config = "test config", .on_run = count_runs, .user = c};
    t5pt_train_options_default(&o.base);
    o.base.batch = 4;
    o.base.steps = 3;
    o.base.eval_every = 1;
    o.base.eval_batch = 4;
    o.base.loss = T5PT_LOSS_SUM;
    o.base.z_loss = 1e-4f;
    t5pt_optim_config_default(&o.base.oc, T5PT_OPT_ADAFACTOR_T5X);
    o.base.oc.start_step = 1100000;
    o.base.callback = stop_mid_run;
    return o;
}

START_TEST(test_resume_equals_uninterrupted) {
    const t5pt_sweep_grid g = small_grid();
    char A[512], B[512];
    snprintf(A, sizeof A, "%s", test_tmp("A"));
    snprintf(B, sizeof B, "%s", test_tmp("B"));
    counts ca = {.stop_before = -1}, cb = {.stop_before = 4};
    t5pt_sweep_options oa = small_options(A, &ca), ob = small_options(B, &cb);
    step_stop_at = -1;
    ck_assert_msg(t5pt_sweep(&g, &oa) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(ca.finished, 10);   /* (2 x 2 + 1 append) x 2 seeds */
    /* B: stopped before run 5, then inside run 7 (its second step), then finished */
    ck_assert_int_eq(t5pt_sweep(&g, &ob), T5PT_ERR_INTERRUPTED);
    ck_assert_int_eq(cb.finished, 4);
    t5pt_sweep_result *r;
    int n;
    ck_assert_int_eq(t5pt_sweep_read_results(B, "test config", &r, &n), T5PT_OK);
    ck_assert_int_eq(n, 4);
    free(r);
    ck_assert(t5pt_file_exists(test_tmp("B/summary.md")) && t5pt_file_exists(test_tmp("B/figure.svg")));
    cb = (counts){.stop_before = -1};
    steps_seen = 0;
    step_stop_at = 2 * 3 + 2;   /* runs 5 and 6 take 3 steps each; stop in run 7 */
    ck_assert_int_eq(t5pt_sweep(&g, &ob), T5PT_ERR_INTERRUPTED);
    ck_assert(strstr(t5pt_last_error(), "rerun") != NULL);
    ck_assert_int_eq(cb.skipped, 4);
    ck_assert_int_eq(cb.finished, 2);
    ck_assert(t5pt_file_exists(test_tmp("B/runs/len1-class-labels-prepend-seed2/checkpoint.safetensors")));
    cb = (counts){.stop_before = -1};
    step_stop_at = -1;
    ck_assert_msg(t5pt_sweep(&g, &ob) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(cb.skipped, 6);
    ck_assert_int_eq(cb.finished, 4);
    /* the same results as the uninterrupted sweep (seconds aside) */
    t5pt_sweep_result *ra, *rb;
    int na, nb;
    ck_assert_int_eq(t5pt_sweep_read_results(A, "test config", &ra, &na), T5PT_OK);
    ck_assert_int_eq(t5pt_sweep_read_results(B, "test config", &rb, &nb), T5PT_OK);
    ck_assert_int_eq(na, 10);
    ck_assert_int_eq(nb, 10);
    for (int i = 0; i < na; i++) {
        ck_assert(!memcmp(&ra[i].run, &rb[i].run, sizeof ra[i].run));
        ck_assert_msg(ra[i].best == rb[i].best && ra[i].first == rb[i].first && ra[i].final == rb[i].final &&
                          ra[i].best_step == rb[i].best_step && ra[i].steps == rb[i].steps,
                      "run %d differs after the resume", i);
        ck_assert_str_eq(ra[i].metric, "rank_accuracy");
    }
    free(ra);
    free(rb);
    /* the saved prompts too */
    char *pa, *pb;
    size_t la, lb;
    ck_assert_int_eq(t5pt_read_file(test_tmp("A/runs/len3-class-labels-prepend-seed2/adapter_model.safetensors"), &pa, &la), T5PT_OK);
    ck_assert_int_eq(t5pt_read_file(test_tmp("B/runs/len3-class-labels-prepend-seed2/adapter_model.safetensors"), &pb, &lb), T5PT_OK);
    ck_assert(la == lb && memcmp(pa, pb, la) == 0);
    free(pa);
    free(pb);
    /* a finished sweep rerun: nothing to do */
    cb = (counts){.stop_before = -1};
    ck_assert_int_eq(t5pt_sweep(&g, &ob), T5PT_OK);
    ck_assert_int_eq(cb.skipped, 10);
    ck_assert_int_eq(cb.started, 0);
    /* results of other settings are refused, naming the file */
    ob.config = "other config";
    ck_assert_int_eq(t5pt_sweep(&g, &ob), T5PT_ERR_ARG);
    ck_assert(strstr(t5pt_last_error(), "results.jsonl:1") && strstr(t5pt_last_error(), "other settings"));
    /* a malformed line */
    test_write_text(test_tmp("B/results.jsonl"), "{\"prompt_len\": 3}\n");
    ck_assert_int_eq(t5pt_sweep_read_results(B, NULL, &r, &n), T5PT_ERR_FORMAT);
    ck_assert(strstr(t5pt_last_error(), "results.jsonl:1"));
    /* no validation set */
    oa.valid = NULL;
    ck_assert_int_eq(t5pt_sweep(&g, &oa), T5PT_ERR_ARG);
    ck_assert(strstr(t5pt_last_error(), "--valid"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("sweep");
    TCase *tu = tcase_create("unit");
    tcase_add_test(tu, test_xml_checker);
    tcase_add_test(tu, test_plan);
    tcase_add_test(tu, test_cells_and_report);
    suite_add_tcase(s, tu);
    TCase *te = tcase_create("end to end");
    tcase_add_checked_fixture(te, setup, teardown);
    tcase_set_timeout(te, 600);
    tcase_add_test(te, test_resume_equals_uninterrupted);
    suite_add_tcase(s, te);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
