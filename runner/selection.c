#include "selection.h"
#include "diag.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Is path the folder dir itself (symlinks, "./" and trailing slashes resolved)? */
static bool same_folder(const char *path, const char *dir)
{
    char a[PATH_MAX], b[PATH_MAX];
    return realpath(path, a) && realpath(dir, b) && strcmp(a, b) == 0;
}

void selection_init(struct bm_selection *s, const char *const *paths, size_t npaths,
                    const char *const *default_dir, const char *const *filters, size_t nfilters)
{
    s->default_paths = npaths == 0;
    s->paths = npaths ? paths : default_dir;
    s->npaths = npaths ? npaths : 1;
    s->filters = filters;
    s->nfilters = nfilters;
    s->partial = nfilters > 0;
    for (size_t i = 0; i < npaths && !s->partial; i++)
        s->partial = !same_folder(paths[i], default_dir[0]);
}

static json_t *strings(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *selection_json(const struct bm_selection *s)
{
    json_t *o = json_object();

    json_object_set_new(o, "paths", strings(s->paths, s->npaths));
    json_object_set_new(o, "default_paths", json_boolean(s->default_paths));
    json_object_set_new(o, "filters", strings(s->filters, s->nfilters));
    json_object_set_new(o, "partial", json_boolean(s->partial));
    return o;
}

char *selection_output_path(const char *dir, const char *label, bool partial)
{
    size_t dlen = dir ? strlen(dir) : 0;
    char *safe = bm_strf("%s", label), *path;

    if (!safe)
        return NULL;
    for (char *p = safe; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-", *p))
            *p = '_';
    path = bm_strf("%s%s%s%s.jsonl", dlen ? dir : "", dlen && dir[dlen - 1] != '/' ? "/" : "",
                   safe, partial ? ".partial" : "");
    free(safe);
    return path;
}
