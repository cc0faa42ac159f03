/* fuzz_safetensors.c — libFuzzer harness for the safetensors reader and writer (src/io/safetensors.c).
 *
 * Each input is a whole safetensors file image: the 8-byte header length, the JSON header
 * (dtypes, shapes, data_offsets, __metadata__) and the data buffer. It is opened from an
 * exactly sized buffer (t5pt_st_open_memory), so any read past the image is caught. An image
 * that opens must satisfy:
 *   - every tensor's bytes lie inside the data buffer and equal numel x dtype size;
 *   - t5pt_st_get finds every tensor by its name; t5pt_st_check_shape accepts its own shape;
 *   - every tensor converts (float types to f32, integer types to int32) or fails cleanly;
 *   - written back with the writer and opened from the file, the same tensors come back:
 *     names, dtypes, shapes and bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_safetensors: %s\n", what);
        abort();
    }
}

static int is_float(st_dtype t) { return t == ST_F32 || t == ST_F16 || t == ST_BF16 || t == ST_F64; }

static void read_all(const st_file *f, const unsigned char *img, size_t size) {
    for (int i = 0; i < t5pt_st_count(f); i++) {
        const st_tensor *t = t5pt_st_at(f, i);
        const unsigned char *p = t->data;
        check(p >= img + 8 && p + t->nbytes <= img + size, "tensor bytes outside the image");
        check(t->nbytes == t->numel * t5pt_st_dtype_size(t->dtype), "nbytes != numel x dtype size");
        check(t5pt_st_get(f, t->name) == t, "t5pt_st_get does not find the tensor by name");
        check(t5pt_st_check_shape(f, t, t->ndim, t->shape) == T5PT_OK, "a tensor does not match its own shape");
        if (t->numel > ((size_t)1 << 24)) continue;   /* the data buffer is smaller; keep memory bounded */
        void *dst = malloc(t->numel ? t->numel * 4 : 1);
        if (!dst) abort();
        t5pt_status st = is_float(t->dtype) ? t5pt_st_read_f32(f, t, dst) : t5pt_st_read_i32(f, t, dst);
        check(st == T5PT_OK || st == T5PT_ERR_FORMAT, "conversion failed with an unexpected status");
        /* the wrong kind of conversion is refused */
        st = is_float(t->dtype) ? t5pt_st_read_i32(f, t, dst) : t5pt_st_read_f32(f, t, dst);
        check(st == T5PT_ERR_SHAPE, "conversion to the wrong kind was not refused");
        free(dst);
    }
    (void)t5pt_st_metadata(f, "format");
}

/* Writes every tensor of f to a file, reopens it and compares. */
static void round_trip(const st_file *f) {
    st_writer *w = t5pt_st_writer_new();
    if (!w) abort();
    for (int i = 0; i < t5pt_st_count(f); i++) {
        const st_tensor *t = t5pt_st_at(f, i);
        t5pt_status st = t5pt_st_writer_add_ref(w, t->name, t->dtype, t->ndim, t->shape, t->data);
        if (st != T5PT_OK) {
            check(t->name[0] == 0, "the writer refused a tensor the reader accepted");   /* only "" */
            t5pt_st_writer_free(w);
            return;
        }
    }
    const char *path = fz_path("rt.safetensors");
    check(t5pt_st_writer_save(w, path, "{\"format\":\"pt\"}") == T5PT_OK, "writer failed");
    t5pt_st_writer_free(w);
    st_file *g;
    check(t5pt_st_open(&g, path) == T5PT_OK, "the written file does not open");
    check(t5pt_st_count(g) == t5pt_st_count(f), "round trip changed the tensor count");
    for (int i = 0; i < t5pt_st_count(f); i++) {
        const st_tensor *a = t5pt_st_at(f, i), *b = t5pt_st_at(g, i);
        check(strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->ndim == b->ndim, "round trip changed a tensor");
        check(memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) == 0, "round trip changed a shape");
        check(a->nbytes == b->nbytes && memcmp(a->data, b->data, a->nbytes) == 0, "round trip changed the data");
    }
    check(t5pt_st_metadata(g, "format") && strcmp(t5pt_st_metadata(g, "format"), "pt") == 0, "metadata lost");
    t5pt_st_close(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *img = fz_copy(data, size);
    st_file *f;
    if (t5pt_st_open_memory(&f, img, size, "fuzz.safetensors") == T5PT_OK) {
        read_all(f, img, size);
        round_trip(f);
        t5pt_st_close(f);
    } else {
        check(strncmp(t5pt_last_error(), "fuzz.safetensors: ", 18) == 0, "error does not name the file");
    }
    free(img);
    return 0;
}
