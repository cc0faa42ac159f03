/* normalizer.c — SentencePiece text normalization: the precompiled character map
 * (nmt_nfkc for T5) and the whitespace rules, bit-exact with sentencepiece's
 * Normalizer::Normalize.
 *
 * The charsmap blob is <uint32 LE: trie bytes><darts-clone double array><pool>. The double
 * array maps UTF-8 byte strings (one or more characters) to an offset in the pool, where the
 * NUL-terminated replacement lives. At every input position the LONGEST matching key wins
 * (sentencepiece looks at the first 32 prefix matches, which are in length order); with no
 * match the character is copied, and a byte that does not start valid UTF-8 becomes U+FFFD
 * while consuming one byte.
 *
 * Whitespace (remove_extra_whitespaces, on for T5) works on the *normalized* pieces: leading
 * pieces that normalize to exactly " " are dropped, a piece's leading spaces are dropped when
 * the previous piece ended in a space, trailing ▁ are removed at the end. ' ' becomes ▁
 * (U+2581) and one ▁ is prepended (add_dummy_prefix).
 */
#include "tokenizer/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- darts-clone units */
/* A unit packs label / offset / leaf flag / value in 32 bits (darts-clone's DoubleArrayUnit). */
static inline uint32_t da_has_leaf(uint32_t u) { return (u >> 8) & 1u; }
static inline uint32_t da_value(uint32_t u) { return u & 0x7fffffffu; }
static inline uint32_t da_label(uint32_t u) { return u & 0x800000ffu; }   /* leaves never match a byte */
static inline uint32_t da_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

t5pt_status t5pt_tok_charsmap_init(tok_charsmap *cm, const uint8_t *blob, size_t len, const char *path) {
    memset(cm, 0, sizeof *cm);
    if (len <= 4) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: precompiled charsmap is truncated (%zu bytes)", path, len);
    uint32_t trie = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
    if (trie == 0 || trie % 4 != 0 || (size_t)trie > len - 4)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: precompiled charsmap: bad trie size %u (blob %zu bytes)", path,
                              trie, len);
    cm->n_units = trie / 4;
    cm->pool_len = len - 4 - trie;
    cm->units = malloc(trie);
    cm->pool = malloc(cm->pool_len + 1);
    if (!cm->units || !cm->pool) {
        free(cm->units);
        free(cm->pool);
        memset(cm, 0, sizeof *cm);
        return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory for the charsmap", path);
    }
    /* Little-endian on disk; assemble bytes so big-endian hosts read it right too. */
    for (size_t i = 0; i < cm->n_units; i++) {
        const uint8_t *b = blob + 4 + 4 * i;
        cm->units[i] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    }
    memcpy(cm->pool, blob + 4 + trie, cm->pool_len);
    cm->pool[cm->pool_len] = 0;   /* every replacement string ends inside our copy */
    return T5PT_OK;
}

/* The longest charsmap key that prefixes s[0..n): returns its byte length (0 if none) and
 * sets *rep to its replacement (NUL-terminated in the pool). */
static inline size_t charsmap_longest(const tok_charsmap *cm, const uint8_t *s, size_t n, const char **rep) {
    const uint32_t *u = cm->units;
    const size_t nu = cm->n_units;
    size_t longest = 0, found = 0;
    size_t node = da_offset(u[0]);
    for (size_t i = 0; i < n; i++) {
        node ^= s[i];
        if (node >= nu) break;
        uint32_t unit = u[node];
        if (da_label(unit) != s[i]) break;
        node ^= da_offset(unit);
        if (da_has_leaf(unit)) {
            if (node >= nu) break;
            uint32_t v = da_value(u[node]);
            /* sentencepiece keeps at most 32 results (kMaxTrieResultsSize), shortest first */
            if (found < 32 && v < cm->pool_len) {
                longest = i + 1;
                *rep = cm->pool + v;
            }
            found++;
        }
    }
    return longest;
}

/* sentencepiece's string_util::DecodeUTF8 validity: bytes of one well-formed scalar value
 * (no overlongs, no surrogates, <= U+10FFFF); 0 means "malformed, take one byte as U+FFFD". */
static inline size_t utf8_valid_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    if (n >= 2 && (c & 0xe0) == 0xc0) {
        uint32_t cp = (uint32_t)(c & 0x1f) << 6 | (s[1] & 0x3f);
        if ((s[1] & 0xc0) == 0x80 && cp >= 0x80) return 2;
    } else if (n >= 3 && (c & 0xf0) == 0xe0) {
        uint32_t cp = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
        if ((s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 && cp >= 0x800 && (cp < 0xd800 || cp >= 0xe000))
            return 3;
    } else if (n >= 4 && (c & 0xf8) == 0xf0) {
        uint32_t cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 | (uint32_t)(s[2] & 0x3f) << 6 |
                      (s[3] & 0x3f);
        if ((s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 && cp >= 0x10000 &&
            cp <= 0x10ffff)
            return 4;
    }
    return 0;
}

/* NormalizePrefix: normalizes the first unit of s[0..n) (n > 0). Returns bytes consumed;
 * *rep / *rep_len is the normalized text (may be empty). */
static inline size_t normalize_prefix(const tok_charsmap *cm, const uint8_t *s, size_t n, const char **rep,
                                      size_t *rep_len) {
    if (cm->n_units) {
        size_t m = charsmap_longest(cm, s, n, rep);
        if (m) {
            *rep_len = strlen(*rep);
            return m;
        }
    }
    size_t m = utf8_valid_len(s, n);
    if (m) {
        *rep = (const char *)s;
        *rep_len = m;
        return m;
    }
    *rep = "\xef\xbf\xbd";   /* U+FFFD for one malformed byte */
    *rep_len = 3;
    return 1;
}

static int buf_reserve(tok_buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return 0;
    b->p = p;
    b->cap = cap;
    return 1;
}

static const char kSpace[3] = {'\xe2', '\x96', '\x81'};   /* ▁ U+2581 */

t5pt_status t5pt_tok_normalize(const tok_normalizer *nz, const char *text, size_t len, tok_buf *out) {
    const uint8_t *s = (const uint8_t *)text;
    const tok_charsmap *cm = &nz->map;
    const int remove_ws = nz->remove_extra_whitespaces, escape = nz->escape_whitespaces;
    size_t pos = 0;
    const char *rep;
    size_t rep_len;
    out->len = 0;

    /* Leading units that normalize to exactly " " are skipped. */
    if (remove_ws) {
        while (pos < len) {
            size_t m = normalize_prefix(cm, s + pos, len - pos, &rep, &rep_len);
            if (!(rep_len == 1 && rep[0] == ' ')) break;
            pos += m;
        }
    }
    if (pos == len) return T5PT_OK;   /* empty or whitespace only */

    if (!buf_reserve(out, 3 * (len - pos) + 16)) return t5pt_set_error(T5PT_ERR_NOMEM, "tokenizer: out of memory");
    if (nz->add_dummy_prefix) {
        if (escape) {
            memcpy(out->p, kSpace, 3);
            out->len = 3;
        } else {
            out->p[0] = ' ';
            out->len = 1;
        }
    }

    int prev_space = remove_ws;
    while (pos < len) {
        size_t m = normalize_prefix(cm, s + pos, len - pos, &rep, &rep_len);
        if (prev_space)
            while (rep_len && rep[0] == ' ') rep++, rep_len--;
        if (rep_len) {
            if (!buf_reserve(out, 3 * rep_len)) return t5pt_set_error(T5PT_ERR_NOMEM, "tokenizer: out of memory");
            char *o = out->p + out->len;
            if (escape) {
                for (size_t k = 0; k < rep_len; k++) {
                    if (rep[k] == ' ') {
                        memcpy(o, kSpace, 3);
                        o += 3;
                    } else {
                        *o++ = rep[k];
                    }
                }
            } else {
                memcpy(o, rep, rep_len);
                o += rep_len;
            }
            out->len = (size_t)(o - out->p);
            prev_space = rep[rep_len - 1] == ' ';
        }
        pos += m;
        if (!remove_ws) prev_space = 0;
    }

    /* Trailing whitespace goes (this can also remove the dummy prefix). */
    if (remove_ws) {
        if (escape)
            while (out->len >= 3 && memcmp(out->p + out->len - 3, kSpace, 3) == 0) out->len -= 3;
        else
            while (out->len >= 1 && out->p[out->len - 1] == ' ') out->len--;
    }
    return T5PT_OK;
}
