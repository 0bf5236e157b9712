#include "case_build.h"
#include "text.h"
#include "names.h"
#include "sockopts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *binding_get(const struct bm_binding *b, const char *name)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->vars[i].key[0] == name[0] && strcmp(b->vars[i].key, name) == 0)
            return b->vars[i].value;
    return NULL;
}

int binding_set(struct bm_binding *b, const char *name, const char *value)
{
    /* lengths: the parser has checked every axis and derived name and value */
    for (size_t i = 0; i < b->n; i++)
        if (b->vars[i].key[0] == name[0] && strcmp(b->vars[i].key, name) == 0) {
            b->vars[i].value = value;
            return 0;
        }
    if (b->n == sizeof b->vars / sizeof b->vars[0])
        return -1;
    b->vars[b->n].key = name;
    b->vars[b->n++].value = value;
    return 0;
}

/* Everything case_build needs while it walks one template. */
struct build {
    const struct bm_template *t;
    const struct bm_binding *b;
    struct bm_case *c;
    struct bm_error *err;
};

/* A field's name for an error message ("steps[2].addr"), made only when one is written:
 * every key of every expanded case passes through here, and errors are rare. */
struct field {
    const char *where, *key;    /* key NULL: where alone */
    char text[128];
};

static const char *field_text(struct field *f)
{
    if (f->key)
        bm_join(f->text, sizeof f->text, f->where, ".", f->key);
    else
        bm_copy(f->text, sizeof f->text, f->where);
    return f->text;
}

/* check_len, the field's name made only when s is too long. */
static int check_field_len(struct build *x, const yaml_node_t *n, struct field *f,
                           const char *s, size_t max)
{
    return strlen(s) <= max ? 0 : check_len(x->t, n, field_text(f), s, max, x->err);
}

/* The scalar at n, with a leading "$name" replaced by its value. */
static int scalar(struct build *x, yaml_node_t *n, struct field *field, const char **out)
{
    const char *s;

    if (!n || n->type != YAML_SCALAR_NODE)
        return bm_fail(x->err, x->t->file, node_line(n), field_text(field), "must be a single value");
    s = (const char *)n->data.scalar.value;
    if (s[0] == '$') {
        const char *v = binding_get(x->b, s + 1);
        if (!v)
            return bm_fail(x->err, x->t->file, node_line(n), field_text(field),
                           "unknown variable '%s' (define it under matrix: or derive:)", s);
        s = v;
    }
    *out = s;
    return 0;
}

/* Picks s from a NULL-terminated list of names; fails listing them (the list is made only
 * for the error: every field of every expanded case comes here). */
static int choose(struct build *x, yaml_node_t *n, struct field *field, const char *s,
                  const char *const *names, int *out)
{
    for (int i = 0; names[i]; i++)
        if (names[i][0] == s[0] && strcmp(names[i], s) == 0) {
            *out = i;
            return 0;
        }
    char known[256];
    names_text(known, sizeof known, names);
    return bm_fail(x->err, x->t->file, node_line(n), field_text(field), "unknown value '%s' (known: %s)", s, known);
}

static int choose_node(struct build *x, yaml_node_t *n, struct field *field,
                       const char *const *names, int *out)
{
    const char *s = NULL;   /* set by scalar() when it succeeds; -O3 cannot see it */
    return scalar(x, n, field, &s) || choose(x, n, field, s, names, out);
}

/* One option word: "none", "both", "name" or "name=value". */
static int add_option_word(struct build *x, yaml_node_t *n, struct field *field, const char *word,
                           struct bm_opt *opts, size_t *nopts)
{
    char name[BM_NAME_LEN];
    const char *eq = strchr(word, '=');
    size_t len = eq ? (size_t)(eq - word) : strlen(word);
    int value = 1;

    if (strcmp(word, "none") == 0)
        return 0;
    if (strcmp(word, "both") == 0)
        return add_option_word(x, n, field, "reuseaddr", opts, nopts) ||
               add_option_word(x, n, field, "reuseport", opts, nopts);
    if (len >= sizeof name)
        return check_field_len(x, n, field, word, sizeof name - 1);
    memcpy(name, word, len); /* the part before '=' (snprintf's "%.*s" cost more than the rest) */
    name[len] = '\0';
    if (!sockopt_known(name))
        return bm_fail(x->err, x->t->file, node_line(n), field_text(field),
                       "unknown option '%s' (see cases/README.md: reuseaddr, reuseport, both, "
                       "reuseport_lb, reuseshareuid, v6only, freebind, bindany, broadcast, "
                       "multicast_all, bind_address_no_port, local_port_range, bindtodevice, "
                       "none)", name);
    {
        char why[256];
        /* the value's syntax is the option's own (sockopts.h): an integer, ports, a device */
        if (sockopt_parse_value(name, eq ? eq + 1 : NULL, &value, why, sizeof why))
            return bm_fail(x->err, x->t->file, node_line(n), field_text(field), "%s", why);
    }
    for (size_t i = 0; i < *nopts; i++)
        if (strcmp(opts[i].name, name) == 0)
            return bm_fail(x->err, x->t->file, node_line(n), field_text(field), "option '%s' given twice", name);
    if (*nopts == BM_MAX_OPTS)
        return bm_fail(x->err, x->t->file, node_line(n), field_text(field), "more than %d options", BM_MAX_OPTS);
    bm_copy(opts[*nopts].name, sizeof opts[*nopts].name, name);
    opts[(*nopts)++].value = value;
    return 0;
}

static int build_options(struct build *x, yaml_node_t *n, struct field *field, struct bm_opt *opts,
                         size_t *nopts)
{
    const char *s;

    *nopts = 0;
    if (!n)
        return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return scalar(x, n, field, &s) || add_option_word(x, n, field, s, opts, nopts);
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        yaml_node_t *item = yaml_node(x->t, *i);
        if (scalar(x, item, field, &s) || add_option_word(x, item, field, s, opts, nopts))
            return -1;
    }
    return 0;
}

/* Socket names are short: they make default labels ("<socket>.<op>", BM_NAME_LEN). */
#define BM_SOCKET_NAME_MAX 15

static int build_sockets(struct build *x)
{
    enum { S_PROTO, S_FAMILY, S_OPTIONS, S_USER, S_NKEYS };
    static const char *const keys[S_NKEYS + 1] = {"proto", "family", "options", "user", NULL};
    yaml_node_t *socks = yaml_node(x->t, x->t->sockets_node);

    for (yaml_node_pair_t *p = socks->data.mapping.pairs.start; p < socks->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_node(x->t, p->key), *v = yaml_node(x->t, p->value), *k[S_NKEYS];
        const char *name;
        struct bm_socket *s;
        char where[96];
        struct field fld;
        int proto = 0, family = 0, user = 0;

        if (pair_key(x->t, p, "sockets", BM_SOCKET_NAME_MAX, &name, x->err))
            return -1;
        bm_join(where, sizeof where, "sockets", ".", name); /* fits: name checked above */
        fld.where = where;
        if (x->c->nsockets == BM_MAX_SOCKETS)
            return bm_fail(x->err, x->t->file, node_line(kn), "sockets", "more than %d sockets", BM_MAX_SOCKETS);
        if (!*name || strpbrk(name, ". $[]"))
            return bm_fail(x->err, x->t->file, node_line(kn), where, "socket names are short words");
        for (size_t i = 0; i < x->c->nsockets; i++)
            if (strcmp(x->c->sockets[i].name, name) == 0)
                return bm_fail(x->err, x->t->file, node_line(kn), where, "socket '%s' given twice", name);
        if (v->type != YAML_MAPPING_NODE)
            return bm_fail(x->err, x->t->file, node_line(v), where, "must be a mapping {proto:, family:, options:}");
        if (!map_collect(x->t, v, keys, k) && map_check_keys(x->t, v, where, keys, x->err))
            return -1;
        s = &x->c->sockets[x->c->nsockets++];
        bm_copy(s->name, sizeof s->name, name);
#define FIELD(name) (fld.key = (name), &fld)
        if (!k[S_PROTO] || !k[S_FAMILY])
            return bm_fail(x->err, x->t->file, node_line(v), where, "needs proto: and family:");
        if (choose_node(x, k[S_PROTO], FIELD("proto"), bm_proto_names, &proto) ||
            choose_node(x, k[S_FAMILY], FIELD("family"), bm_family_names, &family) ||
            (k[S_USER] && choose_node(x, k[S_USER], FIELD("user"), bm_user_names, &user)) ||
            build_options(x, k[S_OPTIONS], FIELD("options"), s->opts, &s->nopts))
            return -1;
#undef FIELD
        s->proto = (enum bm_proto)proto;
        s->family = (enum bm_family)family;
        s->user = (enum bm_user)user;
    }
    if (x->c->nsockets == 0)
        return bm_fail(x->err, x->t->file, node_line(socks), "sockets", "no sockets");
    return 0;
}

static int find_socket(struct build *x, yaml_node_t *n, struct field *field, int *out)
{
    const char *s;

    if (scalar(x, n, field, &s))
        return -1;
    for (size_t i = 0; i < x->c->nsockets; i++)
        if (strcmp(x->c->sockets[i].name, s) == 0) {
            *out = (int)i;
            return 0;
        }
    return bm_fail(x->err, x->t->file, node_line(n), field_text(field), "no socket named '%s' under sockets:", s);
}

static int build_port(struct build *x, yaml_node_t *n, struct field *field, struct bm_port *port)
{
    const char *s;
    char *end;
    long idx;

    if (scalar(x, n, field, &s))
        return -1;
    if (strcmp(s, "0") == 0) {
        port->kind = BM_PORT_ZERO;
        port->index = 0;
        return 0;
    }
    if (s[0] == 'P') {
        port->kind = BM_PORT_FRESH;
        idx = strtol(s + 1, &end, 10);
    } else if (strncmp(s, "privileged", 10) == 0) {
        port->kind = BM_PORT_PRIVILEGED;
        idx = strtol(s + 10, &end, 10);
    } else {
        idx = 0;
        end = (char *)s;
    }
    if (idx < 1 || idx > 9 || *end)
        return bm_fail(x->err, x->t->file, node_line(n), field_text(field),
                       "port must be P1..P9, privileged1..privileged9 or 0, not '%s' "
                       "(fixed port numbers would collide between cases)", s);
    port->index = (int)idx;
    return 0;
}

static int build_addr(struct build *x, yaml_node_t *n, struct field *field, enum bm_family fam,
                      bool allow_peer, char *out)
{
    const char *s;
    int which;

    if (scalar(x, n, field, &s) || choose(x, n, field, s, bm_address_names, &which))
        return -1;
    if (strncmp(s, "mapped-", 7) == 0 && fam != BM_FAMILY_IPV6)
        return bm_fail(x->err, x->t->file, node_line(n), field_text(field), "'%s' needs an ipv6 socket", s);
    if (strcmp(s, "broadcast") == 0 && fam != BM_FAMILY_IPV4)
        return bm_fail(x->err, x->t->file, node_line(n), field_text(field), "'broadcast' needs an ipv4 socket");
    if (strcmp(s, "peer") == 0 && !allow_peer)
        return bm_fail(x->err, x->t->file, node_line(n), field_text(field), "'peer' is only a connect target");
    bm_copy(out, BM_NAME_LEN, s);
    return 0;
}

/* A step's keys, each read once (map_collect) into its slot. */
enum step_key { K_OP, K_LABEL, K_PRECONDITION, K_WHEN, K_SOCKET, K_STATE, K_ADDR, K_PORT,
                K_OPTIONS, K_COUNT, K_RECEIVERS, K_FROM, K_FAMILY, K_NKEYS };
static const char *const step_keys[K_NKEYS + 1] = {
    "op", "label", "precondition", "when", "socket", "state", "addr", "port", "options",
    "count", "receivers", "from", "family", NULL};
#define KEY(k) (1u << (k))
#define ANY_STEP (KEY(K_OP) | KEY(K_LABEL) | KEY(K_PRECONDITION) | KEY(K_WHEN))

/* The keys each op takes. */
static unsigned op_keys(enum bm_op op)
{
    switch (op) {
    case BM_OP_STATE: return ANY_STEP | KEY(K_SOCKET) | KEY(K_STATE) | KEY(K_ADDR) | KEY(K_PORT);
    case BM_OP_BIND: case BM_OP_CONNECT: return ANY_STEP | KEY(K_SOCKET) | KEY(K_ADDR) | KEY(K_PORT);
    case BM_OP_SETSOCKOPT: return ANY_STEP | KEY(K_SOCKET) | KEY(K_OPTIONS);
    case BM_OP_DELIVER: return ANY_STEP | KEY(K_ADDR) | KEY(K_PORT) | KEY(K_COUNT) |
                               KEY(K_RECEIVERS) | KEY(K_FROM) | KEY(K_FAMILY);
    default: return ANY_STEP | KEY(K_SOCKET);
    }
}

/* A key op does not take, or one no step has: map_check_keys names it against op's keys. */
static int check_step_keys(struct build *x, yaml_node_t *v, const char *where, enum bm_op op,
                           bool all_known, yaml_node_t *const *k)
{
    const char *allowed[K_NKEYS + 1];
    unsigned mask = op_keys(op);
    size_t n = 0;
    bool extra = false;

    for (int i = 0; i < K_NKEYS; i++)
        extra = extra || (k[i] && !(mask & KEY(i)));
    if (all_known && !extra)
        return 0;
    for (int i = 0; i < K_NKEYS; i++)
        if (mask & KEY(i))
            allowed[n++] = step_keys[i];
    allowed[n] = NULL;
    return map_check_keys(x->t, v, where, allowed, x->err);
}

static int build_deliver(struct build *x, yaml_node_t *v, yaml_node_t *const *k, const char *where,
                         struct bm_step *st)
{
    yaml_node_t *recv = k[K_RECEIVERS], *n;
    struct field fld = {.where = where};
    const char *s;
    int which;

#define FIELD(name) (fld.key = (name), &fld)
    if (recv && recv->type != YAML_SEQUENCE_NODE)
        return bm_fail(x->err, x->t->file, node_line(recv), field_text(FIELD("receivers")), "must be a list of socket names");
    if (recv) {
        for (yaml_node_item_t *i = recv->data.sequence.items.start; i < recv->data.sequence.items.top; i++) {
            int idx;
            if (find_socket(x, yaml_node(x->t, *i), FIELD("receivers"), &idx))
                return -1;
            st->receivers[st->nreceivers++] = idx;
        }
    } else {
        for (size_t i = 0; i < x->c->nsockets; i++)
            st->receivers[st->nreceivers++] = (int)i;
    }
    if (st->nreceivers == 0)
        return bm_fail(x->err, x->t->file, node_line(v), field_text(FIELD("receivers")), "no receivers");
    st->family = x->c->sockets[st->receivers[0]].family;
    st->proto = x->c->sockets[st->receivers[0]].proto;
    for (size_t i = 1; i < st->nreceivers; i++)
        if (x->c->sockets[st->receivers[i]].proto != st->proto)
            return bm_fail(x->err, x->t->file, node_line(v), field_text(FIELD("receivers")), "receivers mix tcp and udp");
    if ((n = k[K_FAMILY])) {
        if (choose_node(x, n, FIELD("family"), bm_family_names, &which))
            return -1;
        st->family = (enum bm_family)which;
    }
    st->count = 16;
    if ((n = k[K_COUNT])) {
        long count;
        if (scalar(x, n, FIELD("count"), &s))
            return -1;
        if (parse_long(s, 1, 1000, &count))
            return bm_fail(x->err, x->t->file, node_line(n), field_text(FIELD("count")), "must be 1..1000, not '%s'", s);
        st->count = (int)count;
    }
    bm_copy(st->from, sizeof st->from, "fresh");
    if ((n = k[K_FROM])) {
        if (choose_node(x, n, FIELD("from"), bm_from_names, &which))
            return -1;
        bm_copy(st->from, sizeof st->from, bm_from_names[which]);
    }
    if (!k[K_ADDR] || !k[K_PORT])
        return bm_fail(x->err, x->t->file, node_line(v), where, "deliver needs addr: and port:");
#undef FIELD
    return 0;
}

/* Default labels "<socket>.<op>", numbered from the second use on: "b.bind2". */
static void default_label(struct build *x, struct bm_step *st)
{
    char base[BM_NAME_LEN];
    int seen = 0;

    if (st->op == BM_OP_DELIVER)
        bm_copy(base, sizeof base, "deliver");
    else /* socket names (15) and op names (10) are short enough already: nothing is cut */
        bm_join(base, sizeof base, x->c->sockets[st->sock].name, ".", bm_op_names[st->op]);
    for (size_t i = 0; i < x->c->nsteps; i++) {
        const char *l = x->c->steps[i].label;
        if (strncmp(l, base, strlen(base)) == 0 &&
            (l[strlen(base)] == '\0' || (l[strlen(base)] >= '2' && l[strlen(base)] <= '9')))
            seen++;
    }
    if (seen)
        snprintf(st->label, sizeof st->label, "%.26s%u", base, (unsigned)(seen + 1) % 100u);
    else
        bm_copy(st->label, sizeof st->label, base);
}

static int build_step(struct build *x, yaml_node_t *v, int index)
{
    struct bm_step *st = &x->c->steps[x->c->nsteps];
    char where[64];
    struct field fld = {.where = where};
    yaml_node_t *n, *k[K_NKEYS];
    const char *s;
    int which;
    bool all_known;

    bm_indexed(where, sizeof where, "steps", (unsigned)index);
#define FIELD(name) (fld.key = (name), &fld)
    memset(st, 0, sizeof *st);
    st->sock = -1;
    st->line = node_line(v);
    if (v->type != YAML_MAPPING_NODE)
        return bm_fail(x->err, x->t->file, node_line(v), where, "a step is a mapping {op: ..., socket: ...}");
    all_known = map_collect(x->t, v, step_keys, k);
    if (!(n = k[K_OP]))
        return bm_fail(x->err, x->t->file, node_line(v), field_text(FIELD("op")), "missing");
    if (choose_node(x, n, FIELD("op"), bm_op_names, &which))
        return -1;
    st->op = (enum bm_op)which;
    if (check_step_keys(x, v, where, st->op, all_known, k))
        return -1;
    if (st->op != BM_OP_DELIVER) {
        if (!(n = k[K_SOCKET]))
            return bm_fail(x->err, x->t->file, node_line(v), field_text(FIELD("socket")), "missing");
        if (find_socket(x, n, FIELD("socket"), &st->sock))
            return -1;
    }
    if (st->op == BM_OP_DELIVER && build_deliver(x, v, k, where, st))
        return -1;
    if (st->op == BM_OP_STATE) {
        st->precondition = true;
        if (!(n = k[K_STATE]))
            return bm_fail(x->err, x->t->file, node_line(v), field_text(FIELD("state")), "missing");
        if (choose_node(x, n, FIELD("state"), bm_state_names, &which))
            return -1;
        st->state = (enum bm_state)which;
        if (x->c->sockets[st->sock].proto == BM_PROTO_UDP &&
            st->state != BM_STATE_BOUND && st->state != BM_STATE_CONNECTED && st->state != BM_STATE_CLOSED)
            return bm_fail(x->err, x->t->file, node_line(n), field_text(&fld), "state '%s' needs a tcp socket", bm_state_names[which]);
    }
    if (st->op == BM_OP_STATE || st->op == BM_OP_BIND || st->op == BM_OP_DELIVER ||
        (st->op == BM_OP_CONNECT && k[K_ADDR])) {
        enum bm_family fam = st->op == BM_OP_DELIVER ? st->family : x->c->sockets[st->sock].family;
        bool connect_peer = false;

        if (!(n = k[K_ADDR]))
            return bm_fail(x->err, x->t->file, node_line(v), field_text(FIELD("addr")), "missing");
        if (build_addr(x, n, FIELD("addr"), fam, st->op == BM_OP_CONNECT, st->addr))
            return -1;
        connect_peer = st->op == BM_OP_CONNECT && strcmp(st->addr, "peer") == 0;
        if ((n = k[K_PORT])) {
            if (connect_peer)
                return bm_fail(x->err, x->t->file, node_line(n), field_text(FIELD("port")), "the peer has its own port");
            if (build_port(x, n, FIELD("port"), &st->port))
                return -1;
            st->has_port = true;
        } else if (!connect_peer) {
            return bm_fail(x->err, x->t->file, node_line(v), field_text(FIELD("port")), "missing");
        }
    } else if (st->op == BM_OP_CONNECT) {
        bm_copy(st->addr, sizeof st->addr, "peer");
    }
    if (st->op == BM_OP_SETSOCKOPT) {
        if (!k[K_OPTIONS])
            return bm_fail(x->err, x->t->file, node_line(v), field_text(FIELD("options")), "missing");
        if (build_options(x, k[K_OPTIONS], FIELD("options"), st->opts, &st->nopts))
            return -1;
    }
    if ((n = k[K_PRECONDITION])) {
        static const char *const bools[] = {"false", "true", NULL};
        if (choose_node(x, n, FIELD("precondition"), bools, &which))
            return -1;
        st->precondition = st->precondition || which;
    }
    if ((n = k[K_LABEL])) {
        if (scalar(x, n, FIELD("label"), &s) || check_field_len(x, n, &fld, s, BM_NAME_LEN - 1))
            return -1;
        if (!*s || strpbrk(s, " $[]"))
            return bm_fail(x->err, x->t->file, node_line(n), field_text(&fld), "labels are short words");
        bm_copy(st->label, sizeof st->label, s);
    } else {
        default_label(x, st);
    }
    for (size_t i = 0; i < x->c->nsteps; i++)
        if (strcmp(x->c->steps[i].label, st->label) == 0)
            return bm_fail(x->err, x->t->file, node_line(v), where, "label '%s' used twice", st->label);
#undef FIELD
    x->c->nsteps++;
    return 0;
}

/* A step's `when: {var: value | [values]}`: it is part of the case only where every variable
 * (matrix axis or derived) has that value. */
static int step_applies(struct build *x, yaml_node_t *step, const char *where, bool *applies)
{
    yaml_node_t *when = step->type == YAML_MAPPING_NODE ? map_get(x->t, step, "when") : NULL;
    char field[96];

    *applies = true;
    if (!when)
        return 0;
    bm_join(field, sizeof field, where, ".when", "");
    if (when->type != YAML_MAPPING_NODE)
        return bm_fail(x->err, x->t->file, node_line(when), field, "must be a mapping {axis: value}");
    for (yaml_node_pair_t *p = when->data.mapping.pairs.start; p < when->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_node(x->t, p->key), *v = yaml_node(x->t, p->value);
        const char *name, *have;
        bool any = false;

        if (pair_key(x->t, p, field, 0, &name, x->err))
            return -1;
        /* expand has checked names and values for the whole template; a derived variable
         * may still be undefined for this case's axis values */
        if (!(have = binding_get(x->b, name)))
            return bm_fail(x->err, x->t->file, node_line(k), field,
                           "'%s' is not a matrix axis or derived variable", name);
        if (v->type == YAML_SCALAR_NODE) {
            any = strcmp((char *)v->data.scalar.value, have) == 0;
        } else if (v->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
                yaml_node_t *item = yaml_node(x->t, *i);
                any = any || (item->type == YAML_SCALAR_NODE && strcmp((char *)item->data.scalar.value, have) == 0);
            }
        } else {
            return bm_fail(x->err, x->t->file, node_line(v), field, "values are scalars or lists of them");
        }
        *applies = *applies && any;
    }
    return 0;
}

static int build_steps(struct build *x)
{
    yaml_node_t *steps = yaml_node(x->t, x->t->steps_node);
    int index = 0;

    for (yaml_node_item_t *i = steps->data.sequence.items.start; i < steps->data.sequence.items.top; i++) {
        char where[32];
        bool applies;

        bm_indexed(where, sizeof where, "steps", (unsigned)index);
        if (step_applies(x, yaml_node(x->t, *i), where, &applies))
            return -1;
        if (!applies) {
            index++;
            continue;
        }
        if (x->c->nsteps == BM_MAX_STEPS)
            return bm_fail(x->err, x->t->file, node_line(yaml_node(x->t, *i)), "steps",
                           "more than %d steps", BM_MAX_STEPS);
        if (build_step(x, yaml_node(x->t, *i), index++))
            return -1;
    }
    if (x->c->nsteps == 0)
        return bm_fail(x->err, x->t->file, node_line(steps), "steps", "no steps");
    return 0;
}

/* Flat "name: value" mappings: fixed axes and sysctls. */
static int build_pairs(struct build *x, int node, const char *where, struct bm_kv *out,
                       size_t *n, size_t max)
{
    yaml_node_t *m = yaml_node(x->t, node);
    struct field fld = {.where = where};

    if (!m)
        return 0;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_node(x->t, p->key), *v = yaml_node(x->t, p->value);
        const char *key, *s;

        if (pair_key(x->t, p, where, sizeof out->key - 1, &key, x->err))
            return -1;
        fld.key = key;  /* its name fits: key checked above */
        if (*n == max)
            return bm_fail(x->err, x->t->file, node_line(k), where, "more than %zu entries", max);
        if (scalar(x, v, &fld, &s) || check_field_len(x, v, &fld, s, sizeof out->value - 1))
            return -1;
        for (size_t i = 0; i < *n; i++)
            if (strcmp(out[i].key, key) == 0)
                return bm_fail(x->err, x->t->file, node_line(k), field_text(&fld), "given twice");
        bm_copy(out[*n].key, sizeof out[*n].key, key);
        bm_copy(out[*n].value, sizeof out[*n].value, s);
        (*n)++;
    }
    return 0;
}

/* A sysctl whose value is "default" is left as the system has it: such cases need no
 * private namespace and run on every OS, e.g. the bindv6only=default half of a matrix. */
static void drop_default_sysctls(struct bm_case *c)
{
    size_t kept = 0;

    for (size_t i = 0; i < c->nsysctls; i++)
        if (strcmp(c->sysctls[i].value, "default") != 0)
            c->sysctls[kept++] = c->sysctls[i];
    c->nsysctls = kept;
}

static int check_sysctls(struct build *x)
{
    yaml_node_t *m = yaml_node(x->t, x->t->sysctl_node);

    drop_default_sysctls(x->c);

    for (size_t i = 0; i < x->c->nsysctls; i++) {
        const char *k = x->c->sysctls[i].key;
        if (strncmp(k, "net.", 4) != 0 || strstr(k, "..") || strchr(k, '/'))
            return bm_fail(x->err, x->t->file, node_line(m), "sysctl",
                           "'%s': only net.* sysctls, which live in the runner's namespace", k);
    }
    return 0;
}

int case_build(const struct bm_template *t, const struct bm_binding *b, struct bm_case *c,
               struct bm_error *err)
{
    struct build x = {t, b, c, err};

    c->capture = t->capture;
    return build_pairs(&x, t->axes_node, "axes", c->axes, &c->naxes, BM_MAX_AXES) ||
           build_pairs(&x, t->sysctl_node, "sysctl", c->sysctls, &c->nsysctls, BM_MAX_SYSCTLS) ||
           check_sysctls(&x) || build_sockets(&x) || build_steps(&x);
}
