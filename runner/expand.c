#include "expand.h"
#include "case_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct bm_axis *find_axis(const struct bm_template *t, const char *name)
{
    for (size_t i = 0; i < t->naxes; i++)
        if (strcmp(t->axes[i].name, name) == 0)
            return &t->axes[i];
    return NULL;
}

static bool scalar_is(yaml_node_t *n, const char *value)
{
    return n && n->type == YAML_SCALAR_NODE && strcmp((char *)n->data.scalar.value, value) == 0;
}

/* Does value appear in n (a scalar, or a list meaning any of it)? */
static bool node_matches(const struct bm_template *t, yaml_node_t *n, const char *value)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return scalar_is(n, value);
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++)
        if (scalar_is(yaml_node(t, *i), value))
            return true;
    return false;
}

/* exclude: and derive: name axes and their values; a typo there must not pass silently. */
static int check_axis_refs(const struct bm_template *t, struct bm_error *err)
{
    yaml_node_t *ex = yaml_node(t, t->exclude_node), *dv = yaml_node(t, t->derive_node);
    int index = 0;

    for (yaml_node_item_t *i = ex ? ex->data.sequence.items.start : NULL;
         ex && i < ex->data.sequence.items.top; i++, index++) {
        yaml_node_t *e = yaml_node(t, *i);
        char field[64];

        snprintf(field, sizeof field, "exclude[%d]", index);
        if (e->type != YAML_MAPPING_NODE)
            return bm_fail(err, t->file, node_line(e), field, "must be a mapping {axis: value}");
        for (yaml_node_pair_t *p = e->data.mapping.pairs.start; p < e->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_node(t, p->key);
            if (!find_axis(t, (char *)k->data.scalar.value))
                return bm_fail(err, t->file, node_line(k), field, "'%s' is not a matrix axis",
                               (char *)k->data.scalar.value);
        }
    }
    for (yaml_node_pair_t *p = dv ? dv->data.mapping.pairs.start : NULL;
         dv && p < dv->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_node(t, p->key), *v = yaml_node(t, p->value);
        const struct bm_axis *ax = find_axis(t, (char *)k->data.scalar.value);
        char field[96];

        snprintf(field, sizeof field, "derive.%s", (char *)k->data.scalar.value);
        if (!ax)
            return bm_fail(err, t->file, node_line(k), field, "not a matrix axis");
        if (v->type != YAML_MAPPING_NODE)
            return bm_fail(err, t->file, node_line(v), field, "must map each axis value to {name: value}");
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
            yaml_node_t *val = yaml_node(t, q->key), *vars = yaml_node(t, q->value);
            bool known = false;
            for (size_t j = 0; j < ax->nvalues; j++)
                known = known || strcmp(ax->values[j], (char *)val->data.scalar.value) == 0;
            if (!known)
                return bm_fail(err, t->file, node_line(val), field, "'%s' is not a value of axis %s",
                               (char *)val->data.scalar.value, ax->name);
            if (vars->type != YAML_MAPPING_NODE)
                return bm_fail(err, t->file, node_line(vars), field, "must be a mapping {name: value}");
        }
    }
    return 0;
}

static bool excluded(const struct bm_template *t, const struct bm_binding *b)
{
    yaml_node_t *ex = yaml_node(t, t->exclude_node);

    for (yaml_node_item_t *i = ex ? ex->data.sequence.items.start : NULL;
         ex && i < ex->data.sequence.items.top; i++) {
        yaml_node_t *e = yaml_node(t, *i);
        bool all = true;
        for (yaml_node_pair_t *p = e->data.mapping.pairs.start; all && p < e->data.mapping.pairs.top; p++)
            all = node_matches(t, yaml_node(t, p->value),
                               binding_get(b, (char *)yaml_node(t, p->key)->data.scalar.value));
        if (all)
            return true;
    }
    return false;
}

/* Adds the variables `derive` defines for the axis values in b. */
static int derive(const struct bm_template *t, struct bm_binding *b, struct bm_error *err)
{
    yaml_node_t *dv = yaml_node(t, t->derive_node);

    for (yaml_node_pair_t *p = dv ? dv->data.mapping.pairs.start : NULL;
         dv && p < dv->data.mapping.pairs.top; p++) {
        const char *axis = (char *)yaml_node(t, p->key)->data.scalar.value;
        yaml_node_t *vars = map_get(t, yaml_node(t, p->value), binding_get(b, axis));

        for (yaml_node_pair_t *q = vars ? vars->data.mapping.pairs.start : NULL;
             vars && q < vars->data.mapping.pairs.top; q++) {
            yaml_node_t *k = yaml_node(t, q->key), *v = yaml_node(t, q->value);
            if (v->type != YAML_SCALAR_NODE)
                return bm_fail(err, t->file, node_line(v), "derive", "values must be scalars");
            if (find_axis(t, (char *)k->data.scalar.value))
                return bm_fail(err, t->file, node_line(k), "derive",
                               "'%s' is already a matrix axis", (char *)k->data.scalar.value);
            if (binding_set(b, (char *)k->data.scalar.value, (char *)v->data.scalar.value))
                return bm_fail(err, t->file, node_line(k), "derive", "too many variables");
        }
    }
    return 0;
}

static int push(struct bm_case_list *list, struct bm_case **out)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        struct bm_case *items = realloc(list->items, cap * sizeof *items);
        if (!items)
            return -1;
        list->items = items;
        list->cap = cap;
    }
    *out = &list->items[list->n];
    memset(*out, 0, sizeof **out);
    return 0;
}

/* The template's file, title and ref, copied once into the list for all of its cases. */
struct shared_text {
    const char *file, *title, *ref;
};

static const char *keep(struct bm_case_list *list, const char *s)
{
    char **strings = realloc(list->strings, (list->nstrings + 1) * sizeof *strings);

    if (!strings)
        return NULL;
    list->strings = strings;
    return strings[list->nstrings++] = strdup(s);
}

static int emit(const struct bm_template *t, const struct shared_text *text, const size_t *idx,
                struct bm_case_list *list, struct bm_error *err)
{
    struct bm_binding b = {0};
    struct bm_case *c;
    size_t len;

    for (size_t a = 0; a < t->naxes; a++)
        binding_set(&b, t->axes[a].name, t->axes[a].values[idx[a]]);
    if (excluded(t, &b))
        return 0;
    if (derive(t, &b, err))
        return -1;
    if (push(list, &c))
        return bm_fail(err, t->file, 0, "", "out of memory");
    if (case_build(t, &b, c, err))
        return -1;
    c->file = text->file;
    c->title = text->title;
    c->ref = text->ref;
    /* matrix coordinates after the fixed axes; a name in both is a contradiction */
    for (size_t a = 0; a < t->naxes; a++) {
        for (size_t f = 0; f < c->naxes; f++)
            if (strcmp(c->axes[f].key, t->axes[a].name) == 0)
                return bm_fail(err, t->file, t->axes[a].line, "axes",
                               "'%s' is both a fixed axis and a matrix axis", t->axes[a].name);
        if (c->naxes == BM_MAX_AXES)
            return bm_fail(err, t->file, t->axes[a].line, "matrix", "too many axes in all");
        snprintf(c->axes[c->naxes].key, sizeof c->axes[0].key, "%s", t->axes[a].name);
        snprintf(c->axes[c->naxes].value, sizeof c->axes[0].value, "%s", t->axes[a].values[idx[a]]);
        c->naxes++;
    }
    len = (size_t)snprintf(c->id, sizeof c->id, "%s", t->scenario);
    for (size_t a = 0; a < t->naxes && len < sizeof c->id; a++)
        len += (size_t)snprintf(c->id + len, sizeof c->id - len, "%s%s=%s", a ? "," : "[",
                                t->axes[a].name, t->axes[a].values[idx[a]]);
    if (t->naxes && len < sizeof c->id)
        len += (size_t)snprintf(c->id + len, sizeof c->id - len, "]");
    if (len >= sizeof c->id)
        return bm_fail(err, t->file, 0, "matrix", "case id longer than %zu characters", sizeof c->id - 1);
    list->n++;
    return 0;
}

int expand_template(const struct bm_template *t, struct bm_case_list *list, struct bm_error *err)
{
    size_t idx[BM_MAX_AXES] = {0};
    struct shared_text text = {keep(list, t->file), keep(list, t->title), keep(list, t->ref)};

    if (!text.file || !text.title || !text.ref)
        return bm_fail(err, t->file, 0, "", "out of memory");
    if (check_axis_refs(t, err))
        return -1;
    for (;;) {
        size_t a;
        if (emit(t, &text, idx, list, err))
            return -1;
        /* odometer: the last axis varies fastest, so ids come out in written order */
        for (a = t->naxes; a-- > 0;) {
            if (++idx[a] < t->axes[a].nvalues)
                break;
            idx[a] = 0;
        }
        if (a == (size_t)-1)
            return 0;
    }
}

int expand_file(const char *path, const char *scenario, struct bm_case_list *list,
                struct bm_error *err)
{
    struct bm_template t;
    int rc;

    if (case_parse_file(path, scenario, &t, err))
        return -1;
    rc = expand_template(&t, list, err);
    case_template_free(&t);
    return rc;
}

void case_list_free(struct bm_case_list *list)
{
    for (size_t i = 0; i < list->nstrings; i++)
        free(list->strings[i]);
    free(list->strings);
    free(list->items);
    memset(list, 0, sizeof *list);
}
