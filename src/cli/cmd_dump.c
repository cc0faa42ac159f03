/* cmd_dump.c — `t5pt dump`: the conformance command. Runs the forward pass (and
 * optionally the prompt gradient and N optimizer steps) on a batch given as
 * safetensors and writes what it computed as safetensors, so any reference
 * implementation can be compared with t5pt tensor by tensor. */
#include "cli/cli.h"
#include "base/internal.h"
#include "io/json.h"
#include "train/optim.h"
#include "io/safetensors.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

/* Reads an integer tensor of rank 2 into a malloc'd int32 buffer. */
static t5pt_status read_ids(const st_file *f, const char *name, int optional, int32_t **out, int *r0, int *r1) {
    *out = NULL;
    const st_tensor *t = t5pt_st_get(f, name);
    if (!t) {
        if (optional) return T5PT_OK;
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: no tensor \"%s\"", t5pt_st_path(f), name);
    }
    if (t->ndim != 2) return t5pt_set_error(T5PT_ERR_SHAPE, "%s: %s must have rank 2", t5pt_st_path(f), name);
    *r0 = (int)t->shape[0];
    *r1 = (int)t->shape[1];
    *out = malloc((t->numel ? t->numel : 1) * sizeof(int32_t));
    if (!*out) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", t5pt_st_path(f));
    return t5pt_st_read_i32(f, t, *out);
}

static t5pt_status optim_from_json(t5pt_optim_config *oc, const char *path) {
    char *text;
    size_t len;
    t5pt_status st = t5pt_read_file(path, &text, &len);
    if (st != T5PT_OK) return st;
    char err[160];
    json_doc *doc = t5pt_json_parse(text, len, err, sizeof err);
    free(text);
    if (!doc) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: %s", path, err);
    const json_value *o = t5pt_json_root(doc);
    if (t5pt_json_get(o, "optim")) o = t5pt_json_get(o, "optim");
    st = t5pt_optim_config_from_json(oc, o, path);
    t5pt_json_free(doc);
    return st;
}

typedef struct {
    const char *model, *batch, *prompt, *out, *placement, *optim, *optim_json, *loss, *precision;
    int grad, steps, all, threads, prompt_len, start_step, recompute;
    float lr, z_loss;
    int have_lr, have_z_loss, have_start_step, have_placement;
} dump_args;

/* The optimizer of --steps: --optim-json, then --optim / --lr on top. 0, or the exit status. */
static int optim_config(const dump_args *a, t5pt_optim_config *oc) {
    if (a->optim_json) {
        if (optim_from_json(oc, a->optim_json) != T5PT_OK) return cli_fail_lib("dump");
    } else {
        t5pt_optim_config_default(oc, T5PT_OPT_ADAFACTOR);
    }
    if (a->optim) {
        t5pt_optim_kind k;
        if (t5pt_optim_parse_kind(&k, a->optim) != T5PT_OK) return cli_usage_error("dump", "%s", t5pt_last_error());
        if (!a->optim_json || k != oc->kind) t5pt_optim_config_default(oc, k);
    }
    if (a->have_lr) oc->lr = a->lr;
    if (a->have_start_step) oc->start_step = a->start_step;
    return cli_check_optim("dump", oc);
}

void cli_batch_tensors_free(cli_batch_tensors *b) {
    free(b->ids);
    free(b->mask);
    free(b->labels);
}

int cli_read_batch(const char *cmd, const char *path, cli_batch_tensors *b) {
    st_file *f;
    int B = 0, T = 0, mB = 0, mT = 0, lB = 0, L = 0, rc = 0;
    if (t5pt_st_open(&f, path) != T5PT_OK) return cli_fail_lib(cmd);
    if (read_ids(f, "input_ids", 0, &b->ids, &B, &T) != T5PT_OK || read_ids(f, "attention_mask", 1, &b->mask, &mB, &mT) != T5PT_OK ||
        read_ids(f, "labels", 0, &b->labels, &lB, &L) != T5PT_OK)
        rc = cli_fail_lib(cmd);
    else if (b->mask && (mB != B || mT != T))
        rc = cli_fail(cmd, "%s: attention_mask is [%d,%d], input_ids [%d,%d]", path, mB, mT, B, T);
    else if (lB != B)
        rc = cli_fail(cmd, "%s: labels have %d rows, input_ids %d", path, lB, B);
    else if (B <= 0 || T <= 0 || L <= 0)
        rc = cli_fail(cmd, "%s: empty batch [%d,%d] / labels [%d,%d]", path, B, T, lB, L);
    t5pt_st_close(f);
    b->view = (t5pt_batch){.B = B, .T = T, .L = L, .input_ids = b->ids, .attention_mask = b->mask, .labels = b->labels};
    return rc;
}

/* --prompt, cut to --prompt-len rows, and the placement it recorded unless --placement is given;
 * no prompt: *P NULL, *n 0. */
static int load_prompt(const dump_args *a, int d, float **P, int *n, t5pt_placement *pl) {
    t5pt_prompt_info info;
    int rc;
    if (!a->prompt) return 0;
    if ((rc = cli_load_prompt("dump", a->prompt, a->model, d, P, n, &info)) != 0 ||
        (rc = cli_resolve_placement("dump", a->have_placement, &a->prompt, &info, 1, pl)) != 0)
        return rc;
    if (a->prompt_len >= 0) {
        if (a->prompt_len > *n) return cli_fail("dump", "--prompt-len %d: the prompt has only %d rows", a->prompt_len, *n);
        *n = a->prompt_len;
    }
    return 0;
}

static t5pt_status add_ctx_tensor(st_writer *w, const t5pt_ctx *c, const char *name) {
    int dims[3];
    const float *t = t5pt_ctx_tensor(c, name, dims);
    if (!t) return t5pt_set_error(T5PT_ERR_ARG, "dump: no tensor %s", name);
    int64_t sh[3] = {dims[0], dims[1], dims[2]};
    return t5pt_st_writer_add(w, name, ST_F32, 3, sh, t);
}

/* logits, loss, encoder output; with --all every intermediate activation and the encoder mask. */
static t5pt_status add_forward(st_writer *w, const t5pt_ctx *c, const t5pt_config *cfg, float loss, int all) {
    int64_t scalar[1] = {0};
    t5pt_status st = add_ctx_tensor(w, c, "logits");
    if (st == T5PT_OK) st = t5pt_st_writer_add(w, "loss", ST_F32, 0, scalar, &loss);
    if (st == T5PT_OK) st = add_ctx_tensor(w, c, "encoder_last_hidden_state");
    if (st != T5PT_OK || !all) return st;
    if ((st = add_ctx_tensor(w, c, "inputs_embeds")) != T5PT_OK) return st;
    if ((st = add_ctx_tensor(w, c, "decoder_last_hidden_state")) != T5PT_OK) return st;
    char name[64];
    for (int stack = 0; stack < 2; stack++)
        for (int l = 0; l < (stack ? cfg->num_decoder_layers : cfg->num_layers); l++) {
            snprintf(name, sizeof name, "%s_block_%d", stack ? "decoder" : "encoder", l);
            if ((st = add_ctx_tensor(w, c, name)) != T5PT_OK) return st;
        }
    int mb, te;
    const int32_t *em = t5pt_ctx_encoder_mask(c, &mb, &te);
    int64_t *em64 = em ? malloc((size_t)mb * te * sizeof(int64_t)) : NULL;
    if (!em64) return t5pt_set_error(T5PT_ERR_NOMEM, "dump: no encoder mask");
    for (int k = 0; k < mb * te; k++) em64[k] = em[k];
    int64_t s2[2] = {mb, te};
    st = t5pt_st_writer_add(w, "encoder_attention_mask", ST_I64, 2, s2, em64);
    free(em64);
    return st;
}

/* prompt_grad [n, d] of the forward just run. */
static t5pt_status add_grad(st_writer *w, t5pt_ctx *c, int n, int d) {
    float *dP = malloc((size_t)n * d * sizeof(float));
    if (!dP) return t5pt_set_error(T5PT_ERR_NOMEM, "dump: out of memory");
    t5pt_status st = t5pt_backward(c, dP);
    int64_t s2[2] = {n, d};
    if (st == T5PT_OK) st = t5pt_st_writer_add(w, "prompt_grad", ST_F32, 2, s2, dP);
    free(dP);
    return st;
}

/* losses [steps] and prompt_after [steps, n, d] of --steps optimizer steps on the batch. */
static t5pt_status add_trajectory(st_writer *w, t5pt_ctx *c, const t5pt_optim_config *oc, float *P, int n, int d,
                                  t5pt_placement pl, const t5pt_batch *batch, int steps) {
    float *losses = malloc((size_t)steps * sizeof(float)), *traj = malloc((size_t)steps * n * d * sizeof(float));
    t5pt_optim *o = NULL;
    t5pt_status st = !losses || !traj ? t5pt_set_error(T5PT_ERR_NOMEM, "dump: out of memory for %d steps", steps)
                                      : t5pt_optim_create(&o, oc, n, d);
    for (int s = 0; st == T5PT_OK && s < steps; s++) {
        st = t5pt_train_step(c, o, P, n, pl, batch, &losses[s]);
        memcpy(traj + (size_t)s * n * d, P, (size_t)n * d * sizeof(float));
    }
    int64_t s1[1] = {steps}, s3[3] = {steps, n, d};
    if (st == T5PT_OK) st = t5pt_st_writer_add(w, "losses", ST_F32, 1, s1, losses);
    if (st == T5PT_OK) st = t5pt_st_writer_add(w, "prompt_after", ST_F32, 3, s3, traj);
    t5pt_optim_free(o);
    free(losses);
    free(traj);
    return st;
}

/* Loads, computes and writes; 0 or the exit status. */
static int run_dump(const dump_args *a, t5pt_placement pl, const t5pt_optim_config *oc, t5pt_loss_kind lk, float z) {
    /* pl: --placement, or the one the prompt recorded (load_prompt) */
    const char *cmd = "dump";
    t5pt_model *m = NULL;
    cli_batch_tensors b = {0};
    float *P = NULL;
    int n = 0, rc;
    t5pt_ctx *c = NULL;
    st_writer *w = NULL;
    if (t5pt_model_load(&m, a->model) != T5PT_OK) return cli_fail_lib(cmd);
    if ((rc = cli_set_precision(cmd, m, a->precision)) != 0) {
        t5pt_model_free(m);
        return rc;
    }
    const t5pt_config *cfg = t5pt_model_config(m);
    if ((rc = cli_read_batch(cmd, a->batch, &b)) != 0 || (rc = load_prompt(a, cfg->d_model, &P, &n, &pl)) != 0) goto out;
    if ((a->grad || a->steps) && n == 0) {
        rc = cli_fail(cmd, "--grad and --steps need a --prompt with at least one row");
        goto out;
    }
    float loss;
    rc = 1;
    if (!(w = t5pt_st_writer_new())) {
        cli_fail(cmd, "out of memory");
        goto out;
    }
    if (t5pt_ctx_create(&c, m, b.view.B, b.view.T, b.view.L, n) != T5PT_OK || t5pt_ctx_set_loss(c, lk, z) != T5PT_OK ||
        t5pt_ctx_set_recompute(c, a->recompute) != T5PT_OK ||
        t5pt_forward(c, P, n, pl, &b.view, &loss) != T5PT_OK || add_forward(w, c, cfg, loss, a->all) != T5PT_OK ||
        (a->grad && add_grad(w, c, n, cfg->d_model) != T5PT_OK) ||
        (a->steps && add_trajectory(w, c, oc, P, n, cfg->d_model, pl, &b.view, a->steps) != T5PT_OK) ||
        t5pt_st_writer_save(w, a->out, "{\"format\":\"pt\",\"producer\":\"t5pt dump\"}") != T5PT_OK) {
        cli_fail_lib(cmd);
        goto out;
    }
    rc = 0;
out:
    t5pt_st_writer_free(w);
    t5pt_ctx_free(c);
    free(P);
    cli_batch_tensors_free(&b);
    t5pt_model_free(m);
    return rc;
}

int cli_dump(int argc, char **argv) {
    dump_args a = {.placement = "prepend", .prompt_len = -1, .loss = "mean"};
    const cli_option opts[] = {
        CLI_OPT_MODEL(&a.model),
        {.name = "batch", .kind = CLI_STR, .target = &a.batch, .metavar = "FILE",
         .help = "safetensors with int32/int64 input_ids [B,T], attention_mask [B,T]\n"
                 "(optional: all ones) and labels [B,L] (-100 = ignored)",
         .flags = CLI_REQUIRED},
        {.name = "out", .kind = CLI_STR, .target = &a.out, .metavar = "FILE", .help = "safetensors file to write",
         .flags = CLI_REQUIRED},
        {.name = "prompt", .kind = CLI_STR, .target = &a.prompt, .metavar = "PATH",
         .help = "soft prompt: a PEFT adapter directory (or its adapter_model.safetensors\n"
                 "beside its adapter_config.json; a seq2seq adapter's first n of 2n rows),\n"
                 "a safetensors file with prompt_embeddings [n,d], or a T5X .npy [n,d]",
         .dflt = "no prompt"},
        {.name = "prompt-len", .kind = CLI_INT, .target = &a.prompt_len, .metavar = "N",
         .help = "use only the first N rows of the prompt", .dflt = "all rows", .min = 0, .max = 1 << 20},
        CLI_OPT_PLACEMENT(&a.placement, &a.have_placement),
        {.name = "recompute", .kind = CLI_FLAG, .target = &a.recompute,
         .help = "activation recomputation (as train --recompute; the same bits)"},
        {.name = "grad", .kind = CLI_FLAG, .target = &a.grad,
         .help = "also write prompt_grad [n,d] = d loss / d prompt (summed over the batch)"},
        {.name = "steps", .kind = CLI_INT, .target = &a.steps, .metavar = "N",
         .help = "run N optimizer steps on this batch; writes losses [N] (loss before each\n"
                 "step) and prompt_after [N,n,d] (prompt after each step)",
         .min = 0, .max = 1 << 20},
        {.name = "optim", .kind = CLI_STR, .target = &a.optim, .metavar = "K", .help = "adafactor | adafactor-t5x | adamw: the optimizer of --steps",
         .dflt = "adafactor", .choices = "adafactor|adafactor-t5x|adamw"},
        {.name = "lr", .kind = CLI_FLOAT, .target = &a.lr, .metavar = "X", .help = "learning rate",
         .dflt = "0.3 for Adafactor, 1e-3 for AdamW", .min = 0, .max = FLT_MAX, .flags = CLI_MIN_EXCLUSIVE,
         .given = &a.have_lr},
        {.name = "adafactor-start-step", .kind = CLI_INT, .target = &a.start_step, .metavar = "N",
         .help = "Adafactor steps counted before the first update: beta2 = 1 - (N + t)^-0.8\n"
                 "(the paper's code keeps the checkpoint's step, 1100000)",
         .dflt = "0, or the --optim-json value", .min = 0, .max = 2147483647, .given = &a.have_start_step},
        {.name = "loss", .kind = CLI_STR, .target = &a.loss, .metavar = "L",
         .help = "mean: mean cross-entropy over the labels (Hugging Face's) |\n"
                 "sum-zloss: sum over the labels of cross-entropy + z * logsumexp^2,\n"
                 "z = 1e-4 (the paper's code, T5X)",
         .choices = "mean|sum-zloss"},
        {.name = "z-loss", .kind = CLI_FLOAT, .target = &a.z_loss, .metavar = "X",
         .help = "z-loss coefficient (per label token: + X * logsumexp(logits)^2)",
         .dflt = "0 with --loss mean, 1e-4 with sum-zloss", .min = 0, .max = 1e6, .given = &a.have_z_loss},
        {.name = "optim-json", .kind = CLI_STR, .target = &a.optim_json, .metavar = "FILE",
         .help = "every optimizer hyperparameter from a JSON object (the \"optim\" object\n"
                 "of a golden case.json: kind, lr, eps, clip_threshold, decay_rate, beta1,\n"
                 "weight_decay, scale_parameter, relative_step, warmup_init, start_step,\n"
                 "betas, schedule {kind, warmup_steps, total_steps}); --optim, --lr and\n"
                 "--adafactor-start-step override it"},
        {.name = "all", .kind = CLI_FLAG, .target = &a.all, .help = "also write every intermediate activation"},
        CLI_OPT_PRECISION(&a.precision),
        CLI_OPT_THREADS(&a.threads),
        {0}};
    const cli_command c = {
        .name = "dump",
        .usage = "--model DIR --batch BATCH.safetensors --out OUT.safetensors [options]",
        .about = "The conformance command: computes on one batch and writes the results as safetensors\n"
                 "(all F32): logits [B,L,V], loss [] (the --loss over labels != -100),\n"
                 "encoder_last_hidden_state [B,n+T,d]; with --all also inputs_embeds, encoder_block_<i>,\n"
                 "decoder_block_<i>, decoder_last_hidden_state and encoder_attention_mask (I64).\n",
        .options = opts,
    };
    int rc = cli_parse(&c, argc, argv);
    if (rc != CLI_PARSED) return rc;
    const char *cmd = "dump";
    t5pt_placement pl;
    t5pt_optim_config oc;
    if ((rc = cli_parse_placement(cmd, a.placement, &pl)) != 0) return rc;
    if (cli_check_input_dir(cmd, "model", a.model) || cli_check_input_file(cmd, "batch", a.batch) ||
        (a.prompt && cli_check_input_any(cmd, "prompt", a.prompt)) ||
        (a.optim_json && cli_check_input_file(cmd, "optim-json", a.optim_json)) || cli_check_output_file(cmd, "out", a.out))
        return 1;
    if ((rc = optim_config(&a, &oc)) != 0) return rc;
    t5pt_loss_kind lk;
    float z;
    if (t5pt_loss_parse(a.loss, &lk, &z) != T5PT_OK) return cli_usage_error(cmd, "--loss: %s", t5pt_last_error());
    if (a.have_z_loss) z = a.z_loss;
    cli_set_threads(a.threads);
    return run_dump(&a, pl, &oc, lk, z);
}
