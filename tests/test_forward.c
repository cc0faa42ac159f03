/* test_forward.c — the T5 forward pass with a soft prompt against the PyTorch goldens.
 *
 * For every case in golden/cases (format: golden/README.md) every tensor of expected.safetensors
 * that the forward pass produces is compared: float tensors by max-abs-err / max-abs-value
 * at the case's tolerance, integer tensors (mask after placement, relative position
 * buckets, decoder_input_ids) exactly. Tensors owned by other suites (prompt_grad:
 * test_backward; greedy_ids, candidate_*: test_eval) are listed and skipped; any other
 * unknown name fails, so a new exported tensor cannot go unchecked.
 * Also: placement parsing, argument errors, dropout rate 0 == off.
 */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ctx.h"
#include "golden_util.h"
#include "model/layers.h"
#include "t5pt.h"

static char **case_names;
static int n_cases;

static const char *other_suites[] = {"prompt_grad", "greedy_ids", "candidate_labels", "candidate_nll", NULL};

static int is_other_suite(const char *name) {
    for (int i = 0; other_suites[i]; i++)
        if (strcmp(name, other_suites[i]) == 0) return 1;
    return 0;
}

/* Compares the integer tensor `name` of the case with got[n] exactly. */
static void check_exact_i32(const golden_case *g, const char *name, const int32_t *got, size_t n) {
    size_t want_n = 0;
    int32_t *want = golden_i32(g->expected, name, &want_n);
    ck_assert_msg(want, "%s: cannot read %s", g->name, name);
    ck_assert_msg(want_n == n, "%s: %s has %zu values, t5pt %zu", g->name, name, want_n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "%s: %s[%zu] = %d, expected %d", g->name, name, i, (int)got[i],
                      (int)want[i]);
    free(want);
    golden_note(name, 0.0);
}

/* Relative position buckets [Tq,Tk] of bucket(j - i). */
static int32_t *buckets(int Tq, int Tk, int bidirectional, const t5pt_config *cfg) {
    int32_t *b = malloc((size_t)Tq * Tk * sizeof *b);
    for (int i = 0; i < Tq; i++)
        for (int j = 0; j < Tk; j++)
            b[(size_t)i * Tk + j] =
                t5pt_relative_bucket(j - i, bidirectional, cfg->rel_num_buckets, cfg->rel_max_distance);
    return b;
}

START_TEST(test_golden_forward) {
    golden_case *g = golden_open(case_names[_i]);
    ck_assert_msg(g, "%s", golden_error());
    t5pt_model *m = NULL;
    ck_assert_msg(t5pt_model_load(&m, g->model_dir) == T5PT_OK, "%s: %s", g->name, t5pt_last_error());
    const t5pt_config *cfg = t5pt_model_config(m);
    t5pt_ctx *c = NULL;
    ck_assert_msg(t5pt_ctx_create(&c, m, g->batch.B, g->batch.T, g->batch.L, g->prompt_len) == T5PT_OK, "%s: %s",
                  g->name, t5pt_last_error());
    float loss = -1.0f;
    ck_assert_msg(t5pt_forward(c, g->prompt, g->prompt_len, g->placement, &g->batch, &loss) == T5PT_OK, "%s: %s",
                  g->name, t5pt_last_error());

    const int Tenc = g->batch.T + g->prompt_len;
    int checked = 0;
    for (int i = 0; i < t5pt_st_count(g->expected); i++) {
        const char *name = t5pt_st_at(g->expected, i)->name;
        if (is_other_suite(name)) continue;
        if (strcmp(name, "encoder_attention_mask") == 0) {
            int B, T;
            const int32_t *mask = t5pt_ctx_encoder_mask(c, &B, &T);
            ck_assert(mask && B == g->batch.B && T == Tenc);
            check_exact_i32(g, name, mask, (size_t)B * T);
        } else if (strcmp(name, "enc_position_bucket") == 0) {
            int32_t *b = buckets(Tenc, Tenc, 1, cfg);
            check_exact_i32(g, name, b, (size_t)Tenc * Tenc);
            free(b);
        } else if (strcmp(name, "dec_position_bucket") == 0) {
            int32_t *b = buckets(g->batch.L, g->batch.L, 0, cfg);
            check_exact_i32(g, name, b, (size_t)g->batch.L * g->batch.L);
            free(b);
        } else if (strcmp(name, "decoder_input_ids") == 0) {
            int B, L;
            const int32_t *ids = t5pt_ctx_decoder_input_ids(c, &B, &L);
            ck_assert(ids && B == g->batch.B && L == g->batch.L);
            check_exact_i32(g, name, ids, (size_t)B * L);
        } else if (strcmp(name, "loss") == 0) {
            float *want = golden_f32(g->expected, name, NULL);
            ck_assert(want);
            double rel = fabs((double)loss - want[0]) / fabs((double)want[0]);
            golden_note(name, rel);
            ck_assert_msg(rel <= golden_tol(g, name, 1e-5), "%s: loss %.9g, expected %.9g (rel %.3g)", g->name,
                          (double)loss, (double)want[0], rel);
            free(want);
        } else {
            int dims[3];
            const float *got = t5pt_ctx_tensor(c, name, dims);
            ck_assert_msg(got, "%s: exported tensor '%s' has no t5pt accessor", g->name, name);
            size_t n = 0;
            float *want = golden_f32(g->expected, name, &n);
            ck_assert_msg(want, "%s: cannot read %s", g->name, name);
            ck_assert_msg(n == (size_t)dims[0] * dims[1] * dims[2], "%s: %s: %zu values, t5pt [%d,%d,%d]", g->name,
                          name, n, dims[0], dims[1], dims[2]);
            double rel = golden_rel_err(got, want, n);
            double tol = golden_tol(g, name, 1e-5);
            golden_note(name, rel);
            ck_assert_msg(rel <= tol, "%s: %s rel err %.3g > %.3g", g->name, name, rel, tol);
            free(want);
        }
        checked++;
    }
    ck_assert_msg(checked >= 8, "%s: only %d tensors compared", g->name, checked);
    t5pt_ctx_free(c);
    t5pt_model_free(m);
    golden_close(g);
}
END_TEST

/* ------------------------------------------------------------------ small units */

START_TEST(test_placement_parse) {
    t5pt_placement p;
    ck_assert_int_eq(t5pt_placement_parse(&p, "prepend"), T5PT_OK);
    ck_assert_int_eq(p.kind, T5PT_PLACE_PREPEND);
    ck_assert_int_eq(t5pt_placement_parse(&p, "append"), T5PT_OK);
    ck_assert_int_eq(p.kind, T5PT_PLACE_APPEND);
    ck_assert_int_eq(t5pt_placement_parse(&p, "at:7"), T5PT_OK);
    ck_assert_int_eq(p.kind, T5PT_PLACE_AT);
    ck_assert_int_eq(p.at, 7);
    ck_assert_int_eq(t5pt_placement_parse(&p, "at:0"), T5PT_OK);
    ck_assert_int_eq(p.at, 0);
    const char *bad[] = {"", "at", "at:", "at:-1", "at:3x", "Prepend", "at: 3", "middle", "at:99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(t5pt_placement_parse(&p, bad[i]), T5PT_ERR_ARG);
        ck_assert_msg(strstr(t5pt_last_error(), "placement") != NULL, "message: %s", t5pt_last_error());
    }
}
END_TEST

/* A small random model used by the unit tests below. */
static t5pt_model *small_model(int gated) {
    t5pt_config cfg = {0};
    cfg.vocab_size = 64;
    cfg.d_model = 16;
    cfg.d_kv = 6;
    cfg.d_ff = 24;
    cfg.num_layers = 2;
    cfg.num_decoder_layers = 2;
    cfg.num_heads = 3;
    cfg.rel_num_buckets = 8;
    cfg.rel_max_distance = 12;
    cfg.layer_norm_epsilon = 1e-6f;
    cfg.gated_gelu = gated;
    cfg.tie_word_embeddings = !gated;
    cfg.decoder_start_token_id = 0;
    cfg.pad_token_id = 0;
    cfg.eos_token_id = 1;
    t5pt_model *m = NULL;
    ck_assert_msg(t5pt_model_init_random(&m, &cfg, 42) == T5PT_OK, "%s", t5pt_last_error());
    return m;
}

START_TEST(test_forward_errors) {
    t5pt_model *m = small_model(0);
    t5pt_ctx *c = NULL;
    ck_assert_int_eq(t5pt_ctx_create(&c, m, 0, 4, 4, 2), T5PT_ERR_ARG);
    /* T + n beyond int, and row counts B*Tenc / B*L too large for the int row indices */
    ck_assert_int_eq(t5pt_ctx_create(&c, m, 1, INT_MAX, 4, INT_MAX), T5PT_ERR_ARG);
    ck_assert_int_eq(t5pt_ctx_create(&c, m, 1 << 30, 4, 4, 0), T5PT_ERR_ARG);
    ck_assert_int_eq(t5pt_ctx_create(&c, m, 1 << 16, 4, 1 << 16, 0), T5PT_ERR_ARG);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(t5pt_ctx_create(&c, m, 2, 4, 3, 2), T5PT_OK);
    int32_t ids[2 * 4] = {5, 6, 7, 1, 8, 1, 0, 0};
    int32_t mask[2 * 4] = {1, 1, 1, 1, 1, 1, 0, 0};
    int32_t labels[2 * 3] = {9, 1, -100, 10, 11, 1};
    float P[2 * 16] = {0};
    t5pt_batch b = {2, 4, 3, ids, mask, labels};
    t5pt_placement pl = {T5PT_PLACE_PREPEND, 0};
    float loss;
    ck_assert_int_eq(t5pt_forward(c, P, 2, pl, &b, &loss), T5PT_OK);
    ck_assert(isfinite(loss) && loss > 0.0f);
    /* too big for the context */
    t5pt_batch big = b;
    big.B = 3;
    ck_assert_int_eq(t5pt_forward(c, P, 2, pl, &big, &loss), T5PT_ERR_SHAPE);
    ck_assert_int_eq(t5pt_forward(c, P, 3, pl, &b, &loss), T5PT_ERR_ARG);
    ck_assert_int_eq(t5pt_forward(c, NULL, 2, pl, &b, &loss), T5PT_ERR_ARG);
    /* ids / labels out of range */
    ids[3] = 64;
    ck_assert_int_eq(t5pt_forward(c, P, 2, pl, &b, &loss), T5PT_ERR_ARG);
    ck_assert_msg(strstr(t5pt_last_error(), "input id 64") != NULL, "%s", t5pt_last_error());
    ids[3] = 1;
    labels[2] = -1;
    ck_assert_int_eq(t5pt_forward(c, P, 2, pl, &b, &loss), T5PT_ERR_ARG);
    labels[2] = -100;
    /* backward without a (successful) forward */
    float dP[2 * 16];
    ck_assert_int_eq(t5pt_backward(c, dP), T5PT_ERR_ARG);
    /* encode-only forward (no labels): no decoder tensors */
    t5pt_batch enc = b;
    enc.labels = NULL;
    ck_assert_int_eq(t5pt_forward(c, P, 2, pl, &enc, NULL), T5PT_OK);
    int dims[3];
    ck_assert_ptr_nonnull(t5pt_ctx_tensor(c, "encoder_last_hidden_state", dims));
    ck_assert_int_eq(dims[1], 6);
    ck_assert_ptr_null(t5pt_ctx_tensor(c, "logits", dims));
    ck_assert_ptr_null(t5pt_ctx_tensor(c, "encoder_block_2", dims));
    ck_assert_ptr_null(t5pt_ctx_tensor(c, "nonsense", dims));
    ck_assert_int_eq(t5pt_backward(c, dP), T5PT_ERR_ARG);
    t5pt_ctx_free(c);
    t5pt_model_free(m);
}
END_TEST

/* Padded rows never produce NaN, all-ignored labels give loss 0 and dP = 0. */
START_TEST(test_padding_no_nan) {
    t5pt_model *m = small_model(1);
    t5pt_ctx *c = NULL;
    ck_assert_int_eq(t5pt_ctx_create(&c, m, 2, 5, 3, 2), T5PT_OK);
    int32_t ids[2 * 5] = {5, 6, 7, 1, 0, 0, 0, 0, 0, 0};    /* row 1: entirely padding */
    int32_t mask[2 * 5] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
    int32_t labels[2 * 3] = {9, 1, -100, -100, -100, -100};
    float P[2 * 16];
    for (int i = 0; i < 32; i++) P[i] = 0.1f * (float)(i % 7) - 0.3f;
    t5pt_batch b = {2, 5, 3, ids, mask, labels};
    float loss, dP[32];
    for (int k = 0; k < 3; k++) {
        t5pt_placement pl = {(t5pt_placement_kind)k, 2};
        ck_assert_int_eq(t5pt_forward(c, P, 2, pl, &b, &loss), T5PT_OK);
        ck_assert(isfinite(loss));
        int dims[3];
        const float *lg = t5pt_ctx_tensor(c, "logits", dims);
        for (int i = 0; i < dims[0] * dims[1] * dims[2]; i++) ck_assert(isfinite(lg[i]));
        const float *h = t5pt_ctx_tensor(c, "encoder_last_hidden_state", dims);
        for (int i = 0; i < dims[0] * dims[1] * dims[2]; i++) ck_assert(isfinite(h[i]));
        ck_assert_int_eq(t5pt_backward(c, dP), T5PT_OK);
        for (int i = 0; i < 32; i++) ck_assert(isfinite(dP[i]));
    }
    for (int i = 0; i < 6; i++) labels[i] = -100;
    t5pt_placement pl = {T5PT_PLACE_PREPEND, 0};
    ck_assert_int_eq(t5pt_forward(c, P, 2, pl, &b, &loss), T5PT_OK);
    ck_assert(loss == 0.0f);
    ck_assert_int_eq(t5pt_backward(c, dP), T5PT_OK);
    for (int i = 0; i < 32; i++) ck_assert(dP[i] == 0.0f);
    t5pt_ctx_free(c);
    t5pt_model_free(m);
}
END_TEST

/* Dropout rate 0 is bit-identical to never enabling it; rate > 0 changes the output
 * and the same seed replays the same masks. */
START_TEST(test_dropout_switch) {
    t5pt_model *m = small_model(1);
    t5pt_ctx *c = NULL;
    ck_assert_int_eq(t5pt_ctx_create(&c, m, 2, 4, 3, 3), T5PT_OK);
    int32_t ids[8] = {5, 6, 7, 1, 8, 1, 0, 0}, mask[8] = {1, 1, 1, 1, 1, 1, 0, 0};
    int32_t labels[6] = {9, 1, -100, 10, 11, 1};
    float P[3 * 16];
    for (int i = 0; i < 48; i++) P[i] = 0.05f * (float)((i * 7) % 11) - 0.25f;
    t5pt_batch b = {2, 4, 3, ids, mask, labels};
    t5pt_placement pl = {T5PT_PLACE_PREPEND, 0};
    float l0, l1, l2, l3;
    int dims[3];
    ck_assert_int_eq(t5pt_forward(c, P, 3, pl, &b, &l0), T5PT_OK);
    const float *lg = t5pt_ctx_tensor(c, "logits", dims);
    size_t nl = (size_t)dims[0] * dims[1] * dims[2];
    float *ref = malloc(nl * sizeof *ref);
    memcpy(ref, lg, nl * sizeof *ref);
    t5pt_ctx_set_dropout(c, 0.0f, 123);
    ck_assert_int_eq(t5pt_forward(c, P, 3, pl, &b, &l1), T5PT_OK);
    ck_assert(l1 == l0);
    ck_assert(memcmp(ref, t5pt_ctx_tensor(c, "logits", dims), nl * sizeof *ref) == 0);
    t5pt_ctx_set_dropout(c, 0.3f, 123);
    ck_assert_int_eq(t5pt_forward(c, P, 3, pl, &b, &l2), T5PT_OK);
    ck_assert(isfinite(l2) && l2 != l0);
    t5pt_ctx_set_dropout(c, 0.3f, 123);
    ck_assert_int_eq(t5pt_forward(c, P, 3, pl, &b, &l3), T5PT_OK);
    ck_assert(l3 == l2);
    ck_assert_int_eq(t5pt_forward(c, P, 3, pl, &b, &l3), T5PT_OK);   /* next call: fresh masks */
    ck_assert(l3 != l2);
    t5pt_ctx_set_dropout(c, 0.0f, 0);
    ck_assert_int_eq(t5pt_forward(c, P, 3, pl, &b, &l1), T5PT_OK);
    ck_assert(l1 == l0);
    free(ref);
    t5pt_ctx_free(c);
    t5pt_model_free(m);
}
END_TEST

/* The bucket function on a few hand-checkable values of HF's formula
 * (32 buckets, max_distance 128: bidirectional max_exact 8, causal max_exact 16). */
START_TEST(test_bucket_basics) {
    ck_assert_int_eq(t5pt_relative_bucket(0, 1, 32, 128), 0);
    ck_assert_int_eq(t5pt_relative_bucket(-3, 1, 32, 128), 3);
    ck_assert_int_eq(t5pt_relative_bucket(3, 1, 32, 128), 19);
    ck_assert_int_eq(t5pt_relative_bucket(-1000, 1, 32, 128), 15);
    ck_assert_int_eq(t5pt_relative_bucket(1000, 1, 32, 128), 31);
    ck_assert_int_eq(t5pt_relative_bucket(5, 0, 32, 128), 0);      /* future: causal bucket 0 */
    ck_assert_int_eq(t5pt_relative_bucket(-15, 0, 32, 128), 15);
    ck_assert_int_eq(t5pt_relative_bucket(-1000, 0, 32, 128), 31);
}
END_TEST

/* The case list itself: golden/cases is complete (a lost case fails here, it is not skipped). */
START_TEST(test_golden_case_list) { golden_assert_list(n_cases); }
END_TEST

static Suite *forward_suite(void) {
    Suite *s = suite_create("forward");
    TCase *tc = tcase_create("units");
    tcase_add_test(tc, test_placement_parse);
    tcase_add_test(tc, test_bucket_basics);
    tcase_add_test(tc, test_forward_errors);
    tcase_add_test(tc, test_padding_no_nan);
    tcase_add_test(tc, test_dropout_switch);
    suite_add_tcase(s, tc);
    TCase *tg = tcase_create("golden");
    tcase_set_timeout(tg, 120);
    tcase_add_test(tg, test_golden_case_list);
    if (n_cases > 0) tcase_add_loop_test(tg, test_golden_forward, 0, n_cases);
    suite_add_tcase(s, tg);
    return s;
}

int main(void) {
    n_cases = golden_list(&case_names);
    SRunner *sr = srunner_create(forward_suite());
    /* no fork: golden_note collects the worst errors across the cases in this process */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    golden_print_notes("forward");
    golden_free_list(case_names, n_cases);
    return failed == 0 ? 0 : 1;
}
