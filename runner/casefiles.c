#include "casefiles.h"
#include "diag.h"
#include "text.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CASE_FILE "case.yaml"

struct found {
    char **paths;
    char **bases;   /* the command-line folder each was found under */
    size_t n, cap;
    /* folders walked so far: a symlink back to one (a loop, or a second way in) is not
     * walked again, which would read one scenario once per way round the loop */
    struct seen { dev_t dev; ino_t ino; } *seen;
    size_t nseen;
};

/* 1 if the folder st was walked already, else records it: 0, or -1 when out of memory. */
static int seen_before(struct found *f, const struct stat *st)
{
    struct seen *s;

    for (size_t i = 0; i < f->nseen; i++)
        if (f->seen[i].dev == st->st_dev && f->seen[i].ino == st->st_ino)
            return 1;
    if (!(s = realloc(f->seen, (f->nseen + 1) * sizeof *s)))
        return -1;
    f->seen = s;
    s[f->nseen].dev = st->st_dev;
    s[f->nseen++].ino = st->st_ino;
    return 0;
}

static int add_found(struct found *f, const char *path, const char *base)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 32;
        char **p = realloc(f->paths, cap * sizeof *p), **b;
        if (!p)
            return -1;
        f->paths = p;
        b = realloc(f->bases, cap * sizeof *b);
        if (!b)
            return -1;
        f->bases = b;
        f->cap = cap;
    }
    f->paths[f->n] = strdup(path);
    f->bases[f->n] = strdup(base);
    if (!f->paths[f->n] || !f->bases[f->n])
        return -1;
    f->n++;
    return 0;
}

/* A case file's path is part of its id and of the results, which are text: one whose
 * folders' names are not UTF-8 is refused (jansson made no string of it, and the field went
 * missing), named with '?' for each bad byte.  false with err set. */
static bool utf8_path(const char *path, struct bm_error *err)
{
    size_t len = strlen(path), bad = bm_utf8_bad_at((const unsigned char *)path, len);
    char shown[PATH_MAX];

    if (bad == len)
        return true;
    bm_copy(shown, sizeof shown, path);     /* fits: walk made path in PATH_MAX */
    bm_utf8_mark_bad((unsigned char *)shown, bad, len);
    bm_fail(err, shown, 0, "", "a folder's name is not UTF-8 text (byte %zu): case ids and "
            "results hold it as text", bad + 1);
    return false;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(const char *dir, const char *base, struct found *f, struct bm_error *err)
{
    DIR *d;
    struct dirent *e;
    struct stat self;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0, seen;

    if (stat(dir, &self) != 0)
        return bm_fail(err, dir, 0, "", "cannot read folder: %s", strerror(errno));
    if ((seen = seen_before(f, &self)) != 0)
        return seen < 0 ? bm_fail(err, dir, 0, "", "out of memory") : 0;
    d = opendir(dir);
    if (!d)
        return bm_fail(err, dir, 0, "", "cannot read folder: %s", strerror(errno));
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = bm_fail(err, dir, 0, "", "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = bm_fail(err, dir, 0, "", "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (names)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[PATH_MAX];
        struct stat st;

        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path) {
            rc = bm_fail(err, dir, 0, "", "'%s/%.20s...' is longer than %d characters", dir,
                         names[i], PATH_MAX - 1);
            break;
        }
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            rc = walk(path, base, f, err);
        else if (strcmp(names[i], "case.yml") == 0)    /* a typo, whose cases never ran */
            rc = bm_fail(err, path, 0, "", "case files are named %s: this one would not be read",
                         CASE_FILE);
        else if (strcmp(names[i], CASE_FILE) == 0 && !utf8_path(path, err))
            rc = -1;
        else if (strcmp(names[i], CASE_FILE) == 0 && add_found(f, path, base))
            rc = bm_fail(err, path, 0, "", "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* Strips trailing slashes and "./" so ids do not depend on how a path was typed; -1 when
 * the path does not fit out. */
static int tidy(const char *in, char *out, size_t len)
{
    size_t j = 0;

    while (in[0] == '.' && in[1] == '/')
        in += 2;
    /* "cases//tcp" and "cases/tcp" are one folder */
    for (; *in; in++) {
        if (*in == '/' && j > 0 && out[j - 1] == '/')
            continue;
        if (j + 1 >= len)
            return -1;
        out[j++] = *in;
    }
    out[j] = '\0';
    while (j > 1 && out[j - 1] == '/')
        out[--j] = '\0';
    return 0;
}

int casefiles_scenario(const char *case_file, const char *base, const char *root, char *out,
                       size_t len)
{
    char dir[PATH_MAX], anchor[PATH_MAX] = "";
    char *slash;

    if (tidy(case_file, dir, sizeof dir))
        return -2;
    slash = strrchr(dir, '/');
    if (!slash)
        return -1; /* a bare case.yaml has no folder to be named after */
    *slash = '\0';
    if (root) {
        if (tidy(root, anchor, sizeof anchor))
            return -2;
    } else {
        /* nearest ancestor folder named "cases" */
        const char *hit = NULL;
        for (const char *q = dir; (q = strstr(q, "cases/")) != NULL; q++)
            if (q == dir || q[-1] == '/')
                hit = q;
        if (hit)
            snprintf(anchor, sizeof anchor, "%.*s", (int)(hit - dir) + 5, dir);
        if (!anchor[0] && base && tidy(base, anchor, sizeof anchor))
            return -2;
    }
    if (anchor[0] && strncmp(dir, anchor, strlen(anchor)) == 0 && dir[strlen(anchor)] == '/')
        slash = dir + strlen(anchor);
    else
        slash = strrchr(dir, '/');
    return snprintf(out, len, "%s", slash ? slash + 1 : dir) < (int)len ? 0 : -2;
}

struct named {
    const char *id;         /* first member: sorted by_name */
    size_t index;
};

static int check_unique(const struct bm_case_list *list, struct bm_error *err)
{
    struct named *sorted = malloc((list->n ? list->n : 1) * sizeof *sorted);
    int rc = 0;

    if (!sorted)
        return bm_fail(err, "", 0, "", "out of memory");
    for (size_t i = 0; i < list->n; i++)
        sorted[i] = (struct named){case_list_id(list, i), i};
    qsort(sorted, list->n, sizeof *sorted, by_name);
    for (size_t i = 1; i < list->n && rc == 0; i++)
        if (strcmp(sorted[i].id, sorted[i - 1].id) == 0)
            rc = bm_fail(err, case_list_file(list, sorted[i].index), 0, "",
                         "case id '%s' also comes from %s", sorted[i].id,
                         case_list_file(list, sorted[i - 1].index));
    free(sorted);
    return rc;
}

int casefiles_load(const char *const *paths, size_t npaths, const char *root,
                   struct bm_case_list *list, struct bm_error *err)
{
    struct found f = {0};
    struct bm_template *templates = NULL;
    size_t total = 0;
    int rc = 0;

    for (size_t i = 0; i < npaths && rc == 0; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0)
            rc = bm_fail(err, paths[i], 0, "", "cannot read: %s", strerror(errno));
        else if (S_ISDIR(st.st_mode))
            rc = walk(paths[i], paths[i], &f, err);
        else if (add_found(&f, paths[i], "."))
            rc = bm_fail(err, paths[i], 0, "", "out of memory");
    }
    if (rc == 0 && f.n == 0)
        rc = bm_fail(err, npaths ? paths[0] : "", 0, "", "no %s files found", CASE_FILE);
    /* every file parsed and counted before any case is built: a run over the limit is
     * refused before it allocates */
    if (rc == 0 && !(templates = calloc(f.n, sizeof *templates)))
        rc = bm_fail(err, "", 0, "", "out of memory");
    for (size_t i = 0; i < f.n && rc == 0; i++) {
        char scenario[PATH_MAX];
        int found = casefiles_scenario(f.paths[i], f.bases[i], root, scenario, sizeof scenario);
        size_t n;

        if (found == -1)
            rc = bm_fail(err, f.paths[i], 0, "", "a case file must sit in its scenario's folder");
        else if (found)
            rc = bm_fail(err, f.paths[i], 0, "", "a path (or --root) is longer than %d characters",
                         PATH_MAX - 1);
        else if (case_parse_file(f.paths[i], scenario, &templates[i], err) ||
                 expand_count(&templates[i], &n, err))
            rc = -1;
        else if ((total += n) > BM_MAX_CASES_PER_RUN)
            rc = bm_fail(err, f.paths[i], 0, "", "more than %d cases in one run with this file "
                         "(the limit for a run)", BM_MAX_CASES_PER_RUN);
    }
    /* every case will be built: room for all at once (with --filter, far fewer are) */
    if (rc == 0 && !list->nfilters && case_list_reserve(list, list->n + total))
        rc = bm_fail(err, "", 0, "", "out of memory");
    for (size_t i = 0; i < f.n && rc == 0; i++)
        rc = expand_template(&templates[i], list, err);
    if (rc == 0 && list->lazy && !list->templates) {
        /* its cases point into them */
        list->templates = templates;
        list->ntemplates = f.n;
        templates = NULL;
    }
    for (size_t i = 0; templates && i < f.n; i++)
        case_template_free(&templates[i]); /* zeroed when never parsed */
    free(templates);
    if (rc == 0)
        rc = check_unique(list, err);
    for (size_t i = 0; i < f.n; i++) {
        free(f.paths[i]);
        free(f.bases[i]);
    }
    free(f.paths);
    free(f.bases);
    free(f.seen);
    return rc;
}
