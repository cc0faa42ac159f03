/* options.h — the one option parser every t5pt command uses.
 *
 * A command declares each option once, in a table: name, value kind, where the value goes,
 * help text, accepted range, default. From that table the parser gives every command
 *   - the same --help (usage, description, the options with their defaults, generated);
 *   - the same errors, one line each, exit status 2:
 *       t5pt train: --lrr: unknown option (did you mean --lr? see t5pt train --help)
 *       t5pt train: --lr: missing value (see t5pt train --help)
 *       t5pt train: --lr -1: expected a number > 0
 *   - both forms --name VALUE and --name=VALUE, and "--" to end the options;
 *   - strict numbers (the whole text, in range, finite, representable as a float);
 *   - repeated options only where the kind says so (CLI_STRS, e.g. eval's --prompt).
 *
 * A command:
 *
 *   static int cli_frob(int argc, char **argv) {
 *       struct { const char *model; int batch; int verbose; } a = {.batch = 16};
 *       const cli_option opts[] = {
 *           {"model", CLI_STR, &a.model, "DIR", "Hugging Face T5 directory", .flags = CLI_REQUIRED},
 *           {"batch", CLI_INT, &a.batch, "N", "examples per batch", .min = 1, .max = 65536},
 *           {"verbose", CLI_FLAG, &a.verbose, NULL, "say more"},
 *           {0}};
 *       const cli_command c = {"frob", "--model DIR [options]", "Frobs a model.", opts};
 *       int rc = cli_parse(&c, argc, argv);
 *       if (rc != CLI_PARSED) return rc;       // --help (0) or a bad command line (2)
 *       ...
 *   }
 *
 * The default shown by --help is the target's value before parsing (so it cannot drift from
 * the code), unless .dflt gives a text (a default that depends on other options).
 */
#ifndef T5PT_CLI_OPTIONS_H
#define T5PT_CLI_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
    CLI_FLAG,     /* int *: set to 1; takes no value */
    CLI_STR,      /* const char **: the text (points into argv) */
    CLI_STRS,     /* cli_strs *: repeatable; every value in order */
    CLI_INT,      /* int *: decimal integer in [min, max] */
    CLI_U64,      /* uint64_t *: non-negative decimal integer */
    CLI_FLOAT,    /* float *: finite number in [min, max] (or an open end with the flags below) */
    CLI_SECTION   /* not an option: a heading in --help (the help text) */
} cli_kind;

/* Values of a repeatable option; .v is malloc'd by the parser (free with cli_strs_free). */
typedef struct {
    const char **v;
    int n;
} cli_strs;
void cli_strs_free(cli_strs *s);

enum {
    CLI_REQUIRED = 1,         /* the command cannot run without it */
    CLI_MIN_EXCLUSIVE = 2,    /* numbers: value > min (not >=) */
    CLI_MAX_EXCLUSIVE = 4,    /* numbers: value < max (not <=) */
};

typedef struct {
    const char *name;         /* without "--"; NULL ends the table */
    cli_kind kind;
    void *target;
    const char *metavar;      /* "N", "FILE", ... in --help and in errors */
    const char *help;         /* one or more lines ('\n' separated) */
    const char *dflt;         /* default shown by --help: NULL = the target's value (if any), "" = none */
    double min, max;          /* CLI_INT / CLI_FLOAT range [min, max]; numbers are >= 0 unless min is
                                 negative, and max 0 means no upper bound (INT_MAX, FLT_MAX) */
    unsigned flags;           /* CLI_REQUIRED, CLI_MIN_EXCLUSIVE, CLI_MAX_EXCLUSIVE */
    const char *choices;      /* CLI_STR: "a|b|c", the only values accepted (NULL: any) */
    int *given;               /* optional: set to 1 when the option appears on the command line */
} cli_option;

/* A heading line in --help between groups of options. */
#define CLI_HEADING(text) {.name = "", .kind = CLI_SECTION, .help = (text)}

typedef struct {
    const char *name;         /* "train", "bench gemm" */
    const char *usage;        /* after "usage: t5pt <name> " */
    const char *about;        /* paragraph(s) printed before the options (may be NULL) */
    const cli_option *options;
    const char *epilog;       /* printed after the options (may be NULL) */
    cli_strs *args;           /* positional arguments go here; NULL: the command takes none */
    int loads_tokenizer;      /* 1: --help ends with where the tokenizer is looked for */
} cli_command;

#define CLI_PARSED (-1)

/* Parses argv[1..argc) (argv[0] is the command name) into the option targets. Returns
 * CLI_PARSED, or the exit status the command should return: 0 after printing --help,
 * 2 after printing a one-line error to stderr. */
int cli_parse(const cli_command *c, int argc, char **argv);

/* Prints the generated --help of c to f. */
void cli_print_help(const cli_command *c, FILE *f);

/* "t5pt <cmd>: <message> (see t5pt <cmd> --help)" on stderr; returns 2 (a bad command line). */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
