/* svg.h — small self-contained SVG figures: line charts, grouped bar charts, heat maps.
 *
 * The output is one SVG document with no scripts, no external fonts or images and no
 * CSS beyond presentation attributes, so it displays the same in a browser, an image
 * viewer or a Markdown page. Text is escaped. Every bar carries class="bar", every heat-map
 * cell class="cell", every line-chart series class="series" (tests count them).
 *
 *   t5pt_svg s;  t5pt_svg_begin(&s, 640, 400);
 *   t5pt_svg_line_chart(&s, (svg_box){0, 0, 640, 400}, &axes, series, 2);
 *   t5pt_svg_end(&s);  t5pt_svg_save(&s, "fig.svg");  t5pt_svg_free(&s);
 *
 * A figure may hold several charts, each in its own box of the document.
 */
#ifndef T5PT_SVG_H
#define T5PT_SVG_H

#include <stddef.h>

#include "t5pt.h"

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;        /* an allocation failed: t5pt_svg_save reports it */
} t5pt_svg;

typedef struct {
    double x, y, w, h;   /* a chart's area in the document, axes and labels included */
} svg_box;

typedef struct {
    const char *title, *xlabel, *ylabel;   /* NULL: none */
    int log_x, log_y;                      /* logarithmic axis (values <= 0 are left out) */
    int legend;                            /* draw the legend (names of series / groups) */
} svg_axes;

typedef struct {
    const char *name;
    const double *x, *y;   /* n points; a NaN y leaves a gap */
    const double *yerr;    /* NULL, or n half-widths: a bar from y - yerr to y + yerr (0: none) */
    int n;
    const char *color;     /* NULL: the palette's colour for this index */
    int dashed, markers;   /* dashed line; a dot at every point */
} svg_series;

/* The palette (colour-blind safe), colour i mod its size. */
const char *t5pt_svg_color(int i);

void t5pt_svg_begin(t5pt_svg *s, double width, double height);
void t5pt_svg_end(t5pt_svg *s);
void t5pt_svg_free(t5pt_svg *s);
/* Writes the finished document atomically. */
t5pt_status t5pt_svg_save(const t5pt_svg *s, const char *path);

/* Raw markup (the caller escapes), and text (escaped here); anchor "start|middle|end". */
void t5pt_svg_raw(t5pt_svg *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void t5pt_svg_text(t5pt_svg *s, double x, double y, const char *anchor, double size, const char *text);

/* Line chart of ns series; returns the number of series drawn. */
int t5pt_svg_line_chart(t5pt_svg *s, svg_box box, const svg_axes *ax, const svg_series *series, int ns);

/* Grouped bar chart: ncat categories along x, ngroups bars in each; values[g * ncat + c].
 * A NaN value (or, with log_y, a value <= 0) draws no bar. Returns the number of bars. */
int t5pt_svg_bar_chart(t5pt_svg *s, svg_box box, const svg_axes *ax, const char *const *cat_labels, int ncat,
                       const char *const *group_names, int ngroups, const double *values);

/* Heat map of rows x cols values v[r * cols + c], colour scale [vmin, vmax] with a colour
 * bar; each cell shows its value. NaN cells are grey. Returns the number of cells. */
int t5pt_svg_heatmap(t5pt_svg *s, svg_box box, const char *title, const char *const *row_labels, int rows,
                     const char *const *col_labels, int cols, const double *v, double vmin, double vmax);

#endif
