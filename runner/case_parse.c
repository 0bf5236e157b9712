#include "case_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int check_len(const struct bm_template *t, const yaml_node_t *n, const char *field,
              const char *s, size_t max, struct bm_error *err)
{
    if (strlen(s) <= max)
        return 0;
    return bm_fail(err, t->file, node_line(n), field, "'%.20s...' is longer than %zu characters",
                   s, max);
}

int map_check_keys(const struct bm_template *t, yaml_node_t *map, const char *where,
                   const char *const *allowed, struct bm_error *err)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        char known[256] = "", *field;
        const char *key;
        bool ok = false;

        if (pair_key(t, p, where, 0, &key, err))
            return -1;
        for (const char *const *a = allowed; *a; a++) {
            if (strcmp(*a, key) == 0)
                ok = true;
            strncat(known, *a, sizeof known - strlen(known) - 3); /* our own short names */
            if (a[1])
                strncat(known, ", ", sizeof known - strlen(known) - 1);
        }
        if (!ok) {
            field = bm_strf("%s%s%s", where, where[0] ? "." : "", key);
            bm_fail(err, t->file, node_line(yaml_node(t, p->key)), field ? field : where,
                    "unknown key (known: %s)", known);
            free(field);
            return -1;
        }
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

static int parse_document(struct bm_template *t, yaml_parser_t *parser, struct bm_error *err)
{
    static const char *const top_keys[] = {"title", "ref", "why", "axes", "matrix", "exclude",
                                            "derive", "sysctl", "sockets", "steps", "capture", NULL};
    yaml_node_t *root;
    int matrix_id;

    if (!yaml_parser_load(parser, &t->doc)) {
        int line = (int)parser->problem_mark.line + 1;
        bm_fail(err, t->file, line, "", "YAML syntax: %s%s%s", parser->problem ? parser->problem : "error",
                parser->context ? " " : "", parser->context ? parser->context : "");
        memset(&t->doc, 0, sizeof t->doc);
        return -1;
    }
    root = yaml_document_get_root_node(&t->doc);
    if (!root)
        return bm_fail(err, t->file, 0, "", "empty case file");
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

int case_parse_string(const char *text, const char *file, const char *scenario,
                      struct bm_template *t, struct bm_error *err)
{
    yaml_parser_t parser;
    int rc;

    if (template_init(t, file, scenario, err))
        return -1;
    if (!yaml_parser_initialize(&parser)) {
        case_template_free(t);
        return bm_fail(err, file, 0, "", "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    rc = parse_document(t, &parser, err);
    yaml_parser_delete(&parser);
    if (rc)
        case_template_free(t);
    return rc;
}

int case_parse_file(const char *path, const char *scenario, struct bm_template *t,
                    struct bm_error *err)
{
    yaml_parser_t parser;
    FILE *f;
    int rc;

    if (template_init(t, path, scenario, err))
        return -1;
    f = fopen(path, "rb");
    if (!f) {
        bm_fail(err, path, 0, "", "cannot read: %s", strerror(errno));
        case_template_free(t);
        return -1;
    }
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        case_template_free(t);
        return bm_fail(err, path, 0, "", "out of memory");
    }
    yaml_parser_set_input_file(&parser, f);
    rc = parse_document(t, &parser, err);
    yaml_parser_delete(&parser);
    fclose(f);
    if (rc)
        case_template_free(t);
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
