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

/* Storage precision of a frozen weight: the checkpoint's, never widened in memory. */
typedef enum { T5PT_WF32 = 0, T5PT_WBF16 = 1, T5PT_WF16 = 2 } t5pt_wtype;

/* A frozen weight W[N,K], held once, in its stored precision. Nothing is pre-packed:
 *  - the forward y = x W^T packs W^T per call, one block of panels at a time (BLIS packs
 *    B per KC x NC block), widening bf16/f16 to fp32 while packing;
 *  - the backward dx = dy W packs W's column panels per call the same way (a contiguous
 *    copy; reading W in place was slower at large K, simd/gemm.c);
 *  - for a few rows (T5PT_WA_MAX_ROWS, and the backward of a large W) W is the A operand
 *    instead, packed one cache-sized block at a time, and the activations are B.
 * The packing steps (pack_wt / pack_w / pack_a_w in gemm.c) are the places a later change
 * can round to bf16; the grouped products below place several linears' panels side by side
 * there, without a second resident copy.
 * W may be aligned only to its element size (a mapped safetensors file). */
typedef struct {
    int N, K;
    const void *W;     /* [N,K] row-major in `type` (not owned) */
    t5pt_wtype type;
    /* How its products compute (t5pt_model_set_precision sets it on every linear of a
     * model; t5pt_linear_init: fp32). T5PT_PRECISION_BF16: t5pt_linear_forward / _backward
     * round both operands to bf16 and sum in fp32 (simd/gemm_bf16.h; W stored in bf16 is
     * taken as is). Code that groups several linears into one fp32 product must call
     * t5pt_linear_* on each linear whose compute is not T5PT_PRECISION_FP32. */
    t5pt_precision compute;
} t5pt_linear;

/* Describes W[N,K] (stored as `type`) as a linear; holds no memory of its own. */
t5pt_status t5pt_linear_init(t5pt_linear *lin, const void *W, t5pt_wtype type, int N, int K);
/* Bytes per element of a weight type (4 or 2). */
size_t t5pt_wtype_size(t5pt_wtype type);
/* Widens n stored elements to fp32 (a plain copy for fp32). */
void t5pt_widen(float *dst, const void *src, t5pt_wtype type, size_t n);

/* Up to this many rows the forward reads W in place, row by row (dot products: greedy
 * decoding), instead of packing W^T for the GEMM; in bf16 compute too, with both operands
 * rounded to bf16 (the kernel table's bf16_round) instead of packed into K-pairs. */
#define T5PT_GEMV_MAX_ROWS 8
/* Up to this many rows (decoding several sequences at once) the forward takes W as the
 * GEMM's A operand, packed one cache-sized block at a time, and the rows of x as B,
 * storing the tile transposed: W streams once through the cache instead of being packed
 * as W^T panels; the same bits (simd/gemm.c). */
#define T5PT_WA_MAX_ROWS 32
/* The backward dx = dy W does the same (W^T as A) up to this many rows of dy when W has
 * at least this many elements (the lm_head: V x d), where packing W's column panels for a
 * depth of N rows costs more than the product saves. */
#define T5PT_WA_BWD_MAX_ROWS 256
#define T5PT_WA_BWD_MIN_WEIGHTS ((size_t)4 << 20)

/* y[M,N] = x[M,K] · W^T + beta·y      (x row stride ldx, y row stride ldy)
 * In fp32 compute, the path depends on M (GEMV, W as A, W^T packed as B); in bf16 compute
 * up to T5PT_GEMV_MAX_ROWS rows take the GEMV on rounded operands and more go through the
 * bf16 GEMM (either way bit-identical for any thread count). */
void t5pt_linear_forward(float *y, int ldy, const float *x, int ldx, int M, const t5pt_linear *lin, float beta);
/* dx[M,K] = dy[M,N] · W + beta·dx     (gradient w.r.t. the linear's input) */
void t5pt_linear_backward(float *dx, int lddx, const float *dy, int lddy, int M, const t5pt_linear *lin, float beta);

/* ys[i][M, N_i] = x[M,K] · W_i^T (row strides ldys[i]), i < n: several linears of the same
 * input (q, k, v of one norm; the cross-attention keys and values of every decoder block)
 * as one product whose B panels are the W_i^T side by side, each packed from its own
 * weight a block at a time (no second copy of any weight): x is packed once instead of n
 * times. The same bits as n t5pt_linear_forward calls (beta 0), which it makes instead
 * when that is not one GEMM (few rows, different K, a non-fp32 compute precision). */
void t5pt_linear_forward_group(float *const ys[], const int ldys[], const float *x, int ldx, int M,
                               const t5pt_linear *const lins[], int n);

/* dx[M,K] = beta·dx + sum_i dys[i][M, N_i] · W_i (row strides lddys[i]), i < n: the input
 * gradient of linears that share their input (dq Wq + dk Wk + dv Wv) as one product over
 * the depth sum N_i, the W_i's panels stacked. The same bits as t5pt_linear_backward of
 * lins[0] with beta, then of each further linear with beta 1 (each W_i's depth is cut in
 * the same KC steps, and dx is accumulated in the same order), which it makes instead when
 * that is not one GEMM. At most T5PT_GROUP_MAX linears are fused. */
#define T5PT_GROUP_MAX 32
void t5pt_linear_backward_group(float *dx, int lddx, const float *const dys[], const int lddys[], int M,
                                const t5pt_linear *const lins[], int n, float beta);

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
