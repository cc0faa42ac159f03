/* ctx.h — the forward/backward context: activation and gradient arenas (internal).
 *
 * Three allocations, each sized once at t5pt_ctx_create for (max_B, max_T + n, max_L):
 *   arena   forward activations (what the backward needs + what the accessors export)
 *   garena  backward gradients and scratch
 *   darena  dropout masks + one float slab, allocated only when dropout is first enabled
 * At every forward the tensors are laid out again for the actual (B, Tenc, L) inside
 * the same arenas, so every exported tensor is contiguous [B, Tenc|L, ...].
 * Shapes: M_e = B*Tenc encoder rows, M_d = B*L decoder rows.
 * With recomputation (t5pt_ctx_set_recompute) the blocks of a stack share one set of
 * activations and keep only their outputs (and dropout masks); the backward runs each
 * block's forward again, with the same kernels on the same inputs, just before that
 * block's backward, so the gradients are bit-identical to the plain run.
 */
#ifndef T5PT_CTX_H
#define T5PT_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

typedef struct {
    /* kept for the backward */
    float *rstd_self, *rstd_cross, *rstd_ff;   /* [M] per-row 1/rms of each norm's input */
    float *h_self;      /* [M,d] residual after the self-attention sublayer */
    float *h_cross;     /* [M_d,d] decoder: residual after the cross-attention sublayer */
    float *out;         /* [M,d] block output (after the FFN sublayer) */
    float *q, *k, *v;   /* [M,inner] self-attention projections */
    float *probs;       /* [B,H,T,T] self-attention probabilities (before dropout) */
    float *cq;          /* [M_d,inner] decoder cross-attention queries */
    float *ck, *cv;     /* [M_e,inner] cross-attention keys/values of the encoder output */
    float *cprobs;      /* [B,H,L,Tenc] */
    float *ff_pre;      /* [M,f] relu: wi x;  gated: wi_0 x */
    float *ff_lin;      /* [M,f] gated: wi_1 x (NULL for relu) */
    /* dropout masks (NULL when dropout is off) */
    uint8_t *m_self_p, *m_self_out, *m_cross_p, *m_cross_out, *m_ff_act, *m_ff_out;
} t5pt_layer_acts;

struct t5pt_ctx {
    const t5pt_model *m;
    int max_B, max_T, max_L, max_n;
    int recompute;     /* blocks share their activations; the backward recomputes them */
    size_t arena_bytes, garena_bytes, darena_bytes;
    char *arena, *garena, *darena;

    /* dropout */
    float drop_rate, drop_scale;
    uint64_t drop_seed, drop_calls;   /* masks of call c use stream (c, site) */
    int drop_on;                      /* dropout active in the current forward */

    /* teaching (src/model/trace.h): both are off unless a learner asks */
    struct t5pt_trace *trace;         /* records what the backward computes, or NULL */
    int readable;                     /* 1: the backward skips no work (no padding-row skipping,
                                         every row in encoder layer 0, decoder layer 0 in full);
                                         T5PT_READABLE_BACKWARD=1 at t5pt_ctx_create */

    /* the current forward */
    int fwd_ok;        /* a forward completed (accessors valid) */
    int have_labels;   /* the forward ran the decoder and the loss */
    int B, T, L, n, Tenc;

    /* --- forward arena --- */
    int32_t *enc_mask;      /* [B,Tenc] 1/0 after placement */
    float *enc_addmask;     /* [B,Tenc] 0 / T5PT_MASK_NEG */
    int32_t *prompt_at;     /* [B] first prompt row of each batch row */
    int32_t *enc_live_len;  /* [B] 1 + last unmasked encoder row of each batch row (0: none) */
    int32_t *live_first, *live_rows; /* [n_live] rows live_first[s] .. + live_rows[s] - 1 of [B*Tenc]
                                        are live for the backward (see live_segments in t5.c) */
    int n_live;
    int32_t *dec_ids;       /* [B,L] decoder_input_ids */
    int32_t *labels;        /* [B,L] copy of the labels */
    float *enc_bias;        /* [H,Tenc,Tenc] */
    float *dec_bias;        /* [H,L,L] */
    int32_t *diag;          /* [max(2 Tenc, 2 L)] bucket of each relative position */
    float *inputs_embeds;   /* [B,Tenc,d] after placement (before dropout) */
    float *enc_h0;          /* [B,Tenc,d] encoder input after dropout (aliases inputs_embeds when off) */
    t5pt_layer_acts *enc, *dec;
    float *enc_final;       /* [B,Tenc,d] encoder_last_hidden_state (after dropout when on, like HF) */
    float *enc_final_rstd;  /* [M_e] */
    float *dec_h0;          /* [B,L,d] decoder input embeddings (after dropout) */
    float *dec_final;       /* [B,L,d] decoder_last_hidden_state (after dropout, before the rescale) */
    float *dec_final_rstd;  /* [M_d] */
    float *logits;          /* [B,L,V] */
    float *lse;             /* [M_d] log-sum-exp of each logits row */
    int n_valid;            /* labels != -100 */
    float loss;
    t5pt_loss_kind loss_kind; /* t5pt_ctx_set_loss (default mean, z 0) */
    float z_loss;
    /* forward scratch (reused by every layer) */
    float *s_norm;          /* [M,d] norm output (a linear's input: not needed by the backward) */
    float *s_ctx;           /* [M,inner] attention context */
    float *s_act;           /* [M,f] FFN activation */
    float *s_out;           /* [M,d] sublayer output */
    uint8_t *m_enc_emb, *m_enc_final, *m_dec_emb, *m_dec_final;  /* dropout masks */
    float *s_drop;          /* [B,H,Tq,Tk] dropped probabilities (dropout only; forward and backward) */

    /* --- backward arena --- */
    float *g_h;             /* [M_e,d] gradient of the residual stream */
    float *g_norm;          /* [M_e,d] gradient of a norm output */
    float *g_sub;           /* [M_e,d] gradient of a sublayer output through its dropout mask */
    float *g_ctx;           /* [M_e,inner] */
    float *g_q, *g_k, *g_v; /* [M_e,inner] */
    float *g_att;           /* [B,H,Tq,Tk] largest of the attention shapes */
    float *g_ff_act;        /* [M_e,f] gradient of the FFN activation (relu: then of wi x, in place) */
    float *g_ff_pre, *g_ff_lin; /* [M_e,f] gated only: gradients of wi_0 x and wi_1 x */
    float *g_henc;          /* [M_e,d] gradient of the encoder output (sum over decoder layers) */
    float *g_logits;        /* [rows with labels, V] */
    float *g_rows;          /* [M_d,d] */
    int32_t *valid_rows;    /* [M_d] indices of rows with a label */
    float *dP;              /* [n,d] step.c's gradient buffer */
};

/* A bump allocator over one arena, for the layouts of t5.c and decode.c. With base ==
 * NULL it only measures: lay out once to size the arena, allocate, lay out again. */
typedef struct {
    char *base;
    size_t off;
} t5pt_bump;

static inline void *t5pt_bump_take(t5pt_bump *b, size_t bytes) {
    size_t off = (b->off + 63) & ~(size_t)63;   /* every tensor 64-byte aligned */
    b->off = off + bytes;
    return b->base ? b->base + off : NULL;
}
#define TAKE_F(b, n) ((float *)t5pt_bump_take((b), (size_t)(n) * sizeof(float)))
#define TAKE_I(b, n) ((int32_t *)t5pt_bump_take((b), (size_t)(n) * sizeof(int32_t)))
#define TAKE_U8(b, n) ((uint8_t *)t5pt_bump_take((b), (size_t)(n)))

/* decoder_input_ids [B,L] of the last forward with labels (NULL otherwise). */
const int32_t *t5pt_ctx_decoder_input_ids(const t5pt_ctx *c, int *B, int *L);

#endif
