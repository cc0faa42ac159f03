/* decode.h — the decoder one token at a time, with a key/value cache (internal).
 *
 * For greedy generation and rank classification (src/train/eval.c): the encoder runs
 * once, then every step feeds one token per decoder row and gets its logits.
 *   - self-attention keys/values of every earlier step are kept per layer and row, so
 *     step t costs O(t) instead of re-running the t earlier positions;
 *   - cross-attention keys/values of the encoder output are computed once per layer.
 * Each step runs the model's own decoder block (t5pt_decoder_block_forward, model/decoder.h)
 * and LM head (t5pt_lm_head_forward): the numbers are those of the full forward.
 * Decoder rows point at encoder rows (row_enc), so C candidate sequences per example (rank
 * classification) or E prompts (ensembles) share one encoder output in one decoder batch.
 */
#ifndef T5PT_DECODE_H
#define T5PT_DECODE_H

#include <stdint.h>

#include "t5pt.h"

typedef struct t5pt_kvdec t5pt_kvdec;

/* H_enc [Benc, Tenc, d] (encoder_last_hidden_state), enc_mask [Benc, Tenc] (1 real / 0 pad),
 * R decoder rows, row_enc[R] = encoder row of each decoder row, up to max_steps tokens. */
t5pt_status t5pt_kvdec_create(t5pt_kvdec **out, const t5pt_model *m, const float *H_enc, const int32_t *enc_mask,
                              int Benc, int Tenc, int R, const int *row_enc, int max_steps);
/* Feeds one token per row (tokens[R]) at the next position; *logits -> [R, V] (owned by the
 * decoder, valid until the next step). */
t5pt_status t5pt_kvdec_step(t5pt_kvdec *k, const int32_t *tokens, const float **logits);
void t5pt_kvdec_free(t5pt_kvdec *k);

#endif
