/* fuzz_encode.c — libFuzzer harness for encode/decode on the real T5 vocabulary.
 *
 * Each input is raw text (any bytes). Checks, besides what ASan/UBSan catch:
 *   - encode succeeds, with and without </s>, and every id is in [0, 32100);
 *   - spiece.model and tokenizer.json give the same ids (two loaders, one answer);
 *   - decode of those ids succeeds;
 *   - decode of the input read as arbitrary 16-bit ids either succeeds or is T5PT_ERR_ARG.
 * The model is loaded once; set T5PT_FUZZ_DIR to the directory holding spiece.model and
 * tokenizer.json (default assets/t5, relative to the repository root).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t5pt.h"

static t5pt_tokenizer *spm, *hf;

static t5pt_tokenizer *load(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    t5pt_tokenizer *t;
    if (t5pt_tokenizer_load(&t, path) != T5PT_OK) {
        fprintf(stderr, "fuzz_encode: %s\n", t5pt_last_error());
        abort();
    }
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("T5PT_FUZZ_DIR") ? getenv("T5PT_FUZZ_DIR") : "assets/t5";
    spm = load(dir, "spiece.model");
    hf = load(dir, "tokenizer.json");
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    /* an exactly sized copy, so that reading past `size` is caught */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);
    int eos = size & 1;
    int32_t *a, *b;
    int na, nb;
    if (t5pt_tokenizer_encode(spm, text, size, eos, &a, &na) != T5PT_OK) abort();
    if (t5pt_tokenizer_encode(hf, text, size, eos, &b, &nb) != T5PT_OK) abort();
    if (na != nb || memcmp(a, b, (size_t)na * sizeof *a) != 0) abort();
    for (int i = 0; i < na; i++)
        if (a[i] < 0 || a[i] >= 32100) abort();
    char *out;
    if (t5pt_tokenizer_decode(spm, a, na, &out) != T5PT_OK) abort();
    free(out);
    free(a);
    free(b);

    int n = (int)(size / 2);
    int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (ids) {
        for (int i = 0; i < n; i++) ids[i] = (int32_t)(data[2 * i] | data[2 * i + 1] << 8) % 32200 - 50;
        t5pt_status st = t5pt_tokenizer_decode(hf, ids, n, &out);
        if (st == T5PT_OK) free(out);
        else if (st != T5PT_ERR_ARG) abort();
        free(ids);
    }
    free(text);
    return 0;
}
