/* cmd_sweep.c — `t5pt sweep`: the paper's ablations (prompt length x init, and placement) over
 * one model and one task, several seeds, resumable; the grid and the files are src/train/sweep.c's. */
#include "cli/cli.h"
#include "base/internal.h"
#include "train/data.h"
#include "train/eval.h"
#include "train/sweep.h"
#include "train/train.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

static const char about[] =
    "Runs the ablations of Lester et al. 2021 (section 4, Figure 3) on one frozen model and one task:\n"
    "every prompt length x every initialisation (prepended), and a placement study (each --placements\n"
    "entry at --placement-len rows with --placement-init), each with every seed. Each run is a\n"
    "`t5pt train` into OUT/runs/<name>/ scored by its best validation metric (the paper's early\n"
    "stopping). OUT/results.jsonl gets one line per finished run; OUT/summary.md the mean +- sample\n"
    "standard deviation per cell; OUT/figure.svg the length study as the paper draws it (metric\n"
    "against prompt length on a log axis, one line per init).\n";

static const char epilog[] =
    "Resumable: rerunning the same command skips the runs results.jsonl holds, and a run that was\n"
    "interrupted continues from its checkpoint. Ctrl-C (or SIGTERM) checkpoints the run in progress,\n"
    "writes the summary and figure of the finished runs and exits with status 3; a second Ctrl-C\n"
    "ends at once. results.jsonl made with other settings (model, data, steps, ...) is refused.\n"
    "The default grid on the shipped model and task (examples/tiny-t5, examples/sentiment) is 51 runs.\n"
    "Exit status: 0 done, 1 failed, 2 bad command line, 3 interrupted (rerun to continue).\n";

typedef struct {
    const char *model, *train, *valid, *out, *labels, *tokenizer, *recipe_name, *select;
    const char *lengths, *inits, *placements, *placement_init, *seeds, *precision;
    int placement_len, steps, batch, eval_every, threads, have_batch, have_eval_every, have_lr, have_dropout;
    float lr, dropout;
    t5pt_data_options dopt;
} sweep_args;

/* ------------------------------------------------------------------ the grid from the flags */

typedef struct {
    char **inits, **placements, **len_text, **seed_text;
    int ninits, nplacements, nlens, nseeds;
    int *lengths;
    uint64_t *seeds;
    t5pt_sweep_grid g;
} grid_args;

static void grid_free(grid_args *ga) {
    cli_free_strings(ga->inits, ga->ninits);
    cli_free_strings(ga->placements, ga->nplacements);
    cli_free_strings(ga->len_text, ga->nlens);
    cli_free_strings(ga->seed_text, ga->nseeds);
    free(ga->lengths);
    free(ga->seeds);
}

/* "a,b,c" into strings; "none" is an empty list. 0 or the exit status. */
static int split_list(const char *flag, const char *text, char ***v, int *n) {
    *v = NULL;
    *n = 0;
    if (!strcmp(text, "none")) return 0;
    if (!(*v = cli_split_labels(text, n))) return cli_fail("sweep", "out of memory");
    for (int i = 0; i < *n; i++)
        if (!(*v)[i][0]) return cli_usage_error("sweep", "--%s %s: an empty entry", flag, text);
    return 0;
}

/* A decimal number in [lo, hi] that is the whole text. */
static int parse_number(const char *s, unsigned long long lo, unsigned long long hi, unsigned long long *out) {
    if (!s[0] || strspn(s, "0123456789") != strlen(s) || strlen(s) > 19) return -1;
    unsigned long long v = strtoull(s, NULL, 10);
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int build_grid(const sweep_args *a, int num_labels, grid_args *ga) {
    const char *cmd = "sweep";
    int rc;
    const char *inits = a->inits ? a->inits : num_labels ? "random-uniform,sampled-vocab,class-labels"
                                                         : "random-uniform,sampled-vocab";
    if ((rc = split_list("lengths", a->lengths, &ga->len_text, &ga->nlens)) ||
        (rc = split_list("inits", inits, &ga->inits, &ga->ninits)) ||
        (rc = split_list("placements", a->placements, &ga->placements, &ga->nplacements)) ||
        (rc = split_list("seeds", a->seeds, &ga->seed_text, &ga->nseeds)))
        return rc;
    ga->lengths = calloc((size_t)ga->nlens + 1, sizeof *ga->lengths);
    ga->seeds = calloc((size_t)ga->nseeds + 1, sizeof *ga->seeds);
    if (!ga->lengths || !ga->seeds) return cli_fail(cmd, "out of memory");
    for (int i = 0; i < ga->nlens; i++) {
        unsigned long long v;
        if (parse_number(ga->len_text[i], 1, 1 << 16, &v))
            return cli_usage_error(cmd, "--lengths: '%s' is not a prompt length in [1, 65536]", ga->len_text[i]);
        ga->lengths[i] = (int)v;
    }
    for (int i = 0; i < ga->nseeds; i++) {
        unsigned long long v;   /* results.jsonl keeps seeds as JSON integers: exact below 2^53 */
        if (parse_number(ga->seed_text[i], 0, (1ULL << 53) - 1, &v))
            return cli_usage_error(cmd, "--seeds: '%s' is not a seed in [0, 2^53)", ga->seed_text[i]);
        ga->seeds[i] = v;
    }
    const char *pinit = a->placement_init ? a->placement_init : num_labels ? "class-labels" : "sampled-vocab";
    for (int i = 0; i < ga->ninits; i++)
        if (!strcmp(ga->inits[i], "class-labels") && !num_labels)
            return cli_usage_error(cmd, "--inits class-labels needs --labels");
    if (!strcmp(pinit, "class-labels") && !num_labels && ga->nplacements)
        return cli_usage_error(cmd, "--placement-init class-labels needs --labels");
    ga->g = (t5pt_sweep_grid){.lengths = ga->lengths, .num_lengths = ga->nlens,
                              .inits = (const char *const *)ga->inits, .num_inits = ga->ninits,
                              .placements = (const char *const *)ga->placements, .num_placements = ga->nplacements,
                              .placement_len = a->placement_len, .placement_init = pinit,
                              .seeds = ga->seeds, .num_seeds = ga->nseeds};
    t5pt_sweep_run *runs;
    int n;
    if (t5pt_sweep_plan(&ga->g, &runs, &n) != T5PT_OK) return cli_usage_error(cmd, "%s", t5pt_last_error());
    free(runs);
    return 0;
}

/* The recipe, then the flags: every run's training settings. 0 or 2. */
static int train_settings(const sweep_args *a, t5pt_train_options *to, char *desc, size_t ndesc) {
    const char *cmd = "sweep";
    const t5pt_recipe *r = t5pt_recipe_find(a->recipe_name);
    if (!r) return cli_usage_error(cmd, "--recipe %s: expected paper or hf", a->recipe_name);
    t5pt_train_options_default(to);
    t5pt_optim_kind kind;
    if (t5pt_optim_parse_kind(&kind, r->optim) != T5PT_OK) return cli_usage_error(cmd, "%s", t5pt_last_error());
    t5pt_optim_config_default(&to->oc, kind);
    to->oc.lr = a->have_lr ? a->lr : r->lr;
    to->oc.weight_decay = r->weight_decay;
    to->oc.start_step = r->adafactor_start_step;
    if (t5pt_loss_parse(r->loss, &to->loss, &to->z_loss) != T5PT_OK) return cli_usage_error(cmd, "%s", t5pt_last_error());
    to->batch = a->have_batch ? a->batch : r->batch;
    to->dropout = a->have_dropout ? a->dropout : r->dropout;
    to->steps = a->steps;
    to->eval_every = a->eval_every;
    to->checkpoint_every = a->eval_every;
    if (a->select && t5pt_select_parse(&to->select, a->select) != T5PT_OK)
        return cli_usage_error(cmd, "%s", t5pt_last_error());
    int rc = cli_check_optim(cmd, &to->oc);
    if (rc) return rc;
    snprintf(desc, ndesc, "recipe %s: --optim %s --lr %g --weight-decay %g --adafactor-start-step %lld --loss %s "
             "--z-loss %g --batch %d --dropout %g --steps %d --eval-every %d", r->name, r->optim, (double)to->oc.lr,
             (double)to->oc.weight_decay, (long long)to->oc.start_step, r->loss, (double)to->z_loss, to->batch,
             (double)to->dropout, to->steps, to->eval_every);
    return 0;
}

/* ------------------------------------------------------------------ progress */

typedef struct {
    int done, skipped;
} progress;

static int on_run(const t5pt_sweep_event *e, void *user) {
    progress *p = user;
    char name[128];
    t5pt_sweep_run_name(e->run, name, sizeof name);
    if (e->skipped) {
        p->skipped++;
        return 0;
    }
    if (!e->result) {
        printf("[%d/%d] %s ...", e->index + 1, e->total, name);
        fflush(stdout);
        return 0;
    }
    p->done++;
    printf(" %s %.4f (best at step %d; %.4f before training) %.1f s\n", e->result->metric, e->result->best,
           e->result->best_step, e->result->first, e->result->seconds);
    fflush(stdout);
    return 0;
}

static void print_summary(const char *out) {
    char *path = t5pt_path_join(out, "summary.md"), *text;
    size_t len;
    if (path && t5pt_read_file(path, &text, &len) == T5PT_OK) {
        fwrite(text, 1, len, stdout);
        free(text);
    }
    free(path);
}

/* ------------------------------------------------------------------ the command */

static int run_sweep(const sweep_args *a, const grid_args *ga, t5pt_train_options *to, const char *desc, char **labels,
                     int C) {
    const char *cmd = "sweep";
    t5pt_model *m = NULL;
    t5pt_tokenizer *tok = NULL;
    t5pt_dataset *train = NULL, *valid = NULL;
    int rc = 1;
    if (cli_load_tokenizer(cmd, a->model, a->tokenizer, &tok) != T5PT_OK ||
        t5pt_dataset_load(&train, a->train, tok, &a->dopt) != T5PT_OK ||
        t5pt_dataset_load(&valid, a->valid, tok, &a->dopt) != T5PT_OK || t5pt_model_load(&m, a->model) != T5PT_OK) {
        cli_fail_lib(cmd);
        goto out;
    }
    if ((rc = cli_set_precision(cmd, m, a->precision)) != 0) goto out;
    rc = 1;
    if (C) {   /* every label word must have tokens: now, not in the first run */
        int32_t *cand;
        int Lc;
        if (t5pt_labels_tokenize(tok, (const char *const *)labels, C, &cand, &Lc) != T5PT_OK) {
            cli_fail(cmd, "--labels: %s", t5pt_last_error());
            goto out;
        }
        free(cand);
    }
    /* what every result line records: a results file of other settings is refused */
    char config[2048];
    snprintf(config, sizeof config, "model %s; train %s (%d examples); valid %s (%d examples); labels %s; "
             "max-src-len %d; select %s; %s%s", a->model, a->train, train->n, a->valid, valid->n, a->labels ? a->labels : "none",
             a->dopt.max_src_len, t5pt_select_metric_name(to->select, C), desc,
             t5pt_model_precision(m) == T5PT_PRECISION_BF16 ? "; precision bf16" : "");
    t5pt_sweep_run *runs;
    int nruns;
    if (t5pt_sweep_plan(&ga->g, &runs, &nruns) != T5PT_OK) {
        cli_fail_lib(cmd);
        goto out;
    }
    free(runs);
    printf("sweep: %d runs (%d lengths x %d inits + %d placement runs, x %d seeds) into %s\n%s\n", nruns, ga->nlens,
           ga->ninits, nruns / (ga->nseeds ? ga->nseeds : 1) - ga->nlens * ga->ninits, ga->nseeds, a->out, desc);
    fflush(stdout);
    progress p = {0};
    t5pt_sweep_options so = {.m = m, .tok = tok, .train = train, .valid = valid,
                             .labels = (const char *const *)labels, .num_labels = C, .base = *to, .out_dir = a->out,
                             .config = config, .stop_flag = cli_stop_flag(), .on_run = on_run, .user = &p};
    cli_catch_stop_signals();
    t5pt_status st = t5pt_sweep(&ga->g, &so);
    if (p.skipped) printf("(%d runs were already in %s/results.jsonl)\n", p.skipped, a->out);
    if (st == T5PT_OK || st == T5PT_ERR_INTERRUPTED) print_summary(a->out);
    if (st == T5PT_ERR_INTERRUPTED) {
        putchar('\n');
        fprintf(stderr, "t5pt sweep: %s\n", t5pt_last_error());
        rc = 3;
    } else if (st != T5PT_OK) {
        cli_fail_lib(cmd);
    } else {
        printf("wrote %s/results.jsonl, %s/summary.md, %s/figure.svg\n", a->out, a->out, a->out);
        rc = ferror(stdout) ? cli_fail(cmd, "writing to stdout failed") : 0;
    }
out:
    t5pt_dataset_free(train);
    t5pt_dataset_free(valid);
    t5pt_tokenizer_free(tok);
    t5pt_model_free(m);
    return rc;
}

int cli_sweep(int argc, char **argv) {
    sweep_args a = {.recipe_name = "paper", .lengths = "1,5,20,100,150", .placements = "prepend,at:2,append",
                    .placement_len = 20, .seeds = "1,2,3", .steps = 30, .eval_every = 5};
    t5pt_data_options_default(&a.dopt);
    const cli_option opts[] = {
        CLI_HEADING("model, task and output"),
        CLI_OPT_MODEL(&a.model),
        {.name = "train", .kind = CLI_STR, .target = &a.train, .metavar = "FILE",
         .help = "JSONL {\"input\":..,\"target\":..} or TSV input<TAB>target", .flags = CLI_REQUIRED},
        {.name = "valid", .kind = CLI_STR, .target = &a.valid, .metavar = "FILE",
         .help = "validation set: every run is scored on it", .flags = CLI_REQUIRED},
        {.name = "labels", .kind = CLI_STR, .target = &a.labels, .metavar = "a,b,c",
         .help = "label words: the class-labels init and rank-accuracy scoring"},
        {.name = "out", .kind = CLI_STR, .target = &a.out, .metavar = "DIR",
         .help = "results.jsonl, summary.md, figure.svg and runs/ go here", .flags = CLI_REQUIRED},
        CLI_OPT_INPUT_FIELD(&a.dopt.input_field),
        CLI_OPT_TARGET_FIELD(&a.dopt.target_field),
        CLI_OPT_MAX_SRC_LEN(&a.dopt.max_src_len),
        CLI_OPT_TOKENIZER(&a.tokenizer),
        CLI_HEADING("the grid"),
        {.name = "lengths", .kind = CLI_STR, .target = &a.lengths, .metavar = "N,N,..",
         .help = "prompt lengths of the length study (the paper's Figure 3; none: no\nlength study)"},
        {.name = "inits", .kind = CLI_STR, .target = &a.inits, .metavar = "K,K,..",
         .help = "inits of the length study (see t5pt train --help)",
         .dflt = "random-uniform,sampled-vocab,class-labels (without --labels: the first two)"},
        {.name = "placements", .kind = CLI_STR, .target = &a.placements, .metavar = "P,P,..",
         .help = "the placement study: prepend, append, at:K (none: no placement study)"},
        {.name = "placement-len", .kind = CLI_INT, .target = &a.placement_len, .metavar = "N",
         .help = "prompt length of the placement study", .min = 1, .max = 1 << 16},
        {.name = "placement-init", .kind = CLI_STR, .target = &a.placement_init, .metavar = "K",
         .help = "init of the placement study", .dflt = "class-labels with --labels, else sampled-vocab"},
        {.name = "seeds", .kind = CLI_STR, .target = &a.seeds, .metavar = "N,N,..",
         .help = "one run per seed (init, data order, dropout)"},
        CLI_HEADING("each run"),
        {.name = "recipe", .kind = CLI_STR, .target = &a.recipe_name, .metavar = "R",
         .help = "paper | hf: optimizer, loss, batch and dropout as t5pt train --recipe",
         .choices = "paper|hf"},
        {.name = "steps", .kind = CLI_INT, .target = &a.steps, .metavar = "N", .help = "optimizer steps per run",
         .min = 1},
        {.name = "eval-every", .kind = CLI_INT, .target = &a.eval_every, .metavar = "N",
         .help = "steps between validations (and checkpoints); the best one scores the run", .min = 1},
        {.name = "select", .kind = CLI_STR, .target = &a.select, .metavar = "M",
         .help = "the metric: rank-accuracy | exact-match | loss", .dflt = "rank-accuracy with --labels, else exact-match",
         .choices = "rank-accuracy|exact-match|loss"},
        {.name = "lr", .kind = CLI_FLOAT, .target = &a.lr, .metavar = "X", .help = "learning rate",
         .dflt = "the recipe's: 0.3", .min = 0, .max = FLT_MAX, .flags = CLI_MIN_EXCLUSIVE, .given = &a.have_lr},
        {.name = "batch", .kind = CLI_INT, .target = &a.batch, .metavar = "N", .help = "examples per step",
         .dflt = "the recipe's: 32", .min = 1, .given = &a.have_batch},
        {.name = "dropout", .kind = CLI_FLOAT, .target = &a.dropout, .metavar = "X", .help = "dropout in [0, 1)",
         .dflt = "the recipe's: 0.1", .min = 0, .max = 1, .flags = CLI_MAX_EXCLUSIVE, .given = &a.have_dropout},
        CLI_OPT_PRECISION(&a.precision),
        CLI_OPT_THREADS(&a.threads),
        {0}};
    const cli_command c = {.name = "sweep",
                           .usage = "--model DIR --train FILE --valid FILE --out DIR [--labels a,b] [options]",
                           .about = about,
                           .options = opts,
                           .epilog = epilog,
                           .loads_tokenizer = 1};
    int rc = cli_parse(&c, argc, argv);
    if (rc != CLI_PARSED) return rc;
    const char *cmd = "sweep";
    char **labels = NULL, desc[512];
    int C = 0;
    grid_args ga = {0};
    t5pt_train_options to;
    if (a.labels && (rc = cli_parse_labels(cmd, a.labels, &labels, &C)) != 0) goto out;
    if ((rc = build_grid(&a, C, &ga)) != 0 || (rc = train_settings(&a, &to, desc, sizeof desc)) != 0) goto out;
    if (to.select == T5PT_SELECT_RANK_ACCURACY && !C) {
        rc = cli_usage_error(cmd, "--select rank-accuracy needs --labels");
        goto out;
    }
    rc = 1;
    if (cli_check_input_dir(cmd, "model", a.model) || cli_check_input_file(cmd, "train", a.train) ||
        cli_check_input_file(cmd, "valid", a.valid) || (a.tokenizer && cli_check_input_any(cmd, "tokenizer", a.tokenizer)) ||
        cli_check_output_dir(cmd, "out", a.out))
        goto out;
    cli_set_threads(a.threads);
    rc = run_sweep(&a, &ga, &to, desc, labels, C);
out:
    grid_free(&ga);
    cli_free_strings(labels, C);
    return rc;
}
