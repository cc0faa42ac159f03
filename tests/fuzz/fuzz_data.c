/* fuzz_data.c — libFuzzer harness for dataset files (t5pt_dataset_load in src/train/data.c):
 * JSONL and TSV lines, through the real loader and the real T5 tokenizer.
 *
 * Input byte 0 picks the options, the rest is the file:
 *   bits 0-1  file name: data.jsonl, data.tsv, data.txt, data (format from the first byte)
 *   bit 2     target optional (the generate command's mode)
 *   bits 3-4  max source length 0 (no limit), 2, 5, 16
 *   bits 5-6  max target length 0, 2, 3, 8
 *   bit 7     field names "text"/"label" instead of "input"/"target"
 * A dataset that loads must hold, for every example: valid UTF-8 texts without NUL, ids in
 * the vocabulary ending with </s>, lengths within the limits, a target unless optional;
 * and a padded batch of its rows. Failures must name the file.
 * The tokenizer is loaded once from T5PT_FUZZ_DIR (default assets/t5, from the repository root).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/data.h"
#include "tests/fuzz/fuzz_util.h"

static t5pt_tokenizer *tok;

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_data: %s\n", what);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("T5PT_FUZZ_DIR") ? getenv("T5PT_FUZZ_DIR") : "assets/t5";
    char path[4096];
    snprintf(path, sizeof path, "%s/spiece.model", dir);
    if (t5pt_tokenizer_load(&tok, path) != T5PT_OK) {
        fprintf(stderr, "fuzz_data: %s\n", t5pt_last_error());
        abort();
    }
    return 0;
}

static void check_ids(const int32_t *ids, int n, int max) {
    check(n >= 1 && ids[n - 1] == 1, "token ids do not end with </s>");
    check(max == 0 || n <= max, "token ids longer than the limit");
    for (int i = 0; i < n; i++) check(ids[i] >= 0 && ids[i] < t5pt_tokenizer_vocab_size(tok), "id outside the vocabulary");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[] = {"data.jsonl", "data.tsv", "data.txt", "data"};
    static const int src_max[] = {0, 2, 5, 16}, tgt_max[] = {0, 2, 3, 8};
    if (size < 1) return 0;
    unsigned o = data[0];
    t5pt_data_options opt;
    t5pt_data_options_default(&opt);
    opt.target_optional = (o >> 2) & 1;
    opt.max_src_len = src_max[(o >> 3) & 3];
    opt.max_tgt_len = tgt_max[(o >> 5) & 3];
    if (o & 0x80) {
        opt.input_field = "text";
        opt.target_field = "label";
    }
    fz_write(names[o & 3], data + 1, size - 1);
    const char *path = fz_path(names[o & 3]);
    t5pt_dataset *d;
    if (t5pt_dataset_load(&d, path, tok, &opt) != T5PT_OK) {
        check(strncmp(t5pt_last_error(), path, strlen(path)) == 0, "error does not name the file");
        return 0;
    }
    check(d->n >= 1, "a dataset without examples loaded");
    int *idx = malloc((size_t)d->n * sizeof *idx);
    if (!idx) abort();
    for (int i = 0; i < d->n; i++) {
        const t5pt_example *e = &d->ex[i];
        check(e->line >= 1 && (i == 0 || e->line > d->ex[i - 1].line), "line numbers out of order");
        check(t5pt_utf8_invalid_at(e->input, strlen(e->input)) < 0, "input is not valid UTF-8");
        check_ids(e->src, e->src_len, opt.max_src_len);
        check(e->src_len <= d->max_src, "max_src is not the longest input");
        if (e->target) {
            check(t5pt_utf8_invalid_at(e->target, strlen(e->target)) < 0, "target is not valid UTF-8");
            check_ids(e->tgt, e->tgt_len, opt.max_tgt_len);
            check(e->tgt_len <= d->max_tgt, "max_tgt is not the longest target");
        } else {
            check(opt.target_optional && e->tgt_len == 0, "an example without a target");
        }
        idx[i] = d->n - 1 - i;
    }
    t5pt_batch_buf bb = {0};
    int rows = d->n < 16 ? d->n : 16;
    check(t5pt_batch_build(&bb, d, idx, rows, 1) == T5PT_OK, "batch_build failed");
    check(bb.view.B == rows && bb.view.T >= 1 && bb.view.T <= d->max_src, "batch has the wrong shape");
    t5pt_batch_buf_free(&bb);
    free(idx);
    t5pt_dataset_free(d);
    return 0;
}
