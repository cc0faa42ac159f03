/* cmd_info.c — `t5pt info`: CPU features, SIMD path, threads. */
#include "cli/cli.h"
#include "simd/kernels.h"
#include "simd/bf16.h"
#include "simd/threads.h"

#include <stdlib.h>
#include <string.h>

int cli_info(int argc, char **argv) {
    int paths = 0, path = 0;
    const cli_option opts[] = {
        {.name = "paths", .kind = CLI_FLAG, .target = &paths, .help = "print only the SIMD paths this CPU can run, space separated (best last)"},
        {.name = "path", .kind = CLI_FLAG, .target = &path, .help = "print only the path in use"},
        {0}};
    const cli_command c = {
        .name = "info",
        .usage = "[--paths | --path]",
        .about = "Prints the CPU features found, the SIMD kernel path in use, the bf16 GEMM kernel\n"
                 "(native or emulated) and the thread count.\n",
        .options = opts,
        .epilog = "The path is the best the CPU has unless T5PT_SIMD=scalar|avx2|avx512|neon lowers it;\n"
                  "the thread count comes from OpenMP (OMP_NUM_THREADS).\n",
    };
    int rc = cli_parse(&c, argc, argv);
    if (rc != CLI_PARSED) return rc;
    if (paths && path) return cli_usage_error("info", "--paths and --path exclude each other");
    const char *cur = t5pt_simd_path();   /* also validates T5PT_SIMD */
    if (path) {
        printf("%s\n", cur);
        return 0;
    }
    /* A path is runnable when its table is compiled in and the CPU has its features:
     * try selecting each (selection never raises above the CPU), then restore. */
    const char *names[] = {"scalar", "avx2", "avx512", "neon"};
    char list[64] = "";
    for (int k = 0; k < 4; k++) {
        if (t5pt_simd_select(names[k]) != T5PT_OK) continue;
        if (list[0]) strcat(list, " ");
        strcat(list, names[k]);
    }
    t5pt_simd_select(cur);
    if (paths) {
        printf("%s\n", list);
        return 0;
    }
    printf("cpu features: %s\n", t5pt_cpu_features());
    printf("simd paths:   %s\n", list);
    printf("simd path:    %s\n", cur);
    const t5pt_bf16_kernel *bk = t5pt_bf16_kern();
    printf("bf16 gemm:    %s (%s)\n", bk->name,
           bk->native ? "native" : "emulated in fp32: this CPU/path has no AVX512_BF16 or ARM BF16");
    cli_set_threads(0); /* the default count the other commands start from */
    printf("threads:      %d (%s)\n", t5pt_num_threads(),
           getenv("OMP_NUM_THREADS") ? "OMP_NUM_THREADS"
                                     : "train, eval, generate, dump, bench step: fewer while other programs keep cores busy, "
                                       "unless --threads N");
    if (t5pt_cgroup_cpu_cores() > 0)
        printf("cpu quota:    %d core%s (this process's cgroup: the default thread count is at most that)\n",
               t5pt_cgroup_cpu_cores(), t5pt_cgroup_cpu_cores() == 1 ? "" : "s");
#ifdef _OPENMP
    printf("openmp:       yes\n");
#else
    printf("openmp:       no (built without OpenMP: single-threaded)\n");
#endif
    return 0;
}
