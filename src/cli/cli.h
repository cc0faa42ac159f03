/* cli.h — the t5pt command's subcommands and the helpers they share.
 *
 * Each subcommand is int cli_<name>(int argc, char **argv) with argv[0] = the
 * subcommand name; it returns the process exit status. Errors are one line on
 * stderr: "t5pt <cmd>: <file>:<line>: problem". Only this layer prints.
 */
#ifndef T5PT_CLI_H
#define T5PT_CLI_H

#include <signal.h>
#include <stdio.h>
#include "t5pt.h"
#include "cli/options.h"

int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_generate(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_dump(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_init_model(int argc, char **argv);
int cli_bench(int argc, char **argv);   /* src/cli/cmd_bench.c (SIMD engineer) */
int cli_trace(int argc, char **argv);   /* teaching: src/cli/cmd_trace.c */
int cli_neighbors(int argc, char **argv);
int cli_plot(int argc, char **argv);
/* The figure of `t5pt plot` from n metrics logs into out (atomic); also `train --plot`. */
t5pt_status cli_plot_metrics(const char *const *paths, int n, const char *out);
int cli_sweep(int argc, char **argv);

/* ---- option rows several commands share (one wording, one range) */
#define CLI_OPT_MODEL(dst)                                                                                          \
    {.name = "model", .kind = CLI_STR, .target = (dst), .metavar = "DIR",                                           \
     .help = "Hugging Face T5 directory (config.json, model.safetensors or shards)", .flags = CLI_REQUIRED}
#define CLI_OPT_TOKENIZER(dst)                                                                                      \
    {.name = "tokenizer", .kind = CLI_STR, .target = (dst), .metavar = "FILE",                                      \
     .help = "spiece.model or tokenizer.json (default: see 'tokenizer' below)", .dflt = ""}
#define CLI_OPT_THREADS(dst)                                                                                        \
    {.name = "threads", .kind = CLI_INT, .target = (dst), .metavar = "N",                                           \
     .help = "exactly N OpenMP threads", .min = 1, .max = CLI_MAX_THREADS,                                          \
     .dflt = "OMP_NUM_THREADS, else every core, fewer while other programs keep cores busy"}
#define CLI_OPT_PLACEMENT(dst, given_flag)                                                                          \
    {.name = "placement", .kind = CLI_STR, .target = (dst), .metavar = "P",                                         \
     .help = "prepend | append | at:K (before input token K): as the prompt was trained", .given = (given_flag),     \
     .dflt = "the placement the prompt recorded, else prepend"}
#define CLI_OPT_MAX_SRC_LEN(dst)                                                                                    \
    {.name = "max-src-len", .kind = CLI_INT, .target = (dst), .metavar = "N",                                       \
     .help = "truncate inputs to N tokens incl. </s> (the count is reported)", .dflt = "no limit", .min = 2,       \
     .max = 1 << 24}
#define CLI_OPT_PRECISION(dst)                                                                                      \
    {.name = "precision", .kind = CLI_STR, .target = (dst), .metavar = "P", .choices = "fp32|bf16",                 \
     .help = "precision of every matrix product: fp32, or bf16 (inputs rounded to bfloat16, sums in\n"             \
             "fp32; norms, softmax, loss, optimizer and prompt stay fp32; 't5pt info' says if native)",           \
     .dflt = "fp32"}
#define CLI_OPT_INPUT_FIELD(dst) \
    {.name = "input-field", .kind = CLI_STR, .target = (dst), .metavar = "NAME", .help = "JSONL key of the input"}
#define CLI_OPT_TARGET_FIELD(dst) \
    {.name = "target-field", .kind = CLI_STR, .target = (dst), .metavar = "NAME", .help = "JSONL key of the target"}

/* ---- helpers (src/cli/common.c) */

/* Sets m's compute precision from a --precision value (NULL: fp32). 0, or the exit status
 * after a one-line error. */
int cli_set_precision(const char *cmd, t5pt_model *m, const char *text);

/* Prints "t5pt <cmd>: <message>" to stderr; returns 1 (the exit status to use). */
int cli_fail(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Same with the library's last error message. */
int cli_fail_lib(const char *cmd);

/* Paths given on the command line, checked before anything is loaded or written, so a
 * typo fails at once with "t5pt <cmd>: --flag PATH: problem" (status 1). Non-regular files
 * (FIFOs, devices, sockets) are refused as inputs: reading one could hang or never end. */
int cli_check_input_file(const char *cmd, const char *flag, const char *path);   /* a regular file */
int cli_check_input_dir(const char *cmd, const char *flag, const char *path);    /* a directory */
int cli_check_input_any(const char *cmd, const char *flag, const char *path);    /* a regular file or a directory */
/* An output file: an existing file (or device, e.g. /dev/null) must be writable, else its
 * directory must exist and be writable. Nothing is created. */
int cli_check_output_file(const char *cmd, const char *flag, const char *path);
/* An output that is one of the command's input files (the same file under any name) would
 * destroy that input: 0, or 1 after naming both flags. */
int cli_check_distinct(const char *cmd, const char *out_flag, const char *out_path, const char *in_flag,
                       const char *in_path);
/* An output directory: an existing one must be a writable directory, else its parent must be. */
int cli_check_output_dir(const char *cmd, const char *flag, const char *path);

/* Loads the tokenizer: --tokenizer FILE if given, else spiece.model / tokenizer.json in the
 * model directory, else the copy shipped with t5pt (with a notice on stderr); the order is
 * the one cli_print_tokenizer_lookup prints. */
t5pt_status cli_load_tokenizer(const char *cmd, const char *model_dir, const char *tokenizer_path,
                               t5pt_tokenizer **tok);

/* --labels a,b,c: the label words (no empty or repeated word). 0, or 2 after a usage error. */
int cli_parse_labels(const char *cmd, const char *arg, char ***labels, int *count);
/* Splits "a,b,c" into a malloc'd array of malloc'd strings (backslash escapes a comma). */
char **cli_split_labels(const char *s, int *count);
void cli_free_strings(char **v, int n);

/* A batch file (safetensors: input_ids [B,T], optional attention_mask [B,T], labels [B,L],
 * int32 or int64), checked against itself: 0, or 1 after naming the problem. */
typedef struct {
    int32_t *ids, *mask, *labels;
    t5pt_batch view;
} cli_batch_tensors;
int cli_read_batch(const char *cmd, const char *path, cli_batch_tensors *b);
void cli_batch_tensors_free(cli_batch_tensors *b);

/* SIGINT/SIGTERM: the first sets the flag cli_stop_flag() points at (the training loop
 * checkpoints and stops), a second ends the process at once. */
void cli_catch_stop_signals(void);
volatile sig_atomic_t *cli_stop_flag(void);

/* Reads one line from f into a growing buffer (without the newline); -1 at EOF. */
long cli_getline(char **buf, size_t *cap, FILE *f);

/* Optimizer settings checked by creating a 1 x 1 optimizer (no model needed): 0, or 2 after a usage error. */
int cli_check_optim(const char *cmd, const t5pt_optim_config *oc);
/* --placement TEXT: 0, or 2 after a usage error. */
int cli_parse_placement(const char *cmd, const char *text, t5pt_placement *pl);

/* Loads --prompt PATH (PEFT directory, .safetensors, .npy) with what it records
 * (t5pt_prompt_load_ex) and refuses, in one line, a width that is not the d_model of the model in
 * model_dir. A bare prompt file read whole (no adapter_config.json beside it) is said on stderr
 * with its row count. 0, or 1 after the error. */
int cli_load_prompt(const char *cmd, const char *path, const char *model_dir, int d_model, float **P, int *n,
                    t5pt_prompt_info *info);
/* The placement for prompts[0..count) trained with the placements they recorded: --placement when
 * the user gave it (given; a note on stderr for each prompt that recorded another), else the one
 * they recorded (said on stderr when it is not prepend); prompts that recorded different ones
 * need --placement. *pl must hold the parsed --placement (or its default) on entry. 0, or 2. */
int cli_resolve_placement(const char *cmd, int given, const char *const *paths, const t5pt_prompt_info *infos,
                          int count, t5pt_placement *pl);

/* Where the tokenizer is looked for, as --help prints it (from the same table the lookup uses). */
void cli_print_tokenizer_lookup(FILE *f);

/* More threads than this are refused (--threads, OMP_NUM_THREADS): libgomp overflows its
 * stack creating a team of ~100000, and no machine t5pt runs on has that many cores. */
#define CLI_MAX_THREADS 1024
/* Sets the thread count from "--threads": n > 0 uses exactly n threads, as does
 * OMP_NUM_THREADS when n is 0; otherwise every core, with the adaptive policy
 * (include/t5pt.h: fewer threads while other programs keep cores busy). */
void cli_set_threads(int n);
/* Checks OMP_NUM_THREADS (the first number of its list) against CLI_MAX_THREADS: 0 or 2 after an error. */
int cli_check_thread_env(void);

#endif
