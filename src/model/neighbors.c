/* neighbors.c — nearest vocabulary pieces of prompt rows by cosine similarity (see neighbors.h). */
#include "model/neighbors.h"

#include <math.h>
#include <stdlib.h>

#include "base/internal.h"
#include "simd/kernels.h"
#include "model/layers.h"   /* T5PT_OMP_FOR_DYNAMIC */

static double norm_of(const float *x, int d) {
    double s = 0;
    for (int i = 0; i < d; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

t5pt_status t5pt_prompt_neighbors(const t5pt_model *m, const float *P, int n, int k, int vocab_limit, int32_t *ids,
                                  float *sims) {
    if (!m || !P || !ids || !sims || n < 1 || k < 1)
        return t5pt_set_error(T5PT_ERR_ARG, "t5pt_prompt_neighbors: NULL argument, or n < 1 or k < 1");
    const t5pt_config *cfg = t5pt_model_config(m);
    const int d = cfg->d_model;
    int V = cfg->vocab_size;
    if (vocab_limit > 0 && vocab_limit < V) V = vocab_limit;
    if (k > V) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_prompt_neighbors: k = %d exceeds the %d vocabulary rows", k, V);
    /* the embedding table may be stored in bf16/f16: rows are widened a block at a time */
    enum { BLOCK = 1024 };
    float *inv = malloc((size_t)V * sizeof *inv), *E = malloc((size_t)BLOCK * d * sizeof *E);
    if (!inv || !E) {
        free(inv), free(E);
        return t5pt_set_error(T5PT_ERR_NOMEM, "t5pt_prompt_neighbors: out of memory");
    }
    const t5pt_kernels *kern = t5pt_kern();
    long nn = n;
    for (int v0 = 0; v0 < V; v0 += BLOCK) {
        const int nb = V - v0 < BLOCK ? V - v0 : BLOCK;
        for (int b = 0; b < nb; b++) {
            t5pt_status st = t5pt_model_embedding(m, v0 + b, E + (size_t)b * d);
            if (st) {
                free(inv), free(E);
                return st;
            }
            double nv = norm_of(E + (size_t)b * d, d);
            inv[v0 + b] = nv > 0 ? (float)(1.0 / nv) : 0.0f;
        }
        T5PT_OMP_FOR_DYNAMIC
        for (long i = 0; i < nn; i++) {
            const float *p = P + (size_t)i * d;
            const double np = norm_of(p, d);
            const float ip = np > 0 ? (float)(1.0 / np) : 0.0f;
            int32_t *id = ids + (size_t)i * k;
            float *sm = sims + (size_t)i * k;
            int have = v0 < k ? v0 : k;   /* the list so far holds min(v0, k) entries */
            for (int b = 0; b < nb; b++) {
                const int v = v0 + b;
                float s = kern->dot(p, E + (size_t)b * d, d) * ip * inv[v];
                if (have == k && !(s > sm[k - 1])) continue;   /* not better than the k-th (ties: lower id stays) */
                int j = have < k ? have++ : k - 1;
                while (j > 0 && s > sm[j - 1]) {   /* insertion into the sorted list */
                    sm[j] = sm[j - 1];
                    id[j] = id[j - 1];
                    j--;
                }
                sm[j] = s;
                id[j] = v;
            }
        }
    }
    free(E);
    free(inv);
    return T5PT_OK;
}
