/* The parser refuses what it cannot keep whole (no silent truncation), typos in exclude:
 * and when:, and keys that are not plain names; it keeps prose whole. */
#include "bm_testcase.h"

#include <stdio.h>

#define HEAD "title: t\nref: r\n"
#define ONE_SOCKET "sockets: {a: {proto: tcp, family: ipv4}}\n"
#define ONE_STEP "steps: [{op: listen, socket: a}]\n"

static char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

/* ---- no silent truncation ---- */

/* One row per place a too-long word may stand: the text around it (%s is the word), the
 * word's letter and length, and the error it must give. */
static const struct too_long {
    const char *text;
    char ch;
    size_t n;
    const char *error;
} too_long[] = {
    {HEAD "matrix: {a: [ok, %s]}\n", 'v', 40,
     "mem.yaml:3: field 'matrix.a': 'vvvvvvvvvvvvvvvvvvvv...' is longer than 31 characters"},
    {HEAD "matrix: {%s: [x]}\n", 'n', 40,
     "mem.yaml:3: field 'matrix': 'nnnnnnnnnnnnnnnnnnnn...' is longer than 31 characters"},
    {HEAD "sysctl:\n  net.%s: \"1\"\n", 'k', 66,
     "mem.yaml:4: field 'sysctl': 'net.kkkkkkkkkkkkkkkk...' is longer than 63 characters"},
    {HEAD "axes: {note: %s}\n", 'x', 70,
     "mem.yaml:3: field 'axes.note': 'xxxxxxxxxxxxxxxxxxxx...' is longer than 63 characters"},
    {HEAD "sysctl: {net.ipv4.x: %s}\n", 'x', 70,
     "field 'sysctl.net.ipv4.x': 'xxxxxxxxxxxxxxxxxxxx...' is longer than 63"},
    {HEAD "matrix: {rel: [same]}\nderive:\n  rel:\n    same: {addr: %s}\n", 'd', 70,
     "mem.yaml:6: field 'derive.rel': 'dddddddddddddddddddd...' is longer than 63 characters"},
    {HEAD "matrix: {rel: [same]}\nderive:\n  rel:\n    same: {%s: x}\n", 'n', 70,
     "mem.yaml:6: field 'derive.rel': 'nnnnnnnnnnnnnnnnnnnn...' is longer than 63 characters"},
};

Test(limits, a_word_too_long_for_its_place_is_refused_not_cut)
{
    for (size_t i = 0; i < sizeof too_long / sizeof too_long[0]; i++) {
        char text[512], *word = repeat(too_long[i].ch, too_long[i].n);

        snprintf(text, sizeof text, too_long[i].text, word);
        strncat(text, ONE_SOCKET ONE_STEP, sizeof text - strlen(text) - 1);
        expect_error(text, too_long[i].error);
        free(word);
    }
}

Test(limits, long_names_of_options_labels_and_sockets_are_refused)
{
    char text[512], *v = repeat('o', 40);

    snprintf(text, sizeof text, HEAD "sockets: {a: {proto: tcp, family: ipv4, options: %s=1}}\n" ONE_STEP, v);
    expect_error(text, "mem.yaml:3: field 'sockets.a.options': 'oooooooooooooooooooo...' is longer than 31");
    snprintf(text, sizeof text, HEAD ONE_SOCKET "steps: [{op: listen, socket: a, label: %s}]\n", v);
    expect_error(text, "mem.yaml:4: field 'steps[0].label': 'oooooooooooooooooooo...' is longer than 31");
    snprintf(text, sizeof text, HEAD "sockets: {%s: {proto: tcp, family: ipv4}}\n" ONE_STEP, v);
    expect_error(text, "mem.yaml:3: field 'sockets': 'oooooooooooooooooooo...' is longer than 15");
    free(v);
}

Test(limits, a_2000_character_title_and_a_long_why_are_kept_whole)
{
    size_t len = strlen(HEAD) + 6000;
    char *title = repeat('T', 2000), *why = repeat('w', 3000), *text = malloc(len);
    struct bm_case_list l;

    snprintf(text, len, "title: %s\nref: r\nwhy: >\n  %s\n  more\n" ONE_SOCKET ONE_STEP, title, why);
    expand_text(text, &l);
    cr_assert_eq(strlen(l.items[0].title), 2000);
    cr_assert_str_eq(l.items[0].title, title);
    cr_assert_eq(strlen(l.items[0].why), 3000 + strlen(" more\n"));
    cr_assert_eq(strncmp(l.items[0].why + 3000, " more", 5), 0);
    case_list_free(&l);
    free(title);
    free(why);
    free(text);
}

Test(limits, a_long_unknown_key_is_named_whole)
{
    char text[512], *k = repeat('k', 200);

    snprintf(text, sizeof text, HEAD ONE_SOCKET "steps: [{op: listen, socket: a, %s: 1}]\n", k);
    expect_error(text, k); /* the field names the key whole */
    free(k);
}

/* ---- typos refused ---- */

#define FAM_MATRIX HEAD "matrix: {f: [ipv4, ipv6], p: [tcp, udp]}\n"
#define FAM_SOCKET "sockets: {a: {proto: $p, family: $f}}\n"

Test(typos, an_exclude_value_that_is_not_a_value_of_its_axis)
{
    expect_error(FAM_MATRIX "exclude:\n  - {f: ipv5}\n" FAM_SOCKET ONE_STEP,
                 "mem.yaml:5: field 'exclude[0]': 'ipv5' is not a value of axis f");
    expect_error(FAM_MATRIX "exclude:\n  - {p: tcp}\n  - {f: [ipv4, ipv 6]}\n" FAM_SOCKET ONE_STEP,
                 "mem.yaml:6: field 'exclude[1]': 'ipv 6' is not a value of axis f");
    expect_error(FAM_MATRIX "exclude:\n  - {f: []}\n" FAM_SOCKET ONE_STEP,
                 "mem.yaml:5: field 'exclude[0]': an empty list matches nothing");
    expect_error(FAM_MATRIX "exclude:\n  - {f: {ipv4: 1}}\n" FAM_SOCKET ONE_STEP,
                 "mem.yaml:5: field 'exclude[0]': values are scalars or lists of them");
}

Test(typos, an_empty_exclude_entry_would_drop_every_case)
{
    expect_error(FAM_MATRIX "exclude:\n  - {p: udp}\n  - {}\n" FAM_SOCKET ONE_STEP,
                 "mem.yaml:6: field 'exclude[1]': an empty entry would exclude every case");
}

Test(typos, a_when_value_that_the_variable_never_takes)
{
    struct bm_case_list l;
    const char *derive = "derive:\n  p:\n    tcp: {kind: stream}\n    udp: {kind: dgram, extra: x}\n";
    char text[1024];

    expect_error(FAM_MATRIX FAM_SOCKET "steps:\n  - {op: listen, socket: a, when: {p: tpc}}\n",
                 "mem.yaml:6: field 'steps[0].when': 'tpc' is not a value of axis p");
    expect_error(FAM_MATRIX FAM_SOCKET "steps:\n  - {op: bind, socket: a, addr: loopback, port: P1}\n"
                 "  - {op: listen, socket: a, when: {f: [ipv4, ipv7]}}\n",
                 "mem.yaml:7: field 'steps[1].when': 'ipv7' is not a value of axis f");
    snprintf(text, sizeof text, FAM_MATRIX "%s" FAM_SOCKET
             "steps:\n  - {op: listen, socket: a, when: {kind: [stream, datagram]}}\n", derive);
    expect_error(text, "mem.yaml:10: field 'steps[0].when': 'datagram' is not a value derive: gives kind");
    snprintf(text, sizeof text, FAM_MATRIX "%s" FAM_SOCKET
             "steps:\n  - {op: listen, socket: a, when: {kind: {stream: 1}}}\n", derive);
    expect_error(text, "field 'steps[0].when': values are scalars or lists of them");
    /* the union of what derive gives: 'x' only for udp, still a possible value */
    snprintf(text, sizeof text, FAM_MATRIX "%s" FAM_SOCKET
             "steps:\n  - {op: bind, socket: a, addr: loopback, port: P1}\n"
             "  - {op: listen, socket: a, when: {kind: stream}}\n"
             "  - {op: close, socket: a, when: {kind: dgram, p: udp}}\n", derive);
    expand_text(text, &l);
    cr_assert_eq(l.n, 4);
    cr_assert_str_eq(l.items[0].steps[1].label, "a.listen");
    cr_assert_str_eq(l.items[1].steps[1].label, "a.close");
    case_list_free(&l);
}

/* ---- keys that are not plain names, and values of the wrong kind ---- */

Test(keys, a_key_that_is_a_list_or_mapping_fails_at_its_line)
{
    expect_error(HEAD "sockets:\n  ? [a]\n  : {proto: tcp, family: ipv4}\n" ONE_STEP,
                 "mem.yaml:4: field 'sockets': keys must be plain names");
    expect_error(HEAD "matrix:\n  ? {a: 1}\n  : [x]\n" ONE_SOCKET ONE_STEP,
                 "mem.yaml:4: field 'matrix': keys must be plain names");
    expect_error(HEAD "matrix: {f: [ipv4]}\nderive:\n  ? [f]\n  : {ipv4: {x: y}}\n" ONE_SOCKET ONE_STEP,
                 "mem.yaml:5: field 'derive': keys must be plain names");
    expect_error(HEAD "matrix: {f: [ipv4]}\nderive:\n  f:\n    ? [ipv4]\n    : {x: y}\n" ONE_SOCKET ONE_STEP,
                 "mem.yaml:6: field 'derive.f': keys must be plain names");
    expect_error(HEAD "matrix: {f: [ipv4]}\nderive:\n  f:\n    ipv4:\n      ? {x: 1}\n      : y\n"
                 ONE_SOCKET ONE_STEP, "mem.yaml:7: field 'derive.f': keys must be plain names");
    expect_error(HEAD "matrix: {f: [ipv4]}\nexclude:\n  - ? [f]\n    : ipv4\n" ONE_SOCKET ONE_STEP,
                 "mem.yaml:5: field 'exclude[0]': keys must be plain names");
    expect_error(HEAD "matrix: {f: [ipv4]}\n" ONE_SOCKET
                 "steps:\n  - op: listen\n    socket: a\n    when:\n      ? [f]\n      : ipv4\n",
                 "mem.yaml:9: field 'steps[0].when': keys must be plain names");
    expect_error(HEAD "sysctl:\n  ? [net.ipv4.x]\n  : \"1\"\n" ONE_SOCKET ONE_STEP,
                 "mem.yaml:4: field 'sysctl': keys must be plain names");
    expect_error(HEAD "axes:\n  ? {a: 1}\n  : x\n" ONE_SOCKET ONE_STEP,
                 "mem.yaml:4: field 'axes': keys must be plain names");
    expect_error(HEAD "sockets:\n  a:\n    ? [proto]\n    : tcp\n" ONE_STEP,
                 "mem.yaml:5: field 'sockets.a': keys must be plain names");
    expect_error(HEAD ONE_SOCKET "steps:\n  - op: listen\n    ? [socket]\n    : a\n",
                 "mem.yaml:6: field 'steps[0]': keys must be plain names");
    expect_error("? [title]\n: t\n", "mem.yaml:1: keys must be plain names");
}

Test(keys, an_alias_to_a_list_as_a_key_is_refused)
{
    expect_error(HEAD "matrix: {f: &fams [ipv4]}\nexclude:\n  - ? *fams\n    : ipv4\n" ONE_SOCKET ONE_STEP,
                 "field 'exclude[0]': keys must be plain names");
}

Test(keys, values_of_the_wrong_kind)
{
    expect_error(HEAD "matrix: {f: [ipv4]}\nderive:\n  f: {ipv4: {x: [a, b]}}\n" ONE_SOCKET ONE_STEP,
                 "mem.yaml:5: field 'derive.f': values must be scalars");
    expect_error(HEAD "matrix: {f: [ipv4]}\nderive:\n  f: {ipv4: [x]}\n" ONE_SOCKET ONE_STEP,
                 "mem.yaml:5: field 'derive.f': must be a mapping {name: value}");
    expect_error(HEAD "matrix: {f: [ipv4]}\nderive:\n  f: [ipv4]\n" ONE_SOCKET ONE_STEP,
                 "mem.yaml:5: field 'derive.f': must map each axis value");
    expect_error(HEAD "matrix: {f: [ipv4]}\nexclude: [[f]]\n" ONE_SOCKET ONE_STEP,
                 "mem.yaml:4: field 'exclude[0]': must be a mapping");
    expect_error(HEAD ONE_SOCKET "steps: [{op: listen, socket: a, when: [x]}]\n",
                 "mem.yaml:4: field 'steps[0].when': must be a mapping");
    expect_error(HEAD "axes: {a: [x]}\n" ONE_SOCKET ONE_STEP, "mem.yaml:3: field 'axes.a': must be a single value");
    expect_error(HEAD "sockets: {a: [tcp]}\n" ONE_STEP, "mem.yaml:3: field 'sockets.a': must be a mapping");
    expect_error(HEAD "matrix: {f: [ipv4], f: [ipv6]}\n" ONE_SOCKET ONE_STEP, "mem.yaml:3: field 'matrix.f': key given twice in one mapping");
}

/* ---- refused, where libyaml or a narrowing cast accepted them silently ---- */

static const struct { const char *text, *error; } silent[] = {
    {HEAD "title: u\n" ONE_SOCKET ONE_STEP,
     "mem.yaml:3: field 'title': key given twice in one mapping (first at line 1)"},
    {HEAD ONE_SOCKET "sockets: {b: {proto: tcp, family: ipv4}}\n" ONE_STEP,
     "mem.yaml:4: field 'sockets': key given twice"},
    {HEAD ONE_SOCKET "steps: [{op: listen, socket: a, op: bind}]\n",
     "mem.yaml:4: field 'steps[0].op': key given twice in one mapping (first at line 4)"},
    {HEAD ONE_SOCKET ONE_STEP "---\n" HEAD, "mem.yaml:5: a second YAML document"},
    {"title: \"a\\0b\"\nref: r\n" ONE_SOCKET ONE_STEP,
     "mem.yaml:1: field 'title': a string holds a NUL character"},
    {HEAD "why: &a [x, *a]\n" ONE_SOCKET ONE_STEP,
     "mem.yaml:3: field 'why': alias *a is inside the node it names (a cycle)"},
    {HEAD "why: *nope\n" ONE_SOCKET ONE_STEP, "mem.yaml:3: field 'why': alias *nope names no anchor"},
    {HEAD "sockets: {a: {proto: udp, family: ipv4}}\n"
          "steps: [{op: deliver, addr: loopback, port: P1, count: 4294967297, receivers: [a]}]\n",
     "mem.yaml:4: field 'steps[0].count': must be 1..1000, not '4294967297'"},
    {HEAD "sockets: {a: {proto: udp, family: ipv4}}\n"
          "steps: [{op: deliver, addr: loopback, port: P1, count: \" 5\", receivers: [a]}]\n",
     "field 'steps[0].count': must be 1..1000"},
};

Test(silent, what_was_accepted_silently_is_refused_at_its_line)
{
    for (size_t i = 0; i < sizeof silent / sizeof silent[0]; i++)
        expect_error(silent[i].text, silent[i].error);
}

Test(limits, nesting_past_the_depth_limit_is_refused_at_once)
{
    size_t levels = 100000;
    char *open = repeat('[', levels), *text = malloc(levels + 64);

    snprintf(text, levels + 64, HEAD "why: %s\n", open);
    expect_error(text, "mem.yaml:3: field 'why': nested deeper than 64 levels");
    free(open);
    free(text);
}

Test(limits, a_matrix_over_the_scenario_limit_is_refused_before_expansion)
{
    char text[4096] = HEAD "matrix:\n", *v = NULL;
    size_t len = 0;

    for (int i = 1; i <= 32; i++)
        len += (size_t)snprintf(NULL, 0, "%s%d", i > 1 ? "," : "", i);
    v = malloc(len + 1);
    len = 0;
    for (int i = 1; i <= 32; i++)
        len += (size_t)sprintf(v + len, "%s%d", i > 1 ? "," : "", i);
    for (char axis = 'a'; axis < 'a' + 16; axis++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "  %c: [%s]\n", axis, v);
    strncat(text, "exclude: [{a: '1'}]\n" ONE_SOCKET ONE_STEP, sizeof text - strlen(text) - 1);
    expect_error(text, "mem.yaml:6: field 'matrix': more than 20000 combinations by axis c");
    free(v);
}
