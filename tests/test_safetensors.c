/* test_safetensors.c — reader validation, dtype conversion and the writer (src/io/safetensors.c). */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/internal.h"
#include "io/safetensors.h"
#include "file_util.h"

static void setup(void) { ck_assert_ptr_nonnull(test_tmpdir_create("test_st")); }

static void teardown(void) { test_tmpdir_remove(); }

/* Writes a file: u64 header length `declared` (or the real length when < 0), header, data. */
static void write_raw(const char *path, long long declared, const char *header, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    /* -1: the real length; -2: a length near 2^64 (must not wrap around) */
    uint64_t h = declared == -1 ? strlen(header) : declared == -2 ? 0xfffffffffffffff0ULL : (uint64_t)declared;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(h >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

/* Opening must fail with `status`, and the message must name the file and contain `want`. */
static void expect_open_error(const char *path, t5pt_status status, const char *want) {
    st_file *f = (st_file *)0x1;
    t5pt_status st = t5pt_st_open(&f, path);
    ck_assert_ptr_null(f);
    ck_assert_msg(st == status, "status %d, want %d (%s)", st, status, t5pt_last_error());
    ck_assert_msg(strstr(t5pt_last_error(), path) != NULL, "message \"%s\" does not name %s", t5pt_last_error(), path);
    ck_assert_msg(strstr(t5pt_last_error(), want) != NULL, "message \"%s\" lacks \"%s\"", t5pt_last_error(), want);
}

static unsigned char zeros[256];

START_TEST(test_roundtrip) {
    st_writer *w = t5pt_st_writer_new();
    float a[6] = {1, -2, 3.5f, 0, 1e-30f, -INFINITY};
    int64_t sa[2] = {2, 3};
    int64_t b[3] = {-5, 0, 1LL << 40};
    int64_t sb[1] = {3};
    uint16_t h[2] = {0x3c00, 0xc100};
    int64_t sh[1] = {2};
    float scalar = 7.25f;
    ck_assert_int_eq(t5pt_st_writer_add(w, "zeta.weight", ST_F32, 2, sa, a), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add(w, "alpha", ST_I64, 1, sb, b), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add(w, "half", ST_F16, 1, sh, h), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add_ref(w, "scalar", ST_F32, 0, NULL, &scalar), T5PT_OK); /* not copied */
    int64_t s0[2] = {0, 4};
    ck_assert_int_eq(t5pt_st_writer_add(w, "empty", ST_F32, 2, s0, NULL), T5PT_OK);
    /* duplicates and the reserved name are refused */
    ck_assert_int_eq(t5pt_st_writer_add(w, "alpha", ST_I64, 1, sb, b), T5PT_ERR_ARG);
    ck_assert_int_eq(t5pt_st_writer_add(w, "__metadata__", ST_I64, 1, sb, b), T5PT_ERR_ARG);
    /* a byte count that overflows size_t, and data missing for a non-empty tensor */
    int64_t huge[2] = {1LL << 40, 1LL << 40};
    ck_assert_int_eq(t5pt_st_writer_add_ref(w, "huge", ST_F32, 2, huge, a), T5PT_ERR_ARG);
    ck_assert_int_eq(t5pt_st_writer_add(w, "nodata", ST_F32, 1, sb, NULL), T5PT_ERR_ARG);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("rt.safetensors"), "{\"format\":\"pt\",\"note\":\"a \\\"q\\\"\"}"),
                     T5PT_OK);
    t5pt_st_writer_free(w);

    /* raw layout: header length multiple of 8, names sorted, metadata first */
    char *raw;
    size_t len;
    ck_assert_int_eq(t5pt_read_file(test_tmp("rt.safetensors"), &raw, &len), T5PT_OK);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | (unsigned char)raw[i];
    ck_assert_uint_eq(n % 8, 0);
    ck_assert_uint_eq(len, 8 + n + 24 + 24 + 4 + 4 + 0);
    ck_assert(strncmp(raw + 8, "{\"__metadata__\":{\"format\":\"pt\"", 30) == 0);
    char *pa = strstr(raw + 8, "\"alpha\""), *pe = strstr(raw + 8, "\"empty\""), *ph = strstr(raw + 8, "\"half\""),
         *ps = strstr(raw + 8, "\"scalar\""), *pz = strstr(raw + 8, "\"zeta.weight\"");
    ck_assert(pa && pe && ph && ps && pz && pa < pe && pe < ph && ph < ps && ps < pz);
    ck_assert(raw[8 + n - 1] == ' ' || raw[8 + n - 1] == '}');
    free(raw);

    st_file *f;
    ck_assert_int_eq(t5pt_st_open(&f, test_tmp("rt.safetensors")), T5PT_OK);
    ck_assert_int_eq(t5pt_st_count(f), 5);
    ck_assert_str_eq(t5pt_st_at(f, 0)->name, "alpha");
    ck_assert_str_eq(t5pt_st_at(f, 4)->name, "zeta.weight");
    ck_assert_ptr_null(t5pt_st_at(f, 5));
    ck_assert_str_eq(t5pt_st_metadata(f, "format"), "pt");
    ck_assert_str_eq(t5pt_st_metadata(f, "note"), "a \"q\"");
    ck_assert_ptr_null(t5pt_st_metadata(f, "nope"));
    ck_assert_str_eq(t5pt_st_path(f), test_tmp("rt.safetensors"));

    const st_tensor *t = t5pt_st_get(f, "zeta.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, ST_F32);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->shape[0], 2);
    ck_assert_int_eq(t->shape[1], 3);
    ck_assert_uint_eq(t->numel, 6);
    ck_assert_uint_eq(t->nbytes, 24);
    float got[6];
    ck_assert_int_eq(t5pt_st_read_f32(f, t, got), T5PT_OK);
    ck_assert(memcmp(got, a, sizeof a) == 0);

    t = t5pt_st_get(f, "alpha");
    int32_t i32[3];
    ck_assert_int_eq(t5pt_st_read_i32(f, t, i32), T5PT_ERR_FORMAT); /* 2^40 does not fit */
    ck_assert_ptr_nonnull(strstr(t5pt_last_error(), "does not fit int32"));
    ck_assert_int_eq(t5pt_st_read_f32(f, t, got), T5PT_ERR_SHAPE);  /* integers are not floats */
    ck_assert_ptr_nonnull(strstr(t5pt_last_error(), "alpha"));

    t = t5pt_st_get(f, "half");
    ck_assert_int_eq(t5pt_st_read_f32(f, t, got), T5PT_OK);
    ck_assert(got[0] == 1.0f && got[1] == -2.5f);

    t = t5pt_st_get(f, "scalar");
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_uint_eq(t->numel, 1);
    ck_assert_int_eq(t5pt_st_read_f32(f, t, got), T5PT_OK);
    ck_assert(got[0] == 7.25f);

    t = t5pt_st_get(f, "empty");
    ck_assert_uint_eq(t->numel, 0);
    ck_assert_uint_eq(t->nbytes, 0);
    ck_assert_ptr_null(t5pt_st_get(f, "missing"));
    ck_assert_ptr_null(t5pt_st_get(f, ""));
    t5pt_st_close(f);
}
END_TEST

/* The in-memory reader (the fuzz harness's entry point) and element ranges (the model loader
 * converts and scans tensors chunk by chunk). */
START_TEST(test_memory_image_and_ranges) {
    float a[10];
    uint16_t h[10];
    for (int i = 0; i < 10; i++) {
        a[i] = 0.5f * (float)i - 2.0f;
        h[i] = (uint16_t)(0x3c00 + 0x400 * (i % 3)); /* f16 1, 2, 4 */
    }
    st_writer *w = t5pt_st_writer_new();
    int64_t shape[2] = {2, 5};
    int32_t ints[2] = {0, 0};
    int64_t s1[1] = {0};
    ck_assert_int_eq(t5pt_st_writer_add(w, "a", ST_F32, 2, shape, a), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add(w, "h", ST_F16, 2, shape, h), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add(w, "none", ST_F32, 1, s1, ints), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("m.safetensors"), NULL), T5PT_OK);
    t5pt_st_writer_free(w);
    char *img;
    size_t len;
    ck_assert_int_eq(t5pt_read_file(test_tmp("m.safetensors"), &img, &len), T5PT_OK);
    st_file *f;
    ck_assert_int_eq(t5pt_st_open_memory(&f, img, len, "image"), T5PT_OK);
    ck_assert_str_eq(t5pt_st_path(f), "image");
    ck_assert_int_eq(t5pt_st_count(f), 3);
    float got[10] = {0};
    const st_tensor *t = t5pt_st_get(f, "a");
    ck_assert_int_eq(t5pt_st_read_f32_range(f, t, 3, 4, got), T5PT_OK);
    ck_assert(memcmp(got, a + 3, 4 * sizeof(float)) == 0);
    ck_assert_int_eq(t5pt_st_read_f32_range(f, t, 7, 4, got), T5PT_ERR_ARG);  /* past the end */
    ck_assert_ptr_nonnull(strstr(t5pt_last_error(), "image: tensor \"a\": elements [7, +4) out of range"));
    t = t5pt_st_get(f, "h");
    ck_assert_int_eq(t5pt_st_read_f32_range(f, t, 9, 1, got), T5PT_OK);
    ck_assert(got[0] == 1.0f);  /* element 9: 9 % 3 = 0 */
    ck_assert_int_eq(t5pt_st_read_f32_range(f, t, 4, 2, got), T5PT_OK);
    ck_assert(got[0] == 2.0f && got[1] == 4.0f);
    /* integer reads refuse a float tensor, even an empty one */
    ck_assert_int_eq(t5pt_st_read_i32(f, t5pt_st_get(f, "none"), ints), T5PT_ERR_SHAPE);
    t5pt_st_close(f);
    /* the same checks as a file: a truncated image fails, naming the image */
    ck_assert_int_eq(t5pt_st_open_memory(&f, img, len - 1, "image"), T5PT_ERR_FORMAT);
    ck_assert_ptr_null(f);
    ck_assert_ptr_nonnull(strstr(t5pt_last_error(), "image: "));
    ck_assert_int_eq(t5pt_st_open_memory(&f, NULL, 0, NULL), T5PT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(t5pt_last_error(), "<memory>: truncated file (0 bytes"));
    free(img);
}
END_TEST

START_TEST(test_dtype_names) {
    const char *names[] = {"F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"};
    size_t sizes[] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};
    st_dtype types[] = {ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL};
    for (int i = 0; i < 10; i++) {
        ck_assert_str_eq(t5pt_st_dtype_name(types[i]), names[i]);
        ck_assert_uint_eq(t5pt_st_dtype_size(types[i]), sizes[i]);
    }
}
END_TEST

/* bf16 is the top half of an f32; f16 is IEEE binary16. Expected values are exact by construction. */
START_TEST(test_half_conversions) {
    uint16_t bf[] = {0x3f80, 0xc020, 0x0000, 0x8000, 0x0001, 0x007f, 0x0080, 0x7f7f, 0x7f80, 0xff80, 0x7fc0, 0x3eab};
    float bf_want[] = {1.0f, -2.5f, 0.0f, -0.0f, 0x1p-133f, 0x7fp-133f, 0x1p-126f, 0x1.fep127f,
                       INFINITY, -INFINITY, NAN, 0x1.56p-2f};
    uint16_t hf[] = {0x3c00, 0xc100, 0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x3555};
    float hf_want[] = {1.0f, -2.5f, 0.0f, -0.0f, 0x1p-24f, 0x3ffp-24f, 0x1p-14f, 65504.0f,
                       INFINITY, -INFINITY, NAN, 0x1.554p-2f};
    const size_t n = sizeof bf / sizeof bf[0];
    unsigned char data[1 + 2 * 12 * 2];
    data[0] = 42;
    memcpy(data + 1, bf, sizeof bf);
    memcpy(data + 1 + sizeof bf, hf, sizeof hf);
    /* "a" (1 byte) first puts both half tensors at ODD offsets: exercises the unaligned path */
    write_raw(test_tmp("half.safetensors"), -1,
              "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
              "\"b\":{\"dtype\":\"BF16\",\"shape\":[12],\"data_offsets\":[1,25]},"
              "\"h\":{\"dtype\":\"F16\",\"shape\":[3,4],\"data_offsets\":[25,49]}}",
              data, sizeof data);
    st_file *f;
    ck_assert_int_eq(t5pt_st_open(&f, test_tmp("half.safetensors")), T5PT_OK);
    float got[12];
    ck_assert_int_eq(t5pt_st_read_f32(f, t5pt_st_get(f, "b"), got), T5PT_OK);
    for (size_t i = 0; i < n; i++) {
        if (isnan(bf_want[i]))
            ck_assert_msg(isnan(got[i]), "bf16 %04x", bf[i]);
        else
            ck_assert_msg(got[i] == bf_want[i] && signbit(got[i]) == signbit(bf_want[i]), "bf16 %04x -> %a", bf[i],
                          (double)got[i]);
    }
    ck_assert_int_eq(t5pt_st_read_f32(f, t5pt_st_get(f, "h"), got), T5PT_OK);
    for (size_t i = 0; i < n; i++) {
        if (isnan(hf_want[i]))
            ck_assert_msg(isnan(got[i]), "f16 %04x", hf[i]);
        else
            ck_assert_msg(got[i] == hf_want[i] && signbit(got[i]) == signbit(hf_want[i]), "f16 %04x -> %a", hf[i],
                          (double)got[i]);
    }
    int32_t one;
    ck_assert_int_eq(t5pt_st_read_i32(f, t5pt_st_get(f, "a"), &one), T5PT_OK);
    ck_assert_int_eq(one, 42);
    t5pt_st_close(f);

    /* the aligned path gives the same answers (writer places tensors 8-aligned here) */
    st_writer *w = t5pt_st_writer_new();
    int64_t s[1] = {12};
    ck_assert_int_eq(t5pt_st_writer_add(w, "b", ST_BF16, 1, s, bf), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add(w, "h", ST_F16, 1, s, hf), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("half2.safetensors"), NULL), T5PT_OK);
    t5pt_st_writer_free(w);
    ck_assert_int_eq(t5pt_st_open(&f, test_tmp("half2.safetensors")), T5PT_OK);
    ck_assert_int_eq(t5pt_st_read_f32(f, t5pt_st_get(f, "b"), got), T5PT_OK);
    ck_assert(got[0] == 1.0f && got[4] == 0x1p-133f && got[8] == INFINITY && isnan(got[10]));
    ck_assert_int_eq(t5pt_st_read_f32(f, t5pt_st_get(f, "h"), got), T5PT_OK);
    ck_assert(got[1] == -2.5f && got[4] == 0x1p-24f && got[7] == 65504.0f && isnan(got[10]));
    t5pt_st_close(f);
}
END_TEST

/* A BF16 tensor larger than the 4096-element staging block, at an odd offset. */
START_TEST(test_half_unaligned_large) {
    const int n = 10000;
    unsigned char *data = malloc(1 + 2 * (size_t)n);
    data[0] = 0;
    for (int i = 0; i < n; i++) {
        uint16_t v = (uint16_t)(0x3f80 + (i % 128)); /* 1 + (i%128)/128 */
        memcpy(data + 1 + 2 * i, &v, 2);
    }
    char hdr[256];
    snprintf(hdr, sizeof hdr,
             "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
             "\"b\":{\"dtype\":\"BF16\",\"shape\":[%d],\"data_offsets\":[1,%d]}}",
             n, 1 + 2 * n);
    write_raw(test_tmp("big.safetensors"), -1, hdr, data, 1 + 2 * (size_t)n);
    free(data);
    st_file *f;
    ck_assert_int_eq(t5pt_st_open(&f, test_tmp("big.safetensors")), T5PT_OK);
    float *got = malloc(sizeof(float) * (size_t)n);
    ck_assert_int_eq(t5pt_st_read_f32(f, t5pt_st_get(f, "b"), got), T5PT_OK);
    for (int i = 0; i < n; i++) ck_assert(got[i] == 1.0f + (float)(i % 128) / 128.0f);
    free(got);
    t5pt_st_close(f);
}
END_TEST

START_TEST(test_int_and_f64_conversions) {
    int64_t i64[3] = {-7, 0, 2147483647};
    int32_t i32[2] = {-2147483647 - 1, 5};
    int16_t i16[2] = {-300, 300};
    int8_t i8[2] = {-128, 127};
    uint8_t u8[2] = {0, 255};
    uint8_t bo[2] = {1, 0};
    double f64[2] = {0.1, -1e40};
    st_writer *w = t5pt_st_writer_new();
    int64_t s3[1] = {3}, s2[1] = {2};
    ck_assert_int_eq(t5pt_st_writer_add(w, "i64", ST_I64, 1, s3, i64), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add(w, "i32", ST_I32, 1, s2, i32), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add(w, "i16", ST_I16, 1, s2, i16), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add(w, "i8", ST_I8, 1, s2, i8), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add(w, "u8", ST_U8, 1, s2, u8), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add(w, "bool", ST_BOOL, 1, s2, bo), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_add(w, "f64", ST_F64, 1, s2, f64), T5PT_OK);
    uint8_t badbool[1] = {2};
    int64_t s1[1] = {1};
    ck_assert_int_eq(t5pt_st_writer_add(w, "badbool", ST_BOOL, 1, s1, badbool), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("ints.safetensors"), NULL), T5PT_OK);
    t5pt_st_writer_free(w);
    st_file *f;
    ck_assert_int_eq(t5pt_st_open(&f, test_tmp("ints.safetensors")), T5PT_OK);
    int32_t o[3];
    ck_assert_int_eq(t5pt_st_read_i32(f, t5pt_st_get(f, "i64"), o), T5PT_OK);
    ck_assert(o[0] == -7 && o[1] == 0 && o[2] == 2147483647);
    ck_assert_int_eq(t5pt_st_read_i32(f, t5pt_st_get(f, "i32"), o), T5PT_OK);
    ck_assert(o[0] == INT32_MIN && o[1] == 5);
    ck_assert_int_eq(t5pt_st_read_i32(f, t5pt_st_get(f, "i16"), o), T5PT_OK);
    ck_assert(o[0] == -300 && o[1] == 300);
    ck_assert_int_eq(t5pt_st_read_i32(f, t5pt_st_get(f, "i8"), o), T5PT_OK);
    ck_assert(o[0] == -128 && o[1] == 127);
    ck_assert_int_eq(t5pt_st_read_i32(f, t5pt_st_get(f, "u8"), o), T5PT_OK);
    ck_assert(o[0] == 0 && o[1] == 255);
    ck_assert_int_eq(t5pt_st_read_i32(f, t5pt_st_get(f, "bool"), o), T5PT_OK);
    ck_assert(o[0] == 1 && o[1] == 0);
    ck_assert_int_eq(t5pt_st_read_i32(f, t5pt_st_get(f, "badbool"), o), T5PT_ERR_FORMAT);
    ck_assert_int_eq(t5pt_st_read_i32(f, t5pt_st_get(f, "f64"), o), T5PT_ERR_SHAPE);
    float g[2];
    ck_assert_int_eq(t5pt_st_read_f32(f, t5pt_st_get(f, "f64"), g), T5PT_OK);
    ck_assert(g[0] == 0.1f && g[1] == -INFINITY);
    t5pt_st_close(f);
}
END_TEST

START_TEST(test_check_shape) {
    float a[6] = {0};
    int64_t s[2] = {2, 3};
    st_writer *w = t5pt_st_writer_new();
    ck_assert_int_eq(t5pt_st_writer_add(w, "w", ST_F32, 2, s, a), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("shape.safetensors"), NULL), T5PT_OK);
    t5pt_st_writer_free(w);
    st_file *f;
    ck_assert_int_eq(t5pt_st_open(&f, test_tmp("shape.safetensors")), T5PT_OK);
    const st_tensor *t = t5pt_st_get(f, "w");
    int64_t ok[2] = {2, 3}, any[2] = {-1, 3}, bad[2] = {3, 2};
    ck_assert_int_eq(t5pt_st_check_shape(f, t, 2, ok), T5PT_OK);
    ck_assert_int_eq(t5pt_st_check_shape(f, t, 2, any), T5PT_OK);
    ck_assert_int_eq(t5pt_st_check_shape(f, t, 2, bad), T5PT_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(t5pt_last_error(), test_tmp("shape.safetensors")));
    ck_assert_ptr_nonnull(strstr(t5pt_last_error(), "tensor \"w\" has shape [2, 3], expected [3, 2]"));
    ck_assert_int_eq(t5pt_st_check_shape(f, t, 1, ok), T5PT_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(t5pt_last_error(), "expected [2]"));
    t5pt_st_close(f);
}
END_TEST

START_TEST(test_empty_header_and_gap) {
    write_raw(test_tmp("empty.safetensors"), -1, "{}", NULL, 0);
    st_file *f;
    ck_assert_int_eq(t5pt_st_open(&f, test_tmp("empty.safetensors")), T5PT_OK);
    ck_assert_int_eq(t5pt_st_count(f), 0);
    ck_assert_ptr_null(t5pt_st_get(f, "x"));
    t5pt_st_close(f);
    /* padding spaces after the JSON and an unused gap in the buffer are tolerated */
    write_raw(test_tmp("gap.safetensors"), -1, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}    ", zeros,
              8);
    ck_assert_int_eq(t5pt_st_open(&f, test_tmp("gap.safetensors")), T5PT_OK);
    t5pt_st_close(f);
}
END_TEST

/* ---------------------------------------------------------------- malformed files */

START_TEST(test_missing_file) { expect_open_error(test_tmp("nope.safetensors"), T5PT_ERR_IO, "cannot open"); }
END_TEST

START_TEST(test_truncated_file) {
    FILE *f = fopen(test_tmp("trunc.safetensors"), "wb");
    fwrite("\x10\x00\x00", 1, 3, f);
    fclose(f);
    expect_open_error(test_tmp("trunc.safetensors"), T5PT_ERR_FORMAT, "truncated file (3 bytes");
    f = fopen(test_tmp("zero.safetensors"), "wb");
    fclose(f);
    expect_open_error(test_tmp("zero.safetensors"), T5PT_ERR_FORMAT, "truncated file (0 bytes");
}
END_TEST

START_TEST(test_header_past_eof) {
    const char *h = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    write_raw(test_tmp("past.safetensors"), (long long)strlen(h) + 5, h, zeros, 4);
    expect_open_error(test_tmp("past.safetensors"), T5PT_ERR_FORMAT, "runs past the end of the file");
    /* an absurd length (u64 near 2^64) must not wrap around */
    write_raw(test_tmp("huge.safetensors"), -2, h, zeros, 4);
    expect_open_error(test_tmp("huge.safetensors"), T5PT_ERR_FORMAT, "runs past the end of the file");
}
END_TEST

START_TEST(test_header_not_json) {
    write_raw(test_tmp("bad.safetensors"), -1, "{\"x\": {\"dtype\": \"F32\",}}", zeros, 4);
    expect_open_error(test_tmp("bad.safetensors"), T5PT_ERR_FORMAT, "header is not valid JSON: line 1 col 23: trailing comma");
    write_raw(test_tmp("bin.safetensors"), -1, "\x01\x02garbage", zeros, 4);
    expect_open_error(test_tmp("bin.safetensors"), T5PT_ERR_FORMAT, "header is not valid JSON");
    /* the header is exactly N bytes: JSON continuing past it is cut off */
    write_raw(test_tmp("cut.safetensors"), 5, "{\"x\":{}}", NULL, 0);
    expect_open_error(test_tmp("cut.safetensors"), T5PT_ERR_FORMAT, "header is not valid JSON");
}
END_TEST

START_TEST(test_header_not_object) {
    write_raw(test_tmp("arr.safetensors"), -1, "[1, 2]", NULL, 0);
    expect_open_error(test_tmp("arr.safetensors"), T5PT_ERR_FORMAT, "header is not a JSON object");
    write_raw(test_tmp("ent.safetensors"), -1, "{\"x\": 3}", NULL, 0);
    expect_open_error(test_tmp("ent.safetensors"), T5PT_ERR_FORMAT, "header entry \"x\" is not an object");
}
END_TEST

START_TEST(test_unknown_dtype) {
    write_raw(test_tmp("dt.safetensors"), -1, "{\"x\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 4);
    expect_open_error(test_tmp("dt.safetensors"), T5PT_ERR_FORMAT, "tensor \"x\" has unknown dtype \"Q4\"");
    write_raw(test_tmp("dt2.safetensors"), -1, "{\"x\":{\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 4);
    expect_open_error(test_tmp("dt2.safetensors"), T5PT_ERR_FORMAT, "tensor \"x\" has no \"dtype\"");
}
END_TEST

START_TEST(test_bad_shape) {
    write_raw(test_tmp("s1.safetensors"), -1, "{\"x\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", zeros, 16);
    expect_open_error(test_tmp("s1.safetensors"), T5PT_ERR_FORMAT, "tensor \"x\" has no \"shape\" list");
    write_raw(test_tmp("s2.safetensors"), -1, "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", zeros, 4);
    expect_open_error(test_tmp("s2.safetensors"), T5PT_ERR_FORMAT, "shape is not a list of non-negative integers");
    write_raw(test_tmp("s3.safetensors"), -1, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", zeros, 4);
    expect_open_error(test_tmp("s3.safetensors"), T5PT_ERR_FORMAT, "shape is not a list of non-negative integers");
    write_raw(test_tmp("s4.safetensors"), -1,
              "{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", zeros,
              4);
    expect_open_error(test_tmp("s4.safetensors"), T5PT_ERR_FORMAT, "shape is too large");
    write_raw(test_tmp("s5.safetensors"), -1,
              "{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", zeros, 4);
    expect_open_error(test_tmp("s5.safetensors"), T5PT_ERR_FORMAT, "9 dimensions");
}
END_TEST

START_TEST(test_offsets_out_of_range) {
    write_raw(test_tmp("o1.safetensors"), -1, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", zeros, 8);
    expect_open_error(test_tmp("o1.safetensors"), T5PT_ERR_FORMAT,
                      "tensor \"x\" data_offsets [4, 12] out of range (data buffer is 8 bytes)");
    write_raw(test_tmp("o2.safetensors"), -1, "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", zeros, 8);
    expect_open_error(test_tmp("o2.safetensors"), T5PT_ERR_FORMAT, "data_offsets [8, 4] out of range");
    write_raw(test_tmp("o3.safetensors"), -1, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", zeros, 8);
    expect_open_error(test_tmp("o3.safetensors"), T5PT_ERR_FORMAT, "needs \"data_offsets\": [begin, end]");
    write_raw(test_tmp("o4.safetensors"), -1, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", zeros, 8);
    expect_open_error(test_tmp("o4.safetensors"), T5PT_ERR_FORMAT, "needs \"data_offsets\"");
}
END_TEST

START_TEST(test_offsets_overlap) {
    write_raw(test_tmp("ov.safetensors"), -1,
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
              zeros, 12);
    expect_open_error(test_tmp("ov.safetensors"), T5PT_ERR_FORMAT,
                      "tensors \"a\" [0, 8) and \"b\" [4, 12) have overlapping data_offsets");
    /* the same bytes shared by two tensors (an alias) is also an overlap */
    write_raw(test_tmp("ov2.safetensors"), -1,
              "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
              zeros, 8);
    expect_open_error(test_tmp("ov2.safetensors"), T5PT_ERR_FORMAT, "overlapping data_offsets");
}
END_TEST

START_TEST(test_byte_count_mismatch) {
    write_raw(test_tmp("bc.safetensors"), -1, "{\"x\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", zeros,
              24);
    expect_open_error(test_tmp("bc.safetensors"), T5PT_ERR_FORMAT,
                      "tensor \"x\" has 24 bytes but dtype BF16 x shape needs 12 (6 elements)");
}
END_TEST

START_TEST(test_duplicate_names) {
    write_raw(test_tmp("dup.safetensors"), -1,
              "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
              zeros, 8);
    expect_open_error(test_tmp("dup.safetensors"), T5PT_ERR_FORMAT, "duplicate tensor name \"x\"");
}
END_TEST

START_TEST(test_bad_metadata) {
    write_raw(test_tmp("m1.safetensors"), -1, "{\"__metadata__\": [1]}", NULL, 0);
    expect_open_error(test_tmp("m1.safetensors"), T5PT_ERR_FORMAT, "\"__metadata__\" is not an object");
    write_raw(test_tmp("m2.safetensors"), -1, "{\"__metadata__\": {\"format\": 1}}", NULL, 0);
    expect_open_error(test_tmp("m2.safetensors"), T5PT_ERR_FORMAT, "\"__metadata__\" value \"format\" is not a string");
    /* the writer refuses metadata that is not an object of strings */
    st_writer *w = t5pt_st_writer_new();
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("m3.safetensors"), "{\"a\": 1}"), T5PT_ERR_ARG);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("m3.safetensors"), "not json"), T5PT_ERR_ARG);
    ck_assert_int_eq(access(test_tmp("m3.safetensors"), F_OK), -1);
    t5pt_st_writer_free(w);
}
END_TEST

START_TEST(test_write_failure) {
    st_writer *w = t5pt_st_writer_new();
    float a[2] = {1, 2};
    int64_t s[1] = {2};
    ck_assert_int_eq(t5pt_st_writer_add(w, "a", ST_F32, 1, s, a), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("no/such/dir/x.safetensors"), NULL), T5PT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(t5pt_last_error(), "no/such/dir/x.safetensors.tmp."));
    ck_assert_ptr_nonnull(strstr(t5pt_last_error(), "cannot create"));
    /* saving over an existing file replaces it whole, leaving no temp file behind */
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("x.safetensors"), NULL), T5PT_OK);
    ck_assert_int_eq(t5pt_st_writer_save(w, test_tmp("x.safetensors"), NULL), T5PT_OK);
    DIR *d = opendir(test_tmpdir());
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') files++;
    closedir(d);
    ck_assert_int_eq(files, 1);
    t5pt_st_writer_free(w);
}
END_TEST

static Suite *st_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("read_write");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_memory_image_and_ranges);
    tcase_add_test(tc, test_dtype_names);
    tcase_add_test(tc, test_half_conversions);
    tcase_add_test(tc, test_half_unaligned_large);
    tcase_add_test(tc, test_int_and_f64_conversions);
    tcase_add_test(tc, test_check_shape);
    tcase_add_test(tc, test_empty_header_and_gap);
    tcase_add_test(tc, test_write_failure);
    suite_add_tcase(s, tc);
    TCase *bad = tcase_create("malformed");
    tcase_add_checked_fixture(bad, setup, teardown);
    tcase_add_test(bad, test_missing_file);
    tcase_add_test(bad, test_truncated_file);
    tcase_add_test(bad, test_header_past_eof);
    tcase_add_test(bad, test_header_not_json);
    tcase_add_test(bad, test_header_not_object);
    tcase_add_test(bad, test_unknown_dtype);
    tcase_add_test(bad, test_bad_shape);
    tcase_add_test(bad, test_offsets_out_of_range);
    tcase_add_test(bad, test_offsets_overlap);
    tcase_add_test(bad, test_byte_count_mismatch);
    tcase_add_test(bad, test_duplicate_names);
    tcase_add_test(bad, test_bad_metadata);
    suite_add_tcase(s, bad);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(st_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
