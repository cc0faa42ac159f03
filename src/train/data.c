/* data.c — JSONL / TSV text-to-text datasets, tokenized once, and padded batches. */
#include "train/data.h"
#include "io/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void t5pt_data_options_default(t5pt_data_options *o) {
    memset(o, 0, sizeof *o);
    o->input_field = "input";
    o->target_field = "target";
}

long t5pt_utf8_invalid_at(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) { i++; continue; }
        int len;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return (long)i;
        if (i + (size_t)len > n) return (long)i;
        for (int k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return (long)i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        /* overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8 */
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return (long)i;
        i += (size_t)len;
    }
    return -1;
}

static void example_free(t5pt_example *e) {
    free(e->input);
    free(e->target);
    free(e->src);
    free(e->tgt);
}

void t5pt_dataset_free(t5pt_dataset *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) example_free(&d->ex[i]);
    free(d->ex);
    free(d->path);
    free(d);
}

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* Tokenizes text with </s> and cuts it to max tokens (keeping the </s>). *cut = 1 when cut. */
static t5pt_status encode_trunc(const t5pt_tokenizer *tok, const char *text, int max, int32_t **ids, int *n,
                                int *cut) {
    *cut = 0;
    t5pt_status st = t5pt_tokenizer_encode(tok, text, strlen(text), 1, ids, n);
    if (st != T5PT_OK) return st;
    if (max > 0 && *n > max) {
        int eos = (*ids)[*n - 1];
        (*ids)[max - 1] = eos;
        *n = max;
        *cut = 1;
    }
    return T5PT_OK;
}

/* Appends one example (texts copied) to d, tokenizing both sides. */
static t5pt_status add_example(t5pt_dataset *d, int *cap, int line, const char *in, size_t in_len,
                               const char *tgt, size_t tgt_len, const t5pt_tokenizer *tok,
                               const t5pt_data_options *opt) {
    if (d->n == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        t5pt_example *ne = realloc(d->ex, (size_t)nc * sizeof *ne);
        if (!ne) return t5pt_set_error(T5PT_ERR_NOMEM, "%s:%d: out of memory", d->path, line);
        d->ex = ne;
        *cap = nc;
    }
    t5pt_example *e = &d->ex[d->n];
    memset(e, 0, sizeof *e);
    e->line = line;
    e->input = dup_n(in, in_len);
    e->target = tgt ? dup_n(tgt, tgt_len) : NULL;
    if (!e->input || (tgt && !e->target)) {
        example_free(e);
        return t5pt_set_error(T5PT_ERR_NOMEM, "%s:%d: out of memory", d->path, line);
    }
    d->n++; /* owned by d from here on, freed with it on any later failure */
    int cut;
    t5pt_status st = encode_trunc(tok, e->input, opt->max_src_len, &e->src, &e->src_len, &cut);
    if (st != T5PT_OK)
        return t5pt_set_error(st, "%s:%d: cannot tokenize the input: %s", d->path, line, t5pt_last_error());
    d->truncated_src += cut;
    if (e->src_len > d->max_src) d->max_src = e->src_len;
    if (e->target) {
        st = encode_trunc(tok, e->target, opt->max_tgt_len, &e->tgt, &e->tgt_len, &cut);
        if (st != T5PT_OK)
            return t5pt_set_error(st, "%s:%d: cannot tokenize the target: %s", d->path, line, t5pt_last_error());
        d->truncated_tgt += cut;
        if (e->tgt_len > d->max_tgt) d->max_tgt = e->tgt_len;
    }
    return T5PT_OK;
}

/* A JSON field as text: strings as they are, integer numbers in decimal. */
static int field_text(const json_value *v, const char **s, size_t *n, char *buf, size_t bufsz) {
    if (v->type == JSON_STRING) {
        *s = v->u.str;
        *n = v->len;
        return 0;
    }
    if (v->type == JSON_NUMBER && v->is_int) {
        snprintf(buf, bufsz, "%lld", (long long)v->inum);
        *s = buf;
        *n = strlen(buf);
        return 0;
    }
    return -1;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

t5pt_status t5pt_dataset_load(t5pt_dataset **out, const char *path, const t5pt_tokenizer *tok,
                              const t5pt_data_options *opt_in) {
    *out = NULL;
    t5pt_data_options opt;
    if (opt_in) opt = *opt_in; else t5pt_data_options_default(&opt);
    if (!opt.input_field) opt.input_field = "input";
    if (!opt.target_field) opt.target_field = "target";
    if ((opt.max_src_len > 0 && opt.max_src_len < 2) || (opt.max_tgt_len > 0 && opt.max_tgt_len < 2))
        return t5pt_set_error(T5PT_ERR_ARG, "%s: max source/target length must be at least 2 tokens", path);

    char *text;
    size_t len;
    t5pt_status st = t5pt_read_file(path, &text, &len);
    if (st != T5PT_OK) return st;

    t5pt_dataset *d = calloc(1, sizeof *d);
    if (!d || !(d->path = dup_n(path, strlen(path)))) {
        free(d);
        free(text);
        return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
    }

    /* format: extension first, then the first non-blank byte */
    int jsonl;
    if (ends_with(path, ".jsonl") || ends_with(path, ".json")) jsonl = 1;
    else if (ends_with(path, ".tsv") || ends_with(path, ".txt")) jsonl = 0;
    else {
        size_t k = 0;
        while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\r' || text[k] == '\n')) k++;
        jsonl = k < len && text[k] == '{';
    }

    int cap = 0, line = 0;
    size_t pos = 0;
    st = T5PT_OK;
    while (pos < len && st == T5PT_OK) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        line++;
        const char *s = text + pos;
        size_t n = end - pos;
        pos = end + 1;
        if (n && s[n - 1] == '\r') n--;  /* CRLF files */

        long bad = t5pt_utf8_invalid_at(s, n);
        if (bad >= 0) {
            st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: invalid UTF-8 at byte %ld of the line", path, line, bad + 1);
            break;
        }
        size_t k = 0;
        while (k < n && (s[k] == ' ' || s[k] == '\t')) k++;
        if (k == n) continue;  /* blank line */

        if (jsonl) {
            char err[160];
            json_doc *doc = t5pt_json_parse(s, n, err, sizeof err);
            if (!doc) {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: malformed JSON: %s", path, line, err);
                break;
            }
            const json_value *root = t5pt_json_root(doc);
            if (root->type != JSON_OBJECT) {
                t5pt_json_free(doc);
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: expected a JSON object per line", path, line);
                break;
            }
            const json_value *vi = t5pt_json_get(root, opt.input_field);
            const json_value *vt = t5pt_json_get(root, opt.target_field);
            const char *is = NULL, *ts = NULL;
            size_t il = 0, tl = 0;
            char ibuf[32], tbuf[32];
            if (!vi) {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: missing field \"%s\"", path, line, opt.input_field);
            } else if (field_text(vi, &is, &il, ibuf, sizeof ibuf) != 0) {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: field \"%s\" is not a string", path, line, opt.input_field);
            } else if (!vt && !opt.target_optional) {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: missing field \"%s\"", path, line, opt.target_field);
            } else if (vt && field_text(vt, &ts, &tl, tbuf, sizeof tbuf) != 0) {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: field \"%s\" is not a string", path, line,
                                    opt.target_field);
            } else if (memchr(is, 0, il) || (ts && memchr(ts, 0, tl))) {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: a field contains a NUL character", path, line);
            } else {
                st = add_example(d, &cap, line, is, il, ts, tl, tok, &opt);
            }
            t5pt_json_free(doc);
        } else {
            const char *tab = memchr(s, '\t', n);
            if (line == 1 && tab) {  /* header? */
                size_t a = (size_t)(tab - s);
                if (a == strlen(opt.input_field) && memcmp(s, opt.input_field, a) == 0 &&
                    n - a - 1 == strlen(opt.target_field) && memcmp(tab + 1, opt.target_field, n - a - 1) == 0)
                    continue;
            }
            if (memchr(s, 0, n)) {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: the line contains a NUL character", path, line);
            } else if (!tab && !opt.target_optional) {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: expected input<TAB>target, found no tab", path, line);
            } else if (tab && memchr(tab + 1, '\t', n - (size_t)(tab - s) - 1)) {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: more than one tab (expected input<TAB>target)", path,
                                    line);
            } else if (tab) {
                st = add_example(d, &cap, line, s, (size_t)(tab - s), tab + 1, n - (size_t)(tab - s) - 1, tok, &opt);
            } else {
                st = add_example(d, &cap, line, s, n, NULL, 0, tok, &opt);
            }
        }
    }
    free(text);
    if (st == T5PT_OK && d->n == 0)
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: no examples (%s)", path, len == 0 ? "empty file" : "only blank lines");
    if (st != T5PT_OK) {
        t5pt_dataset_free(d);
        return st;
    }
    *out = d;
    return T5PT_OK;
}

t5pt_status t5pt_dataset_from_texts(t5pt_dataset **out, const char *const *texts, int n, const t5pt_tokenizer *tok,
                                    int max_src_len) {
    *out = NULL;
    t5pt_dataset *d = calloc(1, sizeof *d);
    if (!d || !(d->path = dup_n("<text>", 6))) {
        free(d);
        return t5pt_set_error(T5PT_ERR_NOMEM, "out of memory");
    }
    t5pt_data_options opt;
    t5pt_data_options_default(&opt);
    opt.max_src_len = max_src_len;
    opt.target_optional = 1;
    int cap = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(texts[i]);
        long bad = t5pt_utf8_invalid_at(texts[i], len);
        t5pt_status st = bad >= 0 ? t5pt_set_error(T5PT_ERR_FORMAT, "text %d: invalid UTF-8 at byte %ld", i + 1, bad + 1)
                                  : add_example(d, &cap, i + 1, texts[i], len, NULL, 0, tok, &opt);
        if (st != T5PT_OK) {
            t5pt_dataset_free(d);
            return st;
        }
    }
    *out = d;
    return T5PT_OK;
}

static int grow_i32(int32_t **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    int32_t *q = realloc(*p, need * sizeof *q);
    if (!q) return -1;
    *p = q;
    *cap = need;
    return 0;
}

t5pt_status t5pt_batch_build(t5pt_batch_buf *bb, const t5pt_dataset *d, const int *idx, int count, int with_labels) {
    if (count <= 0) return t5pt_set_error(T5PT_ERR_ARG, "empty batch");
    int T = 1, L = 1;
    for (int r = 0; r < count; r++) {
        const t5pt_example *e = &d->ex[idx[r]];
        if (e->src_len > T) T = e->src_len;
        if (e->tgt_len > L) L = e->tgt_len;
    }
    size_t cap_mask = bb->cap_ids;
    if (grow_i32(&bb->ids, &bb->cap_ids, (size_t)count * T) ||
        grow_i32(&bb->mask, &cap_mask, (size_t)count * T) ||
        (with_labels && grow_i32(&bb->labels, &bb->cap_labels, (size_t)count * L)))
        return t5pt_set_error(T5PT_ERR_NOMEM, "batch: out of memory");
    /* ids and mask grow together: cap_ids is their common capacity */
    for (int r = 0; r < count; r++) {
        const t5pt_example *e = &d->ex[idx[r]];
        for (int t = 0; t < T; t++) {
            int real = t < e->src_len;
            bb->ids[(size_t)r * T + t] = real ? e->src[t] : 0;   /* pad id 0 */
            bb->mask[(size_t)r * T + t] = real;
        }
        if (with_labels)
            for (int t = 0; t < L; t++) bb->labels[(size_t)r * L + t] = t < e->tgt_len ? e->tgt[t] : -100;
    }
    bb->view.B = count;
    bb->view.T = T;
    bb->view.L = with_labels ? L : 0;
    bb->view.input_ids = bb->ids;
    bb->view.attention_mask = bb->mask;
    bb->view.labels = with_labels ? bb->labels : NULL;
    return T5PT_OK;
}

void t5pt_batch_buf_free(t5pt_batch_buf *bb) {
    free(bb->ids);
    free(bb->mask);
    free(bb->labels);
    memset(bb, 0, sizeof *bb);
}

void t5pt_shuffle(int *perm, int n, t5pt_rng *rng) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(t5pt_rng_next(rng) % (uint64_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
