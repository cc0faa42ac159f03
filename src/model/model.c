/* model.c — T5 config.json parsing and the frozen weights (Hugging Face layout).
 *
 * One table of "weight specs" describes every tensor the model needs: its
 * Hugging Face name, its shape derived from the config, its precision in memory, its
 * place in the arena and the struct field that points at it. Matrices keep the
 * checkpoint's precision (F32, BF16 or F16; anything else is widened to fp32); vectors
 * are fp32. The loader (safetensors, single
 * file or sharded) and the random initialiser both walk that same table, so the
 * two always produce the same layout.
 *
 * Hugging Face conventions honoured here:
 *  - The input embedding may be stored as shared.weight, encoder.embed_tokens.weight
 *    or decoder.embed_tokens.weight (tied copies; one is enough, shared.weight wins).
 *  - Tied models (tie_word_embeddings true, the default) use the embedding as the
 *    output head. A stray lm_head.weight in a tied checkpoint is IGNORED, exactly as
 *    transformers does (its tie_weights() overwrites it with the embedding).
 *  - Untied models (T5 1.1, LM-adapted, Flan-T5) require lm_head.weight.
 *  - Only block 0 of each stack owns relative_attention_bias; copies in other
 *    blocks and any other unknown tensors are ignored.
 */
#define _POSIX_C_SOURCE 200809L
#include "model/model.h"

#include "base/internal.h"
#include "io/json.h"
#include "io/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ config */

/* Reads an optional integer key; null or absent keeps the default. */
static t5pt_status cfg_int(const json_value *root, const char *key, int *out, const char *path) {
    const json_value *v = t5pt_json_get(root, key);
    if (!v || v->type == JSON_NULL) return T5PT_OK;
    if (!t5pt_json_is_int(v) || v->inum < INT32_MIN || v->inum > INT32_MAX)
        return t5pt_set_error(T5PT_ERR_CONFIG, "%s: \"%s\" must be an integer", path, key);
    *out = (int)v->inum;
    return T5PT_OK;
}

t5pt_status t5pt_config_validate(const t5pt_config *c, const char *path) {
    if (!path) path = "config";
    const int big = 1 << 24; /* keeps every product of two dims inside size_t and int math sane */
    struct {
        const char *name;
        int v;
    } dims[] = {{"vocab_size", c->vocab_size},
                {"d_model", c->d_model},
                {"d_kv", c->d_kv},
                {"d_ff", c->d_ff},
                {"num_layers", c->num_layers},
                {"num_decoder_layers", c->num_decoder_layers},
                {"num_heads", c->num_heads},
                {"relative_attention_num_buckets", c->rel_num_buckets},
                {"relative_attention_max_distance", c->rel_max_distance}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].v <= 0 || dims[i].v > big)
            return t5pt_set_error(T5PT_ERR_CONFIG, "%s: %s = %d is out of range (1..%d)", path, dims[i].name,
                                  dims[i].v, big);
    if ((int64_t)c->num_heads * c->d_kv > big)
        return t5pt_set_error(T5PT_ERR_CONFIG, "%s: num_heads * d_kv = %lld is too large", path,
                              (long long)c->num_heads * c->d_kv);
    /* bidirectional buckets split the range in two halves, each with an exact and a log part;
     * the log part divides by log(max_distance / max_exact), so max_distance must exceed it */
    if (c->rel_num_buckets < 4 || c->rel_num_buckets % 2)
        return t5pt_set_error(T5PT_ERR_CONFIG, "%s: relative_attention_num_buckets = %d must be even and >= 4", path,
                              c->rel_num_buckets);
    if (c->rel_max_distance <= c->rel_num_buckets / 2)
        return t5pt_set_error(T5PT_ERR_CONFIG,
                              "%s: relative_attention_max_distance = %d must exceed num_buckets / 2 = %d", path,
                              c->rel_max_distance, c->rel_num_buckets / 2);
    if (!(c->layer_norm_epsilon > 0.0f) || !isfinite(c->layer_norm_epsilon))
        return t5pt_set_error(T5PT_ERR_CONFIG, "%s: layer_norm_epsilon = %g must be positive", path,
                              (double)c->layer_norm_epsilon);
    struct {
        const char *name;
        int v;
    } ids[] = {{"decoder_start_token_id", c->decoder_start_token_id},
               {"pad_token_id", c->pad_token_id},
               {"eos_token_id", c->eos_token_id}};
    for (size_t i = 0; i < 3; i++)
        if (ids[i].v < 0 || ids[i].v >= c->vocab_size)
            return t5pt_set_error(T5PT_ERR_CONFIG, "%s: %s = %d is outside the vocabulary (0..%d)", path, ids[i].name,
                                  ids[i].v, c->vocab_size - 1);
    /* every size in the weight layout (floats, bytes, offsets) must fit size_t with room to spare:
     * at most 2^40 weights (4 TiB in fp32), far beyond any T5 */
    double params = (double)t5pt_config_num_params(c);
    if (params > 0x1p40 || params * sizeof(float) * 2 >= (double)SIZE_MAX)
        return t5pt_set_error(T5PT_ERR_CONFIG,
                              "%s: these sizes give a model of %.3g weights, more than this build can hold (check "
                              "vocab_size, d_model, d_ff, num_heads * d_kv and the layer counts)",
                              path, params);
    if (c->gated_gelu != 0 && c->gated_gelu != 1)
        return t5pt_set_error(T5PT_ERR_CONFIG, "%s: gated_gelu must be 0 or 1", path);
    if (c->tie_word_embeddings != 0 && c->tie_word_embeddings != 1)
        return t5pt_set_error(T5PT_ERR_CONFIG, "%s: tie_word_embeddings must be 0 or 1", path);
    return T5PT_OK;
}

/* Fills cfg from a parsed config.json object, with T5Config's defaults for absent keys. */
static t5pt_status config_from_json(t5pt_config *cfg, const json_value *root, const char *path) {
    if (!root || root->type != JSON_OBJECT)
        return t5pt_set_error(T5PT_ERR_CONFIG, "%s: config is not a JSON object", path);
    t5pt_config c = {
        .vocab_size = 32128,
        .d_model = 512,
        .d_kv = 64,
        .d_ff = 2048,
        .num_layers = 6,
        .num_decoder_layers = -1,
        .num_heads = 8,
        .rel_num_buckets = 32,
        .rel_max_distance = 128,
        .layer_norm_epsilon = 1e-6f,
        .gated_gelu = 0,
        .tie_word_embeddings = 1,
        .decoder_start_token_id = -1,
        .pad_token_id = 0,
        .eos_token_id = 1,
    };
    const char *mt = t5pt_json_get_str(root, "model_type");
    if (mt && strcmp(mt, "t5") != 0 && strcmp(mt, "mt5") != 0)
        return t5pt_set_error(T5PT_ERR_CONFIG, "%s: model_type \"%s\" is not supported (only \"t5\" and \"mt5\")",
                              path, mt);
    t5pt_status st;
    struct {
        const char *key;
        int *dst;
    } ints[] = {{"vocab_size", &c.vocab_size},
                {"d_model", &c.d_model},
                {"d_kv", &c.d_kv},
                {"d_ff", &c.d_ff},
                {"num_layers", &c.num_layers},
                {"num_decoder_layers", &c.num_decoder_layers},
                {"num_heads", &c.num_heads},
                {"relative_attention_num_buckets", &c.rel_num_buckets},
                {"relative_attention_max_distance", &c.rel_max_distance},
                {"decoder_start_token_id", &c.decoder_start_token_id},
                {"pad_token_id", &c.pad_token_id},
                {"eos_token_id", &c.eos_token_id}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if ((st = cfg_int(root, ints[i].key, ints[i].dst, path))) return st;
    if (c.num_decoder_layers < 0) c.num_decoder_layers = c.num_layers; /* HF: None -> num_layers */
    /* HF's T5 shifts labels with decoder_start_token_id; every released config sets it to pad (0) */
    if (c.decoder_start_token_id < 0) c.decoder_start_token_id = c.pad_token_id;

    const json_value *v = t5pt_json_get(root, "layer_norm_epsilon");
    if (v && v->type != JSON_NULL) {
        if (v->type != JSON_NUMBER)
            return t5pt_set_error(T5PT_ERR_CONFIG, "%s: \"layer_norm_epsilon\" must be a number", path);
        c.layer_norm_epsilon = (float)v->u.num;
    }
    v = t5pt_json_get(root, "tie_word_embeddings");
    if (v && v->type != JSON_NULL) {
        if (v->type != JSON_TRUE && v->type != JSON_FALSE)
            return t5pt_set_error(T5PT_ERR_CONFIG, "%s: \"tie_word_embeddings\" must be true or false", path);
        c.tie_word_embeddings = v->type == JSON_TRUE;
    }

    /* feed_forward_proj: HF splits "gated-X" into is_gated_act and dense_act_fn X
     * ("gated-gelu" means gelu_new). Only the two FFNs real T5 checkpoints use are built. */
    const char *ffp = "relu";
    v = t5pt_json_get(root, "feed_forward_proj");
    if (v && v->type != JSON_NULL) {
        if (v->type != JSON_STRING)
            return t5pt_set_error(T5PT_ERR_CONFIG, "%s: \"feed_forward_proj\" must be a string", path);
        ffp = v->u.str;
    }
    if (strcmp(ffp, "relu") == 0)
        c.gated_gelu = 0;
    else if (strcmp(ffp, "gated-gelu") == 0)
        c.gated_gelu = 1;
    else
        return t5pt_set_error(T5PT_ERR_CONFIG,
                              "%s: feed_forward_proj \"%s\" is not supported (only \"relu\" and \"gated-gelu\")", path,
                              ffp);
    /* transformers writes dense_act_fn / is_gated_act into config.json and, when loading,
     * lets those stored values override what feed_forward_proj implies; refuse a contradiction. */
    const char *act = t5pt_json_get_str(root, "dense_act_fn");
    if (act) {
        int ok = c.gated_gelu ? (strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_pytorch_tanh") == 0)
                              : strcmp(act, "relu") == 0;
        if (!ok)
            return t5pt_set_error(T5PT_ERR_CONFIG, "%s: dense_act_fn \"%s\" contradicts feed_forward_proj \"%s\"",
                                  path, act, ffp);
    }
    int gated;
    if (t5pt_json_get_bool(root, "is_gated_act", &gated) == 0 && gated != c.gated_gelu)
        return t5pt_set_error(T5PT_ERR_CONFIG, "%s: is_gated_act %s contradicts feed_forward_proj \"%s\"", path,
                              gated ? "true" : "false", ffp);
    if ((st = t5pt_config_validate(&c, path))) return st;
    *cfg = c;
    return T5PT_OK;
}

t5pt_status t5pt_config_load(t5pt_config *cfg, const char *path) {
    json_doc *doc;
    t5pt_status st = t5pt_read_json(path, T5PT_ERR_CONFIG, &doc);
    if (st) return st;
    st = config_from_json(cfg, t5pt_json_root(doc), path);
    t5pt_json_free(doc);
    return st;
}

/* ------------------------------------------------------------------ weight layout */

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[2];
    size_t off;              /* in bytes, 64-byte aligned */
    size_t numel;
    t5pt_wtype type;         /* precision in the arena: F32 unless a matrix stored as BF16/F16 */
    const void *in_place;    /* a matrix used where the mapped checkpoint holds it (no arena slice) */
    const float **ptr;       /* plain fp32 tensor: field to point at the arena, or NULL */
    t5pt_linear *lin;        /* matrix: described here, over its slice of the arena */
    float init_std;          /* N(0, std) for the random init; < 0 means "fill with 1" (norm weights) */
} wspec;

typedef struct {
    wspec *s;
    int n, cap;
} layout;

static void add(layout *L, const char *name, int64_t rows, int64_t cols, const float **ptr, t5pt_linear *lin,
                float std) {
    wspec *w = &L->s[L->n++];
    snprintf(w->name, sizeof w->name, "%s", name);
    w->ndim = cols ? 2 : 1;
    w->shape[0] = rows;
    w->shape[1] = cols;
    w->numel = (size_t)rows * (size_t)(cols ? cols : 1);
    w->type = T5PT_WF32;
    w->ptr = ptr;
    w->lin = lin;
    w->init_std = std;
}

/* Init scales follow transformers' T5PreTrainedModel._init_weights (factor 1.0):
 * attention q ~ (d*dkv)^-1/2, k,v ~ d^-1/2, o ~ (H*dkv)^-1/2; wi ~ d^-1/2, wo ~ f^-1/2;
 * embeddings, lm_head ~ 1; relative bias ~ d^-1/2; norms = 1. */
static void add_attention(layout *L, const char *prefix, t5pt_attention_weights *a, const t5pt_config *c) {
    char n[96];
    int64_t d = c->d_model, inner = (int64_t)c->num_heads * c->d_kv;
    float sd = 1.0f / sqrtf((float)d);
    snprintf(n, sizeof n, "%s.q.weight", prefix);
    add(L, n, inner, d, NULL, &a->q, 1.0f / sqrtf((float)d * (float)c->d_kv));
    snprintf(n, sizeof n, "%s.k.weight", prefix);
    add(L, n, inner, d, NULL, &a->k, sd);
    snprintf(n, sizeof n, "%s.v.weight", prefix);
    add(L, n, inner, d, NULL, &a->v, sd);
    snprintf(n, sizeof n, "%s.o.weight", prefix);
    add(L, n, d, inner, NULL, &a->o, 1.0f / sqrtf((float)inner));
}

static void add_ffn(layout *L, const char *prefix, t5pt_block_weights *b, const t5pt_config *c) {
    char n[96];
    int64_t d = c->d_model, f = c->d_ff;
    float sd = 1.0f / sqrtf((float)d);
    if (c->gated_gelu) {
        snprintf(n, sizeof n, "%s.DenseReluDense.wi_0.weight", prefix);
        add(L, n, f, d, NULL, &b->wi_0, sd);
        snprintf(n, sizeof n, "%s.DenseReluDense.wi_1.weight", prefix);
        add(L, n, f, d, NULL, &b->wi_1, sd);
    } else {
        snprintf(n, sizeof n, "%s.DenseReluDense.wi.weight", prefix);
        add(L, n, f, d, NULL, &b->wi, sd);
    }
    snprintf(n, sizeof n, "%s.DenseReluDense.wo.weight", prefix);
    add(L, n, d, f, NULL, &b->wo, 1.0f / sqrtf((float)f));
    snprintf(n, sizeof n, "%s.layer_norm.weight", prefix);
    add(L, n, d, 0, &b->ln_ff, NULL, -1.0f);
}

/* The table of every tensor of m under its Hugging Face name, pointing at m's fields: the
 * one place the names, shapes and init scales are written (loading, random init and
 * t5pt_model_tensors all read it). L->s has room for L->cap entries. */
static void fill_layout(t5pt_model *m, layout *L) {
    const t5pt_config *c = &m->cfg;
    L->n = 0;
    int64_t d = c->d_model, V = c->vocab_size, nb = c->rel_num_buckets, H = c->num_heads;
    char n[96];
    add(L, "shared.weight", V, d, NULL, &m->emb, 1.0f);
    if (!c->tie_word_embeddings) add(L, "lm_head.weight", V, d, NULL, &m->lm_head, 1.0f);
    float sd = 1.0f / sqrtf((float)d);
    for (int i = 0; i < c->num_layers; i++) {
        t5pt_block_weights *b = &m->enc[i];
        snprintf(n, sizeof n, "encoder.block.%d.layer.0.layer_norm.weight", i);
        add(L, n, d, 0, &b->ln_self, NULL, -1.0f);
        snprintf(n, sizeof n, "encoder.block.%d.layer.0.SelfAttention", i);
        add_attention(L, n, &b->self, c);
        if (i == 0)
            add(L, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", nb, H, &m->enc_rel_bias,
                NULL, sd);
        snprintf(n, sizeof n, "encoder.block.%d.layer.1", i);
        add_ffn(L, n, b, c);
    }
    add(L, "encoder.final_layer_norm.weight", d, 0, &m->enc_final_ln, NULL, -1.0f);
    for (int i = 0; i < c->num_decoder_layers; i++) {
        t5pt_block_weights *b = &m->dec[i];
        snprintf(n, sizeof n, "decoder.block.%d.layer.0.layer_norm.weight", i);
        add(L, n, d, 0, &b->ln_self, NULL, -1.0f);
        snprintf(n, sizeof n, "decoder.block.%d.layer.0.SelfAttention", i);
        add_attention(L, n, &b->self, c);
        if (i == 0)
            add(L, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", nb, H, &m->dec_rel_bias,
                NULL, sd);
        snprintf(n, sizeof n, "decoder.block.%d.layer.1.layer_norm.weight", i);
        add(L, n, d, 0, &b->ln_cross, NULL, -1.0f);
        snprintf(n, sizeof n, "decoder.block.%d.layer.1.EncDecAttention", i);
        add_attention(L, n, &b->cross, c);
        snprintf(n, sizeof n, "decoder.block.%d.layer.2", i);
        add_ffn(L, n, b, c);
    }
    add(L, "decoder.final_layer_norm.weight", d, 0, &m->dec_final_ln, NULL, -1.0f);
}

/* add() does not grow the table: a block has at most 15 tensors (decoder block 0: 3 norms,
 * 8 attention linears, the relative bias, 3 FFN linears), plus 4 globals. */
static t5pt_status layout_alloc(const t5pt_config *c, layout *L) {
    L->cap = 8 + 16 * (c->num_layers + c->num_decoder_layers);
    L->s = calloc((size_t)L->cap, sizeof *L->s);
    L->n = 0;
    return L->s ? T5PT_OK : t5pt_set_error(T5PT_ERR_NOMEM, "model: out of memory");
}

/* Allocates the model struct and fills the spec table (arena not yet allocated). */
static t5pt_status build_layout(const t5pt_config *c, t5pt_model **out, layout *L) {
    t5pt_model *m = calloc(1, sizeof *m);
    if (!m) return t5pt_set_error(T5PT_ERR_NOMEM, "model: out of memory");
    m->cfg = *c;
    m->enc = calloc((size_t)c->num_layers, sizeof *m->enc);
    m->dec = calloc((size_t)c->num_decoder_layers, sizeof *m->dec);
    if (!m->enc || !m->dec || layout_alloc(c, L) != T5PT_OK) {
        free(m->enc);
        free(m->dec);
        free(m);
        free(L->s);
        return t5pt_set_error(T5PT_ERR_NOMEM, "model: out of memory");
    }
    fill_layout(m, L);
    *out = m;
    return T5PT_OK;
}

t5pt_status t5pt_model_tensors(const t5pt_model *m, t5pt_model_tensor_fn fn, void *user) {
    layout L;
    t5pt_status st = layout_alloc(&m->cfg, &L);
    if (st) return st;
    /* the table points at m's fields; it only reads them here */
    fill_layout((t5pt_model *)m, &L);
    for (int i = 0; i < L.n && st == T5PT_OK; i++) {
        const wspec *w = &L.s[i];
        const void *data = w->lin ? w->lin->W : (const void *)*w->ptr;
        st = fn(user, w->name, data, w->lin ? w->lin->type : T5PT_WF32, w->ndim, w->shape);
    }
    free(L.s);
    return st;
}

/* Allocates the arena (each spec's slice in its own precision, 64-byte aligned) and
 * points every field at its slice. */
static t5pt_status place_layout(t5pt_model *m, layout *L) {
    size_t bytes = 0;
    m->mapped_bytes = 0;
    for (int i = 0; i < L->n; i++) {
        L->s[i].off = bytes;
        if (L->s[i].in_place)
            m->mapped_bytes += L->s[i].numel * t5pt_wtype_size(L->s[i].type);
        else
            bytes += (L->s[i].numel * t5pt_wtype_size(L->s[i].type) + 63) & ~(size_t)63;
    }
    m->arena = t5pt_alloc_aligned(bytes ? bytes : 64);
    if (!m->arena)
        return t5pt_set_error(T5PT_ERR_NOMEM, "model: cannot allocate %zu MB for the weights", bytes >> 20);
    m->arena_bytes = bytes;
    m->num_params = 0;
    for (int i = 0; i < L->n; i++) {
        const wspec *w = &L->s[i];
        unsigned char *p = w->in_place ? (unsigned char *)(uintptr_t)w->in_place : m->arena + w->off;
        /* zero the alignment padding so the arena never holds uninitialised bytes */
        size_t used = w->numel * t5pt_wtype_size(w->type), padded = (used + 63) & ~(size_t)63;
        if (!w->in_place) memset(p + used, 0, padded - used);
        if (w->ptr) *w->ptr = (const float *)p;
        if (w->lin) t5pt_linear_init(w->lin, p, w->type, (int)w->shape[0], (int)w->shape[1]);
        m->num_params += w->numel;
    }
    /* tied head: the embedding itself, the same bytes */
    if (m->cfg.tie_word_embeddings) m->lm_head = m->emb;
    return T5PT_OK;
}

void t5pt_model_free(t5pt_model *m) {
    if (!m) return;
    free(m->enc);
    free(m->dec);
    t5pt_free_aligned(m->arena);
    for (int i = 0; i < m->nmaps; i++) t5pt_st_close(m->maps[i]);
    free(m->maps);
    free(m);
}

const t5pt_config *t5pt_model_config(const t5pt_model *m) { return &m->cfg; }

/* ------------------------------------------------------------ compute precision */

static const char *const precision_names[] = {"fp32", "bf16"};

t5pt_status t5pt_precision_parse(const char *text, t5pt_precision *p) {
    for (int i = 0; i < 2; i++)
        if (text && strcmp(text, precision_names[i]) == 0) {
            *p = (t5pt_precision)i;
            return T5PT_OK;
        }
    return t5pt_set_error(T5PT_ERR_ARG, "precision: unknown name '%s' (fp32|bf16)", text ? text : "");
}

const char *t5pt_precision_name(t5pt_precision p) {
    return p == T5PT_PRECISION_FP32 || p == T5PT_PRECISION_BF16 ? precision_names[p] : NULL;
}

/* Every linear of m computes in p (simd/gemm.h: t5pt_linear.compute); the attention core
 * reads m->precision (model/t5.c builds its attn_dims from it). */
t5pt_status t5pt_model_set_precision(t5pt_model *m, t5pt_precision p) {
    if (!m) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_model_set_precision: no model");
    if (!t5pt_precision_name(p)) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_model_set_precision: unknown precision %d", (int)p);
    m->precision = p;
    m->emb.compute = m->lm_head.compute = p;
    t5pt_block_weights *stacks[2] = {m->enc, m->dec};
    const int layers[2] = {m->cfg.num_layers, m->cfg.num_decoder_layers};
    for (int s = 0; s < 2; s++)
        for (int l = 0; l < layers[s] && stacks[s]; l++) {
            t5pt_block_weights *w = &stacks[s][l];
            t5pt_linear *lins[] = {&w->self.q, &w->self.k,  &w->self.v,  &w->self.o, &w->cross.q, &w->cross.k,
                                   &w->cross.v, &w->cross.o, &w->wi, &w->wi_0, &w->wi_1, &w->wo};
            for (size_t i = 0; i < sizeof lins / sizeof lins[0]; i++) lins[i]->compute = p;
        }
    return T5PT_OK;
}

t5pt_precision t5pt_model_precision(const t5pt_model *m) { return m ? m->precision : T5PT_PRECISION_FP32; }

void t5pt_model_embed_row(const t5pt_model *m, int id, float *out) {
    size_t d = (size_t)m->cfg.d_model;
    t5pt_widen(out, (const unsigned char *)m->emb.W + (size_t)id * d * t5pt_wtype_size(m->emb.type), m->emb.type, d);
}

t5pt_status t5pt_model_embedding(const t5pt_model *m, int id, float *out) {
    if (!m || !out) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_model_embedding: no model or output");
    if (id < 0 || id >= m->cfg.vocab_size)
        return t5pt_set_error(T5PT_ERR_ARG, "token id %d is outside the vocabulary (0..%d)", id, m->cfg.vocab_size - 1);
    t5pt_model_embed_row(m, id, out);
    return T5PT_OK;
}

size_t t5pt_model_weight_bytes(const t5pt_model *m) { return m ? m->arena_bytes + m->mapped_bytes : 0; }

size_t t5pt_model_num_params(const t5pt_model *m) { return m ? m->num_params : 0; }

size_t t5pt_config_num_params(const t5pt_config *c) {
    /* In double: every dim may be up to 2^24, so the count can pass 2^64 (a size_t would wrap
     * around and a wrapped layout once gave a 256-byte arena). Exact below 2^53; a count
     * size_t cannot hold comes back as SIZE_MAX. */
    double d = c->d_model, inner = (double)c->num_heads * c->d_kv, f = c->d_ff;
    double attn = 4 * d * inner, ffn = (c->gated_gelu ? 3 : 2) * d * f;
    double rel = (double)c->rel_num_buckets * c->num_heads;
    double emb = (double)c->vocab_size * d * (c->tie_word_embeddings ? 1 : 2);
    double n = emb + 2 * rel + c->num_layers * (attn + ffn + 2 * d) + c->num_decoder_layers * (2 * attn + ffn + 3 * d) +
               2 * d;
    return n < (double)SIZE_MAX ? (size_t)n : SIZE_MAX;
}

/* ------------------------------------------------------------------ random init */

t5pt_status t5pt_model_init_random(t5pt_model **out, const t5pt_config *cfg, uint64_t seed) {
    *out = NULL;
    t5pt_status st = t5pt_config_validate(cfg, "config");
    if (st) return st;
    t5pt_model *m;
    layout L;
    if ((st = build_layout(cfg, &m, &L))) return st;
    if ((st = place_layout(m, &L))) goto fail;
    t5pt_rng rng;
    t5pt_rng_seed(&rng, seed);
    for (int i = 0; i < L.n; i++) {
        const wspec *w = &L.s[i];
        float *p = (float *)(m->arena + w->off);
        if (w->init_std < 0) {
            for (size_t j = 0; j < w->numel; j++) p[j] = 1.0f;
        } else {
            for (size_t j = 0; j < w->numel; j++) p[j] = w->init_std * t5pt_rng_normal(&rng);
        }
    }
    free(L.s);
    *out = m;
    return T5PT_OK;
fail:
    free(L.s);
    t5pt_model_free(m);
    return st;
}

/* ------------------------------------------------------------------ loading */

/* Where tensors come from: one model.safetensors, or shards listed by an index. */
typedef struct {
    const char *where;     /* model.safetensors or the index path: named in "missing tensor" errors */
    json_doc *index;
    const json_value *weight_map;
    st_file **files;
    char **names;          /* shard file names as written in the index */
    int nfiles;
} source;

static void source_close(source *s) {
    for (int i = 0; i < s->nfiles; i++) {
        if (s->files) t5pt_st_close(s->files[i]);
        if (s->names) free(s->names[i]);
    }
    free(s->files);
    free(s->names);
    t5pt_json_free(s->index);
}

static t5pt_status source_open_index(source *s, const char *dir, const char *index_path) {
    t5pt_status st = t5pt_read_json(index_path, T5PT_ERR_FORMAT, &s->index);
    if (st) return st;
    s->weight_map = t5pt_json_get(t5pt_json_root(s->index), "weight_map");
    if (!s->weight_map || s->weight_map->type != JSON_OBJECT)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: no \"weight_map\" object", index_path);
    size_t n = s->weight_map->len;
    s->files = calloc(n ? n : 1, sizeof *s->files);
    s->names = calloc(n ? n : 1, sizeof *s->names);
    if (!s->files || !s->names) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", index_path);
    /* open each distinct shard once */
    for (size_t i = 0; i < n; i++) {
        const json_member *mb = &s->weight_map->u.members[i];
        if (mb->value.type != JSON_STRING)
            return t5pt_set_error(T5PT_ERR_FORMAT, "%s: weight_map entry \"%s\" is not a file name", index_path,
                                  mb->key);
        const char *fn = mb->value.u.str;
        int seen = 0;
        for (int k = 0; k < s->nfiles && !seen; k++) seen = strcmp(s->names[k], fn) == 0;
        if (seen) continue;
        if (!*fn || strchr(fn, '/'))
            return t5pt_set_error(T5PT_ERR_FORMAT, "%s: shard name \"%s\" is not a file in the model directory",
                                  index_path, fn);
        char *p = t5pt_path_join(dir, fn);
        if (!p) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", index_path);
        if (!t5pt_file_exists(p)) {
            st = t5pt_set_error(T5PT_ERR_IO, "%s: weight_map points to missing shard %s", index_path, p);
            free(p);
            return st;
        }
        st = t5pt_st_open(&s->files[s->nfiles], p);
        free(p);
        if (st) return st;
        if (!(s->names[s->nfiles] = strdup(fn))) {
            t5pt_st_close(s->files[s->nfiles]);
            s->files[s->nfiles] = NULL;
            return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", index_path);
        }
        s->nfiles++;
    }
    return T5PT_OK;
}

/* Finds a tensor. Returns OK with *t NULL when absent; an error when the index names a
 * shard that does not contain it. */
static t5pt_status source_find(const source *s, const char *name, const st_file **f, const st_tensor **t) {
    *f = NULL;
    *t = NULL;
    if (!s->weight_map) {
        *t = t5pt_st_get(s->files[0], name);
        *f = s->files[0];
        return T5PT_OK;
    }
    const char *fn = t5pt_json_get_str(s->weight_map, name);
    if (!fn) return T5PT_OK;
    for (int k = 0; k < s->nfiles; k++)
        if (strcmp(s->names[k], fn) == 0) {
            *f = s->files[k];
            *t = t5pt_st_get(s->files[k], name);
            if (!*t)
                return t5pt_set_error(T5PT_ERR_FORMAT, "%s: tensor \"%s\" is listed in %s but not in that shard",
                                      t5pt_st_path(s->files[k]), name, s->where);
            return T5PT_OK;
        }
    return t5pt_set_error(T5PT_ERR_FORMAT, "%s: shard %s of tensor \"%s\" was not opened", s->where, fn, name);
}

#define SCAN_CHUNK 16384   /* floats converted then scanned at a time: 64 KiB, stays in L2 */

/* Index of the first NaN or Inf in x[0..n), n when all are finite. The blocks are scanned
 * branch-free on the exponent bits (all ones = NaN or Inf) so that the compiler vectorizes
 * them. */
static size_t first_non_finite(const float *x, size_t n) {
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint32_t bad = 0;
        for (int k = 0; k < 64; k++) {
            uint32_t u;
            memcpy(&u, x + i + k, sizeof u);
            bad |= (u & 0x7f800000u) == 0x7f800000u;
        }
        if (bad) break;
    }
    for (; i < n; i++)
        if (!isfinite(x[i])) return i;
    return n;
}

/* Finds the tensor of spec w (the embedding under any of its three names) and checks its
 * shape against the config. */
static t5pt_status find_tensor(const source *s, const wspec *w, const char *cfg_path, const st_file **f,
                               const st_tensor **t) {
    static const char *const emb_names[] = {"shared.weight", "encoder.embed_tokens.weight",
                                            "decoder.embed_tokens.weight"};
    int is_emb = strcmp(w->name, "shared.weight") == 0;
    t5pt_status st;
    *t = NULL;
    for (int k = 0; k < (is_emb ? 3 : 1) && !*t; k++)
        if ((st = source_find(s, is_emb ? emb_names[k] : w->name, f, t))) return st;
    if (!*t) {
        if (is_emb)
            return t5pt_set_error(T5PT_ERR_FORMAT,
                                  "%s: missing tensor \"shared.weight\" (nor encoder.embed_tokens.weight / "
                                  "decoder.embed_tokens.weight)",
                                  s->where);
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: missing tensor \"%s\"", s->where, w->name);
    }
    if ((st = t5pt_st_check_shape(*f, *t, w->ndim, w->shape))) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", t5pt_last_error());
        return t5pt_set_error(st, "%s (from %s)", msg, cfg_path);
    }
    return T5PT_OK;
}

/* The tensor table is sized from config.json before any tensor is looked up: a config that
 * does not belong to the weights (say num_layers 100000 next to a small file) must fail here,
 * not after allocating gigabytes for the table. Every block of a real checkpoint has several
 * tensors, so the block count is bounded by the tensors the files hold. */
static t5pt_status check_block_count(const source *s, const t5pt_config *c, const char *cfg_path) {
    size_t tensors = 0, blocks = (size_t)c->num_layers + (size_t)c->num_decoder_layers;
    for (int k = 0; k < s->nfiles; k++) tensors += (size_t)t5pt_st_count(s->files[k]);
    if (blocks > tensors)
        return t5pt_set_error(T5PT_ERR_SHAPE,
                              "%s: num_layers + num_decoder_layers = %zu blocks, but %s holds only %zu tensors: "
                              "config.json does not belong to these weights",
                              cfg_path, blocks, s->where, tensors);
    return T5PT_OK;
}

/* A matrix keeps a BF16 or F16 checkpoint's precision; everything else is fp32. */
static t5pt_wtype stored_type(const wspec *w, const st_tensor *t) {
    if (!w->lin) return T5PT_WF32;
    return t->dtype == ST_BF16 ? T5PT_WBF16 : t->dtype == ST_F16 ? T5PT_WF16 : T5PT_WF32;
}

/* A matrix whose stored bytes can serve as they are: F32, BF16 or F16 at an address
 * aligned to its element size (safetensors guarantees no more than that). */
static const void *usable_in_place(const wspec *w, const st_tensor *t) {
    if (!w->lin || (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16)) return NULL;
    return (uintptr_t)t->data % t5pt_st_dtype_size(t->dtype) == 0 ? t->data : NULL;
}

/* Index of the first NaN or Inf among n values stored as dtype (F32, BF16 or F16: exponent
 * bits all ones), n when all are finite. */
static size_t first_non_finite_stored(const void *data, int dtype, size_t n) {
    if (dtype == ST_F32) return first_non_finite((const float *)data, n);
    const uint16_t exp_mask = dtype == ST_BF16 ? 0x7f80u : 0x7c00u;
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        uint16_t u;
        memcpy(&u, p + 2 * i, sizeof u);
        if ((u & exp_mask) == exp_mask) return i;
    }
    return n;
}

/* Whether stored value i (F32, BF16 or F16) is a NaN (else an infinity). */
static int stored_is_nan(const void *data, int dtype, size_t i) {
    if (dtype == ST_F32) {
        float v;
        memcpy(&v, (const unsigned char *)data + 4 * i, sizeof v);
        return isnan(v);
    }
    uint16_t u;
    memcpy(&u, (const unsigned char *)data + 2 * i, sizeof u);
    return (u & (dtype == ST_BF16 ? 0x007fu : 0x03ffu)) != 0;
}

static t5pt_status refuse_non_finite(const st_file *f, const st_tensor *t, size_t index, int nan) {
    return t5pt_set_error(T5PT_ERR_FORMAT, "%s: tensor \"%s\" holds %s at index %zu: the weights are damaged",
                          t5pt_st_path(f), t->name, nan ? "NaN" : "an infinite value", index);
}

/* A NaN or Inf weight would not stop anything later: every output would quietly be garbage
 * (empty generations, chance accuracy). So the values are refused at load: stored bytes used
 * as they are (in place or copied) are scanned as stored. */
static t5pt_status check_stored_finite(const st_file *f, const st_tensor *t, const void *data) {
    size_t bad = first_non_finite_stored(data, t->dtype, t->numel);
    return bad < t->numel ? refuse_non_finite(f, t, bad, stored_is_nan(data, t->dtype, bad)) : T5PT_OK;
}

/* Copies tensor t into its slice: the stored bytes as they are, or converted to fp32 chunk by
 * chunk, each chunk scanned right after its conversion, while still in cache. */
static t5pt_status read_tensor(const st_file *f, const st_tensor *t, const wspec *w, unsigned char *dst) {
    if (w->type != T5PT_WF32 || t->dtype == ST_F32) {
        memcpy(dst, t->data, t->nbytes);
        return check_stored_finite(f, t, dst);
    }
    float *out = (float *)dst;
    t5pt_status st;
    for (size_t i = 0; i < t->numel; i += SCAN_CHUNK) {
        size_t n = t->numel - i < SCAN_CHUNK ? t->numel - i : SCAN_CHUNK;
        if ((st = t5pt_st_read_f32_range(f, t, i, n, out + i))) return st;
        size_t bad = first_non_finite(out + i, n);
        if (bad < n) return refuse_non_finite(f, t, i + bad, isnan(out[i + bad]));
    }
    return T5PT_OK;
}

t5pt_status t5pt_model_load(t5pt_model **out, const char *dir) {
    *out = NULL;
    if (!t5pt_is_dir(dir)) return t5pt_set_error(T5PT_ERR_IO, "%s: not a model directory", dir);
    char *cfg_path = t5pt_path_join(dir, "config.json");
    char *single = t5pt_path_join(dir, "model.safetensors");
    char *index = t5pt_path_join(dir, "model.safetensors.index.json");
    source src = {0};
    t5pt_model *m = NULL;
    layout L = {0};
    struct {
        const st_file *f;
        const st_tensor *t;
    } *found = NULL;
    t5pt_status st;
    if (!cfg_path || !single || !index) {
        st = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    t5pt_config cfg;
    if ((st = t5pt_config_load(&cfg, cfg_path))) goto done;
    if (t5pt_file_exists(single)) {
        src.where = single;
        src.files = calloc(1, sizeof *src.files);
        if (!src.files) {
            st = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", dir);
            goto done;
        }
        if ((st = t5pt_st_open(&src.files[0], single))) goto done;
        src.nfiles = 1;
    } else if (t5pt_file_exists(index)) {
        src.where = index;
        if ((st = source_open_index(&src, dir, index))) goto done;
    } else {
        st = t5pt_set_error(T5PT_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json (only safetensors "
                                         "checkpoints are supported)",
                            dir);
        goto done;
    }
    if ((st = check_block_count(&src, &cfg, cfg_path))) goto done;
    if ((st = build_layout(&cfg, &m, &L))) goto done;
    /* every tensor found and checked, and its precision known, before the arena is sized */
    found = calloc((size_t)L.n, sizeof *found);
    if (!found) {
        st = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    for (int i = 0; i < L.n; i++) {
        if ((st = find_tensor(&src, &L.s[i], cfg_path, &found[i].f, &found[i].t))) goto done;
        L.s[i].type = stored_type(&L.s[i], found[i].t);
        L.s[i].in_place = usable_in_place(&L.s[i], found[i].t);
    }
    if ((st = place_layout(m, &L))) goto done;
    for (int i = 0; i < L.n; i++) {
        st = L.s[i].in_place ? check_stored_finite(found[i].f, found[i].t, L.s[i].in_place)
                             : read_tensor(found[i].f, found[i].t, &L.s[i], m->arena + L.s[i].off);
        if (st) goto done;
    }
    /* the model now owns the read-only mappings its matrices live in */
    m->maps = src.files;
    m->nmaps = src.nfiles;
    src.files = NULL;
done:
    free(found);
    source_close(&src);
    free(L.s);
    free(cfg_path);
    free(single);
    free(index);
    if (st) {
        t5pt_model_free(m);
        return st;
    }
    *out = m;
    return T5PT_OK;
}
