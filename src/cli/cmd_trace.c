/* cmd_trace.c — `t5pt trace`: one forward and backward (no update) with the backward's
 * numbers recorded on the way from the loss down to the prompt (src/model/trace.h), shown
 * as a table, written as JSON and as an SVG figure. */
#include "cli/cli.h"
#include "base/internal.h"
#include "model/trace.h"
#include "train/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *model, *data, *batch, *prompt, *placement, *json, *svg, *tokenizer, *precision;
    int prompt_len, examples, threads, readable, have_placement;
    uint64_t seed;
    t5pt_data_options dopt;
} trace_args;

static const char about[] =
    "Runs one forward and backward pass (no update) and shows, layer by layer from the loss down\n"
    "to the soft prompt, where the prompt's gradient comes from:\n"
    "  - the gradient reaching each sublayer's output (decoder: self-attention, cross-attention,\n"
    "    FFN; encoder: self-attention, FFN), as the mean L2 norm per row, for prompt rows and\n"
    "    input-token rows apart;\n"
    "  - how much of the gradient at the encoder output comes through each decoder layer's\n"
    "    cross-attention keys and values (the only road from the loss to the encoder);\n"
    "  - the attention mass on the prompt per layer and head;\n"
    "  - the prompt gradient per row.\n"
    "The numbers are recorded inside the real backward pass (src/model/trace.h).\n";

static const char epilog[] =
    "Without --prompt, a prompt of --prompt-len rows is initialised from sampled vocabulary\n"
    "embeddings (--seed): the picture before tuning. \"-\" marks a gradient the backward does not\n"
    "compute because nothing that reaches the prompt depends on it; T5PT_READABLE_BACKWARD=1 (or\n"
    "--readable-backward) computes everything (see docs/gradient-flow.md).\n";

static const char *fmt_num(char *buf, double v) {
    if (isfinite(v)) snprintf(buf, 24, "%.4e", v);
    else snprintf(buf, 24, "-");
    return buf;
}

static void print_table(const t5pt_trace *t, const char *placement) {
    const int S = T5PT_TRACE_SUBLAYERS;
    static const char *const name[T5PT_TRACE_SUBLAYERS] = {"self-attention", "cross-attention", "FFN"};
    char a[24], b[24], c[24], row[64];
    printf("loss %.6f over %d examples; prompt %d rows (%s); %d prompt rows, %d input rows, %d target rows; "
           "backward: %s\n\n",
           (double)t->loss, t->B, t->n, placement, t->n_prompt_rows, t->n_input_rows, t->n_target_rows,
           t->readable ? "readable (no shortcuts)" : "optimised");
    printf("gradient reaching each sublayer's output, mean L2 norm per row (from the loss down):\n");
    printf("  %-32s %12s %12s %12s\n", "sublayer", "prompt rows", "input rows", "target rows");
    for (int l = t->dec_layers - 1; l >= 0; l--)
        for (int s = S - 1; s >= 0; s--) {
            snprintf(row, sizeof row, "decoder %d %s", l, name[s]);
            printf("  %-32s %12s %12s %12s\n", row, "", "", fmt_num(a, t->dec_target[l * S + s]));
        }
    printf("  %-32s %12s %12s\n", "encoder output (d H_enc)", fmt_num(a, t->henc_prompt), fmt_num(b, t->henc_input));
    for (int l = t->enc_layers - 1; l >= 0; l--)
        for (int s = S - 1; s >= 0; s -= 2) {   /* FFN, self-attention */
            snprintf(row, sizeof row, "encoder %d %s", l, name[s]);
            printf("  %-32s %12s %12s\n", row, fmt_num(a, t->enc_prompt[l * S + s]), fmt_num(b, t->enc_input[l * S + s]));
        }

    printf("\nroad to the encoder: what each decoder layer's cross-attention keys/values add to d H_enc\n");
    printf("  %-14s %12s %8s %14s %14s\n", "decoder layer", "norm", "share", "prompt rows", "input rows");
    double sum = 0;
    for (int l = 0; l < t->dec_layers; l++) sum += isfinite(t->cross_norm[l]) ? t->cross_norm[l] : 0;
    for (int l = t->dec_layers - 1; l >= 0; l--)
        printf("  %-14d %12s %7.1f%% %14s %14s\n", l, fmt_num(a, t->cross_norm[l]),
               sum > 0 ? 100.0 * t->cross_norm[l] / sum : 0.0, fmt_num(b, t->cross_prompt[l]),
               fmt_num(c, t->cross_input[l]));
    printf("  (share: of the sum of the layers' norms; prompt/input rows: mean L2 norm per row)\n");

    printf("\nattention on the prompt (encoder: mean share that input-token queries give prompt keys;\n"
           "decoder: mean share of cross-attention on prompt positions, over target positions):\n");
    printf("  %-20s", "layer");
    for (int h = 0; h < t->H; h++) printf(" %7s%-2d", "head ", h);
    printf("\n");
    for (int l = 0; l < t->enc_layers; l++) {
        snprintf(row, sizeof row, "encoder %d", l);
        printf("  %-20s", row);
        for (int h = 0; h < t->H; h++) printf(" %9.3f", t->enc_attn[l * t->H + h]);
        printf("\n");
    }
    for (int l = 0; l < t->dec_layers; l++) {
        snprintf(row, sizeof row, "decoder %d (cross)", l);
        printf("  %-20s", row);
        for (int h = 0; h < t->H; h++) printf(" %9.3f", t->dec_attn[l * t->H + h]);
        printf("\n");
    }

    printf("\nprompt gradient d loss / d P (summed over the batch): norm %.4e; per row:\n", t->prompt_norm);
    for (int i = 0; i < t->n; i++) printf("  row %-4d %.4e\n", i, (double)t->prompt_row[i]);
}

/* The batch: --batch file, or the first --examples rows of --data. */
typedef struct {
    cli_batch_tensors bt;
    t5pt_dataset *ds;
    t5pt_tokenizer *tok;
    t5pt_batch_buf bb;
    const t5pt_batch *view;
} trace_batch;

static int load_batch(const trace_args *a, trace_batch *tb) {
    const char *cmd = "trace";
    if (a->batch) {
        int rc = cli_read_batch(cmd, a->batch, &tb->bt);
        tb->view = &tb->bt.view;
        return rc;
    }
    if (cli_load_tokenizer(cmd, a->model, a->tokenizer, &tb->tok) != T5PT_OK ||
        t5pt_dataset_load(&tb->ds, a->data, tb->tok, &a->dopt) != T5PT_OK)
        return cli_fail_lib(cmd);
    const int count = a->examples < tb->ds->n ? a->examples : tb->ds->n;
    int *idx = malloc((size_t)count * sizeof *idx);
    if (!idx) return cli_fail(cmd, "out of memory");
    for (int i = 0; i < count; i++) {
        idx[i] = i;
        if (!tb->ds->ex[i].target) {
            free(idx);
            return cli_fail(cmd, "%s:%d: no target (the trace needs a loss)", a->data, tb->ds->ex[i].line);
        }
    }
    t5pt_status st = t5pt_batch_build(&tb->bb, tb->ds, idx, count, 1);
    free(idx);
    if (st != T5PT_OK) return cli_fail_lib(cmd);
    tb->view = &tb->bb.view;
    return 0;
}

static void trace_batch_free(trace_batch *tb) {
    cli_batch_tensors_free(&tb->bt);
    t5pt_batch_buf_free(&tb->bb);
    t5pt_dataset_free(tb->ds);
    t5pt_tokenizer_free(tb->tok);
}

static int run_trace(const trace_args *a, t5pt_placement pl) {
    /* pl: --placement, or (resolved below) the one the prompt recorded */
    const char *cmd = "trace";
    t5pt_model *m = NULL;
    trace_batch tb = {0};
    float *P = NULL, *dP = NULL;
    int n = 0, rc;
    t5pt_ctx *c = NULL;
    t5pt_trace *t = NULL;
    if ((rc = load_batch(a, &tb)) != 0) goto out;
    rc = 1;
    if (t5pt_model_load(&m, a->model) != T5PT_OK) {
        cli_fail_lib(cmd);
        goto out;
    }
    if ((rc = cli_set_precision(cmd, m, a->precision)) != 0) goto out;
    rc = 1;
    const int d = t5pt_model_config(m)->d_model;
    if (a->prompt) {
        t5pt_prompt_info info;
        if ((rc = cli_load_prompt(cmd, a->prompt, a->model, d, &P, &n, &info)) != 0) goto out;
        rc = 1;
        if (n < 1) {
            cli_fail(cmd, "--prompt %s: the prompt has 0 rows", a->prompt);
            goto out;
        }
        if ((rc = cli_resolve_placement(cmd, a->have_placement, &a->prompt, &info, 1, &pl)) != 0) goto out;
        rc = 1;
    } else {
        n = a->prompt_len;
        P = malloc((size_t)n * d * sizeof *P);
        t5pt_init_config ic = {.kind = T5PT_INIT_SAMPLED_VOCAB, .range = 0.5f, .seed = a->seed};
        if (!P || t5pt_prompt_init(P, n, m, &ic) != T5PT_OK) {
            cli_fail(cmd, "--prompt-len %d: %s", n, P ? t5pt_last_error() : "out of memory");
            goto out;
        }
    }
    dP = malloc((size_t)n * d * sizeof *dP);
    const t5pt_batch *bv = tb.view;
    float loss;
    if (!dP || t5pt_ctx_create(&c, m, bv->B, bv->T, bv->L, n) != T5PT_OK || t5pt_trace_create(&t, c) != T5PT_OK) {
        if (!dP) cli_fail(cmd, "out of memory");
        else cli_fail_lib(cmd);
        goto out;
    }
    if (a->readable) t5pt_ctx_set_readable_backward(c, 1);
    if (t5pt_forward(c, P, n, pl, bv, &loss) != T5PT_OK || t5pt_backward(c, dP) != T5PT_OK ||
        t5pt_trace_finish(t, dP) != T5PT_OK) {
        cli_fail_lib(cmd);
        goto out;
    }
    if (!isfinite(loss)) {
        cli_fail(cmd, "the loss is not finite (%g): nothing to trace", (double)loss);
        goto out;
    }
    if (t->n_target_rows == 0) {
        cli_fail(cmd, "every label of the batch is -100: the loss is the constant 0, no gradient to trace");
        goto out;
    }
    char placement[24];   /* the one used: --placement, or the prompt's recorded one */
    if (pl.kind == T5PT_PLACE_AT) snprintf(placement, sizeof placement, "at:%d", pl.at);
    else snprintf(placement, sizeof placement, "%s", pl.kind == T5PT_PLACE_APPEND ? "append" : "prepend");
    print_table(t, placement);
    if (a->json && t5pt_trace_write_json(t, a->json) != T5PT_OK) {
        cli_fail_lib(cmd);
        goto out;
    }
    if (a->svg && t5pt_trace_write_svg(t, a->svg) != T5PT_OK) {
        cli_fail_lib(cmd);
        goto out;
    }
    if (a->json) printf("\nwrote %s\n", a->json);
    if (a->svg) printf("%swrote %s\n", a->json ? "" : "\n", a->svg);
    rc = fflush(stdout) != 0 || ferror(stdout) ? cli_fail(cmd, "writing to stdout failed") : 0;
out:
    t5pt_trace_free(t);
    t5pt_ctx_free(c);
    free(P);
    free(dP);
    trace_batch_free(&tb);
    t5pt_model_free(m);
    return rc;
}

int cli_trace(int argc, char **argv) {
    trace_args a = {.placement = "prepend", .prompt_len = 20, .examples = 8, .seed = 1};
    t5pt_data_options_default(&a.dopt);
    int have_prompt_len = 0;
    const cli_option opts[] = {
        CLI_OPT_MODEL(&a.model),
        {.name = "data", .kind = CLI_STR, .target = &a.data, .metavar = "FILE",
         .help = "JSONL {\"input\":..,\"target\":..} or TSV: the first --examples rows form the batch"},
        {.name = "batch", .kind = CLI_STR, .target = &a.batch, .metavar = "FILE",
         .help = "instead of --data: a batch as safetensors (input_ids, attention_mask, labels;\nas t5pt dump reads)"},
        {.name = "examples", .kind = CLI_INT, .target = &a.examples, .metavar = "N", .help = "rows of --data in the batch",
         .min = 1, .max = 1 << 16},
        {.name = "prompt", .kind = CLI_STR, .target = &a.prompt, .metavar = "PATH",
         .help = "soft prompt: PEFT adapter directory, .safetensors or T5X .npy", .dflt = "sampled vocabulary"},
        {.name = "prompt-len", .kind = CLI_INT, .target = &a.prompt_len, .metavar = "N",
         .help = "rows of the initial prompt when there is no --prompt", .max = 1 << 16, .given = &have_prompt_len},
        {.name = "seed", .kind = CLI_U64, .target = &a.seed, .metavar = "N", .help = "seed of the initial prompt"},
        CLI_OPT_PLACEMENT(&a.placement, &a.have_placement),
        {.name = "json", .kind = CLI_STR, .target = &a.json, .metavar = "FILE", .help = "write every number as JSON",
         .dflt = "none"},
        {.name = "svg", .kind = CLI_STR, .target = &a.svg, .metavar = "FILE",
         .help = "write the figure: gradient norms per sublayer, attention on the prompt", .dflt = "none"},
        {.name = "readable-backward", .kind = CLI_FLAG, .target = &a.readable,
         .help = "turn off the backward's speed-only shortcuts (as T5PT_READABLE_BACKWARD=1)"},
        CLI_OPT_TOKENIZER(&a.tokenizer),
        CLI_OPT_INPUT_FIELD(&a.dopt.input_field),
        CLI_OPT_TARGET_FIELD(&a.dopt.target_field),
        CLI_OPT_MAX_SRC_LEN(&a.dopt.max_src_len),
        CLI_OPT_PRECISION(&a.precision),
        CLI_OPT_THREADS(&a.threads),
        {0}};
    const cli_command cm = {
        .name = "trace",
        .usage = "--model DIR (--data FILE | --batch B.safetensors) [--prompt P] [options]",
        .about = about,
        .options = opts,
        .epilog = epilog,
        .loads_tokenizer = 1,
    };
    int rc = cli_parse(&cm, argc, argv);
    if (rc != CLI_PARSED) return rc;
    const char *cmd = "trace";
    t5pt_placement pl;
    if ((rc = cli_parse_placement(cmd, a.placement, &pl)) != 0) return rc;
    if (!a.data == !a.batch) return cli_usage_error(cmd, "give one of --data FILE or --batch FILE");
    if (a.prompt && have_prompt_len)
        return cli_usage_error(cmd, "--prompt-len sets the initial prompt; with --prompt the file decides");
    if (!a.prompt && a.prompt_len < 1)
        return cli_usage_error(cmd, "--prompt-len 0: the trace follows the gradient down to the prompt, which needs at least one row");
    if (cli_check_input_dir(cmd, "model", a.model) || (a.data && cli_check_input_file(cmd, "data", a.data)) ||
        (a.batch && cli_check_input_file(cmd, "batch", a.batch)) ||
        (a.prompt && cli_check_input_any(cmd, "prompt", a.prompt)) ||
        (a.tokenizer && cli_check_input_any(cmd, "tokenizer", a.tokenizer)) ||
        (a.json && cli_check_output_file(cmd, "json", a.json)) || (a.svg && cli_check_output_file(cmd, "svg", a.svg)))
        return 1;
    cli_set_threads(a.threads);
    return run_trace(&a, pl);
}
