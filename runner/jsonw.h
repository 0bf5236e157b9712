/* jsonw.h — JSON text written straight into a growing buffer, for the two texts the runner
 * writes for every case (its result line, its manifest entry): the bytes jansson's
 * json_dumps gives for the same tree, without building the tree (a third of the runner's
 * time went to building, dumping and freeing those trees).  test_jsonw.c holds every case
 * of cases/ to jansson's text, and the fuzz target does for every case it parses. */
#ifndef BM_JSONW_H
#define BM_JSONW_H

#include "model.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct bm_jw {
    char *s;
    size_t len, cap;
    bool ascii;             /* non-ASCII as \uXXXX (jansson's JSON_ENSURE_ASCII) */
    bool failed;            /* out of memory: jw_finish says so */
};

void jw_init(struct bm_jw *w, bool ascii);
void jw_put(struct bm_jw *w, const char *p, size_t n);  /* n bytes, as they are */
/* A string, quoted and escaped as jansson escapes it; a byte that is not valid UTF-8
 * becomes '?' first, as bm_json_text makes it. */
void jw_str(struct bm_jw *w, const char *s);
void jw_int(struct bm_jw *w, long long v);

/* Punctuation and names, as they are.  Inline, as the two below: most are literals, whose
 * length is known where they are written (a call to strlen for each was a tenth of the
 * parent's time, which writes a manifest entry per case). */
static inline void jw_raw(struct bm_jw *w, const char *text)
{
    jw_put(w, text, strlen(text));
}

/* A word of the runner's own vocabulary (names.h: an op, a state, a family...), quoted as
 * it is: test_jsonw.c holds every such word to having nothing to escape or check. */
static inline void jw_word(struct bm_jw *w, const char *word)
{
    jw_put(w, "\"", 1);
    jw_raw(w, word);
    jw_put(w, "\"", 1);
}

/* ,"name": and, when text is not NULL, text as a string (or a word): a member after the
 * first. */
static inline void jw_member(struct bm_jw *w, const char *name, const char *text)
{
    jw_put(w, ",\"", 2);
    jw_raw(w, name);
    jw_put(w, "\":", 2);
    if (text)
        jw_str(w, text);
}

static inline void jw_member_word(struct bm_jw *w, const char *name, const char *word)
{
    jw_member(w, name, NULL);
    jw_word(w, word);
}
/* An object of key/value pairs, a key given twice holding its first place and last value as
 * in a jansson object; sorted by key (JSON_SORT_KEYS) or in their order. */
void jw_kv(struct bm_jw *w, const struct bm_kv *kv, size_t n, bool sorted);
/* The text (the caller frees it), or NULL when memory ran out. */
char *jw_finish(struct bm_jw *w);

#endif
