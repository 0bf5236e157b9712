#include "results.h"
#include "atomic.h"
#include "diag.h"
#include "names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

json_t *bm_json_text(const char *s)
{
    size_t len = strlen(s), bad = bm_utf8_bad_at((const unsigned char *)s, len);
    char *copy;
    json_t *j;

    /* checked here already: jansson need not check it again (every case's title and ref
     * go into every result line) */
    if (bad == len)
        return json_stringn_nocheck(s, len);
    if (!(copy = strdup(s)))
        return NULL;
    for (; bad < len; bad += 1 + bm_utf8_bad_at((unsigned char *)copy + bad + 1, len - bad - 1))
        copy[bad] = '?';
    j = json_stringn_nocheck(copy, len);
    free(copy);
    return j;
}

json_t *bm_json_kv(const struct bm_kv *kv, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, kv[i].key, bm_json_text(kv[i].value));
    return o;
}

static json_t *delivery_json(const struct bm_case *c, const struct bm_step *st,
                             const struct bm_delivery *d)
{
    json_t *o = json_object(), *recv = json_object();

    json_object_set_new(o, "sent", json_integer(d->sent));
    if (d->to[0])
        json_object_set_new(o, "to", bm_json_text(d->to));
    for (size_t i = 0; i < d->nreceivers && i < st->nreceivers; i++)
        json_object_set_new(recv, c->sockets[st->receivers[i]].name, json_integer(d->received[i]));
    json_object_set_new(o, "received", recv);
    return o;
}

static json_t *case_json(const struct bm_case *c)
{
    json_t *o = json_object();

    json_object_set_new(o, "record", bm_json_text("case"));
    json_object_set_new(o, "id", bm_json_text(c->id));
    json_object_set_new(o, "scenario", bm_json_text(c->scenario));
    json_object_set_new(o, "title", bm_json_text(c->title));
    json_object_set_new(o, "ref", bm_json_text(c->ref));
    json_object_set_new(o, "axes", bm_json_kv(c->axes, c->naxes));
    if (c->nsysctls)
        json_object_set_new(o, "sysctl", bm_json_kv(c->sysctls, c->nsysctls));
    return o;
}

static char *dump(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    return s;
}

char *results_case_line(const struct bm_case *c, const struct bm_outcome *o,
                        const struct bm_evidence *ev)
{
    json_t *root = case_json(c), *steps = json_array(), *deliveries = json_object();

    json_object_set_new(root, "status", bm_json_text(bm_status_names[o->status]));
    if (o->status != BM_STATUS_OBSERVED)
        json_object_set_new(root, "reason", bm_json_text(o->reason[0] ? o->reason : "no reason given"));
    if (o->status == BM_STATUS_SKIPPED && o->capability[0])
        json_object_set_new(root, "capability", bm_json_text(o->capability));
    for (size_t i = 0; i < o->nsteps && i < c->nsteps; i++) {
        const struct bm_step *st = &c->steps[i];
        const struct bm_step_result *r = &o->steps[i];
        json_t *s = json_object();

        json_object_set_new(s, "label", bm_json_text(st->label));
        json_object_set_new(s, "op", bm_json_text(bm_op_names[st->op]));
        if (st->sock >= 0)
            json_object_set_new(s, "socket", bm_json_text(c->sockets[st->sock].name));
        if (st->op == BM_OP_STATE)
            json_object_set_new(s, "state", bm_json_text(bm_state_names[st->state]));
        if (r->addr[0])
            json_object_set_new(s, "addr", bm_json_text(r->addr));
        if (r->port)
            json_object_set_new(s, "port", json_integer(r->port));
        json_object_set_new(s, "result", bm_json_text(r->result[0] ? r->result : "not-run"));
        if (r->has_delivery) {
            json_object_set_new(s, "delivery", delivery_json(c, st, &r->delivery));
            json_object_set_new(deliveries, st->label, delivery_json(c, st, &r->delivery));
        }
        json_array_append_new(steps, s);
    }
    json_object_set_new(root, "steps", steps);
    if (json_object_size(deliveries))
        json_object_set_new(root, "delivery", deliveries);
    else
        json_decref(deliveries);
    json_object_set_new(root, "duration_us", json_integer(o->duration_us > 0 ? o->duration_us : 0));
    if (ev)
        json_object_set_new(root, "evidence", json_pack("[{s:s, s:o, s:o}]", "kind", "pcap",
                                                        "path", bm_json_text(ev->path),
                                                        "note", bm_json_text(ev->note)));
    return dump(root);
}

char *results_error_line(const struct bm_case *c, const char *reason)
{
    json_t *root = case_json(c);

    json_object_set_new(root, "status", bm_json_text("error"));
    json_object_set_new(root, "reason", bm_json_text(reason));
    json_object_set_new(root, "steps", json_array());
    return dump(root);
}

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int results_write(const char *path, json_t *run, bm_line_fn line, void *ctx, size_t n,
                  const long counts[3], long duration_ms, json_t *phases)
{
    long start = mono_ms();
    struct bm_atomic a;
    json_t *end;
    char *s;

    if (atomic_open(&a, path))
        return -1;
    s = json_dumps(run, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    fprintf(a.f, "%s\n", s);
    free(s);
    for (size_t i = 0; i < n; i++) {
        const char *text = line(ctx, i);
        if (!text) {
            int saved = errno ? errno : EIO;
            atomic_abort(&a);
            json_decref(phases);
            errno = saved;
            return -1;
        }
        fputs(text, a.f);
        fputc('\n', a.f);
    }
    end = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "record", "end", "cases", (json_int_t)n,
                    "observed", (json_int_t)counts[0], "skipped", (json_int_t)counts[1],
                    "error", (json_int_t)counts[2], "duration_ms",
                    (json_int_t)(duration_ms + (phases ? mono_ms() - start : 0)));
    if (phases) {
        json_object_set_new(phases, "write", json_integer(mono_ms() - start));
        json_object_set_new(end, "phases_ms", phases);
    }
    s = dump(end);
    fprintf(a.f, "%s\n", s);
    free(s);
    return atomic_commit(&a);
}
