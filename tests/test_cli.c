/* test_cli.c — the t5pt command end to end (runs build/t5pt, built by `make test`).
 *
 *   - every subcommand answers --help with its usage and exit status 0; the one option
 *     parser gives every command the same errors (unknown option with a suggestion, missing
 *     value, repeated option, strict numbers with ranges) and both --flag=value forms;
 *     README's table of train flags lists exactly the flags `train --help` prints;
 *   - `dump` on golden cases writes logits / loss / encoder output / prompt gradient /
 *     optimizer trajectory matching the reference's expected tensors; `dump --precision
 *     bf16` matches the bf16 reference (golden/bf16 flip-free cases);
 *   - `tokenize` round trip with the shipped vocabulary; invalid UTF-8 refused by line;
 *   - `train` on bad data: exit status != 0, one line "t5pt train: FILE:LINE: problem",
 *     and an existing prompt in --out left byte-identical;
 *   - bad command lines and files are refused before the model loads and leave nothing
 *     behind (no --out directory); FIFOs as inputs are refused, never waited on;
 *   - kill -9 twice and --resume ends byte-identical to an uninterrupted run, SIGINT stops
 *     cleanly with status 3 — both triggered by the run's own metrics lines, read from a FIFO
 *     whose small buffer stops the run until the test acts (no sleeps, no timing);
 *   - numerical faults, a full disk, a locked --out, settings changed on --resume;
 *   - generate / eval when greedy decoding picks an id past the tokenizer (empty text);
 *   - init-model writes nothing when it fails;
 *   - `info --paths` / `--path` (used by the Makefile's test-paths).
 */
#define _GNU_SOURCE   /* F_SETPIPE_SZ */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "golden_util.h"
#include "file_util.h"
#include "st_patch.h"
#include "base/internal.h"

START_TEST(test_help) {
    const char *cmds[] = {"train", "eval", "generate", "tokenize", "dump", "info", "init-model", "bench gemm",
                          "bench peak", "bench step", "sweep"};
    char cmd[256], *out;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s --help 2>&1", test_t5pt_bin(), cmds[i]);
        ck_assert_msg(test_run(cmd, &out) == 0, "%s", cmd);
        char want[64];
        snprintf(want, sizeof want, "usage: t5pt %s", cmds[i]);
        ck_assert_msg(strstr(out, want), "%s: no '%s' in:\n%s", cmd, want, out);
        free(out);
    }
    /* bench step measures the peak around each step: the fields are there and positive
     * (their size is for benchmarks, not for tests) */
    snprintf(cmd, sizeof cmd, "%s bench step --model examples/tiny-t5 --batch 1 --src-len 4 --prompt-len 2 "
             "--tgt-len 2 --steps 2 --warmup 0 --threads 1 2>&1", test_t5pt_bin());
    ck_assert_msg(test_run(cmd, &out) == 0, "%s\n%s", cmd, out);
    const char *pk = strstr(out, " peak_gflops="), *sh = strstr(out, " share_of_peak=");
    ck_assert_msg(pk && sh && atof(pk + 13) > 0 && atof(sh + 15) > 0, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s --help", test_t5pt_bin());
    ck_assert(test_run(cmd, &out) == 0);
    ck_assert(strstr(out, "commands:") && strstr(out, "train") && strstr(out, "bench"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s --version", test_t5pt_bin());
    ck_assert(test_run(cmd, &out) == 0);
    ck_assert(strncmp(out, "t5pt ", 5) == 0);
    free(out);
    snprintf(cmd, sizeof cmd, "%s frobnicate 2>&1", test_t5pt_bin());
    ck_assert(test_run(cmd, &out) != 0);
    ck_assert(strstr(out, "unknown command"));
    free(out);
    /* where the tokenizer comes from, T5PT_ASSETS included, in every command that loads one */
    const char *tok_cmds[] = {"train", "eval", "generate", "tokenize"};
    for (size_t i = 0; i < sizeof tok_cmds / sizeof tok_cmds[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s --help", test_t5pt_bin(), tok_cmds[i]);
        ck_assert(test_run(cmd, &out) == 0);
        ck_assert_msg(strstr(out, "$T5PT_ASSETS/t5/spiece.model") && strstr(out, "--tokenizer FILE"), "%s", out);
        free(out);
    }
}
END_TEST

/* ---- the option parser: the same errors, forms and ranges for every command */
START_TEST(test_option_errors) {
    static const struct { const char *args; int status; const char *want; } cases[] = {
        {"train --lrr 3", 2, "t5pt train: --lrr: unknown option (did you mean --lr? see t5pt train --help)\n"},
        {"eval --bogus", 2, "t5pt eval: --bogus: unknown option (see t5pt eval --help)\n"},
        {"train --lr", 2, "t5pt train: --lr: missing value X (see t5pt train --help)\n"},
        {"generate --model", 2, "t5pt generate: --model: missing value DIR (see t5pt generate --help)\n"},
        {"train --out --resume", 2, "t5pt train: --out: missing value DIR before --resume"},
        {"train --lr -1", 2, "t5pt train: --lr -1: out of range: expected a number > 0\n"},
        {"train --lr 1e39", 2, "t5pt train: --lr 1e39: too large for a 32-bit float"},
        {"train --lr=abc", 2, "t5pt train: --lr abc: expected a number > 0\n"},
        {"train --batch 0", 2, "t5pt train: --batch 0: out of range: expected an integer from 1 to 2147483647\n"},
        {"train --batch 99999999999", 2, "--batch 99999999999: out of range"},
        {"train --dropout 1", 2, "t5pt train: --dropout 1: out of range: expected a number in [0, 1)\n"},
        {"train --seed -1", 2, "t5pt train: --seed -1: expected a non-negative integer\n"},
        {"train --threads 100000", 2, "t5pt train: --threads 100000: out of range: expected an integer from 1 to 1024\n"},
        {"train --optim sgd", 2, "t5pt train: --optim sgd: expected adafactor, adafactor-t5x or adamw\n"},
        {"train --resume=1", 2, "t5pt train: --resume takes no value"},
        {"train --model a --model b", 2, "t5pt train: --model: given more than once"},
        {"generate --model a --prompt x --prompt y", 2, "t5pt generate: --prompt: given more than once"},
        {"train --out=", 2, "t5pt train: --out: empty value"},
        {"train stray", 2, "t5pt train: 'stray': unexpected argument"},
        {"train -x", 2, "t5pt train: -x: unknown option"},
        {"train --model m --out o", 2, "t5pt train: --train FILE is required (see t5pt train --help)\n"},
        {"dump --model m --out o", 2, "t5pt dump: --batch FILE is required"},
        {"dump --model m --batch b --out o --precision fp16", 2, "t5pt dump: --precision fp16: expected fp32 or bf16\n"},
        {"train --model m --train t --out o --precision bf32", 2, "t5pt train: --precision bf32: expected fp32 or bf16\n"},
        {"init-model --dtype f16 --config c --out o", 2, "t5pt init-model: --dtype f16: expected f32 or bf16\n"},
        {"bench gemm --m 0", 2, "t5pt bench gemm: --m 0: out of range"},
        {"bench nosuch", 2, "t5pt bench: 'nosuch': unknown benchmark"},
        {"info --paths --path", 2, "t5pt info: --paths and --path exclude each other"},
        {"eval --model m --data d --no-generate", 2, "t5pt eval: --no-generate needs --labels"},
        {"eval --model m --data d --labels a,,b", 2, "t5pt eval: --labels: label 2 is empty"},
        {"eval --model m --data d --labels a,b,a", 2, "t5pt eval: --labels: 'a' is given twice"},
        {"eval --model m --data d --placement at:x", 2, "t5pt eval: --placement: placement 'at:x'"},
        {"train --model m --train t --out o --init text", 2, "t5pt train: --init text needs --init-text TEXT"},
        {"train --model m --train t --out o --init class-labels", 2, "--init class-labels needs --labels"},
        {"train --model m --train t --out o --init random-uniform --init-text hi", 2, "--init-text goes with --init text"},
        /* the value forms: --flag=value and "--" before text that starts with dashes */
        {"info --paths=", 2, "t5pt info: --paths takes no value"},
    };
    char cmd[512], *out;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s 2>&1", test_t5pt_bin(), cases[i].args);
        int st = test_run(cmd, &out);
        ck_assert_msg(st == cases[i].status, "%s: status %d, output %s", cases[i].args, st, out);
        ck_assert_msg(strstr(out, cases[i].want), "%s: got '%s', want '%s'", cases[i].args, out, cases[i].want);
        ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1, "%s: more than one line: %s", cases[i].args, out);
        free(out);
    }
    /* --flag=value works like --flag value */
    snprintf(cmd, sizeof cmd, "printf 'Hello\\n' | %s tokenize --tokenizer=assets/t5/spiece.model --eos", test_t5pt_bin());
    ck_assert(test_run(cmd, &out) == 0);
    ck_assert_str_eq(out, "8774 1\n");
    free(out);
    /* OMP_NUM_THREADS too large for libgomp is refused before any thread starts */
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=100000 %s info 2>&1", test_t5pt_bin());
    ck_assert(test_run(cmd, &out) == 2);
    ck_assert_msg(strstr(out, "t5pt: OMP_NUM_THREADS=100000: at most 1024 threads"), "%s", out);
    free(out);
    /* --help shows the defaults, not values given before it */
    snprintf(cmd, sizeof cmd, "%s train --batch 7 --help", test_t5pt_bin());
    ck_assert(test_run(cmd, &out) == 0);
    ck_assert_msg(strstr(out, "examples per step (at most the whole training set) (default 32)"), "%s", out);
    free(out);
}
END_TEST

/* ---- README's "Every train flag" table and `train --help` name the same flags */
static int collect_flags(const char *text, char flags[][32], int max) {
    int n = 0;
    for (const char *p = strstr(text, "--"); p && n < max; p = strstr(p + 2, "--")) {
        int len = 0;
        while ((p[2 + len] >= 'a' && p[2 + len] <= 'z') || p[2 + len] == '-') len++;
        if (len < 2) continue;
        char f[32];
        snprintf(f, sizeof f, "%.*s", len, p + 2);
        int seen = 0;
        for (int k = 0; k < n && !seen; k++) seen = !strcmp(flags[k], f);
        if (!seen) snprintf(flags[n++], 32, "%s", f);
    }
    return n;
}

START_TEST(test_readme_train_flags) {
    char *readme;
    size_t len;
    ck_assert(t5pt_read_file("README.md", &readme, &len) == T5PT_OK);
    char *table = strstr(readme, "### Every train flag");
    ck_assert(table);
    char *end = strstr(table + 4, "\n#");
    if (end) *end = 0;
    /* only the first column of each table row: "| `--flag X` / `--other` | ..." */
    char rows[8192] = "";
    for (char *line = strtok(table, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] != '|') continue;
        char *bar = strchr(line + 1, '|');
        if (bar) *bar = 0;
        strncat(rows, line, sizeof rows - strlen(rows) - 2);
        strcat(rows, "\n");
    }
    char cmd[256], *help;
    snprintf(cmd, sizeof cmd, "%s train --help", test_t5pt_bin());
    ck_assert(test_run(cmd, &help) == 0);
    /* the option lines of the help: "  --name ..." */
    char opts[8192] = "";
    for (char *line = strtok(help, "\n"); line; line = strtok(NULL, "\n"))
        if (!strncmp(line, "  --", 4)) {
            char *sp = strchr(line + 4, ' ');
            if (sp) *sp = 0;
            strncat(opts, line, sizeof opts - strlen(opts) - 2);
            strcat(opts, "\n");
        }
    char a[64][32], b[64][32];
    int na = collect_flags(rows, a, 64), nb = collect_flags(opts, b, 64);
    for (int i = 0; i < nb; i++) {
        int found = 0;
        for (int j = 0; j < na && !found; j++) found = !strcmp(a[j], b[i]);
        ck_assert_msg(found, "train --help has --%s, README's flag table does not", b[i]);
    }
    for (int j = 0; j < na; j++) {
        int found = 0;
        for (int i = 0; i < nb && !found; i++) found = !strcmp(a[j], b[i]);
        ck_assert_msg(found, "README's flag table has --%s, train --help does not", a[j]);
    }
    ck_assert_int_ge(nb, 30);
    free(help);
    free(readme);
}
END_TEST

START_TEST(test_info) {
    char cmd[256], *paths, *path;
    snprintf(cmd, sizeof cmd, "%s info --paths", test_t5pt_bin());
    ck_assert(test_run(cmd, &paths) == 0);
    snprintf(cmd, sizeof cmd, "%s info --path", test_t5pt_bin());
    ck_assert(test_run(cmd, &path) == 0);
    ck_assert(strstr(paths, "scalar"));
    path[strcspn(path, "\n")] = 0;
    ck_assert_msg(strstr(paths, path), "path in use '%s' not among '%s'", path, paths);
    free(paths);
    free(path);
    snprintf(cmd, sizeof cmd, "%s info", test_t5pt_bin());
    ck_assert(test_run(cmd, &path) == 0);
    ck_assert(strstr(path, "simd path:") && strstr(path, "threads:"));
    free(path);
}
END_TEST

START_TEST(test_tokenize) {
    char cmd[512], *out;
    snprintf(cmd, sizeof cmd, "printf 'Hello world\\n\\n' | %s tokenize --tokenizer assets/t5/spiece.model --eos", test_t5pt_bin());
    ck_assert(test_run(cmd, &out) == 0);
    ck_assert_str_eq(out, "8774 296 1\n1\n");
    free(out);
    snprintf(cmd, sizeof cmd, "printf '8774 296 1\\n' | %s tokenize --tokenizer assets/t5/spiece.model --decode", test_t5pt_bin());
    ck_assert(test_run(cmd, &out) == 0);
    ck_assert_str_eq(out, "Hello world\n");
    free(out);
    /* invalid UTF-8 is refused with its line, as the data loader refuses it (not turned into <unk>) */
    snprintf(cmd, sizeof cmd, "printf 'ok\\nbad \\377 byte\\n' | %s tokenize --tokenizer assets/t5/spiece.model 2>&1", test_t5pt_bin());
    ck_assert(test_run(cmd, &out) == 1);
    ck_assert_msg(strstr(out, "t5pt tokenize: stdin:2: invalid UTF-8 at byte 5 of the line"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "printf '99999\\n' | %s tokenize --tokenizer assets/t5/spiece.model --decode 2>&1", test_t5pt_bin());
    ck_assert(test_run(cmd, &out) != 0);
    ck_assert(strstr(out, "t5pt tokenize: stdin:1:"));
    free(out);
}
END_TEST

/* ---- dump against the goldens */
static void compare(const golden_case *g, st_file *got, const st_file *want_file, const char *name, const char *want_name,
                    double dflt) {
    size_t n1, n2;
    float *a = golden_f32(got, name, &n1), *b = golden_f32(want_file, want_name, &n2);
    ck_assert_msg(a && b, "%s: %s missing", g->name, name);
    ck_assert_msg(n1 == n2, "%s: %s has %zu values, expected %zu", g->name, name, n1, n2);
    double rel = golden_rel_err(a, b, n1);
    golden_note(name, rel);
    ck_assert_msg(rel <= golden_tol(g, want_name, dflt), "%s: %s rel err %.3g", g->name, name, rel);
    free(a);
    free(b);
}

/* Runs `t5pt dump --model <case model> --batch <case inputs> <args>` and opens what it
 * wrote (its name in out_path; the caller closes and removes it). */
static st_file *dump_case(const golden_case *g, const char *tag, const char *args, char *out_path, size_t out_size) {
    char cmd[2048], *log;
    snprintf(out_path, out_size, "/tmp/t5pt_test_cli_%ld_%s.safetensors", (long)getpid(), tag);
    snprintf(cmd, sizeof cmd, "%s dump --model %s --batch %s/inputs.safetensors %s --out %s 2>&1", test_t5pt_bin(),
             g->model_dir, g->dir, args, out_path);
    ck_assert_msg(test_run(cmd, &log) == 0, "%s\n%s", cmd, log);
    free(log);
    st_file *got;
    ck_assert_msg(t5pt_st_open(&got, out_path) == T5PT_OK, "%s", t5pt_last_error());
    return got;
}

/* The forward outputs and the prompt gradient of a dump against the case's expected tensors. */
static void compare_forward_and_grad(const golden_case *g, st_file *got) {
    compare(g, got, g->expected, "logits", "logits", 1e-5);
    compare(g, got, g->expected, "loss", "loss", 1e-5);
    compare(g, got, g->expected, "encoder_last_hidden_state", "encoder_last_hidden_state", 1e-5);
    compare(g, got, g->expected, "prompt_grad", "prompt_grad", 1e-4);
}

static const char *dump_cases[] = {"relu_tied_prepend", "gelu_untied_prepend", "append", "at_k", "bf16_weights",
                                   "sharded", "traj_adafactor", "traj_adamw", "traj_adafactor_beta1_warmup",
                                   "loss_sum_zloss_strong", "loss_mean_zloss", "traj_paper_recipe_start_step"};

START_TEST(test_dump_golden) {
    golden_case *g = golden_open(dump_cases[_i]);
    ck_assert_msg(g, "%s", golden_error());
    char placement[32], args[1024], out_path[256];
    if (g->placement.kind == T5PT_PLACE_AT) snprintf(placement, sizeof placement, "at:%d", g->placement.at);
    else snprintf(placement, sizeof placement, "%s", g->placement.kind == T5PT_PLACE_APPEND ? "append" : "prepend");
    int traj = g->trajectory != NULL;
    /* the batch file is the case's inputs.safetensors: int64 ids, and prompt_embeddings for --prompt */
    int len = snprintf(args, sizeof args, "--prompt %s/inputs.safetensors --placement %s --grad", g->dir, placement);
    if (traj) {
        t5pt_optim_config oc;
        int steps;
        ck_assert(golden_optim_config(g, &oc, &steps) == 0);
        len += snprintf(args + len, sizeof args - len, " --steps %d --optim-json %s/case.json", steps, g->dir);
    }
    if (g->loss_kind == T5PT_LOSS_SUM || g->z_loss != 0.0f)   /* the case's loss, by --loss and --z-loss */
        snprintf(args + len, sizeof args - len, " --loss %s --z-loss %.9g", g->loss_kind == T5PT_LOSS_SUM ? "sum-zloss" : "mean",
                 (double)g->z_loss);
    st_file *got = dump_case(g, g->name, args, out_path, sizeof out_path);
    compare_forward_and_grad(g, got);
    if (traj) {
        compare(g, got, g->trajectory, "losses", "losses", 1e-4);
        compare(g, got, g->trajectory, "prompt_after", "prompt_after", 1e-4);
    }
    t5pt_st_close(got);
    remove(out_path);
    golden_close(g);
}
END_TEST

/* dump --precision bf16 on the flip-free bf16 cases: the bf16 reference's logits, loss and
 * prompt gradient at the fp32 tolerances (tests/test_bf16.c tests the library itself). */
static const char *bf16_dump_cases[] = {"bf16_micro", "bf16_micro_gated"};

START_TEST(test_dump_bf16) {
    golden_case *g = golden_open_at("golden/bf16", bf16_dump_cases[_i]);
    ck_assert_msg(g, "%s", golden_error());
    char args[1024], out_path[256];
    snprintf(args, sizeof args, "--prompt %s/inputs.safetensors --grad --precision bf16", g->dir);
    st_file *got = dump_case(g, g->name, args, out_path, sizeof out_path);
    compare_forward_and_grad(g, got);
    t5pt_st_close(got);
    remove(out_path);
    golden_close(g);
}
END_TEST

START_TEST(test_dump_errors) {
    char cmd[512], *out;
    snprintf(cmd, sizeof cmd, "%s dump --model golden/cases/append/model --batch /nonexistent.safetensors --out /nonexistent/x 2>&1",
             test_t5pt_bin());
    ck_assert(test_run(cmd, &out) != 0);
    ck_assert_msg(strstr(out, "t5pt dump: ") && strstr(out, "/nonexistent.safetensors"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s dump --model golden/cases/append/model 2>&1", test_t5pt_bin());
    ck_assert(test_run(cmd, &out) != 0);
    ck_assert(strstr(out, "t5pt dump: --batch FILE is required"));
    free(out);
}
END_TEST

/* ---- train on bad data: a clear one-line error, nothing written over a good prompt */
static void write_bytes(const char *path, const char *s, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert(f);
    ck_assert(fwrite(s, 1, n, f) == n);
    fclose(f);
}

START_TEST(test_train_bad_data) {
    char out[128], bad_path[160], adapter[192], ckpt[192], sh[512];
    snprintf(out, sizeof out, "/tmp/t5pt_test_cli_%ld_prompt", (long)getpid());
    snprintf(bad_path, sizeof bad_path, "/tmp/t5pt_test_cli_%ld_bad.jsonl", (long)getpid());
    snprintf(adapter, sizeof adapter, "%s/adapter_model.safetensors", out);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out);
    snprintf(sh, sizeof sh, "rm -rf '%s' && mkdir -p '%s'", out, out);
    ck_assert(system(sh) == 0);
    /* an existing good prompt (d_model 64, the shipped demo model's width) */
    float P[3 * 64];
    for (int i = 0; i < 3 * 64; i++) P[i] = 0.01f * i;
    ck_assert(t5pt_prompt_save_peft(out, P, 3, 64, NULL, "RANDOM") == T5PT_OK);
    char *before;
    size_t nb;
    ck_assert(t5pt_read_file(adapter, &before, &nb) == T5PT_OK);

    static const struct { const char *bytes; const char *want; } bad[] = {
        {"{\"input\": \"a\", \"target\": \"b\"}\n{\"input\": \"a\"\n", "bad.jsonl:2: malformed JSON"},
        {"{\"input\": \"a\", \"target\": \"b\"}\n{\"input\": \"a\"}\n", "bad.jsonl:2: missing field \"target\""},
        {"{\"input\": \"a\", \"target\": \"\xff\"}\n", "bad.jsonl:1: invalid UTF-8"},
        {"", "bad.jsonl: no examples (empty file)"},
    };
    char cmd[1024], *log;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_bytes(bad_path, bad[i].bytes, strlen(bad[i].bytes));
        snprintf(cmd, sizeof cmd, "%s train --model examples/tiny-t5 --train %s --out %s "
                 "--steps 1 --prompt-len 3 2>&1 >/dev/null", test_t5pt_bin(), bad_path, out);
        ck_assert_msg(test_run(cmd, &log) != 0, "case %zu: exit status 0", i);
        ck_assert_msg(strstr(log, "t5pt train: ") && strstr(log, bad[i].want), "case %zu: got '%s', want '%s'", i, log,
                      bad[i].want);
        /* exactly one line (the notice about the shipped tokenizer aside) */
        const char *nl = strchr(strstr(log, "t5pt train: /tmp/t5pt_test_cli"), '\n');
        ck_assert(nl && nl[1] == 0);
        free(log);
        /* the same through --valid */
        snprintf(cmd, sizeof cmd, "%s train --model examples/tiny-t5 --train examples/sentiment/train.jsonl "
                 "--valid %s --out %s --steps 1 --prompt-len 3 2>&1 >/dev/null", test_t5pt_bin(), bad_path, out);
        ck_assert(test_run(cmd, &log) != 0);
        ck_assert_msg(strstr(log, bad[i].want), "valid case %zu: %s", i, log);
        free(log);
    }
    char *after;
    size_t na;
    ck_assert(t5pt_read_file(adapter, &after, &na) == T5PT_OK);
    ck_assert(na == nb && memcmp(before, after, nb) == 0);
    ck_assert(!t5pt_file_exists(ckpt));
    free(before);
    free(after);
    remove(bad_path);
    snprintf(sh, sizeof sh, "rm -rf '%s'", out);
    ck_assert(system(sh) == 0);
}
END_TEST

/* ---- a training run watched through its metrics log
 *
 * The run writes its metrics to a FIFO this test reads, with the pipe buffer cut to one page:
 * once the test stops reading, the run stops at its next metrics line (~40 lines later at
 * most). So "act when step k is logged" lands between steps k and k+40 however slow or
 * loaded the machine is: no sleeps, no timing. */
typedef struct {
    pid_t pid;
    int fd;
    char buf[16384];
    size_t len;
    int status, exited;
} watched_run;

static void watch_start(watched_run *w, const char *fifo, const char *shell_cmd) {
    memset(w, 0, sizeof *w);
    unlink(fifo);
    ck_assert(mkfifo(fifo, 0600) == 0);
    /* the read end first (non-blocking open needs no writer), then the run */
    w->fd = open(fifo, O_RDONLY | O_NONBLOCK);
    ck_assert(w->fd >= 0);
    ck_assert(fcntl(w->fd, F_SETPIPE_SZ, 4096) >= 4096);
    fflush(NULL);
    w->pid = fork();
    ck_assert(w->pid >= 0);
    if (w->pid == 0) {
        close(w->fd);
        execl("/bin/sh", "sh", "-c", shell_cmd, (char *)NULL);   /* the command starts with exec */
        _exit(127);
    }
}

/* Reads metrics lines until a training step >= step is logged; returns that step, or -1 when
 * the run ended first (its wait status is then in w->status). */
static int watch_until_step(watched_run *w, int step) {
    for (;;) {
        char *nl;
        while ((nl = memchr(w->buf, '\n', w->len)) != NULL) {
            int s = -1;
            *nl = 0;
            int is_step = sscanf(w->buf, "{\"step\":%d,\"epoch\"", &s) == 1;
            size_t used = (size_t)(nl - w->buf) + 1;
            memmove(w->buf, nl + 1, w->len - used);
            w->len -= used;
            if (is_step && s >= step) return s;
        }
        struct pollfd p = {.fd = w->fd, .events = POLLIN};
        int r = poll(&p, 1, 200);
        ck_assert(r >= 0 || errno == EINTR);
        ssize_t k = r > 0 ? read(w->fd, w->buf + w->len, sizeof w->buf - w->len - 1) : 0;
        if (k > 0) {
            w->len += (size_t)k;
            continue;
        }
        /* no data: the run has not opened the log yet, or it closed it and is ending */
        if (waitpid(w->pid, &w->status, WNOHANG) == w->pid) {
            w->exited = 1;
            return -1;
        }
    }
}

/* Drains the log until the run exits (so it never blocks on it); returns the wait status. */
static int watch_finish(watched_run *w) {
    while (!w->exited) {
        char tmp[4096];
        struct pollfd p = {.fd = w->fd, .events = POLLIN};
        if (poll(&p, 1, 200) > 0 && read(w->fd, tmp, sizeof tmp) > 0) continue;
        if (waitpid(w->pid, &w->status, WNOHANG) == w->pid) w->exited = 1;
    }
    close(w->fd);
    return w->status;
}

/* ---- kill -9 twice mid-run, then --resume: the same bytes as an uninterrupted run */
START_TEST(test_train_kill_and_resume) {
    char a[512], b[512], fifo[512], cmd[4096], *log;
    snprintf(a, sizeof a, "%s", test_tmp("A"));
    snprintf(b, sizeof b, "%s", test_tmp("B"));
    snprintf(fifo, sizeof fifo, "%s", test_tmp("metrics.fifo"));
    /* 100 steps: a killed run can get at most ~40 steps past the one the test waits for */
    const char *args = "--model examples/tiny-t5 --tokenizer assets/t5/spiece.model "
                       "--train examples/sentiment/train.jsonl --prompt-len 2 --batch 4 "
                       "--checkpoint-every 3 --dropout 0.1 --seed 9 --threads 1";
    snprintf(cmd, sizeof cmd, "%s train %s --steps 100 --out %s 2>&1", test_t5pt_bin(), args, a);
    ck_assert_msg(test_run(cmd, &log) == 0, "%s", log);
    free(log);
    int resumed_at_least = 0;
    for (int k = 0; k < 2; k++) {
        watched_run w;
        snprintf(cmd, sizeof cmd, "exec %s train %s --steps 100 --out %s --resume --metrics %s >/dev/null 2>&1", test_t5pt_bin(),
                 args, b, fifo);
        watch_start(&w, fifo, cmd);
        int first = watch_until_step(&w, 1);
        ck_assert_msg(first > 0, "run %d ended before its first step (status %d)", k, w.status);
        /* 3 steps on, the checkpoint of a step >= first has been written (every 3 steps) */
        int at = watch_until_step(&w, first + 3);
        ck_assert_msg(at >= first + 3, "run %d ended at step %d", k, at);
        ck_assert(kill(w.pid, SIGKILL) == 0);
        int st = watch_finish(&w);
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "run %d was not killed (status %d)", k, st);
        resumed_at_least = first + 2;
    }
    snprintf(cmd, sizeof cmd, "%s train %s --steps 100 --out %s --resume 2>&1", test_t5pt_bin(), args, b);
    ck_assert_msg(test_run(cmd, &log) == 0, "%s", log);
    /* the last resume started from a checkpoint written by the killed runs */
    const char *from = strstr(log, "resumed from step ");
    ck_assert_msg(from && atoi(from + 18) >= resumed_at_least && atoi(from + 18) < 100, "%s", log);
    fprintf(stderr, "kill -9 twice, then resumed from step %d of 100\n", atoi(from + 18));
    free(log);
    char fa[600], fb[600], *x, *y;
    size_t nx, ny;
    snprintf(fa, sizeof fa, "%s/adapter_model.safetensors", a);
    snprintf(fb, sizeof fb, "%s/adapter_model.safetensors", b);
    ck_assert(t5pt_read_file(fa, &x, &nx) == T5PT_OK);
    ck_assert(t5pt_read_file(fb, &y, &ny) == T5PT_OK);
    ck_assert_msg(nx == ny && memcmp(x, y, nx) == 0, "killed-and-resumed prompt differs from the uninterrupted one");
    free(x);
    free(y);
    /* SIGINT: a clean stop with a checkpoint and exit status 3 */
    ck_assert_int_eq(test_rm_rf(b), 0);
    watched_run w;
    snprintf(cmd, sizeof cmd, "exec %s train %s --steps 100000 --out %s --metrics %s >/dev/null 2>%s.err", test_t5pt_bin(), args, b,
             fifo, b);
    watch_start(&w, fifo, cmd);
    ck_assert(watch_until_step(&w, 2) >= 2);
    ck_assert(kill(w.pid, SIGINT) == 0);
    int st = watch_finish(&w);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status %d", st);
    snprintf(fb, sizeof fb, "%s.err", b);
    ck_assert(t5pt_read_file(fb, &log, &nx) == T5PT_OK);
    ck_assert_msg(strstr(log, "continue with --resume"), "%s", log);
    free(log);
    snprintf(fb, sizeof fb, "%s/checkpoint.safetensors", b);
    ck_assert(t5pt_file_exists(fb));
    snprintf(fb, sizeof fb, "%s/adapter_model.safetensors", b);
    ck_assert(t5pt_file_exists(fb));
    ck_assert_int_eq(test_rm_rf(a), 0);
    ck_assert_int_eq(test_rm_rf(b), 0);
    unlink(fifo);
}
END_TEST

/* ---- bad inputs are found before the model loads, and leave nothing behind */
static void make_broken_model(const char *dir) {
    /* a valid config.json but garbage weights: a command that gets as far as loading the model
     * fails on model.safetensors, so any other message proves the check came first */
    char path[600], *cfg;
    size_t n;
    ck_assert(mkdir(dir, 0777) == 0);
    ck_assert(t5pt_read_file("examples/tiny-t5/config.json", &cfg, &n) == T5PT_OK);
    snprintf(path, sizeof path, "%s/config.json", dir);
    test_write_file(path, cfg, n);
    free(cfg);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    test_write_text(path, "not a safetensors file");
}

START_TEST(test_errors_before_loading) {
    char broken[256], fifo[256], file[256], fresh[256], cmd[8192], *out;
    snprintf(broken, sizeof broken, "%s", test_tmp("broken"));
    snprintf(fifo, sizeof fifo, "%s", test_tmp("input.fifo"));
    snprintf(file, sizeof file, "%s", test_tmp("a_file"));
    snprintf(fresh, sizeof fresh, "%s", test_tmp("fresh"));
    make_broken_model(broken);
    ck_assert(mkfifo(fifo, 0600) == 0);
    test_write_text(file, "{\"input\": \"a\", \"target\": \"b\"}\n");
    const char *T = "--train examples/sentiment/train.jsonl", *D = "--data examples/sentiment/valid.jsonl";
    struct { char args[1536]; const char *want; } cases[20];
    int nc = 0;
#define CASE(WANT, ...) (snprintf(cases[nc].args, sizeof cases[nc].args, __VA_ARGS__), cases[nc++].want = (WANT))
    CASE("is a FIFO, expected a regular file", "train --model %s --train %s --out %s", broken, fifo, fresh);
    CASE("--out", "train --model %s %s --out %s", broken, T, file);
    CASE("cannot be created", "train --model %s %s --out %s/no/such/dir", broken, T, file);
    CASE("--metrics", "train --model %s %s --out %s --metrics /nonexistent/m.jsonl", broken, T, fresh);
    CASE("--valid", "train --model %s %s --valid %s --out %s", broken, T, fresh, fresh);
    CASE("--predictions", "eval --model %s %s --predictions /nonexistent/p.jsonl", broken, D);
    CASE("is a FIFO", "eval --model %s --data %s", broken, fifo);
    CASE("--prompt", "eval --model %s %s --prompt %s", broken, D, fifo);
    CASE("--batch", "dump --model %s --batch %s --out %s/x.safetensors", broken, fifo, fresh);
    CASE("--config", "init-model --config %s --out %s", fifo, fresh);
    CASE("--model", "generate --model %s hello", file);
    CASE("--metrics", "train --model %s --train %s --out %s --metrics %s", broken, file, fresh, file);
    CASE("--epochs 1000000000 x", "train --model %s %s --out %s --epochs 1000000000", broken, T, fresh);
    CASE("--labels: labels: label 1", "train --model %s %s --out %s --labels ' ,b'", broken, T, fresh);
    CASE("--predictions", "eval --model %s --data %s --predictions %s", broken, file, file);
    CASE("model.safetensors", "generate --model %s hello", broken);   /* the broken model is broken */
#undef CASE
    for (int i = 0; i < nc; i++) {
        /* a FIFO read without O_NONBLOCK would hang here: timeout turns that into status 124 */
        snprintf(cmd, sizeof cmd, "timeout 120 %s %.1500s 2>&1", test_t5pt_bin(), cases[i].args);
        int st = test_run(cmd, &out);
        ck_assert_msg(st == 1, "%s: status %d: %s", cases[i].args, st, out);
        ck_assert_msg(strstr(out, cases[i].want) && (i == nc - 1 || !strstr(out, "model.safetensors")),
                      "%s: got '%s', want '%s'", cases[i].args, out, cases[i].want);
        ck_assert_msg(!t5pt_is_dir(fresh), "%s created %s", cases[i].args, fresh);
        free(out);
    }
    /* the data file named as an output too is intact */
    char *data;
    size_t dn;
    ck_assert(t5pt_read_file(file, &data, &dn) == T5PT_OK);
    ck_assert_str_eq(data, "{\"input\": \"a\", \"target\": \"b\"}\n");
    free(data);
    /* a FIFO where a model's config.json should be: refused, not waited on */
    char fifo_model[256], path[300];
    snprintf(fifo_model, sizeof fifo_model, "%s", test_tmp("fifo_model"));
    ck_assert(mkdir(fifo_model, 0777) == 0);
    snprintf(path, sizeof path, "%s/config.json", fifo_model);
    ck_assert(mkfifo(path, 0600) == 0);
    snprintf(cmd, sizeof cmd, "timeout 120 %s generate --model %s hello 2>&1", test_t5pt_bin(), fifo_model);
    ck_assert_int_eq(test_run(cmd, &out), 1);
    ck_assert_msg(strstr(out, "config.json: not a regular file"), "%s", out);
    free(out);
    ck_assert_int_eq(test_rm_rf(broken), 0);
    ck_assert_int_eq(test_rm_rf(fifo_model), 0);
    unlink(fifo);
    unlink(file);
}
END_TEST

/* ---- training faults end with one clear line, status 1, and nothing half-written */
START_TEST(test_train_faults) {
    char out[512], data[512], cmd[2048], *log;
    snprintf(out, sizeof out, "%s", test_tmp("faults"));
    snprintf(data, sizeof data, "%s", test_tmp("long.jsonl"));
    const char *base = "--model examples/tiny-t5 --tokenizer assets/t5/spiece.model "
                       "--train examples/sentiment/train.jsonl --prompt-len 2 --batch 4 --threads 1";
    static const struct { const char *args; const char *want; } cases[] = {
        {"--steps 3 --lr 1e30", "step 1: the prompt's RMS is 1e+30"},
        {"--steps 3 --lr 1e6", "lower --lr (now 1e+06)"},
        {"--steps 3 --metrics /dev/full", "/dev/full: write failed"},
        {"--epochs 1000000000", "--epochs 1000000000 x 128 steps per epoch"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s train %s --out %s %s 2>&1 >/dev/null", test_t5pt_bin(), base, out, cases[i].args);
        ck_assert_msg(test_run(cmd, &log) == 1, "%s: %s", cases[i].args, log);
        ck_assert_msg(strstr(log, cases[i].want), "%s: got '%s', want '%s'", cases[i].args, log, cases[i].want);
        ck_assert_msg(!t5pt_is_dir(out), "%s left %s behind", cases[i].args, out);
        free(log);
    }
    /* an input far too long for memory: the message says which flags help */
    FILE *f = fopen(data, "w");
    ck_assert(f);
    fputs("{\"input\": \"", f);
    for (int i = 0; i < 200000; i++) fputs("a ", f);
    fputs("\", \"target\": \"yes\"}\n", f);
    ck_assert_int_eq(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "%s train --model examples/tiny-t5 --tokenizer assets/t5/spiece.model --train %s --out %s "
             "--steps 1 2>&1 >/dev/null", test_t5pt_bin(), data, out);
    ck_assert(test_run(cmd, &log) == 1);
    ck_assert_msg(strstr(log, "lower --max-src-len"), "%s", log);
    ck_assert(!t5pt_is_dir(out));
    free(log);
    /* a run into a directory another run holds is refused */
    char lock[600];
    ck_assert(mkdir(out, 0777) == 0);
    snprintf(lock, sizeof lock, "%s/.t5pt-train.lock", out);
    int fd = open(lock, O_RDWR | O_CREAT, 0666);
    ck_assert(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
    snprintf(cmd, sizeof cmd, "%s train %s --out %s --steps 2 2>&1 >/dev/null", test_t5pt_bin(), base, out);
    ck_assert(test_run(cmd, &log) == 1);
    ck_assert_msg(strstr(log, "is in use by another t5pt train"), "%s", log);
    free(log);
    close(fd);
    /* --resume with a different setting names the flag */
    ck_assert(test_run(cmd, &log) == 0);
    free(log);
    snprintf(cmd, sizeof cmd, "%s train %s --out %s --steps 2 --resume --lr 0.1 2>&1 >/dev/null", test_t5pt_bin(), base, out);
    ck_assert(test_run(cmd, &log) == 1);
    ck_assert_msg(strstr(log, "made with --lr 0.3, this run has --lr 0.1"), "%s", log);
    free(log);
    ck_assert_int_eq(test_rm_rf(out), 0);
    unlink(data);
}
END_TEST

/* ---- greedy decoding picks an id past the tokenizer's 32100: empty text, not a failure */
START_TEST(test_ids_past_the_tokenizer) {
    char dir[512], cfg[600], weights[600], data[512], cmd[2048], *out;
    snprintf(dir, sizeof dir, "%s", test_tmp("vocab_model"));
    snprintf(cfg, sizeof cfg, "%s", test_tmp("vocab_config.json"));
    snprintf(data, sizeof data, "%s", test_tmp("vocab_data.jsonl"));
    test_write_text(cfg, "{\"d_model\": 32, \"d_kv\": 8, \"d_ff\": 64, \"num_layers\": 1, \"num_heads\": 4, "
                         "\"vocab_size\": 32128, \"feed_forward_proj\": \"relu\", \"tie_word_embeddings\": false, "
                         "\"decoder_start_token_id\": 0, \"pad_token_id\": 0, \"eos_token_id\": 1}");
    snprintf(cmd, sizeof cmd, "%s init-model --config %s --out %s 2>&1", test_t5pt_bin(), cfg, dir);
    ck_assert_msg(test_run(cmd, &out) == 0, "%s", out);
    free(out);
    /* lm_head: 0 except rows 32126 = -v and 32127 = v, so the argmax is one of them */
    const int V = 32128, d = 32;
    float *W = calloc((size_t)V * d, sizeof(float));
    for (int j = 0; j < d; j++) {
        W[(size_t)32127 * d + j] = (float)(j % 5) - 2.0f;
        W[(size_t)32126 * d + j] = 2.0f - (float)(j % 5);
    }
    snprintf(weights, sizeof weights, "%s/model.safetensors", dir);
    test_st_patch(weights, "lm_head.weight", 0, W, sizeof(float) * (size_t)V * d);
    free(W);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --tokenizer assets/t5/spiece.model --max-new-tokens 3 --ids "
             "hello 2>&1", test_t5pt_bin(), dir);
    ck_assert_msg(test_run(cmd, &out) == 0, "%s", out);
    ck_assert_msg(atoi(out) >= 32126, "greedy picked %s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --tokenizer assets/t5/spiece.model --max-new-tokens 3 hello "
             "world 2>&1", test_t5pt_bin(), dir);
    ck_assert_msg(test_run(cmd, &out) == 0, "%s", out);
    ck_assert_str_eq(out, "\n\n");
    free(out);
    test_write_text(data, "{\"input\": \"hello\", \"target\": \"yes\"}\n{\"input\": \"bye\", \"target\": \"no\"}\n");
    snprintf(cmd, sizeof cmd, "%s eval --model %s --tokenizer assets/t5/spiece.model --data %s 2>&1", test_t5pt_bin(), dir, data);
    ck_assert_msg(test_run(cmd, &out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "exact_match 0.0000"), "%s", out);
    free(out);
    ck_assert_int_eq(test_rm_rf(dir), 0);
    unlink(cfg);
    unlink(data);
}
END_TEST

/* ---- init-model writes a checkpoint the loader (and so Hugging Face) reads */
START_TEST(test_init_model) {
    char dir[128], cmd[1024], *log;
    snprintf(dir, sizeof dir, "/tmp/t5pt_test_cli_%ld_init", (long)getpid());
    const char *cfgs[2] = {"golden/cases/relu_tied_prepend/model/config.json",
                           "golden/cases/gelu_untied_prepend/model/config.json"};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "rm -rf %s; %s init-model --config %s --out %s --seed 3 --dtype %s 2>&1", dir, test_t5pt_bin(),
                 cfgs[k], dir, k ? "bf16" : "f32");
        ck_assert_msg(test_run(cmd, &log) == 0, "%s", log);
        free(log);
        t5pt_model *m;
        ck_assert_msg(t5pt_model_load(&m, dir) == T5PT_OK, "%s", t5pt_last_error());
        t5pt_config cfg;
        ck_assert(t5pt_config_load(&cfg, cfgs[k]) == T5PT_OK);
        t5pt_model *r;
        ck_assert(t5pt_model_init_random(&r, &cfg, 3) == T5PT_OK);
        ck_assert_int_eq(t5pt_model_num_params(m), t5pt_model_num_params(r));
        /* f32: the stored weights are exactly the random model's; bf16: within rounding */
        for (int id = 0; id < cfg.vocab_size; id += 7) {
            float a[4096], b[4096];
            ck_assert_int_le(cfg.d_model, 4096);
            ck_assert(t5pt_model_embedding(m, id, a) == T5PT_OK && t5pt_model_embedding(r, id, b) == T5PT_OK);
            for (int j = 0; j < cfg.d_model; j++)
                ck_assert(k ? fabsf(a[j] - b[j]) <= 0.004f * fabsf(b[j]) + 1e-30f : a[j] == b[j]);
        }
        t5pt_model_free(m);
        t5pt_model_free(r);
    }
    /* a failure leaves an existing model as it was: config.json is replaced only after the weights */
    snprintf(cmd, sizeof cmd, "rm -rf %s; %s init-model --config %s --out %s 2>&1", dir, test_t5pt_bin(), cfgs[0], dir);
    ck_assert_msg(test_run(cmd, &log) == 0, "%s", log);
    free(log);
    char cpath[256], mpath[256], *before, *after;
    size_t nb, na;
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    snprintf(mpath, sizeof mpath, "%s/model.safetensors", dir);
    ck_assert(t5pt_read_file(cpath, &before, &nb) == T5PT_OK);
    ck_assert(unlink(mpath) == 0 && mkdir(mpath, 0777) == 0);   /* the weights cannot be written */
    snprintf(cmd, sizeof cmd, "%s init-model --config %s --out %s 2>&1", test_t5pt_bin(), cfgs[1], dir);
    ck_assert(test_run(cmd, &log) == 1);
    ck_assert_msg(strstr(log, "t5pt init-model: ") && strstr(log, "model.safetensors"), "%s", log);
    free(log);
    ck_assert(t5pt_read_file(cpath, &after, &na) == T5PT_OK);
    ck_assert(na == nb && memcmp(before, after, nb) == 0);
    free(before);
    free(after);
    /* a bad config creates nothing */
    snprintf(cmd, sizeof cmd, "rm -rf %s; %s init-model --config README.md --out %s 2>&1", dir, test_t5pt_bin(), dir);
    ck_assert(test_run(cmd, &log) == 1);
    free(log);
    ck_assert(!t5pt_is_dir(dir));
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert(system(cmd) == 0);
}
END_TEST

/* ---- a PEFT adapter written by the reference (2n rows, seq2seq) gives the case's logits */
START_TEST(test_dump_peft_adapter) {
    golden_case *g = golden_open("relu_tied_prepend");
    ck_assert_msg(g, "%s", golden_error());
    char args[1024], out_path[256];
    snprintf(args, sizeof args, "--prompt %s/peft_adapter", g->dir);
    st_file *got = dump_case(g, "peft", args, out_path, sizeof out_path);
    compare(g, got, g->expected, "logits", "logits", 1e-5);
    compare(g, got, g->expected, "loss", "loss", 1e-5);
    t5pt_st_close(got);
    remove(out_path);
    golden_close(g);
}
END_TEST

/* The number after `key` in text (-1 when absent). */
static double number_after(const char *text, const char *key) {
    const char *p = strstr(text, key);
    return p ? atof(p + strlen(key)) : -1.0;
}

/* ---- an adapter remembers how it was trained: train with --placement append and
 * --init class-labels, then eval / generate / dump use append without being told (and say so),
 * --placement overrides (with a note), adapter_config.json names PEFT's init, and the bare
 * adapter_model.safetensors gives the same result as its directory */
START_TEST(test_adapter_round_trip) {
    char dir[512], lonely[512], cmd[4096], *log;
    snprintf(dir, sizeof dir, "%s", test_tmp("rt_adapter"));
    snprintf(lonely, sizeof lonely, "%s", test_tmp("rt_lonely"));
    const char *common = "--model examples/tiny-t5 --tokenizer assets/t5/spiece.model";
    snprintf(cmd, sizeof cmd, "rm -rf %s %s && %s train %s --train examples/sentiment/train.jsonl --labels "
             "positive,negative --prompt-len 6 --placement append --init class-labels --steps 30 --batch 16 --seed 2 "
             "--out %s 2>&1", dir, lonely, test_t5pt_bin(), common, dir);
    ck_assert_msg(test_run(cmd, &log) == 0, "%s\n%s", cmd, log);
    ck_assert_msg(strstr(log, "--loss sum-zloss") && strstr(log, "--adafactor-start-step 1100000") &&
                  strstr(log, "--optim adafactor-t5x") && strstr(log, "recipe paper"), "%s", log);
    free(log);
    char path[700];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    json_doc *doc;
    ck_assert_int_eq(t5pt_read_json(path, T5PT_ERR_FORMAT, &doc), T5PT_OK);
    ck_assert_str_eq(t5pt_json_get_str(t5pt_json_root(doc), "prompt_tuning_init"), "SAMPLE_VOCAB");
    int64_t v;
    ck_assert(t5pt_json_get_int(t5pt_json_root(doc), "num_layers", &v) == 0 && v == 2);
    ck_assert(t5pt_json_get_int(t5pt_json_root(doc), "num_attention_heads", &v) == 0 && v == 4);
    t5pt_json_free(doc);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    st_file *f;
    ck_assert_int_eq(t5pt_st_open(&f, path), T5PT_OK);
    ck_assert_str_eq(t5pt_st_metadata(f, "t5pt_placement"), "append");
    ck_assert_str_eq(t5pt_st_metadata(f, "t5pt_init"), "class-labels");
    ck_assert_str_eq(t5pt_st_metadata(f, "t5pt_init_text"), "positive,negative");
    t5pt_st_close(f);

    /* eval: the recorded placement by itself equals --placement append; prepend is another model */
    double acc[4];
    const char *variants[4] = {"", "--placement append", "--placement prepend", NULL};
    for (int k = 0; k < 4; k++) {
        const char *prompt = k == 3 ? path : dir;   /* k 3: the bare file beside its config */
        snprintf(cmd, sizeof cmd, "%s eval %s --data examples/sentiment/valid.jsonl --labels positive,negative "
                 "--no-generate --prompt %s %s 2>&1", test_t5pt_bin(), common, prompt, k == 3 ? "" : variants[k]);
        ck_assert_msg(test_run(cmd, &log) == 0, "%s\n%s", cmd, log);
        acc[k] = number_after(log, "rank_accuracy ");
        if (k == 0 || k == 3) ck_assert_msg(strstr(log, "using placement append, recorded in"), "%s", log);
        if (k == 1) ck_assert_msg(!strstr(log, "recorded") && !strstr(log, "note:"), "%s", log);
        if (k == 2) ck_assert_msg(strstr(log, "was trained with --placement append; using the --placement given"), "%s", log);
        ck_assert_msg(!strstr(log, "has no adapter_config.json"), "%s", log);
        free(log);
    }
    ck_assert_msg(acc[0] >= 0 && acc[0] == acc[1] && acc[0] == acc[3], "recorded %g, explicit %g, bare file %g", acc[0],
                  acc[1], acc[3]);
    /* a bare file without its config: every row, said on stderr */
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s %s/adapter_model.safetensors && %s eval %s --data "
             "examples/sentiment/valid.jsonl --labels positive,negative --no-generate --prompt "
             "%s/adapter_model.safetensors 2>&1", lonely, path, lonely, test_t5pt_bin(), common, lonely);
    ck_assert_msg(test_run(cmd, &log) == 0, "%s\n%s", cmd, log);
    ck_assert_msg(strstr(log, "has no adapter_config.json beside it: all 6 rows"), "%s", log);
    ck_assert_msg(number_after(log, "rank_accuracy ") == acc[0], "%s", log);   /* t5pt writes n rows */
    free(log);
    /* generate says which placement it uses too */
    snprintf(cmd, sizeof cmd, "%s generate %s --prompt %s 'review: the soup was dreadful.' 2>&1", test_t5pt_bin(), common, dir);
    ck_assert_msg(test_run(cmd, &log) == 0, "%s\n%s", cmd, log);
    ck_assert_msg(strstr(log, "using placement append"), "%s", log);
    free(log);
}
END_TEST

/* ---- t5pt sweep on the shipped model: the table and figure, a rerun that skips what is done,
 * a results file of other settings refused, grid mistakes as usage errors */
START_TEST(test_sweep_command) {
    char dir[512], cmd[4096], *log;
    snprintf(dir, sizeof dir, "%s", test_tmp("sweep"));
    const char *args = "--model examples/tiny-t5 --tokenizer assets/t5/spiece.model --train examples/sentiment/train.jsonl "
                       "--valid examples/sentiment/valid.jsonl --labels positive,negative --lengths 1,2 "
                       "--inits random-uniform,class-labels --placements append --placement-len 2 --seeds 1 "
                       "--steps 2 --eval-every 1 --batch 8";
    snprintf(cmd, sizeof cmd, "rm -rf %s && %s sweep %s --out %s 2>&1", dir, test_t5pt_bin(), args, dir);
    ck_assert_msg(test_run(cmd, &log) == 0, "%s\n%s", cmd, log);
    ck_assert_msg(strstr(log, "sweep: 5 runs") && strstr(log, "[5/5] len2-class-labels-append-seed1") &&
                  strstr(log, "| placement | 2 | class-labels | append | 1 |") && strstr(log, "figure.svg"), "%s", log);
    free(log);
    snprintf(cmd, sizeof cmd, "%s/figure.svg", dir);
    ck_assert(t5pt_file_exists(cmd));
    snprintf(cmd, sizeof cmd, "%s/runs/len2-class-labels-append-seed1/adapter_config.json", dir);
    ck_assert(t5pt_file_exists(cmd));
    snprintf(cmd, sizeof cmd, "%s sweep %s --out %s 2>&1", test_t5pt_bin(), args, dir);
    ck_assert_msg(test_run(cmd, &log) == 0, "%s\n%s", cmd, log);
    ck_assert_msg(strstr(log, "(5 runs were already in") && !strstr(log, "[1/5]"), "%s", log);
    free(log);
    /* another learning rate, or bf16 products, are other settings */
    const char *other[] = {"--lr 0.1", "--precision bf16"};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s sweep %s --out %s %s 2>&1", test_t5pt_bin(), args, dir, other[i]);
        ck_assert_msg(test_run(cmd, &log) == 1, "%s\n%s", cmd, log);
        ck_assert_msg(strstr(log, "results.jsonl:1: made by a sweep with other settings"), "%s\n%s", cmd, log);
        free(log);
    }
    const char *bad[][2] = {{"--lengths 0", "--lengths: '0'"}, {"--inits text", "text"},
                            {"--placements sideways", "placement"}, {"--seeds 1,1", "seed 1 given twice"}};
    for (int i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd, "%s sweep --model examples/tiny-t5 --train examples/sentiment/train.jsonl --valid "
                 "examples/sentiment/valid.jsonl --labels positive,negative --out %s %s 2>&1", test_t5pt_bin(), dir, bad[i][0]);
        ck_assert_msg(test_run(cmd, &log) == 2, "%s\n%s", cmd, log);
        ck_assert_msg(strstr(log, bad[i][1]), "%s\n%s", cmd, log);
        free(log);
    }
}
END_TEST

int main(void) {
    if (!t5pt_file_exists(test_t5pt_bin())) {
        fprintf(stderr, "test_cli: %s not built (run make)\n", test_t5pt_bin());
        return 1;
    }
    if (!test_tmpdir_create("cli")) {
        perror("test_cli: cannot create a temp directory");
        return 1;
    }
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_option_errors);
    tcase_add_test(tc, test_readme_train_flags);
    tcase_add_test(tc, test_info);
    tcase_add_test(tc, test_tokenize);
    tcase_add_loop_test(tc, test_dump_golden, 0, (int)(sizeof dump_cases / sizeof dump_cases[0]));
    tcase_add_loop_test(tc, test_dump_bf16, 0, (int)(sizeof bf16_dump_cases / sizeof bf16_dump_cases[0]));
    tcase_add_test(tc, test_dump_errors);
    tcase_add_test(tc, test_dump_peft_adapter);
    tcase_add_test(tc, test_adapter_round_trip);
    tcase_add_test(tc, test_sweep_command);
    tcase_add_test(tc, test_train_bad_data);
    tcase_add_test(tc, test_train_kill_and_resume);
    tcase_add_test(tc, test_errors_before_loading);
    tcase_add_test(tc, test_train_faults);
    tcase_add_test(tc, test_ids_past_the_tokenizer);
    tcase_add_test(tc, test_init_model);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    golden_print_notes("cli dump");
    test_tmpdir_remove();
    return failed == 0 ? 0 : 1;
}
