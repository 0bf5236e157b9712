/* expand.h — the matrix of a template as a list of concrete cases with stable ids. */
#ifndef BM_EXPAND_H
#define BM_EXPAND_H

#include "case_parse.h"

/* A growable array of cases. */
struct bm_case_list {
    struct bm_case *items;
    size_t n, cap;
    char **strings;         /* file, title and ref of each template, shared by its cases */
    size_t nstrings;
};

/* Appends every case of t (the product of its matrix, less `exclude`) to list.
 * Ids are "<scenario>[axis=value,...]" in the order the axes are written. */
int expand_template(const struct bm_template *t, struct bm_case_list *list, struct bm_error *err);

/* Parses and expands one case file. */
int expand_file(const char *path, const char *scenario, struct bm_case_list *list,
                struct bm_error *err);

void case_list_free(struct bm_case_list *list);

#endif
