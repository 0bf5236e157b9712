import os
import textwrap

import pytest

from bindmatrix import expectations as expectations_mod
from bindmatrix.expectations import ExpectationError, ExpectationStore, find_rule, load_rules
from fixturekit import case_record, run_record, step, write_file

CASE_YAML = """\
title: t
ref: r
axes: {proto: tcp}
matrix:
  family: [ipv4, ipv6]
  a_opts: [none, reuseaddr, reuseport]
derive:
  a_opts:
    none: {mode: plain}
sockets:
  a: {proto: tcp, family: $family, options: $a_opts}
steps:
  - {op: bind, socket: a, addr: loopback, port: P1}
"""


def rules_file(tmp_path, text, name="linux.yaml", case_yaml=CASE_YAML):
    if case_yaml is not None:
        write_file(tmp_path / "s" / "case.yaml", case_yaml)
    return write_file(tmp_path / "s" / name, textwrap.dedent(text))


def rule_text(**fields):
    base = {"expect": "{a.bind: ok}", "provenance": "observed", "seen_on": '"6.1.0"',
            "why": "because"}
    base.update(fields)
    return "\n".join(("- " if i == 0 else "  ") + "%s: %s" % (k, v)
                     for i, (k, v) in enumerate((k, v) for k, v in base.items() if v is not None)) + "\n"


def case(axes=None, sysctl=None, **kw):
    c = case_record("s[x]", steps=[step("a.bind", "ok")], axes=axes or {}, **kw)
    if sysctl is not None:
        c["sysctl"] = sysctl
    return c


# ---- loading ---------------------------------------------------------------------------

def test_rule_fields(tmp_path):
    path = rules_file(tmp_path, """\
        # comment
        - when: {family: ipv4, a_opts: [none, reuseaddr]}
          kernel: ">=4.6,<6.1"
          sysctl: {net.ipv4.ip_autobind_reuse: 1}
          expect:
            a.bind: EADDRINUSE
            deliver: {a: all, b: none, c: 3}
          provenance: observed
          seen_on: ["6.1.0-18-amd64", "5.10.0"]
          why: >
            folded
            text
          source: "socket(7)"
        """)
    [rule] = load_rules(path)
    assert rule.line == 2 and rule.location == path + ":2"
    assert rule.when == {"family": ["ipv4"], "a_opts": ["none", "reuseaddr"]}
    assert rule.kernel.text == ">=4.6,<6.1"
    assert rule.sysctl == {"net.ipv4.ip_autobind_reuse": ["1"]}
    assert rule.expect == {"a.bind": "EADDRINUSE", "deliver": {"a": "all", "b": "none", "c": 3}}
    assert rule.seen_on == ["6.1.0-18-amd64", "5.10.0"]
    assert rule.why == "folded text"


def test_preloaded_rules_are_the_files_own_and_problems_are_still_said(tmp_path, monkeypatch):
    """Preload reads the rules in a child; load_rules then answers from them, re-reads a
    file changed since, and says a broken file's problems as without a preload."""
    monkeypatch.setattr(expectations_mod, "_loaded", {})
    good = rules_file(tmp_path, rule_text())
    bad = write_file(tmp_path / "s" / "freebsd.yaml", rule_text(colour="red"))
    write_file(tmp_path / "s" / "notes.yaml", "not: rules\n")     # no OS's stem: not read
    pre = expectations_mod.Preload([str(tmp_path)])
    pre.install()
    assert pre.child is None
    keys = {k[0]: k for k in expectations_mod._loaded}
    assert set(keys) == {os.path.realpath(good)}                  # only what loads cleanly
    [rule] = load_rules(good)
    assert rule is expectations_mod._loaded[keys[os.path.realpath(good)]][0]
    assert rule.why == "because" and rule.line == 1
    with pytest.raises(ExpectationError, match="field 'colour'"):
        load_rules(bad)
    write_file(good, rule_text(why="changed"))                      # after the preload
    os.utime(good, ns=(1, 1))
    assert load_rules(good)[0].why == "changed"


def test_a_preload_nobody_waits_for_is_stopped(tmp_path):
    rules_file(tmp_path, rule_text())
    pre = expectations_mod.Preload([str(tmp_path)])
    child = pre.child
    pre.stop()
    assert pre.child is None and (child is None or child.pid is None)


def test_empty_file_has_no_rules(tmp_path):
    assert load_rules(rules_file(tmp_path, "")) == []


def test_status_skipped(tmp_path):
    path = rules_file(tmp_path, rule_text(expect="{status: skipped}"), name="linux.yaml")
    [rule] = load_rules(path)
    assert rule.expects_skip and rule.status == "skipped" and rule.reason == ""


def test_status_error_with_its_reason(tmp_path):
    path = rules_file(tmp_path, rule_text(expect='{status: error, reason: "no TCP state"}'))
    [rule] = load_rules(path)
    assert (rule.status, rule.reason) == ("error", "no TCP state")


def test_documented_lists_of_acceptable_results(tmp_path):
    path = rules_file(tmp_path, rule_text(provenance="documented", seen_on=None, source="x",
                                          expect="{a.bind: [ok, EADDRINUSE], "
                                                 "deliver: {a: [all, some]}}"),
                      name="freebsd.yaml")
    assert load_rules(path)[0].expect == {"a.bind": ["ok", "EADDRINUSE"],
                                          "deliver": {"a": ["all", "some"]}}


def problems(path):
    with pytest.raises(ExpectationError) as e:
        load_rules(path)
    return str(e.value)


@pytest.mark.parametrize("fields, line, field, fragment", [
    ({"colour": "red"}, 5, "colour", "unknown key"),
    ({"kernel": '"=>4.6"'}, 5, "kernel", "must start with one of"),
    ({"kernel": '">=4.x"'}, 5, "kernel", "not a dotted version"),
    ({"kernel": "4.6"}, 5, "kernel", "must be a string"),
    ({"seen_on": None}, 2, "seen_on", "provenance observed needs seen_on"),
    ({"seen_on": "6.1"}, 3, "seen_on", "must be a release string"),
    ({"provenance": "guessed"}, 2, "provenance", "'guessed' is not one of"),
    ({"provenance": None}, 1, "provenance", "is required"),
    ({"why": None}, 1, "why", "is required"),
    ({"why": '""'}, 4, "why", "non-empty text"),
    ({"expect": None}, 1, "expect", "is required"),
    ({"expect": "[a.bind]"}, 1, "expect", "non-empty mapping"),
    ({"expect": "{a.bind: EADDR_INUSE}"}, 1, "expect.a.bind", "'EADDR_INUSE'"),
    ({"expect": "{a.bind: 3}"}, 1, "expect.a.bind", "a step's result is"),
    ({"expect": '{a.bind: "?"}'}, 1, "expect.a.bind", "only for documented rules"),
    ({"expect": "{a.bind: [ok, EACCES]}"}, 1, "expect.a.bind", "only for documented rules"),
    ({"expect": "{deliver: {a: most}}"}, 1, "expect.deliver.a", "all, none, some"),
    ({"expect": "{deliver: {a: -1}}"}, 1, "expect.deliver.a", "all, none, some"),
    ({"expect": "{status: passed}"}, 1, "expect.status", "skipped or error"),
    ({"expect": "{status: error}"}, 1, "expect.reason", "needs the reason"),
    ({"expect": "{status: skipped, a.bind: ok}"}, 1, "expect.a.bind", "stands with a reason"),
    ({"when": "{family: [ipv4, [ipv6]]}"}, 5, "when.family", "must be scalars"),
    ({"when": "{family: []}"}, 5, "when.family", "empty list"),
    ({"when": "[family]"}, 5, "when", "must be a mapping"),
    ({"sysctl": "{net.x: {a: 1}}"}, 5, "sysctl.net.x", "must be a value or a list"),
])
def test_rule_errors_name_file_line_field(tmp_path, fields, line, field, fragment):
    path = rules_file(tmp_path, rule_text(**fields))
    msg = problems(path)
    assert "%s:%d: field '%s': " % (path, line, field) in msg, msg
    assert fragment in msg, msg


def test_documented_needs_source(tmp_path):
    path = rules_file(tmp_path, rule_text(provenance="documented", seen_on=None),
                      name="freebsd.yaml")
    msg = problems(path)
    assert "freebsd.yaml:2: field 'source': provenance documented needs a source" in msg


def test_documented_may_use_unknown(tmp_path):
    path = rules_file(tmp_path, rule_text(provenance="documented", seen_on=None,
                                          source='"setsockopt(2)"',
                                          expect='{a.bind: "?", deliver: {a: "?"}}'),
                      name="openbsd.yaml")
    assert load_rules(path)[0].expect == {"a.bind": "?", "deliver": {"a": "?"}}


def test_linux_rules_are_observed(tmp_path):
    path = rules_file(tmp_path, rule_text(provenance="documented", seen_on=None,
                                          source="x"))
    assert "linux.yaml:2: field 'provenance': Linux expectations are always observed" \
        in problems(path)


def test_every_problem_reported(tmp_path):
    path = rules_file(tmp_path, rule_text(colour="red") + rule_text(kernel='"6"'))
    msg = problems(path)
    assert ":5: field 'colour'" in msg and ":10: field 'kernel'" in msg


def test_not_a_list(tmp_path):
    path = rules_file(tmp_path, "when: {a: b}\n")
    assert "linux.yaml:1: the file must be a list of rules" in problems(path)


def test_yaml_syntax_error_has_line(tmp_path):
    path = rules_file(tmp_path, "- expect: {a.bind: ok}\n  kernel: >=4.6\n  why: x\n")
    msg = problems(path)
    assert path + ":" in msg and "YAML" in msg and "quoted" in msg


def test_duplicate_key(tmp_path):
    path = rules_file(tmp_path, "- why: a\n  why: b\n")
    assert "linux.yaml:2: YAML" in problems(path) and "duplicate key" in problems(path)


@pytest.mark.parametrize("text, fragment", [
    ("- ? [a]\n  : b\n", "a mapping key must be a plain name"),
    ("- a: b\n---\n- c: d\n", "a second YAML document"),
    ("[" * 200 + "]" * 200 + "\n", "nested deeper than"),
])
def test_hostile_yaml_is_refused_with_its_line(tmp_path, text, fragment):
    msg = problems(rules_file(tmp_path, text, case_yaml=None))
    assert "linux.yaml:" in msg and fragment in msg, msg


def test_not_utf8_and_too_large(tmp_path):
    path = tmp_path / "s" / "linux.yaml"
    path.parent.mkdir()
    path.write_bytes(b"- why: caf\xe9\n")
    assert "linux.yaml:1: not UTF-8" in problems(str(path))
    from bindmatrix import yamlio
    path.write_bytes(b"#" * (yamlio.MAX_BYTES + 1))
    assert "larger than" in problems(str(path))


def test_a_fifo_or_device_is_refused_not_waited_on(tmp_path):
    """A FIFO named linux.yaml would block a plain open for ever (lint, check and report walk
    every such file of a cases folder); a device would never end."""
    path = tmp_path / "s" / "linux.yaml"
    path.parent.mkdir()
    os.mkfifo(str(path))
    assert "linux.yaml: not a regular file" in problems(str(path))
    assert "/dev/zero: not a regular file" in problems("/dev/zero")


def test_yes_no_on_off_stay_strings(tmp_path):
    path = rules_file(tmp_path, rule_text(when="{flag: on, other: no}"), case_yaml=None)
    assert load_rules(path)[0].when == {"flag": ["on"], "other": ["no"]}


# ---- matching --------------------------------------------------------------------------

def load(tmp_path, text):
    return load_rules(rules_file(tmp_path, text, case_yaml=None))


def test_first_match_wins(tmp_path):
    rules = load(tmp_path, rule_text(when="{family: ipv4}", why="first")
                 + rule_text(why="second") + rule_text(why="third"))
    run = run_record()
    assert find_rule(rules, case({"family": "ipv4"}), run).why == "first"
    assert find_rule(rules, case({"family": "ipv6"}), run).why == "second"


def test_list_values_match_any(tmp_path):
    rules = load(tmp_path, rule_text(when="{opts: [reuseaddr, both], n: [1, 2]}"))
    run = run_record()
    assert find_rule(rules, case({"opts": "both", "n": 2}), run)
    assert find_rule(rules, case({"opts": "reuseaddr", "n": "1"}), run)
    assert find_rule(rules, case({"opts": "none", "n": 1}), run) is None
    assert find_rule(rules, case({"n": 1}), run) is None     # axis absent: no match


def test_boolean_axis_values(tmp_path):
    rules = load(tmp_path, rule_text(when="{v6only: true}"))
    assert find_rule(rules, case({"v6only": True}), run_record())
    assert find_rule(rules, case({"v6only": "true"}), run_record())
    assert find_rule(rules, case({"v6only": False}), run_record()) is None


def test_kernel_range(tmp_path):
    rules = load(tmp_path, rule_text(kernel='">=4.6,<6.1"', why="old")
                 + rule_text(why="new"))
    c = case()
    assert find_rule(rules, c, run_record(os_release="5.10.0-28-amd64")).why == "old"
    assert find_rule(rules, c, run_record(os_release="6.1.0-18-amd64")).why == "new"
    assert find_rule(rules, c, run_record(os_release="4.5.0")).why == "new"
    assert find_rule(rules, c, run_record(os_release="weird")).why == "new"


def test_sysctl_overlay(tmp_path):
    rules = load(tmp_path, rule_text(sysctl="{net.ipv4.ip_autobind_reuse: 1}", why="on")
                 + rule_text(sysctl='{net.ipv4.ip_autobind_reuse: "0"}', why="off")
                 + rule_text(why="fallback"))
    run = run_record(sysctls={"net.ipv4.ip_autobind_reuse": "0"})
    # the run's value applies unless the case set its own
    assert find_rule(rules, case(), run).why == "off"
    assert find_rule(rules, case(sysctl={"net.ipv4.ip_autobind_reuse": "1"}), run).why == "on"
    # a sysctl neither records: the conditions on it do not hold
    assert find_rule(rules, case(), run_record(sysctls={})).why == "fallback"


class _Manifest:
    """Just the scenario folders, as the manifest gives them."""

    def __init__(self, root, names):
        from types import SimpleNamespace
        self.scenarios = {n: SimpleNamespace(dir=os.path.join(str(root), *n.split("/")))
                          for n in names}


def test_store_caches_and_reports_errors(tmp_path):
    write_file(tmp_path / "tcp" / "x" / "linux.yaml", rule_text())
    write_file(tmp_path / "tcp" / "bad" / "linux.yaml", rule_text(colour="red"))
    store = ExpectationStore(_Manifest(tmp_path, ["tcp/x", "tcp/bad", "tcp/none"]), "linux")
    assert len(store.rules_for("tcp/x")) == 1
    assert store.rules_for("tcp/x") is store.rules_for("tcp/x")
    assert store.rules_for("tcp/none") == []
    with pytest.raises(ExpectationError, match="field 'colour'"):
        store.rules_for("tcp/bad")
    assert ExpectationStore(_Manifest(tmp_path, ["tcp/x"]), "unknown").path_for("tcp/x") is None
    assert store.path_for("tcp/not-in-the-manifest") is None
