/* test_data.c — datasets: JSONL and TSV reading, tokenization with </s>, truncation
 * counts, padded batches, reproducible shuffling, and one clear error (file:line: what)
 * for every kind of bad data. Expected token ids come from the real SentencePiece
 * library (assets/t5 vocabulary): "Hello world" -> 8774 296, </s> = 1. */
#include <check.h>
#include <unistd.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/data.h"
#include "t5pt.h"
#include "file_util.h"


/* Tests may run concurrently (make test and make asan): every file lives under this
 * run's own directory (test_tmpdir_create in main); test_tmp("x") is a path in it. */

static t5pt_tokenizer *tok;
static char tmp_path[160], tmp_tsv[160];

static void setup(void) {
    snprintf(tmp_path, sizeof tmp_path, "%s", test_tmp("t5pt_test_data.jsonl"));
    snprintf(tmp_tsv, sizeof tmp_tsv, "%s", test_tmp("t5pt_test_data.tsv"));
    ck_assert_msg(t5pt_tokenizer_load(&tok, "assets/t5/spiece.model") == T5PT_OK, "%s", t5pt_last_error());
}
static void teardown(void) {
    t5pt_tokenizer_free(tok);
    remove(tmp_path);
    remove(tmp_tsv);
}

/* Loads bytes as a dataset that must fail; checks status and that the message names want. */
static void expect_error(const char *path, const char *bytes, size_t n, t5pt_status want_st, const char *want_msg) {
    test_write_file(path, bytes, n);
    t5pt_dataset *d = (t5pt_dataset *)1;
    t5pt_status st = t5pt_dataset_load(&d, path, tok, NULL);
    ck_assert_msg(st == want_st, "expected status %d, got %d (%s)", want_st, st, t5pt_last_error());
    ck_assert(d == NULL);
    ck_assert_msg(strstr(t5pt_last_error(), want_msg), "message '%s' lacks '%s'", t5pt_last_error(), want_msg);
}

START_TEST(test_jsonl_basic) {
    const char *text = "{\"input\": \"Hello world\", \"target\": \"Hello\"}\n"
                       "\n"
                       "{\"target\": \"world\", \"input\": \"Hello\", \"extra\": [1,2]}\r\n"
                       "{\"input\": \"x\", \"target\": 7}\n";
    test_write_file(tmp_path, text, strlen(text));
    t5pt_dataset *d;
    ck_assert_msg(t5pt_dataset_load(&d, tmp_path, tok, NULL) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(d->n, 3);
    ck_assert_int_eq(d->ex[0].line, 1);
    ck_assert_int_eq(d->ex[1].line, 3);   /* blank line skipped, numbering kept */
    ck_assert_int_eq(d->ex[0].src_len, 3);
    ck_assert_int_eq(d->ex[0].src[0], 8774);
    ck_assert_int_eq(d->ex[0].src[1], 296);
    ck_assert_int_eq(d->ex[0].src[2], 1);
    ck_assert_int_eq(d->ex[0].tgt_len, 2);
    ck_assert_int_eq(d->ex[0].tgt[0], 8774);
    ck_assert_str_eq(d->ex[1].target, "world");
    ck_assert_str_eq(d->ex[2].target, "7");   /* integer labels read as their text */
    ck_assert_int_eq(d->truncated_src, 0);
    ck_assert_int_eq(d->max_src, 3);
    t5pt_dataset_free(d);
}
END_TEST

START_TEST(test_field_names_and_tsv) {
    const char *text = "{\"sentence\": \"Hello world\", \"label\": \"Hello\"}\n";
    test_write_file(tmp_path, text, strlen(text));
    t5pt_data_options o;
    t5pt_data_options_default(&o);
    o.input_field = "sentence";
    o.target_field = "label";
    t5pt_dataset *d;
    ck_assert(t5pt_dataset_load(&d, tmp_path, tok, &o) == T5PT_OK);
    ck_assert_int_eq(d->n, 1);
    ck_assert_int_eq(d->ex[0].src[0], 8774);
    t5pt_dataset_free(d);

    const char *tsv = "input\ttarget\nHello world\tHello\nHello\tworld\n";
    test_write_file(tmp_tsv, tsv, strlen(tsv));
    ck_assert_msg(t5pt_dataset_load(&d, tmp_tsv, tok, NULL) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(d->n, 2);           /* header skipped */
    ck_assert_int_eq(d->ex[0].line, 2);
    ck_assert_str_eq(d->ex[0].input, "Hello world");
    ck_assert_str_eq(d->ex[1].target, "world");
    t5pt_dataset_free(d);
}
END_TEST

START_TEST(test_truncation_counted) {
    const char *text = "{\"input\": \"Hello world Hello world\", \"target\": \"Hello world Hello\"}\n"
                       "{\"input\": \"Hello\", \"target\": \"world\"}\n";
    test_write_file(tmp_path, text, strlen(text));
    t5pt_data_options o;
    t5pt_data_options_default(&o);
    o.max_src_len = 3;
    o.max_tgt_len = 2;
    t5pt_dataset *d;
    ck_assert(t5pt_dataset_load(&d, tmp_path, tok, &o) == T5PT_OK);
    ck_assert_int_eq(d->truncated_src, 1);
    ck_assert_int_eq(d->truncated_tgt, 1);
    ck_assert_int_eq(d->ex[0].src_len, 3);
    ck_assert_int_eq(d->ex[0].src[0], 8774);
    ck_assert_int_eq(d->ex[0].src[1], 296);
    ck_assert_int_eq(d->ex[0].src[2], 1);   /* </s> kept at the end */
    ck_assert_int_eq(d->ex[0].tgt_len, 2);
    ck_assert_int_eq(d->ex[0].tgt[1], 1);
    ck_assert_int_eq(d->ex[1].src_len, 2);  /* short rows untouched */
    t5pt_dataset_free(d);
}
END_TEST

START_TEST(test_batch_padding) {
    const char *text = "{\"input\": \"Hello world\", \"target\": \"Hello world\"}\n"
                       "{\"input\": \"Hello\", \"target\": \"world\"}\n";
    test_write_file(tmp_path, text, strlen(text));
    t5pt_dataset *d;
    ck_assert(t5pt_dataset_load(&d, tmp_path, tok, NULL) == T5PT_OK);
    t5pt_batch_buf bb = {0};
    int idx[2] = {1, 0};
    ck_assert(t5pt_batch_build(&bb, d, idx, 2, 1) == T5PT_OK);
    const t5pt_batch *b = &bb.view;
    ck_assert_int_eq(b->B, 2);
    ck_assert_int_eq(b->T, 3);
    ck_assert_int_eq(b->L, 3);
    int32_t ids[6] = {8774, 1, 0, 8774, 296, 1}, mask[6] = {1, 1, 0, 1, 1, 1};
    int32_t labels[6] = {296, 1, -100, 8774, 296, 1};
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(b->input_ids[i], ids[i]);
        ck_assert_int_eq(b->attention_mask[i], mask[i]);
        ck_assert_int_eq(b->labels[i], labels[i]);
    }
    ck_assert(t5pt_batch_build(&bb, d, idx, 1, 0) == T5PT_OK);   /* reuse, smaller, no labels */
    ck_assert_int_eq(bb.view.T, 2);
    ck_assert(bb.view.labels == NULL);
    t5pt_batch_buf_free(&bb);
    t5pt_dataset_free(d);
}
END_TEST

START_TEST(test_shuffle_reproducible) {
    int a[50], b[50], seen[50] = {0};
    for (int i = 0; i < 50; i++) a[i] = b[i] = i;
    t5pt_rng r1, r2;
    t5pt_rng_seed(&r1, 5);
    t5pt_rng_seed(&r2, 5);
    t5pt_shuffle(a, 50, &r1);
    t5pt_shuffle(b, 50, &r2);
    int moved = 0;
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(a[i], b[i]);
        seen[a[i]]++;
        moved += a[i] != i;
    }
    for (int i = 0; i < 50; i++) ck_assert_int_eq(seen[i], 1);   /* a permutation */
    ck_assert(moved > 25);
}
END_TEST

START_TEST(test_utf8_validator) {
    ck_assert_int_eq(t5pt_utf8_invalid_at("abc", 3), -1);
    ck_assert_int_eq(t5pt_utf8_invalid_at("\xc3\xa9t\xc3\xa9", 5), -1);          /* été */
    ck_assert_int_eq(t5pt_utf8_invalid_at("\xf0\x9f\x98\x80", 4), -1);           /* emoji */
    ck_assert_int_eq(t5pt_utf8_invalid_at("ab\xff", 3), 2);
    ck_assert_int_eq(t5pt_utf8_invalid_at("\xc0\xaf", 2), 0);                    /* overlong */
    ck_assert_int_eq(t5pt_utf8_invalid_at("\xed\xa0\x80", 3), 0);                /* surrogate */
    ck_assert_int_eq(t5pt_utf8_invalid_at("a\xe2\x82", 3), 1);                   /* truncated */
    ck_assert_int_eq(t5pt_utf8_invalid_at("\xf4\x90\x80\x80", 4), 0);            /* > U+10FFFF */
}
END_TEST

/* ---- every kind of bad data: status, file and line in the message */
START_TEST(test_bad_malformed_json) {
    const char *t = "{\"input\": \"a\", \"target\": \"b\"}\n{\"input\": \"a\", \"target\": }\n";
    expect_error(tmp_path, t, strlen(t), T5PT_ERR_FORMAT, "t5pt_test_data.jsonl:2: malformed JSON");
}
END_TEST
START_TEST(test_bad_not_object) {
    const char *t = "[\"a\", \"b\"]\n";
    expect_error(tmp_path, t, strlen(t), T5PT_ERR_FORMAT, "t5pt_test_data.jsonl:1: expected a JSON object");
}
END_TEST
START_TEST(test_bad_missing_input) {
    const char *t = "{\"input\": \"a\", \"target\": \"b\"}\n\n{\"text\": \"a\", \"target\": \"b\"}\n";
    expect_error(tmp_path, t, strlen(t), T5PT_ERR_FORMAT, "t5pt_test_data.jsonl:3: missing field \"input\"");
}
END_TEST
START_TEST(test_bad_missing_target) {
    const char *t = "{\"input\": \"a\"}\n";
    expect_error(tmp_path, t, strlen(t), T5PT_ERR_FORMAT, "t5pt_test_data.jsonl:1: missing field \"target\"");
}
END_TEST
START_TEST(test_bad_field_type) {
    const char *t = "{\"input\": [\"a\"], \"target\": \"b\"}\n";
    expect_error(tmp_path, t, strlen(t), T5PT_ERR_FORMAT, "t5pt_test_data.jsonl:1: field \"input\" is not a string");
}
END_TEST
START_TEST(test_bad_utf8) {
    const char t[] = "{\"input\": \"ok\", \"target\": \"b\"}\n{\"input\": \"caf\xe9\", \"target\": \"b\"}\n";
    expect_error(tmp_path, t, sizeof t - 1, T5PT_ERR_FORMAT, "t5pt_test_data.jsonl:2: invalid UTF-8");
}
END_TEST
START_TEST(test_bad_empty) {
    expect_error(tmp_path, "", 0, T5PT_ERR_FORMAT, "t5pt_test_data.jsonl: no examples (empty file)");
    expect_error(tmp_path, "\n \n", 3, T5PT_ERR_FORMAT, "t5pt_test_data.jsonl: no examples (only blank lines)");
}
END_TEST
START_TEST(test_bad_tsv) {
    const char *t = "a\tb\nno tab here\n";
    expect_error(tmp_tsv, t, strlen(t), T5PT_ERR_FORMAT, "t5pt_test_data.tsv:2: expected input<TAB>target");
    const char *t2 = "a\tb\tc\n";
    expect_error(tmp_tsv, t2, strlen(t2), T5PT_ERR_FORMAT, "t5pt_test_data.tsv:1: more than one tab");
}
END_TEST
START_TEST(test_bad_nul) {
    const char t[] = "{\"input\": \"a\\u0000b\", \"target\": \"b\"}\n";
    expect_error(tmp_path, t, sizeof t - 1, T5PT_ERR_FORMAT, "t5pt_test_data.jsonl:1: a field contains a NUL");
}
END_TEST
START_TEST(test_bad_missing_file) {
    t5pt_dataset *d;
    ck_assert(t5pt_dataset_load(&d, "/nonexistent/t5pt.jsonl", tok, NULL) == T5PT_ERR_IO);
    ck_assert(strstr(t5pt_last_error(), "/nonexistent/t5pt.jsonl"));
}
END_TEST

int main(void) {
    if (!test_tmpdir_create("data")) {
        perror("test_data: cannot create a temp directory");
        return 1;
    }
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("data");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_jsonl_basic);
    tcase_add_test(tc, test_field_names_and_tsv);
    tcase_add_test(tc, test_truncation_counted);
    tcase_add_test(tc, test_batch_padding);
    tcase_add_test(tc, test_shuffle_reproducible);
    tcase_add_test(tc, test_utf8_validator);
    tcase_add_test(tc, test_bad_malformed_json);
    tcase_add_test(tc, test_bad_not_object);
    tcase_add_test(tc, test_bad_missing_input);
    tcase_add_test(tc, test_bad_missing_target);
    tcase_add_test(tc, test_bad_field_type);
    tcase_add_test(tc, test_bad_utf8);
    tcase_add_test(tc, test_bad_empty);
    tcase_add_test(tc, test_bad_tsv);
    tcase_add_test(tc, test_bad_nul);
    tcase_add_test(tc, test_bad_missing_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    test_tmpdir_remove();
    return failed == 0 ? 0 : 1;
}
