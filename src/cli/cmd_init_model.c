/* cmd_init_model.c — `t5pt init-model`: a randomly initialised T5 written exactly in
 * Hugging Face layout (config.json + model.safetensors), for tests, benchmarks and
 * the shipped demo. */
#include "cli/cli.h"
#include "base/internal.h"
#include "model/model.h"
#include "io/safetensors.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);   /* NaN stays NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

typedef struct { st_writer *w; int bf16; t5pt_status st; } writer_ctx;

static void put(writer_ctx *c, const char *name, const float *x, int rows, int cols) {
    if (c->st != T5PT_OK) return;
    int64_t shape[2] = {rows, cols};
    int ndim = rows ? 2 : 1;
    if (!rows) shape[0] = cols;
    size_t n = (size_t)(rows ? rows : 1) * cols;
    if (!c->bf16) {
        c->st = t5pt_st_writer_add(c->w, name, ST_F32, ndim, shape, x);
        return;
    }
    uint16_t *b = malloc(n * sizeof *b);
    if (!b) { c->st = t5pt_set_error(T5PT_ERR_NOMEM, "out of memory"); return; }
    for (size_t i = 0; i < n; i++) b[i] = f32_to_bf16(x[i]);
    c->st = t5pt_st_writer_add(c->w, name, ST_BF16, ndim, shape, b);
    free(b);
}

static void put_block(writer_ctx *c, const char *stack, int i, const t5pt_block_weights *b, const t5pt_config *cfg,
                      int decoder) {
    char name[160];
    const int inner = cfg->num_heads * cfg->d_kv, d = cfg->d_model, f = cfg->d_ff;
    const char *att[2] = {"SelfAttention", "EncDecAttention"};
    for (int a = 0; a < (decoder ? 2 : 1); a++) {
        const t5pt_attention_weights *w = a ? &b->cross : &b->self;
        snprintf(name, sizeof name, "%s.block.%d.layer.%d.%s.q.weight", stack, i, a, att[a]); put(c, name, w->q.W, inner, d);
        snprintf(name, sizeof name, "%s.block.%d.layer.%d.%s.k.weight", stack, i, a, att[a]); put(c, name, w->k.W, inner, d);
        snprintf(name, sizeof name, "%s.block.%d.layer.%d.%s.v.weight", stack, i, a, att[a]); put(c, name, w->v.W, inner, d);
        snprintf(name, sizeof name, "%s.block.%d.layer.%d.%s.o.weight", stack, i, a, att[a]); put(c, name, w->o.W, d, inner);
        snprintf(name, sizeof name, "%s.block.%d.layer.%d.layer_norm.weight", stack, i, a);
        put(c, name, a ? b->ln_cross : b->ln_self, 0, d);
    }
    int ff = decoder ? 2 : 1;
    if (cfg->gated_gelu) {
        snprintf(name, sizeof name, "%s.block.%d.layer.%d.DenseReluDense.wi_0.weight", stack, i, ff); put(c, name, b->wi_0.W, f, d);
        snprintf(name, sizeof name, "%s.block.%d.layer.%d.DenseReluDense.wi_1.weight", stack, i, ff); put(c, name, b->wi_1.W, f, d);
    } else {
        snprintf(name, sizeof name, "%s.block.%d.layer.%d.DenseReluDense.wi.weight", stack, i, ff); put(c, name, b->wi.W, f, d);
    }
    snprintf(name, sizeof name, "%s.block.%d.layer.%d.DenseReluDense.wo.weight", stack, i, ff); put(c, name, b->wo.W, d, f);
    snprintf(name, sizeof name, "%s.block.%d.layer.%d.layer_norm.weight", stack, i, ff); put(c, name, b->ln_ff, 0, d);
}

/* Every tensor of m under its Hugging Face name, into a writer (nothing is written yet). */
static t5pt_status collect_tensors(writer_ctx *c, const t5pt_model *m) {
    const t5pt_config *cfg = &m->cfg;
    const int d = cfg->d_model;
    put(c, "shared.weight", m->emb.W, cfg->vocab_size, d); /* a random model is fp32 */
    if (!cfg->tie_word_embeddings) put(c, "lm_head.weight", m->lm_head.W, cfg->vocab_size, d);
    put(c, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", m->enc_rel_bias, cfg->rel_num_buckets,
        cfg->num_heads);
    put(c, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", m->dec_rel_bias, cfg->rel_num_buckets,
        cfg->num_heads);
    for (int i = 0; i < cfg->num_layers; i++) put_block(c, "encoder", i, &m->enc[i], cfg, 0);
    for (int i = 0; i < cfg->num_decoder_layers; i++) put_block(c, "decoder", i, &m->dec[i], cfg, 1);
    put(c, "encoder.final_layer_norm.weight", m->enc_final_ln, 0, d);
    put(c, "decoder.final_layer_norm.weight", m->dec_final_ln, 0, d);
    return c->st;
}

/* Writes DIR/model.safetensors then DIR/config.json, each atomically, creating DIR if needed.
 * Called only when everything is validated and built: a failure before here writes nothing. */
static t5pt_status write_model_dir(const char *out, st_writer *w, const char *config_text, size_t config_len) {
    if (mkdir(out, 0777) != 0 && errno != EEXIST)
        return t5pt_set_error(T5PT_ERR_IO, "%s: cannot create directory: %s", out, strerror(errno));
    char *cpath = t5pt_path_join(out, "config.json"), *mpath = t5pt_path_join(out, "model.safetensors");
    t5pt_status st = !cpath || !mpath ? t5pt_set_error(T5PT_ERR_NOMEM, "out of memory") : T5PT_OK;
    /* weights first: config.json, which makes the directory a model, is replaced last */
    if (st == T5PT_OK) st = t5pt_st_writer_save(w, mpath, "{\"format\":\"pt\"}");
    if (st == T5PT_OK) st = t5pt_write_file_atomic(cpath, config_text, config_len);
    free(cpath);
    free(mpath);
    return st;
}

int cli_init_model(int argc, char **argv) {
    struct {
        const char *config, *out, *dtype;
        uint64_t seed;
    } a = {.dtype = "f32", .seed = 0};
    const cli_option opts[] = {
        {.name = "config", .kind = CLI_STR, .target = &a.config, .metavar = "CONFIG.json", .help = "a Hugging Face T5 config.json", .flags = CLI_REQUIRED},
        {.name = "out", .kind = CLI_STR, .target = &a.out, .metavar = "DIR", .help = "model directory to write (created if missing)", .flags = CLI_REQUIRED},
        {.name = "seed", .kind = CLI_U64, .target = &a.seed, .metavar = "N", .help = "seed of the random weights"},
        {.name = "dtype", .kind = CLI_STR, .target = &a.dtype, .metavar = "f32|bf16", .help = "weight type in model.safetensors (bf16: half the size,\n"
                                                 "rounded to nearest even)", .choices = "f32|bf16"},
        {0}};
    const cli_command c = {
        .name = "init-model",
        .usage = "--config CONFIG.json --out DIR [--seed N] [--dtype f32|bf16]",
        .about = "Writes DIR/config.json (a copy of CONFIG) and DIR/model.safetensors with random weights\n"
                 "(t5pt_model_init_random, reproducible from --seed) under the tensor names\n"
                 "T5ForConditionalGeneration uses, so t5pt and Hugging Face transformers both load it.\n"
                 "Nothing is written unless the config is valid and the whole model was built; each\n"
                 "file is replaced atomically (temp file + rename).\n",
        .options = opts,
    };
    int rc = cli_parse(&c, argc, argv);
    if (rc != CLI_PARSED) return rc;
    const char *cmd = "init-model";
    if (cli_check_input_file(cmd, "config", a.config) || cli_check_output_dir(cmd, "out", a.out)) return 1;
    t5pt_config cfg;
    if (t5pt_config_load(&cfg, a.config) != T5PT_OK) return cli_fail_lib(cmd);
    char *text = NULL;
    size_t len;
    t5pt_model *m = NULL;
    writer_ctx w = {t5pt_st_writer_new(), !strcmp(a.dtype, "bf16"), T5PT_OK};
    rc = 1;
    if (!w.w) cli_fail(cmd, "out of memory");
    else if (t5pt_read_file(a.config, &text, &len) != T5PT_OK || t5pt_model_init_random(&m, &cfg, a.seed) != T5PT_OK ||
             collect_tensors(&w, m) != T5PT_OK || write_model_dir(a.out, w.w, text, len) != T5PT_OK)
        cli_fail_lib(cmd);
    else {
        printf("%s: random T5 (seed %llu, %s), %.2fM parameters\n", a.out, (unsigned long long)a.seed, a.dtype,
               t5pt_model_num_params(m) / 1e6);
        rc = 0;
    }
    free(text);
    t5pt_st_writer_free(w.w);
    t5pt_model_free(m);
    return rc;
}
