/* bench_tokenizer.c — single-threaded encoding throughput of the t5pt tokenizer.
 *
 *   bench_tokenizer [--model PATH] [--corpus FILE] [--kind KIND] [--seconds S]
 *
 * Reads the conformance corpus (tests/data/tokenizer/corpus.jsonl: one JSON object per line
 * with "text" or "hex" and a "kind"), keeps the entries of one kind if asked (e.g.
 * english_docstrings), then encodes all of them again and again for at least S seconds
 * (default 3) and prints lines/s and MB/s of input text. Only the encode calls are timed
 * (plus freeing their result). bench_spm.py does the same with the sentencepiece library.
 * Run from the repository root.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/internal.h"
#include "io/json.h"
#include "t5pt.h"

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

int main(int argc, char **argv) {
    const char *model = "assets/t5/spiece.model", *corpus = "tests/data/tokenizer/corpus.jsonl", *kind = NULL;
    double seconds = 3.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--corpus")) corpus = argv[i + 1];
        else if (!strcmp(argv[i], "--kind")) kind = argv[i + 1];
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else {
            fprintf(stderr, "usage: %s [--model PATH] [--corpus FILE] [--kind KIND] [--seconds S]\n", argv[0]);
            return 2;
        }
    }
    t5pt_tokenizer *tok;
    double t0 = t5pt_seconds();
    if (t5pt_tokenizer_load(&tok, model) != T5PT_OK) {
        fprintf(stderr, "%s\n", t5pt_last_error());
        return 1;
    }
    double load_ms = (t5pt_seconds() - t0) * 1e3;

    char *data;
    size_t len;
    if (t5pt_read_file(corpus, &data, &len) != T5PT_OK) {
        fprintf(stderr, "%s\n", t5pt_last_error());
        return 1;
    }
    size_t n = 0, cap = 1024, bytes = 0;
    char **text = malloc(cap * sizeof *text);
    size_t *tlen = malloc(cap * sizeof *tlen);
    for (char *p = data, *end = data + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        char err[128];
        json_doc *doc = t5pt_json_parse(p, (size_t)(nl - p), err, sizeof err);
        p = nl + 1;
        if (!doc) continue;
        const json_value *root = t5pt_json_root(doc);
        const char *k = t5pt_json_get_str(root, "kind");
        const json_value *t = t5pt_json_get(root, "text"), *h = t5pt_json_get(root, "hex");
        if ((!kind || (k && !strcmp(k, kind))) && (t || h)) {
            if (n == cap) {
                cap *= 2;
                text = realloc(text, cap * sizeof *text);
                tlen = realloc(tlen, cap * sizeof *tlen);
            }
            if (t) {
                tlen[n] = t->len;
                text[n] = malloc(t->len + 1);
                memcpy(text[n], t->u.str, t->len);
            } else {
                tlen[n] = h->len / 2;
                text[n] = malloc(tlen[n] + 1);
                for (size_t i = 0; i < tlen[n]; i++)
                    text[n][i] = (char)(hexval(h->u.str[2 * i]) * 16 + hexval(h->u.str[2 * i + 1]));
            }
            bytes += tlen[n];
            n++;
        }
        t5pt_json_free(doc);
    }
    free(data);
    if (n == 0) {
        fprintf(stderr, "no corpus entries%s%s\n", kind ? " of kind " : "", kind ? kind : "");
        return 1;
    }

    /* one warm-up pass, then whole passes until `seconds` have gone by */
    size_t ids_total = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t *ids;
        int k;
        if (t5pt_tokenizer_encode(tok, text[i], tlen[i], 0, &ids, &k) != T5PT_OK) return 1;
        ids_total += (size_t)k;
        free(ids);
    }
    int passes = 0;
    double start = t5pt_seconds(), elapsed;
    do {
        for (size_t i = 0; i < n; i++) {
            int32_t *ids;
            int k;
            t5pt_tokenizer_encode(tok, text[i], tlen[i], 0, &ids, &k);
            free(ids);
        }
        passes++;
        elapsed = t5pt_seconds() - start;
    } while (elapsed < seconds);

    printf("t5pt  encode  kind=%-20s lines=%zu bytes=%zu ids=%zu  load %.1f ms\n", kind ? kind : "all", n, bytes,
           ids_total, load_ms);
    printf("t5pt  encode  %10.0f lines/s  %7.2f MB/s  (%d passes, %.2f s, model %s)\n", passes * (double)n / elapsed,
           passes * (double)bytes / elapsed / 1e6, passes, elapsed, model);
    for (size_t i = 0; i < n; i++) free(text[i]);
    free(text);
    free(tlen);
    t5pt_tokenizer_free(tok);
    return 0;
}
