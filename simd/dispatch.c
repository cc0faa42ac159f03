/* dispatch.c — which kernel table runs: CPU detection, the T5PT_SIMD override,
 * (the thread count and the wait policy: simd/threads.c).
 *
 * The choice is made once, at the first call of t5pt_kern() (or of any function
 * below): the best path the CPU and the OS support, lowered by T5PT_SIMD if set.
 * T5PT_SIMD may only lower: asking for a path the CPU lacks is an error, recorded
 * for t5pt_simd_env_status() (the CLI reports it) while the best path stays in use.
 */
#include "base/internal.h"
#include "simd/kernels.h"
#include "simd/bf16.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

/* ------------------------------------------------------------------ CPU features */

typedef struct {
    int avx2;     /* AVX2 + FMA + F16C, with the OS saving YMM state */
    int avx512;   /* AVX-512 F/BW/DQ/VL, with the OS saving ZMM and opmask state */
    int avx512bf16; /* AVX512_BF16 (vdpbf16ps) on top of avx512 */
    int neon;     /* AArch64 Advanced SIMD (always present on AArch64) */
    int armbf16;  /* ARM BF16 (bfdot, bfmmla): HWCAP2_BF16 */
    char names[256];
} cpu_info;

static cpu_info cpu;

static void append(char *buf, size_t size, const char *word) {
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, "%s%s", len ? " " : "", word);
}

#if defined(__x86_64__) || defined(__i386__)
/* XCR0: which register states the OS saves on a context switch. Only valid
 * when CPUID reports OSXSAVE. Written as asm so this file needs no -mxsave. */
static unsigned long long read_xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static void detect_cpu(void) {
    unsigned int a, b, c, d;
    unsigned int max_leaf = __get_cpuid_max(0, NULL);
    int sse2 = 0, avx = 0, fma = 0, f16c = 0, osxsave = 0;
    int avx2 = 0, a512f = 0, a512bw = 0, a512dq = 0, a512vl = 0, a512bf16 = 0;
    if (max_leaf >= 1 && __get_cpuid(1, &a, &b, &c, &d)) {
        sse2 = (d >> 26) & 1;
        fma = (c >> 12) & 1;
        osxsave = (c >> 27) & 1;
        avx = (c >> 28) & 1;
        f16c = (c >> 29) & 1;
    }
    if (max_leaf >= 7 && __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        avx2 = (b >> 5) & 1;
        a512f = (b >> 16) & 1;
        a512dq = (b >> 17) & 1;
        a512bw = (b >> 30) & 1;
        a512vl = (b >> 31) & 1;
    }
    /* AVX512_BF16: CPUID.(EAX=7,ECX=1):EAX[5] */
    if (max_leaf >= 7 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) a512bf16 = (a >> 5) & 1;
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    int os_ymm = (xcr0 & 0x6) == 0x6;            /* SSE + AVX state */
    int os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0; /* opmask + ZMM_Hi256 + Hi16_ZMM */

    char *s = cpu.names;
    size_t n = sizeof cpu.names;
    if (sse2) append(s, n, "sse2");
    if (avx) append(s, n, "avx");
    if (avx2) append(s, n, "avx2");
    if (fma) append(s, n, "fma");
    if (f16c) append(s, n, "f16c");
    if (a512f) append(s, n, "avx512f");
    if (a512bw) append(s, n, "avx512bw");
    if (a512dq) append(s, n, "avx512dq");
    if (a512vl) append(s, n, "avx512vl");
    if (a512bf16) append(s, n, "avx512bf16");
    if (!os_ymm && avx) append(s, n, "(os-no-avx)");
    if (os_ymm && !os_zmm && a512f) append(s, n, "(os-no-avx512)");

    cpu.avx2 = avx && avx2 && fma && f16c && os_ymm;
    cpu.avx512 = cpu.avx2 && a512f && a512bw && a512dq && a512vl && os_zmm;
    cpu.avx512bf16 = cpu.avx512 && a512bf16;
#ifdef T5PT_AVX512_SIMDE
    /* test-only build: the AVX-512 kernels run through SIMDe on AVX2 (simd/avx512_simde.h) */
    cpu.avx512 = cpu.avx2;
    cpu.avx512bf16 = cpu.avx2;
    if (cpu.avx512) append(s, n, "avx512-by-simde avx512bf16-by-simde");
#endif
}
#elif defined(__aarch64__)
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1UL << 14) /* Linux arch/arm64 uapi hwcap.h */
#endif
static void detect_cpu(void) {
    cpu.neon = 1; /* Advanced SIMD is mandatory in AArch64 */
    append(cpu.names, sizeof cpu.names, "neon");
#ifdef __linux__
    cpu.armbf16 = (getauxval(AT_HWCAP2) & HWCAP2_BF16) != 0;
    if (cpu.armbf16) append(cpu.names, sizeof cpu.names, "bf16");
#endif
}
#else
static void detect_cpu(void) { append(cpu.names, sizeof cpu.names, "none"); }
#endif

/* ------------------------------------------------------------------ selection */

/* The bf16 kernel called `name` if this build has it and the CPU runs it (simd/bf16.h). */
static const t5pt_bf16_kernel *bf16_named(const char *name) {
    if (!name) return NULL;
    if (!strcmp(name, "scalar-emul")) return t5pt_bf16_kernel_scalar();
    if (!strcmp(name, "avx2-emul")) return cpu.avx2 ? t5pt_bf16_kernel_avx2() : NULL;
    if (!strcmp(name, "avx512bf16")) return cpu.avx512bf16 ? t5pt_bf16_kernel_avx512bf16() : NULL;
    if (!strcmp(name, "neon-emul")) return cpu.neon ? t5pt_bf16_kernel_neon() : NULL;
    if (!strcmp(name, "armbf16")) return cpu.armbf16 ? t5pt_bf16_kernel_armbf16() : NULL;
    return NULL;
}

static char bf16_paths[96];

static const t5pt_kernels *selected;
static t5pt_status env_status = T5PT_OK;
static char env_message[512];

/* The table of `name` if this build has it and the CPU runs it; NULL otherwise. */
static const t5pt_kernels *table_for(const char *name) {
    if (strcmp(name, "scalar") == 0) return t5pt_kernels_scalar();
    if (strcmp(name, "avx2") == 0) return cpu.avx2 ? t5pt_kernels_avx2() : NULL;
    if (strcmp(name, "avx512") == 0) return cpu.avx512 ? t5pt_kernels_avx512() : NULL;
    if (strcmp(name, "neon") == 0) return cpu.neon ? t5pt_kernels_neon() : NULL;
    return NULL;
}

static const t5pt_kernels *best_table(void) {
    static const char *order[] = {"avx512", "avx2", "neon"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const t5pt_kernels *k = table_for(order[i]);
        if (k) return k;
    }
    return t5pt_kernels_scalar();
}

static int known_name(const char *name) {
    return !strcmp(name, "scalar") || !strcmp(name, "avx2") || !strcmp(name, "avx512") || !strcmp(name, "neon");
}

/* Shared by the env path and t5pt_simd_select: the status and a one-line message. */
static t5pt_status lookup(const char *name, const t5pt_kernels **out, char *msg, size_t msg_size) {
    *out = NULL;
    if (!known_name(name)) {
        snprintf(msg, msg_size, "T5PT_SIMD/--simd: unknown SIMD path '%.32s' (expected scalar, avx2, avx512 or neon)",
                 name);
        return T5PT_ERR_ARG;
    }
    const t5pt_kernels *k = table_for(name);
    if (!k) {
        snprintf(msg, msg_size, "T5PT_SIMD/--simd: SIMD path '%.32s' is not available on this CPU/build (CPU has: %s)",
                 name, cpu.names[0] ? cpu.names : "no SIMD features");
        return T5PT_ERR_UNSUPPORTED;
    }
    *out = k;
    return T5PT_OK;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static char paths[64];

static void init_dispatch(void) {
    detect_cpu();
    static const char *all[] = {"avx512", "avx2", "neon", "scalar"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (table_for(all[i])) append(paths, sizeof paths, all[i]);
    static const char *bf16_all[] = {"avx512bf16", "armbf16", "avx2-emul", "neon-emul", "scalar-emul"};
    for (size_t i = 0; i < sizeof bf16_all / sizeof bf16_all[0]; i++)
        if (bf16_named(bf16_all[i])) append(bf16_paths, sizeof bf16_paths, bf16_all[i]);
    selected = best_table();
    const char *env = getenv("T5PT_SIMD");
    if (env && env[0]) {
        const t5pt_kernels *k;
        env_status = lookup(env, &k, env_message, sizeof env_message);
        if (env_status == T5PT_OK) selected = k;
    }
}

static void ensure_init(void) { pthread_once(&init_once, init_dispatch); }

const t5pt_kernels *t5pt_kern(void) {
    ensure_init();
    return selected;
}

const char *t5pt_simd_path(void) { return t5pt_kern()->name; }

t5pt_status t5pt_simd_select(const char *name) {
    ensure_init();
    if (!name) return t5pt_set_error(T5PT_ERR_ARG, "t5pt_simd_select: no path name given");
    const t5pt_kernels *k;
    char msg[512];
    t5pt_status st = lookup(name, &k, msg, sizeof msg);
    if (st != T5PT_OK) return t5pt_set_error(st, "%s", msg);
    selected = k;
    return T5PT_OK;
}

t5pt_status t5pt_simd_env_status(void) {
    ensure_init();
    if (env_status != T5PT_OK) return t5pt_set_error(env_status, "%s", env_message);
    return T5PT_OK;
}

const char *t5pt_cpu_features(void) {
    ensure_init();
    return cpu.names;
}

/* Space-separated list of the paths this CPU and build can run, best first. */
const char *t5pt_simd_paths(void) {
    ensure_init();
    return paths;
}

/* ------------------------------------------------------------------ bf16 kernels */

/* The native kernel when the selected path's CPU has one, else that path's emulation
 * (simd/bf16.h). Follows t5pt_simd_select and T5PT_SIMD: T5PT_SIMD=avx2 on an
 * AVX512_BF16 CPU runs the emulation. */
const t5pt_bf16_kernel *t5pt_bf16_kern(void) {
    const char *path = t5pt_kern()->name;
    const t5pt_bf16_kernel *k = NULL;
    if (!strcmp(path, "avx512")) k = cpu.avx512bf16 ? t5pt_bf16_kernel_avx512bf16() : t5pt_bf16_kernel_avx2();
    else if (!strcmp(path, "avx2")) k = t5pt_bf16_kernel_avx2();
    else if (!strcmp(path, "neon")) k = cpu.armbf16 ? t5pt_bf16_kernel_armbf16() : t5pt_bf16_kernel_neon();
    return k ? k : t5pt_bf16_kernel_scalar();
}

const t5pt_bf16_kernel *t5pt_bf16_kernel_named(const char *name) {
    ensure_init();
    return bf16_named(name);
}

const char *t5pt_bf16_kernels_available(void) {
    ensure_init();
    return bf16_paths;
}
