/* golden_util.h — helpers shared by the tests that compare t5pt with the PyTorch goldens.
 *
 * A case is a directory golden/cases/<name>/ (golden/README.md, Case format), found relative to
 * the repository root (the Makefile runs tests there). Typical use:
 *
 *   char **names; int n = golden_list(&names);          // cases with expected.safetensors
 *   golden_case *g = golden_open(names[i]);              // NULL + message in golden_error()
 *   t5pt_model *m;  t5pt_model_load(&m, g->model_dir);
 *   ... t5pt_forward(ctx, g->prompt, g->prompt_len, g->placement, &g->batch, &loss) ...
 *   size_t n; float *want = golden_f32(g->expected, "logits", &n);   // malloc'd, NULL if absent
 *   double rel = golden_rel_err(got, want, n);          // max|got-want| / max|want|
 *   ck_assert(rel <= golden_tol(g, "logits", 1e-5));
 *   golden_note("logits", rel);                           // worst error per tensor kind
 *   golden_close(g); golden_free_list(names, n);
 *   golden_print_notes("forward");                        // table on stdout at the end
 *
 * Every case runs everywhere, emulators included (they are tiny models): a suite asserts
 * with golden_assert_list that it ran all GOLDEN_N_CASES of them.
 */
#ifndef T5PT_GOLDEN_UTIL_H
#define T5PT_GOLDEN_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "io/json.h"
#include "io/safetensors.h"
#include "t5pt.h"

#define GOLDEN_CASES_DIR "golden/cases"
/* How many cases golden/export.py writes (golden/README.md lists them), and how many of
 * them are optimizer trajectories (traj_*). Update both when export.py gains a case. */
#define GOLDEN_N_CASES 23
#define GOLDEN_N_TRAJECTORY_CASES 6

typedef struct {
    char name[128];
    char dir[512];            /* golden/cases/<name> */
    char model_dir[600];      /* golden/cases/<name>/model */
    json_doc *json;           /* case.json */
    const json_value *root;
    st_file *inputs;          /* inputs.safetensors */
    st_file *expected;        /* expected.safetensors (NULL when the case has none) */
    st_file *trajectory;      /* trajectory.safetensors (NULL when absent) */
    t5pt_placement placement; /* from case.json */
    int prompt_len, d_model;
    t5pt_batch batch;         /* B, T, L and the arrays below (int32) */
    int32_t *input_ids, *attention_mask, *labels;
    float *prompt;            /* prompt_embeddings [prompt_len, d_model] */
    t5pt_loss_kind loss_kind; /* case.json "loss" {"kind": "mean"|"sum", "z_loss": z}; absent: mean, 0 */
    float z_loss;             /* (give both to t5pt_ctx_set_loss before the forward) */
} golden_case;

/* Sorted names of every directory under golden/cases. Each must hold case.json,
 * inputs.safetensors, expected.safetensors and model/config.json. Returns the count, or
 * -1 (message in golden_error()) when the directory is missing or a case is incomplete:
 * a lost file never makes the list silently shorter. */
int golden_list(char ***names);
void golden_free_list(char **names, int n);
/* Check assertions: golden_list succeeded (n = its result) and found GOLDEN_N_CASES. */
void golden_assert_list(int n);

/* Opens a case: case.json, inputs (converted to a t5pt_batch) and the expected tensors. */
golden_case *golden_open(const char *name);
/* The same for a case directory root/name (golden/bf16: the flip-free bf16 cases). */
golden_case *golden_open_at(const char *root, const char *name);
void golden_close(golden_case *g);
const char *golden_error(void);   /* message of the last failed golden_open */

/* Tolerance for a tensor from case.json "tolerances" (dflt when absent). */
double golden_tol(const golden_case *g, const char *tensor, double dflt);

/* A tensor of file f converted to f32 / int32 (malloc'd; NULL when absent).
 * numel (may be NULL) receives the element count. */
float *golden_f32(const st_file *f, const char *name, size_t *numel);
int32_t *golden_i32(const st_file *f, const char *name, size_t *numel);

/* max |got - want| / max |want| (the relative error of the goldens); if want is all
 * zero, the max abs error. NaN anywhere gives +inf. */
double golden_rel_err(const float *got, const float *want, size_t n);

/* An "optim" object as golden/export.py writes it (case.json "optim", golden/optim/<name>.json)
 * as a t5pt_optim_config. Returns -1 when it cannot be parsed. */
int golden_optim_config_json(const json_value *spec, t5pt_optim_config *oc);
/* The "optim" object of case.json (trajectory cases) as a t5pt_optim_config; *steps
 * gets its "steps". Returns -1 when the case has no "optim" or it cannot be parsed. */
int golden_optim_config(const golden_case *g, t5pt_optim_config *oc, int *steps);

/* Worst error per tensor kind: a kind is the name with a trailing _<digits> removed
 * ("encoder_block_3" -> "encoder_block"). golden_print_notes prints the table. */
void golden_note(const char *tensor, double rel);
void golden_print_notes(const char *title);

#endif
