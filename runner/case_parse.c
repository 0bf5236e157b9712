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

int map_check_keys(const struct bm_template *t, yaml_node_t *map, const char *where,
                   const char *const *allowed, struct bm_error *err)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_node(t, p->key);
        char field[128], known[256] = "";
        bool ok = false;

        if (!k || k->type != YAML_SCALAR_NODE)
            return bm_fail(err, t->file, node_line(k), where, "keys must be plain names");
        for (const char *const *a = allowed; *a; a++) {
            if (strcmp(*a, (char *)k->data.scalar.value) == 0)
                ok = true;
            strncat(known, *a, sizeof known - strlen(known) - 3);
            if (a[1])
                strncat(known, ", ", sizeof known - strlen(known) - 1);
        }
        if (!ok) {
            snprintf(field, sizeof field, "%s%s%s", where, where[0] ? "." : "",
                     (char *)k->data.scalar.value);
            return bm_fail(err, t->file, node_line(k), field, "unknown key (known: %s)", known);
        }
    }
    return 0;
}

/* A required or optional one-line string at the top level. */
static int top_string(struct bm_template *t, yaml_node_t *root, const char *key, bool required,
                      char *out, size_t outlen, struct bm_error *err)
{
    yaml_node_t *n = map_get(t, root, key);

    if (!n) {
        if (required)
            return bm_fail(err, t->file, 0, key, "missing (every case needs a %s)", key);
        out[0] = '\0';
        return 0;
    }
    if (n->type != YAML_SCALAR_NODE)
        return bm_fail(err, t->file, node_line(n), key, "must be a string");
    snprintf(out, outlen, "%s", (char *)n->data.scalar.value);
    return 0;
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
        char field[128];

        if (t->naxes == BM_MAX_AXES)
            return bm_fail(err, t->file, node_line(k), "matrix", "more than %d axes", BM_MAX_AXES);
        ax = &t->axes[t->naxes++];
        snprintf(ax->name, sizeof ax->name, "%s", (char *)k->data.scalar.value);
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
        top_string(t, root, "title", true, t->title, sizeof t->title, err) ||
        top_string(t, root, "ref", true, t->ref, sizeof t->ref, err) ||
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

static void template_init(struct bm_template *t, const char *file, const char *scenario)
{
    memset(t, 0, sizeof *t);
    snprintf(t->file, sizeof t->file, "%s", file);
    snprintf(t->scenario, sizeof t->scenario, "%s", scenario);
}

int case_parse_string(const char *text, const char *file, const char *scenario,
                      struct bm_template *t, struct bm_error *err)
{
    yaml_parser_t parser;
    int rc;

    template_init(t, file, scenario);
    if (!yaml_parser_initialize(&parser))
        return bm_fail(err, file, 0, "", "out of memory");
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

    template_init(t, path, scenario);
    f = fopen(path, "rb");
    if (!f)
        return bm_fail(err, path, 0, "", "cannot read: %s", strerror(errno));
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
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
    memset(&t->doc, 0, sizeof t->doc);
}
