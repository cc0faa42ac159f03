/* test_cli.c — the t5pt command end to end (runs build/t5pt, built by `make test`).
 *
 *   - every subcommand answers --help with its usage and exit status 0;
 *   - `dump` on golden cases writes logits / loss / encoder output / prompt gradient /
 *     optimizer trajectory matching the reference's expected tensors;
 *   - `tokenize` round trip with the shipped vocabulary;
 *   - `train` on bad data: exit status != 0, one line "t5pt train: FILE:LINE: problem",
 *     and an existing prompt in --out left byte-identical;
 *   - `info --paths` / `--path` (used by the Makefile's test-paths).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "golden_util.h"
#include "base/internal.h"

#ifndef T5PT_BIN
#define T5PT_BIN "build/t5pt"
#endif

/* Runs a shell command; returns its exit status and (if out) its stdout+stderr, malloc'd. */
static int run(const char *cmd, char **out) {
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p, "popen %s", cmd);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    if (out) *out = buf; else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The t5pt next to this test's build directory (build/tests/test_cli -> build/t5pt, so the
 * sanitizer build tests its own binary); T5PT_BIN overrides. */
static const char *bin(void) {
    static char path[4096];
    const char *b = getenv("T5PT_BIN");
    if (b) return b;
    if (!path[0]) {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 16);
        char *slash = n > 0 ? (path[n] = 0, strrchr(path, '/')) : NULL;
        if (slash) strcpy(slash, "/../t5pt");
        if (!slash || !t5pt_file_exists(path)) snprintf(path, sizeof path, "%s", T5PT_BIN);
    }
    return path;
}

START_TEST(test_help) {
    const char *cmds[] = {"train", "eval", "generate", "tokenize", "dump", "info", "init-model"};
    char cmd[256], *out;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s --help 2>&1", bin(), cmds[i]);
        ck_assert_msg(run(cmd, &out) == 0, "%s", cmd);
        char want[64];
        snprintf(want, sizeof want, "usage: t5pt %s", cmds[i]);
        ck_assert_msg(strstr(out, want), "%s: no '%s' in:\n%s", cmd, want, out);
        free(out);
    }
    snprintf(cmd, sizeof cmd, "%s --help", bin());
    ck_assert(run(cmd, &out) == 0);
    ck_assert(strstr(out, "commands:") && strstr(out, "train") && strstr(out, "bench"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s --version", bin());
    ck_assert(run(cmd, &out) == 0);
    ck_assert(strncmp(out, "t5pt ", 5) == 0);
    free(out);
    snprintf(cmd, sizeof cmd, "%s frobnicate 2>&1", bin());
    ck_assert(run(cmd, &out) != 0);
    ck_assert(strstr(out, "unknown command"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s train --bogus 2>&1", bin());
    ck_assert(run(cmd, &out) != 0);
    ck_assert(strstr(out, "t5pt train: unknown option '--bogus'"));
    free(out);
}
END_TEST

START_TEST(test_info) {
    char cmd[256], *paths, *path;
    snprintf(cmd, sizeof cmd, "%s info --paths", bin());
    ck_assert(run(cmd, &paths) == 0);
    snprintf(cmd, sizeof cmd, "%s info --path", bin());
    ck_assert(run(cmd, &path) == 0);
    ck_assert(strstr(paths, "scalar"));
    path[strcspn(path, "\n")] = 0;
    ck_assert_msg(strstr(paths, path), "path in use '%s' not among '%s'", path, paths);
    free(paths);
    free(path);
    snprintf(cmd, sizeof cmd, "%s info", bin());
    ck_assert(run(cmd, &path) == 0);
    ck_assert(strstr(path, "simd path:") && strstr(path, "threads:"));
    free(path);
}
END_TEST

START_TEST(test_tokenize) {
    char cmd[512], *out;
    snprintf(cmd, sizeof cmd, "printf 'Hello world\\n\\n' | %s tokenize --tokenizer assets/t5/spiece.model --eos", bin());
    ck_assert(run(cmd, &out) == 0);
    ck_assert_str_eq(out, "8774 296 1\n1\n");
    free(out);
    snprintf(cmd, sizeof cmd, "printf '8774 296 1\\n' | %s tokenize --tokenizer assets/t5/spiece.model --decode", bin());
    ck_assert(run(cmd, &out) == 0);
    ck_assert_str_eq(out, "Hello world\n");
    free(out);
    snprintf(cmd, sizeof cmd, "printf '99999\\n' | %s tokenize --tokenizer assets/t5/spiece.model --decode 2>&1", bin());
    ck_assert(run(cmd, &out) != 0);
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

static const char *dump_cases[] = {"relu_tied_prepend", "gelu_untied_prepend", "append", "at_k", "bf16_weights",
                                   "sharded", "traj_adafactor", "traj_adamw", "traj_adafactor_beta1_warmup"};

START_TEST(test_dump_golden) {
    golden_case *g = golden_open(dump_cases[_i]);
    ck_assert_msg(g, "%s", golden_error());
    char placement[32], cmd[2048], out_path[256], *log;
    if (g->placement.kind == T5PT_PLACE_AT) snprintf(placement, sizeof placement, "at:%d", g->placement.at);
    else snprintf(placement, sizeof placement, "%s", g->placement.kind == T5PT_PLACE_APPEND ? "append" : "prepend");
    snprintf(out_path, sizeof out_path, "/tmp/t5pt_test_cli_%ld_%s.safetensors", (long)getpid(), g->name);
    int traj = g->trajectory != NULL;
    /* the batch file is the case's inputs.safetensors: int64 ids, and prompt_embeddings for --prompt */
    int len = snprintf(cmd, sizeof cmd, "%s dump --model %s --batch %s/inputs.safetensors --prompt %s/inputs.safetensors "
                       "--placement %s --out %s --grad",
                       bin(), g->model_dir, g->dir, g->dir, placement, out_path);
    if (traj) {
        t5pt_optim_config oc;
        int steps;
        ck_assert(golden_optim_config(g, &oc, &steps) == 0);
        snprintf(cmd + len, sizeof cmd - len, " --steps %d --optim-json %s/case.json", steps, g->dir);
    }
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    ck_assert_msg(run(cmd, &log) == 0, "%s\n%s", cmd, log);
    free(log);
    st_file *got;
    ck_assert_msg(t5pt_st_open(&got, out_path) == T5PT_OK, "%s", t5pt_last_error());
    compare(g, got, g->expected, "logits", "logits", 1e-5);
    compare(g, got, g->expected, "loss", "loss", 1e-5);
    compare(g, got, g->expected, "encoder_last_hidden_state", "encoder_last_hidden_state", 1e-5);
    compare(g, got, g->expected, "prompt_grad", "prompt_grad", 1e-4);
    if (traj) {
        compare(g, got, g->trajectory, "losses", "losses", 1e-4);
        compare(g, got, g->trajectory, "prompt_after", "prompt_after", 1e-4);
    }
    t5pt_st_close(got);
    remove(out_path);
    golden_close(g);
}
END_TEST

START_TEST(test_dump_errors) {
    char cmd[512], *out;
    snprintf(cmd, sizeof cmd, "%s dump --model golden/cases/append/model --batch /nonexistent.safetensors --out /nonexistent/x 2>&1",
             bin());
    ck_assert(run(cmd, &out) != 0);
    ck_assert_msg(strstr(out, "t5pt dump: ") && strstr(out, "/nonexistent.safetensors"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s dump --model golden/cases/append/model 2>&1", bin());
    ck_assert(run(cmd, &out) != 0);
    ck_assert(strstr(out, "need --model, --batch and --out"));
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
                 "--steps 1 --prompt-len 3 2>&1 >/dev/null", bin(), bad_path, out);
        ck_assert_msg(run(cmd, &log) != 0, "case %zu: exit status 0", i);
        ck_assert_msg(strstr(log, "t5pt train: ") && strstr(log, bad[i].want), "case %zu: got '%s', want '%s'", i, log,
                      bad[i].want);
        /* exactly one line (the notice about the shipped tokenizer aside) */
        const char *nl = strchr(strstr(log, "t5pt train: /tmp/t5pt_test_cli"), '\n');
        ck_assert(nl && nl[1] == 0);
        free(log);
        /* the same through --valid */
        snprintf(cmd, sizeof cmd, "%s train --model examples/tiny-t5 --train examples/sentiment/train.jsonl "
                 "--valid %s --out %s --steps 1 --prompt-len 3 2>&1 >/dev/null", bin(), bad_path, out);
        ck_assert(run(cmd, &log) != 0);
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

/* ---- kill -9 at an arbitrary moment, then --resume: same bytes as an uninterrupted run */
START_TEST(test_train_kill_and_resume) {
    char a[128], b[128], cmd[2048], *log;
    snprintf(a, sizeof a, "/tmp/t5pt_test_cli_%ld_A", (long)getpid());
    snprintf(b, sizeof b, "/tmp/t5pt_test_cli_%ld_B", (long)getpid());
    const char *args = "--model examples/tiny-t5 --tokenizer assets/t5/spiece.model "
                       "--train examples/sentiment/train.jsonl --prompt-len 4 --batch 16 --steps 400 "
                       "--checkpoint-every 3 --dropout 0.1 --seed 9 --threads 1";
    snprintf(cmd, sizeof cmd, "rm -rf %s %s; %s train %s --out %s 2>&1", a, b, bin(), args, a);
    ck_assert_msg(run(cmd, &log) == 0, "%s", log);
    free(log);
    /* killed twice at different moments, resumed each time, then run to the end */
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "%s train %s --out %s --resume >/dev/null 2>&1 & p=$!; sleep %s; kill -9 $p; wait $p",
                 bin(), args, b, k ? "1.5" : "0.6");
        run(cmd, NULL);
    }
    snprintf(cmd, sizeof cmd, "%s train %s --out %s --resume 2>&1", bin(), args, b);
    ck_assert_msg(run(cmd, &log) == 0, "%s", log);
    /* the kills landed mid-run: the last resume started from a checkpoint before the end */
    const char *from = strstr(log, "resumed from step ");
    ck_assert_msg(from && atoi(from + 18) > 0 && atoi(from + 18) < 400, "%s", log);
    fprintf(stderr, "kill -9 twice, then resumed from step %d of 400\n", atoi(from + 18));
    free(log);
    char fa[192], fb[192], *x, *y;
    size_t nx, ny;
    snprintf(fa, sizeof fa, "%s/adapter_model.safetensors", a);
    snprintf(fb, sizeof fb, "%s/adapter_model.safetensors", b);
    ck_assert(t5pt_read_file(fa, &x, &nx) == T5PT_OK);
    ck_assert(t5pt_read_file(fb, &y, &ny) == T5PT_OK);
    ck_assert_msg(nx == ny && memcmp(x, y, nx) == 0, "killed-and-resumed prompt differs from the uninterrupted one");
    free(x);
    free(y);
    /* SIGINT: a clean stop with a checkpoint and exit status 3 */
    snprintf(cmd, sizeof cmd, "rm -rf %s; %s train %s --steps 100000 --out %s >/dev/null 2>%s.err & p=$!; sleep 1; "
             "kill -INT $p; wait $p; echo status=$?; cat %s.err", b, bin(), args, b, b, b);
    ck_assert(run(cmd, &log) == 0);
    ck_assert_msg(strstr(log, "status=3") && strstr(log, "continue with --resume"), "%s", log);
    free(log);
    snprintf(fb, sizeof fb, "%s/checkpoint.safetensors", b);
    ck_assert(t5pt_file_exists(fb));
    snprintf(cmd, sizeof cmd, "rm -rf %s %s %s.err", a, b, b);
    ck_assert(system(cmd) == 0);
}
END_TEST

/* ---- init-model writes a checkpoint the loader (and so Hugging Face) reads */
START_TEST(test_init_model) {
    char dir[128], cmd[1024], *log;
    snprintf(dir, sizeof dir, "/tmp/t5pt_test_cli_%ld_init", (long)getpid());
    const char *cfgs[2] = {"golden/cases/relu_tied_prepend/model/config.json",
                           "golden/cases/gelu_untied_prepend/model/config.json"};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "rm -rf %s; %s init-model --config %s --out %s --seed 3 --dtype %s 2>&1", dir, bin(),
                 cfgs[k], dir, k ? "bf16" : "f32");
        ck_assert_msg(run(cmd, &log) == 0, "%s", log);
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
            const float *a = t5pt_model_embedding(m, id), *b = t5pt_model_embedding(r, id);
            for (int j = 0; j < cfg.d_model; j++)
                ck_assert(k ? fabsf(a[j] - b[j]) <= 0.004f * fabsf(b[j]) + 1e-30f : a[j] == b[j]);
        }
        t5pt_model_free(m);
        t5pt_model_free(r);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert(system(cmd) == 0);
}
END_TEST

/* ---- a PEFT adapter written by the reference (2n rows, seq2seq) gives the case's logits */
START_TEST(test_dump_peft_adapter) {
    golden_case *g = golden_open("relu_tied_prepend");
    ck_assert_msg(g, "%s", golden_error());
    char cmd[2048], out_path[256], *log;
    snprintf(out_path, sizeof out_path, "/tmp/t5pt_test_cli_%ld_peft.safetensors", (long)getpid());
    snprintf(cmd, sizeof cmd, "%s dump --model %s --batch %s/inputs.safetensors --prompt %s/peft_adapter --out %s 2>&1",
             bin(), g->model_dir, g->dir, g->dir, out_path);
    ck_assert_msg(run(cmd, &log) == 0, "%s\n%s", cmd, log);
    free(log);
    st_file *got;
    ck_assert_msg(t5pt_st_open(&got, out_path) == T5PT_OK, "%s", t5pt_last_error());
    compare(g, got, g->expected, "logits", "logits", 1e-5);
    compare(g, got, g->expected, "loss", "loss", 1e-5);
    t5pt_st_close(got);
    remove(out_path);
    golden_close(g);
}
END_TEST

int main(void) {
    if (!t5pt_file_exists(bin())) {
        fprintf(stderr, "test_cli: %s not built (run make)\n", bin());
        return 1;
    }
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_info);
    tcase_add_test(tc, test_tokenize);
    tcase_add_loop_test(tc, test_dump_golden, 0, (int)(sizeof dump_cases / sizeof dump_cases[0]));
    tcase_add_test(tc, test_dump_errors);
    tcase_add_test(tc, test_dump_peft_adapter);
    tcase_add_test(tc, test_train_bad_data);
    tcase_add_test(tc, test_train_kill_and_resume);
    tcase_add_test(tc, test_init_model);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    golden_print_notes("cli dump");
    return failed == 0 ? 0 : 1;
}
