/* test_train.c — the training loop (src/train/train.c).
 *
 *   - training lowers the loss and reaches a stated validation accuracy on a tiny task, and
 *     the saved prompt is the prompt of the best validation (bit for bit, and it scores the
 *     best metric again); in bf16 precision too, with the same steps and levels;
 *   - a run stopped half way and resumed from its checkpoint ends bit-identical to an
 *     uninterrupted run (prompt, saved best prompt, optimizer state), with dropout on
 *     and evaluations in between; resuming from an older checkpoint (a kill before the
 *     latest one was written) also ends identical, and its metrics log holds every step once;
 *   - a checkpoint from other settings (each recorded flag) or with a corrupt data order,
 *     RNG state or prompt is refused with a message naming the flag or the problem;
 *   - numerical faults (a huge --lr, NaN weights, a NaN prompt mid-run) stop with
 *     T5PT_ERR_NUMERIC naming the step, and leave the last good checkpoint and an existing
 *     result untouched;
 *   - a full disk under the metrics log, a locked output directory, step-count overflow;
 *     stale temp files of a dead run are removed; no empty output directory is left behind;
 *   - greedy decoding that picks an embedding row the tokenizer lacks (ids 32100..32127)
 *     decodes as empty text instead of failing;
 *   - the saved prompt loads back bit for bit; a failing run leaves an existing good prompt
 *     untouched.
 *
 * Learning uses the shipped demo (examples/tiny-t5 + examples/sentiment); with
 * T5PT_TEST_SMALL=1 (emulators) and in sanitizer builds it runs smaller (10 prompt rows, batch 12,
 * 40 steps, 40 validation examples) and asserts that it learned.
 * Both sizes learn for every seed, not for a lucky one: a SIMD path with other rounding takes
 * another trajectory, as another seed does. Measured with `t5pt train --recipe hf` (the library's
 * defaults) over seeds 1-16 (the seed drives data order, dropout and init): at lr 0.1 all 16
 * reach rank accuracy 1.0 at the full size (by step 10-30) and 0.975-1.0 at the small size (by
 * step 5-35). At Adafactor's default lr 0.3 this tiny model oscillates: 5 of 16 seeds stayed
 * below 0.95 within 50 steps, and the small size with 20 steps failed for 6 of 16.
 * The other tests use a small random T5 with the real T5 vocabulary and an "always answer yes"
 * task: they check bit-exact replay and the failure paths, not learning.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "train/data.h"
#include "train/eval.h"
#include "base/internal.h"
#include "model/model.h"
#include "train/train.h"
#include "file_util.h"
#include "st_patch.h"
#include "io/safetensors.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T5PT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(T5PT_ASAN)
#define T5PT_ASAN 1
#endif
#ifdef T5PT_ASAN
/* The long-input test asks for terabytes on purpose: the allocator must say no, not abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

/* The learning test's small size: asked for by T5PT_TEST_SMALL=1 (emulators), and always in a
 * sanitizer build (ten times slower per step; it checks memory, not how far learning goes). */
static int test_small(void) {
#ifdef T5PT_ASAN
    return 1;
#else
    const char *s = getenv("T5PT_TEST_SMALL");
    return s && s[0] && strcmp(s, "0") != 0;
#endif
}


/* Tests may run concurrently (make test and make asan): every file lives under this
 * run's own directory (test_tmpdir_create in main); test_tmp("x") is a path in it. */

static t5pt_tokenizer *tok;
static t5pt_model *model;
static t5pt_dataset *dtrain, *dvalid;
enum { n_prompt = 10 };

static void setup(void) {
    ck_assert_msg(t5pt_tokenizer_load(&tok, "assets/t5/spiece.model") == T5PT_OK, "%s", t5pt_last_error());
    t5pt_config cfg = {.vocab_size = 32128, .d_model = 32, .d_kv = 8, .d_ff = 64, .num_layers = 1,
                       .num_decoder_layers = 1, .num_heads = 4, .rel_num_buckets = 32, .rel_max_distance = 128,
                       .layer_norm_epsilon = 1e-6f, .gated_gelu = 0, .tie_word_embeddings = 1,
                       .decoder_start_token_id = 0, .pad_token_id = 0, .eos_token_id = 1};
    ck_assert_msg(t5pt_model_init_random(&model, &cfg, 11) == T5PT_OK, "%s", t5pt_last_error());
    const char *words[] = {"apple", "river", "stone", "cloud", "green", "music", "table", "light"};
    char line[256];
    FILE *f = fopen(test_tmp("train.jsonl"), "w"), *g = fopen(test_tmp("valid.jsonl"), "w");
    ck_assert(f && g);
    t5pt_rng r;
    t5pt_rng_seed(&r, 1);
    for (int i = 0; i < 48; i++) {
        snprintf(line, sizeof line, "{\"input\": \"%s %s %s\", \"target\": \"yes\"}\n", words[t5pt_rng_next(&r) % 8],
                 words[t5pt_rng_next(&r) % 8], words[t5pt_rng_next(&r) % 8]);
        fputs(line, i < 40 ? f : g);
    }
    fclose(f);
    fclose(g);
    ck_assert(t5pt_dataset_load(&dtrain, test_tmp("train.jsonl"), tok, NULL) == T5PT_OK);
    ck_assert(t5pt_dataset_load(&dvalid, test_tmp("valid.jsonl"), tok, NULL) == T5PT_OK);
}

static void teardown(void) {
    t5pt_dataset_free(dtrain);
    t5pt_dataset_free(dvalid);
    t5pt_model_free(model);
    t5pt_tokenizer_free(tok);
    remove(test_tmp("train.jsonl"));
    remove(test_tmp("valid.jsonl"));
}

static void init_prompt(float *P) {
    t5pt_init_config ic = {.kind = T5PT_INIT_SAMPLED_VOCAB, .range = 0.5f, .seed = 5};
    ck_assert_msg(t5pt_prompt_init(P, n_prompt, model, &ic) == T5PT_OK, "%s", t5pt_last_error());
}

static void base_options(t5pt_train_options *o, const char *out) {
    t5pt_train_options_default(o);
    o->batch = 8;
    o->steps = 12;
    o->eval_every = 4;
    o->checkpoint_every = 2;
    o->dropout = 0.1f;   /* on: the dropout masks must replay identically after a resume */
    o->seed = 3;
    o->out_dir = out;
    o->tok = tok;
    o->eval_batch = 8;
}

/* ---- loss goes down, accuracy reaches the stated level, the best prompt is the one saved */
typedef struct {
    float first[4], last4[4];
    int steps;
    int n, d;
    float *best;           /* copy of the prompt at the latest improving validation */
    int best_step;
} learn_log;

static int log_learning(const t5pt_train_progress *p, void *user) {
    learn_log *l = user;
    if (p->is_eval) {
        if (p->improved) {   /* the loop keeps this prompt as the best: keep our own copy */
            memcpy(l->best, p->prompt, sizeof(float) * l->n * l->d);
            l->best_step = p->step;
        }
        return 0;
    }
    if (p->step <= 4) l->first[p->step - 1] = p->loss;
    l->last4[p->step % 4] = p->loss;
    l->steps = p->step;
    return 0;
}

/* The learning run in the given compute precision: bf16 must learn like fp32 (the same
 * steps, seed and stated levels; issue 14 item 5, BENCHMARKS.md "bf16 training"). */
static void learns_task(t5pt_precision prec) {
    /* the shipped demo: a tiny T5 pre-trained on prefixed tasks, frozen; the task's prefix is
     * unseen, so only the prompt can select the sentiment task */
    const int small = test_small();
    char out[512];   /* test_tmp reuses its buffers */
    snprintf(out, sizeof out, "%s", test_tmp("learn"));
    ck_assert_int_eq(test_rm_rf(out), 0);
    t5pt_model *m;
    ck_assert_msg(t5pt_model_load(&m, "examples/tiny-t5") == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(t5pt_model_set_precision(m, prec), T5PT_OK);
    t5pt_dataset *tr, *va;
    ck_assert(t5pt_dataset_load(&tr, "examples/sentiment/train.jsonl", tok, NULL) == T5PT_OK);
    const char *valid_path = "examples/sentiment/valid.jsonl";
    if (small) {   /* the first 40 validation examples (balanced) */
        FILE *in = fopen(valid_path, "r"), *o40 = fopen(test_tmp("valid40.jsonl"), "w");
        ck_assert(in && o40);
        char line[4096];
        for (int i = 0; i < 40 && fgets(line, sizeof line, in); i++) fputs(line, o40);
        fclose(in);
        ck_assert_int_eq(fclose(o40), 0);
        valid_path = test_tmp("valid40.jsonl");
    }
    ck_assert(t5pt_dataset_load(&va, valid_path, tok, NULL) == T5PT_OK);
    const int n = small ? 10 : 20, d = t5pt_model_config(m)->d_model;
    float *P = malloc(sizeof(float) * n * d), *best = malloc(sizeof(float) * n * d);
    t5pt_init_config ic = {.kind = T5PT_INIT_SAMPLED_VOCAB, .range = 0.5f, .seed = 1};
    ck_assert(t5pt_prompt_init(P, n, m, &ic) == T5PT_OK);
    t5pt_train_options o;
    base_options(&o, out);
    o.batch = small ? 12 : 32;
    o.steps = small ? 40 : 50;
    o.oc.lr = 0.1f;   /* see the top of this file: every seed learns at 0.1, not at 0.3 */
    o.eval_every = small ? 5 : 10;
    o.eval_batch = 50;
    o.seed = 3;   /* dropout stays at the paper's 0.1: without it this tiny model learns far slower */
    const char *labels[2] = {"positive", "negative"};
    o.labels = labels;
    o.num_labels = 2;
    learn_log l = {.n = n, .d = d, .best = best, .best_step = -1};
    o.callback = log_learning;
    o.user = &l;
    t5pt_train_result r;
    ck_assert_msg(t5pt_train(m, tr, va, P, n, &o, &r) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(r.steps_done, o.steps);
    ck_assert_int_eq(l.steps, o.steps);
    float first = (l.first[0] + l.first[1] + l.first[2] + l.first[3]) / 4;
    float last = (l.last4[0] + l.last4[1] + l.last4[2] + l.last4[3]) / 4;
    fprintf(stderr, "learn%s %s: loss %.3f -> %.3f (mean of 4 steps), rank accuracy %.3f -> best %.3f at step %d\n",
            small ? " (small)" : "", t5pt_precision_name(prec), first, last, r.first_metric, r.best_metric, r.best_step);
    ck_assert_msg(last < 0.5f * first, "loss %.3f -> %.3f did not halve", first, last);
    ck_assert(r.evaluated);
    /* the stated levels: near chance before (2 balanced classes), at least 95% within the run.
     * On the small size's 40 examples a random 10-row prompt already tilts the frozen model
     * towards one reading (the sampled-vocab init of seed 1, ids [0, 5000), scores 0.70 there):
     * "far from solved" is the claim, with 0.75 as its bound. */
    const double before_max = small ? 0.75 : 0.6;
    ck_assert_msg(r.first_metric <= before_max, "before training rank accuracy %.3f > %.2f", r.first_metric,
                  before_max);
    ck_assert_msg(r.best_metric >= 0.95, "best validation rank accuracy %.3f < 0.95", r.best_metric);
    /* the saved prompt is the best one: the prompt of the last improving validation, bit for bit */
    ck_assert_int_eq(l.best_step, r.best_step);
    float *Q;
    int qn, qd;
    ck_assert(t5pt_prompt_load(out, &Q, &qn, &qd) == T5PT_OK);
    ck_assert_int_eq(qn, n);
    ck_assert_int_eq(qd, d);
    ck_assert_msg(memcmp(Q, best, sizeof(float) * n * d) == 0, "saved prompt is not the step-%d prompt", r.best_step);
    if (r.best_step != o.steps)   /* it is not simply the last one */
        ck_assert(memcmp(Q, P, sizeof(float) * n * d) != 0);
    /* and it scores the best metric again */
    t5pt_eval_options eo;
    t5pt_eval_options_default(&eo);
    eo.batch = 50;
    eo.generate = 0;
    eo.labels = labels;
    eo.num_labels = 2;
    t5pt_eval_result er;
    const float *Ps[1] = {Q};
    ck_assert(t5pt_evaluate(m, tok, Ps, &qn, 1, va, &eo, &er) == T5PT_OK);
    ck_assert_msg(er.rank_acc[0] == r.best_metric, "saved prompt scores %.4f, best was %.4f", er.rank_acc[0],
                  r.best_metric);
    t5pt_eval_result_free(&er);
    free(Q);
    free(P);
    free(best);
    t5pt_dataset_free(tr);
    t5pt_dataset_free(va);
    t5pt_model_free(m);
    ck_assert_int_eq(test_rm_rf(out), 0);
}

START_TEST(test_learns_task) { learns_task(T5PT_PRECISION_FP32); }
END_TEST

START_TEST(test_learns_task_bf16) { learns_task(T5PT_PRECISION_BF16); }
END_TEST

/* ---- kill and resume */
static int stop_at = 0;
static int stop_cb(const t5pt_train_progress *p, void *user) {
    (void)user;
    return !p->is_eval && p->step == stop_at;
}

static unsigned char *slurp(const char *path, size_t *n) {
    char *buf;
    ck_assert_msg(t5pt_read_file(path, &buf, n) == T5PT_OK, "%s", t5pt_last_error());
    return (unsigned char *)buf;
}

static void same_file(const char *a, const char *b) {
    size_t na, nb;
    unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
    ck_assert_msg(na == nb && memcmp(x, y, na) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

START_TEST(test_resume_bit_identical) {
    char A[512], B[512];   /* test_tmp's ring of buffers is reused below */
    snprintf(A, sizeof A, "%s", test_tmp("A"));
    snprintf(B, sizeof B, "%s", test_tmp("B"));
    ck_assert_int_eq(test_rm_rf(A), 0);
    ck_assert_int_eq(test_rm_rf(B), 0);
    const size_t pn = (size_t)n_prompt * 32;
    float *PA = malloc(sizeof(float) * pn), *PB = malloc(sizeof(float) * pn);
    t5pt_train_options o;
    t5pt_train_result r;

    /* uninterrupted: 12 steps = 1.5 epochs (the resume crosses an epoch boundary) */
    init_prompt(PA);
    base_options(&o, A);
    ck_assert_msg(t5pt_train(model, dtrain, dvalid, PA, n_prompt, &o, &r) == T5PT_OK, "%s", t5pt_last_error());

    /* stopped after step 5 (checkpoint written on the stop), then resumed */
    init_prompt(PB);
    base_options(&o, B);
    stop_at = 5;
    o.callback = stop_cb;
    ck_assert(t5pt_train(model, dtrain, dvalid, PB, n_prompt, &o, &r) == T5PT_ERR_INTERRUPTED);
    ck_assert_int_eq(r.steps_done, 5);
    ck_assert(strstr(t5pt_last_error(), "--resume"));
    init_prompt(PB);   /* a fresh process: the prompt comes from the checkpoint */
    base_options(&o, B);
    o.resume = 1;
    ck_assert_msg(t5pt_train(model, dtrain, dvalid, PB, n_prompt, &o, &r) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(r.resumed_from, 5);
    ck_assert_int_eq(r.steps_done, 12);
    ck_assert_msg(memcmp(PA, PB, sizeof(float) * pn) == 0, "resumed prompt differs from the uninterrupted run");
    same_file(test_tmp("A/adapter_model.safetensors"), test_tmp("B/adapter_model.safetensors"));
    same_file(test_tmp("A/checkpoint.safetensors"), test_tmp("B/checkpoint.safetensors"));

    /* a kill between checkpoints: resume from the step-6 checkpoint of a stopped run */
    ck_assert_int_eq(test_rm_rf(B), 0);
    init_prompt(PB);
    base_options(&o, B);
    stop_at = 7;              /* the stop writes a checkpoint at step 7, between the regular ones */
    o.callback = stop_cb;
    o.checkpoint_every = 3;   /* regular checkpoints at 3 and 6 */
    ck_assert(t5pt_train(model, dtrain, dvalid, PB, n_prompt, &o, &r) == T5PT_ERR_INTERRUPTED);
    base_options(&o, B);
    o.resume = 1;
    init_prompt(PB);
    ck_assert(t5pt_train(model, dtrain, dvalid, PB, n_prompt, &o, &r) == T5PT_OK);
    ck_assert_msg(memcmp(PA, PB, sizeof(float) * pn) == 0, "resume after a stop at step 7 differs");

    /* resuming a finished run changes nothing */
    ck_assert(t5pt_train(model, dtrain, dvalid, PB, n_prompt, &o, &r) == T5PT_OK);
    ck_assert_int_eq(r.resumed_from, 12);
    ck_assert(memcmp(PA, PB, sizeof(float) * pn) == 0);

    /* a checkpoint made with other settings is refused, naming the flag; nothing is written */
    static const char *const flags[] = {"--batch", "--seed", "--prompt-len", "--lr", "--dropout", "--placement",
                                        "--optim", "--labels", "--eval-every", "--patience", "--valid", "--train",
                                        "--weight-decay", "--schedule", "--loss", "--adafactor-start-step",
                                        "--select", "--precision"};
    const char *labels[2] = {"yes", "no"};
    const int nflags = (int)(sizeof flags / sizeof flags[0]);
    for (int k = 0; k < nflags; k++) {
        base_options(&o, B);
        o.resume = 1;
        int n = n_prompt;
        const t5pt_dataset *tr = dtrain, *va = dvalid;
        switch (k) {
        case 0: o.batch = 4; break;
        case 1: o.seed = 4; break;
        case 2: n = n_prompt - 1; break;
        case 3: o.oc.lr = 0.1f; break;
        case 4: o.dropout = 0.2f; break;
        case 5: o.pl.kind = T5PT_PLACE_APPEND; break;
        case 6: t5pt_optim_config_default(&o.oc, T5PT_OPT_ADAMW); break;
        case 7: o.labels = labels; o.num_labels = 2; break;
        case 8: o.eval_every = 3; break;
        case 9: o.patience = 2; break;
        case 10: va = NULL; break;
        case 11: tr = dvalid; break;
        case 12: o.oc.weight_decay = 0.5f; break;
        case 13: o.oc.schedule = T5PT_SCHED_LINEAR; break;
        case 14: o.loss = T5PT_LOSS_SUM; o.z_loss = 1e-4f; break;
        case 15: o.oc.start_step = 1100000; break;
        case 16: o.select = T5PT_SELECT_LOSS; break;
        case 17: t5pt_model_set_precision(model, T5PT_PRECISION_BF16); break;
        }
        t5pt_status st = t5pt_train(model, tr, va, PB, n, &o, &r);
        t5pt_model_set_precision(model, T5PT_PRECISION_FP32);
        ck_assert_msg(st == T5PT_ERR_ARG, "%s: status %d: %s", flags[k], (int)st, t5pt_last_error());
        char want[64];
        snprintf(want, sizeof want, "made with %s ", flags[k]);
        ck_assert_msg(strstr(t5pt_last_error(), want) && strstr(t5pt_last_error(), "checkpoint.safetensors"),
                      "%s: %s", flags[k], t5pt_last_error());
    }
    same_file(test_tmp("A/checkpoint.safetensors"), test_tmp("B/checkpoint.safetensors"));
    same_file(test_tmp("A/adapter_model.safetensors"), test_tmp("B/adapter_model.safetensors"));
    /* --steps may change: a longer run continues where the checkpoint ended */
    base_options(&o, B);
    o.resume = 1;
    o.steps = 14;
    ck_assert_msg(t5pt_train(model, dtrain, dvalid, PB, n_prompt, &o, &r) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(r.resumed_from, 12);
    ck_assert_int_eq(r.steps_done, 14);
    free(PA);
    free(PB);
    ck_assert_int_eq(test_rm_rf(A), 0);
    ck_assert_int_eq(test_rm_rf(B), 0);
}
END_TEST

/* A simulated kill -9 at an arbitrary moment: only complete checkpoints exist (temp file +
 * rename), so any older checkpoint must also resume to the same end. */
START_TEST(test_resume_from_older_checkpoint) {
    char A[512], B[512];
    snprintf(A, sizeof A, "%s", test_tmp("C"));
    snprintf(B, sizeof B, "%s", test_tmp("D"));
    ck_assert_int_eq(test_rm_rf(A), 0);
    ck_assert_int_eq(test_rm_rf(B), 0);
    const size_t pn = (size_t)n_prompt * 32;
    float *PA = malloc(sizeof(float) * pn), *PB = malloc(sizeof(float) * pn);
    t5pt_train_options o;
    t5pt_train_result r;
    init_prompt(PA);
    base_options(&o, A);
    ck_assert(t5pt_train(model, dtrain, NULL, PA, n_prompt, &o, &r) == T5PT_OK);
    /* run to step 4, keep that checkpoint, continue to 9, then "crash" back to the step-4 file;
     * the metrics log of the three runs must hold steps 1..12 once each, in order */
    char metrics[512];   /* test_tmp reuses its buffers */
    snprintf(metrics, sizeof metrics, "%s", test_tmp("D.metrics.jsonl"));
    init_prompt(PB);
    base_options(&o, B);
    o.metrics_path = metrics;
    stop_at = 4;
    o.callback = stop_cb;
    ck_assert(t5pt_train(model, dtrain, NULL, PB, n_prompt, &o, &r) == T5PT_ERR_INTERRUPTED);
    char cp[800];
    snprintf(cp, sizeof cp, "cp '%s' '%s'", test_tmp("D/checkpoint.safetensors"), test_tmp("D/step4.safetensors"));
    ck_assert(system(cp) == 0);
    base_options(&o, B);
    o.metrics_path = metrics;
    o.resume = 1;
    stop_at = 9;
    o.callback = stop_cb;
    ck_assert(t5pt_train(model, dtrain, NULL, PB, n_prompt, &o, &r) == T5PT_ERR_INTERRUPTED);
    ck_assert(rename(test_tmp("D/step4.safetensors"), test_tmp("D/checkpoint.safetensors")) == 0);
    /* a kill mid-write leaves an unfinished line: it goes as well */
    FILE *mf = fopen(metrics, "a");
    ck_assert(mf);
    fputs("{\"step\":10,\"epo", mf);
    fclose(mf);
    base_options(&o, B);
    o.metrics_path = metrics;
    o.resume = 1;
    ck_assert(t5pt_train(model, dtrain, NULL, PB, n_prompt, &o, &r) == T5PT_OK);
    ck_assert_int_eq(r.resumed_from, 4);
    size_t len;
    char *log = (char *)slurp(metrics, &len);
    int want = 1, lines = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        int step = -1;
        ck_assert_msg(sscanf(line, "{\"step\":%d,\"epoch\"", &step) == 1, "metrics line '%s'", line);
        ck_assert_msg(step == want, "metrics: step %d where %d was due", step, want);
        want++;
    }
    ck_assert_int_eq(lines, 12);
    free(log);
    ck_assert_msg(memcmp(PA, PB, sizeof(float) * pn) == 0, "resume from an older checkpoint differs");
    free(PA);
    free(PB);
    ck_assert_int_eq(test_rm_rf(A), 0);
    ck_assert_int_eq(test_rm_rf(B), 0);
}
END_TEST

/* Mean cross-entropy per target token of P on the validation set, one example at a time. */
static double valid_mean_ce(const float *P, int n) {
    t5pt_ctx *c;
    ck_assert_int_eq(t5pt_ctx_create(&c, model, 1, dvalid->max_src, dvalid->max_tgt, n), T5PT_OK);
    t5pt_batch_buf bb = {0};
    double total = 0;
    long tokens = 0;
    for (int i = 0; i < dvalid->n; i++) {
        ck_assert_int_eq(t5pt_batch_build(&bb, dvalid, &i, 1, 1), T5PT_OK);
        float loss;
        t5pt_placement pl = {T5PT_PLACE_PREPEND, 0};
        ck_assert_int_eq(t5pt_forward(c, P, n, pl, &bb.view, &loss), T5PT_OK);   /* the mean over its tokens */
        int k = 0;
        for (int t = 0; t < bb.view.L; t++) k += bb.view.labels[t] != -100;
        total += (double)loss * k;
        tokens += k;
    }
    t5pt_batch_buf_free(&bb);
    t5pt_ctx_free(c);
    return total / (double)tokens;
}

/* --select: the validation loss picks the prompt with the lowest loss (the saved adapter is that
 * prompt and its loss is the recorded best); exact-match with labels scores generations; the
 * paper's loss (sum + z-loss) and T5X Adafactor with the start step train without a fault. */
START_TEST(test_select_metrics) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", test_tmp("sel"));
    ck_assert_int_eq(test_rm_rf(dir), 0);
    float P[n_prompt * 32];
    init_prompt(P);
    t5pt_train_options o;
    t5pt_train_result r;
    base_options(&o, dir);
    o.select = T5PT_SELECT_LOSS;
    o.loss = T5PT_LOSS_SUM;
    o.z_loss = 1e-4f;
    t5pt_optim_config_default(&o.oc, T5PT_OPT_ADAFACTOR_T5X);
    o.oc.start_step = 1100000;
    ck_assert_msg(t5pt_train(model, dtrain, dvalid, P, n_prompt, &o, &r) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_str_eq(r.metric_name, "valid_loss");
    ck_assert(r.evaluated && r.best_metric <= r.first_metric && r.best_metric <= r.final_metric);
    ck_assert_msg(r.best_metric < 0.9 * r.first_metric, "validation loss %.4f -> best %.4f: no progress",
                  r.first_metric, r.best_metric);
    float *best;
    int bn, bd;
    ck_assert_int_eq(t5pt_prompt_load(dir, &best, &bn, &bd), T5PT_OK);
    double ce = valid_mean_ce(best, bn);
    ck_assert_msg(fabs(ce - r.best_metric) <= 1e-5 * r.best_metric, "saved prompt's loss %.7f, recorded best %.7f", ce,
                  r.best_metric);
    free(best);
    /* exact match with labels given: generations, not rank classification */
    ck_assert_int_eq(test_rm_rf(dir), 0);
    init_prompt(P);
    base_options(&o, dir);
    const char *labels[2] = {"yes", "no"};
    o.labels = labels;
    o.num_labels = 2;
    o.select = T5PT_SELECT_EXACT_MATCH;
    ck_assert_msg(t5pt_train(model, dtrain, dvalid, P, n_prompt, &o, &r) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_str_eq(r.metric_name, "exact_match");
    /* rank accuracy without labels is refused */
    ck_assert_int_eq(test_rm_rf(dir), 0);
    base_options(&o, dir);
    o.select = T5PT_SELECT_RANK_ACCURACY;
    ck_assert_int_eq(t5pt_train(model, dtrain, dvalid, P, n_prompt, &o, &r), T5PT_ERR_ARG);
    ck_assert(strstr(t5pt_last_error(), "--labels") != NULL);
    t5pt_select_kind k;
    ck_assert_int_eq(t5pt_select_parse(&k, "loss"), T5PT_OK);
    ck_assert_int_eq(k, T5PT_SELECT_LOSS);
    ck_assert_int_eq(t5pt_select_parse(&k, "accuracy"), T5PT_ERR_ARG);
    ck_assert_str_eq(t5pt_select_metric_name(T5PT_SELECT_DEFAULT, 2), "rank_accuracy");
    ck_assert_str_eq(t5pt_select_metric_name(T5PT_SELECT_DEFAULT, 0), "exact_match");
    ck_assert_int_eq(test_rm_rf(dir), 0);
}
END_TEST

START_TEST(test_save_load_round_trip) {
    char dir[512];   /* test_tmp reuses its buffers */
    snprintf(dir, sizeof dir, "%s", test_tmp("rt"));
    ck_assert_int_eq(test_rm_rf(dir), 0);
    ck_assert(mkdir(dir, 0777) == 0);
    float P[n_prompt * 32];
    init_prompt(P);
    P[0] = -0.0f;
    P[1] = 1e-38f;       /* subnormal-adjacent values survive */
    P[2] = 3.4e38f;
    ck_assert_msg(t5pt_prompt_save_peft(dir, P, n_prompt, 32, "some/model", "RANDOM") == T5PT_OK, "%s",
                  t5pt_last_error());
    float *Q;
    int n, d;
    ck_assert_msg(t5pt_prompt_load(dir, &Q, &n, &d) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(n, n_prompt);
    ck_assert_int_eq(d, 32);
    ck_assert(memcmp(P, Q, sizeof P) == 0);
    free(Q);
    ck_assert_int_eq(test_rm_rf(dir), 0);
}
END_TEST

/* A run that fails (here: the checkpoint cannot be written) stops before the result is
 * written: an existing good prompt in the output directory stays byte-identical. */
START_TEST(test_failure_keeps_existing_prompt) {
    char dir[512];   /* test_tmp reuses its buffers */
    snprintf(dir, sizeof dir, "%s", test_tmp("keep"));
    ck_assert_int_eq(test_rm_rf(dir), 0);
    ck_assert(mkdir(dir, 0777) == 0);
    float P[n_prompt * 32];
    init_prompt(P);
    ck_assert(t5pt_prompt_save_peft(dir, P, n_prompt, 32, NULL, "RANDOM") == T5PT_OK);
    size_t n0;
    unsigned char *before = slurp(test_tmp("keep/adapter_model.safetensors"), &n0);
    /* a directory where the checkpoint file should be: checkpoint writes fail */
    ck_assert(mkdir(test_tmp("keep/checkpoint.safetensors"), 0777) == 0);
    t5pt_train_options o;
    base_options(&o, dir);
    t5pt_train_result r;
    float Q[n_prompt * 32];
    init_prompt(Q);
    ck_assert(t5pt_train(model, dtrain, NULL, Q, n_prompt, &o, &r) != T5PT_OK);
    ck_assert(strstr(t5pt_last_error(), "checkpoint.safetensors"));
    size_t n1;
    unsigned char *after = slurp(test_tmp("keep/adapter_model.safetensors"), &n1);
    ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
    free(before);
    free(after);
    ck_assert_int_eq(test_rm_rf(dir), 0);
}
END_TEST

/* ---- a corrupt checkpoint is refused: data order, RNG state, a NaN prompt */
START_TEST(test_corrupt_checkpoint_refused) {
    char dir[512];   /* test_tmp reuses its buffers */
    snprintf(dir, sizeof dir, "%s", test_tmp("corrupt"));
    ck_assert_int_eq(test_rm_rf(dir), 0);
    float P[n_prompt * 32];
    t5pt_train_options o;
    t5pt_train_result r;
    init_prompt(P);
    base_options(&o, dir);
    stop_at = 7;   /* epoch 1 (5 steps per epoch): the order is the second shuffle */
    o.callback = stop_cb;
    ck_assert(t5pt_train(model, dtrain, NULL, P, n_prompt, &o, &r) == T5PT_ERR_INTERRUPTED);
    char ckpt[600], good[600], cp[1300];
    snprintf(ckpt, sizeof ckpt, "%s", test_tmp("corrupt/checkpoint.safetensors"));
    snprintf(good, sizeof good, "%s", test_tmp("corrupt/good.safetensors"));
    snprintf(cp, sizeof cp, "cp '%s' '%s'", ckpt, good);
    ck_assert(system(cp) == 0);
    /* the untouched copy resumes */
    base_options(&o, dir);
    o.resume = 1;
    o.steps = 8;
    ck_assert_msg(t5pt_train(model, dtrain, NULL, P, n_prompt, &o, &r) == T5PT_OK, "%s", t5pt_last_error());
    static const struct { const char *tensor; size_t offset; const char *want; } bad[] = {
        {"perm", 0, "data order or RNG state is corrupt"},    /* two entries swapped */
        {"state", 3 * 8, "data order or RNG state is corrupt"},  /* the RNG's first word */
        {"prompt", 5 * 4, "not finite"},                         /* one value NaN */
        {"state", 1 * 8, "data order or RNG state is corrupt"},  /* the epoch */
        {"state", 1 * 8, "epoch 536870913 cannot be reached in 7 steps"},  /* bit 29 of the epoch: refused at once */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(cp, sizeof cp, "cp '%s' '%s'", good, ckpt);
        ck_assert(system(cp) == 0);
        if (!strcmp(bad[k].tensor, "perm")) {
            int32_t two[2];
            st_file *f;
            ck_assert(t5pt_st_open(&f, ckpt) == T5PT_OK);
            memcpy(two, t5pt_st_get(f, "perm")->data, sizeof two);
            t5pt_st_close(f);
            int32_t swapped[2] = {two[1], two[0]};
            test_st_patch(ckpt, "perm", 0, swapped, sizeof swapped);
        } else if (!strcmp(bad[k].tensor, "prompt")) {
            float nan = NAN;
            test_st_patch(ckpt, "prompt", bad[k].offset, &nan, sizeof nan);
        } else {
            int64_t v = 0x5eed;
            if (k == 3) v = 0;   /* epoch 0 instead of 1: a valid-looking but wrong order */
            if (k == 4) v = 1 | (int64_t)1 << 29;   /* replaying 2^29 epochs would take minutes (fuzz_checkpoint) */
            test_st_patch(ckpt, bad[k].tensor, bad[k].offset, &v, sizeof v);
        }
        base_options(&o, dir);
        o.resume = 1;
        init_prompt(P);
        t5pt_status st = t5pt_train(model, dtrain, NULL, P, n_prompt, &o, &r);
        ck_assert_msg(st == T5PT_ERR_FORMAT && strstr(t5pt_last_error(), bad[k].want), "case %zu: %d %s", k, (int)st,
                      t5pt_last_error());
    }
    ck_assert_int_eq(test_rm_rf(dir), 0);
}
END_TEST

/* ---- numerical faults stop with the step named; nothing is written for that step */
static int poison_at = 0;
static int poison_cb(const t5pt_train_progress *p, void *user) {
    (void)user;
    if (!p->is_eval && p->step == poison_at) ((float *)p->prompt)[3] = NAN;   /* as a diverged update would */
    return 0;
}

START_TEST(test_numerical_faults) {
    char dir[512];   /* test_tmp reuses its buffers */
    snprintf(dir, sizeof dir, "%s", test_tmp("fault"));
    ck_assert_int_eq(test_rm_rf(dir), 0);
    float P[n_prompt * 32];
    t5pt_train_options o;
    t5pt_train_result r;
    /* a huge learning rate: the prompt's RMS explodes at step 1; no directory is left behind */
    static const float lrs[] = {1e30f, 1e6f};
    for (int k = 0; k < 2; k++) {
        init_prompt(P);
        base_options(&o, dir);
        o.oc.lr = lrs[k];
        t5pt_status st = t5pt_train(model, dtrain, dvalid, P, n_prompt, &o, &r);
        ck_assert_msg(st == T5PT_ERR_NUMERIC, "lr %g: %d %s", (double)lrs[k], (int)st, t5pt_last_error());
        ck_assert_msg(strstr(t5pt_last_error(), "step 1:") && strstr(t5pt_last_error(), "--lr") &&
                      strstr(t5pt_last_error(), "RMS"), "%s", t5pt_last_error());
        ck_assert(!t5pt_is_dir(dir));
    }
    /* NaN in the frozen weights: the loss of step 1 is NaN */
    t5pt_config cfg = *t5pt_model_config(model);
    t5pt_model *bad;
    ck_assert(t5pt_model_init_random(&bad, &cfg, 11) == T5PT_OK);
    ((float *)bad->enc_final_ln)[0] = NAN;
    init_prompt(P);
    base_options(&o, dir);
    ck_assert(t5pt_train(bad, dtrain, NULL, P, n_prompt, &o, &r) == T5PT_ERR_NUMERIC);
    ck_assert_msg(strstr(t5pt_last_error(), "step 1: the loss is NaN"), "%s", t5pt_last_error());
    t5pt_model_free(bad);
    /* a prompt that turns NaN after step 5: step 6's loss is NaN; the step-4 checkpoint and an
     * existing result stay as they were, nothing NaN is written */
    ck_assert(mkdir(dir, 0777) == 0);
    init_prompt(P);
    ck_assert(t5pt_prompt_save_peft(dir, P, n_prompt, 32, NULL, "RANDOM") == T5PT_OK);
    size_t n0;
    unsigned char *before = slurp(test_tmp("fault/adapter_model.safetensors"), &n0);
    base_options(&o, dir);   /* checkpoints at 2, 4, 6, ... */
    poison_at = 5;
    o.callback = poison_cb;
    t5pt_status st = t5pt_train(model, dtrain, dvalid, P, n_prompt, &o, &r);
    ck_assert_msg(st == T5PT_ERR_NUMERIC && strstr(t5pt_last_error(), "step 6: the loss is NaN") &&
                  strstr(t5pt_last_error(), "step 4"), "%d %s", (int)st, t5pt_last_error());
    size_t n1;
    unsigned char *after = slurp(test_tmp("fault/adapter_model.safetensors"), &n1);
    ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
    free(before);
    free(after);
    st_file *f;
    ck_assert(t5pt_st_open(&f, test_tmp("fault/checkpoint.safetensors")) == T5PT_OK);
    int64_t state0;
    memcpy(&state0, t5pt_st_get(f, "state")->data, sizeof state0);
    ck_assert_int_eq(state0, 4);
    float Q[n_prompt * 32];
    ck_assert(t5pt_st_read_f32(f, t5pt_st_get(f, "prompt"), Q) == T5PT_OK);
    for (int i = 0; i < n_prompt * 32; i++) ck_assert(isfinite(Q[i]));
    t5pt_st_close(f);
    ck_assert_int_eq(test_rm_rf(dir), 0);
}
END_TEST

/* ---- a full disk under the metrics log stops the run; the directory it made is removed */
START_TEST(test_metrics_write_error) {
    char dir[512];   /* test_tmp reuses its buffers */
    snprintf(dir, sizeof dir, "%s", test_tmp("full"));
    ck_assert_int_eq(test_rm_rf(dir), 0);
    float P[n_prompt * 32];
    init_prompt(P);
    t5pt_train_options o;
    t5pt_train_result r;
    base_options(&o, dir);
    o.metrics_path = "/dev/full";
    t5pt_status st = t5pt_train(model, dtrain, NULL, P, n_prompt, &o, &r);
    ck_assert_msg(st == T5PT_ERR_IO && strstr(t5pt_last_error(), "/dev/full: write failed"), "%d %s", (int)st,
                  t5pt_last_error());
    ck_assert(!t5pt_is_dir(dir));
    /* an unwritable log is found before anything else is written */
    base_options(&o, dir);
    o.metrics_path = test_tmp("no/such/dir/metrics.jsonl");
    ck_assert(t5pt_train(model, dtrain, NULL, P, n_prompt, &o, &r) == T5PT_ERR_IO);
    ck_assert(strstr(t5pt_last_error(), "metrics.jsonl"));
    ck_assert(!t5pt_is_dir(dir));
}
END_TEST

/* ---- a second run into a directory in use is refused; stale temp files of a dead run go */
START_TEST(test_lock_and_stale_temp_files) {
    char dir[512];   /* test_tmp reuses its buffers */
    snprintf(dir, sizeof dir, "%s", test_tmp("locked"));
    ck_assert_int_eq(test_rm_rf(dir), 0);
    ck_assert(mkdir(dir, 0777) == 0);
    int fd = open(test_tmp("locked/.t5pt-train.lock"), O_RDWR | O_CREAT, 0666);
    ck_assert(fd >= 0);
    ck_assert(write(fd, "4242\n", 5) == 5);
    ck_assert(flock(fd, LOCK_EX | LOCK_NB) == 0);   /* "another run" holds it */
    float P[n_prompt * 32];
    init_prompt(P);
    t5pt_train_options o;
    t5pt_train_result r;
    base_options(&o, dir);
    o.steps = 2;
    t5pt_status st = t5pt_train(model, dtrain, NULL, P, n_prompt, &o, &r);
    ck_assert_msg(st == T5PT_ERR_IO && strstr(t5pt_last_error(), "in use by another t5pt train (pid 4242)"), "%s",
                  t5pt_last_error());
    ck_assert(!t5pt_file_exists(test_tmp("locked/checkpoint.safetensors")));
    close(fd);
    /* temp files: one of a process that is gone, one of a live process (our parent) */
    pid_t child = fork();
    if (child == 0) _exit(0);
    ck_assert(child > 0 && waitpid(child, NULL, 0) == child);
    char dead[64], alive[64];
    snprintf(dead, sizeof dead, "locked/checkpoint.safetensors.tmp.%ld", (long)child);
    snprintf(alive, sizeof alive, "locked/adapter_model.safetensors.tmp.%ld", (long)getppid());
    test_write_text(test_tmp(dead), "half a checkpoint");
    test_write_text(test_tmp(alive), "someone else's");
    test_write_text(test_tmp("locked/notes.tmp.1"), "not ours");
    ck_assert_msg(t5pt_train(model, dtrain, NULL, P, n_prompt, &o, &r) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert(!t5pt_file_exists(test_tmp(dead)));
    ck_assert(t5pt_file_exists(test_tmp(alive)));
    ck_assert(t5pt_file_exists(test_tmp("locked/notes.tmp.1")));
    ck_assert(!t5pt_file_exists(test_tmp("locked/.t5pt-train.lock")));   /* released at the end */
    ck_assert_int_eq(test_rm_rf(dir), 0);
}
END_TEST

/* ---- step counts: no overflow to 0 or negative steps */
START_TEST(test_total_steps_overflow) {
    t5pt_train_options o;
    t5pt_train_options_default(&o);
    int total = -1;
    o.batch = INT_MAX;
    o.epochs = 3;
    ck_assert(t5pt_train_total_steps(&o, 40, &total) == T5PT_OK);
    ck_assert_int_eq(total, 3);
    o.batch = 8;
    o.epochs = 1000000000;
    ck_assert(t5pt_train_total_steps(&o, 40, &total) == T5PT_ERR_ARG);
    ck_assert_msg(strstr(t5pt_last_error(), "--epochs"), "%s", t5pt_last_error());
    o.epochs = 429496729;   /* x 5 steps per epoch = 2147483645: still fits */
    ck_assert(t5pt_train_total_steps(&o, 40, &total) == T5PT_OK);
    ck_assert_int_eq(total, 2147483645);
    o.steps = 7;
    ck_assert(t5pt_train_total_steps(&o, 40, &total) == T5PT_OK);
    ck_assert_int_eq(total, 7);
    /* the loop refuses before it creates anything */
    char dir[512];   /* test_tmp reuses its buffers */
    snprintf(dir, sizeof dir, "%s", test_tmp("overflow"));
    float P[n_prompt * 32];
    init_prompt(P);
    base_options(&o, dir);
    o.steps = 0;
    o.epochs = 1000000000;
    t5pt_train_result r;
    ck_assert(t5pt_train(model, dtrain, NULL, P, n_prompt, &o, &r) == T5PT_ERR_ARG);
    ck_assert(!t5pt_is_dir(dir));
}
END_TEST

/* ---- greedy decoding picks a row the tokenizer lacks: empty text, no failure */
START_TEST(test_vocab_rows_beyond_tokenizer) {
    t5pt_config cfg = *t5pt_model_config(model);
    cfg.tie_word_embeddings = 0;
    t5pt_model *m;
    ck_assert(t5pt_model_init_random(&m, &cfg, 5) == T5PT_OK);
    /* lm_head: every row 0 except 32126 = -v and 32127 = v, so every logit is 0 but h.v and
     * -h.v: the argmax is one of the two rows past the 32100 pieces */
    const int V = cfg.vocab_size, d = cfg.d_model;
    ck_assert_int_eq(V, 32128);
    float *W = (float *)m->lm_head.W;
    memset(W, 0, sizeof(float) * (size_t)V * d);
    for (int j = 0; j < d; j++) {
        W[(size_t)32127 * d + j] = (float)(j % 5) - 2.0f;
        W[(size_t)32126 * d + j] = 2.0f - (float)(j % 5);
    }
    float P[n_prompt * 32];
    init_prompt(P);
    t5pt_eval_options eo;
    t5pt_eval_options_default(&eo);
    eo.max_new_tokens = 3;
    t5pt_eval_result er;
    const float *Ps[1] = {P};
    int ns[1] = {n_prompt};
    ck_assert_msg(t5pt_evaluate(m, tok, Ps, ns, 1, dvalid, &eo, &er) == T5PT_OK, "%s", t5pt_last_error());
    for (int i = 0; i < dvalid->n; i++) ck_assert_str_eq(er.gen_pred[i], "");
    ck_assert(er.gen_acc[0] == 0.0);
    t5pt_eval_result_free(&er);
    /* the ids really were past the tokenizer */
    t5pt_ctx *c;
    ck_assert(t5pt_ctx_create(&c, m, 1, dvalid->max_src, 1, n_prompt) == T5PT_OK);
    t5pt_batch_buf bb = {0};
    int idx = 0, len = 0;
    int32_t out[3];
    ck_assert(t5pt_batch_build(&bb, dvalid, &idx, 1, 0) == T5PT_OK);
    const float *Pc = P;
    ck_assert(t5pt_greedy(c, m, &Pc, ns, 1, eo.pl, &bb.view, 3, 1, out, &len) == T5PT_OK);
    ck_assert(len == 3 && out[0] >= 32126 && out[1] >= 32126);
    char *text;
    ck_assert(t5pt_decode_generated(tok, out, len, 1, &text) == T5PT_OK);
    ck_assert_str_eq(text, "");
    free(text);
    t5pt_batch_buf_free(&bb);
    t5pt_ctx_free(c);
    /* training with exact-match validation runs through */
    char dir[512];   /* test_tmp reuses its buffers */
    snprintf(dir, sizeof dir, "%s", test_tmp("vocab"));
    t5pt_train_options o;
    base_options(&o, dir);
    o.steps = 2;
    o.eval_every = 1;
    t5pt_train_result r;
    ck_assert_msg(t5pt_train(m, dtrain, dvalid, P, n_prompt, &o, &r) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert(r.evaluated && r.best_metric == 0.0);
    t5pt_model_free(m);
    ck_assert_int_eq(test_rm_rf(dir), 0);
}
END_TEST

/* ---- an input too long for memory: the error says which flags help */
START_TEST(test_long_input_hint) {
    char path[512];   /* test_tmp reuses its buffers */
    snprintf(path, sizeof path, "%s", test_tmp("long.jsonl"));
    const int words = 200000;
    FILE *f = fopen(path, "w");
    ck_assert(f);
    fputs("{\"input\": \"", f);
    for (int i = 0; i < words; i++) fputs("a ", f);
    fputs("\", \"target\": \"yes\"}\n", f);
    ck_assert_int_eq(fclose(f), 0);
    t5pt_dataset *d;
    ck_assert(t5pt_dataset_load(&d, path, tok, NULL) == T5PT_OK);
    float P[n_prompt * 32];
    init_prompt(P);
    t5pt_train_options o;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", test_tmp("long"));
    base_options(&o, dir);
    t5pt_train_result r;
    t5pt_status st = t5pt_train(model, d, NULL, P, n_prompt, &o, &r);
    ck_assert_msg(st != T5PT_OK && strstr(t5pt_last_error(), "--max-src-len") &&
                  strstr(t5pt_last_error(), "--batch"), "%d %s", (int)st, t5pt_last_error());
    ck_assert(!t5pt_is_dir(dir));
    /* and with the inputs cut it trains */
    t5pt_dataset_free(d);
    t5pt_data_options dopt;
    t5pt_data_options_default(&dopt);
    dopt.max_src_len = 64;
    ck_assert(t5pt_dataset_load(&d, path, tok, &dopt) == T5PT_OK);
    ck_assert_int_eq(d->truncated_src, 1);
    o.steps = 1;
    ck_assert_msg(t5pt_train(model, d, NULL, P, n_prompt, &o, &r) == T5PT_OK, "%s", t5pt_last_error());
    t5pt_dataset_free(d);
    ck_assert_int_eq(test_rm_rf(dir), 0);
}
END_TEST

int main(void) {
    if (!test_tmpdir_create("train")) {
        perror("test_train: cannot create a temp directory");
        return 1;
    }
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_learns_task);
    tcase_add_test(tc, test_resume_bit_identical);
    tcase_add_test(tc, test_resume_from_older_checkpoint);
    tcase_add_test(tc, test_save_load_round_trip);
    tcase_add_test(tc, test_select_metrics);
    tcase_add_test(tc, test_failure_keeps_existing_prompt);
    tcase_add_test(tc, test_corrupt_checkpoint_refused);
    tcase_add_test(tc, test_numerical_faults);
    tcase_add_test(tc, test_metrics_write_error);
    tcase_add_test(tc, test_lock_and_stale_temp_files);
    tcase_add_test(tc, test_total_steps_overflow);
    tcase_add_test(tc, test_vocab_rows_beyond_tokenizer);
    tcase_add_test(tc, test_long_input_hint);
    suite_add_tcase(s, tc);
    /* The bf16 learning run in a case of its own, tagged: `make test` and the sanitizer
     * build run it; the AArch64 NEON run under qemu leaves it out (CK_EXCLUDE_TAGS in the
     * Makefile): qemu emulates each BF16 instruction in software, which made it 5.4 minutes
     * of that stage, and test_bf16 checks the ARM BF16 numerics there (test-arm-bf16). */
    TCase *tc_bf16 = tcase_create("learning-bf16");
    tcase_set_tags(tc_bf16, "bf16-learning");
    tcase_add_checked_fixture(tc_bf16, setup, teardown);
    tcase_set_timeout(tc_bf16, 600);
    tcase_add_test(tc_bf16, test_learns_task_bf16);
    suite_add_tcase(s, tc_bf16);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    test_tmpdir_remove();
    return failed == 0 ? 0 : 1;
}
