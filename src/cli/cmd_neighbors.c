/* cmd_neighbors.c — `t5pt neighbors`: the vocabulary pieces nearest to each prompt row
 * (cosine similarity), the interpretability reading of Lester et al. 2021, section 7. */
#include "cli/cli.h"
#include "base/internal.h"
#include "io/json.h"
#include "model/neighbors.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *model, *prompt, *json, *tokenizer;
    int k, threads;
} neighbors_args;

/* The text of one piece: its decoding, or <id N> when it decodes to nothing (control pieces). */
static char *piece_text(const t5pt_tokenizer *tok, int32_t id) {
    char *text = NULL;
    if (t5pt_tokenizer_decode(tok, &id, 1, &text) != T5PT_OK || !text || !text[0]) {
        free(text);
        text = malloc(24);
        if (text) snprintf(text, 24, "<id %d>", (int)id);
    }
    return text;
}

static int run_neighbors(const neighbors_args *a) {
    const char *cmd = "neighbors";
    t5pt_model *m = NULL;
    t5pt_tokenizer *tok = NULL;
    float *P = NULL, *sims = NULL;
    int32_t *ids = NULL;
    char **texts = NULL;
    int n = 0, rc = 1;
    json_writer w = {0};
    if (cli_load_tokenizer(cmd, a->model, a->tokenizer, &tok) != T5PT_OK || t5pt_model_load(&m, a->model) != T5PT_OK) {
        cli_fail_lib(cmd);
        goto out;
    }
    const int d = t5pt_model_config(m)->d_model;
    if ((rc = cli_load_prompt(cmd, a->prompt, a->model, d, &P, &n)) != 0) goto out;
    rc = 1;
    /* ids past the tokenizer's vocabulary are padding rows of the embedding table */
    const int V = t5pt_tokenizer_vocab_size(tok);
    ids = malloc((size_t)n * a->k * sizeof *ids);
    sims = malloc((size_t)n * a->k * sizeof *sims);
    texts = calloc((size_t)n * a->k, sizeof *texts);
    if (!ids || !sims || !texts) {
        cli_fail(cmd, "out of memory");
        goto out;
    }
    if (t5pt_prompt_neighbors(m, P, n, a->k, V, ids, sims) != T5PT_OK) {
        cli_fail_lib(cmd);
        goto out;
    }
    for (int i = 0; i < n * a->k; i++)
        if (!(texts[i] = piece_text(tok, ids[i]))) {
            cli_fail(cmd, "out of memory");
            goto out;
        }
    printf("nearest vocabulary pieces of each prompt row (cosine similarity), %s:\n", a->prompt);
    for (int i = 0; i < n; i++) {
        printf("  row %-4d", i);
        for (int j = 0; j < a->k; j++) printf("%s \"%s\" %.3f", j ? " |" : "", texts[i * a->k + j], (double)sims[i * a->k + j]);
        printf("\n");
    }
    if (a->json) {
        t5pt_jw_printf(&w, "{\"prompt\":");
        t5pt_jw_str(&w, a->prompt, strlen(a->prompt));
        t5pt_jw_printf(&w, ",\"k\":%d,\"rows\":[", a->k);
        for (int i = 0; i < n; i++) {
            t5pt_jw_printf(&w, "%s\n [", i ? "," : "");
            for (int j = 0; j < a->k; j++) {
                const char *t = texts[i * a->k + j];
                t5pt_jw_printf(&w, "%s{\"id\":%d,\"text\":", j ? "," : "", (int)ids[i * a->k + j]);
                t5pt_jw_str(&w, t, strlen(t));
                t5pt_jw_printf(&w, ",\"cosine\":%.6f}", (double)sims[i * a->k + j]);
            }
            t5pt_jw_raw(&w, "]");
        }
        t5pt_jw_raw(&w, "]}\n");
        if (w.oom || t5pt_write_file_atomic(a->json, w.buf, w.len) != T5PT_OK) {
            if (w.oom) cli_fail(cmd, "out of memory");
            else cli_fail_lib(cmd);
            goto out;
        }
        printf("wrote %s\n", a->json);
    }
    rc = fflush(stdout) != 0 || ferror(stdout) ? cli_fail(cmd, "writing to stdout failed") : 0;
out:
    t5pt_jw_free(&w);
    if (texts)
        for (int i = 0; i < n * a->k; i++) free(texts[i]);
    free(texts);
    free(ids);
    free(sims);
    free(P);
    t5pt_model_free(m);
    t5pt_tokenizer_free(tok);
    return rc;
}

int cli_neighbors(int argc, char **argv) {
    neighbors_args a = {.k = 5};
    const cli_option opts[] = {
        CLI_OPT_MODEL(&a.model),
        {.name = "prompt", .kind = CLI_STR, .target = &a.prompt, .metavar = "PATH",
         .help = "soft prompt: PEFT adapter directory, .safetensors or T5X .npy", .flags = CLI_REQUIRED},
        {.name = "k", .kind = CLI_INT, .target = &a.k, .metavar = "N", .help = "pieces per prompt row", .min = 1,
         .max = 1000},
        {.name = "json", .kind = CLI_STR, .target = &a.json, .metavar = "FILE",
         .help = "also write them as JSON: rows[i][j] = {id, text, cosine}", .dflt = "none"},
        CLI_OPT_TOKENIZER(&a.tokenizer),
        CLI_OPT_THREADS(&a.threads),
        {0}};
    const cli_command c = {
        .name = "neighbors",
        .usage = "--model DIR --prompt P [--k 5] [--json FILE]",
        .about = "For each row of a soft prompt, the vocabulary pieces whose input embeddings have the highest\n"
                 "cosine similarity to it (Lester et al. 2021, section 7: trained prompt tokens often sit near\n"
                 "the task's class labels). A row initialised from a piece's embedding has that piece first,\n"
                 "with similarity 1.\n",
        .options = opts,
        .loads_tokenizer = 1,
    };
    int rc = cli_parse(&c, argc, argv);
    if (rc != CLI_PARSED) return rc;
    const char *cmd = "neighbors";
    if (cli_check_input_dir(cmd, "model", a.model) || cli_check_input_any(cmd, "prompt", a.prompt) ||
        (a.tokenizer && cli_check_input_any(cmd, "tokenizer", a.tokenizer)) ||
        (a.json && cli_check_output_file(cmd, "json", a.json)))
        return 1;
    cli_set_threads(a.threads);
    return run_neighbors(&a);
}
