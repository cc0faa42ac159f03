/* fuzz_model_dir.c — libFuzzer harness for a whole Hugging Face model directory loaded by
 * t5pt_model_load (src/model/model.c): config.json + model.safetensors, or
 * model.safetensors.index.json + shards.
 *
 * One input holds the directory, its files separated by FZ_SEPARATOR (fuzz_util.h):
 *   part 0        config.json
 *   part 1        model.safetensors, or (when it starts with '{') model.safetensors.index.json
 *   parts 2..     with an index: the shards, written as model-0000K-of-0000N.safetensors
 * A model that loads must hold only finite weights (fuzz_common_model.h); a failure must
 * leave a message.
 */
#include <string.h>

#include "tests/fuzz/fuzz_common_model.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *part[FZ_MAX_PARTS];
    size_t len[FZ_MAX_PARTS];
    int n = fz_split(data, size, part, len, FZ_MAX_PARTS);
    fz_clear();
    fz_write("config.json", part[0], len[0]);
    if (n > 1) {
        int index = len[1] && part[1][0] == '{';
        fz_write(index ? "model.safetensors.index.json" : "model.safetensors", part[1], len[1]);
        for (int k = 2; index && k < n; k++) {
            char name[64];
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k - 1, n - 2);
            fz_write(name, part[k], len[k]);
        }
    }
    t5pt_model *m;
    if (t5pt_model_load(&m, fz_dir()) == T5PT_OK) {
        fz_check_finite(m);
        t5pt_model_free(m);
    } else if (!t5pt_last_error()[0]) {
        fprintf(stderr, "fuzz_model_dir: failure without a message\n");
        abort();
    }
    return 0;
}
