/* expand.h — the matrix of a template as a list of concrete cases with stable ids. */
#ifndef BM_EXPAND_H
#define BM_EXPAND_H

#include "case_parse.h"

struct bm_case_ref;

/* A growable array of cases.  A lazy list (`lazy` set before expanding) checks every case
 * as it expands it, then keeps only its template and coordinates (struct bm_case_ref) and
 * builds it again when asked (case_list_get): a run's memory does not grow by a whole case
 * (about 12 KB) per case. */
struct bm_case_list {
    struct bm_case *items;  /* the cases (NULL in a lazy list: case_list_get) */
    size_t n, cap;
    char **strings;         /* file, title and ref of each template, shared by its cases */
    size_t nstrings;
    /* set before expanding (optional): only cases whose id contains one of these are
     * built (--filter); the others cost their id, not a case */
    const char *const *filters;
    size_t nfilters;
    bool lazy;
    /* a lazy list whose cases are not built to be checked as they are expanded: a run's
     * manifest, which builds every case in order anyway, checks them (main.c); no on_case */
    bool unchecked;
    /* optional: called with every case as it is expanded, in list order */
    void (*on_case)(void *ctx, const struct bm_case *c);
    void *on_case_ctx;
    struct bm_case_ref *refs;
    struct bm_template *templates; /* a lazy list's, owned: its refs point into them */
    size_t ntemplates;
};

/* Case i: &items[i], or built into scratch (a lazy list); NULL only if building fails,
 * which cannot happen for a case that expanded checked (not `unchecked`). */
const struct bm_case *case_list_get(const struct bm_case_list *list, size_t i,
                                    struct bm_case *scratch);
/* The same, saying in err why case i does not build (file, line, field). */
const struct bm_case *case_list_build(const struct bm_case_list *list, size_t i,
                                      struct bm_case *scratch, struct bm_error *err);
/* Case i's id and case file without building it. */
const char *case_list_id(const struct bm_case_list *list, size_t i);
const char *case_list_file(const struct bm_case_list *list, size_t i);
/* Whether case i asked for packet evidence (capture: true), without building it. */
bool case_list_capture(const struct bm_case_list *list, size_t i);

/* Limits (cases/README.md, "Limits"), checked before anything is allocated for the cases:
 * the product of one matrix (before exclude: the expansion walks all of it) and the cases
 * of one run. */
#define BM_MAX_CASES_PER_SCENARIO 20000
#define BM_MAX_CASES_PER_RUN      200000

/* Checks t's derive, exclude, when and matrix size, and counts its cases (the product less
 * exclude) without building any.  0, or -1 with err set. */
int expand_count(const struct bm_template *t, size_t *n, struct bm_error *err);

/* Appends every case of t (the product of its matrix, less `exclude`) to list.
 * Ids are "<scenario>[axis=value,...]" in the order the axes are written. */
int expand_template(const struct bm_template *t, struct bm_case_list *list, struct bm_error *err);

/* Parses and expands one case file. */
int expand_file(const char *path, const char *scenario, struct bm_case_list *list,
                struct bm_error *err);

/* Room for n cases in all (counted first with expand_count: no doubling past the need). */
int case_list_reserve(struct bm_case_list *list, size_t n);

void case_list_free(struct bm_case_list *list);

#endif
