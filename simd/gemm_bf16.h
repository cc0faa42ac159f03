/* gemm_bf16.h — matrix products with bf16 operands and fp32 accumulation, BLIS style.
 *
 * The same products and conventions as simd/gemm.h: row-major, torch.nn.Linear weight
 * layout W[N, K] ("out, in"), beta 0 overwrites C, beta 1 accumulates. What differs is
 * the precision of the operands: each element of op(A) and op(B) is rounded to bf16
 * (round to nearest even, simd/bf16.h) while it is packed — or taken as is when the
 * operand is already stored in bf16 — and the products are summed in fp32. alpha is
 * folded into A before rounding: the product uses bf16(alpha * op(A)[i,p]).
 *
 * Both operands are packed per call (B into [kp][NR] pair panels, A one MC x KC block at
 * a time into [kp][MR] pair panels). Every C tile is computed by one thread over the
 * whole depth, cut into blocks of T5PT_BF16_KC at the same places whatever the kernel:
 * the result is bit-identical for any thread count.
 *
 * Paths and their results (simd/bf16.h gives the per-pair arithmetic):
 *  - avx512bf16 (vdpbf16ps), avx2-emul, scalar-emul and neon-emul perform the same fp32
 *    operations in the same order: bit-identical results, except where an operand, a
 *    product or a partial sum is an fp32 denormal (|x| < 2^-126), which vdpbf16ps
 *    flushes to zero and the emulations keep.
 *  - armbf16 (bfdot) sums each pair before adding it and rounds to odd: its result
 *    differs from the others in the last bits, within the same error bound as any fp32
 *    summation (|error| <= gamma_n * sum |a||b|, n = additions per element, with the
 *    unit roundoff of round-to-odd, 2^-23, in place of 2^-24).
 */
#ifndef T5PT_GEMM_BF16_H
#define T5PT_GEMM_BF16_H

#include <stddef.h>
#include <stdint.h>

#include "simd/bf16.h"

/* Element type of an operand: floats, bf16 values (uint16_t), or IEEE half values
 * (uint16_t; widened exactly to fp32, then rounded to bf16 like a float: a weight stored
 * in f16). */
typedef enum { T5PT_BF16_SRC_F32 = 0, T5PT_BF16_SRC_BF16 = 1, T5PT_BF16_SRC_F16 = 2 } t5pt_bf16_src;

/* C[M,N] = op(A)[M,K] . op(B)[K,N] (+ beta C), general form:
 * op(A) = A (row-major, row stride lda) or A^T when transA; the same for B. a_type and
 * b_type say whether A and B hold floats or bf16 values (uint16_t). threads: the most
 * threads to use (1: the calling thread only; inside a parallel region always 1).
 * kernel: NULL for the selected one (t5pt_bf16_kern), or one of simd/bf16.h's tables
 * (the tests run each). */
void t5pt_bf16_gemm_ex(int transA, int transB, int M, int N, int K, float alpha, const void *A, t5pt_bf16_src a_type,
                       int lda, const void *B, t5pt_bf16_src b_type, int ldb, float beta, float *C, int ldc,
                       int threads, const t5pt_bf16_kernel *kernel);

/* t5pt_sgemm / t5pt_sgemm_parallel with fp32 operands rounded to bf16. */
void t5pt_bf16_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);
void t5pt_bf16_sgemm_parallel(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                              const float *B, int ldb, float beta, float *C, int ldc);

/* The two products of a linear layer W[N,K], on all threads:
 *   forward   y[M,N]  = x[M,K]  . W^T + beta y
 *   backward  dx[M,K] = dy[M,N] . W   + beta dx
 * with W in fp32 (rounded while packed) or stored in bf16 (_w16). */
void t5pt_bf16_linear_forward(float *y, int ldy, const float *x, int ldx, int M, const float *W, int N, int K,
                              float beta);
void t5pt_bf16_linear_backward(float *dx, int lddx, const float *dy, int lddy, int M, const float *W, int N, int K,
                               float beta);
void t5pt_bf16_linear_forward_w16(float *y, int ldy, const float *x, int ldx, int M, const uint16_t *W, int N, int K,
                                  float beta);
void t5pt_bf16_linear_backward_w16(float *dx, int lddx, const float *dy, int lddy, int M, const uint16_t *W, int N,
                                   int K, float beta);

/* Tests only: the kernel every product above uses when given none (NULL: the selected
 * one again, t5pt_bf16_kern). Not thread-safe: set it before the products run. */
void t5pt_bf16_force_kernel(const t5pt_bf16_kernel *kernel);

/* Rows of floats rounded to bf16 (round to nearest even): dst[i] = bf16(src[i]), e.g. to
 * store a weight once in bf16 for the _w16 products. */
void t5pt_f32_to_bf16_row(uint16_t *dst, const float *src, size_t n);

#endif
