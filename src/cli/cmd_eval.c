/* cmd_eval.c — `t5pt eval`: accuracy of one prompt or an ensemble of prompts. */
#include "cli/cli.h"
#include "train/data.h"
#include "train/eval.h"
#include "io/json.h"

#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: t5pt eval --model DIR --data FILE [--prompt PROMPT ...] [options]\n"
    "\n"
    "Scores prompts on a JSONL/TSV dataset the two ways the paper scores its tasks:\n"
    "  exact match    greedy generation (key/value cache) compared with the target text\n"
    "  rank accuracy  with --labels: each label word is scored by its summed negative\n"
    "                 log-likelihood given the input; the lowest wins\n"
    "Give --prompt several times for a prompt ensemble (paper section 7): each prompt's encoder\n"
    "pass runs separately, the decoder runs all prompts as one batch over the shared frozen model,\n"
    "and the majority vote (ties: earliest prompt / lowest summed NLL) is reported too.\n"
    "Without --prompt the bare model is scored (a baseline).\n"
    "\n"
    "  --model DIR            Hugging Face T5 directory\n"
    "  --data FILE            JSONL {\"input\":..,\"target\":..} or TSV input<TAB>target\n"
    "  --prompt PATH          PEFT adapter directory, .safetensors (prompt_embeddings) or T5X .npy; repeatable\n"
    "  --placement P          prepend (default) | append | at:K\n"
    "  --labels a,b,c         candidate label words for rank classification (\\, for a literal comma)\n"
    "  --no-generate          skip greedy generation (rank classification only)\n"
    "  --predictions FILE     per-example predictions as JSONL\n"
    "  --batch N              examples per batch (default 16)\n"
    "  --max-new-tokens N     generation limit (default: longest target + 4, at least 8)\n"
    "  --max-src-len N        truncate inputs to N tokens incl. </s> (count reported)\n"
    "  --input-field NAME     JSONL key of the input (default input)\n"
    "  --target-field NAME    JSONL key of the target (default target)\n"
    "  --tokenizer FILE       spiece.model / tokenizer.json (default: the model dir's, else the shipped one)\n"
    "  --threads N            OpenMP threads\n";

static void json_text(FILE *f, const char *s) {
    json_writer w = {0};
    t5pt_jw_str(&w, s, strlen(s));
    if (!w.oom && w.buf) fwrite(w.buf, 1, w.len, f);
    t5pt_jw_free(&w);
}

int cli_eval(int argc, char **argv) {
    const char *cmd = "eval", *model_dir = NULL, *data = NULL, *placement = "prepend", *labels_arg = NULL,
               *pred_path = NULL, *tpath = NULL, *v;
    int batch = 16, max_new = 0, threads = 0, generate = 1, np = 0;
    t5pt_data_options dopt;
    t5pt_data_options_default(&dopt);
    const char **prompt_paths = calloc((size_t)argc, sizeof(char *));
    if (!prompt_paths) return cli_fail(cmd, "out of memory");
    int rc = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(help, stdout); free(prompt_paths); return 0; }
        if (!strcmp(argv[i], "--no-generate")) generate = 0;
        else if (cli_opt(argc, argv, &i, "model", &v)) { if (!v) goto early; model_dir = v; }
        else if (cli_opt(argc, argv, &i, "data", &v)) { if (!v) goto early; data = v; }
        else if (cli_opt(argc, argv, &i, "prompt", &v)) { if (!v) goto early; prompt_paths[np++] = v; }
        else if (cli_opt(argc, argv, &i, "placement", &v)) { if (!v) goto early; placement = v; }
        else if (cli_opt(argc, argv, &i, "labels", &v)) { if (!v) goto early; labels_arg = v; }
        else if (cli_opt(argc, argv, &i, "predictions", &v)) { if (!v) goto early; pred_path = v; }
        else if (cli_opt(argc, argv, &i, "tokenizer", &v)) { if (!v) goto early; tpath = v; }
        else if (cli_opt(argc, argv, &i, "input-field", &v)) { if (!v) goto early; dopt.input_field = v; }
        else if (cli_opt(argc, argv, &i, "target-field", &v)) { if (!v) goto early; dopt.target_field = v; }
        else if (cli_opt(argc, argv, &i, "batch", &v)) { if (!v || cli_int(cmd, "batch", v, 1, &batch)) goto early; }
        else if (cli_opt(argc, argv, &i, "max-new-tokens", &v)) { if (!v || cli_int(cmd, "max-new-tokens", v, 1, &max_new)) goto early; }
        else if (cli_opt(argc, argv, &i, "max-src-len", &v)) { if (!v || cli_int(cmd, "max-src-len", v, 2, &dopt.max_src_len)) goto early; }
        else if (cli_opt(argc, argv, &i, "threads", &v)) { if (!v || cli_int(cmd, "threads", v, 1, &threads)) goto early; }
        else { cli_fail(cmd, "unknown option '%s' (see t5pt eval --help)", argv[i]); goto early; }
    }
    if (!model_dir || !data) { cli_fail(cmd, "need --model DIR and --data FILE (see --help)"); goto early; }
    if (!generate && !labels_arg) { cli_fail(cmd, "--no-generate needs --labels"); goto early; }
    cli_set_threads(threads);
    t5pt_placement pl;
    if (t5pt_placement_parse(&pl, placement) != T5PT_OK) { cli_fail_lib(cmd); goto early; }

    t5pt_model *m = NULL;
    t5pt_tokenizer *tok = NULL;
    t5pt_dataset *d = NULL;
    char **labels = NULL;
    int C = 0, E = np ? np : 1;
    float **P = calloc((size_t)E, sizeof(float *));
    int *n = calloc((size_t)E, sizeof(int));
    t5pt_eval_result res = {0};
    FILE *pf = NULL;
    if (!P || !n) { cli_fail(cmd, "out of memory"); goto out; }
    if (labels_arg && !(labels = cli_split_labels(labels_arg, &C))) { cli_fail(cmd, "out of memory"); goto out; }
    if (t5pt_model_load(&m, model_dir) != T5PT_OK || cli_load_tokenizer(cmd, model_dir, tpath, &tok) != T5PT_OK ||
        t5pt_dataset_load(&d, data, tok, &dopt) != T5PT_OK) {
        cli_fail_lib(cmd);
        goto out;
    }
    const int dm = t5pt_model_config(m)->d_model;
    for (int e = 0; e < np; e++) {
        int pd;
        if (t5pt_prompt_load(prompt_paths[e], &P[e], &n[e], &pd) != T5PT_OK) { cli_fail_lib(cmd); goto out; }
        if (pd != dm) { cli_fail(cmd, "%s: prompt width %d != d_model %d of %s", prompt_paths[e], pd, dm, model_dir); goto out; }
    }
    if (d->truncated_src)
        fprintf(stderr, "t5pt eval: %s: %d of %d inputs truncated to --max-src-len %d tokens\n", data, d->truncated_src,
                d->n, dopt.max_src_len);
    t5pt_eval_options eo;
    t5pt_eval_options_default(&eo);
    eo.batch = batch;
    eo.max_new_tokens = max_new;
    eo.generate = generate;
    eo.labels = (const char *const *)labels;
    eo.num_labels = C;
    eo.pl = pl;
    if (t5pt_evaluate(m, tok, (const float *const *)P, n, E, d, &eo, &res) != T5PT_OK) { cli_fail_lib(cmd); goto out; }

    printf("%s: %d examples (%d with a target)\n", data, d->n, res.scored);
    if (C && res.targets_not_in_labels)
        printf("note: %d targets are none of the --labels (counted as wrong by rank classification)\n",
               res.targets_not_in_labels);
    for (int e = 0; e < E; e++) {
        printf("%-28s", np ? prompt_paths[e] : "(no prompt)");
        if (generate) printf("  exact_match %.4f", res.gen_acc[e]);
        if (C) printf("  rank_accuracy %.4f", res.rank_acc[e]);
        putchar('\n');
    }
    if (E > 1) {
        printf("%-28s", "majority vote");
        if (generate) printf("  exact_match %.4f", res.gen_vote_acc);
        if (C) printf("  rank_accuracy %.4f", res.rank_vote_acc);
        putchar('\n');
    }
    if (pred_path) {
        pf = fopen(pred_path, "w");
        if (!pf) { cli_fail(cmd, "%s: cannot open for writing", pred_path); goto out; }
        for (int i = 0; i < d->n; i++) {
            fprintf(pf, "{\"line\":%d,\"input\":", d->ex[i].line);
            json_text(pf, d->ex[i].input);
            if (d->ex[i].target) { fputs(",\"target\":", pf); json_text(pf, d->ex[i].target); }
            if (generate) {
                fputs(",\"generated\":", pf);
                json_text(pf, res.gen_vote[i]);
                if (E > 1) {
                    fputs(",\"generated_per_prompt\":[", pf);
                    for (int e = 0; e < E; e++) { if (e) fputc(',', pf); json_text(pf, res.gen_pred[(size_t)e * d->n + i]); }
                    fputc(']', pf);
                }
            }
            if (C) {
                fputs(",\"label\":", pf);
                json_text(pf, res.rank_vote[i] >= 0 ? labels[res.rank_vote[i]] : "");
                fputs(",\"nll\":[", pf);
                for (int j = 0; j < C; j++) fprintf(pf, "%s%.6g", j ? "," : "", res.rank_nll[(size_t)i * C + j]);
                fputc(']', pf);
                if (E > 1) {
                    fputs(",\"label_per_prompt\":[", pf);
                    for (int e = 0; e < E; e++) { if (e) fputc(',', pf); json_text(pf, labels[res.rank_pred[(size_t)e * d->n + i]]); }
                    fputc(']', pf);
                }
            }
            fputs("}\n", pf);
        }
        if (fclose(pf) != 0) { pf = NULL; cli_fail(cmd, "%s: write failed", pred_path); goto out; }
        pf = NULL;
    }
    rc = 0;
out:
    if (pf) fclose(pf);
    t5pt_eval_result_free(&res);
    for (int e = 0; P && e < E; e++) free(P[e]);
    free(P);
    free(n);
    cli_free_strings(labels, C);
    t5pt_dataset_free(d);
    t5pt_tokenizer_free(tok);
    t5pt_model_free(m);
early:
    free(prompt_paths);
    return rc;
}
