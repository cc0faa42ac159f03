/* test_version.c — the version is one fact: the header's macros, its string and what the
 * linked library reports agree (the Makefile names libt5pt.so.MAJOR.MINOR.PATCH after the
 * macros; tests/test_layers.sh checks the soname). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "t5pt.h"

START_TEST(test_version_agrees) {
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", T5PT_VERSION_MAJOR, T5PT_VERSION_MINOR, T5PT_VERSION_PATCH);
    ck_assert_str_eq(T5PT_VERSION, want);
    ck_assert_ptr_nonnull(t5pt_version());
    ck_assert_str_eq(t5pt_version(), T5PT_VERSION);
}
END_TEST

int main(void) {
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, test_version_agrees);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
