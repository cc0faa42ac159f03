/* st_patch.c — see st_patch.h. */
#include "st_patch.h"
#include "io/safetensors.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>

void test_st_patch(const char *path, const char *name, size_t offset, const void *bytes, size_t n) {
    st_file *f;
    ck_assert_msg(t5pt_st_open(&f, path) == T5PT_OK, "%s", t5pt_last_error());
    const st_tensor *t = t5pt_st_get(f, name);
    ck_assert_msg(t != NULL, "%s: no tensor %s", path, name);
    ck_assert_msg(offset + n <= t->nbytes, "%s: %s has %zu bytes, patch ends at %zu", path, name, t->nbytes, offset + n);
    /* the data buffer starts at the lowest tensor address (writers pack tensors from offset 0) */
    const unsigned char *start = t->data;
    for (int i = 0; i < t5pt_st_count(f); i++) {
        const st_tensor *u = t5pt_st_at(f, i);
        if (u->nbytes && (const unsigned char *)u->data < start) start = u->data;
    }
    size_t in_buffer = (size_t)((const unsigned char *)t->data - start) + offset;
    t5pt_st_close(f);
    FILE *fp = fopen(path, "r+b");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    unsigned char len8[8];
    ck_assert_uint_eq(fread(len8, 1, 8, fp), 8);
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--) header = (header << 8) | len8[i];
    ck_assert_int_eq(fseek(fp, (long)(8 + header + in_buffer), SEEK_SET), 0);
    ck_assert_uint_eq(fwrite(bytes, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}
