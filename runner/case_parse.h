/* case_parse.h — read one case.yaml into a template: the YAML tree plus its matrix axes.
 *
 * The template keeps the libyaml document so that expansion can substitute "$axis" values
 * node by node and still report errors at the line where the value was written.
 */
#ifndef BM_CASE_PARSE_H
#define BM_CASE_PARSE_H

#include "diag.h"
#include "model.h"

#include <yaml.h>

#define BM_MAX_VALUES 32

/* Limits on what a case file may ask of the parser (cases/README.md, "Limits"): each is
 * refused with an error naming it, never cut short. */
#define BM_MAX_FILE_BYTES (1L << 20) /* a case file is read whole */
#define BM_MAX_DEPTH      64         /* nesting of mappings and lists */
#define BM_MAX_NODES      10000      /* YAML nodes, an alias counting as the nodes it copies */

struct bm_axis {
    char name[BM_NAME_LEN];
    size_t nvalues;
    char values[BM_MAX_VALUES][BM_NAME_LEN];
    int line;
};

/* The template's strings are allocated: no path or prose is ever cut short. */
struct bm_template {
    char *file;
    char *scenario;               /* folder of case.yaml relative to the cases root */
    yaml_document_t doc;
    char *title, *ref;
    char *why;                    /* "" when absent */
    bool capture;                 /* capture: true */
    /* node ids in doc (0 when the key is absent) */
    int axes_node, sysctl_node, sockets_node, steps_node, exclude_node, derive_node;
    size_t naxes;
    struct bm_axis axes[BM_MAX_AXES]; /* the matrix, in written order */
};

/* Parses path; scenario is the id prefix for its cases.  Returns 0, or -1 with err set. */
int case_parse_file(const char *path, const char *scenario, struct bm_template *t,
                    struct bm_error *err);
/* Same, from a string (used by tests); `file` is only used in messages. */
int case_parse_string(const char *text, const char *file, const char *scenario,
                      struct bm_template *t, struct bm_error *err);
void case_template_free(struct bm_template *t);

/* Small accessors over the template's YAML tree, shared with case_build. */
yaml_node_t *yaml_node(const struct bm_template *t, int id);
yaml_node_t *map_get(const struct bm_template *t, yaml_node_t *map, const char *key);
int node_line(const yaml_node_t *n);
/* map's values in one pass: out[i] is the value of names[i] (NULL-terminated), NULL when
 * absent.  false when a key is not one of names or not a plain name: map_check_keys then
 * says which (the lookups stay one pass; the message is made only for the error). */
bool map_collect(const struct bm_template *t, yaml_node_t *map, const char *const *names,
                 yaml_node_t **out);
/* names (NULL-terminated) as "a, b, c" in out, for a message. */
void names_text(char *out, size_t len, const char *const *names);
/* Fails naming the first key of map that is not in allowed (NULL-terminated). */
int map_check_keys(const struct bm_template *t, yaml_node_t *map, const char *where,
                   const char *const *allowed, struct bm_error *err);
/* The key of a mapping pair as a name: it must be a plain scalar ("keys must be plain
 * names", so `? [a]` is refused) of at most max characters (0: any length).  Fails naming
 * field where at the key's line. */
int pair_key(const struct bm_template *t, const yaml_node_pair_t *p, const char *where,
             size_t max, const char **out, struct bm_error *err);
/* Fails with "'<start>...' is longer than max characters" when s does not fit a buffer
 * of max + 1 bytes: values are refused, never cut. */
int check_len(const struct bm_template *t, const yaml_node_t *n, const char *field,
              const char *s, size_t max, struct bm_error *err);

/* A decimal integer in [lo, hi], the whole of s: 0, or -1 (not a number, or out of range:
 * never narrowed, so "4294967297" is refused rather than read as 1). */
int parse_long(const char *s, long lo, long hi, long *out);

#endif
