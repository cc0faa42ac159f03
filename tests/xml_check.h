/* xml_check.h — a small well-formedness checker for the SVG files t5pt writes (tests only).
 *
 * Checks what an XML parser would refuse: one root element, every tag closed in order,
 * attributes quoted and not repeated, names well formed, '&' only in &amp; &lt; &gt; &quot;
 * &apos; or &#N; / &#xH;, no '<' in attribute values or stray in text, nothing after the
 * root but white space. Comments and the <?xml ...?> declaration are accepted. Also counts
 * the elements whose class attribute is a given value.
 */
#ifndef T5PT_XML_CHECK_H
#define T5PT_XML_CHECK_H

#include <stddef.h>

typedef struct {
    char error[200];      /* empty when well formed */
    char root[32];        /* name of the root element */
    int elements;
} xml_report;

/* 0 when text[0..n) is well-formed XML, else -1 with r->error set. */
int xml_check(const char *text, size_t n, xml_report *r);
/* Number of elements with class="cls" (text must be well formed). */
int xml_count_class(const char *text, const char *cls);
/* Reads a file and checks it: 0 / -1 (error also for a missing file). *text is malloc'd when given. */
int xml_check_file(const char *path, xml_report *r, char **text);

#endif
