/* model.h — the frozen T5 weights in memory (internal).
 *
 * All weights live once. The matrices (every linear and the embedding) stay in the
 * checkpoint's precision (fp32, bf16 or f16): a loaded model uses them where the
 * read-only mapping of the safetensors file holds them (the page cache keeps one copy,
 * shared by concurrent runs); a random model, or a matrix stored in another dtype or
 * misaligned, has a slice of the aligned `arena`. A linear (simd/gemm.h) only points at
 * its matrix; the GEMM widens while packing per call; embedding rows are widened when
 * looked up. The small vectors (norm weights, relative-position tables) are fp32 in the
 * arena. Shapes use HF names:
 * d = d_model, inner = num_heads * d_kv, f = d_ff, V = vocab_size, nb = buckets.
 */
#ifndef T5PT_MODEL_H
#define T5PT_MODEL_H

#include "t5pt.h"
#include "simd/gemm.h"

typedef struct {
    t5pt_linear q, k, v;      /* W [inner, d] */
    t5pt_linear o;            /* W [d, inner] */
} t5pt_attention_weights;

typedef struct {
    const float *ln_self;     /* [d]  layer.0.layer_norm */
    t5pt_attention_weights self;
    const float *ln_cross;    /* [d]  decoder only: layer.1.layer_norm */
    t5pt_attention_weights cross; /* decoder only: layer.1.EncDecAttention */
    const float *ln_ff;       /* [d]  last layer's layer_norm */
    t5pt_linear wi;           /* relu: [f, d] */
    t5pt_linear wi_0, wi_1;   /* gated-gelu: [f, d] each */
    t5pt_linear wo;           /* [d, f] */
} t5pt_block_weights;

struct t5pt_model {
    t5pt_config cfg;
    t5pt_linear emb;            /* [V, d] input embeddings (shared.weight), stored precision */
    t5pt_linear lm_head;        /* [V, d]: emb itself (tied) or lm_head.weight */
    const float *enc_rel_bias;  /* [nb, H] encoder.block.0.layer.0.SelfAttention.relative_attention_bias */
    const float *dec_rel_bias;  /* [nb, H] decoder.block.0... */
    t5pt_block_weights *enc;    /* [num_layers] */
    t5pt_block_weights *dec;    /* [num_decoder_layers] */
    const float *enc_final_ln;  /* [d] */
    const float *dec_final_ln;  /* [d] */
    unsigned char *arena;       /* the weights not used in place (64-byte aligned slices) */
    size_t arena_bytes;
    struct st_file **maps;      /* the checkpoint files, mapped read-only: a loaded model's
                                   matrices are used where the files hold them */
    int nmaps;
    size_t mapped_bytes;        /* bytes of the matrices used in place */
    size_t num_params;
    t5pt_precision precision;   /* of every product (t5pt_model_set_precision); the linears carry it too */
};

/* Validates a config (positive sizes, buckets even, ...). */
t5pt_status t5pt_config_validate(const t5pt_config *cfg, const char *path);
/* Number of weights a model with this config holds (embedding counted once when tied). */
size_t t5pt_config_num_params(const t5pt_config *cfg);

/* Calls fn for every tensor of m, in the order and under the Hugging Face names of the
 * table the loader reads (tied models: no lm_head.weight): data in its stored type, shape
 * [shape[0]] (ndim 1) or [shape[0], shape[1]]. Stops at the first status fn returns that is
 * not T5PT_OK and returns it. */
typedef t5pt_status (*t5pt_model_tensor_fn)(void *user, const char *name, const void *data, t5pt_wtype type, int ndim,
                                            const int64_t shape[2]);
t5pt_status t5pt_model_tensors(const t5pt_model *m, t5pt_model_tensor_fn fn, void *user);

/* Widens embedding row id (0 <= id < V, unchecked) into out[d]. */
void t5pt_model_embed_row(const t5pt_model *m, int id, float *out);

#endif
