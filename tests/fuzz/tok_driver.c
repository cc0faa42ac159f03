/* tok_driver.c — line-oriented driver used by diff_spm.py (not a test by itself).
 *
 *   tok_driver MODEL encode   < hex lines   -> one line of ids per input line
 *   tok_driver MODEL decode   < id lines    -> one line of hex(decoded text) per input line
 * Errors print "ERR <message>" on that line.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t5pt.h"

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL encode|decode\n", argv[0]);
        return 2;
    }
    t5pt_tokenizer *t;
    if (t5pt_tokenizer_load(&t, argv[1]) != T5PT_OK) {
        fprintf(stderr, "%s\n", t5pt_last_error());
        return 1;
    }
    int decode = strcmp(argv[2], "decode") == 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n') line[--n] = 0;
        if (decode) {
            int32_t *ids = malloc(((size_t)n / 2 + 1) * sizeof *ids);
            int k = 0;
            char *p = line;
            while (*p) {
                ids[k++] = (int32_t)strtol(p, &p, 10);
                while (*p == ' ') p++;
            }
            char *s;
            if (t5pt_tokenizer_decode(t, ids, k, &s) != T5PT_OK) {
                printf("ERR %s\n", t5pt_last_error());
            } else {
                for (char *q = s; *q; q++) printf("%02x", (unsigned char)*q);
                printf("\n");
                free(s);
            }
            free(ids);
            continue;
        }
        size_t len = (size_t)n / 2;
        char *buf = malloc(len + 1);
        for (size_t i = 0; i < len; i++) buf[i] = (char)(hexval(line[2 * i]) * 16 + hexval(line[2 * i + 1]));
        int32_t *ids;
        int k;
        if (t5pt_tokenizer_encode(t, buf, len, 0, &ids, &k) != T5PT_OK) {
            printf("ERR %s\n", t5pt_last_error());
        } else {
            for (int i = 0; i < k; i++) printf(i ? " %d" : "%d", ids[i]);
            printf("\n");
            free(ids);
        }
        free(buf);
    }
    free(line);
    t5pt_tokenizer_free(t);
    return 0;
}
