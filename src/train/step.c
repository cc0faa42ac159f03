/* step.c — one training step of the soft prompt: forward, backward, optimizer update. */
#include "model/ctx.h"
#include "base/internal.h"

#include <math.h>

/* "NaN", "inf" or "-inf": one spelling on every libc. */
static const char *non_finite_name(float x) { return isnan(x) ? "NaN" : x > 0 ? "inf" : "-inf"; }

/* Index of the first non-finite value of x[0..n), or -1. */
static long first_non_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (long)i;
    return -1;
}

t5pt_status t5pt_train_step(t5pt_ctx *c, t5pt_optim *o, float *P, int n, t5pt_placement pl,
                            const t5pt_batch *batch, float *loss) {
    if (!c || !o || !P || n < 1 || !batch)
        return t5pt_set_error(T5PT_ERR_ARG, "t5pt_train_step: NULL argument or empty prompt");
    if (!batch->labels) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_train_step: the batch has no labels");
    float l = 0.0f;
    t5pt_status st = t5pt_forward(c, P, n, pl, batch, &l);
    if (st) return st;
    if (loss) *loss = l;
    /* a fault is reported before the update, so P and the optimizer keep their last good values */
    if (!isfinite(l)) return t5pt_set_error(T5PT_ERR_NUMERIC, "the loss is %s", non_finite_name(l));
    /* c->dP was laid out by the forward for exactly n rows */
    st = t5pt_backward(c, c->dP);
    if (st) return st;
    const int d = t5pt_model_config(c->m)->d_model;
    long bad = first_non_finite(c->dP, (size_t)n * d);
    if (bad >= 0)
        return t5pt_set_error(T5PT_ERR_NUMERIC, "the prompt gradient is %s at row %ld, column %ld",
                              non_finite_name(c->dP[bad]), bad / d, bad % d);
    return t5pt_optim_step(o, P, c->dP);
}
