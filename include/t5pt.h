/* t5pt.h — soft-prompt tuning for T5, in C.
 *
 * The one public header. A typical program:
 *
 *   t5pt_model *m;      t5pt_model_load(&m, "path/to/hf-t5-dir");
 *   t5pt_ctx *c;        t5pt_ctx_create(&c, m, B, T, L, n);       // activation arenas
 *   t5pt_optim *o;      t5pt_optim_config oc; t5pt_optim_config_default(&oc, T5PT_OPT_ADAFACTOR);
 *                       t5pt_optim_create(&o, &oc, n, d_model);
 *   float *prompt = ... [n * d_model], e.g. t5pt_prompt_init(...)
 *   for each batch:     t5pt_train_step(c, o, prompt, n, placement, &batch, &loss);
 *
 * Every function that can fail returns a t5pt_status; on failure t5pt_last_error()
 * holds a one-line message (per thread) naming the file or argument and the problem.
 * The library never prints and never exits.
 */
#ifndef T5PT_H
#define T5PT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- version */
/* The version this header belongs to (the Makefile names libt5pt.so.MAJOR.MINOR.PATCH
 * after these; the soname is libt5pt.so.MAJOR). */
#define T5PT_VERSION_MAJOR 0
#define T5PT_VERSION_MINOR 1
#define T5PT_VERSION_PATCH 0
#define T5PT_VERSION "0.1.0"
/* The version of the library linked at run time ("0.1.0"). */
const char *t5pt_version(void);

/* ---------------------------------------------------------------- errors */
typedef enum {
    T5PT_OK = 0,
    T5PT_ERR_IO,          /* cannot open / read / write a file */
    T5PT_ERR_FORMAT,      /* a file is malformed (JSON, safetensors, protobuf, data line) */
    T5PT_ERR_CONFIG,      /* config.json values are missing, invalid or unsupported */
    T5PT_ERR_SHAPE,       /* a tensor or input has the wrong shape / dtype / size */
    T5PT_ERR_NOMEM,       /* allocation failed */
    T5PT_ERR_ARG,         /* a bad argument from the caller */
    T5PT_ERR_UNSUPPORTED, /* valid but not supported here (e.g. SIMD path not on this CPU) */
    T5PT_ERR_INTERRUPTED, /* stopped by a signal; state was saved */
    T5PT_ERR_NUMERIC      /* a loss, gradient or parameter became NaN/Inf or diverged */
} t5pt_status;

const char *t5pt_last_error(void);          /* message of the last failure in this thread */
const char *t5pt_status_name(t5pt_status);  /* "I/O error", ... */

/* ---------------------------------------------------------------- config & model */
typedef struct {
    int vocab_size;              /* rows of the embedding table (32128 for T5) */
    int d_model, d_kv, d_ff;
    int num_layers;              /* encoder blocks */
    int num_decoder_layers;      /* decoder blocks (defaults to num_layers) */
    int num_heads;
    int rel_num_buckets;         /* relative_attention_num_buckets */
    int rel_max_distance;        /* relative_attention_max_distance */
    float layer_norm_epsilon;
    int gated_gelu;              /* 0: "relu" (wo(relu(wi x))), 1: "gated-gelu" (wo(gelu_tanh(wi_0 x) * wi_1 x)) */
    int tie_word_embeddings;     /* 1: lm_head = shared, output scaled by d_model^-0.5 */
    int decoder_start_token_id, pad_token_id, eos_token_id;
} t5pt_config;

/* Parses a Hugging Face T5 config.json. */
t5pt_status t5pt_config_load(t5pt_config *cfg, const char *path);

typedef struct t5pt_model t5pt_model;   /* frozen weights, fp32 in memory */

/* Loads a Hugging Face model directory: config.json + model.safetensors, or sharded
 * model-0000N-of-0000M.safetensors with model.safetensors.index.json. F32/BF16/F16. */
t5pt_status t5pt_model_load(t5pt_model **out, const char *dir);
/* A random model with the given config (for benchmarks and tests). */
t5pt_status t5pt_model_init_random(t5pt_model **out, const t5pt_config *cfg, uint64_t seed);
const t5pt_config *t5pt_model_config(const t5pt_model *m);
/* Row `id` of the input embedding table, widened to fp32 into out[d_model] (the table
 * stays in the checkpoint's precision); T5PT_ERR_ARG if id is out of range. */
t5pt_status t5pt_model_embedding(const t5pt_model *m, int id, float *out);
/* Bytes the frozen weights occupy in memory: each tensor once, matrices in the
 * checkpoint's precision (a bf16 checkpoint needs about half of the same model in f32). */
size_t t5pt_model_weight_bytes(const t5pt_model *m);
size_t t5pt_model_num_params(const t5pt_model *m);
void t5pt_model_free(t5pt_model *m);

/* Compute precision of a model's matrix products (fp32 by default).
 *   T5PT_PRECISION_FP32  every product in fp32, as always (bit-for-bit unchanged).
 *   T5PT_PRECISION_BF16  the two inputs of every matrix product are rounded to bfloat16
 *                        (round to nearest even) and the products summed in fp32: all
 *                        linears forward and backward, the lm_head, Q K^T, P V and the
 *                        attention's backward products; a weight stored in bf16 is used as
 *                        is. Norms, softmax, loss, optimizer and the prompt stay fp32.
 *                        Native on AVX512_BF16 / ARM BF16 CPUs, the same arithmetic emulated
 *                        elsewhere (`t5pt info` says which). golden/bf16 is its reference. */
typedef enum { T5PT_PRECISION_FP32 = 0, T5PT_PRECISION_BF16 = 1 } t5pt_precision;
/* Parses "fp32" or "bf16". */
t5pt_status t5pt_precision_parse(const char *text, t5pt_precision *p);
const char *t5pt_precision_name(t5pt_precision p);   /* "fp32", "bf16"; NULL if unknown */
/* Sets the precision every later forward, backward and decoding step of m uses (every
 * context of m follows it; do not change it while another thread runs m). */
t5pt_status t5pt_model_set_precision(t5pt_model *m, t5pt_precision p);
t5pt_precision t5pt_model_precision(const t5pt_model *m);

/* ---------------------------------------------------------------- batches & prompts */
typedef struct {
    int B, T, L;                     /* batch rows, encoder tokens per row, label tokens per row */
    const int32_t *input_ids;        /* [B,T], right padded */
    const int32_t *attention_mask;   /* [B,T], 1 real / 0 pad; NULL means all real */
    const int32_t *labels;           /* [B,L], -100 = ignored; may be NULL for encode-only use */
} t5pt_batch;

typedef enum { T5PT_PLACE_PREPEND = 0, T5PT_PLACE_APPEND, T5PT_PLACE_AT } t5pt_placement_kind;
typedef struct {
    t5pt_placement_kind kind;
    int at;                          /* T5PT_PLACE_AT: insert before token min(at, len_b) of row b */
} t5pt_placement;
/* Parses "prepend", "append" or "at:K". */
t5pt_status t5pt_placement_parse(t5pt_placement *pl, const char *text);

/* ---------------------------------------------------------------- forward / backward */
typedef struct t5pt_ctx t5pt_ctx;    /* activation + gradient arenas for one model */

/* Sizes the arenas for batches up to max_B x max_T (input tokens) x max_L (labels)
 * with a prompt of prompt_len rows (0 = no prompt). */
t5pt_status t5pt_ctx_create(t5pt_ctx **out, const t5pt_model *m, int max_B, int max_T, int max_L, int prompt_len);
void t5pt_ctx_free(t5pt_ctx *c);
/* Dropout on the activations (HF places), seeded; 0 disables (the default). A rate <= 0
 * or NaN disables it, a rate above 0.99 is clamped to 0.99. */
void t5pt_ctx_set_dropout(t5pt_ctx *c, float rate, uint64_t seed);
/* Activation recomputation: keep only each block's output during the forward and run
 * the block's forward again inside its backward (about 1/3 more compute, a fraction of
 * the activation memory; the gradients are bit-identical). Re-sizes the arenas; the
 * activations of an earlier forward are gone. */
t5pt_status t5pt_ctx_set_recompute(t5pt_ctx *c, int on);
/* Bytes the context holds now (activation, gradient and, once used, dropout arenas). */
size_t t5pt_ctx_bytes(const t5pt_ctx *c);
/* Bytes a context for these maxima would hold (as t5pt_ctx_create + set_recompute;
 * dropout: include the dropout arena), without allocating it. */
t5pt_status t5pt_activation_bytes(const t5pt_model *m, int B, int T, int L, int n, int recompute, int dropout,
                                  size_t *bytes);

/* The training objective of t5pt_forward / t5pt_backward. Per labelled token r (label != -100)
 * l_r = cross-entropy_r + z_loss * lse_r^2, lse_r = log-sum-exp of the token's logits; then
 *   T5PT_LOSS_MEAN  loss = mean_r l_r  (Hugging Face's CrossEntropyLoss when z_loss = 0: the default)
 *   T5PT_LOSS_SUM   loss = sum_r l_r   (T5X's: the paper's code sums CE + 1e-4 lse^2 over the
 *                                       non-padding target tokens, EOS included)
 * A context starts with T5PT_LOSS_MEAN and z_loss 0. T5PT_ERR_ARG for an unknown kind or a
 * z_loss that is negative or not finite. */
typedef enum { T5PT_LOSS_MEAN = 0, T5PT_LOSS_SUM } t5pt_loss_kind;
t5pt_status t5pt_ctx_set_loss(t5pt_ctx *c, t5pt_loss_kind kind, float z_loss);
/* "mean" (z-loss 0) or "sum-zloss" (the paper's code: sum, z-loss 1e-4); *z_loss gets the
 * name's z-loss coefficient (a caller may override it). */
t5pt_status t5pt_loss_parse(const char *text, t5pt_loss_kind *kind, float *z_loss);
const char *t5pt_loss_name(t5pt_loss_kind kind);   /* "mean" or "sum" */

/* Forward pass with the prompt P[n, d_model] placed in the encoder input; n may be 0
 * (P NULL). If batch->labels is set, *loss = the context's loss over labels != -100 (by
 * default the mean cross-entropy), and 0 when every label is -100; without labels *loss = 0
 * (loss may be NULL).
 * Activations stay in the ctx for t5pt_backward and the accessors. */
t5pt_status t5pt_forward(t5pt_ctx *c, const float *P, int n, t5pt_placement pl, const t5pt_batch *batch, float *loss);
/* After t5pt_forward with labels: dP[n, d_model] = d loss / d P, summed over the batch.
 * Every label -100: the loss is the constant 0 and dP is all zeros. n == 0: nothing to do. */
t5pt_status t5pt_backward(t5pt_ctx *c, float *dP);

/* Activations of the last forward (valid until the next call). Shapes:
 * "inputs_embeds" [B,Tenc,d], "encoder_block_<i>" [B,Tenc,d], "encoder_last_hidden_state" [B,Tenc,d],
 * "decoder_block_<i>" [B,L,d], "decoder_last_hidden_state" [B,L,d], "logits" [B,L,V].
 * Returns NULL for an unknown name; dims[0..2] receive the shape. */
const float *t5pt_ctx_tensor(const t5pt_ctx *c, const char *name, int dims[3]);
/* Encoder mask after placement [B,Tenc] (1/0). */
const int32_t *t5pt_ctx_encoder_mask(const t5pt_ctx *c, int *B, int *Tenc);

/* ---------------------------------------------------------------- optimizers */
typedef enum { T5PT_OPT_ADAFACTOR = 0, T5PT_OPT_ADAFACTOR_T5X, T5PT_OPT_ADAMW } t5pt_optim_kind;
typedef enum { T5PT_SCHED_CONSTANT = 0, T5PT_SCHED_LINEAR } t5pt_schedule_kind;

typedef struct {
    t5pt_optim_kind kind;
    float lr;                 /* Adafactor default 0.3 (paper), AdamW 1e-3 */
    /* Adafactor (HF semantics; see src/train/optim.c) */
    float eps1, eps2;         /* 1e-30, 1e-3 */
    float clip_threshold;     /* 1.0 */
    float decay_rate;         /* -0.8 */
    float beta1;              /* < 0 means none (default) */
    float weight_decay;       /* 1e-5 for Adafactor, 0.01 for AdamW */
    int scale_parameter, relative_step, warmup_init;  /* all 0 by default */
    /* Adafactor: steps counted before the first update, 0 by default. The second-moment decay
     * of update t (1, 2, ...) is beta2 = 1 - (start_step + t)^decay_rate. T5X decays by the
     * global step, which prompt tuning restores from the pretrained checkpoint (1,100,000 for
     * the LM-adapted T5 1.1), so beta2 is ~0.99999 from the first prompt step. Only the decay
     * uses it (not relative_step, not the schedule); at most INT32_MAX. */
    int64_t start_step;
    /* AdamW */
    float adam_beta1, adam_beta2, adam_eps;            /* 0.9, 0.999, 1e-8 */
    /* schedule: lr multiplier; linear = warmup from 0 then linear decay to 0 at total_steps */
    t5pt_schedule_kind schedule;
    int warmup_steps, total_steps;
} t5pt_optim_config;

void t5pt_optim_config_default(t5pt_optim_config *oc, t5pt_optim_kind kind);
t5pt_status t5pt_optim_parse_kind(t5pt_optim_kind *kind, const char *text); /* adafactor|adafactor-t5x|adamw */

typedef struct t5pt_optim t5pt_optim;
t5pt_status t5pt_optim_create(t5pt_optim **out, const t5pt_optim_config *oc, int rows, int cols);
/* One update of param[rows, cols] with grad; counts steps internally. A non-finite
 * gradient is refused (T5PT_ERR_ARG) and leaves param and the state untouched. */
t5pt_status t5pt_optim_step(t5pt_optim *o, float *param, const float *grad);
int t5pt_optim_steps_done(const t5pt_optim *o);
float t5pt_optim_current_lr(const t5pt_optim *o);  /* lr the next step will use (Adafactor: before the
                                                      scale_parameter factor max(eps2, RMS(p))) */
/* Serialised state (for checkpoints): a flat float buffer + step count. */
size_t t5pt_optim_state_size(const t5pt_optim *o);             /* floats */
void t5pt_optim_state_get(const t5pt_optim *o, float *state, int64_t *step);
t5pt_status t5pt_optim_state_set(t5pt_optim *o, const float *state, size_t n, int64_t step);
void t5pt_optim_free(t5pt_optim *o);

/* One training step: forward + backward + optimizer update of P; returns the loss before the update.
 * A batch whose labels are all -100 still takes the optimizer step with a zero gradient
 * (weight decay and momentum can still move P). A non-finite loss or prompt gradient is
 * T5PT_ERR_NUMERIC and leaves P and the optimizer state untouched. */
t5pt_status t5pt_train_step(t5pt_ctx *c, t5pt_optim *o, float *P, int n, t5pt_placement pl,
                            const t5pt_batch *batch, float *loss);

/* ---------------------------------------------------------------- tokenizer */
typedef struct t5pt_tokenizer t5pt_tokenizer;

/* path: a spiece.model, a tokenizer.json, or a directory holding either (spiece.model preferred). */
t5pt_status t5pt_tokenizer_load(t5pt_tokenizer **out, const char *path);
/* Encodes UTF-8 text[0..len). *ids is malloc'd (caller frees). add_eos appends </s> (1).
 * <extra_id_N> in the text becomes 32099-N. */
t5pt_status t5pt_tokenizer_encode(const t5pt_tokenizer *tok, const char *text, size_t len, int add_eos,
                                  int32_t **ids, int *n_ids);
/* Decodes ids to a malloc'd NUL-terminated UTF-8 string (control tokens dropped, sentinels by name). */
t5pt_status t5pt_tokenizer_decode(const t5pt_tokenizer *tok, const int32_t *ids, int n_ids, char **text);
int t5pt_tokenizer_vocab_size(const t5pt_tokenizer *tok);   /* 32100 for T5 (with sentinels) */
void t5pt_tokenizer_free(t5pt_tokenizer *tok);

/* ---------------------------------------------------------------- prompt init & files */
/* Prompt initialisations (one table in src/train/prompt.c names them, says what each does and
 * maps each to PEFT's prompt_tuning_init). Where the paper's text and its code differ, both exist. */
typedef enum {
    T5PT_INIT_RANDOM_UNIFORM = 0,   /* "random-uniform": U[-range, range), the paper's text: range 0.5 */
    T5PT_INIT_SAMPLED_VOCAB,        /* "sampled-vocab": embedding rows of ids drawn from [0, min(5000, vocab))
                                       without replacement, with replacement once n exceeds that pool
                                       (the paper's code; pad, eos and unk are ids 0..2 and eligible) */
    T5PT_INIT_CLASS_LABELS,         /* "class-labels": sampled-vocab, then row k = mean embedding of label k's
                                       tokens; labels beyond row n are skipped (the paper's code warns) */
    T5PT_INIT_TEXT,                 /* "text": embeddings of a token sequence, repeated to fill */
    T5PT_INIT_RANDOM_UNIFORM_T5X    /* "random-uniform-t5x": U[0, range), the paper's code (flax
                                       initializers.uniform(scale=0.5)) */
} t5pt_init_kind;

typedef struct {
    t5pt_init_kind kind;
    float range;                    /* random-uniform half width / random-uniform-t5x scale (0.5) */
    uint64_t seed;
    /* class-labels: label_ids[i] has label_lens[i] token ids; text: text_ids[text_len] */
    const int32_t *const *label_ids; const int *label_lens; int num_labels;
    const int32_t *text_ids; int text_len;
} t5pt_init_config;

t5pt_status t5pt_init_parse_kind(t5pt_init_kind *kind, const char *text);
const char *t5pt_init_kind_name(t5pt_init_kind kind);   /* "random-uniform", ...; NULL if unknown */
const char *t5pt_init_kind_help(t5pt_init_kind kind);   /* one line: what the init does */
/* PEFT's prompt_tuning_init for the kind: RANDOM, SAMPLE_VOCAB (PEFT >= 0.18; older versions keep
 * the string and ignore it) or TEXT (only written with the text and a tokenizer path). */
const char *t5pt_init_peft_name(t5pt_init_kind kind);
/* "a|b|c" of every kind name, for option parsers and messages. */
const char *t5pt_init_kind_choices(void);
/* Fills P[n, d_model]. */
t5pt_status t5pt_prompt_init(float *P, int n, const t5pt_model *m, const t5pt_init_config *ic);

/* Saves P as a Hugging Face PEFT prompt-tuning adapter directory (adapter_config.json +
 * adapter_model.safetensors), atomically per file. base_model may be NULL. */
t5pt_status t5pt_prompt_save_peft(const char *dir, const float *P, int n, int d_model, const char *base_model,
                                  const char *init_name);
/* Loads a prompt from a PEFT adapter directory, a .safetensors file (key prompt_embeddings)
 * or a T5X .npy file ([n, d] float32). *P is malloc'd. For a seq2seq adapter with 2n rows the
 * first n are used; so for a bare adapter_model.safetensors with its adapter_config.json beside
 * it (the config gives n). Another bare file gives all its rows (t5pt_prompt_load_ex says so). */
t5pt_status t5pt_prompt_load(const char *path, float **P, int *n, int *d_model);

/* What a prompt file says about itself (t5pt_prompt_load_ex). */
typedef struct {
    int rows_in_file;        /* rows stored (a PEFT seq2seq adapter stores 2n) */
    int from_config;         /* 1: the row count came from an adapter_config.json */
    char placement[32];      /* the placement it was trained with (t5pt metadata), "" when not recorded */
    char init[32];           /* the t5pt init kind it started from, "" when not recorded */
} t5pt_prompt_info;
/* t5pt_prompt_load, and what the file records. A recorded placement is checked (it parses). */
t5pt_status t5pt_prompt_load_ex(const char *path, float **P, int *n, int *d_model, t5pt_prompt_info *info);

/* What t5pt_prompt_save_peft_ex records besides the rows (every field may be NULL / 0).
 * The adapter has num_transformer_submodules = 1 so PEFT prompts only the encoder, as t5pt
 * does (reasons in src/train/prompt.c); PEFT always prepends. */
typedef struct {
    const char *base_model;             /* base_model_name_or_path (the --model directory) */
    const char *init_name;              /* t5pt init kind name, mapped to PEFT's prompt_tuning_init */
    const char *init_text;              /* text init: the text (PEFT TEXT); class-labels: the label words.
                                           Recorded as t5pt_init_text in the safetensors metadata */
    const char *tokenizer_name_or_path; /* NULL: base_model when the init is text */
    int num_layers, num_attention_heads;/* from the model config; 0 writes null (PEFT fills them) */
    const char *placement;              /* "prepend", "append", "at:K": safetensors metadata only */
} t5pt_peft_info;
t5pt_status t5pt_prompt_save_peft_ex(const char *dir, const float *P, int n, int d_model, const t5pt_peft_info *info);
/* Saves P as a T5X-style .npy ([n, d] '<f4', C order, NPY 1.0), atomically. */
t5pt_status t5pt_prompt_save_npy(const char *path, const float *P, int n, int d_model);

/* ---------------------------------------------------------------- SIMD */
/* Name of the kernel path in use: "scalar", "avx2", "avx512" or "neon". */
const char *t5pt_simd_path(void);
/* Forces a path (may only lower what the CPU has). Also read from T5PT_SIMD at start-up. */
t5pt_status t5pt_simd_select(const char *name);
/* CPU features found, e.g. "sse2 avx avx2 fma avx512f avx512bw avx512dq avx512vl". */
const char *t5pt_cpu_features(void);
/* Status of the T5PT_SIMD request read at start-up: T5PT_OK, or the error (and
 * t5pt_last_error() message) of an unknown/unavailable path (the best path is used then). */
t5pt_status t5pt_simd_env_status(void);
/* Space-separated paths this CPU and build can run, best first, e.g. "avx512 avx2 scalar". */
const char *t5pt_simd_paths(void);
/* Threads in use now (OpenMP's setting; 1 without OpenMP). */
int t5pt_num_threads(void);
/* Uses n threads (n <= 0: one per core, or per core of the process's cgroup CPU quota when
 * that is fewer: a container limited to 2 CPUs), and makes n the most the adaptive policy
 * uses. */
void t5pt_set_num_threads(int n);

/* How many threads a forward pass uses. Results never depend on it (every product and
 * reduction has a fixed order), only the speed does.
 *  FIXED     the count t5pt_set_num_threads (or OMP_NUM_THREADS) gave; the default.
 *            Either policy, set before any count was given and without OMP_NUM_THREADS,
 *            starts from one thread per core of the cgroup CPU quota when there is one.
 *  ADAPTIVE  at most that count, fewer while other programs keep cores busy: at the start
 *            of a forward pass (at most every T5PT_THREADS_RECHECK_S seconds) the runnable
 *            tasks of other programs are counted (Linux /proc/loadavg, less this
 *            process's own running threads) and min(count, cores - others, at least 1)
 *            threads are used. A thread team larger than the free cores waits at every
 *            barrier for whichever thread the scheduler left out (simd/threads.c).
 *            Where /proc cannot be read, ADAPTIVE behaves as FIXED. */
typedef enum { T5PT_THREADS_FIXED = 0, T5PT_THREADS_ADAPTIVE = 1 } t5pt_thread_policy;
#define T5PT_THREADS_RECHECK_S 0.25
void t5pt_set_thread_policy(t5pt_thread_policy policy);
t5pt_thread_policy t5pt_get_thread_policy(void);
/* Applies the policy now (t5pt_forward and the decoding entry points call it); returns
 * the threads in use. Outside a parallel region only. */
int t5pt_threads_adapt(void);

#ifdef __cplusplus
}
#endif
#endif
