/* case_build.h — turn a template plus one set of axis values into a concrete bm_case. */
#ifndef BM_CASE_BUILD_H
#define BM_CASE_BUILD_H

#include "case_parse.h"

/* Variables visible as "$name": matrix coordinates and what `derive` defines from them.
 * Names and values point into the template (its axes, its YAML document), which outlives
 * every binding made from it: setting one copies nothing (it runs for every axis of every
 * case, three times). */
struct bm_binding {
    size_t n;
    struct { const char *key, *value; } vars[BM_MAX_AXES * 4];
};

const char *binding_get(const struct bm_binding *b, const char *name);
int binding_set(struct bm_binding *b, const char *name, const char *value);

/* Fills c from t under b, except what expand sets: id, matrix axes and the shared strings
 * (scenario, file, title, ref, why). */
int case_build(const struct bm_template *t, const struct bm_binding *b, struct bm_case *c,
               struct bm_error *err);

#endif
