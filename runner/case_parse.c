#include "case_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

yaml_node_t *yaml_node(const struct bm_template *t, int id)
{
    return id ? yaml_document_get_node((yaml_document_t *)&t->doc, id) : NULL;
}

int node_line(const yaml_node_t *n)
{
    return n ? (int)n->start_mark.line + 1 : 0;
}

yaml_node_t *map_get(const struct bm_template *t, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_node(t, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_node(t, p->value);
    }
    return NULL;
}

int pair_key(const struct bm_template *t, const yaml_node_pair_t *p, const char *where,
             size_t max, const char **out, struct bm_error *err)
{
    yaml_node_t *k = yaml_node(t, p->key);

    if (!k || k->type != YAML_SCALAR_NODE)
        return bm_fail(err, t->file, node_line(k), where, "keys must be plain names");
    *out = (const char *)k->data.scalar.value;
    return max ? check_len(t, k, where, *out, max, err) : 0;
}

int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    if (!(*s == '-' || (*s >= '0' && *s <= '9'))) /* strtol would skip spaces and a '+' */
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (*end || errno == ERANGE || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int check_len(const struct bm_template *t, const yaml_node_t *n, const char *field,
              const char *s, size_t max, struct bm_error *err)
{
    if (strlen(s) <= max)
        return 0;
    return bm_fail(err, t->file, node_line(n), field, "'%.20s...' is longer than %zu characters",
                   s, max);
}

bool map_collect(const struct bm_template *t, yaml_node_t *map, const char *const *names,
                 yaml_node_t **out)
{
    bool all_known = true;
    size_t n = 0;

    while (names[n])
        out[n++] = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_node(t, p->key);
        size_t i = n; /* not a plain name: no slot */

        if (k && k->type == YAML_SCALAR_NODE) {
            const char *key = (const char *)k->data.scalar.value;
            /* the first letters differ for most names: strcmp only where they do not */
            for (i = 0; i < n && (names[i][0] != key[0] || strcmp(names[i], key) != 0); i++)
                ;
        }
        if (i < n)
            out[i] = yaml_node(t, p->value); /* keys are unique (check_duplicate_keys) */
        else
            all_known = false;
    }
    return all_known;
}

void names_text(char *out, size_t len, const char *const *names)
{
    out[0] = '\0';
    for (const char *const *a = names; *a; a++) {
        strncat(out, *a, len - strlen(out) - 3); /* our own short names */
        if (a[1])
            strncat(out, ", ", len - strlen(out) - 1);
    }
}

int map_check_keys(const struct bm_template *t, yaml_node_t *map, const char *where,
                   const char *const *allowed, struct bm_error *err)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        char *field;
        const char *key = NULL; /* set by pair_key() when it succeeds */
        const char *const *a;

        if (pair_key(t, p, where, 0, &key, err))
            return -1;
        for (a = allowed; *a && strcmp(*a, key) != 0; a++)
            ;
        if (*a)
            continue;
        /* the list of known keys is made only for the error: every expanded case checks */
        char known[256];
        names_text(known, sizeof known, allowed);
        field = bm_strf("%s%s%s", where, where[0] ? "." : "", key);
        bm_fail(err, t->file, node_line(yaml_node(t, p->key)), field ? field : where,
                "unknown key (known: %s)", known);
        free(field);
        return -1;
    }
    return 0;
}

/* A required or optional string at the top level, copied whole ("" when absent). */
static int top_string(struct bm_template *t, yaml_node_t *root, const char *key, bool required,
                      char **out, struct bm_error *err)
{
    yaml_node_t *n = map_get(t, root, key);

    if (!n && required)
        return bm_fail(err, t->file, 0, key, "missing (every case needs a %s)", key);
    if (n && n->type != YAML_SCALAR_NODE)
        return bm_fail(err, t->file, node_line(n), key, "must be a string");
    *out = strdup(n ? (char *)n->data.scalar.value : "");
    return *out ? 0 : bm_fail(err, t->file, 0, key, "out of memory");
}

static int node_id(const struct bm_template *t, yaml_node_t *n)
{
    return n ? (int)(n - t->doc.nodes.start) + 1 : 0;
}

static int optional_node(struct bm_template *t, yaml_node_t *root, const char *key,
                         yaml_node_type_t type, bool required, int *id, struct bm_error *err)
{
    yaml_node_t *n = map_get(t, root, key);
    static const char *const names[] = {"", "a string", "a list", "a mapping"};

    *id = 0;
    if (!n)
        return required ? bm_fail(err, t->file, 0, key, "missing") : 0;
    if (n->type != type)
        return bm_fail(err, t->file, node_line(n), key, "must be %s", names[type]);
    *id = node_id(t, n);
    return 0;
}

static int parse_matrix(struct bm_template *t, yaml_node_t *m, struct bm_error *err)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_node(t, p->key), *v = yaml_node(t, p->value);
        struct bm_axis *ax;
        const char *name;
        char field[128];

        if (pair_key(t, p, "matrix", BM_NAME_LEN - 1, &name, err))
            return -1;
        if (t->naxes == BM_MAX_AXES)
            return bm_fail(err, t->file, node_line(k), "matrix", "more than %d axes", BM_MAX_AXES);
        for (size_t a = 0; a < t->naxes; a++)
            if (strcmp(t->axes[a].name, name) == 0)
                return bm_fail(err, t->file, node_line(k), "matrix", "axis '%s' given twice", name);
        ax = &t->axes[t->naxes++];
        snprintf(ax->name, sizeof ax->name, "%s", name); /* fits: checked above */
        ax->line = node_line(k);
        snprintf(field, sizeof field, "matrix.%s", ax->name);
        if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.start == v->data.sequence.items.top)
            return bm_fail(err, t->file, node_line(v), field, "must be a non-empty list of values");
        for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
            yaml_node_t *item = yaml_node(t, *i);
            const char *s;

            if (item->type != YAML_SCALAR_NODE)
                return bm_fail(err, t->file, node_line(item), field, "values must be scalars");
            s = (char *)item->data.scalar.value;
            if (!*s || strpbrk(s, "[],= $"))
                return bm_fail(err, t->file, node_line(item), field,
                               "value '%s' must be non-empty, without spaces or any of []=,$", s);
            if (check_len(t, item, field, s, BM_NAME_LEN - 1, err))
                return -1;
            if (ax->nvalues == BM_MAX_VALUES)
                return bm_fail(err, t->file, node_line(item), field, "more than %d values", BM_MAX_VALUES);
            for (size_t j = 0; j < ax->nvalues; j++)
                if (strcmp(ax->values[j], s) == 0)
                    return bm_fail(err, t->file, node_line(item), field, "value '%s' repeated", s);
            snprintf(ax->values[ax->nvalues++], BM_NAME_LEN, "%s", s);
        }
    }
    return 0;
}


/* ---- the event pass: what the loader would build, measured before it builds it ---------
 * libyaml's loader has no depth limit (100,000 nested lists took 40 s), copies nothing for
 * an alias but lets every later walk follow it (so `&a [*a, *a]` chains grow exponentially
 * and `&a [*a]` is a cycle), silently ignores a second document, and keeps a "\0" escape as a
 * NUL that cuts every C string.  The events show all of this first, with lines. */

struct anchor {
    char *name;
    size_t size;            /* nodes in the anchored node, once it is closed */
    bool open;              /* still being read: an alias to it would be a cycle */
};

struct scan {
    const char *file;
    int depth;
    size_t nodes;           /* with aliases counted as what they copy */
    int docs;
    size_t root_items;      /* nodes directly in the root mapping: even ones are keys */
    char top[48];           /* the top-level key being read: the field errors name */
    struct { size_t start; long anchor; } open[BM_MAX_DEPTH];
    struct anchor *anchors;
    size_t nanchors;
};

static int event_line(const yaml_event_t *e)
{
    return (int)e->start_mark.line + 1;
}

/* A node begins: count it (and what an alias copies) and, directly in the root mapping,
 * note the top-level key. */
static int scan_node(struct scan *sc, const yaml_event_t *e, size_t size, struct bm_error *err)
{
    if (sc->depth == 1 && sc->root_items++ % 2 == 0)
        snprintf(sc->top, sizeof sc->top, "%s", e->type == YAML_SCALAR_EVENT ?
                 (const char *)e->data.scalar.value : "");
    if (size > BM_MAX_NODES - sc->nodes)
        return bm_fail(err, sc->file, event_line(e), sc->top,
                       "more than %d YAML nodes (an alias counts as the nodes it copies)",
                       BM_MAX_NODES);
    sc->nodes += size;
    return 0;
}

/* Registers the anchor of a node that begins; its index, -1 when none, -2 on failure. */
static long scan_anchor(struct scan *sc, const yaml_char_t *name, const yaml_event_t *e,
                        struct bm_error *err)
{
    struct anchor *a;

    if (!name)
        return -1;
    a = realloc(sc->anchors, (sc->nanchors + 1) * sizeof *a);
    if (a)
        sc->anchors = a;
    if (!a || !(a[sc->nanchors].name = strdup((const char *)name))) {
        bm_fail(err, sc->file, event_line(e), sc->top, "out of memory");
        return -2;
    }
    sc->anchors = a;
    a[sc->nanchors].size = 1;
    a[sc->nanchors].open = true;
    return (long)sc->nanchors++;
}

static int scan_alias(struct scan *sc, const yaml_event_t *e, struct bm_error *err)
{
    const char *name = (const char *)e->data.alias.anchor;

    for (size_t i = sc->nanchors; i-- > 0;) {
        if (strcmp(sc->anchors[i].name, name) != 0)
            continue;
        if (sc->anchors[i].open)
            return bm_fail(err, sc->file, event_line(e), sc->top,
                           "alias *%s is inside the node it names (a cycle)", name);
        return scan_node(sc, e, sc->anchors[i].size, err);
    }
    return bm_fail(err, sc->file, event_line(e), sc->top, "alias *%s names no anchor before it",
                   name);
}

static int scan_scalar(struct scan *sc, const yaml_event_t *e, struct bm_error *err)
{
    const unsigned char *v = e->data.scalar.value;
    size_t len = e->data.scalar.length, bad = bm_utf8_bad_at(v, len);
    long a;

    if (memchr(v, '\0', len))
        return bm_fail(err, sc->file, event_line(e), sc->top,
                       "a string holds a NUL character (\\0), which would cut it short");
    if (bad < len)
        return bm_fail(err, sc->file, event_line(e), sc->top,
                       "invalid UTF-8 (byte 0x%02x at offset %zu of a string)", v[bad], bad);
    if ((a = scan_anchor(sc, e->data.scalar.anchor, e, err)) < -1)
        return -1;
    if (a >= 0)
        sc->anchors[a].open = false;
    return scan_node(sc, e, 1, err);
}

static int scan_open(struct scan *sc, const yaml_event_t *e, const yaml_char_t *anchor,
                     struct bm_error *err)
{
    long a;

    if (sc->depth == BM_MAX_DEPTH)
        return bm_fail(err, sc->file, event_line(e), sc->top, "nested deeper than %d levels",
                       BM_MAX_DEPTH);
    if (scan_node(sc, e, 1, err) || (a = scan_anchor(sc, anchor, e, err)) < -1)
        return -1;
    sc->open[sc->depth].start = sc->nodes;
    sc->open[sc->depth++].anchor = a;
    return 0;
}

static void scan_close(struct scan *sc)
{
    long a = sc->open[--sc->depth].anchor;

    if (a >= 0) {
        sc->anchors[a].size = sc->nodes - sc->open[sc->depth].start + 1;
        sc->anchors[a].open = false;
    }
    if (sc->depth == 1)
        sc->top[0] = sc->root_items % 2 ? sc->top[0] : '\0';
}

/* libyaml's reader errors (bad UTF-8, control characters) carry a byte offset, not a mark. */
static int syntax_error(const char *file, const yaml_parser_t *parser, const char *field,
                        const unsigned char *text, size_t len, struct bm_error *err)
{
    int line = (int)parser->problem_mark.line + 1;

    if (parser->error == YAML_READER_ERROR && text) {
        line = 1;
        for (size_t i = 0; i < parser->problem_offset && i < len; i++)
            line += text[i] == '\n';
    }
    return bm_fail(err, file, line, field, "YAML syntax: %s%s%s",
                   parser->problem ? parser->problem : "error", parser->context ? " " : "",
                   parser->context ? parser->context : "");
}

/* One event pass over text: 0, or -1 with err naming the line and the top-level key. */
static int scan_text(const char *file, const unsigned char *text, size_t len,
                     struct bm_error *err)
{
    struct scan sc = {.file = file};
    yaml_parser_t parser;
    int rc = 0;
    bool done = false;

    if (!yaml_parser_initialize(&parser))
        return bm_fail(err, file, 0, "", "out of memory");
    yaml_parser_set_input_string(&parser, text, len);
    while (rc == 0 && !done) {
        yaml_event_t e;

        if (!yaml_parser_parse(&parser, &e)) {
            rc = syntax_error(file, &parser, sc.top, text, len, err);
            break;
        }
        switch (e.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (sc.docs++)
                rc = bm_fail(err, file, event_line(&e), "",
                             "a second YAML document (a case file holds one)");
            break;
        case YAML_SCALAR_EVENT: rc = scan_scalar(&sc, &e, err); break;
        case YAML_ALIAS_EVENT: rc = scan_alias(&sc, &e, err); break;
        case YAML_SEQUENCE_START_EVENT:
            rc = scan_open(&sc, &e, e.data.sequence_start.anchor, err);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = scan_open(&sc, &e, e.data.mapping_start.anchor, err);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: scan_close(&sc); break;
        case YAML_STREAM_END_EVENT: done = true; break;
        default: break;
        }
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&parser);
    for (size_t i = 0; i < sc.nanchors; i++)
        free(sc.anchors[i].name);
    free(sc.anchors);
    return rc;
}

static int by_key(const void *a, const void *b)
{
    const yaml_node_t *const *x = a, *const *y = b;
    int c = strcmp((const char *)(*x)->data.scalar.value, (const char *)(*y)->data.scalar.value);
    return c ? c : (*x > *y) - (*x < *y); /* then in document order: the first is first */
}

/* Where each node sits: the node it is in and the key or index it has there (the first
 * place, for a node an alias repeats), so that errors can name "steps[2].when.x". */
struct place {
    int parent;             /* node id, 0 for the root */
    const char *key;        /* in a mapping; NULL in a list */
    long index;
};

static struct place *places_of(const struct bm_template *t)
{
    size_t n = (size_t)(t->doc.nodes.top - t->doc.nodes.start);
    struct place *pl = calloc(n + 1, sizeof *pl);

    for (yaml_node_t *m = t->doc.nodes.start; pl && m < t->doc.nodes.top; m++) {
        int id = (int)(m - t->doc.nodes.start) + 1;
        if (m->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
                yaml_node_t *k = yaml_node(t, p->key);
                if (!pl[p->value].parent && k && k->type == YAML_SCALAR_NODE)
                    pl[p->value] = (struct place){id, (const char *)k->data.scalar.value, 0};
            }
        if (m->type == YAML_SEQUENCE_NODE)
            for (yaml_node_item_t *i = m->data.sequence.items.start; i < m->data.sequence.items.top; i++)
                if (!pl[*i].parent)
                    pl[*i] = (struct place){id, NULL, (long)(i - m->data.sequence.items.start)};
    }
    return pl;
}

/* "steps[2].when" for node id (at most BM_MAX_DEPTH levels: the scan has bounded them). */
static char *path_of(const struct place *pl, int id, const char *last)
{
    const struct place *up[BM_MAX_DEPTH + 1];
    size_t n = 0;
    char *path = bm_strf("%s", ""), *longer;

    for (int at = id; at && pl[at].parent && n < BM_MAX_DEPTH; at = pl[at].parent)
        up[n++] = &pl[at];
    while (path && n-- > 0) {
        longer = up[n]->key ? bm_strf("%s%s%.40s", path, path[0] ? "." : "", up[n]->key)
                            : bm_strf("%s[%ld]", path, up[n]->index);
        free(path);
        path = longer;
    }
    longer = path ? bm_strf("%s%s%.40s", path, path[0] ? "." : "", last) : NULL;
    free(path);
    return longer;
}

/* A key given twice in one mapping: libyaml keeps both and every lookup takes the first, so
 * the second would be silently ignored.  Each mapping node is looked at once. */
static int check_duplicate_keys(struct bm_template *t, struct bm_error *err)
{
    struct place *pl = places_of(t);
    int rc = pl ? 0 : bm_fail(err, t->file, 0, "", "out of memory");

    for (yaml_node_t *m = t->doc.nodes.start; rc == 0 && m < t->doc.nodes.top; m++) {
        size_t n = 0, npairs;
        yaml_node_t **keys;

        if (m->type != YAML_MAPPING_NODE)
            continue;
        npairs = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
        if (!(keys = malloc((npairs ? npairs : 1) * sizeof *keys))) {
            rc = bm_fail(err, t->file, node_line(m), "", "out of memory");
            break;
        }
        for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_node(t, p->key);
            if (k && k->type == YAML_SCALAR_NODE)
                keys[n++] = k;
        }
        qsort(keys, n, sizeof *keys, by_key);
        for (size_t i = 1; i < n && rc == 0; i++)
            if (strcmp((char *)keys[i]->data.scalar.value, (char *)keys[i - 1]->data.scalar.value) == 0) {
                char *field = path_of(pl, (int)(m - t->doc.nodes.start) + 1,
                                      (char *)keys[i]->data.scalar.value);
                rc = bm_fail(err, t->file, node_line(keys[i]), field ? field : "",
                             "key given twice in one mapping (first at line %d)",
                             node_line(keys[i - 1]));
                free(field);
            }
        free(keys);
    }
    free(pl);
    return rc;
}

static int parse_document(struct bm_template *t, yaml_parser_t *parser, struct bm_error *err)
{
    static const char *const top_keys[] = {"title", "ref", "why", "axes", "matrix", "exclude",
                                            "derive", "sysctl", "sockets", "steps", "capture", NULL};
    yaml_node_t *root;
    int matrix_id;

    if (!yaml_parser_load(parser, &t->doc)) {
        syntax_error(t->file, parser, "", NULL, 0, err);
        memset(&t->doc, 0, sizeof t->doc);
        return -1;
    }
    root = yaml_document_get_root_node(&t->doc);
    if (!root)
        return bm_fail(err, t->file, 0, "", "empty case file");
    if (check_duplicate_keys(t, err))
        return -1;
    if (root->type != YAML_MAPPING_NODE)
        return bm_fail(err, t->file, node_line(root), "", "a case file is a mapping (title:, sockets:, steps:, ...)");
    if (map_check_keys(t, root, "", top_keys, err) ||
        top_string(t, root, "title", true, &t->title, err) ||
        top_string(t, root, "ref", true, &t->ref, err) ||
        top_string(t, root, "why", false, &t->why, err) ||
        optional_node(t, root, "axes", YAML_MAPPING_NODE, false, &t->axes_node, err) ||
        optional_node(t, root, "matrix", YAML_MAPPING_NODE, false, &matrix_id, err) ||
        optional_node(t, root, "exclude", YAML_SEQUENCE_NODE, false, &t->exclude_node, err) ||
        optional_node(t, root, "derive", YAML_MAPPING_NODE, false, &t->derive_node, err) ||
        optional_node(t, root, "sysctl", YAML_MAPPING_NODE, false, &t->sysctl_node, err) ||
        optional_node(t, root, "sockets", YAML_MAPPING_NODE, true, &t->sockets_node, err) ||
        optional_node(t, root, "steps", YAML_SEQUENCE_NODE, true, &t->steps_node, err))
        return -1;
    if (matrix_id && parse_matrix(t, yaml_node(t, matrix_id), err))
        return -1;
    {
        yaml_node_t *cap = map_get(t, root, "capture");
        if (cap) {
            const char *v = cap->type == YAML_SCALAR_NODE ? (char *)cap->data.scalar.value : "";
            if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
                return bm_fail(err, t->file, node_line(cap), "capture", "must be true or false");
            t->capture = strcmp(v, "true") == 0;
        }
    }
    return 0;
}

static int template_init(struct bm_template *t, const char *file, const char *scenario,
                         struct bm_error *err)
{
    memset(t, 0, sizeof *t);
    t->file = strdup(file);
    t->scenario = strdup(scenario);
    if (!t->file || !t->scenario) {
        case_template_free(t);
        return bm_fail(err, file, 0, "", "out of memory");
    }
    return 0;
}

/* Scans, then loads text[0..len). */
static int parse_text(const char *text, size_t len, const char *file, const char *scenario,
                      struct bm_template *t, struct bm_error *err)
{
    yaml_parser_t parser;
    int rc;

    if (template_init(t, file, scenario, err))
        return -1;
    if (len > (size_t)BM_MAX_FILE_BYTES)
        rc = bm_fail(err, file, 0, "", "larger than %ld bytes (1 MiB), the limit for a case file",
                     BM_MAX_FILE_BYTES);
    else
        rc = scan_text(file, (const unsigned char *)text, len, err);
    if (rc == 0 && !yaml_parser_initialize(&parser))
        rc = bm_fail(err, file, 0, "", "out of memory");
    if (rc) {
        case_template_free(t);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    rc = parse_document(t, &parser, err);
    yaml_parser_delete(&parser);
    if (rc)
        case_template_free(t);
    return rc;
}

int case_parse_string(const char *text, const char *file, const char *scenario,
                      struct bm_template *t, struct bm_error *err)
{
    return parse_text(text, strlen(text), file, scenario, t, err);
}

/* Reads path whole, at most BM_MAX_FILE_BYTES.  Opened without blocking and refused unless a
 * regular file: a FIFO or a device named case.yaml would block or never end. */
static char *read_case_file(const char *path, size_t *len, struct bm_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char *text = NULL;
    size_t n = 0;

    if (fd < 0) {
        bm_fail(err, path, 0, "", "cannot read: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        bm_fail(err, path, 0, "", "not a regular file (a FIFO or device would block or never end)");
    else if (st.st_size > BM_MAX_FILE_BYTES)
        bm_fail(err, path, 0, "", "larger than %ld bytes (1 MiB), the limit for a case file",
                BM_MAX_FILE_BYTES);
    else if (!(text = malloc((size_t)BM_MAX_FILE_BYTES + 2)))
        bm_fail(err, path, 0, "", "out of memory");
    /* one byte past the limit tells a file that grew since fstat */
    while (text && n <= (size_t)BM_MAX_FILE_BYTES) {
        ssize_t r = read(fd, text + n, (size_t)BM_MAX_FILE_BYTES + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            bm_fail(err, path, 0, "", "cannot read: %s", strerror(errno));
            free(text);
            text = NULL;
        }
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (text)
        text[n] = '\0';
    *len = n;
    return text;
}

int case_parse_file(const char *path, const char *scenario, struct bm_template *t,
                    struct bm_error *err)
{
    size_t len;
    char *text = read_case_file(path, &len, err);
    int rc;

    if (!text)
        return -1;
    rc = parse_text(text, len, path, scenario, t, err);
    free(text);
    return rc;
}

void case_template_free(struct bm_template *t)
{
    if (t->doc.nodes.start)
        yaml_document_delete(&t->doc);
    free(t->file);
    free(t->scenario);
    free(t->title);
    free(t->ref);
    free(t->why);
    memset(t, 0, sizeof *t);
}
