/* xml_check.c — see xml_check.h. */
#include "xml_check.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(xml_report *r, size_t at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = snprintf(r->error, sizeof r->error, "byte %zu: ", at);
    vsnprintf(r->error + k, sizeof r->error - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

static int name_start(char c) { return isalpha((unsigned char)c) || c == '_' || c == ':' || (unsigned char)c >= 0x80; }
static int name_char(char c) { return name_start(c) || isdigit((unsigned char)c) || c == '-' || c == '.'; }

/* An entity at text[i] == '&': its length, or 0 when invalid. */
static size_t entity(const char *t, size_t i, size_t n) {
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (int k = 0; k < 5; k++) {
        size_t l = strlen(named[k]);
        if (i + l <= n && !strncmp(t + i, named[k], l)) return l;
    }
    if (i + 3 < n && t[i + 1] == '#') {
        size_t j = i + 2;
        int hex = t[j] == 'x';
        if (hex) j++;
        size_t d0 = j;
        while (j < n && (hex ? isxdigit((unsigned char)t[j]) : isdigit((unsigned char)t[j]))) j++;
        if (j > d0 && j < n && t[j] == ';') return j - i + 1;
    }
    return 0;
}

int xml_check(const char *t, size_t n, xml_report *r) {
    memset(r, 0, sizeof *r);
    char stack[64][32];
    int depth = 0, roots = 0;
    size_t i = 0;
    if (n >= 5 && !strncmp(t, "<?xml", 5)) {
        const char *e = strstr(t, "?>");
        if (!e) return fail(r, 0, "unterminated declaration");
        i = (size_t)(e - t) + 2;
    }
    while (i < n) {
        if (t[i] != '<') {
            if (depth == 0 && !isspace((unsigned char)t[i])) return fail(r, i, "text outside the root element");
            if (t[i] == '&') {
                size_t l = entity(t, i, n);
                if (!l) return fail(r, i, "bad entity");
                i += l;
                continue;
            }
            if (t[i] == '>') { /* allowed in XML text, but we never write it */
                return fail(r, i, "stray '>' in text");
            }
            i++;
            continue;
        }
        if (i + 4 <= n && !strncmp(t + i, "<!--", 4)) {
            const char *e = strstr(t + i + 4, "-->");
            if (!e) return fail(r, i, "unterminated comment");
            i = (size_t)(e - t) + 3;
            continue;
        }
        int closing = i + 1 < n && t[i + 1] == '/';
        size_t j = i + 1 + closing;
        if (j >= n || !name_start(t[j])) return fail(r, i, "bad tag name");
        size_t s = j;
        while (j < n && name_char(t[j])) j++;
        char name[32];
        size_t len = j - s < sizeof name - 1 ? j - s : sizeof name - 1;
        memcpy(name, t + s, len);
        name[len] = 0;
        if (closing) {
            while (j < n && isspace((unsigned char)t[j])) j++;
            if (j >= n || t[j] != '>') return fail(r, j, "bad closing tag");
            if (depth == 0 || strcmp(stack[depth - 1], name)) return fail(r, i, "</%s> does not close the open element", name);
            depth--;
            i = j + 1;
            continue;
        }
        if (depth == 0 && ++roots > 1) return fail(r, i, "a second root element");
        if (depth == 0) snprintf(r->root, sizeof r->root, "%s", name);
        r->elements++;
        char attrs[32][32];
        int na = 0;
        for (;;) {
            size_t ws = j;
            while (j < n && isspace((unsigned char)t[j])) j++;
            if (j >= n) return fail(r, i, "unterminated tag <%s", name);
            if (t[j] == '>' || (t[j] == '/' && j + 1 < n && t[j + 1] == '>')) break;
            if (j == ws) return fail(r, j, "attributes must be separated by white space");
            if (!name_start(t[j])) return fail(r, j, "bad attribute name in <%s>", name);
            size_t as = j;
            while (j < n && name_char(t[j])) j++;
            char an[32];
            size_t al = j - as < sizeof an - 1 ? j - as : sizeof an - 1;
            memcpy(an, t + as, al);
            an[al] = 0;
            for (int k = 0; k < na; k++)
                if (!strcmp(attrs[k], an)) return fail(r, as, "attribute %s repeated in <%s>", an, name);
            if (na < 32) strcpy(attrs[na++], an);
            while (j < n && isspace((unsigned char)t[j])) j++;
            if (j >= n || t[j] != '=') return fail(r, j, "attribute %s without a value", an);
            j++;
            while (j < n && isspace((unsigned char)t[j])) j++;
            if (j >= n || (t[j] != '"' && t[j] != '\'')) return fail(r, j, "attribute %s not quoted", an);
            char q = t[j++];
            while (j < n && t[j] != q) {
                if (t[j] == '<') return fail(r, j, "'<' in attribute %s", an);
                if (t[j] == '&') {
                    size_t l = entity(t, j, n);
                    if (!l) return fail(r, j, "bad entity in attribute %s", an);
                    j += l;
                    continue;
                }
                j++;
            }
            if (j >= n) return fail(r, as, "unterminated attribute %s", an);
            j++;
        }
        if (t[j] == '/') {
            j += 2;   /* empty element */
        } else {
            if (depth == 64) return fail(r, i, "nesting too deep");
            snprintf(stack[depth++], sizeof stack[0], "%s", name);
            j++;
        }
        i = j;
    }
    if (depth) return fail(r, n, "<%s> never closed", stack[depth - 1]);
    if (!roots) return fail(r, 0, "no root element");
    return 0;
}

int xml_count_class(const char *text, const char *cls) {
    char pat[64];
    snprintf(pat, sizeof pat, " class=\"%s\"", cls);
    int k = 0;
    for (const char *p = strstr(text, pat); p; p = strstr(p + 1, pat)) k++;
    return k;
}

int xml_check_file(const char *path, xml_report *r, char **text) {
    memset(r, 0, sizeof *r);
    if (text) *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return fail(r, 0, "cannot open %s", path);
    size_t cap = 1 << 16, n = 0, k;
    char *buf = malloc(cap);
    while (buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) return fail(r, 0, "out of memory");
    buf[n] = 0;
    int rc = xml_check(buf, n, r);
    if (text) *text = buf;
    else free(buf);
    return rc;
}
