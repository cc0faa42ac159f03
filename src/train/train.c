/* train.c — the prompt-tuning loop: batches, steps, evaluation with early stopping,
 * numerical-fault checks, atomic checkpoints with the run's settings, exact resume, the
 * lock on the output directory and the metrics log. See train.h for the contract. */
#include "train/train.h"
#include "train/eval.h"
#include "base/internal.h"
#include "io/json.h"
#include "io/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void t5pt_train_options_default(t5pt_train_options *o) {
    memset(o, 0, sizeof *o);
    o->batch = 32;
    o->epochs = 1;
    o->dropout = 0.1f;
    o->seed = 42;
    o->pl.kind = T5PT_PLACE_PREPEND;
    t5pt_optim_config_default(&o->oc, T5PT_OPT_ADAFACTOR);
    o->eval_batch = 16;
}

/* The defaults of each recipe. "paper" is the official code of Lester et al. 2021
 * (google-research/prompt-tuning on T5X, at 72285ee):
 *   optimizer   T5X Adafactor: decay_rate 0.8, step_offset 0, multiply_by_parameter_scale False,
 *               weight_decay_rate 1e-5 (configs/models/t5_1_1_prompt.gin l.50-56), the rest T5X's
 *               defaults: factored only from 128 rows, clipping 1.0, epsilon1 1e-30, no beta1
 *               (t5x/adafactor.py l.199-219); weight decay not scaled by the lr (l.561-564)
 *   start step  1,100,000: T5X decays by the global step restored from the LM-adapted T5 1.1
 *               checkpoint (checkpoint_1100000); see src/train/optim.c and README
 *   lr          0.3 constant (configs/runs/prompt_finetune.gin l.42-44)
 *   loss        summed cross-entropy + z-loss 1e-4 (t5_1_1_prompt.gin l.107-112; src/model/loss.c)
 *   prompt      100 rows (t5_1_1_prompt.gin l.36), prepended
 *   dropout     0.1 (T5X configs/runs/finetune.gin l.49, included after the architecture's 0.0)
 *   validation  every 1000 steps (EVAL_PERIOD, finetune.gin l.55)
 *   batch       32, the paper's text; the configs leave T5X's finetune.gin default of 128, which
 *               the released SST-2 prompts used, while the XXL demo script sets 32
 * "hf" is t5pt's Hugging Face semantics (transformers' Adafactor with the paper's hyperparameters,
 * mean cross-entropy), as t5pt trained before recipes existed. */
static const t5pt_recipe recipes[] = {
    {"paper", "the paper's code: T5X Adafactor, summed cross-entropy + z-loss", "adafactor-t5x", 0.3f, 1e-5f, 1100000,
     "sum-zloss", 100, 32, 1000, 0.1f},
    {"hf", "Hugging Face semantics: transformers' Adafactor, mean cross-entropy", "adafactor", 0.3f, 1e-5f, 0, "mean",
     100, 32, 0, 0.1f},
};

const t5pt_recipe *t5pt_recipe_find(const char *name) {
    for (size_t i = 0; name && i < sizeof recipes / sizeof recipes[0]; i++)
        if (strcmp(name, recipes[i].name) == 0) return &recipes[i];
    return NULL;
}

t5pt_status t5pt_select_parse(t5pt_select_kind *kind, const char *text) {
    if (text && strcmp(text, "rank-accuracy") == 0) *kind = T5PT_SELECT_RANK_ACCURACY;
    else if (text && strcmp(text, "exact-match") == 0) *kind = T5PT_SELECT_EXACT_MATCH;
    else if (text && strcmp(text, "loss") == 0) *kind = T5PT_SELECT_LOSS;
    else return t5pt_set_error(T5PT_ERR_ARG, "--select: unknown metric '%s' (rank-accuracy|exact-match|loss)", text ? text : "");
    return T5PT_OK;
}

/* DEFAULT resolved: rank accuracy when there are labels to rank, else exact match. */
static t5pt_select_kind select_resolved(t5pt_select_kind k, int num_labels) {
    if (k != T5PT_SELECT_DEFAULT) return k;
    return num_labels > 0 ? T5PT_SELECT_RANK_ACCURACY : T5PT_SELECT_EXACT_MATCH;
}

const char *t5pt_select_metric_name(t5pt_select_kind kind, int num_labels) {
    switch (select_resolved(kind, num_labels)) {
    case T5PT_SELECT_RANK_ACCURACY: return "rank_accuracy";
    case T5PT_SELECT_LOSS: return "valid_loss";
    default: return "exact_match";
    }
}

char *t5pt_checkpoint_path(const char *out_dir) { return t5pt_path_join(out_dir, "checkpoint.safetensors"); }

t5pt_status t5pt_train_total_steps(const t5pt_train_options *o, int n_examples, int *total) {
    if (o->batch <= 0 || n_examples <= 0)
        return t5pt_set_error(T5PT_ERR_ARG, "--batch and the data must be non-empty");
    if (o->steps > 0) {
        *total = o->steps;
        return T5PT_OK;
    }
    /* 64-bit: --epochs 1000000000 or --batch 2147483647 must not wrap to 0 or negative steps */
    const int64_t per_epoch = ((int64_t)n_examples + o->batch - 1) / o->batch;
    const int64_t steps = (int64_t)(o->epochs > 0 ? o->epochs : 1) * per_epoch;
    if (steps > INT_MAX)
        return t5pt_set_error(T5PT_ERR_ARG, "--epochs %d x %lld steps per epoch = %lld steps, more than %d: "
                              "give fewer --epochs or a --steps count", o->epochs, (long long)per_epoch,
                              (long long)steps, INT_MAX);
    *total = (int)steps;
    return T5PT_OK;
}

/* ------------------------------------------------------------ the run's settings */

/* One setting a checkpoint records: the flag that sets it and its value as text. */
typedef struct {
    const char *flag;
    char value[512];
} setting;

enum { MAX_SETTINGS = 24 };

/* FNV-1a over a dataset's token ids: the same texts, tokenizer and truncation give the same value. */
static uint64_t data_fingerprint(const t5pt_dataset *d) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < d->n; i++) {
        const t5pt_example *x = &d->ex[i];
        const int32_t lens[2] = {x->src_len, x->tgt_len};
        const int32_t *parts[3] = {lens, x->src, x->tgt};
        const size_t bytes[3] = {sizeof lens, (size_t)x->src_len * sizeof(int32_t), (size_t)x->tgt_len * sizeof(int32_t)};
        for (int p = 0; p < 3; p++)
            for (size_t k = 0; k < bytes[p]; k++) h = (h ^ ((const unsigned char *)parts[p])[k]) * 0x100000001b3ULL;
    }
    return h;
}

/* The shortest text that reads back as the same float (0.3, not 0.300000012). */
static const char *float_text(char *buf, size_t n, float x) {
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
    return buf;
}

static const char *optim_name(t5pt_optim_kind k) {
    return k == T5PT_OPT_ADAMW ? "adamw" : k == T5PT_OPT_ADAFACTOR_T5X ? "adafactor-t5x" : "adafactor";
}

/* The settings that change what a run computes, in a fixed order. Returns the count. */
static int run_settings(setting *s, const t5pt_train_options *o, const t5pt_optim_config *oc, int n,
                        const t5pt_dataset *train, const t5pt_dataset *valid, t5pt_precision prec) {
    int k = 0;
    char f1[24], f2[24], f3[24], f4[24], f5[24], f6[24], f7[24], f8[24];
#define SET(FLAG, ...) (s[k].flag = (FLAG), snprintf(s[k].value, sizeof s[k].value, __VA_ARGS__), k++)
    SET("--prompt-len", "%d", n);
    SET("--batch", "%d", o->batch);
    SET("--seed", "%llu", (unsigned long long)o->seed);
    SET("--optim", "%s", optim_name(oc->kind));
    SET("--lr", "%s", float_text(f1, sizeof f1, oc->lr));
    SET("--weight-decay", "%s", float_text(f1, sizeof f1, oc->weight_decay));
    if (oc->schedule == T5PT_SCHED_LINEAR)
        SET("--schedule", "linear, warmup %d, decay to 0 at step %d", oc->warmup_steps, oc->total_steps);
    else
        SET("--schedule", "constant, warmup %d", oc->warmup_steps);
    SET("optimizer hyperparameters", "eps %s %s clip %s decay %s beta1 %s scale %d relative %d warmup %d "
        "betas %s %s eps %s", float_text(f1, sizeof f1, oc->eps1), float_text(f2, sizeof f2, oc->eps2),
        float_text(f3, sizeof f3, oc->clip_threshold), float_text(f4, sizeof f4, oc->decay_rate),
        float_text(f5, sizeof f5, oc->beta1), oc->scale_parameter, oc->relative_step, oc->warmup_init,
        float_text(f6, sizeof f6, oc->adam_beta1), float_text(f7, sizeof f7, oc->adam_beta2),
        float_text(f8, sizeof f8, oc->adam_eps));
    SET("--adafactor-start-step", "%lld", (long long)oc->start_step);
    SET("--loss", "%s, z-loss %s", t5pt_loss_name(o->loss), float_text(f1, sizeof f1, o->z_loss));
    SET("--dropout", "%s", float_text(f1, sizeof f1, o->dropout));
    if (o->pl.kind == T5PT_PLACE_AT) SET("--placement", "at:%d", o->pl.at);
    else SET("--placement", "%s", o->pl.kind == T5PT_PLACE_APPEND ? "append" : "prepend");
    SET("--train", "%d examples, token fingerprint %016llx", train->n, (unsigned long long)data_fingerprint(train));
    if (valid)
        SET("--valid", "%d examples, token fingerprint %016llx", valid->n, (unsigned long long)data_fingerprint(valid));
    else
        SET("--valid", "none");
    /* the labels choose the validation metric, and so the best prompt */
    int len = snprintf(s[k].value, sizeof s[k].value, "%s", o->num_labels > 0 ? "" : "none");
    for (int i = 0; i < o->num_labels && len < (int)sizeof s[k].value; i++)
        len += snprintf(s[k].value + len, sizeof s[k].value - (size_t)len, "%s%s", i ? "," : "", o->labels[i]);
    s[k++].flag = "--labels";
    SET("--select", "%s", t5pt_select_metric_name(o->select, o->num_labels));
    SET("--eval-every", "%d", o->eval_every);
    SET("--patience", "%d", o->patience);
    SET("--precision", "%s", t5pt_precision_name(prec));
#undef SET
    return k;
}

/* 2: the run's settings; 3: with --loss, --adafactor-start-step and --select. */
#define CHECKPOINT_VERSION "3"

/* The checkpoint's safetensors metadata: format, version and every setting (JSON-escaped). */
static char *settings_metadata(const setting *s, int count) {
    json_writer w = {0};
    t5pt_jw_raw(&w, "{\"format\":\"t5pt-checkpoint\",\"version\":\"" CHECKPOINT_VERSION "\"");
    for (int i = 0; i < count; i++) {
        t5pt_jw_raw(&w, ",");
        t5pt_jw_str(&w, s[i].flag, strlen(s[i].flag));
        t5pt_jw_raw(&w, ":");
        t5pt_jw_str(&w, s[i].value, strlen(s[i].value));
    }
    t5pt_jw_raw(&w, "}");
    if (w.oom) {
        t5pt_jw_free(&w);
        return NULL;
    }
    return w.buf;
}

static t5pt_status check_settings(const st_file *f, const char *path, const setting *s, int count) {
    const char *version = t5pt_st_metadata(f, "version");
    if (!version || strcmp(version, CHECKPOINT_VERSION) != 0)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: checkpoint format version %s, this t5pt writes " CHECKPOINT_VERSION
                              " (it records the run's settings, with the loss and the selection metric); start "
                              "afresh without --resume", path, version ? version : "1");
    for (int i = 0; i < count; i++) {
        const char *was = t5pt_st_metadata(f, s[i].flag);
        /* checkpoints from before --precision existed computed in fp32 */
        if (!was && strcmp(s[i].flag, "--precision") == 0) was = "fp32";
        if (!was) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: setting %s missing", path, s[i].flag);
        if (strcmp(was, s[i].value) != 0)
            return t5pt_set_error(T5PT_ERR_ARG, "%s: the checkpoint was made with %s %s, this run has %s %s; resume with "
                                  "the same settings, or start afresh without --resume", path, s[i].flag, was,
                                  s[i].flag, s[i].value);
    }
    return T5PT_OK;
}

/* ------------------------------------------------------------ loop state and checkpoints */

enum { S_STEP, S_EPOCH, S_POS, S_RNG0, S_RNG1, S_RNG2, S_RNG3, S_BEST_STEP, S_BAD_EVALS, S_N, S_D, S_NTRAIN,
       S_BATCH, S_SEED, S_BEST_METRIC, S_SMOOTH, S_HAS_BEST, S_FIRST_METRIC, S_COUNT };

typedef struct {
    int step, epoch, pos;
    t5pt_rng rng;
    int *perm;             /* [N] this epoch's order */
    float *best;           /* [n, d] best prompt so far (valid only when has_best) */
    int has_best, best_step, bad_evals;
    double best_metric, first_metric, smooth;
} loop_state;

static int64_t dbl_bits(double x) { int64_t v; memcpy(&v, &x, sizeof v); return v; }
static double bits_dbl(int64_t v) { double x; memcpy(&x, &v, sizeof x); return x; }

/* The data order of epoch `epoch` and the RNG after it, replayed from the seed: the order is
 * a fresh shuffle of 0..N-1 each epoch, the RNG advanced only by these shuffles. */
static void replay_order(uint64_t seed, int epoch, int N, int *perm, t5pt_rng *rng) {
    t5pt_rng_seed(rng, seed);
    for (int e = 0; e <= epoch; e++) {
        for (int i = 0; i < N; i++) perm[i] = i;
        t5pt_shuffle(perm, N, rng);
    }
}

static long first_non_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (long)i;
    return -1;
}

/* ------------------------------------------------------------ the trainer */

typedef struct {
    FILE *f;
    const char *path;
} metrics_log;

typedef struct {
    /* inputs */
    const t5pt_model *m;
    const t5pt_dataset *train, *valid;
    const t5pt_train_options *o;
    float *P;
    int n, d, N;
    /* derived */
    int total, eval_every, ckpt_every;
    size_t pbytes;
    t5pt_optim_config oc;          /* o->oc with the linear schedule's length filled in */
    setting settings[MAX_SETTINGS];
    int nsettings;
    char *metadata;                /* the checkpoint's metadata JSON */
    double diverged_rms;           /* the divergence threshold on the prompt's RMS */
    const char *metric_name;
    /* resources */
    char *ckpt;
    int lock_fd;
    char *lock_path;
    int created_dir, wrote_anything;
    t5pt_ctx *c;
    t5pt_optim *opt;
    t5pt_batch_buf bb;
    t5pt_select_kind select;       /* resolved (never DEFAULT) */
    t5pt_ctx *vc;                  /* --select loss: the validation forward (no dropout) */
    t5pt_batch_buf vbb;
    int *idx;
    metrics_log log;
    /* the run */
    loop_state s;
    int checkpoint_step;           /* step of the last checkpoint on disk (-1: none) */
    double t0, tokens;
    int steps_this_run, stop;
    t5pt_train_progress pr;
    t5pt_train_result *res;
} trainer;

static t5pt_status log_line(metrics_log *l, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static t5pt_status log_line(metrics_log *l, const char *fmt, ...) {
    if (!l->f) return T5PT_OK;
    va_list ap;
    va_start(ap, fmt);
    int bad = vfprintf(l->f, fmt, ap) < 0;
    va_end(ap);
    bad |= fputc('\n', l->f) == EOF;
    bad |= fflush(l->f) != 0;   /* every line reaches the file: a kill loses none, a full disk shows at once */
    if (bad) return t5pt_set_error(T5PT_ERR_IO, "%s: write failed: %s", l->path, strerror(errno));
    return T5PT_OK;
}

/* Cuts a regular metrics file back to the lines of steps <= step (a killed run may have logged
 * steps after its last checkpoint; they are logged again when the resumed run redoes them). */
static t5pt_status metrics_truncate(const char *path, int step) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return T5PT_OK;   /* absent, FIFO, device: nothing to cut */
    char *text;
    size_t len;
    t5pt_status st = t5pt_read_file(path, &text, &len);
    if (st != T5PT_OK) return st;
    size_t keep = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        int line_step;
        /* every line starts {"step":N; an unfinished last line (a kill mid-write) goes too */
        if (!nl || sscanf(text + pos, "{\"step\":%d", &line_step) != 1 || line_step > step) break;
        pos = (size_t)(nl - text) + 1;
        keep = pos;
    }
    free(text);
    if (keep < len && truncate(path, (off_t)keep) != 0)
        return t5pt_set_error(T5PT_ERR_IO, "%s: cannot cut the log back to step %d: %s", path, step, strerror(errno));
    return T5PT_OK;
}

/* The largest RMS of any embedding row, which sets the divergence threshold. */
static double max_embedding_rms(const t5pt_model *m) {
    const t5pt_config *cfg = t5pt_model_config(m);
    double best = 0;
    float *e = malloc((size_t)cfg->d_model * sizeof *e);
    if (!e) return INFINITY; /* out of memory: no divergence threshold */
    for (int id = 0; id < cfg->vocab_size; id++) {
        t5pt_model_embedding(m, id, e);
        double ss = 0;
        for (int j = 0; j < cfg->d_model; j++) ss += (double)e[j] * e[j];
        double rms = sqrt(ss / cfg->d_model);
        if (rms > best) best = rms;
    }
    free(e);
    return best;
}

/* Where the last good state is, for the messages of a failed run. */
static const char *last_good_state(const trainer *t, char *buf, size_t n) {
    if (t->checkpoint_step >= 0)
        snprintf(buf, n, "%s (step %d%s) keeps the last good state", t->ckpt, t->checkpoint_step,
                 t->s.has_best ? " and the best prompt so far" : "");
    else
        snprintf(buf, n, "no checkpoint was written before this step");
    return buf;
}

/* A numerical fault at step `step`: the error names the step, what went wrong, and --lr. */
static t5pt_status numeric_fault(const trainer *t, int step, const char *what) {
    char where[600];
    return t5pt_set_error(T5PT_ERR_NUMERIC, "step %d: %s: training diverged; lower --lr (now %g). Nothing was saved "
                          "for this step; %s", step, what, (double)t->oc.lr, last_good_state(t, where, sizeof where));
}

/* After an update: the prompt must be finite and not far larger than any embedding. */
static t5pt_status check_prompt(const trainer *t, int step) {
    const size_t count = (size_t)t->n * t->d;
    long bad = first_non_finite(t->P, count);
    char what[200];
    if (bad >= 0) {
        snprintf(what, sizeof what, "prompt value [%ld, %ld] became %s", bad / t->d, bad % t->d,
                 isnan(t->P[bad]) ? "NaN" : t->P[bad] > 0 ? "inf" : "-inf");
        return numeric_fault(t, step, what);
    }
    double ss = 0;
    for (size_t i = 0; i < count; i++) ss += (double)t->P[i] * t->P[i];
    double rms = sqrt(ss / (double)count);
    if (rms > t->diverged_rms) {
        snprintf(what, sizeof what, "the prompt's RMS is %.3g, more than %g x the largest embedding row's %.3g",
                 rms, T5PT_DIVERGED_RMS_FACTOR, t->diverged_rms / T5PT_DIVERGED_RMS_FACTOR);
        return numeric_fault(t, step, what);
    }
    return T5PT_OK;
}

static t5pt_status checkpoint_save(trainer *t) {
    const loop_state *s = &t->s;
    int64_t st[S_COUNT] = {0};
    st[S_STEP] = s->step; st[S_EPOCH] = s->epoch; st[S_POS] = s->pos;
    for (int i = 0; i < 4; i++) st[S_RNG0 + i] = (int64_t)s->rng.s[i];
    st[S_BEST_STEP] = s->best_step; st[S_BAD_EVALS] = s->bad_evals;
    st[S_N] = t->n; st[S_D] = t->d; st[S_NTRAIN] = t->N; st[S_BATCH] = t->o->batch; st[S_SEED] = (int64_t)t->o->seed;
    st[S_BEST_METRIC] = dbl_bits(s->best_metric); st[S_SMOOTH] = dbl_bits(s->smooth);
    st[S_HAS_BEST] = s->has_best; st[S_FIRST_METRIC] = dbl_bits(s->first_metric);

    size_t os = t5pt_optim_state_size(t->opt);
    float *ostate = malloc((os ? os : 1) * sizeof(float));
    st_writer *w = t5pt_st_writer_new();
    if (!ostate || !w) {
        free(ostate);
        t5pt_st_writer_free(w);
        return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", t->ckpt);
    }
    int64_t ostep;
    t5pt_optim_state_get(t->opt, ostate, &ostep);
    int64_t sh_state[1] = {S_COUNT}, sh_p[2] = {t->n, t->d}, sh_o[1] = {(int64_t)os}, sh_perm[1] = {t->N}, sh_1[1] = {1};
    t5pt_status r = t5pt_st_writer_add(w, "state", ST_I64, 1, sh_state, st);
    if (r == T5PT_OK) r = t5pt_st_writer_add(w, "prompt", ST_F32, 2, sh_p, t->P);
    if (r == T5PT_OK && s->has_best) r = t5pt_st_writer_add(w, "best_prompt", ST_F32, 2, sh_p, s->best);
    if (r == T5PT_OK && os) r = t5pt_st_writer_add(w, "optim_state", ST_F32, 1, sh_o, ostate);
    if (r == T5PT_OK) r = t5pt_st_writer_add(w, "optim_step", ST_I64, 1, sh_1, &ostep);
    if (r == T5PT_OK) r = t5pt_st_writer_add(w, "perm", ST_I32, 1, sh_perm, s->perm);
    if (r == T5PT_OK) r = t5pt_st_writer_save(w, t->ckpt, t->metadata);
    t5pt_st_writer_free(w);
    free(ostate);
    if (r == T5PT_OK) {
        t->checkpoint_step = s->step;
        t->wrote_anything = 1;
    }
    return r;
}

/* The prompt tensors of a checkpoint: shape [n, d], every value finite. */
static t5pt_status read_prompt_tensor(const st_file *f, const char *path, const st_tensor *t, int n, int d, float *out) {
    int64_t want[2] = {n, d};
    t5pt_status r = t5pt_st_check_shape(f, t, 2, want);
    if (r == T5PT_OK) r = t5pt_st_read_f32(f, t, out);
    if (r == T5PT_OK && first_non_finite(out, (size_t)n * d) >= 0)
        r = t5pt_set_error(T5PT_ERR_FORMAT, "%s: %s holds a value that is not finite", path, t->name);
    return r;
}

/* The loop counters, data order and RNG of a checkpoint, checked against a replay from the seed. */
static t5pt_status read_position(trainer *t, const st_file *f, const int64_t *st) {
    const char *path = t->ckpt;
    loop_state *s = &t->s;
    if (st[S_N] != t->n || st[S_D] != t->d)
        return t5pt_set_error(T5PT_ERR_SHAPE, "%s: checkpoint prompt is [%lld, %lld], this run wants [%d, %d]", path,
                              (long long)st[S_N], (long long)st[S_D], t->n, t->d);
    if (st[S_NTRAIN] != t->N || st[S_BATCH] != t->o->batch || (uint64_t)st[S_SEED] != t->o->seed)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: state disagrees with the recorded settings", path);
    if (st[S_STEP] < 0 || st[S_STEP] > INT_MAX || st[S_EPOCH] < 0 || st[S_EPOCH] > INT_MAX || st[S_POS] < 0 ||
        st[S_POS] > t->N || st[S_BEST_STEP] < 0 || st[S_BEST_STEP] > st[S_STEP] || st[S_BAD_EVALS] < 0 ||
        st[S_BAD_EVALS] > INT_MAX || (st[S_HAS_BEST] != 0 && st[S_HAS_BEST] != 1))
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: step, epoch, data position or best step out of range", path);
    /* Each epoch takes ceil(N / batch) steps and a new one starts inside a step (train_one_step),
     * so epoch e > 0 needs more than e * ceil(N / batch) steps. A larger epoch is damage, and the
     * replay below would shuffle the data order that many times (found by fuzz_checkpoint: a
     * flipped bit in the epoch made --resume spin for minutes before calling the file corrupt). */
    const int64_t batch = t->o->batch > 0 ? t->o->batch : 1, per_epoch = (t->N + batch - 1) / batch;
    if (st[S_EPOCH] > 0 && st[S_EPOCH] * per_epoch >= st[S_STEP])
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: epoch %lld cannot be reached in %lld steps of %lld per epoch: the "
                              "checkpoint is damaged", path, (long long)st[S_EPOCH], (long long)st[S_STEP],
                              (long long)per_epoch);
    const st_tensor *tperm = t5pt_st_get(f, "perm");
    int64_t want_perm[1] = {t->N};
    t5pt_status r = tperm ? t5pt_st_check_shape(f, tperm, 1, want_perm)
                          : t5pt_set_error(T5PT_ERR_FORMAT, "%s: data order missing", path);
    if (r == T5PT_OK) r = t5pt_st_read_i32(f, tperm, s->perm);
    if (r != T5PT_OK) return r;
    /* the order and the RNG follow from the seed and the epoch: a corrupt one is refused */
    int *replayed = malloc((size_t)t->N * sizeof(int));
    if (!replayed) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
    t5pt_rng rng;
    replay_order(t->o->seed, (int)st[S_EPOCH], t->N, replayed, &rng);
    int same = memcmp(replayed, s->perm, (size_t)t->N * sizeof(int)) == 0;
    for (int i = 0; i < 4; i++) same &= rng.s[i] == (uint64_t)st[S_RNG0 + i];
    free(replayed);
    if (!same)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: the data order or RNG state is corrupt (it is not epoch %lld's of "
                              "--seed %llu)", path, (long long)st[S_EPOCH], (unsigned long long)t->o->seed);
    s->rng = rng;
    s->step = (int)st[S_STEP];
    s->epoch = (int)st[S_EPOCH];
    s->pos = (int)st[S_POS];
    s->best_step = (int)st[S_BEST_STEP];
    s->bad_evals = (int)st[S_BAD_EVALS];
    s->has_best = (int)st[S_HAS_BEST];
    s->best_metric = bits_dbl(st[S_BEST_METRIC]);
    s->smooth = bits_dbl(st[S_SMOOTH]);
    s->first_metric = bits_dbl(st[S_FIRST_METRIC]);
    if (!isfinite(s->best_metric) || !isfinite(s->smooth) || !isfinite(s->first_metric))
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: a recorded metric is not finite", path);
    return T5PT_OK;
}

static t5pt_status checkpoint_load(trainer *t) {
    const char *path = t->ckpt;
    st_file *f;
    t5pt_status r = t5pt_st_open(&f, path);
    if (r != T5PT_OK) return r;
    float *ostate = NULL;
    const st_tensor *ts = t5pt_st_get(f, "state"), *tp = t5pt_st_get(f, "prompt"), *tos = t5pt_st_get(f, "optim_state"),
                    *tostep = t5pt_st_get(f, "optim_step"), *tb = t5pt_st_get(f, "best_prompt");
    int64_t st[S_COUNT];
    if (!ts || ts->dtype != ST_I64 || ts->numel != S_COUNT || !tp || !tostep || tostep->dtype != ST_I64 ||
        tostep->numel != 1) {
        r = t5pt_set_error(T5PT_ERR_FORMAT, "%s: not a t5pt checkpoint (missing or malformed state tensors)", path);
        goto done;
    }
    if ((r = check_settings(f, path, t->settings, t->nsettings)) != T5PT_OK) goto done;
    memcpy(st, ts->data, sizeof st);
    if ((r = read_position(t, f, st)) != T5PT_OK) goto done;
    if ((r = read_prompt_tensor(f, path, tp, t->n, t->d, t->P)) != T5PT_OK) goto done;
    if (t->s.has_best) {
        if (!tb) {
            r = t5pt_set_error(T5PT_ERR_FORMAT, "%s: best_prompt missing", path);
            goto done;
        }
        if ((r = read_prompt_tensor(f, path, tb, t->n, t->d, t->s.best)) != T5PT_OK) goto done;
    }
    size_t os = t5pt_optim_state_size(t->opt);
    ostate = malloc((os ? os : 1) * sizeof(float));
    if (!ostate) {
        r = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (os) {
        int64_t want_o[1] = {(int64_t)os};
        if (!tos || t5pt_st_check_shape(f, tos, 1, want_o) != T5PT_OK) {
            r = t5pt_set_error(T5PT_ERR_FORMAT, "%s: optimizer state missing or of another size", path);
            goto done;
        }
        if ((r = t5pt_st_read_f32(f, tos, ostate)) != T5PT_OK) goto done;
    }
    int64_t ostep;
    memcpy(&ostep, tostep->data, sizeof ostep);
    r = t5pt_optim_state_set(t->opt, ostate, os, ostep);
    if (r != T5PT_OK) r = t5pt_set_error(r, "%s: %.600s", path, t5pt_last_error());
done:
    free(ostate);
    t5pt_st_close(f);
    if (r == T5PT_OK) t->checkpoint_step = t->s.step;
    return r;
}

/* For tests and the fuzz harness: a checkpoint read and checked as --resume reads it for a
 * run with prompt [n, d], N training examples, --batch/--seed of o and optimizer opt. The
 * settings a run records (learning rate, data fingerprint, ...) are compared by
 * t5pt_train only: this reader has no data to fingerprint, so it checks everything else. */
t5pt_status t5pt_checkpoint_read(const char *path, float *P, int n, int d, int N, t5pt_optim *opt,
                                 const t5pt_train_options *o) {
    if (!path || !P || !opt || !o || n <= 0 || d <= 0 || N <= 0)
        return t5pt_set_error(T5PT_ERR_ARG, "checkpoint: bad arguments");
    trainer t;
    memset(&t, 0, sizeof t);
    t.o = o;
    t.P = P;
    t.n = n;
    t.d = d;
    t.N = N;
    t.opt = opt;
    t.ckpt = strdup(path);
    t.s.perm = malloc((size_t)N * sizeof(int));
    t.s.best = malloc((size_t)n * d * sizeof(float));
    t5pt_status r = t.ckpt && t.s.perm && t.s.best ? checkpoint_load(&t)
                                                   : t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
    free(t.ckpt);
    free(t.s.perm);
    free(t.s.best);
    return r;
}

/* ------------------------------------------------------------ the output directory */

static t5pt_status make_dir(trainer *t, const char *dir) {
    if (mkdir(dir, 0777) == 0) t->created_dir = 1;
    else if (errno != EEXIST) return t5pt_set_error(T5PT_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    if (!t5pt_is_dir(dir)) return t5pt_set_error(T5PT_ERR_IO, "%s: exists and is not a directory", dir);
    return T5PT_OK;
}

/* Takes the directory's lock: fails at once when another run holds it. The lock file's path
 * is checked to still name the locked file (a run finishing in between removes it). */
static t5pt_status lock_dir(trainer *t) {
    t->lock_path = t5pt_path_join(t->o->out_dir, ".t5pt-train.lock");
    if (!t->lock_path) return t5pt_set_error(T5PT_ERR_NOMEM, "train: out of memory");
    for (int attempt = 0; attempt < 10; attempt++) {
        int fd = open(t->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) return t5pt_set_error(T5PT_ERR_IO, "%s: cannot create: %s", t->lock_path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            char pid[32] = "";
            ssize_t k = read(fd, pid, sizeof pid - 1);
            pid[k > 0 ? k : 0] = 0;
            pid[strcspn(pid, "\n")] = 0;
            close(fd);
            return t5pt_set_error(T5PT_ERR_IO, "%s is in use by another t5pt train%s%s%s; wait for it to finish or "
                                  "choose another --out", t->o->out_dir, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(t->lock_path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
            char pid[32];
            int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            /* the pid is only for the message a second run prints: a failure to record it is harmless */
            if (ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)len) != len) pid[0] = 0;
            t->lock_fd = fd;
            return T5PT_OK;
        }
        close(fd);   /* removed or replaced while we waited for it: take the new one */
    }
    return t5pt_set_error(T5PT_ERR_IO, "%s: cannot take the lock", t->lock_path);
}

static void unlock_dir(trainer *t) {
    if (t->lock_fd < 0) return;
    unlink(t->lock_path);   /* while still holding it: see lock_dir */
    close(t->lock_fd);
    t->lock_fd = -1;
}

/* Removes NAME.tmp.PID files of our outputs that a killed run left, when process PID is gone. */
static void remove_stale_temp_files(const char *dir) {
    static const char *const ours[] = {"checkpoint.safetensors", "adapter_model.safetensors", "adapter_config.json"};
    DIR *dp = opendir(dir);
    if (!dp) return;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        for (size_t k = 0; k < sizeof ours / sizeof ours[0]; k++) {
            size_t len = strlen(ours[k]);
            if (strncmp(e->d_name, ours[k], len) != 0 || strncmp(e->d_name + len, ".tmp.", 5) != 0) continue;
            char *end;
            long pid = strtol(e->d_name + len + 5, &end, 10);
            if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
            char *p = t5pt_path_join(dir, e->d_name);
            if (p) unlink(p);
            free(p);
        }
    }
    closedir(dp);
}

/* ------------------------------------------------------------ setting up */

static t5pt_status trainer_open(trainer *t) {
    const t5pt_train_options *o = t->o;
    t->lock_fd = -1;
    t->checkpoint_step = -1;
    if (!o->out_dir) return t5pt_set_error(T5PT_ERR_ARG, "train: no output directory");
    if (t->n <= 0 || t->N <= 0) return t5pt_set_error(T5PT_ERR_ARG, "train: prompt length and data must be non-empty");
    if (t->valid && !o->tok) return t5pt_set_error(T5PT_ERR_ARG, "train: validation needs a tokenizer");
    t5pt_status st = t5pt_train_total_steps(o, t->N, &t->total);
    if (st != T5PT_OK) return st;
    t->eval_every = o->eval_every > 0 ? o->eval_every : 0;
    t->ckpt_every = o->checkpoint_every > 0 ? o->checkpoint_every : (t->eval_every ? t->eval_every : 100);
    t->pbytes = (size_t)t->n * t->d * sizeof(float);
    t->oc = o->oc;   /* a linear schedule without a length decays over this run */
    if (t->oc.schedule == T5PT_SCHED_LINEAR && t->oc.total_steps <= 0) t->oc.total_steps = t->total;
    t->nsettings = run_settings(t->settings, o, &t->oc, t->n, t->train, t->valid, t5pt_model_precision(t->m));
    t->metadata = settings_metadata(t->settings, t->nsettings);
    t->diverged_rms = T5PT_DIVERGED_RMS_FACTOR * fmax(max_embedding_rms(t->m), 1e-3);
    t->select = select_resolved(o->select, o->num_labels);
    t->metric_name = t5pt_select_metric_name(t->select, o->num_labels);
    if (t->select == T5PT_SELECT_RANK_ACCURACY && o->num_labels <= 0)
        return t5pt_set_error(T5PT_ERR_ARG, "--select rank-accuracy needs --labels");
    t->s.perm = malloc((size_t)t->N * sizeof(int));
    t->s.best = malloc(t->pbytes);
    t->ckpt = t5pt_checkpoint_path(o->out_dir);
    const int B = o->batch < t->N ? o->batch : t->N;   /* no batch exceeds N rows */
    t->idx = malloc((size_t)B * sizeof(int));
    if (!t->metadata || !t->s.perm || !t->s.best || !t->ckpt || !t->idx)
        return t5pt_set_error(T5PT_ERR_NOMEM, "train: out of memory");
    if ((st = t5pt_optim_create(&t->opt, &t->oc, t->n, t->d)) != T5PT_OK) return st;
    st = t5pt_ctx_create(&t->c, t->m, B, t->train->max_src, t->train->max_tgt, t->n);
    if (st == T5PT_OK && o->recompute) st = t5pt_ctx_set_recompute(t->c, 1);
    if (st != T5PT_OK)   /* the one allocation that grows with the inputs: say what helps */
        return t5pt_set_error(st, "%.600s (longest input %d tokens + %d prompt rows, batch %d: lower --max-src-len, "
                              "--batch or --prompt-len)", t5pt_last_error(), t->train->max_src, t->n, B);
    if ((st = t5pt_ctx_set_loss(t->c, o->loss, o->z_loss)) != T5PT_OK) return st;
    if (t->valid && t->select == T5PT_SELECT_LOSS) {
        const int VB = o->eval_batch > 0 ? o->eval_batch : 16;
        st = t5pt_ctx_create(&t->vc, t->m, VB < t->valid->n ? VB : t->valid->n, t->valid->max_src,
                             t->valid->max_tgt > 0 ? t->valid->max_tgt : 1, t->n);
        if (st != T5PT_OK)
            return t5pt_set_error(st, "%.600s (validation loss: longest --valid input %d tokens + %d prompt rows, "
                                  "--eval-batch %d)", t5pt_last_error(), t->valid->max_src, t->n, VB);
        if ((st = t5pt_ctx_set_loss(t->vc, T5PT_LOSS_SUM, 0.0f)) != T5PT_OK) return st;
    }
    /* the directory last: everything that can fail on the inputs has been checked */
    if ((st = make_dir(t, o->out_dir)) != T5PT_OK || (st = lock_dir(t)) != T5PT_OK) return st;
    remove_stale_temp_files(o->out_dir);
    return T5PT_OK;
}

/* Fresh state, or the checkpoint's; then the metrics log (cut back to the checkpoint's step). */
static t5pt_status trainer_restore(trainer *t) {
    loop_state *s = &t->s;
    s->best_metric = -1.0;
    s->first_metric = -1.0;
    replay_order(t->o->seed, 0, t->N, s->perm, &s->rng);
    t5pt_status st;
    if (t->o->resume && t5pt_file_exists(t->ckpt)) {
        if ((st = checkpoint_load(t)) != T5PT_OK) return st;
        t->res->resumed_from = s->step;
    }
    const char *mpath = t->o->metrics_path;
    if (!mpath) return T5PT_OK;
    int resumed = t->res->resumed_from >= 0;
    if (resumed && (st = metrics_truncate(mpath, s->step)) != T5PT_OK) return st;
    t->log.path = mpath;
    t->log.f = fopen(mpath, resumed ? "a" : "w");
    if (!t->log.f) return t5pt_set_error(T5PT_ERR_IO, "%s: cannot open for writing: %s", mpath, strerror(errno));
    return T5PT_OK;
}

static void trainer_close(trainer *t, t5pt_status st) {
    if (t->log.f) fclose(t->log.f);   /* every line was flushed and checked by log_line */
    if (st != T5PT_OK && st != T5PT_ERR_INTERRUPTED && !t->wrote_anything && t->created_dir && t->lock_fd >= 0) {
        /* nothing of this run is in the directory it made: leave no empty directory behind */
        unlock_dir(t);
        rmdir(t->o->out_dir);
    }
    unlock_dir(t);
    free(t->lock_path);
    t5pt_batch_buf_free(&t->bb);
    t5pt_batch_buf_free(&t->vbb);
    t5pt_ctx_free(t->c);
    t5pt_ctx_free(t->vc);
    t5pt_optim_free(t->opt);
    free(t->idx);
    free(t->ckpt);
    free(t->metadata);
    free(t->s.perm);
    free(t->s.best);
}

/* ------------------------------------------------------------ evaluation */

/* Mean cross-entropy per target token of the validation set, teacher forced, without dropout:
 * the summed loss of each batch over its labelled tokens, summed, over the tokens counted. */
static t5pt_status validation_loss(trainer *t, double *metric) {
    const t5pt_dataset *v = t->valid;
    const int VB = t->o->eval_batch > 0 ? t->o->eval_batch : 16;
    int idx[256];
    double total = 0.0;
    long tokens = 0;
    for (int i0 = 0; i0 < v->n; i0 += VB) {
        const int cnt = v->n - i0 < VB ? v->n - i0 : VB;
        int *ix = cnt <= 256 ? idx : malloc((size_t)cnt * sizeof(int));
        if (!ix) return t5pt_set_error(T5PT_ERR_NOMEM, "validation: out of memory");
        for (int r = 0; r < cnt; r++) ix[r] = i0 + r;
        t5pt_status st = t5pt_batch_build(&t->vbb, v, ix, cnt, 1);
        if (ix != idx) free(ix);
        if (st != T5PT_OK) return st;
        float sum;
        if ((st = t5pt_forward(t->vc, t->P, t->n, t->o->pl, &t->vbb.view, &sum)) != T5PT_OK) return st;
        const t5pt_batch *b = &t->vbb.view;
        for (int k = 0; k < b->B * b->L; k++) tokens += b->labels[k] != -100;
        total += sum;
    }
    *metric = tokens ? total / (double)tokens : 0.0;
    return T5PT_OK;
}

static t5pt_status validate(trainer *t, double *metric) {
    const t5pt_train_options *o = t->o;
    if (t->select == T5PT_SELECT_LOSS) return validation_loss(t, metric);
    t5pt_eval_options eo;
    t5pt_eval_options_default(&eo);
    eo.batch = o->eval_batch > 0 ? o->eval_batch : 16;
    eo.pl = o->pl;
    const int rank = t->select == T5PT_SELECT_RANK_ACCURACY;
    eo.labels = rank ? o->labels : NULL;   /* only what the metric needs */
    eo.num_labels = rank ? o->num_labels : 0;
    eo.generate = !rank;
    t5pt_eval_result r;
    const float *Ps[1] = {t->P};
    int ns[1] = {t->n};
    t5pt_status st = t5pt_evaluate(t->m, o->tok, Ps, ns, 1, t->valid, &eo, &r);
    if (st != T5PT_OK) return st;
    *metric = rank ? r.rank_acc[0] : r.gen_acc[0];
    t5pt_eval_result_free(&r);
    return T5PT_OK;
}

static int report(trainer *t) {
    t->pr.prompt = t->P;
    return t->o->callback && t->o->callback(&t->pr, t->o->user);
}

/* One validation: keeps the best prompt (ties keep the earlier one, as early stopping does). */
static t5pt_status evaluate_and_keep_best(trainer *t) {
    loop_state *s = &t->s;
    double metric;
    t5pt_status st = validate(t, &metric);
    if (st != T5PT_OK) return st;
    /* ties keep the earlier prompt; the loss improves downwards */
    int improved = !s->has_best || (t->select == T5PT_SELECT_LOSS ? metric < s->best_metric : metric > s->best_metric);
    if (s->step == 0) s->first_metric = metric;
    if (improved) {
        memcpy(s->best, t->P, t->pbytes);
        s->has_best = 1;
        s->best_metric = metric;
        s->best_step = s->step;
        s->bad_evals = 0;
    } else {
        s->bad_evals++;
    }
    t->res->evaluated = 1;
    t->res->final_metric = metric;
    st = log_line(&t->log, "{\"step\":%d,\"eval\":{\"%s\":%.6f},\"best\":%.6f,\"best_step\":%d,\"time\":%.3f}", s->step,
                  t->metric_name, metric, s->best_metric, s->best_step, t5pt_seconds() - t->t0);
    if (st != T5PT_OK) return st;
    t->pr.is_eval = 1;
    t->pr.step = s->step;
    t->pr.metric_name = t->metric_name;
    t->pr.metric = metric;
    t->pr.best_metric = s->best_metric;
    t->pr.best_step = s->best_step;
    t->pr.improved = improved;
    if (report(t)) t->stop = 1;
    t->pr.is_eval = 0;
    return T5PT_OK;
}

/* ------------------------------------------------------------ one step */

static t5pt_status train_one_step(trainer *t) {
    loop_state *s = &t->s;
    const int N = t->N, B = t->o->batch;
    if (s->pos >= N) {   /* next epoch: a new order from the same RNG stream */
        s->epoch++;
        s->pos = 0;
        for (int i = 0; i < N; i++) s->perm[i] = i;
        t5pt_shuffle(s->perm, N, &s->rng);
    }
    const int cnt = N - s->pos < B ? N - s->pos : B;
    memcpy(t->idx, s->perm + s->pos, (size_t)cnt * sizeof(int));
    t5pt_status st = t5pt_batch_build(&t->bb, t->train, t->idx, cnt, 1);
    if (st != T5PT_OK) return st;
    const int epoch_of_batch = s->epoch, step = s->step + 1;
    /* dropout mask depends only on (seed, step): identical after a resume */
    t5pt_ctx_set_dropout(t->c, t->o->dropout, t->o->seed * 0x9E3779B97F4A7C15ULL + (uint64_t)s->step + 1);
    float lr = t5pt_optim_current_lr(t->opt), loss = 0;
    st = t5pt_train_step(t->c, t->opt, t->P, t->n, t->o->pl, &t->bb.view, &loss);
    if (st == T5PT_ERR_NUMERIC) {
        char what[300];
        snprintf(what, sizeof what, "%.280s", t5pt_last_error());
        return numeric_fault(t, step, what);
    }
    if (st != T5PT_OK) return st;
    if ((st = check_prompt(t, step)) != T5PT_OK) return st;
    s->pos += cnt;
    s->step = step;
    t->steps_this_run++;
    s->smooth = s->step == 1 ? loss : 0.98 * s->smooth + 0.02 * loss;
    for (int r = 0; r < cnt; r++) t->tokens += t->train->ex[t->idx[r]].src_len + t->n + t->train->ex[t->idx[r]].tgt_len;
    const double el = t5pt_seconds() - t->t0;
    t5pt_train_progress *pr = &t->pr;
    pr->step = s->step;
    pr->epoch = epoch_of_batch;
    pr->loss = loss;
    pr->smooth_loss = (float)s->smooth;
    pr->lr = lr;
    pr->elapsed_s = el;
    pr->tokens_per_s = el > 0 ? t->tokens / el : 0;
    pr->eta_s = el / t->steps_this_run * (t->total - s->step);
    t->res->last_loss = loss;
    t->res->last_smooth_loss = (float)s->smooth;
    st = log_line(&t->log, "{\"step\":%d,\"epoch\":%d,\"loss\":%.6f,\"smooth_loss\":%.6f,\"lr\":%g,\"tokens_per_s\":%.1f,"
                  "\"time\":%.3f}", s->step, epoch_of_batch, loss, s->smooth, lr, pr->tokens_per_s, el);
    if (st != T5PT_OK) return st;
    if (report(t)) t->stop = 1;
    return T5PT_OK;
}

/* ------------------------------------------------------------ the loop */

static int stop_requested(const trainer *t) { return t->stop || (t->o->stop_flag && *t->o->stop_flag); }

static t5pt_status run_loop(trainer *t) {
    loop_state *s = &t->s;
    t5pt_status st;
    if (t->valid && s->step == 0 && !s->has_best && (st = evaluate_and_keep_best(t)) != T5PT_OK) return st;
    while (s->step < t->total && !stop_requested(t)) {
        if ((st = train_one_step(t)) != T5PT_OK) return st;
        if (t->valid && ((t->eval_every && s->step % t->eval_every == 0) || s->step == t->total)) {
            if ((st = evaluate_and_keep_best(t)) != T5PT_OK) return st;
            if (t->o->patience > 0 && s->bad_evals >= t->o->patience) {
                t->res->stopped_early = 1;
                break;
            }
        }
        if (s->step % t->ckpt_every == 0 && s->step < t->total && (st = checkpoint_save(t)) != T5PT_OK) return st;
    }
    return T5PT_OK;
}

/* The final checkpoint (a resume after the end has nothing left to do), then the result prompt. */
static t5pt_status finish(trainer *t) {
    loop_state *s = &t->s;
    t5pt_train_result *res = t->res;
    int interrupted = s->step < t->total && !res->stopped_early;
    t5pt_status st = checkpoint_save(t);
    if (st != T5PT_OK) return st;
    st = t5pt_prompt_save_peft_ex(t->o->out_dir, t->valid && s->has_best ? s->best : t->P, t->n, t->d, &t->o->peft);
    if (st != T5PT_OK) return st;
    res->metric_name = t->metric_name;
    res->first_metric = s->first_metric;
    res->best_metric = s->best_metric;
    res->best_step = s->best_step;
    if (interrupted)
        return t5pt_set_error(T5PT_ERR_INTERRUPTED, "stopped at step %d of %d; state saved to %s (continue with --resume)",
                              s->step, t->total, t->ckpt);
    return T5PT_OK;
}

t5pt_status t5pt_train(const t5pt_model *m, const t5pt_dataset *train, const t5pt_dataset *valid, float *P, int n,
                       const t5pt_train_options *o, t5pt_train_result *res) {
    memset(res, 0, sizeof *res);
    res->resumed_from = -1;
    trainer t = {.m = m, .train = train, .valid = valid, .o = o, .P = P, .n = n, .res = res};
    t.d = t5pt_model_config(m)->d_model;
    t.N = train->n;
    t.t0 = t5pt_seconds();
    t5pt_status st = trainer_open(&t);
    if (st == T5PT_OK) st = trainer_restore(&t);
    if (st == T5PT_OK) {
        t.pr.total_steps = t.total;
        st = run_loop(&t);
    }
    if (st == T5PT_OK) st = finish(&t);
    res->steps_done = t.s.step;
    trainer_close(&t, st);
    return st;
}
