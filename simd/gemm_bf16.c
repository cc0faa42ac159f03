/* gemm_bf16.c — bf16 x bf16 -> fp32 matrix products, BLIS style, in portable C.
 *
 * The structure of simd/gemm.c, over K-pairs (simd/bf16.h):
 *   op(B) is packed per call into column panels of NR: panel jp is [K/2][NR] uint32
 *     pairs (zero past N and past K), each element rounded to bf16 as it is copied.
 *   op(A) is packed one block of MC rows x T5PT_BF16_KC depth at a time into
 *     micro-panels [kc/2][MR] (alpha folded in before rounding), sized for L2.
 *   The selected kernel's register micro-kernel computes one MR x NR tile of C from one
 *     A and one B micro-panel; edge tiles go through a scratch tile.
 * Loop order ic (MC rows) > pc (KC depth) > jr (NR panels) > ir (MR tiles), as in
 * simd/gemm.c. Each C tile is owned by one thread for the whole depth, and the depth is
 * cut at multiples of T5PT_BF16_KC on every path: bit-identical for any thread count.
 */
#include "simd/gemm_bf16.h"

#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "simd/kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* uint32 pairs between consecutive packed B panels over the whole depth. */
static size_t panel_stride(int K, int nr) { return round16((size_t)((K + 1) / 2) * nr); }

/* ------------------------------------------------------------------ operands */

/* A matrix seen as rows r x depth p: element (r, p) is at p_[r*ld + p] (trans = 0) or
 * p_[p*ld + r] (trans = 1), as a float or a bf16. alpha scales before rounding. */
typedef struct {
    const void *data;
    t5pt_bf16_src type;
    int trans;
    size_t ld;
    float alpha;
} operand;

/* IEEE binary16 -> fp32, exact (every half is a float). */
static inline float f16_value(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, mant = h & 0x3ffu, u;
    if (e == 0x1f) {
        u = sign | 0x7f800000u | mant << 13;                  /* Inf, NaN */
    } else if (e != 0) {
        u = sign | (e + 112u) << 23 | mant << 13;             /* normal: rebias 15 -> 127 */
    } else {
        float f = (float)mant * 5.9604644775390625e-8f;       /* subnormal: mant * 2^-24, exact */
        memcpy(&u, &f, sizeof u);
        u |= sign;
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint16_t elem(const operand *o, int r, int p) {
    size_t idx = o->trans ? (size_t)p * o->ld + (size_t)r : (size_t)r * o->ld + (size_t)p;
    if (o->type == T5PT_BF16_SRC_BF16) {
        uint16_t h = ((const uint16_t *)o->data)[idx];
        return o->alpha == 1.0f ? h : t5pt_f32_to_bf16(o->alpha * t5pt_bf16_to_f32(h));
    }
    float v = o->type == T5PT_BF16_SRC_F16 ? f16_value(((const uint16_t *)o->data)[idx]) : ((const float *)o->data)[idx];
    return t5pt_f32_to_bf16(o->alpha == 1.0f ? v : o->alpha * v);
}

static inline uint32_t pair(const operand *o, int r, int p, int K) {
    uint32_t lo = elem(o, r, p), hi = p + 1 < K ? elem(o, r, p + 1) : 0u;
    return lo | hi << 16;
}

/* t5pt_f32_to_bf16 on the bits, written without a branch so that the packing loops
 * below vectorise: NaN -> quiet NaN, everything else rounded to nearest even. */
static inline uint32_t round_bits(uint32_t u) {
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (u & 0x7fffffffu) > 0x7f800000u ? ((u >> 16) | 0x0040u) : r;
}

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Rows [r0, r0+h) x depth [p0, p0+kc) as pairs: dst[q*w + i] = pair(r0+i, p0+2q), rows
 * h..w-1 zero, the element past K zero. The pairs whose two elements both lie inside K
 * take a fast path per storage order and type; the odd last one the general one. */
static void pack_pairs(uint32_t *dst, const operand *o, int r0, int h, int w, int p0, int kc, int K) {
    const int kp = (kc + 1) / 2;
    const int full = (K - p0) / 2 < kp ? (K - p0) / 2 : kp; /* pairs with both elements < K */
    const float alpha = o->alpha;
    const size_t ld = o->ld;
    if (!o->trans) {
        /* row r holds its depth contiguously: a pair is two neighbours */
        for (int i = 0; i < h; i++) {
            size_t row = (size_t)(r0 + i) * ld + (size_t)p0;
            uint32_t *d = dst + i;
            if (o->type == T5PT_BF16_SRC_BF16 && alpha == 1.0f) {
                const uint16_t *s = (const uint16_t *)o->data + row;
                for (int q = 0; q < full; q++) d[(size_t)q * w] = (uint32_t)s[2 * q] | (uint32_t)s[2 * q + 1] << 16;
            } else if (o->type == T5PT_BF16_SRC_F32) {
                const float *s = (const float *)o->data + row;
                for (int q = 0; q < full; q++)
                    d[(size_t)q * w] = round_bits(f32_bits(alpha * s[2 * q])) | round_bits(f32_bits(alpha * s[2 * q + 1])) << 16;
            } else {
                for (int q = 0; q < full; q++) d[(size_t)q * w] = pair(o, r0 + i, p0 + 2 * q, K);
            }
        }
    } else {
        /* depth p holds the rows contiguously: a pair comes from two source rows */
        for (int q = 0; q < full; q++) {
            size_t even = (size_t)(p0 + 2 * q) * ld + (size_t)r0, odd = even + ld;
            uint32_t *d = dst + (size_t)q * w;
            if (o->type == T5PT_BF16_SRC_BF16 && alpha == 1.0f) {
                const uint16_t *s = (const uint16_t *)o->data;
                for (int i = 0; i < h; i++) d[i] = (uint32_t)s[even + i] | (uint32_t)s[odd + i] << 16;
            } else if (o->type == T5PT_BF16_SRC_F32) {
                const float *s = (const float *)o->data;
                for (int i = 0; i < h; i++)
                    d[i] = round_bits(f32_bits(alpha * s[even + i])) | round_bits(f32_bits(alpha * s[odd + i])) << 16;
            } else {
                for (int i = 0; i < h; i++) d[i] = pair(o, r0 + i, p0 + 2 * q, K);
            }
        }
    }
    for (int q = full; q < kp; q++) /* the last pair when K is odd: its odd element is 0 */
        for (int i = 0; i < h; i++) dst[(size_t)q * w + i] = pair(o, r0 + i, p0 + 2 * q, K);
    if (h < w)
        for (int q = 0; q < kp; q++) memset(dst + (size_t)q * w + h, 0, (size_t)(w - h) * sizeof(uint32_t));
}

/* For kernels with a_split: the pairs of one packed A micro-panel [kp][mr] widened in
 * place to [kp][mr][2] floats, odd element first. Walks backwards, so every pair is read
 * before its slot is written over (slot 2k, 2k+1 >= k). */
static void split_pairs(uint32_t *buf, size_t n) {
    for (size_t k = n; k-- > 0;) {
        uint32_t pr = buf[k];
        buf[2 * k] = pr & 0xffff0000u;
        buf[2 * k + 1] = pr << 16;
    }
}

/* For kernels with b_split: one packed B panel [kp][nr] of pairs widened in place to
 * [kp][2][nr] floats (the odd elements' row, then the even ones'). Backwards, through a
 * copy of the nr pairs of each step, so nothing is overwritten before it is read. */
static void split_panel(uint32_t *buf, int kp, int nr) {
    uint32_t tmp[T5PT_BF16_MAX_NR];
    for (int q = kp; q-- > 0;) {
        memcpy(tmp, buf + (size_t)q * nr, (size_t)nr * sizeof(uint32_t));
        uint32_t *odd = buf + (size_t)2 * q * nr, *even = odd + nr;
        for (int j = 0; j < nr; j++) {
            odd[j] = tmp[j] & 0xffff0000u;
            even[j] = tmp[j] << 16;
        }
    }
}

/* ------------------------------------------------------------------ macro kernel */

typedef struct {
    const t5pt_bf16_kernel *bk;
    int M, N, K;
    operand a;           /* op(A) as rows i x depth p */
    operand b;           /* op(B)^T as rows j x depth p (for the out-of-memory fallback) */
    const uint32_t *Bp;  /* packed B panels, stride panel_stride(K, nr) */
    float beta;
    float *C;
    int ldc;
} gemm_job;

/* C[i0:i1, panels jp0:jp1] for one thread; abuf holds an MC x KC block of A pairs. */
static void gemm_range(const gemm_job *g, int i0, int i1, int jp0, int jp1, uint32_t *abuf) {
    const t5pt_bf16_kernel *bk = g->bk;
    const int mr = bk->mr, nr = bk->nr;
    const size_t bstride = panel_stride(g->K, nr) * (bk->b_split ? 2 : 1);
    float tile[T5PT_BF16_MAX_MR * T5PT_BF16_MAX_NR] __attribute__((aligned(64)));
    int jcol0 = jp0 * nr, jcol1 = jp1 * nr < g->N ? jp1 * nr : g->N;

    if (g->beta != 0.0f && g->beta != 1.0f)
        for (int i = i0; i < i1; i++) {
            float *c = g->C + (size_t)i * g->ldc;
            for (int j = jcol0; j < jcol1; j++) c[j] *= g->beta;
        }
    if (g->K == 0) {
        if (g->beta == 0.0f)
            for (int i = i0; i < i1; i++)
                memset(g->C + (size_t)i * g->ldc + jcol0, 0, (size_t)(jcol1 - jcol0) * sizeof(float));
        return;
    }
    for (int ic = i0; ic < i1; ic += bk->mc) {
        int mc = i1 - ic < bk->mc ? i1 - ic : bk->mc;
        for (int pc = 0; pc < g->K; pc += T5PT_BF16_KC) {
            int kc = g->K - pc < T5PT_BF16_KC ? g->K - pc : T5PT_BF16_KC, kp = (kc + 1) / 2;
            int accumulate = pc > 0 || g->beta != 0.0f;
            size_t astride = round16((size_t)kp * mr * (bk->a_split ? 2 : 1));
            for (int ir = 0; ir < mc; ir += mr) {
                int h = mc - ir < mr ? mc - ir : mr;
                uint32_t *ap = abuf + (size_t)(ir / mr) * astride;
                pack_pairs(ap, &g->a, ic + ir, h, mr, pc, kc, g->K);
                if (bk->a_split) split_pairs(ap, (size_t)kp * mr);
            }
            for (int jp = jp0; jp < jp1; jp++) {
                const uint32_t *bp = g->Bp + (size_t)jp * bstride + (size_t)(pc / 2) * nr * (bk->b_split ? 2 : 1);
                int j = jp * nr, w = g->N - j < nr ? g->N - j : nr;
                for (int ir = 0; ir < mc; ir += mr) {
                    const uint32_t *ap = abuf + (size_t)(ir / mr) * astride;
                    float *c = g->C + (size_t)(ic + ir) * g->ldc + j;
                    int h = mc - ir < mr ? mc - ir : mr;
                    if (h == mr && w == nr) {
                        bk->micro(kp, ap, bp, c, g->ldc, accumulate);
                    } else {
                        if (accumulate)
                            for (int ii = 0; ii < h; ii++)
                                memcpy(tile + ii * nr, c + (size_t)ii * g->ldc, (size_t)w * sizeof(float));
                        bk->micro(kp, ap, bp, tile, nr, accumulate);
                        for (int ii = 0; ii < h; ii++)
                            memcpy(c + (size_t)ii * g->ldc, tile + ii * nr, (size_t)w * sizeof(float));
                    }
                }
            }
        }
    }
}

/* The same arithmetic as the x86 kernels and the emulations (simd/bf16.h), one element
 * at a time, for when a packing buffer cannot be allocated (these products have no
 * error return). */
static void gemm_range_naive(const gemm_job *g, int i0, int i1, int j0, int j1) {
    for (int i = i0; i < i1; i++)
        for (int j = j0; j < j1; j++) {
            float *c = g->C + (size_t)i * g->ldc + j;
            float out = g->beta == 0.0f ? 0.0f : g->beta == 1.0f ? *c : g->beta * *c;
            for (int pc = 0; pc < g->K; pc += T5PT_BF16_KC) {
                int kc = g->K - pc < T5PT_BF16_KC ? g->K - pc : T5PT_BF16_KC;
                float s = 0.0f;
                for (int p = pc; p < pc + kc; p += 2) {
                    uint32_t a = pair(&g->a, i, p, g->K), b = pair(&g->b, j, p, g->K);
                    s += t5pt_bf16_to_f32((uint16_t)(a >> 16)) * t5pt_bf16_to_f32((uint16_t)(b >> 16));
                    s += t5pt_bf16_to_f32((uint16_t)a) * t5pt_bf16_to_f32((uint16_t)b);
                }
                out = (pc == 0 && g->beta == 0.0f) ? s : out + s;
            }
            *c = out;
        }
}

/* Work units of whole tiles (MC-row blocks, and panel groups when M is short), taken by
 * up to max_threads threads in turn; see gemm_run in simd/gemm.c. */
static void gemm_run(const gemm_job *g, int max_threads) {
    const int mr = g->bk->mr, nr = g->bk->nr, mc = g->bk->mc;
    int npanels = (g->N + nr - 1) / nr;
    int nt = max_threads;
#ifdef _OPENMP
    if (omp_in_parallel()) nt = 1;
#else
    nt = 1;
#endif
    double mflop = 2e-6 * g->M * g->N * (double)g->K;
    if (nt > 1 && mflop < 4.0 * nt) nt = mflop < 8.0 ? 1 : (int)(mflop / 4.0);
    if (nt < 1) nt = 1;
    int mblocks = (g->M + mc - 1) / mc, nblocks = 1;
    if (nt > 1 && mblocks < 4 * nt) {
        nblocks = (4 * nt + mblocks - 1) / mblocks;
        if (nblocks > npanels) nblocks = npanels;
    }
    int per = (npanels + nblocks - 1) / nblocks;
    nblocks = (npanels + per - 1) / per;
    int units = mblocks * nblocks;
    if (nt > units) nt = units;
    int rows = g->M < mc ? g->M : mc, depth = g->K < T5PT_BF16_KC ? g->K : T5PT_BF16_KC;
    size_t abuf_words = (size_t)((rows + mr - 1) / mr) * round16((size_t)((depth + 1) / 2) * mr * (g->bk->a_split ? 2 : 1));

#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1)
#endif
    {
        uint32_t *abuf = t5pt_alloc_aligned((abuf_words ? abuf_words : 16) * sizeof(uint32_t));
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int u = 0; u < units; u++) {
            int ib = u / nblocks, jb = u % nblocks;
            int i0 = ib * mc, i1 = i0 + mc < g->M ? i0 + mc : g->M;
            int jp0 = jb * per, jp1 = jp0 + per < npanels ? jp0 + per : npanels;
            if (abuf)
                gemm_range(g, i0, i1, jp0, jp1, abuf);
            else
                gemm_range_naive(g, i0, i1, jp0 * nr, jp1 * nr < g->N ? jp1 * nr : g->N);
        }
        t5pt_free_aligned(abuf);
    }
}

/* ------------------------------------------------------------------ entry points */

static const t5pt_bf16_kernel *forced_kernel; /* t5pt_bf16_force_kernel */

void t5pt_bf16_force_kernel(const t5pt_bf16_kernel *kernel) { forced_kernel = kernel; }

void t5pt_bf16_gemm_ex(int transA, int transB, int M, int N, int K, float alpha, const void *A, t5pt_bf16_src a_type,
                       int lda, const void *B, t5pt_bf16_src b_type, int ldb, float beta, float *C, int ldc,
                       int threads, const t5pt_bf16_kernel *kernel) {
    if (M <= 0 || N <= 0) return;
    if (K < 0) K = 0;
    const t5pt_bf16_kernel *bk = kernel ? kernel : forced_kernel ? forced_kernel : t5pt_bf16_kern();
    gemm_job g = {.bk = bk, .M = M, .N = N, .K = K, .beta = beta, .C = C, .ldc = ldc};
    g.a = (operand){.data = A, .type = a_type, .trans = transA, .ld = (size_t)lda, .alpha = alpha};
    /* op(B)^T[j][p] = op(B)[p][j] = transB ? B[j*ldb + p] : B[p*ldb + j] */
    g.b = (operand){.data = B, .type = b_type, .trans = !transB, .ld = (size_t)ldb, .alpha = 1.0f};
    uint32_t *bp = NULL;
    if (K > 0) {
        const int nr = bk->nr, panels = (N + nr - 1) / nr;
        const size_t stride = panel_stride(K, nr) * (bk->b_split ? 2 : 1);
        bp = t5pt_alloc_aligned((size_t)panels * stride * sizeof(uint32_t));
        if (!bp) {
            gemm_range_naive(&g, 0, M, 0, N);
            return;
        }
#ifdef _OPENMP
        int nt = threads;
        if (omp_in_parallel() || (double)N * K < 65536.0) nt = 1;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
        for (int jp = 0; jp < panels; jp++) {
            int j0 = jp * nr, w = N - j0 < nr ? N - j0 : nr;
            pack_pairs(bp + (size_t)jp * stride, &g.b, j0, w, nr, 0, K, K);
            if (bk->b_split) split_panel(bp + (size_t)jp * stride, (K + 1) / 2, nr);
        }
    }
    g.Bp = bp;
    gemm_run(&g, threads);
    t5pt_free_aligned(bp);
}

void t5pt_bf16_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    t5pt_bf16_gemm_ex(transA, transB, M, N, K, alpha, A, T5PT_BF16_SRC_F32, lda, B, T5PT_BF16_SRC_F32, ldb, beta, C,
                      ldc, 1, NULL);
}

void t5pt_bf16_sgemm_parallel(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                              const float *B, int ldb, float beta, float *C, int ldc) {
    t5pt_bf16_gemm_ex(transA, transB, M, N, K, alpha, A, T5PT_BF16_SRC_F32, lda, B, T5PT_BF16_SRC_F32, ldb, beta, C,
                      ldc, t5pt_num_threads(), NULL);
}

/* y = x W^T: op(B) = W^T, i.e. B = W [N,K] transposed. dx = dy W: op(B) = W as stored. */
void t5pt_bf16_linear_forward(float *y, int ldy, const float *x, int ldx, int M, const float *W, int N, int K,
                              float beta) {
    t5pt_bf16_gemm_ex(0, 1, M, N, K, 1.0f, x, T5PT_BF16_SRC_F32, ldx, W, T5PT_BF16_SRC_F32, K, beta, y, ldy,
                      t5pt_num_threads(), NULL);
}

void t5pt_bf16_linear_backward(float *dx, int lddx, const float *dy, int lddy, int M, const float *W, int N, int K,
                               float beta) {
    t5pt_bf16_gemm_ex(0, 0, M, K, N, 1.0f, dy, T5PT_BF16_SRC_F32, lddy, W, T5PT_BF16_SRC_F32, K, beta, dx, lddx,
                      t5pt_num_threads(), NULL);
}

void t5pt_bf16_linear_forward_w16(float *y, int ldy, const float *x, int ldx, int M, const uint16_t *W, int N, int K,
                                  float beta) {
    t5pt_bf16_gemm_ex(0, 1, M, N, K, 1.0f, x, T5PT_BF16_SRC_F32, ldx, W, T5PT_BF16_SRC_BF16, K, beta, y, ldy,
                      t5pt_num_threads(), NULL);
}

void t5pt_bf16_linear_backward_w16(float *dx, int lddx, const float *dy, int lddy, int M, const uint16_t *W, int N,
                                   int K, float beta) {
    t5pt_bf16_gemm_ex(0, 0, M, K, N, 1.0f, dy, T5PT_BF16_SRC_F32, lddy, W, T5PT_BF16_SRC_BF16, K, beta, dx, lddx,
                      t5pt_num_threads(), NULL);
}

void t5pt_f32_to_bf16_row(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = t5pt_f32_to_bf16(src[i]);
}
