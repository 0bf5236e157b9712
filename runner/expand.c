#include "expand.h"
#include "text.h"
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

/* A key check_derive / check_exclude have already checked; "" rather than a bad read. */
static const char *checked_key(const struct bm_template *t, const yaml_node_pair_t *p)
{
    yaml_node_t *k = yaml_node(t, p->key);
    return k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
}

/* Does derive: give variable `name` the value `value` (any value when NULL) anywhere? */
static bool derives(const struct bm_template *t, const char *name, const char *value)
{
    yaml_node_t *dv = yaml_node(t, t->derive_node);

    for (yaml_node_pair_t *p = dv ? dv->data.mapping.pairs.start : NULL;
         dv && p < dv->data.mapping.pairs.top; p++) {
        yaml_node_t *byvalue = yaml_node(t, p->value);
        for (yaml_node_pair_t *q = byvalue->data.mapping.pairs.start; q < byvalue->data.mapping.pairs.top; q++) {
            yaml_node_t *v = map_get(t, yaml_node(t, q->value), name);
            if (v && (!value || scalar_is(v, value)))
                return true;
        }
    }
    return false;
}

/* value must be one variable `name` can take: a value of its matrix axis (ax), or one
 * derive: gives it. */
static int check_value(const struct bm_template *t, yaml_node_t *item, const char *field,
                       const char *name, const struct bm_axis *ax, struct bm_error *err)
{
    const char *s;
    bool known = false;

    if (item->type != YAML_SCALAR_NODE)
        return bm_fail(err, t->file, node_line(item), field, "values are scalars or lists of them");
    s = (const char *)item->data.scalar.value;
    for (size_t j = 0; ax && j < ax->nvalues; j++)
        known = known || strcmp(ax->values[j], s) == 0;
    if (ax && !known)
        return bm_fail(err, t->file, node_line(item), field, "'%s' is not a value of axis %s", s, name);
    if (!ax && !derives(t, name, s))
        return bm_fail(err, t->file, node_line(item), field, "'%s' is not a value derive: gives %s",
                       s, name);
    return 0;
}

/* n is a value or a non-empty list of values (any of them) of variable `name`. */
static int check_values(const struct bm_template *t, yaml_node_t *n, const char *field,
                        const char *name, struct bm_error *err)
{
    const struct bm_axis *ax = find_axis(t, name);

    if (n->type != YAML_SEQUENCE_NODE)
        return check_value(t, n, field, name, ax, err);
    if (n->data.sequence.items.start == n->data.sequence.items.top)
        return bm_fail(err, t->file, node_line(n), field, "an empty list matches nothing");
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++)
        if (check_value(t, yaml_node(t, *i), field, name, ax, err))
            return -1;
    return 0;
}

/* derive: maps each value of an axis to {name: value}: names new, values fit a variable. */
static int check_derive(const struct bm_template *t, struct bm_error *err)
{
    yaml_node_t *dv = yaml_node(t, t->derive_node);

    for (yaml_node_pair_t *p = dv ? dv->data.mapping.pairs.start : NULL;
         dv && p < dv->data.mapping.pairs.top; p++) {
        yaml_node_t *v = yaml_node(t, p->value);
        const struct bm_axis *ax;
        const char *axis;
        char field[96];

        if (pair_key(t, p, "derive", 0, &axis, err))
            return -1;
        if (!(ax = find_axis(t, axis)))
            return bm_fail(err, t->file, node_line(yaml_node(t, p->key)), "derive",
                           "'%s' is not a matrix axis", axis);
        bm_join(field, sizeof field, "derive.", ax->name, "");
        if (v->type != YAML_MAPPING_NODE)
            return bm_fail(err, t->file, node_line(v), field, "must map each axis value to {name: value}");
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
            yaml_node_t *vars = yaml_node(t, q->value);
            const char *value;
            bool known = false;

            if (pair_key(t, q, field, 0, &value, err))
                return -1;
            for (size_t j = 0; j < ax->nvalues; j++)
                known = known || strcmp(ax->values[j], value) == 0;
            if (!known)
                return bm_fail(err, t->file, node_line(yaml_node(t, q->key)), field,
                               "'%s' is not a value of axis %s", value, ax->name);
            if (vars->type != YAML_MAPPING_NODE)
                return bm_fail(err, t->file, node_line(vars), field, "must be a mapping {name: value}");
            for (yaml_node_pair_t *r = vars->data.mapping.pairs.start; r < vars->data.mapping.pairs.top; r++) {
                yaml_node_t *k = yaml_node(t, r->key), *val = yaml_node(t, r->value);
                const char *name;

                if (pair_key(t, r, field, BM_KV_LEN - 1, &name, err))
                    return -1;
                if (find_axis(t, name))
                    return bm_fail(err, t->file, node_line(k), field, "'%s' is already a matrix axis", name);
                if (val->type != YAML_SCALAR_NODE)
                    return bm_fail(err, t->file, node_line(val), field, "values must be scalars");
                if (check_len(t, val, field, (char *)val->data.scalar.value, BM_KV_LEN - 1, err))
                    return -1;
            }
        }
    }
    return 0;
}

/* exclude: entries name matrix axes and their values; a typo there would keep cases. */
static int check_exclude(const struct bm_template *t, struct bm_error *err)
{
    yaml_node_t *ex = yaml_node(t, t->exclude_node);
    int index = 0;

    for (yaml_node_item_t *i = ex ? ex->data.sequence.items.start : NULL;
         ex && i < ex->data.sequence.items.top; i++, index++) {
        yaml_node_t *e = yaml_node(t, *i);
        char field[64];

        snprintf(field, sizeof field, "exclude[%d]", index);
        if (e->type != YAML_MAPPING_NODE)
            return bm_fail(err, t->file, node_line(e), field, "must be a mapping {axis: value}");
        if (e->data.mapping.pairs.start == e->data.mapping.pairs.top)
            return bm_fail(err, t->file, node_line(e), field, "an empty entry would exclude every case");
        for (yaml_node_pair_t *p = e->data.mapping.pairs.start; p < e->data.mapping.pairs.top; p++) {
            const char *axis;
            if (pair_key(t, p, field, 0, &axis, err))
                return -1;
            if (!find_axis(t, axis))
                return bm_fail(err, t->file, node_line(yaml_node(t, p->key)), field,
                               "'%s' is not a matrix axis", axis);
            if (check_values(t, yaml_node(t, p->value), field, axis, err))
                return -1;
        }
    }
    return 0;
}

/* A step's when: names variables and values they can take; a typo would drop the step. */
static int check_when(const struct bm_template *t, struct bm_error *err)
{
    yaml_node_t *steps = yaml_node(t, t->steps_node);
    int index = 0;

    for (yaml_node_item_t *i = steps->data.sequence.items.start; i < steps->data.sequence.items.top;
         i++, index++) {
        yaml_node_t *when = map_get(t, yaml_node(t, *i), "when");
        char field[64];

        if (!when)
            continue;
        snprintf(field, sizeof field, "steps[%d].when", index);
        if (when->type != YAML_MAPPING_NODE)
            return bm_fail(err, t->file, node_line(when), field, "must be a mapping {axis: value}");
        for (yaml_node_pair_t *p = when->data.mapping.pairs.start; p < when->data.mapping.pairs.top; p++) {
            const char *name;
            if (pair_key(t, p, field, 0, &name, err))
                return -1;
            if (!find_axis(t, name) && !derives(t, name, NULL))
                return bm_fail(err, t->file, node_line(yaml_node(t, p->key)), field,
                               "'%s' is not a matrix axis or derived variable", name);
            if (check_values(t, yaml_node(t, p->value), field, name, err))
                return -1;
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
            all = node_matches(t, yaml_node(t, p->value), binding_get(b, checked_key(t, p)));
        if (all)
            return true;
    }
    return false;
}

/* The matrix coordinates idx as variables. */
static void bind_axes(const struct bm_template *t, const size_t *idx, struct bm_binding *b)
{
    b->n = 0;   /* only vars[0..n) are ever read: no clearing of the whole table per case */
    for (size_t a = 0; a < t->naxes; a++)
        binding_set(b, t->axes[a].name, t->axes[a].values[idx[a]]);
}

/* Adds the variables `derive` defines for the axis values in b (check_derive has checked
 * names, types and lengths). */
static int derive(const struct bm_template *t, struct bm_binding *b, struct bm_error *err)
{
    yaml_node_t *dv = yaml_node(t, t->derive_node);

    for (yaml_node_pair_t *p = dv ? dv->data.mapping.pairs.start : NULL;
         dv && p < dv->data.mapping.pairs.top; p++) {
        yaml_node_t *vars = map_get(t, yaml_node(t, p->value), binding_get(b, checked_key(t, p)));

        for (yaml_node_pair_t *q = vars ? vars->data.mapping.pairs.start : NULL;
             vars && q < vars->data.mapping.pairs.top; q++) {
            yaml_node_t *v = yaml_node(t, q->value);
            if (binding_set(b, checked_key(t, q), (char *)v->data.scalar.value))
                return bm_fail(err, t->file, node_line(v), "derive", "too many variables");
        }
    }
    return 0;
}

int case_list_reserve(struct bm_case_list *list, size_t n)
{
    struct bm_case *items;

    if (n <= list->cap || list->lazy)
        return 0;
    if (!(items = realloc(list->items, n * sizeof *items)))
        return -1;
    list->items = items;
    list->cap = n;
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

/* The template's strings, copied once into the list for all of its cases. */
struct shared_text {
    const char *file, *scenario, *title, *ref, *why;
};

static const char *keep(struct bm_case_list *list, const char *s)
{
    char **strings = realloc(list->strings, (list->nstrings + 1) * sizeof *strings);

    if (!strings)
        return NULL;
    list->strings = strings;
    return strings[list->nstrings++] = strdup(s);
}

/* The case id "<scenario>[axis=value,...]" of coordinates idx, in id[BM_TEXT_LEN]. */
static int case_id(const struct bm_template *t, const size_t *idx, char *id, struct bm_error *err)
{
    size_t len = (size_t)bm_copy(id, BM_TEXT_LEN, t->scenario);

    for (size_t a = 0; a < t->naxes && len < BM_TEXT_LEN; a++) {
        len = bm_append(id, BM_TEXT_LEN, len, a ? "," : "[");
        len = bm_append(id, BM_TEXT_LEN, len, t->axes[a].name);
        len = bm_append(id, BM_TEXT_LEN, len, "=");
        len = bm_append(id, BM_TEXT_LEN, len, t->axes[a].values[idx[a]]);
    }
    if (t->naxes && len < BM_TEXT_LEN)
        len = bm_append(id, BM_TEXT_LEN, len, "]");
    if (len >= BM_TEXT_LEN)
        return bm_fail(err, t->file, t->naxes ? t->axes[0].line : 0, "matrix",
                       "case id '%.40s...' longer than %d characters", id, BM_TEXT_LEN - 1);
    return 0;
}

/* Is the case wanted by the list's filters (an id containing any of them; none: all)? */
static bool wanted(const struct bm_case_list *list, const char *id)
{
    for (size_t i = 0; i < list->nfilters; i++)
        if (strstr(id, list->filters[i]))
            return true;
    return list->nfilters == 0;
}

/* Builds the case of coordinates idx (not excluded, id already made) into c. */
static int build_one(const struct bm_template *t, const struct shared_text *text, const size_t *idx,
                     const char *id, struct bm_case *c, struct bm_error *err)
{
    struct bm_binding b;

    bind_axes(t, idx, &b);
    memset(c, 0, sizeof *c);
    if (derive(t, &b, err) || case_build(t, &b, c, err))
        return -1;
    bm_copy(c->id, sizeof c->id, id); /* fits: case_id checked it */
    c->file = text->file;
    c->scenario = text->scenario;
    c->title = text->title;
    c->ref = text->ref;
    c->why = text->why;
    c->nfixed = c->naxes;
    /* matrix coordinates after the fixed axes; a name in both is a contradiction */
    for (size_t a = 0; a < t->naxes; a++) {
        for (size_t f = 0; f < c->naxes; f++)
            if (strcmp(c->axes[f].key, t->axes[a].name) == 0)
                return bm_fail(err, t->file, t->axes[a].line, "axes",
                               "'%s' is both a fixed axis and a matrix axis", t->axes[a].name);
        if (c->naxes == BM_MAX_AXES)
            return bm_fail(err, t->file, t->axes[a].line, "matrix", "too many axes in all");
        bm_copy(c->axes[c->naxes].key, sizeof c->axes[0].key, t->axes[a].name);
        bm_copy(c->axes[c->naxes].value, sizeof c->axes[0].value, t->axes[a].values[idx[a]]);
        c->naxes++;
    }
    return 0;
}

struct bm_case_ref {
    const struct bm_template *t;
    unsigned char idx[BM_MAX_AXES]; /* < BM_MAX_VALUES */
    char *id;
};

static int push_ref(struct bm_case_list *list, const struct bm_template *t, const size_t *idx,
                    const char *id)
{
    struct bm_case_ref *r;

    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        if (!(r = realloc(list->refs, cap * sizeof *r)))
            return -1;
        list->refs = r;
        list->cap = cap;
    }
    r = &list->refs[list->n];
    r->t = t;
    for (size_t a = 0; a < BM_MAX_AXES; a++)
        r->idx[a] = (unsigned char)(a < t->naxes ? idx[a] : 0);
    if (!(r->id = strdup(id)))
        return -1;
    list->n++;
    return 0;
}

static int emit(const struct bm_template *t, const struct shared_text *text, const size_t *idx,
                struct bm_case_list *list, struct bm_error *err)
{
    struct bm_binding b;
    struct bm_case *c, scratch;
    char id[BM_TEXT_LEN];

    bind_axes(t, idx, &b);
    if (excluded(t, &b))
        return 0;
    /* the id first: a case --filter drops is never built */
    if (case_id(t, idx, id, err))
        return -1;
    if (!wanted(list, id))
        return 0;
    if (list->lazy) { /* built once to check it (unless its run will), then only remembered */
        if (!list->unchecked && build_one(t, text, idx, id, &scratch, err))
            return -1;
        if (push_ref(list, t, idx, id))
            return bm_fail(err, t->file, 0, "", "out of memory");
        if (list->unchecked)
            return 0;
        c = &scratch;
    } else {
        if (push(list, &c))
            return bm_fail(err, t->file, 0, "", "out of memory");
        if (build_one(t, text, idx, id, c, err))
            return -1;
        list->n++;
    }
    if (list->on_case)
        list->on_case(list->on_case_ctx, c);
    return 0;
}

const struct bm_case *case_list_build(const struct bm_case_list *list, size_t i,
                                      struct bm_case *scratch, struct bm_error *err)
{
    const struct bm_case_ref *r;
    struct shared_text text;
    size_t idx[BM_MAX_AXES];

    if (!list->lazy)
        return &list->items[i];
    r = &list->refs[i];
    text = (struct shared_text){r->t->file, r->t->scenario, r->t->title, r->t->ref, r->t->why};
    for (size_t a = 0; a < BM_MAX_AXES; a++)
        idx[a] = r->idx[a];
    return build_one(r->t, &text, idx, r->id, scratch, err) ? NULL : scratch;
}

const struct bm_case *case_list_get(const struct bm_case_list *list, size_t i,
                                    struct bm_case *scratch)
{
    struct bm_error err = {0};
    const struct bm_case *c = case_list_build(list, i, scratch, &err);

    bm_error_free(&err);
    return c;
}

const char *case_list_id(const struct bm_case_list *list, size_t i)
{
    return list->lazy ? list->refs[i].id : list->items[i].id;
}

const char *case_list_file(const struct bm_case_list *list, size_t i)
{
    return list->lazy ? list->refs[i].t->file : list->items[i].file;
}

bool case_list_capture(const struct bm_case_list *list, size_t i)
{
    return list->lazy ? list->refs[i].t->capture : list->items[i].capture;
}

/* The odometer: the last axis varies fastest, so ids come out in written order.  false
 * once every combination has been seen. */
static bool next_combination(const struct bm_template *t, size_t *idx)
{
    for (size_t a = t->naxes; a-- > 0;) {
        if (++idx[a] < t->axes[a].nvalues)
            return true;
        idx[a] = 0;
    }
    return false;
}

/* Every later walk is over the whole product, so it is bounded before exclude: 16 axes of
 * 32 values would otherwise be walked for ever, whatever exclude drops. */
static int check_template(const struct bm_template *t, struct bm_error *err)
{
    size_t product = 1;

    if (check_derive(t, err) || check_exclude(t, err) || check_when(t, err))
        return -1;
    for (size_t a = 0; a < t->naxes; a++) {
        product *= t->axes[a].nvalues; /* <= 20000 * 32 before the check: no overflow */
        if (product > BM_MAX_CASES_PER_SCENARIO)
            return bm_fail(err, t->file, t->axes[a].line, "matrix",
                           "more than %d combinations by axis %s (the limit for one scenario, "
                           "before exclude)", BM_MAX_CASES_PER_SCENARIO, t->axes[a].name);
    }
    return 0;
}

int expand_count(const struct bm_template *t, size_t *n, struct bm_error *err)
{
    size_t idx[BM_MAX_AXES] = {0};

    *n = 0;
    if (check_template(t, err))
        return -1;
    do {
        struct bm_binding b;
        bind_axes(t, idx, &b);
        *n += !excluded(t, &b);
    } while (next_combination(t, idx));
    return 0;
}

int expand_template(const struct bm_template *t, struct bm_case_list *list, struct bm_error *err)
{
    size_t idx[BM_MAX_AXES] = {0};
    /* a lazy list keeps its templates, and their strings with them */
    struct shared_text text = list->lazy
        ? (struct shared_text){t->file, t->scenario, t->title, t->ref, t->why}
        : (struct shared_text){keep(list, t->file), keep(list, t->scenario), keep(list, t->title),
                               keep(list, t->ref), keep(list, t->why)};

    if (!text.file || !text.scenario || !text.title || !text.ref || !text.why)
        return bm_fail(err, t->file, 0, "", "out of memory");
    if (check_template(t, err))
        return -1;
    do {
        if (emit(t, &text, idx, list, err))
            return -1;
    } while (next_combination(t, idx));
    return 0;
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
    for (size_t i = 0; list->refs && i < list->n; i++)
        free(list->refs[i].id);
    free(list->refs);
    for (size_t i = 0; i < list->ntemplates; i++)
        case_template_free(&list->templates[i]);
    free(list->templates);
    memset(list, 0, sizeof *list);
}
