/* scalar.c — the reference kernels in plain C.
 *
 * Every vector path (avx2.c, avx512.c, neon.c, with the elementwise kernels of
 * vec_kernels.h) must agree with these functions within the tolerances stated in
 * tests/test_kernels.c. They are written for clarity first: one loop per formula, float
 * accumulation in index order.
 */
#include "simd/kernels.h"
#include "simd/bf16.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ GEMM */

/* Register tile of the scalar path. 4x16 keeps the accumulator tile small enough for
 * the compiler to keep it in registers (and to auto-vectorise the j loop). */
#define MR 4
#define NR 16

#include "simd/gemm_pack.h" /* gemm_pack_a, gemm_pack_at for this MR */

/* C[MR,NR] = (accumulate ? C : 0) + A_panel^T B_panel; a is [k][MR], b is k rows of NR, ldb apart. */
static void gemm_micro_scalar(int k, const float *a, const float *b, size_t ldb, float *c, int ldc, int accumulate) {
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (int p = 0; p < k; p++) {
        const float *ap = a + (size_t)p * MR;
        const float *bp = b + (size_t)p * ldb;
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += ap[i] * bp[j];
    }
    for (int i = 0; i < MR; i++) {
        float *ci = c + (size_t)i * ldc;
        for (int j = 0; j < NR; j++) ci[j] = accumulate ? ci[j] + acc[i][j] : acc[i][j];
    }
}

/* ------------------------------------------------------------------ RMSNorm */

/* y[n] = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps); returns rstd for the backward. */
static float rmsnorm_forward_scalar(float *y, const float *x, const float *w, int n, float eps) {
    float ss = 0.0f;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    float rstd = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * rstd * w[i];
    return rstd;
}

/* y_i = x_i r w_i with r = (mean(x^2)+eps)^-1/2, dr/dx_j = -r^3 x_j / n, so
 * dx_j = w_j dy_j r - x_j r^3 (1/n) sum_i x_i w_i dy_i.  Accumulates into dx. */
static void rmsnorm_backward_scalar(float *dx, const float *dy, const float *x, const float *w, float rstd, int n) {
    float dot = 0.0f;
    for (int i = 0; i < n; i++) dot += x[i] * w[i] * dy[i];
    float c = rstd * rstd * rstd * dot / (float)n;
    for (int i = 0; i < n; i++) dx[i] += w[i] * dy[i] * rstd - x[i] * c;
}

/* ------------------------------------------------------------------ softmax */

/* s[n] <- softmax(s + bias + mask). A row whose every entry is -inf yields zeros
 * instead of NaN (masks normally use a large finite negative number anyway). */
static void softmax_forward_scalar(float *s, const float *bias, const float *mask, int n) {
    if (n <= 0) return;
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) {
        float v = s[i];
        if (bias) v += bias[i];
        if (mask) v += mask[i];
        s[i] = v;
        if (v > mx) mx = v;
    }
    if (mx == -INFINITY) {
        memset(s, 0, (size_t)n * sizeof *s);
        return;
    }
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        s[i] = expf(s[i] - mx);
        sum += s[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) s[i] *= inv;
}

/* Jacobian of softmax: ds_i = p_i (dp_i - sum_j p_j dp_j). */
static void softmax_backward_scalar(float *ds, const float *p, const float *dp, int n) {
    float dot = 0.0f;
    for (int i = 0; i < n; i++) dot += p[i] * dp[i];
    for (int i = 0; i < n; i++) ds[i] = p[i] * (dp[i] - dot);
}

/* ------------------------------------------------------------------ activations */

static void relu_forward_scalar(float *y, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void relu_backward_scalar(float *dx, const float *dy, const float *x, int n) {
    for (int i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

/* gelu_new (HF "gelu_new", the tanh approximation):
 *   gelu(x) = 0.5 x (1 + tanh u),  u = sqrt(2/pi) (x + 0.044715 x^3).
 * Since 0.5 (1 + tanh u) = 1 / (1 + exp(-2u)) = s, we compute gelu(x) = x s: the same
 * function without the cancellation of 1 + tanh u at large negative x. The exponent
 * is capped at 88 so exp stays finite (s is ~1e-38 there, i.e. 0 for all purposes). */
static float gelu_sigmoid(float x, float *e_out) {
    float u = T5PT_GELU_C * (x + T5PT_GELU_A * x * x * x);
    float e = expf(fminf(-2.0f * u, 88.0f));
    if (e_out) *e_out = e;
    return 1.0f / (1.0f + e);
}

static float gelu1(float x) { return x * gelu_sigmoid(x, NULL); }

/* d/dx [0.5 x (1 + tanh u)] = 0.5 (1 + t) + 0.5 x (1 - t^2) u',  u' = c (1 + 3 a x^2).
 * With s = 0.5 (1 + t) and 1 - s = e s:  1 - t^2 = 4 s (1 - s), so
 *   gelu'(x) = s + 2 x u' s (e s) = s (1 + 2 x u' e s). */
static float gelu_grad1(float x) {
    float e;
    float s = gelu_sigmoid(x, &e);
    float du = T5PT_GELU_C * (1.0f + 3.0f * T5PT_GELU_A * x * x);
    return s * (1.0f + 2.0f * x * du * (e * s)); /* e s = 1 - s <= 1: no overflow */
}

static void gelu_forward_scalar(float *y, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] = gelu1(x[i]);
}

static void gelu_backward_scalar(float *dx, const float *dy, const float *x, int n) {
    for (int i = 0; i < n; i++) dx[i] = dy[i] * gelu_grad1(x[i]);
}

/* h = gelu(a) * b */
static void gated_gelu_forward_scalar(float *h, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i++) h[i] = gelu1(a[i]) * b[i];
}

/* da = dh * b * gelu'(a), db = dh * gelu(a) */
static void gated_gelu_backward_scalar(float *da, float *db, const float *dh, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i++) {
        float g = gelu1(a[i]);
        float dg = gelu_grad1(a[i]);
        da[i] = dh[i] * b[i] * dg;
        db[i] = dh[i] * g;
    }
}

/* ------------------------------------------------------------------ elementwise */

static void add_scalar(float *y, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static void acc_scalar(float *y, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += x[i];
}

static void scale_scalar(float *y, const float *x, float s, int n) {
    for (int i = 0; i < n; i++) y[i] = s * x[i];
}

static void axpy_scalar(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static float dot_scalar(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ------------------------------------------------------------------ cross-entropy */

/* log(sum_i exp(x_i)) = max + log(sum_i exp(x_i - max)): no overflow. */
static float logsumexp_scalar(const float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > mx) mx = x[i];
    if (mx == -INFINITY) return -INFINITY;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) sum += expf(x[i] - mx);
    return mx + logf(sum);
}

/* d(lse - x_target)/dx_i = softmax_i - [i == target], times scale (1 / #labels). */
static void xent_backward_scalar(float *dx, const float *x, float lse, int target, float scale, int n) {
    for (int i = 0; i < n; i++) dx[i] = scale * expf(x[i] - lse);
    if (target >= 0 && target < n) dx[target] -= scale;
}

/* ------------------------------------------------------------------ conversions */

static float bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* bf16 is the top half of an IEEE f32. */
static void bf16_to_f32_scalar(float *y, const uint16_t *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = bits_to_f32((uint32_t)x[i] << 16);
}

/* IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
static float half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13)); /* inf / nan */
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 exactly representable in f32 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

static void f16_to_f32_scalar(float *y, const uint16_t *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = half_to_f32(x[i]);
}

static void bf16_round_scalar(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = t5pt_bf16_to_f32(t5pt_f32_to_bf16(src[i]));
}

/* C[M,N] = op(A)[M,K] B[K,N], op(A)[i,p] = A[i*ai + p*ap]; each element summed over p in
 * order, as the vector paths (simd/vec_kernels.h, vec_attn_gemm, which fuse each step). */
static void attn_gemm_scalar(int M, int N, int K, const float *A, size_t ai, size_t ap, const float *B, size_t ldb,
                             float *C, size_t ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++) c[j] = 0.0f;
        for (int p = 0; p < K; p++) {
            const float a = A[(size_t)i * ai + (size_t)p * ap];
            const float *b = B + (size_t)p * ldb;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}

/* dst[c*ldd + r] = src[r*lds + c]: one element at a time. */
static void transpose_scalar(float *dst, size_t ldd, const float *src, size_t lds, int rows, int cols) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
}

static const t5pt_kernels table = {
    .name = "scalar",
    /* 256 deep x 240 rows: an A block of 240 KB */
    .gemm = {.mr = MR, .nr = NR, .kc = 256, .mc = 60 * MR, .micro = gemm_micro_scalar,
             .pack_a = gemm_pack_a, .pack_at = gemm_pack_at, .pack_bt = gemm_pack_bt},
    .rmsnorm_forward = rmsnorm_forward_scalar,
    .rmsnorm_backward = rmsnorm_backward_scalar,
    .softmax_forward = softmax_forward_scalar,
    .softmax_backward = softmax_backward_scalar,
    .relu_forward = relu_forward_scalar,
    .relu_backward = relu_backward_scalar,
    .gelu_forward = gelu_forward_scalar,
    .gelu_backward = gelu_backward_scalar,
    .gated_gelu_forward = gated_gelu_forward_scalar,
    .gated_gelu_backward = gated_gelu_backward_scalar,
    .add = add_scalar,
    .acc = acc_scalar,
    .scale = scale_scalar,
    .axpy = axpy_scalar,
    .dot = dot_scalar,
    .logsumexp = logsumexp_scalar,
    .xent_backward = xent_backward_scalar,
    .bf16_to_f32 = bf16_to_f32_scalar,
    .f16_to_f32 = f16_to_f32_scalar,
    .bf16_round = bf16_round_scalar,
    .attn_gemm = attn_gemm_scalar,
    .transpose = transpose_scalar,
};

const t5pt_kernels *t5pt_kernels_scalar(void) { return &table; }
