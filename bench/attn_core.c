/* attn_core.c — the attention core alone (src/model/layers.c: t5pt_attention_forward and
 * t5pt_attention_backward), timed in process CPU time so that a busy machine disturbs it
 * less than wall time: for comparing two builds side by side (BENCHMARKS.md, "Attention
 * core"). Not built by the Makefile:
 *
 *   cc -O2 -std=c11 -fopenmp -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc -I. \
 *      bench/attn_core.c build/libt5pt.a -lm -o build/attn_core
 *   OMP_NUM_THREADS=1 build/attn_core [REPS [TQ]]
 *
 * Shape: t5-small self-attention, batch 8, 8 heads x d_kv 64, 228 keys; TQ queries (228:
 * the encoder; 16: decoder cross-attention). Prints the fastest of REPS runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model/layers.h"
#include "t5pt.h"

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *random_floats(size_t n) {
    float *p = malloc(n * sizeof *p);
    if (!p) exit(1);
    for (size_t i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

int main(int argc, char **argv) {
    const int B = 8, H = 8, dk = 64, Tk = 228, inner = H * dk;
    const int reps = argc > 1 ? atoi(argv[1]) : 3, Tq = argc > 2 ? atoi(argv[2]) : 228;
    if (reps < 1 || Tq < 1) return 2;
    const size_t nq = (size_t)B * Tq * inner, nk = (size_t)B * Tk * inner, np = (size_t)B * H * Tq * Tk;
    srand(1);
    float *q = random_floats(nq), *k = random_floats(nk), *v = random_floats(nk), *dctx = random_floats(nq);
    float *ctx = malloc(nq * sizeof(float)), *probs = malloc(np * sizeof(float));
    float *dq = malloc(nq * sizeof(float)), *dkk = malloc(nk * sizeof(float)), *dv = malloc(nk * sizeof(float));
    float *scratch = malloc(np * sizeof(float));
    if (!ctx || !probs || !dq || !dkk || !dv || !scratch) return 1;
    const attn_dims a = {.B = B, .H = H, .dk = dk, .Tq = Tq, .Tk = Tk};
    const attn_grads g = {.dq = dq, .dk = dkk, .dv = dv, .scratch = scratch};
    double best_f = 1e30, best_b = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = cpu_seconds();
        t5pt_attention_forward(ctx, probs, q, k, v, &a);
        double t1 = cpu_seconds();
        t5pt_attention_backward(&g, dctx, q, k, v, probs, &a, NULL);
        double t2 = cpu_seconds();
        if (t1 - t0 < best_f) best_f = t1 - t0;
        if (t2 - t1 < best_b) best_b = t2 - t1;
    }
    const double flop = 2.0 * B * H * (double)Tq * Tk * dk;   /* one of the products */
    printf("attn_core Tq=%d Tk=%d fwd_s=%.4f fwd_gflops=%.1f bwd_s=%.4f bwd_gflops=%.1f check=%g\n", Tq, Tk, best_f,
           2 * flop / best_f * 1e-9, best_b, 4 * flop / best_b * 1e-9, (double)ctx[7] + dq[5]);
    free(q), free(k), free(v), free(dctx), free(ctx), free(probs), free(dq), free(dkk), free(dv), free(scratch);
    return 0;
}
