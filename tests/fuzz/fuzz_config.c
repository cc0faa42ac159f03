/* fuzz_config.c — libFuzzer harness for config.json -> t5pt_config (t5pt_config_load in
 * src/model/model.c, through the JSON reader).
 *
 * Each input is the text of a config.json, written to a file and loaded as the library
 * does. A config that loads must pass t5pt_config_validate again; when its model is small,
 * a random model is built from it (t5pt_model_init_random), must hold only finite weights,
 * and runs forward and backward once (fuzz_common_model.h). Failures must name the file.
 */
#include <string.h>

#include "tests/fuzz/fuzz_common_model.h"
#include "tests/fuzz/fuzz_util.h"

/* The models are tiny: OpenMP threads would only add their start-up and spin-waits. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    t5pt_set_num_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_write("config.json", data, size);
    const char *path = fz_path("config.json");
    t5pt_config cfg;
    if (t5pt_config_load(&cfg, path) != T5PT_OK) {
        if (strncmp(t5pt_last_error(), path, strlen(path)) != 0) {
            fprintf(stderr, "fuzz_config: error does not name the file: %s\n", t5pt_last_error());
            abort();
        }
        return 0;
    }
    if (t5pt_config_validate(&cfg, path) != T5PT_OK) {
        fprintf(stderr, "fuzz_config: a loaded config fails validation: %s\n", t5pt_last_error());
        abort();
    }
    if (t5pt_config_num_params(&cfg) <= FZ_RUN_MAX_PARAMS) {
        t5pt_model *m;
        if (t5pt_model_init_random(&m, &cfg, 1) != T5PT_OK) {
            fprintf(stderr, "fuzz_config: a valid config gives no model: %s\n", t5pt_last_error());
            abort();
        }
        fz_check_finite(m);
        fz_run_model(m);
        t5pt_model_free(m);
    }
    return 0;
}
