/* tokenizer_internal.h — the pieces shared by the tokenizer's translation units.
 *
 *   spm_model.c      spiece.model (protobuf ModelProto)   ─┐
 *   tokenizer_json.c tokenizer.json (HF fast tokenizer)   ─┴─▶ tok_model (pieces, scores, types,
 *                                                               normalizer settings, charsmap)
 *   normalizer.c     nmt_nfkc charsmap + whitespace rules: text ─▶ normalized text with ▁
 *   tokenizer.c      piece trie, Viterbi, sentinels, EOS, decode, the public API
 *
 * Both loaders fill the same tok_model, so everything after loading is shared and the two
 * file formats cannot drift apart. Not installed; library-internal only.
 */
#ifndef T5PT_TOKENIZER_INTERNAL_H
#define T5PT_TOKENIZER_INTERNAL_H

#include "base/internal.h"
#include <stddef.h>
#include <stdint.h>

/* SentencePiece piece types (sentencepiece_model.proto values), plus our own SENTINEL for
 * T5's <extra_id_N> tokens, which the spm model does not contain. */
enum {
    TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER_DEFINED = 4, TOK_UNUSED = 5, TOK_BYTE = 6,
    TOK_SENTINEL = 7
};

#define TOK_NUM_SENTINELS 100   /* <extra_id_0> .. <extra_id_99> */

/* The precompiled character map: a darts-clone double array over UTF-8 byte strings whose
 * leaves point into a pool of NUL-terminated replacement strings. */
typedef struct {
    uint32_t *units;      /* double-array units (host order), n_units of them */
    size_t n_units;
    char *pool;           /* replacement strings, each NUL-terminated */
    size_t pool_len;
} tok_charsmap;

/* NormalizerSpec: what Normalizer::Normalize does besides the charsmap. */
typedef struct {
    tok_charsmap map;     /* n_units == 0: no charsmap (identity) */
    int add_dummy_prefix;         /* prepend ▁ to the text */
    int remove_extra_whitespaces; /* drop leading/trailing spaces, collapse runs */
    int escape_whitespaces;       /* ' ' -> ▁ */
} tok_normalizer;

/* A loaded vocabulary, whichever file it came from. */
typedef struct {
    int n;                /* number of pieces (ids 0..n-1), sentinels included */
    char *text;           /* all piece strings back to back (not NUL-separated) */
    size_t text_cap;
    uint32_t *off, *len;  /* piece i = text[off[i] .. off[i]+len[i]) */
    float *score;
    uint8_t *type;        /* TOK_* */
    tok_normalizer norm;
    char *unk_surface;    /* decode text of <unk> (NUL-terminated), " ⁇ " by default */
} tok_model;

/* Loaders: parse a file image into *m (zeroed by the caller). On failure *m may be partly
 * filled; t5pt_tok_model_free releases whatever is there. `path` only names the file in errors. */
t5pt_status t5pt_tok_load_spm(tok_model *m, const uint8_t *data, size_t len, const char *path);
t5pt_status t5pt_tok_load_hf_json(tok_model *m, const char *data, size_t len, const char *path);
void t5pt_tok_model_free(tok_model *m);

/* Loads a tokenizer from a file image (spiece.model or tokenizer.json, told apart by the
 * first byte); `name` only names it in errors. t5pt_tokenizer_load and the fuzzers use it. */
t5pt_status t5pt_tok_load_memory(t5pt_tokenizer **out, const char *data, size_t len, const char *name);

/* Appends a piece while loading (grows the arrays). */
t5pt_status t5pt_tok_model_add(tok_model *m, const char *piece, size_t len, float score, int type, const char *path);

/* Validates and copies a precompiled charsmap blob (<u32 trie bytes><trie><pool>). */
t5pt_status t5pt_tok_charsmap_init(tok_charsmap *cm, const uint8_t *blob, size_t len, const char *path);

/* A growable byte buffer for the normalizer's output. */
typedef struct { char *p; size_t len, cap; } tok_buf;

/* Normalizes text[0..len) exactly as sentencepiece's Normalizer::Normalize, appending to
 * out (out->len reset to 0 first). Invalid UTF-8 bytes become U+FFFD one byte at a time.
 * Returns T5PT_OK or T5PT_ERR_NOMEM. */
t5pt_status t5pt_tok_normalize(const tok_normalizer *nz, const char *text, size_t len, tok_buf *out);

#endif
