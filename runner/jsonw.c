#include "jsonw.h"
#include "diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(struct bm_jw *w, bool ascii)
{
    memset(w, 0, sizeof *w);
    w->ascii = ascii;
}

void jw_put(struct bm_jw *w, const char *p, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 1024;
        char *s;
        while (w->len + n + 1 > cap)
            cap *= 2;
        if (!(s = realloc(w->s, cap))) {
            w->failed = true;
            return;
        }
        w->s = s;
        w->cap = cap;
    }
    memcpy(w->s + w->len, p, n);
    w->len += n;
    w->s[w->len] = '\0';
}

void jw_int(struct bm_jw *w, long long v)
{
    char n[24];
    jw_put(w, n, (size_t)snprintf(n, sizeof n, "%lld", v));
}

static void hex4(struct bm_jw *w, unsigned v)
{
    char u[8];
    jw_put(w, u, (size_t)snprintf(u, sizeof u, "\\u%04X", v & 0xFFFFu));
}

/* s[0..len) is valid UTF-8 here */
static void escaped(struct bm_jw *w, const unsigned char *s, size_t len)
{
    size_t run = 0;     /* bytes written as they are, pending */

    for (size_t i = 0; i < len; i++) {
        unsigned c = s[i];
        const char *esc = NULL;

        if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || !w->ascii)) {
            run++;
            continue;
        }
        jw_put(w, (const char *)s + i - run, run);
        run = 0;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        }
        if (esc) {
            jw_raw(w, esc);
        } else if (c < 0x80) {
            hex4(w, c);
        } else {        /* a code point, as UTF-16 */
            unsigned n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
            unsigned long cp = c & (0x3Fu >> n);
            for (unsigned k = 1; k <= n; k++)
                cp = cp << 6 | (s[i + k] & 0x3Fu);
            i += n;
            if (cp < 0x10000) {
                hex4(w, (unsigned)cp);
            } else {
                cp -= 0x10000;
                hex4(w, 0xD800u | (unsigned)(cp >> 10));
                hex4(w, 0xDC00u | (unsigned)(cp & 0x3FF));
            }
        }
    }
    jw_put(w, (const char *)s + len - run, run);
}

void jw_str(struct bm_jw *w, const char *s)
{
    size_t len = strlen(s), bad = bm_utf8_bad_at((const unsigned char *)s, len);

    jw_put(w, "\"", 1);
    if (bad == len) {
        escaped(w, (const unsigned char *)s, len);
    } else {
        unsigned char *copy = (unsigned char *)strdup(s);
        if (!copy) {
            w->failed = true;
            return;
        }
        bm_utf8_mark_bad(copy, bad, len);
        escaped(w, copy, len);
        free(copy);
    }
    jw_put(w, "\"", 1);
}

void jw_kv(struct bm_jw *w, const struct bm_kv *kv, size_t n, bool sorted)
{
    size_t order[64], m = 0;

    if (n > sizeof order / sizeof order[0]) {   /* more than a case ever holds */
        w->failed = true;
        return;
    }
    /* each key once, where it first came */
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < m && strcmp(kv[order[j]].key, kv[i].key) != 0)
            j++;
        if (j == m)
            order[m++] = i;
    }
    if (sorted)
        for (size_t i = 1; i < m; i++)
            for (size_t j = i; j > 0 && strcmp(kv[order[j - 1]].key, kv[order[j]].key) > 0; j--) {
                size_t t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
    jw_put(w, "{", 1);
    for (size_t i = 0; i < m; i++) {
        size_t last = order[i];
        for (size_t j = last + 1; j < n; j++)   /* its last value */
            if (strcmp(kv[j].key, kv[order[i]].key) == 0)
                last = j;
        if (i)
            jw_put(w, ",", 1);
        jw_str(w, kv[order[i]].key);
        jw_put(w, ":", 1);
        jw_str(w, kv[last].value);
    }
    jw_put(w, "}", 1);
}

char *jw_finish(struct bm_jw *w)
{
    if (w->failed) {
        free(w->s);
        w->s = NULL;
        return NULL;
    }
    if (!w->s)
        jw_put(w, "", 0);
    return w->s;
}
