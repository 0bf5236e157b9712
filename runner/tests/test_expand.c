/* Expansion: the matrix product, exclusions, derived variables, ids and labels. */
#include "bm_testcase.h"
#include "casefiles.h"
#include "manifest.h"

static const char *base_case =
    "title: t\n"
    "ref: r\n"
    "axes: {proto: tcp, rel: $relation}\n"
    "matrix:\n"
    "  family: [ipv4, ipv6]\n"
    "  relation: [same, different]\n"
    "  a: [none, reuseaddr, both]\n"
    "exclude:\n"
    "  - {family: ipv6, a: [both, none]}\n"
    "derive:\n"
    "  relation:\n"
    "    same: {b_addr: loopback}\n"
    "    different: {b_addr: local2}\n"
    "sockets:\n"
    "  a: {proto: tcp, family: $family, options: $a}\n"
    "  b: {proto: tcp, family: $family, options: [reuseaddr, v6only=0]}\n"
    "steps:\n"
    "  - {op: state, socket: a, state: listening, addr: loopback, port: P1}\n"
    "  - {op: bind, socket: b, addr: $b_addr, port: P1}\n"
    "  - {op: listen, socket: b}\n"
    "  - {op: bind, socket: b, addr: wildcard, port: P2}\n";

Test(expand, product_minus_exclusions_in_written_order)
{
    struct bm_case_list l;

    expand_text(base_case, &l);
    /* 2 families x 2 relations x 3 options = 12, less ipv6 x {none, both} x 2 relations = 4 */
    cr_assert_eq(l.n, 8);
    cr_assert_str_eq(l.items[0].id, "tcp/x[family=ipv4,relation=same,a=none]");
    cr_assert_str_eq(l.items[1].id, "tcp/x[family=ipv4,relation=same,a=reuseaddr]");
    cr_assert_str_eq(l.items[3].id, "tcp/x[family=ipv4,relation=different,a=none]");
    cr_assert_str_eq(l.items[6].id, "tcp/x[family=ipv6,relation=same,a=reuseaddr]");
    cr_assert_str_eq(l.items[7].id, "tcp/x[family=ipv6,relation=different,a=reuseaddr]");
    case_list_free(&l);
}

Test(expand, substitution_derive_and_axes)
{
    struct bm_case_list l;
    const struct bm_case *c;

    expand_text(base_case, &l);
    c = &l.items[5]; /* ipv4, different, both */
    cr_assert_str_eq(c->id, "tcp/x[family=ipv4,relation=different,a=both]");
    cr_assert_str_eq(c->steps[1].addr, "local2");
    cr_assert_eq(c->sockets[0].family, BM_FAMILY_IPV4);
    cr_assert_eq(c->sockets[0].nopts, 2);
    cr_assert_str_eq(c->sockets[0].opts[0].name, "reuseaddr");
    cr_assert_str_eq(c->sockets[0].opts[1].name, "reuseport");
    cr_assert_str_eq(c->sockets[1].opts[1].name, "v6only");
    cr_assert_eq(c->sockets[1].opts[1].value, 0);
    /* fixed axes (substituted) first, then the matrix */
    cr_assert_eq(c->naxes, 5);
    cr_assert_str_eq(c->axes[0].key, "proto");
    cr_assert_str_eq(c->axes[1].key, "rel");
    cr_assert_str_eq(c->axes[1].value, "different");
    cr_assert_str_eq(c->axes[2].key, "family");
    cr_assert_eq(l.items[0].sockets[0].nopts, 0);
    case_list_free(&l);
}

Test(expand, labels_default_numbered_and_state_is_precondition)
{
    struct bm_case_list l;
    const struct bm_case *c;

    expand_text(base_case, &l);
    c = &l.items[0];
    cr_assert_eq(c->nsteps, 4);
    cr_assert_str_eq(c->steps[0].label, "a.state");
    cr_assert(c->steps[0].precondition);
    cr_assert_str_eq(c->steps[1].label, "b.bind");
    cr_assert_not(c->steps[1].precondition);
    cr_assert_str_eq(c->steps[2].label, "b.listen");
    cr_assert_str_eq(c->steps[3].label, "b.bind2");
    cr_assert_eq(c->steps[1].port.kind, BM_PORT_FRESH);
    cr_assert_eq(c->steps[3].port.index, 2);
    case_list_free(&l);
}

Test(expand, no_matrix_gives_one_case_named_after_the_scenario)
{
    struct bm_case_list l;

    expand_text("title: t\nref: r\nsockets: {a: {proto: udp, family: ipv4}}\n"
                "steps:\n  - {op: bind, socket: a, addr: wildcard, port: 0}\n"
                "  - {op: deliver, addr: loopback, port: P1}\n", &l);
    cr_assert_eq(l.n, 1);
    cr_assert_str_eq(l.items[0].id, "tcp/x");
    cr_assert_eq(l.items[0].steps[0].port.kind, BM_PORT_ZERO);
    cr_assert_str_eq(l.items[0].steps[1].label, "deliver");
    cr_assert_eq(l.items[0].steps[1].nreceivers, 1, "receivers default to every socket");
    cr_assert_eq(l.items[0].steps[1].count, 16);
    cr_assert_eq(l.items[0].steps[1].proto, BM_PROTO_UDP);
    case_list_free(&l);
}

Test(expand_errors, name_file_line_and_field)
{
    expect_error("title: t\nref: r\nsockets: {a: {proto: tcp, family: ipv4}}\nsteps:\n"
                 "  - {op: bind, socket: a, addr: lopback, port: P1}\n",
                 "mem.yaml:5: field 'steps[0].addr': unknown value 'lopback'");
    expect_error("title: t\nref: r\nsockets: {a: {proto: tcp, family: ipv4, options: reuse_addr}}\n"
                 "steps: [{op: listen, socket: a}]\n",
                 "mem.yaml:3: field 'sockets.a.options': unknown option 'reuse_addr'");
    expect_error("title: t\nref: r\nsockets: {a: {proto: tcp, family: $fam}}\nsteps: [{op: listen, socket: a}]\n",
                 "field 'sockets.a.family': unknown variable '$fam'");
    expect_error("title: t\nref: r\nsockets: {a: {proto: tcp, family: ipv4}}\nsteps:\n"
                 "  - {op: bind, socket: c, addr: loopback, port: P1}\n",
                 "mem.yaml:5: field 'steps[0].socket': no socket named 'c'");
    expect_error("title: t\nref: r\nsockets: {a: {proto: tcp, family: ipv4}}\nsteps:\n"
                 "  - {op: bind, socket: a, addr: loopback, port: 8080}\n",
                 "field 'steps[0].port': port must be P1..P9");
    expect_error("title: t\nref: r\nsockets: {a: {proto: tcp, family: ipv4}}\nsteps:\n"
                 "  - {op: bind, socket: a, addr: mapped-loopback, port: P1}\n",
                 "'mapped-loopback' needs an ipv6 socket");
    expect_error("title: t\nref: r\nsockets: {a: {proto: udp, family: ipv4}}\nsteps:\n"
                 "  - {op: state, socket: a, state: listening, addr: loopback, port: P1}\n",
                 "state 'listening' needs a tcp socket");
    expect_error("title: t\nref: r\nsockets: {a: {proto: tcp, family: ipv4}}\nsteps:\n"
                 "  - {op: bind, socket: a, addr: loopback, port: P1, colour: red}\n",
                 "mem.yaml:5: field 'steps[0].colour': unknown key");
    expect_error("title: t\nsockets: {a: {proto: tcp, family: ipv4}}\nsteps: [{op: listen, socket: a}]\n",
                 "field 'ref': missing");
    expect_error("title: t\nref: r\nsockets: {a: {proto: tcp, family: ipv4}}\nsteps:\n  - {op: bind, socket: a\n",
                 "mem.yaml:6: field 'steps': YAML syntax");
    expect_error("title: t\nref: r\nmatrix: {f: [ipv4]}\nexclude: [{g: x}]\nsockets: {a: {proto: tcp, family: $f}}\n"
                 "steps: [{op: listen, socket: a}]\n",
                 "mem.yaml:4: field 'exclude[0]': 'g' is not a matrix axis");
    expect_error("title: t\nref: r\nsockets: {a: {proto: tcp, family: ipv4}}\nsteps:\n"
                 "  - {op: listen, socket: a, label: x}\n  - {op: close, socket: a, label: x}\n",
                 "label 'x' used twice");
    expect_error("title: t\nref: r\nsysctl: {kernel.panic: 1}\nsockets: {a: {proto: tcp, family: ipv4}}\n"
                 "steps: [{op: listen, socket: a}]\n", "only net.* sysctls");
    expect_error("", "empty case file");
}

Test(casefiles, scenario_ids_do_not_depend_on_how_paths_are_written)
{
    char id[256];

    cr_assert_eq(casefiles_scenario("cases/tcp/x/case.yaml", "cases", NULL, id, sizeof id), 0);
    cr_assert_str_eq(id, "tcp/x");
    casefiles_scenario("./cases/tcp/x/case.yaml", "cases/tcp", NULL, id, sizeof id);
    cr_assert_str_eq(id, "tcp/x");
    casefiles_scenario("/src/bindmatrix/cases/udp/y/case.yaml", "/src/bindmatrix/cases/udp/y", NULL, id, sizeof id);
    cr_assert_str_eq(id, "udp/y");
    casefiles_scenario("cases//tcp/x/case.yaml", "cases/", NULL, id, sizeof id);
    cr_assert_str_eq(id, "tcp/x");
    casefiles_scenario("mine/extra/z/case.yaml", "mine", NULL, id, sizeof id);
    cr_assert_str_eq(id, "extra/z");
    casefiles_scenario("mine/extra/z/case.yaml", "mine", "mine/extra", id, sizeof id);
    cr_assert_str_eq(id, "z");
}

Test(casefiles, shipped_cases_all_expand_with_unique_ids)
{
    const char *paths[] = {BM_SOURCE_DIR "/cases"};
    struct bm_case_list l = {0};
    struct bm_error err = {0};

    if (casefiles_load(paths, 1, NULL, &l, &err))
        cr_assert_fail("%s", bm_error_text(&err));
    cr_assert_gt(l.n, 0);
    for (size_t i = 0; i < l.n; i++)
        cr_assert_neq(l.items[i].title[0], '\0', "%s has no title", l.items[i].id);
    case_list_free(&l);
}

Test(expand, step_when_keeps_a_step_only_for_matching_values)
{
    struct bm_case_list l;

    expand_text("title: t\nref: r\nmatrix: {proto: [tcp, udp]}\n"
                "derive: {proto: {tcp: {kind: stream}, udp: {kind: dgram}}}\n"
                "sockets: {a: {proto: $proto, family: ipv4}}\n"
                "steps:\n  - {op: bind, socket: a, addr: loopback, port: P1}\n"
                "  - {op: listen, socket: a, when: {proto: tcp}}\n"
                "  - {op: close, socket: a, when: {kind: [dgram]}}\n", &l);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.items[0].nsteps, 2);
    cr_assert_str_eq(l.items[0].steps[1].label, "a.listen");
    cr_assert_eq(l.items[1].nsteps, 2);
    cr_assert_str_eq(l.items[1].steps[1].label, "a.close");
    case_list_free(&l);
    expect_error("title: t\nref: r\nsockets: {a: {proto: tcp, family: ipv4}}\n"
                 "steps:\n  - {op: listen, socket: a, when: {colour: red}}\n",
                 "mem.yaml:5: field 'steps[0].when': 'colour' is not a matrix axis");
}

Test(expand, a_sysctl_valued_default_is_not_set)
{
    struct bm_case_list l;

    expand_text("title: t\nref: r\nmatrix: {v6: [default, \"1\"]}\n"
                "sysctl: {net.ipv6.bindv6only: $v6, net.ipv4.ip_nonlocal_bind: \"1\"}\n"
                "sockets: {a: {proto: tcp, family: ipv6}}\n"
                "steps: [{op: bind, socket: a, addr: wildcard, port: P1}]\n", &l);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.items[0].nsysctls, 1);
    cr_assert_str_eq(l.items[0].sysctls[0].key, "net.ipv4.ip_nonlocal_bind");
    cr_assert_eq(l.items[1].nsysctls, 2);
    case_list_free(&l);
}

/* A lazy list (a run's) holds no case, only where each comes from, and builds each again
 * exactly as the eager list built it, with the same ids, filter and hash. */
Test(casefiles, a_lazy_list_builds_the_same_cases_again)
{
    const char *paths[] = {BM_SOURCE_DIR "/cases"}, *filters[] = {"tcp/", "udp/delivery"};
    struct bm_case_list eager = {0}, lazy = {.lazy = true};
    struct bm_error err = {0};
    struct bm_case scratch;

    eager.filters = lazy.filters = filters;
    eager.nfilters = lazy.nfilters = 2;
    if (casefiles_load(paths, 1, NULL, &eager, &err) || casefiles_load(paths, 1, NULL, &lazy, &err))
        cr_assert_fail("%s", bm_error_text(&err));
    cr_assert_null(lazy.items);
    cr_assert_eq(lazy.n, eager.n);
    cr_assert_gt(lazy.n, 100);
    for (size_t i = 0; i < lazy.n; i++) {
        const struct bm_case *c = case_list_get(&lazy, i, &scratch);
        char *a = manifest_case_text(&eager.items[i], true), *b = c ? manifest_case_text(c, true) : NULL;
        cr_assert(a && b && strcmp(a, b) == 0, "case %zu (%s) differs when built again", i, eager.items[i].id);
        cr_assert_str_eq(case_list_id(&lazy, i), eager.items[i].id);
        cr_assert(strstr(c->id, "tcp/") || strstr(c->id, "udp/delivery"), "%s", c->id);
        free(a);
        free(b);
    }
    case_list_free(&eager);
    case_list_free(&lazy);
}
