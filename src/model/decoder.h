/* decoder.h — the T5 decoder block, one implementation for both ways it runs (internal).
 *
 * The full forward (t5.c) runs the decoder over every position at once, keeping what
 * the backward needs. Cached decoding (decode.c) runs it over one new position per row,
 * its self-attention keys and values appended to a cache. Both call the same
 * t5pt_decoder_block_forward; only the t5pt_dec_pass (where the rows are) differs.
 */
#ifndef T5PT_DECODER_H
#define T5PT_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "model/ctx.h"

/* One pass of the decoder blocks over B batch rows of T new positions each, the first at
 * position pos0 (the full forward: T = L, pos0 = 0; cached decoding: T = 1, pos0 = the
 * step). The self-attention of a block attends to positions 0 .. pos0+T-1. */
typedef struct {
    int B, T, pos0;
    size_t kv_stride;        /* floats between batch rows of acts->k, acts->v: T*inner, or a cache's */
    const float *self_bias;  /* [H, T, pos0+T] relative position bias of the self-attention */
    int Tenc;                /* encoder positions: the keys of the cross-attention */
    const float *enc_mask;   /* [rows of the encoder output, Tenc] additive 0 / T5PT_MASK_NEG */
    const int32_t *enc_row;  /* [B] encoder row of each batch row (several decoder rows may share
                                one encoder output), or NULL: row b */
    /* scratch shared by every block, rows [B*T] */
    float *s_norm, *s_ctx, *s_out, *s_act; /* [., d], [., inner], [., d], [., f] */
    float *s_drop;           /* dropped attention probabilities (dropout only) */
    float drop_scale;
} t5pt_dec_pass;

/* acts[i].ck, cv [M_enc, inner] = the cross-attention keys and values of the encoder
 * output H_enc [M_enc, d] for decoder blocks l0 .. l0+nl-1 (i = l - l0): they depend on
 * nothing else, so cached decoding computes them once, and they read the same rows, so
 * they are one product (simd/gemm.h t5pt_linear_forward_group). */
void t5pt_cross_kv_forward(t5pt_layer_acts *acts, const t5pt_model *m, int l0, int nl, const float *H_enc,
                           int M_enc);

/* Decoder block l on x_in [B*T, d]:
 *   h_self  = x + drop(o(CausalSelfAttn(RMSNorm(x))))          (relative position bias)
 *   h_cross = h_self + drop(o(CrossAttn(RMSNorm(h_self), ck, cv)))  (encoder mask)
 *   out     = h_cross + drop(FFN(RMSNorm(h_cross)))
 * into acts (t5pt_layer_acts: what the backward needs). Before the call: acts->ck, cv hold
 * t5pt_cross_kv_forward; acts->k, v hold positions 0..pos0-1 of every batch row (this block
 * writes positions pos0..pos0+T-1); the dropout masks of acts are filled, or NULL.
 * acts->h_self, h_cross and out may all be x_in itself (cached decoding keeps only the
 * residual stream). */
void t5pt_decoder_block_forward(const t5pt_model *m, int l, t5pt_layer_acts *acts, const float *x_in,
                                const t5pt_dec_pass *p);

#endif
