/* cmd_generate.c — `t5pt generate`: greedy decoding with a key/value cache. */
#include "cli/cli.h"
#include "train/data.h"
#include "train/eval.h"

#include <stdlib.h>
#include <string.h>

/* What every input shares: the model, the prompt, the options, and the encoder arena
 * (grown when a longer input comes). */
typedef struct {
    const t5pt_model *m;
    const t5pt_tokenizer *tok;
    const float *P;
    int n;
    t5pt_placement pl;
    int max_new, max_src, print_ids;
    t5pt_ctx *c;
    int cap_T;
    int truncated;   /* inputs cut to max_src */
} generator;

static void print_output(const generator *g, const int32_t *out, int len, char *text) {
    if (g->print_ids) {
        for (int k = 0; k < len; k++) printf(k ? " %d" : "%d", out[k]);
        putchar('\n');
    } else {
        printf("%s\n", text);
    }
    fflush(stdout);
}

/* Decodes one input text; where names it in errors ("stdin:3", "argument 2"). */
static int generate_one(generator *g, const char *text, const char *where) {
    long bad = t5pt_utf8_invalid_at(text, strlen(text));
    if (bad >= 0) return cli_fail("generate", "%s: invalid UTF-8 at byte %ld", where, bad + 1);
    t5pt_dataset *d;
    if (t5pt_dataset_from_texts(&d, &text, 1, g->tok, g->max_src) != T5PT_OK)
        return cli_fail("generate", "%s: %s", where, t5pt_last_error());
    g->truncated += d->truncated_src;
    if (d->max_src > g->cap_T) {   /* grow the encoder arena for a longer input */
        t5pt_ctx_free(g->c);
        g->c = NULL;
        g->cap_T = d->max_src * 2;
    }
    t5pt_batch_buf bb = {0};
    int idx = 0, len = 0, rc = 0;
    char *decoded = NULL;
    int32_t *out = malloc((size_t)g->max_new * sizeof(int32_t));
    if (!out) {
        rc = cli_fail("generate", "out of memory");
    } else if (!g->c && t5pt_ctx_create(&g->c, g->m, 1, g->cap_T, 1, g->n) != T5PT_OK) {
        rc = cli_fail("generate", "%s: %s (%d tokens; --max-src-len N cuts long inputs)", where, t5pt_last_error(),
                      d->max_src);
    } else if (t5pt_batch_build(&bb, d, &idx, 1, 0) != T5PT_OK ||
               t5pt_greedy(g->c, g->m, &g->P, &g->n, 1, g->pl, &bb.view, g->max_new, 1, out, &len) != T5PT_OK ||
               (!g->print_ids &&
                t5pt_decode_generated(g->tok, out, len, t5pt_model_config(g->m)->eos_token_id, &decoded) != T5PT_OK)) {
        rc = cli_fail("generate", "%s: %s", where, t5pt_last_error());
    } else {
        print_output(g, out, len, decoded);
    }
    free(decoded);
    free(out);
    t5pt_batch_buf_free(&bb);
    t5pt_dataset_free(d);
    return rc;
}

static int generate_all(generator *g, const cli_strs *texts) {
    char where[48];
    int rc = 0;
    if (texts->n) {
        for (int i = 0; i < texts->n && !rc; i++) {
            snprintf(where, sizeof where, "argument %d", i + 1);
            rc = generate_one(g, texts->v[i], where);
        }
        return rc;
    }
    char *line = NULL;
    size_t cap = 0;
    for (int lineno = 1; !rc && cli_getline(&line, &cap, stdin) >= 0; lineno++) {
        snprintf(where, sizeof where, "stdin:%d", lineno);
        rc = generate_one(g, line, where);
    }
    free(line);
    return rc;
}

int cli_generate(int argc, char **argv) {
    struct {
        const char *model, *prompt, *placement, *tokenizer, *precision;
        int have_placement;
        int max_new, max_src, threads, ids;
        cli_strs texts;
    } a = {.placement = "prepend", .max_new = 64};
    const cli_option opts[] = {
        CLI_OPT_MODEL(&a.model),
        {.name = "prompt", .kind = CLI_STR, .target = &a.prompt, .metavar = "PATH", .help = "soft prompt: PEFT adapter directory, .safetensors or T5X .npy", .dflt = "none"},
        CLI_OPT_PLACEMENT(&a.placement, &a.have_placement),
        {.name = "max-new-tokens", .kind = CLI_INT, .target = &a.max_new, .metavar = "N", .help = "generation limit", .min = 1, .max = 1 << 20},
        CLI_OPT_MAX_SRC_LEN(&a.max_src),
        CLI_OPT_TOKENIZER(&a.tokenizer),
        {.name = "ids", .kind = CLI_FLAG, .target = &a.ids, .help = "print token ids instead of text"},
        CLI_OPT_PRECISION(&a.precision),
        CLI_OPT_THREADS(&a.threads),
        {0}};
    const cli_command c = {
        .name = "generate",
        .usage = "--model DIR [--prompt PROMPT] [options] [TEXT ...]",
        .about = "Greedy decoding: the encoder runs once; the decoder runs one token at a time, keeping\n"
                 "the self-attention keys/values of earlier tokens and the cross-attention keys/values of\n"
                 "the encoder output (computed once). Stops at </s> or --max-new-tokens. Writes one line\n"
                 "of text per input. Without TEXT arguments, reads input lines from stdin.\n"
                 "Ids the tokenizer has no piece for (rows 32100..32127 of every Hugging Face T5\n"
                 "checkpoint) decode as empty text, as Hugging Face's tokenizers decode them.\n",
        .options = opts,
        .args = &a.texts,
        .loads_tokenizer = 1,
    };
    int rc = cli_parse(&c, argc, argv);
    if (rc != CLI_PARSED) {
        cli_strs_free(&a.texts);
        return rc;
    }
    const char *cmd = "generate";
    generator g = {.max_new = a.max_new, .max_src = a.max_src, .print_ids = a.ids, .cap_T = 64};
    t5pt_model *m = NULL;
    t5pt_tokenizer *tok = NULL;
    float *P = NULL;
    t5pt_prompt_info info;
    /* everything the command line alone can show wrong, before the model loads */
    if ((rc = cli_parse_placement(cmd, a.placement, &g.pl)) != 0) goto out;
    rc = 1;
    if (cli_check_input_dir(cmd, "model", a.model) || (a.prompt && cli_check_input_any(cmd, "prompt", a.prompt)) ||
        (a.tokenizer && cli_check_input_any(cmd, "tokenizer", a.tokenizer)))
        goto out;
    cli_set_threads(a.threads);
    if (t5pt_model_load(&m, a.model) != T5PT_OK || cli_load_tokenizer(cmd, a.model, a.tokenizer, &tok) != T5PT_OK) {
        cli_fail_lib(cmd);
        goto out;
    }
    if ((rc = cli_set_precision(cmd, m, a.precision)) != 0) goto out;
    rc = 1;
    if (a.prompt) {
        if (cli_load_prompt(cmd, a.prompt, a.model, t5pt_model_config(m)->d_model, &P, &g.n, &info)) goto out;   /* rc 1 */
        if ((rc = cli_resolve_placement(cmd, a.have_placement, &a.prompt, &info, 1, &g.pl)) != 0) goto out;
    }
    g.m = m;
    g.tok = tok;
    g.P = P;
    rc = generate_all(&g, &a.texts);
    if (g.truncated)
        fprintf(stderr, "t5pt generate: %d input(s) truncated to --max-src-len %d tokens\n", g.truncated, a.max_src);
    if (!rc && ferror(stdout)) rc = cli_fail(cmd, "writing to stdout failed");
out:
    t5pt_ctx_free(g.c);
    free(P);
    t5pt_tokenizer_free(tok);
    t5pt_model_free(m);
    cli_strs_free(&a.texts);
    return rc;
}
