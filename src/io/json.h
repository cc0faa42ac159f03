/* json.h — a small strict JSON reader (RFC 8259) into a read-only tree.
 *
 * Used for config.json, safetensors headers, model.safetensors.index.json,
 * tokenizer.json, adapter_config.json and JSONL datasets. One parse = one arena:
 * every node and string lives in it and t5pt_json_free() releases everything at once.
 * Strings are decoded (escapes, \uXXXX surrogate pairs -> UTF-8) and NUL-terminated;
 * `len` is the byte length (strings may contain NUL via \u0000).
 * Numbers keep their double value; t5pt_json_is_int() tells whether the text was an
 * integer literal that fits int64 exactly.
 * Strict: no trailing commas, leading zeros, comments, NaN/Infinity, unescaped control
 * characters, unknown escapes, unpaired \u surrogates or invalid UTF-8 in strings
 * (all errors). A leading UTF-8 byte order mark is skipped. Thread-safe: a parsed
 * document is read-only.
 */
#ifndef T5PT_JSON_H
#define T5PT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "t5pt.h"

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    size_t len;          /* string: byte length; array/object: number of items */
    union {
        double num;      /* JSON_NUMBER */
        const char *str; /* JSON_STRING (NUL-terminated, UTF-8) */
        json_value *items; /* JSON_ARRAY: items[len] */
        struct json_member *members; /* JSON_OBJECT: members[len], in file order */
    } u;
    int64_t inum;        /* JSON_NUMBER written as an integer literal: its exact value */
    int is_int;          /* 1 when inum is exact */
};
typedef struct json_member { const char *key; size_t key_len; json_value value; } json_member;

typedef struct json_doc json_doc;

/* Parses text[0..len) (need not be NUL-terminated). On error returns NULL and writes
 * a one-line message "line L col C: what" into err (errlen bytes). Depth limit 512. */
json_doc *t5pt_json_parse(const char *text, size_t len, char *err, size_t errlen);
const json_value *t5pt_json_root(const json_doc *doc);
void t5pt_json_free(json_doc *doc);

/* Lookups return NULL when absent or of another type. t5pt_json_get is a linear scan on objects of up
 * to 16 members and a hash lookup (index built at parse time) on larger ones; with duplicate keys
 * it returns the LAST member, like Python's json (all members stay in u.members, in file order). */
const json_value *t5pt_json_get(const json_value *obj, const char *key);
const json_value *t5pt_json_at(const json_value *arr, size_t i);
int t5pt_json_is_int(const json_value *v);                  /* number written as integer */
/* Typed getters: return 0 on success, -1 when missing or wrong type (out untouched). */
int t5pt_json_get_int(const json_value *obj, const char *key, int64_t *out);
int t5pt_json_get_num(const json_value *obj, const char *key, double *out);
int t5pt_json_get_bool(const json_value *obj, const char *key, int *out);
const char *t5pt_json_get_str(const json_value *obj, const char *key); /* NULL if missing / not string */

/* Writing: appends a JSON string literal (quotes + escapes) for s[0..n) to a malloc'd buffer. */
typedef struct { char *buf; size_t len, cap; int oom; } json_writer;
void t5pt_jw_raw(json_writer *w, const char *s);
void t5pt_jw_str(json_writer *w, const char *s, size_t n);
void t5pt_jw_printf(json_writer *w, const char *fmt, ...);
void t5pt_jw_free(json_writer *w);

/* Reads and parses a whole JSON file into *doc (free with t5pt_json_free). A file that is
 * not valid JSON gives `bad_json` (CONFIG or FORMAT) with "path: not valid JSON: line L col C: ...". */
t5pt_status t5pt_read_json(const char *path, t5pt_status bad_json, json_doc **doc);

#endif
