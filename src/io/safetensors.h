/* safetensors.h — read (mmap, validated) and write safetensors files (internal).
 *
 * Format: u64 little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the data buffer; offsets are relative to the buffer start.
 * Opening validates everything before any tensor is used: header inside the file,
 * JSON well formed, known dtypes, begin <= end <= buffer size, byte count = prod(shape)*dtype size,
 * no two tensors overlapping, no duplicate names, header at most 100 MB. Unused gaps in
 * the buffer are tolerated. Errors name the file and the tensor. Assumes a little-endian host.
 */
#ifndef T5PT_SAFETENSORS_H
#define T5PT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "t5pt.h"

typedef enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL } st_dtype;

#define ST_MAX_DIMS 8
typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;                 /* 0 for a scalar */
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
    const void *data;         /* points into the mapping: may be unaligned */
    size_t nbytes;
} st_tensor;

typedef struct st_file st_file;

t5pt_status t5pt_st_open(st_file **out, const char *path);
/* The same checks on an image already in memory (data[0..len), not copied: it must outlive
 * the st_file). `name` stands for the path in error messages. Used by the fuzz harness, where
 * an exactly sized buffer lets the sanitizer catch any read past the end. */
t5pt_status t5pt_st_open_memory(st_file **out, const void *data, size_t len, const char *name);
void t5pt_st_close(st_file *f);
const char *t5pt_st_path(const st_file *f);
int t5pt_st_count(const st_file *f);
const st_tensor *t5pt_st_at(const st_file *f, int i);
const st_tensor *t5pt_st_get(const st_file *f, const char *name);     /* NULL when absent */
/* Value of a "__metadata__" string entry (e.g. "format"), NULL when absent. */
const char *t5pt_st_metadata(const st_file *f, const char *key);
const char *t5pt_st_dtype_name(st_dtype t);
size_t t5pt_st_dtype_size(st_dtype t);

/* Converts to f32 (from F32, F16, BF16, F64). dst has room for t->numel floats. */
t5pt_status t5pt_st_read_f32(const st_file *f, const st_tensor *t, float *dst);
/* The same for elements [first, first + n) (row-major order) into dst[0..n). */
t5pt_status t5pt_st_read_f32_range(const st_file *f, const st_tensor *t, size_t first, size_t n, float *dst);
/* Converts integer tensors (I64, I32, I16, I8, U8, BOOL) to int32, failing on out-of-range values. */
t5pt_status t5pt_st_read_i32(const st_file *f, const st_tensor *t, int32_t *dst);
/* Checks rank and dims; -1 in want[] matches any size. Error names the file and tensor. */
t5pt_status t5pt_st_check_shape(const st_file *f, const st_tensor *t, int ndim, const int64_t *want);

/* Writer: tensors are copied in; save() writes atomically (temp file + rename),
 * sorted by name with the header padded to 8 bytes, as the reference writer does. */
typedef struct st_writer st_writer;
st_writer *t5pt_st_writer_new(void);
t5pt_status t5pt_st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                          const void *data);
/* Same without the copy: data must stay valid until t5pt_st_writer_save() returns. */
t5pt_status t5pt_st_writer_add_ref(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                              const void *data);
/* metadata: NULL or a JSON object text for "__metadata__" (string values only, e.g. {"format":"pt"}). */
t5pt_status t5pt_st_writer_save(st_writer *w, const char *path, const char *metadata_json);
void t5pt_st_writer_free(st_writer *w);

#endif
