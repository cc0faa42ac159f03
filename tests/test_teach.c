/* test_teach.c — the teaching tools: the trace of the backward pass, the readable backward,
 * the prompt's nearest vocabulary pieces, the SVG figures.
 *
 * 1. The trace's numbers are the backward's: on two golden cases (gelu_untied_prepend:
 *    prepend; at_k: at:4 with a padded row) its prompt-row norms equal the row norms of
 *    PyTorch's prompt_grad, and the gradient it records at every encoder sublayer and every
 *    decoder block output agrees with central finite differences of the loss, for the
 *    prompt rows and the input rows apart (directional derivatives along the recorded
 *    gradient, whose value is the norm the trace reports, and along a random direction).
 * 2. The readable backward gives the same prompt gradient as the optimised one (fp32 rounding).
 * 3. The command line: trace --json against dump --grad, the SVG files parsed as XML with
 *    the expected number of bars and cells, and the errors the issue lists.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "golden_util.h"
#include "file_util.h"
#include "xml_check.h"
#include "base/internal.h"
#include "io/json.h"
#include "io/svg.h"
#include "model/neighbors.h"
#include "model/trace.h"
#include "t5pt.h"

static const char *const fd_cases[] = {"gelu_untied_prepend", "at_k"};

/* ------------------------------------------------------------------ library-level trace */

typedef struct {
    golden_case *g;
    t5pt_model *m;
    t5pt_ctx *c;
    t5pt_trace *t;
    float *dP;
} traced;

static void traced_open(traced *s, const char *name) {
    memset(s, 0, sizeof *s);
    s->g = golden_open(name);
    ck_assert_msg(s->g, "%s", golden_error());
    golden_case *g = s->g;
    ck_assert_msg(t5pt_model_load(&s->m, g->model_dir) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_int_eq(t5pt_ctx_create(&s->c, s->m, g->batch.B, g->batch.T, g->batch.L, g->prompt_len), T5PT_OK);
    t5pt_ctx_set_readable_backward(s->c, 0);   /* whatever the environment says */
    ck_assert_int_eq(t5pt_trace_create(&s->t, s->c), T5PT_OK);
    s->dP = malloc((size_t)g->prompt_len * g->d_model * sizeof(float));
}

static void traced_close(traced *s) {
    free(s->dP);
    t5pt_trace_free(s->t);
    t5pt_ctx_free(s->c);
    t5pt_model_free(s->m);
    golden_close(s->g);
}

static double run_loss(traced *s) {
    float loss;
    ck_assert_int_eq(t5pt_forward(s->c, s->g->prompt, s->g->prompt_len, s->g->placement, &s->g->batch, &loss),
                     T5PT_OK);
    return loss;
}

static void run_backward(traced *s) {
    run_loss(s);
    ck_assert_msg(t5pt_backward(s->c, s->dP) == T5PT_OK, "%s", t5pt_last_error());
    ck_assert_msg(t5pt_trace_finish(s->t, s->dP) == T5PT_OK, "%s", t5pt_last_error());
}

/* Row kind in the encoder (1 prompt, 0 input token, -1 padding), from the mask and placement. */
static int row_kind(const traced *s, int r) {
    const int *pa = s->c->prompt_at, Tenc = s->c->Tenc, b = r / Tenc, t = r % Tenc;
    if (t >= pa[b] && t < pa[b] + s->c->n) return 1;
    return s->c->enc_mask[r] ? 0 : -1;
}

/* Directional derivative of the loss at the probe's place along u [rows, d] (unit norm):
 * fourth-order central differences. */
static double fd_dir(traced *s, int decoder, int layer, int sub, const float *u) {
    t5pt_trace *t = s->t;
    t->probe.active = 1;
    t->probe.decoder = decoder;
    t->probe.layer = layer;
    t->probe.sublayer = sub;
    t->probe.dir = u;
    const double e = 4e-3;
    double f[4];
    const double k[4] = {-2, -1, 1, 2};
    for (int i = 0; i < 4; i++) {
        t->probe.eps = (float)(k[i] * e);
        f[i] = run_loss(s);
    }
    t->probe.active = 0;
    return (8 * (f[2] - f[1]) - (f[3] - f[0])) / (12 * e);
}

/* The trace's row norms of one sublayer against the captured gradient G, then finite
 * differences along G restricted to one kind of rows and along a random direction. */
static void check_site(traced *s, int decoder, int layer, int sub, const char *what) {
    t5pt_trace *t = s->t;
    const int d = t->d, S = T5PT_TRACE_SUBLAYERS;
    const int rows = s->c->B * (decoder ? s->c->L : s->c->Tenc);
    const size_t nd = (size_t)rows * d;
    float *G = malloc(nd * sizeof *G), *u = malloc(nd * sizeof *u);
    t->probe.capture = G;
    t->probe.decoder = decoder;
    t->probe.layer = layer;
    t->probe.sublayer = sub;
    run_backward(s);
    t->probe.capture = NULL;
    const float *tr = decoder ? t->dec_row + ((size_t)layer * S + sub) * t->cap_dec_rows
                              : t->enc_row + ((size_t)layer * S + sub) * t->cap_enc_rows;
    /* kinds: encoder prompt rows (1), input rows (0); decoder rows with a label (2) */
    const int kinds[2] = {decoder ? 2 : 1, decoder ? -9 : 0};
    for (int ki = 0; ki < 2; ki++) {
        const int kind = kinds[ki];
        if (kind == -9) continue;
        double g2 = 0, mean = 0;
        int cnt = 0;
        for (int r = 0; r < rows; r++) {
            int rk = decoder ? (s->c->labels[r] != -100 ? 2 : -1) : row_kind(s, r);
            double rn = 0;
            for (int i = 0; i < d; i++) rn += (double)G[(size_t)r * d + i] * G[(size_t)r * d + i];
            rn = sqrt(rn);
            if (rk == kind) {
                /* the recorded norm is the norm of the vector the backward computed */
                ck_assert_msg(fabs(tr[r] - rn) <= 1e-6 * rn + 1e-30, "%s row %d: trace %.9g vs %.9g", what, r,
                              (double)tr[r], rn);
                g2 += rn * rn;
                mean += rn;
                cnt++;
            }
            for (int i = 0; i < d; i++) u[(size_t)r * d + i] = rk == kind ? G[(size_t)r * d + i] : 0.0f;
        }
        ck_assert_int_gt(cnt, 0);
        const double want_mean = decoder ? t->dec_target[layer * S + sub]
                                         : (kind == 1 ? t->enc_prompt : t->enc_input)[layer * S + sub];
        ck_assert_msg(fabs(mean / cnt - want_mean) <= 1e-6 * want_mean, "%s: mean %.9g vs trace %.9g", what,
                      mean / cnt, want_mean);
        const double gn = sqrt(g2);
        ck_assert_msg(gn > 0, "%s: zero gradient", what);
        for (size_t i = 0; i < nd; i++) u[i] = (float)(u[i] / gn);
        const double fd = fd_dir(s, decoder, layer, sub, u), err = fabs(fd - gn) / gn;
        golden_note(kind == 1 ? "trace_fd_prompt_rows" : kind == 0 ? "trace_fd_input_rows" : "trace_fd_decoder_rows",
                    err);
        ck_assert_msg(err < 2e-3, "%s kind %d: finite difference %.7g vs ||G|| %.7g (rel err %.3g)", what, kind, fd, gn,
                      err);
    }
    /* a random direction over every row: <G, v> */
    t5pt_rng rng;
    t5pt_rng_seed(&rng, 77 + (uint64_t)layer * 3 + (uint64_t)sub);
    double vn = 0, dot = 0, gn = 0;
    for (size_t i = 0; i < nd; i++) {
        u[i] = t5pt_rng_normal(&rng);
        vn += (double)u[i] * u[i];
        gn += (double)G[i] * G[i];
    }
    vn = sqrt(vn);
    for (size_t i = 0; i < nd; i++) {
        u[i] = (float)(u[i] / vn);
        dot += (double)G[i] * u[i];
    }
    const double fd = fd_dir(s, decoder, layer, sub, u), err = fabs(fd - dot) / sqrt(gn);
    golden_note("trace_fd_random_direction", err);
    ck_assert_msg(err < 2e-3, "%s random direction: fd %.7g vs <G,v> %.7g (err %.3g of ||G||)", what, fd, dot, err);
    free(G);
    free(u);
}

START_TEST(test_trace_against_goldens_and_fd) {
    traced s;
    traced_open(&s, fd_cases[_i]);
    golden_case *g = s.g;
    run_backward(&s);
    const t5pt_trace *t = s.t;
    const int n = g->prompt_len, d = g->d_model;
    /* prompt rows: the trace against PyTorch autograd's prompt_grad */
    size_t nw = 0;
    float *want = golden_f32(g->expected, "prompt_grad", &nw);
    ck_assert(want && nw == (size_t)n * d);
    double maxw = 0, maxerr = 0;
    for (int i = 0; i < n; i++) {
        double w = 0;
        for (int k = 0; k < d; k++) w += (double)want[i * d + k] * want[i * d + k];
        w = sqrt(w);
        maxw = fmax(maxw, w);
        maxerr = fmax(maxerr, fabs(t->prompt_row[i] - w));
    }
    golden_note("trace_prompt_rows_vs_autograd", maxerr / maxw);
    ck_assert_msg(maxerr <= golden_tol(g, "prompt_grad", 1e-4) * maxw, "%s: prompt row norms off by %.3g (max %.3g)",
                  g->name, maxerr, maxw);
    free(want);
    /* the shape of the record: decoder layer 0's self-attention is skipped (optimised backward) */
    ck_assert(isnan(t->dec_target[0 * T5PT_TRACE_SUBLAYERS + T5PT_TRACE_SELF]));
    for (int l = 1; l < t->dec_layers; l++) ck_assert(isfinite(t->dec_target[l * T5PT_TRACE_SUBLAYERS + T5PT_TRACE_SELF]));
    /* attention mass: probabilities, and the prompt gets some of it */
    for (int i = 0; i < t->enc_layers * t->H; i++) ck_assert(t->enc_attn[i] > 0 && t->enc_attn[i] < 1);
    for (int i = 0; i < t->dec_layers * t->H; i++) ck_assert(t->dec_attn[i] > 0 && t->dec_attn[i] < 1);
    /* the cross-attention contributions add up to d H_enc (the trace's difference of sums) */
    ck_assert(isfinite(t->henc_prompt) && t->henc_prompt > 0);
    /* finite differences at every sublayer that has a probe */
    char what[320];   /* a case name (up to 255) and the site */
    for (int l = 0; l < t->enc_layers; l++)
        for (int sub = 0; sub < T5PT_TRACE_SUBLAYERS; sub += 2) {
            snprintf(what, sizeof what, "%s encoder %d sublayer %d", g->name, l, sub);
            check_site(&s, 0, l, sub, what);
        }
    for (int l = 0; l < t->dec_layers; l++) {
        snprintf(what, sizeof what, "%s decoder %d FFN", g->name, l);
        check_site(&s, 1, l, T5PT_TRACE_FFN, what);
    }
    traced_close(&s);
}
END_TEST

/* ------------------------------------------------------------------ readable backward */

/* The learner switch: the same prompt gradient with and without the shortcuts, on every
 * golden case (padding, every placement, relu and gated-gelu). */
START_TEST(test_readable_backward_same_gradient) {
    char **names;
    int nc = golden_list(&names);
    golden_assert_list(nc);
    int with_padding = 0;
    for (int ci = 0; ci < nc; ci++) {
        golden_case *g = golden_open(names[ci]);
        ck_assert_msg(g, "%s", golden_error());
        t5pt_model *m;
        ck_assert_int_eq(t5pt_model_load(&m, g->model_dir), T5PT_OK);
        t5pt_ctx *c;
        ck_assert_int_eq(t5pt_ctx_create(&c, m, g->batch.B, g->batch.T, g->batch.L, g->prompt_len), T5PT_OK);
        const size_t nd = (size_t)g->prompt_len * g->d_model;
        float *fast = malloc(nd * sizeof *fast), *plain = malloc(nd * sizeof *plain);
        float l1, l2;
        t5pt_ctx_set_readable_backward(c, 0);
        ck_assert_int_eq(t5pt_forward(c, g->prompt, g->prompt_len, g->placement, &g->batch, &l1), T5PT_OK);
        ck_assert_int_eq(t5pt_backward(c, fast), T5PT_OK);
        int padded = 0;
        for (int b = 0; b < c->B; b++) padded |= c->enc_live_len[b] < c->Tenc;
        with_padding += padded;
        t5pt_ctx_set_readable_backward(c, 1);
        ck_assert_int_eq(t5pt_ctx_readable_backward(c), 1);
        ck_assert_int_eq(t5pt_backward(c, plain), T5PT_ERR_ARG);   /* the switch needs a new forward */
        ck_assert_int_eq(t5pt_forward(c, g->prompt, g->prompt_len, g->placement, &g->batch, &l2), T5PT_OK);
        ck_assert(c->n_live == 1 && c->live_rows[0] == c->B * c->Tenc);   /* no padding row is skipped */
        ck_assert_int_eq(t5pt_backward(c, plain), T5PT_OK);
        ck_assert(l1 == l2);
        double rel = golden_rel_err(plain, fast, nd);
        golden_note("readable_vs_optimised", rel);
        ck_assert_msg(rel <= 1e-5, "%s: readable backward differs by %.3g", g->name, rel);
        free(fast);
        free(plain);
        t5pt_ctx_free(c);
        t5pt_model_free(m);
        golden_close(g);
    }
    ck_assert_int_gt(with_padding, 0);   /* the padding-row shortcut was exercised */
    golden_free_list(names, nc);
}
END_TEST

/* In the readable backward the trace records decoder layer 0's self-attention too. */
START_TEST(test_readable_trace_complete) {
    traced s;
    traced_open(&s, "at_k");
    t5pt_ctx_set_readable_backward(s.c, 1);
    run_backward(&s);
    for (int l = 0; l < s.t->dec_layers; l++)
        for (int k = 0; k < T5PT_TRACE_SUBLAYERS; k++) ck_assert(isfinite(s.t->dec_target[l * T5PT_TRACE_SUBLAYERS + k]));
    ck_assert(s.t->readable == 1);
    traced_close(&s);
}
END_TEST

/* ------------------------------------------------------------------ SVG */

START_TEST(test_svg_charts) {
    t5pt_svg s;
    t5pt_svg_begin(&s, 600, 900);
    double x[5] = {1, 10, 100, 1000, 10000}, y1[5] = {3, 2.5, 1.2, 0.8, NAN}, y2[5] = {4, 3, 2, 1, 0.5};
    svg_series ser[2] = {{.name = "a <&> \"b\"", .x = x, .y = y1, .n = 5}, {.name = "two", .x = x, .y = y2, .n = 5, .dashed = 1}};
    svg_axes ax = {.title = "t & t", .xlabel = "x", .ylabel = "y", .log_x = 1, .legend = 1};
    ck_assert_int_eq(t5pt_svg_line_chart(&s, (svg_box){0, 0, 600, 300}, &ax, ser, 2), 2);
    const char *cats[3] = {"c0", "c<1>", "c2"}, *groups[2] = {"g0", "g1"};
    double v[6] = {1, 2, NAN, 0.5, -1, 3};
    svg_axes bx = {.title = "bars", .legend = 1};
    ck_assert_int_eq(t5pt_svg_bar_chart(&s, (svg_box){0, 300, 600, 300}, &bx, cats, 3, groups, 2, v), 5);
    const char *rl[2] = {"r0", "r1"}, *cl[3] = {"h0", "h1", "h2"};
    double hv[6] = {0, 0.5, 1, NAN, 0.25, 0.75};
    ck_assert_int_eq(t5pt_svg_heatmap(&s, (svg_box){0, 600, 600, 300}, "heat", rl, 2, cl, 3, hv, 0, 1), 6);
    t5pt_svg_end(&s);
    xml_report r;
    ck_assert_msg(xml_check(s.buf, s.len, &r) == 0, "%s", r.error);
    ck_assert_str_eq(r.root, "svg");
    ck_assert_int_eq(xml_count_class(s.buf, "series"), 2);
    ck_assert_int_eq(xml_count_class(s.buf, "bar"), 5);
    ck_assert_int_eq(xml_count_class(s.buf, "cell"), 6);
    ck_assert(!strstr(s.buf, "<script") && !strstr(s.buf, "href"));   /* self-contained */
    ck_assert(strstr(s.buf, "a &lt;&amp;&gt; &quot;b&quot;"));
    /* the checker itself refuses broken XML */
    const char *bad[] = {"<svg><g></svg>", "<svg a=1></svg>", "<svg>&nbsp;</svg>", "<svg></svg><svg></svg>",
                         "<svg a=\"1\" a=\"2\"/>", "<svg>x<y</svg>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) ck_assert_msg(xml_check(bad[i], strlen(bad[i]), &r) != 0, "%s", bad[i]);
    t5pt_svg_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ command line */


/* trace --json on a golden batch against dump --grad of the same batch and prompt, both at
 * one --precision (fp32 or bf16: the trace runs the same products as the dump). */
static void check_trace_vs_dump(const char *name, const char *precision) {
    char cmd[4096], *out;
    const char *json = test_tmp("trace.json"), *svg = test_tmp("trace.svg"), *dump = test_tmp("dump.safetensors");
    snprintf(cmd, sizeof cmd,
             "%s trace --model golden/cases/%s/model --batch golden/cases/%s/inputs.safetensors "
             "--prompt golden/cases/%s/inputs.safetensors --placement %s --json %s --svg %s --precision %s 2>&1",
             test_t5pt_bin(), name, name, name, strcmp(name, "at_k") ? "prepend" : "at:4", json, svg, precision);
    int rc = test_run(cmd, &out);
    ck_assert_msg(rc == 0, "%s\n%s", cmd, out);
    ck_assert(strstr(out, "gradient reaching each sublayer") && strstr(out, "attention on the prompt"));
    free(out);
    snprintf(cmd, sizeof cmd,
             "%s dump --model golden/cases/%s/model --batch golden/cases/%s/inputs.safetensors "
             "--prompt golden/cases/%s/inputs.safetensors --placement %s --grad --all --out %s --precision %s 2>&1",
             test_t5pt_bin(), name, name, name, strcmp(name, "at_k") ? "prepend" : "at:4", dump, precision);
    rc = test_run(cmd, &out);
    ck_assert_msg(rc == 0, "%s\n%s", cmd, out);
    free(out);
    st_file *f;
    ck_assert_int_eq(t5pt_st_open(&f, dump), T5PT_OK);
    size_t ng;
    float *grad = golden_f32(f, "prompt_grad", &ng), *loss = golden_f32(f, "loss", NULL);
    ck_assert(grad && loss);
    json_doc *doc;
    ck_assert_msg(t5pt_read_json(json, T5PT_ERR_FORMAT, &doc) == T5PT_OK, "%s", t5pt_last_error());
    const json_value *root = t5pt_json_root(doc);
    double jl;
    ck_assert(t5pt_json_get_num(root, "loss", &jl) == 0);
    ck_assert_msg(fabs(jl - loss[0]) <= 1e-6 * fabs(loss[0]), "%s: loss %.9g vs dump %.9g", precision, jl,
                  (double)loss[0]);
    const json_value *rows = t5pt_json_get(t5pt_json_get(root, "prompt_grad"), "row_norms");
    int64_t n;
    ck_assert(t5pt_json_get_int(root, "prompt_len", &n) == 0 && rows && (int64_t)rows->len == n);
    const int d = (int)(ng / (size_t)n);
    for (int i = 0; i < n; i++) {
        double w = 0;
        for (int k = 0; k < d; k++) w += (double)grad[i * d + k] * grad[i * d + k];
        w = sqrt(w);
        double got = t5pt_json_at(rows, (size_t)i)->u.num;
        ck_assert_msg(fabs(got - w) <= 1e-6 * w, "%s row %d: trace %.9g vs dump %.9g", precision, i, got, w);
    }
    /* every encoder layer of the JSON has both sublayers and its heads */
    const json_value *enc = t5pt_json_get(root, "encoder"), *dec = t5pt_json_get(root, "decoder");
    ck_assert(enc && dec && enc->len == 2 && dec->len == 2);
    ck_assert(t5pt_json_get(t5pt_json_get(t5pt_json_at(enc, 0), "ffn"), "grad_mean_prompt")->type == JSON_NUMBER);
    ck_assert(t5pt_json_get(t5pt_json_get(t5pt_json_at(dec, 0), "self_attention"), "grad_mean_target")->type == JSON_NULL);
    const json_value *heads = t5pt_json_get(t5pt_json_at(enc, 1), "attention_on_prompt");
    ck_assert(heads && heads->len == 4);
    /* the figure: 2 encoder layers x 2 sublayers x (prompt, input) + encoder output x 2 +
     * 2 decoder layers x 3 sublayers - decoder 0 self-attention (not computed) = 15 bars;
     * (2 + 2 layers) x 4 heads = 16 cells */
    xml_report r;
    char *text;
    ck_assert_msg(xml_check_file(svg, &r, &text) == 0, "%s: %s", svg, r.error);
    ck_assert_str_eq(r.root, "svg");
    ck_assert_int_eq(xml_count_class(text, "bar"), 2 * 2 * 2 + 2 + 2 * 3 - 1);
    ck_assert_int_eq(xml_count_class(text, "cell"), 4 * 4);
    free(text);
    t5pt_json_free(doc);
    free(grad);
    free(loss);
    t5pt_st_close(f);
}

START_TEST(test_cli_trace_vs_dump) {
    check_trace_vs_dump(fd_cases[_i], "fp32");
    check_trace_vs_dump(fd_cases[_i], "bf16");
}
END_TEST

/* The clear errors: a prompt for another width, an empty data file, a prompt of 0 rows. */
START_TEST(test_cli_trace_errors) {
    char cmd[4096], *out;
    const char *empty = test_tmp("empty.jsonl");
    test_write_text(empty, "");
    struct {
        const char *args, *want;
        int rc;
    } cases[] = {
        /* golden prompts are 32 wide, tiny-t5 is 64 */
        {"trace --model examples/tiny-t5 --tokenizer assets/t5/spiece.model --data examples/sentiment/valid.jsonl "
         "--prompt golden/cases/at_k/inputs.safetensors",
         "prompt rows have width 32, but d_model of examples/tiny-t5 is 64", 1},
        {"trace --model examples/tiny-t5 --tokenizer assets/t5/spiece.model --data EMPTY", "no examples (empty file)", 1},
        {"trace --model examples/tiny-t5 --tokenizer assets/t5/spiece.model --data examples/sentiment/valid.jsonl "
         "--prompt-len 0",
         "--prompt-len 0: the trace follows the gradient down to the prompt", 2},
        {"trace --model examples/tiny-t5 --prompt-len 3", "give one of --data FILE or --batch FILE", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[2048];
        const char *e = strstr(cases[i].args, "EMPTY");
        if (e) snprintf(args, sizeof args, "%.*s%s%s", (int)(e - cases[i].args), cases[i].args, empty, e + 5);
        else snprintf(args, sizeof args, "%s", cases[i].args);
        snprintf(cmd, sizeof cmd, "%s %s 2>&1", test_t5pt_bin(), args);
        int rc = test_run(cmd, &out);
        ck_assert_msg(rc == cases[i].rc && strstr(out, cases[i].want), "%s: status %d\n%s", cmd, rc, out);
        ck_assert_msg(strstr(out, "t5pt trace: ") == out, "%s: not one clear line: %s", cmd, out);
        ck_assert_msg(!strchr(out, '\n') || strchr(out, '\n') == out + strlen(out) - 1, "%s: more than one line: %s", cmd, out);
        free(out);
    }
}
END_TEST


/* ------------------------------------------------------------------ neighbors */

/* A prompt initialised with --init class-labels (one single-piece label per row) has each
 * label as its row's nearest piece, at cosine 1; through the library and the command. */
START_TEST(test_neighbors_class_labels) {
    const char *labels[4] = {"positive", "negative", "great", "terrible"};
    t5pt_tokenizer *tok;
    ck_assert_int_eq(t5pt_tokenizer_load(&tok, "assets/t5/spiece.model"), T5PT_OK);
    t5pt_model *m;
    ck_assert_msg(t5pt_model_load(&m, "examples/tiny-t5") == T5PT_OK, "%s", t5pt_last_error());
    int32_t *lid[4];
    int llen[4];
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(t5pt_tokenizer_encode(tok, labels[i], strlen(labels[i]), 0, &lid[i], &llen[i]), T5PT_OK);
        ck_assert_msg(llen[i] == 1, "%s is %d pieces", labels[i], llen[i]);
    }
    const int n = 6, d = t5pt_model_config(m)->d_model, k = 3;
    float *P = malloc((size_t)n * d * sizeof *P);
    t5pt_init_config ic = {.kind = T5PT_INIT_CLASS_LABELS, .seed = 3, .label_ids = (const int32_t *const *)lid,
                           .label_lens = llen, .num_labels = 4};
    ck_assert_int_eq(t5pt_prompt_init(P, n, m, &ic), T5PT_OK);
    int32_t ids[6 * 3];
    float sims[6 * 3];
    ck_assert_int_eq(t5pt_prompt_neighbors(m, P, n, k, t5pt_tokenizer_vocab_size(tok), ids, sims), T5PT_OK);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(ids[i * k], lid[i][0]);
        ck_assert_msg(fabsf(sims[i * k] - 1.0f) < 1e-5f, "row %d cosine %.7f", i, (double)sims[i * k]);
        ck_assert(sims[i * k + 1] <= sims[i * k] && sims[i * k + 2] <= sims[i * k + 1] && sims[i * k + 1] < 0.99f);
    }
    /* the command on the same prompt saved as a PEFT adapter */
    const char *dir = test_tmp("labels-prompt"), *json = test_tmp("neighbors.json");
    ck_assert_int_eq(t5pt_prompt_save_peft(dir, P, n, d, "examples/tiny-t5", "class-labels"), T5PT_OK);
    char cmd[2048], *out;
    snprintf(cmd, sizeof cmd,
             "%s neighbors --model examples/tiny-t5 --tokenizer assets/t5/spiece.model --prompt %s --k 2 --json %s 2>&1",
             test_t5pt_bin(), dir, json);
    int rc = test_run(cmd, &out);
    ck_assert_msg(rc == 0, "%s\n%s", cmd, out);
    ck_assert(strstr(out, "row 0    \"positive\" 1.000"));
    free(out);
    json_doc *doc;
    ck_assert_msg(t5pt_read_json(json, T5PT_ERR_FORMAT, &doc) == T5PT_OK, "%s", t5pt_last_error());
    const json_value *rows = t5pt_json_get(t5pt_json_root(doc), "rows");
    ck_assert(rows && rows->len == (size_t)n);
    for (int i = 0; i < 4; i++) {
        const json_value *best = t5pt_json_at(t5pt_json_at(rows, (size_t)i), 0);
        ck_assert_str_eq(t5pt_json_get_str(best, "text"), labels[i]);
        int64_t id;
        ck_assert(t5pt_json_get_int(best, "id", &id) == 0 && id == lid[i][0]);
        ck_assert_int_eq(t5pt_json_at(rows, (size_t)i)->len, 2);
    }
    t5pt_json_free(doc);
    for (int i = 0; i < 4; i++) free(lid[i]);
    free(P);
    t5pt_model_free(m);
    t5pt_tokenizer_free(tok);
}
END_TEST

START_TEST(test_neighbors_errors) {
    /* a prompt file with 0 rows */
    const char *zero = test_tmp("zero.safetensors");
    st_writer *w = t5pt_st_writer_new();
    int64_t shape[2] = {0, 64};
    float dummy = 0;
    ck_assert_int_eq(t5pt_st_writer_add(w, "prompt_embeddings", ST_F32, 2, shape, &dummy), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_save(w, zero, NULL), T5PT_OK);
    t5pt_st_writer_free(w);
    char cmd[2048], *out;
    const char *cmds[2] = {"neighbors", "trace"};
    for (int c = 0; c < 2; c++) {
        const char *extra = c ? "--data examples/sentiment/valid.jsonl" : "";
        snprintf(cmd, sizeof cmd,
                 "%s %s --model examples/tiny-t5 --tokenizer assets/t5/spiece.model %s --prompt golden/cases/at_k/inputs.safetensors 2>&1",
                 test_t5pt_bin(), cmds[c], extra);
        int rc = test_run(cmd, &out);
        ck_assert_msg(rc == 1 && strstr(out, "prompt rows have width 32, but d_model of examples/tiny-t5 is 64"), "%s\n%s",
                      cmd, out);
        free(out);
        snprintf(cmd, sizeof cmd, "%s %s --model examples/tiny-t5 --tokenizer assets/t5/spiece.model %s --prompt %s 2>&1",
                 test_t5pt_bin(), cmds[c], extra, zero);
        rc = test_run(cmd, &out);
        /* refused by the prompt loader, in one line naming the file */
        ck_assert_msg(rc == 1 && strstr(out, zero) && strstr(out, "with rows, d > 0") && strchr(out, '\n') == out + strlen(out) - 1, "%s\n%s", cmd, out);
        free(out);
    }
}
END_TEST


/* ------------------------------------------------------------------ plot */

/* Two logs overlay: 2 loss series + 1 validation series each; bad logs give one clear line. */
START_TEST(test_plot_overlay_and_errors) {
    const char *a = test_tmp("runA.jsonl"), *b = test_tmp("runB.jsonl"), *svg = test_tmp("runs.svg");
    test_write_text(a, "{\"step\":0,\"eval\":{\"rank_accuracy\":0.5},\"best\":0.5,\"best_step\":0,\"time\":0.1}\n"
                       "{\"step\":1,\"epoch\":0,\"loss\":3.5,\"smooth_loss\":3.5,\"lr\":0.3,\"tokens_per_s\":10,\"time\":1}\n"
                       "{\"step\":2,\"epoch\":0,\"loss\":2.5,\"smooth_loss\":3.48,\"lr\":0.3,\"tokens_per_s\":10,\"time\":2}\n"
                       "\n"
                       "{\"step\":2,\"eval\":{\"rank_accuracy\":0.75},\"best\":0.75,\"best_step\":2,\"time\":2.1}\n");
    test_write_text(b, "{\"step\":1,\"epoch\":0,\"loss\":4,\"smooth_loss\":4,\"lr\":0.1,\"tokens_per_s\":10,\"time\":1}\n"
                       "{\"step\":2,\"eval\":{\"rank_accuracy\":0.6},\"best\":0.6,\"best_step\":2,\"time\":2.1}\n");
    char cmd[4096], *out, *text;
    snprintf(cmd, sizeof cmd, "%s plot %s %s --out %s 2>&1", test_t5pt_bin(), a, b, svg);
    int rc = test_run(cmd, &out);
    ck_assert_msg(rc == 0, "%s\n%s", cmd, out);
    free(out);
    xml_report r;
    ck_assert_msg(xml_check_file(svg, &r, &text) == 0, "%s", r.error);
    ck_assert_int_eq(xml_count_class(text, "series"), 2 * 2 + 2);
    ck_assert(strstr(text, "runA.jsonl: smoothed loss") && strstr(text, "runB.jsonl: rank_accuracy"));
    ck_assert(strstr(text, ">step</text>") && strstr(text, "Validation"));
    free(text);
    /* errors: a line that is not JSON, a JSON line of another kind, an empty log */
    const char *bad = test_tmp("bad.jsonl"), *other = test_tmp("other.jsonl"), *empty = test_tmp("empty.jsonl");
    test_write_text(bad, "{\"step\":1,\"loss\":2}\n{\"step\":2,\"loss\":\n");
    test_write_text(other, "{\"step\":1,\"loss\":2}\n{\"step\":2,\"accuracy\":1}\n");
    test_write_text(empty, "\n");
    struct {
        const char *file, *want;
    } errs[] = {{bad, "bad.jsonl:2: not JSON"}, {other, "other.jsonl:2: neither a step"}, {empty, "no steps and no validations"}};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "%s plot %s --out %s 2>&1", test_t5pt_bin(), errs[i].file, test_tmp("x.svg"));
        rc = test_run(cmd, &out);
        ck_assert_msg(rc == 1 && strstr(out, errs[i].want) && strchr(out, '\n') == out + strlen(out) - 1, "%s\n%s", cmd, out);
        free(out);
        ck_assert(!t5pt_file_exists(test_tmp("x.svg")));   /* nothing half written */
    }
    snprintf(cmd, sizeof cmd, "%s plot 2>&1", test_t5pt_bin());
    rc = test_run(cmd, &out);
    ck_assert_msg(rc == 2 && strstr(out, "give at least one METRICS.jsonl"), "%s", out);
    free(out);
}
END_TEST

/* train --plot redraws the figure from the metrics log at every validation. */
START_TEST(test_train_plot) {
    char cmd[4096], *out, *text;
    const char *dir = test_tmp("plot-run"), *metrics = test_tmp("plot-run.jsonl"), *svg = test_tmp("plot-run.svg");
    snprintf(cmd, sizeof cmd,
             "%s train --model examples/tiny-t5 --tokenizer assets/t5/spiece.model --train examples/sentiment/train.jsonl "
             "--valid examples/sentiment/valid.jsonl --labels positive,negative --prompt-len 2 --steps 4 --eval-every 2 "
             "--batch 4 --eval-batch 64 --out %s --metrics %s --plot %s 2>&1",
             test_t5pt_bin(), dir, metrics, svg);
    int rc = test_run(cmd, &out);
    ck_assert_msg(rc == 0, "%s\n%s", cmd, out);
    free(out);
    xml_report r;
    ck_assert_msg(xml_check_file(svg, &r, &text) == 0, "%s", r.error);
    ck_assert_int_eq(xml_count_class(text, "series"), 3);   /* loss, smoothed loss, rank_accuracy */
    /* validations at steps 0, 2 and 4: three markers on the validation curve */
    ck_assert_int_eq((int)(strstr(text, "r=\"2.5\"") != NULL), 1);
    int markers = 0;
    for (const char *p = strstr(text, "<circle"); p; p = strstr(p + 1, "<circle")) markers++;
    ck_assert_int_eq(markers, 3);
    free(text);
    snprintf(cmd, sizeof cmd, "%s train --model m --train t --out o --plot p.svg 2>&1", test_t5pt_bin());
    rc = test_run(cmd, &out);
    ck_assert_msg(rc == 2 && strstr(out, "--plot draws from the metrics log: give --metrics FILE too"), "%s", out);
    free(out);
}
END_TEST


/* ------------------------------------------------------------------ README, docs, --help */

/* README shows the three commands and one figure; the figures of docs/gradient-flow.md are
 * well-formed, and every generated block of the document has content. */
START_TEST(test_readme_and_docs) {
    char *readme, *doc;
    size_t len;
    ck_assert(t5pt_read_file("README.md", &readme, &len) == T5PT_OK);
    ck_assert(strstr(readme, "t5pt trace --model") && strstr(readme, "t5pt neighbors --model") &&
              strstr(readme, "t5pt plot examples/out/metrics.jsonl"));
    ck_assert(strstr(readme, "](docs/figures/trace-after.svg)"));
    free(readme);
    const char *figs[3] = {"docs/figures/trace-before.svg", "docs/figures/trace-after.svg", "docs/figures/training.svg"};
    for (int i = 0; i < 3; i++) {
        xml_report r;
        char *text;
        ck_assert_msg(xml_check_file(figs[i], &r, &text) == 0, "%s: %s", figs[i], r.error);
        if (i < 2) {
            ck_assert_int_eq(xml_count_class(text, "bar"), 2 * 2 * 2 + 2 + 2 * 3 - 1);   /* tiny-t5: 2 + 2 layers */
            ck_assert_int_eq(xml_count_class(text, "cell"), 4 * 4);
        } else {
            ck_assert_int_eq(xml_count_class(text, "series"), 3);
        }
        free(text);
    }
    ck_assert(t5pt_read_file("docs/gradient-flow.md", &doc, &len) == T5PT_OK);
    int blocks = 0;
    for (const char *p = strstr(doc, "<!-- make docs: "); p; p = strstr(p + 1, "<!-- make docs: ")) {
        const char *end = strstr(p, "<!-- /make docs -->");
        ck_assert(end);
        const char *open = strstr(p, "```text\n");
        ck_assert_msg(open && open < end && end - open > 40, "an empty generated block (run make docs)");
        blocks++;
    }
    ck_assert_int_eq(blocks, 6);
    free(doc);
}
END_TEST

START_TEST(test_help) {
    const char *cmds[3] = {"trace", "neighbors", "plot"};
    for (int i = 0; i < 3; i++) {
        char cmd[1024], *out;
        snprintf(cmd, sizeof cmd, "%s %s --help 2>&1", test_t5pt_bin(), cmds[i]);
        ck_assert_int_eq(test_run(cmd, &out), 0);
        ck_assert_msg(strstr(out, "usage: t5pt ") && strstr(out, cmds[i]), "%s", out);
        free(out);
    }
}
END_TEST

int main(void) {
    if (!test_tmpdir_create("teach")) {
        perror("test_teach: cannot create a temp directory");
        return 1;
    }
    Suite *s = suite_create("teach");
    TCase *tc = tcase_create("teach");
    tcase_set_timeout(tc, 600);
    const int nfd = (int)(sizeof fd_cases / sizeof fd_cases[0]);
    tcase_add_loop_test(tc, test_trace_against_goldens_and_fd, 0, nfd);
    tcase_add_test(tc, test_readable_backward_same_gradient);
    tcase_add_test(tc, test_readable_trace_complete);
    tcase_add_test(tc, test_svg_charts);
    if (t5pt_file_exists(test_t5pt_bin())) {
        tcase_add_loop_test(tc, test_cli_trace_vs_dump, 0, nfd);
        tcase_add_test(tc, test_cli_trace_errors);
        tcase_add_test(tc, test_neighbors_class_labels);
        tcase_add_test(tc, test_neighbors_errors);
        tcase_add_test(tc, test_plot_overlay_and_errors);
        tcase_add_test(tc, test_train_plot);
        tcase_add_test(tc, test_readme_and_docs);
        tcase_add_test(tc, test_help);
    } else {
        fprintf(stderr, "test_teach: %s not built (run make)\n", test_t5pt_bin());
        return 1;
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    golden_print_notes("teach");
    test_tmpdir_remove();
    return failed == 0 ? 0 : 1;
}
