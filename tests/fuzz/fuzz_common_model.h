/* fuzz_common_model.h — what fuzz_config and fuzz_model_dir do with a model they got:
 * fuzz_model_dir checks that every loaded weight is finite (the loader refuses NaN/Inf);
 * fuzz_config runs a small random model forward and backward once, so that odd but valid
 * configurations (one head, d_kv 1, few buckets, long relative distances, untied heads) go
 * through the whole model. (fuzz_model_dir leaves the run to fuzz_config: a model directory
 * input is a hundred times larger than a config, and its corpus would grow with every
 * shape the forward pass tells apart.) */
#ifndef T5PT_FUZZ_COMMON_MODEL_H
#define T5PT_FUZZ_COMMON_MODEL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/model.h"

#define FZ_RUN_MAX_PARAMS 200000   /* a forward + backward stays well under a millisecond */

static inline void fz_check_vec(const float *x, size_t n, const char *what) {
    for (size_t i = 0; x && i < n; i++)
        if (!isfinite(x[i])) {
            fprintf(stderr, "fuzz: a loaded weight is not finite (%s, index %zu)\n", what, i);
            abort();
        }
}

/* Every weight, widened from its stored precision a row at a time. */
static inline void fz_check_linear(const t5pt_linear *l, const char *what) {
    if (!l->W) return;
    float row[4096];
    if (l->K > 4096) abort();   /* the fuzzed models are small */
    const size_t es = t5pt_wtype_size(l->type);
    for (int r = 0; r < l->N; r++) {
        t5pt_widen(row, (const unsigned char *)l->W + (size_t)r * l->K * es, l->type, (size_t)l->K);
        fz_check_vec(row, (size_t)l->K, what);
    }
}

static inline void fz_check_block(const t5pt_block_weights *b, const t5pt_config *c, int decoder) {
    const size_t d = (size_t)c->d_model;
    const t5pt_attention_weights *att[2] = {&b->self, &b->cross};
    for (int a = 0; a < (decoder ? 2 : 1); a++) {
        fz_check_linear(&att[a]->q, "q"), fz_check_linear(&att[a]->k, "k");
        fz_check_linear(&att[a]->v, "v"), fz_check_linear(&att[a]->o, "o");
    }
    fz_check_linear(&b->wi, "wi"), fz_check_linear(&b->wi_0, "wi_0"), fz_check_linear(&b->wi_1, "wi_1");
    fz_check_linear(&b->wo, "wo");
    fz_check_vec(b->ln_self, d, "ln"), fz_check_vec(decoder ? b->ln_cross : NULL, d, "ln"), fz_check_vec(b->ln_ff, d, "ln");
}

static inline void fz_check_finite(const t5pt_model *m) {
    const t5pt_config *c = &m->cfg;
    fz_check_linear(&m->emb, "shared"), fz_check_linear(&m->lm_head, "lm_head");
    const size_t nb = (size_t)c->rel_num_buckets * (size_t)c->num_heads;
    fz_check_vec(m->enc_rel_bias, nb, "bias"), fz_check_vec(m->dec_rel_bias, nb, "bias");
    fz_check_vec(m->enc_final_ln, (size_t)c->d_model, "ln"), fz_check_vec(m->dec_final_ln, (size_t)c->d_model, "ln");
    for (int i = 0; i < c->num_layers; i++) fz_check_block(&m->enc[i], c, 0);
    for (int i = 0; i < c->num_decoder_layers; i++) fz_check_block(&m->dec[i], c, 1);
}

static inline void fz_run_model(const t5pt_model *m) {
    const t5pt_config *c = t5pt_model_config(m);
    if (t5pt_model_num_params(m) > FZ_RUN_MAX_PARAMS || c->d_model > 64) return;
    enum { B = 2, T = 3, L = 2, N = 2 };
    int32_t ids[B * T], mask[B * T] = {1, 1, 1, 1, 1, 0}, labels[B * L] = {1, -100, 2, 1};
    for (int i = 0; i < B * T; i++) ids[i] = (i * 7 + 3) % c->vocab_size;
    for (int i = 0; i < B * L; i++)
        if (labels[i] >= c->vocab_size) labels[i] = 0;
    t5pt_batch batch = {B, T, L, ids, mask, labels};
    float P[N * 64], dP[N * 64], loss;
    for (int i = 0; i < N * c->d_model; i++) P[i] = 0.01f * (float)(i % 13) - 0.05f;
    t5pt_ctx *ctx;
    if (t5pt_ctx_create(&ctx, m, B, T, L, N) != T5PT_OK) return;
    t5pt_placement pl = {T5PT_PLACE_AT, 1};
    if (t5pt_forward(ctx, P, N, pl, &batch, &loss) == T5PT_OK) t5pt_backward(ctx, dP);
    t5pt_ctx_free(ctx);
}

#endif
