/* cmd_generate.c — `t5pt generate`: greedy decoding with a key/value cache. */
#include "cli/cli.h"
#include "train/data.h"
#include "train/eval.h"

#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: t5pt generate --model DIR [--prompt PROMPT] [options] [TEXT ...]\n"
    "\n"
    "Greedy decoding: the encoder runs once; the decoder runs one token at a time, keeping\n"
    "the self-attention keys/values of earlier tokens and the cross-attention keys/values of\n"
    "the encoder output (computed once). Stops at </s> or --max-new-tokens. Writes one line\n"
    "of text per input. Without TEXT arguments, reads input lines from stdin.\n"
    "\n"
    "  --model DIR            Hugging Face T5 directory\n"
    "  --prompt PATH          soft prompt (PEFT adapter directory, .safetensors or T5X .npy)\n"
    "  --placement P          prepend (default) | append | at:K  (use the placement it was trained with)\n"
    "  --max-new-tokens N     default 64\n"
    "  --max-src-len N        truncate inputs to N tokens (incl. </s>); a count is reported\n"
    "  --tokenizer FILE       spiece.model or tokenizer.json (default: the model dir's, else the shipped one)\n"
    "  --ids                  print token ids instead of text\n"
    "  --threads N            OpenMP threads\n";

static int run_one(t5pt_ctx **c, int *cap_T, const t5pt_model *m, const t5pt_tokenizer *tok, const float *P, int n,
                   t5pt_placement pl, const char *text, int max_new, int max_src, int print_ids, int *truncated) {
    t5pt_dataset *d;
    const char *texts[1] = {text};
    if (t5pt_dataset_from_texts(&d, texts, 1, tok, max_src) != T5PT_OK) return cli_fail_lib("generate");
    *truncated += d->truncated_src;
    int rc = 0;
    if (d->max_src > *cap_T) {   /* grow the encoder arena for a longer input */
        t5pt_ctx_free(*c);
        *c = NULL;
        *cap_T = d->max_src * 2;
    }
    t5pt_batch_buf bb = {0};
    int idx = 0;
    int32_t *out = malloc((size_t)max_new * sizeof(int32_t));
    int len = 0;
    if (!out) rc = cli_fail("generate", "out of memory");
    else if ((!*c && t5pt_ctx_create(c, m, 1, *cap_T, 1, n) != T5PT_OK) || t5pt_batch_build(&bb, d, &idx, 1, 0) != T5PT_OK ||
             t5pt_greedy(*c, m, &P, &n, 1, pl, &bb.view, max_new, 1, out, &len) != T5PT_OK)
        rc = cli_fail_lib("generate");
    if (!rc) {
        if (print_ids) {
            for (int k = 0; k < len; k++) printf(k ? " %d" : "%d", out[k]);
            putchar('\n');
        } else {
            int k = len;
            if (k > 0 && out[k - 1] == t5pt_model_config(m)->eos_token_id) k--;
            char *s;
            if (t5pt_tokenizer_decode(tok, out, k, &s) != T5PT_OK) rc = cli_fail_lib("generate");
            else { printf("%s\n", s); free(s); }
        }
        fflush(stdout);
    }
    free(out);
    t5pt_batch_buf_free(&bb);
    t5pt_dataset_free(d);
    return rc;
}

int cli_generate(int argc, char **argv) {
    const char *cmd = "generate", *model_dir = NULL, *prompt_path = NULL, *placement = "prepend", *tpath = NULL, *v;
    int max_new = 64, max_src = 0, threads = 0, print_ids = 0, ntext = 0;
    char **texts = calloc((size_t)argc, sizeof(char *));
    if (!texts) return cli_fail(cmd, "out of memory");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(help, stdout); free(texts); return 0; }
        if (!strcmp(argv[i], "--ids")) print_ids = 1;
        else if (cli_opt(argc, argv, &i, "model", &v)) { if (!v) goto bad; model_dir = v; }
        else if (cli_opt(argc, argv, &i, "prompt", &v)) { if (!v) goto bad; prompt_path = v; }
        else if (cli_opt(argc, argv, &i, "placement", &v)) { if (!v) goto bad; placement = v; }
        else if (cli_opt(argc, argv, &i, "tokenizer", &v)) { if (!v) goto bad; tpath = v; }
        else if (cli_opt(argc, argv, &i, "max-new-tokens", &v)) { if (!v || cli_int(cmd, "max-new-tokens", v, 1, &max_new)) goto bad; }
        else if (cli_opt(argc, argv, &i, "max-src-len", &v)) { if (!v || cli_int(cmd, "max-src-len", v, 2, &max_src)) goto bad; }
        else if (cli_opt(argc, argv, &i, "threads", &v)) { if (!v || cli_int(cmd, "threads", v, 1, &threads)) goto bad; }
        else if (argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2]) { cli_fail(cmd, "unknown option '%s' (see --help)", argv[i]); goto bad; }
        else texts[ntext++] = argv[i];
    }
    if (!model_dir) { cli_fail(cmd, "need --model DIR (see --help)"); goto bad; }
    cli_set_threads(threads);
    t5pt_placement pl;
    if (t5pt_placement_parse(&pl, placement) != T5PT_OK) { cli_fail_lib(cmd); goto bad; }

    int rc = 1, truncated = 0, cap_T = 64;
    t5pt_model *m = NULL;
    t5pt_tokenizer *tok = NULL;
    t5pt_ctx *c = NULL;
    float *P = NULL;
    int n = 0, pd = 0;
    if (t5pt_model_load(&m, model_dir) != T5PT_OK || cli_load_tokenizer(cmd, model_dir, tpath, &tok) != T5PT_OK ||
        (prompt_path && t5pt_prompt_load(prompt_path, &P, &n, &pd) != T5PT_OK)) {
        cli_fail_lib(cmd);
        goto out;
    }
    if (P && pd != t5pt_model_config(m)->d_model) {
        cli_fail(cmd, "%s: prompt width %d != d_model %d", prompt_path, pd, t5pt_model_config(m)->d_model);
        goto out;
    }
    rc = 0;
    if (ntext) {
        for (int i = 0; i < ntext && !rc; i++)
            rc = run_one(&c, &cap_T, m, tok, P, n, pl, texts[i], max_new, max_src, print_ids, &truncated);
    } else {
        char *line = NULL;
        size_t cap = 0;
        while (!rc && cli_getline(&line, &cap, stdin) >= 0)
            rc = run_one(&c, &cap_T, m, tok, P, n, pl, line, max_new, max_src, print_ids, &truncated);
        free(line);
    }
    if (truncated) fprintf(stderr, "t5pt generate: %d input(s) truncated to --max-src-len %d tokens\n", truncated, max_src);
out:
    t5pt_ctx_free(c);
    free(P);
    t5pt_tokenizer_free(tok);
    t5pt_model_free(m);
    free(texts);
    return rc;
bad:
    free(texts);
    return 1;
}
