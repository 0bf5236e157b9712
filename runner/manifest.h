/* manifest.h — every selected case as data, without running anything: what a run will do
 * (its sockets, steps, symbolic addresses and port placeholders), the words the results may
 * hold, and a hash that names the case set.  Schema: harness/schema/manifest-1.schema.json. */
#ifndef BM_MANIFEST_H
#define BM_MANIFEST_H

#include "model.h"

#include <stdint.h>
#include "expand.h"
#include "selection.h"

#include <jansson.h>

#define BM_MANIFEST_SCHEMA 1
#define BM_HASH_LEN 25 /* "fnv1a64:" + 16 hex digits + NUL */

/* One case as JSON text, compact, its keys sorted, not ASCII-escaped (what jansson's
 * JSON_COMPACT | JSON_SORT_KEYS gives): id, scenario, axes, sysctl, capture, sockets, steps
 * (each step with its case-file "line" when lines is true; the manifest itself gives the
 * lines as the case's step_lines).  The caller frees it; NULL when memory ran out. */
char *manifest_case_text(const struct bm_case *c, bool lines);

/* FNV-1a 64 over each case's manifest_case_text(c, false), each followed by "\n"; so the hash changes with what the cases do,
 * not with where they are written in their files.  out: "fnv1a64:<16 hex>". */
void manifest_case_set_hash(const struct bm_case *cases, size_t n, char out[BM_HASH_LEN]);
/* The same hash made case by case, as the cases are expanded (nothing kept in between). */
struct bm_case_hash {
    uint64_t h;
    bool failed;
};
void manifest_hash_init(struct bm_case_hash *hash);
void manifest_hash_add(struct bm_case_hash *hash, const struct bm_case *c);
int manifest_hash_end(const struct bm_case_hash *hash, char out[BM_HASH_LEN]); /* 0 or -1 */

/* The manifest of the list's cases as one line of JSON and a newline on f: each case is
 * built, collected and dropped in turn (a lazy list's memory does not grow with the number
 * of cases, and neither does the manifest's).  With output non-NULL (a run's --manifest-out)
 * it also says where the results and the evidence (NULL: none) will be written.  hash_out
 * gets the case-set hash.  0, or -1 with errno set. */
int manifest_stream(FILE *f, const struct bm_case_list *list, const struct bm_selection *sel,
                    const char *output, const char *evidence, char hash_out[BM_HASH_LEN]);

/* The same in parts: the cases are collected as they are expanded (the list's on_case: each
 * case is built once, to be checked, and its text written then) or afterwards from the list,
 * and the manifest written at the end:
 *   manifest_collect_init   before expanding; body is where the cases' text goes (a scratch
 *                           file: the memory held does not grow with the number of cases)
 *   manifest_collect        the list's on_case, ctx the collector
 *   manifest_emit           the whole manifest on f: what comes before the cases, the cases,
 *                           what follows; 0, or -1 with errno set (also when a case could
 *                           not be collected)
 *   manifest_collect_free   frees what the collector holds (after emit, or instead of it). */
struct bm_manifest_collector {
    FILE *body;             /* the cases' text, comma-separated (not owned) */
    size_t n;               /* cases collected */
    json_t *scenarios, *scen;
    const char *scen_file;
    struct bm_case_hash hash;
    int failed;             /* errno of the first failure, or 0 */
    char *unbuilt;          /* why a case did not build (file, line, field), or NULL: an
                               unchecked list's (expand.h) is checked here; failed is EINVAL */
    bool headed;            /* manifest_begin wrote what comes before the cases in body */
};
void manifest_collect_init(struct bm_manifest_collector *m, FILE *body);
void manifest_collect(void *collector, const struct bm_case *c);
/* Or from a list that is expanded already: builds and collects its cases *next.. up to n of
 * them, advancing *next (a run does it in its idle moments, while its workers run).  1:
 * all collected, 0: more to do, -1: failed (manifest_emit says why). */
int manifest_collect_more(struct bm_manifest_collector *m, const struct bm_case_list *list,
                          size_t *next, size_t n);
int manifest_emit(struct bm_manifest_collector *m, FILE *f, const struct bm_selection *sel,
                  const char *output, const char *evidence, char hash_out[BM_HASH_LEN]);
void manifest_collect_free(struct bm_manifest_collector *m);
/* Or the whole manifest in body, which then needs no copy (a run's --manifest-out: body is
 * published as the file, atomic_publish): manifest_begin before the first case is collected
 * writes what comes before the cases there, manifest_finish after the last what follows
 * them (and makes the hash).  0, or -1 with errno set, as manifest_emit. */
int manifest_begin(struct bm_manifest_collector *m, const struct bm_selection *sel,
                   const char *output, const char *evidence);
int manifest_finish(struct bm_manifest_collector *m, char hash_out[BM_HASH_LEN]);

/* The same manifest as a JSON value (made by manifest_stream: one way of writing it); NULL
 * when out of memory. */
json_t *manifest_json(const struct bm_case_list *list, const struct bm_selection *sel,
                      const char *output, const char *evidence);

/* The manifest as one line of JSON and a newline on f; 0, or -1 with errno set. */
int manifest_print(FILE *f, const json_t *m);

/* Writes m to path atomically (atomic.h).  0, or -1 with errno set. */
int manifest_write(const char *path, const json_t *m);

#endif
