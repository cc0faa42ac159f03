/* cmd_tokenize.c — `t5pt tokenize`: text lines to ids, or ids to text. */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: t5pt tokenize (--model DIR | --tokenizer FILE) [--eos] [--decode] < lines\n"
    "\n"
    "Reads UTF-8 text lines on stdin and writes one line of space-separated token ids per\n"
    "input line (the T5 SentencePiece unigram vocabulary; <extra_id_N> sentinels recognised).\n"
    "  --model DIR        use spiece.model or tokenizer.json in DIR (else the shipped assets/t5/spiece.model)\n"
    "  --tokenizer FILE   a spiece.model or tokenizer.json file\n"
    "  --eos              append </s> (id 1), as T5 inputs and targets end\n"
    "  --decode           the reverse: read lines of ids, write text (control tokens dropped)\n";

int cli_tokenize(int argc, char **argv) {
    const char *model = NULL, *tpath = NULL, *v;
    int eos = 0, decode = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(help, stdout); return 0; }
        if (!strcmp(argv[i], "--eos")) eos = 1;
        else if (!strcmp(argv[i], "--decode")) decode = 1;
        else if (cli_opt(argc, argv, &i, "model", &v)) { if (!v) return 1; model = v; }
        else if (cli_opt(argc, argv, &i, "tokenizer", &v)) { if (!v) return 1; tpath = v; }
        else return cli_fail("tokenize", "unknown option '%s' (see t5pt tokenize --help)", argv[i]);
    }
    if (!model && !tpath) return cli_fail("tokenize", "give --model DIR or --tokenizer FILE");
    t5pt_tokenizer *tok;
    if (cli_load_tokenizer("tokenize", model, tpath, &tok) != T5PT_OK) return cli_fail_lib("tokenize");
    char *line = NULL;
    size_t cap = 0;
    long n;
    int rc = 0, lineno = 0;
    int32_t *ids = NULL;
    size_t idcap = 0;
    while (rc == 0 && (n = cli_getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (!decode) {
            int32_t *out;
            int nout;
            if (t5pt_tokenizer_encode(tok, line, (size_t)n, eos, &out, &nout) != T5PT_OK) {
                rc = cli_fail("tokenize", "stdin:%d: %s", lineno, t5pt_last_error());
                break;
            }
            for (int k = 0; k < nout; k++) printf(k ? " %d" : "%d", out[k]);
            putchar('\n');
            free(out);
        } else {
            size_t cnt = 0;
            char *p = line;
            for (;;) {
                while (*p == ' ' || *p == '\t' || *p == ',') p++;
                if (!*p) break;
                char *end;
                errno = 0;
                long id = strtol(p, &end, 10);
                if (end == p || errno || id < 0 || id >= t5pt_tokenizer_vocab_size(tok)) {
                    rc = cli_fail("tokenize", "stdin:%d: '%.*s' is not a token id (0..%d)", lineno, (int)strcspn(p, " \t,"),
                                  p, t5pt_tokenizer_vocab_size(tok) - 1);
                    break;
                }
                if (cnt == idcap) {
                    idcap = idcap ? 2 * idcap : 64;
                    int32_t *ni = realloc(ids, idcap * sizeof *ni);
                    if (!ni) { rc = cli_fail("tokenize", "out of memory"); break; }
                    ids = ni;
                }
                ids[cnt++] = (int32_t)id;
                p = end;
            }
            if (rc) break;
            char *text;
            if (t5pt_tokenizer_decode(tok, ids, (int)cnt, &text) != T5PT_OK) {
                rc = cli_fail("tokenize", "stdin:%d: %s", lineno, t5pt_last_error());
                break;
            }
            printf("%s\n", text);
            free(text);
        }
    }
    free(ids);
    free(line);
    t5pt_tokenizer_free(tok);
    return rc;
}
