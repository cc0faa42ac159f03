/* cli.h — the t5pt command's subcommands and the helpers they share.
 *
 * Each subcommand is int cli_<name>(int argc, char **argv) with argv[0] = the
 * subcommand name; it returns the process exit status. Errors are one line on
 * stderr: "t5pt <cmd>: <file>:<line>: problem". Only this layer prints.
 */
#ifndef T5PT_CLI_H
#define T5PT_CLI_H

#include <stdio.h>
#include "t5pt.h"

int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_generate(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_dump(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_init_model(int argc, char **argv);
int cli_bench(int argc, char **argv);   /* src/cli/cmd_bench.c (SIMD engineer) */

/* ---- helpers (src/cli/common.c) */

/* Prints "t5pt <cmd>: <message>" to stderr; returns 1 (the exit status to use). */
int cli_fail(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Same with the library's last error message. */
int cli_fail_lib(const char *cmd);

/* Option matching. argv[*i] is "--name VALUE" or "--name=VALUE": returns 1 and sets *val
 * (advancing *i past a separate value), 0 when argv[*i] is another option.
 * A missing value prints an error and sets *val to NULL (returns 1). */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **val);
/* Strict number parsing: 0 on success, else prints "t5pt cmd: --opt: not a number" and returns 1. */
int cli_int(const char *cmd, const char *opt, const char *s, int min, int *out);
int cli_float(const char *cmd, const char *opt, const char *s, float *out);
int cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);

/* Loads the tokenizer: --tokenizer FILE if given, else spiece.model / tokenizer.json in the
 * model directory, else the copy shipped in assets/t5/ (with a notice on stderr). */
t5pt_status cli_load_tokenizer(const char *cmd, const char *model_dir, const char *tokenizer_path,
                               t5pt_tokenizer **tok);

/* Splits "a,b,c" into a malloc'd array of malloc'd strings (backslash escapes a comma). */
char **cli_split_labels(const char *s, int *count);
void cli_free_strings(char **v, int n);

/* Reads one line from f into a growing buffer (without the newline); -1 at EOF. */
long cli_getline(char **buf, size_t *cap, FILE *f);

/* Sets the thread count from "--threads" (0 = leave the default). */
void cli_set_threads(int n);

#endif
