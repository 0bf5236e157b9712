#include "results.h"
#include "atomic.h"
#include "jsonw.h"
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
    bm_utf8_mark_bad((unsigned char *)copy, bad, len);
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

/* The members a case's line and its error line begin with, in their order. */
static void case_head(struct bm_jw *w, const struct bm_case *c)
{
    jw_raw(w, "{\"record\":\"case\",\"id\":");
    jw_str(w, c->id);
    jw_member(w, "scenario", c->scenario);
    jw_member(w, "title", c->title);
    jw_member(w, "ref", c->ref);
    jw_member(w, "axes", NULL);
    jw_kv(w, c->axes, c->naxes, false);
    if (c->nsysctls) {
        jw_member(w, "sysctl", NULL);
        jw_kv(w, c->sysctls, c->nsysctls, false);
    }
}

/* {"sent":N,"to":...,"received":{socket:N,...}}: a socket named twice keeps its first place
 * and last count, as a JSON object does. */
static void delivery_text(struct bm_jw *w, const struct bm_case *c, const struct bm_step *st,
                          const struct bm_delivery *d)
{
    size_t n = d->nreceivers < st->nreceivers ? d->nreceivers : st->nreceivers, shown = 0;

    jw_raw(w, "{\"sent\":");
    jw_int(w, d->sent);
    if (d->to[0])
        jw_member(w, "to", d->to);
    jw_raw(w, ",\"received\":{");
    for (size_t i = 0; i < n; i++) {
        const char *name = c->sockets[st->receivers[i]].name;
        size_t last = i, k;
        for (k = 0; k < i && strcmp(c->sockets[st->receivers[k]].name, name) != 0; k++)
            ;
        if (k < i)
            continue;       /* said already */
        for (k = i + 1; k < n; k++)
            if (strcmp(c->sockets[st->receivers[k]].name, name) == 0)
                last = k;
        jw_raw(w, shown++ ? "," : "");
        jw_str(w, name);
        jw_raw(w, ":");
        jw_int(w, d->received[last]);
    }
    jw_raw(w, "}}");
}

char *results_case_line(const struct bm_case *c, const struct bm_outcome *o,
                        const struct bm_evidence *ev)
{
    size_t n = o->nsteps < c->nsteps ? o->nsteps : c->nsteps, deliveries = 0;
    struct bm_jw w;

    jw_init(&w, true);
    case_head(&w, c);
    jw_member_word(&w, "status", bm_status_names[o->status]);
    if (o->status != BM_STATUS_OBSERVED)
        jw_member(&w, "reason", o->reason[0] ? o->reason : "no reason given");
    if (o->status == BM_STATUS_SKIPPED && o->capability[0])
        jw_member(&w, "capability", o->capability);
    jw_raw(&w, ",\"steps\":[");
    for (size_t i = 0; i < n; i++) {
        const struct bm_step *st = &c->steps[i];
        const struct bm_step_result *r = &o->steps[i];

        jw_raw(&w, i ? ",{\"label\":" : "{\"label\":");
        jw_str(&w, st->label);
        jw_member_word(&w, "op", bm_op_names[st->op]);
        if (st->sock >= 0)
            jw_member(&w, "socket", c->sockets[st->sock].name);
        if (st->op == BM_OP_STATE)
            jw_member_word(&w, "state", bm_state_names[st->state]);
        if (r->addr[0])
            jw_member(&w, "addr", r->addr);
        if (r->port) {
            jw_member(&w, "port", NULL);
            jw_int(&w, r->port);
        }
        jw_member(&w, "result", r->result[0] ? r->result : "not-run");
        if (r->has_delivery) {
            jw_member(&w, "delivery", NULL);
            delivery_text(&w, c, st, &r->delivery);
            deliveries++;
        }
        jw_raw(&w, "}");
    }
    jw_raw(&w, "]");
    /* the deliveries again, by step label (labels are unique in a case) */
    for (size_t i = 0, k = 0; deliveries && i < n; i++)
        if (o->steps[i].has_delivery) {
            jw_raw(&w, k++ ? "," : ",\"delivery\":{");
            jw_str(&w, c->steps[i].label);
            jw_raw(&w, ":");
            delivery_text(&w, c, &c->steps[i], &o->steps[i].delivery);
        }
    if (deliveries)
        jw_raw(&w, "}");
    jw_member(&w, "duration_us", NULL);
    jw_int(&w, o->duration_us > 0 ? o->duration_us : 0);
    if (ev) {
        jw_raw(&w, ",\"evidence\":[{\"kind\":\"pcap\",\"path\":");
        jw_str(&w, ev->path);
        jw_member(&w, "note", ev->note);
        jw_raw(&w, "}]");
    }
    jw_raw(&w, "}");
    return jw_finish(&w);
}

char *results_error_line(const struct bm_case *c, const char *reason)
{
    struct bm_jw w;

    jw_init(&w, true);
    case_head(&w, c);
    jw_raw(&w, ",\"status\":\"error\",\"reason\":");
    jw_str(&w, reason);
    jw_raw(&w, ",\"steps\":[]}");
    return jw_finish(&w);
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
    return results_write_then(path, run, line, ctx, n, counts, duration_ms, phases, NULL, NULL);
}

int results_write_then(const char *path, json_t *run, bm_line_fn line, void *ctx, size_t n,
                       const long counts[3], long duration_ms, json_t *phases,
                       int (*then)(void *), void *then_ctx)
{
    long start = mono_ms();
    struct bm_atomic a;
    json_t *end;
    char *s;

    if (atomic_open(&a, path)) {
        json_decref(phases);    /* taken: as on every other way out */
        return -1;
    }
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
    s = json_dumps(end, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(end);
    fprintf(a.f, "%s\n", s ? s : "");
    free(s);
    if (then) {
        atomic_start_writeback(a.f);    /* written out while `then` runs */
        if (then(then_ctx) != 0) {
            int saved = errno;
            atomic_abort(&a);
            errno = saved;
            return -1;
        }
    }
    return atomic_commit(&a);
}
