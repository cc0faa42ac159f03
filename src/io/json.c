/* json.c — a small strict JSON reader (RFC 8259) and writer helpers.
 *
 * Recursive descent over the text. Every node and string of a document lives in
 * a few big arena chunks owned by the json_doc, so t5pt_json_free() is one loop.
 *
 * Arrays and objects do not know their size until they close, yet their items
 * must be contiguous (items[len]). So children are first pushed on a scratch
 * stack (one growable vector per doc) and copied into the arena when the
 * container closes: every value is copied once more, never reallocated.
 *
 * Objects with more than HASH_MIN members get an open-addressing index of their
 * keys, stored in the arena right after members[len] (the struct has no spare
 * field; t5pt_json_get finds the table from members + len). Built at parse time, so
 * lookups on a const tree stay thread-safe. Duplicate keys are kept in the
 * member list; t5pt_json_get returns the LAST one, like Python's json module.
 *
 * Strictness: no trailing commas, no leading zeros, no comments, no NaN/Infinity,
 * control characters (< 0x20) must be escaped, only the RFC escapes, \u surrogates
 * must form a valid pair, raw bytes must be valid UTF-8 (no overlongs, no encoded
 * surrogates, nothing above U+10FFFF). A leading UTF-8 byte order mark is skipped.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/json.h"

#include "base/internal.h"

#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 512
#define HASH_MIN 16

/* ------------------------------------------------------------------ arena */

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
} chunk;

struct json_doc {
    chunk *chunks;          /* newest first */
    size_t next_cap;
    json_value root;
};

static void *arena_alloc(json_doc *d, size_t n) {
    n = (n + 7) & ~(size_t)7;
    chunk *c = d->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = d->next_cap;
        if (cap < n) cap = n;
        c = malloc(sizeof(chunk) + cap);
        if (!c) return NULL;
        c->next = d->chunks;
        c->cap = cap;
        c->used = 0;
        d->chunks = c;
        d->next_cap = cap * 2;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

/* Gives back the unused tail of the most recent allocation (strings are sized
 * for their raw length and usually shrink when escapes are decoded). */
static void arena_shrink_last(json_doc *d, void *p, size_t old_n, size_t new_n) {
    chunk *c = d->chunks;
    old_n = (old_n + 7) & ~(size_t)7;
    new_n = (new_n + 7) & ~(size_t)7;
    if (c && (unsigned char *)p + old_n == c->data + c->used) c->used -= old_n - new_n;
}

/* ------------------------------------------------------------------ parser */

typedef struct {
    const char *s, *p, *end;
    json_doc *doc;
    char *err;
    size_t errlen;
    int failed;
    /* scratch stacks for open containers */
    json_value *vals;
    size_t nvals, capvals;
    json_member *mems;
    size_t nmems, capmems;
} parser;

static void fail_at(parser *ps, const char *at, const char *fmt, ...) {
    if (ps->failed) return;
    ps->failed = 1;
    if (!ps->err || ps->errlen == 0) return;
    size_t line = 1, col = 1;
    for (const char *q = ps->s; q < at && q < ps->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    int k = snprintf(ps->err, ps->errlen, "line %zu col %zu: ", line, col);
    if (k < 0 || (size_t)k >= ps->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + k, ps->errlen - (size_t)k, fmt, ap);
    va_end(ap);
}

static void skip_ws(parser *ps) {
    const char *p = ps->p, *e = ps->end;
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    ps->p = p;
}

static const char *describe(parser *ps, char *buf, size_t n) {
    if (ps->p >= ps->end) return "end of input";
    unsigned char c = (unsigned char)*ps->p;
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, n, "'%c'", c);
    else
        snprintf(buf, n, "byte 0x%02x", c);
    return buf;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(const char *p, const char *end) {
    if (end - p < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at p (2..4), or 0 when invalid. */
static int utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    if (c >= 0xc2 && c <= 0xdf) {
        if (end - p >= 2 && (p[1] & 0xc0) == 0x80) return 2;
        return 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        if (end - p < 3) return 0;
        unsigned lo = 0x80, hi = 0xbf;
        if (c == 0xe0) lo = 0xa0;       /* overlong */
        if (c == 0xed) hi = 0x9f;       /* UTF-16 surrogates */
        if (p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80) return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (end - p < 4) return 0;
        unsigned lo = 0x80, hi = 0xbf;
        if (c == 0xf0) lo = 0x90;       /* overlong */
        if (c == 0xf4) hi = 0x8f;       /* > U+10FFFF */
        if (p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80) return 0;
        return 4;
    }
    return 0;
}

static char *put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* Parses a string starting at the opening quote. The decoded text is never longer
 * than the raw text (every escape shrinks or keeps its length), so the output is
 * sized from the raw span and the tail given back afterwards. */
static int parse_string(parser *ps, const char **out, size_t *out_len) {
    const unsigned char *start = (const unsigned char *)ps->p + 1;
    const unsigned char *end = (const unsigned char *)ps->end;
    /* find the closing quote (skipping escaped characters) to size the output */
    const unsigned char *q = start;
    for (;;) {
        const unsigned char *hit = q;
        while (hit < end && *hit != '"' && *hit != '\\') hit++;
        if (hit >= end) {
            fail_at(ps, ps->p, "unterminated string");
            return -1;
        }
        if (*hit == '"') {
            q = hit;
            break;
        }
        if (end - hit < 2) { /* a backslash as the last byte */
            fail_at(ps, ps->p, "unterminated string");
            return -1;
        }
        q = hit + 2; /* skip the escaped char; validated below */
    }
    size_t raw = (size_t)(q - start);
    char *buf = arena_alloc(ps->doc, raw + 1);
    if (!buf) {
        fail_at(ps, ps->p, "out of memory");
        return -1;
    }
    char *o = buf;
    const unsigned char *p = start;
    while (p < q) {
        unsigned c = *p;
        if (c >= 0x20 && c < 0x80 && c != '\\') {
            *o++ = (char)c;
            p++;
        } else if (c < 0x20) {
            fail_at(ps, (const char *)p, "control character 0x%02x in string (must be escaped)", c);
            return -1;
        } else if (c >= 0x80) {
            int n = utf8_len(p, q);
            if (!n) {
                fail_at(ps, (const char *)p, "invalid UTF-8 byte 0x%02x in string", c);
                return -1;
            }
            memcpy(o, p, (size_t)n);
            o += n;
            p += n;
        } else { /* backslash */
            unsigned e = p[1];
            p += 2;
            switch (e) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '/': *o++ = '/'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                int h = read_hex4((const char *)p, (const char *)q);
                if (h < 0) {
                    fail_at(ps, (const char *)p - 2, "invalid \\u escape (need 4 hex digits)");
                    return -1;
                }
                unsigned cp = (unsigned)h;
                p += 4;
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    fail_at(ps, (const char *)p - 6, "lone low surrogate \\u%04x", cp);
                    return -1;
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    int lo = (q - p >= 6 && p[0] == '\\' && p[1] == 'u') ? read_hex4((const char *)p + 2, (const char *)q)
                                                                         : -1;
                    if (lo < 0xdc00 || lo > 0xdfff) {
                        fail_at(ps, (const char *)p - 6, "high surrogate \\u%04x not followed by a low surrogate", cp);
                        return -1;
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + ((unsigned)lo - 0xdc00);
                    p += 6;
                }
                o = put_utf8(o, cp);
                break;
            }
            default:
                if (e >= 0x20 && e < 0x7f)
                    fail_at(ps, (const char *)p - 2, "invalid escape '\\%c' in string", (int)e);
                else
                    fail_at(ps, (const char *)p - 2, "invalid escape in string");
                return -1;
            }
        }
    }
    *o = 0;
    size_t len = (size_t)(o - buf);
    arena_shrink_last(ps->doc, buf, raw + 1, len + 1);
    ps->p = (const char *)q + 1;
    *out = buf;
    *out_len = len;
    return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int parse_number(parser *ps, json_value *v) {
    const char *p = ps->p, *e = ps->end, *start = p;
    int neg = 0;
    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= e || !is_digit(*p)) {
        fail_at(ps, p, "invalid number (expected a digit)");
        return -1;
    }
    const char *int_start = p;
    if (*p == '0') {
        p++;
        if (p < e && is_digit(*p)) {
            fail_at(ps, start, "invalid number (leading zero)");
            return -1;
        }
    } else {
        while (p < e && is_digit(*p)) p++;
    }
    const char *int_end = p;
    int is_int = 1;
    if (p < e && *p == '.') {
        is_int = 0;
        p++;
        if (p >= e || !is_digit(*p)) {
            fail_at(ps, p, "invalid number (digit expected after '.')");
            return -1;
        }
        while (p < e && is_digit(*p)) p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || !is_digit(*p)) {
            fail_at(ps, p, "invalid number (digit expected in exponent)");
            return -1;
        }
        while (p < e && is_digit(*p)) p++;
    }
    ps->p = p;
    v->type = JSON_NUMBER;
    v->len = 0;
    v->is_int = 0;
    v->inum = 0;
    if (is_int && int_end - int_start <= 19) {
        /* exact int64 (19 digits may still overflow: check) */
        uint64_t m = 0;
        for (const char *q = int_start; q < int_end; q++) m = m * 10 + (uint64_t)(*q - '0');
        int fits = (int_end - int_start < 19) || (neg ? m <= (uint64_t)INT64_MAX + 1 : m <= (uint64_t)INT64_MAX);
        if (fits) {
            v->inum = neg ? (int64_t)(0 - m) : (int64_t)m;
            v->is_int = 1;
            v->u.num = (double)v->inum;
            return 0;
        }
    }
    /* strtod on a NUL-terminated copy, with '.' swapped for the locale's decimal point */
    size_t n = (size_t)(p - start);
    char small[128];
    char *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf) {
        fail_at(ps, start, "out of memory");
        return -1;
    }
    memcpy(buf, start, n);
    buf[n] = 0;
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.' && dp[1] == 0) {
        char *dot = strchr(buf, '.');
        if (dot) *dot = dp[0];
    }
    v->u.num = strtod(buf, NULL);
    if (buf != small) free(buf);
    return 0;
}

static int push_val(parser *ps, const json_value *v) {
    if (ps->nvals == ps->capvals) {
        size_t cap = ps->capvals ? ps->capvals * 2 : 256;
        json_value *n = realloc(ps->vals, cap * sizeof *n);
        if (!n) return -1;
        ps->vals = n;
        ps->capvals = cap;
    }
    ps->vals[ps->nvals++] = *v;
    return 0;
}

static int push_mem(parser *ps, const json_member *m) {
    if (ps->nmems == ps->capmems) {
        size_t cap = ps->capmems ? ps->capmems * 2 : 256;
        json_member *n = realloc(ps->mems, cap * sizeof *n);
        if (!n) return -1;
        ps->mems = n;
        ps->capmems = cap;
    }
    ps->mems[ps->nmems++] = *m;
    return 0;
}

/* FNV-1a: keys are short; good enough and portable. */
static uint32_t hash_key(const char *k, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

static size_t hash_cap(size_t len) {
    size_t cap = 32;
    while (cap < 2 * len) cap *= 2;
    return cap;
}

static int parse_value(parser *ps, json_value *v, int depth);

/* After an item of an array or object: ',' and another item follows (returns 1), the
 * closing bracket (consumed, returns 0), or an error (-1). `open` is the opening bracket
 * (named by "unterminated" errors), `what` "array" or "object". */
static int next_item(parser *ps, char close, const char *open, const char *what) {
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == close) {
            fail_at(ps, ps->p, "trailing comma in %s", what);
            return -1;
        }
        return 1;
    }
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    char b[32];
    if (ps->p >= ps->end)
        fail_at(ps, open, "unterminated %s", what);
    else
        fail_at(ps, ps->p, "expected ',' or '%c' in %s, found %s", close, what, describe(ps, b, sizeof b));
    return -1;
}

static int parse_array(parser *ps, json_value *v, int depth) {
    const char *open = ps->p;
    ps->p++; /* [ */
    size_t base = ps->nvals;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
    } else {
        for (;;) {
            json_value item;
            if (parse_value(ps, &item, depth + 1)) return -1;
            if (push_val(ps, &item)) {
                fail_at(ps, ps->p, "out of memory");
                return -1;
            }
            int more = next_item(ps, ']', open, "array");
            if (more < 0) return -1;
            if (!more) break;
        }
    }
    size_t n = ps->nvals - base;
    v->type = JSON_ARRAY;
    v->len = n;
    v->u.items = NULL;
    v->inum = 0;
    v->is_int = 0;
    if (n) {
        json_value *items = arena_alloc(ps->doc, n * sizeof *items);
        if (!items) {
            fail_at(ps, open, "out of memory");
            return -1;
        }
        memcpy(items, ps->vals + base, n * sizeof *items);
        v->u.items = items;
    }
    ps->nvals = base;
    return 0;
}

static int parse_object(parser *ps, json_value *v, int depth) {
    const char *open = ps->p;
    ps->p++; /* { */
    size_t base = ps->nmems;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
    } else {
        for (;;) {
            char b[32];
            if (ps->p >= ps->end || *ps->p != '"') {
                if (ps->p >= ps->end)
                    fail_at(ps, open, "unterminated object");
                else
                    fail_at(ps, ps->p, "expected a string key in object, found %s", describe(ps, b, sizeof b));
                return -1;
            }
            json_member m;
            if (parse_string(ps, &m.key, &m.key_len)) return -1;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail_at(ps, ps->p, "expected ':' after object key, found %s", describe(ps, b, sizeof b));
                return -1;
            }
            ps->p++;
            if (parse_value(ps, &m.value, depth + 1)) return -1;
            if (push_mem(ps, &m)) {
                fail_at(ps, ps->p, "out of memory");
                return -1;
            }
            int more = next_item(ps, '}', open, "object");
            if (more < 0) return -1;
            if (!more) break;
        }
    }
    size_t n = ps->nmems - base;
    v->type = JSON_OBJECT;
    v->len = n;
    v->u.members = NULL;
    v->inum = 0;
    v->is_int = 0;
    if (n) {
        size_t bytes = n * sizeof(json_member);
        size_t cap = n > HASH_MIN ? hash_cap(n) : 0;
        json_member *mem = arena_alloc(ps->doc, bytes + cap * sizeof(uint32_t));
        if (!mem) {
            fail_at(ps, open, "out of memory");
            return -1;
        }
        memcpy(mem, ps->mems + base, bytes);
        if (cap) {
            /* slot holds index+1 (0 = empty); a later duplicate replaces the earlier one */
            uint32_t *tab = (uint32_t *)(mem + n);
            memset(tab, 0, cap * sizeof *tab);
            for (size_t i = 0; i < n; i++) {
                size_t h = hash_key(mem[i].key, mem[i].key_len) & (cap - 1);
                for (;;) {
                    uint32_t s = tab[h];
                    if (!s) {
                        tab[h] = (uint32_t)i + 1;
                        break;
                    }
                    const json_member *o = &mem[s - 1];
                    if (o->key_len == mem[i].key_len && memcmp(o->key, mem[i].key, o->key_len) == 0) {
                        tab[h] = (uint32_t)i + 1;
                        break;
                    }
                    h = (h + 1) & (cap - 1);
                }
            }
        }
        v->u.members = mem;
    }
    ps->nmems = base;
    return 0;
}

static int match_lit(parser *ps, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, lit, n) == 0) {
        ps->p += n;
        return 1;
    }
    return 0;
}

static int parse_value(parser *ps, json_value *v, int depth) {
    skip_ws(ps);
    memset(v, 0, sizeof *v);
    if (ps->p >= ps->end) {
        fail_at(ps, ps->p, "unexpected end of input (value expected)");
        return -1;
    }
    char c = *ps->p;
    switch (c) {
    case '{':
    case '[':
        if (depth >= JSON_MAX_DEPTH) {
            fail_at(ps, ps->p, "nesting deeper than %d", JSON_MAX_DEPTH);
            return -1;
        }
        return c == '{' ? parse_object(ps, v, depth) : parse_array(ps, v, depth);
    case '"':
        v->type = JSON_STRING;
        return parse_string(ps, &v->u.str, &v->len);
    case 't':
        if (match_lit(ps, "true")) {
            v->type = JSON_TRUE;
            return 0;
        }
        break;
    case 'f':
        if (match_lit(ps, "false")) {
            v->type = JSON_FALSE;
            return 0;
        }
        break;
    case 'n':
        if (match_lit(ps, "null")) {
            v->type = JSON_NULL;
            return 0;
        }
        break;
    default:
        if (c == '-' || is_digit(c)) return parse_number(ps, v);
        break;
    }
    char b[32];
    fail_at(ps, ps->p, "unexpected %s (value expected)", describe(ps, b, sizeof b));
    return -1;
}

json_doc *t5pt_json_parse(const char *text, size_t len, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    json_doc *doc = calloc(1, sizeof *doc);
    if (!doc) {
        if (err && errlen) snprintf(err, errlen, "line 1 col 1: out of memory");
        return NULL;
    }
    /* first chunk sized from the text; nodes of typical files take ~2-4x the text */
    doc->next_cap = 2 * len + 4096;
    parser ps = {0};
    ps.s = text;
    ps.p = text;
    ps.end = text + len;
    ps.doc = doc;
    ps.err = err;
    ps.errlen = errlen;
    if (len >= 3 && (unsigned char)text[0] == 0xef && (unsigned char)text[1] == 0xbb && (unsigned char)text[2] == 0xbf)
        ps.p += 3;
    int rc = parse_value(&ps, &doc->root, 0);
    if (!rc) {
        skip_ws(&ps);
        if (ps.p < ps.end) {
            char b[32];
            fail_at(&ps, ps.p, "unexpected %s after the JSON value", describe(&ps, b, sizeof b));
            rc = -1;
        }
    }
    free(ps.vals);
    free(ps.mems);
    if (rc) {
        t5pt_json_free(doc);
        return NULL;
    }
    return doc;
}

const json_value *t5pt_json_root(const json_doc *doc) { return doc ? &doc->root : NULL; }

void t5pt_json_free(json_doc *doc) {
    if (!doc) return;
    chunk *c = doc->chunks;
    while (c) {
        chunk *n = c->next;
        free(c);
        c = n;
    }
    free(doc);
}

/* ------------------------------------------------------------------ lookups */

const json_value *t5pt_json_get(const json_value *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT || !key || !obj->len) return NULL;
    size_t n = strlen(key);
    const json_member *m = obj->u.members;
    if (obj->len > HASH_MIN) {
        size_t cap = hash_cap(obj->len);
        const uint32_t *tab = (const uint32_t *)(m + obj->len);
        size_t h = hash_key(key, n) & (cap - 1);
        for (;;) {
            uint32_t s = tab[h];
            if (!s) return NULL;
            const json_member *o = &m[s - 1];
            if (o->key_len == n && memcmp(o->key, key, n) == 0) return &o->value;
            h = (h + 1) & (cap - 1);
        }
    }
    for (size_t i = obj->len; i-- > 0;)
        if (m[i].key_len == n && memcmp(m[i].key, key, n) == 0) return &m[i].value;
    return NULL;
}

const json_value *t5pt_json_at(const json_value *arr, size_t i) {
    if (!arr || arr->type != JSON_ARRAY || i >= arr->len) return NULL;
    return &arr->u.items[i];
}

int t5pt_json_is_int(const json_value *v) { return v && v->type == JSON_NUMBER && v->is_int; }

int t5pt_json_get_int(const json_value *obj, const char *key, int64_t *out) {
    const json_value *v = t5pt_json_get(obj, key);
    if (!t5pt_json_is_int(v)) return -1;
    *out = v->inum;
    return 0;
}

int t5pt_json_get_num(const json_value *obj, const char *key, double *out) {
    const json_value *v = t5pt_json_get(obj, key);
    if (!v || v->type != JSON_NUMBER) return -1;
    *out = v->u.num;
    return 0;
}

int t5pt_json_get_bool(const json_value *obj, const char *key, int *out) {
    const json_value *v = t5pt_json_get(obj, key);
    if (!v || (v->type != JSON_TRUE && v->type != JSON_FALSE)) return -1;
    *out = v->type == JSON_TRUE;
    return 0;
}

const char *t5pt_json_get_str(const json_value *obj, const char *key) {
    const json_value *v = t5pt_json_get(obj, key);
    return v && v->type == JSON_STRING ? v->u.str : NULL;
}

/* ------------------------------------------------------------------ writer */

static int jw_reserve(json_writer *w, size_t extra) {
    if (w->oom) return -1;
    if (w->len + extra + 1 <= w->cap) return 0;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + extra + 1) cap *= 2;
    char *b = realloc(w->buf, cap);
    if (!b) {
        w->oom = 1;
        return -1;
    }
    w->buf = b;
    w->cap = cap;
    return 0;
}

static void jw_put(json_writer *w, const char *s, size_t n) {
    if (jw_reserve(w, n)) return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = 0;
}

void t5pt_jw_raw(json_writer *w, const char *s) { jw_put(w, s, strlen(s)); }

/* Escapes quotes, backslashes and control characters; other bytes (UTF-8) pass through. */
void t5pt_jw_str(json_writer *w, const char *s, size_t n) {
    if (jw_reserve(w, n + 2)) return;
    jw_put(w, "\"", 1);
    size_t run = 0; /* start of the current run of bytes needing no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        jw_put(w, s + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"': jw_put(w, "\\\"", 2); break;
        case '\\': jw_put(w, "\\\\", 2); break;
        case '\n': jw_put(w, "\\n", 2); break;
        case '\r': jw_put(w, "\\r", 2); break;
        case '\t': jw_put(w, "\\t", 2); break;
        case '\b': jw_put(w, "\\b", 2); break;
        case '\f': jw_put(w, "\\f", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            jw_put(w, esc, 6);
        }
    }
    jw_put(w, s + run, n - run);
    jw_put(w, "\"", 1);
}

void t5pt_jw_printf(json_writer *w, const char *fmt, ...) {
    if (w->oom) return;
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        w->oom = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        jw_put(w, small, (size_t)n);
    } else if (!jw_reserve(w, (size_t)n)) {
        vsnprintf(w->buf + w->len, (size_t)n + 1, fmt, ap2);
        w->len += (size_t)n;
    }
    va_end(ap2);
}

void t5pt_jw_free(json_writer *w) {
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
    w->oom = 0;
}

/* ------------------------------------------------------------------ files */

t5pt_status t5pt_read_json(const char *path, t5pt_status bad_json, json_doc **doc) {
    *doc = NULL;
    char *text;
    size_t len;
    t5pt_status st = t5pt_read_file(path, &text, &len);
    if (st) return st;
    char err[256];
    *doc = t5pt_json_parse(text, len, err, sizeof err);
    free(text);
    if (!*doc) return t5pt_set_error(bad_json, "%s: not valid JSON: %s", path, err);
    return T5PT_OK;
}
