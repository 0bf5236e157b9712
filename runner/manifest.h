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
 * built, written and dropped in turn (a lazy list's memory does not grow with the number of
 * cases, and neither does the manifest's).  With output non-NULL (a run's --manifest-out) it
 * also says where the results and the evidence (NULL: none) will be written.  hash_out gets
 * the case-set hash.  0, or -1 with errno set. */
int manifest_stream(FILE *f, const struct bm_case_list *list, const struct bm_selection *sel,
                    const char *output, const char *evidence, char hash_out[BM_HASH_LEN]);
/* The same, a few cases at a time (a run writes its manifest while its workers run):
 * begin writes what comes before the cases, more writes up to n more (1: all written, 0:
 * more to do, -1: failed, errno set), finish writes the rest and what follows, and frees
 * the writer's state (0 or -1).  After a failure only finish may follow. */
struct bm_manifest_writer {
    FILE *f;
    const struct bm_case_list *list;
    size_t next;
    json_t *scenarios, *scen;
    const char *scen_file;
    uint64_t h;
    bool ok;
};
int manifest_begin(struct bm_manifest_writer *w, FILE *f, const struct bm_case_list *list,
                   const struct bm_selection *sel, const char *output, const char *evidence);
int manifest_more(struct bm_manifest_writer *w, size_t n);
int manifest_finish(struct bm_manifest_writer *w, char hash_out[BM_HASH_LEN]);
/* The same manifest as a JSON value (made by manifest_stream: one way of writing it); NULL
 * when out of memory. */
json_t *manifest_json(const struct bm_case_list *list, const struct bm_selection *sel,
                      const char *output, const char *evidence);

/* The manifest as one line of JSON and a newline on f; 0, or -1 with errno set. */
int manifest_print(FILE *f, const json_t *m);

/* Writes m to path atomically (atomic.h).  0, or -1 with errno set. */
int manifest_write(const char *path, const json_t *m);

#endif
