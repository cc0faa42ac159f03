/* tokenizer_json.c — reads a Hugging Face fast-tokenizer file (tokenizer.json) with a
 * Unigram model into the same tok_model that spiece.model gives.
 *
 * What is read, and how it maps onto SentencePiece's settings:
 *   model.vocab [[piece, score], ...]   pieces and scores (ids = positions)
 *   model.unk_id                        the UNKNOWN piece
 *   added_tokens [{id, content, special}] special tokens become CONTROL pieces (they are
 *                                       never produced by Viterbi); "<extra_id_N>" ones become
 *                                       the T5 sentinels
 *   normalizer  Precompiled (base64 precompiled_charsmap), alone or the only member of a
 *               Sequence, or null        -> the charsmap
 *   pre_tokenizer Metaspace(replacement ▁, add_prefix_space / prepend_scheme "always")
 *               optionally after WhitespaceSplit -> escape_whitespaces, add_dummy_prefix;
 *               WhitespaceSplit -> remove_extra_whitespaces
 * This is exactly the pipeline transformers' converter writes for the original T5 files;
 * other pipelines (e.g. Strip/Replace normalizers of "legacy=False" conversions) do not
 * correspond to a SentencePiece model and are refused with T5PT_ERR_UNSUPPORTED.
 */
#include "io/json.h"
#include "tokenizer/tokenizer_internal.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

static t5pt_status bad(const char *path, const char *what) {
    return t5pt_set_error(T5PT_ERR_FORMAT, "%s: not a valid tokenizer.json: %s", path, what);
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with optional '=' padding; returns malloc'd bytes or NULL if malformed. */
static uint8_t *b64_decode(const char *s, size_t n, size_t *out_len) {
    while (n && s[n - 1] == '=') n--;
    if (n % 4 == 1) return NULL;
    uint8_t *out = malloc(n / 4 * 3 + 3);
    if (!out) return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = o;
    return out;
}

static int type_is(const json_value *v, const char *name) {
    const char *t = t5pt_json_get_str(v, "type");
    return t && strcmp(t, name) == 0;
}

static t5pt_status read_normalizer(tok_model *m, const json_value *nz, const char *path) {
    if (!nz || nz->type == JSON_NULL) return T5PT_OK;   /* identity */
    if (type_is(nz, "Sequence")) {
        const json_value *list = t5pt_json_get(nz, "normalizers");
        if (!list || list->type != JSON_ARRAY) return bad(path, "normalizer Sequence without a list");
        if (list->len == 0) return T5PT_OK;
        if (list->len != 1)
            return t5pt_set_error(T5PT_ERR_UNSUPPORTED,
                                  "%s: normalizer Sequence of %zu steps is not a SentencePiece normalizer", path,
                                  list->len);
        nz = t5pt_json_at(list, 0);
    }
    if (!type_is(nz, "Precompiled")) {
        const char *t = t5pt_json_get_str(nz, "type");
        return t5pt_set_error(T5PT_ERR_UNSUPPORTED, "%s: normalizer type %s is not supported", path, t ? t : "(none)");
    }
    const json_value *cm = t5pt_json_get(nz, "precompiled_charsmap");
    if (!cm || cm->type == JSON_NULL) return T5PT_OK;
    if (cm->type != JSON_STRING) return bad(path, "precompiled_charsmap is not a string");
    if (cm->len == 0) return T5PT_OK;
    size_t blob_len = 0;
    uint8_t *blob = b64_decode(cm->u.str, cm->len, &blob_len);
    if (!blob) return bad(path, "precompiled_charsmap is not base64");
    t5pt_status st = t5pt_tok_charsmap_init(&m->norm.map, blob, blob_len, path);
    free(blob);
    return st;
}

static t5pt_status read_metaspace(tok_model *m, const json_value *ms, const char *path) {
    const char *rep = t5pt_json_get_str(ms, "replacement");
    if (!rep || strcmp(rep, "\xe2\x96\x81") != 0)
        return t5pt_set_error(T5PT_ERR_UNSUPPORTED, "%s: Metaspace replacement other than U+2581", path);
    int add = 1;
    const char *scheme = t5pt_json_get_str(ms, "prepend_scheme");
    if (scheme) {
        if (strcmp(scheme, "always") == 0) add = 1;
        else if (strcmp(scheme, "never") == 0) add = 0;
        else return t5pt_set_error(T5PT_ERR_UNSUPPORTED, "%s: Metaspace prepend_scheme \"%s\"", path, scheme);
    } else if (t5pt_json_get_bool(ms, "add_prefix_space", &add) != 0) {
        add = 1;
    }
    m->norm.add_dummy_prefix = add;
    m->norm.escape_whitespaces = 1;
    return T5PT_OK;
}

static t5pt_status read_pre_tokenizer(tok_model *m, const json_value *pt, const char *path) {
    m->norm.add_dummy_prefix = 0;
    m->norm.escape_whitespaces = 0;
    m->norm.remove_extra_whitespaces = 0;
    if (!pt || pt->type == JSON_NULL) return T5PT_OK;
    const json_value *one = pt;
    size_t n = 1;
    const json_value *list = NULL;
    if (type_is(pt, "Sequence")) {
        list = t5pt_json_get(pt, "pretokenizers");
        if (!list || list->type != JSON_ARRAY) return bad(path, "pre_tokenizer Sequence without a list");
        n = list->len;
    }
    int seen_meta = 0;
    for (size_t i = 0; i < n; i++) {
        if (list) one = t5pt_json_at(list, i);
        if (type_is(one, "WhitespaceSplit") && !seen_meta) {
            m->norm.remove_extra_whitespaces = 1;
        } else if (type_is(one, "Metaspace") && !seen_meta) {
            t5pt_status st = read_metaspace(m, one, path);
            if (st != T5PT_OK) return st;
            seen_meta = 1;
        } else {
            const char *t = t5pt_json_get_str(one, "type");
            return t5pt_set_error(T5PT_ERR_UNSUPPORTED, "%s: pre_tokenizer %s is not supported here", path,
                                  t ? t : "(none)");
        }
    }
    return T5PT_OK;
}

t5pt_status t5pt_tok_load_hf_json(tok_model *m, const char *data, size_t len, const char *path) {
    char err[200];
    json_doc *doc = t5pt_json_parse(data, len, err, sizeof err);
    if (!doc) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: %s", path, err);
    const json_value *root = t5pt_json_root(doc);
    const json_value *model = t5pt_json_get(root, "model");
    const json_value *vocab = t5pt_json_get(model, "vocab");
    const json_value *added = t5pt_json_get(root, "added_tokens");
    t5pt_status st = T5PT_OK;
    uint8_t *special = NULL;
    int64_t unk_id = -1;
    int fallback = 0;

    if (!model || model->type != JSON_OBJECT) {
        st = bad(path, "no \"model\" object");
        goto done;
    }
    if (t5pt_json_get_str(model, "type") && !type_is(model, "Unigram")) {
        st = t5pt_set_error(T5PT_ERR_UNSUPPORTED, "%s: model type %s is not Unigram", path, t5pt_json_get_str(model, "type"));
        goto done;
    }
    if (t5pt_json_get_bool(model, "byte_fallback", &fallback) == 0 && fallback) {
        st = t5pt_set_error(T5PT_ERR_UNSUPPORTED, "%s: byte_fallback is not supported", path);
        goto done;
    }
    if (!vocab || vocab->type != JSON_ARRAY || vocab->len == 0 || vocab->len > (size_t)INT32_MAX / 2) {
        st = bad(path, "model.vocab is not a non-empty array");
        goto done;
    }
    if (t5pt_json_get_int(model, "unk_id", &unk_id) != 0 || unk_id < 0 || (size_t)unk_id >= vocab->len) {
        st = bad(path, "model.unk_id is missing or out of range");
        goto done;
    }
    /* special[i]: 1 = special added token, 2 = also a T5 sentinel by name */
    special = calloc(vocab->len, 1);
    if (!special) {
        st = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (added && added->type == JSON_ARRAY) {
        for (size_t i = 0; i < added->len; i++) {
            const json_value *a = t5pt_json_at(added, i);
            int64_t id;
            int sp = 0;
            const char *content = t5pt_json_get_str(a, "content");
            if (t5pt_json_get_int(a, "id", &id) != 0 || !content) {
                st = bad(path, "added_tokens entry without id/content");
                goto done;
            }
            if (t5pt_json_get_bool(a, "special", &sp) != 0 || !sp) continue;
            if (id < 0 || (size_t)id >= vocab->len) continue;   /* not in the model's vocab */
            special[id] = strncmp(content, "<extra_id_", 10) == 0 ? 2 : 1;
        }
    }
    for (size_t i = 0; i < vocab->len; i++) {
        const json_value *e = t5pt_json_at(vocab, i);
        const json_value *p = t5pt_json_at(e, 0), *s = t5pt_json_at(e, 1);
        if (!e || e->type != JSON_ARRAY || e->len != 2 || !p || p->type != JSON_STRING || !s ||
            s->type != JSON_NUMBER) {
            st = bad(path, "model.vocab entry is not [piece, score]");
            goto done;
        }
        if (p->len == 0) {
            st = bad(path, "empty piece in model.vocab");
            goto done;
        }
        if (!(s->u.num >= -FLT_MAX && s->u.num <= FLT_MAX)) {   /* also NaN; a float must hold it */
            st = bad(path, "score out of float range in model.vocab");
            goto done;
        }
        int type = (int64_t)i == unk_id ? TOK_UNKNOWN : special[i] == 2 ? TOK_SENTINEL
                                                      : special[i] == 1 ? TOK_CONTROL
                                                                        : TOK_NORMAL;
        st = t5pt_tok_model_add(m, p->u.str, p->len, (float)s->u.num, type, path);
        if (st != T5PT_OK) goto done;
    }
    st = read_normalizer(m, t5pt_json_get(root, "normalizer"), path);
    if (st == T5PT_OK) st = read_pre_tokenizer(m, t5pt_json_get(root, "pre_tokenizer"), path);
done:
    free(special);
    t5pt_json_free(doc);
    return st;
}
