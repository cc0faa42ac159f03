/* trace.h — what the backward pass computes on its way from the loss to the prompt,
 * recorded for learners (`t5pt trace`, docs/gradient-flow.md) (internal).
 *
 * A trace is attached to a context (t5pt_trace_create). While attached, t5pt_backward
 * calls the hooks below at a few marked places ("teaching hook" in src/model/t5.c), with
 * the very buffers it computes with: the numbers are the backward's own, not a second
 * computation. With no trace attached (the normal case) each hook is one NULL test.
 *
 * What is recorded, for one forward + backward (no dropout: call it without):
 *   - per sublayer (encoder: self-attention, FFN; decoder: self-attention,
 *     cross-attention, FFN) the L2 norm of the gradient of the sublayer's output, row by
 *     row (= the gradient of the residual stream right after it);
 *   - per decoder layer, the part of d loss / d H_enc (the encoder output) its
 *     cross-attention keys and values add: the only road from the loss to the encoder;
 *   - from the forward's saved probabilities (t5pt_trace_finish): the attention mass on
 *     the prompt per layer and head;
 *   - the prompt gradient's norm per row.
 *
 * The readable backward (the learner switch): ctx->readable = 1 (environment variable
 * T5PT_READABLE_BACKWARD=1 at t5pt_ctx_create, or t5pt_ctx_set_readable_backward) turns
 * off the shortcuts that only save time — skipping padding rows, computing encoder
 * layer 0's input gradient at the prompt rows only, stopping in decoder layer 0 — so the
 * plain computation can be compared with the optimised one. Both give the same prompt
 * gradient to fp32 rounding (tests/test_teach.c).
 */
#ifndef T5PT_TRACE_H
#define T5PT_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "model/ctx.h"

/* Sublayers (the index in the per-sublayer arrays; the encoder has SELF and FFN only). */
enum { T5PT_TRACE_SELF = 0, T5PT_TRACE_CROSS = 1, T5PT_TRACE_FFN = 2, T5PT_TRACE_SUBLAYERS = 3 };

typedef struct t5pt_trace {
    /* the model and the traced batch */
    int enc_layers, dec_layers, H, d;
    int B, Tenc, L, n;
    int readable;           /* the backward ran with ctx->readable */
    float loss;
    int n_prompt_rows, n_input_rows, n_target_rows; /* rows the means are over (B*n, unmasked inputs, labels) */

    /* per-row L2 norm of the gradient of each sublayer's output; NaN where the backward
     * did not compute it (a shortcut: rows or sublayers nothing depends on). */
    float *enc_row;         /* [enc_layers][T5PT_TRACE_SUBLAYERS][B*Tenc] */
    float *dec_row;         /* [dec_layers][T5PT_TRACE_SUBLAYERS][B*L] */
    /* means over rows of those norms (NaN: not computed / no such row) */
    double *enc_prompt, *enc_input;   /* [enc_layers][T5PT_TRACE_SUBLAYERS] */
    double *dec_target;               /* [dec_layers][T5PT_TRACE_SUBLAYERS], rows with a label */

    /* the road to the encoder: d H_enc = sum over decoder layers of their contribution */
    double *cross_norm;     /* [dec_layers] Frobenius norm of layer l's contribution */
    double *cross_prompt, *cross_input; /* [dec_layers] its mean row norm at prompt / input rows */
    double henc_prompt, henc_input;     /* mean row norm of d H_enc itself */

    /* attention mass on the prompt, from the forward's probabilities */
    double *enc_attn;       /* [enc_layers][H] mean over input-token queries of the probability on prompt keys */
    double *dec_attn;       /* [dec_layers][H] mean over decoder positions with a label, cross-attention */

    float *prompt_row;      /* [n] ||d loss / d P_i|| (summed over the batch, like t5pt_backward) */
    double prompt_norm;     /* Frobenius norm of d loss / d P */

    /* finite-difference probe (tests): with `active`, the forward adds eps * dir to the
     * residual stream right after sublayer `sublayer` of layer `layer` (all rows: encoder
     * B*Tenc, decoder B*L, times d; the encoder sublayers and the decoder FFN have a probe);
     * with `capture` set, the backward copies the gradient of that sublayer's output there. */
    struct {
        int active, decoder, layer, sublayer;
        float eps;
        const float *dir;   /* [rows, d] */
        float *capture;     /* [rows, d] or NULL */
    } probe;

    /* internal */
    t5pt_ctx *ctx;
    int cap_enc_rows, cap_dec_rows, cap_n;
    float *henc_before;     /* [B*Tenc*d] d H_enc before a decoder layer adds to it */
} t5pt_trace;

/* Allocates a trace sized for the context's maxima and attaches it (c->trace). Free the
 * trace (it detaches itself) before the context. */
t5pt_status t5pt_trace_create(t5pt_trace **out, t5pt_ctx *c);
void t5pt_trace_free(t5pt_trace *t);

/* The learner switch on a context (see above). Changing it invalidates the last forward
 * (t5pt_backward then asks for a new one): the forward lays out the rows for one mode. */
void t5pt_ctx_set_readable_backward(t5pt_ctx *c, int on);
int t5pt_ctx_readable_backward(const t5pt_ctx *c);

/* After t5pt_forward + t5pt_backward(c, dP) with the trace attached: the attention mass,
 * the prompt rows and the means. */
t5pt_status t5pt_trace_finish(t5pt_trace *t, const float *dP);

/* Every number as JSON (atomic write). */
t5pt_status t5pt_trace_write_json(const t5pt_trace *t, const char *path);
/* The figure: mean gradient norm per sublayer (prompt vs input rows, bars) and the
 * attention mass on the prompt (heat map, layer x head). Self-contained SVG, atomic write. */
t5pt_status t5pt_trace_write_svg(const t5pt_trace *t, const char *path);
/* How many bars / heat-map cells t5pt_trace_write_svg draws (tests count them). */
int t5pt_trace_svg_bars(const t5pt_trace *t);
int t5pt_trace_svg_cells(const t5pt_trace *t);

/* ---- hooks, called by src/model/t5.c only ---- */
void t5pt_trace_begin(t5pt_trace *t, const t5pt_ctx *c);
/* dy [rows, d]: gradient of the sublayer's output (encoder: B*Tenc rows, decoder: B*L). */
void t5pt_trace_sublayer(t5pt_trace *t, const t5pt_ctx *c, int decoder, int layer, int sublayer, const float *dy);
void t5pt_trace_cross_before(t5pt_trace *t, const t5pt_ctx *c, const float *g_henc);
void t5pt_trace_cross_after(t5pt_trace *t, const t5pt_ctx *c, int layer, const float *g_henc);
/* Forward: h [rows, d] is the residual stream after the sublayer (the probe's place). */
void t5pt_trace_probe(t5pt_trace *t, int decoder, int layer, int sublayer, float *h);

#endif
