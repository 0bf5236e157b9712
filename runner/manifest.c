#include "manifest.h"
#include "atomic.h"
#include "jsonw.h"
#include "errnames.h"
#include "names.h"
#include "results.h"
#include "sandbox.h"
#include "sockopts.h"
#include "sysinfo.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_OUT (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)

static json_t *names_json(const char *const *names)
{
    json_t *a = json_array();
    for (; *names; names++)
        json_array_append_new(a, bm_json_text(*names));
    return a;
}

/* The placeholder as the case file wrote it: "0", "P1", "privileged2". */
static void port_text(const struct bm_port *p, char *s, size_t len)
{
    if (p->kind == BM_PORT_ZERO)
        snprintf(s, len, "0");
    else
        snprintf(s, len, "%s%d", p->kind == BM_PORT_FRESH ? "P" : "privileged", p->index);
}

static json_t *port_json(const struct bm_port *p)
{
    char s[24];

    port_text(p, s, sizeof s);
    return bm_json_text(s);
}

/* The members below are written in the order of their names: the case's text is its
 * sorted, compact JSON, which the hash reads and the manifest holds. */

static void opts_text(struct bm_jw *w, const struct bm_opt *opts, size_t n)
{
    jw_raw(w, "[");
    for (size_t i = 0; i < n; i++) {
        jw_raw(w, i ? ",{\"name\":" : "{\"name\":");
        jw_str(w, opts[i].name);
        jw_raw(w, ",\"value\":");
        jw_int(w, opts[i].value);
        jw_raw(w, "}");
    }
    jw_raw(w, "]");
}

static void step_text(struct bm_jw *w, const struct bm_case *c, const struct bm_step *st, bool lines)
{
    bool deliver = st->op == BM_OP_DELIVER;
    char port[24];

    /* addr, count, family, from, label, line, op, options, port, precondition, proto,
     * receivers, socket, state */
    jw_raw(w, "{");
    if (st->addr[0]) {
        jw_raw(w, "\"addr\":");
        jw_str(w, st->addr);
        jw_raw(w, ",");
    }
    if (deliver) {
        jw_raw(w, "\"count\":");
        jw_int(w, st->count);
        jw_member_word(w, "family", bm_family_names[st->family]);
        jw_member(w, "from", st->from);
        jw_raw(w, ",");
    }
    jw_raw(w, "\"label\":");
    jw_str(w, st->label);
    if (lines) {
        jw_member(w, "line", NULL);
        jw_int(w, st->line);
    }
    jw_member_word(w, "op", bm_op_names[st->op]);
    if (st->op == BM_OP_SETSOCKOPT) {
        jw_member(w, "options", NULL);
        opts_text(w, st->opts, st->nopts);
    }
    if (st->has_port) {
        port_text(&st->port, port, sizeof port);
        jw_member_word(w, "port", port);
    }
    jw_member(w, "precondition", NULL);
    jw_raw(w, st->precondition ? "true" : "false");
    if (deliver) {
        jw_member_word(w, "proto", bm_proto_names[st->proto]);
        jw_member(w, "receivers", NULL);
        jw_raw(w, "[");
        for (size_t i = 0; i < st->nreceivers; i++) {
            if (i)
                jw_raw(w, ",");
            jw_str(w, c->sockets[st->receivers[i]].name);
        }
        jw_raw(w, "]");
    }
    if (st->sock >= 0)
        jw_member(w, "socket", c->sockets[st->sock].name);
    if (st->op == BM_OP_STATE)
        jw_member_word(w, "state", bm_state_names[st->state]);
    jw_raw(w, "}");
}

char *manifest_case_text(const struct bm_case *c, bool lines)
{
    struct bm_jw w;

    jw_init(&w, false);
    jw_raw(&w, "{\"axes\":");
    jw_kv(&w, c->axes, c->naxes, true);
    jw_member(&w, "capture", NULL);
    jw_raw(&w, c->capture ? "true" : "false");
    jw_member(&w, "id", c->id);
    jw_member(&w, "scenario", c->scenario);
    jw_member(&w, "sockets", NULL);
    jw_raw(&w, "[");
    for (size_t i = 0; i < c->nsockets; i++) {
        const struct bm_socket *s = &c->sockets[i];
        jw_raw(&w, i ? ",{\"family\":" : "{\"family\":");
        jw_word(&w, bm_family_names[s->family]);
        jw_member(&w, "name", s->name);
        jw_member(&w, "options", NULL);
        opts_text(&w, s->opts, s->nopts);
        jw_member_word(&w, "proto", bm_proto_names[s->proto]);
        jw_member_word(&w, "user", bm_user_names[s->user]);
        jw_raw(&w, "}");
    }
    jw_raw(&w, "]");
    jw_member(&w, "steps", NULL);
    jw_raw(&w, "[");
    for (size_t i = 0; i < c->nsteps; i++) {
        if (i)
            jw_raw(&w, ",");
        step_text(&w, c, &c->steps[i], lines);
    }
    jw_raw(&w, "]");
    if (c->nsysctls) {
        jw_member(&w, "sysctl", NULL);
        jw_kv(&w, c->sysctls, c->nsysctls, true);
    }
    jw_raw(&w, "}");
    return jw_finish(&w);
}

/* FNV-1a 64 of a case's text (manifest_case_text), and a newline. */
static uint64_t hash_text_of(uint64_t h, const char *s)
{
    for (const char *p = s ? s : ""; ; p++) {
        h ^= (unsigned char)(*p ? *p : '\n');
        h *= 0x100000001b3u;     /* FNV-1a 64 prime */
        if (!*p)
            break;
    }
    return h;
}

#define FNV_OFFSET 0xcbf29ce484222325u   /* FNV-1a 64 offset basis */

static void hash_text(uint64_t h, char out[BM_HASH_LEN])
{
    snprintf(out, BM_HASH_LEN, "fnv1a64:%016llx", (unsigned long long)h);
}

void manifest_hash_init(struct bm_case_hash *hash)
{
    hash->h = FNV_OFFSET;
    hash->failed = false;
}

void manifest_hash_add(struct bm_case_hash *hash, const struct bm_case *c)
{
    char *text = manifest_case_text(c, false);

    if (!text)
        hash->failed = true;
    else
        hash->h = hash_text_of(hash->h, text);
    free(text);
}

int manifest_hash_end(const struct bm_case_hash *hash, char out[BM_HASH_LEN])
{
    hash_text(hash->h, out);
    return hash->failed ? -1 : 0;
}

void manifest_case_set_hash(const struct bm_case *cases, size_t n, char out[BM_HASH_LEN])
{
    struct bm_case_hash hash;

    manifest_hash_init(&hash);
    for (size_t i = 0; i < n; i++)
        manifest_hash_add(&hash, &cases[i]);
    manifest_hash_end(&hash, out);
}

/* ---- vocabulary: every word a case or a result may hold ------------------------------- */

static void add_bool(const char *name, bool value, void *ctx)
{
    json_object_set_new((json_t *)ctx, name, json_boolean(value));
}

static void add_meaning(const char *name, const char *meaning, void *ctx)
{
    json_object_set_new((json_t *)ctx, name, bm_json_text(meaning));
}

static json_t *vocabulary_json(void)
{
    static const struct bm_port kinds[] = {{BM_PORT_FRESH, 0}, {BM_PORT_PRIVILEGED, 0}};
    json_t *v = json_object(), *ports = json_array(), *opts = json_object(), *errs = json_object(),
           *results = json_object();

    json_array_append_new(ports, bm_json_text("0"));
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (int i = 1; i <= 9; i++) {
            struct bm_port p = {kinds[k].kind, i};
            json_array_append_new(ports, port_json(&p));
        }
    sockopt_each(add_bool, opts);
    errno_each(add_bool, errs);
    bm_result_each(add_meaning, results);
    json_object_set_new(v, "ops", names_json(bm_op_names));
    json_object_set_new(v, "states", names_json(bm_state_names));
    json_object_set_new(v, "addresses", names_json(bm_address_names));
    json_object_set_new(v, "ports", ports);
    json_object_set_new(v, "protos", names_json(bm_proto_names));
    json_object_set_new(v, "families", names_json(bm_family_names));
    json_object_set_new(v, "users", names_json(bm_user_names));
    json_object_set_new(v, "from", names_json(bm_from_names));
    json_object_set_new(v, "statuses", names_json(bm_status_names));
    json_object_set_new(v, "options", opts);
    json_object_set_new(v, "errors", errs);
    json_object_set_new(v, "runner_results", results);
    json_object_set_new(v, "sysctls", names_json(sysinfo_bind_sysctls()));
    {   /* what a run may lack (a skipped case's "capability"; also option:NAME, sysctl:NAME) */
        json_t *caps = json_array();
        for (int c = 0; c < BM_CAP_COUNT; c++)
            json_array_append_new(caps, bm_json_text(sandbox_cap_name((enum bm_cap)c)));
        json_object_set_new(v, "capabilities", caps);
    }
    return v;
}

/* ---- scenarios: one entry per case file, from its selected cases ---------------------- */

/* Prose as one line: runs of whitespace become one space (YAML `>` leaves a newline). */
static json_t *folded(const char *s)
{
    char *out = malloc(strlen(s) + 1);
    size_t j = 0;
    json_t *r;

    if (!out)
        return NULL;
    for (; *s; s++) {
        bool space = isspace((unsigned char)*s);
        if (space && (j == 0 || out[j - 1] == ' '))
            continue;
        out[j++] = space ? ' ' : *s;
    }
    while (j > 0 && out[j - 1] == ' ')
        j--;
    out[j] = '\0';
    r = bm_json_text(out);
    free(out);
    return r;
}

/* The axis named name; each case of a scenario has its axes in the same order, so the one
 * at position `at` is looked at first. */
static json_t *find_named(json_t *axes, size_t at, const char *name)
{
    size_t i;
    json_t *ax = json_array_get(axes, at);

    if (ax && strcmp(json_string_value(json_object_get(ax, "name")), name) == 0)
        return ax;
    json_array_foreach(axes, i, ax)
        if (strcmp(json_string_value(json_object_get(ax, "name")), name) == 0)
            return ax;
    return NULL;
}

static bool has_string(json_t *a, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(a, i, v)
        if (strcmp(json_string_value(v), s) == 0)
            return true;
    return false;
}

/* A case's axes added to its scenario's (values in first-seen order; a fixed axis may vary
 * through "$var"); axes_finish() then says which vary. */
static void axes_add(json_t *axes, const struct bm_case *c)
{
    json_t *ax;

    for (size_t a = 0; a < c->naxes; a++) {
        const struct bm_kv *kv = &c->axes[a];
        if (!(ax = find_named(axes, a, kv->key))) {
            ax = json_pack("{s:s, s:[], s:b, s:b}", "name", kv->key, "values", "matrix",
                           a >= c->nfixed, "varies", 0);
            json_array_append_new(axes, ax);
        }
        if (!has_string(json_object_get(ax, "values"), kv->value))
            json_array_append_new(json_object_get(ax, "values"), bm_json_text(kv->value));
    }
}

static void axes_finish(json_t *axes)
{
    size_t i;
    json_t *ax;

    json_array_foreach(axes, i, ax)
        json_object_set_new(ax, "varies", json_boolean(json_array_size(json_object_get(ax, "values")) > 1));
}

/* The scenario entry of a case file, from its first selected case; "cases" and "axes" grow
 * as its cases are written. */
static json_t *scenario_start(const struct bm_case *c)
{
    const char *slash = strrchr(c->file, '/');
    json_t *o = json_object(), *dir = slash ? json_stringn(c->file, (size_t)(slash - c->file))
                                            : bm_json_text(".");
    /* absolute, so that a manifest file means the same from any folder it is read in */
    char *abs = realpath(json_string_value(dir), NULL);

    if (abs) {
        json_decref(dir);
        dir = bm_json_text(abs);
        free(abs);
    }
    json_object_set_new(o, "scenario", bm_json_text(c->scenario));
    json_object_set_new(o, "file", bm_json_text(c->file));
    json_object_set_new(o, "dir", dir);
    json_object_set_new(o, "title", bm_json_text(c->title));
    json_object_set_new(o, "ref", bm_json_text(c->ref));
    json_object_set_new(o, "why", folded(c->why ? c->why : ""));
    json_object_set_new(o, "capture", json_boolean(c->capture));
    json_object_set_new(o, "cases", json_integer(0));
    json_object_set_new(o, "axes", json_array());
    return o;
}

/* `"key":` and the value's JSON on f; false on a failure (errno set). */
static bool put_member(FILE *f, const char *key, json_t *value, bool first)
{
    char *text = value ? json_dumps(value, JSON_OUT | JSON_ENCODE_ANY) : NULL;
    bool ok = text && fprintf(f, "%s\"%s\":%s", first ? "" : ",", key, text) >= 0;

    if (!text)
        errno = ENOMEM;
    free(text);
    json_decref(value);
    return ok;
}

void manifest_collect_init(struct bm_manifest_collector *m, FILE *body)
{
    memset(m, 0, sizeof *m);
    m->body = body;
    manifest_hash_init(&m->hash);
    if (!(m->scenarios = json_array()))
        m->failed = ENOMEM;
}

void manifest_collect(void *collector, const struct bm_case *c)
{
    struct bm_manifest_collector *m = collector;
    char *text;
    size_t len;
    bool ok;

    if (m->failed)
        return;
    text = manifest_case_text(c, false);
    len = text ? strlen(text) : 0;
    if (!text || len < 2 || text[len - 1] != '}') {
        free(text);
        m->failed = ENOMEM;
        return;
    }
    /* one text serves both: the hash reads it, and it is written with the steps' lines
     * added as the case's last member */
    m->hash.h = hash_text_of(m->hash.h, text);
    text[len - 1] = '\0';
    ok = (!m->n || fputc(',', m->body) != EOF) && fputs(text, m->body) != EOF &&
         fputs(",\"step_lines\":[", m->body) != EOF;
    {   /* the steps' lines, "3,5,9", put in one write to the body */
        char lines[BM_MAX_STEPS * 12 + 4], *at = lines;
        for (size_t k = 0; k < c->nsteps && k < BM_MAX_STEPS; k++)
            at += sprintf(at, k ? ",%d" : "%d", c->steps[k].line);
        strcpy(at, "]}");
        ok = ok && fputs(lines, m->body) != EOF;
    }
    free(text);
    if (!ok) {
        m->failed = errno ? errno : EIO;
        return;
    }
    m->n++;
    /* a file's cases are contiguous and share its strings */
    if (c->file != m->scen_file) {
        m->scen = scenario_start(c);
        m->scen_file = c->file;
        json_array_append_new(m->scenarios, m->scen);
    }
    json_t *count = json_object_get(m->scen, "cases");
    json_integer_set(count, json_integer_value(count) + 1);
    axes_add(json_object_get(m->scen, "axes"), c);
}

int manifest_collect_more(struct bm_manifest_collector *m, const struct bm_case_list *list,
                          size_t *next, size_t n)
{
    for (; !m->failed && n > 0 && *next < list->n; n--, (*next)++) {
        struct bm_case scratch;
        struct bm_error err = {0};
        const struct bm_case *c = case_list_build(list, *next, &scratch, &err);
        if (c) {
            manifest_collect(m, c);
        } else {
            m->unbuilt = bm_error_text(&err);
            m->failed = m->unbuilt ? EINVAL : ENOMEM;
        }
        bm_error_free(&err);
    }
    return m->failed ? -1 : *next < list->n ? 0 : 1;
}

/* The collected cases' text, from the start of the body, on f. */
static bool copy_body(FILE *body, FILE *f)
{
    char buf[65536];
    size_t got;

    if (fflush(body) != 0 || fseek(body, 0, SEEK_SET) != 0)
        return false;
    while ((got = fread(buf, 1, sizeof buf, body)) > 0)
        if (fwrite(buf, 1, got, f) != got)
            return false;
    return !ferror(body);
}

/* What comes before the cases, up to and with the cases' opening bracket. */
static bool put_head(FILE *f, const struct bm_selection *sel, const char *output,
                     const char *evidence)
{
    bool ok = fputc('{', f) != EOF &&
              put_member(f, "schema", json_integer(BM_MANIFEST_SCHEMA), true) &&
              put_member(f, "kind", bm_json_text("bindmatrix-manifest"), false) &&
              put_member(f, "runner_version", bm_json_text(BINDMATRIX_VERSION), false) &&
              put_member(f, "selection", selection_json(sel), false);

    if (ok && output)
        ok = put_member(f, "output", bm_json_text(output), false) &&
             put_member(f, "evidence", evidence ? bm_json_text(evidence) : json_null(), false);
    return ok && put_member(f, "vocabulary", vocabulary_json(), false) &&
           fputs(",\"cases\":[", f) != EOF;
}

/* The hash made, and what follows the cases: its closing bracket, the scenarios, the hash. */
static int put_tail(struct bm_manifest_collector *m, FILE *f, char hash_out[BM_HASH_LEN])
{
    size_t k;
    json_t *scen;

    manifest_hash_end(&m->hash, hash_out);
    if (m->failed) {
        errno = m->failed;
        return -1;
    }
    json_array_foreach(m->scenarios, k, scen)
        axes_finish(json_object_get(scen, "axes"));
    return fputc(']', f) != EOF && put_member(f, "scenarios", json_incref(m->scenarios), false) &&
           put_member(f, "case_set_hash", bm_json_text(hash_out), false) &&
           fputs("}\n", f) != EOF ? 0 : -1;
}

static int failed_write(void)
{
    if (!errno)
        errno = EIO;
    return -1;
}

int manifest_emit(struct bm_manifest_collector *m, FILE *f, const struct bm_selection *sel,
                  const char *output, const char *evidence, char hash_out[BM_HASH_LEN])
{
    errno = 0;  /* what a failed write leaves is its own, not an earlier call's */
    if (m->headed || m->failed) {   /* a body with its head is published whole */
        errno = m->failed ? m->failed : EINVAL;
        return -1;
    }
    if (!put_head(f, sel, output, evidence) || !copy_body(m->body, f))
        return failed_write();
    return put_tail(m, f, hash_out) == 0 ? 0 : m->failed ? -1 : failed_write();
}

int manifest_begin(struct bm_manifest_collector *m, const struct bm_selection *sel,
                   const char *output, const char *evidence)
{
    errno = 0;
    if (m->n || m->headed) {
        errno = EINVAL;
        return -1;
    }
    m->headed = true;
    return put_head(m->body, sel, output, evidence) ? 0 : failed_write();
}

int manifest_finish(struct bm_manifest_collector *m, char hash_out[BM_HASH_LEN])
{
    errno = 0;
    if (!m->headed) {
        errno = EINVAL;
        return -1;
    }
    return put_tail(m, m->body, hash_out) == 0 ? 0 : m->failed ? -1 : failed_write();
}

void manifest_collect_free(struct bm_manifest_collector *m)
{
    free(m->unbuilt);
    m->unbuilt = NULL;
    json_decref(m->scenarios);
    m->scenarios = NULL;
}

int manifest_stream(FILE *f, const struct bm_case_list *list, const struct bm_selection *sel,
                    const char *output, const char *evidence, char hash_out[BM_HASH_LEN])
{
    struct bm_manifest_collector m;
    FILE *body = tmpfile();
    size_t next = 0;
    int rc, saved;

    if (!body)
        return -1;
    manifest_collect_init(&m, body);
    manifest_collect_more(&m, list, &next, SIZE_MAX);
    rc = manifest_emit(&m, f, sel, output, evidence, hash_out);
    saved = errno;
    manifest_collect_free(&m);
    fclose(body);
    errno = saved;
    return rc;
}

json_t *manifest_json(const struct bm_case_list *list, const struct bm_selection *sel,
                      const char *output, const char *evidence)
{
    char *text = NULL, hash[BM_HASH_LEN];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    json_t *m = NULL;

    if (!f)
        return NULL;
    if (manifest_stream(f, list, sel, output, evidence, hash) == 0 && fflush(f) == 0)
        m = json_loadb(text, len, 0, NULL);
    fclose(f);
    free(text);
    return m;
}

int manifest_print(FILE *f, const json_t *m)
{
    /* one buffer, one write: json_dumpf writes piecewise, about a third of the cost */
    char *text = json_dumps(m, JSON_OUT);
    int rc;

    if (!text) {
        errno = ENOMEM; /* jansson says no more */
        return -1;
    }
    rc = fputs(text, f) == EOF || fputc('\n', f) == EOF ? -1 : 0;
    free(text);
    return rc;
}

int manifest_write(const char *path, const json_t *m)
{
    struct bm_atomic a;

    if (atomic_open(&a, path))
        return -1;
    if (manifest_print(a.f, m) != 0) {
        int saved = errno;
        atomic_abort(&a);
        errno = saved;
        return -1;
    }
    return atomic_commit(&a);
}
