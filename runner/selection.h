/* selection.h — which cases a run takes (paths and filters), whether that is the whole
 * matrix, and where its results go by default.  The manifest and the run record both say
 * it, so a partial run is never mistaken for a full one. */
#ifndef BM_SELECTION_H
#define BM_SELECTION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct bm_selection {
    const char *const *paths;   /* as given on the command line, or the default folder */
    size_t npaths;
    bool default_paths;         /* no PATH was given */
    const char *const *filters; /* the -f values */
    size_t nfilters;
    bool partial;               /* a filter, or paths other than the default folder itself */
};

/* paths[0..npaths) as given (npaths 0: the default folder, default_dir[0]).  The run is
 * partial when a filter is given, or when some path is not, by realpath, the default
 * folder itself.  The arrays must outlive s. */
void selection_init(struct bm_selection *s, const char *const *paths, size_t npaths,
                    const char *const *default_dir, const char *const *filters, size_t nfilters);

/* {"paths": [...], "default_paths": b, "filters": [...], "partial": b} */
json_t *selection_json(const struct bm_selection *s);

/* "<dir>/<label>.jsonl", or "<label>.partial.jsonl" for a partial run; dir NULL or "" is
 * the current folder.  Every character of label outside [A-Za-z0-9._+-] becomes '_' (a
 * host label is not a path).  Allocated; NULL when out of memory. */
char *selection_output_path(const char *dir, const char *label, bool partial);

#endif
