/* st_patch.h — overwriting part of a tensor inside a safetensors file, for tests that need a
 * corrupt checkpoint or a model with chosen weights (linked into every test binary). */
#ifndef T5PT_TEST_ST_PATCH_H
#define T5PT_TEST_ST_PATCH_H

#include <stddef.h>

/* Writes n bytes over bytes [offset, offset + n) of tensor `name`'s data in the file at path
 * (nothing else of the file changes). Check-asserts that the tensor exists and is large enough. */
void test_st_patch(const char *path, const char *name, size_t offset, const void *bytes, size_t n);

#endif
