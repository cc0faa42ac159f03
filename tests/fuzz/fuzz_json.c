/* fuzz_json.c — libFuzzer harness for the JSON reader (src/io/json.c).
 *
 * Each input is a JSON text (any bytes). Besides what ASan/UBSan catch, a document that
 * parses must satisfy:
 *   - every string is valid UTF-8, NUL-terminated at its length;
 *   - t5pt_json_get(obj, key) returns the LAST member with that key (hash and linear paths);
 *   - written back with the writer helpers (t5pt_jw_*), it parses again to the same tree:
 *     same types, lengths, bytes, integer flags and bit-identical numbers.
 * A text that fails must leave a one-line "line L col C: ..." message.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "train/data.h"
#include "tests/fuzz/fuzz_util.h"

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_json: %s\n", what);
        abort();
    }
}

static void check_tree(const json_value *v) {
    switch (v->type) {
    case JSON_STRING:
        check(v->u.str[v->len] == 0, "string not NUL-terminated at its length");
        check(t5pt_utf8_invalid_at(v->u.str, v->len) < 0, "string is not valid UTF-8");
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->len; i++) check_tree(t5pt_json_at(v, i));
        check(t5pt_json_at(v, v->len) == NULL, "t5pt_json_at past the end");
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->len; i++) {
            const json_member *m = &v->u.members[i];
            check(m->key[m->key_len] == 0, "key not NUL-terminated");
            check(t5pt_utf8_invalid_at(m->key, m->key_len) < 0, "key is not valid UTF-8");
            check_tree(&m->value);
            if (strlen(m->key) != m->key_len || v->len > 2000) continue; /* lookups take C strings */
            size_t last = i;
            for (size_t j = i + 1; j < v->len; j++)
                if (v->u.members[j].key_len == m->key_len && memcmp(v->u.members[j].key, m->key, m->key_len) == 0)
                    last = j;
            check(t5pt_json_get(v, m->key) == &v->u.members[last].value, "t5pt_json_get did not return the last duplicate");
        }
        break;
    case JSON_NUMBER:
        if (v->is_int) check((double)v->inum == v->u.num, "integer and double value differ");
        break;
    default:
        break;
    }
}

static void write_tree(json_writer *w, const json_value *v) {
    switch (v->type) {
    case JSON_NULL: t5pt_jw_raw(w, "null"); break;
    case JSON_TRUE: t5pt_jw_raw(w, "true"); break;
    case JSON_FALSE: t5pt_jw_raw(w, "false"); break;
    case JSON_NUMBER:
        if (v->is_int) {
            t5pt_jw_printf(w, "%lld", (long long)v->inum);
        } else if (!isfinite(v->u.num)) {
            t5pt_jw_raw(w, v->u.num < 0 ? "-1e999" : "1e999");   /* overflowed literal: same value back */
        } else {
            char b[64];
            snprintf(b, sizeof b, "%.17g", v->u.num);
            t5pt_jw_raw(w, b);
            if (!strpbrk(b, ".e")) t5pt_jw_raw(w, ".0");          /* stays a non-integer literal */
        }
        break;
    case JSON_STRING: t5pt_jw_str(w, v->u.str, v->len); break;
    case JSON_ARRAY:
        t5pt_jw_raw(w, "[");
        for (size_t i = 0; i < v->len; i++) {
            if (i) t5pt_jw_raw(w, ",");
            write_tree(w, &v->u.items[i]);
        }
        t5pt_jw_raw(w, "]");
        break;
    case JSON_OBJECT:
        t5pt_jw_raw(w, "{");
        for (size_t i = 0; i < v->len; i++) {
            if (i) t5pt_jw_raw(w, ",");
            t5pt_jw_str(w, v->u.members[i].key, v->u.members[i].key_len);
            t5pt_jw_raw(w, ":");
            write_tree(w, &v->u.members[i].value);
        }
        t5pt_jw_raw(w, "}");
        break;
    }
}

static void same_tree(const json_value *a, const json_value *b) {
    check(a->type == b->type && a->len == b->len, "round trip changed a type or a length");
    switch (a->type) {
    case JSON_NUMBER:
        check(a->is_int == b->is_int && a->inum == b->inum, "round trip changed an integer");
        check(memcmp(&a->u.num, &b->u.num, sizeof a->u.num) == 0, "round trip changed a number");
        break;
    case JSON_STRING: check(memcmp(a->u.str, b->u.str, a->len) == 0, "round trip changed a string"); break;
    case JSON_ARRAY:
        for (size_t i = 0; i < a->len; i++) same_tree(&a->u.items[i], &b->u.items[i]);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < a->len; i++) {
            const json_member *x = &a->u.members[i], *y = &b->u.members[i];
            check(x->key_len == y->key_len && memcmp(x->key, y->key, x->key_len) == 0, "round trip changed a key");
            same_tree(&x->value, &y->value);
        }
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fz_copy(data, size);
    char err[160];
    json_doc *doc = t5pt_json_parse(text, size, err, sizeof err);
    if (!doc) {
        check(strncmp(err, "line ", 5) == 0 && strchr(err, '\n') == NULL, "error message is not one 'line L col C' line");
        free(text);
        return 0;
    }
    const json_value *root = t5pt_json_root(doc);
    check_tree(root);
    int64_t i64;
    double d;
    int b;
    (void)t5pt_json_get_int(root, "a", &i64);
    (void)t5pt_json_get_num(root, "a", &d);
    (void)t5pt_json_get_bool(root, "a", &b);
    (void)t5pt_json_get_str(root, "a");

    json_writer w = {0};
    write_tree(&w, root);
    check(!w.oom, "writer out of memory");
    json_doc *again = t5pt_json_parse(w.buf ? w.buf : "", w.len, err, sizeof err);
    if (!again) fprintf(stderr, "fuzz_json: written text does not parse: %s\n", err);
    check(again != NULL, "written text does not parse");
    same_tree(root, t5pt_json_root(again));
    t5pt_json_free(again);
    t5pt_jw_free(&w);
    t5pt_json_free(doc);
    free(text);
    return 0;
}
