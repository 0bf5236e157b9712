/* The JSON the runner writes without building a tree is the text jansson writes for the
 * same values: strings (escapes, non-ASCII, bad UTF-8), objects with a key given twice, and
 * every case of cases/, as its manifest entry and as a result line. */
#include "casefiles.h"
#include "expand.h"
#include "jsonw.h"
#include "manifest.h"
#include "names.h"
#include "results.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define SORTED (JSON_COMPACT | JSON_SORT_KEYS)
#define LINE (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)

static char *written(const char *s, bool ascii)
{
    struct bm_jw w;

    jw_init(&w, ascii);
    jw_str(&w, s);
    return jw_finish(&w);
}

/* text, parsed by jansson and written again with flags: the same bytes */
static void canonical(const char *text, size_t flags, const char *what)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    char *again;

    cr_assert_not_null(j, "%s: not JSON (%s): %.300s", what, e.text, text);
    again = json_dumps(j, flags);
    cr_assert_str_eq(again, text, "%s", what);
    free(again);
    json_decref(j);
}

Test(jsonw, strings_as_jansson_writes_them)
{
    static const char *const cases[] = {
        "", "plain", "quote \" and backslash \\", "tab\tnew\nline\rcr\bbs\fff",
        "\x01\x1f control", "slash / stays", "\x7f del", "caf\xc3\xa9", "\xe2\x80\xa8 sep",
        "emoji \xf0\x9f\x98\x80", "bad \xff byte", "cut \xe2\x82", "overlong \xc0\xaf",
        "surrogate \xed\xa0\x80",
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int ascii = 0; ascii < 2; ascii++) {
            json_t *j = bm_json_text(cases[i]);
            char *want = json_dumps(j, JSON_ENCODE_ANY | (ascii ? JSON_ENSURE_ASCII : 0));
            char *got = written(cases[i], ascii);
            cr_assert_str_eq(got, want, "string %zu, ascii %d", i, ascii);
            free(want);
            free(got);
            json_decref(j);
        }
}

Test(jsonw, a_key_given_twice_keeps_its_place_and_last_value)
{
    const struct bm_kv kv[] = {{"b", "1"}, {"a", "2"}, {"b", "3"}, {"c", "4"}};
    json_t *o = json_object();
    struct bm_jw w;
    char *want, *got;

    for (size_t i = 0; i < 4; i++)
        json_object_set_new(o, kv[i].key, json_string(kv[i].value));
    for (int sorted = 0; sorted < 2; sorted++) {
        jw_init(&w, true);
        jw_kv(&w, kv, 4, sorted);
        got = jw_finish(&w);
        want = json_dumps(o, sorted ? SORTED : LINE);
        cr_assert_str_eq(got, want);
        free(got);
        free(want);
    }
    json_decref(o);
}

/* Every case of the repository: its manifest text is jansson's sorted text, and its result
 * line (every step given a result, an address, a port and, where it delivers, counts) is
 * jansson's text in its own order. */
Test(jsonw, every_case_of_the_repository)
{
    const char *paths[] = {BM_SOURCE_DIR "/cases"};
    struct bm_case_list l = {0};
    struct bm_error err = {0};

    if (casefiles_load(paths, 1, NULL, &l, &err))
        cr_assert_fail("%s", bm_error_text(&err));
    cr_assert_gt(l.n, 1000);
    for (size_t i = 0; i < l.n; i++) {
        const struct bm_case *c = &l.items[i];
        struct bm_outcome *o = calloc(1, sizeof *o);
        struct bm_evidence ev = {"r.evidence/x.pcap", "3 packets to or from port 10000"};
        char *text = manifest_case_text(c, i % 2 == 0), *line;

        canonical(text, SORTED, c->id);
        free(text);
        o->status = (enum bm_status)(i % 3);
        snprintf(o->reason, sizeof o->reason, "reason \"%zu\"", i);
        snprintf(o->capability, sizeof o->capability, "option:x");
        o->nsteps = c->nsteps;
        o->duration_us = (long)i;
        for (size_t k = 0; k < c->nsteps; k++) {
            struct bm_step_result *r = &o->steps[k];
            snprintf(r->result, sizeof r->result, k % 2 ? "EADDRINUSE" : "ok");
            snprintf(r->addr, sizeof r->addr, "127.0.0.%zu", k + 1);
            r->port = (int)(10000 + k);
            if (c->steps[k].op == BM_OP_DELIVER) {
                r->has_delivery = true;
                r->delivery.sent = 10;
                r->delivery.nreceivers = c->steps[k].nreceivers;
                for (size_t m = 0; m < r->delivery.nreceivers; m++)
                    r->delivery.received[m] = (int)m;
            }
        }
        line = results_case_line(c, o, i % 2 ? &ev : NULL);
        canonical(line, LINE, c->id);
        free(line);
        line = results_error_line(c, "the worker died");
        canonical(line, LINE, c->id);
        free(line);
        free(o);
    }
    case_list_free(&l);
}

/* Integers: the digits jansson writes (and "%lld"), at the ends of their range too. */
Test(jsonw, integers_are_jansson_s_digits)
{
    static const long long values[] = {0, 1, -1, 9, 10, -10, 65535, 1000000, 2147483648LL,
                                       -2147483649LL, LLONG_MAX, LLONG_MIN};

    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        struct bm_jw w;
        json_t *j = json_integer(values[i]);
        char *want = json_dumps(j, JSON_ENCODE_ANY), *got;

        jw_init(&w, true);
        jw_int(&w, values[i]);
        got = jw_finish(&w);
        cr_assert_str_eq(got, want, "%lld", values[i]);
        free(got);
        free(want);
        json_decref(j);
    }
}

/* jw_word writes the runner's own words as they are: none of them has a byte a JSON string
 * escapes (a control character, a quote, a backslash) or that is not ASCII. */
Test(jsonw, the_runner_s_own_words_need_no_escaping)
{
    const char *const *tables[] = {bm_op_names, bm_state_names, bm_proto_names, bm_family_names,
                                   bm_user_names, bm_status_names};

    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const char *const *word = tables[t]; *word; word++) {
            struct bm_jw w;
            char *quoted;
            jw_init(&w, true);
            jw_str(&w, *word);
            quoted = jw_finish(&w);
            for (const char *p = *word; *p; p++)
                cr_assert(*p > 0x20 - 1 && *p < 0x7f && *p != '"' && *p != '\\', "'%s'", *word);
            cr_assert_eq(strlen(quoted), strlen(*word) + 2, "'%s' is escaped as %s", *word, quoted);
            free(quoted);
        }
}
