/* decode.c — cached decoding: the decoder one position at a time (see decode.h).
 *
 * A step at position t is one decoder pass (model/decoder.h) with T = 1, pos0 = t over the
 * R decoder rows:
 *   x = embed(token)
 *   per layer: t5pt_decoder_block_forward, whose self-attention writes this position's
 *              keys/values into the layer's cache and attends to positions 0..t of it,
 *              and whose cross-attention reads the keys/values of the row's encoder output
 *   logits = t5pt_lm_head_forward(RMSNorm(x))
 * Nothing is kept for a backward: every activation of a layer is scratch shared by all
 * layers, and the residual stream x is updated in place.
 */
#include "model/decode.h"

#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "model/ctx.h"
#include "model/decoder.h"
#include "model/layers.h"
#include "model/loss.h"

struct t5pt_kvdec {
    const t5pt_model *m;
    int Benc, Tenc, R, max_steps, t;
    char *arena;              /* every buffer below except layers */
    t5pt_layer_acts *layers;  /* [num_decoder_layers]: k, v (the cache [R][max_steps][inner]) and
                                 ck, cv ([Benc*Tenc][inner]) per layer; the rest shared scratch */
    t5pt_dec_pass pass;       /* B = R rows of T = 1 position; pos0 set at each step */
    int32_t *enc_row;         /* [R] */
    float *enc_mask;          /* [Benc*Tenc] additive */
    float *bias;              /* [H, t+1] position bias of the current query */
    int32_t *diag;            /* [max_steps] its buckets */
    float *x;                 /* [R, d] residual stream */
    float *rstd;              /* [R] final norm (unused) */
    float *logits;            /* [R, V] */
};

/* Lays out every buffer of k in the arena b (a NULL base only measures); the layer
 * tensors go into k->layers, the scratch into k->pass. */
static void layout(t5pt_kvdec *k, t5pt_bump *b) {
    const t5pt_config *cfg = &k->m->cfg;
    const size_t R = (size_t)k->R, S = (size_t)k->max_steps, BT = (size_t)k->Benc * k->Tenc;
    const size_t d = (size_t)cfg->d_model, f = (size_t)cfg->d_ff, H = (size_t)cfg->num_heads;
    const size_t inner = H * (size_t)cfg->d_kv, keys = S > (size_t)k->Tenc ? S : (size_t)k->Tenc;
    k->enc_row = TAKE_I(b, R);
    k->enc_mask = TAKE_F(b, BT);
    k->bias = TAKE_F(b, H * S);
    k->diag = TAKE_I(b, S);
    k->x = TAKE_F(b, R * d);
    k->rstd = TAKE_F(b, R);
    k->logits = TAKE_F(b, R * (size_t)cfg->vocab_size);
    t5pt_dec_pass *p = &k->pass;
    p->s_norm = TAKE_F(b, R * d);
    p->s_ctx = TAKE_F(b, R * inner);
    p->s_out = TAKE_F(b, R * d);
    p->s_act = TAKE_F(b, R * f);
    /* one layer's activations, shared by every layer */
    t5pt_layer_acts shared = {
        .rstd_self = TAKE_F(b, R), .rstd_cross = TAKE_F(b, R), .rstd_ff = TAKE_F(b, R),
        .h_self = k->x, .h_cross = k->x, .out = k->x,
        .q = TAKE_F(b, R * inner), .cq = TAKE_F(b, R * inner),
        .probs = TAKE_F(b, R * H * keys), .cprobs = TAKE_F(b, R * H * keys),
        .ff_pre = TAKE_F(b, R * f), .ff_lin = cfg->gated_gelu ? TAKE_F(b, R * f) : NULL,
    };
    for (int l = 0; l < cfg->num_decoder_layers; l++) {
        t5pt_layer_acts *acts = &k->layers[l];
        *acts = shared;
        acts->k = TAKE_F(b, R * S * inner);
        acts->v = TAKE_F(b, R * S * inner);
        acts->ck = TAKE_F(b, BT * inner);
        acts->cv = TAKE_F(b, BT * inner);
    }
}

void t5pt_kvdec_free(t5pt_kvdec *k) {
    if (!k) return;
    t5pt_free_aligned(k->arena);
    free(k->layers);
    free(k);
}

t5pt_status t5pt_kvdec_create(t5pt_kvdec **out, const t5pt_model *m, const float *H_enc, const int32_t *enc_mask,
                              int Benc, int Tenc, int R, const int *row_enc, int max_steps) {
    *out = NULL;
    const t5pt_config *cfg = &m->cfg;
    if (Benc <= 0 || Tenc <= 0 || R <= 0 || max_steps <= 0)
        return t5pt_set_error(T5PT_ERR_ARG, "decoder: empty batch (B=%d T=%d R=%d steps=%d)", Benc, Tenc, R, max_steps);
    for (int r = 0; r < R; r++)
        if (row_enc[r] < 0 || row_enc[r] >= Benc)
            return t5pt_set_error(T5PT_ERR_ARG, "decoder: row %d points at encoder row %d of %d", r, row_enc[r], Benc);
    t5pt_kvdec *k = calloc(1, sizeof *k);
    if (!k) return t5pt_set_error(T5PT_ERR_NOMEM, "decoder: out of memory");
    k->m = m;
    k->Benc = Benc;
    k->Tenc = Tenc;
    k->R = R;
    k->max_steps = max_steps;
    k->layers = calloc((size_t)(cfg->num_decoder_layers > 0 ? cfg->num_decoder_layers : 1), sizeof *k->layers);
    if (!k->layers) {
        t5pt_kvdec_free(k);
        return t5pt_set_error(T5PT_ERR_NOMEM, "decoder: out of memory");
    }
    t5pt_bump b = {NULL, 0};
    layout(k, &b);
    k->arena = t5pt_alloc_aligned(b.off + 64);
    if (!k->arena) {
        t5pt_kvdec_free(k);
        return t5pt_set_error(T5PT_ERR_NOMEM,
                              "decoder: cannot allocate %zu MiB for the key/value cache (R=%d, Tenc=%d)", b.off >> 20,
                              R, Tenc);
    }
    b = (t5pt_bump){k->arena, 0};
    layout(k, &b);

    const size_t BT = (size_t)Benc * Tenc;
    for (int r = 0; r < R; r++) k->enc_row[r] = row_enc[r];
    for (size_t i = 0; i < BT; i++) k->enc_mask[i] = enc_mask[i] ? 0.0f : T5PT_MASK_NEG;
    t5pt_dec_pass *p = &k->pass;
    p->B = R;
    p->T = 1;
    p->kv_stride = (size_t)max_steps * cfg->num_heads * cfg->d_kv;
    p->self_bias = k->bias;
    p->Tenc = Tenc;
    p->enc_mask = k->enc_mask;
    p->enc_row = k->enc_row;
    p->drop_scale = 1.0f;
    /* the cross-attention keys and values depend only on the encoder output: once per layer */
    t5pt_cross_kv_forward(k->layers, m, 0, cfg->num_decoder_layers, H_enc, (int)BT);
    *out = k;
    return T5PT_OK;
}

t5pt_status t5pt_kvdec_step(t5pt_kvdec *k, const int32_t *tokens, const float **logits) {
    const t5pt_model *m = k->m;
    const t5pt_config *cfg = &m->cfg;
    if (k->t >= k->max_steps) return t5pt_set_error(T5PT_ERR_ARG, "decoder: more than %d steps", k->max_steps);
    t5pt_threads_adapt(); /* as t5pt_forward */
    const int R = k->R, d = cfg->d_model, t = k->t;
    for (int r = 0; r < R; r++) {
        if (tokens[r] < 0 || tokens[r] >= cfg->vocab_size)
            return t5pt_set_error(T5PT_ERR_ARG, "decoder: token id %d outside the vocabulary (%d)", tokens[r],
                                  cfg->vocab_size);
        t5pt_model_embed_row(m, tokens[r], k->x + (size_t)r * d);
    }
    /* the query at position t against keys 0..t (the causal buckets of the decoder's table) */
    t5pt_position_bias_forward(k->bias, k->diag, m->dec_rel_bias, cfg->num_heads, 1, t + 1, t, 0,
                               cfg->rel_num_buckets, cfg->rel_max_distance);
    k->pass.pos0 = t;
    for (int l = 0; l < cfg->num_decoder_layers; l++) t5pt_decoder_block_forward(m, l, &k->layers[l], k->x, &k->pass);
    t5pt_rmsnorm_forward(k->pass.s_norm, k->rstd, k->x, m->dec_final_ln, R, d, cfg->layer_norm_epsilon);
    t5pt_lm_head_forward(k->logits, k->pass.s_out, k->pass.s_norm, m, R);
    k->t++;
    *logits = k->logits;
    return T5PT_OK;
}
