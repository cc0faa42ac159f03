/* options.c — the table-driven option parser (see options.h). */
#include "cli/options.h"
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_strs_free(cli_strs *s) {
    if (!s) return;
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "t5pt %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see t5pt %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

/* ------------------------------------------------------------------ --help */

static int is_option(const cli_option *o) { return o->kind != CLI_SECTION; }

/* The default as --help shows it, into buf ("" when there is none to show). */
static void default_text(const cli_option *o, char *buf, size_t n) {
    buf[0] = 0;
    if (o->dflt) {
        snprintf(buf, n, "%s", o->dflt);
        return;
    }
    switch (o->kind) {
    case CLI_STR:
        if (*(const char *const *)o->target) snprintf(buf, n, "%s", *(const char *const *)o->target);
        break;
    case CLI_INT: snprintf(buf, n, "%d", *(const int *)o->target); break;
    case CLI_U64: snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)o->target); break;
    case CLI_FLOAT: snprintf(buf, n, "%g", (double)*(const float *)o->target); break;
    default: break;
    }
}

enum { HELP_COLUMN = 26, HELP_WIDTH = 100 };

void cli_print_help(const cli_command *c, FILE *f) {
    fprintf(f, "usage: t5pt %s %s\n", c->name, c->usage);
    if (c->about) fprintf(f, "\n%s", c->about);
    fputc('\n', f);
    for (const cli_option *o = c->options; o->name; o++) {
        if (!is_option(o)) {
            fprintf(f, "%s\n", o->help);
            continue;
        }
        char head[96], dflt[160];
        int len = snprintf(head, sizeof head, "  --%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        if (len >= HELP_COLUMN - 1) fprintf(f, "%s\n%*s", head, HELP_COLUMN, "");
        else fprintf(f, "%-*s", HELP_COLUMN, head);
        /* continuation lines of the help text start at the same column */
        int col = HELP_COLUMN;
        for (const char *p = o->help; *p; p++) {
            fputc(*p, f);
            col++;
            if (*p == '\n') {
                fprintf(f, "%*s", HELP_COLUMN, "");
                col = HELP_COLUMN;
            }
        }
        char note[200] = "";
        default_text(o, dflt, sizeof dflt);
        if (o->flags & CLI_REQUIRED) snprintf(note, sizeof note, "(required)");
        else if (dflt[0]) snprintf(note, sizeof note, "(default %s)", dflt);
        if (note[0] && col + 1 + (int)strlen(note) > HELP_WIDTH) fprintf(f, "\n%*s%s\n", HELP_COLUMN, "", note);
        else fprintf(f, "%s%s\n", note[0] ? " " : "", note);
    }
    if (c->epilog) fprintf(f, "\n%s", c->epilog);
    if (c->loads_tokenizer) {
        fputc('\n', f);
        cli_print_tokenizer_lookup(f);
    }
}

/* ------------------------------------------------------------------ values */

/* Levenshtein distance of two short names (for "did you mean"). */
static int edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 63 || m > 63) return 99;
    int prev[64], cur[64];
    for (size_t j = 0; j <= m; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (m + 1));
    }
    return prev[m];
}

static const cli_option *find_option(const cli_option *opts, const char *name, size_t len) {
    for (const cli_option *o = opts; o->name; o++)
        if (is_option(o) && strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    return NULL;
}

static int unknown_option(const cli_command *c, const char *arg, size_t len) {
    const cli_option *best = NULL;
    int best_d = 3;   /* suggest only close names: at most 2 edits */
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), arg);
    for (const cli_option *o = c->options; o->name; o++) {
        if (!is_option(o)) continue;
        int d = edit_distance(name, o->name);
        if (d < best_d) {
            best_d = d;
            best = o;
        }
    }
    if (best) {
        fprintf(stderr, "t5pt %s: --%s: unknown option (did you mean --%s? see t5pt %s --help)\n", c->name, name,
                best->name, c->name);
        return 2;
    }
    return cli_usage_error(c->name, "--%s: unknown option", name);
}

/* The range of a number option as text: ">= 1", "> 0", "from 1 to 64", "in [0, 1)". */
static void range_text(const cli_option *o, double lo, double hi, char *buf, size_t n) {
    int lo_x = (o->flags & CLI_MIN_EXCLUSIVE) != 0, hi_x = (o->flags & CLI_MAX_EXCLUSIVE) != 0;
    int open_hi = o->kind == CLI_INT ? hi >= INT_MAX : hi >= FLT_MAX;
    if (o->kind == CLI_INT) snprintf(buf, n, "from %.0f to %.0f", lo_x ? lo + 1 : lo, hi_x ? hi - 1 : hi);
    else if (open_hi) snprintf(buf, n, "%s %g", lo_x ? ">" : ">=", lo);
    else snprintf(buf, n, "in %s%g, %g%s", lo_x ? "(" : "[", lo, hi, hi_x ? ")" : "]");
}

/* The accepted range: [min, max], max 0 meaning no upper bound (see options.h). */
static void number_range(const cli_option *o, double *lo, double *hi) {
    *lo = o->min;
    *hi = o->max != 0 ? o->max : o->kind == CLI_INT ? (double)INT_MAX : (double)FLT_MAX;
}

static int bad_number(const cli_command *c, const cli_option *o, const char *v, const char *what) {
    double lo, hi;
    char range[96];
    number_range(o, &lo, &hi);
    range_text(o, lo, hi, range, sizeof range);
    fprintf(stderr, "t5pt %s: --%s %s: %s%s %s\n", c->name, o->name, v, what,
            o->kind == CLI_INT ? "an integer" : "a number", range);
    return 2;
}

static int in_range(const cli_option *o, double x) {
    double lo, hi;
    number_range(o, &lo, &hi);
    if ((o->flags & CLI_MIN_EXCLUSIVE) ? !(x > lo) : !(x >= lo)) return 0;
    if ((o->flags & CLI_MAX_EXCLUSIVE) ? !(x < hi) : !(x <= hi)) return 0;
    return 1;
}

/* A CLI_STR value must be one of o->choices ("a|b|c"): 0, or 2 after "expected a, b or c". */
static int check_choice(const cli_command *c, const cli_option *o, const char *v) {
    const size_t len = strlen(v);
    for (const char *p = o->choices; *p;) {
        size_t k = strcspn(p, "|");
        if (k == len && strncmp(p, v, len) == 0) return 0;
        p += k + (p[k] == '|');
    }
    char list[256];
    size_t k = 0;
    for (const char *q = o->choices; *q && k + 4 < sizeof list; q++) {
        if (*q != '|') list[k++] = *q;
        else k += (size_t)snprintf(list + k, sizeof list - k, "%s", strchr(q + 1, '|') ? ", " : " or ");
    }
    list[k < sizeof list ? k : sizeof list - 1] = 0;
    fprintf(stderr, "t5pt %s: --%s %s: expected %s\n", c->name, o->name, v, list);
    return 2;
}

/* strto* skip leading blanks; here the whole text must be the number */
static int starts_like_a_number(const char *v) { return v[0] && !isspace((unsigned char)v[0]); }

static int store_int(const cli_command *c, const cli_option *o, const char *v) {
    char *end = NULL;
    errno = 0;
    long x = starts_like_a_number(v) ? strtol(v, &end, 10) : 0;
    if (!end || end == v || *end) return bad_number(c, o, v, "expected ");
    if (errno == ERANGE || x < INT_MIN || x > INT_MAX || !in_range(o, (double)x))
        return bad_number(c, o, v, "out of range: expected ");
    *(int *)o->target = (int)x;
    return 0;
}

static int store_u64(const cli_command *c, const cli_option *o, const char *v) {
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)v[0])) {   /* strtoull would wrap "-1" around */
        fprintf(stderr, "t5pt %s: --%s %s: expected a non-negative integer\n", c->name, o->name, v);
        return 2;
    }
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || errno) {
        fprintf(stderr, "t5pt %s: --%s %s: expected a non-negative integer below 2^64\n", c->name, o->name, v);
        return 2;
    }
    *(uint64_t *)o->target = (uint64_t)x;
    return 0;
}

static int store_float(const cli_command *c, const cli_option *o, const char *v) {
    char *end = NULL;
    double x = starts_like_a_number(v) ? strtod(v, &end) : 0;
    if (!end || end == v || *end || isnan(x)) return bad_number(c, o, v, "expected ");
    /* the value is used as a float: 1e39 would become inf, 1e-50 zero */
    if (!isfinite(x) || fabs(x) > FLT_MAX) return bad_number(c, o, v, "too large for a 32-bit float: expected ");
    float f = (float)x;
    if (x != 0 && f == 0) return bad_number(c, o, v, "too small for a 32-bit float: expected ");
    if (!in_range(o, (double)f)) return bad_number(c, o, v, "out of range: expected ");
    *(float *)o->target = f;
    return 0;
}

static int append_value(const cli_command *c, cli_strs *s, const char *v) {
    const char **nv = realloc(s->v, (size_t)(s->n + 1) * sizeof *nv);
    if (!nv) {
        cli_fail(c->name, "out of memory");
        return 2;
    }
    nv[s->n++] = v;
    s->v = nv;
    return 0;
}

/* Stores value v of option o. Returns 0, or 2 after printing the error. */
static int store(const cli_command *c, const cli_option *o, const char *v) {
    switch (o->kind) {
    case CLI_STR:
        if (o->choices && check_choice(c, o, v)) return 2;
        *(const char **)o->target = v;
        return 0;
    case CLI_STRS: return append_value(c, o->target, v);
    case CLI_INT: return store_int(c, o, v);
    case CLI_U64: return store_u64(c, o, v);
    case CLI_FLOAT: return store_float(c, o, v);
    default: return 0;
    }
}

/* ------------------------------------------------------------------ parsing */

int cli_parse(const cli_command *c, int argc, char **argv) {
    /* --help first, wherever it is, so that it shows the defaults, not values given before it */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_print_help(c, stdout);
            return 0;
        }
    size_t nopt = 0;
    for (const cli_option *o = c->options; o->name; o++) nopt++;
    char *seen = calloc(nopt + 1, 1);
    if (!seen) {
        cli_fail(c->name, "out of memory");
        return 2;
    }
    int rc = CLI_PARSED, only_args = 0;
    for (int i = 1; i < argc && rc == CLI_PARSED; i++) {
        const char *a = argv[i];
        if (only_args || a[0] != '-' || !a[1]) {   /* a positional argument ("-" alone too) */
            if (!c->args) {
                rc = cli_usage_error(c->name, "'%s': unexpected argument", a);
                break;
            }
            rc = append_value(c, c->args, a) ? 2 : CLI_PARSED;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_args = 1;
            continue;
        }
        if (a[1] != '-') {
            rc = cli_usage_error(c->name, "%s: unknown option (options start with --)", a);
            break;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_option *o = find_option(c->options, name, len);
        if (!o) {
            rc = unknown_option(c, name, len);
            break;
        }
        size_t k = (size_t)(o - c->options);
        if (seen[k] && o->kind != CLI_STRS) {
            rc = cli_usage_error(c->name, "--%s: given more than once", o->name);
            break;
        }
        seen[k] = 1;
        if (o->given) *o->given = 1;
        if (o->kind == CLI_FLAG) {
            if (eq) {
                rc = cli_usage_error(c->name, "--%s takes no value", o->name);
                break;
            }
            *(int *)o->target = 1;
            continue;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (i + 1 >= argc) {
            rc = cli_usage_error(c->name, "--%s: missing value %s", o->name, o->metavar ? o->metavar : "");
            break;
        } else {
            v = argv[++i];
            /* "--out --resume" is a forgotten value far more often than a name starting with "--" */
            if (v[0] == '-' && v[1] == '-' && v[2]) {
                rc = cli_usage_error(c->name, "--%s: missing value %s before %s (write --%s=%s if that is the value)",
                                     o->name, o->metavar ? o->metavar : "", v, o->name, v);
                break;
            }
        }
        if (!v[0]) {
            rc = cli_usage_error(c->name, "--%s: empty value", o->name);
            break;
        }
        if (store(c, o, v)) rc = 2;
    }
    for (const cli_option *o = c->options; rc == CLI_PARSED && o->name; o++)
        if (is_option(o) && (o->flags & CLI_REQUIRED) && !seen[o - c->options])
            rc = cli_usage_error(c->name, "--%s %s is required", o->name, o->metavar ? o->metavar : "");
    free(seen);
    return rc;
}
