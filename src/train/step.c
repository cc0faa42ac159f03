/* step.c — one training step of the soft prompt: forward, backward, optimizer update. */
#include "model/ctx.h"
#include "base/internal.h"

t5pt_status t5pt_train_step(t5pt_ctx *c, t5pt_optim *o, float *P, int n, t5pt_placement pl,
                            const t5pt_batch *batch, float *loss) {
    if (!c || !o || !P || n < 1 || !batch)
        return t5pt_set_error(T5PT_ERR_ARG, "t5pt_train_step: NULL argument or empty prompt");
    if (!batch->labels) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_train_step: the batch has no labels");
    float l = 0.0f;
    t5pt_status st = t5pt_forward(c, P, n, pl, batch, &l);
    if (st) return st;
    /* c->dP was laid out by the forward for exactly n rows */
    st = t5pt_backward(c, c->dP);
    if (st) return st;
    st = t5pt_optim_step(o, P, c->dP);
    if (st) return st;
    if (loss) *loss = l;
    return T5PT_OK;
}
