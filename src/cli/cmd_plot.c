/* cmd_plot.c — `t5pt plot`: training curves from the metrics log of `t5pt train --metrics`,
 * as one self-contained SVG (src/io/svg.h). `t5pt train --plot` redraws it at every
 * validation through cli_plot_metrics. */
#include "cli/cli.h"
#include "base/internal.h"
#include "io/json.h"
#include "io/svg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One run's log: the step lines and the validation lines (one series per metric name). */
typedef struct {
    double *step, *loss, *smooth;
    int n, cap;
    char *metric_name[4];
    double *eval_step[4], *eval_value[4];
    int n_eval[4], cap_eval[4], n_metrics;
} metrics_run;

static void run_free(metrics_run *r) {
    free(r->step);
    free(r->loss);
    free(r->smooth);
    for (int k = 0; k < r->n_metrics; k++) {
        free(r->metric_name[k]);
        free(r->eval_step[k]);
        free(r->eval_value[k]);
    }
    memset(r, 0, sizeof *r);
}

static int grow(double **a, int cap) {
    double *p = realloc(*a, (size_t)cap * sizeof **a);
    if (!p) return -1;
    *a = p;
    return 0;
}

static t5pt_status add_step(metrics_run *r, double step, double loss, double smooth) {
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 256;
        if (grow(&r->step, cap) || grow(&r->loss, cap) || grow(&r->smooth, cap))
            return t5pt_set_error(T5PT_ERR_NOMEM, "out of memory");
        r->cap = cap;
    }
    r->step[r->n] = step;
    r->loss[r->n] = loss;
    r->smooth[r->n] = smooth;
    r->n++;
    return T5PT_OK;
}

static t5pt_status add_eval(metrics_run *r, const char *name, double step, double value) {
    int k = 0;
    while (k < r->n_metrics && strcmp(r->metric_name[k], name)) k++;
    if (k == r->n_metrics) {
        if (k == 4) return T5PT_OK;   /* more metric names than a figure can show: the first four */
        if (!(r->metric_name[k] = strdup(name))) return t5pt_set_error(T5PT_ERR_NOMEM, "out of memory");
        r->n_metrics++;
    }
    if (r->n_eval[k] == r->cap_eval[k]) {
        int cap = r->cap_eval[k] ? 2 * r->cap_eval[k] : 32;
        if (grow(&r->eval_step[k], cap) || grow(&r->eval_value[k], cap))
            return t5pt_set_error(T5PT_ERR_NOMEM, "out of memory");
        r->cap_eval[k] = cap;
    }
    r->eval_step[k][r->n_eval[k]] = step;
    r->eval_value[k][r->n_eval[k]] = value;
    r->n_eval[k]++;
    return T5PT_OK;
}

/* Reads a metrics log. Lines are step lines {"step","loss","smooth_loss",...} or validation
 * lines {"step","eval":{name: value},...}; any other line is an error naming it. */
static t5pt_status read_run(const char *path, metrics_run *r) {
    char *text;
    size_t len;
    t5pt_status st = t5pt_read_file(path, &text, &len);
    if (st != T5PT_OK) return st;
    size_t pos = 0;
    int line = 0;
    while (st == T5PT_OK && pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        line++;
        size_t a = pos;
        while (a < end && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r')) a++;
        if (a < end) {
            char err[160];
            json_doc *doc = t5pt_json_parse(text + pos, end - pos, err, sizeof err);
            const json_value *o = doc ? t5pt_json_root(doc) : NULL;
            const json_value *ev = o ? t5pt_json_get(o, "eval") : NULL;
            double step, loss, smooth;
            if (!doc) {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: not JSON (%s)", path, line, err);
            } else if (t5pt_json_get_num(o, "step", &step) != 0) {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: no \"step\": not a t5pt train --metrics log", path, line);
            } else if (ev && ev->type == JSON_OBJECT) {
                for (size_t k = 0; st == T5PT_OK && k < ev->len; k++)
                    if (ev->u.members[k].value.type == JSON_NUMBER)
                        st = add_eval(r, ev->u.members[k].key, step, ev->u.members[k].value.u.num);
            } else if (t5pt_json_get_num(o, "loss", &loss) == 0) {
                if (t5pt_json_get_num(o, "smooth_loss", &smooth) != 0) smooth = NAN;
                st = add_step(r, step, loss, smooth);
            } else {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: neither a step (\"loss\") nor a validation (\"eval\") line",
                                    path, line);
            }
            t5pt_json_free(doc);
        }
        pos = end + 1;
    }
    free(text);
    if (st == T5PT_OK && r->n == 0 && r->n_metrics == 0)
        st = t5pt_set_error(T5PT_ERR_FORMAT, "%s: no steps and no validations in the log", path);
    return st;
}

/* The run's name in the legend: the log's file name. */
static void run_label(char *buf, size_t n, const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, n, "%s", base);
}

t5pt_status cli_plot_metrics(const char *const *paths, int n_runs, const char *out) {
    metrics_run *runs = calloc((size_t)n_runs, sizeof *runs);
    svg_series *loss_s = calloc((size_t)n_runs * 2 + 1, sizeof *loss_s);
    svg_series *eval_s = calloc((size_t)n_runs * 4 + 1, sizeof *eval_s);
    char(*names)[160] = calloc((size_t)n_runs * 6 + 1, sizeof *names);
    t5pt_status st = T5PT_OK;
    if (!runs || !loss_s || !eval_s || !names) st = t5pt_set_error(T5PT_ERR_NOMEM, "out of memory");
    for (int i = 0; st == T5PT_OK && i < n_runs; i++) st = read_run(paths[i], &runs[i]);
    if (st == T5PT_OK) {
        int nl = 0, ne = 0, nn = 0;
        char label[128];
        for (int i = 0; i < n_runs; i++) {
            const metrics_run *r = &runs[i];
            const char *col = t5pt_svg_color(i);
            run_label(label, sizeof label, paths[i]);
            const char *pre = n_runs > 1 ? label : "";
            const char *sep = n_runs > 1 ? ": " : "";
            snprintf(names[nn], sizeof names[0], "%s%sloss", pre, sep);
            loss_s[nl++] = (svg_series){.name = names[nn++], .x = r->step, .y = r->loss, .n = r->n, .color = col, .dashed = 1};
            snprintf(names[nn], sizeof names[0], "%s%ssmoothed loss", pre, sep);
            loss_s[nl++] = (svg_series){.name = names[nn++], .x = r->step, .y = r->smooth, .n = r->n, .color = col};
            for (int k = 0; k < r->n_metrics; k++) {
                snprintf(names[nn], sizeof names[0], "%s%s%s", pre, sep, r->metric_name[k]);
                eval_s[ne++] = (svg_series){.name = names[nn++], .x = r->eval_step[k], .y = r->eval_value[k],
                                            .n = r->n_eval[k], .color = col, .dashed = k > 0, .markers = 1};
            }
        }
        const double W = 720, H1 = 340, H2 = ne ? 300 : 0;
        t5pt_svg s;
        t5pt_svg_begin(&s, W, H1 + H2);
        const svg_axes la = {.title = "Training loss (dashed: per step; solid: smoothed)", .xlabel = "step",
                             .ylabel = "loss", .legend = 1};
        t5pt_svg_line_chart(&s, (svg_box){0, 0, W, H1}, &la, loss_s, nl);
        if (ne) {
            const svg_axes ea = {.title = "Validation", .xlabel = "step", .ylabel = "metric", .legend = 1};
            t5pt_svg_line_chart(&s, (svg_box){0, H1, W, H2}, &ea, eval_s, ne);
        }
        t5pt_svg_end(&s);
        st = t5pt_svg_save(&s, out);
        t5pt_svg_free(&s);
    }
    for (int i = 0; runs && i < n_runs; i++) run_free(&runs[i]);
    free(runs);
    free(loss_s);
    free(eval_s);
    free(names);
    return st;
}

int cli_plot(int argc, char **argv) {
    const char *out = NULL;
    cli_strs files = {0};
    const cli_option opts[] = {
        {.name = "out", .kind = CLI_STR, .target = &out, .metavar = "FILE.svg", .help = "the figure to write",
         .dflt = "the first log's name with .svg"},
        {0}};
    const cli_command c = {
        .name = "plot",
        .usage = "METRICS.jsonl [MORE.jsonl ...] [--out FILE.svg]",
        .about = "Draws the training loss (per step and smoothed) and the validation metrics against the step,\n"
                 "from the metrics log t5pt train --metrics writes. Several logs overlay (one colour each),\n"
                 "e.g. two runs with different settings. The figure is one self-contained SVG with axes,\n"
                 "ticks and a legend. t5pt train --plot FILE.svg redraws it at every validation.\n",
        .options = opts,
        .args = &files,
    };
    int rc = cli_parse(&c, argc, argv);
    if (rc != CLI_PARSED) {
        cli_strs_free(&files);
        return rc;
    }
    const char *cmd = "plot";
    char *dflt = NULL;
    if (files.n == 0) {
        rc = cli_usage_error(cmd, "give at least one METRICS.jsonl (the log of t5pt train --metrics)");
        goto out;
    }
    for (int i = 0; i < files.n; i++)
        if (cli_check_input_file(cmd, "metrics", files.v[i])) {
            rc = 1;
            goto out;
        }
    if (!out) {
        size_t k = strlen(files.v[0]);
        const char *dot = strrchr(files.v[0], '.'), *slash = strrchr(files.v[0], '/');
        if (dot && (!slash || dot > slash)) k = (size_t)(dot - files.v[0]);
        dflt = malloc(k + 5);
        if (!dflt) {
            rc = cli_fail(cmd, "out of memory");
            goto out;
        }
        memcpy(dflt, files.v[0], k);
        strcpy(dflt + k, ".svg");
        out = dflt;
    }
    if (cli_check_output_file(cmd, "out", out)) {
        rc = 1;
        goto out;
    }
    for (int i = 0; i < files.n; i++)
        if (cli_check_distinct(cmd, "out", out, "metrics", files.v[i])) {
            rc = 1;
            goto out;
        }
    if (cli_plot_metrics(files.v, files.n, out) != T5PT_OK) {
        rc = cli_fail_lib(cmd);
        goto out;
    }
    printf("wrote %s\n", out);
    rc = 0;
out:
    free(dflt);
    cli_strs_free(&files);
    return rc;
}
