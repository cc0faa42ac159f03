/* fuzz_peft.c — libFuzzer harness for Hugging Face PEFT prompt-tuning adapter directories
 * (t5pt_prompt_load on a directory, src/train/prompt.c).
 *
 * One input holds the directory, its files separated by FZ_SEPARATOR (fuzz_util.h):
 *   part 0  adapter_config.json
 *   part 1  adapter_model.safetensors (absent when the input has one part)
 *   part 2  adapter_model.bin (present only when the input has three parts)
 * A prompt that loads must have a positive shape and finite values, and come back
 * bit-identical from both writers (fuzz_prompt_common.h). Failures must leave a message.
 */
#include "tests/fuzz/fuzz_prompt_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *part[3];
    size_t len[3];
    int n_parts = fz_split(data, size, part, len, 3);
    fz_clear();
    static const char *const names[] = {"adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"};
    for (int k = 0; k < n_parts; k++) fz_write(names[k], part[k], len[k]);
    float *P;
    int n, d;
    if (t5pt_prompt_load(fz_dir(), &P, &n, &d) == T5PT_OK) {
        fz_check_prompt(P, n, d);
        free(P);
    } else {
        fz_check(t5pt_last_error()[0] != 0, "failure without a message");
    }
    return 0;
}
