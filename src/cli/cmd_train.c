/* cmd_train.c — `t5pt train`: prompt tuning from the command line. */
#include "cli/cli.h"
#include "train/data.h"
#include "base/internal.h"
#include "train/train.h"
#include "train/eval.h"
#include "simd/bf16.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char about[] =
    "Tunes a soft prompt (Lester et al. 2021) for a frozen T5: only the prompt's n x d_model\n"
    "numbers change. The result is a Hugging Face PEFT prompt-tuning adapter in PROMPT_DIR\n"
    "(adapter_config.json + adapter_model.safetensors): the best prompt by the validation\n"
    "metric when --valid is given (early stopping keeps the best checkpoint), else the last.\n"
    "PROMPT_DIR/checkpoint.safetensors holds the resume state (written atomically).\n";

static const char epilog[] =
    "--preset auto chooses --prompt-len and --init from the model size (explicit flags win); by the\n"
    "parameter count p of the frozen model:\n"
    "  p <  250M (small, t5-small/base-size): prompt-len 20\n"
    "  p <  1B   (large):                     prompt-len 50\n"
    "  p >= 1B   (XL, XXL):                   prompt-len 100\n"
    "init class-labels with --labels, else sampled-vocab; the other defaults stay (prepend, Adafactor\n"
    "lr 0.3).\n"
    "\n"
    "A progress line (step, epoch, smoothed loss, tokens/s, ETA) is shown when stdout is a terminal.\n"
    "SIGINT/SIGTERM: the current step finishes, a checkpoint is written, and train exits with status 3;\n"
    "a second Ctrl-C ends it at once (the last checkpoint stays valid).\n"
    "--resume refuses a checkpoint made with other settings (it names the flag that differs).\n"
    "Training stops with an error naming the step (exit status 1, nothing written for that step)\n"
    "when the loss or the prompt gradient is NaN/Inf, or the prompt diverges: a value that is not\n"
    "finite, or an RMS more than 1000 x the largest embedding row's. Lower --lr then.\n"
    "A second train into the same --out while one runs is refused (lock file .t5pt-train.lock).\n"
    "Exit status: 0 done, 1 failed, 2 bad command line, 3 interrupted (state saved).\n";

typedef struct {
    const char *model, *train, *valid, *out, *placement, *init, *init_text, *labels, *optim, *tokenizer, *preset,
        *schedule, *plot, *recipe_name, *loss, *select;
    const t5pt_recipe *rc;
    int prompt_len, threads, warmup, start_step;
    float lr, weight_decay, z_loss;
    int have_prompt_len, have_lr, have_weight_decay, have_batch, have_dropout, have_eval_every, have_start_step,
        have_z_loss, have_optim, have_loss, have_init, have_placement, have_schedule, have_warmup;
    const char *mem_budget, *precision;
    t5pt_train_options to;
    t5pt_data_options dopt;
    /* filled in by validate_args */
    char **labels_v;
    int num_labels;
} train_args;

/* ------------------------------------------------------------------ progress and signals */

typedef struct {
    int tty;
    int last_len;
    const char *plot, *metrics;   /* --plot: redrawn from the --metrics log at every validation */
    int plot_failed;
} progress_state;

static void fmt_eta(char *buf, size_t n, double s) {
    if (s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

static int on_progress(const t5pt_train_progress *p, void *user) {
    progress_state *ps = user;
    if (p->is_eval) {
        if (ps->tty) printf("\r%*s\r", ps->last_len, "");
        printf("step %d: validation %s %.4f%s (best %.4f at step %d)\n", p->step, p->metric_name, p->metric,
               p->improved ? " *" : "", p->best_metric, p->best_step);
        fflush(stdout);
        /* the log already holds this validation's line; a figure that cannot be drawn is
         * reported once and training goes on */
        if (ps->plot && !ps->plot_failed && cli_plot_metrics(&ps->metrics, 1, ps->plot) != T5PT_OK) {
            fprintf(stderr, "t5pt train: note: --plot %s: %s (training goes on)\n", ps->plot, t5pt_last_error());
            ps->plot_failed = 1;
        }
        ps->last_len = 0;
        return 0;
    }
    if (!ps->tty) return 0;
    char eta[32];
    fmt_eta(eta, sizeof eta, p->eta_s);
    int len = printf("\rstep %d/%d  epoch %d  loss %.4f  %.0f tok/s  ETA %s", p->step, p->total_steps, p->epoch + 1,
                     p->smooth_loss, p->tokens_per_s, eta);
    if (len < ps->last_len) printf("%*s", ps->last_len - len, "");
    ps->last_len = len;
    fflush(stdout);
    return 0;
}

/* ------------------------------------------------------------------ before anything loads */

/* The recipe, then the optimizer, loss, schedule, placement, init, labels and selection from the
 * flags: every mistake the command line alone shows is reported here (status 2), before the model
 * loads. */
static int validate_settings(train_args *a) {
    const char *cmd = "train";
    t5pt_train_options *to = &a->to;
    int rc;
    a->rc = t5pt_recipe_find(a->recipe_name);
    if (!a->rc) return cli_usage_error(cmd, "--recipe %s: expected paper or hf", a->recipe_name);
    const t5pt_recipe *r = a->rc;
    if (!a->optim) a->optim = r->optim;
    if (!a->loss) a->loss = r->loss;
    if (!a->have_prompt_len) a->prompt_len = r->prompt_len;
    if (!a->have_batch) to->batch = r->batch;
    if (!a->have_dropout) to->dropout = r->dropout;
    if (!a->have_eval_every) to->eval_every = r->eval_every;
    t5pt_optim_kind kind;
    if (t5pt_optim_parse_kind(&kind, a->optim) != T5PT_OK) return cli_usage_error(cmd, "%s", t5pt_last_error());
    t5pt_optim_config_default(&to->oc, kind);
    if (kind != T5PT_OPT_ADAMW) {   /* the recipe's Adafactor numbers; AdamW keeps its own defaults */
        to->oc.lr = r->lr;
        to->oc.weight_decay = r->weight_decay;
        to->oc.start_step = r->adafactor_start_step;
    }
    if (a->have_lr) to->oc.lr = a->lr;
    if (a->have_weight_decay) to->oc.weight_decay = a->weight_decay;
    if (a->have_start_step) {
        if (kind == T5PT_OPT_ADAMW) return cli_usage_error(cmd, "--adafactor-start-step goes with an Adafactor --optim");
        to->oc.start_step = a->start_step;
    }
    to->oc.schedule = strcmp(a->schedule, "linear") == 0 ? T5PT_SCHED_LINEAR : T5PT_SCHED_CONSTANT;
    to->oc.warmup_steps = a->warmup;
    if ((rc = cli_check_optim(cmd, &to->oc)) != 0) return rc;
    if (t5pt_loss_parse(a->loss, &to->loss, &to->z_loss) != T5PT_OK) return cli_usage_error(cmd, "--loss: %s", t5pt_last_error());
    if (a->have_z_loss) to->z_loss = a->z_loss;
    if ((rc = cli_parse_placement(cmd, a->placement, &to->pl)) != 0) return rc;
    if (a->init_text && !a->init) a->init = "text";
    if (a->init_text && strcmp(a->init, "text") != 0)
        return cli_usage_error(cmd, "--init-text goes with --init text, not --init %s", a->init);
    if (a->init && !strcmp(a->init, "text") && !a->init_text) return cli_usage_error(cmd, "--init text needs --init-text TEXT");
    if (a->labels && (rc = cli_parse_labels(cmd, a->labels, &a->labels_v, &a->num_labels)) != 0) return rc;
    if (a->plot && !to->metrics_path)
        return cli_usage_error(cmd, "--plot draws from the metrics log: give --metrics FILE too");
    if (a->init && !strcmp(a->init, "class-labels") && !a->labels)
        return cli_usage_error(cmd, "--init class-labels needs --labels");
    if (a->select) {
        if (t5pt_select_parse(&to->select, a->select) != T5PT_OK) return cli_usage_error(cmd, "%s", t5pt_last_error());
        if (to->select == T5PT_SELECT_RANK_ACCURACY && !a->labels)
            return cli_usage_error(cmd, "--select rank-accuracy needs --labels");
        if (!a->valid) return cli_usage_error(cmd, "--select needs --valid (it picks the best prompt on it)");
    }
    return 0;
}

/* Every path: inputs exist and are regular files / directories, outputs can be written. */
static int check_paths(const train_args *a) {
    const char *cmd = "train";
    if (cli_check_input_dir(cmd, "model", a->model) || cli_check_input_file(cmd, "train", a->train) ||
        (a->valid && cli_check_input_file(cmd, "valid", a->valid)) ||
        (a->tokenizer && cli_check_input_any(cmd, "tokenizer", a->tokenizer)) || cli_check_output_dir(cmd, "out", a->out))
        return 1;
    if (a->to.metrics_path) {
        /* a log inside --out, which train creates, cannot be checked before it exists */
        size_t k = strlen(a->out);
        const char *m = a->to.metrics_path;
        int inside_new_out = !t5pt_is_dir(a->out) && !strncmp(m, a->out, k) && m[k] == '/' && !strchr(m + k + 1, '/');
        if (!inside_new_out && cli_check_output_file(cmd, "metrics", m)) return 1;
        const char *pl = a->plot;
        int plot_in_new_out = pl && !t5pt_is_dir(a->out) && !strncmp(pl, a->out, k) && pl[k] == '/' && !strchr(pl + k + 1, '/');
        if (pl && !plot_in_new_out && cli_check_output_file(cmd, "plot", pl)) return 1;
        if (pl && (cli_check_distinct(cmd, "plot", pl, "metrics", m) || cli_check_distinct(cmd, "plot", pl, "train", a->train) ||
                   (a->valid && cli_check_distinct(cmd, "plot", pl, "valid", a->valid))))
            return 1;
        if (cli_check_distinct(cmd, "metrics", m, "train", a->train) ||
            (a->valid && cli_check_distinct(cmd, "metrics", m, "valid", a->valid)))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ loading */

typedef struct {
    t5pt_model *m;
    t5pt_tokenizer *tok;
    t5pt_dataset *train, *valid;
    float *P;          /* [prompt_len, d] the initial prompt */
    int32_t **label_ids, *text_ids;
    int *label_lens;
} train_inputs;

static void train_inputs_free(train_inputs *in, int num_labels) {
    if (in->label_ids) for (int k = 0; k < num_labels; k++) free(in->label_ids[k]);
    free(in->label_ids);
    free(in->label_lens);
    free(in->text_ids);
    free(in->P);
    t5pt_dataset_free(in->train);
    t5pt_dataset_free(in->valid);
    t5pt_tokenizer_free(in->tok);
    t5pt_model_free(in->m);
}

/* The tokenizer and the data first (a bad line is found without waiting for the model), then
 * the step count (it needs the number of examples), then the model. */
static int load_inputs(const train_args *a, train_inputs *in, int *total) {
    const char *cmd = "train";
    if (cli_load_tokenizer(cmd, a->model, a->tokenizer, &in->tok) != T5PT_OK ||
        t5pt_dataset_load(&in->train, a->train, in->tok, &a->dopt) != T5PT_OK ||
        (a->valid && t5pt_dataset_load(&in->valid, a->valid, in->tok, &a->dopt) != T5PT_OK))
        return cli_fail_lib(cmd);
    for (int i = 0; i < in->train->n; i++)
        if (!in->train->ex[i].target) return cli_fail(cmd, "%s:%d: no target", a->train, in->train->ex[i].line);
    if (a->num_labels) {   /* every label word must have tokens: found now, not at the first validation */
        int32_t *cand;
        int Lc;
        if (t5pt_labels_tokenize(in->tok, (const char *const *)a->labels_v, a->num_labels, &cand, &Lc) != T5PT_OK)
            return cli_fail(cmd, "--labels: %s", t5pt_last_error());
        free(cand);
    }
    if (t5pt_train_total_steps(&a->to, in->train->n, total) != T5PT_OK) return cli_fail_lib(cmd);
    if (t5pt_model_load(&in->m, a->model) != T5PT_OK) return cli_fail_lib(cmd);
    return cli_set_precision(cmd, in->m, a->precision);
}

/* --preset auto (see the help), then the defaults of whatever is still unset. */
static void choose_defaults(train_args *a, const t5pt_model *m) {
    const size_t params = t5pt_model_num_params(m);
    const char *by_labels = a->num_labels ? "class-labels" : "sampled-vocab";
    if (a->preset) {
        int plen = params < 250000000u ? 20 : params < 1000000000u ? 50 : 100;
        if (!a->have_prompt_len) a->prompt_len = plen;
        if (!a->init) a->init = by_labels;
        printf("preset auto: model has %.1fM parameters -> --prompt-len %d --init %s\n", params / 1e6, a->prompt_len,
               a->init);
    }
    if (!a->init) a->init = by_labels;
}

/* The initial prompt [prompt_len, d] from --init. */
static int init_prompt(const train_args *a, train_inputs *in) {
    const char *cmd = "train";
    const int d = t5pt_model_config(in->m)->d_model, C = a->num_labels;
    t5pt_init_config ic = {.range = 0.5f, .seed = a->to.seed};
    if (t5pt_init_parse_kind(&ic.kind, a->init) != T5PT_OK) return cli_fail_lib(cmd);
    if (ic.kind == T5PT_INIT_CLASS_LABELS && C > a->prompt_len)   /* as the paper's code: warn, skip */
        fprintf(stderr, "t5pt train: note: %d labels and %d prompt rows: the labels from '%s' on have no row and are "
                "skipped by the class-label init\n", C, a->prompt_len, a->labels_v[a->prompt_len]);
    if (ic.kind == T5PT_INIT_CLASS_LABELS) {
        in->label_ids = calloc((size_t)C, sizeof *in->label_ids);
        in->label_lens = calloc((size_t)C, sizeof *in->label_lens);
        if (!in->label_ids || !in->label_lens) return cli_fail(cmd, "out of memory");
        for (int k = 0; k < C; k++)   /* without </s>: the label word's own pieces */
            if (t5pt_tokenizer_encode(in->tok, a->labels_v[k], strlen(a->labels_v[k]), 0, &in->label_ids[k],
                                      &in->label_lens[k]) != T5PT_OK)
                return cli_fail_lib(cmd);
        ic.label_ids = (const int32_t *const *)in->label_ids;
        ic.label_lens = in->label_lens;
        ic.num_labels = C;
    } else if (ic.kind == T5PT_INIT_TEXT) {
        if (t5pt_tokenizer_encode(in->tok, a->init_text, strlen(a->init_text), 0, &in->text_ids, &ic.text_len) != T5PT_OK)
            return cli_fail_lib(cmd);
        if (ic.text_len == 0) return cli_fail(cmd, "--init-text '%s': no tokens", a->init_text);
        ic.text_ids = in->text_ids;
    }
    in->P = malloc((size_t)a->prompt_len * d * sizeof(float));
    if (!in->P) return cli_fail(cmd, "--prompt-len %d: out of memory", a->prompt_len);
    if (t5pt_prompt_init(in->P, a->prompt_len, in->m, &ic) != T5PT_OK) return cli_fail_lib(cmd);
    return 0;
}

/* --select's value for the metric train will use. */
static const char *select_flag(const t5pt_train_options *to, int num_labels) {
    const char *m = t5pt_select_metric_name(to->select, num_labels);
    return !strcmp(m, "valid_loss") ? "loss" : !strcmp(m, "rank_accuracy") ? "rank-accuracy" : "exact-match";
}

/* The recipe and every value it resolved to, as flags (a run can be repeated from them). */
static void print_recipe(const train_args *a) {
    const t5pt_train_options *to = &a->to;
    char f1[32], f2[32];
    printf("recipe %s (%s); resolved, * = set by a flag:\n", a->rc->name, a->rc->about);
#define MARK(given) ((given) ? "*" : "")
    printf("  --optim %s%s --lr %g%s --schedule %s%s --warmup-steps %d%s --weight-decay %g%s", a->optim,
           MARK(a->have_optim), (double)to->oc.lr, MARK(a->have_lr), a->schedule, MARK(a->have_schedule),
           to->oc.warmup_steps, MARK(a->have_warmup), (double)to->oc.weight_decay, MARK(a->have_weight_decay));
    if (to->oc.kind != T5PT_OPT_ADAMW)
        printf(" --adafactor-start-step %lld%s", (long long)to->oc.start_step, MARK(a->have_start_step));
    snprintf(f1, sizeof f1, "%g", (double)to->z_loss);
    printf("\n  --loss %s%s --z-loss %s%s --prompt-len %d%s --init %s%s --placement %s%s\n", a->loss, MARK(a->have_loss),
           f1, MARK(a->have_z_loss), a->prompt_len, MARK(a->have_prompt_len), a->init, MARK(a->have_init),
           a->placement, MARK(a->have_placement));
    snprintf(f2, sizeof f2, "%g", (double)to->dropout);
    /* eval_every 0 (the hf recipe) is not a value --eval-every accepts: say what it means */
    char f3[48];
    if (to->eval_every > 0) snprintf(f3, sizeof f3, "%d", to->eval_every);
    else snprintf(f3, sizeof f3, "none (start and end only)");
    printf("  --batch %d%s --dropout %s%s --eval-every %s%s --select %s%s --seed %llu\n", to->batch, MARK(a->have_batch),
           f2, MARK(a->have_dropout), f3, MARK(a->have_eval_every),
           a->valid ? select_flag(to, a->num_labels) : "none (no --valid)", MARK(a->select != NULL),
           (unsigned long long)to->seed);
#undef MARK
}

static void print_plan(const train_args *a, const train_inputs *in, int total) {
    const t5pt_config *cfg = t5pt_model_config(in->m);
    const int d = cfg->d_model, N = in->train->n;
    printf("model %s: %.1fM parameters (frozen), d_model %d; prompt %d x %d = %lld trainable, %s, init %s\n", a->model,
           t5pt_model_num_params(in->m) / 1e6, d, a->prompt_len, d, (long long)a->prompt_len * d, a->placement, a->init);
    printf("train %s: %d examples", a->train, N);
    if (in->valid) printf("; valid %s: %d examples", a->valid, in->valid->n);
    putchar('\n');
    if (in->train->truncated_src || in->train->truncated_tgt)
        printf("truncated in %s: %d inputs (--max-src-len %d), %d targets (--max-tgt-len %d)\n", a->train,
               in->train->truncated_src, a->dopt.max_src_len, in->train->truncated_tgt, a->dopt.max_tgt_len);
    if (in->valid && (in->valid->truncated_src || in->valid->truncated_tgt))
        printf("truncated in %s: %d inputs, %d targets\n", a->valid, in->valid->truncated_src, in->valid->truncated_tgt);
    const int batch = a->to.batch < N ? a->to.batch : N;
    printf("%d steps (batch %d, %d steps per epoch)\n", total, batch, (N + batch - 1) / batch);
    if (t5pt_model_precision(in->m) == T5PT_PRECISION_BF16) {
        const t5pt_bf16_kernel *k = t5pt_bf16_kern();
        printf("precision bf16: matrix products on bf16 operands with fp32 sums (kernel %s, %s); norms, softmax, "
               "loss, optimizer and prompt in fp32\n",
               k->name, k->native ? "native" : "emulated: no AVX512_BF16 or ARM BF16 on this CPU or SIMD path");
    }
    printf("threads: %d, simd %s%s\n", t5pt_num_threads(), t5pt_simd_path(),
           t5pt_get_thread_policy() == T5PT_THREADS_ADAPTIVE ? " (fewer while other programs keep cores busy)" : "");
    print_recipe(a);
    fflush(stdout);
    char *ck = t5pt_checkpoint_path(a->out);
    if (ck && !a->to.resume && t5pt_file_exists(ck))
        fprintf(stderr, "t5pt train: note: %s exists; starting fresh (it will be replaced; --resume continues it)\n", ck);
    else if (ck && a->to.resume && !t5pt_file_exists(ck))
        fprintf(stderr, "t5pt train: note: --resume: %s not found; starting fresh\n", ck);
    free(ck);
}

/* ------------------------------------------------------------------ memory */

/* "6G", "800M", "1.5GiB", "123456" (bytes; K, M, G, T are powers of 1024). 0 on error. */
static double parse_size(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0)) return 0;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0, end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024, end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024, end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024, end++; break;
    default: break;
    }
    if (mul > 1 && *end == 'i') end++;
    if (*end == 'B' || *end == 'b') end++;
    return *end ? 0 : v * mul;
}

static double physical_memory(void) {
#ifdef _SC_PHYS_PAGES
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && size > 0) return (double)pages * (double)size;
#endif
    return 0;
}

#define MIB(x) ((double)(x) / (1024.0 * 1024.0))

/* Expected peak of the run: the weights (each once), the training context, the
 * validation context, and a margin for the rest (tokenizer, data, libc, threads). */
static double peak_estimate(const train_args *a, const train_inputs *in, int recompute, size_t *act, size_t *val) {
    const int N = in->train->n, B = a->to.batch < N ? a->to.batch : N;
    *act = *val = 0;
    if (t5pt_activation_bytes(in->m, B, in->train->max_src, in->train->max_tgt, a->prompt_len, recompute,
                              a->to.dropout > 0, act) != T5PT_OK)
        return -1;
    if (in->valid) {
        const int eb = a->to.eval_batch < in->valid->n ? a->to.eval_batch : in->valid->n;
        if (t5pt_activation_bytes(in->m, eb, in->valid->max_src, 1, a->prompt_len, 0, 0, val) != T5PT_OK) return -1;
    }
    return 1.02 * ((double)t5pt_model_weight_bytes(in->m) + (double)*act + (double)*val) + 96.0 * 1024 * 1024;
}

/* Prints the memory plan; turns recomputation on when only that fits the budget, or
 * stops (before any training) when nothing does. */
static int plan_memory(train_args *a, const train_inputs *in) {
    const char *cmd = "train";
    double budget = a->mem_budget ? parse_size(a->mem_budget) : 0.8 * physical_memory();
    if (a->mem_budget && budget <= 0)
        return cli_usage_error(cmd, "--mem-budget '%s': give a size such as 6G, 800M or 123456 (bytes)", a->mem_budget);
    size_t act, val;
    double peak = peak_estimate(a, in, a->to.recompute, &act, &val);
    if (peak < 0) return cli_fail_lib(cmd);
    int turned_on = 0;
    if (budget > 0 && peak > budget && !a->to.recompute) {
        size_t act_r, val_r;
        double peak_r = peak_estimate(a, in, 1, &act_r, &val_r);
        if (peak_r < 0) return cli_fail_lib(cmd);
        if (peak_r <= budget) {
            a->to.recompute = turned_on = 1;
            peak = peak_r, act = act_r, val = val_r;
        } else {
            peak = peak_r, act = act_r, val = val_r, a->to.recompute = 1;
        }
    }
    printf("memory: weights %.1f MiB (resident once, in the checkpoint's precision), activations %.1f MiB "
           "(batch %d, %d+%d encoder rows, %d decoder rows%s), validation %.1f MiB, expected peak %.0f MiB",
           MIB(t5pt_model_weight_bytes(in->m)), MIB(act), a->to.batch < in->train->n ? a->to.batch : in->train->n,
           in->train->max_src, a->prompt_len, in->train->max_tgt, a->to.recompute ? ", recomputed" : "",
           MIB(val), MIB(peak));
    if (budget > 0) printf(" (budget %.0f MiB)", MIB(budget));
    putchar('\n');
    if (turned_on) printf("memory: the plain run would not fit the budget: --recompute turned on\n");
    fflush(stdout);
    if (budget > 0 && peak > budget)
        return cli_fail(cmd,
                        "expected peak %.0f MiB exceeds the memory budget of %.0f MiB even with --recompute: lower "
                        "--max-src-len, --batch or --prompt-len (or --eval-batch), use a bf16 checkpoint, or raise "
                        "--mem-budget",
                        MIB(peak), MIB(budget));
    return 0;
}

/* ------------------------------------------------------------------ the run */

static int run_training(train_args *a, train_inputs *in) {
    const char *cmd = "train";
    const t5pt_config *cfg = t5pt_model_config(in->m);
    t5pt_train_options *to = &a->to;
    progress_state ps = {isatty(STDOUT_FILENO), 0, a->plot, to->metrics_path, 0};
    to->out_dir = a->out;
    to->tok = in->tok;
    to->labels = (const char *const *)a->labels_v;
    to->num_labels = a->num_labels;
    /* what the adapter records: the canonical placement text, and the label words of class-labels */
    char placement[32];
    if (to->pl.kind == T5PT_PLACE_AT) snprintf(placement, sizeof placement, "at:%d", to->pl.at);
    else snprintf(placement, sizeof placement, "%s", to->pl.kind == T5PT_PLACE_APPEND ? "append" : "prepend");
    to->peft = (t5pt_peft_info){.base_model = a->model, .init_name = a->init,
                                .init_text = strcmp(a->init, "class-labels") == 0 ? a->labels : a->init_text,
                                .num_layers = cfg->num_layers, .num_attention_heads = cfg->num_heads,
                                .placement = placement};
    to->stop_flag = cli_stop_flag();
    to->callback = on_progress;
    to->user = &ps;
    cli_catch_stop_signals();
    t5pt_train_result res;
    t5pt_status st = t5pt_train(in->m, in->train, in->valid, in->P, a->prompt_len, to, &res);
    if (ps.tty && ps.last_len) putchar('\n');
    if (res.resumed_from >= 0) printf("resumed from step %d\n", res.resumed_from);
    if (st == T5PT_ERR_INTERRUPTED) {
        fprintf(stderr, "t5pt train: %s\n", t5pt_last_error());
        return 3;
    }
    if (st != T5PT_OK) return cli_fail_lib(cmd);
    printf("done: %d steps, last loss %.4f (smoothed %.4f)%s\n", res.steps_done, res.last_loss, res.last_smooth_loss,
           res.stopped_early ? ", stopped early (patience)" : "");
    if (res.evaluated)
        printf("validation %s: %.4f before training -> best %.4f at step %d (last %.4f)\n", res.metric_name,
               res.first_metric, res.best_metric, res.best_step, res.final_metric);
    printf("prompt saved to %s (%s)\n", a->out, res.evaluated ? "best validation checkpoint" : "last step");
    if (fflush(stdout) != 0 || ferror(stdout)) return cli_fail(cmd, "writing to stdout failed");
    return 0;
}

/* ------------------------------------------------------------------ the command */

/* --init's help: one line per kind from the library's table (name: what it does), in the
 * order of t5pt_init_kind_choices(). */
static const char *init_help(void) {
    static char buf[1024];
    size_t len = 0;
    const char *names = t5pt_init_kind_choices();
    while (*names) {
        char name[64];
        size_t nl = strcspn(names, "|");
        snprintf(name, sizeof name, "%.*s", (int)nl, names);
        names += nl + (names[nl] == '|');
        t5pt_init_kind k;
        if (t5pt_init_parse_kind(&k, name) != T5PT_OK) continue;
        const char *help = t5pt_init_kind_help(k);
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s: ", len ? "\n" : "", name);
        for (const char *c = help; *c && len + 4 < sizeof buf; c++) {   /* continuation lines indented */
            buf[len++] = *c;
            if (*c == '\n') len += (size_t)snprintf(buf + len, sizeof buf - len, "  ");
        }
        buf[len] = 0;
    }
    return buf;
}

/* The options of train, parsed into *a (which holds the defaults --help shows). */
static int parse_args(train_args *a, int argc, char **argv) {
    t5pt_train_options *to = &a->to;
    const cli_option opts[] = {
        CLI_HEADING("recipe"),
        {.name = "recipe", .kind = CLI_STR, .target = &a->recipe_name, .metavar = "R",
         .help = "the defaults of every setting below (explicit flags override them):\n"
                 "paper: the paper's code: --optim adafactor-t5x --adafactor-start-step\n"
                 "  1100000 --loss sum-zloss --eval-every 1000\n"
                 "hf: Hugging Face semantics: --optim adafactor --loss mean, validation\n"
                 "  only at the start and the end\n"
                 "both: --prompt-len 100 --lr 0.3 --weight-decay 1e-5 --batch 32 --dropout 0.1",
         .choices = "paper|hf"},
        CLI_HEADING("model and output"),
        CLI_OPT_MODEL(&a->model),
        {.name = "out", .kind = CLI_STR, .target = &a->out, .metavar = "DIR",
         .help = "PEFT adapter written here (+ checkpoint.safetensors); created if missing", .flags = CLI_REQUIRED},
        CLI_HEADING("data"),
        {.name = "train", .kind = CLI_STR, .target = &a->train, .metavar = "FILE",
         .help = "JSONL {\"input\":..,\"target\":..} or TSV input<TAB>target", .flags = CLI_REQUIRED},
        {.name = "valid", .kind = CLI_STR, .target = &a->valid, .metavar = "FILE",
         .help = "validation set, scored at the start, every --eval-every steps\nand at the end", .dflt = "none"},
        CLI_OPT_INPUT_FIELD(&a->dopt.input_field),
        CLI_OPT_TARGET_FIELD(&a->dopt.target_field),
        CLI_OPT_MAX_SRC_LEN(&a->dopt.max_src_len),
        {.name = "max-tgt-len", .kind = CLI_INT, .target = &a->dopt.max_tgt_len, .metavar = "N",
         .help = "truncate targets to N tokens incl. </s> (the count is reported)", .dflt = "no limit", .min = 2,
         .max = 1 << 24},
        CLI_OPT_TOKENIZER(&a->tokenizer),
        CLI_HEADING("prompt"),
        {.name = "prompt-len", .kind = CLI_INT, .target = &a->prompt_len, .metavar = "N",
         .help = "prompt rows (100 is the paper's choice)", .dflt = "the recipe's: 100", .min = 1, .max = 1 << 16,
         .given = &a->have_prompt_len},
        {.name = "placement", .kind = CLI_STR, .target = &a->placement, .metavar = "P",
         .help = "prepend (the paper's) | append (after the last real token) |\nat:K (before input token K)",
         .given = &a->have_placement},
        {.name = "init", .kind = CLI_STR, .target = &a->init, .metavar = "KIND", .help = init_help(),
         .dflt = "class-labels with --labels, else sampled-vocab", .choices = t5pt_init_kind_choices(),
         .given = &a->have_init},
        {.name = "init-text", .kind = CLI_STR, .target = &a->init_text, .metavar = "TEXT",
         .help = "text whose token embeddings fill the prompt (repeated);\nimplies --init text"},
        {.name = "labels", .kind = CLI_STR, .target = &a->labels, .metavar = "a,b,c",
         .help = "label words: class-labels init, and the validation metric becomes\n"
                 "rank classification accuracy (else: exact match of greedy\n"
                 "generations); \\, for a literal comma"},
        CLI_HEADING("optimisation"),
        {.name = "optim", .kind = CLI_STR, .target = &a->optim, .metavar = "K",
         .help = "adafactor-t5x (T5X's rules: a second moment per value below 128\n"
                 "rows, weight decay not scaled by the lr) | adafactor (Hugging Face's:\n"
                 "always factored, weight decay x lr) | adamw",
         .dflt = "the recipe's: adafactor-t5x (paper), adafactor (hf)", .choices = "adafactor|adafactor-t5x|adamw",
         .given = &a->have_optim},
        {.name = "lr", .kind = CLI_FLOAT, .target = &a->lr, .metavar = "X", .help = "learning rate",
         .dflt = "0.3 for Adafactor, the paper's; 1e-3 for AdamW", .min = 0, .max = FLT_MAX,
         .flags = CLI_MIN_EXCLUSIVE, .given = &a->have_lr},
        {.name = "schedule", .kind = CLI_STR, .target = &a->schedule, .metavar = "S",
         .help = "constant | linear (warmup, then linear decay to 0 at the last step)", .choices = "constant|linear",
         .given = &a->have_schedule},
        {.name = "warmup-steps", .kind = CLI_INT, .target = &a->warmup, .metavar = "N", .help = "warmup steps of the schedule",
         .given = &a->have_warmup},
        {.name = "weight-decay", .kind = CLI_FLOAT, .target = &a->weight_decay, .metavar = "X", .help = "weight decay",
         .dflt = "1e-5 for Adafactor, 0.01 for AdamW", .min = 0, .max = FLT_MAX, .given = &a->have_weight_decay},
        {.name = "adafactor-start-step", .kind = CLI_INT, .target = &a->start_step, .metavar = "N",
         .help = "Adafactor steps counted before the first: beta2 of step t is\n"
                 "1 - (N + t)^-0.8. The paper's code keeps the pretrained checkpoint's\n"
                 "global step (1100000 for LM-adapted T5 1.1): beta2 ~ 0.99999 from\n"
                 "the start, and the update clipping normalises every step",
         .dflt = "the recipe's: 1100000 (paper), 0 (hf)", .min = 0, .max = 2147483647, .given = &a->have_start_step},
        {.name = "loss", .kind = CLI_STR, .target = &a->loss, .metavar = "L",
         .help = "sum-zloss: the sum over target tokens (EOS included) of cross-entropy\n"
                 "+ z * logsumexp(logits)^2, z = 1e-4 (the paper's code, T5X) |\n"
                 "mean: mean cross-entropy per target token (Hugging Face's)",
         .dflt = "the recipe's: sum-zloss (paper), mean (hf)", .choices = "mean|sum-zloss", .given = &a->have_loss},
        {.name = "z-loss", .kind = CLI_FLOAT, .target = &a->z_loss, .metavar = "X",
         .help = "z-loss coefficient of either --loss", .dflt = "1e-4 with sum-zloss, 0 with mean", .min = 0,
         .max = 1e6, .given = &a->have_z_loss},
        {.name = "batch", .kind = CLI_INT, .target = &to->batch, .metavar = "N",
         .help = "examples per step (at most the whole training set)", .min = 1, .given = &a->have_batch},
        {.name = "steps", .kind = CLI_INT, .target = &to->steps, .metavar = "N", .help = "optimizer steps",
         .dflt = "--epochs", .min = 1},
        {.name = "epochs", .kind = CLI_INT, .target = &to->epochs, .metavar = "N",
         .help = "passes over the data when --steps is not given", .min = 1},
        {.name = "dropout", .kind = CLI_FLOAT, .target = &to->dropout, .metavar = "X",
         .help = "dropout in the frozen model during training, in [0, 1) (0.1 in the paper)", .min = 0, .max = 1,
         .flags = CLI_MAX_EXCLUSIVE, .given = &a->have_dropout},
        {.name = "seed", .kind = CLI_U64, .target = &to->seed, .metavar = "N", .help = "data order, dropout and init"},
        CLI_HEADING("validation and checkpoints"),
        {.name = "eval-every", .kind = CLI_INT, .target = &to->eval_every, .metavar = "N",
         .help = "steps between validations (always at the start and the end too)",
         .dflt = "the recipe's: 1000 (paper), only at the start and the end (hf)", .min = 1,
         .given = &a->have_eval_every},
        {.name = "select", .kind = CLI_STR, .target = &a->select, .metavar = "M",
         .help = "the validation metric that picks the saved prompt: rank-accuracy\n"
                 "(--labels ranked by likelihood) | exact-match (greedy output ==\n"
                 "target text, as the paper's code scores; other output is wrong) |\n"
                 "loss (mean cross-entropy per target token, lower is better)",
         .dflt = "rank-accuracy with --labels, else exact-match", .choices = "rank-accuracy|exact-match|loss"},
        {.name = "patience", .kind = CLI_INT, .target = &to->patience, .metavar = "N",
         .help = "stop after N validations without improvement", .dflt = "never", .min = 1},
        {.name = "eval-batch", .kind = CLI_INT, .target = &to->eval_batch, .metavar = "N",
         .help = "examples per validation batch", .min = 1},
        {.name = "checkpoint-every", .kind = CLI_INT, .target = &to->checkpoint_every, .metavar = "N",
         .help = "steps between checkpoints", .dflt = "--eval-every, else 100", .min = 1},
        {.name = "resume", .kind = CLI_FLAG, .target = &to->resume,
         .help = "continue from PROMPT_DIR/checkpoint.safetensors (ends bit-identical\n"
                 "to an uninterrupted run; the same data and settings are required,\n"
                 "--steps and --epochs may change)"},
        {.name = "metrics", .kind = CLI_STR, .target = &to->metrics_path, .metavar = "FILE",
         .help = "JSONL log: one line per step (step, epoch, loss, smooth_loss, lr,\n"
                 "tokens_per_s, time) and per validation (step, eval, best, time)",
         .dflt = "none"},
        {.name = "plot", .kind = CLI_STR, .target = &a->plot, .metavar = "FILE.svg",
         .help = "redraw the training curves from the --metrics log at every validation\n(as t5pt plot)",
         .dflt = "none"},
        CLI_HEADING("memory"),
        {.name = "recompute", .kind = CLI_FLAG, .target = &to->recompute,
         .help = "activation recomputation: keep only each block's output and run\n"
                 "the block again in the backward (a fraction of the activation\n"
                 "memory, ~1/3 more compute, bit-identical results)"},
        {.name = "mem-budget", .kind = CLI_STR, .target = &a->mem_budget, .metavar = "SIZE",
         .help = "memory the run may use, e.g. 6G or 800M: recomputation is turned\n"
                 "on when the plain run would not fit; a run that does not fit even\n"
                 "then stops before training",
         .dflt = "80% of physical memory"},
        CLI_HEADING("other"),
        CLI_OPT_PRECISION(&a->precision),
        {.name = "preset", .kind = CLI_STR, .target = &a->preset, .metavar = "auto",
         .help = "choose --prompt-len and --init from the model size (see below)", .choices = "auto"},
        CLI_OPT_THREADS(&a->threads),
        {0}};
    const cli_command c = {
        .name = "train",
        .usage = "--model DIR --train FILE [--valid FILE] --out PROMPT_DIR [options]",
        .about = about,
        .options = opts,
        .epilog = epilog,
        .loads_tokenizer = 1,
    };
    return cli_parse(&c, argc, argv);
}

int cli_train(int argc, char **argv) {
    train_args a = {.placement = "prepend", .schedule = "constant", .prompt_len = 100, .recipe_name = "paper"};
    t5pt_train_options_default(&a.to);
    t5pt_data_options_default(&a.dopt);
    int rc = parse_args(&a, argc, argv);
    if (rc != CLI_PARSED) return rc;
    train_inputs in = {0};
    int total = 0;
    if ((rc = validate_settings(&a)) != 0 || (rc = check_paths(&a)) != 0) goto out;
    cli_set_threads(a.threads);
    if ((rc = load_inputs(&a, &in, &total)) != 0) goto out;
    choose_defaults(&a, in.m);
    if ((rc = plan_memory(&a, &in)) != 0) goto out;
    if ((rc = init_prompt(&a, &in)) != 0) goto out;
    print_plan(&a, &in, total);
    rc = run_training(&a, &in);
out:
    train_inputs_free(&in, a.num_labels);
    cli_free_strings(a.labels_v, a.num_labels);
    return rc;
}
