/* test_tokenizer.c — the T5 tokenizer against the SentencePiece library.
 *
 * Golden data (tests/data/tokenizer/, written by golden/tokenizer/export_tokenizer.py with
 * python3-sentencepiece 0.1.97 on assets/t5/spiece.model):
 *   expected.tsv  hex(input) TAB ids TAB hex(decode(ids))   ~6400 corpus entries
 *   decode.tsv    ids TAB hex(decode(ids))                  random id sequences
 *   models/NAME.model + NAME.tsv   tiny models with non-T5 settings, same columns
 * Every entry must match exactly, from spiece.model and from tokenizer.json.
 * T5PT_TEST_SMALL=1 checks only the first 300 rows of each file (for emulated runs).
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/internal.h"
#include "t5pt.h"

#define SPM_PATH "assets/t5/spiece.model"
#define JSON_PATH "assets/t5/tokenizer.json"
#define EXPECTED_PATH "tests/data/tokenizer/expected.tsv"
#define DECODE_PATH "tests/data/tokenizer/decode.tsv"

/* ---------------------------------------------------------------- golden rows */
typedef struct {
    char *text;        /* input bytes */
    size_t text_len;
    int32_t *ids;
    int n_ids;
    char *decoded;     /* NUL-terminated */
} row;

typedef struct {
    row *rows;
    int n;
} table;

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

static char *unhex(const char *s, size_t n, size_t *out_len) {
    char *b = malloc(n / 2 + 1);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < n / 2; i++) b[i] = (char)(hexval(s[2 * i]) * 16 + hexval(s[2 * i + 1]));
    b[n / 2] = 0;
    *out_len = n / 2;
    return b;
}

static int32_t *parse_ids(const char *s, size_t n, int *count) {
    int32_t *ids = malloc((n / 2 + 1) * sizeof *ids);
    ck_assert_ptr_nonnull(ids);
    int k = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && s[i] == ' ') i++;
        if (i >= n) break;
        long v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
        ids[k++] = (int32_t)v;
    }
    *count = k;
    return ids;
}

static int small_mode(void) {
    const char *e = getenv("T5PT_TEST_SMALL");
    return e && *e && strcmp(e, "0") != 0;
}

/* Reads a TSV: with_text = 1 for expected.tsv (3 columns), 0 for decode.tsv (2 columns). */
static table load_table(const char *path, int with_text) {
    char *data;
    size_t len;
    t5pt_status st = t5pt_read_file(path, &data, &len);
    ck_assert_msg(st == T5PT_OK, "%s", t5pt_last_error());
    table t = {NULL, 0};
    int cap = 0, limit = small_mode() ? 300 : 1 << 30;
    char *p = data, *end = data + len;
    while (p < end && t.n < limit) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        char *cols[3];
        size_t clen[3];
        int nc = 0;
        char *c = p;
        while (nc < 3) {
            char *tab = memchr(c, '\t', (size_t)(nl - c));
            cols[nc] = c;
            clen[nc] = (size_t)((tab ? tab : nl) - c);
            nc++;
            if (!tab) break;
            c = tab + 1;
        }
        ck_assert_int_eq(nc, with_text ? 3 : 2);
        if (t.n == cap) {
            cap = cap ? 2 * cap : 1024;
            t.rows = realloc(t.rows, (size_t)cap * sizeof *t.rows);
            ck_assert_ptr_nonnull(t.rows);
        }
        row *r = &t.rows[t.n++];
        int k = 0;
        size_t dl;
        if (with_text) r->text = unhex(cols[k], clen[k], &r->text_len), k++;
        else r->text = NULL, r->text_len = 0;
        r->ids = parse_ids(cols[k], clen[k], &r->n_ids), k++;
        r->decoded = unhex(cols[k], clen[k], &dl);
        p = nl + 1;
    }
    free(data);
    ck_assert_int_gt(t.n, 0);
    return t;
}

static void free_table(table *t) {
    for (int i = 0; i < t->n; i++) {
        free(t->rows[i].text);
        free(t->rows[i].ids);
        free(t->rows[i].decoded);
    }
    free(t->rows);
}

static t5pt_tokenizer *load_ok(const char *path) {
    t5pt_tokenizer *tok = NULL;
    t5pt_status st = t5pt_tokenizer_load(&tok, path);
    ck_assert_msg(st == T5PT_OK, "load %s: %s", path, t5pt_last_error());
    return tok;
}

static void print_ids(const char *what, const int32_t *ids, int n) {
    fprintf(stderr, "  %s:", what);
    for (int i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

static int check_decode_rows(t5pt_tokenizer *tok, const table *t, const char *what);

/* ---------------------------------------------------------------- corpus: encode */
/* eos_id: </s> of the model (1 for T5; 2 for the trainer's defaults used by the tiny models) */
static void check_encode_rows(const char *model_path, const char *tsv, int32_t eos_id) {
    t5pt_tokenizer *tok = load_ok(model_path);
    table t = load_table(tsv, 1);
    int ok = 0, shown = 0;
    for (int i = 0; i < t.n; i++) {
        const row *r = &t.rows[i];
        for (int eos = 0; eos <= 1; eos++) {
            int32_t *ids = NULL;
            int n = -1;
            t5pt_status st = t5pt_tokenizer_encode(tok, r->text, r->text_len, eos, &ids, &n);
            ck_assert_msg(st == T5PT_OK, "row %d: %s", i + 1, t5pt_last_error());
            int same = n == r->n_ids + eos && memcmp(ids, r->ids, (size_t)r->n_ids * sizeof *ids) == 0 &&
                       (!eos || ids[n - 1] == eos_id);
            if (!eos) ok += same;
            if (!same && shown++ < 5) {
                fprintf(stderr, "%s: row %d (eos %d) differs\n", model_path, i + 1, eos);
                print_ids("expected", r->ids, r->n_ids);
                print_ids("got     ", ids, n);
            }
            free(ids);
        }
    }
    fprintf(stderr, "%s: encode %d/%d corpus rows match\n", model_path, ok, t.n);
    ck_assert_int_eq(ok, t.n);
    ck_assert_int_eq(shown, 0);
    free_table(&t);
    t5pt_tokenizer_free(tok);
}

START_TEST(test_encode_corpus_spm) { check_encode_rows(SPM_PATH, EXPECTED_PATH, 1); }
END_TEST

START_TEST(test_encode_corpus_json) { check_encode_rows(JSON_PATH, EXPECTED_PATH, 1); }
END_TEST

/* Tiny models trained by the exporter with settings T5 does not use: identity normalizer,
 * a user-defined rule charsmap, no dummy prefix and no whitespace removal. Encode and
 * decode must follow sentencepiece there too. */
static const char *const tiny_models[] = {"identity", "rules", "nows"};

START_TEST(test_tiny_models) {
    const char *name = tiny_models[_i];
    char model[256], tsv[256];
    snprintf(model, sizeof model, "tests/data/tokenizer/models/%s.model", name);
    snprintf(tsv, sizeof tsv, "tests/data/tokenizer/models/%s.tsv", name);
    check_encode_rows(model, tsv, 2);
    t5pt_tokenizer *tok = load_ok(model);
    table t = load_table(tsv, 1);
    ck_assert_int_eq(check_decode_rows(tok, &t, tsv), t.n);
    free_table(&t);
    t5pt_tokenizer_free(tok);
}
END_TEST

/* ---------------------------------------------------------------- corpus: decode */
static int check_decode_rows(t5pt_tokenizer *tok, const table *t, const char *what) {
    int ok = 0;
    for (int i = 0; i < t->n; i++) {
        char *text = NULL;
        t5pt_status st = t5pt_tokenizer_decode(tok, t->rows[i].ids, t->rows[i].n_ids, &text);
        ck_assert_msg(st == T5PT_OK, "%s row %d: %s", what, i + 1, t5pt_last_error());
        if (strcmp(text, t->rows[i].decoded) == 0) ok++;
        else if (i - ok < 5) fprintf(stderr, "%s row %d: got \"%s\" expected \"%s\"\n", what, i + 1, text, t->rows[i].decoded);
        free(text);
    }
    fprintf(stderr, "%s: decode %d/%d rows match\n", what, ok, t->n);
    return ok;
}

static void check_decode(const char *model_path) {
    t5pt_tokenizer *tok = load_ok(model_path);
    table t = load_table(EXPECTED_PATH, 1);
    ck_assert_int_eq(check_decode_rows(tok, &t, "expected.tsv"), t.n);
    free_table(&t);
    t = load_table(DECODE_PATH, 0);
    ck_assert_int_eq(check_decode_rows(tok, &t, "decode.tsv"), t.n);
    free_table(&t);
    t5pt_tokenizer_free(tok);
}

START_TEST(test_decode_spm) { check_decode(SPM_PATH); }
END_TEST

START_TEST(test_decode_json) { check_decode(JSON_PATH); }
END_TEST

/* ---------------------------------------------------------------- API behaviour */
START_TEST(test_load_forms) {
    /* file, other file, and a directory (spiece.model preferred) give the same vocabulary */
    t5pt_tokenizer *a = load_ok(SPM_PATH), *b = load_ok(JSON_PATH), *c = load_ok("assets/t5");
    ck_assert_int_eq(t5pt_tokenizer_vocab_size(a), 32100);
    ck_assert_int_eq(t5pt_tokenizer_vocab_size(b), 32100);
    ck_assert_int_eq(t5pt_tokenizer_vocab_size(c), 32100);
    /* every id decodes identically from both files (pieces, types and sentinels agree) */
    for (int32_t id = 0; id < 32100; id++) {
        char *x, *y;
        ck_assert_int_eq(t5pt_tokenizer_decode(a, &id, 1, &x), T5PT_OK);
        ck_assert_int_eq(t5pt_tokenizer_decode(b, &id, 1, &y), T5PT_OK);
        ck_assert_msg(strcmp(x, y) == 0, "id %d: \"%s\" vs \"%s\"", id, x, y);
        free(x);
        free(y);
    }
    t5pt_tokenizer_free(a);
    t5pt_tokenizer_free(b);
    t5pt_tokenizer_free(c);
}
END_TEST

START_TEST(test_sentinels_and_bounds) {
    t5pt_tokenizer *tok = load_ok(SPM_PATH);
    /* <extra_id_N> = 32099 - N, in both directions */
    for (int n = 0; n < 100; n++) {
        char s[32];
        snprintf(s, sizeof s, "<extra_id_%d>", n);
        int32_t *ids;
        int k;
        ck_assert_int_eq(t5pt_tokenizer_encode(tok, s, strlen(s), 0, &ids, &k), T5PT_OK);
        ck_assert_int_eq(k, 1);
        ck_assert_int_eq(ids[0], 32099 - n);
        char *back;
        ck_assert_int_eq(t5pt_tokenizer_decode(tok, ids, k, &back), T5PT_OK);
        ck_assert_str_eq(back, s);
        free(back);
        free(ids);
    }
    /* ids outside [0, 32100) are an argument error, not a crash */
    int32_t bad[2] = {32100, -1};
    char *text = (char *)1;
    ck_assert_int_eq(t5pt_tokenizer_decode(tok, &bad[0], 1, &text), T5PT_ERR_ARG);
    ck_assert_ptr_null(text);
    ck_assert_int_eq(t5pt_tokenizer_decode(tok, &bad[1], 1, &text), T5PT_ERR_ARG);
    /* empty input: no ids, or just </s> */
    int32_t *ids;
    int k;
    ck_assert_int_eq(t5pt_tokenizer_encode(tok, "", 0, 0, &ids, &k), T5PT_OK);
    ck_assert_int_eq(k, 0);
    free(ids);
    ck_assert_int_eq(t5pt_tokenizer_encode(tok, NULL, 0, 1, &ids, &k), T5PT_OK);
    ck_assert_int_eq(k, 1);
    ck_assert_int_eq(ids[0], 1);
    free(ids);
    ck_assert_int_eq(t5pt_tokenizer_encode(tok, NULL, 5, 0, &ids, &k), T5PT_ERR_ARG);
    t5pt_tokenizer_free(tok);
}
END_TEST

/* Embedded NUL and invalid UTF-8 at the very end of the buffer must not read past len:
 * the text is copied into an exactly-sized heap block (ASan catches an overread). */
START_TEST(test_exact_buffers) {
    t5pt_tokenizer *tok = load_ok(SPM_PATH);
    table t = load_table(EXPECTED_PATH, 1);
    for (int i = 0; i < t.n; i++) {
        const row *r = &t.rows[i];
        char *copy = malloc(r->text_len ? r->text_len : 1);
        memcpy(copy, r->text, r->text_len);
        int32_t *ids;
        int k;
        ck_assert_int_eq(t5pt_tokenizer_encode(tok, copy, r->text_len, 0, &ids, &k), T5PT_OK);
        ck_assert_int_eq(k, r->n_ids);
        free(ids);
        free(copy);
    }
    free_table(&t);
    t5pt_tokenizer_free(tok);
}
END_TEST

/* ---------------------------------------------------------------- malformed files */
/* The loader tells spiece.model from tokenizer.json by content, so no suffix is needed. */
static char *write_temp(const void *data, size_t len, const char *kind) {
    char *path = malloc(64);
    snprintf(path, 64, "/tmp/t5pt_tok_%s_XXXXXX", kind);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static t5pt_status try_load(const void *data, size_t len, const char *suffix) {
    char *path = write_temp(data, len, suffix);
    t5pt_tokenizer *tok = (t5pt_tokenizer *)1;
    t5pt_status st = t5pt_tokenizer_load(&tok, path);
    if (st == T5PT_OK) t5pt_tokenizer_free(tok);
    else {
        ck_assert_ptr_null(tok);
        ck_assert_ptr_nonnull(strstr(t5pt_last_error(), path));   /* the message names the file */
    }
    unlink(path);
    free(path);
    return st;
}

START_TEST(test_truncated_spm) {
    char *data;
    size_t len;
    ck_assert_int_eq(t5pt_read_file(SPM_PATH, &data, &len), T5PT_OK);
    /* every truncation point is an error: mid-field cuts break a length, cuts between
     * fields leave the normalizer (the last field) missing */
    size_t step = small_mode() ? len / 40 : len / 400;
    for (size_t cut = 0; cut < len; cut += step) {
        t5pt_status st = try_load(data, cut, "model");
        ck_assert_msg(st == T5PT_ERR_FORMAT, "cut at %zu: status %d", cut, st);
    }
    ck_assert_int_eq(try_load(data, len - 1, "model"), T5PT_ERR_FORMAT);
    ck_assert_int_eq(try_load(data, len, "model"), T5PT_OK);
    /* garbage */
    ck_assert_int_eq(try_load("\xff\xff\xff\xff", 4, "model"), T5PT_ERR_FORMAT);
    /* Two bytes overwritten in the middle land in the text of the piece "\u2581lawmakers"
     * (id 23419), which becomes invalid UTF-8. The protobuf stays well-formed and
     * sentencepiece loads such a model (it does not validate piece bytes), so t5pt must
     * load it too, and the word now falls apart into other pieces. */
    const char piece[] = "\xe2\x96\x81lawmakers";
    ck_assert_msg(memcmp(data + len / 2, piece, sizeof piece - 1) == 0, "%s changed: the corruption offset needs a new target",
                  SPM_PATH);
    data[len / 2] = (char)0xff;
    data[len / 2 + 1] = (char)0xff;
    char *path = write_temp(data, len, "model");
    t5pt_tokenizer *tok = NULL;
    ck_assert_msg(t5pt_tokenizer_load(&tok, path) == T5PT_OK, "%s", t5pt_last_error());
    int32_t *ids;
    int k;
    ck_assert_int_eq(t5pt_tokenizer_encode(tok, "lawmakers", 9, 0, &ids, &k), T5PT_OK);
    ck_assert_int_gt(k, 1);
    for (int i = 0; i < k; i++) ck_assert_int_ne(ids[i], 23419);
    char *back;
    ck_assert_int_eq(t5pt_tokenizer_decode(tok, ids, k, &back), T5PT_OK);
    ck_assert_str_eq(back, "lawmakers");
    free(back);
    free(ids);
    t5pt_tokenizer_free(tok);
    unlink(path);
    free(path);
    free(data);
    ck_assert_int_eq(t5pt_tokenizer_load(&tok, "/nonexistent/spiece.model"), T5PT_ERR_IO);
}
END_TEST

START_TEST(test_bad_json) {
    const char *cases[] = {
        "{",
        "{}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}",
        "{\"model\": {\"unk_id\": 0, \"vocab\": [[\"<unk>\", 0.0], [\"a\"]]}}",
        "{\"model\": {\"unk_id\": 5, \"vocab\": [[\"<unk>\", 0.0], [\"a\", -1.0]]}}",
        "{\"model\": {\"unk_id\": 0, \"vocab\": [[\"<unk>\", 0.0], [\"a\", -1.0]]},"
        " \"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"!!!\"}}",
        "{\"model\": {\"unk_id\": 0, \"vocab\": [[\"<unk>\", 0.0], [\"a\", -1.0]]},"
        " \"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"AAAA\"}}",
    };
    /* each is malformed (FORMAT) except a BPE model, which is valid but not ours (UNSUPPORTED) */
    const t5pt_status want[] = {T5PT_ERR_FORMAT, T5PT_ERR_FORMAT, T5PT_ERR_UNSUPPORTED, T5PT_ERR_FORMAT,
                                T5PT_ERR_FORMAT, T5PT_ERR_FORMAT, T5PT_ERR_FORMAT};
    const char *msg[] = {"unterminated object", "no \"model\" object", "BPE is not Unigram", "not [piece, score]",
                         "unk_id is missing or out of range", "not base64", "truncated"};
    ck_assert_int_eq(sizeof cases / sizeof *cases, sizeof want / sizeof *want);
    ck_assert_int_eq(sizeof cases / sizeof *cases, sizeof msg / sizeof *msg);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        t5pt_status st = try_load(cases[i], strlen(cases[i]), "json");
        ck_assert_msg(st == want[i], "case %zu: status %d, expected %d (%s)", i, st, want[i], t5pt_last_error());
        ck_assert_msg(strstr(t5pt_last_error(), msg[i]), "case %zu: message \"%s\" lacks \"%s\"", i,
                      t5pt_last_error(), msg[i]);
    }
    /* a pipeline that is not SentencePiece's is refused, not silently approximated */
    const char *lower = "{\"model\": {\"unk_id\": 0, \"vocab\": [[\"<unk>\", 0.0], [\"a\", -1.0]]},"
                        " \"normalizer\": {\"type\": \"Lowercase\"}}";
    ck_assert_int_eq(try_load(lower, strlen(lower), "json"), T5PT_ERR_UNSUPPORTED);
    /* a minimal valid file works */
    const char *ok = "{\"model\": {\"unk_id\": 0, \"vocab\": [[\"<unk>\", 0.0], [\"\\u2581a\", -1.0]]},"
                     " \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\"}}";
    ck_assert_int_eq(try_load(ok, strlen(ok), "json"), T5PT_OK);
    /* a 300000-byte piece (the trie is built without recursion) */
    size_t n = 300000;
    char *big = malloc(n + 200);
    int k = snprintf(big, 200, "{\"model\": {\"unk_id\": 0, \"vocab\": [[\"<unk>\", 0.0], [\"");
    memset(big + k, 'a', n);
    strcpy(big + k + n, "\", -1.0]]}}");
    ck_assert_int_eq(try_load(big, strlen(big), "json"), T5PT_OK);
    free(big);
}
END_TEST

static Suite *tokenizer_suite(void) {
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_encode_corpus_spm);
    tcase_add_test(tc, test_encode_corpus_json);
    tcase_add_test(tc, test_decode_spm);
    tcase_add_test(tc, test_decode_json);
    tcase_add_loop_test(tc, test_tiny_models, 0, (int)(sizeof tiny_models / sizeof *tiny_models));
    suite_add_tcase(s, tc);
    TCase *api = tcase_create("api");
    tcase_set_timeout(api, 300);
    tcase_add_test(api, test_load_forms);
    tcase_add_test(api, test_sentinels_and_bounds);
    tcase_add_test(api, test_exact_buffers);
    tcase_add_test(api, test_truncated_spm);
    tcase_add_test(api, test_bad_json);
    suite_add_tcase(s, api);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(tokenizer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
