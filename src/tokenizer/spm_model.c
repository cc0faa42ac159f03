/* spm_model.c — reads a SentencePiece model file (spiece.model) into a tok_model.
 *
 * The file is a protobuf ModelProto (sentencepiece_model.proto), read here straight off the
 * wire format without a protobuf library:
 *   ModelProto      1: repeated SentencePiece pieces   2: TrainerSpec   3: NormalizerSpec
 *                   4: SelfTestData (ignored)          5: denormalizer NormalizerSpec
 *   SentencePiece   1: piece (string)  2: score (float)  3: type (enum, default NORMAL)
 *   TrainerSpec     3: model_type (1 = UNIGRAM)  24: treat_whitespace_as_suffix
 *                   35: byte_fallback  44: unk_surface
 *   NormalizerSpec  1: name  2: precompiled_charsmap (bytes)  3: add_dummy_prefix (default 1)
 *                   4: remove_extra_whitespaces (default 1)  5: escape_whitespaces (default 1)
 * Unknown fields are skipped, as protobuf does. Every length is checked against the bytes
 * that are left, so a truncated or corrupt file is a T5PT_ERR_FORMAT, never an overread.
 */
#include "tokenizer/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p, *end;
} pb_reader;

/* A decoded field: number, wire type, and its payload (varint value or bytes). */
typedef struct {
    uint32_t num;
    int wire;
    uint64_t v;            /* wire 0: the varint; wire 5: the 32 bits; wire 1: the 64 bits */
    const uint8_t *data;   /* wire 2 */
    size_t len;
} pb_field;

static int pb_varint(pb_reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return 0;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0;   /* more than 10 bytes */
}

/* Reads the next field; returns 1 on success, 0 at the clean end, -1 on malformed input. */
static int pb_next(pb_reader *r, pb_field *f) {
    if (r->p >= r->end) return 0;
    uint64_t key;
    if (!pb_varint(r, &key)) return -1;
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    if (f->num == 0 || (key >> 3) > 0x1fffffff) return -1;
    switch (f->wire) {
    case 0:
        return pb_varint(r, &f->v) ? 1 : -1;
    case 1:
        if (r->end - r->p < 8) return -1;
        f->v = 0;
        for (int i = 7; i >= 0; i--) f->v = f->v << 8 | r->p[i];
        r->p += 8;
        return 1;
    case 2: {
        uint64_t n;
        if (!pb_varint(r, &n) || n > (uint64_t)(r->end - r->p)) return -1;
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    case 5:
        if (r->end - r->p < 4) return -1;
        f->v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
        r->p += 4;
        return 1;
    default:
        return -1;   /* groups (3, 4) are not used by sentencepiece; 6, 7 do not exist */
    }
}

static t5pt_status bad(const char *path, const char *what) {
    return t5pt_set_error(T5PT_ERR_FORMAT, "%s: not a valid SentencePiece model: %s", path, what);
}

static t5pt_status parse_piece(tok_model *m, const uint8_t *data, size_t len, const char *path) {
    pb_reader r = {data, data + len};
    pb_field f;
    const uint8_t *piece = NULL;
    size_t piece_len = 0;
    float score = 0.0f;
    int type = TOK_NORMAL, rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.num == 1 && f.wire == 2) {
            piece = f.data;
            piece_len = f.len;
        } else if (f.num == 2 && f.wire == 5) {
            uint32_t bits = (uint32_t)f.v;
            memcpy(&score, &bits, 4);
        } else if (f.num == 3 && f.wire == 0) {
            type = (int)f.v;
        } else if (f.num <= 3) {
            return bad(path, "piece field with the wrong wire type");
        }
    }
    if (rc < 0) return bad(path, "truncated piece");
    if (!piece || piece_len == 0) return bad(path, "empty piece");
    if (type < TOK_NORMAL || type > TOK_BYTE) return bad(path, "unknown piece type");
    return t5pt_tok_model_add(m, (const char *)piece, piece_len, score, type, path);
}

static t5pt_status parse_trainer(tok_model *m, const uint8_t *data, size_t len, const char *path) {
    pb_reader r = {data, data + len};
    pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.num == 3 && f.wire == 0 && f.v != 1)
            return t5pt_set_error(T5PT_ERR_UNSUPPORTED, "%s: model_type %llu is not UNIGRAM (only unigram is supported)",
                                  path, (unsigned long long)f.v);
        if (f.num == 24 && f.wire == 0 && f.v)
            return t5pt_set_error(T5PT_ERR_UNSUPPORTED, "%s: treat_whitespace_as_suffix is not supported", path);
        if (f.num == 35 && f.wire == 0 && f.v)
            return t5pt_set_error(T5PT_ERR_UNSUPPORTED, "%s: byte_fallback is not supported", path);
        if (f.num == 44 && f.wire == 2) {
            char *s = malloc(f.len + 1);
            if (!s) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
            memcpy(s, f.data, f.len);
            s[f.len] = 0;
            free(m->unk_surface);
            m->unk_surface = s;
        }
    }
    return rc < 0 ? bad(path, "truncated trainer_spec") : T5PT_OK;
}

static t5pt_status parse_normalizer(tok_model *m, const uint8_t *data, size_t len, const char *path) {
    pb_reader r = {data, data + len};
    pb_field f;
    int rc;
    tok_normalizer *nz = &m->norm;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.num == 2 && f.wire == 2 && f.len > 0) {
            free(nz->map.units);
            free(nz->map.pool);
            t5pt_status st = t5pt_tok_charsmap_init(&nz->map, f.data, f.len, path);
            if (st != T5PT_OK) return st;
        } else if (f.num == 3 && f.wire == 0) {
            nz->add_dummy_prefix = f.v != 0;
        } else if (f.num == 4 && f.wire == 0) {
            nz->remove_extra_whitespaces = f.v != 0;
        } else if (f.num == 5 && f.wire == 0) {
            nz->escape_whitespaces = f.v != 0;
        }
    }
    return rc < 0 ? bad(path, "truncated normalizer_spec") : T5PT_OK;
}

/* The denormalizer is only supported when it does nothing (T5 has none). */
static t5pt_status check_denormalizer(const uint8_t *data, size_t len, const char *path) {
    pb_reader r = {data, data + len};
    pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1)
        if (f.num == 2 && f.wire == 2 && f.len > 0)
            return t5pt_set_error(T5PT_ERR_UNSUPPORTED, "%s: a denormalizer charsmap is not supported", path);
    return rc < 0 ? bad(path, "truncated denormalizer_spec") : T5PT_OK;
}

t5pt_status t5pt_tok_load_spm(tok_model *m, const uint8_t *data, size_t len, const char *path) {
    m->norm.add_dummy_prefix = m->norm.remove_extra_whitespaces = m->norm.escape_whitespaces = 1;
    pb_reader r = {data, data + len};
    pb_field f;
    int rc = 0, has_trainer = 0, has_normalizer = 0;
    t5pt_status st = T5PT_OK;
    while (st == T5PT_OK && (rc = pb_next(&r, &f)) == 1) {
        if (f.wire != 2) {
            if (f.num <= 5) return bad(path, "top-level field with the wrong wire type");
            continue;
        }
        switch (f.num) {
        case 1: st = parse_piece(m, f.data, f.len, path); break;
        case 2: st = parse_trainer(m, f.data, f.len, path), has_trainer = 1; break;
        case 3: st = parse_normalizer(m, f.data, f.len, path), has_normalizer = 1; break;
        case 5: st = check_denormalizer(f.data, f.len, path); break;
        default: break;
        }
    }
    if (st != T5PT_OK) return st;
    if (rc < 0) return bad(path, "truncated or corrupt protobuf");
    if (m->n == 0) return bad(path, "no pieces");
    /* sentencepiece always writes both specs after the pieces; a file without them was cut
     * short at a field boundary (protobuf itself cannot tell) */
    if (!has_trainer || !has_normalizer) return bad(path, "trainer_spec or normalizer_spec missing (truncated?)");
    return T5PT_OK;
}
