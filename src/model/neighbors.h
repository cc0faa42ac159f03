/* neighbors.h — the vocabulary pieces nearest to each row of a soft prompt (internal).
 *
 * Lester et al. (2021, section 7) read a trained prompt by listing, for every prompt
 * token, the vocabulary embeddings with the highest cosine similarity to it; trained
 * prompt tokens often land near the task's class labels. `t5pt neighbors` prints this.
 */
#ifndef T5PT_NEIGHBORS_H
#define T5PT_NEIGHBORS_H

#include <stdint.h>

#include "model/model.h"

/* For each row i < n of P [n, d_model]: the k ids (< vocab_limit, and < the embedding
 * table's rows) of the input embedding rows with the highest cosine similarity to it,
 * best first, in ids[i*k .. i*k+k) and their similarities in sims. Ties go to the lower
 * id. A zero row (prompt or embedding) has similarity 0 with everything. */
t5pt_status t5pt_prompt_neighbors(const t5pt_model *m, const float *P, int n, int k, int vocab_limit, int32_t *ids,
                                  float *sims);

#endif
