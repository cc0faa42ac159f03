/* svg.c — self-contained SVG figures (see svg.h). */
#include "io/svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"

/* Okabe & Ito's colour-blind-safe palette (without its yellow and black). */
static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00"};

const char *t5pt_svg_color(int i) {
    const int k = (int)(sizeof palette / sizeof palette[0]);
    return palette[((i % k) + k) % k];
}

/* ------------------------------------------------------------------ the buffer */

static void put(t5pt_svg *s, const char *p, size_t n) {
    if (s->oom) return;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1) cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b) {
            s->oom = 1;
            return;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = 0;
}

void t5pt_svg_raw(t5pt_svg *s, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        s->oom = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        put(s, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        s->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    put(s, big, (size_t)n);
    free(big);
}

/* Text content / attribute value with &, <, >, " escaped. */
static void put_escaped(t5pt_svg *s, const char *t) {
    for (; *t; t++) {
        switch (*t) {
        case '&': put(s, "&amp;", 5); break;
        case '<': put(s, "&lt;", 4); break;
        case '>': put(s, "&gt;", 4); break;
        case '"': put(s, "&quot;", 6); break;
        default:
            if ((unsigned char)*t < 0x20 && *t != '\t' && *t != '\n') put(s, "?", 1);   /* not allowed in XML 1.0 */
            else put(s, t, 1);
        }
    }
}

void t5pt_svg_begin(t5pt_svg *s, double width, double height) {
    memset(s, 0, sizeof *s);
    t5pt_svg_raw(s,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                 "font-family=\"sans-serif\">\n"
                 "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
                 width, height, width, height, width, height);
}

void t5pt_svg_end(t5pt_svg *s) { t5pt_svg_raw(s, "</svg>\n"); }

void t5pt_svg_free(t5pt_svg *s) {
    free(s->buf);
    memset(s, 0, sizeof *s);
}

t5pt_status t5pt_svg_save(const t5pt_svg *s, const char *path) {
    if (s->oom || !s->buf) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory building the figure", path);
    return t5pt_write_file_atomic(path, s->buf, s->len);
}

void t5pt_svg_text(t5pt_svg *s, double x, double y, const char *anchor, double size, const char *text) {
    t5pt_svg_raw(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%.1f\">", x, y, anchor, size);
    put_escaped(s, text ? text : "");
    t5pt_svg_raw(s, "</text>\n");
}

/* ------------------------------------------------------------------ axes */

typedef struct {
    double lo, hi;   /* data range shown (log axes: log10 of it) */
    int log;
    double p0, p1;   /* pixel positions of lo and hi */
} scale;

static double map(const scale *a, double v) {
    if (a->log) v = log10(v);
    return a->p0 + (v - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

/* The range [lo, hi] of the data, widened to something that can be drawn. */
static void fit(scale *a, double lo, double hi, int log) {
    a->log = log;
    if (!(lo <= hi)) lo = 0, hi = 1;   /* no data */
    if (log) {   /* a margin of 5 % of the span (at least 0.05 decades) on each side */
        lo = log10(lo);
        hi = log10(hi);
        double pad = fmax(0.05, (hi - lo) * 0.05);
        lo -= pad;
        hi += pad;
    } else {
        if (hi == lo) {
            double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
            lo -= pad;
            hi += pad;
        }
        double span = hi - lo;
        lo -= span * 0.04;
        hi += span * 0.04;
    }
    a->lo = lo;
    a->hi = hi;
}

/* "Nice" linear tick step: 1, 2 or 5 times a power of ten, about 5 ticks. */
static double tick_step(double span) {
    double raw = span / 5, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void fmt_tick(char *buf, size_t n, double v, int log) {
    if (log) v = pow(10, v);
    else if (fabs(v) < 1e-12) v = 0;
    snprintf(buf, n, "%g", v);
}

/* Tick values of an axis (log axes: log10 of 1, 2, 5 x 10^k within the range, or only the
 * powers of ten when the range spans more than 3 decades); at most max of them. */
static int axis_ticks(const scale *a, double *t, int max) {
    int n = 0;
    if (!a->log) {
        double step = tick_step(a->hi - a->lo), first = ceil(a->lo / step - 1e-9) * step;
        for (int i = 0; i < max; i++) {
            double v = first + i * step;
            if (v > a->hi + 1e-9 * step) break;
            t[n++] = v;
        }
        return n;
    }
    static const double mult[3] = {1, 2, 5};
    const int nm = a->hi - a->lo > 3 ? 1 : 3;
    for (double d = floor(a->lo); d <= ceil(a->hi) && n < max; d++)
        for (int m = 0; m < nm && n < max; m++) {
            double v = d + log10(mult[m]);
            if (v >= a->lo - 1e-9 && v <= a->hi + 1e-9) t[n++] = v;
        }
    return n;
}

/* Ticks, grid lines and labels of one axis. horizontal: the x axis (at pixel row `at`),
 * else the y axis (at pixel column `at`). other0/other1: the extent of the grid lines. */
static void draw_axis(t5pt_svg *s, const scale *a, int horizontal, double at, double other0, double other1) {
    char label[32];
    double ticks[40];
    int nt = axis_ticks(a, ticks, 40);
    for (int i = 0; i < nt; i++) {
        double v = ticks[i];
        double p = a->p0 + (v - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
        fmt_tick(label, sizeof label, v, a->log);
        if (horizontal) {
            t5pt_svg_raw(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", p, other0, p,
                         other1);
            t5pt_svg_raw(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", p, at, p, at + 4);
            t5pt_svg_text(s, p, at + 16, "middle", 11, label);
        } else {
            t5pt_svg_raw(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", other0, p,
                         other1, p);
            t5pt_svg_raw(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", at - 4, p, at, p);
            t5pt_svg_text(s, at - 6, p + 4, "end", 11, label);
        }
    }
}

/* The plot area of a chart in box b: room for the title, the tick labels and the legend. */
typedef struct {
    double x0, y0, x1, y1;   /* left, top, right, bottom */
} area;

static area plot_area(svg_box b, const svg_axes *ax, int legend_rows) {
    area r = {b.x + 64, b.y + (ax->title ? 28 : 10), b.x + b.w - 12, b.y + b.h - 40};
    if (ax->legend && legend_rows > 0) r.y0 += 16.0 * legend_rows + 4;
    return r;
}

static void frame(t5pt_svg *s, svg_box b, const svg_axes *ax, area r) {
    if (ax->title) t5pt_svg_text(s, b.x + b.w / 2, b.y + 18, "middle", 14, ax->title);
    t5pt_svg_raw(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n",
                 r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0);
    if (ax->xlabel) t5pt_svg_text(s, (r.x0 + r.x1) / 2, b.y + b.h - 6, "middle", 12, ax->xlabel);
    if (ax->ylabel) {
        double cx = b.x + 14, cy = (r.y0 + r.y1) / 2;
        t5pt_svg_raw(s, "<g transform=\"rotate(-90 %.1f %.1f)\">", cx, cy);
        t5pt_svg_text(s, cx, cy, "middle", 12, ax->ylabel);
        t5pt_svg_raw(s, "</g>\n");
    }
}

/* Legend entries in rows of at most 3 above the plot area. */
/* dashed: NULL draws colour boxes (bars), else line samples, dashed where dashed[i]. */
static void legend(t5pt_svg *s, area r, const char *const *names, const char *const *colors, const int *dashed, int n) {
    const double colw = (r.x1 - r.x0) / 3;
    for (int i = 0; i < n; i++) {
        double x = r.x0 + (i % 3) * colw, y = r.y0 - 16.0 * ((n + 2) / 3 - i / 3) + 4;
        if (dashed)
            t5pt_svg_raw(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", x,
                         y - 4, x + 14, y - 4, colors[i], dashed[i] ? " stroke-dasharray=\"4 2\"" : "");
        else
            t5pt_svg_raw(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"%s\"/>\n", x, y - 9, colors[i]);
        t5pt_svg_text(s, x + 18, y, "start", 11, names[i] ? names[i] : "");
    }
}

/* ------------------------------------------------------------------ charts */

static int usable(double v, int log) { return isfinite(v) && (!log || v > 0); }

int t5pt_svg_line_chart(t5pt_svg *s, svg_box box, const svg_axes *ax, const svg_series *series, int ns) {
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < series[k].n; i++) {
            double x = series[k].x[i], y = series[k].y[i];
            if (!usable(x, ax->log_x) || !usable(y, ax->log_y)) continue;
            xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
            double e = series[k].yerr ? series[k].yerr[i] : 0.0;
            if (isfinite(e) && e > 0) {
                if (usable(y - e, ax->log_y)) ylo = fmin(ylo, y - e);
                yhi = fmax(yhi, y + e);
            }
        }
    area r = plot_area(box, ax, ax->legend ? (ns + 2) / 3 : 0);
    scale sx, sy;
    fit(&sx, xlo, xhi, ax->log_x);
    fit(&sy, ylo, yhi, ax->log_y);
    sx.p0 = r.x0, sx.p1 = r.x1, sy.p0 = r.y1, sy.p1 = r.y0;
    frame(s, box, ax, r);
    draw_axis(s, &sx, 1, r.y1, r.y0, r.y1);
    draw_axis(s, &sy, 0, r.x0, r.x0, r.x1);
    int drawn = 0;
    const char *names[64], *colors[64];
    int dash[64];
    for (int k = 0; k < ns; k++) {
        const svg_series *se = &series[k];
        const char *col = se->color ? se->color : t5pt_svg_color(k);
        t5pt_svg_raw(s, "<g class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s>\n", col,
                     se->dashed ? " stroke-dasharray=\"5 3\"" : "");
        int open = 0;
        for (int i = 0; i < se->n; i++) {
            double x = se->x[i], y = se->y[i];
            if (!usable(x, ax->log_x) || !usable(y, ax->log_y)) {
                if (open) t5pt_svg_raw(s, "\"/>\n");
                open = 0;
                continue;
            }
            t5pt_svg_raw(s, "%s%.1f,%.1f", open ? " " : "<polyline points=\"", map(&sx, x), map(&sy, y));
            open = 1;
        }
        if (open) t5pt_svg_raw(s, "\"/>\n");
        for (int i = 0; se->yerr && i < se->n; i++) {   /* error bars with caps */
            double x = se->x[i], y = se->y[i], e = se->yerr[i];
            if (!usable(x, ax->log_x) || !usable(y, ax->log_y) || !isfinite(e) || e <= 0) continue;
            double px = map(&sx, x), lo = usable(y - e, ax->log_y) ? y - e : y;
            double y0 = map(&sy, y + e), y1 = map(&sy, lo);
            t5pt_svg_raw(s, "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\"/>\n", px, y0, y1, px - 4, y0,
                         px + 4, px - 4, y1, px + 4);
        }
        if (se->markers)
            for (int i = 0; i < se->n; i++)
                if (usable(se->x[i], ax->log_x) && usable(se->y[i], ax->log_y))
                    t5pt_svg_raw(s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", map(&sx, se->x[i]),
                                 map(&sy, se->y[i]), col);
        t5pt_svg_raw(s, "</g>\n");
        if (drawn < 64) names[drawn] = se->name, colors[drawn] = col, dash[drawn] = se->dashed;
        drawn++;
    }
    if (ax->legend) legend(s, r, names, colors, dash, drawn < 64 ? drawn : 64);
    return drawn;
}

int t5pt_svg_bar_chart(t5pt_svg *s, svg_box box, const svg_axes *ax, const char *const *cat_labels, int ncat,
                       const char *const *group_names, int ngroups, const double *values) {
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < ncat * ngroups; i++)
        if (usable(values[i], ax->log_y)) lo = fmin(lo, values[i]), hi = fmax(hi, values[i]);
    if (!ax->log_y && lo > 0) lo = 0;   /* linear bars start at 0 */
    /* room below for the category labels, written at an angle */
    svg_box b2 = box;
    b2.h -= 70;
    area r = plot_area(b2, ax, ax->legend ? (ngroups + 2) / 3 : 0);
    scale sy;
    fit(&sy, lo, hi, ax->log_y);
    if (!ax->log_y && lo >= 0) sy.lo = 0;
    sy.p0 = r.y1, sy.p1 = r.y0;
    frame(s, b2, ax, r);
    draw_axis(s, &sy, 0, r.x0, r.x0, r.x1);
    const double slot = (r.x1 - r.x0) / (ncat > 0 ? ncat : 1), bw = slot * 0.8 / (ngroups > 0 ? ngroups : 1);
    int bars = 0;
    for (int c = 0; c < ncat; c++) {
        const double x0 = r.x0 + c * slot + slot * 0.1;
        for (int g = 0; g < ngroups; g++) {
            double v = values[g * ncat + c];
            if (!usable(v, ax->log_y)) continue;
            double top = map(&sy, v), base = ax->log_y ? r.y1 : map(&sy, 0);
            if (top < r.y0) top = r.y0;
            double y = top < base ? top : base, h = fabs(base - top);
            char val[32];
            snprintf(val, sizeof val, "%.3g", v);
            t5pt_svg_raw(s, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                         x0 + g * bw, y, bw * 0.95, h, t5pt_svg_color(g));
            put_escaped(s, cat_labels[c]);
            t5pt_svg_raw(s, ", ");
            put_escaped(s, group_names[g]);
            t5pt_svg_raw(s, ": %s</title></rect>\n", val);
            bars++;
        }
        double lx = r.x0 + (c + 0.5) * slot, ly = r.y1 + 10;
        t5pt_svg_raw(s, "<g transform=\"rotate(-40 %.1f %.1f)\">", lx, ly);
        t5pt_svg_text(s, lx, ly + 4, "end", 10, cat_labels[c]);
        t5pt_svg_raw(s, "</g>\n");
    }
    if (ax->xlabel) t5pt_svg_text(s, (r.x0 + r.x1) / 2, box.y + box.h - 4, "middle", 12, ax->xlabel);
    if (ax->legend) {
        const char *colors[16];
        int k = ngroups < 16 ? ngroups : 16;
        for (int g = 0; g < k; g++) colors[g] = t5pt_svg_color(g);
        legend(s, r, group_names, colors, NULL, k);
    }
    return bars;
}

/* White to the palette's blue, linear in v. */
static void heat_color(char *buf, size_t n, double t) {
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    int r = (int)lround(255 + t * (0x00 - 255)), g = (int)lround(255 + t * (0x72 - 255)),
        b = (int)lround(255 + t * (0xB2 - 255));
    snprintf(buf, n, "#%02x%02x%02x", r, g, b);
}

int t5pt_svg_heatmap(t5pt_svg *s, svg_box box, const char *title, const char *const *row_labels, int rows,
                     const char *const *col_labels, int cols, const double *v, double vmin, double vmax) {
    const double x0 = box.x + 110, y0 = box.y + (title ? 30 : 8), x1 = box.x + box.w - 70, y1 = box.y + box.h - 24;
    const double cw = (x1 - x0) / (cols > 0 ? cols : 1), ch = (y1 - y0) / (rows > 0 ? rows : 1);
    const double span = vmax > vmin ? vmax - vmin : 1;
    if (title) t5pt_svg_text(s, box.x + box.w / 2, box.y + 18, "middle", 14, title);
    int cells = 0;
    char col[16], val[32];
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
            double x = v[(size_t)r * cols + c], t = (x - vmin) / span;
            if (isfinite(x)) heat_color(col, sizeof col, t);
            else snprintf(col, sizeof col, "#bbbbbb");
            snprintf(val, sizeof val, isfinite(x) ? "%.2f" : "n/a", x);
            t5pt_svg_raw(s,
                         "<rect class=\"cell\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                         "stroke=\"#ffffff\"><title>",
                         x0 + c * cw, y0 + r * ch, cw, ch, col);
            put_escaped(s, row_labels[r]);
            t5pt_svg_raw(s, ", ");
            put_escaped(s, col_labels[c]);
            t5pt_svg_raw(s, ": %s</title></rect>\n", val);
            if (ch >= 12 && cw >= 28) {
                t5pt_svg_raw(s, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\" fill=\"%s\">%s</text>\n",
                             x0 + (c + 0.5) * cw, y0 + (r + 0.5) * ch + 3.5, isfinite(x) && t > 0.55 ? "#ffffff" : "#000000",
                             val);
            }
            cells++;
        }
        t5pt_svg_text(s, x0 - 6, y0 + (r + 0.5) * ch + 4, "end", 11, row_labels[r]);
    }
    for (int c = 0; c < cols; c++) t5pt_svg_text(s, x0 + (c + 0.5) * cw, y1 + 14, "middle", 11, col_labels[c]);
    /* colour bar */
    const int steps = 10;
    for (int i = 0; i < steps; i++) {
        heat_color(col, sizeof col, 1.0 - (i + 0.5) / steps);
        t5pt_svg_raw(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"%.1f\" fill=\"%s\"/>\n", x1 + 16,
                     y0 + i * (y1 - y0) / steps, (y1 - y0) / steps + 0.5, col);
    }
    snprintf(val, sizeof val, "%g", vmax);
    t5pt_svg_text(s, x1 + 34, y0 + 10, "start", 10, val);
    snprintf(val, sizeof val, "%g", vmin);
    t5pt_svg_text(s, x1 + 34, y1, "start", 10, val);
    return cells;
}
