/* cmd_train.c — `t5pt train`: prompt tuning from the command line. */
#include "cli/cli.h"
#include "train/data.h"
#include "base/internal.h"
#include "train/train.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "usage: t5pt train --model DIR --train FILE [--valid FILE] --out PROMPT_DIR [options]\n"
    "\n"
    "Tunes a soft prompt (Lester et al. 2021) for a frozen T5: only the prompt's n x d_model\n"
    "numbers change. The result is a Hugging Face PEFT prompt-tuning adapter in PROMPT_DIR\n"
    "(adapter_config.json + adapter_model.safetensors): the best prompt by the validation\n"
    "metric when --valid is given (early stopping keeps the best checkpoint), else the last.\n"
    "PROMPT_DIR/checkpoint.safetensors holds the resume state (written atomically).\n"
    "\n"
    "data\n"
    "  --train FILE          JSONL {\"input\":..,\"target\":..} or TSV input<TAB>target\n"
    "  --valid FILE          validation set, scored at the start, every --eval-every steps and at the end\n"
    "  --input-field NAME    JSONL key of the input (default input)\n"
    "  --target-field NAME   JSONL key of the target (default target)\n"
    "  --max-src-len N       truncate inputs to N tokens incl. </s> (default: no limit; count reported)\n"
    "  --max-tgt-len N       truncate targets to N tokens incl. </s> (default: no limit; count reported)\n"
    "  --tokenizer FILE      spiece.model / tokenizer.json (default: the model dir's, else the shipped one)\n"
    "prompt\n"
    "  --prompt-len N        prompt rows (default 100, the paper's)\n"
    "  --placement P         prepend (default, the paper's) | append | at:K (before input token K)\n"
    "  --init KIND           random-uniform (U[-0.5,0.5]) | sampled-vocab (default: embeddings of\n"
    "                        random ids < 5000) | class-labels (embeddings of the --labels words, rest\n"
    "                        sampled-vocab; default when --labels is given) | text (--init-text)\n"
    "  --init-text TEXT      text whose token embeddings fill the prompt (repeated), for --init text\n"
    "  --labels a,b,c        label words: class-labels init, and the validation metric becomes rank\n"
    "                        classification accuracy (else: exact match of greedy generations)\n"
    "optimisation\n"
    "  --optim K             adafactor (default; HF semantics) | adafactor-t5x | adamw\n"
    "  --lr X                learning rate (default 0.3 for Adafactor, the paper's; 1e-3 for AdamW)\n"
    "  --schedule S          constant (default) | linear (warmup then linear decay to 0)\n"
    "  --warmup-steps N      linear schedule warmup (default 0)\n"
    "  --weight-decay X      default 1e-5 (Adafactor) / 0.01 (AdamW)\n"
    "  --batch N             examples per step (default 32)\n"
    "  --steps N             optimizer steps (default: --epochs)\n"
    "  --epochs N            passes over the data when --steps is not given (default 1)\n"
    "  --dropout X           dropout in the frozen model during training (default 0.1, as the paper)\n"
    "  --seed N              data order, dropout and init (default 42)\n"
    "validation and checkpoints\n"
    "  --eval-every N        steps between validations (default: only at start and end)\n"
    "  --patience N          stop after N validations without improvement (default: never)\n"
    "  --eval-batch N        examples per validation batch (default 16)\n"
    "  --checkpoint-every N  steps between checkpoints (default: --eval-every, else 100)\n"
    "  --resume              continue from PROMPT_DIR/checkpoint.safetensors (ends bit-identical to an\n"
    "                        uninterrupted run; same data, --batch and --seed required)\n"
    "  --metrics FILE        JSONL log: one line per step (step, epoch, loss, smooth_loss, lr,\n"
    "                        tokens_per_s, time) and per validation (step, eval, best, time)\n"
    "other\n"
    "  --preset auto         choose --prompt-len, --init, --lr and --placement from the model size\n"
    "                        (explicit flags win); the rule, by parameter count p of the frozen model:\n"
    "                          p <  250M (small, t5-small/base-size): prompt-len 20, prepend\n"
    "                          p <  1B   (large):                     prompt-len 50, prepend\n"
    "                          p >= 1B   (XL, XXL):                   prompt-len 100, prepend\n"
    "                        always Adafactor lr 0.3; init class-labels with --labels, else sampled-vocab\n"
    "  --threads N           OpenMP threads\n"
    "\n"
    "A progress line (step, epoch, smoothed loss, tokens/s, ETA) is shown when stdout is a terminal.\n"
    "SIGINT/SIGTERM: the current step finishes, a checkpoint is written, and train exits with status 3.\n";

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
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

int cli_train(int argc, char **argv) {
    const char *cmd = "train", *model_dir = NULL, *train_path = NULL, *valid_path = NULL, *out = NULL,
               *placement = NULL, *init = NULL, *init_text = NULL, *labels_arg = NULL, *optim = "adafactor",
               *tpath = NULL, *preset = NULL, *schedule = "constant", *v;
    int prompt_len = -1, threads = 0, warmup = 0, have_lr = 0, have_wd = 0;
    float lr = 0, wd = 0;
    t5pt_train_options to;
    t5pt_train_options_default(&to);
    t5pt_data_options dopt;
    t5pt_data_options_default(&dopt);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(help, stdout); return 0; }
        if (!strcmp(a, "--resume")) to.resume = 1;
#define STR(name, var) else if (cli_opt(argc, argv, &i, name, &v)) { if (!v) return 1; var = v; }
#define INT(name, var, min) else if (cli_opt(argc, argv, &i, name, &v)) { if (!v || cli_int(cmd, name, v, min, &var)) return 1; }
#define FLT(name, var) else if (cli_opt(argc, argv, &i, name, &v)) { if (!v || cli_float(cmd, name, v, &var)) return 1; }
        STR("model", model_dir) STR("train", train_path) STR("valid", valid_path) STR("out", out)
        STR("placement", placement) STR("init-text", init_text) STR("init", init) STR("labels", labels_arg)
        STR("optim", optim) STR("tokenizer", tpath) STR("preset", preset) STR("metrics", to.metrics_path)
        STR("input-field", dopt.input_field) STR("target-field", dopt.target_field) STR("schedule", schedule)
        INT("prompt-len", prompt_len, 1) INT("batch", to.batch, 1) INT("steps", to.steps, 1) INT("epochs", to.epochs, 1)
        INT("max-src-len", dopt.max_src_len, 2) INT("max-tgt-len", dopt.max_tgt_len, 2) INT("eval-every", to.eval_every, 1)
        INT("patience", to.patience, 1) INT("eval-batch", to.eval_batch, 1) INT("checkpoint-every", to.checkpoint_every, 1)
        INT("threads", threads, 1) INT("warmup-steps", warmup, 0)
        FLT("dropout", to.dropout)
        else if (cli_opt(argc, argv, &i, "lr", &v)) { if (!v || cli_float(cmd, "lr", v, &lr)) return 1; have_lr = 1; }
        else if (cli_opt(argc, argv, &i, "weight-decay", &v)) { if (!v || cli_float(cmd, "weight-decay", v, &wd)) return 1; have_wd = 1; }
        else if (cli_opt(argc, argv, &i, "seed", &v)) { if (!v || cli_u64(cmd, "seed", v, &to.seed)) return 1; }
        else return cli_fail(cmd, "unknown option '%s' (see t5pt train --help)", a);
#undef STR
#undef INT
#undef FLT
    }
    if (!model_dir || !train_path || !out) return cli_fail(cmd, "need --model DIR, --train FILE and --out DIR (see --help)");
    if (to.dropout < 0 || to.dropout >= 1) return cli_fail(cmd, "--dropout %g: must be in [0, 1)", to.dropout);
    if (preset && strcmp(preset, "auto")) return cli_fail(cmd, "--preset %s: only 'auto' exists", preset);
    cli_set_threads(threads);

    t5pt_optim_kind ok;
    if (t5pt_optim_parse_kind(&ok, optim) != T5PT_OK) return cli_fail_lib(cmd);
    t5pt_optim_config_default(&to.oc, ok);
    if (have_lr) to.oc.lr = lr;
    if (have_wd) to.oc.weight_decay = wd;
    if (!strcmp(schedule, "linear")) to.oc.schedule = T5PT_SCHED_LINEAR;
    else if (strcmp(schedule, "constant")) return cli_fail(cmd, "--schedule %s: constant or linear", schedule);
    to.oc.warmup_steps = warmup;

    char **labels = NULL;
    int C = 0;
    if (labels_arg) {
        labels = cli_split_labels(labels_arg, &C);
        if (!labels) return cli_fail(cmd, "out of memory");
        for (int k = 0; k < C; k++)
            if (!labels[k][0]) { cli_free_strings(labels, C); return cli_fail(cmd, "--labels: empty label word"); }
    }

    int rc = 1;
    t5pt_model *m = NULL;
    t5pt_tokenizer *tok = NULL;
    t5pt_dataset *dtrain = NULL, *dvalid = NULL;
    float *P = NULL;
    int32_t **label_ids = NULL, *text_ids = NULL;
    int *label_lens = NULL, text_len = 0;

    /* Everything that can fail on bad input happens before anything is written. */
    if (t5pt_model_load(&m, model_dir) != T5PT_OK) goto fail;
    if (cli_load_tokenizer(cmd, model_dir, tpath, &tok) != T5PT_OK) goto fail;
    if (t5pt_dataset_load(&dtrain, train_path, tok, &dopt) != T5PT_OK) goto fail;
    if (valid_path && t5pt_dataset_load(&dvalid, valid_path, tok, &dopt) != T5PT_OK) goto fail;
    const t5pt_config *cfg = t5pt_model_config(m);
    const int d = cfg->d_model;
    for (int i = 0; i < dtrain->n; i++)
        if (!dtrain->ex[i].target) { cli_fail(cmd, "%s:%d: no target", train_path, dtrain->ex[i].line); goto out; }

    /* --preset auto: see the rule in --help (and README) */
    size_t params = t5pt_model_num_params(m);
    if (preset) {
        int plen = params < 250000000u ? 20 : params < 1000000000u ? 50 : 100;
        const char *pinit = C ? "class-labels" : "sampled-vocab";
        if (prompt_len < 0) prompt_len = plen;
        if (!init) init = pinit;
        if (!placement) placement = "prepend";
        printf("preset auto: model has %.1fM parameters -> --prompt-len %d --init %s --placement %s --optim %s --lr %g\n",
               params / 1e6, prompt_len, init, placement, optim, (double)to.oc.lr);
    }
    if (prompt_len < 0) prompt_len = 100;
    if (!placement) placement = "prepend";
    if (!init) init = C ? "class-labels" : "sampled-vocab";
    if (t5pt_placement_parse(&to.pl, placement) != T5PT_OK) goto fail;

    t5pt_init_config ic;
    memset(&ic, 0, sizeof ic);
    if (t5pt_init_parse_kind(&ic.kind, init) != T5PT_OK) goto fail;
    ic.range = 0.5f;
    ic.seed = to.seed;
    if (ic.kind == T5PT_INIT_CLASS_LABELS) {
        if (!C) { cli_fail(cmd, "--init class-labels needs --labels"); goto out; }
        label_ids = calloc((size_t)C, sizeof *label_ids);
        label_lens = calloc((size_t)C, sizeof *label_lens);
        if (!label_ids || !label_lens) { cli_fail(cmd, "out of memory"); goto out; }
        for (int k = 0; k < C; k++)   /* without </s>: the label word's own pieces */
            if (t5pt_tokenizer_encode(tok, labels[k], strlen(labels[k]), 0, &label_ids[k], &label_lens[k]) != T5PT_OK) goto fail;
        ic.label_ids = (const int32_t *const *)label_ids;
        ic.label_lens = label_lens;
        ic.num_labels = C;
    } else if (ic.kind == T5PT_INIT_TEXT) {
        if (!init_text) { cli_fail(cmd, "--init text needs --init-text TEXT"); goto out; }
        if (t5pt_tokenizer_encode(tok, init_text, strlen(init_text), 0, &text_ids, &text_len) != T5PT_OK) goto fail;
        if (text_len == 0) { cli_fail(cmd, "--init-text: no tokens"); goto out; }
        ic.text_ids = text_ids;
        ic.text_len = text_len;
    }
    P = malloc((size_t)prompt_len * d * sizeof(float));
    if (!P) { cli_fail(cmd, "out of memory"); goto out; }
    if (t5pt_prompt_init(P, prompt_len, m, &ic) != T5PT_OK) goto fail;

    /* PEFT's PromptTuningInit values. PEFT has no class-label init, and its TEXT init demands a
     * tokenizer name when the config is loaded; the weights are stored anyway, so both are
     * recorded as RANDOM to keep PeftModel.from_pretrained happy. */
    static const char *init_names[] = {"RANDOM", "SAMPLE_VOCAB", "RANDOM", "RANDOM"};
    to.out_dir = out;
    to.tok = tok;
    to.labels = (const char *const *)labels;
    to.num_labels = C;
    to.base_model = model_dir;
    to.init_name = init_names[ic.kind];
    to.stop_flag = &stop_requested;
    progress_state ps = {isatty(STDOUT_FILENO), 0};
    to.callback = on_progress;
    to.user = &ps;

    printf("model %s: %.1fM parameters (frozen), d_model %d; prompt %d x %d = %d trainable, %s, init %s\n", model_dir,
           params / 1e6, d, prompt_len, d, prompt_len * d, placement, init);
    printf("train %s: %d examples", train_path, dtrain->n);
    if (dvalid) printf("; valid %s: %d examples", valid_path, dvalid->n);
    putchar('\n');
    if (dtrain->truncated_src || dtrain->truncated_tgt)
        printf("truncated in %s: %d inputs (--max-src-len %d), %d targets (--max-tgt-len %d)\n", train_path,
               dtrain->truncated_src, dopt.max_src_len, dtrain->truncated_tgt, dopt.max_tgt_len);
    if (dvalid && (dvalid->truncated_src || dvalid->truncated_tgt))
        printf("truncated in %s: %d inputs, %d targets\n", valid_path, dvalid->truncated_src, dvalid->truncated_tgt);
    int spe = (dtrain->n + to.batch - 1) / to.batch;
    printf("%d steps (batch %d, %d steps per epoch), %s lr %g, dropout %g, seed %llu\n",
           to.steps ? to.steps : to.epochs * spe, to.batch, spe, optim, (double)to.oc.lr, (double)to.dropout,
           (unsigned long long)to.seed);
    fflush(stdout);

    char *ck = t5pt_checkpoint_path(out);
    if (ck && !to.resume && t5pt_file_exists(ck))
        fprintf(stderr, "t5pt train: note: %s exists; starting fresh (it will be replaced; --resume continues it)\n", ck);
    else if (ck && to.resume && !t5pt_file_exists(ck))
        fprintf(stderr, "t5pt train: note: --resume: %s not found; starting fresh\n", ck);
    free(ck);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    t5pt_train_result res;
    t5pt_status st = t5pt_train(m, dtrain, dvalid, P, prompt_len, &to, &res);
    if (ps.tty && ps.last_len) putchar('\n');
    if (res.resumed_from >= 0) printf("resumed from step %d\n", res.resumed_from);
    if (st == T5PT_ERR_INTERRUPTED) {
        fprintf(stderr, "t5pt train: %s\n", t5pt_last_error());
        rc = 3;
        goto out;
    }
    if (st != T5PT_OK) goto fail;
    printf("done: %d steps, last loss %.4f (smoothed %.4f)%s\n", res.steps_done, res.last_loss, res.last_smooth_loss,
           res.stopped_early ? ", stopped early (patience)" : "");
    if (res.evaluated)
        printf("validation %s: %.4f before training -> best %.4f at step %d (last %.4f)\n",
               C ? "rank_accuracy" : "exact_match", res.first_metric, res.best_metric, res.best_step, res.final_metric);
    printf("prompt saved to %s (%s)\n", out, res.evaluated ? "best validation checkpoint" : "last step");
    rc = 0;
    goto out;
fail:
    rc = cli_fail_lib(cmd);
out:
    if (label_ids) for (int k = 0; k < C; k++) free(label_ids[k]);
    free(label_ids);
    free(label_lens);
    free(text_ids);
    free(P);
    cli_free_strings(labels, C);
    t5pt_dataset_free(dtrain);
    t5pt_dataset_free(dvalid);
    t5pt_tokenizer_free(tok);
    t5pt_model_free(m);
    return rc;
}
