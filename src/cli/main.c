/* main.c — the t5pt command: dispatches to the subcommands in src/cli/cmd_*.c. */
#include "cli/cli.h"

#include <string.h>

static const char usage[] =
    "t5pt " T5PT_VERSION " — soft-prompt tuning for T5 (Lester et al. 2021), in C\n"
    "\n"
    "usage: t5pt <command> [options]        (t5pt <command> --help for its options)\n"
    "\n"
    "commands:\n"
    "  train       tune a soft prompt on a JSONL/TSV text-to-text dataset; writes a PEFT adapter\n"
    "  eval        exact-match accuracy (greedy generation) and rank classification over --labels;\n"
    "              several --prompt give each prompt's accuracy and the majority vote\n"
    "  generate    greedy decoding with a key/value cache, from arguments or stdin lines\n"
    "  tokenize    text lines -> T5 token ids (or ids -> text with --decode)\n"
    "  dump        conformance: logits, loss, encoder output, prompt gradient, optimizer\n"
    "              trajectory of a batch, written as safetensors\n"
    "  info        CPU features, SIMD path in use, thread count\n"
    "  bench       GEMM, micro-kernel peak and training-step benchmarks (make bench adds the tokenizer)\n"
    "  init-model  write a randomly initialised T5 in Hugging Face layout (tests, demos)\n"
    "\n"
    "for learners (docs/gradient-flow.md):\n"
    "  trace       one forward + backward: where the prompt's gradient comes from, layer by layer\n"
    "  neighbors   the vocabulary pieces nearest to each row of a soft prompt\n"
    "  plot        training curves (loss, validation) from train --metrics logs, as SVG\n"
    "\n"
    "  t5pt --version    print the version\n"
    "\n"
    "Exit status: 0 success, 1 failure (one line on stderr: \"t5pt <command>: problem\"),\n"
    "2 bad command line, 3 train interrupted (state saved; --resume continues).\n";

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("t5pt %s (SIMD path %s, %d threads)\n", T5PT_VERSION, t5pt_simd_path(), t5pt_num_threads());
        return 0;
    }
    if (t5pt_simd_env_status() != T5PT_OK) { /* T5PT_SIMD names a path this CPU lacks */
        fprintf(stderr, "t5pt: %s\n", t5pt_last_error());
        return 2;
    }
    if (cli_check_thread_env() != 0) return 2;   /* before any parallel region creates the threads */
    static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        {"train", cli_train},     {"eval", cli_eval}, {"generate", cli_generate}, {"tokenize", cli_tokenize},
        {"dump", cli_dump},       {"info", cli_info}, {"bench", cli_bench},       {"init-model", cli_init_model},
        {"trace", cli_trace},     {"neighbors", cli_neighbors},
        {"plot", cli_plot},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cmd, cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "t5pt: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
