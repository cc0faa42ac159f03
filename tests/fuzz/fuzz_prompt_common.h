/* fuzz_prompt_common.h — what fuzz_prompt and fuzz_peft check on a prompt that loaded:
 * a positive shape, finite values, and an exact round trip through both writers
 * (t5pt_prompt_save_npy and t5pt_prompt_save_peft) and the loader. */
#ifndef T5PT_FUZZ_PROMPT_COMMON_H
#define T5PT_FUZZ_PROMPT_COMMON_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t5pt.h"
#include "tests/fuzz/fuzz_util.h"

static void fz_check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz: %s (%s)\n", what, t5pt_last_error());
        abort();
    }
}

static void fz_same_prompt(const char *path, const float *P, int n, int d) {
    float *Q;
    int n2, d2;
    fz_check(t5pt_prompt_load(path, &Q, &n2, &d2) == T5PT_OK, "a written prompt does not load");
    fz_check(n2 == n && d2 == d && memcmp(P, Q, (size_t)n * d * sizeof *P) == 0, "round trip changed the prompt");
    free(Q);
}

static void fz_check_prompt(const float *P, int n, int d) {
    fz_check(P && n > 0 && d > 0, "a loaded prompt has no rows");
    for (size_t k = 0; k < (size_t)n * d; k++) fz_check(isfinite(P[k]), "a loaded prompt value is not finite");
    if ((size_t)n * d > ((size_t)1 << 20)) return;
    const char *npy = fz_path("rt.npy");
    fz_check(t5pt_prompt_save_npy(npy, P, n, d) == T5PT_OK, "save_npy failed");
    fz_same_prompt(npy, P, n, d);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", fz_path("rt-peft"));
    fz_check(t5pt_prompt_save_peft(dir, P, n, d, NULL, "random-uniform") == T5PT_OK, "save_peft failed");
    fz_same_prompt(dir, P, n, d);
}

#endif
