/* test_threads.c — the thread policy (include/t5pt.h, simd/threads.c).
 *
 * What can be checked without timing: reading the runnable-task count of /proc/loadavg
 * and a cgroup's CPU quota,
 * the thread count the adaptive policy derives from the counts, that the policy never
 * uses more threads than allowed nor fewer than one, that FIXED gives back the count that
 * was set, and that a forward pass under either policy gives the same bits. Whether
 * adapting makes a step faster on a busy machine is a benchmark (BENCHMARKS.md,
 * "Threads on a shared machine"), not a test.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "simd/threads.h"
#include "t5pt.h"

START_TEST(test_loadavg_running_parses_the_fourth_field) {
    ck_assert_int_eq(t5pt_loadavg_running("0.52 0.58 0.59 3/412 12345\n"), 3);
    ck_assert_int_eq(t5pt_loadavg_running("12.00 9.50 7.25 17/1024 99"), 17);
    ck_assert_int_eq(t5pt_loadavg_running("0.00  0.01 0.05   1/80 7"), 1);
    /* malformed text: no count, never a guess */
    ck_assert_int_eq(t5pt_loadavg_running(""), -1);
    ck_assert_int_eq(t5pt_loadavg_running("0.52 0.58"), -1);
    ck_assert_int_eq(t5pt_loadavg_running("0.52 0.58 0.59"), -1);
    ck_assert_int_eq(t5pt_loadavg_running("0.52 0.58 0.59 x/412 1"), -1);
    ck_assert_int_eq(t5pt_loadavg_running("0.52 0.58 0.59 3 412"), -1);
}
END_TEST

START_TEST(test_threads_for_load) {
    /* cap, cores, running (system), own */
    ck_assert_int_eq(t5pt_threads_for_load(2, 2, 1, 1), 2);  /* only this process: every core */
    ck_assert_int_eq(t5pt_threads_for_load(2, 2, 2, 1), 1);  /* one other busy program: one thread */
    ck_assert_int_eq(t5pt_threads_for_load(2, 2, 9, 1), 1);  /* never fewer than one */
    ck_assert_int_eq(t5pt_threads_for_load(8, 8, 3, 1), 6);  /* two others on eight cores */
    ck_assert_int_eq(t5pt_threads_for_load(4, 8, 1, 1), 4);  /* never more than asked */
    ck_assert_int_eq(t5pt_threads_for_load(2, 2, 3, 3), 2);  /* our own running threads are not others */
    ck_assert_int_eq(t5pt_threads_for_load(2, 2, 0, 3), 2);  /* counts taken at different moments */
}
END_TEST

/* cgroup CPU quotas, v2 (cpu.max) and v1 (cfs_quota_us / cfs_period_us): whole cores
 * rounded up, 0 for no quota, -1 for text of another format. */
START_TEST(test_cpu_quota_parses) {
    ck_assert_int_eq(t5pt_cpu_max_cores("max 100000\n"), 0);
    ck_assert_int_eq(t5pt_cpu_max_cores("200000 100000\n"), 2);
    ck_assert_int_eq(t5pt_cpu_max_cores("150000 100000"), 2);
    ck_assert_int_eq(t5pt_cpu_max_cores("50000 100000\n"), 1);
    ck_assert_int_eq(t5pt_cpu_max_cores("1 100000\n"), 1);
    ck_assert_int_eq(t5pt_cpu_max_cores("3200000 100000\n"), 32);
    ck_assert_int_eq(t5pt_cpu_max_cores(""), -1);
    ck_assert_int_eq(t5pt_cpu_max_cores("max"), -1);
    ck_assert_int_eq(t5pt_cpu_max_cores("max 0"), -1);
    ck_assert_int_eq(t5pt_cpu_max_cores("0 100000"), -1);
    ck_assert_int_eq(t5pt_cpu_max_cores("-5 100000"), -1);
    ck_assert_int_eq(t5pt_cpu_max_cores("200000 100000 7"), -1);
    ck_assert_int_eq(t5pt_cpu_max_cores("lots 100000"), -1);
    ck_assert_int_eq(t5pt_cfs_quota_cores("-1\n", "100000\n"), 0);
    ck_assert_int_eq(t5pt_cfs_quota_cores("250000\n", "100000\n"), 3);
    ck_assert_int_eq(t5pt_cfs_quota_cores("100000", "100000"), 1);
    ck_assert_int_eq(t5pt_cfs_quota_cores("0\n", "100000\n"), -1);
    ck_assert_int_eq(t5pt_cfs_quota_cores("-2\n", "100000\n"), -1);
    ck_assert_int_eq(t5pt_cfs_quota_cores("100000\n", "0\n"), -1);
    ck_assert_int_eq(t5pt_cfs_quota_cores("x", "100000"), -1);
    /* this machine's own quota: none, or a positive count no larger than 2^20 */
    int q = t5pt_cgroup_cpu_cores();
    ck_assert_msg(q >= 0 && q <= 1 << 20, "cgroup CPU quota %d", q);
}
END_TEST

START_TEST(test_loadavg_of_this_machine) {
    FILE *f = fopen("/proc/loadavg", "r");
    ck_assert_msg(f != NULL, "/proc/loadavg: the adaptive policy needs Linux /proc");
    char buf[128];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    /* the reading thread itself is running */
    ck_assert_int_ge(t5pt_loadavg_running(buf), 1);
}
END_TEST

START_TEST(test_policy_stays_within_the_cap) {
    int saved = t5pt_num_threads();
    t5pt_set_num_threads(2);
    ck_assert_int_eq(t5pt_get_thread_policy(), T5PT_THREADS_FIXED);
    ck_assert_int_eq(t5pt_threads_adapt(), t5pt_num_threads()); /* FIXED: nothing changes */
    t5pt_set_thread_policy(T5PT_THREADS_ADAPTIVE);
    ck_assert_int_eq(t5pt_get_thread_policy(), T5PT_THREADS_ADAPTIVE);
    int n = t5pt_threads_adapt();
    ck_assert_int_eq(n, t5pt_num_threads());
    ck_assert_int_ge(n, 1);
#ifdef _OPENMP
    ck_assert_int_le(n, 2);
#else
    ck_assert_int_eq(n, 1);
#endif
    t5pt_set_thread_policy(T5PT_THREADS_FIXED); /* back to the count that was set */
#ifdef _OPENMP
    ck_assert_int_eq(t5pt_num_threads(), 2);
#endif
    t5pt_set_num_threads(saved);
}
END_TEST

/* A tiny random model: the loss of one forward pass, under one policy. */
static float forward_loss(t5pt_thread_policy policy) {
    t5pt_config cfg = {.vocab_size = 300, .d_model = 32, .d_kv = 8, .d_ff = 64, .num_layers = 2,
                       .num_decoder_layers = 2, .num_heads = 4, .rel_num_buckets = 32, .rel_max_distance = 128,
                       .layer_norm_epsilon = 1e-6f, .decoder_start_token_id = 0, .pad_token_id = 0,
                       .eos_token_id = 1};
    t5pt_model *m = NULL;
    ck_assert_int_eq(t5pt_model_init_random(&m, &cfg, 7), T5PT_OK);
    enum { B = 2, S = 9, L = 4, N = 3 };
    t5pt_ctx *c = NULL;
    ck_assert_int_eq(t5pt_ctx_create(&c, m, B, S, L, N), T5PT_OK);
    float P[N * 32];
    int32_t ids[B * S], labels[B * L];
    t5pt_rng r;
    t5pt_rng_seed(&r, 5);
    for (int i = 0; i < N * cfg.d_model; i++) P[i] = (float)(t5pt_rng_uniform(&r) - 0.5);
    for (int i = 0; i < B * S; i++) ids[i] = 2 + (int32_t)(t5pt_rng_next(&r) % (uint64_t)(cfg.vocab_size - 2));
    for (int i = 0; i < B * L; i++) labels[i] = 2 + (int32_t)(t5pt_rng_next(&r) % (uint64_t)(cfg.vocab_size - 2));
    t5pt_batch batch = {B, S, L, ids, NULL, labels};
    t5pt_placement pl = {T5PT_PLACE_PREPEND, 0};
    t5pt_set_thread_policy(policy);
    float loss = 0;
    ck_assert_int_eq(t5pt_forward(c, P, N, pl, &batch, &loss), T5PT_OK);
    t5pt_set_thread_policy(T5PT_THREADS_FIXED);
    t5pt_ctx_free(c);
    t5pt_model_free(m);
    return loss;
}

START_TEST(test_policy_does_not_change_results) {
    t5pt_set_num_threads(2);
    float fixed = forward_loss(T5PT_THREADS_FIXED), adaptive = forward_loss(T5PT_THREADS_ADAPTIVE);
    ck_assert_msg(fixed > 0 && fixed == adaptive, "loss %.9g (fixed) vs %.9g (adaptive)", fixed, adaptive);
}
END_TEST

static Suite *threads_suite(void) {
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, test_loadavg_running_parses_the_fourth_field);
    tcase_add_test(tc, test_threads_for_load);
    tcase_add_test(tc, test_cpu_quota_parses);
    tcase_add_test(tc, test_loadavg_of_this_machine);
    tcase_add_test(tc, test_policy_stays_within_the_cap);
    tcase_add_test(tc, test_policy_does_not_change_results);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(threads_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
