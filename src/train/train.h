/* train.h — the prompt-tuning loop as a library function.
 *
 *   for step = 1 .. total:
 *       next batch of the epoch's shuffled order (a new order each epoch, from the seed)
 *       forward + backward into the prompt + optimizer update  (t5pt_train_step)
 *       every eval_every steps (and at the end): validation metric; the best prompt is kept
 *       every checkpoint_every steps: checkpoint (atomic)
 *
 * Reproducibility: the data order comes from one RNG seeded with `seed` and advanced
 * only by the epoch shuffles; dropout is reseeded every step from (seed, step). A
 * checkpoint holds everything the rest of the run depends on — prompt, optimizer
 * state, step, epoch, position in the epoch's order, the order itself, the RNG state,
 * the best prompt and its metric — so a run resumed from any checkpoint ends
 * bit-identical to an uninterrupted one.
 *
 * A checkpoint also records the run's settings (prompt length, batch, seed, optimizer and
 * its hyperparameters with the Adafactor start step, schedule, loss, dropout, placement, a
 * fingerprint of the tokenized training and validation data, labels, selection metric,
 * eval-every, patience); resuming with any of them
 * different is refused, naming the flag. The data order and RNG state it holds are checked
 * against a replay from the seed.
 *
 * Numerical faults stop the run (T5PT_ERR_NUMERIC, the message names the step): a loss or
 * prompt gradient that is NaN/Inf (caught before the update), or a prompt that diverged —
 * a value that is not finite, or an RMS above T5PT_DIVERGED_RMS_FACTOR times the largest
 * RMS of any embedding row (no learned prompt needs to be a thousand times larger than
 * every word the model knows; at that size the residual stream drowns every layer's
 * output). Nothing is written after a fault: the last checkpoint (every saved state passed
 * these checks) and an existing result stay as they were.
 *
 * Files under out_dir (created if missing, after every input was loaded):
 *   adapter_config.json + adapter_model.safetensors   the result (PEFT layout): the best
 *       prompt by the validation metric when there is a validation set, else the last one.
 *       Written only at the end (or on a requested stop), never after a failure.
 *   checkpoint.safetensors   resume state (temp file + rename, so a kill leaves the old one).
 *   .t5pt-train.lock         held (flock) while a run uses out_dir: a second run into the same
 *       directory is refused. Temp files a killed run left (NAME.tmp.PID, PID gone) are removed.
 * A run that fails before writing anything removes the directory again if it created it.
 *
 * The metrics log (JSONL) is checked for write errors (a full disk stops the run); on resume
 * a regular file is cut back to the lines up to the checkpoint's step, so no step repeats.
 *
 * The library never prints: progress goes to the callback, metrics to the JSONL file.
 */
#ifndef T5PT_TRAIN_H
#define T5PT_TRAIN_H

#include <signal.h>
#include "t5pt.h"
#include "train/data.h"

typedef struct {
    int step, total_steps;           /* steps done (after this one), planned */
    int epoch;                       /* 0-based epoch of the batch just used */
    float loss;                      /* loss of this step's batch (before the update) */
    float smooth_loss;               /* exponential moving average (0.98) */
    float lr;                        /* learning rate used */
    double tokens_per_s;             /* encoder + decoder tokens per second in this run */
    double elapsed_s, eta_s;
    /* set on evaluation events (is_eval = 1): */
    int is_eval;
    const char *metric_name;         /* "rank_accuracy", "exact_match" or "valid_loss" */
    double metric;                   /* this evaluation */
    double best_metric;              /* best so far */
    int best_step;
    int improved;
    const float *prompt;             /* the current prompt [n, d_model] (read-only, valid during the call) */
} t5pt_train_progress;

/* Called after every step and every evaluation. Return non-zero to stop: the loop
 * writes a checkpoint and the result prompt, then returns T5PT_ERR_INTERRUPTED. */
typedef int (*t5pt_train_callback)(const t5pt_train_progress *p, void *user);

/* The validation metric that picks the best prompt (early stopping). */
typedef enum {
    T5PT_SELECT_DEFAULT = 0,         /* rank accuracy with labels, else exact match */
    T5PT_SELECT_RANK_ACCURACY,       /* rank classification over the labels (higher is better) */
    T5PT_SELECT_EXACT_MATCH,         /* greedy generation == target text (the paper's code scores decoded
                                        strings; an output that is no label is wrong) */
    T5PT_SELECT_LOSS                 /* mean cross-entropy per target token, teacher forced (lower is better) */
} t5pt_select_kind;
/* "rank-accuracy", "exact-match" or "loss". */
t5pt_status t5pt_select_parse(t5pt_select_kind *kind, const char *text);
/* The metric name train logs: "rank_accuracy", "exact_match" or "valid_loss" (DEFAULT resolved by num_labels). */
const char *t5pt_select_metric_name(t5pt_select_kind kind, int num_labels);

typedef struct {
    int batch;                       /* examples per step (32) */
    int steps;                       /* total steps; 0: use epochs */
    int epochs;                      /* used when steps == 0 (default 1) */
    int eval_every;                  /* steps between evaluations (0: only at start and end) */
    int checkpoint_every;            /* steps between checkpoints (0: eval_every, or 100) */
    int patience;                    /* stop after this many evaluations without improvement (0: never) */
    float dropout;                   /* 0.1 in the paper */
    int recompute;                   /* activation recomputation (t5pt_ctx_set_recompute): less
                                        memory, ~1/3 more compute, bit-identical results */
    uint64_t seed;
    t5pt_placement pl;
    t5pt_optim_config oc;
    t5pt_loss_kind loss;             /* the training objective (default mean, z_loss 0; t5pt_ctx_set_loss) */
    float z_loss;
    const char *out_dir;             /* required */
    int resume;                      /* continue from out_dir/checkpoint.safetensors if present */
    const char *metrics_path;        /* JSONL log (NULL: none); appended to when resuming */
    /* validation */
    const t5pt_tokenizer *tok;       /* decodes generations / encodes labels */
    const char *const *labels;       /* rank classification over these when num_labels > 0, */
    int num_labels;                  /* else exact match of greedy generations */
    t5pt_select_kind select;         /* the metric that picks the best prompt (default: as above) */
    int eval_batch;                  /* 16 */
    t5pt_peft_info peft;             /* recorded in adapter_config.json (base model, init, placement, ...) */
    volatile sig_atomic_t *stop_flag;/* set by a signal handler: checkpoint and stop */
    t5pt_train_callback callback;
    void *user;
} t5pt_train_options;

typedef struct {
    int steps_done;
    int resumed_from;                /* step of the checkpoint resumed from (-1: fresh start) */
    float last_loss, last_smooth_loss;
    int evaluated;                   /* 1 when a validation set was scored */
    const char *metric_name;         /* the validation metric (see t5pt_select_metric_name) */
    double first_metric;             /* before any training step (if evaluated then) */
    double best_metric;
    int best_step;
    double final_metric;             /* last evaluation */
    int stopped_early;               /* patience ran out */
} t5pt_train_result;

void t5pt_train_options_default(t5pt_train_options *o);

/* A training recipe: the defaults `t5pt train --recipe NAME` starts from (flags override them).
 * "paper": the paper's code (T5X Adafactor with the pretrained checkpoint's step count, summed
 * cross-entropy + z-loss); "hf": Hugging Face semantics. Sources in train.c. */
typedef struct {
    const char *name, *about;
    const char *optim;               /* t5pt_optim_parse_kind name */
    float lr, weight_decay;
    int64_t adafactor_start_step;
    const char *loss;                /* t5pt_loss_parse name (it gives the z-loss) */
    int prompt_len, batch, eval_every;
    float dropout;
} t5pt_recipe;
/* The recipe called name, NULL when there is none. */
const t5pt_recipe *t5pt_recipe_find(const char *name);

/* Steps the run will take on n_examples (o->steps, else o->epochs x ceil(n / batch)), checked
 * for overflow: T5PT_ERR_ARG naming --steps / --epochs / --batch when it exceeds INT_MAX. */
t5pt_status t5pt_train_total_steps(const t5pt_train_options *o, int n_examples, int *total);

/* The divergence rule: a prompt whose RMS exceeds this factor times the largest embedding-row RMS. */
#define T5PT_DIVERGED_RMS_FACTOR 1000.0

/* Trains P[n, d_model] in place (on return: the last prompt, not the best). */
t5pt_status t5pt_train(const t5pt_model *m, const t5pt_dataset *train, const t5pt_dataset *valid, float *P, int n,
                       const t5pt_train_options *o, t5pt_train_result *res);

/* Path of the checkpoint file in out_dir (malloc'd). */
char *t5pt_checkpoint_path(const char *out_dir);
/* Reads and checks a checkpoint as --resume does for a run with prompt [n, d], N training
 * examples and options o: P receives its prompt and opt its optimizer state. The reader's
 * own entry point, for tests and the fuzz harness (t5pt_train calls the same code); the
 * recorded settings (learning rate, data fingerprint, ...) are compared by t5pt_train only. */
t5pt_status t5pt_checkpoint_read(const char *path, float *P, int n, int d, int N, t5pt_optim *opt,
                                 const t5pt_train_options *o);

#endif
