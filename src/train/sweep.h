/* sweep.h — the paper's ablations as one resumable job (`t5pt sweep`).
 *
 * Lester et al. 2021 §4 (Figure 3) vary one thing at a time around a default: the prompt
 * length {1, 5, 20, 100, 150} with each initialisation {random-uniform, sampled-vocab,
 * class-labels}; t5pt adds a placement study (prepend, at:K, append) at one length and init.
 * Every combination runs with several seeds. One run = one t5pt_train into
 * OUT/runs/<name>/ (its adapter and checkpoint), scored by its best validation metric.
 *
 * Files in OUT:
 *   results.jsonl  one line per finished run (its settings, first / best / final metric, best step,
 *                  seconds) plus the sweep's configuration; rewritten whole (temp file + rename)
 *                  after every run, so a kill never leaves half a line
 *   summary.md     per cell (length, init, placement): runs, mean, sample standard deviation,
 *                  min and max of the best metric
 *   figure.svg     the length study in the paper's style: metric against prompt length (log
 *                  axis), one line per init, mean with a +- 1 standard deviation bar; one
 *                  self-contained SVG (no scripts, no external fonts or links)
 * Resuming: a rerun reads results.jsonl and skips the runs it holds; a run that was interrupted
 * continues from its own checkpoint (bit-identical to an uninterrupted run, see train.h). A
 * results file written with another configuration (model, data, steps, ...) is refused.
 * The library never prints: progress goes to the callback.
 */
#ifndef T5PT_SWEEP_H
#define T5PT_SWEEP_H

#include <signal.h>
#include "t5pt.h"
#include "train/data.h"
#include "train/train.h"

/* The grid. Lengths x inits run with placement "prepend"; the placement study runs each
 * placement at placement_len with placement_init (its prepend run is the length study's when
 * that cell is in it). Every run once per seed. */
typedef struct {
    const int *lengths;
    int num_lengths;
    const char *const *inits;          /* init kind names (t5pt_init_parse_kind) */
    int num_inits;
    const char *const *placements;     /* "prepend", "append", "at:K"; 0 of them: no placement study */
    int num_placements;
    int placement_len;
    const char *placement_init;
    const uint64_t *seeds;
    int num_seeds;
} t5pt_sweep_grid;

typedef struct {
    int prompt_len;
    char init[32];
    char placement[32];
    uint64_t seed;
} t5pt_sweep_run;

/* One finished run, as results.jsonl holds it. */
typedef struct {
    t5pt_sweep_run run;
    char metric[32];                   /* "rank_accuracy", "exact_match" or "valid_loss" */
    double first, best, final;         /* before training, the best validation, the last one */
    int best_step, steps;
    double seconds;
} t5pt_sweep_result;

/* One cell of the summary: the runs of one (length, init, placement) over the seeds. */
typedef struct {
    int prompt_len;
    char init[32];
    char placement[32];
    int n;
    double mean, sd, min, max;         /* of the best metric; sd is the sample standard deviation (0 for n = 1) */
} t5pt_sweep_cell;

/* Every run of the grid in order (length study, then the placement runs it lacks); malloc'd.
 * T5PT_ERR_ARG for an empty grid, an unknown init or placement, a length < 1, a repeated value. */
t5pt_status t5pt_sweep_plan(const t5pt_sweep_grid *g, t5pt_sweep_run **runs, int *n);

/* "len20-class-labels-prepend-seed1": the run's directory name under OUT/runs and its key. */
void t5pt_sweep_run_name(const t5pt_sweep_run *r, char *buf, size_t n);

typedef struct {
    int index, total;                  /* this run (0-based) of all the grid's runs */
    const t5pt_sweep_run *run;
    int skipped;                       /* 1: results.jsonl already holds it */
    const t5pt_sweep_result *result;   /* set when the run finished (or was skipped) */
} t5pt_sweep_event;

typedef struct {
    const t5pt_model *m;
    const t5pt_tokenizer *tok;
    const t5pt_dataset *train, *valid; /* valid is required: every run is scored on it */
    const char *const *labels;         /* needed by class-labels (and rank accuracy) */
    int num_labels;
    t5pt_train_options base;           /* every setting of a run except out_dir, resume, seed, placement,
                                          labels, tokenizer, stop flag and peft info (the sweep sets
                                          those); base.callback, if set, sees every step of every run */
    const char *out_dir;
    const char *config;                /* the settings every result line records (model, data, steps, ...) */
    volatile sig_atomic_t *stop_flag;  /* a signal handler's flag: the current run checkpoints and stops */
    /* called before each run (result NULL) and after it; non-zero stops the sweep like the flag */
    int (*on_run)(const t5pt_sweep_event *e, void *user);
    void *user;
} t5pt_sweep_options;

/* Runs the grid's runs that results.jsonl lacks, then writes summary.md and figure.svg from
 * all of them (also after an interruption, from the runs finished so far). T5PT_ERR_INTERRUPTED
 * when stopped (the run in progress is checkpointed; rerun to continue). */
t5pt_status t5pt_sweep(const t5pt_sweep_grid *g, const t5pt_sweep_options *o);

/* The results of OUT/results.jsonl (none when the file is absent): *res malloc'd. A line of
 * another configuration (config != NULL) is T5PT_ERR_ARG naming the file. */
t5pt_status t5pt_sweep_read_results(const char *out_dir, const char *config, t5pt_sweep_result **res, int *n);

/* Cells of the runs in the grid that have results, in plan order; *cells malloc'd. */
t5pt_status t5pt_sweep_cells(const t5pt_sweep_grid *g, const t5pt_sweep_result *res, int nres,
                             t5pt_sweep_cell **cells, int *ncells);

/* summary.md and figure.svg of these cells (atomically). metric names the y axis. */
t5pt_status t5pt_sweep_write_report(const char *out_dir, const t5pt_sweep_grid *g, const t5pt_sweep_cell *cells,
                                    int ncells, const char *metric);

#endif
