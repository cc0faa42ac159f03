/* eval.h — scoring a prompt: greedy decoding with a key/value cache, rank
 * classification, prompt ensembles, and dataset-level accuracy.
 *
 * The encoder runs once per (batch, prompt) through t5pt_forward (labels NULL); the
 * decoder then runs one token at a time with the cached decoder of model/decode.h, whose
 * rows point at encoder rows, so rank classification (C candidate label sequences per
 * example) and ensembles (E prompts per example) share one encoder output and run as one
 * decoder batch.
 */
#ifndef T5PT_EVAL_H
#define T5PT_EVAL_H

#include "t5pt.h"
#include "train/data.h"

/* ------------------------------------------------------------ batch-level scoring
 * E prompts P[e] of n[e] rows (n[e] may be 0), all with placement pl, over the same batch
 * (labels unused). ctx must be sized for the batch (labels >= 1) and max n[e]. */

/* Greedy argmax decoding from decoder_start: out[(e*B + b)*max_new + g], lens[e*B + b] = tokens kept
 * (with stop_at_eos the </s> is included and decoding of that row stops; without it
 * every row gets max_new tokens, as the goldens decode). */
t5pt_status t5pt_greedy(t5pt_ctx *c, const t5pt_model *m, const float *const *P, const int *n, int E,
                        t5pt_placement pl, const t5pt_batch *b, int max_new, int stop_at_eos, int32_t *out,
                        int *lens);

/* Rank classification scores: nll[(e*B + b)*C + c] = sum over tokens of candidate c of -log p
 * (cand [C, Lc], each row ending with </s>, padded with -100). Pick the lowest. */
t5pt_status t5pt_rank_nll(t5pt_ctx *c, const t5pt_model *m, const float *const *P, const int *n, int E,
                          t5pt_placement pl, const t5pt_batch *b, const int32_t *cand, int C, int Lc, float *nll);

/* ------------------------------------------------------------ dataset-level accuracy */
typedef struct {
    int batch;                       /* examples per encoder batch (default 16) */
    int max_new_tokens;              /* greedy limit (0: longest target + 4, at least 8) */
    int generate;                    /* 1: exact match by greedy generation */
    const char *const *labels;       /* rank classification over these label words when num_labels > 0 */
    int num_labels;
    t5pt_placement pl;
} t5pt_eval_options;

typedef struct {
    int n_prompts, n;                /* prompts, examples */
    int scored;                      /* examples with a target (accuracy denominators) */
    /* exact match by greedy generation (when generate): per prompt, and majority vote */
    double *gen_acc;                 /* [n_prompts] */
    double gen_vote_acc;
    char **gen_pred;                 /* [n_prompts * n] decoded text */
    char **gen_vote;                 /* [n] */
    /* rank classification (when num_labels > 0) */
    double *rank_acc;                /* [n_prompts] */
    double rank_vote_acc;
    int *rank_pred;                  /* [n_prompts * n] label index */
    int *rank_vote;                  /* [n] */
    float *rank_nll;                 /* [n_prompts * n * num_labels] */
    int targets_not_in_labels;       /* examples whose target is none of the labels */
} t5pt_eval_result;

void t5pt_eval_options_default(t5pt_eval_options *o);
/* Scores E prompts (P[e] with n[e] rows) on dataset d. The tokenizer decodes generations and
 * encodes the label words. */
t5pt_status t5pt_evaluate(const t5pt_model *m, const t5pt_tokenizer *tok, const float *const *P, const int *n, int E,
                          const t5pt_dataset *d, const t5pt_eval_options *o, t5pt_eval_result *res);
void t5pt_eval_result_free(t5pt_eval_result *r);

/* Text of generated ids[0..n): stops before the first eos; ids the tokenizer has no piece for
 * (rows 32100..32127 of every Hugging Face T5 checkpoint) decode as empty text, as Hugging
 * Face's tokenizers decode them. *text is malloc'd. */
t5pt_status t5pt_decode_generated(const t5pt_tokenizer *tok, const int32_t *ids, int n, int eos, char **text);

/* Tokenizes label words into a candidate matrix [C, *Lc] (each with </s>, -100 padded); malloc'd. */
t5pt_status t5pt_labels_tokenize(const t5pt_tokenizer *tok, const char *const *labels, int C, int32_t **cand,
                                 int *Lc);

#endif
