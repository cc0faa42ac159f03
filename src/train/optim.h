/* optim.h — reading an optimizer configuration from JSON (the library side of
 * `t5pt dump --optim-json` and of the golden tests; the optimizers are in t5pt.h). */
#ifndef T5PT_OPTIM_H
#define T5PT_OPTIM_H

#include "t5pt.h"
#include "io/json.h"

/* Fills *oc from an "optim" object as golden/export.py writes it:
 *   {"kind": "adafactor"|"adafactor-t5x"|"adamw", "lr": x|null, "weight_decay": x,
 *    Adafactor: "eps": [eps1, eps2], "clip_threshold", "decay_rate", "beta1": x|null,
 *               "scale_parameter", "relative_step", "warmup_init", "min_dim_size_to_factor" (128),
 *               "start_step" (steps counted before the first update, default 0),
 *    AdamW:     "betas": [b1, b2], "eps": x,
 *    "schedule": {"kind": "constant"|"linear", "warmup_steps", "total_steps"}}
 * A missing key keeps t5pt_optim_config_default's value for the kind (adafactor when "kind"
 * is missing); "lr": null means no external lr (0, for relative_step); "beta1": null means no
 * first moment. A key present with the wrong type or shape, an unknown kind or schedule, or a
 * min_dim_size_to_factor other than 128 (t5pt builds no such optimizer) is T5PT_ERR_CONFIG
 * with a message that starts with `where` (e.g. the file name). */
t5pt_status t5pt_optim_config_from_json(t5pt_optim_config *oc, const json_value *obj, const char *where);

#endif
