/* trace.c — recording the backward pass for learners (see trace.h). */
#include "model/trace.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "io/json.h"
#include "io/svg.h"

/* ------------------------------------------------------------------ life cycle */

static void fill_nan_f(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = NAN;
}
static void fill_nan_d(double *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = NAN;
}

t5pt_status t5pt_trace_create(t5pt_trace **out, t5pt_ctx *c) {
    if (!out || !c) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_trace_create: NULL argument");
    *out = NULL;
    const t5pt_config *cfg = &c->m->cfg;
    t5pt_trace *t = calloc(1, sizeof *t);
    if (!t) return t5pt_set_error(T5PT_ERR_NOMEM, "t5pt_trace_create: out of memory");
    const int E = cfg->num_layers, D = cfg->num_decoder_layers, H = cfg->num_heads, S = T5PT_TRACE_SUBLAYERS;
    t->enc_layers = E;
    t->dec_layers = D;
    t->H = H;
    t->d = cfg->d_model;
    t->cap_enc_rows = c->max_B * (c->max_T + c->max_n);
    t->cap_dec_rows = c->max_B * c->max_L;
    t->cap_n = c->max_n;
    t->enc_row = malloc((size_t)E * S * t->cap_enc_rows * sizeof(float) + 1);
    t->dec_row = malloc((size_t)D * S * t->cap_dec_rows * sizeof(float) + 1);
    t->enc_prompt = malloc((size_t)E * S * sizeof(double));
    t->enc_input = malloc((size_t)E * S * sizeof(double));
    t->dec_target = malloc((size_t)D * S * sizeof(double) + 1);
    t->cross_norm = malloc((size_t)D * sizeof(double) + 1);
    t->cross_prompt = malloc((size_t)D * sizeof(double) + 1);
    t->cross_input = malloc((size_t)D * sizeof(double) + 1);
    t->enc_attn = malloc((size_t)E * H * sizeof(double));
    t->dec_attn = malloc((size_t)D * H * sizeof(double) + 1);
    t->prompt_row = malloc((size_t)t->cap_n * sizeof(float) + 1);
    t->henc_before = malloc((size_t)t->cap_enc_rows * t->d * sizeof(float) + 1);
    if (!t->enc_row || !t->dec_row || !t->enc_prompt || !t->enc_input || !t->dec_target || !t->cross_norm ||
        !t->cross_prompt || !t->cross_input || !t->enc_attn || !t->dec_attn || !t->prompt_row || !t->henc_before) {
        t5pt_trace_free(t);
        return t5pt_set_error(T5PT_ERR_NOMEM, "t5pt_trace_create: out of memory");
    }
    t->ctx = c;
    c->trace = t;
    *out = t;
    return T5PT_OK;
}

void t5pt_trace_free(t5pt_trace *t) {
    if (!t) return;
    if (t->ctx && t->ctx->trace == t) t->ctx->trace = NULL;
    free(t->enc_row);
    free(t->dec_row);
    free(t->enc_prompt);
    free(t->enc_input);
    free(t->dec_target);
    free(t->cross_norm);
    free(t->cross_prompt);
    free(t->cross_input);
    free(t->enc_attn);
    free(t->dec_attn);
    free(t->prompt_row);
    free(t->henc_before);
    free(t);
}

void t5pt_ctx_set_readable_backward(t5pt_ctx *c, int on) {
    if (!c || c->readable == (on != 0)) return;
    c->readable = on != 0;
    c->fwd_ok = 0;   /* the forward lays out the live rows for one mode: a backward needs a new forward */
}

int t5pt_ctx_readable_backward(const t5pt_ctx *c) { return c ? c->readable : 0; }

/* ------------------------------------------------------------------ rows */

/* What encoder row r (of B*Tenc) is: 1 prompt row, 0 input token, -1 padding (masked). */
static int enc_row_kind(const t5pt_ctx *c, int r) {
    const int b = r / c->Tenc, t = r % c->Tenc;
    if (t >= c->prompt_at[b] && t < c->prompt_at[b] + c->n) return 1;
    return c->enc_mask[r] ? 0 : -1;
}

static double row_norm(const float *x, int d) {
    double s = 0;
    for (int i = 0; i < d; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

/* ------------------------------------------------------------------ hooks */

void t5pt_trace_begin(t5pt_trace *t, const t5pt_ctx *c) {
    const int S = T5PT_TRACE_SUBLAYERS;
    t->B = c->B;
    t->Tenc = c->Tenc;
    t->L = c->L;
    t->n = c->n;
    t->readable = c->readable;
    t->loss = c->loss;
    fill_nan_f(t->enc_row, (size_t)t->enc_layers * S * t->cap_enc_rows);
    fill_nan_f(t->dec_row, (size_t)t->dec_layers * S * t->cap_dec_rows);
    fill_nan_d(t->enc_prompt, (size_t)t->enc_layers * S);
    fill_nan_d(t->enc_input, (size_t)t->enc_layers * S);
    fill_nan_d(t->dec_target, (size_t)t->dec_layers * S);
    fill_nan_d(t->cross_norm, (size_t)t->dec_layers);
    fill_nan_d(t->cross_prompt, (size_t)t->dec_layers);
    fill_nan_d(t->cross_input, (size_t)t->dec_layers);
    fill_nan_d(t->enc_attn, (size_t)t->enc_layers * t->H);
    fill_nan_d(t->dec_attn, (size_t)t->dec_layers * t->H);
    fill_nan_f(t->prompt_row, (size_t)t->cap_n);
    t->henc_prompt = t->henc_input = t->prompt_norm = NAN;
}

void t5pt_trace_sublayer(t5pt_trace *t, const t5pt_ctx *c, int decoder, int layer, int sublayer, const float *dy) {
    const int d = t->d, S = T5PT_TRACE_SUBLAYERS;
    if (t->probe.capture && t->probe.decoder == decoder && t->probe.layer == layer && t->probe.sublayer == sublayer)
        memcpy(t->probe.capture, dy, (size_t)c->B * (decoder ? c->L : c->Tenc) * d * sizeof(float));
    if (!decoder) {
        float *rows = t->enc_row + ((size_t)layer * S + sublayer) * t->cap_enc_rows;
        for (int r = 0; r < c->B * c->Tenc; r++) rows[r] = (float)row_norm(dy + (size_t)r * d, d);
    } else {
        float *rows = t->dec_row + ((size_t)layer * S + sublayer) * t->cap_dec_rows;
        for (int r = 0; r < c->B * c->L; r++) rows[r] = (float)row_norm(dy + (size_t)r * d, d);
    }
}

void t5pt_trace_cross_before(t5pt_trace *t, const t5pt_ctx *c, const float *g_henc) {
    memcpy(t->henc_before, g_henc, (size_t)c->B * c->Tenc * t->d * sizeof(float));
}

/* The contribution of decoder layer `layer` is g_henc now minus g_henc before it. */
void t5pt_trace_cross_after(t5pt_trace *t, const t5pt_ctx *c, int layer, const float *g_henc) {
    const int d = t->d, M = c->B * c->Tenc;
    double total = 0, sp = 0, si = 0;
    int np = 0, ni = 0;
    for (int r = 0; r < M; r++) {
        double s = 0;
        for (int i = 0; i < d; i++) {
            double x = (double)g_henc[(size_t)r * d + i] - t->henc_before[(size_t)r * d + i];
            s += x * x;
        }
        total += s;
        int kind = enc_row_kind(c, r);
        if (kind == 1) sp += sqrt(s), np++;
        else if (kind == 0) si += sqrt(s), ni++;
    }
    t->cross_norm[layer] = sqrt(total);
    t->cross_prompt[layer] = np ? sp / np : NAN;
    t->cross_input[layer] = ni ? si / ni : NAN;
}

void t5pt_trace_probe(t5pt_trace *t, int decoder, int layer, int sublayer, float *h) {
    if (!t->probe.active || t->probe.decoder != decoder || t->probe.layer != layer || t->probe.sublayer != sublayer)
        return;
    const t5pt_ctx *c = t->ctx;
    const size_t nd = (size_t)c->B * (decoder ? c->L : c->Tenc) * t->d;
    for (size_t i = 0; i < nd; i++) h[i] += t->probe.eps * t->probe.dir[i];
}

/* ------------------------------------------------------------------ summaries */

t5pt_status t5pt_trace_finish(t5pt_trace *t, const float *dP) {
    const t5pt_ctx *c = t->ctx;
    if (!c || !c->fwd_ok || !c->have_labels || c->n < 1 || !dP)
        return t5pt_set_error(T5PT_ERR_ARG, "t5pt_trace_finish: needs a forward with labels, a prompt and its backward");
    const int d = t->d, S = T5PT_TRACE_SUBLAYERS, H = t->H, B = c->B, Tenc = c->Tenc, L = c->L, n = c->n;
    const int Me = B * Tenc, Md = B * L;
    t->n_prompt_rows = t->n_input_rows = t->n_target_rows = 0;
    for (int r = 0; r < Me; r++) {
        int k = enc_row_kind(c, r);
        t->n_prompt_rows += k == 1;
        t->n_input_rows += k == 0;
    }
    for (int r = 0; r < Md; r++) t->n_target_rows += c->labels[r] != -100;

    /* means of the row norms */
    for (int l = 0; l < t->enc_layers; l++)
        for (int s = 0; s < S; s++) {
            const float *rows = t->enc_row + ((size_t)l * S + s) * t->cap_enc_rows;
            double sp = 0, si = 0;
            int np = 0, ni = 0, nan = 0;
            for (int r = 0; r < Me; r++) {
                int k = enc_row_kind(c, r);
                if (k < 0) continue;
                if (isnan(rows[r])) nan = 1;
                if (k == 1) sp += rows[r], np++;
                else si += rows[r], ni++;
            }
            t->enc_prompt[l * S + s] = nan || !np ? NAN : sp / np;
            t->enc_input[l * S + s] = nan || !ni ? NAN : si / ni;
        }
    for (int l = 0; l < t->dec_layers; l++)
        for (int s = 0; s < S; s++) {
            const float *rows = t->dec_row + ((size_t)l * S + s) * t->cap_dec_rows;
            double sum = 0;
            int cnt = 0, nan = 0;
            for (int r = 0; r < Md; r++) {
                if (c->labels[r] == -100) continue;
                if (isnan(rows[r])) nan = 1;
                sum += rows[r], cnt++;
            }
            t->dec_target[l * S + s] = nan || !cnt ? NAN : sum / cnt;
        }

    /* d H_enc as the backward left it */
    double sp = 0, si = 0;
    for (int r = 0; r < Me; r++) {
        int k = enc_row_kind(c, r);
        if (k == 1) sp += row_norm(c->g_henc + (size_t)r * d, d);
        else if (k == 0) si += row_norm(c->g_henc + (size_t)r * d, d);
    }
    t->henc_prompt = t->n_prompt_rows ? sp / t->n_prompt_rows : NAN;
    t->henc_input = t->n_input_rows ? si / t->n_input_rows : NAN;

    /* attention mass on the prompt, from the forward's (undropped) probabilities */
    for (int l = 0; l < t->enc_layers; l++)
        for (int h = 0; h < H; h++) {
            double sum = 0;
            int cnt = 0;
            for (int b = 0; b < B; b++) {
                const float *P = c->enc[l].probs + ((size_t)b * H + h) * Tenc * Tenc;
                for (int q = 0; q < Tenc; q++) {
                    if (enc_row_kind(c, b * Tenc + q) != 0) continue;   /* input-token queries */
                    double m = 0;
                    for (int k = c->prompt_at[b]; k < c->prompt_at[b] + n; k++) m += P[(size_t)q * Tenc + k];
                    sum += m, cnt++;
                }
            }
            t->enc_attn[l * H + h] = cnt ? sum / cnt : NAN;
        }
    for (int l = 0; l < t->dec_layers; l++)
        for (int h = 0; h < H; h++) {
            double sum = 0;
            int cnt = 0;
            for (int b = 0; b < B; b++) {
                const float *P = c->dec[l].cprobs + ((size_t)b * H + h) * L * Tenc;
                for (int q = 0; q < L; q++) {
                    if (c->labels[b * L + q] == -100) continue;
                    double m = 0;
                    for (int k = c->prompt_at[b]; k < c->prompt_at[b] + n; k++) m += P[(size_t)q * Tenc + k];
                    sum += m, cnt++;
                }
            }
            t->dec_attn[l * H + h] = cnt ? sum / cnt : NAN;
        }

    double tot = 0;
    for (int i = 0; i < n; i++) {
        double r = row_norm(dP + (size_t)i * d, d);
        t->prompt_row[i] = (float)r;
        tot += r * r;
    }
    t->prompt_norm = sqrt(tot);
    return T5PT_OK;
}

/* ------------------------------------------------------------------ JSON */

static const char *const sub_name[T5PT_TRACE_SUBLAYERS] = {"self_attention", "cross_attention", "ffn"};

static void jw_num(json_writer *w, double v) {
    if (isfinite(v)) t5pt_jw_printf(w, "%.9g", v);
    else t5pt_jw_raw(w, "null");
}

static void jw_array(json_writer *w, const double *v, int n) {
    t5pt_jw_raw(w, "[");
    for (int i = 0; i < n; i++) {
        if (i) t5pt_jw_raw(w, ",");
        jw_num(w, v[i]);
    }
    t5pt_jw_raw(w, "]");
}

static void jw_farray(json_writer *w, const float *v, int n) {
    t5pt_jw_raw(w, "[");
    for (int i = 0; i < n; i++) {
        if (i) t5pt_jw_raw(w, ",");
        jw_num(w, v[i]);
    }
    t5pt_jw_raw(w, "]");
}

t5pt_status t5pt_trace_write_json(const t5pt_trace *t, const char *path) {
    json_writer w = {0};
    const int S = T5PT_TRACE_SUBLAYERS, Me = t->B * t->Tenc, Md = t->B * t->L;
    t5pt_jw_printf(&w,
                   "{\"loss\":%.9g,\"batch\":%d,\"encoder_positions\":%d,\"decoder_positions\":%d,\"prompt_len\":%d,"
                   "\"readable_backward\":%s,\"rows\":{\"prompt\":%d,\"input\":%d,\"target\":%d},\n",
                   (double)t->loss, t->B, t->Tenc, t->L, t->n, t->readable ? "true" : "false", t->n_prompt_rows,
                   t->n_input_rows, t->n_target_rows);
    t5pt_jw_raw(&w, "\"note\":\"gradient norms: L2 norm per row of d loss / d (sublayer output), mean over the rows; "
                    "null: not computed by the backward (nothing that reaches the prompt depends on it)\",\n");
    t5pt_jw_raw(&w, "\"decoder\":[");
    for (int l = 0; l < t->dec_layers; l++) {
        t5pt_jw_printf(&w, "%s\n {\"layer\":%d", l ? "," : "", l);
        for (int s = 0; s < S; s++) {
            t5pt_jw_printf(&w, ",\"%s\":{\"grad_mean_target\":", sub_name[s]);
            jw_num(&w, t->dec_target[l * S + s]);
            t5pt_jw_raw(&w, ",\"grad_row_norms\":");
            jw_farray(&w, t->dec_row + ((size_t)l * S + s) * t->cap_dec_rows, Md);
            t5pt_jw_raw(&w, "}");
        }
        t5pt_jw_raw(&w, ",\"to_encoder_output\":{\"norm\":");
        jw_num(&w, t->cross_norm[l]);
        t5pt_jw_raw(&w, ",\"mean_prompt\":");
        jw_num(&w, t->cross_prompt[l]);
        t5pt_jw_raw(&w, ",\"mean_input\":");
        jw_num(&w, t->cross_input[l]);
        t5pt_jw_raw(&w, "},\"cross_attention_on_prompt\":");
        jw_array(&w, t->dec_attn + (size_t)l * t->H, t->H);
        t5pt_jw_raw(&w, "}");
    }
    t5pt_jw_raw(&w, "],\n\"encoder_output\":{\"grad_mean_prompt\":");
    jw_num(&w, t->henc_prompt);
    t5pt_jw_raw(&w, ",\"grad_mean_input\":");
    jw_num(&w, t->henc_input);
    t5pt_jw_raw(&w, "},\n\"encoder\":[");
    for (int l = 0; l < t->enc_layers; l++) {
        t5pt_jw_printf(&w, "%s\n {\"layer\":%d", l ? "," : "", l);
        for (int s = 0; s < S; s++) {
            if (s == T5PT_TRACE_CROSS) continue;
            t5pt_jw_printf(&w, ",\"%s\":{\"grad_mean_prompt\":", sub_name[s]);
            jw_num(&w, t->enc_prompt[l * S + s]);
            t5pt_jw_raw(&w, ",\"grad_mean_input\":");
            jw_num(&w, t->enc_input[l * S + s]);
            t5pt_jw_raw(&w, ",\"grad_row_norms\":");
            jw_farray(&w, t->enc_row + ((size_t)l * S + s) * t->cap_enc_rows, Me);
            t5pt_jw_raw(&w, "}");
        }
        t5pt_jw_raw(&w, ",\"attention_on_prompt\":");
        jw_array(&w, t->enc_attn + (size_t)l * t->H, t->H);
        t5pt_jw_raw(&w, "}");
    }
    t5pt_jw_raw(&w, "],\n\"prompt_grad\":{\"norm\":");
    jw_num(&w, t->prompt_norm);
    t5pt_jw_raw(&w, ",\"row_norms\":");
    jw_farray(&w, t->prompt_row, t->n);
    t5pt_jw_raw(&w, "}}\n");
    if (w.oom) {
        t5pt_jw_free(&w);
        return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
    }
    t5pt_status st = t5pt_write_file_atomic(path, w.buf, w.len);
    t5pt_jw_free(&w);
    return st;
}

/* ------------------------------------------------------------------ SVG */

/* The bar chart's categories, from the loss down to the prompt: decoder sublayers (last
 * layer first, FFN first), the encoder output, encoder sublayers. values[g * ncat + c] for
 * the groups prompt rows, input rows, decoder rows. */
static int bar_data(const t5pt_trace *t, char (*labels)[40], double *values, int cap) {
    const int S = T5PT_TRACE_SUBLAYERS;
    static const char *const short_name[T5PT_TRACE_SUBLAYERS] = {"self-attn", "cross-attn", "FFN"};
    int c = 0;
    for (int l = t->dec_layers - 1; l >= 0; l--)
        for (int s = S - 1; s >= 0; s--, c++) {
            snprintf(labels[c], 40, "dec %d %s", l, short_name[s]);
            values[0 * cap + c] = NAN;
            values[1 * cap + c] = NAN;
            values[2 * cap + c] = t->dec_target[l * S + s];
        }
    snprintf(labels[c], 40, "encoder output");
    values[0 * cap + c] = t->henc_prompt;
    values[1 * cap + c] = t->henc_input;
    values[2 * cap + c] = NAN;
    c++;
    for (int l = t->enc_layers - 1; l >= 0; l--)
        for (int s = S - 1; s >= 0; s--) {
            if (s == T5PT_TRACE_CROSS) continue;
            snprintf(labels[c], 40, "enc %d %s", l, short_name[s]);
            values[0 * cap + c] = t->enc_prompt[l * S + s];
            values[1 * cap + c] = t->enc_input[l * S + s];
            values[2 * cap + c] = NAN;
            c++;
        }
    return c;
}

static int bar_count(const t5pt_trace *t) { return t->dec_layers * 3 + 1 + t->enc_layers * 2; }

int t5pt_trace_svg_bars(const t5pt_trace *t) {
    const int cap = bar_count(t);
    char(*labels)[40] = malloc((size_t)cap * sizeof *labels);
    double *v = malloc((size_t)cap * 3 * sizeof *v);
    int bars = 0;
    if (labels && v) {
        bar_data(t, labels, v, cap);
        for (int i = 0; i < cap * 3; i++) bars += isfinite(v[i]) && v[i] > 0;
    }
    free(labels);
    free(v);
    return bars;
}

int t5pt_trace_svg_cells(const t5pt_trace *t) { return (t->enc_layers + t->dec_layers) * t->H; }

t5pt_status t5pt_trace_write_svg(const t5pt_trace *t, const char *path) {
    const int cap = bar_count(t), H = t->H, rows = t->enc_layers + t->dec_layers;
    char(*labels)[40] = malloc((size_t)cap * sizeof *labels);
    double *v = malloc((size_t)cap * 3 * sizeof *v);
    const char **cat = malloc((size_t)cap * sizeof *cat);
    char(*rl)[32] = malloc((size_t)(rows + 1) * sizeof *rl);
    char(*cl)[24] = malloc((size_t)(H + 1) * sizeof *cl);
    const char **rlp = malloc((size_t)(rows + 1) * sizeof *rlp), **clp = malloc((size_t)(H + 1) * sizeof *clp);
    double *heat = malloc((size_t)(rows * H + 1) * sizeof *heat);
    t5pt_status st;
    if (!labels || !v || !cat || !rl || !cl || !rlp || !clp || !heat) {
        st = t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    int ncat = bar_data(t, labels, v, cap);
    for (int i = 0; i < ncat; i++) cat[i] = labels[i];
    for (int l = 0; l < t->enc_layers; l++) {
        snprintf(rl[l], 32, "encoder %d", l);
        for (int h = 0; h < H; h++) heat[l * H + h] = t->enc_attn[l * H + h];
    }
    for (int l = 0; l < t->dec_layers; l++) {
        snprintf(rl[t->enc_layers + l], 32, "decoder %d (cross)", l);
        for (int h = 0; h < H; h++) heat[(t->enc_layers + l) * H + h] = t->dec_attn[l * H + h];
    }
    for (int r = 0; r < rows; r++) rlp[r] = rl[r];
    for (int h = 0; h < H; h++) {
        snprintf(cl[h], sizeof cl[h], "head %d", h);
        clp[h] = cl[h];
    }
    static const char *const groups[3] = {"prompt rows", "input rows", "decoder rows"};
    const double width = 760, bar_h = 420, heat_h = 60 + 26.0 * rows;
    t5pt_svg s;
    t5pt_svg_begin(&s, width, bar_h + heat_h);
    char title[160];
    snprintf(title, sizeof title, "Gradient reaching each sublayer's output (mean L2 norm per row), loss %.4g", (double)t->loss);
    const svg_axes ax = {.title = title, .ylabel = "mean ||dL/d output|| per row", .log_y = 1, .legend = 1};
    t5pt_svg_bar_chart(&s, (svg_box){0, 0, width, bar_h}, &ax, cat, ncat, groups, 3, v);
    t5pt_svg_heatmap(&s, (svg_box){0, bar_h, width, heat_h},
                     "Attention on the prompt: share of input-token (encoder) / target (decoder) attention", rlp, rows,
                     clp, H, heat, 0.0, 1.0);
    t5pt_svg_end(&s);
    st = t5pt_svg_save(&s, path);
    t5pt_svg_free(&s);
out:
    free(labels);
    free(v);
    free(cat);
    free(rl);
    free(cl);
    free(rlp);
    free(clp);
    free(heat);
    return st;
}
