/* cmd_tokenize.c — `t5pt tokenize`: text lines to ids, or ids to text. */
#include "cli/cli.h"
#include "train/data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One line of text -> its ids on stdout. Invalid UTF-8 is refused as the data loader refuses it. */
static int encode_line(const t5pt_tokenizer *tok, const char *line, size_t n, int eos, int lineno) {
    long bad = t5pt_utf8_invalid_at(line, n);
    if (bad >= 0) return cli_fail("tokenize", "stdin:%d: invalid UTF-8 at byte %ld of the line", lineno, bad + 1);
    int32_t *out;
    int nout;
    if (t5pt_tokenizer_encode(tok, line, n, eos, &out, &nout) != T5PT_OK)
        return cli_fail("tokenize", "stdin:%d: %s", lineno, t5pt_last_error());
    for (int k = 0; k < nout; k++) printf(k ? " %d" : "%d", out[k]);
    putchar('\n');
    free(out);
    return 0;
}

/* One line of ids (space, tab or comma separated) -> text on stdout. */
static int decode_line(const t5pt_tokenizer *tok, const char *line, int lineno, int32_t **ids, size_t *cap) {
    const int V = t5pt_tokenizer_vocab_size(tok);
    size_t cnt = 0;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long id = strtol(p, &end, 10);
        if (end == p || errno || id < 0 || id >= V || (*end && !strchr(" \t,", *end)))
            return cli_fail("tokenize", "stdin:%d: '%.*s' is not a token id (0..%d)", lineno, (int)strcspn(p, " \t,"), p,
                            V - 1);
        if (cnt == *cap) {
            size_t ncap = *cap ? 2 * *cap : 64;
            int32_t *ni = realloc(*ids, ncap * sizeof *ni);
            if (!ni) return cli_fail("tokenize", "out of memory");
            *ids = ni;
            *cap = ncap;
        }
        (*ids)[cnt++] = (int32_t)id;
        p = end;
    }
    char *text;
    if (t5pt_tokenizer_decode(tok, *ids, (int)cnt, &text) != T5PT_OK)
        return cli_fail("tokenize", "stdin:%d: %s", lineno, t5pt_last_error());
    printf("%s\n", text);
    free(text);
    return 0;
}

int cli_tokenize(int argc, char **argv) {
    struct {
        const char *model, *tokenizer;
        int eos, decode;
    } a = {0};
    const cli_option opts[] = {
        {.name = "model", .kind = CLI_STR, .target = &a.model, .metavar = "DIR", .help = "use the tokenizer of this model directory"},
        CLI_OPT_TOKENIZER(&a.tokenizer),
        {.name = "eos", .kind = CLI_FLAG, .target = &a.eos, .help = "append </s> (id 1), as T5 inputs and targets end"},
        {.name = "decode", .kind = CLI_FLAG, .target = &a.decode, .help = "the reverse: read lines of ids, write text (control tokens dropped)"},
        {0}};
    const cli_command c = {
        .name = "tokenize",
        .usage = "[--model DIR | --tokenizer FILE] [--eos] [--decode] < lines",
        .about = "Reads UTF-8 text lines on stdin and writes one line of space-separated token ids per\n"
                 "input line (the T5 SentencePiece unigram vocabulary; <extra_id_N> sentinels recognised).\n"
                 "A line that is not valid UTF-8 is an error naming the line, as in training data.\n",
        .options = opts,
        .loads_tokenizer = 1,
    };
    int rc = cli_parse(&c, argc, argv);
    if (rc != CLI_PARSED) return rc;
    if (a.model && cli_check_input_dir("tokenize", "model", a.model)) return 1;
    if (a.tokenizer && cli_check_input_any("tokenize", "tokenizer", a.tokenizer)) return 1;
    t5pt_tokenizer *tok;
    if (cli_load_tokenizer("tokenize", a.model, a.tokenizer, &tok) != T5PT_OK) return cli_fail_lib("tokenize");
    char *line = NULL;
    size_t cap = 0, idcap = 0;
    int32_t *ids = NULL;
    long n;
    int lineno = 0;
    rc = 0;
    while (rc == 0 && (n = cli_getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        rc = a.decode ? decode_line(tok, line, lineno, &ids, &idcap) : encode_line(tok, line, (size_t)n, a.eos, lineno);
    }
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) rc = cli_fail("tokenize", "writing to stdout failed");
    free(ids);
    free(line);
    t5pt_tokenizer_free(tok);
    return rc;
}
