/* cmd_train.c — `t5pt train`: prompt tuning from the command line. */
#include "cli/cli.h"
#include "train/data.h"
#include "base/internal.h"
#include "train/train.h"
#include "train/eval.h"

#include <float.h>
#include <signal.h>
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
        *schedule;
    int prompt_len, threads, warmup;
    float lr, weight_decay;
    int have_prompt_len, have_lr, have_weight_decay;
    const char *mem_budget;
    t5pt_train_options to;
    t5pt_data_options dopt;
    /* filled in by validate_args */
    char **labels_v;
    int num_labels;
} train_args;

/* ------------------------------------------------------------------ progress and signals */

static volatile sig_atomic_t stop_requested = 0;
/* The first SIGINT/SIGTERM asks for a clean stop after the current step; a second one ends
 * the process at once (the last checkpoint on disk stays valid: it is replaced atomically). */
static void on_signal(int sig) {
    if (stop_requested) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_requested = 1;
}

/* SA_RESTART: a signal arriving during a read or a metrics write must not fail that call. */
static void catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

typedef struct {
    int tty;
    int last_len;
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

/* Optimizer, schedule, placement, init and labels from the flags: every mistake the command
 * line alone shows is reported here (status 2), before the model loads. */
static int validate_settings(train_args *a) {
    const char *cmd = "train";
    t5pt_train_options *to = &a->to;
    t5pt_optim_kind kind;
    int rc;
    if (t5pt_optim_parse_kind(&kind, a->optim) != T5PT_OK) return cli_usage_error(cmd, "%s", t5pt_last_error());
    t5pt_optim_config_default(&to->oc, kind);
    if (a->have_lr) to->oc.lr = a->lr;
    if (a->have_weight_decay) to->oc.weight_decay = a->weight_decay;
    to->oc.schedule = strcmp(a->schedule, "linear") == 0 ? T5PT_SCHED_LINEAR : T5PT_SCHED_CONSTANT;
    to->oc.warmup_steps = a->warmup;
    if ((rc = cli_check_optim(cmd, &to->oc)) != 0) return rc;
    if ((rc = cli_parse_placement(cmd, a->placement, &to->pl)) != 0) return rc;
    if (a->init_text && !a->init) a->init = "text";
    if (a->init_text && strcmp(a->init, "text") != 0)
        return cli_usage_error(cmd, "--init-text goes with --init text, not --init %s", a->init);
    if (a->init && !strcmp(a->init, "text") && !a->init_text) return cli_usage_error(cmd, "--init text needs --init-text TEXT");
    if (a->labels && (rc = cli_parse_labels(cmd, a->labels, &a->labels_v, &a->num_labels)) != 0) return rc;
    if (a->init && !strcmp(a->init, "class-labels") && !a->labels)
        return cli_usage_error(cmd, "--init class-labels needs --labels");
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
    return 0;
}

/* --preset auto (see the help), then the defaults of whatever is still unset. */
static void choose_defaults(train_args *a, const t5pt_model *m) {
    const size_t params = t5pt_model_num_params(m);
    const char *by_labels = a->num_labels ? "class-labels" : "sampled-vocab";
    if (a->preset) {
        int plen = params < 250000000u ? 20 : params < 1000000000u ? 50 : 100;
        if (!a->have_prompt_len) a->prompt_len = plen;
        if (!a->init) a->init = by_labels;
        printf("preset auto: model has %.1fM parameters -> --prompt-len %d --init %s --placement %s --optim %s --lr %g\n",
               params / 1e6, a->prompt_len, a->init, a->placement, a->optim, (double)a->to.oc.lr);
    }
    if (!a->init) a->init = by_labels;
}

/* The initial prompt [prompt_len, d] from --init. */
static int init_prompt(const train_args *a, train_inputs *in) {
    const char *cmd = "train";
    const int d = t5pt_model_config(in->m)->d_model, C = a->num_labels;
    t5pt_init_config ic = {.range = 0.5f, .seed = a->to.seed};
    if (t5pt_init_parse_kind(&ic.kind, a->init) != T5PT_OK) return cli_fail_lib(cmd);
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
    printf("%d steps (batch %d, %d steps per epoch), %s lr %g, dropout %g, seed %llu\n", total, batch,
           (N + batch - 1) / batch, a->optim, (double)a->to.oc.lr, (double)a->to.dropout,
           (unsigned long long)a->to.seed);
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
    progress_state ps = {isatty(STDOUT_FILENO), 0};
    to->out_dir = a->out;
    to->tok = in->tok;
    to->labels = (const char *const *)a->labels_v;
    to->num_labels = a->num_labels;
    to->peft = (t5pt_peft_info){.base_model = a->model, .init_name = a->init, .init_text = a->init_text,
                                .num_layers = cfg->num_layers, .num_attention_heads = cfg->num_heads,
                                .placement = a->placement};
    to->stop_flag = &stop_requested;
    to->callback = on_progress;
    to->user = &ps;
    catch_stop_signals();
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
        printf("validation %s: %.4f before training -> best %.4f at step %d (last %.4f)\n",
               a->num_labels ? "rank_accuracy" : "exact_match", res.first_metric, res.best_metric, res.best_step,
               res.final_metric);
    printf("prompt saved to %s (%s)\n", a->out, res.evaluated ? "best validation checkpoint" : "last step");
    if (fflush(stdout) != 0 || ferror(stdout)) return cli_fail(cmd, "writing to stdout failed");
    return 0;
}

/* ------------------------------------------------------------------ the command */

/* The options of train, parsed into *a (which holds the defaults --help shows). */
static int parse_args(train_args *a, int argc, char **argv) {
    t5pt_train_options *to = &a->to;
    const cli_option opts[] = {
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
         .help = "prompt rows (100 is the paper's choice)", .min = 1, .max = 1 << 16, .given = &a->have_prompt_len},
        {.name = "placement", .kind = CLI_STR, .target = &a->placement, .metavar = "P",
         .help = "prepend (the paper's) | append (after the last real token) |\nat:K (before input token K)"},
        {.name = "init", .kind = CLI_STR, .target = &a->init, .metavar = "KIND",
         .help = "random-uniform (U[-0.5,0.5]) | sampled-vocab (embeddings of random\n"
                 "ids < 5000) | class-labels (embeddings of the --labels words, rest\n"
                 "sampled-vocab) | text (--init-text)",
         .dflt = "class-labels with --labels, else sampled-vocab",
         .choices = "random-uniform|sampled-vocab|class-labels|text"},
        {.name = "init-text", .kind = CLI_STR, .target = &a->init_text, .metavar = "TEXT",
         .help = "text whose token embeddings fill the prompt (repeated);\nimplies --init text"},
        {.name = "labels", .kind = CLI_STR, .target = &a->labels, .metavar = "a,b,c",
         .help = "label words: class-labels init, and the validation metric becomes\n"
                 "rank classification accuracy (else: exact match of greedy\n"
                 "generations); \\, for a literal comma"},
        CLI_HEADING("optimisation"),
        {.name = "optim", .kind = CLI_STR, .target = &a->optim, .metavar = "K",
         .help = "adafactor (Hugging Face semantics) | adafactor-t5x | adamw",
         .choices = "adafactor|adafactor-t5x|adamw"},
        {.name = "lr", .kind = CLI_FLOAT, .target = &a->lr, .metavar = "X", .help = "learning rate",
         .dflt = "0.3 for Adafactor, the paper's; 1e-3 for AdamW", .min = 0, .max = FLT_MAX,
         .flags = CLI_MIN_EXCLUSIVE, .given = &a->have_lr},
        {.name = "schedule", .kind = CLI_STR, .target = &a->schedule, .metavar = "S",
         .help = "constant | linear (warmup, then linear decay to 0 at the last step)", .choices = "constant|linear"},
        {.name = "warmup-steps", .kind = CLI_INT, .target = &a->warmup, .metavar = "N", .help = "warmup steps of the schedule"},
        {.name = "weight-decay", .kind = CLI_FLOAT, .target = &a->weight_decay, .metavar = "X", .help = "weight decay",
         .dflt = "1e-5 for Adafactor, 0.01 for AdamW", .min = 0, .max = FLT_MAX, .given = &a->have_weight_decay},
        {.name = "batch", .kind = CLI_INT, .target = &to->batch, .metavar = "N",
         .help = "examples per step (at most the whole training set)", .min = 1},
        {.name = "steps", .kind = CLI_INT, .target = &to->steps, .metavar = "N", .help = "optimizer steps",
         .dflt = "--epochs", .min = 1},
        {.name = "epochs", .kind = CLI_INT, .target = &to->epochs, .metavar = "N",
         .help = "passes over the data when --steps is not given", .min = 1},
        {.name = "dropout", .kind = CLI_FLOAT, .target = &to->dropout, .metavar = "X",
         .help = "dropout in the frozen model during training, in [0, 1) (0.1 in the paper)", .min = 0, .max = 1,
         .flags = CLI_MAX_EXCLUSIVE},
        {.name = "seed", .kind = CLI_U64, .target = &to->seed, .metavar = "N", .help = "data order, dropout and init"},
        CLI_HEADING("validation and checkpoints"),
        {.name = "eval-every", .kind = CLI_INT, .target = &to->eval_every, .metavar = "N",
         .help = "steps between validations", .dflt = "only at the start and the end", .min = 1},
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
    train_args a = {.placement = "prepend", .optim = "adafactor", .schedule = "constant", .prompt_len = 100};
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
