/* test_bf16.c — the bf16 compute precision (t5pt_model_set_precision) against golden/bf16.
 *
 * golden/bf16 (golden/README.md, "bf16 reference") is reference.py's Bf16Mode: the two
 * inputs of every matrix product rounded to bf16, products summed in float64. Each test
 * runs once per bf16 kernel this CPU runs (t5pt_bf16_kernels_available: the native
 * AVX512_BF16 / ARM BF16 kernel where present, and every emulation), forced with
 * t5pt_bf16_force_kernel.
 *
 * 1. Products on the reference's own operands (ops.safetensors of all six cases,
 *    ops_tolerance 1e-5): linear and lm_head forward and input gradient through
 *    t5pt_linear_forward / _backward in bf16 compute (W in fp32 and stored in bf16),
 *    Q K^T, P V and their four backward products through the bf16 GEMM with the operand
 *    layouts src/model/layers.c uses.
 * 2. End to end on the flip-free cases (bf16_micro, bf16_micro_gated: every forward tensor
 *    at 1e-5, prompt_grad at 1e-4; bf16_micro_traj: 2 Adafactor steps, teacher-forced as in
 *    test_backward, 1e-4), and the cached decoder's logits (model/decode.h) against the
 *    reference logits at 1e-5.
 *    armbf16 (bfdot, round-to-odd pair sums) differs from the others in the last bits of
 *    each sum (gemm_bf16.h: the same error bound with unit roundoff 2^-23); the flip-free
 *    cases keep every rounded operand >= 64 fp32 ulps from a bf16 midpoint, so such
 *    last-bit differences cannot flip a rounding and the same tolerances hold.
 *    AVX512_BF16 (vdpbf16ps) flushes denormal operands, products and partial sums to
 *    zero: each flush moves a sum by less than 2^-126 (plus the rounding it causes), far
 *    below the tolerances, which are relative to the largest value of each tensor (1e-5 of
 *    values of order 1e-3 or more); rounding flips cannot come from it either (an operand
 *    of magnitude >= 2^-126 is rounded the same way), so the same tolerances hold there.
 *    Measured under qemu-aarch64 -cpu max (armbf16): logits 5.8e-8, prompt_grad 1.4e-7
 *    (avx2-emul here: logits 0, prompt_grad 9.1e-8).
 * 3. Against the plain fp32 goldens (bf16_relu_tied_prepend, bf16_gelu_untied_prepend,
 *    bf16_traj_adafactor reuse cases/<fp32_case>): the bf16-vs-fp32 distance of each
 *    tensor must lie within [recorded / 4, 2 x recorded + 1e-5] of the reference's own
 *    bf16_vs_fp32_rel_err (case.json): large enough to show the operands are rounded,
 *    no larger than what rounding explains. Measured here (AVX2 CPU; avx2 and scalar
 *    paths): every tensor equals the recorded value to 3 digits, e.g. logits 8.93e-3 /
 *    2.61e-2 / 6.25e-3, prompt_grad 3.14e-2 / 1.54e-1 / 1.57e-2 (relu tied / gelu untied /
 *    traj_adafactor), encoder and decoder hidden states 3.8e-3 .. 2.7e-2, inputs_embeds 0.
 *    Against the bf16 reference on these cases (not flip-free) the bound is 4 x the
 *    recorded flip noise + 1e-5 (another fp32 implementation may flip roundings); measured
 *    here: <= 1.6e-7 for every forward tensor, <= 2.6e-7 for prompt_grad (no flip).
 * 4. The same bits for 1 and 2 threads in bf16 mode; fp32 unchanged after a switch to bf16
 *    and back; weights stored in bf16 or f16 give the bits of the same values in fp32; a
 *    linear packed in column blocks gives the bits of one GEMM over the whole weight.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "base/internal.h"
#include "model/ctx.h"
#include "model/decode.h"
#include "simd/gemm.h"
#include "simd/gemm_bf16.h"
#include "t5pt.h"

#define BF16_DIR "golden/bf16"

static const char *const all_cases[] = {"bf16_micro",           "bf16_micro_gated",        "bf16_micro_traj",
                                        "bf16_relu_tied_prepend", "bf16_gelu_untied_prepend", "bf16_traj_adafactor"};
#define N_ALL (int)(sizeof all_cases / sizeof all_cases[0])
static const char *const flip_free[] = {"bf16_micro", "bf16_micro_gated", "bf16_micro_traj"};
#define N_FLIP_FREE 3
static const char *const reused[] = {"bf16_relu_tied_prepend", "bf16_gelu_untied_prepend", "bf16_traj_adafactor"};
#define N_REUSED 3

static char kernel_names[8][32];
static int n_kernels;

static void use_kernel(int k) {
    const t5pt_bf16_kernel *bk = t5pt_bf16_kernel_named(kernel_names[k]);
    ck_assert_msg(bk, "bf16 kernel %s not available", kernel_names[k]);
    t5pt_bf16_force_kernel(bk);
}

/* ------------------------------------------------------------------ bf16 case files */

typedef struct {
    json_doc *json;
    const json_value *root;
    st_file *expected, *ops;
} bf16_files;

static void bf16_open(bf16_files *f, const char *name) {
    char path[512];
    memset(f, 0, sizeof *f);
    snprintf(path, sizeof path, "%s/%s/case.json", BF16_DIR, name);
    ck_assert_msg(t5pt_read_json(path, T5PT_ERR_FORMAT, &f->json) == T5PT_OK, "%s", t5pt_last_error());
    f->root = t5pt_json_root(f->json);
    snprintf(path, sizeof path, "%s/%s/expected.safetensors", BF16_DIR, name);
    ck_assert_msg(t5pt_st_open(&f->expected, path) == T5PT_OK, "%s", t5pt_last_error());
    snprintf(path, sizeof path, "%s/%s/ops.safetensors", BF16_DIR, name);
    ck_assert_msg(t5pt_st_open(&f->ops, path) == T5PT_OK, "%s", t5pt_last_error());
}

static void bf16_close(bf16_files *f) {
    t5pt_st_close(f->ops);
    t5pt_st_close(f->expected);
    t5pt_json_free(f->json);
}

/* case.json's object `field` at `tensor` (e.g. "tolerances", "logits"); -1 when absent */
static double json_num2(const json_value *root, const char *field, const char *tensor) {
    const json_value *o = t5pt_json_get(root, field);
    double v;
    return o && t5pt_json_get_num(o, tensor, &v) == 0 ? v : -1.0;
}

/* ------------------------------------------------------------------ 1. products */

/* One recorded product <kind>.<dir>: a [..., M, K], b [..., K, N] (b may be 2-D, shared),
 * out [..., M, N]. */
typedef struct {
    float *a, *b, *out;
    int batches, M, K, N, b_shared;
} recorded;

static int get_recorded(const st_file *ops, const char *name, recorded *r) {
    char key[96];
    const st_tensor *ta, *tb, *to;
    snprintf(key, sizeof key, "%s.a", name);
    ta = t5pt_st_get(ops, key);
    snprintf(key, sizeof key, "%s.b", name);
    tb = t5pt_st_get(ops, key);
    snprintf(key, sizeof key, "%s.out", name);
    to = t5pt_st_get(ops, key);
    if (!ta || !tb || !to) return 0;
    memset(r, 0, sizeof *r);
    r->M = (int)ta->shape[ta->ndim - 2];
    r->K = (int)ta->shape[ta->ndim - 1];
    r->N = (int)tb->shape[tb->ndim - 1];
    ck_assert_int_eq((int)tb->shape[tb->ndim - 2], r->K);
    r->batches = 1;
    for (int i = 0; i < ta->ndim - 2; i++) r->batches *= (int)ta->shape[i];
    r->b_shared = tb->ndim == 2;
    snprintf(key, sizeof key, "%s.a", name);
    r->a = golden_f32(ops, key, NULL);
    snprintf(key, sizeof key, "%s.b", name);
    r->b = golden_f32(ops, key, NULL);
    snprintf(key, sizeof key, "%s.out", name);
    r->out = golden_f32(ops, key, NULL);
    ck_assert(r->a && r->b && r->out);
    return 1;
}

static void recorded_free(recorded *r) {
    free(r->a);
    free(r->b);
    free(r->out);
}

static void transpose(float *dst, const float *src, int rows, int cols) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) dst[(size_t)j * rows + i] = src[(size_t)i * cols + j];
}

/* linear / lm_head: forward y = x W^T with W = b^T (b is [K_in, N_out]); input gradient
 * dx = g W with W = b ([N_out, K_in]). Both with W in fp32 and stored in bf16. */
static double check_linear(const recorded *r, int forward, int w_bf16) {
    const int rows = r->batches * r->M;
    const int N = forward ? r->N : r->K, K = forward ? r->K : r->N; /* W [N, K] */
    float *W = malloc(sizeof(float) * (size_t)N * K);
    if (forward) transpose(W, r->b, r->K, r->N);
    else memcpy(W, r->b, sizeof(float) * (size_t)N * K);
    uint16_t *W16 = malloc(sizeof(uint16_t) * (size_t)N * K);
    t5pt_f32_to_bf16_row(W16, W, (size_t)N * K);
    t5pt_linear lin;
    ck_assert(t5pt_linear_init(&lin, w_bf16 ? (const void *)W16 : (const void *)W, w_bf16 ? T5PT_WBF16 : T5PT_WF32, N,
                               K) == T5PT_OK);
    lin.compute = T5PT_PRECISION_BF16;
    float *got = malloc(sizeof(float) * (size_t)rows * r->N);
    if (forward) t5pt_linear_forward(got, r->N, r->a, r->K, rows, &lin, 0.0f);
    else t5pt_linear_backward(got, r->N, r->a, r->K, rows, &lin, 0.0f);
    double rel = golden_rel_err(got, r->out, (size_t)rows * r->N);
    free(got);
    free(W16);
    free(W);
    return rel;
}

/* An attention product as layers.c computes it: C = op(A) op(B) with the flags the model
 * uses. swap: the model computes out^T = b^T a^T (dK = dS^T Q for the recorded dK^T = Q^T dS). */
static double check_attn(const recorded *r, int transA, int transB, int swap) {
    const int M = swap ? r->N : r->M, N = swap ? r->M : r->N, K = r->K;
    float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)K * N);
    float *opa = malloc(sizeof(float) * (size_t)M * K), *opb = malloc(sizeof(float) * (size_t)K * N);
    float *C = malloc(sizeof(float) * (size_t)M * N), *got = malloc(sizeof(float) * (size_t)r->batches * r->M * r->N);
    for (int bt = 0; bt < r->batches; bt++) {
        const float *a = r->a + (size_t)bt * r->M * K, *b = r->b + (r->b_shared ? 0 : (size_t)bt * K * r->N);
        /* op(A) [M,K], op(B) [K,N] of the product the model computes */
        if (swap) {
            transpose(opa, b, K, r->N);   /* b^T [N, K] */
            transpose(opb, a, r->M, K);   /* a^T [K, M] */
        } else {
            memcpy(opa, a, sizeof(float) * (size_t)M * K);
            memcpy(opb, b, sizeof(float) * (size_t)K * N);
        }
        /* stored so that op() gives them back */
        if (transA) transpose(A, opa, M, K); else memcpy(A, opa, sizeof(float) * (size_t)M * K);
        if (transB) transpose(B, opb, K, N); else memcpy(B, opb, sizeof(float) * (size_t)K * N);
        t5pt_bf16_gemm_ex(transA, transB, M, N, K, 1.0f, A, T5PT_BF16_SRC_F32, transA ? M : K, B, T5PT_BF16_SRC_F32,
                          transB ? K : N, 0.0f, C, N, 1, NULL);
        float *g = got + (size_t)bt * r->M * r->N;
        if (swap) transpose(g, C, M, N);
        else memcpy(g, C, sizeof(float) * (size_t)M * N);
    }
    double rel = golden_rel_err(got, r->out, (size_t)r->batches * r->M * r->N);
    free(A), free(B), free(opa), free(opb), free(C), free(got);
    return rel;
}

START_TEST(test_ops) {
    const int ci = _i / n_kernels, k = _i % n_kernels;
    use_kernel(k);
    bf16_files f;
    bf16_open(&f, all_cases[ci]);
    double tol = 0;
    ck_assert(t5pt_json_get_num(f.root, "ops_tolerance", &tol) == 0 && tol > 0 && tol <= 1e-5);
    static const struct {
        const char *name;
        int linear, forward, transA, transB, swap;
    } prods[] = {
        {"linear.fwd", 1, 1, 0, 0, 0}, {"linear.da", 1, 0, 0, 0, 0},  {"lm_head.fwd", 1, 1, 0, 0, 0},
        {"lm_head.da", 1, 0, 0, 0, 0}, {"qk.fwd", 0, 0, 0, 1, 0},     {"qk.da", 0, 0, 0, 0, 0},
        {"qk.db", 0, 0, 1, 0, 1},      {"pv.fwd", 0, 0, 0, 0, 0},     {"pv.da", 0, 0, 0, 1, 0},
        {"pv.db", 0, 0, 1, 0, 0},
    };
    for (size_t p = 0; p < sizeof prods / sizeof prods[0]; p++) {
        recorded r;
        ck_assert_msg(get_recorded(f.ops, prods[p].name, &r), "%s: no %s in ops.safetensors", all_cases[ci],
                      prods[p].name);
        for (int w16 = 0; w16 <= prods[p].linear; w16++) {
            double rel = prods[p].linear ? check_linear(&r, prods[p].forward, w16)
                                         : check_attn(&r, prods[p].transA, prods[p].transB, prods[p].swap);
            golden_note(prods[p].name, rel);
            ck_assert_msg(rel <= tol, "%s %s (kernel %s%s): rel err %.3g > %.3g", all_cases[ci], prods[p].name,
                          kernel_names[k], w16 ? ", W stored bf16" : "", rel, tol);
        }
        recorded_free(&r);
    }
    bf16_close(&f);
    t5pt_bf16_force_kernel(NULL);
}
END_TEST

/* ------------------------------------------------------------------ 2. flip-free end to end */

/* Every float tensor of expected that t5pt_ctx_tensor exports, after a forward of c. */
static void check_forward_tensors(const t5pt_ctx *c, const st_file *expected, const json_value *root, float loss,
                                  const char *what, const char *note,
                                  double (*bound)(const json_value *, const char *, double)) {
    char noted[96];
    static const char *const names[] = {"inputs_embeds", "encoder_last_hidden_state", "decoder_last_hidden_state",
                                        "logits"};
    char name[64];
    for (int pass = 0; pass < 3; pass++) {
        int count = pass == 0 ? 4 : 64;
        for (int i = 0; i < count; i++) {
            if (pass == 0) snprintf(name, sizeof name, "%s", names[i]);
            else snprintf(name, sizeof name, "%s_block_%d", pass == 1 ? "encoder" : "decoder", i);
            size_t n = 0;
            float *want = golden_f32(expected, name, &n);
            if (!want) {
                ck_assert_msg(pass > 0 && i > 0, "%s: %s missing", what, name);
                break;
            }
            int dims[3];
            const float *got = t5pt_ctx_tensor(c, name, dims);
            ck_assert_msg(got && (size_t)dims[0] * dims[1] * dims[2] == n, "%s: %s shape", what, name);
            double rel = golden_rel_err(got, want, n), b = bound(root, name, rel);
            snprintf(noted, sizeof noted, "%s%s", note, name);
            golden_note(noted, rel);
            ck_assert_msg(rel <= b, "%s: %s rel err %.3g > %.3g", what, name, rel, b);
            free(want);
        }
    }
    size_t n = 0;
    float *want = golden_f32(expected, "loss", &n);
    ck_assert(want && n == 1);
    double rel = fabs((double)loss - want[0]) / fabs((double)want[0]), b = bound(root, "loss", rel);
    snprintf(noted, sizeof noted, "%sloss", note);
    golden_note(noted, rel);
    ck_assert_msg(rel <= b, "%s: loss %.9g vs %.9g (rel %.3g > %.3g)", what, (double)loss, (double)want[0], rel, b);
    free(want);
}

/* the case's tolerance (flip-free: binding) */
static double tol_bound(const json_value *root, const char *tensor, double measured) {
    (void)measured;
    double t = json_num2(root, "tolerances", tensor);
    return t > 0 ? t : 1e-5;
}

static void open_model(golden_case *g, t5pt_model **m, t5pt_ctx **c) {
    ck_assert_msg(t5pt_model_load(m, g->model_dir) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(t5pt_model_set_precision(*m, T5PT_PRECISION_BF16), T5PT_OK);
    ck_assert_int_eq(t5pt_model_precision(*m), T5PT_PRECISION_BF16);
    ck_assert_msg(t5pt_ctx_create(c, *m, g->batch.B, g->batch.T, g->batch.L, g->prompt_len) == T5PT_OK, "%s",
                  t5pt_last_error());
    ck_assert_int_eq(t5pt_ctx_set_loss(*c, g->loss_kind, g->z_loss), T5PT_OK);
}

/* logits of the cached decoder (one position at a time) after the forward of c */
static float *cached_logits(t5pt_ctx *c, const t5pt_model *m, const t5pt_batch *b) {
    const int V = t5pt_model_config(m)->vocab_size;
    int dims[3], Bm, Te, Bd, L;
    const float *H = t5pt_ctx_tensor(c, "encoder_last_hidden_state", dims);
    const int32_t *mask = t5pt_ctx_encoder_mask(c, &Bm, &Te);
    const int32_t *dec_in = t5pt_ctx_decoder_input_ids(c, &Bd, &L);
    ck_assert(H && mask && dec_in && Bd == b->B && L == b->L);
    int *row_enc = malloc(sizeof(int) * b->B);
    int32_t *tok = malloc(sizeof(int32_t) * b->B);
    for (int r = 0; r < b->B; r++) row_enc[r] = r;
    t5pt_kvdec *k;
    ck_assert_msg(t5pt_kvdec_create(&k, m, H, mask, b->B, Te, b->B, row_enc, b->L) == T5PT_OK, "%s", t5pt_last_error());
    float *got = malloc(sizeof(float) * b->B * b->L * V);
    for (int s = 0; s < b->L; s++) {
        for (int r = 0; r < b->B; r++) tok[r] = dec_in[r * b->L + s];
        const float *lg;
        ck_assert(t5pt_kvdec_step(k, tok, &lg) == T5PT_OK);
        for (int r = 0; r < b->B; r++) memcpy(got + ((size_t)r * b->L + s) * V, lg + (size_t)r * V, sizeof(float) * V);
    }
    t5pt_kvdec_free(k);
    free(row_enc);
    free(tok);
    return got;
}

START_TEST(test_flip_free) {
    const int ci = _i / n_kernels, k = _i % n_kernels;
    use_kernel(k);
    char what[96];
    snprintf(what, sizeof what, "%s (kernel %s)", flip_free[ci], kernel_names[k]);
    golden_case *g = golden_open_at(BF16_DIR, flip_free[ci]);
    ck_assert_msg(g, "%s", golden_error());
    int ff = 0;
    ck_assert(t5pt_json_get_bool(g->root, "flip_free", &ff) == 0 && ff == 1);
    t5pt_model *m;
    t5pt_ctx *c;
    open_model(g, &m, &c);
    float loss;
    ck_assert_msg(t5pt_forward(c, g->prompt, g->prompt_len, g->placement, &g->batch, &loss) == T5PT_OK, "%s",
                  t5pt_last_error());
    check_forward_tensors(c, g->expected, g->root, loss, what, "", tol_bound);
    /* the cached decoder rounds the same operands, one position at a time */
    const int V = t5pt_model_config(m)->vocab_size;
    const size_t nl = (size_t)g->batch.B * g->batch.L * V;
    float *want = golden_f32(g->expected, "logits", NULL);
    float *dec = cached_logits(c, m, &g->batch);
    double rel = golden_rel_err(dec, want, nl);
    golden_note("kv_cache_logits", rel);
    ck_assert_msg(rel <= tol_bound(g->root, "logits", rel), "%s: cached decoder logits rel err %.3g", what, rel);
    free(dec);
    free(want);
    /* prompt gradient */
    size_t nd = 0;
    want = golden_f32(g->expected, "prompt_grad", &nd);
    ck_assert(want && nd == (size_t)g->prompt_len * g->d_model);
    float *dP = malloc(nd * sizeof *dP);
    ck_assert_int_eq(t5pt_backward(c, dP), T5PT_OK);
    rel = golden_rel_err(dP, want, nd);
    golden_note("prompt_grad", rel);
    ck_assert_msg(rel <= tol_bound(g->root, "prompt_grad", rel), "%s: prompt_grad rel err %.3g", what, rel);
    free(want);

    /* trajectory: teacher-forced from the reference's prompt before each step (test_backward) */
    float *losses = golden_f32(g->expected, "traj.losses", NULL);
    if (losses) {
        t5pt_optim_config oc;
        int steps = 0;
        ck_assert(golden_optim_config(g, &oc, &steps) == 0);
        size_t na = 0, ng = 0;
        float *after = golden_f32(g->expected, "traj.prompt_after", &na);
        float *grads = golden_f32(g->expected, "traj.grads", &ng);
        ck_assert(after && grads && na == steps * nd && ng == steps * nd);
        t5pt_optim *o;
        ck_assert(t5pt_optim_create(&o, &oc, g->prompt_len, g->d_model) == T5PT_OK);
        float *P = malloc(nd * sizeof *P);
        const double tl = tol_bound(g->root, "traj.losses", 0), tg = tol_bound(g->root, "traj.grads", 0),
                     ta = tol_bound(g->root, "traj.prompt_after", 0);
        for (int s = 0; s < steps; s++) {
            const float *Ps = s == 0 ? g->prompt : after + (s - 1) * nd;
            float l1, l2;
            ck_assert_int_eq(t5pt_forward(c, Ps, g->prompt_len, g->placement, &g->batch, &l1), T5PT_OK);
            ck_assert_int_eq(t5pt_backward(c, dP), T5PT_OK);
            double rg = golden_rel_err(dP, grads + s * nd, nd);
            golden_note("traj.grads", rg);
            ck_assert_msg(rg <= tg, "%s step %d: grad rel err %.3g", what, s, rg);
            memcpy(P, Ps, nd * sizeof *P);
            ck_assert_int_eq(t5pt_train_step(c, o, P, g->prompt_len, g->placement, &g->batch, &l2), T5PT_OK);
            ck_assert(l1 == l2);
            double rl = fabs((double)l2 - losses[s]) / fabs((double)losses[s]);
            golden_note("traj.losses", rl);
            ck_assert_msg(rl <= tl, "%s step %d: loss %.9g vs %.9g", what, s, (double)l2, (double)losses[s]);
            double ra = golden_rel_err(P, after + s * nd, nd);
            golden_note("traj.prompt_after", ra);
            ck_assert_msg(ra <= ta, "%s step %d: prompt_after rel err %.3g", what, s, ra);
        }
        free(P);
        free(after);
        free(grads);
        free(losses);
        t5pt_optim_free(o);
    } else {
        ck_assert_msg(strcmp(flip_free[ci], "bf16_micro_traj") != 0, "bf16_micro_traj: no traj.losses");
    }
    free(dP);
    t5pt_ctx_free(c);
    t5pt_model_free(m);
    golden_close(g);
    t5pt_bf16_force_kernel(NULL);
}
END_TEST

/* ------------------------------------------------------------------ 3. against fp32 */

/* bf16 vs the fp32 goldens: within [recorded / 4, 2 recorded + 1e-5] of case.json's
 * bf16_vs_fp32_rel_err (0 recorded: no product before it, exact to 1e-6). The lower end
 * shows the operands really are rounded. */
static double vs_fp32_bound(const json_value *root, const char *tensor, double measured) {
    double r = json_num2(root, "bf16_vs_fp32_rel_err", tensor);
    ck_assert_msg(r >= 0, "bf16_vs_fp32_rel_err: no %s", tensor);
    if (r == 0) return 1e-6;
    ck_assert_msg(measured >= r / 4, "%s: bf16 vs fp32 rel err %.3g is below a quarter of the reference's %.3g: "
                  "are the operands rounded?", tensor, measured, r);
    return 2 * r + 1e-5;
}

/* bf16 vs the bf16 reference on a case that is not flip-free: the rounding flips of
 * another fp32 implementation, bf16_flip_noise_rel_err (measured with 4-ulp moves). */
static double flip_noise_bound(const json_value *root, const char *tensor, double measured) {
    (void)measured;
    double r = json_num2(root, "bf16_flip_noise_rel_err", tensor);
    ck_assert_msg(r >= 0, "bf16_flip_noise_rel_err: no %s", tensor);
    return 4 * r + 1e-5;
}

START_TEST(test_vs_fp32) {
    bf16_files f;
    bf16_open(&f, reused[_i]);
    const char *fp32_case = t5pt_json_get_str(f.root, "fp32_case");
    ck_assert_msg(fp32_case, "%s: no fp32_case", reused[_i]);
    golden_case *g = golden_open(fp32_case);
    ck_assert_msg(g, "%s", golden_error());
    char what[128];
    t5pt_model *m;
    t5pt_ctx *c;
    open_model(g, &m, &c);
    float loss;
    ck_assert_int_eq(t5pt_forward(c, g->prompt, g->prompt_len, g->placement, &g->batch, &loss), T5PT_OK);
    snprintf(what, sizeof what, "%s vs fp32 goldens of %s", reused[_i], fp32_case);
    check_forward_tensors(c, g->expected, f.root, loss, what, "vs_fp32 ", vs_fp32_bound);
    snprintf(what, sizeof what, "%s vs the bf16 reference", reused[_i]);
    check_forward_tensors(c, f.expected, f.root, loss, what, "vs_bf16_ref ", flip_noise_bound);
    size_t nd = (size_t)g->prompt_len * g->d_model, n;
    float *dP = malloc(nd * sizeof *dP);
    ck_assert_int_eq(t5pt_backward(c, dP), T5PT_OK);
    float *want = golden_f32(g->expected, "prompt_grad", &n);
    ck_assert(want && n == nd);
    double rel = golden_rel_err(dP, want, nd), b = vs_fp32_bound(f.root, "prompt_grad", rel);
    golden_note("vs_fp32 prompt_grad", rel);
    ck_assert_msg(rel <= b, "%s: prompt_grad vs fp32 rel err %.3g > %.3g", reused[_i], rel, b);
    free(want);
    want = golden_f32(f.expected, "prompt_grad", &n);
    ck_assert(want && n == nd);
    rel = golden_rel_err(dP, want, nd);
    b = flip_noise_bound(f.root, "prompt_grad", rel);
    golden_note("vs_bf16_ref prompt_grad", rel);
    ck_assert_msg(rel <= b, "%s: prompt_grad vs bf16 reference rel err %.3g > %.3g", reused[_i], rel, b);
    free(want);
    free(dP);
    t5pt_ctx_free(c);
    t5pt_model_free(m);
    golden_close(g);
    bf16_close(&f);
}
END_TEST

/* ------------------------------------------------------------------ 4. bits */

/* A random gated model large enough for the parallel paths (GEMM tiles split across
 * threads, several (batch, head) pairs): logits and dP of a bf16 forward + backward. */
static void random_run(t5pt_model *m, int threads, float *logits, float *dP, int *nlogits) {
    const int B = 3, T = 37, L = 9, n = 5;
    t5pt_set_num_threads(threads);
    t5pt_ctx *c;
    ck_assert(t5pt_ctx_create(&c, m, B, T, L, n) == T5PT_OK);
    int32_t ids[3 * 37], mask[3 * 37], labels[3 * 9];
    t5pt_rng r;
    t5pt_rng_seed(&r, 5);
    const int V = t5pt_model_config(m)->vocab_size;
    for (int i = 0; i < B * T; i++) {
        ids[i] = 2 + (int32_t)(t5pt_rng_next(&r) % (uint64_t)(V - 2));
        mask[i] = i % T < T - 3 * (i / T);   /* rows padded 0, 3, 6 */
    }
    for (int i = 0; i < B * L; i++) labels[i] = i % L == L - 1 ? -100 : 2 + (int32_t)(t5pt_rng_next(&r) % (uint64_t)(V - 2));
    float P[5 * 64];
    for (int i = 0; i < n * 64; i++) P[i] = (float)(t5pt_rng_uniform(&r) - 0.5);
    t5pt_batch b = {B, T, L, ids, mask, labels};
    t5pt_placement pl = {T5PT_PLACE_PREPEND, 0};
    float loss;
    ck_assert_msg(t5pt_forward(c, P, n, pl, &b, &loss) == T5PT_OK, "%s", t5pt_last_error());
    int dims[3];
    const float *lg = t5pt_ctx_tensor(c, "logits", dims);
    *nlogits = dims[0] * dims[1] * dims[2];
    memcpy(logits, lg, sizeof(float) * (size_t)*nlogits);
    ck_assert(t5pt_backward(c, dP) == T5PT_OK);
    t5pt_ctx_free(c);
}

static t5pt_model *random_model(void) {
    t5pt_config cfg = {.vocab_size = 300, .d_model = 64, .d_kv = 16, .d_ff = 96, .num_layers = 2,
                       .num_decoder_layers = 2, .num_heads = 4, .rel_num_buckets = 32, .rel_max_distance = 128,
                       .layer_norm_epsilon = 1e-6f, .gated_gelu = 1, .tie_word_embeddings = 0,
                       .decoder_start_token_id = 0, .pad_token_id = 0, .eos_token_id = 1};
    t5pt_model *m;
    ck_assert_msg(t5pt_model_init_random(&m, &cfg, 77) == T5PT_OK, "%s", t5pt_last_error());
    return m;
}

enum { MAX_LOGITS = 3 * 9 * 300 };

START_TEST(test_threads_bit_identical) {
    t5pt_model *m = random_model();
    ck_assert_int_eq(t5pt_model_set_precision(m, T5PT_PRECISION_BF16), T5PT_OK);
    static float l1[MAX_LOGITS], l2[MAX_LOGITS];
    float d1[5 * 64], d2[5 * 64];
    int n1, n2;
    const int saved = t5pt_num_threads();
    random_run(m, 1, l1, d1, &n1);
    random_run(m, 2, l2, d2, &n2);
    t5pt_set_num_threads(saved);
    ck_assert_int_eq(n1, n2);
    ck_assert_msg(memcmp(l1, l2, sizeof(float) * (size_t)n1) == 0, "bf16 logits differ between 1 and 2 threads");
    ck_assert_msg(memcmp(d1, d2, sizeof d1) == 0, "bf16 prompt gradient differs between 1 and 2 threads");
    t5pt_model_free(m);
}
END_TEST

/* Switching to bf16 and back leaves fp32 exactly as before; bf16 really differs. */
START_TEST(test_fp32_unchanged) {
    t5pt_model *m = random_model();
    static float a[MAX_LOGITS], b[MAX_LOGITS], c16[MAX_LOGITS];
    float da[5 * 64], db[5 * 64], d16[5 * 64];
    int na, nb, n16;
    const int threads = t5pt_num_threads();
    ck_assert_int_eq(t5pt_model_precision(m), T5PT_PRECISION_FP32);
    random_run(m, threads, a, da, &na);
    ck_assert_int_eq(t5pt_model_set_precision(m, T5PT_PRECISION_BF16), T5PT_OK);
    random_run(m, threads, c16, d16, &n16);
    ck_assert_int_eq(t5pt_model_set_precision(m, T5PT_PRECISION_FP32), T5PT_OK);
    random_run(m, threads, b, db, &nb);
    ck_assert(na == nb && na == n16);
    ck_assert(memcmp(a, b, sizeof(float) * (size_t)na) == 0 && memcmp(da, db, sizeof da) == 0);
    double rel = golden_rel_err(c16, a, (size_t)na);
    ck_assert_msg(rel > 1e-4 && rel < 0.1, "bf16 vs fp32 logits of the random model: rel %.3g", rel);
    ck_assert_int_eq(t5pt_model_set_precision(m, (t5pt_precision)7), T5PT_ERR_ARG);
    ck_assert_int_eq(t5pt_model_precision(m), T5PT_PRECISION_FP32);
    t5pt_model_free(m);
}
END_TEST

/* IEEE half bits of a float that is exactly a half (tests only: |x| in half's normal range). */
static uint16_t half_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t sign = (u >> 16) & 0x8000u, e = (u >> 23) & 0xffu, mant = u & 0x7fffffu;
    if (e == 0) return (uint16_t)sign;
    return (uint16_t)(sign | (e - 112u) << 10 | mant >> 13);
}

/* Weights stored in bf16 or f16 give the bits of the same values held in fp32. */
START_TEST(test_weight_types) {
    enum { N = 37, K = 70, M = 45 };
    static float W[N * K], x[M * K], g[M * N], y32[M * N], y[M * N], dx32[M * K], dx[M * K];
    static uint16_t W16[N * K];
    t5pt_rng r;
    t5pt_rng_seed(&r, 3);
    for (int i = 0; i < M * K; i++) x[i] = (float)(t5pt_rng_uniform(&r) - 0.5);
    for (int i = 0; i < M * N; i++) g[i] = (float)(t5pt_rng_uniform(&r) - 0.5);
    for (int type = 1; type <= 2; type++) {
        for (int i = 0; i < N * K; i++) {
            /* values both formats hold exactly: 8 significant bits, exponents well inside f16's range */
            float v = (float)((int)(t5pt_rng_next(&r) % 255) - 127) / 128.0f;
            W[i] = v == 0.0f ? 0.5f : v;
            W16[i] = type == 1 ? t5pt_f32_to_bf16(W[i]) : half_bits(W[i]);
        }
        t5pt_linear l32, l16;
        ck_assert(t5pt_linear_init(&l32, W, T5PT_WF32, N, K) == T5PT_OK);
        ck_assert(t5pt_linear_init(&l16, W16, type == 1 ? T5PT_WBF16 : T5PT_WF16, N, K) == T5PT_OK);
        ck_assert_int_eq(l32.compute, T5PT_PRECISION_FP32);
        l32.compute = l16.compute = T5PT_PRECISION_BF16;
        t5pt_linear_forward(y32, N, x, K, M, &l32, 0.0f);
        t5pt_linear_forward(y, N, x, K, M, &l16, 0.0f);
        ck_assert_msg(memcmp(y, y32, sizeof y) == 0, "forward, W stored as type %d", type);
        t5pt_linear_backward(dx32, K, g, N, M, &l32, 0.0f);
        t5pt_linear_backward(dx, K, g, N, M, &l16, 0.0f);
        ck_assert_msg(memcmp(dx, dx32, sizeof dx) == 0, "backward, W stored as type %d", type);
        /* and the bf16 product really rounds x: it differs from fp32 compute */
        l32.compute = T5PT_PRECISION_FP32;
        t5pt_linear_forward(y, N, x, K, M, &l32, 0.0f);
        ck_assert(golden_rel_err(y32, y, (size_t)M * N) > 1e-4);
    }
}
END_TEST

/* A linear whose packed W exceeds one block (simd/gemm.c, linear_bf16: 4 MB) gives the bits
 * of one bf16 GEMM over the whole of W, forward and backward, W in fp32 and in bf16. */
START_TEST(test_blocked_linear) {
    enum { N = 4100, K = 300, M = 21 };
    float *W = malloc(sizeof(float) * N * K), *x = malloc(sizeof(float) * M * K), *g = malloc(sizeof(float) * M * N);
    float *y = malloc(sizeof(float) * M * N), *y1 = malloc(sizeof(float) * M * N);
    float *dx = malloc(sizeof(float) * M * K), *dx1 = malloc(sizeof(float) * M * K);
    uint16_t *W16 = malloc(sizeof(uint16_t) * N * K);
    t5pt_rng r;
    t5pt_rng_seed(&r, 9);
    for (int i = 0; i < N * K; i++) W[i] = (float)(t5pt_rng_uniform(&r) - 0.5);
    for (int i = 0; i < M * K; i++) x[i] = (float)(t5pt_rng_uniform(&r) - 0.5);
    for (int i = 0; i < M * N; i++) g[i] = (float)(t5pt_rng_uniform(&r) - 0.5);
    t5pt_f32_to_bf16_row(W16, W, (size_t)N * K);
    for (int type = 0; type < 2; type++) {
        const void *w = type ? (const void *)W16 : (const void *)W;
        const t5pt_bf16_src src = type ? T5PT_BF16_SRC_BF16 : T5PT_BF16_SRC_F32;
        t5pt_linear lin;
        ck_assert(t5pt_linear_init(&lin, w, type ? T5PT_WBF16 : T5PT_WF32, N, K) == T5PT_OK);
        lin.compute = T5PT_PRECISION_BF16;
        t5pt_linear_forward(y, N, x, K, M, &lin, 0.0f);
        t5pt_bf16_gemm_ex(0, 1, M, N, K, 1.0f, x, T5PT_BF16_SRC_F32, K, w, src, K, 0.0f, y1, N, 1, NULL);
        ck_assert_msg(memcmp(y, y1, sizeof(float) * M * N) == 0, "blocked forward, W type %d", type);
        t5pt_linear_backward(dx, K, g, N, M, &lin, 0.0f);
        t5pt_bf16_gemm_ex(0, 0, M, K, N, 1.0f, g, T5PT_BF16_SRC_F32, N, w, src, K, 0.0f, dx1, K, 1, NULL);
        ck_assert_msg(memcmp(dx, dx1, sizeof(float) * M * K) == 0, "backward, W type %d", type);
    }
    free(W), free(x), free(g), free(y), free(y1), free(dx), free(dx1), free(W16);
}
END_TEST

START_TEST(test_precision_names) {
    t5pt_precision p = T5PT_PRECISION_BF16;
    ck_assert_int_eq(t5pt_precision_parse("fp32", &p), T5PT_OK);
    ck_assert_int_eq(p, T5PT_PRECISION_FP32);
    ck_assert_int_eq(t5pt_precision_parse("bf16", &p), T5PT_OK);
    ck_assert_int_eq(p, T5PT_PRECISION_BF16);
    ck_assert_int_eq(t5pt_precision_parse("fp16", &p), T5PT_ERR_ARG);
    ck_assert(strstr(t5pt_last_error(), "fp32|bf16"));
    ck_assert_int_eq(t5pt_precision_parse(NULL, &p), T5PT_ERR_ARG);
    ck_assert_str_eq(t5pt_precision_name(T5PT_PRECISION_FP32), "fp32");
    ck_assert_str_eq(t5pt_precision_name(T5PT_PRECISION_BF16), "bf16");
    ck_assert_ptr_null(t5pt_precision_name((t5pt_precision)2));
}
END_TEST

static Suite *bf16_suite(void) {
    Suite *s = suite_create("bf16");
    TCase *tc = tcase_create("bf16");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_precision_names);
    tcase_add_test(tc, test_weight_types);
    tcase_add_test(tc, test_blocked_linear);
    tcase_add_test(tc, test_threads_bit_identical);
    tcase_add_test(tc, test_fp32_unchanged);
    tcase_add_loop_test(tc, test_ops, 0, N_ALL * n_kernels);
    tcase_add_loop_test(tc, test_flip_free, 0, N_FLIP_FREE * n_kernels);
    tcase_add_loop_test(tc, test_vs_fp32, 0, N_REUSED);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    char list[256];
    snprintf(list, sizeof list, "%s", t5pt_bf16_kernels_available());
    char *save = NULL;
    for (char *t = strtok_r(list, " ", &save); t && n_kernels < 8; t = strtok_r(NULL, " ", &save))
        snprintf(kernel_names[n_kernels++], sizeof kernel_names[0], "%s", t);
    if (n_kernels == 0) {
        fprintf(stderr, "test_bf16: no bf16 kernel available\n");
        return 1;
    }
    printf("bf16 kernels: %s (selected: %s)\n", t5pt_bf16_kernels_available(), t5pt_bf16_kern()->name);
    SRunner *sr = srunner_create(bf16_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    golden_print_notes("bf16");
    return failed ? 1 : 0;
}
