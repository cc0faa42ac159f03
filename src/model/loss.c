/* loss.c — the language-model head and the cross-entropy loss, forward and backward.
 *
 *   x' = x * d^-0.5 (tied head only)      logits = x' head^T           [M,V]
 *   loss = (1/N) sum_{r: label_r != -100} (lse_r - logits[r, label_r])  N = #labelled rows
 * Backward (only labelled rows carry gradient):
 *   dlogits_r = (softmax(logits_r) - onehot(label_r)) / N,  dx'_r = dlogits_r head,
 *   dx_r = dx'_r * d^-0.5 (tied).
 */
#include "model/loss.h"

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

int t5pt_xent_forward(float *loss, float *lse, const float *logits, const int32_t *labels, int M, int V) {
    const t5pt_kernels *k = t5pt_kern();
    T5PT_OMP_FOR
    for (int r = 0; r < M; r++) lse[r] = k->logsumexp(logits + (size_t)r * V, V);
    /* fixed-order sum in double: independent of the thread count */
    double sum = 0.0;
    int n = 0;
    for (int r = 0; r < M; r++) {
        if (labels[r] == -100) continue;
        sum += (double)lse[r] - (double)logits[(size_t)r * V + labels[r]];
        n++;
    }
    *loss = n ? (float)(sum / n) : 0.0f;
    return n;
}

void t5pt_lm_head_xent_backward(float *dx, float *g_logits, float *g_rows, int32_t *valid_rows, const float *logits,
                           const float *lse, const int32_t *labels, int M, int n_valid, const t5pt_model *m) {
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
    const float inv_n = 1.0f / (float)nv;
    T5PT_OMP_FOR
    for (int i = 0; i < nv; i++) {
        int r = valid_rows[i];
        k->xent_backward(g_logits + (size_t)i * V, logits + (size_t)r * V, lse[r], labels[r], inv_n, V);
    }
    /* dx' = dlogits head  [nv,d] for the labelled rows only */
    t5pt_linear_backward(g_rows, d, g_logits, V, nv, &m->lm_head, 0.0f);
    const float s = head_input_scale(m);
    T5PT_OMP_FOR
    for (int i = 0; i < nv; i++) k->scale(dx + (size_t)valid_rows[i] * d, g_rows + (size_t)i * d, s, d);
}
