/* gemm.c — single-precision matrix products, BLIS style, in portable C.
 *
 * C[M,N] = alpha op(A)[M,K] · B[K,N] + beta·C is computed in three levels:
 *   B is packed per call into column panels of NR (each [K][NR], zero-padded past N).
 *     A frozen weight (W^T for the forward, W for the backward) is packed one block of
 *     panels at a time (about PACK_BLOCK_BYTES, widened from bf16/f16 on the way), so no
 *     packed copy outlives the call. (Reading an fp32 W in place as the backward's B
 *     operand - the micro-kernel takes a B row stride for that - measured 0.5-0.9x the
 *     packed speed on this project's 2-core AVX2 machine at K = 2048: rows 8 KB apart
 *     fall into the same cache sets. So the backward packs too; BENCHMARKS.md.)
 *     When only a few rows of x (dy) share that packing, roles swap instead: W (W^T) is
 *     the A operand, a block at a time, x^T (dy^T) is B, and the tile is stored transposed
 *     (linear_product_wa).
 *   A is packed per call, one block of MC rows x KC depth at a time, into micro-panels
 *     [KC][MR] (zero-padded past M; alpha folded in), sized to stay in L2.
 *   The register micro-kernel of the selected ISA (kernels.h: t5pt_gemm_kernel) computes
 *     one MR x NR tile of C from one A micro-panel and one B micro-panel; edge tiles go
 *     through a scratch tile, so any M, N, K is handled by the same micro-kernel.
 * MR, NR, KC and MC are what the ISA's table declares; nothing here depends on which ISA
 * it is. (Measured on an AMD Zen 5, BENCHMARKS.md: a deep KC, which halves the
 * read-modify-write passes over C, beats a B micro-panel that fits L1, because the L2
 * streams the B panel fast enough.)
 *
 * Grouped products (t5pt_linear_forward_group / _backward_group): several linears of one
 * input are one product whose B panels are their W^T side by side (each panel writes to its
 * own linear's output: gemm_job.cpan), and the input gradient of several linears is one
 * product over their stacked depths (gemm_job.aseg, each segment cut in KC steps of its
 * own); every C element keeps the sums, in the order, of the separate products.
 *
 * Determinism: the depth is always cut at the same multiples of KC and every C tile
 * is computed by exactly one thread, which runs the whole depth loop in order.
 * Threads only share out whole tiles, so the result is bit-identical for any thread
 * count and schedule. The depth is never split across threads.
 */
#include "simd/gemm.h"
#include "simd/gemm_bf16.h"

#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "simd/kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Floats between consecutive packed B panels of depth K (kept 64-byte aligned). */
static size_t panel_stride(int K, int nr) { return round16((size_t)K * nr); }

/* ------------------------------------------------------------------ packing */

/* Packs op(B)[K,N] into panels [K][nr]: panel jp holds columns jp*nr .. jp*nr+nr-1,
 * out[jp*stride + p*nr + jj] = op(B)[p, jp*nr + jj] (0 past N).
 * op(B)[p,j] = transB ? B[j*ldb + p] : B[p*ldb + j]. */
static void pack_b(float *out, const float *B, int ldb, int transB, int K, int N, int nr, int threads) {
    size_t stride = panel_stride(K, nr);
    int panels = (N + nr - 1) / nr;
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && !omp_in_parallel())
#endif
    for (int jp = 0; jp < panels; jp++) {
        float *dst = out + (size_t)jp * stride;
        int j0 = jp * nr;
        int w = N - j0 < nr ? N - j0 : nr;
        if (!transB) {
            for (int p = 0; p < K; p++) {
                const float *src = B + (size_t)p * ldb + j0;
                float *d = dst + (size_t)p * nr;
                for (int jj = 0; jj < w; jj++) d[jj] = src[jj];
                for (int jj = w; jj < nr; jj++) d[jj] = 0.0f;
            }
        } else {
            /* transposed source: walk each source row (one output column) contiguously */
            for (int jj = 0; jj < nr; jj++) {
                if (jj < w) {
                    const float *src = B + (size_t)(j0 + jj) * ldb;
                    for (int p = 0; p < K; p++) dst[(size_t)p * nr + jj] = src[p];
                } else {
                    for (int p = 0; p < K; p++) dst[(size_t)p * nr + jj] = 0.0f;
                }
            }
        }
    }
}

/* Packs rows [i0, i0+mc) x depth [p0, p0+kc) of alpha·op(A) into micro-panels [kc][mr]
 * (micro-panel stride round16(kc*mr)); rows past mc are zero.
 * op(A)[i,p] = transA ? A[p*lda + i] : A[i*lda + p]. */
static void pack_a(float *out, const float *A, int lda, int transA, float alpha, int i0, int mc, int p0, int kc,
                   const t5pt_gemm_kernel *gk) {
    const int mr = gk->mr;
    size_t stride = round16((size_t)kc * mr);
    for (int ir = 0; ir < mc; ir += mr) {
        float *dst = out + (size_t)(ir / mr) * stride;
        int h = mc - ir < mr ? mc - ir : mr;
        if (!transA && h == mr) {
            gk->pack_a(dst, A + (size_t)(i0 + ir) * lda + p0, (size_t)lda, kc, alpha);
        } else if (!transA) {
            /* bottom edge: h < mr rows, the rest zero */
            for (int p = 0; p < kc; p++) {
                float *d = dst + (size_t)p * mr;
                for (int ii = 0; ii < h; ii++) d[ii] = alpha * A[(size_t)(i0 + ir + ii) * lda + p0 + p];
                for (int ii = h; ii < mr; ii++) d[ii] = 0.0f;
            }
        } else if (h == mr) {
            /* transposed A: each depth step is mr contiguous floats, a plain copy */
            gk->pack_at(dst, A + (size_t)p0 * lda + i0 + ir, (size_t)lda, kc, alpha);
        } else {
            for (int p = 0; p < kc; p++) {
                const float *src = A + (size_t)(p0 + p) * lda + i0 + ir;
                float *d = dst + (size_t)p * mr;
                for (int ii = 0; ii < h; ii++) d[ii] = alpha * src[ii];
                for (int ii = h; ii < mr; ii++) d[ii] = 0.0f;
            }
        }
    }
}

/* Address of stored element i of W. */
static const void *w_at(const t5pt_linear *lin, size_t i) {
    return (const char *)lin->W + i * t5pt_wtype_size(lin->type);
}

/* pack_a for A = rows [i0, i0+mc) x depth [p0, p0+kc) of a linear's W[N,K] (trans 0)
 * or of W^T (trans 1), alpha 1. W: fp32 full micro-panels straight from W; bf16/f16
 * ones, and the ragged last one, from the rows widened into wbuf [mr][kc] (zero rows
 * past mc). W^T: each depth step is a piece of one W row, copied (widened) in place.
 * Copies only, so the packed values are those pack_wt / pack_w give the B operand. */
static void pack_a_w(float *out, const t5pt_linear *lin, int trans, int i0, int mc, int p0, int kc,
                     const t5pt_gemm_kernel *gk, float *wbuf) {
    const int mr = gk->mr, K = lin->K;
    size_t stride = round16((size_t)kc * mr);
    for (int ir = 0; ir < mc; ir += mr) {
        float *dst = out + (size_t)(ir / mr) * stride;
        int h = mc - ir < mr ? mc - ir : mr;
        size_t row0 = (size_t)(i0 + ir) * K + (size_t)p0;
        if (trans) {
            size_t at0 = (size_t)p0 * K + (size_t)(i0 + ir); /* W[p0, i0+ir] */
            if (h == mr && lin->type == T5PT_WF32) {
                gk->pack_at(dst, (const float *)lin->W + at0, (size_t)K, kc, 1.0f);
            } else {
                for (int p = 0; p < kc; p++) {
                    float *d = dst + (size_t)p * mr;
                    t5pt_widen(d, w_at(lin, at0 + (size_t)p * K), lin->type, (size_t)h);
                    for (int ii = h; ii < mr; ii++) d[ii] = 0.0f;
                }
            }
        } else if (h == mr && lin->type == T5PT_WF32) {
            gk->pack_a(dst, (const float *)lin->W + row0, (size_t)K, kc, 1.0f);
        } else {
            for (int ii = 0; ii < mr; ii++) {
                if (ii < h)
                    t5pt_widen(wbuf + (size_t)ii * kc, w_at(lin, row0 + (size_t)ii * K), lin->type, (size_t)kc);
                else
                    memset(wbuf + (size_t)ii * kc, 0, (size_t)kc * sizeof(float));
            }
            gk->pack_a(dst, wbuf, (size_t)kc, kc, 1.0f);
        }
    }
}

/* ------------------------------------------------------------------ macro kernel */

/* One product C = alpha op(A) B + beta C with B already packed: what every thread
 * needs to compute its share. */
typedef struct {
    const t5pt_gemm_kernel *gk;
    int M, N, K;
    const float *A;
    int lda, transA;
    float alpha;
    const float *Bp; /* B panels: panel jp, depth p at Bp + jp*bpanel + p*bld */
    size_t bpanel;   /* floats between panels: panel_stride(K, nr) packed, nr read in place */
    size_t bld;      /* floats between depth steps of a panel: nr packed, ldb read in place */
    const float *B;  /* the unpacked op(B) source, for the out-of-memory fallback */
    int ldb, transB;
    float beta;
    float *C;
    int ldc;
    const t5pt_linear *aw; /* when set, A is this linear's W[N,K] (widened while packed), not A */
    int aw_trans;          /* ... or its W^T[K,N] */
    int transC;      /* C is stored transposed: element (i, j) at C[j*ldc + i] */
    /* A grouped product (t5pt_linear_forward_group): when set, the columns of B panel jp
     * go to cpan[jp] instead of C (N is then a whole number of panels; beta 0, no transC) */
    const struct gemm_cpanel *cpan;
    /* A grouped backward (t5pt_linear_backward_group): when set, the depth is naseg
     * segments, segment s of aseg[s].K steps read from its own A (the B panels hold the
     * segments' rows one after the other); each segment is cut in KC steps of its own */
    const struct gemm_aseg *aseg;
    int naseg;
    int mc;          /* rows per A block (gemm_run sets it: the ISA's MC, or all rows, see there) */
    int depth_outer; /* loop order pc > ic instead of ic > pc (gemm_range) */
} gemm_job;

/* One depth segment of a grouped backward: A [M, K] (row stride lda), at depth boff of the
 * B panels. */
typedef struct gemm_aseg {
    const float *A;
    int lda, K, boff;
} gemm_aseg;

/* Where the columns of one B panel of a grouped product go: element (i, jj) of the panel
 * at c[i*ldc + jj], jj < w (the panels of each linear start a new panel, so a panel never
 * straddles two outputs; past a linear's last column the panel is zero padding). */
typedef struct gemm_cpanel {
    float *c;
    int ldc, w;
} gemm_cpanel;

/* Address of element (i, j) of C; NULL for a padding column of a grouped product. */
static float *c_at(const gemm_job *g, int i, int j) {
    if (g->cpan) {
        const gemm_cpanel *cp = &g->cpan[j / g->gk->nr];
        int jj = j % g->gk->nr;
        return jj < cp->w ? cp->c + (size_t)i * cp->ldc + jj : NULL;
    }
    return g->transC ? g->C + (size_t)j * g->ldc + i : g->C + (size_t)i * g->ldc + j;
}

/* One A block (rows [ic, ic+mc), depth [pc, pc+kc)) times B panels [jp0, jp1): packs the A
 * block into abuf, then runs the micro-kernel over every tile (tile: the scratch tile). */
static void gemm_block(const gemm_job *g, const gemm_aseg *sg, int ic, int mc, int pc, int kc, int accumulate,
                       int jp0, int jp1, float *abuf, float *wbuf, float *tile) {
    const t5pt_gemm_kernel *gk = g->gk;
    const int mr = gk->mr, nr = gk->nr;
    size_t astride = round16((size_t)kc * mr);
    if (g->aw)
        pack_a_w(abuf, g->aw, g->aw_trans, ic, mc, pc, kc, gk, wbuf);
    else
        pack_a(abuf, sg->A, sg->lda, g->transA, g->alpha, ic, mc, pc, kc, gk);
    for (int jp = jp0; jp < jp1; jp++) {
        const float *bp = g->Bp + (size_t)jp * g->bpanel + (size_t)(sg->boff + pc) * g->bld;
        int j = jp * nr;
        int w = g->N - j < nr ? g->N - j : nr;
        float *cj = g->C + j; /* row 0 of this panel's columns */
        int ldc = g->ldc;
        if (g->cpan) cj = g->cpan[jp].c, ldc = g->cpan[jp].ldc, w = g->cpan[jp].w;
        for (int ir = 0; ir < mc; ir += mr) {
            const float *ap = abuf + (size_t)(ir / mr) * astride;
            float *c = g->transC ? NULL : cj + (size_t)(ic + ir) * ldc;
            int h = mc - ir < mr ? mc - ir : mr;
            if (g->transC) {
                /* C^T (never a grouped product): the micro-kernel's new sums go to the
                 * scratch tile, and are added to C^T on the way out. The micro-kernel would
                 * have added them to C with one addition each (kernels.h), and a + b is
                 * b + a, so the bits are those of a direct store; C^T is not read into the
                 * tile first (without that element-by-element gather the lm_head's backward
                 * shape runs 1.10-1.20x faster: BENCHMARKS.md, "Issue 14, second session"). */
                gk->micro(kc, ap, bp, g->bld, tile, nr, 0);
                float *ct = g->C + (size_t)j * g->ldc + ic + ir; /* C^T row j, column ic + ir */
                for (int jj = 0; jj < w; jj++, ct += g->ldc) {
                    if (accumulate)
                        for (int ii = 0; ii < h; ii++) ct[ii] += tile[ii * nr + jj];
                    else
                        for (int ii = 0; ii < h; ii++) ct[ii] = tile[ii * nr + jj];
                }
            } else if (h == mr && w == nr) {
                gk->micro(kc, ap, bp, g->bld, c, ldc, accumulate);
            } else {
                /* edge tile: compute into a full-size scratch tile, copy the valid part */
                if (accumulate)
                    for (int ii = 0; ii < h; ii++)
                        memcpy(tile + ii * nr, c + (size_t)ii * ldc, (size_t)w * sizeof(float));
                gk->micro(kc, ap, bp, g->bld, tile, nr, accumulate);
                for (int ii = 0; ii < h; ii++)
                    memcpy(c + (size_t)ii * ldc, tile + ii * nr, (size_t)w * sizeof(float));
            }
        }
    }
}

/* C[i0:i1, panels jp0:jp1] for one thread. abuf holds MC*KC packed A floats (+ padding). */
static void gemm_range(const gemm_job *g, int i0, int i1, int jp0, int jp1, float *abuf, float *wbuf) {
    const t5pt_gemm_kernel *gk = g->gk;
    const int nr = gk->nr;
    float tile[T5PT_GEMM_MAX_MR * T5PT_GEMM_MAX_NR] __attribute__((aligned(64)));
    int jcol0 = jp0 * nr, jcol1 = jp1 * nr < g->N ? jp1 * nr : g->N;

    /* beta other than 0 and 1: scale our part of C once, then accumulate into it */
    if (g->beta != 0.0f && g->beta != 1.0f)
        for (int i = i0; i < i1; i++)
            for (int j = jcol0; j < jcol1; j++) {
                float *c = c_at(g, i, j);
                if (c) *c *= g->beta;
            }
    if (g->K == 0) {
        if (g->beta == 0.0f)
            for (int i = i0; i < i1; i++)
                for (int j = jcol0; j < jcol1; j++) {
                    float *c = c_at(g, i, j);
                    if (c) *c = 0.0f;
                }
        return;
    }

    /* Loop order ic (MC rows) > pc (KC depth) > jr (NR panels) > ir (MR tiles): one
     * packed A block serves every B panel; a B micro-panel is reused by the MC/MR tiles
     * of the block while it is hot. (The BLIS order pc > ic, which keeps a KC x N slab
     * of B in L2, measured ~8% slower on the benchmark machine.) A deep product with
     * few columns (depth_outer: the lm_head's backward, depth V) takes pc > ic: its B
     * slab of KC x N stays in L2 and B streams from memory once, not once per row block. */
    const gemm_aseg one = {.A = g->A, .lda = g->lda, .K = g->K, .boff = 0};
    const gemm_aseg *segs = g->aseg ? g->aseg : &one;
    const int nseg = g->aseg ? g->naseg : 1;
    if (g->depth_outer) {
        for (int s = 0; s < nseg; s++)
            for (int pc = 0; pc < segs[s].K; pc += gk->kc) {
                int kc = segs[s].K - pc < gk->kc ? segs[s].K - pc : gk->kc;
                int accumulate = s > 0 || pc > 0 || g->beta != 0.0f;
                for (int ic = i0; ic < i1; ic += g->mc)
                    gemm_block(g, &segs[s], ic, i1 - ic < g->mc ? i1 - ic : g->mc, pc, kc, accumulate, jp0, jp1,
                               abuf, wbuf, tile);
            }
        return;
    }
    for (int ic = i0; ic < i1; ic += g->mc) {
        int mc = i1 - ic < g->mc ? i1 - ic : g->mc;
        for (int s = 0; s < nseg; s++)
            for (int pc = 0; pc < segs[s].K; pc += gk->kc) {
                int kc = segs[s].K - pc < gk->kc ? segs[s].K - pc : gk->kc;
                int accumulate = s > 0 || pc > 0 || g->beta != 0.0f;
                gemm_block(g, &segs[s], ic, mc, pc, kc, accumulate, jp0, jp1, abuf, wbuf, tile);
            }
    }
}

/* Direct triple loop over C[i0:i1, j0:j1] (B from its panels when there are any); used
 * only when a scratch buffer cannot be allocated, because these products have no error
 * return. */
static void gemm_range_naive(const gemm_job *g, int i0, int i1, int j0, int j1) {
    const int nr = g->gk->nr;
    for (int i = i0; i < i1; i++)
        for (int j = j0; j < j1; j++) {
            float s = 0.0f;
            for (int p = 0; p < g->K; p++) {
                float a;
                if (g->aw) {
                    t5pt_widen(&a, w_at(g->aw, g->aw_trans ? (size_t)p * g->aw->K + i : (size_t)i * g->aw->K + p),
                               g->aw->type, 1);
                } else if (g->aseg) {
                    int sg = 0;
                    while (p >= g->aseg[sg].boff + g->aseg[sg].K) sg++;
                    a = g->aseg[sg].A[(size_t)i * g->aseg[sg].lda + (p - g->aseg[sg].boff)];
                } else
                    a = g->transA ? g->A[(size_t)p * g->lda + i] : g->A[(size_t)i * g->lda + p];
                float b = g->Bp ? g->Bp[(size_t)(j / nr) * g->bpanel + (size_t)p * g->bld + (size_t)(j % nr)]
                          : g->transB ? g->B[(size_t)j * g->ldb + p]
                                      : g->B[(size_t)p * g->ldb + j];
                s += a * b;
            }
            float *c = c_at(g, i, j);
            if (c) *c = g->alpha * s + (g->beta == 0.0f ? 0.0f : g->beta * *c);
        }
}

/* Cuts C into work units (blocks of MC rows, and of panel groups when M is short) and
 * lets up to max_threads threads take them in turn (dynamic schedule: a thread that is
 * slowed down, e.g. by another process on its core, simply takes fewer units). Every
 * unit is a fixed rectangle of whole tiles computed by one thread with the whole depth
 * loop, so neither the thread count nor the schedule changes any bit of C. */
static void gemm_run(const gemm_job *job, int max_threads) {
    const int mr = job->gk->mr, nr = job->gk->nr;
    if (job->M <= 0 || job->N <= 0) return;
    gemm_job gj = *job;
    const gemm_job *g = &gj;
    /* Rows per A block: the ISA's MC; but when the rows are at most 1.5 MC (the decoder's
     * rows at batch 8: 128), one block of all of them, so that each B panel is streamed
     * once instead of once per row block (the lm_head's 32128 x 512 packed W^T is far
     * larger than the cache) and no short second block wastes the panel's reuse. Only the
     * blocking changes: every C element keeps its depth loop, so no bit does. */
    int mc = job->gk->mc;
    if (job->M > mc && 2 * job->M <= 3 * mc) mc = (job->M + mr - 1) / mr * mr;
    gj.mc = mc;
    int npanels = (g->N + nr - 1) / nr;
    int nt = max_threads;
#ifdef _OPENMP
    if (omp_in_parallel()) nt = 1;
#else
    nt = 1;
#endif
    /* below ~4 MFLOP per thread, waking threads costs more than it saves */
    double mflop = 2e-6 * g->M * g->N * (double)g->K;
    if (nt > 1 && mflop < 4.0 * nt) nt = mflop < 8.0 ? 1 : (int)(mflop / 4.0);
    if (nt < 1) nt = 1;
    /* units: mblocks x nblocks; N is cut only when there are too few row blocks to
     * keep every thread busy (then each unit packs its own copy of the A block) */
    int mblocks = (g->M + mc - 1) / mc, nblocks = 1;
    /* (a linear's W as A: a second copy of an A block means reading W twice from memory,
     * so N is cut only when there are fewer row blocks than threads) */
    if (nt > 1 && mblocks < (g->aw ? nt : 4 * nt) && !g->depth_outer) {
        nblocks = (4 * nt + mblocks - 1) / mblocks;
        if (nblocks > npanels) nblocks = npanels;
    }
    int per = (npanels + nblocks - 1) / nblocks; /* panels per unit */
    nblocks = (npanels + per - 1) / per;
    int units = mblocks * nblocks;
    if (nt > units) nt = units;
    /* depth_outer: one unit per thread, a contiguous run of row blocks (each thread then
     * streams B once, whatever its number of row blocks) */
    int rb_per_unit = 1;
    if (g->depth_outer) {
        rb_per_unit = (mblocks + nt - 1) / nt;
        units = (mblocks + rb_per_unit - 1) / rb_per_unit;
    }
    /* packed A block: at most MC rows (whole micro-panels) x KC depth; small products
     * get a small buffer (no large malloc per attention call) */
    int rows = g->M < mc ? g->M : mc, depth = g->K < g->gk->kc ? g->K : g->gk->kc;
    size_t abuf_floats = (size_t)((rows + mr - 1) / mr) * round16((size_t)depth * mr);
    /* a linear's bf16/f16 (or ragged) rows are widened through [mr][kc] floats */
    size_t wbuf_floats = g->aw ? round16((size_t)mr * depth) : 0;

#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1)
#endif
    {
        float *abuf = t5pt_alloc_aligned((abuf_floats + wbuf_floats) * sizeof(float));
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int u = 0; u < units; u++) {
            int ib = u / nblocks, jb = u % nblocks;
            int i0 = ib * rb_per_unit * mc, i1 = i0 + rb_per_unit * mc < g->M ? i0 + rb_per_unit * mc : g->M;
            int jp0 = jb * per, jp1 = jp0 + per < npanels ? jp0 + per : npanels;
            if (abuf)
                gemm_range(g, i0, i1, jp0, jp1, abuf, abuf + abuf_floats);
            else /* out of memory: still compute this unit */
                gemm_range_naive(g, i0, i1, jp0 * nr, jp1 * nr < g->N ? jp1 * nr : g->N);
        }
        t5pt_free_aligned(abuf);
    }
}

/* ------------------------------------------------------------------ general sgemm */

static void sgemm_impl(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc, int threads) {
    if (M <= 0 || N <= 0) return;
    const t5pt_gemm_kernel *gk = &t5pt_kern()->gemm;
    gemm_job g = {.gk = gk, .M = M, .N = N, .K = K, .A = A, .lda = lda, .transA = transA, .alpha = alpha,
                  .B = B, .ldb = ldb, .transB = transB, .beta = beta, .C = C, .ldc = ldc};
    float *bp = NULL;
    if (K > 0) {
        int panels = (N + gk->nr - 1) / gk->nr;
        bp = t5pt_alloc_aligned((size_t)panels * panel_stride(K, gk->nr) * sizeof(float));
        if (!bp) {
            gemm_range_naive(&g, 0, M, 0, N); /* out of memory: still compute the product */
            return;
        }
        pack_b(bp, B, ldb, transB, K, N, gk->nr, 1);
    }
    g.Bp = bp;
    g.bpanel = panel_stride(K, gk->nr);
    g.bld = (size_t)gk->nr;
    gemm_run(&g, threads);
    t5pt_free_aligned(bp);
}

void t5pt_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc) {
    sgemm_impl(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 1);
}

void t5pt_sgemm_parallel(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc) {
    sgemm_impl(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, t5pt_num_threads());
}

/* ------------------------------------------------------------------ frozen linear */

/* Bytes of W^T panels packed at a time by the forward: big enough that a block covers
 * many row blocks of x (the packing is amortised over M rows), small enough to stay in
 * the last-level cache while the product reads it. */
#define PACK_BLOCK_BYTES ((size_t)4 << 20)
/* Widening goes through a small stack buffer of this many floats. */
#define WIDEN_CHUNK 64

size_t t5pt_wtype_size(t5pt_wtype type) { return type == T5PT_WF32 ? 4 : 2; }

void t5pt_widen(float *dst, const void *src, t5pt_wtype type, size_t n) {
    if (type == T5PT_WF32)
        memcpy(dst, src, n * sizeof(float));
    else if (type == T5PT_WBF16)
        t5pt_kern()->bf16_to_f32(dst, src, n);
    else
        t5pt_kern()->f16_to_f32(dst, src, n);
}

t5pt_status t5pt_linear_init(t5pt_linear *lin, const void *W, t5pt_wtype type, int N, int K) {
    memset(lin, 0, sizeof *lin);
    if (!W || N <= 0 || K <= 0 || (type != T5PT_WF32 && type != T5PT_WBF16 && type != T5PT_WF16))
        return t5pt_set_error(T5PT_ERR_ARG, "t5pt_linear_init: bad weight (%d x %d)", N, K);
    lin->N = N;
    lin->K = K;
    lin->W = W;
    lin->type = type;
    return T5PT_OK;
}

/* Forward B operand: packs the panels of W^T covering rows [j0, j0+n) of W (n <= N - j0),
 * depth K, into out (panel stride panel_stride(K, nr)): out[jp*stride + p*nr + jj] =
 * W[j0 + jp*nr + jj, p], 0 past row j0+n. Full panels go through the ISA's pack_bt
 * (from W itself, or from a chunk of its rows widened to fp32); the ragged last one is
 * copied here. */
static void pack_wt(float *out, const t5pt_linear *lin, int j0, int n, const t5pt_gemm_kernel *gk, int threads) {
    const int K = lin->K, nr = gk->nr;
    const size_t stride = panel_stride(K, nr);
    const int panels = (n + nr - 1) / nr;
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && !omp_in_parallel())
#endif
    for (int jp = 0; jp < panels; jp++) {
        float *dst = out + (size_t)jp * stride;
        int w = n - jp * nr < nr ? n - jp * nr : nr;
        size_t row0 = (size_t)(j0 + jp * nr) * K;
        if (w == nr && lin->type == T5PT_WF32) {
            gk->pack_bt(dst, (const float *)lin->W + row0, (size_t)K, K);
        } else if (w == nr) {
            float buf[T5PT_GEMM_MAX_NR * WIDEN_CHUNK];
            for (int p0 = 0; p0 < K; p0 += WIDEN_CHUNK) {
                int len = K - p0 < WIDEN_CHUNK ? K - p0 : WIDEN_CHUNK;
                for (int jj = 0; jj < nr; jj++)
                    t5pt_widen(buf + (size_t)jj * WIDEN_CHUNK, w_at(lin, row0 + (size_t)jj * K + p0), lin->type,
                               (size_t)len);
                gk->pack_bt(dst + (size_t)p0 * nr, buf, WIDEN_CHUNK, len);
            }
        } else {
            float buf[WIDEN_CHUNK];
            for (int jj = 0; jj < nr; jj++)
                for (int p0 = 0; p0 < K; p0 += WIDEN_CHUNK) {
                    int len = K - p0 < WIDEN_CHUNK ? K - p0 : WIDEN_CHUNK;
                    if (jj < w) t5pt_widen(buf, w_at(lin, row0 + (size_t)jj * K + p0), lin->type, (size_t)len);
                    for (int p = 0; p < len; p++) dst[(size_t)(p0 + p) * nr + jj] = jj < w ? buf[p] : 0.0f;
                }
        }
    }
}

/* Backward B operand: packs the panels of W covering columns [j0, j0+n) of W (n <= K - j0),
 * depth N, into out (panel stride `stride`, at least panel_stride(N, nr)): out[jp*stride + p*nr + jj] =
 * W[p, j0 + jp*nr + jj], 0 past column j0+n. Row by row: each W row is read once,
 * front to back, and its pieces go to the same row of every panel (walking one panel
 * down W's rows instead reads one cache line per row, rows K floats apart: measured
 * ~5x slower at K = 512..2048). */
static void pack_w(float *out, size_t stride, const t5pt_linear *lin, int j0, int n, int nr, int threads) {
    const int N = lin->N, K = lin->K;
    const int panels = (n + nr - 1) / nr;
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && !omp_in_parallel())
#endif
    for (int p = 0; p < N; p++) {
        const size_t row = (size_t)p * K + (size_t)j0;
        for (int jp = 0; jp < panels; jp++) {
            float *d = out + (size_t)jp * stride + (size_t)p * nr;
            int w = n - jp * nr < nr ? n - jp * nr : nr;
            if (lin->type == T5PT_WF32) {
                memcpy(d, (const float *)lin->W + row + (size_t)jp * nr, (size_t)w * sizeof(float));
            } else {
                t5pt_widen(d, w_at(lin, row + (size_t)jp * nr), lin->type, (size_t)w);
            }
            for (int jj = w; jj < nr; jj++) d[jj] = 0.0f;
        }
    }
}

/* C[M, n] = A[M, k] op(W) + beta C, op(W) = W^T (forward: n = N, k = K) or W (backward:
 * n = K, k = N). Columns of C are produced in blocks whose B panels are packed just
 * before use; every C tile still runs the whole depth loop in the same KC steps on one
 * thread, so the blocking changes no bit of the result. */
static void linear_product(float *C, int ldc, const float *A, int lda, int M, const t5pt_linear *lin, int forward,
                           float beta) {
    if (M <= 0) return;
    const t5pt_gemm_kernel *gk = &t5pt_kern()->gemm;
    const int nr = gk->nr, threads = t5pt_num_threads();
    const int n = forward ? lin->N : lin->K, k = forward ? lin->K : lin->N;
    gemm_job g = {.gk = gk, .M = M, .K = k, .A = A, .lda = lda, .alpha = 1.0f, .beta = beta, .ldc = ldc};
    int done = 0; /* columns of C finished */
    /* columns per packed block: a whole number of panels, about PACK_BLOCK_BYTES */
    size_t stride = panel_stride(k, nr);
    size_t per = PACK_BLOCK_BYTES / (stride * sizeof(float));
    if (per < 1) per = 1;
    int block = (int)((size_t)((n - done + nr - 1) / nr) < per ? (size_t)(n - done + nr - 1) / nr : per) * nr;
    float *bp = t5pt_alloc_aligned((size_t)(block / nr) * stride * sizeof(float));
    for (int j0 = done; j0 < n; j0 += block) {
        int w = n - j0 < block ? n - j0 : block;
        g.N = w;
        g.C = C + j0;
        if (!bp) { /* out of memory: still compute these columns, directly from W */
            for (int i = 0; i < M; i++)
                for (int j = j0; j < j0 + w; j++) {
                    float s = 0.0f, wv;
                    for (int p = 0; p < k; p++) {
                        t5pt_widen(&wv, w_at(lin, forward ? (size_t)j * lin->K + p : (size_t)p * lin->K + j),
                                   lin->type, 1);
                        s += A[(size_t)i * lda + p] * wv;
                    }
                    float *c = C + (size_t)i * ldc + j;
                    *c = s + (beta == 0.0f ? 0.0f : beta * *c);
                }
            continue;
        }
        if (forward)
            pack_wt(bp, lin, j0, w, gk, threads);
        else
            pack_w(bp, stride, lin, j0, w, nr, threads);
        g.Bp = bp;
        g.bpanel = stride;
        g.bld = (size_t)nr;
        gemm_run(&g, threads);
    }
    t5pt_free_aligned(bp);
}

/* y[M,N] = x W^T + beta y computed as y^T[N,M] = W x^T (forward), or dx[M,K] = dy W + beta dx
 * as dx^T[K,M] = W^T dy^T (backward), for small M: W (W^T) is the A operand, packed one
 * MC x KC block at a time into a cache-resident buffer (read once from memory, consumed
 * while hot), and the M rows of x (dy) are packed once as B; the tiles are stored
 * transposed. Each element is the same sum as in linear_product, over p in the same KC
 * steps (the micro-kernel's a*b is b*a, and its tile is only copied), so the result is
 * bit-identical to it. Measured (t5pt bench gemm, 1 thread, BENCHMARKS.md): the forward
 * gains 5-25 % up to 32 rows and loses up to ~10 % at 128 (the transposed stores); the
 * backward of the lm_head (32128 x 512, 128 rows) takes 0.6-0.75x the time of packing W's
 * column panels (a depth of 32128 rows per panel), but ~1.15x for W of 2048 x 512. */
static void linear_product_wa(float *y, int ldy, const float *x, int ldx, int M, const t5pt_linear *lin, int forward,
                              float beta) {
    if (M <= 0) return;
    const t5pt_gemm_kernel *gk = &t5pt_kern()->gemm;
    const int K = forward ? lin->K : lin->N, rows = forward ? lin->N : lin->K;
    gemm_job g = {.gk = gk, .M = rows, .N = M, .K = K, .aw = lin, .aw_trans = !forward, .alpha = 1.0f, .beta = beta,
                  .C = y, .ldc = ldy, .transC = 1, .B = x, .ldb = ldx, .transB = 1, .depth_outer = !forward};
    float *bp = t5pt_alloc_aligned((size_t)((M + gk->nr - 1) / gk->nr) * panel_stride(K, gk->nr) * sizeof(float));
    if (bp) pack_b(bp, x, ldx, 1, K, M, gk->nr, 1);
    g.Bp = bp; /* NULL (out of memory): the naive fallback reads x itself */
    g.bpanel = panel_stride(K, gk->nr);
    g.bld = (size_t)gk->nr;
    if (bp)
        gemm_run(&g, t5pt_num_threads());
    else
        gemm_range_naive(&g, 0, rows, 0, M);
    t5pt_free_aligned(bp);
}

/* y[M,N] = x W^T + beta y for a few rows (greedy decoding: one row per sequence and step):
 * packing W^T would cost more than the product, so every W row is read once, in place
 * (widened into a row buffer when bf16/f16), and dotted with the M rows of x. Each output
 * is one thread's dot product in a fixed order, so the bits do not depend on the thread
 * count (they differ from the GEMM's order by rounding: test_eval bounds the cached
 * decoder against the full forward). In bf16 compute (bf16 1) both operands are rounded
 * to bf16 first, as the bf16 GEMM rounds them while packing: the products of bf16 values
 * are exact in fp32 and the sums fp32, as there, in the dot product's order (test_bf16
 * holds the cached decoder to the bf16 reference). Packing the whole weight per decoded
 * token, as the bf16 GEMM would, made bf16 decoding several times slower than fp32. */
static void linear_gemv(float *y, int ldy, const float *x, int ldx, int M, const t5pt_linear *lin, float beta,
                        int bf16) {
    const t5pt_kernels *kt = t5pt_kern();
    const int N = lin->N, K = lin->K;
    const int widen = lin->type != T5PT_WF32 || bf16;  /* W rows go through the row buffer */
    const int round_w = bf16 && lin->type != T5PT_WBF16; /* a bf16 weight is already bf16 */
    float *xr = NULL;                                    /* x rounded to bf16 (bf16 compute) */
    if (bf16) {
        xr = t5pt_alloc_aligned((size_t)M * K * sizeof(float));
        if (xr)
            for (int m = 0; m < M; m++) kt->bf16_round(xr + (size_t)m * K, x + (size_t)m * ldx, (size_t)K);
    }
    int nt = (size_t)N * K < ((size_t)1 << 18) ? 1 : t5pt_num_threads();
    (void)nt; /* without OpenMP */
#ifdef _OPENMP
    if (omp_in_parallel()) nt = 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
#endif
    {
        float *wbuf = widen ? t5pt_alloc_aligned((size_t)K * sizeof(float)) : NULL;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int n = 0; n < N; n++) {
            const float *w = (const float *)lin->W + (size_t)n * K;
            float one, xv;
            for (int m = 0; m < M; m++) {
                const float *xm = xr ? xr + (size_t)m * K : x + (size_t)m * ldx;
                float s = 0.0f;
                if (!widen) {
                    s = kt->dot(xm, w, K);
                } else if (wbuf && (xr || !bf16)) {
                    if (m == 0 && lin->type == T5PT_WF32) {
                        kt->bf16_round(wbuf, w, (size_t)K); /* bf16 compute, fp32 W */
                    } else if (m == 0) {
                        t5pt_widen(wbuf, w_at(lin, (size_t)n * K), lin->type, (size_t)K);
                        if (round_w) kt->bf16_round(wbuf, wbuf, (size_t)K);
                    }
                    s = kt->dot(xm, wbuf, K);
                } else { /* out of memory for a buffer: one weight at a time */
                    for (int p = 0; p < K; p++) {
                        t5pt_widen(&one, w_at(lin, (size_t)n * K + p), lin->type, 1);
                        xv = x[(size_t)m * ldx + p];
                        if (bf16) {
                            if (round_w) kt->bf16_round(&one, &one, 1);
                            kt->bf16_round(&xv, &xv, 1);
                        }
                        s += xv * one;
                    }
                }
                float *c = y + (size_t)m * ldy + n;
                *c = beta == 0.0f ? s : s + beta * *c;
            }
        }
        t5pt_free_aligned(wbuf);
    }
    t5pt_free_aligned(xr);
}

/* A product of a linear in bf16 compute: forward y = x W^T (transB 1) or backward dx = dy W,
 * with W's rows as stored (fp32 rounded while packed, bf16 as is, f16 widened then rounded).
 * The bf16 GEMM packs its whole B operand per call, so the columns of C go in blocks whose
 * packed W takes about PACK_BLOCK_BYTES (as linear_product does; the lm_head would
 * otherwise pack 32128 x d at once). Every element of C is the same sum over the whole
 * depth in any block, so the blocks change no bit. */
static void linear_bf16(float *C, int ldc, const float *A, int lda, int M, const t5pt_linear *lin, int forward,
                        float beta) {
    const t5pt_bf16_src wsrc = lin->type == T5PT_WF32 ? T5PT_BF16_SRC_F32
                               : lin->type == T5PT_WBF16 ? T5PT_BF16_SRC_BF16 : T5PT_BF16_SRC_F16;
    const int n = forward ? lin->N : lin->K, depth = forward ? lin->K : lin->N, threads = t5pt_num_threads();
    const size_t esize = t5pt_wtype_size(lin->type);
    size_t per = PACK_BLOCK_BYTES / ((size_t)depth * sizeof(float));
    int block = per < 64 ? 64 : per >= (size_t)n ? n : (int)(per & ~(size_t)63); /* whole panels (NR <= 32) */
    if (block < 1) block = 1;
    for (int j0 = 0; j0 < n; j0 += block) {
        const int w = n - j0 < block ? n - j0 : block;
        if (forward) /* rows j0.. of W */
            t5pt_bf16_gemm_ex(0, 1, M, w, depth, 1.0f, A, T5PT_BF16_SRC_F32, lda,
                              (const char *)lin->W + (size_t)j0 * lin->K * esize, wsrc, lin->K, beta, C + j0, ldc,
                              threads, NULL);
        else /* columns j0.. of W */
            t5pt_bf16_gemm_ex(0, 0, M, w, depth, 1.0f, A, T5PT_BF16_SRC_F32, lda, (const char *)lin->W + (size_t)j0 * esize,
                              wsrc, lin->K, beta, C + j0, ldc, threads, NULL);
    }
}

void t5pt_linear_forward(float *y, int ldy, const float *x, int ldx, int M, const t5pt_linear *lin, float beta) {
    const int bf16 = lin->compute == T5PT_PRECISION_BF16;
    if (M > 0 && M <= T5PT_GEMV_MAX_ROWS)
        linear_gemv(y, ldy, x, ldx, M, lin, beta, bf16);
    else if (bf16)
        linear_bf16(y, ldy, x, ldx, M, lin, 1, beta);
    else if (M <= T5PT_WA_MAX_ROWS)
        linear_product_wa(y, ldy, x, ldx, M, lin, 1, beta);
    else
        linear_product(y, ldy, x, ldx, M, lin, 1, beta);
}

void t5pt_linear_backward(float *dx, int lddx, const float *dy, int lddy, int M, const t5pt_linear *lin, float beta) {
    if (lin->compute == T5PT_PRECISION_BF16)
        linear_bf16(dx, lddx, dy, lddy, M, lin, 0, beta);
    else if (M <= T5PT_WA_BWD_MAX_ROWS && (size_t)lin->N * (size_t)lin->K >= T5PT_WA_BWD_MIN_WEIGHTS)
        linear_product_wa(dx, lddx, dy, lddy, M, lin, 0, beta);
    else
        linear_product(dx, lddx, dy, lddy, M, lin, 0, beta);
}

/* ------------------------------------------------------------------ grouped products */

/* Whether every linear of a group computes in plain fp32 (a bf16/f16 stored weight is
 * widened to fp32 while packed: that is fp32 compute too). A linear computed in another
 * precision must go through its own t5pt_linear_* call: this is the one place to say so. */
static int group_is_fp32(const t5pt_linear *const lins[], int n) {
    for (int i = 0; i < n; i++)
        if (lins[i]->compute != T5PT_PRECISION_FP32) return 0;
    return 1;
}

/* Whether ys[i] = x W_i^T, i < n, can be one product: the same depth, enough rows that each
 * separate call would take the packed-W^T GEMM (below T5PT_WA_MAX_ROWS they read W in
 * place or take it as the A operand, which already packs x once, and the GEMV's sums are
 * in another order), and fp32 compute. */
static int group_fuses(int M, const t5pt_linear *const lins[], int n) {
    if (n < 2 || M <= T5PT_WA_MAX_ROWS || !group_is_fp32(lins, n)) return 0;
    for (int i = 1; i < n; i++)
        if (lins[i]->K != lins[0]->K) return 0;
    return 1;
}

void t5pt_linear_forward_group(float *const ys[], const int ldys[], const float *x, int ldx, int M,
                               const t5pt_linear *const lins[], int n) {
    if (M <= 0 || n <= 0) return;
    const t5pt_gemm_kernel *gk = &t5pt_kern()->gemm;
    const int nr = gk->nr, K = lins[0]->K, threads = t5pt_num_threads();
    int panels = 0;
    for (int i = 0; i < n; i++) panels += (lins[i]->N + nr - 1) / nr;
    const size_t stride = panel_stride(K, nr);
    size_t per = PACK_BLOCK_BYTES / (stride * sizeof(float));
    if (per < 1) per = 1;
    const int block = (size_t)panels < per ? panels : (int)per; /* panels packed at a time */
    gemm_cpanel *cp = NULL;
    float *bp = NULL;
    if (group_fuses(M, lins, n)) {
        cp = malloc((size_t)panels * sizeof *cp);
        bp = t5pt_alloc_aligned((size_t)block * stride * sizeof(float));
    }
    if (!cp || !bp) { /* not fusable (or out of memory): the separate products, same bits */
        free(cp);
        t5pt_free_aligned(bp);
        for (int i = 0; i < n; i++) t5pt_linear_forward(ys[i], ldys[i], x, ldx, M, lins[i], 0.0f);
        return;
    }
    /* panel q: the columns [t*nr, t*nr + w) of linear i, written to ys[i] */
    for (int i = 0, q = 0; i < n; i++)
        for (int t = 0; t * nr < lins[i]->N; t++, q++) {
            int w = lins[i]->N - t * nr < nr ? lins[i]->N - t * nr : nr;
            cp[q] = (gemm_cpanel){.c = ys[i] + (size_t)t * nr, .ldc = ldys[i], .w = w};
        }
    gemm_job g = {.gk = gk, .M = M, .K = K, .A = x, .lda = ldx, .alpha = 1.0f, .beta = 0.0f, .bld = (size_t)nr,
                  .bpanel = stride, .Bp = bp};
    /* The B panels of [q0, q0+nb) are those of the linears' W^T side by side, packed a
     * block at a time as linear_product does for one linear. Each C element is the same
     * sum, over the same KC steps, as in the linear's own product: the same bits. */
    for (int q0 = 0; q0 < panels; q0 += block) {
        const int nb = panels - q0 < block ? panels - q0 : block;
        for (int i = 0, qi = 0; i < n; i++) { /* qi: the linear's first panel */
            const int np = (lins[i]->N + nr - 1) / nr;
            const int a = q0 > qi ? q0 : qi, b = q0 + nb < qi + np ? q0 + nb : qi + np; /* its panels here */
            if (a < b) {
                const int c0 = (a - qi) * nr, c1 = (b - qi) * nr < lins[i]->N ? (b - qi) * nr : lins[i]->N;
                pack_wt(bp + (size_t)(a - q0) * stride, lins[i], c0, c1 - c0, gk, threads);
            }
            qi += np;
        }
        g.N = nb * nr;
        g.cpan = cp + q0;
        gemm_run(&g, threads);
    }
    free(cp);
    t5pt_free_aligned(bp);
}

/* Whether dx = beta dx + sum_i dys[i] W_i, i < n, can be one product: the same K, fp32
 * compute, and each separate call would take linear_product (not W^T as the A operand). */
static int group_bwd_fuses(int M, const t5pt_linear *const lins[], int n) {
    if (n < 2 || M <= 0 || !group_is_fp32(lins, n)) return 0;
    for (int i = 0; i < n; i++) {
        if (lins[i]->K != lins[0]->K) return 0;
        if (M <= T5PT_WA_BWD_MAX_ROWS && (size_t)lins[i]->N * (size_t)lins[i]->K >= T5PT_WA_BWD_MIN_WEIGHTS) return 0;
    }
    return 1;
}

void t5pt_linear_backward_group(float *dx, int lddx, const float *const dys[], const int lddys[], int M,
                                const t5pt_linear *const lins[], int n, float beta) {
    if (M <= 0 || n <= 0) return;
    const t5pt_gemm_kernel *gk = &t5pt_kern()->gemm;
    const int nr = gk->nr, K = lins[0]->K, threads = t5pt_num_threads();
    gemm_aseg seg[T5PT_GROUP_MAX];
    int depth = 0;
    for (int i = 0; i < n && i < T5PT_GROUP_MAX; i++) {
        seg[i] = (gemm_aseg){.A = dys[i], .lda = lddys[i], .K = lins[i]->N, .boff = depth};
        depth += lins[i]->N;
    }
    /* B: the panels of W_0, W_1, ... stacked along the depth (rows of each panel) */
    const size_t stride = panel_stride(depth, nr);
    size_t per = PACK_BLOCK_BYTES / (stride * sizeof(float));
    if (per < 1) per = 1;
    const int panels = (K + nr - 1) / nr;
    const int block = ((size_t)panels < per ? panels : (int)per) * nr; /* columns of dx per packed block */
    float *bp = NULL;
    if (n <= T5PT_GROUP_MAX && group_bwd_fuses(M, lins, n))
        bp = t5pt_alloc_aligned((size_t)(block / nr) * stride * sizeof(float));
    if (!bp) { /* not fusable (or out of memory): the separate products, same bits */
        for (int i = 0; i < n; i++) t5pt_linear_backward(dx, lddx, dys[i], lddys[i], M, lins[i], i ? 1.0f : beta);
        return;
    }
    /* Each dx tile sees the micro-kernel calls of the separate products, in their order,
     * on the same operands: segment s is cut in KC steps from its own start, and the
     * first step of every segment after the first accumulates into dx, as the separate
     * call with beta 1 does. Only where dx lives between the steps differs (a C tile in
     * cache instead of memory): the same bits. */
    gemm_job g = {.gk = gk, .M = M, .K = depth, .A = dys[0], .lda = lddys[0], .alpha = 1.0f, .beta = beta,
                  .ldc = lddx, .aseg = seg, .naseg = n, .bpanel = stride, .bld = (size_t)nr, .Bp = bp};
    for (int j0 = 0; j0 < K; j0 += block) {
        const int w = K - j0 < block ? K - j0 : block;
        for (int i = 0; i < n; i++) pack_w(bp + (size_t)seg[i].boff * nr, stride, lins[i], j0, w, nr, threads);
        g.N = w;
        g.C = dx + j0;
        gemm_run(&g, threads);
    }
    t5pt_free_aligned(bp);
}
