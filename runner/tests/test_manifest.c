/* The manifest: every selected case as data, the vocabulary, the case-set hash; and the
 * selection it records (partial or not, where the results go). */
#include "bm_testcase.h"
#include "manifest.h"
#include "selection.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *scenario =
    "title: t\n"
    "ref: r\n"
    "why: >\n  two\n  lines\n"
    "axes: {proto: udp, rel: $relation}\n"
    "matrix:\n"
    "  family: [ipv4]\n"
    "  relation: [same, different]\n"
    "derive:\n"
    "  relation:\n"
    "    same: {b_addr: loopback, reuse: default}\n"
    "    different: {b_addr: local2, reuse: \"1\"}\n"
    "sysctl: {net.ipv4.ip_autobind_reuse: $reuse}\n"
    "sockets:\n"
    "  a: {proto: udp, family: $family, options: [reuseaddr, v6only=0]}\n"
    "  b: {proto: udp, family: $family, user: other}\n"
    "steps:\n"
    "  - {op: state, socket: a, state: bound, addr: loopback, port: P1}\n"
    "  - {op: bind, socket: b, addr: $b_addr, port: privileged2}\n"
    "  - {op: setsockopt, socket: b, options: broadcast}\n"
    "  - {op: connect, socket: b}\n"
    "  - {op: deliver, addr: loopback, port: P1, count: 3, from: peer, receivers: [b]}\n";

static const char *const default_dir[] = {"cases"};

static json_t *manifest_of(const char *text, struct bm_case_list *l)
{
    struct bm_selection sel;

    expand_text(text, l);
    selection_init(&sel, NULL, 0, default_dir, NULL, 0);
    return manifest_json(l, &sel, NULL, NULL);
}

/* The compact JSON of j, for comparing a part of the manifest with what it must be. */
static void expect_json(json_t *j, const char *want)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    cr_assert_str_eq(s, want);
    free(s);
}

Test(manifest, top_level_in_order_and_the_selection)
{
    struct bm_case_list l;
    json_t *m = manifest_of(scenario, &l);
    /* streamed: what is made from every case (the scenarios, the hash) comes after them */
    static const char *const keys[] = {"schema", "kind", "runner_version", "selection",
                                       "vocabulary", "cases", "scenarios", "case_set_hash"};
    size_t i = 0;
    const char *key;
    json_t *v;

    json_object_foreach(m, key, v) {
        cr_assert_lt(i, 8);
        cr_assert_str_eq(key, keys[i++]);
    }
    cr_assert_eq(json_integer_value(json_object_get(m, "schema")), 1);
    expect_json(json_object_get(m, "selection"),
                "{\"paths\":[\"cases\"],\"default_paths\":true,\"filters\":[],\"partial\":false}");
    cr_assert_eq(json_array_size(json_object_get(m, "cases")), 2);
    json_decref(m);
    case_list_free(&l);
}

Test(manifest, a_case_as_data)
{
    struct bm_case_list l;
    json_t *m = manifest_of(scenario, &l), *cases = json_object_get(m, "cases");
    json_t *same = json_array_get(cases, 0), *different = json_array_get(cases, 1);
    json_t *steps = json_object_get(different, "steps");

    cr_assert_str_eq(json_string_value(json_object_get(same, "id")), "tcp/x[family=ipv4,relation=same]");
    /* written as the case-set hash reads it: sorted keys; the steps' lines apart */
    expect_json(json_object_get(same, "axes"),
                "{\"family\":\"ipv4\",\"proto\":\"udp\",\"rel\":\"same\",\"relation\":\"same\"}");
    cr_assert_null(json_object_get(same, "sysctl"), "only when the case sets one");
    expect_json(json_object_get(different, "sysctl"), "{\"net.ipv4.ip_autobind_reuse\":\"1\"}");
    expect_json(json_object_get(different, "sockets"),
                "[{\"family\":\"ipv4\",\"name\":\"a\",\"options\":"
                "[{\"name\":\"reuseaddr\",\"value\":1},{\"name\":\"v6only\",\"value\":0}],"
                "\"proto\":\"udp\",\"user\":\"same\"},"
                "{\"family\":\"ipv4\",\"name\":\"b\",\"options\":[],\"proto\":\"udp\",\"user\":\"other\"}]");
    expect_json(json_array_get(steps, 0),
                "{\"addr\":\"loopback\",\"label\":\"a.state\",\"op\":\"state\",\"port\":\"P1\","
                "\"precondition\":true,\"socket\":\"a\",\"state\":\"bound\"}");
    expect_json(json_array_get(steps, 1),
                "{\"addr\":\"local2\",\"label\":\"b.bind\",\"op\":\"bind\",\"port\":\"privileged2\","
                "\"precondition\":false,\"socket\":\"b\"}");
    expect_json(json_array_get(steps, 2),
                "{\"label\":\"b.setsockopt\",\"op\":\"setsockopt\",\"options\":"
                "[{\"name\":\"broadcast\",\"value\":1}],\"precondition\":false,\"socket\":\"b\"}");
    expect_json(json_array_get(steps, 3),
                "{\"addr\":\"peer\",\"label\":\"b.connect\",\"op\":\"connect\",\"precondition\":false,"
                "\"socket\":\"b\"}");
    expect_json(json_array_get(steps, 4),
                "{\"addr\":\"loopback\",\"count\":3,\"family\":\"ipv4\",\"from\":\"peer\","
                "\"label\":\"deliver\",\"op\":\"deliver\",\"port\":\"P1\",\"precondition\":false,"
                "\"proto\":\"udp\",\"receivers\":[\"b\"]}");
    expect_json(json_object_get(different, "step_lines"), "[19,20,21,22,23]");
    json_decref(m);
    case_list_free(&l);
}

Test(manifest, a_scenario_and_its_axes)
{
    struct bm_case_list l;
    json_t *m = manifest_of(scenario, &l), *s = json_array_get(json_object_get(m, "scenarios"), 0);

    cr_assert_eq(json_array_size(json_object_get(m, "scenarios")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(s, "scenario")), "tcp/x");
    cr_assert_str_eq(json_string_value(json_object_get(s, "file")), "mem.yaml");
    {
        char *here = realpath(".", NULL);   /* the folder, absolute */
        cr_assert_str_eq(json_string_value(json_object_get(s, "dir")), here);
        free(here);
    }
    cr_assert_str_eq(json_string_value(json_object_get(s, "why")), "two lines", "folded to one line");
    cr_assert_eq(json_integer_value(json_object_get(s, "cases")), 2);
    /* a fixed axis substituted from the matrix varies too; it is still not a matrix axis */
    expect_json(json_object_get(s, "axes"),
                "[{\"name\":\"proto\",\"values\":[\"udp\"],\"matrix\":false,\"varies\":false},"
                "{\"name\":\"rel\",\"values\":[\"same\",\"different\"],\"matrix\":false,\"varies\":true},"
                "{\"name\":\"family\",\"values\":[\"ipv4\"],\"matrix\":true,\"varies\":false},"
                "{\"name\":\"relation\",\"values\":[\"same\",\"different\"],\"matrix\":true,\"varies\":true}]");
    json_decref(m);
    case_list_free(&l);
}

Test(manifest, the_vocabulary)
{
    struct bm_case_list l;
    json_t *m = manifest_of(scenario, &l), *v = json_object_get(m, "vocabulary");
    json_t *ports = json_object_get(v, "ports");

    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(v, "ops"), 8)), "deliver");
    cr_assert_eq(json_array_size(ports), 19);
    cr_assert_str_eq(json_string_value(json_array_get(ports, 0)), "0");
    cr_assert_str_eq(json_string_value(json_array_get(ports, 9)), "P9");
    cr_assert_str_eq(json_string_value(json_array_get(ports, 18)), "privileged9");
    cr_assert(json_is_true(json_object_get(json_object_get(v, "options"), "reuseaddr")));
    cr_assert(json_is_true(json_object_get(json_object_get(v, "errors"), "EADDRINUSE")));
    cr_assert(json_is_boolean(json_object_get(json_object_get(v, "errors"), "EDOOFUS")));
    expect_json(json_object_get(v, "statuses"), "[\"observed\",\"skipped\",\"error\"]");
    cr_assert_eq(json_object_size(json_object_get(v, "runner_results")), 5);
    cr_assert(json_is_string(json_object_get(json_object_get(v, "runner_results"), "no-socket")));
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(v, "sysctls"), 0)), "net.ipv6.bindv6only");
    json_decref(m);
    case_list_free(&l);
}

Test(manifest, the_hash_follows_what_cases_do_not_where_they_are_written)
{
    struct bm_case_list a, b, c;
    char ha[BM_HASH_LEN], hb[BM_HASH_LEN], hc[BM_HASH_LEN], *moved, *changed;
    const char *steps = strstr(scenario, "steps:\n");

    /* the same cases two lines lower */
    moved = bm_strf("%.*s# a comment\n\n%s", (int)(steps - scenario), scenario, steps);
    changed = bm_strf("%.*s%s", (int)(strstr(scenario, "count: 3") - scenario), scenario,
                      strstr(scenario, "count: 3, ") + 10);
    expand_text(scenario, &a);
    expand_text(moved, &b);
    expand_text(changed, &c);
    cr_assert_neq(a.items[0].steps[0].line, b.items[0].steps[0].line);
    manifest_case_set_hash(a.items, a.n, ha);
    manifest_case_set_hash(b.items, b.n, hb);
    manifest_case_set_hash(c.items, c.n, hc);
    cr_assert_str_eq(ha, hb);
    cr_assert_str_neq(ha, hc, "count 3 became the default 16");
    cr_assert_eq(strlen(ha), 24);
    cr_assert_eq(strncmp(ha, "fnv1a64:", 8), 0);
    manifest_case_set_hash(a.items, 0, ha);
    cr_assert_str_eq(ha, "fnv1a64:cbf29ce484222325", "no case: the FNV-1a offset basis");
    free(moved);
    free(changed);
    case_list_free(&a);
    case_list_free(&b);
    case_list_free(&c);
}

Test(manifest, the_hash_is_fnv1a_over_sorted_compact_lines)
{
    struct bm_case_list l;
    char h[BM_HASH_LEN], want[BM_HASH_LEN];
    unsigned long long x = 0xcbf29ce484222325ull;

    expand_text(scenario, &l);
    for (size_t i = 0; i < l.n; i++) {
        /* the case's text, as jansson writes it sorted and compact */
        char *text = manifest_case_text(&l.items[i], false);
        json_t *o = text ? json_loads(text, 0, NULL) : NULL;
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL, *line;
        free(text);
        cr_assert_not_null(s);
        line = bm_strf("%s\n", s);
        cr_assert_null(strstr(s, "\"line\""));
        for (const char *p = line; *p; p++)
            x = (x ^ (unsigned char)*p) * 0x100000001b3ull;
        free(line);
        free(s);
        json_decref(o);
    }
    snprintf(want, sizeof want, "fnv1a64:%016llx", x);
    manifest_case_set_hash(l.items, l.n, h);
    cr_assert_str_eq(h, want);
    case_list_free(&l);
}

/* A run's manifest is written whole in its body (begin, the cases, finish): byte for byte
 * what manifest_emit writes around a body of cases alone, and the same hash. */
static char *collected(const struct bm_case_list *l, const struct bm_selection *sel, bool whole,
                       char hash[BM_HASH_LEN])
{
    struct bm_manifest_collector m;
    FILE *body = tmpfile(), *out = tmpfile();
    size_t next = 0, len;
    char *text;

    cr_assert(body && out);
    manifest_collect_init(&m, body);
    if (whole)
        cr_assert_eq(manifest_begin(&m, sel, "r.jsonl", "r.evidence"), 0);
    cr_assert_eq(manifest_collect_more(&m, l, &next, SIZE_MAX), 1);
    if (whole) {
        cr_assert_eq(manifest_finish(&m, hash), 0);
        cr_assert_neq(manifest_emit(&m, out, sel, "r.jsonl", "r.evidence", hash), 0,
                      "a body with its head is not emitted around again");
        fclose(out);
        out = body;
    } else {
        cr_assert_eq(manifest_emit(&m, out, sel, "r.jsonl", "r.evidence", hash), 0);
        fclose(body);
    }
    manifest_collect_free(&m);
    cr_assert_eq(fflush(out), 0);
    len = (size_t)ftell(out);
    text = calloc(len + 1, 1);
    rewind(out);
    cr_assert_eq(fread(text, 1, len, out), len);
    fclose(out);
    return text;
}

Test(manifest, written_whole_in_its_body_as_emitted_around_it)
{
    struct bm_case_list l;
    struct bm_selection sel;
    char hash1[BM_HASH_LEN], hash2[BM_HASH_LEN];

    expand_text(scenario, &l);
    selection_init(&sel, NULL, 0, default_dir, NULL, 0);
    char *around = collected(&l, &sel, false, hash1), *whole = collected(&l, &sel, true, hash2);
    cr_assert_str_eq(whole, around);
    cr_assert_str_eq(hash2, hash1);
    json_t *back = json_loads(whole, 0, NULL);
    cr_assert_not_null(back);
    cr_assert_eq(json_array_size(json_object_get(back, "cases")), 2);
    json_decref(back);
    free(around);
    free(whole);
    case_list_free(&l);
}

Test(manifest, written_atomically_with_the_run_paths)
{
    struct bm_case_list l;
    struct bm_selection sel;
    static const char *const filters[] = {"same"};
    char dir[] = "/tmp/bm-manifest-XXXXXX", path[64];
    json_t *m, *back;

    expand_text(scenario, &l);
    selection_init(&sel, NULL, 0, default_dir, filters, 1);
    m = manifest_json(&l, &sel, "out.partial.jsonl", NULL);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.json", dir);
    cr_assert_eq(manifest_write(path, m), 0);
    back = json_load_file(path, 0, NULL);
    cr_assert_not_null(back);
    cr_assert(json_equal(m, back));
    cr_assert_str_eq(json_string_value(json_object_get(back, "output")), "out.partial.jsonl");
    cr_assert(json_is_null(json_object_get(back, "evidence")));
    cr_assert(json_is_true(json_object_get(json_object_get(back, "selection"), "partial")));
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(rmdir(dir), 0, "no temporary file is left behind");
    json_decref(back);
    json_decref(m);
    case_list_free(&l);
}

/* ---- the selection ---- */

Test(selection, partial_unless_the_default_folder_itself_without_filters)
{
    char dir[] = "/tmp/bm-sel-XXXXXX", sub[64], spelled[64];
    const char *dflt[1], *paths[2];
    static const char *const filters[] = {"tcp/"};
    struct bm_selection s;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/tcp", dir);
    snprintf(spelled, sizeof spelled, "%s/./tcp/..//", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    dflt[0] = dir;
    selection_init(&s, NULL, 0, dflt, NULL, 0);
    cr_assert(s.default_paths);
    cr_assert_not(s.partial);
    cr_assert_str_eq(s.paths[0], dir);
    selection_init(&s, NULL, 0, dflt, filters, 1);
    cr_assert(s.partial, "a filter");
    paths[0] = spelled;
    selection_init(&s, paths, 1, dflt, NULL, 0);
    cr_assert_not(s.default_paths);
    cr_assert_not(s.partial, "the default folder, however it is spelled");
    paths[1] = sub;
    selection_init(&s, paths, 2, dflt, NULL, 0);
    cr_assert(s.partial, "a subfolder");
    paths[0] = "/no/such/folder";
    selection_init(&s, paths, 1, dflt, NULL, 0);
    cr_assert(s.partial);
    rmdir(sub);
    rmdir(dir);
}

Test(selection, default_output_names)
{
    char *p;

    p = selection_output_path(NULL, "linux-6.1.0-18-amd64", false);
    cr_assert_str_eq(p, "linux-6.1.0-18-amd64.jsonl");
    free(p);
    p = selection_output_path("reports", "my host/2 (test)", true);
    cr_assert_str_eq(p, "reports/my_host_2__test_.partial.jsonl");
    free(p);
    p = selection_output_path("out/", "a+b_c.d", false);
    cr_assert_str_eq(p, "out/a+b_c.d.jsonl");
    free(p);
}
