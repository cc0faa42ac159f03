/* test_model_load.c — config.json parsing and loading Hugging Face T5 checkpoints (src/model/model.c).
 *
 * Checkpoints are written at test time (mkdtemp) with st_writer from a small random
 * model, under the tensor names transformers' T5ForConditionalGeneration uses; the
 * names are spelled out here independently of src/model/model.c. Bad files are made by
 * patching a valid one. Real configs come from tests/data/configs (see its README);
 * golden/cases/x/model are the PyTorch exporter's Hugging Face directories.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/internal.h"
#include "io/json.h"
#include "model/model.h"
#include "io/safetensors.h"
#include "file_util.h"
#include "golden_util.h"

/* ---------------------------------------------------------------- temp dir */

static void setup(void) { ck_assert_ptr_nonnull(test_tmpdir_create("test_model")); }

static void teardown(void) { test_tmpdir_remove(); }

/* Asserts status and that the last error contains every non-NULL needle. */
static void expect_error(t5pt_status got, t5pt_status want, const char *n1, const char *n2, const char *n3) {
    const char *msg = t5pt_last_error();
    ck_assert_msg(got == want, "status %d (%s), want %d: %s", got, t5pt_status_name(got), want, msg);
    const char *n[3] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        if (n[i]) ck_assert_msg(strstr(msg, n[i]) != NULL, "message \"%s\" lacks \"%s\"", msg, n[i]);
    ck_assert_msg(strchr(msg, '\n') == NULL, "message is not one line: %s", msg);
}

/* ---------------------------------------------------------------- configs */

static t5pt_config small_config(int gated, int tied) {
    t5pt_config c = {.vocab_size = 40,
                     .d_model = 16,
                     .d_kv = 4,
                     .d_ff = 24,
                     .num_layers = 2,
                     .num_decoder_layers = 3,
                     .num_heads = 3, /* inner 12 != d_model 16 */
                     .rel_num_buckets = 8,
                     .rel_max_distance = 20,
                     .layer_norm_epsilon = 1e-6f,
                     .gated_gelu = gated,
                     .tie_word_embeddings = tied,
                     .decoder_start_token_id = 0,
                     .pad_token_id = 0,
                     .eos_token_id = 1};
    return c;
}

/* config.json as transformers writes it (extra: more members appended verbatim, may be ""). */
static void write_config(const char *dir, const t5pt_config *c, const char *extra) {
    json_writer w = {0};
    t5pt_jw_printf(&w,
              "{\n  \"architectures\": [\"T5ForConditionalGeneration\"],\n  \"d_ff\": %d,\n  \"d_kv\": %d,\n"
              "  \"d_model\": %d,\n  \"decoder_start_token_id\": %d,\n  \"dense_act_fn\": \"%s\",\n"
              "  \"eos_token_id\": %d,\n  \"feed_forward_proj\": \"%s\",\n  \"is_gated_act\": %s,\n"
              "  \"layer_norm_epsilon\": %g,\n  \"model_type\": \"t5\",\n  \"num_decoder_layers\": %d,\n"
              "  \"num_heads\": %d,\n  \"num_layers\": %d,\n  \"pad_token_id\": %d,\n"
              "  \"relative_attention_max_distance\": %d,\n  \"relative_attention_num_buckets\": %d,\n"
              "  \"tie_word_embeddings\": %s,\n  \"vocab_size\": %d%s\n}\n",
              c->d_ff, c->d_kv, c->d_model, c->decoder_start_token_id, c->gated_gelu ? "gelu_new" : "relu",
              c->eos_token_id, c->gated_gelu ? "gated-gelu" : "relu", c->gated_gelu ? "true" : "false",
              (double)c->layer_norm_epsilon, c->num_decoder_layers, c->num_heads, c->num_layers, c->pad_token_id,
              c->rel_max_distance, c->rel_num_buckets, c->tie_word_embeddings ? "true" : "false", c->vocab_size,
              extra ? extra : "");
    ck_assert(!w.oom);
    char *p = t5pt_path_join(dir, "config.json");
    test_write_text(p, w.buf);
    free(p);
    t5pt_jw_free(&w);
}

/* ---------------------------------------------------------------- HF tensor names */

typedef struct {
    char name[112];
    const float *p;
    float *owned;          /* p widened from a bf16/f16 matrix (freed by release_named) */
    int64_t shape[2];
    int ndim;
} named;

static int nnamed;
static named tensors[512];

static void put(const char *name, const float *p, int64_t r, int64_t c) {
    named *t = &tensors[nnamed++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->p = p;
    t->owned = NULL;
    t->shape[0] = r;
    t->shape[1] = c;
    t->ndim = c ? 2 : 1;
}

/* A matrix in its stored precision, seen as fp32 (widened into a buffer of its own). */
static void put_lin(const char *name, const t5pt_linear *l) {
    if (l->type == T5PT_WF32) {
        put(name, l->W, l->N, l->K);
        return;
    }
    float *w = malloc((size_t)l->N * l->K * sizeof *w);
    ck_assert_ptr_nonnull(w);
    t5pt_widen(w, l->W, l->type, (size_t)l->N * l->K);
    put(name, w, l->N, l->K);
    tensors[nnamed - 1].owned = w;
}

/* Frees the widened copies of the last collect(). */
static void release_named(void) {
    for (int i = 0; i < nnamed; i++) {
        free(tensors[i].owned);
        tensors[i].owned = NULL;
    }
}

static void put_attn(const char *prefix, const t5pt_attention_weights *a) {
    char n[112];
    snprintf(n, sizeof n, "%s.q.weight", prefix);
    put_lin(n, &a->q);
    snprintf(n, sizeof n, "%s.k.weight", prefix);
    put_lin(n, &a->k);
    snprintf(n, sizeof n, "%s.v.weight", prefix);
    put_lin(n, &a->v);
    snprintf(n, sizeof n, "%s.o.weight", prefix);
    put_lin(n, &a->o);
}

static void put_ffn(const char *prefix, const t5pt_block_weights *b, const t5pt_config *c) {
    char n[112];
    if (c->gated_gelu) {
        snprintf(n, sizeof n, "%s.DenseReluDense.wi_0.weight", prefix);
        put_lin(n, &b->wi_0);
        snprintf(n, sizeof n, "%s.DenseReluDense.wi_1.weight", prefix);
        put_lin(n, &b->wi_1);
    } else {
        snprintf(n, sizeof n, "%s.DenseReluDense.wi.weight", prefix);
        put_lin(n, &b->wi);
    }
    snprintf(n, sizeof n, "%s.DenseReluDense.wo.weight", prefix);
    put_lin(n, &b->wo);
    snprintf(n, sizeof n, "%s.layer_norm.weight", prefix);
    put(n, b->ln_ff, c->d_model, 0);
}

/* Every tensor of m under its Hugging Face name (shared.weight for the embedding). */
static void collect(const t5pt_model *m) {
    const t5pt_config *c = &m->cfg;
    char n[112];
    nnamed = 0;
    put_lin("shared.weight", &m->emb);
    if (!c->tie_word_embeddings) put_lin("lm_head.weight", &m->lm_head);
    for (int i = 0; i < c->num_layers; i++) {
        const t5pt_block_weights *b = &m->enc[i];
        snprintf(n, sizeof n, "encoder.block.%d.layer.0.layer_norm.weight", i);
        put(n, b->ln_self, c->d_model, 0);
        snprintf(n, sizeof n, "encoder.block.%d.layer.0.SelfAttention", i);
        put_attn(n, &b->self);
        snprintf(n, sizeof n, "encoder.block.%d.layer.1", i);
        put_ffn(n, b, c);
    }
    put("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", m->enc_rel_bias, c->rel_num_buckets,
        c->num_heads);
    put("encoder.final_layer_norm.weight", m->enc_final_ln, c->d_model, 0);
    for (int i = 0; i < c->num_decoder_layers; i++) {
        const t5pt_block_weights *b = &m->dec[i];
        snprintf(n, sizeof n, "decoder.block.%d.layer.0.layer_norm.weight", i);
        put(n, b->ln_self, c->d_model, 0);
        snprintf(n, sizeof n, "decoder.block.%d.layer.0.SelfAttention", i);
        put_attn(n, &b->self);
        snprintf(n, sizeof n, "decoder.block.%d.layer.1.layer_norm.weight", i);
        put(n, b->ln_cross, c->d_model, 0);
        snprintf(n, sizeof n, "decoder.block.%d.layer.1.EncDecAttention", i);
        put_attn(n, &b->cross);
        snprintf(n, sizeof n, "decoder.block.%d.layer.2", i);
        put_ffn(n, b, c);
    }
    put("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", m->dec_rel_bias, c->rel_num_buckets,
        c->num_heads);
    put("decoder.final_layer_norm.weight", m->dec_final_ln, c->d_model, 0);
}

static size_t numel(const named *t) { return (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1); }

/* f32 -> 16-bit encodings (bf16 by truncation; f16 round-to-nearest for |x| < 65504) and back. */
static uint16_t to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return (uint16_t)(u >> 16);
}
/* bf16 value of x (truncation, as to_bf16 stores it). noinline on purpose: gcc 12.2 at -O2,
 * once this is inlined into the comparison loop, drops the masking (the shift form
 * "(uint16_t)(u >> 16)" then "<< 16" through memcpy is folded to the identity the same way). */
__attribute__((noinline)) static float bf16_round_trip(float x) {
    union {
        float f;
        uint32_t u;
    } a;
    a.f = x;
    a.u &= 0xffff0000u;
    return a.f;
}
static uint16_t to_f16(float x) {
    uint16_t s = signbit(x) ? 0x8000 : 0;
    double a = fabs((double)x);
    if (a < 0x1p-14) return (uint16_t)(s | (uint16_t)lround(a * 0x1p24)); /* subnormal (1024 rolls into e=1) */
    int e;
    double fr = frexp(a, &e); /* a = fr * 2^e, fr in [0.5, 1) */
    long mant = lround(fr * 2048.0); /* 1024..2048 */
    if (mant == 2048) {
        mant = 1024;
        e++;
    }
    return (uint16_t)(s | (uint16_t)((e + 14) << 10) | (uint16_t)(mant - 1024));
}
static float from_f16(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
    return (float)((h & 0x8000) ? -v : v);
}

typedef struct {
    st_dtype dtype;        /* F32, BF16 or F16 */
    const char *emb_name;  /* name to store the embedding under (NULL: shared.weight) */
    const char *skip;      /* a tensor name to leave out */
    int shards;            /* 0: model.safetensors; 2: two shards + index */
} save_opts;

/* Adds tensor t (converted to dtype) to w. */
static void add_tensor(st_writer *w, const char *name, const named *t, st_dtype dtype) {
    size_t n = numel(t);
    if (dtype == ST_F32) {
        ck_assert_int_eq(t5pt_st_writer_add(w, name, ST_F32, t->ndim, t->shape, t->p), T5PT_OK);
        return;
    }
    uint16_t *h = malloc(2 * n + 2);
    for (size_t i = 0; i < n; i++) h[i] = dtype == ST_BF16 ? to_bf16(t->p[i]) : to_f16(t->p[i]);
    ck_assert_int_eq(t5pt_st_writer_add(w, name, dtype, t->ndim, t->shape, h), T5PT_OK);
    free(h);
}

/* Writes config.json + weights of m into dir, as transformers' save_pretrained lays them out. */
static void save_model(const t5pt_model *m, const char *dir, const save_opts *o) {
    write_config(dir, &m->cfg, "");
    collect(m);
    st_writer *w[2] = {t5pt_st_writer_new(), t5pt_st_writer_new()};
    int ns = o->shards ? 2 : 1;
    json_writer idx = {0};
    t5pt_jw_raw(&idx, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    int first = 1;
    for (int i = 0; i < nnamed; i++) {
        const char *name = tensors[i].name;
        if (o->skip && strcmp(o->skip, name) == 0) continue;
        if (i == 0 && o->emb_name) name = o->emb_name;
        int s = i % ns;
        add_tensor(w[s], name, &tensors[i], o->dtype);
        if (o->shards) {
            t5pt_jw_printf(&idx, "%s\n  \"%s\": \"model-0000%d-of-00002.safetensors\"", first ? "" : ",", name, s + 1);
            first = 0;
        }
    }
    t5pt_jw_raw(&idx, "\n}}\n");
    char *p;
    if (!o->shards) {
        p = t5pt_path_join(dir, "model.safetensors");
        ck_assert_int_eq(t5pt_st_writer_save(w[0], p, "{\"format\":\"pt\"}"), T5PT_OK);
        free(p);
    } else {
        for (int s = 0; s < 2; s++) {
            char fn[64];
            snprintf(fn, sizeof fn, "model-0000%d-of-00002.safetensors", s + 1);
            p = t5pt_path_join(dir, fn);
            ck_assert_int_eq(t5pt_st_writer_save(w[s], p, "{\"format\":\"pt\"}"), T5PT_OK);
            free(p);
        }
        p = t5pt_path_join(dir, "model.safetensors.index.json");
        test_write_text(p, idx.buf);
        free(p);
    }
    t5pt_jw_free(&idx);
    t5pt_st_writer_free(w[0]);
    t5pt_st_writer_free(w[1]);
}

/* Every weight of `got` equals `want` after the 16-bit round trip of dtype. */
static void assert_same_weights(const t5pt_model *want, const t5pt_model *got, st_dtype dtype) {
    ck_assert_int_eq(memcmp(&want->cfg, &got->cfg, sizeof want->cfg), 0);
    collect(want);
    static named w[512];
    int n = nnamed;
    memcpy(w, tensors, sizeof(named) * (size_t)n);
    collect(got);
    ck_assert_int_eq(nnamed, n);
    for (int i = 0; i < n; i++) {
        ck_assert_str_eq(w[i].name, tensors[i].name);
        ck_assert_ptr_nonnull(tensors[i].p);
        size_t k = numel(&w[i]);
        for (size_t j = 0; j < k; j++) {
            float e = w[i].p[j];
            if (dtype == ST_BF16) e = bf16_round_trip(e);
            if (dtype == ST_F16) e = from_f16(to_f16(e));
            ck_assert_msg(tensors[i].p[j] == e, "%s[%zu]: %g != %g (dtype %d)", w[i].name, j, (double)tensors[i].p[j], (double)e, (int)dtype);
        }
    }
    release_named();
    ck_assert_uint_eq(t5pt_model_num_params(got), t5pt_model_num_params(want));
}

/* ---------------------------------------------------------------- real configs */

START_TEST(test_config_t5_small) {
    t5pt_config c;
    ck_assert_int_eq(t5pt_config_load(&c, "tests/data/configs/t5-small.config.json"), T5PT_OK);
    ck_assert_int_eq(c.vocab_size, 32128);
    ck_assert_int_eq(c.d_model, 512);
    ck_assert_int_eq(c.d_kv, 64);
    ck_assert_int_eq(c.d_ff, 2048);
    ck_assert_int_eq(c.num_layers, 6);
    ck_assert_int_eq(c.num_decoder_layers, 6);
    ck_assert_int_eq(c.num_heads, 8);
    ck_assert_int_eq(c.rel_num_buckets, 32);
    ck_assert_int_eq(c.rel_max_distance, 128);
    ck_assert(c.layer_norm_epsilon == 1e-6f);
    ck_assert_int_eq(c.gated_gelu, 0);
    ck_assert_int_eq(c.tie_word_embeddings, 1); /* absent from the file: HF default true */
    ck_assert_int_eq(c.decoder_start_token_id, 0);
    ck_assert_int_eq(c.pad_token_id, 0);
    ck_assert_int_eq(c.eos_token_id, 1);
    /* transformers' T5ForConditionalGeneration(t5-small).num_parameters() */
    ck_assert_uint_eq(t5pt_config_num_params(&c), 60506624);
}
END_TEST

START_TEST(test_config_flan_t5_small) {
    t5pt_config c;
    ck_assert_int_eq(t5pt_config_load(&c, "tests/data/configs/flan-t5-small.config.json"), T5PT_OK);
    ck_assert_int_eq(c.vocab_size, 32128);
    ck_assert_int_eq(c.d_model, 512);
    ck_assert_int_eq(c.d_kv, 64);
    ck_assert_int_eq(c.d_ff, 1024);
    ck_assert_int_eq(c.num_layers, 8);
    ck_assert_int_eq(c.num_decoder_layers, 8);
    ck_assert_int_eq(c.num_heads, 6); /* 6 * 64 = 384 != d_model */
    ck_assert_int_eq(c.rel_num_buckets, 32);
    ck_assert_int_eq(c.rel_max_distance, 128);
    ck_assert_int_eq(c.gated_gelu, 1);
    ck_assert_int_eq(c.tie_word_embeddings, 0);
    ck_assert_int_eq(c.decoder_start_token_id, 0);
    ck_assert_int_eq(c.eos_token_id, 1);
    /* transformers' num_parameters() for google/flan-t5-small */
    ck_assert_uint_eq(t5pt_config_num_params(&c), 76961152);
}
END_TEST

START_TEST(test_config_t5_v1_1_small) {
    t5pt_config c;
    ck_assert_int_eq(t5pt_config_load(&c, "tests/data/configs/t5-v1_1-small.config.TRANSCRIBED.json"), T5PT_OK);
    ck_assert_int_eq(c.d_model, 512);
    ck_assert_int_eq(c.d_ff, 1024);
    ck_assert_int_eq(c.num_layers, 8);
    ck_assert_int_eq(c.num_decoder_layers, 8);
    ck_assert_int_eq(c.num_heads, 6);
    ck_assert_int_eq(c.rel_num_buckets, 32);
    ck_assert_int_eq(c.rel_max_distance, 128); /* absent: HF default */
    ck_assert_int_eq(c.gated_gelu, 1);         /* no dense_act_fn / is_gated_act in this older file */
    ck_assert_int_eq(c.tie_word_embeddings, 0);
    ck_assert_int_eq(c.vocab_size, 32128);
}
END_TEST

START_TEST(test_config_t5_base_lm_adapt) {
    t5pt_config c;
    ck_assert_int_eq(t5pt_config_load(&c, "tests/data/configs/t5-base-lm-adapt.config.TRANSCRIBED.json"), T5PT_OK);
    ck_assert_int_eq(c.d_model, 768);
    ck_assert_int_eq(c.d_ff, 2048);
    ck_assert_int_eq(c.d_kv, 64);
    ck_assert_int_eq(c.num_layers, 12);
    ck_assert_int_eq(c.num_decoder_layers, 12);
    ck_assert_int_eq(c.num_heads, 12);
    ck_assert_int_eq(c.gated_gelu, 1);
    ck_assert_int_eq(c.tie_word_embeddings, 0);
    ck_assert(c.layer_norm_epsilon == 1e-6f);
}
END_TEST

/* ---------------------------------------------------------------- config parsing rules */

static t5pt_status load_config_text(const char *text, t5pt_config *c) {
    test_write_text(test_tmp("config.json"), text);
    return t5pt_config_load(c, test_tmp("config.json"));
}

START_TEST(test_config_defaults) {
    t5pt_config c;
    ck_assert_int_eq(load_config_text("{}", &c), T5PT_OK);
    /* T5Config() defaults */
    ck_assert_int_eq(c.vocab_size, 32128);
    ck_assert_int_eq(c.d_model, 512);
    ck_assert_int_eq(c.d_kv, 64);
    ck_assert_int_eq(c.d_ff, 2048);
    ck_assert_int_eq(c.num_layers, 6);
    ck_assert_int_eq(c.num_decoder_layers, 6);
    ck_assert_int_eq(c.num_heads, 8);
    ck_assert_int_eq(c.rel_num_buckets, 32);
    ck_assert_int_eq(c.rel_max_distance, 128);
    ck_assert(c.layer_norm_epsilon == 1e-6f);
    ck_assert_int_eq(c.gated_gelu, 0);
    ck_assert_int_eq(c.tie_word_embeddings, 1);
    ck_assert_int_eq(c.decoder_start_token_id, 0);
    ck_assert_int_eq(c.pad_token_id, 0);
    ck_assert_int_eq(c.eos_token_id, 1);
    /* num_decoder_layers null -> num_layers; decoder start falls back to pad */
    ck_assert_int_eq(load_config_text("{\"num_layers\": 3, \"num_decoder_layers\": null, \"pad_token_id\": 5,"
                                      " \"layer_norm_epsilon\": 1e-05}",
                                      &c),
                     T5PT_OK);
    ck_assert_int_eq(c.num_decoder_layers, 3);
    ck_assert_int_eq(c.decoder_start_token_id, 5);
    ck_assert(c.layer_norm_epsilon == 1e-5f);
    ck_assert_int_eq(load_config_text("{\"model_type\": \"mt5\", \"feed_forward_proj\": \"gated-gelu\","
                                      " \"dense_act_fn\": \"gelu_pytorch_tanh\"}",
                                      &c),
                     T5PT_OK);
    ck_assert_int_eq(c.gated_gelu, 1);
}
END_TEST

START_TEST(test_config_unknown_ffp) {
    t5pt_config c;
    const char *bad[] = {"gated-silu", "foo", "gelu", "gated-relu"};
    for (int i = 0; i < 4; i++) {
        char text[128], want[96];
        snprintf(text, sizeof text, "{\"feed_forward_proj\": \"%s\"}", bad[i]);
        snprintf(want, sizeof want, "feed_forward_proj \"%s\" is not supported", bad[i]);
        expect_error(load_config_text(text, &c), T5PT_ERR_CONFIG, test_tmp("config.json"), want,
                     "only \"relu\" and \"gated-gelu\"");
    }
    expect_error(load_config_text("{\"feed_forward_proj\": 3}", &c), T5PT_ERR_CONFIG, test_tmp("config.json"),
                 "\"feed_forward_proj\" must be a string", NULL);
}
END_TEST

START_TEST(test_config_inconsistent_act) {
    t5pt_config c;
    expect_error(load_config_text("{\"feed_forward_proj\": \"gated-gelu\", \"dense_act_fn\": \"relu\"}", &c),
                 T5PT_ERR_CONFIG, test_tmp("config.json"), "dense_act_fn \"relu\" contradicts feed_forward_proj \"gated-gelu\"",
                 NULL);
    expect_error(load_config_text("{\"feed_forward_proj\": \"relu\", \"is_gated_act\": true}", &c), T5PT_ERR_CONFIG,
                 test_tmp("config.json"), "is_gated_act true contradicts feed_forward_proj \"relu\"", NULL);
}
END_TEST

START_TEST(test_config_bad_values) {
    t5pt_config c;
    const char *p = test_tmp("config.json");
    expect_error(load_config_text("{\"d_model\": \"512\"}", &c), T5PT_ERR_CONFIG, p, "\"d_model\" must be an integer",
                 NULL);
    expect_error(load_config_text("{\"d_model\": 512.5}", &c), T5PT_ERR_CONFIG, p, "\"d_model\" must be an integer",
                 NULL);
    expect_error(load_config_text("{\"num_heads\": 0}", &c), T5PT_ERR_CONFIG, p, "num_heads = 0 is out of range", NULL);
    expect_error(load_config_text("{\"relative_attention_num_buckets\": 7}", &c), T5PT_ERR_CONFIG, p,
                 "relative_attention_num_buckets = 7 must be even", NULL);
    expect_error(load_config_text("{\"relative_attention_num_buckets\": 32, \"relative_attention_max_distance\": 16}",
                                  &c),
                 T5PT_ERR_CONFIG, p, "relative_attention_max_distance = 16 must exceed", NULL);
    expect_error(load_config_text("{\"layer_norm_epsilon\": 0}", &c), T5PT_ERR_CONFIG, p, "layer_norm_epsilon", NULL);
    expect_error(load_config_text("{\"vocab_size\": 10, \"eos_token_id\": 10}", &c), T5PT_ERR_CONFIG, p,
                 "eos_token_id = 10 is outside the vocabulary", NULL);
    expect_error(load_config_text("{\"tie_word_embeddings\": 1}", &c), T5PT_ERR_CONFIG, p,
                 "\"tie_word_embeddings\" must be true or false", NULL);
    expect_error(load_config_text("{\"model_type\": \"bart\"}", &c), T5PT_ERR_CONFIG, p,
                 "model_type \"bart\" is not supported", NULL);
    expect_error(load_config_text("[1]", &c), T5PT_ERR_CONFIG, p, "not a JSON object", NULL);
    expect_error(load_config_text("{\"d_model\": 512,}", &c), T5PT_ERR_CONFIG, p, "not valid JSON: line 1 col 17",
                 NULL);
    expect_error(t5pt_config_load(&c, test_tmp("absent.json")), T5PT_ERR_IO, test_tmp("absent.json"), "cannot open", NULL);
    /* every dim in range, but 4.6e18 weights: the size_t layout used to wrap around to a
     * 256-byte arena and write past it (tests/fuzz/corpus/config/wrap-layout-4.6e18-weights) */
    expect_error(load_config_text("{\"vocab_size\": 4844751, \"d_model\": 16777215, \"d_kv\": 16777215, \"num_heads\": 1, "
                                  "\"d_ff\": 13151963, \"num_layers\": 566, \"num_decoder_layers\": 1383}",
                                  &c),
                 T5PT_ERR_CONFIG, test_tmp("config.json"), "a model of 4.61e+18 weights, more than this build can hold",
                 NULL);
    t5pt_config big = small_config(1, 0);
    big.d_model = big.d_ff = big.vocab_size = 1 << 24;
    ck_assert_int_eq(t5pt_config_validate(&big, "big"), T5PT_ERR_CONFIG);
    big.d_model = 1 << 16; /* 2.2e12 weights (untied 2^24 x 2^16 embeddings): refused, 2^40 is the limit */
    ck_assert_int_eq(t5pt_config_validate(&big, "big"), T5PT_ERR_CONFIG);
    big.vocab_size = 32128;
    big.d_ff = 4096; /* 8.3e9: accepted (the layout math is exact; allocating it is another matter) */
    ck_assert_int_eq(t5pt_config_validate(&big, "big"), T5PT_OK);
    ck_assert_uint_eq(t5pt_config_num_params(&big), 8263761968ull);
}
END_TEST

/* ---------------------------------------------------------------- random models */

START_TEST(test_init_random) {
    t5pt_config c = small_config(1, 0);
    t5pt_model *a, *b, *d;
    ck_assert_int_eq(t5pt_model_init_random(&a, &c, 7), T5PT_OK);
    ck_assert_int_eq(t5pt_model_init_random(&b, &c, 7), T5PT_OK);
    ck_assert_int_eq(t5pt_model_init_random(&d, &c, 8), T5PT_OK);
    ck_assert_uint_eq(t5pt_model_num_params(a), t5pt_config_num_params(&c));
    ck_assert_int_eq(memcmp(a->arena, b->arena, a->arena_bytes), 0);
    ck_assert_int_ne(memcmp(a->arena, d->arena, a->arena_bytes), 0);
    const t5pt_config *mc = t5pt_model_config(a);
    ck_assert_int_eq(mc->d_model, 16);
    /* norms start at 1; every linear is its slice of the arena (nothing packed beside it),
     * 64-byte aligned */
    for (int i = 0; i < c.d_model; i++) ck_assert(a->enc[1].ln_ff[i] == 1.0f && a->dec_final_ln[i] == 1.0f);
    ck_assert((const unsigned char *)a->dec[2].cross.v.W > a->arena &&
              (const unsigned char *)a->dec[2].cross.v.W < a->arena + a->arena_bytes);
    ck_assert_int_eq(a->dec[2].cross.v.type, T5PT_WF32);
    ck_assert_int_eq(a->dec[2].cross.v.N, 12);
    ck_assert_int_eq(a->dec[2].cross.v.K, 16);
    ck_assert_ptr_null(a->enc[0].wi.W); /* gated: no plain wi */
    ck_assert_uint_eq((uintptr_t)a->enc[1].wi_1.W % 64, 0);
    ck_assert_uint_eq((uintptr_t)a->dec_rel_bias % 64, 0);
    /* embeddings ~ N(0, 1): a loose sanity check of the scale over 640 numbers */
    double ss = 0;
    const float *emb = a->emb.W;
    for (int i = 0; i < c.vocab_size * c.d_model; i++) ss += (double)emb[i] * emb[i];
    double sd = sqrt(ss / (c.vocab_size * c.d_model));
    ck_assert_msg(sd > 0.85 && sd < 1.15, "embedding std %g", sd);
    /* t5pt_model_embedding bounds */
    float row[16];
    ck_assert_int_eq(t5pt_model_embedding(a, 0, row), T5PT_OK);
    ck_assert(memcmp(row, emb, sizeof row) == 0);
    ck_assert_int_eq(t5pt_model_embedding(a, 39, row), T5PT_OK);
    ck_assert(memcmp(row, emb + 39 * 16, sizeof row) == 0);
    ck_assert_int_eq(t5pt_model_embedding(a, 40, row), T5PT_ERR_ARG);
    ck_assert_int_eq(t5pt_model_embedding(a, -1, row), T5PT_ERR_ARG);
    t5pt_model_free(a);
    t5pt_model_free(b);
    t5pt_model_free(d);
    t5pt_model_free(NULL);

    t5pt_config tied = small_config(0, 1);
    ck_assert_int_eq(t5pt_model_init_random(&a, &tied, 1), T5PT_OK);
    ck_assert_ptr_eq(a->lm_head.W, a->emb.W);
    ck_assert_int_eq(a->lm_head.N, 40);
    ck_assert_int_eq(a->lm_head.K, 16);
    ck_assert_ptr_nonnull(a->enc[0].wi.W);
    ck_assert_ptr_null(a->enc[0].wi_0.W);
    ck_assert_ptr_null(a->enc[0].cross.q.W); /* encoder blocks have no cross-attention */
    ck_assert_ptr_null(a->enc[0].ln_cross);
    ck_assert_uint_eq(t5pt_model_num_params(a), t5pt_config_num_params(&tied));
    t5pt_model_free(a);

    t5pt_config bad = small_config(0, 1);
    bad.num_heads = 0;
    ck_assert_int_eq(t5pt_model_init_random(&a, &bad, 1), T5PT_ERR_CONFIG);
    ck_assert_ptr_null(a);
}
END_TEST

/* ---------------------------------------------------------------- loading: valid checkpoints */

static void roundtrip(int gated, int tied, st_dtype dtype, int shards) {
    t5pt_config c = small_config(gated, tied);
    t5pt_model *m, *l;
    ck_assert_int_eq(t5pt_model_init_random(&m, &c, 42), T5PT_OK);
    save_opts o = {.dtype = dtype, .shards = shards};
    save_model(m, test_tmpdir(), &o);
    t5pt_status st = t5pt_model_load(&l, test_tmpdir());
    ck_assert_msg(st == T5PT_OK, "%s", t5pt_last_error());
    assert_same_weights(m, l, dtype);
    if (tied) ck_assert_ptr_eq(l->lm_head.W, l->emb.W);
    ck_assert_ptr_nonnull(l->lm_head.W);
    ck_assert_ptr_nonnull(l->enc[0].self.q.W);
    t5pt_model_free(m);
    t5pt_model_free(l);
}

START_TEST(test_load_relu_tied_f32) { roundtrip(0, 1, ST_F32, 0); }
END_TEST
START_TEST(test_load_gated_untied_f32) { roundtrip(1, 0, ST_F32, 0); }
END_TEST
START_TEST(test_load_bf16) { roundtrip(1, 0, ST_BF16, 0); }
END_TEST
START_TEST(test_load_f16) { roundtrip(0, 1, ST_F16, 0); }
END_TEST

/* A bf16 / f16 checkpoint is held in its own precision, not widened into a second copy:
 * its resident weight bytes are about half those of the same model in f32 (the fp32
 * vectors and the 64-byte alignment of each tensor add a little). The products still
 * match the f32 model's up to the rounding of the weights (test_forward's bf16/f16 cases
 * check the values against PyTorch). */
START_TEST(test_half_precision_resident_half) {
    t5pt_config c = small_config(1, 0);
    c.vocab_size = 512, c.d_model = 128, c.d_ff = 256, c.num_heads = 4, c.d_kv = 32;
    t5pt_model *m, *l[3];
    ck_assert_int_eq(t5pt_model_init_random(&m, &c, 5), T5PT_OK);
    const st_dtype dt[3] = {ST_F32, ST_BF16, ST_F16};
    for (int k = 0; k < 3; k++) {
        save_opts o = {.dtype = dt[k]};
        save_model(m, test_tmpdir(), &o);
        ck_assert_msg(t5pt_model_load(&l[k], test_tmpdir()) == T5PT_OK, "%s", t5pt_last_error());
    }
    double f32 = (double)t5pt_model_weight_bytes(l[0]);
    /* loaded: the matrices in place in the mapped file; random: all in the arena (padded) */
    ck_assert(f32 <= (double)t5pt_model_weight_bytes(m) && f32 > 0.99 * (double)t5pt_model_weight_bytes(m));
    ck_assert_uint_gt(l[0]->mapped_bytes, 0);
    ck_assert_uint_eq(m->mapped_bytes, 0);
    /* every matrix once: the f32 model's bytes are its parameters' (plus alignment) */
    ck_assert(f32 >= 4.0 * t5pt_model_num_params(m) && f32 < 4.02 * t5pt_model_num_params(m));
    for (int k = 1; k < 3; k++) {
        double r = (double)t5pt_model_weight_bytes(l[k]) / f32;
        ck_assert_msg(r >= 0.5 && r < 0.51, "%s: resident weight bytes %.3f of f32's", t5pt_st_dtype_name(dt[k]), r);
        ck_assert_int_eq(l[k]->enc[1].wi_0.type, k == 1 ? T5PT_WBF16 : T5PT_WF16);
        ck_assert_int_eq(l[k]->lm_head.type, k == 1 ? T5PT_WBF16 : T5PT_WF16);
    }
    for (int k = 0; k < 3; k++) t5pt_model_free(l[k]);
    t5pt_model_free(m);
}
END_TEST
START_TEST(test_load_sharded) { roundtrip(1, 0, ST_F32, 2); }
END_TEST

START_TEST(test_load_embedding_aliases) {
    t5pt_config c = small_config(0, 1);
    t5pt_model *m, *l;
    ck_assert_int_eq(t5pt_model_init_random(&m, &c, 3), T5PT_OK);
    const char *aliases[] = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"};
    for (int i = 0; i < 2; i++) {
        save_opts o = {.dtype = ST_F32, .emb_name = aliases[i]};
        save_model(m, test_tmpdir(), &o);
        ck_assert_msg(t5pt_model_load(&l, test_tmpdir()) == T5PT_OK, "%s", t5pt_last_error());
        assert_same_weights(m, l, ST_F32);
        t5pt_model_free(l);
    }
    /* all three present with different contents: shared.weight wins */
    collect(m);
    st_writer *w = t5pt_st_writer_new();
    for (int i = 0; i < nnamed; i++) add_tensor(w, tensors[i].name, &tensors[i], ST_F32);
    float *other = malloc(sizeof(float) * 640);
    for (int i = 0; i < 640; i++) other[i] = 99.0f;
    int64_t s[2] = {40, 16};
    ck_assert_int_eq(t5pt_st_writer_add(w, "encoder.embed_tokens.weight", ST_F32, 2, s, other), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add(w, "decoder.embed_tokens.weight", ST_F32, 2, s, other), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("model.safetensors"), NULL), T5PT_OK);
    t5pt_st_writer_free(w);
    free(other);
    ck_assert_msg(t5pt_model_load(&l, test_tmpdir()) == T5PT_OK, "%s", t5pt_last_error());
    assert_same_weights(m, l, ST_F32);
    t5pt_model_free(l);
    t5pt_model_free(m);
}
END_TEST

/* Tied config with an lm_head.weight in the file: ignored, as transformers' tie_weights() does. */
START_TEST(test_load_tied_ignores_lm_head) {
    t5pt_config c = small_config(0, 1);
    t5pt_model *m, *l;
    ck_assert_int_eq(t5pt_model_init_random(&m, &c, 5), T5PT_OK);
    write_config(test_tmpdir(), &c, "");
    collect(m);
    st_writer *w = t5pt_st_writer_new();
    for (int i = 0; i < nnamed; i++) add_tensor(w, tensors[i].name, &tensors[i], ST_F32);
    float *head = calloc(640, sizeof(float));
    int64_t s[2] = {40, 16};
    ck_assert_int_eq(t5pt_st_writer_add(w, "lm_head.weight", ST_F32, 2, s, head), T5PT_OK);
    /* unknown tensors and relative biases in blocks > 0 are ignored too */
    ck_assert_int_eq(t5pt_st_writer_add(w, "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight", ST_F32, 2, s, head), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add(w, "something.else", ST_F32, 2, s, head), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("model.safetensors"), NULL), T5PT_OK);
    t5pt_st_writer_free(w);
    free(head);
    ck_assert_msg(t5pt_model_load(&l, test_tmpdir()) == T5PT_OK, "%s", t5pt_last_error());
    assert_same_weights(m, l, ST_F32);
    ck_assert_ptr_eq(l->lm_head.W, l->emb.W);
    t5pt_model_free(l);
    t5pt_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- loading: bad checkpoints */

/* Writes a valid tied relu model into test_tmpdir() and returns its raw model.safetensors bytes. */
static unsigned char *valid_file(size_t *len, uint64_t *hlen) {
    t5pt_config c = small_config(0, 1);
    t5pt_model *m;
    ck_assert_int_eq(t5pt_model_init_random(&m, &c, 11), T5PT_OK);
    save_opts o = {.dtype = ST_F32};
    save_model(m, test_tmpdir(), &o);
    t5pt_model_free(m);
    char *raw;
    ck_assert_int_eq(t5pt_read_file(test_tmp("model.safetensors"), &raw, len), T5PT_OK);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | (unsigned char)raw[i];
    *hlen = n;
    return (unsigned char *)raw;
}

/* Rewrites model.safetensors with header text `hdr` (length recomputed) and the original data buffer. */
static void write_with_header(const unsigned char *raw, size_t len, uint64_t hlen, const char *hdr) {
    size_t hn = strlen(hdr), dn = len - 8 - (size_t)hlen;
    unsigned char *out = malloc(8 + hn + dn);
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)hn >> (8 * i));
    memcpy(out + 8, hdr, hn);
    memcpy(out + 8 + hn, raw + 8 + hlen, dn);
    test_write_file(test_tmp("model.safetensors"), out, 8 + hn + dn);
    free(out);
}

static char *header_copy(const unsigned char *raw, uint64_t hlen) {
    char *h = malloc((size_t)hlen + 64);
    memcpy(h, raw + 8, (size_t)hlen);
    h[hlen] = 0;
    return h;
}

static void expect_load_error(t5pt_status want, const char *n1, const char *n2, const char *n3) {
    t5pt_model *m = (t5pt_model *)0x1;
    expect_error(t5pt_model_load(&m, test_tmpdir()), want, n1, n2, n3);
    ck_assert_ptr_null(m);
}

START_TEST(test_bad_truncated_file) {
    size_t len;
    uint64_t hl;
    unsigned char *raw = valid_file(&len, &hl);
    test_write_file(test_tmp("model.safetensors"), raw, 5);
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors"), "truncated file", NULL);
    free(raw);
}
END_TEST

START_TEST(test_bad_header_past_eof) {
    size_t len;
    uint64_t hl;
    unsigned char *raw = valid_file(&len, &hl);
    uint64_t n = len; /* claims a header longer than the whole file */
    for (int i = 0; i < 8; i++) raw[i] = (unsigned char)(n >> (8 * i));
    test_write_file(test_tmp("model.safetensors"), raw, len);
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors"), "header length", "runs past the end of the file");
    free(raw);
}
END_TEST

START_TEST(test_bad_header_json) {
    size_t len;
    uint64_t hl;
    unsigned char *raw = valid_file(&len, &hl);
    char *h = header_copy(raw, hl);
    *strchr(h, ':') = ';';
    write_with_header(raw, len, hl, h);
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors"), "header is not valid JSON", "expected ':'");
    free(h);
    free(raw);
}
END_TEST

START_TEST(test_bad_offsets_out_of_range) {
    size_t len;
    uint64_t hl;
    unsigned char *raw = valid_file(&len, &hl);
    test_write_file(test_tmp("model.safetensors"), raw, len - 4); /* the last tensor now ends past the buffer */
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors"), "shared.weight", "out of range");
    free(raw);
}
END_TEST

START_TEST(test_bad_offsets_overlap) {
    size_t len;
    uint64_t hl;
    unsigned char *raw = valid_file(&len, &hl);
    char *h = header_copy(raw, hl);
    /* decoder...SelfAttention.k and .o have the same size: point o at k's bytes */
    const char *k = strstr(h, "\"decoder.block.0.layer.0.SelfAttention.k.weight\"");
    const char *o = strstr(h, "\"decoder.block.0.layer.0.SelfAttention.o.weight\"");
    ck_assert(k && o);
    const char *ko = strstr(k, "\"data_offsets\":["), *ke = strchr(ko, ']');
    char *oo = strstr(o, "\"data_offsets\":["), *oe = strchr(oo, ']');
    char *nh = malloc(strlen(h) + 64);
    size_t a = (size_t)(oo - h);
    memcpy(nh, h, a);
    memcpy(nh + a, ko, (size_t)(ke - ko));
    strcpy(nh + a + (size_t)(ke - ko), oe);
    write_with_header(raw, len, hl, nh);
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors"), "overlapping data_offsets",
                      "decoder.block.0.layer.0.SelfAttention.k.weight");
    free(nh);
    free(h);
    free(raw);
}
END_TEST

START_TEST(test_bad_byte_count) {
    size_t len;
    uint64_t hl;
    unsigned char *raw = valid_file(&len, &hl);
    char *h = header_copy(raw, hl);
    char *f = strstr(h, "\"F32\"");
    memcpy(f, "\"F16\"", 5); /* the first tensor now claims half the bytes it has */
    write_with_header(raw, len, hl, h);
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors"), "decoder.block.0.layer.0.SelfAttention.k.weight",
                      "has 768 bytes but dtype F16 x shape needs 384");
    free(h);
    free(raw);
}
END_TEST

START_TEST(test_bad_dtype) {
    size_t len;
    uint64_t hl;
    unsigned char *raw = valid_file(&len, &hl);
    char *h = header_copy(raw, hl);
    char *f = strstr(h, "\"F32\"");
    memcpy(f, "\"I32\"", 5); /* same size, but integers are not weights */
    write_with_header(raw, len, hl, h);
    expect_load_error(T5PT_ERR_SHAPE, test_tmp("model.safetensors"), "decoder.block.0.layer.0.SelfAttention.k.weight",
                      "dtype I32, expected a float type");
    free(h);
    free(raw);
}
END_TEST

START_TEST(test_bad_missing_tensor) {
    t5pt_config c = small_config(1, 0);
    t5pt_model *m;
    ck_assert_int_eq(t5pt_model_init_random(&m, &c, 2), T5PT_OK);
    save_opts o = {.dtype = ST_F32, .skip = "decoder.block.2.layer.1.EncDecAttention.k.weight"};
    save_model(m, test_tmpdir(), &o);
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors"),
                      "missing tensor \"decoder.block.2.layer.1.EncDecAttention.k.weight\"", NULL);
    o.skip = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
    save_model(m, test_tmpdir(), &o);
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors"),
                      "missing tensor \"encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight\"", NULL);
    /* untied config: lm_head.weight is required */
    o.skip = "lm_head.weight";
    save_model(m, test_tmpdir(), &o);
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors"), "missing tensor \"lm_head.weight\"", NULL);
    /* no embedding under any of its three names */
    o.skip = "shared.weight";
    save_model(m, test_tmpdir(), &o);
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors"), "missing tensor \"shared.weight\"",
                      "encoder.embed_tokens.weight");
    t5pt_model_free(m);
}
END_TEST

START_TEST(test_bad_shape_for_config) {
    t5pt_config c = small_config(0, 1);
    t5pt_model *m;
    ck_assert_int_eq(t5pt_model_init_random(&m, &c, 2), T5PT_OK);
    save_opts o = {.dtype = ST_F32};
    save_model(m, test_tmpdir(), &o);
    t5pt_config other = c;
    other.d_ff = 32; /* the file holds d_ff 24 */
    write_config(test_tmpdir(), &other, "");
    expect_load_error(T5PT_ERR_SHAPE, test_tmp("model.safetensors"), "has shape [24, 16], expected [32, 16]",
                      test_tmp("config.json"));
    other = c;
    other.num_heads = 4; /* relative bias [8, 3] in the file; also q is [12, 16] */
    write_config(test_tmpdir(), &other, "");
    expect_load_error(T5PT_ERR_SHAPE, test_tmp("model.safetensors"), "expected [16, 16]", NULL);
    other = c;
    other.vocab_size = 41;
    write_config(test_tmpdir(), &other, "");
    expect_load_error(T5PT_ERR_SHAPE, test_tmp("model.safetensors"), "tensor \"shared.weight\" has shape [40, 16], expected [41, 16]",
                      NULL);
    t5pt_model_free(m);
}
END_TEST

/* NaN / Inf weights are refused by the loader, naming the file, the tensor and the index
 * (they used to load and make every output quietly wrong). */
START_TEST(test_bad_non_finite_weight) {
    t5pt_config c = small_config(0, 1);
    c.vocab_size = 2048; /* shared.weight [2048, 16] spans several of the loader's 16K-float chunks */
    t5pt_model *m;
    ck_assert_int_eq(t5pt_model_init_random(&m, &c, 2), T5PT_OK);
    float *wo = (float *)m->dec[1].wo.W, *emb = (float *)m->emb.W; /* a random model is fp32 */
    save_opts o = {.dtype = ST_F32};
    wo[5] = NAN;
    save_model(m, test_tmpdir(), &o);
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors"),
                      "tensor \"decoder.block.1.layer.2.DenseReluDense.wo.weight\" holds NaN at index 5", NULL);
    o.dtype = ST_BF16; /* a NaN survives the 16-bit conversion */
    save_model(m, test_tmpdir(), &o);
    expect_load_error(T5PT_ERR_FORMAT, "decoder.block.1.layer.2.DenseReluDense.wo.weight\" holds NaN at index 5", NULL,
                      NULL);
    wo[5] = 0.5f;
    emb[20001] = -INFINITY;
    o.dtype = ST_F32;
    save_model(m, test_tmpdir(), &o);
    expect_load_error(T5PT_ERR_FORMAT, "tensor \"shared.weight\" holds an infinite value at index 20001", NULL, NULL);
    emb[20001] = 0.25f;
    save_model(m, test_tmpdir(), &o);
    t5pt_model *ok;
    ck_assert_int_eq(t5pt_model_load(&ok, test_tmpdir()), T5PT_OK);
    float row[16];
    t5pt_model_embed_row(ok, 20001 / 16, row);
    ck_assert_float_eq(row[20001 % 16], 0.25f);
    t5pt_model_free(ok);
    t5pt_model_free(m);
}
END_TEST

START_TEST(test_bad_config_in_model_dir) {
    t5pt_config c = small_config(0, 1);
    t5pt_model *m;
    ck_assert_int_eq(t5pt_model_init_random(&m, &c, 2), T5PT_OK);
    save_opts o = {.dtype = ST_F32};
    save_model(m, test_tmpdir(), &o);
    t5pt_model_free(m);
    test_write_text(test_tmp("config.json"), "{\"feed_forward_proj\": \"gated-silu\"}");
    expect_load_error(T5PT_ERR_CONFIG, test_tmp("config.json"), "feed_forward_proj \"gated-silu\" is not supported", NULL);
    /* a config with far more blocks than the file has tensors fails before the tensor table
     * (sized from the config) is allocated */
    c.num_layers = 100000;
    write_config(test_tmpdir(), &c, "");
    expect_load_error(T5PT_ERR_SHAPE, test_tmp("config.json"),
                      "num_layers + num_decoder_layers = 100003 blocks, but", "config.json does not belong to these weights");
    unlink(test_tmp("config.json"));
    expect_load_error(T5PT_ERR_IO, test_tmp("config.json"), "cannot open", NULL);
}
END_TEST

START_TEST(test_bad_directory) {
    t5pt_model *m;
    expect_error(t5pt_model_load(&m, test_tmp("nope")), T5PT_ERR_IO, test_tmp("nope"), "not a model directory", NULL);
    t5pt_config c = small_config(0, 1);
    write_config(test_tmpdir(), &c, "");
    expect_load_error(T5PT_ERR_IO, test_tmpdir(), "no model.safetensors or model.safetensors.index.json", NULL);
}
END_TEST

START_TEST(test_bad_shards) {
    t5pt_config c = small_config(1, 0);
    t5pt_model *m;
    ck_assert_int_eq(t5pt_model_init_random(&m, &c, 9), T5PT_OK);
    save_opts o = {.dtype = ST_F32, .shards = 2};
    save_model(m, test_tmpdir(), &o);
    /* index points at a shard that is not there */
    ck_assert_int_eq(rename(test_tmp("model-00002-of-00002.safetensors"), test_tmp("moved.safetensors")), 0);
    expect_load_error(T5PT_ERR_IO, test_tmp("model.safetensors.index.json"), "missing shard",
                      test_tmp("model-00002-of-00002.safetensors"));
    ck_assert_int_eq(rename(test_tmp("moved.safetensors"), test_tmp("model-00002-of-00002.safetensors")), 0);

    /* index says shard 1, tensor lives in shard 2 */
    char *idx;
    size_t n;
    ck_assert_int_eq(t5pt_read_file(test_tmp("model.safetensors.index.json"), &idx, &n), T5PT_OK);
    char *e = strstr(idx, "\"encoder.final_layer_norm.weight\": \"model-0000");
    ck_assert_ptr_nonnull(e);
    char *digit = e + strlen("\"encoder.final_layer_norm.weight\": \"model-0000");
    char saved = *digit;
    *digit = saved == '1' ? '2' : '1';
    test_write_text(test_tmp("model.safetensors.index.json"), idx);
    char shard[64];
    snprintf(shard, sizeof shard, "model-0000%c-of-00002.safetensors", *digit);
    expect_load_error(T5PT_ERR_FORMAT, test_tmp(shard), "tensor \"encoder.final_layer_norm.weight\" is listed in",
                      "but not in that shard");
    *digit = saved;

    /* tensor absent from the weight_map */
    char *line = strstr(idx, "\"decoder.final_layer_norm.weight\"");
    ck_assert_ptr_nonnull(line);
    memcpy(line + 1, "xxxxxxx", 7);
    test_write_text(test_tmp("model.safetensors.index.json"), idx);
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors.index.json"),
                      "missing tensor \"decoder.final_layer_norm.weight\"", NULL);

    test_write_text(test_tmp("model.safetensors.index.json"), "{\"weight_map\": [1]}");
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors.index.json"), "no \"weight_map\" object", NULL);
    test_write_text(test_tmp("model.safetensors.index.json"), "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors.index.json"), "is not a file in the model directory",
                      NULL);
    test_write_text(test_tmp("model.safetensors.index.json"), "{\"weight_map\": {,}}");
    expect_load_error(T5PT_ERR_FORMAT, test_tmp("model.safetensors.index.json"), "not valid JSON", NULL);
    free(idx);
    t5pt_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- golden cases (exporter's HF dirs) */

/* Reads tensor `name` of a HF model dir directly (single file or via the index) into a malloc'd f32 array. */
static float *read_direct(const char *dir, const char *name, size_t *n) {
    char *single = t5pt_path_join(dir, "model.safetensors");
    char *file = NULL;
    if (t5pt_file_exists(single)) {
        file = single;
    } else {
        free(single);
        char *ip = t5pt_path_join(dir, "model.safetensors.index.json");
        char *text;
        size_t len;
        ck_assert_int_eq(t5pt_read_file(ip, &text, &len), T5PT_OK);
        json_doc *d = t5pt_json_parse(text, len, NULL, 0);
        ck_assert_ptr_nonnull(d);
        const char *fn = t5pt_json_get_str(t5pt_json_get(t5pt_json_root(d), "weight_map"), name);
        if (fn) file = t5pt_path_join(dir, fn);
        t5pt_json_free(d);
        free(text);
        free(ip);
        if (!file) return NULL;
    }
    st_file *f;
    ck_assert_int_eq(t5pt_st_open(&f, file), T5PT_OK);
    free(file);
    const st_tensor *t = t5pt_st_get(f, name);
    float *out = NULL;
    if (t) {
        out = malloc(sizeof(float) * (t->numel ? t->numel : 1));
        ck_assert_int_eq(t5pt_st_read_f32(f, t, out), T5PT_OK);
        *n = t->numel;
    }
    t5pt_st_close(f);
    return out;
}

START_TEST(test_golden_models) {
    char **names;
    int n_cases = golden_list(&names);
    golden_assert_list(n_cases);   /* every case, each with its model directory */
    int cases = 0, sharded = 0, half = 0;
    for (int c = 0; c < n_cases; c++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s/model", GOLDEN_CASES_DIR, names[c]);
        t5pt_model *m;
        t5pt_status st = t5pt_model_load(&m, dir);
        ck_assert_msg(st == T5PT_OK, "%s: %s", dir, t5pt_last_error());
        cases++;
        char *ip = t5pt_path_join(dir, "model.safetensors.index.json");
        sharded += t5pt_file_exists(ip);
        free(ip);
        /* every tensor the model holds equals the file's values (converted to f32) */
        collect(m);
        for (int i = 0; i < nnamed; i++) {
            size_t n = 0;
            float *want = read_direct(dir, tensors[i].name, &n);
            if (!want && i == 0) want = read_direct(dir, "encoder.embed_tokens.weight", &n);
            if (!want && i == 0) want = read_direct(dir, "decoder.embed_tokens.weight", &n);
            ck_assert_msg(want != NULL, "%s: %s not in the files", dir, tensors[i].name);
            ck_assert_uint_eq(n, numel(&tensors[i]));
            ck_assert_msg(memcmp(want, tensors[i].p, n * sizeof(float)) == 0, "%s: %s differs", dir, tensors[i].name);
            free(want);
        }
        release_named();
        if (m->cfg.tie_word_embeddings) ck_assert_ptr_eq(m->lm_head.W, m->emb.W);
        /* the exporter's F16/BF16 cases really are stored as 16-bit */
        char *single = t5pt_path_join(dir, "model.safetensors");
        st_file *f;
        if (t5pt_file_exists(single) && t5pt_st_open(&f, single) == T5PT_OK) {
            const st_tensor *t = t5pt_st_at(f, 0);
            if (t && (t->dtype == ST_BF16 || t->dtype == ST_F16)) half++;
            t5pt_st_close(f);
        }
        free(single);
        t5pt_model_free(m);
    }
    golden_free_list(names, n_cases);
    ck_assert_int_eq(cases, GOLDEN_N_CASES);
    ck_assert_int_eq(sharded, 1);   /* the sharded case */
    ck_assert_int_eq(half, 2);      /* bf16_weights, f16_weights */
}
END_TEST

static Suite *model_suite(void) {
    Suite *s = suite_create("model_load");
    TCase *cfg = tcase_create("config");
    tcase_add_checked_fixture(cfg, setup, teardown);
    tcase_add_test(cfg, test_config_t5_small);
    tcase_add_test(cfg, test_config_flan_t5_small);
    tcase_add_test(cfg, test_config_t5_v1_1_small);
    tcase_add_test(cfg, test_config_t5_base_lm_adapt);
    tcase_add_test(cfg, test_config_defaults);
    tcase_add_test(cfg, test_config_unknown_ffp);
    tcase_add_test(cfg, test_config_inconsistent_act);
    tcase_add_test(cfg, test_config_bad_values);
    suite_add_tcase(s, cfg);

    TCase *ld = tcase_create("load");
    tcase_add_checked_fixture(ld, setup, teardown);
    tcase_add_test(ld, test_init_random);
    tcase_add_test(ld, test_load_relu_tied_f32);
    tcase_add_test(ld, test_load_gated_untied_f32);
    tcase_add_test(ld, test_load_bf16);
    tcase_add_test(ld, test_half_precision_resident_half);
    tcase_add_test(ld, test_load_f16);
    tcase_add_test(ld, test_load_sharded);
    tcase_add_test(ld, test_load_embedding_aliases);
    tcase_add_test(ld, test_load_tied_ignores_lm_head);
    tcase_add_test(ld, test_golden_models);
    suite_add_tcase(s, ld);

    TCase *bad = tcase_create("bad_input");
    tcase_add_checked_fixture(bad, setup, teardown);
    tcase_add_test(bad, test_bad_truncated_file);
    tcase_add_test(bad, test_bad_header_past_eof);
    tcase_add_test(bad, test_bad_header_json);
    tcase_add_test(bad, test_bad_offsets_out_of_range);
    tcase_add_test(bad, test_bad_offsets_overlap);
    tcase_add_test(bad, test_bad_byte_count);
    tcase_add_test(bad, test_bad_dtype);
    tcase_add_test(bad, test_bad_missing_tensor);
    tcase_add_test(bad, test_bad_shape_for_config);
    tcase_add_test(bad, test_bad_non_finite_weight);
    tcase_add_test(bad, test_bad_config_in_model_dir);
    tcase_add_test(bad, test_bad_directory);
    tcase_add_test(bad, test_bad_shards);
    suite_add_tcase(s, bad);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(model_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
