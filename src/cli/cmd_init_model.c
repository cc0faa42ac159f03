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

typedef struct { st_writer *w; int bf16; } writer_ctx;

/* One tensor of the model (src/model/model.c's table) into the writer, as F32 or BF16. */
static t5pt_status put(void *user, const char *name, const void *data, t5pt_wtype type, int ndim,
                       const int64_t shape[2]) {
    writer_ctx *c = user;
    const float *x = data;   /* a random model is fp32 */
    if (type != T5PT_WF32) return t5pt_set_error(T5PT_ERR_ARG, "init-model: %s is not fp32", name);
    size_t n = (size_t)shape[0] * (size_t)(ndim == 2 ? shape[1] : 1);
    if (!c->bf16) return t5pt_st_writer_add(c->w, name, ST_F32, ndim, shape, x);
    uint16_t *b = malloc((n ? n : 1) * sizeof *b);
    if (!b) return t5pt_set_error(T5PT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) b[i] = f32_to_bf16(x[i]);
    t5pt_status st = t5pt_st_writer_add(c->w, name, ST_BF16, ndim, shape, b);
    free(b);
    return st;
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
    writer_ctx w = {t5pt_st_writer_new(), !strcmp(a.dtype, "bf16")};
    rc = 1;
    if (!w.w) cli_fail(cmd, "out of memory");
    else if (t5pt_read_file(a.config, &text, &len) != T5PT_OK || t5pt_model_init_random(&m, &cfg, a.seed) != T5PT_OK ||
             t5pt_model_tensors(m, put, &w) != T5PT_OK || write_model_dir(a.out, w.w, text, len) != T5PT_OK)
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
