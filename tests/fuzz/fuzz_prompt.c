/* fuzz_prompt.c — libFuzzer harness for prompt files given to --prompt (t5pt_prompt_load in
 * src/train/prompt.c): T5X .npy arrays and bare .safetensors files with "prompt_embeddings".
 *
 * Each input is one file, written without an extension so that the loader picks the format
 * from the content (the \x93NUMPY magic, else safetensors) as it does for any path. A prompt
 * that loads must have a positive shape and finite values, and come back bit-identical from
 * both writers (fuzz_prompt_common.h). Failures must name the file.
 * Regression input: corpus/prompt/uaf-int-dtype-prompt_embeddings (a use-after-free in the
 * dtype error of load_prompt_tensor, found by this harness).
 */
#include "tests/fuzz/fuzz_prompt_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_clear();
    fz_write("prompt", data, size);
    const char *path = fz_path("prompt");
    float *P;
    int n, d;
    if (t5pt_prompt_load(path, &P, &n, &d) == T5PT_OK) {
        fz_check_prompt(P, n, d);
        free(P);
    } else {
        fz_check(strncmp(t5pt_last_error(), path, strlen(path)) == 0, "error does not name the file");
    }
    return 0;
}
