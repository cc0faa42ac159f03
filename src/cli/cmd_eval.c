/* cmd_eval.c — `t5pt eval`: accuracy of one prompt or an ensemble of prompts. */
#include "cli/cli.h"
#include "base/internal.h"
#include "train/data.h"
#include "train/eval.h"
#include "io/json.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *model, *data, *placement, *labels, *predictions, *tokenizer, *precision;
    cli_strs prompts;
    int batch, max_new, threads, no_generate, have_placement;
    t5pt_data_options dopt;
} eval_args;

/* What eval loaded: freed by loaded_free. */
typedef struct {
    t5pt_model *m;
    t5pt_tokenizer *tok;
    t5pt_dataset *d;
    float **P;      /* [E] prompts (NULL rows: no prompt) */
    int *n;         /* [E] prompt rows */
    int E;
} loaded;

static void loaded_free(loaded *l) {
    for (int e = 0; l->P && e < l->E; e++) free(l->P[e]);
    free(l->P);
    free(l->n);
    t5pt_dataset_free(l->d);
    t5pt_tokenizer_free(l->tok);
    t5pt_model_free(l->m);
}

/* Every path on the command line, before anything loads. */
static int check_paths(const eval_args *a) {
    const char *cmd = "eval";
    if (cli_check_input_dir(cmd, "model", a->model) || cli_check_input_file(cmd, "data", a->data)) return 1;
    for (int e = 0; e < a->prompts.n; e++)
        if (cli_check_input_any(cmd, "prompt", a->prompts.v[e])) return 1;
    if (a->tokenizer && cli_check_input_any(cmd, "tokenizer", a->tokenizer)) return 1;
    if (a->predictions && (cli_check_output_file(cmd, "predictions", a->predictions) ||
                           cli_check_distinct(cmd, "predictions", a->predictions, "data", a->data)))
        return 1;
    return 0;
}

static int load_all(const eval_args *a, loaded *l, t5pt_placement *pl) {
    const char *cmd = "eval";
    l->E = a->prompts.n ? a->prompts.n : 1;
    l->P = calloc((size_t)l->E, sizeof(float *));
    l->n = calloc((size_t)l->E, sizeof(int));
    if (!l->P || !l->n) return cli_fail(cmd, "out of memory");
    if (t5pt_model_load(&l->m, a->model) != T5PT_OK || cli_load_tokenizer(cmd, a->model, a->tokenizer, &l->tok) != T5PT_OK ||
        t5pt_dataset_load(&l->d, a->data, l->tok, &a->dopt) != T5PT_OK)
        return cli_fail_lib(cmd);
    int prc = cli_set_precision(cmd, l->m, a->precision);
    if (prc) return prc;
    const int dm = t5pt_model_config(l->m)->d_model;
    t5pt_prompt_info *info = calloc((size_t)l->E, sizeof *info);
    if (!info) return cli_fail(cmd, "out of memory");
    int rc = 0;
    for (int e = 0; e < a->prompts.n && !rc; e++)
        rc = cli_load_prompt(cmd, a->prompts.v[e], a->model, dm, &l->P[e], &l->n[e], &info[e]);
    if (!rc) rc = cli_resolve_placement(cmd, a->have_placement, a->prompts.v, info, a->prompts.n, pl);
    free(info);
    if (rc) return rc;
    if (l->d->truncated_src)
        fprintf(stderr, "t5pt eval: %s: %d of %d inputs truncated to --max-src-len %d tokens\n", a->data,
                l->d->truncated_src, l->d->n, a->dopt.max_src_len);
    return 0;
}

/* The command line first (status 2), then the files (status 1); 0 when everything is loaded. */
static int validate_and_load(const eval_args *a, t5pt_eval_options *eo, char ***labels, int *C, loaded *l) {
    const char *cmd = "eval";
    int rc;
    if (a->no_generate && !a->labels) return cli_usage_error(cmd, "--no-generate needs --labels");
    if ((rc = cli_parse_placement(cmd, a->placement, &eo->pl)) != 0) return rc;
    if (a->labels && (rc = cli_parse_labels(cmd, a->labels, labels, C)) != 0) return rc;
    if ((rc = check_paths(a)) != 0) return rc;
    cli_set_threads(a->threads);
    return load_all(a, l, &eo->pl);
}

static void print_scores(const eval_args *a, const loaded *l, const t5pt_eval_result *res, int C) {
    printf("%s: %d examples (%d with a target)\n", a->data, l->d->n, res->scored);
    if (C && res->targets_not_in_labels)
        printf("note: %d targets are none of the --labels (counted as wrong by rank classification)\n",
               res->targets_not_in_labels);
    for (int e = 0; e < l->E; e++) {
        printf("%-28s", a->prompts.n ? a->prompts.v[e] : "(no prompt)");
        if (!a->no_generate) printf("  exact_match %.4f", res->gen_acc[e]);
        if (C) printf("  rank_accuracy %.4f", res->rank_acc[e]);
        putchar('\n');
    }
    if (l->E > 1) {
        printf("%-28s", "majority vote");
        if (!a->no_generate) printf("  exact_match %.4f", res->gen_vote_acc);
        if (C) printf("  rank_accuracy %.4f", res->rank_vote_acc);
        putchar('\n');
    }
}

static void jw_text(json_writer *w, const char *s) { t5pt_jw_str(w, s, strlen(s)); }

/* One JSON line per example: input, target, the (voted) generation and label, per-prompt answers. */
static void predictions_jsonl(json_writer *w, const loaded *l, const t5pt_eval_result *res, char **labels, int C,
                              int generate) {
    const int N = l->d->n, E = l->E;
    for (int i = 0; i < N; i++) {
        const t5pt_example *x = &l->d->ex[i];
        t5pt_jw_printf(w, "{\"line\":%d,\"input\":", x->line);
        jw_text(w, x->input);
        if (x->target) {
            t5pt_jw_raw(w, ",\"target\":");
            jw_text(w, x->target);
        }
        if (generate) {
            t5pt_jw_raw(w, ",\"generated\":");
            jw_text(w, res->gen_vote[i]);
            if (E > 1) {
                t5pt_jw_raw(w, ",\"generated_per_prompt\":[");
                for (int e = 0; e < E; e++) {
                    if (e) t5pt_jw_raw(w, ",");
                    jw_text(w, res->gen_pred[(size_t)e * N + i]);
                }
                t5pt_jw_raw(w, "]");
            }
        }
        if (C) {
            t5pt_jw_raw(w, ",\"label\":");
            jw_text(w, res->rank_vote[i] >= 0 ? labels[res->rank_vote[i]] : "");
            t5pt_jw_raw(w, ",\"nll\":[");
            for (int j = 0; j < C; j++) t5pt_jw_printf(w, "%s%.6g", j ? "," : "", res->rank_nll[(size_t)i * C + j]);
            t5pt_jw_raw(w, "]");
            if (E > 1) {
                t5pt_jw_raw(w, ",\"label_per_prompt\":[");
                for (int e = 0; e < E; e++) {
                    if (e) t5pt_jw_raw(w, ",");
                    jw_text(w, labels[res->rank_pred[(size_t)e * N + i]]);
                }
                t5pt_jw_raw(w, "]");
            }
        }
        t5pt_jw_raw(w, "}\n");
    }
}

/* The whole file at once (temp file + rename): never a half-written predictions file. */
static int write_predictions(const char *path, const loaded *l, const t5pt_eval_result *res, char **labels, int C,
                             int generate) {
    json_writer w = {0};
    predictions_jsonl(&w, l, res, labels, C, generate);
    int rc = 0;
    if (w.oom) rc = cli_fail("eval", "%s: out of memory", path);
    else if (t5pt_write_file_atomic(path, w.buf ? w.buf : "", w.len) != T5PT_OK) rc = cli_fail_lib("eval");
    t5pt_jw_free(&w);
    return rc;
}

int cli_eval(int argc, char **argv) {
    eval_args a = {.placement = "prepend", .batch = 16};
    t5pt_data_options_default(&a.dopt);
    const cli_option opts[] = {
        CLI_OPT_MODEL(&a.model),
        {.name = "data", .kind = CLI_STR, .target = &a.data, .metavar = "FILE",
         .help = "JSONL {\"input\":..,\"target\":..} or TSV input<TAB>target", .flags = CLI_REQUIRED},
        {.name = "prompt", .kind = CLI_STRS, .target = &a.prompts, .metavar = "PATH",
         .help = "PEFT adapter directory, .safetensors (prompt_embeddings) or T5X .npy;\n"
                 "give it several times for an ensemble",
         .dflt = "none: the bare model"},
        CLI_OPT_PLACEMENT(&a.placement, &a.have_placement),
        {.name = "labels", .kind = CLI_STR, .target = &a.labels, .metavar = "a,b,c",
         .help = "candidate label words for rank classification (\\, for a literal comma)"},
        {.name = "no-generate", .kind = CLI_FLAG, .target = &a.no_generate,
         .help = "skip greedy generation (rank classification only; needs --labels)"},
        {.name = "predictions", .kind = CLI_STR, .target = &a.predictions, .metavar = "FILE",
         .help = "per-example predictions as JSONL (written whole at the end)"},
        {.name = "batch", .kind = CLI_INT, .target = &a.batch, .metavar = "N", .help = "examples per batch",
         .min = 1, .max = 1 << 20},
        {.name = "max-new-tokens", .kind = CLI_INT, .target = &a.max_new, .metavar = "N", .help = "generation limit",
         .dflt = "longest target + 4, at least 8", .min = 1, .max = 1 << 20},
        CLI_OPT_MAX_SRC_LEN(&a.dopt.max_src_len),
        CLI_OPT_INPUT_FIELD(&a.dopt.input_field),
        CLI_OPT_TARGET_FIELD(&a.dopt.target_field),
        CLI_OPT_TOKENIZER(&a.tokenizer),
        CLI_OPT_PRECISION(&a.precision),
        CLI_OPT_THREADS(&a.threads),
        {0}};
    const cli_command c = {
        .name = "eval",
        .usage = "--model DIR --data FILE [--prompt PROMPT ...] [options]",
        .about = "Scores prompts on a JSONL/TSV dataset the two ways the paper scores its tasks:\n"
                 "  exact match    greedy generation (key/value cache) compared with the target text\n"
                 "  rank accuracy  with --labels: each label word is scored by its summed negative\n"
                 "                 log-likelihood given the input; the lowest wins\n"
                 "Give --prompt several times for a prompt ensemble (paper section 7): each prompt's encoder\n"
                 "pass runs separately, the decoder runs all prompts as one batch over the shared frozen model,\n"
                 "and the majority vote (ties: earliest prompt / lowest summed NLL) is reported too.\n"
                 "Without --prompt the bare model is scored (a baseline). Generated ids the tokenizer has no\n"
                 "piece for (rows 32100..32127 of Hugging Face T5 checkpoints) decode as empty text.\n",
        .options = opts,
        .loads_tokenizer = 1,
    };
    int rc = cli_parse(&c, argc, argv);
    if (rc != CLI_PARSED) {
        cli_strs_free(&a.prompts);
        return rc;
    }
    const char *cmd = "eval";
    loaded l = {0};
    t5pt_eval_result res = {0};
    char **labels = NULL;
    int C = 0;
    t5pt_eval_options eo;
    t5pt_eval_options_default(&eo);
    rc = validate_and_load(&a, &eo, &labels, &C, &l);
    if (rc == 0) {
        eo.batch = a.batch;
        eo.max_new_tokens = a.max_new;
        eo.generate = !a.no_generate;
        eo.labels = (const char *const *)labels;
        eo.num_labels = C;
        if (t5pt_evaluate(l.m, l.tok, (const float *const *)l.P, l.n, l.E, l.d, &eo, &res) != T5PT_OK)
            rc = cli_fail_lib(cmd);
    }
    if (rc == 0) {
        print_scores(&a, &l, &res, C);
        if (a.predictions) rc = write_predictions(a.predictions, &l, &res, labels, C, eo.generate);
    }
    t5pt_eval_result_free(&res);
    cli_free_strings(labels, C);
    loaded_free(&l);
    cli_strs_free(&a.prompts);
    return rc;
}
