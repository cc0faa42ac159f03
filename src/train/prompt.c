/* prompt.c — where a soft prompt comes from and where it goes: initialisation
 * (random-uniform, sampled-vocab, class-labels, text) and files (Hugging Face PEFT
 * prompt-tuning adapters, bare safetensors, T5X .npy).
 *
 * ---------------------------------------------------------------- initialisation
 * Lester et al. 2021 §3 / §7.1 compare three inits; t5pt has them plus PEFT's text init. Where
 * the paper's text and the official code (google-research/prompt-tuning, prompt_tuning/prompts.py
 * and configs/, at 72285ee) differ, both are here under different names. init_kinds[] below is
 * the one table of names, help lines and PEFT names.
 * All randomness comes from t5pt_rng (xoshiro256**, seeded): the same seed gives the same
 * prompt on every platform (the official code's JAX PRNG draws are not reproduced).
 *   random-uniform      P[i,j] = (2u - 1) * range, u uniform in [0,1), row-major order: the paper's
 *                       text, "uniform in [-0.5, 0.5]" (range 0.5).
 *   random-uniform-t5x  P[i,j] = u * range: the official code's default init is flax
 *                       linen.initializers.uniform(scale=0.5), U[0, 0.5) (t5_1_1_prompt.gin l.41-45).
 *   sampled-vocab       row i = embedding of id_i, ids drawn uniformly from [0, min(5000, vocab))
 *                       without replacement, with replacement when n exceeds that pool: the official
 *                       from_sample_of_embeddings with population_size 5000 (prompts.py l.139-212,
 *                       configs/prompts/from_sampled_vocab.gin): jax.random.choice(population, (P,),
 *                       replace=P > population); ids start at 0, so pad, eos and unk are eligible.
 *                       Without replacement: a partial Fisher-Yates shuffle of 0..pool-1 with
 *                       unbiased bounded integers; with replacement: independent draws.
 *   class-labels        the whole prompt is sampled-vocab first; then row k (k < num_labels) = mean of
 *                       the embedding rows of label k's token ids (no EOS; sum in double, one
 *                       rounding). Labels beyond the last row are skipped: the official
 *                       from_embedded_list fills the fallback init, overwrites row i with label i, and
 *                       stops with a warning when it runs out of rows (prompts.py l.221-313).
 *   text                row i = embedding of text_ids[i mod text_len]: repeated cyclically to fill,
 *                       truncated when longer — PEFT's PromptTuningInit.TEXT rule.
 *
 * ---------------------------------------------------------------- files
 * PEFT adapter directory (what PeftModel.save_pretrained writes for PROMPT_TUNING):
 *   adapter_config.json        json.dumps(cfg, indent=2, sort_keys=True), inference_mode true
 *   adapter_model.safetensors  "prompt_embeddings" F32 [num_virtual_tokens * num_transformer_submodules,
 *                              token_dim], __metadata__ {"format": "pt"}
 *
 * Decision: t5pt writes num_transformer_submodules = 1 (n rows), not the 2 that PEFT picks
 * by itself for SEQ_2_SEQ_LM. Why (peft src/peft/peft_model.py, PeftModelForSeq2SeqLM):
 *   - PEFT >= 0.4.0 (commit 0e8932f, "Add seq2seq prompt tuning support"): for PROMPT_TUNING,
 *     forward() and generate() prepend prompts[:, :num_virtual_tokens] to the encoder
 *     inputs_embeds (with a ones prefix on the attention mask) and never use rows [n, 2n).
 *     With 2 submodules the second half is dead weight that PEFT still trains and saves.
 *   - PEFT < 0.4.0 took the generic branch: with num_transformer_submodules == 2 it ALSO
 *     prepended rows [n, 2n) to the DECODER inputs (and -100-padded the labels). t5pt only
 *     prompts the encoder, so a 2-submodule file would give a different model there.
 *   - num_transformer_submodules only defaults to 2 when the config has null
 *     (_prepare_prompt_learning_config); an explicit 1 is kept and PromptEmbedding then has
 *     exactly n rows.
 * So with 1, PeftModel.from_pretrained(T5ForConditionalGeneration, dir) + generate() computes
 * exactly t5pt's prepend model in every PEFT version that supports seq2seq prompt tuning.
 * PEFT only prepends: a prompt trained with --placement append / at:K loads but PEFT runs
 * it prepended (the placement is recorded in t5pt_prompt_save_peft_ex's metadata only).
 *
 * The keys written are those of PeftConfig + PromptLearningConfig + PromptTuningConfig that
 * exist in every PEFT from 0.4 on (auto_mapping, base_model_name_or_path, inference_mode,
 * num_attention_heads, num_layers, num_transformer_submodules, num_virtual_tokens, peft_type,
 * prompt_tuning_init, prompt_tuning_init_text, revision, task_type, token_dim,
 * tokenizer_name_or_path). Newer keys (tokenizer_kwargs 0.7, modules_to_save 0.17,
 * peft_version) are left out: PEFT 0.6 - 0.13 build the config with config_cls(**json) and
 * fail on a key they do not know, while every newer PEFT fills a missing key with its default.
 * prompt_tuning_init takes PEFT's name from init_kinds[] (RANDOM, SAMPLE_VOCAB, TEXT; why each
 * there); text -> TEXT only when the init text and a tokenizer path are known (PEFT's config
 * refuses TEXT without both), else RANDOM. The init only matters to PEFT when it builds a NEW
 * adapter; loading uses the saved rows. What t5pt itself needs to use the prompt again goes into
 * the safetensors metadata: t5pt_init (the kind), t5pt_init_text (the text, or the label words of
 * class-labels) and t5pt_placement (prepend, append, at:K).
 * Loading accepts: a PEFT directory (1 or 2 submodules; with 2 the encoder rows [0, n) are
 * used, as PEFT >= 0.4 does), a bare adapter_model.safetensors whose adapter_config.json sits
 * beside it (read as that directory: a seq2seq adapter's 2n rows must not all reach the
 * encoder), a .safetensors file with "prompt_embeddings" [n, d] (every row; t5pt_prompt_info
 * tells the caller, who says so), and a T5X .npy file ([n, d], '<f4', C order; NPY format
 * versions 1.0, 2.0 and 3.0). The recorded metadata comes back in t5pt_prompt_info.
 * Every write goes through a temp file + rename (t5pt_write_file_atomic / t5pt_st_writer_save),
 * so an interrupted save never leaves a half-written file: the old file or the new one.
 */
#include "base/internal.h"
#include "io/json.h"
#include "io/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define SAMPLED_VOCAB_LIMIT 5000   /* population_size in configs/prompts/from_sampled_vocab.gin */

/* ---------------------------------------------------------------- init */

/* The one table of init kinds: the name, its help line, and PEFT's prompt_tuning_init.
 * PEFT (src/peft/tuners/prompt_tuning/config.py, PromptTuningInit) has RANDOM (N(0,1)), TEXT and,
 * from 0.18 (commit 2c29cf7), SAMPLE_VOCAB (random ids of the whole vocabulary). The name only
 * matters when PEFT builds a NEW adapter; loading uses the saved rows. Both uniform inits are
 * random continuous values: RANDOM. sampled-vocab and class-labels build their rows from the
 * vocabulary's embeddings and PEFT has no class-label init: SAMPLE_VOCAB. An older PEFT keeps the
 * unknown string (the field is Union[PromptTuningInit, str]) and compares it only with TEXT. */
static const struct {
    const char *name, *alias;
    t5pt_init_kind kind;
    const char *peft;
    const char *help;
} init_kinds[] = {
    {"random-uniform", "random", T5PT_INIT_RANDOM_UNIFORM, "RANDOM", "U[-0.5, 0.5] (the paper's text)"},
    {"random-uniform-t5x", NULL, T5PT_INIT_RANDOM_UNIFORM_T5X, "RANDOM", "U[0, 0.5) (the paper's code)"},
    {"sampled-vocab", "vocab", T5PT_INIT_SAMPLED_VOCAB, "SAMPLE_VOCAB",
     "embeddings of random ids < 5000 (the paper's code: without\nreplacement, with replacement past 5000 rows)"},
    {"class-labels", "labels", T5PT_INIT_CLASS_LABELS, "SAMPLE_VOCAB",
     "row k = mean embedding of the k-th --labels word, the other\nrows sampled-vocab (extra labels skipped)"},
    {"text", NULL, T5PT_INIT_TEXT, "TEXT", "embeddings of the --init-text tokens, repeated to fill"},
};
#define NUM_INIT_KINDS ((int)(sizeof init_kinds / sizeof init_kinds[0]))

const char *t5pt_init_kind_choices(void) {
    return "random-uniform|random-uniform-t5x|sampled-vocab|class-labels|text";
}

t5pt_status t5pt_init_parse_kind(t5pt_init_kind *kind, const char *text) {
    for (int i = 0; text && i < NUM_INIT_KINDS; i++)
        if (strcmp(text, init_kinds[i].name) == 0 || (init_kinds[i].alias && strcmp(text, init_kinds[i].alias) == 0)) {
            *kind = init_kinds[i].kind;
            return T5PT_OK;
        }
    return t5pt_set_error(T5PT_ERR_ARG, "--init: unknown kind '%s' (%s)", text ? text : "", t5pt_init_kind_choices());
}

static int init_index(t5pt_init_kind kind) {
    for (int i = 0; i < NUM_INIT_KINDS; i++)
        if (init_kinds[i].kind == kind) return i;
    return -1;
}

const char *t5pt_init_kind_name(t5pt_init_kind kind) {
    int i = init_index(kind);
    return i < 0 ? NULL : init_kinds[i].name;
}

const char *t5pt_init_kind_help(t5pt_init_kind kind) {
    int i = init_index(kind);
    return i < 0 ? NULL : init_kinds[i].help;
}

const char *t5pt_init_peft_name(t5pt_init_kind kind) {
    int i = init_index(kind);
    return i < 0 ? "RANDOM" : init_kinds[i].peft;
}

/* Uniform integer in [0, bound), unbiased (rejects the low 2^64 mod bound values). */
static uint64_t rng_below(t5pt_rng *r, uint64_t bound) {
    uint64_t threshold = (0 - bound) % bound;
    for (;;) {
        uint64_t x = t5pt_rng_next(r);
        if (x >= threshold) return x % bound;
    }
}

/* All n rows of P from sampled-vocab ids (see the header comment). */
static t5pt_status fill_sampled_vocab(float *P, int n, const t5pt_model *m, t5pt_rng *rng) {
    const t5pt_config *cfg = t5pt_model_config(m);
    const int d = cfg->d_model;
    const int pool = cfg->vocab_size < SAMPLED_VOCAB_LIMIT ? cfg->vocab_size : SAMPLED_VOCAB_LIMIT;
    if (pool <= 0) return t5pt_set_error(T5PT_ERR_ARG, "sampled-vocab init: the model has no vocabulary");
    int32_t *ids = NULL;
    if (n <= pool) {   /* without replacement: the first n of a partial shuffle of 0..pool-1 */
        ids = malloc((size_t)pool * sizeof *ids);
        if (!ids) return t5pt_set_error(T5PT_ERR_NOMEM, "sampled-vocab init: out of memory");
        for (int id = 0; id < pool; id++) ids[id] = id;
        for (int k = 0; k < n; k++) {
            int j = k + (int)rng_below(rng, (uint64_t)(pool - k));
            int32_t t = ids[k];
            ids[k] = ids[j];
            ids[j] = t;
        }
    }
    t5pt_status st = T5PT_OK;
    for (int k = 0; k < n && st == T5PT_OK; k++) {
        const int id = ids ? ids[k] : (int)rng_below(rng, (uint64_t)pool);   /* with replacement */
        if (t5pt_model_embedding(m, id, P + (size_t)k * d) != T5PT_OK)
            st = t5pt_set_error(T5PT_ERR_ARG, "sampled-vocab init: no embedding row for id %d", id);
    }
    free(ids);
    return st;
}

/* what: the init kind and the list, e.g. "class-labels init: label 2" */
static t5pt_status check_ids(const t5pt_model *m, const int32_t *ids, int len, const char *what, int which) {
    int V = t5pt_model_config(m)->vocab_size;
    for (int i = 0; i < len; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return t5pt_set_error(T5PT_ERR_ARG, "%s %d: token id %d outside the vocabulary [0, %d)", what, which,
                                  (int)ids[i], V);
    return T5PT_OK;
}

t5pt_status t5pt_prompt_init(float *P, int n, const t5pt_model *m, const t5pt_init_config *ic) {
    if (!P || !m || !ic) return t5pt_set_error(T5PT_ERR_ARG, "prompt init: NULL argument");
    if (n <= 0) return t5pt_set_error(T5PT_ERR_ARG, "prompt init: prompt length must be > 0 (got %d)", n);
    const int d = t5pt_model_config(m)->d_model;
    t5pt_rng rng;
    t5pt_rng_seed(&rng, ic->seed);
    t5pt_status st;

    switch (ic->kind) {
    case T5PT_INIT_RANDOM_UNIFORM:
    case T5PT_INIT_RANDOM_UNIFORM_T5X: {
        if (!(ic->range >= 0.0f) || !isfinite(ic->range))
            return t5pt_set_error(T5PT_ERR_ARG, "%s init: range must be a finite number >= 0 (got %g)",
                                  t5pt_init_kind_name(ic->kind), (double)ic->range);
        const double r = ic->range;
        const int symmetric = ic->kind == T5PT_INIT_RANDOM_UNIFORM;
        for (size_t k = 0; k < (size_t)n * d; k++) {
            const double u = t5pt_rng_uniform(&rng);
            P[k] = (float)((symmetric ? 2.0 * u - 1.0 : u) * r);
        }
        return T5PT_OK;
    }
    case T5PT_INIT_SAMPLED_VOCAB:
        return fill_sampled_vocab(P, n, m, &rng);

    case T5PT_INIT_CLASS_LABELS: {
        if (ic->num_labels <= 0 || !ic->label_ids || !ic->label_lens)
            return t5pt_set_error(T5PT_ERR_ARG, "class-labels init: no labels given");
        const int used = ic->num_labels < n ? ic->num_labels : n;   /* the rest are skipped */
        for (int k = 0; k < used; k++) {
            if (ic->label_lens[k] <= 0 || !ic->label_ids[k])
                return t5pt_set_error(T5PT_ERR_ARG, "class-labels init: label %d has no tokens", k);
            if ((st = check_ids(m, ic->label_ids[k], ic->label_lens[k], "class-labels init: label", k))) return st;
        }
        if ((st = fill_sampled_vocab(P, n, m, &rng)) != T5PT_OK) return st;
        double *acc = malloc((size_t)d * sizeof *acc);
        float *e = malloc((size_t)d * sizeof *e);
        if (!acc || !e) {
            free(acc), free(e);
            return t5pt_set_error(T5PT_ERR_NOMEM, "class-labels init: out of memory");
        }
        for (int k = 0; k < used; k++) {
            for (int j = 0; j < d; j++) acc[j] = 0.0;
            for (int t = 0; t < ic->label_lens[k]; t++) {
                t5pt_model_embedding(m, ic->label_ids[k][t], e); /* ids checked above */
                for (int j = 0; j < d; j++) acc[j] += e[j];
            }
            for (int j = 0; j < d; j++) P[(size_t)k * d + j] = (float)(acc[j] / ic->label_lens[k]);
        }
        free(acc), free(e);
        return T5PT_OK;
    }
    case T5PT_INIT_TEXT: {
        if (ic->text_len <= 0 || !ic->text_ids) return t5pt_set_error(T5PT_ERR_ARG, "text init: the text has no tokens");
        if ((st = check_ids(m, ic->text_ids, ic->text_len, "text init: text", 0))) return st;
        for (int i = 0; i < n; i++)
            t5pt_model_embedding(m, ic->text_ids[i % ic->text_len], P + (size_t)i * d); /* ids checked above */
        return T5PT_OK;
    }
    }
    return t5pt_set_error(T5PT_ERR_ARG, "prompt init: unknown kind %d", (int)ic->kind);
}

/* ---------------------------------------------------------------- PEFT save */

/* PEFT's prompt_tuning_init for info->init_name (a t5pt kind from init_kinds[], or already one of
 * PEFT's names); TEXT only with the text and a tokenizer path, which PEFT's config demands. */
static const char *peft_init_value(const t5pt_peft_info *info, int *use_text) {
    *use_text = 0;
    const char *name = info ? info->init_name : NULL;
    t5pt_init_kind k;
    if (!name) return "RANDOM";
    if (t5pt_init_parse_kind(&k, name) != T5PT_OK) {
        if (!strcmp(name, "RANDOM") || !strcmp(name, "SAMPLE_VOCAB")) return name;   /* a PEFT name */
        if (strcmp(name, "TEXT") != 0) return "RANDOM";
        k = T5PT_INIT_TEXT;
    }
    const char *peft = t5pt_init_peft_name(k);
    if (strcmp(peft, "TEXT") != 0) return peft;
    const char *tok = info->tokenizer_name_or_path ? info->tokenizer_name_or_path : info->base_model;
    if (!info->init_text || !tok) return "RANDOM";
    *use_text = 1;
    return "TEXT";
}

static void jw_str_or_null(json_writer *w, const char *s) {
    if (s) t5pt_jw_str(w, s, strlen(s));
    else t5pt_jw_raw(w, "null");
}

static void jw_int_or_null(json_writer *w, int v) {
    if (v > 0) t5pt_jw_printf(w, "%d", v);
    else t5pt_jw_raw(w, "null");
}

t5pt_status t5pt_prompt_save_peft_ex(const char *dir, const float *P, int n, int d_model, const t5pt_peft_info *info) {
    if (!dir || !P) return t5pt_set_error(T5PT_ERR_ARG, "save prompt: NULL argument");
    if (n <= 0 || d_model <= 0)
        return t5pt_set_error(T5PT_ERR_ARG, "%s: prompt shape [%d, %d] must be positive", dir, n, d_model);
    for (size_t k = 0; k < (size_t)n * d_model; k++)
        if (!isfinite(P[k]))
            return t5pt_set_error(T5PT_ERR_ARG, "%s: prompt value %zu is not finite; not saved", dir, k);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return t5pt_set_error(T5PT_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    if (!t5pt_is_dir(dir)) return t5pt_set_error(T5PT_ERR_IO, "%s: exists and is not a directory", dir);

    char *t5pt_st_path = t5pt_path_join(dir, "adapter_model.safetensors");
    char *cfg_path = t5pt_path_join(dir, "adapter_config.json");
    st_writer *w = t5pt_st_writer_new();
    json_writer md = {0}, j = {0};
    t5pt_status st = T5PT_OK;
    if (!t5pt_st_path || !cfg_path || !w) {
        st = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }

    /* weights first: a fresh directory interrupted here has no config and fails to load with a
     * clear message; an existing adapter of the same shape stays a consistent pair. */
    int64_t shape[2] = {n, d_model};
    if ((st = t5pt_st_writer_add(w, "prompt_embeddings", ST_F32, 2, shape, P))) goto done;
    t5pt_jw_raw(&md, "{\"format\":\"pt\"");
    if (info && info->init_name) {
        t5pt_jw_raw(&md, ",\"t5pt_init\":");
        t5pt_jw_str(&md, info->init_name, strlen(info->init_name));
    }
    if (info && info->init_text) {
        t5pt_jw_raw(&md, ",\"t5pt_init_text\":");
        t5pt_jw_str(&md, info->init_text, strlen(info->init_text));
    }
    if (info && info->placement) {
        t5pt_jw_raw(&md, ",\"t5pt_placement\":");
        t5pt_jw_str(&md, info->placement, strlen(info->placement));
    }
    t5pt_jw_raw(&md, "}");
    if (md.oom) {
        st = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    if ((st = t5pt_st_writer_save(w, t5pt_st_path, md.buf))) goto done;

    /* adapter_config.json, keys sorted, indent 2, as PEFT's save_pretrained */
    int use_text;
    const char *init = peft_init_value(info, &use_text);
    const char *tok = NULL;
    if (info) tok = info->tokenizer_name_or_path ? info->tokenizer_name_or_path : (use_text ? info->base_model : NULL);
    t5pt_jw_raw(&j, "{\n  \"auto_mapping\": null,\n  \"base_model_name_or_path\": ");
    jw_str_or_null(&j, info ? info->base_model : NULL);
    t5pt_jw_raw(&j, ",\n  \"inference_mode\": true,\n  \"num_attention_heads\": ");
    jw_int_or_null(&j, info ? info->num_attention_heads : 0);
    t5pt_jw_raw(&j, ",\n  \"num_layers\": ");
    jw_int_or_null(&j, info ? info->num_layers : 0);
    t5pt_jw_printf(&j, ",\n  \"num_transformer_submodules\": 1,\n  \"num_virtual_tokens\": %d", n);
    t5pt_jw_raw(&j, ",\n  \"peft_type\": \"PROMPT_TUNING\",\n  \"prompt_tuning_init\": ");
    t5pt_jw_str(&j, init, strlen(init));
    t5pt_jw_raw(&j, ",\n  \"prompt_tuning_init_text\": ");
    jw_str_or_null(&j, use_text ? info->init_text : NULL);
    t5pt_jw_raw(&j, ",\n  \"revision\": null,\n  \"task_type\": \"SEQ_2_SEQ_LM\",\n");
    t5pt_jw_printf(&j, "  \"token_dim\": %d,\n  \"tokenizer_name_or_path\": ", d_model);
    jw_str_or_null(&j, tok);
    t5pt_jw_raw(&j, "\n}");
    if (j.oom) {
        st = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    st = t5pt_write_file_atomic(cfg_path, j.buf, j.len);

done:
    t5pt_jw_free(&md);
    t5pt_jw_free(&j);
    t5pt_st_writer_free(w);
    free(t5pt_st_path);
    free(cfg_path);
    return st;
}

t5pt_status t5pt_prompt_save_peft(const char *dir, const float *P, int n, int d_model, const char *base_model,
                                  const char *init_name) {
    t5pt_peft_info info = {0};
    info.base_model = base_model;
    info.init_name = init_name;
    return t5pt_prompt_save_peft_ex(dir, P, n, d_model, &info);
}

/* ---------------------------------------------------------------- .npy */

static void put_le32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

t5pt_status t5pt_prompt_save_npy(const char *path, const float *P, int n, int d_model) {
    if (!path || !P) return t5pt_set_error(T5PT_ERR_ARG, "save prompt: NULL argument");
    if (n <= 0 || d_model <= 0)
        return t5pt_set_error(T5PT_ERR_ARG, "%s: prompt shape [%d, %d] must be positive", path, n, d_model);
    for (size_t k = 0; k < (size_t)n * d_model; k++)
        if (!isfinite(P[k]))
            return t5pt_set_error(T5PT_ERR_ARG, "%s: prompt value %zu is not finite; not saved", path, k);
    /* NPY 1.0: magic, version, u16 header length, a Python dict literal padded with spaces
     * and ended by '\n' so the data starts at a multiple of 64 (what numpy.save writes). */
    char dict[128];
    int dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", n, d_model);
    size_t hlen = (size_t)dl + 1;
    size_t total_head = 10 + hlen;
    size_t pad = (64 - total_head % 64) % 64;
    hlen += pad;
    size_t nbytes = (size_t)n * d_model * 4;
    size_t len = 10 + hlen + nbytes;
    unsigned char *buf = malloc(len);
    if (!buf) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)dl);
    memset(buf + 10 + dl, ' ', pad);
    buf[10 + hlen - 1] = '\n';
    unsigned char *q = buf + 10 + hlen;
    for (size_t k = 0; k < (size_t)n * d_model; k++) {
        uint32_t u;
        memcpy(&u, &P[k], 4);
        put_le32(q + 4 * k, u);
    }
    t5pt_status st = t5pt_write_file_atomic(path, buf, len);
    free(buf);
    return st;
}

/* A cursor over the header's Python dict literal. */
typedef struct {
    const char *p, *end, *path;
} npy_lex;

static void npy_ws(npy_lex *x) {
    while (x->p < x->end && (*x->p == ' ' || *x->p == '\t')) x->p++;
}

/* A quoted string ('...' or "...", no escapes: numpy never writes any) into buf. */
static int npy_string(npy_lex *x, char *buf, size_t cap) {
    npy_ws(x);
    if (x->p >= x->end || (*x->p != '\'' && *x->p != '"')) return -1;
    char q = *x->p++;
    size_t k = 0;
    while (x->p < x->end && *x->p != q) {
        if (*x->p == '\\' || *x->p == '\n' || k + 1 >= cap) return -1;
        buf[k++] = *x->p++;
    }
    if (x->p >= x->end) return -1;
    x->p++;
    buf[k] = 0;
    return 0;
}

static int npy_char(npy_lex *x, char c) {
    npy_ws(x);
    if (x->p < x->end && *x->p == c) {
        x->p++;
        return 0;
    }
    return -1;
}

static int npy_word(npy_lex *x, const char *w) {
    npy_ws(x);
    size_t n = strlen(w);
    if ((size_t)(x->end - x->p) >= n && memcmp(x->p, w, n) == 0) {
        x->p += n;
        return 0;
    }
    return -1;
}

#define NPY_MAX_DIMS 8

/* (a, b, ...) with an optional trailing comma; () and (a,) allowed. */
static int npy_shape(npy_lex *x, int64_t *dims, int *ndim) {
    if (npy_char(x, '(')) return -1;
    *ndim = 0;
    npy_ws(x);
    if (npy_char(x, ')') == 0) return 0;
    for (;;) {
        npy_ws(x);
        if (x->p >= x->end || *x->p < '0' || *x->p > '9') return -1;
        int64_t v = 0;
        while (x->p < x->end && *x->p >= '0' && *x->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return -1;
            v = v * 10 + (*x->p++ - '0');
        }
        if (*ndim >= NPY_MAX_DIMS) return -1;
        dims[(*ndim)++] = v;
        if (npy_char(x, ')') == 0) return 0;
        if (npy_char(x, ',')) return -1;
        if (npy_char(x, ')') == 0) return 0;
    }
}

/* What an NPY header says about the array. */
typedef struct {
    size_t data_start;          /* offset of the first data byte in the file */
    char descr[32];             /* dtype, e.g. "<f4" */
    int fortran;                /* column-major */
    int ndim;
    int64_t dims[NPY_MAX_DIMS];
} npy_header;

/* The fixed preamble: magic, version (1.0, 2.0 or 3.0) and the header length. Sets
 * *dict / *dict_len to the header dict literal (the text before its closing newline). */
static t5pt_status npy_preamble(const char *path, const unsigned char *u, size_t len, npy_header *hd, const char **dict,
                                size_t *dict_len) {
    if (len < 10 || memcmp(u, "\x93NUMPY", 6) != 0)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: not an NPY file (no \\x93NUMPY magic)", path);
    int major = u[6], minor = u[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: NPY format version %d.%d is not supported (1.0, 2.0, 3.0 are)", path,
                              major, minor);
    size_t hlen, start;
    if (major == 1) {   /* 1.0: u16 header length; 2.0 and 3.0: u32 */
        hlen = (size_t)u[8] | (size_t)u[9] << 8;
        start = 10;
    } else {
        if (len < 12) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: NPY header is truncated", path);
        hlen = get_le32(u + 8);
        start = 12;
    }
    if (hlen > len - start)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: NPY header length %zu runs past the end of the file (%zu bytes)", path,
                              hlen, len);
    if (hlen == 0 || u[start + hlen - 1] != '\n')
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: NPY header does not end with a newline", path);
    hd->data_start = start + hlen;
    *dict = (const char *)u + start;
    *dict_len = hlen - 1;
    return T5PT_OK;
}

/* The header dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (20, 768), }:
 * exactly the three keys numpy writes, each once, in any order. */
static t5pt_status npy_dict(const char *path, const char *text, size_t len, npy_header *hd) {
    npy_lex x = {text, text + len, path};
    char key[32];
    int have_descr = 0, have_fo = 0, have_shape = 0;
    const char *bad = NULL;
    if (npy_char(&x, '{')) bad = "the header is not a dict literal";
    while (!bad) {
        if (npy_char(&x, '}') == 0) break;
        if (npy_string(&x, key, sizeof key) || npy_char(&x, ':')) {
            bad = "malformed key in the header dict";
            break;
        }
        if (!strcmp(key, "descr")) {
            if (have_descr++ || npy_string(&x, hd->descr, sizeof hd->descr)) bad = "bad or repeated 'descr'";
        } else if (!strcmp(key, "fortran_order")) {
            if (have_fo++) bad = "repeated 'fortran_order'";
            else if (npy_word(&x, "True") == 0) hd->fortran = 1;
            else if (npy_word(&x, "False") == 0) hd->fortran = 0;
            else bad = "'fortran_order' is not True or False";
        } else if (!strcmp(key, "shape")) {
            if (have_shape++ || npy_shape(&x, hd->dims, &hd->ndim)) bad = "bad or repeated 'shape' (want a tuple of integers)";
        } else {
            bad = "unknown key in the header dict";
        }
        if (bad) break;
        if (npy_char(&x, ',') == 0) continue;
        if (npy_char(&x, '}') == 0) break;
        bad = "expected ',' or '}' in the header dict";
    }
    if (!bad) {
        npy_ws(&x);
        if (x.p != x.end) bad = "text after the header dict";
        else if (!have_descr || !have_fo || !have_shape) bad = "the header needs 'descr', 'fortran_order' and 'shape'";
    }
    if (bad) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: malformed NPY header: %s", path, bad);
    return T5PT_OK;
}

/* What a prompt must be: little-endian float32, C order, 2-D [n, d] with n, d > 0. */
static t5pt_status npy_check_prompt(const char *path, const npy_header *hd) {
    if (strcmp(hd->descr, "<f4") != 0)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: dtype '%s' is not supported: a prompt must be little-endian float32 ('<f4')",
                              path, hd->descr);
    if (hd->fortran)
        return t5pt_set_error(T5PT_ERR_FORMAT,
                              "%s: fortran_order True (column-major) is not supported: save the prompt in C order", path);
    if (hd->ndim != 2 || hd->dims[0] <= 0 || hd->dims[1] <= 0 || hd->dims[0] > INT32_MAX || hd->dims[1] > INT32_MAX)
        return t5pt_set_error(T5PT_ERR_SHAPE, "%s: a prompt must be a 2-D array [n, d] with n, d > 0 (got %d dims)", path,
                              hd->ndim);
    return T5PT_OK;
}

static t5pt_status load_npy(const char *path, float **out, int *n_out, int *d_out) {
    char *data = NULL;
    size_t len;
    float *P = NULL;
    npy_header hd = {0};
    const char *dict = NULL;
    size_t dict_len = 0;
    t5pt_status st;
    if ((st = t5pt_read_file(path, &data, &len))) goto done;
    if ((st = npy_preamble(path, (const unsigned char *)data, len, &hd, &dict, &dict_len))) goto done;
    if ((st = npy_dict(path, dict, dict_len, &hd))) goto done;
    if ((st = npy_check_prompt(path, &hd))) goto done;
    size_t count = (size_t)hd.dims[0] * (size_t)hd.dims[1];
    size_t body = len - hd.data_start;
    if (count > SIZE_MAX / 4 || body != count * 4) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: [%lld, %lld] float32 needs %zu data bytes, the file has %zu", path,
                            (long long)hd.dims[0], (long long)hd.dims[1], count * 4, body);
        goto done;
    }
    if (!(P = malloc(count * sizeof(float)))) {
        st = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    const unsigned char *q = (const unsigned char *)data + hd.data_start;
    for (size_t k = 0; k < count; k++) {
        uint32_t v = get_le32(q + 4 * k);
        memcpy(&P[k], &v, 4);
        if (!isfinite(P[k])) {
            st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: value %zu is not finite", path, k);
            goto done;
        }
    }
    *out = P;
    P = NULL;
    *n_out = (int)hd.dims[0];
    *d_out = (int)hd.dims[1];
done:
    free(P);
    free(data);
    return st;
}

/* ---------------------------------------------------------------- safetensors / PEFT load */

/* The t5pt entries of a prompt file's metadata into info (NULL: nothing to record). */
static t5pt_status read_prompt_metadata(const st_file *f, const char *path, t5pt_prompt_info *info) {
    if (!info) return T5PT_OK;
    const char *pl = t5pt_st_metadata(f, "t5pt_placement"), *init = t5pt_st_metadata(f, "t5pt_init");
    if (pl) {
        t5pt_placement parsed;
        if (strlen(pl) >= sizeof info->placement || t5pt_placement_parse(&parsed, pl) != T5PT_OK)
            return t5pt_set_error(T5PT_ERR_FORMAT, "%s: recorded placement \"%.40s\" is not prepend, append or at:K",
                                  path, pl);
        snprintf(info->placement, sizeof info->placement, "%s", pl);
    }
    if (init) snprintf(info->init, sizeof info->init, "%s", init);
    return T5PT_OK;
}

/* Reads rows [0, take) of the 2-D tensor "prompt_embeddings" in file `path`.
 * want_rows / want_d: required sizes (0 = any); take 0 = all rows. */
static t5pt_status load_prompt_tensor(const char *path, int want_rows, int want_d, int take, float **out, int *n_out,
                                      int *d_out, t5pt_prompt_info *info) {
    st_file *f = NULL;
    float *all = NULL;
    t5pt_status st = t5pt_st_open(&f, path);
    if (st) return st;
    /* every message is written before t5pt_st_close: t points into f */
    const st_tensor *t = t5pt_st_get(f, "prompt_embeddings");
    if (!t) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: no tensor \"prompt_embeddings\"", path);
        goto done;
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: prompt_embeddings has dtype %s (want a float type)", path,
                            t5pt_st_dtype_name(t->dtype));
        goto done;
    }
    if (t->ndim != 2 || t->shape[0] <= 0 || t->shape[1] <= 0 || t->shape[0] > INT32_MAX || t->shape[1] > INT32_MAX) {
        st = t5pt_set_error(T5PT_ERR_SHAPE, "%s: prompt_embeddings must be 2-D [rows, d] with rows, d > 0", path);
        goto done;
    }
    int rows = (int)t->shape[0], d = (int)t->shape[1];
    if ((want_rows && rows != want_rows) || (want_d && d != want_d)) {
        st = t5pt_set_error(T5PT_ERR_SHAPE,
                            "%s: prompt_embeddings is [%d, %d] but adapter_config.json implies [%d, %d]"
                            " (num_virtual_tokens x num_transformer_submodules, token_dim)",
                            path, rows, d, want_rows, want_d ? want_d : d);
        goto done;
    }
    if ((st = read_prompt_metadata(f, path, info)) != T5PT_OK) goto done;
    if (!(all = malloc(t->numel * sizeof(float)))) {
        st = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((st = t5pt_st_read_f32(f, t, all))) goto done;
    int n = take ? take : rows;
    for (size_t k = 0; k < (size_t)n * d; k++)
        if (!isfinite(all[k])) {
            st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: prompt_embeddings value %zu is not finite", path, k);
            goto done;
        }
    if (n < rows) {
        float *shrunk = realloc(all, (size_t)n * d * sizeof(float));
        if (shrunk) all = shrunk;
    }
    *out = all;
    all = NULL;
    *n_out = n;
    *d_out = d;
    if (info) info->rows_in_file = rows;
done:
    free(all);
    t5pt_st_close(f);
    return st;
}

static int json_int_field(const json_value *root, const char *key, int64_t *v, int *present) {
    const json_value *x = t5pt_json_get(root, key);
    *present = 0;
    if (!x || x->type == JSON_NULL) return 0;
    if (!t5pt_json_is_int(x)) return -1;
    *present = 1;
    *v = x->inum;
    return 0;
}

/* The rows a PEFT adapter_config.json implies: *rows = num_virtual_tokens x submodules,
 * *take = num_virtual_tokens (the encoder's rows), *dim = token_dim (0 when null). */
static t5pt_status read_peft_config(const char *cfg_path, int *rows, int *take, int *dim) {
    json_doc *doc = NULL;
    t5pt_status st = t5pt_read_json(cfg_path, T5PT_ERR_FORMAT, &doc);
    if (st) return st;
    const json_value *root = t5pt_json_root(doc);
    const char *ptype = root->type == JSON_OBJECT ? t5pt_json_get_str(root, "peft_type") : NULL;
    int64_t nvt = 0, d = 0, subm = 0;
    int has_nvt, has_dim, has_subm;
    if (root->type != JSON_OBJECT) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: not a JSON object", cfg_path);
    } else if (!ptype) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: no \"peft_type\"", cfg_path);
    } else if (strcmp(ptype, "PROMPT_TUNING") != 0) {
        st = t5pt_set_error(T5PT_ERR_UNSUPPORTED, "%s: peft_type is \"%s\"; only PROMPT_TUNING adapters hold a soft prompt",
                            cfg_path, ptype);
    } else if (json_int_field(root, "num_virtual_tokens", &nvt, &has_nvt) || !has_nvt || nvt <= 0 || nvt > INT32_MAX) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: \"num_virtual_tokens\" must be a positive integer", cfg_path);
    } else if (json_int_field(root, "token_dim", &d, &has_dim) || (has_dim && (d <= 0 || d > INT32_MAX))) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: \"token_dim\" must be a positive integer or null", cfg_path);
    } else if (json_int_field(root, "num_transformer_submodules", &subm, &has_subm) ||
               (has_subm && subm != 1 && subm != 2)) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: \"num_transformer_submodules\" must be 1, 2 or null", cfg_path);
    } else {
        if (!has_subm) {
            /* PEFT's _prepare_prompt_learning_config: 2 for SEQ_2_SEQ_LM, else 1 */
            const char *task = t5pt_json_get_str(root, "task_type");
            subm = task && strcmp(task, "SEQ_2_SEQ_LM") == 0 ? 2 : 1;
        }
        if (nvt * subm > INT32_MAX)   /* the row count is an int */
            st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: num_virtual_tokens %lld x %lld submodules is too large", cfg_path,
                                (long long)nvt, (long long)subm);
        *rows = (int)(nvt * subm);
        *take = (int)nvt;
        *dim = has_dim ? (int)d : 0;
    }
    t5pt_json_free(doc);
    return st;
}

/* A PEFT adapter: cfg_path's config, the tensor file tensors_path. With 2 submodules PEFT (>= 0.4)
 * feeds rows [0, n) to the encoder: those are taken. */
static t5pt_status load_peft(const char *cfg_path, const char *tensors_path, float **out, int *n_out, int *d_out,
                             t5pt_prompt_info *info) {
    int rows = 0, take = 0, dim = 0;
    t5pt_status st = read_peft_config(cfg_path, &rows, &take, &dim);
    if (st) return st;
    st = load_prompt_tensor(tensors_path, rows, dim, take, out, n_out, d_out, info);
    if (st == T5PT_OK && info) info->from_config = 1;
    return st;
}

static t5pt_status load_peft_dir(const char *dir, float **out, int *n_out, int *d_out, t5pt_prompt_info *info) {
    char *cfg_path = t5pt_path_join(dir, "adapter_config.json");
    char *t5pt_st_path = t5pt_path_join(dir, "adapter_model.safetensors");
    char *bin_path = t5pt_path_join(dir, "adapter_model.bin");
    t5pt_status st = T5PT_OK;
    if (!cfg_path || !t5pt_st_path || !bin_path)
        st = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", dir);
    else if (!t5pt_file_exists(cfg_path))
        st = t5pt_set_error(T5PT_ERR_IO, "%s: no adapter_config.json: not a PEFT adapter directory", dir);
    else if (!t5pt_file_exists(t5pt_st_path) && t5pt_file_exists(bin_path))
        st = t5pt_set_error(T5PT_ERR_UNSUPPORTED,
                            "%s: only adapter_model.bin (a pickle) is present; re-save the adapter with safetensors "
                            "(PEFT save_pretrained(safe_serialization=True))",
                            dir);
    else if (!t5pt_file_exists(t5pt_st_path))
        st = t5pt_set_error(T5PT_ERR_IO, "%s: no adapter_model.safetensors", dir);
    else
        st = load_peft(cfg_path, t5pt_st_path, out, n_out, d_out, info);
    free(cfg_path);
    free(t5pt_st_path);
    free(bin_path);
    return st;
}

/* The adapter_config.json beside a bare adapter_model.safetensors (malloc'd), or NULL. */
static char *sibling_peft_config(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (strcmp(base, "adapter_model.safetensors") != 0) return NULL;
    /* the directory part: "." for a bare name, "/" for "/adapter_model.safetensors" */
    char *dir = !slash ? strdup(".") : strndup(path, slash == path ? 1 : (size_t)(slash - path));
    if (!dir) return NULL;
    char *cfg = t5pt_path_join(dir, "adapter_config.json");
    free(dir);
    if (cfg && !t5pt_file_exists(cfg)) {
        free(cfg);
        cfg = NULL;
    }
    return cfg;
}

t5pt_status t5pt_prompt_load_ex(const char *path, float **P, int *n, int *d_model, t5pt_prompt_info *info) {
    if (!path || !P || !n || !d_model) return t5pt_set_error(T5PT_ERR_ARG, "load prompt: NULL argument");
    *P = NULL;
    *n = *d_model = 0;
    if (info) memset(info, 0, sizeof *info);
    if (t5pt_is_dir(path)) return load_peft_dir(path, P, n, d_model, info);
    FILE *f = fopen(path, "rb");
    if (!f) return t5pt_set_error(T5PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[6] = {0};
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    size_t len = strlen(path);
    int npy_name = len >= 4 && strcmp(path + len - 4, ".npy") == 0;
    if ((got == 6 && memcmp(magic, "\x93NUMPY", 6) == 0) || npy_name) {
        t5pt_status st = load_npy(path, P, n, d_model);
        if (st == T5PT_OK && info) info->rows_in_file = *n;
        return st;
    }
    /* a bare adapter_model.safetensors: its adapter_config.json says how many rows the encoder uses */
    char *cfg = sibling_peft_config(path);
    if (cfg) {
        t5pt_status st = load_peft(cfg, path, P, n, d_model, info);
        free(cfg);
        return st;
    }
    return load_prompt_tensor(path, 0, 0, 0, P, n, d_model, info);
}

t5pt_status t5pt_prompt_load(const char *path, float **P, int *n, int *d_model) {
    return t5pt_prompt_load_ex(path, P, n, d_model, NULL);
}
