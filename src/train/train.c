/* train.c — the prompt-tuning loop: batches, steps, evaluation with early stopping,
 * atomic checkpoints and exact resume. See train.h for the contract. */
#include "train/train.h"
#include "train/eval.h"
#include "base/internal.h"
#include "io/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void t5pt_train_options_default(t5pt_train_options *o) {
    memset(o, 0, sizeof *o);
    o->batch = 32;
    o->epochs = 1;
    o->dropout = 0.1f;
    o->seed = 42;
    o->pl.kind = T5PT_PLACE_PREPEND;
    t5pt_optim_config_default(&o->oc, T5PT_OPT_ADAFACTOR);
    o->eval_batch = 16;
    o->init_name = "RANDOM";
}

char *t5pt_checkpoint_path(const char *out_dir) { return t5pt_path_join(out_dir, "checkpoint.safetensors"); }

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

static t5pt_status checkpoint_save(const char *path, const loop_state *s, const float *P, int n, int d, int N,
                                   const t5pt_optim *opt, const t5pt_train_options *o) {
    int64_t st[S_COUNT] = {0};
    st[S_STEP] = s->step; st[S_EPOCH] = s->epoch; st[S_POS] = s->pos;
    for (int i = 0; i < 4; i++) st[S_RNG0 + i] = (int64_t)s->rng.s[i];
    st[S_BEST_STEP] = s->best_step; st[S_BAD_EVALS] = s->bad_evals;
    st[S_N] = n; st[S_D] = d; st[S_NTRAIN] = N; st[S_BATCH] = o->batch; st[S_SEED] = (int64_t)o->seed;
    st[S_BEST_METRIC] = dbl_bits(s->best_metric); st[S_SMOOTH] = dbl_bits(s->smooth);
    st[S_HAS_BEST] = s->has_best; st[S_FIRST_METRIC] = dbl_bits(s->first_metric);

    size_t os = t5pt_optim_state_size(opt);
    float *ostate = malloc((os ? os : 1) * sizeof(float));
    st_writer *w = t5pt_st_writer_new();
    if (!ostate || !w) {
        free(ostate);
        t5pt_st_writer_free(w);
        return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
    }
    int64_t ostep;
    t5pt_optim_state_get(opt, ostate, &ostep);
    int64_t sh_state[1] = {S_COUNT}, sh_p[2] = {n, d}, sh_o[1] = {(int64_t)os}, sh_perm[1] = {N}, sh_1[1] = {1};
    t5pt_status r = t5pt_st_writer_add(w, "state", ST_I64, 1, sh_state, st);
    if (r == T5PT_OK) r = t5pt_st_writer_add(w, "prompt", ST_F32, 2, sh_p, P);
    if (r == T5PT_OK && s->has_best) r = t5pt_st_writer_add(w, "best_prompt", ST_F32, 2, sh_p, s->best);
    if (r == T5PT_OK && os) r = t5pt_st_writer_add(w, "optim_state", ST_F32, 1, sh_o, ostate);
    if (r == T5PT_OK) r = t5pt_st_writer_add(w, "optim_step", ST_I64, 1, sh_1, &ostep);
    if (r == T5PT_OK) r = t5pt_st_writer_add(w, "perm", ST_I32, 1, sh_perm, s->perm);
    if (r == T5PT_OK) r = t5pt_st_writer_save(w, path, "{\"format\":\"t5pt-checkpoint\",\"version\":\"1\"}");
    t5pt_st_writer_free(w);
    free(ostate);
    return r;
}

/* A NaN or Inf in a saved prompt would make the resumed run train garbage: refuse the file. */
static t5pt_status check_finite(const char *path, const char *what, const float *x, size_t count) {
    for (size_t k = 0; k < count; k++)
        if (!isfinite(x[k]))
            return t5pt_set_error(T5PT_ERR_FORMAT, "%s: %s value %zu is not finite: the checkpoint is damaged", path,
                                  what, k);
    return T5PT_OK;
}

static t5pt_status checkpoint_load(const char *path, loop_state *s, float *P, int n, int d, int N, t5pt_optim *opt,
                                   const t5pt_train_options *o) {
    st_file *f;
    t5pt_status r = t5pt_st_open(&f, path);
    if (r != T5PT_OK) return r;
    int64_t st[S_COUNT];
    int32_t *tmp = NULL;
    float *ostate = NULL;
    const st_tensor *ts = t5pt_st_get(f, "state"), *tp = t5pt_st_get(f, "prompt"), *tperm = t5pt_st_get(f, "perm"),
                    *tos = t5pt_st_get(f, "optim_state"), *tostep = t5pt_st_get(f, "optim_step"), *tb = t5pt_st_get(f, "best_prompt");
    if (!ts || ts->dtype != ST_I64 || ts->numel != S_COUNT || !tp || !tperm || !tostep || tostep->dtype != ST_I64 ||
        tostep->numel != 1) {
        r = t5pt_set_error(T5PT_ERR_FORMAT, "%s: not a t5pt checkpoint (missing or malformed state tensors)", path);
        goto done;
    }
    memcpy(st, ts->data, sizeof st);
    if (st[S_N] != n || st[S_D] != d)
        r = t5pt_set_error(T5PT_ERR_SHAPE, "%s: checkpoint prompt is [%lld, %lld], this run wants [%d, %d]", path,
                           (long long)st[S_N], (long long)st[S_D], n, d);
    else if (st[S_NTRAIN] != N)
        r = t5pt_set_error(T5PT_ERR_ARG, "%s: checkpoint was made on %lld training examples, this run has %d", path,
                           (long long)st[S_NTRAIN], N);
    else if (st[S_BATCH] != o->batch || (uint64_t)st[S_SEED] != o->seed)
        r = t5pt_set_error(T5PT_ERR_ARG, "%s: checkpoint was made with --batch %lld --seed %llu; resume with the same",
                           path, (long long)st[S_BATCH], (unsigned long long)st[S_SEED]);
    else if (st[S_STEP] < 0 || st[S_STEP] > 0x7fffffff || st[S_EPOCH] < 0 || st[S_EPOCH] > 0x7fffffff ||
             st[S_POS] < 0 || st[S_POS] > N)   /* a negative position would index before the data order */
        r = t5pt_set_error(T5PT_ERR_FORMAT, "%s: step, epoch or data position out of range", path);
    if (r != T5PT_OK) goto done;
    int64_t want_p[2] = {n, d}, want_perm[1] = {N};
    if ((r = t5pt_st_check_shape(f, tp, 2, want_p)) != T5PT_OK || (r = t5pt_st_check_shape(f, tperm, 1, want_perm)) != T5PT_OK)
        goto done;
    if ((r = t5pt_st_read_f32(f, tp, P)) != T5PT_OK || (r = check_finite(path, "prompt", P, (size_t)n * d)) != T5PT_OK)
        goto done;
    if ((r = t5pt_st_read_i32(f, tperm, s->perm)) != T5PT_OK) goto done;
    for (int i = 0; i < N; i++)
        if (s->perm[i] < 0 || s->perm[i] >= N) {
            r = t5pt_set_error(T5PT_ERR_FORMAT, "%s: data order holds index %d outside 0..%d", path, s->perm[i], N - 1);
            goto done;
        }
    s->has_best = (int)st[S_HAS_BEST];
    if (s->has_best) {
        if (!tb) { r = t5pt_set_error(T5PT_ERR_FORMAT, "%s: best_prompt missing", path); goto done; }
        if ((r = t5pt_st_check_shape(f, tb, 2, want_p)) != T5PT_OK || (r = t5pt_st_read_f32(f, tb, s->best)) != T5PT_OK ||
            (r = check_finite(path, "best_prompt", s->best, (size_t)n * d)) != T5PT_OK)
            goto done;
    }
    size_t os = t5pt_optim_state_size(opt);
    ostate = malloc((os ? os : 1) * sizeof(float));
    if (!ostate) { r = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path); goto done; }
    if (os) {
        int64_t want_o[1] = {(int64_t)os};
        if (!tos) { r = t5pt_set_error(T5PT_ERR_FORMAT, "%s: optimizer state missing (different --optim?)", path); goto done; }
        if ((r = t5pt_st_check_shape(f, tos, 1, want_o)) != T5PT_OK) {
            r = t5pt_set_error(T5PT_ERR_SHAPE, "%s: optimizer state has another size (different --optim?)", path);
            goto done;
        }
        if ((r = t5pt_st_read_f32(f, tos, ostate)) != T5PT_OK) goto done;
    }
    int64_t ostep;
    memcpy(&ostep, tostep->data, sizeof ostep);
    if ((r = t5pt_optim_state_set(opt, ostate, os, ostep)) != T5PT_OK) {
        char msg[512];   /* the optimizer's message does not know the file */
        snprintf(msg, sizeof msg, "%s", t5pt_last_error());
        r = t5pt_set_error(r, "%s: %s", path, msg);
        goto done;
    }
    s->step = (int)st[S_STEP];
    s->epoch = (int)st[S_EPOCH];
    s->pos = (int)st[S_POS];
    for (int i = 0; i < 4; i++) s->rng.s[i] = (uint64_t)st[S_RNG0 + i];
    s->best_step = (int)st[S_BEST_STEP];
    s->bad_evals = (int)st[S_BAD_EVALS];
    s->best_metric = bits_dbl(st[S_BEST_METRIC]);
    s->smooth = bits_dbl(st[S_SMOOTH]);
    s->first_metric = bits_dbl(st[S_FIRST_METRIC]);
done:
    free(tmp);
    free(ostate);
    t5pt_st_close(f);
    return r;
}

t5pt_status t5pt_checkpoint_read(const char *path, float *P, int n, int d, int N, t5pt_optim *opt,
                                 const t5pt_train_options *o) {
    if (!path || !P || !opt || !o || n <= 0 || d <= 0 || N <= 0)
        return t5pt_set_error(T5PT_ERR_ARG, "checkpoint: bad arguments");
    loop_state s;
    memset(&s, 0, sizeof s);
    s.perm = malloc((size_t)N * sizeof(int));
    s.best = malloc((size_t)n * d * sizeof(float));
    t5pt_status r = s.perm && s.best ? checkpoint_load(path, &s, P, n, d, N, opt, o)
                                     : t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
    free(s.perm);
    free(s.best);
    return r;
}

/* ------------------------------------------------------------ evaluation */

static t5pt_status validate(const t5pt_model *m, const t5pt_dataset *valid, const float *P, int n,
                            const t5pt_train_options *o, double *metric) {
    t5pt_eval_options eo;
    t5pt_eval_options_default(&eo);
    eo.batch = o->eval_batch > 0 ? o->eval_batch : 16;
    eo.pl = o->pl;
    eo.labels = o->labels;
    eo.num_labels = o->num_labels;
    eo.generate = o->num_labels <= 0;   /* with labels, rank classification is the metric */
    t5pt_eval_result r;
    const float *Ps[1] = {P};
    int ns[1] = {n};
    t5pt_status st = t5pt_evaluate(m, o->tok, Ps, ns, 1, valid, &eo, &r);
    if (st != T5PT_OK) return st;
    *metric = o->num_labels > 0 ? r.rank_acc[0] : r.gen_acc[0];
    t5pt_eval_result_free(&r);
    return T5PT_OK;
}

static void log_json(FILE *f, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void log_json(FILE *f, const char *fmt, ...) {
    if (!f) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}

static t5pt_status make_dir(const char *dir) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return t5pt_set_error(T5PT_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    if (!t5pt_is_dir(dir)) return t5pt_set_error(T5PT_ERR_IO, "%s: exists and is not a directory", dir);
    return T5PT_OK;
}

/* ------------------------------------------------------------ the loop */

t5pt_status t5pt_train(const t5pt_model *m, const t5pt_dataset *train, const t5pt_dataset *valid, float *P, int n,
                       const t5pt_train_options *o, t5pt_train_result *res) {
    memset(res, 0, sizeof *res);
    res->resumed_from = -1;
    const t5pt_config *cfg = t5pt_model_config(m);
    const int d = cfg->d_model, N = train->n, B = o->batch;
    if (!o->out_dir) return t5pt_set_error(T5PT_ERR_ARG, "train: no output directory");
    if (B <= 0 || n <= 0 || N <= 0) return t5pt_set_error(T5PT_ERR_ARG, "train: batch, prompt length and data must be non-empty");
    if (valid && !o->tok) return t5pt_set_error(T5PT_ERR_ARG, "train: validation needs a tokenizer");
    const int steps_per_epoch = (N + B - 1) / B;
    const int total = o->steps > 0 ? o->steps : (o->epochs > 0 ? o->epochs : 1) * steps_per_epoch;
    const int eval_every = o->eval_every > 0 ? o->eval_every : 0;
    const int ckpt_every = o->checkpoint_every > 0 ? o->checkpoint_every : (eval_every ? eval_every : 100);
    const size_t pbytes = (size_t)n * d * sizeof(float);

    loop_state s;
    memset(&s, 0, sizeof s);
    s.perm = malloc((size_t)N * sizeof(int));
    s.best = malloc(pbytes);
    char *ckpt = t5pt_checkpoint_path(o->out_dir);
    t5pt_ctx *c = NULL;
    t5pt_optim *opt = NULL;
    t5pt_batch_buf bb = {0};
    FILE *mf = NULL;
    int *idx = malloc((size_t)B * sizeof(int));
    t5pt_status st = T5PT_OK;
    if (!s.perm || !s.best || !ckpt || !idx) st = t5pt_set_error(T5PT_ERR_NOMEM, "train: out of memory");
    if (st == T5PT_OK) st = make_dir(o->out_dir);
    t5pt_optim_config oc = o->oc;   /* a linear schedule without a length decays over this run */
    if (oc.schedule == T5PT_SCHED_LINEAR && oc.total_steps <= 0) oc.total_steps = total;
    if (st == T5PT_OK) st = t5pt_optim_create(&opt, &oc, n, d);
    if (st == T5PT_OK) st = t5pt_ctx_create(&c, m, B < N ? B : N, train->max_src, train->max_tgt, n); /* no batch exceeds N rows */
    if (st != T5PT_OK) goto done;

    /* fresh state, or the checkpoint's */
    s.best_metric = -1.0;
    s.first_metric = -1.0;
    t5pt_rng_seed(&s.rng, o->seed);
    for (int i = 0; i < N; i++) s.perm[i] = i;
    t5pt_shuffle(s.perm, N, &s.rng);
    if (o->resume && t5pt_file_exists(ckpt)) {
        st = checkpoint_load(ckpt, &s, P, n, d, N, opt, o);
        if (st != T5PT_OK) goto done;
        res->resumed_from = s.step;
    }
    if (o->metrics_path) {
        mf = fopen(o->metrics_path, res->resumed_from >= 0 ? "a" : "w");
        if (!mf) {
            st = t5pt_set_error(T5PT_ERR_IO, "%s: cannot open for writing: %s", o->metrics_path, strerror(errno));
            goto done;
        }
    }
    const char *metric_name = o->num_labels > 0 ? "rank_accuracy" : "exact_match";
    const double t0 = t5pt_seconds();
    double tokens = 0;
    int steps_this_run = 0, stop = 0;
    t5pt_train_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.total_steps = total;

    /* one evaluation: keeps the best prompt (ties keep the earlier one, as early stopping does) */
#define EVALUATE()                                                                                       \
    do {                                                                                                 \
        double metric;                                                                                   \
        st = validate(m, valid, P, n, o, &metric);                                                       \
        if (st != T5PT_OK) goto done;                                                                    \
        int improved = !s.has_best || metric > s.best_metric;                                            \
        if (s.step == 0) s.first_metric = metric;                                                        \
        if (improved) {                                                                                  \
            memcpy(s.best, P, pbytes);                                                                   \
            s.has_best = 1;                                                                              \
            s.best_metric = metric;                                                                      \
            s.best_step = s.step;                                                                        \
            s.bad_evals = 0;                                                                             \
        } else {                                                                                         \
            s.bad_evals++;                                                                               \
        }                                                                                                \
        res->evaluated = 1;                                                                              \
        res->final_metric = metric;                                                                      \
        log_json(mf, "{\"step\":%d,\"eval\":{\"%s\":%.6f},\"best\":%.6f,\"best_step\":%d,\"time\":%.3f}", \
                 s.step, metric_name, metric, s.best_metric, s.best_step, t5pt_seconds() - t0);                 \
        pr.is_eval = 1;                                                                                  \
        pr.step = s.step;                                                                                \
        pr.metric_name = metric_name;                                                                    \
        pr.metric = metric;                                                                              \
        pr.best_metric = s.best_metric;                                                                  \
        pr.best_step = s.best_step;                                                                      \
        pr.improved = improved;                                                                          \
        if (o->callback && o->callback(&pr, o->user)) stop = 1;                                          \
        pr.is_eval = 0;                                                                                  \
    } while (0)

    if (valid && s.step == 0 && !s.has_best) EVALUATE();

    while (s.step < total && !stop && !(o->stop_flag && *o->stop_flag)) {
        if (s.pos >= N) {   /* next epoch: a new order from the same RNG stream */
            s.epoch++;
            s.pos = 0;
            for (int i = 0; i < N; i++) s.perm[i] = i;
            t5pt_shuffle(s.perm, N, &s.rng);
        }
        int cnt = N - s.pos < B ? N - s.pos : B;
        memcpy(idx, s.perm + s.pos, (size_t)cnt * sizeof(int));
        if ((st = t5pt_batch_build(&bb, train, idx, cnt, 1)) != T5PT_OK) goto done;
        const int epoch_of_batch = s.epoch;
        s.pos += cnt;
        /* dropout mask depends only on (seed, step): identical after a resume */
        t5pt_ctx_set_dropout(c, o->dropout, o->seed * 0x9E3779B97F4A7C15ULL + (uint64_t)s.step + 1);
        float lr = t5pt_optim_current_lr(opt), loss;
        if ((st = t5pt_train_step(c, opt, P, n, o->pl, &bb.view, &loss)) != T5PT_OK) goto done;
        if (!isfinite(loss)) {
            st = t5pt_set_error(T5PT_ERR_ARG, "train: loss is %f at step %d (try a lower --lr)", loss, s.step + 1);
            goto done;
        }
        s.step++;
        steps_this_run++;
        s.smooth = s.step == 1 ? loss : 0.98 * s.smooth + 0.02 * loss;
        for (int r = 0; r < cnt; r++) tokens += train->ex[idx[r]].src_len + n + train->ex[idx[r]].tgt_len;
        double el = t5pt_seconds() - t0;
        pr.step = s.step;
        pr.epoch = epoch_of_batch;
        pr.loss = loss;
        pr.smooth_loss = (float)s.smooth;
        pr.lr = lr;
        pr.elapsed_s = el;
        pr.tokens_per_s = el > 0 ? tokens / el : 0;
        pr.eta_s = el / steps_this_run * (total - s.step);
        res->last_loss = loss;
        res->last_smooth_loss = (float)s.smooth;
        log_json(mf, "{\"step\":%d,\"epoch\":%d,\"loss\":%.6f,\"smooth_loss\":%.6f,\"lr\":%g,\"tokens_per_s\":%.1f,\"time\":%.3f}",
                 s.step, epoch_of_batch, loss, s.smooth, lr, pr.tokens_per_s, el);
        if (o->callback && o->callback(&pr, o->user)) stop = 1;

        if (valid && ((eval_every && s.step % eval_every == 0) || s.step == total)) {
            EVALUATE();
            if (o->patience > 0 && s.bad_evals >= o->patience) {
                res->stopped_early = 1;
                break;
            }
        }
        if (s.step % ckpt_every == 0 && s.step < total &&
            (st = checkpoint_save(ckpt, &s, P, n, d, N, opt, o)) != T5PT_OK)
            goto done;
    }
#undef EVALUATE
    int interrupted = s.step < total && !res->stopped_early;
    /* final checkpoint (a resume after the end has nothing left to do), then the result prompt */
    if ((st = checkpoint_save(ckpt, &s, P, n, d, N, opt, o)) != T5PT_OK) goto done;
    st = t5pt_prompt_save_peft(o->out_dir, valid && s.has_best ? s.best : P, n, d, o->base_model, o->init_name);
    if (st != T5PT_OK) goto done;
    res->steps_done = s.step;
    res->first_metric = s.first_metric;
    res->best_metric = s.best_metric;
    res->best_step = s.best_step;
    if (interrupted)
        st = t5pt_set_error(T5PT_ERR_INTERRUPTED, "stopped at step %d of %d; state saved to %s (continue with --resume)",
                            s.step, total, ckpt);
done:
    res->steps_done = s.step;
    if (mf) fclose(mf);
    t5pt_batch_buf_free(&bb);
    t5pt_ctx_free(c);
    t5pt_optim_free(opt);
    free(idx);
    free(ckpt);
    free(s.perm);
    free(s.best);
    return st;
}
