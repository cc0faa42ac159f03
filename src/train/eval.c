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

/* Decodes ids[0..n) (stopping before </s>) to trimmed text. */
static t5pt_status decode_trim(const t5pt_tokenizer *tok, const int32_t *ids, int n, int eos, char **out) {
    int k = 0;
    while (k < n && ids[k] != eos) k++;
    char *raw;
    t5pt_status st = t5pt_tokenizer_decode(tok, ids, k, &raw);
    if (st != T5PT_OK) return st;
    *out = trim_dup(raw);
    free(raw);
    return *out ? T5PT_OK : t5pt_set_error(T5PT_ERR_NOMEM, "out of memory");
}

t5pt_status t5pt_evaluate(const t5pt_model *m, const t5pt_tokenizer *tok, const float *const *P, const int *n, int E,
                          const t5pt_dataset *d, const t5pt_eval_options *o, t5pt_eval_result *res) {
    memset(res, 0, sizeof *res);
    if (E <= 0 || d->n <= 0) return t5pt_set_error(T5PT_ERR_ARG, "evaluate: no prompts or no examples");
    const int N = d->n, C = o->num_labels, eos = m->cfg.eos_token_id;
    const int B0 = o->batch > 0 ? o->batch : 16, B = B0 < N ? B0 : N;   /* no batch exceeds N rows */
    int max_new = o->max_new_tokens > 0 ? o->max_new_tokens : (d->max_tgt + 4 > 8 ? d->max_tgt + 4 : 8);
    int nmax = 0;
    for (int e = 0; e < E; e++) if (n[e] > nmax) nmax = n[e];
    res->n_prompts = E;
    res->n = N;

    t5pt_ctx *c = NULL;
    t5pt_batch_buf bb = {0};
    int32_t *cand = NULL, *gen = NULL;
    int *lens = NULL, *idx = NULL, *gold = NULL, Lc = 0;
    char **tgt_text = NULL;
    float *nll = NULL;
    t5pt_status st = t5pt_ctx_create(&c, m, B, d->max_src, 1, nmax);
    idx = malloc((size_t)B * sizeof(int));
    tgt_text = calloc((size_t)N, sizeof(char *));
    gold = malloc((size_t)N * sizeof(int));
    if (st == T5PT_OK && (!idx || !tgt_text || !gold)) st = t5pt_set_error(T5PT_ERR_NOMEM, "evaluate: out of memory");

    /* reference texts: the decoded target ids, so tokenizer normalisation cannot cause a mismatch */
    for (int i = 0; st == T5PT_OK && i < N; i++) {
        if (!d->ex[i].target) continue;
        res->scored++;
        st = decode_trim(tok, d->ex[i].tgt, d->ex[i].tgt_len, eos, &tgt_text[i]);
    }
    if (st == T5PT_OK && o->generate) {
        res->gen_acc = calloc((size_t)E, sizeof(double));
        res->gen_pred = calloc((size_t)E * N, sizeof(char *));
        res->gen_vote = calloc((size_t)N, sizeof(char *));
        gen = malloc((size_t)E * B * max_new * sizeof(int32_t));
        lens = malloc((size_t)E * B * sizeof(int));
        if (!res->gen_acc || !res->gen_pred || !res->gen_vote || !gen || !lens)
            st = t5pt_set_error(T5PT_ERR_NOMEM, "evaluate: out of memory");
    }
    char **label_text = NULL;
    if (st == T5PT_OK && C > 0) {
        st = t5pt_labels_tokenize(tok, o->labels, C, &cand, &Lc);
        res->rank_acc = calloc((size_t)E, sizeof(double));
        res->rank_pred = malloc((size_t)E * N * sizeof(int));
        res->rank_vote = malloc((size_t)N * sizeof(int));
        res->rank_nll = malloc((size_t)E * N * C * sizeof(float));
        nll = malloc((size_t)E * B * C * sizeof(float));
        label_text = calloc((size_t)C, sizeof(char *));
        if (st == T5PT_OK && (!res->rank_acc || !res->rank_pred || !res->rank_vote || !res->rank_nll || !nll ||
                              !label_text))
            st = t5pt_set_error(T5PT_ERR_NOMEM, "evaluate: out of memory");
        for (int j = 0; st == T5PT_OK && j < C; j++)
            st = decode_trim(tok, cand + (size_t)j * Lc, Lc, eos, &label_text[j]);
        /* gold label of each example: the label whose text equals the target's */
        for (int i = 0; st == T5PT_OK && i < N; i++) {
            gold[i] = -1;
            if (!tgt_text[i]) continue;
            for (int j = 0; j < C && gold[i] < 0; j++) if (strcmp(label_text[j], tgt_text[i]) == 0) gold[i] = j;
            if (gold[i] < 0) res->targets_not_in_labels++;
        }
    }

    for (int start = 0; st == T5PT_OK && start < N; start += B) {
        int cnt = N - start < B ? N - start : B;
        for (int r = 0; r < cnt; r++) idx[r] = start + r;
        st = t5pt_batch_build(&bb, d, idx, cnt, 0);
        if (st != T5PT_OK) break;
        if (o->generate) {
            st = t5pt_greedy(c, m, P, n, E, o->pl, &bb.view, max_new, 1, gen, lens);
            for (int e = 0; st == T5PT_OK && e < E; e++)
                for (int r = 0; st == T5PT_OK && r < cnt; r++) {
                    size_t row = (size_t)e * cnt + r;
                    st = decode_trim(tok, gen + row * max_new, lens[row], eos, &res->gen_pred[(size_t)e * N + start + r]);
                }
        }
        if (st == T5PT_OK && C > 0) {
            st = t5pt_rank_nll(c, m, P, n, E, o->pl, &bb.view, cand, C, Lc, nll);
            for (int e = 0; st == T5PT_OK && e < E; e++)
                for (int r = 0; r < cnt; r++) {
                    const float *s = nll + ((size_t)e * cnt + r) * C;
                    int best = 0;
                    for (int j = 1; j < C; j++) if (s[j] < s[best]) best = j;
                    res->rank_pred[(size_t)e * N + start + r] = best;
                    memcpy(res->rank_nll + ((size_t)e * N + start + r) * C, s, (size_t)C * sizeof(float));
                }
        }
    }

    /* accuracies and majority votes (ties: the earliest prompt's answer / the lowest total NLL) */
    if (st == T5PT_OK && res->scored > 0) {
        int vote_gen_ok = 0, vote_rank_ok = 0;
        for (int i = 0; i < N; i++) {
            if (o->generate) {
                int best = 0, best_count = 0;
                for (int e = 0; e < E; e++) {
                    const char *p = res->gen_pred[(size_t)e * N + i];
                    int count = 0;
                    for (int e2 = 0; e2 < E; e2++) count += strcmp(p, res->gen_pred[(size_t)e2 * N + i]) == 0;
                    if (count > best_count) { best_count = count; best = e; }
                    if (tgt_text[i] && strcmp(p, tgt_text[i]) == 0) res->gen_acc[e] += 1;
                }
                res->gen_vote[i] = trim_dup(res->gen_pred[(size_t)best * N + i]);
                if (!res->gen_vote[i]) { st = t5pt_set_error(T5PT_ERR_NOMEM, "out of memory"); break; }
                if (tgt_text[i] && strcmp(res->gen_vote[i], tgt_text[i]) == 0) vote_gen_ok++;
            }
            if (C > 0) {
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
                        best = j; best_count = count; best_sum = sum;
                    }
                }
                res->rank_vote[i] = best;
                for (int e = 0; e < E; e++)
                    if (gold[i] >= 0 && res->rank_pred[(size_t)e * N + i] == gold[i]) res->rank_acc[e] += 1;
                if (gold[i] >= 0 && best == gold[i]) vote_rank_ok++;
            }
        }
        for (int e = 0; e < E; e++) {
            if (res->gen_acc) res->gen_acc[e] /= res->scored;
            if (res->rank_acc) res->rank_acc[e] /= res->scored;
        }
        res->gen_vote_acc = (double)vote_gen_ok / res->scored;
        res->rank_vote_acc = (double)vote_rank_ok / res->scored;
    }

    if (label_text) for (int j = 0; j < C; j++) free(label_text[j]);
    free(label_text);
    if (tgt_text) for (int i = 0; i < N; i++) free(tgt_text[i]);
    free(tgt_text);
    free(gold);
    free(idx);
    free(gen);
    free(lens);
    free(cand);
    free(nll);
    t5pt_batch_buf_free(&bb);
    t5pt_ctx_free(c);
    if (st != T5PT_OK) t5pt_eval_result_free(res);
    return st;
}
