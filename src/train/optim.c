/* optim.c — the optimizers that update the soft prompt: Adafactor (Hugging Face
 * semantics and the T5X variant) and AdamW, each with a constant or linear schedule.
 *
 * This comment is the reference for what each optimizer computes. Every update acts on
 * one tensor p[rows, cols] (the prompt, rows = prompt length, cols = d_model) with its
 * gradient g. t = 1, 2, ... is the number of the step being applied (1-based); s = t - 1.
 *
 * ---------------------------------------------------------------- Adafactor ("adafactor")
 * Source: transformers src/transformers/optimization.py, class Adafactor (_get_lr, _rms,
 * _approx_sq_grad, step) — itself a port of fairseq's adafactor.py. Shazeer & Stern 2018.
 *
 *   rms    = ||p||_2 / sqrt(rows*cols)                       p before this step
 *   rel    = lr * sched(s)                                   external lr (relative_step off)
 *   rel    = min(warmup_init ? 1e-6*t : 1e-2, 1/sqrt(t))     relative_step on (lr and the schedule
 *                                                            are ignored: HF demands lr=None there)
 *   lr_t   = (scale_parameter ? max(eps2, rms) : 1) * rel
 *   beta2t = 1 - (s0 + t)^decay_rate                         decay_rate = -0.8; s0 = start_step (default 0,
 *                                                            HF's rule: beta2t(1) = 0)
 *   u      = g*g + eps1                                      eps1 = 1e-30
 *   factored (HF: every tensor with >= 2 dims, so always for a prompt):
 *       R = beta2t*R + (1-beta2t)*mean_over_cols(u)          R[rows]
 *       C = beta2t*C + (1-beta2t)*mean_over_rows(u)          C[cols]
 *       upd[i,j] = (rsqrt(R[i] / mean(R)) * rsqrt(C[j])) * g[i,j]
 *   unfactored:
 *       V = beta2t*V + (1-beta2t)*u ;  upd = rsqrt(V) * g
 *   upd /= max(1, rms(upd) / clip_threshold)                 update clipping, clip = 1.0
 *   upd *= lr_t
 *   beta1 set:  M = beta1*M + (1-beta1)*upd ; upd = M         momentum on the scaled update
 *   wd != 0:    p += -(wd*lr_t) * p                           decay FIRST (HF order), scaled by lr_t
 *   p -= upd
 * State starts at zero. A [1, c] tensor is bit-identical to HF's 1-D (unfactored) rule:
 * R/mean(R) is exactly 1 and C is exactly V, so 1-D parameters need no separate path.
 *
 * Defaults (t5pt_optim_config_default) are the prompt-tuning paper's setting (Lester et al.
 * 2021, §3 "Adafactor ... learning rate 0.3, weight decay 1e-5, β2 decay 0.8, parameter
 * scaling off"): lr 0.3 constant, decay_rate -0.8, clip 1.0, no beta1, weight_decay 1e-5,
 * scale_parameter / relative_step / warmup_init off. (HF's own constructor defaults differ:
 * lr None, weight_decay 0, scale_parameter and relative_step on.)
 *
 * ---------------------------------------------------------------- T5X ("adafactor-t5x")
 * Source: google-research/t5x t5x/adafactor.py (Adafactor._factored_dims,
 * apply_param_gradient), the optimizer the paper's code ran. Written in the HF form above;
 * only two things differ from HF:
 *   1. Factoring: only when the tensor has >= 2 dims AND its second-largest dim is
 *      >= min_dim_size_to_factor = 128 (T5X default). For a prompt [n, d] with n <= d that
 *      means n >= 128: a 100-token prompt keeps a full V[n, d].
 *   2. Weight decay is not scaled by the lr: p <- (1 - wd)*p - upd
 *      (T5X: new_param = (1.0 - weight_decay_rate) * param - subtrahend).
 * The same in both (checked in the T5X source): beta2 = 1 - (step+1)^-0.8 with T5X's step
 * counting from 0 (= HF's t, when start_step is 0); u = g*g + epsilon1; parameter scale max(eps2, RMS(p))
 * (multiply_by_parameter_scale, T5X default ON, HF calls it scale_parameter); clipping
 * y / max(1, RMS(y)/clipping_threshold); momentum m = beta1*m + (1-beta1)*lr_t*y.
 * Further T5X differences, not modelled here:
 *   - T5X names the two LARGEST dims row/col (argsort of the shape) and normalises by the
 *     mean of the statistic kept over the second-largest dim; for 2-D tensors that is the
 *     same estimate R_i C_j / mean(R) (mean(R) = mean(C) exactly in real arithmetic), only
 *     the rounding differs. Tensors of rank > 2 need explicit factor rules in T5X.
 *   - T5X has no relative_step / warmup_init: the lr comes from its schedule (default
 *     rsqrt decay). Here relative_step keeps HF's rule in both variants.
 *   - weight_decay_rate_lr_exponent, global_norm_clip_threshold, max_parameter_scale,
 *     skip_nan_updates, factored=False, dtype_momentum.
 *
 * start_step s0 (both variants): T5X's decay is `_decay_rate_pow(step - step_offset)` =
 * 1 - (step - step_offset + 1)^-0.8 of the optimizer's GLOBAL step (t5x/adafactor.py,
 * Adafactor._decay_rate_pow and apply_param_gradient, l.311-315 and l.496 at cc342d4), and
 * MultiOptimizer hands the sub-optimizer the global state.step (t5x/optimizers.py l.729). The
 * prompt-tuning configs restore that step from the pretrained checkpoint: only names matching
 * "prompt" are skipped (prompt_tuning/configs/models/t5_1_1_prompt.gin l.83-98, step_offset = 0
 * at l.52), and the LM-adapted T5 1.1 checkpoints are at step 1,100,000. So the first prompt
 * update already has beta2 = 1 - 1100001^-0.8 = 0.9999853. s0 reproduces that: beta2 of update
 * t is 1 - (s0 + t)^decay_rate, with the state still starting at zero (the prompt's v is new).
 * T5X computes the decay in float32 (jnp.float32 step + 1.0); here it is double, rounded once.
 *   - T5X computes in JAX/XLA float32 (x**-0.5 instead of rsqrt, fused expressions).
 *
 * ---------------------------------------------------------------- AdamW ("adamw")
 * Source: torch/optim/adamw.py, _single_tensor_adamw (torch 1.13; the default on CPU).
 *   lr_s = lr * sched(s)
 *   p *= 1 - lr_s*wd                                          decoupled decay, before the moments
 *   m = beta1*m + (1-beta1)*g ;  v = beta2*v + (1-beta2)*g*g
 *   p += -(lr_s / (1-beta1^t)) * m / (sqrt(v) / sqrt(1-beta2^t) + eps)
 * Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01 (torch's defaults).
 *
 * ---------------------------------------------------------------- schedules
 * sched(s), s = 0 for the first update (golden/reference.py lr_multiplier, W = warmup_steps,
 * S = total_steps):
 *   constant: 1
 *   linear:   s < W : (s + 1) / W                 the first step already moves
 *             s >= W: max(0, (S - s) / max(1, S - W))
 * This differs on purpose from transformers' get_linear_schedule_with_warmup, whose warmup
 * multiplier is s / W (its first update is taken with lr 0).
 *
 * ---------------------------------------------------------------- numerics
 * Everything elementwise is float32 with the same operations in the same order as the
 * torch code (x*b then + a*y for mul_().add_(alpha=), rsqrt as 1/sqrt, ...), so the
 * results agree with PyTorch to a few ulps per step. Scalars that Python keeps in double
 * (lr, beta2t, bias corrections, 1 - beta) are computed in double from the configured
 * decimal value and rounded to float where torch rounds them (at the tensor op).
 * Reductions (mean, norm) accumulate in double and round once: torch's float cascade
 * sums are close to the correctly rounded result, and so is this.
 * Compiler contraction into FMA is switched off (C11 -std mode on GCC, pragma for clang)
 * so the same inputs give the same bits on x86 and ARM — checkpoints resume bit-exactly.
 */
#include "base/internal.h"
#include "train/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define MIN_DIM_SIZE_TO_FACTOR 128   /* T5X default */

struct t5pt_optim {
    t5pt_optim_config cfg;
    int rows, cols;
    size_t numel;
    int factored;           /* Adafactor: R/C instead of V */
    int momentum;           /* Adafactor with beta1 */
    int64_t step;           /* updates done */
    /* hyperparameters as the double the user wrote (see decimal_of) */
    double lr, eps1, eps2, clip, decay_rate, beta1, wd, ab1, ab2, aeps;
    /* state (one allocation, laid out in state_get order) */
    float *state;
    size_t state_floats;
    float *R, *C, *V, *M;   /* Adafactor: R[rows] C[cols] or V[numel]; M[numel] with beta1 */
    float *am, *av;         /* AdamW: m[numel], v[numel] */
    float *upd;             /* scratch [numel] */
    float *rfac, *cfac;     /* scratch [rows], [cols] */
    double *csum;           /* scratch [cols]: column sums of g^2 + eps1 */
};

/* The configuration holds floats; Python holds the same hyperparameters as doubles parsed
 * from the decimal text (0.999, not 0.999000013...). Recover that double: the shortest
 * decimal that rounds to x, read back as a double. For 1 - beta2 this matters at 1e-5. */
static double decimal_of(float x) {
    if (!isfinite(x) || x == 0.0f) return (double)x;
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x) return strtod(buf, NULL);
    }
    return (double)x;
}

void t5pt_optim_config_default(t5pt_optim_config *oc, t5pt_optim_kind kind) {
    memset(oc, 0, sizeof *oc);
    oc->kind = kind;
    oc->eps1 = 1e-30f;
    oc->eps2 = 1e-3f;
    oc->clip_threshold = 1.0f;
    oc->decay_rate = -0.8f;
    oc->beta1 = -1.0f;
    oc->scale_parameter = 0;
    oc->relative_step = 0;
    oc->warmup_init = 0;
    oc->adam_beta1 = 0.9f;
    oc->adam_beta2 = 0.999f;
    oc->adam_eps = 1e-8f;
    oc->schedule = T5PT_SCHED_CONSTANT;
    oc->warmup_steps = 0;
    oc->total_steps = 0;
    if (kind == T5PT_OPT_ADAMW) {
        oc->lr = 1e-3f;
        oc->weight_decay = 0.01f;
    } else {
        oc->lr = 0.3f;
        oc->weight_decay = 1e-5f;
    }
}

t5pt_status t5pt_optim_parse_kind(t5pt_optim_kind *kind, const char *text) {
    if (!text) return t5pt_set_error(T5PT_ERR_ARG, "optimizer: missing name (adafactor|adafactor-t5x|adamw)");
    if (strcmp(text, "adafactor") == 0) *kind = T5PT_OPT_ADAFACTOR;
    else if (strcmp(text, "adafactor-t5x") == 0 || strcmp(text, "adafactor_t5x") == 0) *kind = T5PT_OPT_ADAFACTOR_T5X;
    else if (strcmp(text, "adamw") == 0) *kind = T5PT_OPT_ADAMW;
    else return t5pt_set_error(T5PT_ERR_ARG, "optimizer: unknown name '%s' (adafactor|adafactor-t5x|adamw)", text);
    return T5PT_OK;
}

/* ---------------------------------------------------------------- schedule */

/* sched(s) of the header comment; s = index of the update being applied (0-based). */
static double schedule_multiplier(const t5pt_optim_config *oc, int64_t s) {
    if (oc->schedule != T5PT_SCHED_LINEAR) return 1.0;
    int64_t W = oc->warmup_steps, S = oc->total_steps;
    if (s < W) return (double)(s + 1) / (double)W;
    int64_t span = S - W > 1 ? S - W : 1;
    double m = (double)(S - s) / (double)span;
    return m > 0.0 ? m : 0.0;
}

/* Adafactor's step size before the parameter scale (rel in the header comment); t 1-based. */
static double adafactor_rel(const t5pt_optim *o, int64_t t) {
    if (o->cfg.relative_step) {
        double min_step = o->cfg.warmup_init ? 1e-6 * (double)t : 1e-2;
        double inv = 1.0 / sqrt((double)t);
        return min_step < inv ? min_step : inv;
    }
    return o->lr * schedule_multiplier(&o->cfg, t - 1);
}

/* ---------------------------------------------------------------- create / free */

t5pt_status t5pt_optim_create(t5pt_optim **out, const t5pt_optim_config *oc, int rows, int cols) {
    *out = NULL;
    if (!oc) return t5pt_set_error(T5PT_ERR_ARG, "optimizer: no configuration");
    if (rows <= 0 || cols <= 0)
        return t5pt_set_error(T5PT_ERR_ARG, "optimizer: parameter shape [%d, %d] must be positive", rows, cols);
    int adafactor = oc->kind == T5PT_OPT_ADAFACTOR || oc->kind == T5PT_OPT_ADAFACTOR_T5X;
    if (!adafactor && oc->kind != T5PT_OPT_ADAMW)
        return t5pt_set_error(T5PT_ERR_ARG, "optimizer: unknown kind %d", (int)oc->kind);
    if (oc->schedule != T5PT_SCHED_CONSTANT && oc->schedule != T5PT_SCHED_LINEAR)
        return t5pt_set_error(T5PT_ERR_ARG, "optimizer: unknown schedule %d", (int)oc->schedule);
    if (oc->schedule == T5PT_SCHED_LINEAR) {
        if (oc->warmup_steps < 0 || oc->total_steps <= 0 || oc->warmup_steps > oc->total_steps)
            return t5pt_set_error(T5PT_ERR_ARG,
                                  "optimizer: linear schedule needs 0 <= warmup_steps (%d) <= total_steps (%d), total > 0",
                                  oc->warmup_steps, oc->total_steps);
    }
    if (adafactor) {
        if (!oc->relative_step && !(oc->lr > 0.0f) )
            return t5pt_set_error(T5PT_ERR_ARG, "optimizer: Adafactor lr must be > 0 (got %g) unless relative_step is on",
                                  (double)oc->lr);
        if (oc->warmup_init && !oc->relative_step)
            return t5pt_set_error(T5PT_ERR_ARG, "optimizer: Adafactor warmup_init requires relative_step (as in HF)");
        if (!(oc->clip_threshold > 0.0f))
            return t5pt_set_error(T5PT_ERR_ARG, "optimizer: Adafactor clip_threshold must be > 0");
        if (!(oc->eps1 >= 0.0f) || !(oc->eps2 >= 0.0f))
            return t5pt_set_error(T5PT_ERR_ARG, "optimizer: Adafactor eps must be >= 0");
        if (!(oc->decay_rate < 0.0f))
            return t5pt_set_error(T5PT_ERR_ARG, "optimizer: Adafactor decay_rate must be < 0 (HF convention, e.g. -0.8)");
        if (oc->beta1 >= 1.0f)
            return t5pt_set_error(T5PT_ERR_ARG, "optimizer: Adafactor beta1 must be < 1 (negative = none)");
        if (oc->start_step < 0 || oc->start_step > INT32_MAX)
            return t5pt_set_error(T5PT_ERR_ARG, "optimizer: Adafactor start step %lld must be in [0, %d]",
                                  (long long)oc->start_step, INT32_MAX);
    } else {
        if (!(oc->lr >= 0.0f)) return t5pt_set_error(T5PT_ERR_ARG, "optimizer: AdamW lr must be >= 0");
        if (!(oc->adam_beta1 >= 0.0f && oc->adam_beta1 < 1.0f) || !(oc->adam_beta2 >= 0.0f && oc->adam_beta2 < 1.0f))
            return t5pt_set_error(T5PT_ERR_ARG, "optimizer: AdamW betas must be in [0, 1)");
        if (!(oc->adam_eps >= 0.0f)) return t5pt_set_error(T5PT_ERR_ARG, "optimizer: AdamW eps must be >= 0");
    }
    if (!(oc->weight_decay >= 0.0f)) return t5pt_set_error(T5PT_ERR_ARG, "optimizer: weight_decay must be >= 0");

    t5pt_optim *o = calloc(1, sizeof *o);
    if (!o) return t5pt_set_error(T5PT_ERR_NOMEM, "optimizer: out of memory");
    o->cfg = *oc;
    o->rows = rows;
    o->cols = cols;
    o->numel = (size_t)rows * (size_t)cols;
    o->lr = decimal_of(oc->lr);
    o->eps1 = decimal_of(oc->eps1);
    o->eps2 = decimal_of(oc->eps2);
    o->clip = decimal_of(oc->clip_threshold);
    o->decay_rate = decimal_of(oc->decay_rate);
    o->beta1 = decimal_of(oc->beta1);
    o->wd = decimal_of(oc->weight_decay);
    o->ab1 = decimal_of(oc->adam_beta1);
    o->ab2 = decimal_of(oc->adam_beta2);
    o->aeps = decimal_of(oc->adam_eps);

    size_t n = o->numel, s = 0;
    if (adafactor) {
        int second_largest = rows < cols ? rows : cols;
        o->factored = oc->kind == T5PT_OPT_ADAFACTOR ? 1 : second_largest >= MIN_DIM_SIZE_TO_FACTOR;
        o->momentum = oc->beta1 >= 0.0f;
        s = o->factored ? (size_t)rows + (size_t)cols : n;
        if (o->momentum) s += n;
    } else {
        s = 2 * n;
    }
    o->state_floats = s;
    /* state, then scratch: upd[n], rfac[rows], cfac[cols] */
    o->state = calloc(s + n + (size_t)rows + (size_t)cols, sizeof(float));
    o->csum = malloc((size_t)cols * sizeof(double));
    if (!o->state || !o->csum) {
        free(o->state);
        free(o->csum);
        free(o);
        return t5pt_set_error(T5PT_ERR_NOMEM, "optimizer: cannot allocate state for [%d, %d]", rows, cols);
    }
    float *q = o->state;
    if (adafactor) {
        if (o->factored) {
            o->R = q; q += rows;
            o->C = q; q += cols;
        } else {
            o->V = q; q += n;
        }
        if (o->momentum) { o->M = q; q += n; }
    } else {
        o->am = q; q += n;
        o->av = q; q += n;
    }
    o->upd = q; q += n;
    o->rfac = q; q += rows;
    o->cfac = q;
    *out = o;
    return T5PT_OK;
}

void t5pt_optim_free(t5pt_optim *o) {
    if (!o) return;
    free(o->state);
    free(o->csum);
    free(o);
}

int t5pt_optim_steps_done(const t5pt_optim *o) { return (int)o->step; }

float t5pt_optim_current_lr(const t5pt_optim *o) {
    int64_t t = o->step + 1;
    if (o->cfg.kind == T5PT_OPT_ADAMW) return (float)(o->lr * schedule_multiplier(&o->cfg, t - 1));
    /* Adafactor: before the parameter scale, which needs the parameter (scale_parameter). */
    return (float)adafactor_rel(o, t);
}

/* ---------------------------------------------------------------- helpers */

/* sqrt(mean(x^2)) = ||x|| / sqrt(n): the RMS of HF's _rms. */
static float rms_of(const float *x, size_t n) {
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
    return (float)(sqrt(ss) / sqrt((double)n));
}

/* ---------------------------------------------------------------- Adafactor */

static void adafactor_step(t5pt_optim *o, float *p, const float *g) {
    const int rows = o->rows, cols = o->cols;
    const size_t n = o->numel;
    const int64_t t = ++o->step;
    float *upd = o->upd;

    double lr_t = adafactor_rel(o, t);
    if (o->cfg.scale_parameter) {
        double rms = (double)rms_of(p, n);        /* HF: state["RMS"], of p before the update */
        lr_t *= rms > o->eps2 ? rms : o->eps2;
    }
    const double beta2t = 1.0 - pow((double)(o->cfg.start_step + t), o->decay_rate);
    const float b = (float)beta2t, a = (float)(1.0 - beta2t), eps1 = (float)o->eps1;

    if (o->factored) {
        /* R = b*R + a*mean_j(g^2 + eps1)   [rows] */
        for (int i = 0; i < rows; i++) {
            const float *gi = g + (size_t)i * cols;
            double s = 0.0;
            for (int j = 0; j < cols; j++) s += (double)(gi[j] * gi[j] + eps1);
            float mean = (float)(s / cols);
            float r = o->R[i] * b;
            o->R[i] = r + a * mean;
        }
        /* C = b*C + a*mean_i(g^2 + eps1)   [cols] (column sums in double, row by row) */
        double *cs = o->csum;
        for (int j = 0; j < cols; j++) cs[j] = 0.0;
        for (int i = 0; i < rows; i++) {
            const float *gi = g + (size_t)i * cols;
            for (int j = 0; j < cols; j++) cs[j] += (double)(gi[j] * gi[j] + eps1);
        }
        for (int j = 0; j < cols; j++) {
            float mean = (float)(cs[j] / rows);
            float c = o->C[j] * b;
            o->C[j] = c + a * mean;
        }
        /* r_factor = rsqrt(R / mean(R)), c_factor = rsqrt(C); upd = (r*c) * g */
        double rs = 0.0;
        for (int i = 0; i < rows; i++) rs += (double)o->R[i];
        const float rmean = (float)(rs / rows);
        for (int i = 0; i < rows; i++) o->rfac[i] = 1.0f / sqrtf(o->R[i] / rmean);
        for (int j = 0; j < cols; j++) o->cfac[j] = 1.0f / sqrtf(o->C[j]);
        for (int i = 0; i < rows; i++) {
            const float *gi = g + (size_t)i * cols;
            float *ui = upd + (size_t)i * cols;
            const float ri = o->rfac[i];
            for (int j = 0; j < cols; j++) ui[j] = (ri * o->cfac[j]) * gi[j];
        }
    } else {
        /* V = b*V + a*(g^2 + eps1); upd = rsqrt(V) * g */
        for (size_t k = 0; k < n; k++) {
            float u = g[k] * g[k] + eps1;
            float v = o->V[k] * b;
            v = v + a * u;
            o->V[k] = v;
            upd[k] = (1.0f / sqrtf(v)) * g[k];
        }
    }

    /* clip: upd /= max(1, rms(upd)/clip); then scale by lr_t */
    float denom = rms_of(upd, n) / (float)o->clip;
    if (denom < 1.0f) denom = 1.0f;
    const float lrf = (float)lr_t;
    for (size_t k = 0; k < n; k++) upd[k] = (upd[k] / denom) * lrf;

    const float *step_vec = upd;
    if (o->momentum) {
        const float b1 = (float)o->beta1, a1 = (float)(1.0 - o->beta1);
        for (size_t k = 0; k < n; k++) {
            float m = o->M[k] * b1;
            o->M[k] = m + a1 * upd[k];
        }
        step_vec = o->M;
    }

    if (o->wd != 0.0) {
        if (o->cfg.kind == T5PT_OPT_ADAFACTOR) {
            const float alpha = (float)(-o->wd * lr_t);   /* HF: p.add_(p, alpha=-wd*lr) */
            for (size_t k = 0; k < n; k++) p[k] = p[k] + alpha * p[k];
        } else {
            const float keep = (float)(1.0 - o->wd);      /* T5X: (1 - wd) * p */
            for (size_t k = 0; k < n; k++) p[k] = p[k] * keep;
        }
    }
    for (size_t k = 0; k < n; k++) p[k] = p[k] + (-step_vec[k]);
}

/* ---------------------------------------------------------------- AdamW */

static void adamw_step(t5pt_optim *o, float *p, const float *g) {
    const size_t n = o->numel;
    const int64_t t = ++o->step;
    const double lr = o->lr * schedule_multiplier(&o->cfg, t - 1);

    const float keep = (float)(1.0 - lr * o->wd);       /* param.mul_(1 - lr*wd), even when wd = 0 */
    for (size_t k = 0; k < n; k++) p[k] = p[k] * keep;
    const float b1 = (float)o->ab1, a1 = (float)(1.0 - o->ab1);
    const float b2 = (float)o->ab2, a2 = (float)(1.0 - o->ab2);
    const double bc1 = 1.0 - pow(o->ab1, (double)t);
    const double bc2 = 1.0 - pow(o->ab2, (double)t);
    const float neg_step = (float)(-(lr / bc1));
    const float bc2_sqrt = (float)sqrt(bc2);
    const float eps = (float)o->aeps;
    for (size_t k = 0; k < n; k++) {
        float m = o->am[k] * b1;
        m = m + a1 * g[k];                       /* exp_avg.mul_(b1).add_(g, alpha=1-b1) */
        float v = o->av[k] * b2;
        v = v + (a2 * g[k]) * g[k];              /* exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2) */
        o->am[k] = m;
        o->av[k] = v;
        float den = sqrtf(v) / bc2_sqrt + eps;   /* (exp_avg_sq.sqrt() / sqrt(bc2)).add_(eps) */
        p[k] = p[k] + neg_step * (m / den);      /* param.addcdiv_(m, den, value=-lr/bc1) */
    }
}

t5pt_status t5pt_optim_step(t5pt_optim *o, float *param, const float *grad) {
    if (!o || !param || !grad) return t5pt_set_error(T5PT_ERR_ARG, "optimizer step: NULL argument");
    for (size_t k = 0; k < o->numel; k++)
        if (!isfinite(grad[k]))
            return t5pt_set_error(T5PT_ERR_ARG, "optimizer step %lld: gradient[%zu] is not finite (%g); parameter left unchanged",
                                  (long long)o->step + 1, k, (double)grad[k]);
    if (o->cfg.kind == T5PT_OPT_ADAMW) adamw_step(o, param, grad);
    else adafactor_step(o, param, grad);
    return T5PT_OK;
}

/* ---------------------------------------------------------------- state (checkpoints) */

size_t t5pt_optim_state_size(const t5pt_optim *o) { return o->state_floats; }

/* Layout: Adafactor factored [R rows | C cols], unfactored [V numel], then [M numel] with
 * beta1; AdamW [m numel | v numel]. The step count is separate. */
void t5pt_optim_state_get(const t5pt_optim *o, float *state, int64_t *step) {
    if (state) memcpy(state, o->state, o->state_floats * sizeof(float));
    if (step) *step = o->step;
}

t5pt_status t5pt_optim_state_set(t5pt_optim *o, const float *state, size_t n, int64_t step) {
    if (n != o->state_floats)
        return t5pt_set_error(T5PT_ERR_SHAPE, "optimizer state: %zu floats given, this optimizer ([%d, %d]) needs %zu",
                              n, o->rows, o->cols, o->state_floats);
    if (step < 0 || step > INT32_MAX) return t5pt_set_error(T5PT_ERR_ARG, "optimizer state: bad step count %lld", (long long)step);
    if (n && !state) return t5pt_set_error(T5PT_ERR_ARG, "optimizer state: NULL buffer");
    for (size_t k = 0; k < n; k++)
        if (!isfinite(state[k]))
            return t5pt_set_error(T5PT_ERR_FORMAT, "optimizer state: value %zu is not finite", k);
    memcpy(o->state, state, n * sizeof(float));
    o->step = step;
    return T5PT_OK;
}

/* ---------------------------------------------------------------- configuration from JSON */

/* A float from obj[key]: 1 when set, 0 when the key is missing (nothing changes), -1 when
 * the value is not a number (a null is accepted only when null_value is given). */
static int json_float(const json_value *obj, const char *key, float *out, const float *null_value) {
    const json_value *v = t5pt_json_get(obj, key);
    if (!v) return 0;
    if (v->type == JSON_NUMBER) { *out = (float)v->u.num; return 1; }
    if (v->type == JSON_NULL && null_value) { *out = *null_value; return 1; }
    return -1;
}

/* A pair [a, b] of numbers from obj[key]; same return convention as json_float. */
static int json_float_pair(const json_value *obj, const char *key, float *a, float *b) {
    const json_value *v = t5pt_json_get(obj, key);
    if (!v) return 0;
    if (v->type != JSON_ARRAY || v->len != 2 || t5pt_json_at(v, 0)->type != JSON_NUMBER ||
        t5pt_json_at(v, 1)->type != JSON_NUMBER)
        return -1;
    *a = (float)t5pt_json_at(v, 0)->u.num;
    *b = (float)t5pt_json_at(v, 1)->u.num;
    return 1;
}

static int json_flag(const json_value *obj, const char *key, int *out) {
    const json_value *v = t5pt_json_get(obj, key);
    if (!v) return 0;
    if (v->type != JSON_TRUE && v->type != JSON_FALSE) return -1;
    *out = v->type == JSON_TRUE;
    return 1;
}

static int json_count(const json_value *obj, const char *key, int *out) {
    const json_value *v = t5pt_json_get(obj, key);
    if (!v) return 0;
    if (v->type != JSON_NUMBER || v->u.num < 0 || v->u.num > 2147483647.0 || v->u.num != (int)v->u.num)
        return -1;
    *out = (int)v->u.num;
    return 1;
}

static int json_int64(const json_value *obj, const char *key, int64_t *out) {
    int v;
    int r = json_count(obj, key, &v);
    if (r == 1) *out = v;
    return r;
}

t5pt_status t5pt_optim_config_from_json(t5pt_optim_config *oc, const json_value *obj, const char *where) {
    if (!where) where = "optim";
    if (!oc || !obj || obj->type != JSON_OBJECT)
        return t5pt_set_error(T5PT_ERR_CONFIG, "%s: the optimizer configuration must be a JSON object", where);
    t5pt_optim_kind k = T5PT_OPT_ADAFACTOR;
    const json_value *kv = t5pt_json_get(obj, "kind");
    if (kv) {
        if (kv->type != JSON_STRING)
            return t5pt_set_error(T5PT_ERR_CONFIG, "%s: optimizer \"kind\" must be a string", where);
        if (t5pt_optim_parse_kind(&k, kv->u.str) != T5PT_OK)
            return t5pt_set_error(T5PT_ERR_CONFIG, "%s: unknown optimizer kind \"%s\" (adafactor, adafactor-t5x, adamw)",
                                  where, kv->u.str);
    }
    t5pt_optim_config_default(oc, k);
    const char *bad = NULL;
    const float zero = 0.0f, none = -1.0f;
    if (json_float(obj, "lr", &oc->lr, &zero) < 0) bad = "\"lr\" must be a number or null";
    else if (json_float(obj, "weight_decay", &oc->weight_decay, NULL) < 0) bad = "\"weight_decay\" must be a number";
    else if (k == T5PT_OPT_ADAMW) {
        if (json_float_pair(obj, "betas", &oc->adam_beta1, &oc->adam_beta2) < 0) bad = "\"betas\" must be [beta1, beta2]";
        else if (json_float(obj, "eps", &oc->adam_eps, NULL) < 0) bad = "AdamW \"eps\" must be a number";
    } else {
        int mdim = 128;
        if (json_float_pair(obj, "eps", &oc->eps1, &oc->eps2) < 0) bad = "Adafactor \"eps\" must be [eps1, eps2]";
        else if (json_float(obj, "clip_threshold", &oc->clip_threshold, NULL) < 0) bad = "\"clip_threshold\" must be a number";
        else if (json_float(obj, "decay_rate", &oc->decay_rate, NULL) < 0) bad = "\"decay_rate\" must be a number";
        else if (json_float(obj, "beta1", &oc->beta1, &none) < 0) bad = "\"beta1\" must be a number or null";
        else if (json_flag(obj, "scale_parameter", &oc->scale_parameter) < 0) bad = "\"scale_parameter\" must be true or false";
        else if (json_flag(obj, "relative_step", &oc->relative_step) < 0) bad = "\"relative_step\" must be true or false";
        else if (json_flag(obj, "warmup_init", &oc->warmup_init) < 0) bad = "\"warmup_init\" must be true or false";
        else if (json_int64(obj, "start_step", &oc->start_step) < 0)
            bad = "\"start_step\" must be an integer in [0, 2147483647]";
        else if (json_count(obj, "min_dim_size_to_factor", &mdim) < 0 || mdim != 128)
            /* t5pt fixes T5X's min_dim_size_to_factor at its default */
            bad = "\"min_dim_size_to_factor\" must be 128 (the only value t5pt builds)";
    }
    if (bad) return t5pt_set_error(T5PT_ERR_CONFIG, "%s: optimizer %s", where, bad);
    const json_value *sch = t5pt_json_get(obj, "schedule");
    if (sch) {
        const char *sk = t5pt_json_get_str(sch, "kind");
        if (sch->type != JSON_OBJECT || !sk)
            bad = "\"schedule\" must be an object with a \"kind\"";
        else if (strcmp(sk, "linear") == 0) oc->schedule = T5PT_SCHED_LINEAR;
        else if (strcmp(sk, "constant") == 0) oc->schedule = T5PT_SCHED_CONSTANT;
        else bad = "schedule \"kind\" must be \"constant\" or \"linear\"";
        if (!bad && (json_count(sch, "warmup_steps", &oc->warmup_steps) < 0 ||
                     json_count(sch, "total_steps", &oc->total_steps) < 0))
            bad = "schedule \"warmup_steps\" and \"total_steps\" must be non-negative integers";
        if (bad) return t5pt_set_error(T5PT_ERR_CONFIG, "%s: optimizer %s", where, bad);
    }
    return T5PT_OK;
}
