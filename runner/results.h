/* results.h — the JSON Lines results file: run record, one line per case, end record.
 * The schema is harness/schema/results-1.schema.json; bump BM_RESULTS_SCHEMA on any
 * incompatible change. */
#ifndef BM_RESULTS_H
#define BM_RESULTS_H

#include "model.h"

#include <jansson.h>

#define BM_RESULTS_SCHEMA 1

/* s as a JSON string, never NULL but when out of memory: json_string gives NULL for invalid
 * UTF-8 (json_object_set_new would then drop the key without a word), so a byte that is not
 * UTF-8 (a runtime message cut mid-character) becomes '?'.  Case files are checked already. */
json_t *bm_json_text(const char *s);

/* {key: value, ...} of n pairs (axes, sysctls), each value as bm_json_text makes it. */
json_t *bm_json_kv(const struct bm_kv *kv, size_t n);

/* A case's packet evidence: its pcap (relative to the results' folder) and what it holds. */
struct bm_evidence {
    const char *path;
    const char *note;
};

/* One case as a compact JSON line (no newline), with its evidence when ev is not NULL; the
 * caller frees it. */
char *results_case_line(const struct bm_case *c, const struct bm_outcome *o,
                        const struct bm_evidence *ev);

/* A case that never ran to its end (worker crashed or timed out), as an `error` line. */
char *results_error_line(const struct bm_case *c, const char *reason);

/* The k-th line results_write writes; NULL on a failure (errno set). */
typedef const char *(*bm_line_fn)(void *ctx, size_t k);

/* Writes run record, line(ctx, 0..n) and an end record (counts: observed, skipped, error) to
 * path atomically (atomic.h: a temporary file renamed at the end, so a reader never sees
 * half a file; straight to a device, FIFO or /dev/stdout).  Returns 0 or -1 with errno set. */
int results_write(const char *path, json_t *run, bm_line_fn line, void *ctx, size_t n,
                  const long counts[3], long duration_ms, json_t *phases);
/* phases (may be NULL): the end record's "phases_ms", {load, cases, evidence, write}; the
 * write phase is measured here and added.  results_write takes the reference. */
/* The same, calling then(then_ctx) once every line is written and before the file takes
 * its name (a run's manifest goes first, while the results are written out); a failure
 * there (-1, errno set) leaves the file as it was. */
int results_write_then(const char *path, json_t *run, bm_line_fn line, void *ctx, size_t n,
                       const long counts[3], long duration_ms, json_t *phases,
                       int (*then)(void *), void *then_ctx);

#endif
