/* example.c — a program built against an installed libt5pt (see README.md here).
 *
 * Loads a Hugging Face T5 directory (the shipped examples/tiny-t5), tokenizes one
 * training pair with the T5 tokenizer that `make install` put in share/t5pt, places an
 * 8-token soft prompt before the input, prints the loss, then takes 10 Adafactor steps on
 * the prompt alone (the model stays frozen) and prints the loss again.
 *
 *   usage: t5pt-example MODEL_DIR [TOKENIZER]    (TOKENIZER: spiece.model or its directory)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <t5pt.h>

#ifndef T5PT_DATADIR            /* pkg-config --variable=datadir t5pt (the example's Makefile) */
#define T5PT_DATADIR "/usr/local/share/t5pt"
#endif

static int fail(const char *what) {
    fprintf(stderr, "t5pt-example: %s: %s\n", what, t5pt_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s MODEL_DIR [TOKENIZER]\n", argv[0]);
        return 2;
    }
    const char *tok_path = argc == 3 ? argv[2] : T5PT_DATADIR "/t5";
    printf("header %s, library %s, SIMD path %s\n", T5PT_VERSION, t5pt_version(), t5pt_simd_path());

    t5pt_model *m = NULL;
    t5pt_tokenizer *tok = NULL;
    if (t5pt_model_load(&m, argv[1]) != T5PT_OK) return fail("model");
    if (t5pt_tokenizer_load(&tok, tok_path) != T5PT_OK) return fail("tokenizer");
    const int d = t5pt_model_config(m)->d_model;

    /* one example: input ids and label ids, each ending with </s> */
    const char *input = "review: the soup was dreadful.", *target = "negative";
    int32_t *ids = NULL, *labels = NULL;
    int T = 0, L = 0;
    if (t5pt_tokenizer_encode(tok, input, strlen(input), 1, &ids, &T) != T5PT_OK ||
        t5pt_tokenizer_encode(tok, target, strlen(target), 1, &labels, &L) != T5PT_OK)
        return fail("encode");
    t5pt_batch batch = {.B = 1, .T = T, .L = L, .input_ids = ids, .attention_mask = NULL, .labels = labels};

    /* the soft prompt: n rows of d_model numbers, started from embeddings of common pieces */
    const int n = 8;
    float *P = malloc(sizeof(float) * (size_t)n * (size_t)d);
    t5pt_init_config ic = {.kind = T5PT_INIT_SAMPLED_VOCAB, .seed = 1};
    if (!P || t5pt_prompt_init(P, n, m, &ic) != T5PT_OK) return fail("prompt init");
    t5pt_placement pl;
    t5pt_placement_parse(&pl, "prepend");

    t5pt_ctx *c = NULL;
    float loss = 0.0f;
    if (t5pt_ctx_create(&c, m, 1, T, L, n) != T5PT_OK) return fail("context");
    if (t5pt_forward(c, P, n, pl, &batch, &loss) != T5PT_OK) return fail("forward");
    printf("input %d tokens, target %d tokens, prompt %d x %d\n", T, L, n, d);
    printf("loss with the initial prompt: %.6f\n", (double)loss);

    t5pt_optim_config oc;
    t5pt_optim_config_default(&oc, T5PT_OPT_ADAFACTOR);   /* lr 0.3, the paper's setting */
    t5pt_optim *o = NULL;
    if (t5pt_optim_create(&o, &oc, n, d) != T5PT_OK) return fail("optimizer");
    for (int step = 0; step < 10; step++)
        if (t5pt_train_step(c, o, P, n, pl, &batch, &loss) != T5PT_OK) return fail("train step");
    if (t5pt_forward(c, P, n, pl, &batch, &loss) != T5PT_OK) return fail("forward");
    printf("loss after 10 Adafactor steps on the prompt: %.6f\n", (double)loss);

    t5pt_optim_free(o);
    t5pt_ctx_free(c);
    free(P);
    free(ids);
    free(labels);
    t5pt_tokenizer_free(tok);
    t5pt_model_free(m);
    return 0;
}
