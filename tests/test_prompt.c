/* test_prompt.c — prompt initialisation on a random model, and prompt files: PEFT adapter
 * save/load (ours and the one golden/export.py writes), bare safetensors, T5X .npy, and a
 * test per malformed input. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/internal.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "t5pt.h"
#include "file_util.h"

/* ---------------------------------------------------------------- fixtures */

static t5pt_model *model;    /* random T5, vocab 6000 so the 5000 limit matters */

static void setup(void) {
    t5pt_config c = {0};
    c.vocab_size = 6000;
    c.d_model = 16;
    c.d_kv = 4;
    c.d_ff = 32;
    c.num_layers = 1;
    c.num_decoder_layers = 1;
    c.num_heads = 4;
    c.rel_num_buckets = 8;
    c.rel_max_distance = 16;
    c.layer_norm_epsilon = 1e-6f;
    c.tie_word_embeddings = 1;
    c.decoder_start_token_id = 0;
    c.pad_token_id = 0;
    c.eos_token_id = 1;
    ck_assert_msg(t5pt_model_init_random(&model, &c, 1234) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_ptr_nonnull(test_tmpdir_create("test_prompt"));
}

static void teardown(void) {
    t5pt_model_free(model);
    model = NULL;
    test_tmpdir_remove();
}

static int D(void) { return t5pt_model_config(model)->d_model; }

/* Embedding row id widened to fp32 (the model keeps its table in stored precision), in
 * one buffer reused by every call: valid until the next call. */
static const float *emb_row(int id) {
    static float *e;
    if (!e) e = malloc(sizeof *e << 16); /* any test model's d_model */
    ck_assert_ptr_nonnull(e);
    ck_assert_int_le(D(), 1 << 16);
    ck_assert_int_eq(t5pt_model_embedding(model, id, e), T5PT_OK);
    return e;
}

/* The id whose embedding row equals row exactly (-1 if none): embeddings are random normals,
 * so equal rows mean equal ids. */
static int id_of_row(const float *row) {
    int V = t5pt_model_config(model)->vocab_size;
    float *e = malloc((size_t)D() * sizeof *e);
    ck_assert_ptr_nonnull(e);
    int found = -1;
    for (int id = 0; id < V && found < 0; id++) {
        t5pt_model_embedding(model, id, e);
        if (memcmp(e, row, (size_t)D() * sizeof(float)) == 0) found = id;
    }
    free(e);
    return found;
}

/* Rows [row0, n) come from ids in [0, 5000) (pad, eos and unk included, as the official code
 * draws), distinct when `distinct`. Returns how many rows are an id below 3. */
static int check_sampled_rows(const float *P, int row0, int n, int distinct) {
    static int seen[5000];
    memset(seen, 0, sizeof seen);
    int special = 0;
    for (int i = row0; i < n; i++) {
        int id = id_of_row(P + (size_t)i * D());
        ck_assert_msg(id >= 0 && id < 5000, "row %d is embedding %d (want 0..4999)", i, id);
        ck_assert_msg(!distinct || !seen[id], "id %d drawn twice", id);
        seen[id] = 1;
        special += id < 3;
    }
    return special;
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------- init */

START_TEST(test_parse_kind) {
    t5pt_init_kind k;
    ck_assert_int_eq(t5pt_init_parse_kind(&k, "random-uniform"), T5PT_OK);
    ck_assert_int_eq(k, T5PT_INIT_RANDOM_UNIFORM);
    ck_assert_int_eq(t5pt_init_parse_kind(&k, "sampled-vocab"), T5PT_OK);
    ck_assert_int_eq(k, T5PT_INIT_SAMPLED_VOCAB);
    ck_assert_int_eq(t5pt_init_parse_kind(&k, "class-labels"), T5PT_OK);
    ck_assert_int_eq(k, T5PT_INIT_CLASS_LABELS);
    ck_assert_int_eq(t5pt_init_parse_kind(&k, "text"), T5PT_OK);
    ck_assert_int_eq(k, T5PT_INIT_TEXT);
    ck_assert_int_eq(t5pt_init_parse_kind(&k, "random-uniform-t5x"), T5PT_OK);
    ck_assert_int_eq(k, T5PT_INIT_RANDOM_UNIFORM_T5X);
    ck_assert_int_eq(t5pt_init_parse_kind(&k, "xavier"), T5PT_ERR_ARG);
    ck_assert(strstr(t5pt_last_error(), "xavier") != NULL);
    ck_assert(strstr(t5pt_last_error(), "random-uniform-t5x") != NULL);
    /* the one table: every kind has a name that parses back, a help line and a PEFT name */
    const char *peft[] = {"RANDOM", "SAMPLE_VOCAB", "SAMPLE_VOCAB", "TEXT", "RANDOM"};
    for (int i = 0; i <= (int)T5PT_INIT_RANDOM_UNIFORM_T5X; i++) {
        const char *name = t5pt_init_kind_name((t5pt_init_kind)i);
        ck_assert_ptr_nonnull(name);
        ck_assert_int_eq(t5pt_init_parse_kind(&k, name), T5PT_OK);
        ck_assert_int_eq(k, i);
        ck_assert(strstr(t5pt_init_kind_choices(), name) != NULL);
        ck_assert(t5pt_init_kind_help((t5pt_init_kind)i)[0] != 0);
        ck_assert_str_eq(t5pt_init_peft_name((t5pt_init_kind)i), peft[i]);
    }
    ck_assert_ptr_null(t5pt_init_kind_name((t5pt_init_kind)99));
}
END_TEST

/* random-uniform-t5x: the official code's U[0, 0.5) (u * range with the same draws). */
START_TEST(test_init_random_uniform_t5x) {
    int n = 20, d = D();
    float *a = malloc(sizeof(float) * n * d);
    t5pt_init_config ic = {.kind = T5PT_INIT_RANDOM_UNIFORM_T5X, .range = 0.5f, .seed = 42};
    ck_assert_int_eq(t5pt_prompt_init(a, n, model, &ic), T5PT_OK);
    t5pt_rng r;
    t5pt_rng_seed(&r, 42);
    float lo = 1, hi = -1;
    for (int k = 0; k < n * d; k++) {
        ck_assert(a[k] == (float)(t5pt_rng_uniform(&r) * 0.5));
        ck_assert(a[k] >= 0.0f && a[k] < 0.5f);
        lo = fminf(lo, a[k]);
        hi = fmaxf(hi, a[k]);
    }
    ck_assert(lo < 0.05f && hi > 0.45f);
    ic.range = NAN;
    ck_assert_int_eq(t5pt_prompt_init(a, n, model, &ic), T5PT_ERR_ARG);
    ck_assert(strstr(t5pt_last_error(), "random-uniform-t5x") != NULL);
    free(a);
}
END_TEST

START_TEST(test_init_random_uniform) {
    int n = 20, d = D();
    float *a = malloc(sizeof(float) * n * d), *b = malloc(sizeof(float) * n * d), *c = malloc(sizeof(float) * n * d);
    t5pt_init_config ic = {0};
    ic.kind = T5PT_INIT_RANDOM_UNIFORM;
    ic.range = 0.5f;
    ic.seed = 42;
    ck_assert_int_eq(t5pt_prompt_init(a, n, model, &ic), T5PT_OK);
    ck_assert_int_eq(t5pt_prompt_init(b, n, model, &ic), T5PT_OK);
    ck_assert(memcmp(a, b, sizeof(float) * n * d) == 0);      /* same seed, same prompt */
    ic.seed = 43;
    ck_assert_int_eq(t5pt_prompt_init(c, n, model, &ic), T5PT_OK);
    ck_assert(memcmp(a, c, sizeof(float) * n * d) != 0);
    float lo = 1, hi = -1;
    double mean = 0;
    for (int k = 0; k < n * d; k++) {
        ck_assert(a[k] >= -0.5f && a[k] <= 0.5f);
        lo = fminf(lo, a[k]);
        hi = fmaxf(hi, a[k]);
        mean += a[k];
    }
    mean /= n * d;
    ck_assert(lo < -0.45f && hi > 0.45f && fabs(mean) < 0.05);   /* 320 draws fill the range */
    /* value k is (2u_k - 1) * range with u_k the k-th draw of t5pt_rng(seed) */
    t5pt_rng r;
    t5pt_rng_seed(&r, 42);
    for (int k = 0; k < n * d; k++) ck_assert(a[k] == (float)((2.0 * t5pt_rng_uniform(&r) - 1.0) * 0.5));
    ic.range = -1.0f;
    ck_assert_int_eq(t5pt_prompt_init(a, n, model, &ic), T5PT_ERR_ARG);
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(test_init_sampled_vocab) {
    int n = 100, d = D();
    float *a = malloc(sizeof(float) * n * d), *b = malloc(sizeof(float) * n * d);
    t5pt_init_config ic = {0};
    ic.kind = T5PT_INIT_SAMPLED_VOCAB;
    ic.seed = 7;
    ck_assert_int_eq(t5pt_prompt_init(a, n, model, &ic), T5PT_OK);
    check_sampled_rows(a, 0, n, 1);
    ck_assert_int_eq(t5pt_prompt_init(b, n, model, &ic), T5PT_OK);
    ck_assert(memcmp(a, b, sizeof(float) * n * d) == 0);
    ic.seed = 8;
    ck_assert_int_eq(t5pt_prompt_init(b, n, model, &ic), T5PT_OK);
    ck_assert(memcmp(a, b, sizeof(float) * n * d) != 0);
    /* all 5000 ids, pad/eos/unk included, without replacement: every id exactly once */
    float *big = malloc(sizeof(float) * 6000 * d);
    ck_assert_int_eq(t5pt_prompt_init(big, 5000, model, &ic), T5PT_OK);
    ck_assert_int_eq(check_sampled_rows(big, 0, 5000, 1), 3);
    /* past the pool: with replacement, never an error (the official code switches to replace=True) */
    ck_assert_int_eq(t5pt_prompt_init(big, 6000, model, &ic), T5PT_OK);
    check_sampled_rows(big, 0, 6000, 0);
    free(big);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_init_class_labels) {
    int n = 6, d = D();
    float *P = malloc(sizeof(float) * n * d), *Q = malloc(sizeof(float) * n * d);
    const int32_t l0[] = {5, 6, 7}, l1[] = {5008}, l2[] = {9, 10};
    const int32_t *labels[] = {l0, l1, l2};
    const int lens[] = {3, 1, 2};
    t5pt_init_config ic = {0};
    ic.kind = T5PT_INIT_CLASS_LABELS;
    ic.seed = 3;
    ic.label_ids = labels;
    ic.label_lens = lens;
    ic.num_labels = 3;
    ck_assert_int_eq(t5pt_prompt_init(P, n, model, &ic), T5PT_OK);
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (int t = 0; t < lens[k]; t++) s += emb_row(labels[k][t])[j];
            double want = s / lens[k];
            ck_assert_msg(fabs(P[k * d + j] - want) <= 1e-6 * (1 + fabs(want)), "label %d col %d", k, j);
        }
    /* a one-token label is its embedding row exactly, even past id 5000 */
    ck_assert(memcmp(P + d, emb_row(5008), sizeof(float) * d) == 0);
    check_sampled_rows(P, 3, n, 1);
    /* the official order: the whole prompt sampled-vocab first, then the label rows over it */
    t5pt_init_config sv = {.kind = T5PT_INIT_SAMPLED_VOCAB, .seed = 3};
    ck_assert_int_eq(t5pt_prompt_init(Q, n, model, &sv), T5PT_OK);
    ck_assert(memcmp(P + 3 * d, Q + 3 * d, sizeof(float) * (n - 3) * d) == 0);
    ck_assert_int_eq(t5pt_prompt_init(Q, n, model, &ic), T5PT_OK);
    ck_assert(memcmp(P, Q, sizeof(float) * n * d) == 0);
    /* more labels than rows: the extra labels are skipped, not an error */
    ck_assert_int_eq(t5pt_prompt_init(Q, 2, model, &ic), T5PT_OK);
    ck_assert(memcmp(P, Q, sizeof(float) * 2 * d) == 0);
    /* exactly as many labels as rows: no sampled rows */
    ck_assert_int_eq(t5pt_prompt_init(P, 3, model, &ic), T5PT_OK);
    /* an empty label, an id outside the vocabulary */
    const int lens_bad[] = {3, 0, 2};
    ic.label_lens = lens_bad;
    ck_assert_int_eq(t5pt_prompt_init(P, n, model, &ic), T5PT_ERR_ARG);
    const int32_t l_oob[] = {6000};
    const int32_t *labels_oob[] = {l0, l_oob, l2};
    ic.label_lens = lens;
    ic.label_ids = labels_oob;
    ck_assert_int_eq(t5pt_prompt_init(P, n, model, &ic), T5PT_ERR_ARG);
    ck_assert(strstr(t5pt_last_error(), "6000") != NULL);
    ic.num_labels = 0;
    ck_assert_int_eq(t5pt_prompt_init(P, n, model, &ic), T5PT_ERR_ARG);
    free(P);
    free(Q);
}
END_TEST

START_TEST(test_init_text) {
    int d = D();
    float *P = malloc(sizeof(float) * 7 * d);
    const int32_t ids[] = {11, 12, 13};
    t5pt_init_config ic = {0};
    ic.kind = T5PT_INIT_TEXT;
    ic.text_ids = ids;
    ic.text_len = 3;
    ck_assert_int_eq(t5pt_prompt_init(P, 7, model, &ic), T5PT_OK);
    for (int i = 0; i < 7; i++)   /* 11 12 13 11 12 13 11 */
        ck_assert(memcmp(P + i * d, emb_row(ids[i % 3]), sizeof(float) * d) == 0);
    ck_assert_int_eq(t5pt_prompt_init(P, 2, model, &ic), T5PT_OK);   /* longer text: truncated */
    ck_assert(memcmp(P + d, emb_row(12), sizeof(float) * d) == 0);
    ic.text_len = 0;
    ck_assert_int_eq(t5pt_prompt_init(P, 7, model, &ic), T5PT_ERR_ARG);
    const int32_t bad[] = {11, -3};
    ic.text_ids = bad;
    ic.text_len = 2;
    ck_assert_int_eq(t5pt_prompt_init(P, 7, model, &ic), T5PT_ERR_ARG);
    ck_assert_int_eq(t5pt_prompt_init(P, 0, model, &ic), T5PT_ERR_ARG);
    free(P);
}
END_TEST

/* ---------------------------------------------------------------- PEFT files */

static float *random_prompt(int n, int d, uint64_t seed) {
    float *P = malloc(sizeof(float) * n * d);
    t5pt_rng r;
    t5pt_rng_seed(&r, seed);
    for (int k = 0; k < n * d; k++) P[k] = t5pt_rng_normal(&r);
    return P;
}

static json_doc *read_json(const char *path) {
    json_doc *doc;
    ck_assert_msg(t5pt_read_json(path, T5PT_ERR_FORMAT, &doc) == T5PT_OK, "%s", t5pt_last_error());
    return doc;
}

START_TEST(test_peft_roundtrip) {
    int n = 5, d = 16;
    float *P = random_prompt(n, d, 1);
    const char *dir = test_tmp("adapter");
    ck_assert_msg(t5pt_prompt_save_peft(dir, P, n, d, "google/flan-t5-small", "sampled-vocab") == T5PT_OK, "%s",
                  t5pt_last_error());
    ck_assert_int_eq(count_entries(dir), 2);   /* the two files, no temp left behind */
    float *Q;
    int qn, qd;
    ck_assert_msg(t5pt_prompt_load(dir, &Q, &qn, &qd) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(qn, n);
    ck_assert_int_eq(qd, d);
    ck_assert(memcmp(P, Q, sizeof(float) * n * d) == 0);
    free(Q);

    /* the config, key by key (the PEFT fields) */
    json_doc *doc = read_json(test_tmp("adapter/adapter_config.json"));
    const json_value *r = t5pt_json_root(doc);
    int64_t v;
    int b;
    ck_assert_str_eq(t5pt_json_get_str(r, "peft_type"), "PROMPT_TUNING");
    ck_assert_str_eq(t5pt_json_get_str(r, "task_type"), "SEQ_2_SEQ_LM");
    ck_assert(t5pt_json_get_int(r, "num_virtual_tokens", &v) == 0 && v == n);
    ck_assert(t5pt_json_get_int(r, "token_dim", &v) == 0 && v == d);
    ck_assert(t5pt_json_get_int(r, "num_transformer_submodules", &v) == 0 && v == 1);
    ck_assert(t5pt_json_get_bool(r, "inference_mode", &b) == 0 && b == 1);
    ck_assert_str_eq(t5pt_json_get_str(r, "prompt_tuning_init"), "SAMPLE_VOCAB");
    ck_assert_str_eq(t5pt_json_get_str(r, "base_model_name_or_path"), "google/flan-t5-small");
    ck_assert(t5pt_json_get(r, "revision")->type == JSON_NULL && t5pt_json_get(r, "auto_mapping")->type == JSON_NULL);
    ck_assert(t5pt_json_get(r, "prompt_tuning_init_text")->type == JSON_NULL);
    ck_assert(t5pt_json_get(r, "tokenizer_name_or_path")->type == JSON_NULL);
    ck_assert_ptr_null(t5pt_json_get(r, "tokenizer_kwargs"));   /* unknown to PEFT 0.6: left out */
    /* keys sorted, as json.dumps(sort_keys=True) */
    for (size_t i = 1; i < r->len; i++) ck_assert(strcmp(r->u.members[i - 1].key, r->u.members[i].key) < 0);
    t5pt_json_free(doc);

    /* the weights file: one F32 [n, d] tensor, format pt */
    st_file *f;
    ck_assert_int_eq(t5pt_st_open(&f, test_tmp("adapter/adapter_model.safetensors")), T5PT_OK);
    ck_assert_int_eq(t5pt_st_count(f), 1);
    const st_tensor *t = t5pt_st_get(f, "prompt_embeddings");
    ck_assert(t && t->dtype == ST_F32 && t->ndim == 2 && t->shape[0] == n && t->shape[1] == d);
    ck_assert_str_eq(t5pt_st_metadata(f, "format"), "pt");
    ck_assert_str_eq(t5pt_st_metadata(f, "t5pt_init"), "sampled-vocab");
    t5pt_st_close(f);

    /* overwrite with another prompt: the new one loads */
    float *P2 = random_prompt(n, d, 2);
    ck_assert_int_eq(t5pt_prompt_save_peft(dir, P2, n, d, NULL, "random-uniform"), T5PT_OK);
    ck_assert_int_eq(t5pt_prompt_load(dir, &Q, &qn, &qd), T5PT_OK);
    ck_assert(memcmp(P2, Q, sizeof(float) * n * d) == 0);
    free(Q);
    doc = read_json(test_tmp("adapter/adapter_config.json"));
    ck_assert_str_eq(t5pt_json_get_str(t5pt_json_root(doc), "prompt_tuning_init"), "RANDOM");
    ck_assert(t5pt_json_get(t5pt_json_root(doc), "base_model_name_or_path")->type == JSON_NULL);
    t5pt_json_free(doc);
    free(P);
    free(P2);
}
END_TEST

START_TEST(test_peft_init_names) {
    int n = 2, d = 4;
    float *P = random_prompt(n, d, 3);
    t5pt_peft_info info = {0};
    const char *dir = test_tmp("names");
    json_doc *doc;
    /* text without the text / tokenizer: PEFT's config would refuse TEXT, so RANDOM */
    info.init_name = "text";
    ck_assert_int_eq(t5pt_prompt_save_peft_ex(dir, P, n, d, &info), T5PT_OK);
    doc = read_json(test_tmp("names/adapter_config.json"));
    ck_assert_str_eq(t5pt_json_get_str(t5pt_json_root(doc), "prompt_tuning_init"), "RANDOM");
    t5pt_json_free(doc);
    /* text with both: TEXT, the text, tokenizer = base model; model sizes filled in */
    info.init_text = "Classify: \"yes\" or no";
    info.base_model = "/models/t5-base";
    info.num_layers = 12;
    info.num_attention_heads = 12;
    info.placement = "prepend";
    ck_assert_int_eq(t5pt_prompt_save_peft_ex(dir, P, n, d, &info), T5PT_OK);
    doc = read_json(test_tmp("names/adapter_config.json"));
    const json_value *r = t5pt_json_root(doc);
    int64_t v;
    ck_assert_str_eq(t5pt_json_get_str(r, "prompt_tuning_init"), "TEXT");
    ck_assert_str_eq(t5pt_json_get_str(r, "prompt_tuning_init_text"), "Classify: \"yes\" or no");
    ck_assert_str_eq(t5pt_json_get_str(r, "tokenizer_name_or_path"), "/models/t5-base");
    ck_assert(t5pt_json_get_int(r, "num_layers", &v) == 0 && v == 12);
    ck_assert(t5pt_json_get_int(r, "num_attention_heads", &v) == 0 && v == 12);
    t5pt_json_free(doc);
    /* class-labels: rows from vocabulary embeddings */
    info.init_name = "class-labels";
    ck_assert_int_eq(t5pt_prompt_save_peft_ex(dir, P, n, d, &info), T5PT_OK);
    doc = read_json(test_tmp("names/adapter_config.json"));
    ck_assert_str_eq(t5pt_json_get_str(t5pt_json_root(doc), "prompt_tuning_init"), "SAMPLE_VOCAB");
    ck_assert(t5pt_json_get(t5pt_json_root(doc), "prompt_tuning_init_text")->type == JSON_NULL);
    t5pt_json_free(doc);
    free(P);
}
END_TEST

/* What an adapter records (placement, init, init text) comes back from t5pt_prompt_load_ex. */
START_TEST(test_peft_records_training) {
    int n = 3, d = 8;
    float *P = random_prompt(n, d, 4), *Q;
    const char *dir = test_tmp("recorded");
    t5pt_peft_info info = {.init_name = "class-labels", .init_text = "positive,negative", .placement = "append",
                           .num_layers = 2, .num_attention_heads = 4};
    ck_assert_int_eq(t5pt_prompt_save_peft_ex(dir, P, n, d, &info), T5PT_OK);
    t5pt_prompt_info pi;
    int qn, qd;
    ck_assert_msg(t5pt_prompt_load_ex(dir, &Q, &qn, &qd, &pi) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert(qn == n && qd == d && memcmp(P, Q, sizeof(float) * n * d) == 0);
    ck_assert_str_eq(pi.placement, "append");
    ck_assert_str_eq(pi.init, "class-labels");
    ck_assert_int_eq(pi.rows_in_file, n);
    ck_assert_int_eq(pi.from_config, 1);
    free(Q);
    st_file *f;
    ck_assert_int_eq(t5pt_st_open(&f, test_tmp("recorded/adapter_model.safetensors")), T5PT_OK);
    ck_assert_str_eq(t5pt_st_metadata(f, "t5pt_init_text"), "positive,negative");
    t5pt_st_close(f);
    json_doc *doc = read_json(test_tmp("recorded/adapter_config.json"));
    ck_assert_str_eq(t5pt_json_get_str(t5pt_json_root(doc), "prompt_tuning_init"), "SAMPLE_VOCAB");
    t5pt_json_free(doc);
    /* nothing recorded: empty strings */
    ck_assert_int_eq(t5pt_prompt_save_peft(dir, P, n, d, NULL, NULL), T5PT_OK);
    ck_assert_int_eq(t5pt_prompt_load_ex(dir, &Q, &qn, &qd, &pi), T5PT_OK);
    ck_assert(pi.placement[0] == 0 && pi.init[0] == 0);
    free(Q);
    /* a recorded placement that does not parse is refused */
    info.placement = "sideways";
    ck_assert_int_eq(t5pt_prompt_save_peft_ex(dir, P, n, d, &info), T5PT_OK);
    ck_assert_int_eq(t5pt_prompt_load_ex(dir, &Q, &qn, &qd, &pi), T5PT_ERR_FORMAT);
    ck_assert(strstr(t5pt_last_error(), "sideways") != NULL);
    free(P);
}
END_TEST

/* The bare-file pitfall: a PEFT seq2seq adapter_model.safetensors holds 2n rows. Given the file
 * with its adapter_config.json beside it, the config says n; alone, every row is used and
 * rows_in_file / from_config say so (the commands print it). */
START_TEST(test_bare_adapter_file) {
    const char *src = "golden/cases/relu_tied_prepend/peft_adapter/adapter_model.safetensors";
    float *P, *Q;
    int n, d, qn, qd;
    t5pt_prompt_info pi;
    ck_assert_int_eq(t5pt_prompt_load("golden/cases/relu_tied_prepend/peft_adapter", &P, &n, &d), T5PT_OK);
    ck_assert_msg(t5pt_prompt_load_ex(src, &Q, &qn, &qd, &pi) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(qn, n);
    ck_assert_int_eq(pi.rows_in_file, 2 * n);
    ck_assert_int_eq(pi.from_config, 1);
    ck_assert(memcmp(P, Q, sizeof(float) * n * d) == 0);
    free(Q);
    /* the same bytes without a config beside them */
    char *data;
    size_t len;
    ck_assert_int_eq(t5pt_read_file(src, &data, &len), T5PT_OK);
    ck_assert(mkdir(test_tmp("lonely"), 0777) == 0);
    ck_assert_int_eq(t5pt_write_file_atomic(test_tmp("lonely/adapter_model.safetensors"), data, len), T5PT_OK);
    ck_assert_int_eq(t5pt_prompt_load_ex(test_tmp("lonely/adapter_model.safetensors"), &Q, &qn, &qd, &pi), T5PT_OK);
    ck_assert_int_eq(qn, 2 * n);
    ck_assert_int_eq(pi.rows_in_file, 2 * n);
    ck_assert_int_eq(pi.from_config, 0);
    free(Q);
    /* a config that disagrees with the rows is an error naming both */
    const char *cfg = "{\"peft_type\": \"PROMPT_TUNING\", \"num_virtual_tokens\": 5, \"task_type\": \"SEQ_2_SEQ_LM\"}";
    ck_assert_int_eq(t5pt_write_file_atomic(test_tmp("lonely/adapter_config.json"), cfg, strlen(cfg)), T5PT_OK);
    ck_assert_int_eq(t5pt_prompt_load_ex(test_tmp("lonely/adapter_model.safetensors"), &Q, &qn, &qd, &pi), T5PT_ERR_SHAPE);
    ck_assert(strstr(t5pt_last_error(), "adapter_config.json") != NULL);
    free(data);
    free(P);
}
END_TEST

/* The adapter golden/export.py writes as PEFT does (2 submodules, 2n rows, rows [n, 2n)
 * other values): the first n rows must be that case's prompt_embeddings. */
START_TEST(test_peft_golden_adapter) {
    DIR *d = opendir("golden/cases");
    ck_assert_msg(d != NULL, "golden/cases missing (run from the repository root)");
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char adir[512], inputs[512];
        snprintf(adir, sizeof adir, "golden/cases/%s/peft_adapter", e->d_name);
        if (!t5pt_is_dir(adir)) continue;
        snprintf(inputs, sizeof inputs, "golden/cases/%s/inputs.safetensors", e->d_name);
        float *P;
        int n, dm;
        ck_assert_msg(t5pt_prompt_load(adir, &P, &n, &dm) == T5PT_OK, "%s", t5pt_last_error());
        st_file *f;
        ck_assert_int_eq(t5pt_st_open(&f, inputs), T5PT_OK);
        const st_tensor *t = t5pt_st_get(f, "prompt_embeddings");
        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(n, (int)t->shape[0]);
        ck_assert_int_eq(dm, (int)t->shape[1]);
        float *want = malloc(t->numel * sizeof(float));
        ck_assert_int_eq(t5pt_st_read_f32(f, t, want), T5PT_OK);
        ck_assert_msg(memcmp(P, want, t->numel * sizeof(float)) == 0, "%s: adapter rows [0, n) differ from the prompt",
                      adir);
        printf("peft adapter %s: [%d, %d] loaded, equal to inputs prompt_embeddings\n", adir, n, dm);
        free(want);
        free(P);
        t5pt_st_close(f);
        found++;
    }
    closedir(d);
    ck_assert_msg(found >= 1, "no golden/cases/*/peft_adapter found");
}
END_TEST

/* Writes an adapter directory with the given config text and a [rows, d] tensor. */
static void make_adapter(const char *dir, const char *config, int rows, int d, const float *P) {
    mkdir(dir, 0777);
    char p[512];
    if (config) {
        snprintf(p, sizeof p, "%s/adapter_config.json", dir);
        test_write_text(p, config);
    }
    if (rows > 0) {
        snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
        st_writer *w = t5pt_st_writer_new();
        int64_t shape[2] = {rows, d};
        ck_assert_int_eq(t5pt_st_writer_add(w, "prompt_embeddings", ST_F32, 2, shape, P), T5PT_OK);
        ck_assert_int_eq(t5pt_st_writer_save(w, p, "{\"format\":\"pt\"}"), T5PT_OK);
        t5pt_st_writer_free(w);
    }
}

#define CFG(extra) "{\"peft_type\": \"PROMPT_TUNING\", \"task_type\": \"SEQ_2_SEQ_LM\", \"token_dim\": 4" extra "}"

START_TEST(test_peft_two_submodules_default) {
    /* num_transformer_submodules null + SEQ_2_SEQ_LM: PEFT makes it 2; rows [0, n) are the encoder's */
    float *P = random_prompt(6, 4, 9);
    make_adapter(test_tmp("two"), CFG(", \"num_virtual_tokens\": 3, \"num_transformer_submodules\": null"), 6, 4, P);
    float *Q;
    int n, d;
    ck_assert_msg(t5pt_prompt_load(test_tmp("two"), &Q, &n, &d) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert(n == 3 && d == 4 && memcmp(P, Q, sizeof(float) * 12) == 0);
    free(Q);
    free(P);
}
END_TEST

/* One malformed adapter per iteration: config text, tensor rows, expected status, message part. */
static const struct {
    const char *config;
    int rows;
    t5pt_status st;
    const char *msg;
} bad_adapters[] = {
    {NULL, 3, T5PT_ERR_IO, "adapter_config.json"},
    {CFG(", \"num_virtual_tokens\": 3"), 0, T5PT_ERR_IO, "adapter_model.safetensors"},
    {"{\"peft_type\": \"LORA\", \"r\": 8}", 3, T5PT_ERR_UNSUPPORTED, "LORA"},
    {"{\"task_type\": \"SEQ_2_SEQ_LM\", \"num_virtual_tokens\": 3}", 3, T5PT_ERR_FORMAT, "peft_type"},
    {CFG(""), 3, T5PT_ERR_FORMAT, "num_virtual_tokens"},
    {CFG(", \"num_virtual_tokens\": 0"), 3, T5PT_ERR_FORMAT, "num_virtual_tokens"},
    {CFG(", \"num_virtual_tokens\": 2.5"), 3, T5PT_ERR_FORMAT, "num_virtual_tokens"},
    {CFG(", \"num_virtual_tokens\": 3, \"num_transformer_submodules\": 3"), 9, T5PT_ERR_FORMAT, "submodules"},
    {CFG(", \"num_virtual_tokens\": 4, \"num_transformer_submodules\": 1"), 3, T5PT_ERR_SHAPE, "[3, 4]"},
    {CFG(", \"num_virtual_tokens\": 3"), 3, T5PT_ERR_SHAPE, "[6, 4]"},   /* seq2seq default 2 -> 6 rows */
    {"{\"peft_type\": \"PROMPT_TUNING\", \"num_virtual_tokens\": 3, \"token_dim\": 8}", 3, T5PT_ERR_SHAPE, "token_dim"},
    {"{\"peft_type\": \"PROMPT_TUNING\", \"num_virtual_tokens\": 3,}", 3, T5PT_ERR_FORMAT, "adapter_config.json"},
    {"[1, 2]", 3, T5PT_ERR_FORMAT, "object"},
};

START_TEST(test_peft_malformed) {
    float *P = random_prompt(9, 4, 5);
    char name[32];
    snprintf(name, sizeof name, "bad%d", _i);
    make_adapter(test_tmp(name), bad_adapters[_i].config, bad_adapters[_i].rows, 4, P);
    float *Q = (float *)1;
    int n = -1, d = -1;
    t5pt_status st = t5pt_prompt_load(test_tmp(name), &Q, &n, &d);
    ck_assert_msg(st == bad_adapters[_i].st, "case %d: status %d (%s), want %d", _i, st, t5pt_last_error(),
                  bad_adapters[_i].st);
    ck_assert_msg(strstr(t5pt_last_error(), bad_adapters[_i].msg) != NULL, "case %d: message '%s' lacks '%s'", _i,
                  t5pt_last_error(), bad_adapters[_i].msg);
    ck_assert_ptr_null(Q);
    free(P);
}
END_TEST

START_TEST(test_peft_bin_only) {
    mkdir(test_tmp("bin"), 0777);
    test_write_text(test_tmp("bin/adapter_config.json"), CFG(", \"num_virtual_tokens\": 3"));
    test_write_text(test_tmp("bin/adapter_model.bin"), "PK pickle");
    float *Q;
    int n, d;
    ck_assert_int_eq(t5pt_prompt_load(test_tmp("bin"), &Q, &n, &d), T5PT_ERR_UNSUPPORTED);
    ck_assert(strstr(t5pt_last_error(), "safetensors") != NULL);
}
END_TEST

START_TEST(test_save_errors_leave_nothing) {
    float P[8] = {1, 2, 3, 4, 5, 6, 7, NAN};
    /* a non-finite prompt is refused before anything is written */
    ck_assert_int_eq(t5pt_prompt_save_peft(test_tmp("nan"), P, 2, 4, NULL, NULL), T5PT_ERR_ARG);
    ck_assert(!t5pt_is_dir(test_tmp("nan")));
    ck_assert_int_eq(t5pt_prompt_save_npy(test_tmp("nan.npy"), P, 2, 4), T5PT_ERR_ARG);
    ck_assert(!t5pt_file_exists(test_tmp("nan.npy")));
    P[7] = 8;
    /* a directory that cannot be created */
    ck_assert_int_eq(t5pt_prompt_save_peft(test_tmp("no/such/dir"), P, 2, 4, NULL, NULL), T5PT_ERR_IO);
    ck_assert_int_eq(t5pt_prompt_save_npy(test_tmp("no/such.npy"), P, 2, 4), T5PT_ERR_IO);
    ck_assert_int_eq(count_entries(test_tmpdir()), 0);   /* nothing written, no temp files */
    /* a file where the adapter directory should be */
    test_write_text(test_tmp("afile"), "x");
    ck_assert_int_eq(t5pt_prompt_save_peft(test_tmp("afile"), P, 2, 4, NULL, NULL), T5PT_ERR_IO);
    ck_assert_int_eq(t5pt_prompt_save_peft(test_tmp("zero"), P, 0, 4, NULL, NULL), T5PT_ERR_ARG);
}
END_TEST

/* ---------------------------------------------------------------- bare safetensors */

START_TEST(test_bare_safetensors) {
    float *P = random_prompt(7, 5, 11);
    st_writer *w = t5pt_st_writer_new();
    int64_t shape[2] = {7, 5};
    ck_assert_int_eq(t5pt_st_writer_add(w, "prompt_embeddings", ST_F32, 2, shape, P), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("p.safetensors"), NULL), T5PT_OK);
    t5pt_st_writer_free(w);
    float *Q;
    int n, d;
    ck_assert_msg(t5pt_prompt_load(test_tmp("p.safetensors"), &Q, &n, &d) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert(n == 7 && d == 5 && memcmp(P, Q, sizeof(float) * 35) == 0);
    free(Q);
    /* another tensor name */
    w = t5pt_st_writer_new();
    ck_assert_int_eq(t5pt_st_writer_add(w, "prompt", ST_F32, 2, shape, P), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("q.safetensors"), NULL), T5PT_OK);
    t5pt_st_writer_free(w);
    ck_assert_int_eq(t5pt_prompt_load(test_tmp("q.safetensors"), &Q, &n, &d), T5PT_ERR_FORMAT);
    ck_assert(strstr(t5pt_last_error(), "prompt_embeddings") != NULL);
    /* 1-D */
    w = t5pt_st_writer_new();
    int64_t s1[1] = {35};
    ck_assert_int_eq(t5pt_st_writer_add(w, "prompt_embeddings", ST_F32, 1, s1, P), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("r.safetensors"), NULL), T5PT_OK);
    t5pt_st_writer_free(w);
    ck_assert_int_eq(t5pt_prompt_load(test_tmp("r.safetensors"), &Q, &n, &d), T5PT_ERR_SHAPE);
    /* an integer dtype: the message is written before the file is closed (it used to read
     * the freed tensor table: a heap use-after-free, reproducer in tests/fuzz/corpus/prompt) */
    w = t5pt_st_writer_new();
    int32_t ints[35] = {0};
    ck_assert_int_eq(t5pt_st_writer_add(w, "prompt_embeddings", ST_I32, 2, shape, ints), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("i.safetensors"), NULL), T5PT_OK);
    t5pt_st_writer_free(w);
    ck_assert_int_eq(t5pt_prompt_load(test_tmp("i.safetensors"), &Q, &n, &d), T5PT_ERR_FORMAT);
    ck_assert_msg(strstr(t5pt_last_error(), "prompt_embeddings has dtype I32 (want a float type)"), "%s",
                  t5pt_last_error());
    /* missing file */
    ck_assert_int_eq(t5pt_prompt_load(test_tmp("none.safetensors"), &Q, &n, &d), T5PT_ERR_IO);
    free(P);
}
END_TEST

/* ---------------------------------------------------------------- .npy */

START_TEST(test_npy_roundtrip) {
    float *P = random_prompt(100, 24, 13);
    ck_assert_int_eq(t5pt_prompt_save_npy(test_tmp("p.npy"), P, 100, 24), T5PT_OK);
    char *data;
    size_t len;
    ck_assert_int_eq(t5pt_read_file(test_tmp("p.npy"), &data, &len), T5PT_OK);
    /* numpy.save's layout: NPY 1.0, header to a 64-byte boundary ending in '\n' */
    ck_assert(memcmp(data, "\x93NUMPY\x01\x00", 8) == 0);
    size_t hlen = (unsigned char)data[8] | (size_t)(unsigned char)data[9] << 8;
    ck_assert_uint_eq((10 + hlen) % 64, 0);
    ck_assert_int_eq(data[10 + hlen - 1], '\n');
    ck_assert(strncmp(data + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (100, 24), }", 62) == 0);
    ck_assert_uint_eq(len, 10 + hlen + 100 * 24 * 4);
    free(data);
    float *Q;
    int n, d;
    ck_assert_msg(t5pt_prompt_load(test_tmp("p.npy"), &Q, &n, &d) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert(n == 100 && d == 24 && memcmp(P, Q, sizeof(float) * 2400) == 0);
    free(Q);
    free(P);
}
END_TEST

/* Builds an NPY file: version major.0, the given dict text, then `nbytes` bytes of data
 * (floats 0.5, 1.5, ...). The header is padded to 64 as numpy does unless pad is 0. */
static void make_npy(const char *path, int major, const char *dict, size_t nbytes, int newline) {
    size_t pre = major == 1 ? 10 : 12;
    size_t dl = strlen(dict), hlen = dl + (newline ? 1 : 0);
    size_t padn = newline ? (64 - (pre + hlen) % 64) % 64 : 0;
    hlen += padn;
    unsigned char *buf = calloc(1, pre + hlen + nbytes + 4);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (unsigned char)hlen;
        buf[9] = (unsigned char)(hlen >> 8);
    } else {
        buf[8] = (unsigned char)hlen;
        buf[9] = (unsigned char)(hlen >> 8);
        buf[10] = buf[11] = 0;
    }
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', padn);
    if (newline) buf[pre + hlen - 1] = '\n';
    for (size_t k = 0; k + 4 <= nbytes; k += 4) {
        float v = 0.5f + (float)(k / 4);
        uint32_t u;
        memcpy(&u, &v, 4);
        for (int b = 0; b < 4; b++) buf[pre + hlen + k + b] = (unsigned char)(u >> (8 * b));
    }
    test_write_file(path, buf, pre + hlen + nbytes);
    free(buf);
}

START_TEST(test_npy_versions_and_spelling) {
    /* v2.0 and v3.0 headers (u32 length), keys in another order, double quotes, no trailing comma */
    const char *dicts[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,3)}",
    };
    for (int major = 1; major <= 3; major++)
        for (int k = 0; k < 3; k++) {
            make_npy(test_tmp("v.npy"), major, dicts[k], 24, 1);
            float *Q;
            int n, d;
            ck_assert_msg(t5pt_prompt_load(test_tmp("v.npy"), &Q, &n, &d) == T5PT_OK, "v%d dict %d: %s", major, k,
                          t5pt_last_error());
            ck_assert(n == 2 && d == 3);
            for (int i = 0; i < 6; i++) ck_assert(Q[i] == 0.5f + (float)i);
            free(Q);
        }
}
END_TEST

/* One malformed .npy per iteration. */
static const struct {
    int major;
    const char *dict;
    size_t nbytes;
    int newline;
    t5pt_status st;
    const char *msg;
} bad_npys[] = {
    {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 48, 1, T5PT_ERR_FORMAT, "'<f8'"},
    {1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24, 1, T5PT_ERR_FORMAT, "'>f4'"},
    {1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", 24, 1, T5PT_ERR_FORMAT, "dtype"},
    {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, 1, T5PT_ERR_FORMAT, "fortran_order"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 24, 1, T5PT_ERR_SHAPE, "2-D"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }", 24, 1, T5PT_ERR_SHAPE, "2-D"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", 0, 1, T5PT_ERR_SHAPE, "2-D"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20, 1, T5PT_ERR_FORMAT, "24 data bytes"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 28, 1, T5PT_ERR_FORMAT, "24 data bytes"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24, 0, T5PT_ERR_FORMAT, "newline"},
    {1, "{'descr': '<f4', 'fortran_order': False}", 24, 1, T5PT_ERR_FORMAT, "needs"},
    {1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 24, 1, T5PT_ERR_FORMAT, "repeated"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", 24, 1, T5PT_ERR_FORMAT, "unknown key"},
    {1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}", 24, 1, T5PT_ERR_FORMAT, "True or False"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}", 24, 1, T5PT_ERR_FORMAT, "shape"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", 24, 1, T5PT_ERR_FORMAT, "shape"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L)}", 24, 1, T5PT_ERR_FORMAT, "shape"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x", 24, 1, T5PT_ERR_FORMAT, "after the header"},
    {1, "descr: <f4", 24, 1, T5PT_ERR_FORMAT, "dict"},
    {4, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24, 1, T5PT_ERR_FORMAT, "version 4.0"},
};

START_TEST(test_npy_malformed) {
    char name[32];
    snprintf(name, sizeof name, "bad%d.npy", _i);
    make_npy(test_tmp(name), bad_npys[_i].major, bad_npys[_i].dict, bad_npys[_i].nbytes, bad_npys[_i].newline);
    float *Q = (float *)1;
    int n, d;
    t5pt_status st = t5pt_prompt_load(test_tmp(name), &Q, &n, &d);
    ck_assert_msg(st == bad_npys[_i].st, "case %d: status %d (%s), want %d", _i, st, t5pt_last_error(), bad_npys[_i].st);
    ck_assert_msg(strstr(t5pt_last_error(), bad_npys[_i].msg) != NULL, "case %d: message '%s' lacks '%s'", _i,
                  t5pt_last_error(), bad_npys[_i].msg);
    ck_assert(strstr(t5pt_last_error(), name) != NULL);   /* the message names the file */
    ck_assert_ptr_null(Q);
}
END_TEST

START_TEST(test_npy_truncated) {
    /* magic only; header length past the end; not NPY at all */
    test_write_file(test_tmp("t1.npy"), "\x93NUMPY\x01", 7);
    float *Q;
    int n, d;
    ck_assert_int_eq(t5pt_prompt_load(test_tmp("t1.npy"), &Q, &n, &d), T5PT_ERR_FORMAT);
    test_write_file(test_tmp("t2.npy"), "\x93NUMPY\x01\x00\xff\x00{'descr'", 18);
    ck_assert_int_eq(t5pt_prompt_load(test_tmp("t2.npy"), &Q, &n, &d), T5PT_ERR_FORMAT);
    ck_assert(strstr(t5pt_last_error(), "past the end") != NULL);
    test_write_text(test_tmp("t3.npy"), "just text, not numpy");
    ck_assert_int_eq(t5pt_prompt_load(test_tmp("t3.npy"), &Q, &n, &d), T5PT_ERR_FORMAT);
    ck_assert(strstr(t5pt_last_error(), "magic") != NULL);
    test_write_file(test_tmp("t4.npy"), "\x93NUMPY\x01\x01\x10\x00", 10);   /* version 1.1 */
    ck_assert_int_eq(t5pt_prompt_load(test_tmp("t4.npy"), &Q, &n, &d), T5PT_ERR_FORMAT);
    ck_assert(strstr(t5pt_last_error(), "1.1") != NULL);
}
END_TEST

static Suite *prompt_suite(void) {
    Suite *s = suite_create("prompt");
    TCase *ti = tcase_create("init");
    tcase_add_checked_fixture(ti, setup, teardown);
    tcase_set_timeout(ti, 60);
    tcase_add_test(ti, test_parse_kind);
    tcase_add_test(ti, test_init_random_uniform);
    tcase_add_test(ti, test_init_random_uniform_t5x);
    tcase_add_test(ti, test_init_sampled_vocab);
    tcase_add_test(ti, test_init_class_labels);
    tcase_add_test(ti, test_init_text);
    suite_add_tcase(s, ti);
    TCase *tf = tcase_create("files");
    tcase_add_checked_fixture(tf, setup, teardown);
    tcase_add_test(tf, test_peft_roundtrip);
    tcase_add_test(tf, test_peft_init_names);
    tcase_add_test(tf, test_peft_records_training);
    tcase_add_test(tf, test_bare_adapter_file);
    tcase_add_test(tf, test_peft_golden_adapter);
    tcase_add_test(tf, test_peft_two_submodules_default);
    tcase_add_loop_test(tf, test_peft_malformed, 0, (int)(sizeof bad_adapters / sizeof bad_adapters[0]));
    tcase_add_test(tf, test_peft_bin_only);
    tcase_add_test(tf, test_save_errors_leave_nothing);
    tcase_add_test(tf, test_bare_safetensors);
    tcase_add_test(tf, test_npy_roundtrip);
    tcase_add_test(tf, test_npy_versions_and_spelling);
    tcase_add_loop_test(tf, test_npy_malformed, 0, (int)(sizeof bad_npys / sizeof bad_npys[0]));
    tcase_add_test(tf, test_npy_truncated);
    suite_add_tcase(s, tf);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(prompt_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
