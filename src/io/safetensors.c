/* safetensors.c — validated read-only mmap reader and an atomic writer.
 *
 * Layout: u64 little-endian N, N bytes of JSON header, then the data buffer.
 * t5pt_st_open() checks everything up front so that later reads can trust every
 * offset: header inside the file (and at most 100 MB, like the reference
 * implementation), header a JSON object, each entry with a known dtype, a shape
 * of non-negative integers, data_offsets [begin, end] with begin <= end <= buffer
 * size and end - begin = prod(shape) * dtype size, no duplicate names, and no
 * two tensors sharing bytes. Gaps between tensors are tolerated (the reference
 * writer never leaves any, but nothing is read from them).
 *
 * The tensor table is sorted by name: t5pt_st_get() is a binary search and duplicate
 * names show up as neighbours.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/safetensors.h"

#include "base/internal.h"
#include "io/json.h"
#include "simd/kernels.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (x86-64, AArch64)"
#endif

#define ST_MAX_HEADER (100u * 1000u * 1000u)

struct st_file {
    char *path;
    void *map;
    size_t map_len;
    const unsigned char *buffer; /* data buffer start (after the header) */
    size_t buffer_len;
    json_doc *header;
    const json_value *metadata;  /* "__metadata__" object or NULL */
    st_tensor *tensors;          /* sorted by name */
    int count;
};

static const struct {
    const char *name;
    st_dtype t;
    size_t size;
} dtypes[] = {
    {"F32", ST_F32, 4}, {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2}, {"F64", ST_F64, 8}, {"I64", ST_I64, 8},
    {"I32", ST_I32, 4}, {"I16", ST_I16, 2}, {"I8", ST_I8, 1},     {"U8", ST_U8, 1},   {"BOOL", ST_BOOL, 1},
};
#define NDTYPES (sizeof dtypes / sizeof dtypes[0])

const char *t5pt_st_dtype_name(st_dtype t) {
    for (size_t i = 0; i < NDTYPES; i++)
        if (dtypes[i].t == t) return dtypes[i].name;
    return "?";
}

size_t t5pt_st_dtype_size(st_dtype t) {
    for (size_t i = 0; i < NDTYPES; i++)
        if (dtypes[i].t == t) return dtypes[i].size;
    return 0;
}

static int dtype_from_name(const char *s, st_dtype *t) {
    for (size_t i = 0; i < NDTYPES; i++)
        if (strcmp(dtypes[i].name, s) == 0) {
            *t = dtypes[i].t;
            return 0;
        }
    return -1;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int cmp_begin(const void *a, const void *b) {
    const st_tensor *x = *(st_tensor *const *)a, *y = *(st_tensor *const *)b;
    if (x->data != y->data) return (const unsigned char *)x->data < (const unsigned char *)y->data ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Reads one header entry into t. Returns T5PT_OK or sets the error. */
static t5pt_status parse_entry(const st_file *f, const char *name, const json_value *v, st_tensor *t) {
    const char *path = f->path;
    if (v->type != JSON_OBJECT)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: header entry \"%s\" is not an object", path, name);
    const char *dt = t5pt_json_get_str(v, "dtype");
    if (!dt) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: tensor \"%s\" has no \"dtype\" string", path, name);
    if (dtype_from_name(dt, &t->dtype))
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: tensor \"%s\" has unknown dtype \"%s\"", path, name, dt);
    const json_value *shape = t5pt_json_get(v, "shape");
    if (!shape || shape->type != JSON_ARRAY)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: tensor \"%s\" has no \"shape\" list", path, name);
    if (shape->len > ST_MAX_DIMS)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: tensor \"%s\" has %zu dimensions (at most %d supported)", path,
                              name, shape->len, ST_MAX_DIMS);
    t->ndim = (int)shape->len;
    size_t numel = 1;
    int overflow = 0;
    for (size_t i = 0; i < shape->len; i++) {
        const json_value *d = t5pt_json_at(shape, i);
        if (!t5pt_json_is_int(d) || d->inum < 0)
            return t5pt_set_error(T5PT_ERR_FORMAT, "%s: tensor \"%s\" shape is not a list of non-negative integers",
                                  path, name);
        t->shape[i] = d->inum;
        size_t di = (size_t)d->inum;
        if (di && numel > SIZE_MAX / di) overflow = 1;
        numel *= di;
    }
    size_t esize = t5pt_st_dtype_size(t->dtype);
    if (overflow || (esize && numel > SIZE_MAX / esize))
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: tensor \"%s\" shape is too large", path, name);
    t->numel = numel;
    const json_value *off = t5pt_json_get(v, "data_offsets");
    if (!off || off->type != JSON_ARRAY || off->len != 2 || !t5pt_json_is_int(t5pt_json_at(off, 0)) ||
        !t5pt_json_is_int(t5pt_json_at(off, 1)) || t5pt_json_at(off, 0)->inum < 0 || t5pt_json_at(off, 1)->inum < 0)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: tensor \"%s\" needs \"data_offsets\": [begin, end] (integers >= 0)",
                              path, name);
    uint64_t b = (uint64_t)t5pt_json_at(off, 0)->inum, e = (uint64_t)t5pt_json_at(off, 1)->inum;
    if (b > e || e > f->buffer_len)
        return t5pt_set_error(T5PT_ERR_FORMAT,
                              "%s: tensor \"%s\" data_offsets [%llu, %llu] out of range (data buffer is %zu bytes)",
                              path, name, (unsigned long long)b, (unsigned long long)e, f->buffer_len);
    if (e - b != (uint64_t)(numel * esize))
        return t5pt_set_error(T5PT_ERR_FORMAT,
                              "%s: tensor \"%s\" has %llu bytes but dtype %s x shape needs %zu (%zu elements)", path,
                              name, (unsigned long long)(e - b), dt, numel * esize, numel);
    t->name = name;
    t->data = f->buffer + b;
    t->nbytes = (size_t)(e - b);
    return T5PT_OK;
}

static t5pt_status parse_header(st_file *f, const char *text, size_t n) {
    char err[256];
    f->header = t5pt_json_parse(text, n, err, sizeof err);
    if (!f->header) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: header is not valid JSON: %s", f->path, err);
    const json_value *root = t5pt_json_root(f->header);
    if (root->type != JSON_OBJECT) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: header is not a JSON object", f->path);
    f->tensors = calloc(root->len ? root->len : 1, sizeof *f->tensors);
    if (!f->tensors) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", f->path);
    for (size_t i = 0; i < root->len; i++) {
        const json_member *m = &root->u.members[i];
        if (strlen(m->key) != m->key_len)
            return t5pt_set_error(T5PT_ERR_FORMAT, "%s: tensor name contains a NUL character", f->path);
        if (strcmp(m->key, "__metadata__") == 0) {
            if (f->metadata) return t5pt_set_error(T5PT_ERR_FORMAT, "%s: duplicate \"__metadata__\"", f->path);
            if (m->value.type != JSON_OBJECT)
                return t5pt_set_error(T5PT_ERR_FORMAT, "%s: \"__metadata__\" is not an object", f->path);
            for (size_t k = 0; k < m->value.len; k++)
                if (m->value.u.members[k].value.type != JSON_STRING)
                    return t5pt_set_error(T5PT_ERR_FORMAT, "%s: \"__metadata__\" value \"%s\" is not a string",
                                          f->path, m->value.u.members[k].key);
            f->metadata = &m->value;
            continue;
        }
        t5pt_status st = parse_entry(f, m->key, &m->value, &f->tensors[f->count]);
        if (st) return st;
        f->count++;
    }
    if (f->count) qsort(f->tensors, (size_t)f->count, sizeof *f->tensors, cmp_name);
    for (int i = 1; i < f->count; i++)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0)
            return t5pt_set_error(T5PT_ERR_FORMAT, "%s: duplicate tensor name \"%s\"", f->path, f->tensors[i].name);
    /* overlap check on the tensors sorted by start offset (empty tensors own no bytes) */
    st_tensor **byoff = malloc((size_t)(f->count ? f->count : 1) * sizeof *byoff);
    if (!byoff) return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", f->path);
    int k = 0;
    for (int i = 0; i < f->count; i++)
        if (f->tensors[i].nbytes) byoff[k++] = &f->tensors[i];
    qsort(byoff, (size_t)k, sizeof *byoff, cmp_begin);
    for (int i = 1; i < k; i++) {
        const st_tensor *a = byoff[i - 1], *b = byoff[i];
        if ((const unsigned char *)a->data + a->nbytes > (const unsigned char *)b->data) {
            t5pt_status st = t5pt_set_error(
                T5PT_ERR_FORMAT, "%s: tensors \"%s\" [%zu, %zu) and \"%s\" [%zu, %zu) have overlapping data_offsets",
                f->path, a->name, (size_t)((const unsigned char *)a->data - f->buffer),
                (size_t)((const unsigned char *)a->data - f->buffer) + a->nbytes, b->name,
                (size_t)((const unsigned char *)b->data - f->buffer),
                (size_t)((const unsigned char *)b->data - f->buffer) + b->nbytes);
            free(byoff);
            return st;
        }
    }
    free(byoff);
    return T5PT_OK;
}

/* The checks common to a mapped file and a caller's buffer: the 8-byte length, then the header. */
static t5pt_status parse_image(st_file *f, const unsigned char *p, size_t size) {
    if (size < 8)
        return t5pt_set_error(T5PT_ERR_FORMAT,
                              "%s: truncated file (%zu bytes; a safetensors file starts with an 8-byte header length)",
                              f->path, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | p[i];
    if (n > size - 8)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)",
                              f->path, (unsigned long long)n, size);
    if (n > ST_MAX_HEADER)
        return t5pt_set_error(T5PT_ERR_FORMAT, "%s: header length %llu exceeds 100 MB", f->path, (unsigned long long)n);
    f->buffer = p + 8 + n;
    f->buffer_len = size - 8 - (size_t)n;
    return parse_header(f, (const char *)p + 8, (size_t)n);
}

static st_file *file_new(const char *path) {
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    return f;
}

t5pt_status t5pt_st_open(st_file **out, const char *path) {
    *out = NULL;
    st_file *f = file_new(path);
    if (!f) return T5PT_ERR_NOMEM;
    t5pt_status st = T5PT_OK;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        st = t5pt_set_error(T5PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        st = t5pt_set_error(T5PT_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {  /* mmap of an empty file fails: report the format problem instead */
        close(fd);
        st = parse_image(f, (const unsigned char *)"", size);
        goto fail;
    }
    f->map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        st = t5pt_set_error(T5PT_ERR_IO, "%s: cannot mmap: %s", path, strerror(errno));
        goto fail;
    }
    f->map_len = size;
    if ((st = parse_image(f, f->map, size))) goto fail;
    *out = f;
    return T5PT_OK;
fail:
    t5pt_st_close(f);
    return st;
}

t5pt_status t5pt_st_open_memory(st_file **out, const void *data, size_t len, const char *name) {
    *out = NULL;
    st_file *f = file_new(name ? name : "<memory>");
    if (!f) return T5PT_ERR_NOMEM;
    t5pt_status st = parse_image(f, data ? data : (const void *)"", data ? len : 0);
    if (st) {
        t5pt_st_close(f);
        return st;
    }
    *out = f;
    return T5PT_OK;
}

void t5pt_st_close(st_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_len);
    t5pt_json_free(f->header);
    free(f->tensors);
    free(f->path);
    free(f);
}

const char *t5pt_st_path(const st_file *f) { return f->path; }
int t5pt_st_count(const st_file *f) { return f->count; }
const st_tensor *t5pt_st_at(const st_file *f, int i) { return i >= 0 && i < f->count ? &f->tensors[i] : NULL; }

const st_tensor *t5pt_st_get(const st_file *f, const char *name) {
    int lo = 0, hi = f->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors[mid].name, name);
        if (c == 0) return &f->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

const char *t5pt_st_metadata(const st_file *f, const char *key) { return f->metadata ? t5pt_json_get_str(f->metadata, key) : NULL; }

/* ------------------------------------------------------------------ conversion */

t5pt_status t5pt_st_read_f32(const st_file *f, const st_tensor *t, float *dst) {
    return t5pt_st_read_f32_range(f, t, 0, t->numel, dst);
}

t5pt_status t5pt_st_read_f32_range(const st_file *f, const st_tensor *t, size_t first, size_t n, float *dst) {
    if (first > t->numel || n > t->numel - first)
        return t5pt_set_error(T5PT_ERR_ARG, "%s: tensor \"%s\": elements [%zu, +%zu) out of range (%zu elements)", f->path,
                              t->name, first, n, t->numel);
    const unsigned char *src = (const unsigned char *)t->data + first * t5pt_st_dtype_size(t->dtype);
    switch (t->dtype) {
    case ST_F32:
        memcpy(dst, src, n * 4);
        return T5PT_OK;
    case ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        return T5PT_OK;
    case ST_BF16:
    case ST_F16: {
        const t5pt_kernels *k = t5pt_kern();
        void (*cvt)(float *, const uint16_t *, size_t) = t->dtype == ST_BF16 ? k->bf16_to_f32 : k->f16_to_f32;
        if (((uintptr_t)src & 1) == 0) {
            cvt(dst, (const uint16_t *)(const void *)src, n);
        } else {
            /* odd address inside the mapping: stage through an aligned block */
            uint16_t tmp[4096];
            for (size_t i = 0; i < n; i += 4096) {
                size_t m = n - i < 4096 ? n - i : 4096;
                memcpy(tmp, src + 2 * i, 2 * m);
                cvt(dst + i, tmp, m);
            }
        }
        return T5PT_OK;
    }
    default:
        return t5pt_set_error(T5PT_ERR_SHAPE, "%s: tensor \"%s\" has dtype %s, expected a float type (F32/F16/BF16/F64)",
                              f->path, t->name, t5pt_st_dtype_name(t->dtype));
    }
}

t5pt_status t5pt_st_read_i32(const st_file *f, const st_tensor *t, int32_t *dst) {
    const unsigned char *src = t->data;
    if (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16 || t->dtype == ST_F64)  /* even when empty */
        return t5pt_set_error(T5PT_ERR_SHAPE, "%s: tensor \"%s\" has dtype %s, expected an integer type", f->path,
                              t->name, t5pt_st_dtype_name(t->dtype));
    for (size_t i = 0; i < t->numel; i++) {
        int64_t v;
        switch (t->dtype) {
        case ST_I64: memcpy(&v, src + 8 * i, 8); break;
        case ST_I32: {
            int32_t x;
            memcpy(&x, src + 4 * i, 4);
            v = x;
            break;
        }
        case ST_I16: {
            int16_t x;
            memcpy(&x, src + 2 * i, 2);
            v = x;
            break;
        }
        case ST_I8: v = (int8_t)src[i]; break;
        case ST_U8: v = src[i]; break;
        case ST_BOOL:
            if (src[i] > 1)
                return t5pt_set_error(T5PT_ERR_FORMAT, "%s: tensor \"%s\" has a BOOL byte that is not 0 or 1", f->path,
                                      t->name);
            v = src[i];
            break;
        default:
            return t5pt_set_error(T5PT_ERR_SHAPE, "%s: tensor \"%s\" has dtype %s, expected an integer type", f->path,
                                  t->name, t5pt_st_dtype_name(t->dtype));
        }
        if (v < INT32_MIN || v > INT32_MAX)
            return t5pt_set_error(T5PT_ERR_FORMAT, "%s: tensor \"%s\" value %lld at index %zu does not fit int32",
                                  f->path, t->name, (long long)v, i);
        dst[i] = (int32_t)v;
    }
    return T5PT_OK;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *s) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++) {
        if (s[i] < 0)
            k += (size_t)snprintf(buf + k, n - k, "%s*", i ? ", " : "");
        else
            k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)s[i]);
    }
    if (k < n) snprintf(buf + k, n - k, "]");
}

t5pt_status t5pt_st_check_shape(const st_file *f, const st_tensor *t, int ndim, const int64_t *want) {
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        if (want[i] >= 0 && t->shape[i] != want[i]) ok = 0;
    if (ok) return T5PT_OK;
    char a[160], b[160];
    shape_str(a, sizeof a, t->ndim, t->shape);
    shape_str(b, sizeof b, ndim, want);
    return t5pt_set_error(T5PT_ERR_SHAPE, "%s: tensor \"%s\" has shape %s, expected %s", f->path, t->name, a, b);
}

/* ------------------------------------------------------------------ writer */

typedef struct {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
    size_t nbytes;
    int owned;             /* data was copied in (t5pt_st_writer_add) and is freed with the writer */
} st_wtensor;

struct st_writer {
    st_wtensor *t;
    int n, cap;
};

st_writer *t5pt_st_writer_new(void) { return calloc(1, sizeof(st_writer)); }

static t5pt_status writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                              const void *data, int copy) {
    if (!w || !name || !*name || ndim < 0 || ndim > ST_MAX_DIMS || t5pt_st_dtype_size(dtype) == 0)
        return t5pt_set_error(T5PT_ERR_ARG, "safetensors writer: bad tensor \"%s\"", name ? name : "(null)");
    if (strcmp(name, "__metadata__") == 0)
        return t5pt_set_error(T5PT_ERR_ARG, "safetensors writer: \"__metadata__\" is reserved");
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return t5pt_set_error(T5PT_ERR_ARG, "safetensors writer: duplicate tensor \"%s\"", name);
    size_t numel = 1, esize = t5pt_st_dtype_size(dtype);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return t5pt_set_error(T5PT_ERR_ARG, "safetensors writer: negative dim in \"%s\"", name);
        size_t di = (size_t)shape[i];
        if (di && numel > SIZE_MAX / esize / di)
            return t5pt_set_error(T5PT_ERR_ARG, "safetensors writer: \"%s\" is too large", name);
        numel *= di;
    }
    if (numel && !data) return t5pt_set_error(T5PT_ERR_ARG, "safetensors writer: \"%s\" has no data", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        st_wtensor *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt) return t5pt_set_error(T5PT_ERR_NOMEM, "safetensors writer: out of memory");
        w->t = nt;
        w->cap = cap;
    }
    st_wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->nbytes = numel * esize;
    t->name = strdup(name);
    void *copied = NULL;
    if (copy) {
        copied = malloc(t->nbytes ? t->nbytes : 1);
        if (copied && t->nbytes) memcpy(copied, data, t->nbytes);
    }
    if (!t->name || (copy && !copied)) {
        free(t->name);
        free(copied);
        return t5pt_set_error(T5PT_ERR_NOMEM, "safetensors writer: out of memory for \"%s\"", name);
    }
    t->data = copy ? copied : data;
    t->owned = copy;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    w->n++;
    return T5PT_OK;
}

t5pt_status t5pt_st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                          const void *data) {
    return writer_add(w, name, dtype, ndim, shape, data, 1);
}

t5pt_status t5pt_st_writer_add_ref(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                              const void *data) {
    return writer_add(w, name, dtype, ndim, shape, data, 0);
}

static int cmp_wname(const void *a, const void *b) {
    return strcmp(((const st_wtensor *)a)->name, ((const st_wtensor *)b)->name);
}

t5pt_status t5pt_st_writer_save(st_writer *w, const char *path, const char *metadata_json) {
    if (w->n) qsort(w->t, (size_t)w->n, sizeof *w->t, cmp_wname);
    json_writer j = {0};
    t5pt_jw_raw(&j, "{");
    int first = 1;
    if (metadata_json) {
        char err[200];
        json_doc *md = t5pt_json_parse(metadata_json, strlen(metadata_json), err, sizeof err);
        const json_value *r = md ? t5pt_json_root(md) : NULL;
        int ok = r && r->type == JSON_OBJECT;
        for (size_t i = 0; ok && i < r->len; i++)
            if (r->u.members[i].value.type != JSON_STRING) ok = 0;
        if (!ok) {
            t5pt_json_free(md);
            t5pt_jw_free(&j);
            return t5pt_set_error(T5PT_ERR_ARG, "%s: metadata must be a JSON object of strings", path);
        }
        if (r->len) {
            t5pt_jw_raw(&j, "\"__metadata__\":{");
            for (size_t i = 0; i < r->len; i++) {
                const json_member *m = &r->u.members[i];
                if (i) t5pt_jw_raw(&j, ",");
                t5pt_jw_str(&j, m->key, m->key_len);
                t5pt_jw_raw(&j, ":");
                t5pt_jw_str(&j, m->value.u.str, m->value.len);
            }
            t5pt_jw_raw(&j, "}");
            first = 0;
        }
        t5pt_json_free(md);
    }
    size_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const st_wtensor *t = &w->t[i];
        if (!first) t5pt_jw_raw(&j, ",");
        first = 0;
        t5pt_jw_str(&j, t->name, strlen(t->name));
        t5pt_jw_printf(&j, ":{\"dtype\":\"%s\",\"shape\":[", t5pt_st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) t5pt_jw_printf(&j, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        t5pt_jw_printf(&j, "],\"data_offsets\":[%zu,%zu]}", off, off + t->nbytes);
        off += t->nbytes;
    }
    t5pt_jw_raw(&j, "}");
    while (!j.oom && j.len % 8) t5pt_jw_raw(&j, " "); /* pad so the data buffer starts 8-aligned */
    if (j.oom) {
        t5pt_jw_free(&j);
        return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
    }
    /* header and tensors go straight from their buffers into the file (atomically:
     * readers never see a half-written file), no second copy of the data is built */
    const void **parts = malloc(((size_t)w->n + 2) * sizeof *parts);
    size_t *lens = malloc(((size_t)w->n + 2) * sizeof *lens);
    if (!parts || !lens) {
        free(parts);
        free(lens);
        t5pt_jw_free(&j);
        return t5pt_set_error(T5PT_ERR_NOMEM, "%s: out of memory", path);
    }
    unsigned char le[8];
    uint64_t n = j.len;
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(n >> (8 * i));
    parts[0] = le;
    lens[0] = 8;
    parts[1] = j.buf;
    lens[1] = j.len;
    for (int i = 0; i < w->n; i++) {
        parts[i + 2] = w->t[i].data;
        lens[i + 2] = w->t[i].nbytes;
    }
    t5pt_status st = t5pt_write_parts_atomic(path, w->n + 2, parts, lens);
    free(parts);
    free(lens);
    t5pt_jw_free(&j);
    return st;
}

void t5pt_st_writer_free(st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->t[i].name);
        if (w->t[i].owned) free((void *)w->t[i].data);
    }
    free(w->t);
    free(w);
}
