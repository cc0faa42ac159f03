/* prompt.c — where a soft prompt comes from and where it goes: initialisation
 * (random-uniform, sampled-vocab, class-labels, text) and files (Hugging Face PEFT
 * prompt-tuning adapters, bare safetensors, T5X .npy).
 *
 * ---------------------------------------------------------------- initialisation
 * Lester et al. 2021 §3 / §7.1 compare three inits; t5pt has them plus PEFT's text init.
 * All randomness comes from t5pt_rng (xoshiro256**, seeded): the same seed gives the same
 * prompt on every platform.
 *   random-uniform  P[i,j] = (2u - 1) * range, u uniform in [0,1), row-major order (paper: range 0.5).
 *   sampled-vocab   each row is the embedding of a distinct id drawn without replacement from
 *                   [0, min(5000, vocab)) minus pad (0), eos (1) and unk (2) (and the config's
 *                   pad / eos ids): T5's SentencePiece vocabulary is ordered by frequency, so
 *                   these are "the 5,000 most common tokens". Drawn by a partial Fisher-Yates
 *                   shuffle of the candidate list with unbiased bounded integers.
 *   class-labels    row k (k < num_labels) = mean of the embedding rows of label k's token ids
 *                   (multi-token labels averaged; sum in double, one rounding); the remaining
 *                   rows are sampled-vocab with the same seed. More labels than rows is an error.
 *   text            row i = embedding of text_ids[i mod text_len]: repeated cyclically to fill,
 *                   truncated when longer — PEFT's PromptTuningInit.TEXT rule.
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
 * prompt_tuning_init takes PEFT's enum (RANDOM, TEXT, SAMPLE_VOCAB; SAMPLE_VOCAB exists since
 * PEFT 0.18 and older versions keep it as an inert string): random-uniform -> RANDOM,
 * sampled-vocab and class-labels (rows built from vocabulary embeddings) -> SAMPLE_VOCAB,
 * text -> TEXT when the init text and a tokenizer path are known (PEFT's config refuses TEXT
 * without both), else RANDOM. The init only matters to PEFT when it builds a NEW adapter;
 * loading uses the saved rows. t5pt's own init name goes into the safetensors metadata.
 *
 * Loading accepts: a PEFT directory (1 or 2 submodules; with 2 the encoder rows [0, n) are
 * used, as PEFT >= 0.4 does), a .safetensors file with "prompt_embeddings" [n, d], and a T5X
 * .npy file ([n, d], '<f4', C order; NPY format versions 1.0, 2.0 and 3.0).
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

#define SAMPLED_VOCAB_LIMIT 5000

/* ---------------------------------------------------------------- init */

t5pt_status t5pt_init_parse_kind(t5pt_init_kind *kind, const char *text) {
    if (!text) return t5pt_set_error(T5PT_ERR_ARG, "--init: missing name (random-uniform|sampled-vocab|class-labels|text)");
    if (strcmp(text, "random-uniform") == 0 || strcmp(text, "random") == 0) *kind = T5PT_INIT_RANDOM_UNIFORM;
    else if (strcmp(text, "sampled-vocab") == 0 || strcmp(text, "vocab") == 0) *kind = T5PT_INIT_SAMPLED_VOCAB;
    else if (strcmp(text, "class-labels") == 0 || strcmp(text, "labels") == 0) *kind = T5PT_INIT_CLASS_LABELS;
    else if (strcmp(text, "text") == 0) *kind = T5PT_INIT_TEXT;
    else
        return t5pt_set_error(T5PT_ERR_ARG, "--init: unknown kind '%s' (random-uniform|sampled-vocab|class-labels|text)",
                              text);
    return T5PT_OK;
}

/* Uniform integer in [0, bound), unbiased (rejects the low 2^64 mod bound values). */
static uint64_t rng_below(t5pt_rng *r, uint64_t bound) {
    uint64_t threshold = (0 - bound) % bound;
    for (;;) {
        uint64_t x = t5pt_rng_next(r);
        if (x >= threshold) return x % bound;
    }
}

/* Rows row0..n-1 of P from distinct sampled-vocab ids (see the header comment). */
static t5pt_status fill_sampled_vocab(float *P, int row0, int n, const t5pt_model *m, t5pt_rng *rng) {
    const t5pt_config *cfg = t5pt_model_config(m);
    int d = cfg->d_model;
    int limit = cfg->vocab_size < SAMPLED_VOCAB_LIMIT ? cfg->vocab_size : SAMPLED_VOCAB_LIMIT;
    int need = n - row0;
    if (need <= 0) return T5PT_OK;
    int32_t *pool = malloc((size_t)(limit > 0 ? limit : 1) * sizeof *pool);
    if (!pool) return t5pt_set_error(T5PT_ERR_NOMEM, "sampled-vocab init: out of memory");
    int np = 0;
    for (int id = 0; id < limit; id++) {
        if (id <= 2 || id == cfg->pad_token_id || id == cfg->eos_token_id) continue;   /* pad, eos, unk */
        pool[np++] = id;
    }
    if (need > np) {
        free(pool);
        return t5pt_set_error(T5PT_ERR_ARG,
                              "sampled-vocab init: %d rows need distinct ids but only %d ids < %d (minus pad/eos/unk) exist",
                              need, np, limit);
    }
    for (int k = 0; k < need; k++) {
        int j = k + (int)rng_below(rng, (uint64_t)(np - k));
        int32_t t = pool[k];
        pool[k] = pool[j];
        pool[j] = t;
        const int id = pool[k];
        if (t5pt_model_embedding(m, id, P + (size_t)(row0 + k) * d) != T5PT_OK) {
            free(pool);
            return t5pt_set_error(T5PT_ERR_ARG, "sampled-vocab init: no embedding row for id %d", id);
        }
    }
    free(pool);
    return T5PT_OK;
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
    case T5PT_INIT_RANDOM_UNIFORM: {
        if (!(ic->range >= 0.0f) || !isfinite(ic->range))
            return t5pt_set_error(T5PT_ERR_ARG, "random-uniform init: range must be a finite number >= 0 (got %g)",
                                  (double)ic->range);
        const double r = ic->range;
        for (size_t k = 0; k < (size_t)n * d; k++) P[k] = (float)((2.0 * t5pt_rng_uniform(&rng) - 1.0) * r);
        return T5PT_OK;
    }
    case T5PT_INIT_SAMPLED_VOCAB:
        return fill_sampled_vocab(P, 0, n, m, &rng);

    case T5PT_INIT_CLASS_LABELS: {
        if (ic->num_labels <= 0 || !ic->label_ids || !ic->label_lens)
            return t5pt_set_error(T5PT_ERR_ARG, "class-labels init: no labels given");
        if (ic->num_labels > n)
            return t5pt_set_error(T5PT_ERR_ARG, "class-labels init: %d labels do not fit a prompt of %d rows",
                                  ic->num_labels, n);
        for (int k = 0; k < ic->num_labels; k++) {
            if (ic->label_lens[k] <= 0 || !ic->label_ids[k])
                return t5pt_set_error(T5PT_ERR_ARG, "class-labels init: label %d has no tokens", k);
            if ((st = check_ids(m, ic->label_ids[k], ic->label_lens[k], "class-labels init: label", k))) return st;
        }
        double *acc = malloc((size_t)d * sizeof *acc);
        float *e = malloc((size_t)d * sizeof *e);
        if (!acc || !e) {
            free(acc), free(e);
            return t5pt_set_error(T5PT_ERR_NOMEM, "class-labels init: out of memory");
        }
        for (int k = 0; k < ic->num_labels; k++) {
            for (int j = 0; j < d; j++) acc[j] = 0.0;
            for (int t = 0; t < ic->label_lens[k]; t++) {
                t5pt_model_embedding(m, ic->label_ids[k][t], e); /* ids checked above */
                for (int j = 0; j < d; j++) acc[j] += e[j];
            }
            for (int j = 0; j < d; j++) P[(size_t)k * d + j] = (float)(acc[j] / ic->label_lens[k]);
        }
        free(acc), free(e);
        return fill_sampled_vocab(P, ic->num_labels, n, m, &rng);
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

static const char *peft_init_value(const t5pt_peft_info *info, int *use_text) {
    *use_text = 0;
    const char *name = info ? info->init_name : NULL;
    t5pt_init_kind k;
    if (!name || t5pt_init_parse_kind(&k, name) != T5PT_OK) {
        /* already a PEFT value? keep it when it is one PEFT knows */
        if (name && (!strcmp(name, "RANDOM") || !strcmp(name, "SAMPLE_VOCAB"))) return name;
        if (name && !strcmp(name, "TEXT")) k = T5PT_INIT_TEXT;
        else return "RANDOM";
    }
    switch (k) {
    case T5PT_INIT_RANDOM_UNIFORM: return "RANDOM";
    case T5PT_INIT_SAMPLED_VOCAB:
    case T5PT_INIT_CLASS_LABELS: return "SAMPLE_VOCAB";
    case T5PT_INIT_TEXT: {
        const char *tok = info->tokenizer_name_or_path ? info->tokenizer_name_or_path : info->base_model;
        if (info->init_text && tok) {
            *use_text = 1;
            return "TEXT";
        }
        return "RANDOM";
    }
    }
    return "RANDOM";
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

static t5pt_status load_npy(const char *path, float **out, int *n_out, int *d_out) {
    char *data;
    size_t len;
    t5pt_status st = t5pt_read_file(path, &data, &len);
    if (st) return st;
    const unsigned char *u = (const unsigned char *)data;
    if (len < 10 || memcmp(u, "\x93NUMPY", 6) != 0) {
        free(data);
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: not an NPY file (no \\x93NUMPY magic)", path);
    }
    int major = u[6], minor = u[7];
    size_t hlen, start;
    if (major == 1) {
        hlen = (size_t)u[8] | (size_t)u[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) {
            free(data);
            return t5pt_set_error(T5PT_ERR_FORMAT, "%s: NPY header is truncated", path);
        }
        hlen = get_le32(u + 8);
        start = 12;
    } else {
        free(data);
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: NPY format version %d.%d is not supported (1.0, 2.0, 3.0 are)", path,
                              major, minor);
    }
    if (minor != 0) {
        free(data);
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: NPY format version %d.%d is not supported (1.0, 2.0, 3.0 are)", path,
                              major, minor);
    }
    if (hlen > len - start) {
        free(data);
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: NPY header length %zu runs past the end of the file (%zu bytes)",
                              path, hlen, len);
    }
    const char *h = data + start;
    if (hlen == 0 || h[hlen - 1] != '\n') {
        free(data);
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: NPY header does not end with a newline", path);
    }
    npy_lex x = {h, h + hlen - 1, path};
    char key[32], descr[32] = "";
    int have_descr = 0, have_fo = 0, have_shape = 0, fortran = 0, ndim = 0;
    int64_t dims[NPY_MAX_DIMS];
    const char *bad = NULL;
    if (npy_char(&x, '{')) bad = "the header is not a dict literal";
    while (!bad) {
        if (npy_char(&x, '}') == 0) break;
        if (npy_string(&x, key, sizeof key) || npy_char(&x, ':')) {
            bad = "malformed key in the header dict";
            break;
        }
        if (!strcmp(key, "descr")) {
            if (have_descr++ || npy_string(&x, descr, sizeof descr)) bad = "bad or repeated 'descr'";
        } else if (!strcmp(key, "fortran_order")) {
            if (have_fo++) bad = "repeated 'fortran_order'";
            else if (npy_word(&x, "True") == 0) fortran = 1;
            else if (npy_word(&x, "False") == 0) fortran = 0;
            else bad = "'fortran_order' is not True or False";
        } else if (!strcmp(key, "shape")) {
            if (have_shape++ || npy_shape(&x, dims, &ndim)) bad = "bad or repeated 'shape' (want a tuple of integers)";
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
    if (bad) {
        free(data);
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: malformed NPY header: %s", path, bad);
    }
    if (strcmp(descr, "<f4") != 0) {
        free(data);
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: dtype '%s' is not supported: a prompt must be little-endian float32 ('<f4')",
                              path, descr);
    }
    if (fortran) {
        free(data);
        return t5pt_set_error(T5PT_ERR_FORMAT,
                              "%s: fortran_order True (column-major) is not supported: save the prompt in C order", path);
    }
    if (ndim != 2 || dims[0] <= 0 || dims[1] <= 0 || dims[0] > INT32_MAX || dims[1] > INT32_MAX) {
        free(data);
        return t5pt_set_error(T5PT_ERR_SHAPE, "%s: a prompt must be a 2-D array [n, d] with n, d > 0 (got %d dims)", path,
                              ndim);
    }
    size_t count = (size_t)dims[0] * (size_t)dims[1];
    size_t body = len - start - hlen;
    if (count > SIZE_MAX / 4 || body != count * 4) {
        free(data);
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: [%lld, %lld] float32 needs %zu data bytes, the file has %zu", path,
                              (long long)dims[0], (long long)dims[1], count * 4, body);
    }
    float *P = malloc(count * sizeof(float));
    if (!P) {
        free(data);
        return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
    }
    const unsigned char *q = u + start + hlen;
    for (size_t k = 0; k < count; k++) {
        uint32_t v = get_le32(q + 4 * k);
        memcpy(&P[k], &v, 4);
    }
    free(data);
    for (size_t k = 0; k < count; k++)
        if (!isfinite(P[k])) {
            free(P);
            return t5pt_set_error(T5PT_ERR_FORMAT, "%s: value %zu is not finite", path, k);
        }
    *out = P;
    *n_out = (int)dims[0];
    *d_out = (int)dims[1];
    return T5PT_OK;
}

/* ---------------------------------------------------------------- safetensors / PEFT load */

/* Reads rows [0, take) of the 2-D tensor "prompt_embeddings" in file `path`.
 * want_rows / want_d: required sizes (0 = any); take 0 = all rows. */
static t5pt_status load_prompt_tensor(const char *path, int want_rows, int want_d, int take, float **out, int *n_out,
                                      int *d_out) {
    st_file *f;
    t5pt_status st = t5pt_st_open(&f, path);
    if (st) return st;
    const st_tensor *t = t5pt_st_get(f, "prompt_embeddings");
    if (!t) {
        t5pt_st_close(f);
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: no tensor \"prompt_embeddings\"", path);
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64) {
        t5pt_st_close(f);
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: prompt_embeddings has dtype %s (want a float type)", path,
                              t5pt_st_dtype_name(t->dtype));
    }
    if (t->ndim != 2 || t->shape[0] <= 0 || t->shape[1] <= 0 || t->shape[0] > INT32_MAX || t->shape[1] > INT32_MAX) {
        t5pt_st_close(f);
        return t5pt_set_error(T5PT_ERR_SHAPE, "%s: prompt_embeddings must be 2-D [rows, d] with rows, d > 0", path);
    }
    int rows = (int)t->shape[0], d = (int)t->shape[1];
    if ((want_rows && rows != want_rows) || (want_d && d != want_d)) {
        t5pt_st_close(f);
        return t5pt_set_error(T5PT_ERR_SHAPE,
                              "%s: prompt_embeddings is [%d, %d] but adapter_config.json implies [%d, %d]"
                              " (num_virtual_tokens x num_transformer_submodules, token_dim)",
                              path, rows, d, want_rows, want_d ? want_d : d);
    }
    float *all = malloc(t->numel * sizeof(float));
    if (!all) {
        t5pt_st_close(f);
        return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
    }
    st = t5pt_st_read_f32(f, t, all);
    t5pt_st_close(f);
    if (st) {
        free(all);
        return st;
    }
    int n = take ? take : rows;
    for (size_t k = 0; k < (size_t)n * d; k++)
        if (!isfinite(all[k])) {
            free(all);
            return t5pt_set_error(T5PT_ERR_FORMAT, "%s: prompt_embeddings value %zu is not finite", path, k);
        }
    if (n < rows) {
        float *shrunk = realloc(all, (size_t)n * d * sizeof(float));
        if (shrunk) all = shrunk;
    }
    *out = all;
    *n_out = n;
    *d_out = d;
    return T5PT_OK;
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

static t5pt_status load_peft_dir(const char *dir, float **out, int *n_out, int *d_out) {
    char *cfg_path = t5pt_path_join(dir, "adapter_config.json");
    char *t5pt_st_path = t5pt_path_join(dir, "adapter_model.safetensors");
    char *bin_path = t5pt_path_join(dir, "adapter_model.bin");
    json_doc *doc = NULL;
    t5pt_status st = T5PT_OK;
    if (!cfg_path || !t5pt_st_path || !bin_path) {
        st = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    if (!t5pt_file_exists(cfg_path)) {
        st = t5pt_set_error(T5PT_ERR_IO, "%s: no adapter_config.json: not a PEFT adapter directory", dir);
        goto done;
    }
    if ((st = t5pt_read_json(cfg_path, T5PT_ERR_FORMAT, &doc))) goto done;
    const json_value *root = t5pt_json_root(doc);
    if (root->type != JSON_OBJECT) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: not a JSON object", cfg_path);
        goto done;
    }
    const char *ptype = t5pt_json_get_str(root, "peft_type");
    if (!ptype) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: no \"peft_type\"", cfg_path);
        goto done;
    }
    if (strcmp(ptype, "PROMPT_TUNING") != 0) {
        st = t5pt_set_error(T5PT_ERR_UNSUPPORTED, "%s: peft_type is \"%s\"; only PROMPT_TUNING adapters hold a soft prompt",
                            cfg_path, ptype);
        goto done;
    }
    int64_t nvt = 0, dim = 0, subm = 0;
    int has_nvt, has_dim, has_subm;
    if (json_int_field(root, "num_virtual_tokens", &nvt, &has_nvt) || !has_nvt || nvt <= 0 || nvt > INT32_MAX) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: \"num_virtual_tokens\" must be a positive integer", cfg_path);
        goto done;
    }
    if (json_int_field(root, "token_dim", &dim, &has_dim) || (has_dim && (dim <= 0 || dim > INT32_MAX))) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: \"token_dim\" must be a positive integer or null", cfg_path);
        goto done;
    }
    if (json_int_field(root, "num_transformer_submodules", &subm, &has_subm) ||
        (has_subm && subm != 1 && subm != 2)) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: \"num_transformer_submodules\" must be 1, 2 or null", cfg_path);
        goto done;
    }
    if (!has_subm) {
        /* PEFT's _prepare_prompt_learning_config: 2 for SEQ_2_SEQ_LM, else 1 */
        const char *task = t5pt_json_get_str(root, "task_type");
        subm = task && strcmp(task, "SEQ_2_SEQ_LM") == 0 ? 2 : 1;
    }
    if (!t5pt_file_exists(t5pt_st_path)) {
        if (t5pt_file_exists(bin_path))
            st = t5pt_set_error(T5PT_ERR_UNSUPPORTED,
                                "%s: only adapter_model.bin (a pickle) is present; re-save the adapter with safetensors "
                                "(PEFT save_pretrained(safe_serialization=True))",
                                dir);
        else
            st = t5pt_set_error(T5PT_ERR_IO, "%s: no adapter_model.safetensors", dir);
        goto done;
    }
    if (nvt * subm > INT32_MAX) {   /* the row count below is an int */
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: num_virtual_tokens %lld x %lld submodules is too large", cfg_path,
                            (long long)nvt, (long long)subm);
        goto done;
    }
    /* with 2 submodules PEFT (>= 0.4) feeds rows [0, n) to the encoder: take those */
    st = load_prompt_tensor(t5pt_st_path, (int)(nvt * subm), has_dim ? (int)dim : 0, (int)nvt, out, n_out, d_out);

done:
    t5pt_json_free(doc);
    free(cfg_path);
    free(t5pt_st_path);
    free(bin_path);
    return st;
}

t5pt_status t5pt_prompt_load(const char *path, float **P, int *n, int *d_model) {
    if (!path || !P || !n || !d_model) return t5pt_set_error(T5PT_ERR_ARG, "load prompt: NULL argument");
    *P = NULL;
    *n = *d_model = 0;
    if (t5pt_is_dir(path)) return load_peft_dir(path, P, n, d_model);
    FILE *f = fopen(path, "rb");
    if (!f) return t5pt_set_error(T5PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[6] = {0};
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    size_t len = strlen(path);
    int npy_name = len >= 4 && strcmp(path + len - 4, ".npy") == 0;
    if ((got == 6 && memcmp(magic, "\x93NUMPY", 6) == 0) || npy_name) return load_npy(path, P, n, d_model);
    return load_prompt_tensor(path, 0, 0, 0, P, n, d_model);
}
