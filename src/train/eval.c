/* eval.c — greedy decoding and rank classification over the cached decoder
 * (model/decode.h), prompt ensembles and dataset accuracy.
 */
#include "train/eval.h"
#include "base/internal.h"
#include "model/decode.h"
#include "model/model.h"
#include "simd/kernels.h"

#include <stdlib.h>
#include <string.h>

static float *zalloc(size_t n) {
    float *p = t5pt_alloc_aligned(n * sizeof(float));
    if (p) memset(p, 0, n * sizeof(float));
    return p;
}

/* ------------------------------------------------------------ encoder for E prompts */

/* Runs the encoder once per prompt and stacks the outputs: H [E*B, Tmax, d], mask [E*B, Tmax]
 * (Tmax = T + max n[e]; shorter rows are padded and masked). */
static t5pt_status encode_all(t5pt_ctx *c, const t5pt_model *m, const float *const *P, const int *n, int E,
                              t5pt_placement pl, const t5pt_batch *b, float **H, int32_t **mask, int *Tmax) {
    const int d = m->cfg.d_model;
    int nmax = 0;
    for (int e = 0; e < E; e++) if (n[e] > nmax) nmax = n[e];
    *Tmax = b->T + nmax;
    size_t rows = (size_t)E * b->B;
    *H = zalloc(rows * *Tmax * d);
    *mask = calloc(rows * *Tmax, sizeof(int32_t));
    if (!*H || !*mask) return t5pt_set_error(T5PT_ERR_NOMEM, "encoder: out of memory");
    t5pt_batch enc = *b;
    enc.labels = NULL;
    enc.L = 0;
    for (int e = 0; e < E; e++) {
        t5pt_status st = t5pt_forward(c, n[e] ? P[e] : NULL, n[e], pl, &enc, NULL);
        if (st != T5PT_OK) return st;
        int dims[3], Bm, Te;
        const float *h = t5pt_ctx_tensor(c, "encoder_last_hidden_state", dims);
        const int32_t *mk = t5pt_ctx_encoder_mask(c, &Bm, &Te);
        if (!h || !mk || dims[0] != b->B || dims[1] != Te || Te > *Tmax)
            return t5pt_set_error(T5PT_ERR_SHAPE, "encoder: unexpected output shape");
        for (int r = 0; r < b->B; r++) {
            size_t dst = (size_t)e * b->B + r;
            memcpy(*H + dst * *Tmax * d, h + (size_t)r * Te * d, (size_t)Te * d * sizeof(float));
            memcpy(*mask + dst * *Tmax, mk + (size_t)r * Te, (size_t)Te * sizeof(int32_t));
        }
    }
    return T5PT_OK;
}

static int argmax(const float *x, int n) {
    int best = 0;   /* first maximum, as torch.argmax */
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

t5pt_status t5pt_greedy(t5pt_ctx *c, const t5pt_model *m, const float *const *P, const int *n, int E,
                        t5pt_placement pl, const t5pt_batch *b, int max_new, int stop_at_eos, int32_t *out,
                        int *lens) {
    if (max_new <= 0 || E <= 0) return t5pt_set_error(T5PT_ERR_ARG, "generate: nothing to decode");
    float *H = NULL;
    int32_t *mask = NULL, *tok = NULL;
    int *row_enc = NULL, *done = NULL, Tmax;
    t5pt_kvdec *k = NULL;
    const int R = E * b->B, V = m->cfg.vocab_size;
    t5pt_status st = encode_all(c, m, P, n, E, pl, b, &H, &mask, &Tmax);
    if (st == T5PT_OK) {
        row_enc = malloc((size_t)R * sizeof(int));
        tok = malloc((size_t)R * sizeof(int32_t));
        done = calloc((size_t)R, sizeof(int));
        if (!row_enc || !tok || !done) st = t5pt_set_error(T5PT_ERR_NOMEM, "generate: out of memory");
    }
    if (st == T5PT_OK) {
        for (int r = 0; r < R; r++) { row_enc[r] = r; tok[r] = m->cfg.decoder_start_token_id; lens[r] = 0; }
        st = t5pt_kvdec_create(&k, m, H, mask, R, Tmax, R, row_enc, max_new);
    }
    for (int g = 0; st == T5PT_OK && g < max_new; g++) {
        const float *lg;
        st = t5pt_kvdec_step(k, tok, &lg);
        if (st != T5PT_OK) break;
        int all_done = 1;
        for (int r = 0; r < R; r++) {
            int id = argmax(lg + (size_t)r * V, V);
            out[(size_t)r * max_new + g] = id;
            if (!done[r]) lens[r]++;
            if (stop_at_eos && id == m->cfg.eos_token_id) done[r] = 1;
            tok[r] = id;
            all_done &= done[r];
        }
        if (stop_at_eos && all_done) {
            for (int r = 0; r < R; r++)
                for (int g2 = g + 1; g2 < max_new; g2++) out[(size_t)r * max_new + g2] = m->cfg.pad_token_id;
            break;
        }
    }
    t5pt_kvdec_free(k);
    t5pt_free_aligned(H);
    free(mask);
    free(row_enc);
    free(tok);
    free(done);
    return st;
}

t5pt_status t5pt_rank_nll(t5pt_ctx *c, const t5pt_model *m, const float *const *P, const int *n, int E,
                          t5pt_placement pl, const t5pt_batch *b, const int32_t *cand, int C, int Lc, float *nll) {
    if (C <= 0 || Lc <= 0 || E <= 0) return t5pt_set_error(T5PT_ERR_ARG, "rank classification: no candidates");
    const int V = m->cfg.vocab_size;
    for (int i = 0; i < C * Lc; i++)
        if (cand[i] != -100 && (cand[i] < 0 || cand[i] >= V))
            return t5pt_set_error(T5PT_ERR_ARG, "rank classification: candidate token %d outside the vocabulary (%d)",
                                  cand[i], V);
    float *H = NULL;
    int32_t *mask = NULL, *tok = NULL;
    int *row_enc = NULL, Tmax;
    t5pt_kvdec *k = NULL;
    const int EB = E * b->B, R = EB * C;
    const t5pt_kernels *kr = t5pt_kern();
    t5pt_status st = encode_all(c, m, P, n, E, pl, b, &H, &mask, &Tmax);
    if (st == T5PT_OK) {
        row_enc = malloc((size_t)R * sizeof(int));
        tok = malloc((size_t)R * sizeof(int32_t));
        if (!row_enc || !tok) st = t5pt_set_error(T5PT_ERR_NOMEM, "rank classification: out of memory");
    }
    if (st == T5PT_OK) {
        /* decoder row (eb, c) reads encoder row eb: one encoder pass serves every candidate */
        for (int r = 0; r < R; r++) row_enc[r] = r / C;
        for (int i = 0; i < EB * C; i++) nll[i] = 0.0f;
        st = t5pt_kvdec_create(&k, m, H, mask, EB, Tmax, R, row_enc, Lc);
    }
    for (int s = 0; st == T5PT_OK && s < Lc; s++) {
        /* teacher forcing: input at step s is candidate token s-1 (start token first) */
        int any = 0;
        for (int r = 0; r < R; r++) {
            const int32_t *cd = cand + (size_t)(r % C) * Lc;
            if (cd[s] != -100) any = 1;
            tok[r] = s == 0 ? m->cfg.decoder_start_token_id : (cd[s - 1] == -100 ? m->cfg.pad_token_id : cd[s - 1]);
        }
        if (!any) break;
        const float *lg;
        st = t5pt_kvdec_step(k, tok, &lg);
        if (st != T5PT_OK) break;
        for (int r = 0; r < R; r++) {
            int target = cand[(size_t)(r % C) * Lc + s];
            if (target == -100) continue;
            const float *row = lg + (size_t)r * V;
            nll[r] += kr->logsumexp(row, V) - row[target];
        }
    }
    t5pt_kvdec_free(k);
    t5pt_free_aligned(H);
    free(mask);
    free(row_enc);
    free(tok);
    return st;
}

/* ------------------------------------------------------------ dataset accuracy */

void t5pt_eval_options_default(t5pt_eval_options *o) {
    memset(o, 0, sizeof *o);
    o->batch = 16;
    o->generate = 1;
    o->pl.kind = T5PT_PLACE_PREPEND;
}

void t5pt_eval_result_free(t5pt_eval_result *r) {
    if (!r) return;
    size_t np = (size_t)r->n_prompts * r->n;
    if (r->gen_pred) for (size_t i = 0; i < np; i++) free(r->gen_pred[i]);
    if (r->gen_vote) for (int i = 0; i < r->n; i++) free(r->gen_vote[i]);
    free(r->gen_pred);
    free(r->gen_vote);
    free(r->gen_acc);
    free(r->rank_acc);
    free(r->rank_pred);
    free(r->rank_vote);
    free(r->rank_nll);
    memset(r, 0, sizeof *r);
}

t5pt_status t5pt_labels_tokenize(const t5pt_tokenizer *tok, const char *const *labels, int C, int32_t **cand,
                                 int *Lc) {
    *cand = NULL;
    *Lc = 0;
    int32_t **ids = calloc((size_t)C, sizeof *ids);
    int *lens = calloc((size_t)C, sizeof *lens);
    t5pt_status st = (!ids || !lens) ? t5pt_set_error(T5PT_ERR_NOMEM, "labels: out of memory") : T5PT_OK;
    for (int i = 0; st == T5PT_OK && i < C; i++) {
        st = t5pt_tokenizer_encode(tok, labels[i], strlen(labels[i]), 1, &ids[i], &lens[i]);
        /* a label of only </s> (empty or whitespace) can never equal a target: refuse it */
        if (st == T5PT_OK && lens[i] <= 1)
            st = t5pt_set_error(T5PT_ERR_ARG, "labels: label %d ('%s') has no tokens", i + 1, labels[i]);
        if (st == T5PT_OK && lens[i] > *Lc) *Lc = lens[i];
    }
    if (st == T5PT_OK) {
        *cand = malloc((size_t)C * *Lc * sizeof(int32_t));
        if (!*cand) st = t5pt_set_error(T5PT_ERR_NOMEM, "labels: out of memory");
        else
            for (int i = 0; i < C; i++)
                for (int j = 0; j < *Lc; j++) (*cand)[(size_t)i * *Lc + j] = j < lens[i] ? ids[i][j] : -100;
    }
    for (int i = 0; ids && i < C; i++) free(ids[i]);
    free(ids);
    free(lens);
    return st;
}

/* Trimmed copy of s (leading/trailing ASCII whitespace removed). */
static char *trim_dup(const char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    char *p = malloc(n + 1);
    if (p) { memcpy(p, s, n); p[n] = 0; }
    return p;
}

/* Every Hugging Face T5 checkpoint has 32128 embedding rows for a 32100-piece vocabulary, so
 * greedy decoding can pick an id the tokenizer cannot name. Hugging Face's tokenizers skip
 * such ids when decoding (huggingface/tokenizers, tokenizers/src/tokenizer/mod.rs,
 * Tokenizer::decode: ids without a token are filtered out), so they decode as empty text here. */
t5pt_status t5pt_decode_generated(const t5pt_tokenizer *tok, const int32_t *ids, int n, int eos, char **text) {
    *text = NULL;
    const int V = t5pt_tokenizer_vocab_size(tok);
    int32_t *keep = malloc((size_t)(n > 0 ? n : 1) * sizeof *keep);
    if (!keep) return t5pt_set_error(T5PT_ERR_NOMEM, "decode: out of memory");
    int k = 0;
    for (int i = 0; i < n && ids[i] != eos; i++)
        if (ids[i] >= 0 && ids[i] < V) keep[k++] = ids[i];
    t5pt_status st = t5pt_tokenizer_decode(tok, keep, k, text);
    free(keep);
    return st;
}

/* Decodes ids[0..n) (stopping before </s>) to trimmed text. */
static t5pt_status decode_trim(const t5pt_tokenizer *tok, const int32_t *ids, int n, int eos, char **out) {
    char *raw;
    t5pt_status st = t5pt_decode_generated(tok, ids, n, eos, &raw);
    if (st != T5PT_OK) return st;
    *out = trim_dup(raw);
    free(raw);
    return *out ? T5PT_OK : t5pt_set_error(T5PT_ERR_NOMEM, "out of memory");
}

/* The buffers of one t5pt_evaluate call (besides the result). */
typedef struct {
    int B;                 /* examples per encoder batch (<= N) */
    int max_new;           /* greedy limit */
    t5pt_ctx *c;
    t5pt_batch_buf bb;
    int *idx;              /* [B] rows of the current batch */
    char **tgt_text;       /* [N] decoded, trimmed targets (NULL: no target) */
    int32_t *gen;          /* [E*B, max_new] greedy ids of the current batch */
    int *lens;             /* [E*B] */
    int32_t *cand;         /* [C, Lc] label candidates */
    int Lc;
    char **label_text;     /* [C] decoded, trimmed labels */
    int *gold;             /* [N] label index of each target (-1: none) */
    float *nll;            /* [E*B, C] */
} eval_work;

static void eval_work_free(eval_work *w, int N, int C) {
    if (w->label_text) for (int j = 0; j < C; j++) free(w->label_text[j]);
    if (w->tgt_text) for (int i = 0; i < N; i++) free(w->tgt_text[i]);
    free(w->label_text);
    free(w->tgt_text);
    free(w->gold);
    free(w->idx);
    free(w->gen);
    free(w->lens);
    free(w->cand);
    free(w->nll);
    t5pt_batch_buf_free(&w->bb);
    t5pt_ctx_free(w->c);
}

/* Arenas, the reference texts of the targets, and (with labels) the candidates and each
 * example's gold label. */
static t5pt_status eval_prepare(eval_work *w, const t5pt_model *m, const t5pt_tokenizer *tok, int E, int nmax,
                                const t5pt_dataset *d, const t5pt_eval_options *o, t5pt_eval_result *res) {
    const int N = d->n, C = o->num_labels, eos = m->cfg.eos_token_id;
    t5pt_status st = t5pt_ctx_create(&w->c, m, w->B, d->max_src, 1, nmax);
    if (st != T5PT_OK)   /* the one allocation that grows with the inputs: say what helps */
        st = t5pt_set_error(st, "%.600s (longest input %d tokens, batch %d: lower --max-src-len or --batch)",
                            t5pt_last_error(), d->max_src, w->B);
    if (st != T5PT_OK) return st;
    w->idx = malloc((size_t)w->B * sizeof(int));
    w->tgt_text = calloc((size_t)N, sizeof(char *));
    w->gold = malloc((size_t)N * sizeof(int));
    if (!w->idx || !w->tgt_text || !w->gold) return t5pt_set_error(T5PT_ERR_NOMEM, "evaluate: out of memory");
    /* reference texts: the decoded target ids, so tokenizer normalisation cannot cause a mismatch */
    for (int i = 0; i < N; i++) {
        if (!d->ex[i].target) continue;
        res->scored++;
        if ((st = decode_trim(tok, d->ex[i].tgt, d->ex[i].tgt_len, eos, &w->tgt_text[i])) != T5PT_OK) return st;
    }
    if (o->generate) {
        res->gen_acc = calloc((size_t)E, sizeof(double));
        res->gen_pred = calloc((size_t)E * N, sizeof(char *));
        res->gen_vote = calloc((size_t)N, sizeof(char *));
        w->gen = malloc((size_t)E * w->B * w->max_new * sizeof(int32_t));
        w->lens = malloc((size_t)E * w->B * sizeof(int));
        if (!res->gen_acc || !res->gen_pred || !res->gen_vote || !w->gen || !w->lens)
            return t5pt_set_error(T5PT_ERR_NOMEM, "evaluate: out of memory");
    }
    if (C <= 0) return T5PT_OK;
    if ((st = t5pt_labels_tokenize(tok, o->labels, C, &w->cand, &w->Lc)) != T5PT_OK) return st;
    res->rank_acc = calloc((size_t)E, sizeof(double));
    res->rank_pred = malloc((size_t)E * N * sizeof(int));
    res->rank_vote = malloc((size_t)N * sizeof(int));
    res->rank_nll = malloc((size_t)E * N * C * sizeof(float));
    w->nll = malloc((size_t)E * w->B * C * sizeof(float));
    w->label_text = calloc((size_t)C, sizeof(char *));
    if (!res->rank_acc || !res->rank_pred || !res->rank_vote || !res->rank_nll || !w->nll || !w->label_text)
        return t5pt_set_error(T5PT_ERR_NOMEM, "evaluate: out of memory");
    for (int j = 0; j < C; j++)
        if ((st = decode_trim(tok, w->cand + (size_t)j * w->Lc, w->Lc, eos, &w->label_text[j])) != T5PT_OK) return st;
    /* gold label of each example: the label whose text equals the target's */
    for (int i = 0; i < N; i++) {
        w->gold[i] = -1;
        if (!w->tgt_text[i]) continue;
        for (int j = 0; j < C && w->gold[i] < 0; j++)
            if (strcmp(w->label_text[j], w->tgt_text[i]) == 0) w->gold[i] = j;
        if (w->gold[i] < 0) res->targets_not_in_labels++;
    }
    return T5PT_OK;
}

/* Examples start .. start+cnt-1: greedy generations and label scores of every prompt. */
static t5pt_status eval_batch(eval_work *w, const t5pt_model *m, const t5pt_tokenizer *tok, const float *const *P,
                              const int *n, int E, const t5pt_dataset *d, const t5pt_eval_options *o, int start,
                              int cnt, t5pt_eval_result *res) {
    const int N = d->n, C = o->num_labels;
    for (int r = 0; r < cnt; r++) w->idx[r] = start + r;
    t5pt_status st = t5pt_batch_build(&w->bb, d, w->idx, cnt, 0);
    if (st == T5PT_OK && o->generate) {
        st = t5pt_greedy(w->c, m, P, n, E, o->pl, &w->bb.view, w->max_new, 1, w->gen, w->lens);
        if (st == T5PT_ERR_NOMEM)   /* the key/value cache grows with both */
            st = t5pt_set_error(st, "%.600s (lower --max-new-tokens, now %d, or --batch, now %d)", t5pt_last_error(),
                                w->max_new, w->B);
        for (int e = 0; st == T5PT_OK && e < E; e++)
            for (int r = 0; st == T5PT_OK && r < cnt; r++) {
                size_t row = (size_t)e * cnt + r;
                st = decode_trim(tok, w->gen + row * w->max_new, w->lens[row], m->cfg.eos_token_id,
                                 &res->gen_pred[(size_t)e * N + start + r]);
            }
    }
    if (st == T5PT_OK && C > 0) {
        st = t5pt_rank_nll(w->c, m, P, n, E, o->pl, &w->bb.view, w->cand, C, w->Lc, w->nll);
        for (int e = 0; st == T5PT_OK && e < E; e++)
            for (int r = 0; r < cnt; r++) {
                const float *s = w->nll + ((size_t)e * cnt + r) * C;
                int best = 0;
                for (int j = 1; j < C; j++) if (s[j] < s[best]) best = j;
                res->rank_pred[(size_t)e * N + start + r] = best;
                memcpy(res->rank_nll + ((size_t)e * N + start + r) * C, s, (size_t)C * sizeof(float));
            }
    }
    return st;
}

/* Example i's majority vote over the E prompts' generations (ties: the earliest prompt's answer);
 * counts each prompt's exact matches. Returns 1 when the vote matches the target, -1 on OOM. */
static int vote_generation(const eval_work *w, int E, int N, int i, t5pt_eval_result *res) {
    int best = 0, best_count = 0;
    for (int e = 0; e < E; e++) {
        const char *p = res->gen_pred[(size_t)e * N + i];
        int count = 0;
        for (int e2 = 0; e2 < E; e2++) count += strcmp(p, res->gen_pred[(size_t)e2 * N + i]) == 0;
        if (count > best_count) { best_count = count; best = e; }
        if (w->tgt_text[i] && strcmp(p, w->tgt_text[i]) == 0) res->gen_acc[e] += 1;
    }
    res->gen_vote[i] = trim_dup(res->gen_pred[(size_t)best * N + i]);
    if (!res->gen_vote[i]) return -1;
    return w->tgt_text[i] && strcmp(res->gen_vote[i], w->tgt_text[i]) == 0;
}

/* Example i's majority vote over the prompts' label choices (ties: the lowest summed NLL);
 * counts each prompt's correct choices. Returns 1 when the vote is the gold label. */
static int vote_rank(const eval_work *w, int E, int N, int C, int i, t5pt_eval_result *res) {
    int best = -1, best_count = 0;
    float best_sum = 0;
    for (int j = 0; j < C; j++) {
        int count = 0;
        float sum = 0;
        for (int e = 0; e < E; e++) {
            count += res->rank_pred[(size_t)e * N + i] == j;
            sum += res->rank_nll[((size_t)e * N + i) * C + j];
        }
        if (count > best_count || (count == best_count && count > 0 && sum < best_sum)) {
            best = j;
            best_count = count;
            best_sum = sum;
        }
    }
    res->rank_vote[i] = best;
    for (int e = 0; e < E; e++)
        if (w->gold[i] >= 0 && res->rank_pred[(size_t)e * N + i] == w->gold[i]) res->rank_acc[e] += 1;
    return w->gold[i] >= 0 && best == w->gold[i];
}

/* Accuracies of every prompt and of the majority votes. */
static t5pt_status eval_tally(const eval_work *w, int E, const t5pt_dataset *d, const t5pt_eval_options *o,
                              t5pt_eval_result *res) {
    const int N = d->n, C = o->num_labels;
    if (res->scored == 0) return T5PT_OK;
    int vote_gen_ok = 0, vote_rank_ok = 0;
    for (int i = 0; i < N; i++) {
        if (o->generate) {
            int ok = vote_generation(w, E, N, i, res);
            if (ok < 0) return t5pt_set_error(T5PT_ERR_NOMEM, "evaluate: out of memory");
            vote_gen_ok += ok;
        }
        if (C > 0) vote_rank_ok += vote_rank(w, E, N, C, i, res);
    }
    for (int e = 0; e < E; e++) {
        if (res->gen_acc) res->gen_acc[e] /= res->scored;
        if (res->rank_acc) res->rank_acc[e] /= res->scored;
    }
    res->gen_vote_acc = (double)vote_gen_ok / res->scored;
    res->rank_vote_acc = (double)vote_rank_ok / res->scored;
    return T5PT_OK;
}

t5pt_status t5pt_evaluate(const t5pt_model *m, const t5pt_tokenizer *tok, const float *const *P, const int *n, int E,
                          const t5pt_dataset *d, const t5pt_eval_options *o, t5pt_eval_result *res) {
    memset(res, 0, sizeof *res);
    if (E <= 0 || d->n <= 0) return t5pt_set_error(T5PT_ERR_ARG, "evaluate: no prompts or no examples");
    const int N = d->n, B0 = o->batch > 0 ? o->batch : 16;
    int nmax = 0;
    for (int e = 0; e < E; e++) if (n[e] > nmax) nmax = n[e];
    res->n_prompts = E;
    res->n = N;
    eval_work w = {0};
    w.B = B0 < N ? B0 : N;   /* no batch exceeds N rows */
    w.max_new = o->max_new_tokens > 0 ? o->max_new_tokens : (d->max_tgt + 4 > 8 ? d->max_tgt + 4 : 8);
    t5pt_status st = eval_prepare(&w, m, tok, E, nmax, d, o, res);
    for (int start = 0; st == T5PT_OK && start < N; start += w.B)
        st = eval_batch(&w, m, tok, P, n, E, d, o, start, N - start < w.B ? N - start : w.B, res);
    if (st == T5PT_OK) st = eval_tally(&w, E, d, o, res);
    eval_work_free(&w, N, o->num_labels);
    if (st != T5PT_OK) t5pt_eval_result_free(res);
    return st;
}
