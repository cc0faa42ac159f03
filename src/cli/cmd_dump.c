/* cmd_dump.c — `t5pt dump`: the conformance command. Runs the forward pass (and
 * optionally the prompt gradient and N optimizer steps) on a batch given as
 * safetensors and writes what it computed as safetensors, so any reference
 * implementation can be compared with t5pt tensor by tensor. */
#include "cli/cli.h"
#include "base/internal.h"
#include "io/json.h"
#include "train/optim.h"
#include "io/safetensors.h"

#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: t5pt dump --model DIR --batch BATCH.safetensors --out OUT.safetensors [options]\n"
    "\n"
    "Computes on one batch and writes the results as safetensors (all F32):\n"
    "  logits [B,L,V], loss [] (mean cross-entropy over labels != -100),\n"
    "  encoder_last_hidden_state [B,n+T,d]; with --all also inputs_embeds, encoder_block_<i>,\n"
    "  decoder_block_<i>, decoder_last_hidden_state and encoder_attention_mask (I64).\n"
    "\n"
    "  --model DIR          Hugging Face T5 directory (config.json + model.safetensors or shards)\n"
    "  --batch FILE         safetensors with int32/int64 input_ids [B,T], attention_mask [B,T]\n"
    "                       (optional: all ones) and labels [B,L] (-100 = ignored)\n"
    "  --prompt PATH        soft prompt: a safetensors file with prompt_embeddings [n,d] (for a\n"
    "                       seq2seq PEFT adapter with 2n rows the first n), a PEFT adapter\n"
    "                       directory, or a T5X .npy [n,d]. Without it: no prompt.\n"
    "  --prompt-len N       use only the first N rows of the prompt\n"
    "  --placement P        prepend (default) | append | at:K\n"
    "  --grad               also write prompt_grad [n,d] = d loss / d prompt (summed over the batch)\n"
    "  --steps N            run N optimizer steps on this batch; writes losses [N] (loss before each\n"
    "                       step) and prompt_after [N,n,d] (prompt after each step)\n"
    "  --optim K            adafactor (default) | adafactor-t5x | adamw\n"
    "  --lr X               learning rate (default 0.3 for Adafactor, 1e-3 for AdamW)\n"
    "  --optim-json FILE    every optimizer hyperparameter from a JSON object (the \"optim\" object\n"
    "                       of a golden case.json: kind, lr, eps, clip_threshold, decay_rate, beta1,\n"
    "                       weight_decay, scale_parameter, relative_step, warmup_init, betas,\n"
    "                       schedule {kind, warmup_steps, total_steps}); --optim/--lr override it\n"
    "  --all                also write every intermediate activation\n"
    "  --threads N          OpenMP threads\n";

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

int cli_dump(int argc, char **argv) {
    const char *cmd = "dump", *model_dir = NULL, *batch_path = NULL, *prompt_path = NULL, *out_path = NULL,
               *placement = "prepend", *optim = NULL, *optim_json = NULL, *v;
    int grad = 0, steps = 0, all = 0, threads = 0, prompt_len = -1, have_lr = 0;
    float lr = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(help, stdout); return 0; }
        if (!strcmp(argv[i], "--grad")) grad = 1;
        else if (!strcmp(argv[i], "--all")) all = 1;
        else if (cli_opt(argc, argv, &i, "model", &v)) { if (!v) return 1; model_dir = v; }
        else if (cli_opt(argc, argv, &i, "batch", &v)) { if (!v) return 1; batch_path = v; }
        else if (cli_opt(argc, argv, &i, "prompt-len", &v)) { if (!v || cli_int(cmd, "prompt-len", v, 0, &prompt_len)) return 1; }
        else if (cli_opt(argc, argv, &i, "prompt", &v)) { if (!v) return 1; prompt_path = v; }
        else if (cli_opt(argc, argv, &i, "out", &v)) { if (!v) return 1; out_path = v; }
        else if (cli_opt(argc, argv, &i, "placement", &v)) { if (!v) return 1; placement = v; }
        else if (cli_opt(argc, argv, &i, "steps", &v)) { if (!v || cli_int(cmd, "steps", v, 0, &steps)) return 1; }
        else if (cli_opt(argc, argv, &i, "optim-json", &v)) { if (!v) return 1; optim_json = v; }
        else if (cli_opt(argc, argv, &i, "optim", &v)) { if (!v) return 1; optim = v; }
        else if (cli_opt(argc, argv, &i, "lr", &v)) { if (!v || cli_float(cmd, "lr", v, &lr)) return 1; have_lr = 1; }
        else if (cli_opt(argc, argv, &i, "threads", &v)) { if (!v || cli_int(cmd, "threads", v, 1, &threads)) return 1; }
        else return cli_fail(cmd, "unknown option '%s' (see t5pt dump --help)", argv[i]);
    }
    if (!model_dir || !batch_path || !out_path) return cli_fail(cmd, "need --model, --batch and --out (see --help)");
    cli_set_threads(threads);
    t5pt_placement pl;
    if (t5pt_placement_parse(&pl, placement) != T5PT_OK) return cli_fail_lib(cmd);
    t5pt_optim_config oc;
    if (optim_json) {
        if (optim_from_json(&oc, optim_json) != T5PT_OK) return cli_fail_lib(cmd);
    } else {
        t5pt_optim_config_default(&oc, T5PT_OPT_ADAFACTOR);
    }
    if (optim) {
        t5pt_optim_kind k;
        if (t5pt_optim_parse_kind(&k, optim) != T5PT_OK) return cli_fail_lib(cmd);
        if (!optim_json || k != oc.kind) t5pt_optim_config_default(&oc, k);
    }
    if (have_lr) oc.lr = lr;

    int rc = 1;
    t5pt_model *m = NULL;
    st_file *bf = NULL;
    int32_t *ids = NULL, *mask = NULL, *labels = NULL;
    float *P = NULL, *dP = NULL, *losses = NULL, *traj = NULL;
    t5pt_ctx *c = NULL;
    t5pt_optim *o = NULL;
    st_writer *w = NULL;
    int n = 0, pd = 0, B = 0, T = 0, mB = 0, mT = 0, lB = 0, L = 0;
    if (t5pt_model_load(&m, model_dir) != T5PT_OK) goto fail;
    const t5pt_config *cfg = t5pt_model_config(m);
    const int d = cfg->d_model;
    if (t5pt_st_open(&bf, batch_path) != T5PT_OK) goto fail;
    if (read_ids(bf, "input_ids", 0, &ids, &B, &T) != T5PT_OK || read_ids(bf, "attention_mask", 1, &mask, &mB, &mT) != T5PT_OK ||
        read_ids(bf, "labels", 0, &labels, &lB, &L) != T5PT_OK)
        goto fail;
    if (mask && (mB != B || mT != T)) {
        cli_fail(cmd, "%s: attention_mask is [%d,%d], input_ids [%d,%d]", batch_path, mB, mT, B, T);
        goto out;
    }
    if (lB != B) {
        cli_fail(cmd, "%s: labels have %d rows, input_ids %d", batch_path, lB, B);
        goto out;
    }
    if (B <= 0 || T <= 0 || L <= 0) {
        cli_fail(cmd, "%s: empty batch [%d,%d] / labels [%d,%d]", batch_path, B, T, lB, L);
        goto out;
    }
    if (prompt_path) {
        if (t5pt_prompt_load(prompt_path, &P, &n, &pd) != T5PT_OK) goto fail;
        if (pd != d) {
            cli_fail(cmd, "%s: prompt width %d != d_model %d of %s", prompt_path, pd, d, model_dir);
            goto out;
        }
        if (prompt_len >= 0) {
            if (prompt_len > n) {
                cli_fail(cmd, "--prompt-len %d: the prompt has only %d rows", prompt_len, n);
                goto out;
            }
            n = prompt_len;
        }
    }
    if ((grad || steps) && n == 0) {
        cli_fail(cmd, "--grad and --steps need a --prompt");
        goto out;
    }
    t5pt_batch batch = {B, T, L, ids, mask, labels};
    if (t5pt_ctx_create(&c, m, B, T, L, n) != T5PT_OK) goto fail;
    float loss;
    if (t5pt_forward(c, P, n, pl, &batch, &loss) != T5PT_OK) goto fail;
    w = t5pt_st_writer_new();
    if (!w) { cli_fail(cmd, "out of memory"); goto out; }
    int dims[3];
    const float *t;
    t = t5pt_ctx_tensor(c, "logits", dims);
    int64_t sh[3] = {dims[0], dims[1], dims[2]};
    if (!t || t5pt_st_writer_add(w, "logits", ST_F32, 3, sh, t) != T5PT_OK) goto fail;
    if (t5pt_st_writer_add(w, "loss", ST_F32, 0, sh, &loss) != T5PT_OK) goto fail;
    const char *names[4] = {"encoder_last_hidden_state", "inputs_embeds", "decoder_last_hidden_state", NULL};
    for (int k = 0; k < (all ? 3 : 1); k++) {
        t = t5pt_ctx_tensor(c, names[k], dims);
        int64_t s3[3] = {dims[0], dims[1], dims[2]};
        if (!t || t5pt_st_writer_add(w, names[k], ST_F32, 3, s3, t) != T5PT_OK) goto fail;
    }
    if (all) {
        char name[64];
        for (int stack = 0; stack < 2; stack++)
            for (int l = 0; l < (stack ? cfg->num_decoder_layers : cfg->num_layers); l++) {
                snprintf(name, sizeof name, "%s_block_%d", stack ? "decoder" : "encoder", l);
                t = t5pt_ctx_tensor(c, name, dims);
                int64_t s3[3] = {dims[0], dims[1], dims[2]};
                if (!t || t5pt_st_writer_add(w, name, ST_F32, 3, s3, t) != T5PT_OK) goto fail;
            }
        int mb, te;
        const int32_t *em = t5pt_ctx_encoder_mask(c, &mb, &te);
        int64_t *em64 = malloc((size_t)mb * te * sizeof(int64_t));
        if (!em || !em64) { free(em64); cli_fail(cmd, "no encoder mask"); goto out; }
        for (int k = 0; k < mb * te; k++) em64[k] = em[k];
        int64_t s2[2] = {mb, te};
        t5pt_status ws = t5pt_st_writer_add(w, "encoder_attention_mask", ST_I64, 2, s2, em64);
        free(em64);
        if (ws != T5PT_OK) goto fail;
    }
    if (grad) {
        dP = malloc((size_t)n * d * sizeof(float));
        if (!dP) { cli_fail(cmd, "out of memory"); goto out; }
        if (t5pt_backward(c, dP) != T5PT_OK) goto fail;
        int64_t s2[2] = {n, d};
        if (t5pt_st_writer_add(w, "prompt_grad", ST_F32, 2, s2, dP) != T5PT_OK) goto fail;
    }
    if (steps > 0) {
        losses = malloc((size_t)steps * sizeof(float));
        traj = malloc((size_t)steps * n * d * sizeof(float));
        if (!losses || !traj) { cli_fail(cmd, "out of memory"); goto out; }
        if (t5pt_optim_create(&o, &oc, n, d) != T5PT_OK) goto fail;
        for (int s = 0; s < steps; s++) {
            if (t5pt_train_step(c, o, P, n, pl, &batch, &losses[s]) != T5PT_OK) goto fail;
            memcpy(traj + (size_t)s * n * d, P, (size_t)n * d * sizeof(float));
        }
        int64_t s1[1] = {steps}, s3[3] = {steps, n, d};
        if (t5pt_st_writer_add(w, "losses", ST_F32, 1, s1, losses) != T5PT_OK ||
            t5pt_st_writer_add(w, "prompt_after", ST_F32, 3, s3, traj) != T5PT_OK)
            goto fail;
    }
    if (t5pt_st_writer_save(w, out_path, "{\"format\":\"pt\",\"producer\":\"t5pt dump\"}") != T5PT_OK) goto fail;
    rc = 0;
    goto out;
fail:
    rc = cli_fail_lib(cmd);
out:
    t5pt_st_writer_free(w);
    t5pt_optim_free(o);
    t5pt_ctx_free(c);
    free(losses);
    free(traj);
    free(dP);
    free(P);
    free(ids);
    free(mask);
    free(labels);
    t5pt_st_close(bf);
    t5pt_model_free(m);
    return rc;
}
