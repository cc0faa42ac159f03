/* fuzz_model.c — libFuzzer harness for the model loaders.
 *
 * Each input is a model file image: a SentencePiece ModelProto (spiece.model) or, when it
 * starts with '{', a Hugging Face tokenizer.json. Loading must either fail cleanly (a
 * status and a message) or give a tokenizer that encodes and decodes without crashing,
 * whatever the pieces, scores, types and precompiled charsmap contain.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"

static const char *const probes[] = {
    "Hello world", "  Ａ ﬁ\t\xe3\x80\x80x  ", "\xff\xfe<extra_id_0> abc<extra_id_99>", "a\0b", "\xe2\x96\x81\xe2\x96",
};

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    char *copy = malloc(size ? size : 1);   /* exactly sized: overreads are caught */
    if (!copy) return 0;
    memcpy(copy, data, size);
    t5pt_tokenizer *tok;
    if (t5pt_tok_load_memory(&tok, copy, size, "fuzz") == T5PT_OK) {
        int V = t5pt_tokenizer_vocab_size(tok);
        for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
            int32_t *ids;
            int n;
            size_t len = i == 3 ? 3 : strlen(probes[i]);
            if (t5pt_tokenizer_encode(tok, probes[i], len, 1, &ids, &n) == T5PT_OK) {
                for (int k = 0; k < n; k++)
                    if (ids[k] < 0 || ids[k] >= V) abort();
                char *text;
                if (t5pt_tokenizer_decode(tok, ids, n, &text) != T5PT_OK) abort();
                free(text);
                free(ids);
            }
        }
        /* every id decodes */
        for (int32_t id = 0; id < V && id < 4096; id++) {
            char *text;
            if (t5pt_tokenizer_decode(tok, &id, 1, &text) != T5PT_OK) abort();
            free(text);
        }
        t5pt_tokenizer_free(tok);
    }
    free(copy);
    return 0;
}
