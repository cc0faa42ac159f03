/* cmd_bench.c — `t5pt bench gemm` and `t5pt bench step`: speed, measured.
 *
 *   t5pt bench gemm [--m M --n N --k K] [--form fwd|bwd|both] [--precision fp32|bf16|both] [--reps R]
 *                   [--threads T] [--simd ISA]
 *   t5pt bench peak [--threads T] [--simd ISA] [--precision fp32|bf16]
 *   t5pt bench step (--model DIR | --config CONFIG.json) [--batch 8] [--src-len 128]
 *                   [--prompt-len 100] [--tgt-len 16] [--steps 5] [--warmup 1] [--threads T] [--simd ISA]
 *
 * Times are wall-clock medians after warm-up runs. Result lines are key=value so
 * bench/run.sh can turn them into the table in BENCHMARKS.md.
 */
#include "cli/cli.h"
#include "simd/gemm.h"
#include "simd/gemm_bf16.h"
#include "base/internal.h"
#include "simd/kernels.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static long peak_rss_kb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return ru.ru_maxrss; /* kilobytes on Linux */
}

/* The options every benchmark takes. */
#define BENCH_OPT_THREADS(dst)                                                                                      \
    {.name = "threads", .kind = CLI_INT, .target = (dst), .metavar = "T", .help = "OpenMP threads",                 \
     .dflt = "OMP_NUM_THREADS, else every core", .min = 1, .max = CLI_MAX_THREADS}
#define BENCH_OPT_SIMD(dst)                                                                                         \
    {.name = "simd", .kind = CLI_STR, .target = (dst), .metavar = "ISA",                                            \
     .help = "force a kernel path (may only lower what the CPU has)", .dflt = "the best the CPU has",             \
     .choices = "scalar|avx2|avx512|neon"}

/* Applies --simd/--threads, and reports an impossible T5PT_SIMD from the environment. */
static int apply_common(const char *cmd, int threads, const char *simd) {
    if (t5pt_simd_env_status() != T5PT_OK) return cli_fail_lib(cmd);
    if (simd && t5pt_simd_select(simd) != T5PT_OK) return cli_fail_lib(cmd);
    if (threads > 0) t5pt_set_num_threads(threads);
    return 0;
}

/* ------------------------------------------------------------------ bench gemm */

static const char gemm_about[] =
    "The two products of a frozen linear layer W[N,K] (torch layout), packing per call included:\n"
    "  fwd  y[M,N]  = x[M,K] W^T      bwd  dx[M,K] = dy[M,N] W\n"
    "Prints the median time of R runs after 2 warm-up runs, and GFLOP/s = 2 M N K / time.\n"
    "--precision bf16: the same products with bf16 operands and fp32 sums (simd/gemm_bf16.h), W stored\n"
    "once in bf16 and packed per call, x rounded while packed; both: fp32 and bf16 runs interleaved\n"
    "in one process (A B A B ...), then the ratio of the medians.\n";

/* One timed product: precision 0 = fp32 (packed linear), 1 = bf16 (W in bf16). */
typedef struct {
    int M, N, K;
    const t5pt_linear *lin;
    const uint16_t *W16;
    const float *x, *y;
    float *out_y, *out_dx;
} gemm_bench;

static double gemm_once(const gemm_bench *b, int bwd, int bf16) {
    double t0 = t5pt_seconds();
    if (!bf16 && !bwd) t5pt_linear_forward(b->out_y, b->N, b->x, b->K, b->M, b->lin, 0.0f);
    else if (!bf16) t5pt_linear_backward(b->out_dx, b->K, b->y, b->N, b->M, b->lin, 0.0f);
    else if (!bwd) t5pt_bf16_linear_forward_w16(b->out_y, b->N, b->x, b->K, b->M, b->W16, b->N, b->K, 0.0f);
    else t5pt_bf16_linear_backward_w16(b->out_dx, b->K, b->y, b->N, b->M, b->W16, b->N, b->K, 0.0f);
    return t5pt_seconds() - t0;
}

static int bench_gemm(int argc, char **argv) {
    const char *cmd = "bench gemm";
    int M = 1824, N = 512, K = 2048, threads = 0, reps = 0;
    const char *simd = NULL, *form = "both", *precision = "fp32";
    const cli_option opts[] = {
        {.name = "m", .kind = CLI_INT, .target = &M, .metavar = "M", .help = "rows of x", .min = 1, .max = 1 << 16},
        {.name = "n", .kind = CLI_INT, .target = &N, .metavar = "N", .help = "rows of W (outputs)", .min = 1, .max = 1 << 16},
        {.name = "k", .kind = CLI_INT, .target = &K, .metavar = "K", .help = "columns of W (inputs)", .min = 1, .max = 1 << 16},
        {.name = "form", .kind = CLI_STR, .target = &form, .metavar = "F", .help = "fwd | bwd | both",
         .choices = "fwd|bwd|both"},
        {.name = "precision", .kind = CLI_STR, .target = &precision, .metavar = "P",
         .help = "operands in fp32, bf16 (fp32 sums), or both interleaved", .dflt = "fp32",
         .choices = "fp32|bf16|both"},
        {.name = "reps", .kind = CLI_INT, .target = &reps, .metavar = "R", .help = "timed runs",
         .dflt = "enough for ~0.5 s, 5..50", .min = 1, .max = 50},
        BENCH_OPT_THREADS(&threads),
        BENCH_OPT_SIMD(&simd),
        {0}};
    const cli_command spec = {.name = cmd, .usage = "[--m M --n N --k K] [options]", .about = gemm_about, .options = opts};
    int rc = cli_parse(&spec, argc, argv);
    if (rc != CLI_PARSED) return rc;
    if (apply_common(cmd, threads, simd)) return 1;

    size_t nw = (size_t)N * K, nx = (size_t)M * K, ny = (size_t)M * N;
    float *W = t5pt_alloc_aligned(nw * sizeof(float)), *x = t5pt_alloc_aligned(nx * sizeof(float));
    float *y = t5pt_alloc_aligned(ny * sizeof(float)), *dx = t5pt_alloc_aligned(nx * sizeof(float));
    double *t = malloc(50 * sizeof *t);
    if (!W || !x || !y || !dx || !t) {
        t5pt_free_aligned(W), t5pt_free_aligned(x), t5pt_free_aligned(y), t5pt_free_aligned(dx), free(t);
        return cli_fail(cmd, "out of memory for %d x %d x %d", M, N, K);
    }
    t5pt_rng r;
    t5pt_rng_seed(&r, 1);
    for (size_t i = 0; i < nw; i++) W[i] = (float)(t5pt_rng_uniform(&r) - 0.5);
    for (size_t i = 0; i < nx; i++) x[i] = (float)(t5pt_rng_uniform(&r) - 0.5);
    for (size_t i = 0; i < ny; i++) y[i] = (float)(t5pt_rng_uniform(&r) - 0.5);
    t5pt_linear lin;
    if (t5pt_linear_init(&lin, W, T5PT_WF32, N, K) != T5PT_OK) {
        t5pt_free_aligned(W), t5pt_free_aligned(x), t5pt_free_aligned(y), t5pt_free_aligned(dx), free(t);
        return cli_fail_lib(cmd);
    }
    uint16_t *W16 = NULL;
    int p0 = strcmp(precision, "bf16") == 0 ? 1 : 0, p1 = strcmp(precision, "fp32") == 0 ? 0 : 1;
    if (p1 == 1) {
        W16 = malloc(nw * sizeof *W16);
        if (!W16) {
            t5pt_free_aligned(W), t5pt_free_aligned(x), t5pt_free_aligned(y), t5pt_free_aligned(dx), free(t);
            return cli_fail(cmd, "out of memory for the bf16 copy of W (%d x %d)", N, K);
        }
        t5pt_f32_to_bf16_row(W16, W, nw);
    }
    const gemm_bench gb = {.M = M, .N = N, .K = K, .lin = &lin, .W16 = W16, .x = x, .y = y, .out_y = y, .out_dx = dx};
    double flops = 2.0 * M * N * K;
    for (int f = 0; f < 2; f++) {
        const char *name = f == 0 ? "fwd" : "bwd";
        if (strcmp(form, "both") && strcmp(form, name)) continue;
        double first = 0;
        for (int prec = p0; prec <= p1; prec++)
            for (int w = 0; w < 2; w++) first += gemm_once(&gb, f, prec); /* warm-up: page faults, caches, threads */
        first /= 2;
        int n = reps;
        if (n <= 0) {
            n = first > 0 ? (int)(0.5 / first) : 50;
            n = n < 5 ? 5 : n > 50 ? 50 : n;
        }
        if (n > 50) n = 50;
        double *tp[2] = {t, t + 25};
        if (p1 > p0 && n > 25) n = 25; /* two series share the 50 slots */
        for (int rep = 0; rep < n; rep++) /* interleaved: both precisions see the same machine load */
            for (int prec = p0; prec <= p1; prec++) tp[prec - p0][rep] = gemm_once(&gb, f, prec);
        double med[2] = {0, 0};
        for (int prec = p0; prec <= p1; prec++) {
            double *tt = tp[prec - p0];
            med[prec] = median(tt, n);
            printf("gemm form=%s precision=%s simd=%s kernel=%s threads=%d M=%d N=%d K=%d time_ms=%.3f gflops=%.1f "
                   "best_gflops=%.1f reps=%d\n",
                   name, prec ? "bf16" : "fp32", t5pt_simd_path(),
                   prec ? t5pt_bf16_kern()->name : t5pt_kern()->name, t5pt_num_threads(), M, N, K, med[prec] * 1e3,
                   flops / med[prec] * 1e-9, flops / tt[0] * 1e-9, n);
        }
        if (p1 > p0)
            printf("gemm form=%s bf16_vs_fp32=%.2f bf16_kernel=%s native=%s\n", name, med[0] / med[1],
                   t5pt_bf16_kern()->name, t5pt_bf16_kern()->native ? "yes" : "no");
    }
    free(W16);
    t5pt_free_aligned(W), t5pt_free_aligned(x), t5pt_free_aligned(y), t5pt_free_aligned(dx), free(t);
    return 0;
}

/* ------------------------------------------------------------------ bench peak */

static const char peak_about[] =
    "The register micro-kernel alone on operands that stay in L1 (depth 256): the practical\n"
    "fp32 peak of the path, summed over T threads (one per core).\n";

/* GFLOP/s of the fp32 micro-kernel on L1-resident operands, summed over nt threads: each
 * thread's best of reps runs of about flop_per_run FLOPs, or (best 0) their mean rate
 * (-1: out of memory). bench step calls it around every timed step, so that a step's
 * share of the peak is taken at the speed the machine had then (this project's shared
 * machine drifts by 30 % within minutes: BENCHMARKS.md); a mean over tens of
 * milliseconds, because a best of short runs catches bursts a 3-second step never sees. */
static double fp32_peak(int nt, double flop_per_run, int reps, int best_of) {
    const t5pt_kernels *k = t5pt_kern();
    const int kc = 256;
    double total = 0;
    int failed = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(+ : total, failed)
#else
    (void)nt;
#endif
    {
        float *a = t5pt_alloc_aligned((size_t)k->gemm.mr * kc * sizeof(float));
        float *b = t5pt_alloc_aligned((size_t)k->gemm.nr * kc * sizeof(float));
        float *c = t5pt_alloc_aligned((size_t)k->gemm.mr * k->gemm.nr * sizeof(float));
        if (!a || !b || !c) {
            failed += 1;
        } else {
            for (int i = 0; i < k->gemm.mr * kc; i++) a[i] = 1e-3f * (float)(i % 7);
            for (int i = 0; i < k->gemm.nr * kc; i++) b[i] = 1e-3f * (float)(i % 5);
            memset(c, 0, (size_t)k->gemm.mr * k->gemm.nr * sizeof(float));
            double flop = 2.0 * k->gemm.mr * k->gemm.nr * kc, best = 0;
            long calls = (long)(flop_per_run / flop) + 1;
            double all = 0;
            for (int rep = 0; rep < reps; rep++) {
                double t0 = t5pt_seconds();
                for (long i = 0; i < calls; i++) k->gemm.micro(kc, a, b, (size_t)k->gemm.nr, c, k->gemm.nr, 1);
                double dt = t5pt_seconds() - t0, g = flop * (double)calls / dt * 1e-9;
                if (g > best) best = g;
                all += dt;
            }
            total += best_of ? best : flop * (double)calls * reps / all * 1e-9;
        }
        t5pt_free_aligned(a), t5pt_free_aligned(b), t5pt_free_aligned(c);
    }
    return failed ? -1.0 : total;
}

static int bench_peak(int argc, char **argv) {
    const char *cmd = "bench peak";
    int threads = 0;
    const char *simd = NULL, *precision = "fp32";
    const cli_option opts[] = {BENCH_OPT_THREADS(&threads), BENCH_OPT_SIMD(&simd),
                               {.name = "precision", .kind = CLI_STR, .target = &precision, .metavar = "P",
                                .help = "bf16: also the bf16 micro-kernel, and its ratio to fp32", .dflt = "fp32",
                                .choices = "fp32|bf16"},
                               {0}};
    const cli_command spec = {.name = cmd, .usage = "[options]", .about = peak_about, .options = opts};
    int rc = cli_parse(&spec, argc, argv);
    if (rc != CLI_PARSED) return rc;
    if (apply_common(cmd, threads, simd)) return 1;
    const t5pt_kernels *k = t5pt_kern();
    const int kc = 256;
    int failed = 0, nt = t5pt_num_threads();
    double total = fp32_peak(nt, 2e8, 5, 1);
    if (total < 0) return cli_fail(cmd, "out of memory");
    printf("peak simd=%s threads=%d micro=%dx%d gflops=%.1f\n", k->name, nt, k->gemm.mr, k->gemm.nr, total);
    if (precision && strcmp(precision, "bf16") == 0) {
        /* the bf16 micro-kernel on the same depth (kc/2 K-pairs), operands in L1 */
        const t5pt_bf16_kernel *bk = t5pt_bf16_kern();
        double fp32 = total;
        total = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(+ : total, failed)
#endif
        {
            size_t aw = (size_t)bk->mr * kc, bw = (size_t)bk->nr * kc; /* room for split (widened) panels */
            uint32_t *a = t5pt_alloc_aligned(aw * sizeof(uint32_t)), *b = t5pt_alloc_aligned(bw * sizeof(uint32_t));
            float *c = t5pt_alloc_aligned((size_t)bk->mr * bk->nr * sizeof(float));
            if (!a || !b || !c) {
                failed += 1;
            } else {
                for (size_t i = 0; i < aw; i++) a[i] = 0x3a833a83u; /* small values: no overflow */
                for (size_t i = 0; i < bw; i++) b[i] = 0x3a033a03u;
                memset(c, 0, (size_t)bk->mr * bk->nr * sizeof(float));
                double flop = 2.0 * bk->mr * bk->nr * kc, best = 0;
                long calls = (long)(2e8 / flop) + 1;
                for (int rep = 0; rep < 5; rep++) {
                    double t0 = t5pt_seconds();
                    for (long i = 0; i < calls; i++) bk->micro(kc / 2, a, b, c, bk->nr, 1);
                    double dt = t5pt_seconds() - t0, g = flop * (double)calls / dt * 1e-9;
                    if (g > best) best = g;
                }
                total += best;
            }
            t5pt_free_aligned(a), t5pt_free_aligned(b), t5pt_free_aligned(c);
        }
        if (failed) return cli_fail(cmd, "out of memory");
        printf("peak precision=bf16 kernel=%s native=%s threads=%d micro=%dx%d gflops=%.1f bf16_vs_fp32=%.2f\n",
               bk->name, bk->native ? "yes" : "no", nt, bk->mr, bk->nr, total, total / fp32);
    }
    return 0;
}

/* ------------------------------------------------------------------ bench step */

/* FLOPs of one training step's matrix products (see the help text). */
static double step_flops(const t5pt_config *c, int B, int Te, int Td) {
    double d = c->d_model, inner = (double)c->num_heads * c->d_kv, f = c->d_ff, V = c->vocab_size;
    double ffn_in = c->gated_gelu ? 2.0 : 1.0;
    /* multiply-adds per token */
    double ffn = ffn_in * d * f + f * d;
    double enc_lin = (4.0 * d * inner + ffn) * B * Te * c->num_layers;
    double dec_lin = ((4.0 * d * inner + 2.0 * d * inner + ffn) * B * Td /* self q,k,v,o; cross q,o; ffn */
                      + 2.0 * d * inner * B * Te) /* cross k,v over the encoder output */
                     * c->num_decoder_layers;
    double head = d * V * B * Td;
    double enc_att = 2.0 * (double)B * c->num_heads * Te * Te * c->d_kv * c->num_layers;
    double dec_att = 2.0 * (double)B * c->num_heads * Td * (Td + Te) * c->d_kv * c->num_decoder_layers;
    return 2.0 * (enc_lin + dec_lin + head) * 2.0 + 2.0 * (enc_att + dec_att) * 3.0;
}

static const char step_about[] =
    "Whole training steps (forward, backward into the prompt, optimizer update) on a model\n"
    "(random weights when only --config is given) with random token ids; prints the median\n"
    "s/step after --warmup steps, GFLOP/s of the matrix products (counted analytically) and\n"
    "the peak resident memory.\n"
    "  FLOPs = 2 x (multiply-adds of every linear layer + lm_head) x 2 (forward, and the\n"
    "          input-gradient product of the backward; weights are frozen, no dW)\n"
    "        + 2 x (multiply-adds of the attention products QK^T and PV) x 3 (forward, and\n"
    "          two products each in the backward)\n"
    "threads= and threads_min= are the most and fewest threads a timed step used: without\n"
    "--threads or OMP_NUM_THREADS the count adapts to other programs' load, as in train.\n"
    "peak_gflops= is the fp32 micro-kernel's rate (as 'bench peak', a mean over about 25 ms)\n"
    "just before and after each timed step at its thread count, share_of_peak= the median\n"
    "over the steps of GFLOP/s / that peak: a share that holds while the machine's speed\n"
    "drifts (in bf16 mode still the fp32 peak).\n";

static int bench_step(int argc, char **argv) {
    const char *cmd = "bench step";
    int B = 8, S = 128, P = 100, L = 16, threads = 0, steps = 5, warmup = 1, recompute = 0;
    const char *simd = NULL, *model_dir = NULL, *config = NULL, *precision = NULL;
    const cli_option opts[] = {
        {.name = "model", .kind = CLI_STR, .target = &model_dir, .metavar = "DIR", .help = "Hugging Face T5 directory"},
        {.name = "config", .kind = CLI_STR, .target = &config, .metavar = "CONFIG.json",
         .help = "a config.json: random weights of that shape"},
        {.name = "batch", .kind = CLI_INT, .target = &B, .metavar = "B", .help = "rows per step", .min = 1, .max = 4096},
        {.name = "src-len", .kind = CLI_INT, .target = &S, .metavar = "S", .help = "input tokens per row",
         .min = 1, .max = 1 << 16},
        {.name = "prompt-len", .kind = CLI_INT, .target = &P, .metavar = "P", .help = "prompt rows", .min = 1, .max = 1 << 16},
        {.name = "tgt-len", .kind = CLI_INT, .target = &L, .metavar = "L", .help = "target tokens per row",
         .min = 1, .max = 1 << 16},
        {.name = "steps", .kind = CLI_INT, .target = &steps, .metavar = "N", .help = "timed steps", .min = 1, .max = 1 << 16},
        {.name = "warmup", .kind = CLI_INT, .target = &warmup, .metavar = "N", .help = "untimed steps first",
         .min = 0, .max = 1 << 16},
        {.name = "recompute", .kind = CLI_FLAG, .target = &recompute,
         .help = "activation recomputation (as train --recompute)"},
        CLI_OPT_PRECISION(&precision),
        CLI_OPT_THREADS(&threads), /* as train: adaptive unless a count is given */
        BENCH_OPT_SIMD(&simd),
        {0}};
    const cli_command spec = {.name = cmd, .usage = "(--model DIR | --config CONFIG.json) [options]", .about = step_about,
                           .options = opts};
    int rc = cli_parse(&spec, argc, argv);
    if (rc != CLI_PARSED) return rc;
    if (!model_dir == !config) return cli_usage_error(cmd, "give exactly one of --model DIR or --config CONFIG.json");
    if ((model_dir && cli_check_input_dir(cmd, "model", model_dir)) || (config && cli_check_input_file(cmd, "config", config)))
        return 1;
    if (apply_common(cmd, 0, simd)) return 1;
    cli_set_threads(threads); /* the count, and the adaptive policy when none is given */

    t5pt_model *m = NULL;
    t5pt_ctx *c = NULL;
    t5pt_optim *o = NULL;
    float *prompt = NULL;
    int32_t *ids = NULL, *labels = NULL;
    double *t = NULL;
    rc = 1;
    if (model_dir) {
        if (t5pt_model_load(&m, model_dir) != T5PT_OK) goto fail_lib;
    } else {
        t5pt_config cfg;
        if (t5pt_config_load(&cfg, config) != T5PT_OK) goto fail_lib;
        if (t5pt_model_init_random(&m, &cfg, 1234) != T5PT_OK) goto fail_lib;
    }
    if (cli_set_precision(cmd, m, precision) != 0) goto done;
    const t5pt_config *cfg = t5pt_model_config(m);
    int d = cfg->d_model;
    if (t5pt_ctx_create(&c, m, B, S, L, P) != T5PT_OK || t5pt_ctx_set_recompute(c, recompute) != T5PT_OK) goto fail_lib;
    t5pt_optim_config oc;
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAFACTOR);
    if (t5pt_optim_create(&o, &oc, P, d) != T5PT_OK) goto fail_lib;

    prompt = malloc((size_t)P * d * sizeof *prompt);
    ids = malloc((size_t)B * S * sizeof *ids);
    labels = malloc((size_t)B * L * sizeof *labels);
    t = malloc((size_t)steps * 3 * sizeof *t);
    double *peak = t ? t + steps : NULL, *share = t ? t + 2 * steps : NULL;
    if (!prompt || !ids || !labels || !t) {
        cli_fail(cmd, "out of memory");
        goto done;
    }
    /* random prompt U(-0.5, 0.5), random token ids (</s> at the end of each row) */
    t5pt_rng r;
    t5pt_rng_seed(&r, 99);
    for (size_t i = 0; i < (size_t)P * d; i++) prompt[i] = (float)(t5pt_rng_uniform(&r) - 0.5);
    int vocab = cfg->vocab_size < 32000 ? cfg->vocab_size : 32000;
    if (vocab < 3) { /* ids are drawn from 2 .. vocab-1 below */
        cli_fail(cmd, "vocab_size %d is too small (need at least 3)", cfg->vocab_size);
        goto done;
    }
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < S; j++) ids[b * S + j] = j == S - 1 ? 1 : 2 + (int32_t)(t5pt_rng_next(&r) % (uint64_t)(vocab - 2));
        for (int j = 0; j < L; j++)
            labels[b * L + j] = j == L - 1 ? 1 : 2 + (int32_t)(t5pt_rng_next(&r) % (uint64_t)(vocab - 2));
    }
    t5pt_batch batch = {B, S, L, ids, NULL, labels};
    t5pt_placement pl = {T5PT_PLACE_PREPEND, 0};
    float loss = 0;
    int used_min = 0, used_max = 0; /* threads of the timed steps (the adaptive policy may vary them) */
    double flops = step_flops(cfg, B, P + S, L);
    double peak_before = 0;
    for (int s = -warmup; s < steps; s++) {
        /* the fp32 peak just before and just after each timed step, at the step's thread
         * count (a mean over about 25 ms each): the step's share of the peak at its own clock */
        if (s == 0) peak_before = fp32_peak(t5pt_num_threads(), 2.5e8, 8, 0);
        double t0 = t5pt_seconds();
        if (t5pt_train_step(c, o, prompt, P, pl, &batch, &loss) != T5PT_OK) goto fail_lib;
        if (s < 0) continue;
        t[s] = t5pt_seconds() - t0;
        int used = t5pt_num_threads();
        if (!used_min || used < used_min) used_min = used;
        if (used > used_max) used_max = used;
        double peak_after = fp32_peak(used, 2.5e8, 8, 0);
        if (peak_before < 0 || peak_after < 0) {
            cli_fail(cmd, "out of memory");
            goto done;
        }
        peak[s] = 0.5 * (peak_before + peak_after);
        share[s] = flops / t[s] / (peak[s] * 1e9);
        peak_before = peak_after;
    }
    double med = median(t, steps);
    printf("step model=%s precision=%s%s%s simd=%s threads=%d threads_min=%d thread_policy=%s batch=%d prompt=%d "
           "src=%d tgt=%d recompute=%d steps=%d s_per_step=%.3f "
           "gflop_per_step=%.1f gflops=%.1f peak_gflops=%.1f share_of_peak=%.3f peak_rss_mb=%.0f weights_mb=%.0f "
           "activations_mb=%.0f loss=%.4f\n",
           model_dir ? model_dir : config, t5pt_precision_name(t5pt_model_precision(m)),
           t5pt_model_precision(m) == T5PT_PRECISION_BF16 ? " bf16_kernel=" : "",
           t5pt_model_precision(m) == T5PT_PRECISION_BF16 ? t5pt_bf16_kern()->name : "", t5pt_simd_path(), used_max,
           used_min, t5pt_get_thread_policy() == T5PT_THREADS_ADAPTIVE ? "adaptive" : "fixed", B, P, S, L, recompute,
           steps, med,
           flops * 1e-9, flops / med * 1e-9, median(peak, steps), median(share, steps), peak_rss_kb() / 1024.0,
           t5pt_model_weight_bytes(m) / 1048576.0, t5pt_ctx_bytes(c) / 1048576.0, loss);
    rc = 0;
    goto done;
fail_lib:
    cli_fail_lib(cmd);
done:
    free(prompt), free(ids), free(labels), free(t);
    t5pt_optim_free(o);
    t5pt_ctx_free(c);
    t5pt_model_free(m);
    return rc;
}

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} benchmarks[] = {
    {"gemm", bench_gemm, "GEMM GFLOP/s of the two products of a frozen linear layer"},
    {"peak", bench_peak, "the register micro-kernel's practical fp32 peak"},
    {"step", bench_step, "whole training steps: s/step, GFLOP/s, peak memory"},
};

int cli_bench(int argc, char **argv) {
    const size_t nb = sizeof benchmarks / sizeof benchmarks[0];
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fputs("usage: t5pt bench <benchmark> [options]   (t5pt bench <benchmark> --help for its options)\n\n", f);
        for (size_t i = 0; i < nb; i++) fprintf(f, "  %-6s %s\n", benchmarks[i].name, benchmarks[i].what);
        fputs("\nTimes are wall-clock medians after warm-up runs; result lines are key=value (bench/run.sh\n"
              "turns them into the tables of BENCHMARKS.md).\n", f);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < nb; i++)
        if (!strcmp(argv[1], benchmarks[i].name)) return benchmarks[i].run(argc - 1, argv + 1);
    return cli_usage_error("bench", "'%s': unknown benchmark (gemm, peak or step)", argv[1]);
}
