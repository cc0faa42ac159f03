/* data.h — text-to-text datasets: JSONL / TSV reading, tokenization, batching.
 *
 * A dataset is a list of (input text, target text) pairs, read whole and tokenized
 * once. Inputs and targets both end with </s> (id 1), as T5 was trained. Inputs
 * longer than max_src_len keep their first max_src_len-1 tokens and the </s>; the
 * number of examples cut this way is counted (the caller reports it, never silent).
 *
 * File formats
 *   JSONL  one JSON object per line, {"input": "...", "target": "..."}; the field
 *          names are options. String values; integer values are read as their
 *          decimal text (e.g. {"label": 1}). Blank lines are skipped.
 *   TSV    input<TAB>target per line. A first line equal to "<input_field>\t<target_field>"
 *          is a header and skipped. No quoting: tabs/newlines cannot occur inside fields.
 * The format comes from the extension (.jsonl/.json -> JSONL, .tsv/.txt -> TSV), else
 * from the first non-blank byte ('{' -> JSONL).
 *
 * Errors (one line, naming file and line): malformed JSON, a missing or non-string
 * field, a line that is not valid UTF-8, a TSV line without a tab, a file with no
 * examples. The library never prints.
 */
#ifndef T5PT_DATA_H
#define T5PT_DATA_H

#include "t5pt.h"
#include "base/internal.h"

typedef struct {
    int line;                  /* 1-based line in the file */
    char *input, *target;      /* the raw texts (target NULL when the file has none and it was optional) */
    int32_t *src; int src_len; /* input ids, ending with </s>, after truncation */
    int32_t *tgt; int tgt_len; /* target ids, ending with </s>, after truncation (0 if no target) */
} t5pt_example;

typedef struct {
    char *path;
    t5pt_example *ex;
    int n;
    int truncated_src;         /* examples whose input was cut to max_src_len */
    int truncated_tgt;         /* examples whose target was cut to max_tgt_len */
    int max_src, max_tgt;      /* longest row after truncation */
} t5pt_dataset;

typedef struct {
    const char *input_field;   /* JSONL key of the input text, default "input" */
    const char *target_field;  /* default "target" */
    int max_src_len;           /* tokens incl. </s>; 0 = no limit */
    int max_tgt_len;           /* tokens incl. </s>; 0 = no limit */
    int target_optional;       /* 1: rows without a target are accepted (generation) */
} t5pt_data_options;

void t5pt_data_options_default(t5pt_data_options *o);

/* Reads and tokenizes a dataset file. */
t5pt_status t5pt_dataset_load(t5pt_dataset **out, const char *path, const t5pt_tokenizer *tok,
                              const t5pt_data_options *opt);
/* Builds a dataset from in-memory lines of input text (no targets), e.g. the generate command. */
t5pt_status t5pt_dataset_from_texts(t5pt_dataset **out, const char *const *texts, int n, const t5pt_tokenizer *tok,
                                    int max_src_len);
void t5pt_dataset_free(t5pt_dataset *d);

/* Checks that a byte string is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
 * Returns -1 when valid, else the offset of the first bad byte. */
long t5pt_utf8_invalid_at(const char *s, size_t n);

/* A padded batch built from dataset rows: ids/mask [B,T] (T = longest input of the rows),
 * labels [B,L] padded with -100 (L = longest target). `view` points into the buffers. */
typedef struct {
    int32_t *ids, *mask, *labels;
    size_t cap_ids, cap_labels;
    t5pt_batch view;
} t5pt_batch_buf;

/* Rows idx[0..count) of d. with_labels = 0 leaves view.labels NULL. */
t5pt_status t5pt_batch_build(t5pt_batch_buf *bb, const t5pt_dataset *d, const int *idx, int count, int with_labels);
void t5pt_batch_buf_free(t5pt_batch_buf *bb);

/* Fisher-Yates shuffle of perm[0..n) with the project RNG (reproducible everywhere). */
void t5pt_shuffle(int *perm, int n, t5pt_rng *rng);

#endif
