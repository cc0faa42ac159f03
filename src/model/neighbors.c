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
    float *inv = malloc((size_t)V * sizeof *inv);
    if (!inv) return t5pt_set_error(T5PT_ERR_NOMEM, "t5pt_prompt_neighbors: out of memory");
    for (int v = 0; v < V; v++) {
        double nv = norm_of(t5pt_model_embedding(m, v), d);
        inv[v] = nv > 0 ? (float)(1.0 / nv) : 0.0f;
    }
    const t5pt_kernels *kern = t5pt_kern();
    long nn = n;
    T5PT_OMP_FOR_DYNAMIC
    for (long i = 0; i < nn; i++) {
        const float *p = P + (size_t)i * d;
        const double np = norm_of(p, d);
        const float ip = np > 0 ? (float)(1.0 / np) : 0.0f;
        int32_t *id = ids + (size_t)i * k;
        float *sm = sims + (size_t)i * k;
        int have = 0;
        for (int v = 0; v < V; v++) {
            float s = kern->dot(p, t5pt_model_embedding(m, v), d) * ip * inv[v];
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
    free(inv);
    return T5PT_OK;
}
