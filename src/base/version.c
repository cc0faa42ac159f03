/* version.c — the library's version at run time (a program built against one header can
 * check which libt5pt.so it was given). */
#include "t5pt.h"

const char *t5pt_version(void) { return T5PT_VERSION; }
