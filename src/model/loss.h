/* loss.h — lm_head and cross-entropy, forward and backward (internal; see loss.c). */
#ifndef T5PT_LOSS_H
#define T5PT_LOSS_H

#include <stdint.h>

#include "model/model.h"

/* logits[M,V] = head(x'), x' = x * d_model^-0.5 when the head is tied (original T5),
 * x' = x otherwise. x: [M,d] decoder_last_hidden_state; xs: [M,d] scratch. */
void t5pt_lm_head_forward(float *logits, float *xs, const float *x, const t5pt_model *m, int M);

/* The loss over rows whose label is not -100 (0 when there is none; see loss.c):
 * T5PT_LOSS_MEAN the mean, T5PT_LOSS_SUM the sum of (cross-entropy + z_loss * lse^2).
 * lse[M] receives log-sum-exp of every row (for the backward). Returns the number
 * of labelled rows. Labels must be -100 or in [0, V) (the caller checks). */
int t5pt_xent_forward(float *loss, float *lse, const float *logits, const int32_t *labels, int M, int V,
                      t5pt_loss_kind kind, float z_loss);

/* Gradient of that loss w.r.t. x (the input of t5pt_lm_head_forward):
 * dx[M,d]; rows without a label get exactly 0 and cost nothing (only labelled rows
 * go through the [V x d] product). Scratch: g_logits [n_valid, V], g_rows [n_valid, d],
 * valid_rows [M]. */
void t5pt_lm_head_xent_backward(float *dx, float *g_logits, float *g_rows, int32_t *valid_rows, const float *logits,
                                const float *lse, const int32_t *labels, int M, int n_valid, const t5pt_model *m,
                                t5pt_loss_kind kind, float z_loss);

/* T5PT_OK when kind is known and z_loss is finite and >= 0, else T5PT_ERR_ARG. */
t5pt_status t5pt_loss_check(t5pt_loss_kind kind, float z_loss);

#endif
