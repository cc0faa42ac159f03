/* tokenizer.c — the T5 tokenizer: SentencePiece unigram encoding (Viterbi over the pieces),
 * T5's sentinels and EOS, and decoding. Bit-exact with the sentencepiece library.
 *
 *   text ──split at <extra_id_N>──▶ segments ──normalize (normalizer.c)──▶ "▁Hello▁world"
 *        ──Viterbi over a trie of pieces──▶ ids, runs of <unk> merged ──▶ + sentinels + </s>
 *
 * Viterbi is sentencepiece's "optimized" unigram encoder (Model::EncodeOptimized, the
 * default since 0.1.9x): best[e] is the best-scoring
 * segmentation of normalized[0..e). From every character start s, walk the piece trie along
 * the text; each piece ending at e offers best[s] + score(piece). A character that no
 * one-character piece covers gets an <unk> edge with score min_score - 10. Ties keep the
 * earlier start (strict >). Piece edges are summed and compared in double and stored as
 * float, <unk> edges in float: that is what sentencepiece 0.1.97's EncodeOptimized does
 * (C++ promotes its piece score to double), and it decides near-ties, e.g. in runs of
 * "................". After backtracking, consecutive <unk> merge into one
 * (SentencePieceProcessor::PopulateSentencePieceText).
 *
 * Sentinels: T5 adds 100 tokens <extra_id_N> = 32099 - N above the 32000 spm pieces. They are
 * found in the raw text (like Hugging Face added tokens) and each text segment between them
 * is encoded on its own, i.e. as sentencepiece would encode that segment alone.
 * Decode is sentencepiece's DecodeIds per segment, with sentinels written by name.
 */
#include "tokenizer/tokenizer_internal.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- piece trie
 * A double array over bytes: the child of `node` on byte c is node' = base[node] + c when
 * check[node'] == node. value >= 0 marks the end of a piece (its id). While building, one
 * cell holds all four fields (trie_node); the encoder walks base/check pairs (8 bytes,
 * touched for every byte of text) kept apart from value/score (touched only where a piece
 * ends), which halves the cache footprint of the walk. */
typedef struct {
    int32_t base, check, value;
    float score;
} trie_node;

typedef struct {
    int32_t base, check;
} trie_bc;
typedef struct {
    int32_t value;
    float score;
} trie_leaf;

struct t5pt_tokenizer {
    tok_model m;
    trie_bc *trie;     /* [trie_size] */
    trie_leaf *leaf;   /* [trie_size] */
    size_t trie_size;
    int unk_id, eos_id;
    float unk_score;                   /* min normal score - 10 (kUnkPenalty) */
    int32_t sentinel[TOK_NUM_SENTINELS]; /* id of <extra_id_N>, -1 if absent */
};

/* ---------------------------------------------------------------- model storage */
t5pt_status t5pt_tok_model_add(tok_model *m, const char *piece, size_t len, float score, int type, const char *path) {
    size_t n = (size_t)m->n;
    if (n >= (size_t)INT32_MAX / 2) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: too many pieces", path);
    if ((n & (n - 1)) == 0) {   /* grow at powers of two */
        size_t cap = n ? 2 * n : 1024;
        uint32_t *off = realloc(m->off, cap * sizeof *off);
        if (off) m->off = off;
        uint32_t *ln = realloc(m->len, cap * sizeof *ln);
        if (ln) m->len = ln;
        float *sc = realloc(m->score, cap * sizeof *sc);
        if (sc) m->score = sc;
        uint8_t *ty = realloc(m->type, cap);
        if (ty) m->type = ty;
        if (!off || !ln || !sc || !ty) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t used = n ? m->off[n - 1] + m->len[n - 1] : 0;
    if (len > UINT32_MAX - used) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: pieces too long", path);
    if (used + len > m->text_cap || !m->text) {
        size_t cap = m->text_cap ? m->text_cap : 4096;
        while (cap < used + len) cap *= 2;
        char *t = realloc(m->text, cap);
        if (!t) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
        m->text = t;
        m->text_cap = cap;
    }
    memcpy(m->text + used, piece, len);
    m->off[n] = (uint32_t)used;
    m->len[n] = (uint32_t)len;
    m->score[n] = score;
    m->type[n] = (uint8_t)type;
    m->n++;
    return T5PT_OK;
}

void t5pt_tok_model_free(tok_model *m) {
    free(m->text);
    free(m->off);
    free(m->len);
    free(m->score);
    free(m->type);
    free(m->norm.map.units);
    free(m->norm.map.pool);
    free(m->unk_surface);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- trie construction */
typedef struct {
    const char *p;
    uint32_t len;
    int32_t id;
} trie_key;

/* Cells are handed out from a doubly linked list of free cells (in index order), so
 * finding a base for a node costs a walk over free cells only, not over the whole array. */
typedef struct {
    const tok_model *m;
    trie_key *keys;        /* sorted by bytes */
    trie_node *a;
    int32_t *next, *prev;  /* free list links, -1 = none */
    int32_t head, tail;    /* first / last free cell, -1 if none */
    size_t size;           /* cells allocated */
} trie_builder;

static int cmp_key(const void *a, const void *b) {
    const trie_key *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Grows the array to at least `need` cells; the new cells join the end of the free list. */
static int tb_grow(trie_builder *b, size_t need) {
    if (need <= b->size) return 1;
    size_t size = b->size ? b->size : 4096;
    while (size < need) size *= 2;
    if (size > (size_t)INT32_MAX / 2) return 0;
    trie_node *a = realloc(b->a, size * sizeof *a);
    if (a) b->a = a;
    int32_t *nx = realloc(b->next, size * sizeof *nx);
    if (nx) b->next = nx;
    int32_t *pv = realloc(b->prev, size * sizeof *pv);
    if (pv) b->prev = pv;
    if (!a || !nx || !pv) return 0;
    for (size_t i = b->size; i < size; i++) {
        a[i] = (trie_node){0, -1, -1, 0.0f};
        nx[i] = -1;
        pv[i] = b->tail;
        if (b->tail >= 0) nx[b->tail] = (int32_t)i;
        else b->head = (int32_t)i;
        b->tail = (int32_t)i;
    }
    b->size = size;
    return 1;
}

/* Marks a free cell as used. */
static void tb_take(trie_builder *b, int32_t cell) {
    int32_t p = b->prev[cell], n = b->next[cell];
    if (p >= 0) b->next[p] = n;
    else b->head = n;
    if (n >= 0) b->prev[n] = p;
    else b->tail = p;
}

/* One pending node: its cell, and the keys below it, keys[lo..hi), which share their
 * first `depth` bytes. */
typedef struct {
    int32_t node;
    size_t lo, hi, depth;
} tb_item;

/* Builds the double array from the sorted keys. Iterative (an explicit stack) so that a
 * model with a very long piece cannot exhaust the C stack. Returns 1, 0 on OOM, -1 on a
 * duplicate piece. */
static int tb_build(trie_builder *b, size_t nk) {
    size_t cap = 1024, top = 0;
    tb_item *stack = malloc(cap * sizeof *stack);
    if (!stack) return 0;
    stack[top++] = (tb_item){0, 0, nk, 0};
    int rc = 1;
    while (top > 0 && rc == 1) {
        tb_item it = stack[--top];
        size_t lo = it.lo, hi = it.hi, depth = it.depth;
        if (lo < hi && b->keys[lo].len == depth) {   /* a piece ends here */
            int32_t id = b->keys[lo].id;
            b->a[it.node].value = b->m->type[id] == TOK_UNUSED ? -1 : id;   /* unused: path only */
            b->a[it.node].score = b->m->score[id];
            lo++;
            if (lo < hi && b->keys[lo].len == depth) {
                rc = -1;
                break;
            }
        }
        if (lo >= hi) continue;

        uint8_t labels[256];
        size_t nl = 0;
        for (size_t i = lo; i < hi; i++) {
            uint8_t c = (uint8_t)b->keys[i].p[depth];
            if (nl == 0 || labels[nl - 1] != c) labels[nl++] = c;
        }
        /* the first free cell f with base = f - labels[0] >= 1 where all children fit */
        size_t base = 0;
        for (int32_t f = b->head;; f = b->next[f]) {
            if (f < 0) {   /* ran off the end: grow and continue with the new cells */
                size_t old = b->size;
                if (!tb_grow(b, 2 * old)) {
                    rc = 0;
                    break;
                }
                f = (int32_t)old;
            }
            if ((size_t)f < (size_t)labels[0] + 1) continue;
            base = (size_t)f - labels[0];
            if (!tb_grow(b, base + 256 + 1)) {
                rc = 0;
                break;
            }
            size_t k = 1;
            while (k < nl && b->a[base + labels[k]].check == -1) k++;
            if (k == nl) break;
        }
        if (rc != 1) break;
        b->a[it.node].base = (int32_t)base;
        for (size_t k = 0; k < nl; k++) {
            b->a[base + labels[k]].check = it.node;
            tb_take(b, (int32_t)(base + labels[k]));
        }
        /* the children's key ranges go on the stack */
        if (top + nl > cap) {
            while (top + nl > cap) cap *= 2;
            tb_item *p = realloc(stack, cap * sizeof *p);
            if (!p) {
                rc = 0;
                break;
            }
            stack = p;
        }
        size_t i = lo;
        for (size_t k = 0; k < nl; k++) {
            size_t j = i;
            while (j < hi && (uint8_t)b->keys[j].p[depth] == labels[k]) j++;
            stack[top++] = (tb_item){(int32_t)(base + labels[k]), i, j, depth + 1};
            i = j;
        }
    }
    free(stack);
    return rc;
}

static t5pt_status build_trie(t5pt_tokenizer *t, const char *path) {
    const tok_model *m = &t->m;
    trie_builder b = {m, NULL, NULL, NULL, NULL, -1, -1, 0};
    size_t nk = 0;
    t5pt_status st = T5PT_OK;
    b.keys = malloc((size_t)m->n * sizeof *b.keys);
    if (!b.keys || !tb_grow(&b, 4096)) goto oom;
    b.a[0] = (trie_node){0, -2, -1, 0.0f};   /* the root: used, nobody's child */
    tb_take(&b, 0);
    for (int i = 0; i < m->n; i++)
        if (m->type[i] == TOK_NORMAL || m->type[i] == TOK_UNUSED)
            b.keys[nk++] = (trie_key){m->text + m->off[i], m->len[i], i};
    if (nk == 0) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: the vocabulary has no normal pieces", path);
        goto done;
    }
    qsort(b.keys, nk, sizeof *b.keys, cmp_key);
    int rc = tb_build(&b, nk);
    if (rc == 0) goto oom;
    if (rc < 0) {
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: a piece is defined twice", path);
        goto done;
    }
    /* keep cells up to the last used one, plus the 256 of slack the encoder relies on */
    size_t top = 0;
    for (size_t i = 0; i < b.size; i++)
        if (b.a[i].check != -1 && b.a[i].base + (size_t)256 > top) top = (size_t)b.a[i].base + 256;
    if (top < b.size) top = top + 1;
    else top = b.size;
    t->trie = malloc(top * sizeof *t->trie);
    t->leaf = malloc(top * sizeof *t->leaf);
    if (!t->trie || !t->leaf) goto oom;
    for (size_t i = 0; i < top; i++) {
        t->trie[i] = (trie_bc){b.a[i].base, b.a[i].check};
        t->leaf[i] = (trie_leaf){b.a[i].value, b.a[i].score};
    }
    t->trie_size = top;
    goto done;
oom:
    st = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory building the piece trie", path);
done:
    free(b.keys);
    free(b.a);
    free(b.next);
    free(b.prev);
    return st;
}

/* ---------------------------------------------------------------- finishing a load */
static int parse_sentinel(const char *s, size_t n, int *num) {
    /* "<extra_id_N>", N in 0..99 written without leading zeros */
    if (n < 12 || n > 13 || memcmp(s, "<extra_id_", 10) != 0 || s[n - 1] != '>') return 0;
    const char *d = s + 10;
    size_t nd = n - 11;
    if (d[0] < '0' || d[0] > '9' || (nd == 2 && (d[0] == '0' || d[1] < '0' || d[1] > '9'))) return 0;
    *num = nd == 1 ? d[0] - '0' : (d[0] - '0') * 10 + (d[1] - '0');
    return 1;
}

static int find_piece(const tok_model *m, const char *s, int type) {
    size_t n = strlen(s);
    for (int i = 0; i < m->n; i++)
        if (m->type[i] == type && m->len[i] == n && memcmp(m->text + m->off[i], s, n) == 0) return i;
    return -1;
}

static t5pt_status finish(t5pt_tokenizer *t, int add_sentinels, const char *path) {
    tok_model *m = &t->m;
    t5pt_status st;
    t->unk_id = -1;
    float min_score = FLT_MAX;
    for (int i = 0; i < m->n; i++) {
        switch (m->type[i]) {
        case TOK_UNKNOWN:
            if (t->unk_id >= 0) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: <unk> is defined twice", path);
            t->unk_id = i;
            break;
        case TOK_NORMAL:
            if (m->score[i] < min_score) min_score = m->score[i];
            break;
        case TOK_USER_DEFINED:
            return t5pt_set_error(T5PT_ERR_UNSUPPORTED, "%s: user-defined pieces are not supported", path);
        case TOK_BYTE:
            return t5pt_set_error(T5PT_ERR_FORMAT, "%s: byte piece found although byte_fallback is off", path);
        default:
            break;
        }
    }
    if (t->unk_id < 0) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: the vocabulary has no <unk> piece", path);
    t->unk_score = min_score - 10.0f;
    if (!m->unk_surface) {
        m->unk_surface = malloc(6);
        if (!m->unk_surface) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
        memcpy(m->unk_surface, " \xe2\x81\x87 ", 6);   /* " ⁇ ", sentencepiece's default */
    }

    if (add_sentinels) {   /* spiece.model: ids n .. n+99 are <extra_id_99> .. <extra_id_0> */
        for (int k = 0; k < TOK_NUM_SENTINELS; k++) {
            char name[24];
            int len = snprintf(name, sizeof name, "<extra_id_%d>", TOK_NUM_SENTINELS - 1 - k);
            if ((st = t5pt_tok_model_add(m, name, (size_t)len, 0.0f, TOK_SENTINEL, path)) != T5PT_OK) return st;
        }
    }
    for (int k = 0; k < TOK_NUM_SENTINELS; k++) t->sentinel[k] = -1;
    for (int i = 0; i < m->n; i++) {
        int num;
        if (m->type[i] != TOK_SENTINEL) continue;
        if (!parse_sentinel(m->text + m->off[i], m->len[i], &num)) {
            m->type[i] = TOK_CONTROL;   /* e.g. <extra_id_100>: a special token, not a T5 sentinel */
            continue;
        }
        if (t->sentinel[num] >= 0)
            return t5pt_set_error(T5PT_ERR_FORMAT, "%s: sentinel <extra_id_%d> is defined twice", path, num);
        t->sentinel[num] = i;
    }
    t->eos_id = find_piece(m, "</s>", TOK_CONTROL);
    if (t->eos_id < 0) t->eos_id = find_piece(m, "</s>", TOK_NORMAL);   /* a tokenizer.json without added_tokens */
    return build_trie(t, path);
}

/* ---------------------------------------------------------------- loading */
void t5pt_tokenizer_free(t5pt_tokenizer *t) {
    if (!t) return;
    t5pt_tok_model_free(&t->m);
    free(t->trie);
    free(t->leaf);
    free(t);
}

t5pt_status t5pt_tokenizer_load(t5pt_tokenizer **out, const char *path) {
    if (!out || !path) return t5pt_set_error(T5PT_ERR_ARG, "tokenizer_load: NULL argument");
    *out = NULL;
    char *file = NULL;
    if (t5pt_is_dir(path)) {
        char *a = t5pt_path_join(path, "spiece.model"), *b = t5pt_path_join(path, "tokenizer.json");
        if (!a || !b) {
            free(a);
            free(b);
            return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
        }
        if (t5pt_file_exists(a)) {
            file = a;
            free(b);
        } else if (t5pt_file_exists(b)) {
            file = b;
            free(a);
        } else {
            free(a);
            free(b);
            return t5pt_set_error(T5PT_ERR_IO, "%s: no spiece.model or tokenizer.json in this directory", path);
        }
        path = file;
    }

    char *data = NULL;
    size_t len = 0;
    t5pt_status st = t5pt_read_file(path, &data, &len);
    if (st == T5PT_OK) st = t5pt_tok_load_memory(out, data, len, path);
    free(data);
    free(file);
    return st;
}

t5pt_status t5pt_tok_load_memory(t5pt_tokenizer **out, const char *data, size_t len, const char *name) {
    *out = NULL;
    t5pt_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", name);
    /* A ModelProto starts with a field key (0x0a for pieces); JSON with '{'. */
    size_t i = 0;
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) i = 3;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r')) i++;
    int is_json = i < len && data[i] == '{';
    t5pt_status st = is_json ? t5pt_tok_load_hf_json(&t->m, data, len, name)
                             : t5pt_tok_load_spm(&t->m, (const uint8_t *)data, len, name);
    if (st == T5PT_OK) st = finish(t, !is_json, name);
    if (st != T5PT_OK) {
        t5pt_tokenizer_free(t);
        return st;
    }
    *out = t;
    return T5PT_OK;
}

int t5pt_tokenizer_vocab_size(const t5pt_tokenizer *t) { return t ? t->m.n : 0; }

/* ---------------------------------------------------------------- encoding */
typedef struct {
    int32_t *p;
    size_t len, cap;
} id_vec;

static int ids_push(id_vec *v, int32_t id) {
    if (v->len == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        int32_t *p = realloc(v->p, cap * sizeof *p);
        if (!p) return 0;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->len++] = id;
    return 1;
}

/* Scratch for one encode call. */
typedef struct {
    tok_buf norm;
    float *score;      /* [n+1] best score of normalized[0..e) */
    int32_t *start;    /* [n+1] where the last piece of that best path starts, -1 unset */
    int32_t *id;       /* [n+1] that piece's id */
    size_t cap;
} encode_scratch;

static int scratch_reserve(encode_scratch *s, size_t n) {
    if (n + 1 <= s->cap) return 1;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < n + 1) cap *= 2;
    free(s->score);
    free(s->start);
    free(s->id);
    s->score = malloc(cap * sizeof *s->score);
    s->start = malloc(cap * sizeof *s->start);
    s->id = malloc(cap * sizeof *s->id);
    s->cap = (s->score && s->start && s->id) ? cap : 0;
    return s->cap != 0;
}

/* Byte length of the UTF-8 character starting with byte c (sentencepiece's OneCharLen:
 * continuation and invalid lead bytes count as 1). */
static inline size_t one_char_len(uint8_t c) { return (size_t)("\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4]); }

/* Encodes one segment of raw text (no sentinels inside) and appends its ids. */
static t5pt_status encode_segment(const t5pt_tokenizer *t, const char *text, size_t len, encode_scratch *s,
                                  id_vec *out) {
    t5pt_status st = t5pt_tok_normalize(&t->m.norm, text, len, &s->norm);
    if (st != T5PT_OK) return st;
    const uint8_t *x = (const uint8_t *)s->norm.p;
    const size_t n = s->norm.len;
    if (n == 0) return T5PT_OK;
    if (n >= (size_t)INT32_MAX) return t5pt_set_error(T5PT_ERR_ARG, "tokenizer_encode: text too long once normalized");
    if (!scratch_reserve(s, n)) return t5pt_set_error(T5PT_ERR_NOMEM, "tokenizer: out of memory");
    float *best = s->score;
    int32_t *start = s->start, *bid = s->id;
    for (size_t i = 0; i <= n; i++) start[i] = -1;
    best[0] = 0.0f;

    const trie_bc *trie = t->trie;
    const trie_leaf *leaf = t->leaf;
    const float unk_score = t->unk_score;
    for (size_t b = 0; b < n;) {
        const float here = best[b];
        size_t mblen = one_char_len(x[b]);
        if (mblen > n - b) mblen = n - b;
        int has_single = 0;
        int32_t node = 0;
        for (size_t k = b; k < n; k++) {
            int32_t c = trie[node].base + x[k];   /* in range: the array has 256 cells of slack */
            if (trie[c].check != node) break;
            node = c;
            if (leaf[c].value >= 0) {
                /* double, as in sentencepiece: there the piece score's type is the common
                 * type of float and the user-defined bonus (a double), so the sum and the
                 * comparison are in double and only the stored best is rounded to float.
                 * Ties keep the earlier start. */
                const double cand = (double)leaf[c].score + (double)here;
                const size_t e = k + 1;
                if (start[e] == -1 || cand > (double)best[e]) {
                    best[e] = (float)cand;
                    start[e] = (int32_t)b;
                    bid[e] = leaf[c].value;
                }
                if (e - b == mblen) has_single = 1;
            }
        }
        if (!has_single) {   /* no piece covers this character alone: an <unk> edge */
            const float cand = unk_score + here;   /* float + float: a float sum here */
            const size_t e = b + mblen;
            if (start[e] == -1 || cand > best[e]) {
                best[e] = cand;
                start[e] = (int32_t)b;
                bid[e] = t->unk_id;
            }
        }
        b += mblen;
    }

    /* Backtrack from the end; the ids come out reversed. */
    size_t first = out->len;
    for (size_t e = n; e > 0 && start[e] >= 0; e = (size_t)start[e])
        if (!ids_push(out, bid[e])) return t5pt_set_error(T5PT_ERR_NOMEM, "tokenizer: out of memory");
    for (size_t i = first, j = out->len; i + 1 < j; i++, j--) {
        int32_t tmp = out->p[i];
        out->p[i] = out->p[j - 1];
        out->p[j - 1] = tmp;
    }
    /* Runs of <unk> become one <unk>. */
    size_t w = first;
    for (size_t i = first; i < out->len; i++) {
        if (out->p[i] == t->unk_id && w > first && out->p[w - 1] == t->unk_id) continue;
        out->p[w++] = out->p[i];
    }
    out->len = w;
    return T5PT_OK;
}

/* If text[0..n) starts with <extra_id_N> known to the vocabulary, returns its byte length
 * and id. */
static size_t match_sentinel(const t5pt_tokenizer *t, const char *s, size_t n, int32_t *id) {
    if (n < 12 || memcmp(s, "<extra_id_", 10) != 0) return 0;
    size_t k = s[11] == '>' ? 12 : (n >= 13 && s[12] == '>') ? 13 : 0;
    int num;
    if (!k || !parse_sentinel(s, k, &num) || t->sentinel[num] < 0) return 0;
    *id = t->sentinel[num];
    return k;
}

t5pt_status t5pt_tokenizer_encode(const t5pt_tokenizer *t, const char *text, size_t len, int add_eos, int32_t **ids,
                                  int *n_ids) {
    if (!t || !ids || !n_ids || (!text && len)) return t5pt_set_error(T5PT_ERR_ARG, "tokenizer_encode: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    if (len > (size_t)INT32_MAX / 4)
        return t5pt_set_error(T5PT_ERR_ARG, "tokenizer_encode: text of %zu bytes is too long", len);
    if (add_eos && t->eos_id < 0)
        return t5pt_set_error(T5PT_ERR_ARG, "tokenizer_encode: the vocabulary has no </s> piece");

    encode_scratch s = {{NULL, 0, 0}, NULL, NULL, NULL, 0};
    id_vec out = {NULL, 0, 0};
    t5pt_status st = T5PT_OK;
    size_t seg = 0, i = 0;
    while (st == T5PT_OK && i < len) {
        const char *lt = memchr(text + i, '<', len - i);
        if (!lt) break;
        i = (size_t)(lt - text);
        int32_t sid;
        size_t k = match_sentinel(t, lt, len - i, &sid);
        if (!k) {
            i++;
            continue;
        }
        st = encode_segment(t, text + seg, i - seg, &s, &out);
        if (st == T5PT_OK && !ids_push(&out, sid)) st = t5pt_set_error(T5PT_ERR_NOMEM, "tokenizer: out of memory");
        i += k;
        seg = i;
    }
    if (st == T5PT_OK && len > seg) st = encode_segment(t, text + seg, len - seg, &s, &out);
    if (st == T5PT_OK && add_eos && !ids_push(&out, t->eos_id))
        st = t5pt_set_error(T5PT_ERR_NOMEM, "tokenizer: out of memory");
    if (st == T5PT_OK && out.len > (size_t)INT32_MAX) st = t5pt_set_error(T5PT_ERR_ARG, "tokenizer: too many ids");
    free(s.norm.p);
    free(s.score);
    free(s.start);
    free(s.id);
    if (st != T5PT_OK) {
        free(out.p);
        return st;
    }
    if (!out.p) {   /* empty result: still hand back a valid pointer */
        out.p = malloc(sizeof *out.p);
        if (!out.p) return t5pt_set_error(T5PT_ERR_NOMEM, "tokenizer: out of memory");
    }
    *ids = out.p;
    *n_ids = (int)out.len;
    return T5PT_OK;
}

/* ---------------------------------------------------------------- decoding */
static int buf_append(tok_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 1;
}

t5pt_status t5pt_tokenizer_decode(const t5pt_tokenizer *t, const int32_t *ids, int n_ids, char **text) {
    if (!t || !text || (!ids && n_ids > 0) || n_ids < 0)
        return t5pt_set_error(T5PT_ERR_ARG, "tokenizer_decode: bad argument");
    *text = NULL;
    const tok_model *m = &t->m;
    tok_buf b = {NULL, 0, 0};
    /* sentencepiece's Decode: while the text of the segment is still empty, a leading ▁ of
     * a piece is the dummy prefix and is dropped. With remove_extra_whitespaces (T5) every
     * such piece loses it; otherwise only the first one (bos_ws_seen). Segments restart
     * after each sentinel. */
    const tok_normalizer *nz = &m->norm;
    const int may_strip = nz->add_dummy_prefix || nz->remove_extra_whitespaces;
    size_t seg = 0;   /* where the current segment's text starts */
    int bos_ws_seen = 0, is_bos_ws = 1;
    int ok = buf_append(&b, "", 0);
    for (int i = 0; ok && i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= m->n) {
            free(b.p);
            return t5pt_set_error(T5PT_ERR_ARG, "tokenizer_decode: id %d at position %d is out of range [0, %d)", (int)id,
                                  i, m->n);
        }
        const char *p = m->text + m->off[id];
        size_t n = m->len[id];
        if (bos_ws_seen || b.len != seg) is_bos_ws = 0;   /* sticky until the next segment */
        bos_ws_seen = 0;
        switch (m->type[id]) {
        case TOK_CONTROL: break;   /* <pad>, </s>: invisible */
        case TOK_SENTINEL:
            ok = buf_append(&b, p, n);
            seg = b.len;
            is_bos_ws = 1;
            break;
        case TOK_UNKNOWN: ok = buf_append(&b, m->unk_surface, strlen(m->unk_surface)); break;
        default:
            if (is_bos_ws && may_strip && n >= 3 && memcmp(p, "\xe2\x96\x81", 3) == 0) {
                p += 3, n -= 3;
                bos_ws_seen = !nz->remove_extra_whitespaces;
            }
            if (!buf_append(&b, p, n)) {   /* reserve, then rewrite in place */
                ok = 0;
                break;
            }
            b.len -= n;
            for (size_t k = 0; k < n;) {
                if (k + 3 <= n && p[k] == '\xe2' && p[k + 1] == '\x96' && p[k + 2] == '\x81') {
                    b.p[b.len++] = ' ';
                    k += 3;
                } else {
                    b.p[b.len++] = p[k++];
                }
            }
            break;
        }
    }
    if (!ok) {
        free(b.p);
        return t5pt_set_error(T5PT_ERR_NOMEM, "tokenizer_decode: out of memory");
    }
    b.p[b.len] = 0;
    *text = b.p;
    return T5PT_OK;
}
