/* test_eval.c — greedy decoding with the key/value cache, rank classification and
 * prompt ensembles against the PyTorch goldens.
 *
 * For every golden case:
 *   - the cached decoder fed the reference's decoder_input_ids one token at a time gives
 *     the reference's full-sequence logits [B,L,V] at every position (tolerance: logits);
 *   - greedy decoding (6 steps, not stopping at EOS) gives greedy_ids exactly;
 *   - rank classification gives candidate_nll (tolerance: candidate_nll);
 *   - an ensemble of two prompts run as one batch equals each prompt run alone.
 * Plus dataset-level accuracy bookkeeping on a random model with the real T5 vocabulary.
 */
#include <check.h>
#include <unistd.h>
#include <sys/stat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/data.h"
#include "train/eval.h"
#include "model/decode.h"
#include "golden_util.h"
#include "t5pt.h"
#include "file_util.h"


/* Tests may run concurrently (make test and make asan): every file lives under this
 * run's own directory (test_tmpdir_create in main); test_tmp("x") is a path in it. */

static char **case_names;
static int n_cases;

typedef struct {
    golden_case *g;
    t5pt_model *m;
    t5pt_ctx *c;
} fixture;

static void fx_open(fixture *f, const char *name) {
    f->g = golden_open(name);
    ck_assert_msg(f->g, "%s", golden_error());
    ck_assert_msg(t5pt_model_load(&f->m, f->g->model_dir) == T5PT_OK, "%s: %s", name, t5pt_last_error());
    const t5pt_batch *b = &f->g->batch;
    ck_assert_msg(t5pt_ctx_create(&f->c, f->m, b->B, b->T, b->L > 8 ? b->L : 8, f->g->prompt_len) == T5PT_OK, "%s",
                  t5pt_last_error());
}

static void fx_close(fixture *f) {
    t5pt_ctx_free(f->c);
    t5pt_model_free(f->m);
    golden_close(f->g);
}

START_TEST(test_kv_cache_logits) {
    fixture f;
    fx_open(&f, case_names[_i]);
    golden_case *g = f.g;
    const t5pt_batch *b = &g->batch;
    const int V = t5pt_model_config(f.m)->vocab_size;
    /* encoder output of this implementation, then the cached decoder step by step */
    ck_assert(t5pt_forward(f.c, g->prompt, g->prompt_len, g->placement, b, NULL) == T5PT_OK);
    int dims[3], Bm, Te;
    const float *H = t5pt_ctx_tensor(f.c, "encoder_last_hidden_state", dims);
    const int32_t *mask = t5pt_ctx_encoder_mask(f.c, &Bm, &Te);
    ck_assert(H && mask && Bm == b->B);
    size_t nd;
    int32_t *dec_in = golden_i32(g->expected, "decoder_input_ids", &nd);
    float *want = golden_f32(g->expected, "logits", NULL);
    ck_assert(dec_in && want && nd == (size_t)b->B * b->L);
    int *row_enc = malloc(sizeof(int) * b->B);
    for (int r = 0; r < b->B; r++) row_enc[r] = r;
    t5pt_kvdec *k;
    ck_assert_msg(t5pt_kvdec_create(&k, f.m, H, mask, b->B, Te, b->B, row_enc, b->L) == T5PT_OK, "%s", t5pt_last_error());
    float *got = malloc(sizeof(float) * b->B * b->L * V);
    int32_t *tok = malloc(sizeof(int32_t) * b->B);
    for (int s = 0; s < b->L; s++) {
        for (int r = 0; r < b->B; r++) tok[r] = dec_in[r * b->L + s];
        const float *lg;
        ck_assert(t5pt_kvdec_step(k, tok, &lg) == T5PT_OK);
        for (int r = 0; r < b->B; r++) memcpy(got + ((size_t)r * b->L + s) * V, lg + (size_t)r * V, sizeof(float) * V);
    }
    double rel = golden_rel_err(got, want, (size_t)b->B * b->L * V);
    golden_note("kv_cache_logits", rel);
    ck_assert_msg(rel <= golden_tol(g, "logits", 1e-5), "%s: cached decoder logits rel err %.3g", g->name, rel);
    /* the same decoder block and head as this implementation's full forward (one position
     * at a time; attention sums in another order: dot products instead of the GEMM) */
    const float *full = t5pt_ctx_tensor(f.c, "logits", dims);
    ck_assert(full && dims[0] == b->B && dims[1] == b->L && dims[2] == V);
    double rel_full = golden_rel_err(got, full, (size_t)b->B * b->L * V);
    golden_note("kv_cache_vs_full_forward", rel_full);
    ck_assert_msg(rel_full <= 2e-6, "%s: cached decoder vs full forward logits rel err %.3g", g->name, rel_full);
    /* one step too many is an error, not an overflow */
    const float *lg;
    ck_assert(t5pt_kvdec_step(k, tok, &lg) != T5PT_OK);
    t5pt_kvdec_free(k);
    free(got); free(tok); free(row_enc); free(dec_in); free(want);
    fx_close(&f);
}
END_TEST

START_TEST(test_greedy_ids) {
    fixture f;
    fx_open(&f, case_names[_i]);
    golden_case *g = f.g;
    const int B = g->batch.B;
    size_t n;
    int32_t *want = golden_i32(g->expected, "greedy_ids", &n);
    ck_assert(want);
    const int G = (int)(n / B);
    int32_t *got = malloc(sizeof(int32_t) * n);
    int *lens = malloc(sizeof(int) * B);
    const float *P = g->prompt;
    int np = g->prompt_len;
    ck_assert_msg(t5pt_greedy(f.c, f.m, &P, &np, 1, g->placement, &g->batch, G, 0, got, lens) == T5PT_OK, "%s",
                  t5pt_last_error());
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "%s: greedy_ids[%zu] = %d, expected %d", g->name, i, got[i], want[i]);
    for (int r = 0; r < B; r++) ck_assert_int_eq(lens[r], G);
    golden_note("greedy_ids", 0.0);
    free(got); free(lens); free(want);
    fx_close(&f);
}
END_TEST

START_TEST(test_rank_nll) {
    fixture f;
    fx_open(&f, case_names[_i]);
    golden_case *g = f.g;
    const int B = g->batch.B;
    size_t nc, nn;
    int32_t *cand = golden_i32(g->expected, "candidate_labels", &nc);
    float *want = golden_f32(g->expected, "candidate_nll", &nn);
    ck_assert(cand && want);
    const int C = (int)(nn / B), Lc = (int)(nc / C);
    float *got = malloc(sizeof(float) * nn);
    const float *P = g->prompt;
    int np = g->prompt_len;
    ck_assert_msg(t5pt_rank_nll(f.c, f.m, &P, &np, 1, g->placement, &g->batch, cand, C, Lc, got) == T5PT_OK, "%s",
                  t5pt_last_error());
    double rel = golden_rel_err(got, want, nn);
    golden_note("candidate_nll", rel);
    ck_assert_msg(rel <= golden_tol(g, "candidate_nll", 1e-5), "%s: candidate_nll rel err %.3g", g->name, rel);

    /* ensemble: [P, 0.5 P, no prompt] as one batch == each alone */
    const int d = g->d_model;
    float *half = malloc(sizeof(float) * np * d);
    for (int i = 0; i < np * d; i++) half[i] = 0.5f * P[i];
    const float *Ps[3] = {P, half, NULL};
    int ns[3] = {np, np, 0};
    float *ens = malloc(sizeof(float) * 3 * nn), *one = malloc(sizeof(float) * nn);
    ck_assert(t5pt_rank_nll(f.c, f.m, Ps, ns, 3, g->placement, &g->batch, cand, C, Lc, ens) == T5PT_OK);
    for (int e = 0; e < 3; e++) {
        ck_assert(t5pt_rank_nll(f.c, f.m, &Ps[e], &ns[e], 1, g->placement, &g->batch, cand, C, Lc, one) == T5PT_OK);
        double r = golden_rel_err(ens + (size_t)e * nn, one, nn);
        ck_assert_msg(r <= 1e-5, "%s: ensemble member %d differs from its solo run (%.3g)", g->name, e, r);
    }
    /* a candidate id outside the vocabulary is an argument error */
    int32_t bad[2] = {t5pt_model_config(f.m)->vocab_size, 1};
    ck_assert(t5pt_rank_nll(f.c, f.m, &P, &np, 1, g->placement, &g->batch, bad, 1, 2, got) == T5PT_ERR_ARG);
    free(half); free(ens); free(one);
    free(got); free(cand); free(want);
    fx_close(&f);
}
END_TEST

/* Dataset-level bookkeeping on a random model with the real T5 vocabulary: predictions are
 * the argmin of the scores, accuracies count them, a 1-prompt vote equals the prompt. */
START_TEST(test_evaluate_bookkeeping) {
    t5pt_tokenizer *tok;
    ck_assert_msg(t5pt_tokenizer_load(&tok, "assets/t5/spiece.model") == T5PT_OK, "%s", t5pt_last_error());
    t5pt_config cfg = {.vocab_size = 32128, .d_model = 32, .d_kv = 8, .d_ff = 64, .num_layers = 1,
                       .num_decoder_layers = 1, .num_heads = 4, .rel_num_buckets = 32, .rel_max_distance = 128,
                       .layer_norm_epsilon = 1e-6f, .gated_gelu = 1, .tie_word_embeddings = 0,
                       .decoder_start_token_id = 0, .pad_token_id = 0, .eos_token_id = 1};
    t5pt_model *m;
    ck_assert_msg(t5pt_model_init_random(&m, &cfg, 7) == T5PT_OK, "%s", t5pt_last_error());
    const char *path = test_tmp("t5pt_test_eval_data.jsonl");
    FILE *fp = fopen(path, "w");
    ck_assert(fp);
    const char *words[] = {"red", "green", "blue"};
    for (int i = 0; i < 20; i++)
        fprintf(fp, "{\"input\": \"item %d is painted %s\", \"target\": \"%s\"}\n", i, words[i % 3], words[i % 3]);
    fclose(fp);
    t5pt_dataset *d;
    ck_assert_msg(t5pt_dataset_load(&d, path, tok, NULL) == T5PT_OK, "%s", t5pt_last_error());
    float *P = malloc(sizeof(float) * 5 * 32);
    t5pt_init_config ic = {.kind = T5PT_INIT_RANDOM_UNIFORM, .range = 0.5f, .seed = 3};
    ck_assert(t5pt_prompt_init(P, 5, m, &ic) == T5PT_OK);
    const float *Ps[1] = {P};
    int ns[1] = {5};
    t5pt_eval_options o;
    t5pt_eval_options_default(&o);
    o.batch = 6;   /* 20 = 6+6+6+2: a short last batch */
    o.labels = words;
    o.num_labels = 3;
    o.max_new_tokens = 5;
    t5pt_eval_result r;
    ck_assert_msg(t5pt_evaluate(m, tok, Ps, ns, 1, d, &o, &r) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(r.n, 20);
    ck_assert_int_eq(r.scored, 20);
    ck_assert_int_eq(r.targets_not_in_labels, 0);
    int correct = 0;
    for (int i = 0; i < 20; i++) {
        const float *s = r.rank_nll + (size_t)i * 3;
        int best = 0;
        for (int j = 1; j < 3; j++) if (s[j] < s[best]) best = j;
        ck_assert_int_eq(r.rank_pred[i], best);
        ck_assert_int_eq(r.rank_vote[i], best);
        correct += best == i % 3;
        ck_assert(r.gen_pred[i] && strcmp(r.gen_pred[i], r.gen_vote[i]) == 0);
        for (int j = 0; j < 3; j++) ck_assert(isfinite(s[j]) && s[j] > 0);
    }
    ck_assert(fabs(r.rank_acc[0] - correct / 20.0) < 1e-12);
    ck_assert(fabs(r.rank_vote_acc - r.rank_acc[0]) < 1e-12);
    ck_assert(fabs(r.gen_vote_acc - r.gen_acc[0]) < 1e-12);
    /* the batch-level scorer on the first 6 rows gives the same numbers */
    t5pt_batch_buf bb = {0};
    int idx[6] = {0, 1, 2, 3, 4, 5};
    ck_assert(t5pt_batch_build(&bb, d, idx, 6, 0) == T5PT_OK);
    int32_t *cand;
    int Lc;
    ck_assert(t5pt_labels_tokenize(tok, words, 3, &cand, &Lc) == T5PT_OK);
    t5pt_ctx *c;
    ck_assert(t5pt_ctx_create(&c, m, 6, d->max_src, 1, 5) == T5PT_OK);
    float nll[18];
    ck_assert(t5pt_rank_nll(c, m, Ps, ns, 1, o.pl, &bb.view, cand, 3, Lc, nll) == T5PT_OK);
    ck_assert(golden_rel_err(nll, r.rank_nll, 18) < 1e-6);
    t5pt_ctx_free(c);
    free(cand);
    t5pt_batch_buf_free(&bb);
    t5pt_eval_result_free(&r);
    t5pt_dataset_free(d);
    free(P);
    t5pt_model_free(m);
    t5pt_tokenizer_free(tok);
    remove(path);
}
END_TEST

/* The case list itself: golden/cases is complete (a lost case fails here, it is not skipped). */
START_TEST(test_golden_case_list) { golden_assert_list(n_cases); }
END_TEST

int main(void) {
    if (!test_tmpdir_create("eval")) {
        perror("test_eval: cannot create a temp directory");
        return 1;
    }
    n_cases = golden_list(&case_names);
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_golden_case_list);
    if (n_cases > 0) {
        tcase_add_loop_test(tc, test_kv_cache_logits, 0, n_cases);
        tcase_add_loop_test(tc, test_greedy_ids, 0, n_cases);
        tcase_add_loop_test(tc, test_rank_nll, 0, n_cases);
    }
    suite_add_tcase(s, tc);
    TCase *tc2 = tcase_create("dataset");
    tcase_set_timeout(tc2, 300);
    tcase_add_test(tc2, test_evaluate_bookkeeping);
    suite_add_tcase(s, tc2);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    golden_print_notes("eval");
    golden_free_list(case_names, n_cases);
    test_tmpdir_remove();
    return failed == 0 ? 0 : 1;
}
