/* fuzz_checkpoint.c — libFuzzer harness for training checkpoints (checkpoint.safetensors,
 * read by t5pt_checkpoint_read in src/train/train.c, the code behind train --resume).
 *
 * Each input is a checkpoint file. A resume only reads a checkpoint made by the same run, so
 * the run's shape (prompt rows and width, training examples, --batch, --seed, --optim) is
 * taken from the file's own "state" and "optim_state" tensors when they are sane; otherwise
 * a fixed run [4, 64] x 8 examples is assumed. The file is then read as --resume does. A
 * checkpoint that is accepted must give a finite prompt; failures must name the file.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "train/train.h"
#include "tests/fuzz/fuzz_util.h"

/* positions in the "state" vector (the S_* enum of src/train/train.c) */
enum { ST_N = 9, ST_D = 10, ST_NTRAIN = 11, ST_BATCH = 12, ST_SEED = 13, ST_COUNT = 18 };

typedef struct {
    int n, d, N, batch;
    uint64_t seed;
    t5pt_optim_kind kind;
} run_shape;

static void guess_run(const uint8_t *data, size_t size, run_shape *r) {
    *r = (run_shape){4, 64, 8, 4, 42, T5PT_OPT_ADAFACTOR};
    st_file *f;
    if (t5pt_st_open_memory(&f, data, size, "checkpoint") != T5PT_OK) return;
    const st_tensor *t = t5pt_st_get(f, "state");
    if (t && t->dtype == ST_I64 && t->numel == ST_COUNT) {
        int64_t s[ST_COUNT];
        memcpy(s, t->data, sizeof s);
        int sane = s[ST_N] > 0 && s[ST_D] > 0 && s[ST_N] <= (1 << 16) && s[ST_D] <= (1 << 16) &&
                   s[ST_N] * s[ST_D] <= (1 << 16) && s[ST_NTRAIN] > 0 && s[ST_NTRAIN] <= (1 << 16) && s[ST_BATCH] > 0 &&
                   s[ST_BATCH] <= INT32_MAX;
        if (sane) {
            r->n = (int)s[ST_N];
            r->d = (int)s[ST_D];
            r->N = (int)s[ST_NTRAIN];
            r->batch = (int)s[ST_BATCH];
            r->seed = (uint64_t)s[ST_SEED];
        }
    }
    const st_tensor *os = t5pt_st_get(f, "optim_state");
    for (int k = T5PT_OPT_ADAFACTOR; os && k <= T5PT_OPT_ADAMW; k++) {
        t5pt_optim_config oc;
        t5pt_optim_config_default(&oc, (t5pt_optim_kind)k);
        t5pt_optim *o;
        if (t5pt_optim_create(&o, &oc, r->n, r->d) != T5PT_OK) continue;
        size_t need = t5pt_optim_state_size(o);
        t5pt_optim_free(o);
        if (need == os->numel) {
            r->kind = (t5pt_optim_kind)k;
            break;
        }
    }
    t5pt_st_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = fz_copy(data, size);
    run_shape r;
    guess_run(copy, size, &r);
    free(copy);
    fz_write("checkpoint.safetensors", data, size);
    const char *path = fz_path("checkpoint.safetensors");

    t5pt_train_options o;
    t5pt_train_options_default(&o);
    o.batch = r.batch;
    o.seed = r.seed;
    t5pt_optim_config_default(&o.oc, r.kind);
    t5pt_optim *opt;
    if (t5pt_optim_create(&opt, &o.oc, r.n, r.d) != T5PT_OK) abort();
    float *P = malloc((size_t)r.n * r.d * sizeof *P);
    if (!P) abort();
    if (t5pt_checkpoint_read(path, P, r.n, r.d, r.N, opt, &o) == T5PT_OK) {
        for (size_t k = 0; k < (size_t)r.n * r.d; k++)
            if (!isfinite(P[k])) {
                fprintf(stderr, "fuzz_checkpoint: an accepted checkpoint holds a non-finite prompt value\n");
                abort();
            }
    } else if (strncmp(t5pt_last_error(), path, strlen(path)) != 0) {
        fprintf(stderr, "fuzz_checkpoint: error does not name the file: %s\n", t5pt_last_error());
        abort();
    }
    free(P);
    t5pt_optim_free(opt);
    return 0;
}
