/* sweep.c — the paper's ablation grid as one resumable job: plan the runs, train each one
 * (t5pt_train into its own directory, resumable), keep results.jsonl, and write the summary
 * table and the figure. See sweep.h for the files and the contract. */
#include "train/sweep.h"
#include "base/internal.h"
#include "io/json.h"
#include "io/svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ the plan */

static int placement_text(const char *in, char *out, size_t n) {
    t5pt_placement pl;
    if (t5pt_placement_parse(&pl, in) != T5PT_OK) return -1;
    if (pl.kind == T5PT_PLACE_AT) snprintf(out, n, "at:%d", pl.at);
    else snprintf(out, n, "%s", pl.kind == T5PT_PLACE_APPEND ? "append" : "prepend");
    return 0;
}

/* An init kind a sweep can run: every kind but text (it needs a text). */
static t5pt_status check_init(const char *name) {
    t5pt_init_kind k;
    if (!name || t5pt_init_parse_kind(&k, name) != T5PT_OK) return t5pt_set_error(T5PT_ERR_ARG, "sweep: %s", t5pt_last_error());
    if (k == T5PT_INIT_TEXT) return t5pt_set_error(T5PT_ERR_ARG, "sweep: init text needs a text; it is not a sweep init");
    if (strlen(name) >= sizeof ((t5pt_sweep_run *)0)->init)
        return t5pt_set_error(T5PT_ERR_ARG, "sweep: init name '%s' is too long", name);
    return T5PT_OK;
}

static t5pt_status check_grid(const t5pt_sweep_grid *g) {
    if (g->num_seeds <= 0) return t5pt_set_error(T5PT_ERR_ARG, "sweep: no seeds");
    if (g->num_lengths <= 0 && g->num_placements <= 0)
        return t5pt_set_error(T5PT_ERR_ARG, "sweep: nothing to run (no prompt lengths and no placements)");
    if (g->num_lengths > 0 && g->num_inits <= 0) return t5pt_set_error(T5PT_ERR_ARG, "sweep: prompt lengths but no inits");
    for (int i = 0; i < g->num_lengths; i++) {
        if (g->lengths[i] < 1) return t5pt_set_error(T5PT_ERR_ARG, "sweep: prompt length %d < 1", g->lengths[i]);
        for (int j = 0; j < i; j++)
            if (g->lengths[j] == g->lengths[i])
                return t5pt_set_error(T5PT_ERR_ARG, "sweep: prompt length %d given twice", g->lengths[i]);
    }
    t5pt_status st;
    for (int i = 0; i < g->num_inits; i++) {
        if ((st = check_init(g->inits[i])) != T5PT_OK) return st;
        for (int j = 0; j < i; j++)
            if (strcmp(g->inits[j], g->inits[i]) == 0)
                return t5pt_set_error(T5PT_ERR_ARG, "sweep: init %s given twice", g->inits[i]);
    }
    for (int i = 0; i < g->num_placements; i++) {
        char a[32], b[32];
        if (placement_text(g->placements[i], a, sizeof a) != 0)
            return t5pt_set_error(T5PT_ERR_ARG, "sweep: placement %s", t5pt_last_error());
        for (int j = 0; j < i; j++)
            if (placement_text(g->placements[j], b, sizeof b) == 0 && strcmp(a, b) == 0)
                return t5pt_set_error(T5PT_ERR_ARG, "sweep: placement %s given twice", a);
    }
    if (g->num_placements > 0) {
        if (g->placement_len < 1) return t5pt_set_error(T5PT_ERR_ARG, "sweep: placement study length %d < 1", g->placement_len);
        if ((st = check_init(g->placement_init)) != T5PT_OK) return st;
    }
    for (int i = 0; i < g->num_seeds; i++)
        for (int j = 0; j < i; j++)
            if (g->seeds[j] == g->seeds[i])
                return t5pt_set_error(T5PT_ERR_ARG, "sweep: seed %llu given twice", (unsigned long long)g->seeds[i]);
    return T5PT_OK;
}

static int in_length_study(const t5pt_sweep_grid *g, int len, const char *init) {
    int has_len = 0, has_init = 0;
    for (int i = 0; i < g->num_lengths; i++) has_len |= g->lengths[i] == len;
    for (int i = 0; i < g->num_inits; i++) has_init |= strcmp(g->inits[i], init) == 0;
    return has_len && has_init;
}

/* Seed by seed: every cell has a first run before any has a second, so a sweep stopped early
 * already shows the whole picture. */
t5pt_status t5pt_sweep_plan(const t5pt_sweep_grid *g, t5pt_sweep_run **runs, int *n) {
    *runs = NULL;
    *n = 0;
    t5pt_status st = check_grid(g);
    if (st != T5PT_OK) return st;
    const int per_seed = g->num_lengths * g->num_inits + g->num_placements;
    t5pt_sweep_run *r = calloc((size_t)per_seed * (size_t)g->num_seeds, sizeof *r);
    if (!r) return t5pt_set_error(T5PT_ERR_NOMEM, "sweep: out of memory");
    int k = 0;
    for (int s = 0; s < g->num_seeds; s++) {
        for (int i = 0; i < g->num_lengths; i++)
            for (int j = 0; j < g->num_inits; j++) {
                r[k].prompt_len = g->lengths[i];
                snprintf(r[k].init, sizeof r[k].init, "%s", g->inits[j]);
                snprintf(r[k].placement, sizeof r[k].placement, "prepend");
                r[k++].seed = g->seeds[s];
            }
        for (int p = 0; p < g->num_placements; p++) {
            char pl[32];
            placement_text(g->placements[p], pl, sizeof pl);
            if (!strcmp(pl, "prepend") && in_length_study(g, g->placement_len, g->placement_init)) continue;
            r[k].prompt_len = g->placement_len;
            snprintf(r[k].init, sizeof r[k].init, "%s", g->placement_init);
            snprintf(r[k].placement, sizeof r[k].placement, "%s", pl);
            r[k++].seed = g->seeds[s];
        }
    }
    *runs = r;
    *n = k;
    return T5PT_OK;
}

void t5pt_sweep_run_name(const t5pt_sweep_run *r, char *buf, size_t n) {
    char pl[32];
    size_t j = 0;
    for (const char *c = r->placement; *c && j + 1 < sizeof pl; c++)
        if (*c != ':') pl[j++] = *c;   /* "at:3" -> "at3": a plain directory name */
    pl[j] = 0;
    snprintf(buf, n, "len%d-%s-%s-seed%llu", r->prompt_len, r->init, pl, (unsigned long long)r->seed);
}

static int same_run(const t5pt_sweep_run *a, const t5pt_sweep_run *b) {
    return a->prompt_len == b->prompt_len && a->seed == b->seed && !strcmp(a->init, b->init) &&
           !strcmp(a->placement, b->placement);
}

/* ------------------------------------------------------------ results.jsonl */

static void write_result(json_writer *w, const t5pt_sweep_result *r, const char *config) {
    t5pt_jw_printf(w, "{\"prompt_len\":%d,\"init\":", r->run.prompt_len);
    t5pt_jw_str(w, r->run.init, strlen(r->run.init));
    t5pt_jw_raw(w, ",\"placement\":");
    t5pt_jw_str(w, r->run.placement, strlen(r->run.placement));
    t5pt_jw_printf(w, ",\"seed\":%llu,\"metric\":", (unsigned long long)r->run.seed);
    t5pt_jw_str(w, r->metric, strlen(r->metric));
    t5pt_jw_printf(w, ",\"first\":%.6f,\"best\":%.6f,\"final\":%.6f,\"best_step\":%d,\"steps\":%d,\"seconds\":%.1f,"
                   "\"config\":", r->first, r->best, r->final, r->best_step, r->steps, r->seconds);
    t5pt_jw_str(w, config ? config : "", config ? strlen(config) : 0);
    t5pt_jw_raw(w, "}\n");
}

static t5pt_status save_results(const char *out_dir, const t5pt_sweep_result *res, int n, const char *config) {
    char *path = t5pt_path_join(out_dir, "results.jsonl");
    json_writer w = {0};
    for (int i = 0; i < n; i++) write_result(&w, &res[i], config);
    t5pt_status st = !path || w.oom ? t5pt_set_error(T5PT_ERR_NOMEM, "sweep: out of memory")
                                    : t5pt_write_file_atomic(path, w.buf ? w.buf : "", w.len);
    t5pt_jw_free(&w);
    free(path);
    return st;
}

static int copy_str(char *dst, size_t n, const char *src) {
    if (!src || strlen(src) >= n) return -1;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

/* One line of results.jsonl; -1 when a field is missing or of the wrong type. */
static int parse_result(const json_value *o, t5pt_sweep_result *r) {
    int64_t len, seed, best_step, steps;
    memset(r, 0, sizeof *r);
    if (o->type != JSON_OBJECT || t5pt_json_get_int(o, "prompt_len", &len) || len < 1 || len > INT32_MAX ||
        t5pt_json_get_int(o, "seed", &seed) || seed < 0 || t5pt_json_get_int(o, "best_step", &best_step) ||
        t5pt_json_get_int(o, "steps", &steps) || best_step < 0 || steps < 0 || best_step > INT32_MAX ||
        steps > INT32_MAX || copy_str(r->run.init, sizeof r->run.init, t5pt_json_get_str(o, "init")) ||
        copy_str(r->run.placement, sizeof r->run.placement, t5pt_json_get_str(o, "placement")) ||
        copy_str(r->metric, sizeof r->metric, t5pt_json_get_str(o, "metric")) ||
        t5pt_json_get_num(o, "first", &r->first) || t5pt_json_get_num(o, "best", &r->best) ||
        t5pt_json_get_num(o, "final", &r->final) || t5pt_json_get_num(o, "seconds", &r->seconds))
        return -1;
    r->run.prompt_len = (int)len;
    r->run.seed = (uint64_t)seed;
    r->best_step = (int)best_step;
    r->steps = (int)steps;
    return 0;
}

t5pt_status t5pt_sweep_read_results(const char *out_dir, const char *config, t5pt_sweep_result **res, int *n) {
    *res = NULL;
    *n = 0;
    char *path = t5pt_path_join(out_dir, "results.jsonl");
    if (!path) return t5pt_set_error(T5PT_ERR_NOMEM, "sweep: out of memory");
    if (!t5pt_file_exists(path)) {
        free(path);
        return T5PT_OK;
    }
    char *text;
    size_t len;
    t5pt_status st = t5pt_read_file(path, &text, &len);
    if (st != T5PT_OK) {
        free(path);
        return st;
    }
    int cap = 0, count = 0, line = 0;
    t5pt_sweep_result *r = NULL;
    for (size_t pos = 0; pos < len && st == T5PT_OK;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        line++;
        if (end > pos) {
            char err[160];
            json_doc *doc = t5pt_json_parse(text + pos, end - pos, err, sizeof err);
            const json_value *o = doc ? t5pt_json_root(doc) : NULL;
            const char *cfg = o ? t5pt_json_get_str(o, "config") : NULL;
            if (count == cap) {
                cap = cap ? 2 * cap : 64;
                t5pt_sweep_result *grown = realloc(r, (size_t)cap * sizeof *r);
                if (!grown) st = t5pt_set_error(T5PT_ERR_NOMEM, "sweep: out of memory");
                else r = grown;
            }
            if (st != T5PT_OK) {
            } else if (!doc) {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: not valid JSON: %s", path, line, err);
            } else if (parse_result(o, &r[count]) != 0 || !cfg) {
                st = t5pt_set_error(T5PT_ERR_FORMAT, "%s:%d: not a sweep result line", path, line);
            } else if (config && strcmp(cfg, config) != 0) {
                st = t5pt_set_error(T5PT_ERR_ARG, "%s:%d: made by a sweep with other settings (%.300s; this one: %.300s); "
                                    "rerun with those settings or choose another --out", path, line, cfg, config);
            } else {
                count++;
            }
            t5pt_json_free(doc);
        }
        pos = end + 1;
    }
    free(text);
    free(path);
    if (st != T5PT_OK) {
        free(r);
        return st;
    }
    *res = r;
    *n = count;
    return T5PT_OK;
}

/* ------------------------------------------------------------ one run */

static t5pt_status run_prompt_init(const t5pt_sweep_options *o, const t5pt_sweep_run *run, float *P) {
    t5pt_init_config ic = {.range = 0.5f, .seed = run->seed};
    t5pt_status st = t5pt_init_parse_kind(&ic.kind, run->init);
    if (st != T5PT_OK) return st;
    int32_t **ids = NULL;
    int *lens = NULL, C = o->num_labels;
    if (ic.kind == T5PT_INIT_CLASS_LABELS) {
        if (C <= 0) return t5pt_set_error(T5PT_ERR_ARG, "sweep: init class-labels needs --labels");
        ids = calloc((size_t)C, sizeof *ids);
        lens = calloc((size_t)C, sizeof *lens);
        if (!ids || !lens) st = t5pt_set_error(T5PT_ERR_NOMEM, "sweep: out of memory");
        for (int k = 0; k < C && st == T5PT_OK; k++)   /* without </s>: the label word's own pieces */
            st = t5pt_tokenizer_encode(o->tok, o->labels[k], strlen(o->labels[k]), 0, &ids[k], &lens[k]);
        ic.label_ids = (const int32_t *const *)ids;
        ic.label_lens = lens;
        ic.num_labels = C;
    }
    if (st == T5PT_OK) st = t5pt_prompt_init(P, run->prompt_len, o->m, &ic);
    for (int k = 0; ids && k < C; k++) free(ids[k]);
    free(ids);
    free(lens);
    return st;
}

static t5pt_status run_one(const t5pt_sweep_options *o, const t5pt_sweep_run *run, const char *dir,
                           t5pt_sweep_result *out) {
    const int d = t5pt_model_config(o->m)->d_model;
    float *P = malloc((size_t)run->prompt_len * d * sizeof(float));
    if (!P) return t5pt_set_error(T5PT_ERR_NOMEM, "sweep: out of memory for a %d-row prompt", run->prompt_len);
    t5pt_status st = run_prompt_init(o, run, P);
    t5pt_train_options to = o->base;
    to.out_dir = dir;
    to.resume = 1;   /* an interrupted run continues from its checkpoint */
    to.seed = run->seed;
    to.tok = o->tok;
    to.labels = o->labels;
    to.num_labels = o->num_labels;
    to.stop_flag = o->stop_flag;   /* base.callback / user: the caller's per-step progress, if any */
    to.metrics_path = NULL;
    to.peft = (t5pt_peft_info){.init_name = run->init, .placement = run->placement,
                               .num_layers = t5pt_model_config(o->m)->num_layers,
                               .num_attention_heads = t5pt_model_config(o->m)->num_heads};
    if (st == T5PT_OK && t5pt_placement_parse(&to.pl, run->placement) != T5PT_OK) st = T5PT_ERR_ARG;
    const double t0 = t5pt_seconds();
    t5pt_train_result res;
    if (st == T5PT_OK) st = t5pt_train(o->m, o->train, o->valid, P, run->prompt_len, &to, &res);
    free(P);
    if (st != T5PT_OK) return st;
    out->run = *run;
    snprintf(out->metric, sizeof out->metric, "%s", res.metric_name ? res.metric_name : "");
    out->first = res.first_metric;
    out->best = res.best_metric;
    /* a run resumed after its last step evaluates nothing new: its best is all it has */
    out->final = res.evaluated ? res.final_metric : res.best_metric;
    out->best_step = res.best_step;
    out->steps = res.steps_done;
    out->seconds = t5pt_seconds() - t0;
    return T5PT_OK;
}

/* ------------------------------------------------------------ the sweep */

static t5pt_status make_dir(const char *dir) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return t5pt_set_error(T5PT_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    if (!t5pt_is_dir(dir)) return t5pt_set_error(T5PT_ERR_IO, "%s: exists and is not a directory", dir);
    return T5PT_OK;
}

static const char *first_metric_name(const t5pt_sweep_result *res, int n) {
    return n > 0 && res[0].metric[0] ? res[0].metric : "metric";
}

t5pt_status t5pt_sweep(const t5pt_sweep_grid *g, const t5pt_sweep_options *o) {
    if (!g || !o || !o->m || !o->tok || !o->train || !o->out_dir)
        return t5pt_set_error(T5PT_ERR_ARG, "sweep: missing model, tokenizer, data or output directory");
    if (!o->valid) return t5pt_set_error(T5PT_ERR_ARG, "sweep: every run is scored on a validation set: give --valid");
    t5pt_sweep_run *runs = NULL;
    t5pt_sweep_result *res = NULL;
    int nruns = 0, nres = 0;
    char *runs_dir = NULL, *dir = NULL;
    t5pt_status st = t5pt_sweep_plan(g, &runs, &nruns);
    if (st == T5PT_OK) st = t5pt_sweep_read_results(o->out_dir, o->config, &res, &nres);
    if (st == T5PT_OK && (st = make_dir(o->out_dir)) == T5PT_OK) {
        runs_dir = t5pt_path_join(o->out_dir, "runs");
        st = runs_dir ? make_dir(runs_dir) : t5pt_set_error(T5PT_ERR_NOMEM, "sweep: out of memory");
    }
    if (st == T5PT_OK) {   /* room for every run's result */
        t5pt_sweep_result *grown = realloc(res, (size_t)(nres + nruns + 1) * sizeof *res);
        if (!grown) st = t5pt_set_error(T5PT_ERR_NOMEM, "sweep: out of memory");
        else res = grown;
    }
    for (int i = 0; st == T5PT_OK && i < nruns; i++) {
        t5pt_sweep_event ev = {.index = i, .total = nruns, .run = &runs[i]};
        for (int k = 0; k < nres && !ev.result; k++)
            if (same_run(&res[k].run, &runs[i])) ev.result = &res[k];
        ev.skipped = ev.result != NULL;
        if (ev.skipped) {
            if (o->on_run && o->on_run(&ev, o->user)) st = t5pt_set_error(T5PT_ERR_INTERRUPTED, "sweep stopped");
            continue;
        }
        if ((o->stop_flag && *o->stop_flag) || (o->on_run && o->on_run(&ev, o->user))) {
            st = t5pt_set_error(T5PT_ERR_INTERRUPTED, "sweep stopped before run %d of %d", i + 1, nruns);
            break;
        }
        char name[128];
        t5pt_sweep_run_name(&runs[i], name, sizeof name);
        free(dir);
        dir = t5pt_path_join(runs_dir, name);
        if (!dir) {
            st = t5pt_set_error(T5PT_ERR_NOMEM, "sweep: out of memory");
            break;
        }
        st = run_one(o, &runs[i], dir, &res[nres]);
        if (st == T5PT_ERR_INTERRUPTED) {
            st = t5pt_set_error(st, "sweep stopped in run %d of %d (%s, checkpointed); rerun the same command to "
                                "continue", i + 1, nruns, name);
            break;
        }
        if (st != T5PT_OK) {
            st = t5pt_set_error(st, "sweep run %s: %.600s", name, t5pt_last_error());
            break;
        }
        nres++;
        if ((st = save_results(o->out_dir, res, nres, o->config)) != T5PT_OK) break;
        ev.result = &res[nres - 1];
        if (o->on_run && o->on_run(&ev, o->user)) st = t5pt_set_error(T5PT_ERR_INTERRUPTED, "sweep stopped");
    }
    /* the report of what is done, also after a stop (an error keeps its message) */
    if ((st == T5PT_OK || st == T5PT_ERR_INTERRUPTED) && nres > 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", t5pt_last_error());
        t5pt_sweep_cell *cells = NULL;
        int ncells = 0;
        t5pt_status rs = t5pt_sweep_cells(g, res, nres, &cells, &ncells);
        if (rs == T5PT_OK) rs = t5pt_sweep_write_report(o->out_dir, g, cells, ncells, first_metric_name(res, nres));
        free(cells);
        if (rs != T5PT_OK) st = rs;
        else if (st == T5PT_ERR_INTERRUPTED) t5pt_set_error(st, "%s", msg);
    }
    free(dir);
    free(runs_dir);
    free(runs);
    free(res);
    return st;
}

/* ------------------------------------------------------------ summary */

/* The result of run r with seed `seed` (NULL when it has none). */
static const t5pt_sweep_result *result_of(const t5pt_sweep_result *res, int nres, const t5pt_sweep_run *r,
                                          uint64_t seed) {
    t5pt_sweep_run want = *r;
    want.seed = seed;
    for (int j = 0; j < nres; j++)
        if (same_run(&res[j].run, &want)) return &res[j];
    return NULL;
}

t5pt_status t5pt_sweep_cells(const t5pt_sweep_grid *g, const t5pt_sweep_result *res, int nres,
                             t5pt_sweep_cell **cells, int *ncells) {
    *cells = NULL;
    *ncells = 0;
    t5pt_sweep_run *runs;
    int nruns;
    t5pt_status st = t5pt_sweep_plan(g, &runs, &nruns);
    if (st != T5PT_OK) return st;
    t5pt_sweep_cell *c = calloc((size_t)nruns + 1, sizeof *c);
    if (!c) {
        free(runs);
        return t5pt_set_error(T5PT_ERR_NOMEM, "sweep: out of memory");
    }
    int nc = 0;
    for (int i = 0; i < nruns; i++) {
        const t5pt_sweep_run *r = &runs[i];
        int k = 0;
        while (k < nc && !(c[k].prompt_len == r->prompt_len && !strcmp(c[k].init, r->init) &&
                           !strcmp(c[k].placement, r->placement)))
            k++;
        if (k < nc) continue;   /* the cell of an earlier seed's run */
        /* a new cell: its statistics over the grid's seeds that have a result */
        t5pt_sweep_cell *cell = &c[nc];
        memset(cell, 0, sizeof *cell);
        cell->prompt_len = r->prompt_len;
        snprintf(cell->init, sizeof cell->init, "%s", r->init);
        snprintf(cell->placement, sizeof cell->placement, "%s", r->placement);
        double sum = 0, sum2 = 0;
        for (int s = 0; s < g->num_seeds; s++) {
            const t5pt_sweep_result *x = result_of(res, nres, r, g->seeds[s]);
            if (!x) continue;
            if (cell->n == 0 || x->best < cell->min) cell->min = x->best;
            if (cell->n == 0 || x->best > cell->max) cell->max = x->best;
            sum += x->best;
            cell->n++;
        }
        if (cell->n == 0) continue;   /* nothing finished yet: not a cell */
        cell->mean = sum / cell->n;
        for (int s = 0; s < g->num_seeds; s++) {
            const t5pt_sweep_result *x = result_of(res, nres, r, g->seeds[s]);
            if (x) sum2 += (x->best - cell->mean) * (x->best - cell->mean);
        }
        cell->sd = cell->n > 1 ? sqrt(sum2 / (cell->n - 1)) : 0.0;
        nc++;
    }
    free(runs);
    *cells = c;
    *ncells = nc;
    return T5PT_OK;
}

static const t5pt_sweep_cell *find_cell(const t5pt_sweep_cell *c, int n, int len, const char *init, const char *pl) {
    for (int i = 0; i < n; i++)
        if (c[i].prompt_len == len && !strcmp(c[i].init, init) && !strcmp(c[i].placement, pl)) return &c[i];
    return NULL;
}

static void md_row(json_writer *w, const char *study, const t5pt_sweep_cell *c) {
    t5pt_jw_printf(w, "| %s | %d | %s | %s | %d | %.4f | %.4f | %.4f | %.4f |\n", study, c->prompt_len, c->init,
                   c->placement, c->n, c->mean, c->sd, c->min, c->max);
}

static t5pt_status write_summary(const char *out_dir, const t5pt_sweep_grid *g, const t5pt_sweep_cell *cells,
                                 int ncells, const char *metric) {
    json_writer w = {0};
    t5pt_jw_printf(&w, "# t5pt sweep: best validation %s per cell (mean +- sample standard deviation over seeds)\n\n",
                   metric);
    t5pt_jw_raw(&w, "| study | prompt length | init | placement | runs | mean | sd | min | max |\n"
                    "|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < g->num_lengths; i++)
        for (int j = 0; j < g->num_inits; j++) {
            const t5pt_sweep_cell *c = find_cell(cells, ncells, g->lengths[i], g->inits[j], "prepend");
            if (c) md_row(&w, "length x init", c);
        }
    for (int p = 0; p < g->num_placements; p++) {
        char pl[32];
        placement_text(g->placements[p], pl, sizeof pl);
        const t5pt_sweep_cell *c = find_cell(cells, ncells, g->placement_len, g->placement_init, pl);
        if (c) md_row(&w, "placement", c);
    }
    char *path = t5pt_path_join(out_dir, "summary.md");
    t5pt_status st = !path || w.oom ? t5pt_set_error(T5PT_ERR_NOMEM, "sweep: out of memory")
                                    : t5pt_write_file_atomic(path, w.buf, w.len);
    free(path);
    t5pt_jw_free(&w);
    return st;
}

/* ------------------------------------------------------------ figure.svg */

/* The length study as the paper draws Figure 3: the metric against the number of prompt tokens
 * on a log axis, one line per init, a dot per mean and a +- 1 sd bar (src/io/svg.c). */
static t5pt_status write_svg(const char *out_dir, const t5pt_sweep_grid *g, const t5pt_sweep_cell *cells, int ncells,
                             const char *metric) {
    const int nl = g->num_lengths, ni = g->num_inits;
    double *x = malloc(sizeof(double) * ((size_t)nl * ni + 1)), *y = malloc(sizeof(double) * ((size_t)nl * ni + 1));
    double *sd = malloc(sizeof(double) * ((size_t)nl * ni + 1));
    svg_series *series = calloc((size_t)ni + 1, sizeof *series);
    if (!x || !y || !sd || !series) {
        free(x), free(y), free(sd), free(series);
        return t5pt_set_error(T5PT_ERR_NOMEM, "sweep: out of memory");
    }
    int nseeds_max = 0;
    for (int j = 0; j < ni; j++) {
        double *xj = x + (size_t)j * nl, *yj = y + (size_t)j * nl, *sj = sd + (size_t)j * nl;
        for (int i = 0; i < nl; i++) {   /* a cell not run yet leaves a gap */
            const t5pt_sweep_cell *c = find_cell(cells, ncells, g->lengths[i], g->inits[j], "prepend");
            xj[i] = g->lengths[i];
            yj[i] = c ? c->mean : NAN;
            sj[i] = c && c->n > 1 ? c->sd : 0.0;
            if (c && c->n > nseeds_max) nseeds_max = c->n;
        }
        series[j] = (svg_series){.name = g->inits[j], .x = xj, .y = yj, .yerr = sj, .n = nl, .markers = 1};
    }
    char title[128], ylabel[96];
    snprintf(title, sizeof title, "Prompt length x initialisation (mean +- 1 sd over %d seed%s)", nseeds_max,
             nseeds_max == 1 ? "" : "s");
    snprintf(ylabel, sizeof ylabel, "Best validation %s", metric);
    const svg_axes axes = {.title = title, .xlabel = "Number of prompt tokens (log scale)", .ylabel = ylabel,
                           .log_x = 1, .legend = 1};
    t5pt_svg svg;
    t5pt_svg_begin(&svg, 640, 420);
    t5pt_svg_line_chart(&svg, (svg_box){0, 0, 640, 420}, &axes, series, ni);
    t5pt_svg_end(&svg);
    char *path = t5pt_path_join(out_dir, "figure.svg");
    t5pt_status st = path ? t5pt_svg_save(&svg, path) : t5pt_set_error(T5PT_ERR_NOMEM, "sweep: out of memory");
    free(path);
    t5pt_svg_free(&svg);
    free(x), free(y), free(sd), free(series);
    return st;
}

t5pt_status t5pt_sweep_write_report(const char *out_dir, const t5pt_sweep_grid *g, const t5pt_sweep_cell *cells,
                                    int ncells, const char *metric) {
    t5pt_status st = write_summary(out_dir, g, cells, ncells, metric);
    if (st == T5PT_OK) st = write_svg(out_dir, g, cells, ncells, metric);
    return st;
}
