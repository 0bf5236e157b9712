/* casefiles.h — find the case.yaml files under the given paths and expand them all. */
#ifndef BM_CASEFILES_H
#define BM_CASEFILES_H

#include "expand.h"

/* Each path is a case.yaml or a folder searched recursively for case.yaml files (in sorted
 * order, so the case order is the same on every host).  A scenario id is the case file's
 * folder relative to `root`, or, when root is NULL, to the nearest ancestor folder named
 * "cases" (failing that, to the folder given on the command line). */
int casefiles_load(const char *const *paths, size_t npaths, const char *root,
                   struct bm_case_list *list, struct bm_error *err);

/* The scenario id for a case.yaml path (exposed for tests): 0, -1 when the file sits in no
 * folder, -2 when a path or the id does not fit. */
int casefiles_scenario(const char *case_file, const char *base, const char *root, char *out,
                       size_t len);

#endif
