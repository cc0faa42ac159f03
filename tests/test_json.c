/* test_json.c — the strict JSON reader (src/io/json.c) and the writer helpers. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"

static char err[256];

static json_doc *parse(const char *s) { return t5pt_json_parse(s, strlen(s), err, sizeof err); }

/* Asserts that s is rejected and that the message contains `want` (and a position). */
static void reject(const char *s, size_t n, const char *want) {
    json_doc *d = t5pt_json_parse(s, n, err, sizeof err);
    ck_assert_msg(d == NULL, "accepted: %s", s);
    ck_assert_msg(strstr(err, want) != NULL, "message \"%s\" lacks \"%s\"", err, want);
    ck_assert_msg(strncmp(err, "line ", 5) == 0, "message \"%s\" has no position", err);
}
#define REJECT(lit, want) reject(lit, sizeof(lit) - 1, want)

START_TEST(test_scalars) {
    json_doc *d = parse(" true ");
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(t5pt_json_root(d)->type, JSON_TRUE);
    t5pt_json_free(d);
    d = parse("null");
    ck_assert_int_eq(t5pt_json_root(d)->type, JSON_NULL);
    t5pt_json_free(d);
    d = parse("false");
    ck_assert_int_eq(t5pt_json_root(d)->type, JSON_FALSE);
    t5pt_json_free(d);
    d = parse("\"hi\"");
    ck_assert_int_eq(t5pt_json_root(d)->type, JSON_STRING);
    ck_assert_str_eq(t5pt_json_root(d)->u.str, "hi");
    ck_assert_uint_eq(t5pt_json_root(d)->len, 2);
    t5pt_json_free(d);
}
END_TEST

START_TEST(test_numbers) {
    json_doc *d = parse("[0, -0, 42, -17, 9223372036854775807, -9223372036854775808, 9223372036854775808,"
                        " 1.0, 1e2, 1e-06, 0.1, -2.5E+3, 123456789012345678901234567890]");
    ck_assert_ptr_nonnull(d);
    const json_value *a = t5pt_json_root(d);
    ck_assert_uint_eq(a->len, 13);
    ck_assert(t5pt_json_is_int(t5pt_json_at(a, 0)) && t5pt_json_at(a, 0)->inum == 0);
    ck_assert(t5pt_json_is_int(t5pt_json_at(a, 1)) && t5pt_json_at(a, 1)->inum == 0);
    ck_assert(t5pt_json_is_int(t5pt_json_at(a, 2)) && t5pt_json_at(a, 2)->inum == 42);
    ck_assert(t5pt_json_is_int(t5pt_json_at(a, 3)) && t5pt_json_at(a, 3)->inum == -17);
    ck_assert(t5pt_json_is_int(t5pt_json_at(a, 4)) && t5pt_json_at(a, 4)->inum == INT64_MAX);
    ck_assert(t5pt_json_is_int(t5pt_json_at(a, 5)) && t5pt_json_at(a, 5)->inum == INT64_MIN);
    ck_assert(!t5pt_json_is_int(t5pt_json_at(a, 6))); /* 2^63 does not fit */
    ck_assert(t5pt_json_at(a, 6)->u.num == 9223372036854775808.0);
    ck_assert(!t5pt_json_is_int(t5pt_json_at(a, 7)) && t5pt_json_at(a, 7)->u.num == 1.0);
    ck_assert(!t5pt_json_is_int(t5pt_json_at(a, 8)) && t5pt_json_at(a, 8)->u.num == 100.0);
    ck_assert(t5pt_json_at(a, 9)->u.num == 1e-6);    /* correctly rounded, as C's strtod */
    ck_assert(t5pt_json_at(a, 10)->u.num == 0.1);
    ck_assert(t5pt_json_at(a, 11)->u.num == -2500.0);
    ck_assert(!t5pt_json_is_int(t5pt_json_at(a, 12)) && t5pt_json_at(a, 12)->u.num == 1.2345678901234568e29);
    ck_assert_double_eq(t5pt_json_at(a, 2)->u.num, 42.0);
    t5pt_json_free(d);
}
END_TEST

START_TEST(test_strings_escapes) {
    json_doc *d = parse("[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u20ac\", \"\\ud83d\\ude00\", \"x\\u0000y\","
                        " \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]");
    ck_assert_ptr_nonnull(d);
    const json_value *a = t5pt_json_root(d);
    ck_assert_str_eq(t5pt_json_at(a, 0)->u.str, "a\"b\\c/d\b\f\n\r\t");
    ck_assert_str_eq(t5pt_json_at(a, 1)->u.str, "\xc3\xa9\xe2\x82\xac");
    ck_assert_str_eq(t5pt_json_at(a, 2)->u.str, "\xf0\x9f\x98\x80");     /* surrogate pair -> U+1F600 */
    ck_assert_uint_eq(t5pt_json_at(a, 3)->len, 3);                         /* embedded NUL kept */
    ck_assert(memcmp(t5pt_json_at(a, 3)->u.str, "x\0y", 4) == 0);
    ck_assert_str_eq(t5pt_json_at(a, 4)->u.str, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"); /* raw UTF-8 passes */
    t5pt_json_free(d);
}
END_TEST

START_TEST(test_nested_and_lookup) {
    json_doc *d = parse("{\"a\": {\"b\": [1, {\"c\": \"d\"}]}, \"n\": 3.5, \"t\": true, \"s\": \"str\", \"e\": [], \"o\": {}}");
    ck_assert_ptr_nonnull(d);
    const json_value *r = t5pt_json_root(d);
    ck_assert_int_eq(r->type, JSON_OBJECT);
    ck_assert_uint_eq(r->len, 6);
    const json_value *b = t5pt_json_get(t5pt_json_get(r, "a"), "b");
    ck_assert_uint_eq(b->len, 2);
    ck_assert_str_eq(t5pt_json_get_str(t5pt_json_at(b, 1), "c"), "d");
    ck_assert_ptr_null(t5pt_json_at(b, 2));
    ck_assert_ptr_null(t5pt_json_get(r, "missing"));
    ck_assert_ptr_null(t5pt_json_get(b, "a"));      /* not an object */
    ck_assert_ptr_null(t5pt_json_at(r, 0));         /* not an array */
    ck_assert_uint_eq(t5pt_json_get(r, "e")->len, 0);
    ck_assert_uint_eq(t5pt_json_get(r, "o")->len, 0);
    ck_assert_ptr_null(t5pt_json_get(t5pt_json_get(r, "o"), "x"));
    /* members keep file order */
    ck_assert_str_eq(r->u.members[0].key, "a");
    ck_assert_str_eq(r->u.members[5].key, "o");
    t5pt_json_free(d);
}
END_TEST

START_TEST(test_typed_getters) {
    json_doc *d = parse("{\"i\": 7, \"f\": 1.5, \"b\": false, \"s\": \"x\", \"z\": null}");
    const json_value *r = t5pt_json_root(d);
    int64_t i = -1;
    double f = -1;
    int b = -1;
    ck_assert_int_eq(t5pt_json_get_int(r, "i", &i), 0);
    ck_assert_int_eq(i, 7);
    ck_assert_int_eq(t5pt_json_get_int(r, "f", &i), -1); /* 1.5 is not an integer literal */
    ck_assert_int_eq(i, 7);                         /* untouched on failure */
    ck_assert_int_eq(t5pt_json_get_int(r, "nope", &i), -1);
    ck_assert_int_eq(t5pt_json_get_num(r, "f", &f), 0);
    ck_assert(f == 1.5);
    ck_assert_int_eq(t5pt_json_get_num(r, "i", &f), 0);
    ck_assert(f == 7.0);
    ck_assert_int_eq(t5pt_json_get_num(r, "s", &f), -1);
    ck_assert_int_eq(t5pt_json_get_bool(r, "b", &b), 0);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(t5pt_json_get_bool(r, "z", &b), -1);
    ck_assert_str_eq(t5pt_json_get_str(r, "s"), "x");
    ck_assert_ptr_null(t5pt_json_get_str(r, "i"));
    ck_assert_int_eq(t5pt_json_get(r, "z")->type, JSON_NULL);
    t5pt_json_free(d);
}
END_TEST

/* Large objects use the hash index; the answers must equal a linear scan. */
START_TEST(test_large_object) {
    const int n = 5000;
    char *buf = malloc((size_t)n * 40 + 64);
    size_t k = 0;
    buf[k++] = '{';
    for (int i = 0; i < n; i++) k += (size_t)sprintf(buf + k, "%s\"key_%d\": %d", i ? "," : "", i, i * 3);
    k += (size_t)sprintf(buf + k, ", \"key_17\": -1}"); /* duplicate: the last one wins, like Python */
    json_doc *d = t5pt_json_parse(buf, k, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    const json_value *r = t5pt_json_root(d);
    ck_assert_uint_eq(r->len, (size_t)n + 1);
    for (int i = 0; i < n; i++) {
        char key[32];
        sprintf(key, "key_%d", i);
        int64_t v;
        ck_assert_int_eq(t5pt_json_get_int(r, key, &v), 0);
        ck_assert_int_eq(v, i == 17 ? -1 : i * 3);
    }
    ck_assert_ptr_null(t5pt_json_get(r, "key_5000"));
    ck_assert_ptr_null(t5pt_json_get(r, "key_"));
    ck_assert_ptr_null(t5pt_json_get(r, ""));
    t5pt_json_free(d);
    free(buf);
    /* small objects: duplicates resolved the same way */
    d = parse("{\"a\": 1, \"a\": 2}");
    int64_t v;
    ck_assert_int_eq(t5pt_json_get_int(t5pt_json_root(d), "a", &v), 0);
    ck_assert_int_eq(v, 2);
    t5pt_json_free(d);
}
END_TEST

/* A tokenizer.json-shaped document: vocab as [piece, score] pairs. */
START_TEST(test_vocab_shaped) {
    const int n = 40000;
    char *buf = malloc((size_t)n * 48 + 128);
    size_t k = (size_t)sprintf(buf, "{\"model\": {\"type\": \"Unigram\", \"vocab\": [");
    for (int i = 0; i < n; i++)
        k += (size_t)sprintf(buf + k, "%s[\"\\u2581p%d\", %.17g]", i ? "," : "", i, -0.001 * i - 0.5);
    k += (size_t)sprintf(buf + k, "]}}");
    json_doc *d = t5pt_json_parse(buf, k, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    const json_value *v = t5pt_json_get(t5pt_json_get(t5pt_json_root(d), "model"), "vocab");
    ck_assert_uint_eq(v->len, (size_t)n);
    for (int i = 0; i < n; i += 997) {
        char want[32];
        sprintf(want, "\xe2\x96\x81p%d", i);
        ck_assert_str_eq(t5pt_json_at(t5pt_json_at(v, (size_t)i), 0)->u.str, want);
        ck_assert(t5pt_json_at(t5pt_json_at(v, (size_t)i), 1)->u.num == -0.001 * i - 0.5);
    }
    t5pt_json_free(d);
    free(buf);
}
END_TEST

START_TEST(test_not_nul_terminated) {
    const char text[] = "12345";
    json_doc *d = t5pt_json_parse(text, 3, err, sizeof err);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(t5pt_json_root(d)->inum, 123);
    t5pt_json_free(d);
    const char s[] = "\"abc\"xyz";
    d = t5pt_json_parse(s, 5, err, sizeof err);
    ck_assert_str_eq(t5pt_json_root(d)->u.str, "abc");
    t5pt_json_free(d);
    REJECT("\"abc", "unterminated string");
}
END_TEST

START_TEST(test_bom_and_whitespace) {
    json_doc *d = parse("\xef\xbb\xbf {\"a\"\t:\r\n1 }\n");
    ck_assert_ptr_nonnull(d);
    t5pt_json_free(d);
}
END_TEST

START_TEST(test_reject_trailing_commas) {
    REJECT("[1, 2,]", "trailing comma in array");
    REJECT("{\"a\": 1,}", "trailing comma in object");
    REJECT("[,]", "value expected");
    REJECT("{,}", "expected a string key");
}
END_TEST

START_TEST(test_reject_numbers) {
    REJECT("01", "leading zero");
    REJECT("-01", "leading zero");
    REJECT("[00]", "leading zero");
    REJECT("1.", "digit expected after '.'");
    REJECT(".5", "value expected");
    REJECT("+1", "value expected");
    REJECT("-", "expected a digit");
    REJECT("1e", "exponent");
    REJECT("1e+", "exponent");
    REJECT("NaN", "value expected");
    REJECT("Infinity", "value expected");
    REJECT("-Infinity", "expected a digit");
    REJECT("0x10", "after the JSON value");
}
END_TEST

START_TEST(test_reject_strings) {
    REJECT("\"a\nb\"", "control character 0x0a");
    REJECT("\"a\tb\"", "control character 0x09");
    REJECT("\"\\x41\"", "invalid escape '\\x'");
    REJECT("\"\\u12\"", "invalid \\u escape");
    REJECT("\"\\u12g4\"", "invalid \\u escape");
    REJECT("\"\\ud83d\"", "high surrogate");
    REJECT("\"\\ud83dx\"", "high surrogate");
    REJECT("\"\\ud83d\\u0041\"", "high surrogate");
    REJECT("\"\\ude00\"", "lone low surrogate");
    REJECT("'a'", "value expected");
    REJECT("\"abc", "unterminated string");
    REJECT("\"abc\\", "unterminated string");
}
END_TEST

START_TEST(test_reject_utf8) {
    REJECT("\"\xff\"", "invalid UTF-8 byte 0xff");
    REJECT("\"\x80\"", "invalid UTF-8 byte 0x80");
    REJECT("\"\xc0\x80\"", "invalid UTF-8");          /* overlong NUL */
    REJECT("\"\xc1\xbf\"", "invalid UTF-8");          /* overlong */
    REJECT("\"\xe0\x80\x80\"", "invalid UTF-8");      /* overlong 3-byte */
    REJECT("\"\xed\xa0\x80\"", "invalid UTF-8");      /* encoded surrogate U+D800 */
    REJECT("\"\xf4\x90\x80\x80\"", "invalid UTF-8");  /* > U+10FFFF */
    REJECT("\"\xf8\x88\x80\x80\x80\"", "invalid UTF-8");
    REJECT("\"\xc3\"", "invalid UTF-8");              /* truncated sequence */
    REJECT("\"\xe2\x82\"", "invalid UTF-8");
}
END_TEST

START_TEST(test_reject_structure) {
    REJECT("", "unexpected end of input");
    REJECT("   ", "unexpected end of input");
    REJECT("[1 2]", "expected ',' or ']'");
    REJECT("{\"a\" 1}", "expected ':'");
    REJECT("{\"a\": 1 \"b\": 2}", "expected ',' or '}'");
    REJECT("{a: 1}", "expected a string key");
    REJECT("[1", "unterminated array");
    REJECT("{\"a\": 1", "unterminated object");
    REJECT("[1] [2]", "after the JSON value");
    REJECT("// c\n1", "value expected");
    REJECT("[1 /* c */]", "expected ',' or ']'");
    REJECT("tru", "value expected");
    REJECT("nul", "value expected");
}
END_TEST

START_TEST(test_error_position) {
    const char *s = "{\n  \"a\": 1,\n}";
    ck_assert_ptr_null(t5pt_json_parse(s, strlen(s), err, sizeof err));
    ck_assert_str_eq(err, "line 3 col 1: trailing comma in object");
    s = "[1,\n 2,\n   x]";
    ck_assert_ptr_null(t5pt_json_parse(s, strlen(s), err, sizeof err));
    ck_assert_str_eq(err, "line 3 col 4: unexpected 'x' (value expected)");
    /* a tiny error buffer is truncated, never overrun */
    char small[8];
    ck_assert_ptr_null(t5pt_json_parse(s, strlen(s), small, sizeof small));
    ck_assert_uint_eq(strlen(small), 7);
    ck_assert_ptr_null(t5pt_json_parse(s, strlen(s), NULL, 0));
}
END_TEST

START_TEST(test_depth_limit) {
    const int ok_depth = 512;
    char *s = malloc(2 * 600 + 1);
    for (int i = 0; i < ok_depth; i++) s[i] = '[';
    for (int i = 0; i < ok_depth; i++) s[ok_depth + i] = ']';
    json_doc *d = t5pt_json_parse(s, 2 * (size_t)ok_depth, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    t5pt_json_free(d);
    int bad = 513;
    for (int i = 0; i < bad; i++) s[i] = '[';
    for (int i = 0; i < bad; i++) s[bad + i] = ']';
    ck_assert_ptr_null(t5pt_json_parse(s, 2 * (size_t)bad, err, sizeof err));
    ck_assert_msg(strstr(err, "nesting deeper than 512") != NULL, "%s", err);
    free(s);
}
END_TEST

START_TEST(test_writer) {
    json_writer w = {0};
    t5pt_jw_raw(&w, "{");
    t5pt_jw_str(&w, "k\"\\\n\t\x01\x1f/\xc3\xa9", 10);
    t5pt_jw_raw(&w, ":");
    t5pt_jw_printf(&w, "%d", 42);
    t5pt_jw_raw(&w, "}");
    ck_assert(!w.oom);
    ck_assert_str_eq(w.buf, "{\"k\\\"\\\\\\n\\t\\u0001\\u001f/\xc3\xa9\":42}");
    ck_assert_uint_eq(w.len, strlen(w.buf));
    t5pt_jw_free(&w);
    ck_assert_ptr_null(w.buf);

    /* every ASCII byte incl. NUL round-trips through writer + reader */
    char all[128];
    for (int i = 0; i < 128; i++) all[i] = (char)i;
    t5pt_jw_str(&w, all, 128);
    json_doc *d = t5pt_json_parse(w.buf, w.len, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(t5pt_json_root(d)->len, 128);
    ck_assert(memcmp(t5pt_json_root(d)->u.str, all, 128) == 0);
    t5pt_json_free(d);
    t5pt_jw_free(&w);

    /* long printf output (past the small stack buffer) */
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = 0;
    t5pt_jw_raw(&w, "[");
    t5pt_jw_printf(&w, "\"%s\",%d", big, 7);
    t5pt_jw_raw(&w, "]");
    d = t5pt_json_parse(w.buf, w.len, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_str_eq(t5pt_json_at(t5pt_json_root(d), 0)->u.str, big);
    ck_assert_int_eq(t5pt_json_at(t5pt_json_root(d), 1)->inum, 7);
    t5pt_json_free(d);
    t5pt_jw_free(&w);
}
END_TEST

/* The real tokenizer.json the repository ships (assets/t5/, 1.4 MB). */
START_TEST(test_real_tokenizer_json) {
    const char *path = "assets/t5/tokenizer.json";
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: cannot open (it is shipped; run the tests from the repository root)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    json_doc *d = t5pt_json_parse(buf, (size_t)n, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    const json_value *vocab = t5pt_json_get(t5pt_json_get(t5pt_json_root(d), "model"), "vocab");
    ck_assert_ptr_nonnull(vocab);
    ck_assert_uint_eq(vocab->len, 32100);
    ck_assert_str_eq(t5pt_json_at(t5pt_json_at(vocab, 0), 0)->u.str, "<pad>");
    ck_assert_uint_eq(t5pt_json_get(t5pt_json_root(d), "added_tokens")->len, 103);
    t5pt_json_free(d);
    free(buf);
}
END_TEST

static Suite *json_suite(void) {
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_scalars);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_strings_escapes);
    tcase_add_test(tc, test_nested_and_lookup);
    tcase_add_test(tc, test_typed_getters);
    tcase_add_test(tc, test_large_object);
    tcase_add_test(tc, test_vocab_shaped);
    tcase_add_test(tc, test_not_nul_terminated);
    tcase_add_test(tc, test_bom_and_whitespace);
    tcase_add_test(tc, test_reject_trailing_commas);
    tcase_add_test(tc, test_reject_numbers);
    tcase_add_test(tc, test_reject_strings);
    tcase_add_test(tc, test_reject_utf8);
    tcase_add_test(tc, test_reject_structure);
    tcase_add_test(tc, test_error_position);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_writer);
    tcase_add_test(tc, test_real_tokenizer_json);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
