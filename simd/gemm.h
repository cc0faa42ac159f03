/* gemm.h — single-precision matrix products, BLIS style.
 *
 * Cache blocking and packing are portable C (simd/gemm.c); only the register
 * micro-kernel comes from the selected ISA (simd/kernels.h). Every output tile is
 * computed by exactly one thread with the full K loop in a fixed order, so results
 * are bit-identical whatever the thread count.
 *
 * Weight layout is torch.nn.Linear's: W[N, K] ("out, in"), row-major.
 */
#ifndef T5PT_GEMM_H
#define T5PT_GEMM_H

#include <stddef.h>
#include "t5pt.h"

/* A frozen weight W[N,K] packed once for both products the model needs. */
typedef struct {
    int N, K;
    const float *W;      /* the plain weight (not owned) */
    float *fwd;          /* W^T packed as the B operand of  y = x W^T  (owned, may be NULL) */
    float *bwd;          /* W packed as the B operand of    dx = dy W  (owned, may be NULL) */
    int nr;              /* micro-kernel NR the panels were packed for; when the selected
                            ISA's NR differs, the products fall back to packing W per call */
} t5pt_linear;

/* Packs W[N,K]. want_bwd = 0 skips the backward packing (inference only).
 * Packing uses the micro-kernel shape of the ISA selected at the time of the call. */
t5pt_status t5pt_linear_pack(t5pt_linear *lin, const float *W, int N, int K, int want_bwd);
void t5pt_linear_free(t5pt_linear *lin);

/* y[M,N] = x[M,K] · W^T + beta·y      (x row stride ldx, y row stride ldy) */
void t5pt_linear_forward(float *y, int ldy, const float *x, int ldx, int M, const t5pt_linear *lin, float beta);
/* dx[M,K] = dy[M,N] · W + beta·dx     (gradient w.r.t. the linear's input) */
void t5pt_linear_backward(float *dx, int lddx, const float *dy, int lddy, int M, const t5pt_linear *lin, float beta);

/* General strided product for the attention matrices:
 * C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C
 * op(A) = A (row-major, lda) or A^T when transA; same for B. Packs per call.
 * Runs single-threaded (callers parallelise over batch x heads). */
void t5pt_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc);

/* Same as t5pt_sgemm but may use all threads (tiles split across threads). */
void t5pt_sgemm_parallel(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc);

#endif
