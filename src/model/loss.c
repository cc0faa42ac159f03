/* loss.c — the language-model head and the cross-entropy loss, forward and backward.
 *
 *   x' = x * d^-0.5 (tied head only)      logits = x' head^T           [M,V]
 *   per labelled row r (label_r != -100):  l_r = (lse_r - logits[r, label_r]) + z * lse_r^2
 *   loss = (1/N) sum_r l_r   (T5PT_LOSS_MEAN, N = #labelled rows; z = 0 is Hugging Face's
 *                             CrossEntropyLoss(ignore_index=-100))
 *   loss =       sum_r l_r   (T5PT_LOSS_SUM: T5X's objective, see below)
 * Backward (only labelled rows carry gradient), s = 1/N (mean) or 1 (sum):
 *   dlogits_r = s * ((1 + 2 z lse_r) softmax(logits_r) - onehot(label_r)),
 *   dx'_r = dlogits_r head,  dx_r = dx'_r * d^-0.5 (tied).
 *
 * The summed loss with z-loss is what the paper's code differentiates: T5X's
 * compute_weighted_cross_entropy sums (CE + z_loss * log_z^2) over the tokens whose weight is
 * 1 (non-padding targets, EOS included) and divides by nothing when loss_normalizing_factor is
 * None (t5x/losses.py, cross_entropy_with_logits and compute_weighted_cross_entropy; its custom
 * VJP gives exactly the (1 + 2 z log_z) softmax - onehot above), with Z_LOSS = 0.0001 and
 * LOSS_NORMALIZING_FACTOR = None in prompt_tuning/configs/models/t5_1_1_prompt.gin
 * (l.107-112 at 72285ee). In t5pt the ignored positions are the labels set to -100.
 */
#include "model/loss.h"
#include "base/internal.h"

#include <math.h>
#include <string.h>

#include "simd/gemm.h"
#include "simd/kernels.h"
#include "model/layers.h"

/* The factor on the head's input: d_model^-0.5 when the head is the tied embedding (HF:
 * sequence_output * (model_dim ** -0.5), the Python double rounded to float32), else 1.
 * The one definition for the forward, the backward and cached decoding. */
static float head_input_scale(const t5pt_model *m) {
    return m->cfg.tie_word_embeddings ? (float)pow((double)m->cfg.d_model, -0.5) : 1.0f;
}

void t5pt_lm_head_forward(float *logits, float *xs, const float *x, const t5pt_model *m, int M) {
    const int d = m->cfg.d_model;
    const float *in = x;
    if (m->cfg.tie_word_embeddings) {
        const t5pt_kernels *k = t5pt_kern();
        const float s = head_input_scale(m);
        T5PT_OMP_FOR
        for (int r = 0; r < M; r++) k->scale(xs + (size_t)r * d, x + (size_t)r * d, s, d);
        in = xs;
    }
    t5pt_linear_forward(logits, m->cfg.vocab_size, in, d, M, &m->lm_head, 0.0f);
}

/* The paper's code: Z_LOSS = 0.0001 (prompt_tuning/configs/models/t5_1_1_prompt.gin l.107). */
#define PAPER_Z_LOSS 1e-4f

t5pt_status t5pt_loss_parse(const char *text, t5pt_loss_kind *kind, float *z_loss) {
    if (text && strcmp(text, "mean") == 0) {
        *kind = T5PT_LOSS_MEAN;
        *z_loss = 0.0f;
    } else if (text && strcmp(text, "sum-zloss") == 0) {
        *kind = T5PT_LOSS_SUM;
        *z_loss = PAPER_Z_LOSS;
    } else {
        return t5pt_set_error(T5PT_ERR_ARG, "loss: unknown name '%s' (mean|sum-zloss)", text ? text : "");
    }
    return T5PT_OK;
}

const char *t5pt_loss_name(t5pt_loss_kind kind) { return kind == T5PT_LOSS_SUM ? "sum" : "mean"; }

t5pt_status t5pt_loss_check(t5pt_loss_kind kind, float z_loss) {
    if (kind != T5PT_LOSS_MEAN && kind != T5PT_LOSS_SUM)
        return t5pt_set_error(T5PT_ERR_ARG, "loss: unknown kind %d", (int)kind);
    if (!(z_loss >= 0.0f) || !isfinite(z_loss))
        return t5pt_set_error(T5PT_ERR_ARG, "loss: z-loss coefficient must be a finite number >= 0 (got %g)",
                              (double)z_loss);
    return T5PT_OK;
}

int t5pt_xent_forward(float *loss, float *lse, const float *logits, const int32_t *labels, int M, int V,
                      t5pt_loss_kind kind, float z_loss) {
    const t5pt_kernels *k = t5pt_kern();
    T5PT_OMP_FOR
    for (int r = 0; r < M; r++) lse[r] = k->logsumexp(logits + (size_t)r * V, V);
    /* fixed-order sum in double: independent of the thread count */
    double sum = 0.0;
    int n = 0;
    for (int r = 0; r < M; r++) {
        if (labels[r] == -100) continue;
        sum += (double)lse[r] - (double)logits[(size_t)r * V + labels[r]];
        if (z_loss != 0.0f) sum += (double)z_loss * (double)lse[r] * (double)lse[r];
        n++;
    }
    if (kind == T5PT_LOSS_SUM) *loss = (float)sum;
    else *loss = n ? (float)(sum / n) : 0.0f;
    return n;
}

void t5pt_lm_head_xent_backward(float *dx, float *g_logits, float *g_rows, int32_t *valid_rows, const float *logits,
                                const float *lse, const int32_t *labels, int M, int n_valid, const t5pt_model *m,
                                t5pt_loss_kind kind, float z_loss) {
    const t5pt_kernels *k = t5pt_kern();
    const int d = m->cfg.d_model, V = m->cfg.vocab_size;
    /* rows without a label contribute exactly zero */
    memset(dx, 0, (size_t)M * d * sizeof(float));
    int nv = 0;
    for (int r = 0; r < M; r++)
        if (labels[r] != -100) valid_rows[nv++] = r;
    /* n_valid comes from t5pt_xent_forward on the same labels, so the counts agree; with no
     * labelled row the loss is the constant 0 and dx = 0 is its exact gradient */
    if (nv == 0 || nv != n_valid) return;
    const float s = kind == T5PT_LOSS_SUM ? 1.0f : 1.0f / (float)nv;
    T5PT_OMP_FOR
    for (int i = 0; i < nv; i++) {
        int r = valid_rows[i];
        float *g = g_logits + (size_t)i * V;
        if (z_loss == 0.0f) {
            k->xent_backward(g, logits + (size_t)r * V, lse[r], labels[r], s, V);
        } else {
            /* s (1 + 2 z lse) softmax, then - s at the label (a target of -1 subtracts nothing) */
            k->xent_backward(g, logits + (size_t)r * V, lse[r], -1, s * (1.0f + 2.0f * z_loss * lse[r]), V);
            g[labels[r]] -= s;
        }
    }
    /* dx' = dlogits head  [nv,d] for the labelled rows only */
    t5pt_linear_backward(g_rows, d, g_logits, V, nv, &m->lm_head, 0.0f);
    const float sc = head_input_scale(m);
    T5PT_OMP_FOR
    for (int i = 0; i < nv; i++) k->scale(dx + (size_t)valid_rows[i] * d, g_rows + (size_t)i * d, sc, d);
}
