"""./bindmatrix lint: every kind of typo in an expectation file fails, naming file and line."""

import os

import pytest

from bindmatrix import lint
from bindmatrix.compare import display_path
from fixturekit import BIND_CASE, REPO, manifest_of, run_cli, scenario_tree

GOOD = """\
- when: {reuse: none}
  expect: {b.bind: EADDRINUSE, b.listen: not-run}
  provenance: documented
  source: "in_pcb.c in_pcbbind_setup()"
  why: A listener holds the port.
- expect: {b.bind: "?", b.listen: "?"}
  provenance: documented
  source: "in_pcb.c in_pcbbind_setup()"
  why: Not documented with SO_REUSEADDR.
"""


def problems(tmp_path, text, stem="freebsd", scenarios=None, extra=None):
    scen = scenarios or {"tcp/s": BIND_CASE}
    exp = {("tcp/s", stem): text}
    exp.update(extra or {})
    m = manifest_of(scenario_tree(tmp_path, scen, exp))
    found, _files, _rules = lint.lint(m)
    return found


def test_a_good_file_is_clean(tmp_path):
    assert problems(tmp_path, GOOD) == []


@pytest.mark.parametrize("old, new, line, field, fragment", [
    ("b.listen: not-run}", "b.lsten: not-run}", 2, "expect.b.lsten",
     "unknown step label 'b.lsten'"),
    ("{reuse: none}", "{reuse: nne}", 1, "when.reuse", "'nne' is not a value of axis reuse"),
    ("{reuse: none}", "{reus: none}", 1, "when.reus", "has no axis 'reus'"),
    ("b.bind: EADDRINUSE", "b.bind: EIU", 2, "expect.b.bind",
     "'EIU' is not a step result bindmatrix knows"),
    ("b.bind: EADDRINUSE", "b.bind: EADDRINUS", 2, "expect.b.bind", "did you mean 'EADDRINUSE'"),
    ("b.bind: EADDRINUSE, b.listen: not-run", "b.bind: EADDRINUSE", 2, "expect",
     "does not say what step b.listen"),
    ("b.bind: EADDRINUSE", "b.bind: {a: all}", 2, "expect.b.bind",
     "only a deliver step has receivers"),
    ('source: "in_pcb.c in_pcbbind_setup()"\n  why: A listener',
     'source: "TODO: a source"\n  why: A listener', 4, "source", "still a placeholder"),
])
def test_each_kind_of_typo_names_file_line_and_field(tmp_path, old, new, line, field, fragment):
    assert old in GOOD
    found = problems(tmp_path, GOOD.replace(old, new, 1))
    path = os.path.join("cases", "tcp", "s", "freebsd.yaml")
    hits = [p for p in found if fragment in p]
    assert hits, found
    assert any(("%s:%d: field '%s'" % (path, line, field)) in p for p in hits), hits


def test_a_rule_that_matches_nothing_and_one_that_can_never_fire(tmp_path):
    text = GOOD + """\
- when: {reuse: none}
  expect: {b.bind: ok, b.listen: ok}
  provenance: documented
  source: x
  why: never reached, the first rule takes these cases
- when: {reuse: [reuseaddr], family: ipv4}
  kernel: ">=14"
  expect: {b.bind: ok, b.listen: ok}
  provenance: documented
  source: x
  why: reached on no case either (rule 2 takes every case and needs nothing of the host)
"""
    found = problems(tmp_path, text)
    assert any(":10: field 'when': can never fire: the rule on line 1 takes" in p
               for p in found), found
    assert any(":15: field 'when': can never fire" in p for p in found), found


def test_a_condition_on_the_host_lets_a_later_rule_fire(tmp_path):
    text = """\
- kernel: ">=6.1"
  expect: {b.bind: EADDRINUSE, b.listen: not-run}
  provenance: observed
  seen_on: "6.1.0"
  why: newer kernels
- expect: {b.bind: ok, b.listen: ok}
  provenance: observed
  seen_on: "5.10.0"
  why: older kernels
"""
    assert problems(tmp_path, text, stem="linux") == []


def test_rules_with_different_host_conditions_do_not_shadow_each_other(tmp_path):
    rule = ("- when: {reuse: none}\n  kernel: \"%s\"\n  expect: {b.bind: ok, b.listen: ok}\n"
            "  provenance: documented\n  source: x\n  why: y\n")
    assert problems(tmp_path, rule % ">=14" + rule % "<14" + GOOD) == []


def test_a_rule_that_matches_no_case(tmp_path):
    scen = {"tcp/s": BIND_CASE.replace("sockets:", "exclude:\n  - {family: ipv6, reuse: "
                                       "reuseaddr}\nsockets:")}
    text = ("- when: {family: ipv6, reuse: reuseaddr}\n  expect: {b.bind: ok, b.listen: ok}\n"
            "  provenance: documented\n  source: x\n  why: y\n") + GOOD
    found = problems(tmp_path, text, scenarios=scen)
    assert any(":1: field 'when': matches no case of tcp/s" in p for p in found), found


def test_observed_rule_needs_seen_on_and_yaml_errors_are_problems(tmp_path):
    text = GOOD.replace("provenance: documented\n  source: \"in_pcb.c in_pcbbind_setup()\"\n"
                        "  why: A listener", "provenance: observed\n  why: A listener", 1)
    found = problems(tmp_path, text, stem="linux")
    assert any("field 'seen_on': provenance observed needs seen_on" in p for p in found), found
    found = problems(tmp_path, "- expect: {a: b}\n  expect: {c: d}\n")
    assert any("duplicate key" in p and "freebsd.yaml:2" in p for p in found), found


def test_a_file_named_for_no_os(tmp_path):
    found = problems(tmp_path, GOOD, extra={("tcp/s", "windows"): "[]\n"})
    assert any("windows.yaml: not an expectation file name" in p for p in found), found


def test_an_expectation_file_ending_in_yml_is_a_problem(tmp_path):
    """freebsd.yml: its rules were read by nothing and lint said nothing, so the cases it
    meant to judge stayed without a rule for that OS."""
    cases = scenario_tree(tmp_path, {"tcp/s": BIND_CASE})
    with open(os.path.join(cases, "tcp", "s", "freebsd.yml"), "w") as f:
        f.write(GOOD)
    found, _files, _rules = lint.lint(manifest_of(cases))
    path = display_path(os.path.join(cases, "tcp", "s", "freebsd.yml"))
    assert found == ["%s: expectation files end in .yaml (freebsd.yaml): nothing reads this "
                     "one" % path], found


def test_the_same_case_in_two_scenarios_must_be_expected_the_same(tmp_path):
    story = BIND_CASE.replace("  reuse: [none, reuseaddr]\n", "").replace(
        "  family: [ipv4, ipv6]\n", "  family: [ipv4]\n").replace("$reuse", "none")
    says_ok = "- expect: {b.bind: ok, b.listen: ok}\n  provenance: documented\n" \
              "  source: x\n  why: y\n"
    found = problems(tmp_path, GOOD, scenarios={"tcp/s": BIND_CASE, "tcp/story": story},
                     extra={("tcp/story", "freebsd"): says_ok})
    assert any("does what" in p and "tcp/story[family=ipv4]" in p
               and "tcp/s[family=ipv4,reuse=none]" in p for p in found), found
    # said the same way, it is clean
    same = says_ok.replace("b.bind: ok, b.listen: ok", "b.bind: EADDRINUSE, b.listen: not-run")
    assert problems(tmp_path / "2", GOOD, scenarios={"tcp/s": BIND_CASE, "tcp/story": story},
                    extra={("tcp/story", "freebsd"): same}) == []


@pytest.mark.long
def test_the_repository_is_lint_clean():
    from bindmatrix import manifest
    cases = os.path.join(REPO, "cases")
    from bindmatrix import documented
    found, nfiles, nrules = lint.lint(manifest.from_runner(paths=[cases]),
                                      os.path.join(cases, "claims.yaml"),
                                      documented.load(os.path.join(cases, "documented.yaml")))
    assert nfiles > 50 and nrules > 100
    assert found == [], "\n".join(found[:20])


def test_the_lint_test_the_quick_tier_leaves_out_is_this_one(request):
    """./bindmatrix test deselects it by node id (its step [3/5] lints the same): pytest
    would say nothing of an id that no longer exists, and lint the repository twice again."""
    from bindmatrix import cli
    path, name = cli.REPOSITORY_LINT_TEST.split("::")
    assert path == request.node.nodeid.split("::")[0]
    assert globals()[name] is test_the_repository_is_lint_clean


def test_the_command_exits_1_and_lists_every_problem(tmp_path):
    cases = scenario_tree(tmp_path, {"tcp/s": BIND_CASE},
                          {("tcp/s", "macos"): GOOD.replace("b.listen: not-run}", "b.lsten: x}")})
    code, out = run_cli(["lint", cases], tmp_path)
    assert code == 1, out
    assert "cases/tcp/s/macos.yaml:2: field 'expect.b.lsten': unknown step label" in out
    assert "1 problem" in out or "problems" in out


def test_a_citation_users_cannot_follow_is_a_problem(tmp_path):
    text = GOOD.replace('source: "in_pcb.c in_pcbbind_setup()"',
                        'source: "shared reference bind-semantics.md row 5"', 1)
    found = problems(tmp_path, text)
    assert any("freebsd.yaml:4: field 'source': cites a document the users" in p
               for p in found), found
    scen = {"tcp/s": BIND_CASE.replace('ref: "socket(7)"', 'ref: "shared reference row 3"')}
    found = problems(tmp_path / "2", GOOD, scenarios=scen)
    assert any("case.yaml:2: field 'ref': cites a document" in p for p in found), found


def test_a_documented_rule_states_the_releases_it_holds_for(tmp_path):
    from bindmatrix.documented import Reference
    refs = {"freebsd": Reference("freebsd", "15.0", "FreeBSD 15.0")}
    skip = ('- when: {family: ipv6}\n  expect: {status: skipped, reason: "not defined"}\n'
            '  provenance: documented\n  source: "runner/exec.c"\n  why: The runner skips.\n')
    text = skip + GOOD.replace('- expect: {b.bind: "?"', '- kernel: ">=12.0"\n  expect: {b.bind: "?"')
    m = manifest_of(scenario_tree(tmp_path, {"tcp/s": BIND_CASE}, {("tcp/s", "freebsd"): text}))
    found = lint.lint(m, references=refs)[0]
    path = os.path.join("cases", "tcp", "s", "freebsd.yaml")
    # the runner's own skip needs no range; the next rule has none; the last one has one
    assert len(found) == 1 and "%s:6: field 'kernel'" % path in found[0], found
    assert "field 'kernel': a documented rule states the releases it holds for" in found[0]
    assert '">=15.0"' in found[0] and "FreeBSD 15.0" in found[0]
    # an OS with no reference release (a stack, or Linux's observed files) is not asked
    assert lint.lint(m, references={})[0] == []


def test_the_reference_releases_file_is_checked(tmp_path):
    from bindmatrix import documented
    from bindmatrix.yamlio import InputError
    good = tmp_path / "good.yaml"
    good.write_text('freebsd: {release: "15.0", name: "FreeBSD 15.0"}\n')
    assert documented.load(str(good))["freebsd"].release == "15.0"
    bad = tmp_path / "bad.yaml"
    bad.write_text('freebsd: {release: "15.0", name: "FreeBSD 15.0"}\n'
                   'plan9: {release: "4", name: "Plan 9"}\n'
                   'macos: {release: "Sequoia", name: "macOS 15"}\n'
                   'openbsd: {release: "7.8"}\n')
    with pytest.raises(InputError) as e:
        documented.load(str(bad))
    got = e.value.problems
    assert len(got) == 3, got
    assert "bad.yaml:2: field 'plan9'" in got[0] and "not an OS" in got[0]
    assert "bad.yaml:3: field 'macos.release'" in got[1]
    assert "bad.yaml:4: field 'openbsd'" in got[2]


def test_a_wider_release_range_takes_the_cases_of_a_narrower_one(tmp_path):
    rule = ("- when: {reuse: none}\n  kernel: \"%s\"\n  expect: {b.bind: ok, b.listen: ok}\n"
            "  provenance: documented\n  source: x\n  why: y\n")
    # >=12.0 holds wherever >=14 does: the second rule can never fire
    found = problems(tmp_path, rule % ">=12.0" + rule % ">=14" + GOOD)
    assert any(":7: field 'when': can never fire: the rule on line 1" in p for p in found), found
    # the other way round each fires on some release
    assert problems(tmp_path / "2", rule % ">=14" + rule % ">=12.0" + GOOD) == []
    assert problems(tmp_path / "3", rule % ">=12.0,<14.0" + rule % ">=12.0" + GOOD) == []


def test_two_scenarios_are_compared_release_by_release(tmp_path):
    """The same case expected the same on every release, by rules split differently by
    range, is consistent; expected differently on one release range, it is not."""
    story = BIND_CASE.replace("  reuse: [none, reuseaddr]\n", "").replace(
        "  family: [ipv4, ipv6]\n", "  family: [ipv4]\n").replace("$reuse", "none")
    rule = ("- kernel: \"%s\"\n  expect: {b.bind: %s, b.listen: %s}\n  provenance: documented\n"
            "  source: x\n  why: y\n")
    base = rule % (">=12.0", "EADDRINUSE", "not-run") + rule % (">=12.0", "ok", "ok")
    split = rule % (">=14", "EADDRINUSE", "not-run") + rule % (">=12.0", "EADDRINUSE", "not-run")
    scen = {"tcp/s": BIND_CASE, "tcp/story": story}
    assert problems(tmp_path, base.replace("- kernel", "- when: {reuse: none}\n  kernel", 1),
                    scenarios=scen, extra={("tcp/story", "freebsd"): split}) == []
    differs = rule % (">=14", "EADDRINUSE", "not-run") + rule % (">=12.0", "ok", "ok")
    found = problems(tmp_path / "2", base.replace("- kernel", "- when: {reuse: none}\n  kernel",
                                                  1),
                     scenarios=scen, extra={("tcp/story", "freebsd"): differs})
    assert any("does what" in p for p in found), found


def test_a_capability_no_run_records_is_a_problem(tmp_path):
    """cases/capabilities.yaml names what a run must have: a name the runner never records
    (other_usr for other_user) would require nothing, silently."""
    cases = scenario_tree(tmp_path, {"tcp/s": BIND_CASE})
    caps = os.path.join(cases, "capabilities.yaml")
    with open(caps, "w") as f:
        f.write("linux:\n  privileged: [netns, option:reuseport]\n"
                "  unprivileged: [other_usr, sysctl:net.ipv6.bindv6only]\n")
    found, _files, _rules = lint.lint(manifest_of(cases), capabilities=caps)
    assert found == ["%s:3: field 'linux.unprivileged': 'other_usr' is no capability a run "
                     "records" % caps], found


def test_summary_tables_that_name_what_the_cases_lack_are_problems(tmp_path):
    """cases/summary.yaml pivots the cases: a scenario, axis, value or step it names that
    they lack would make an empty or missing table in every summary."""
    cases = scenario_tree(tmp_path, {"tcp/s": BIND_CASE})
    tables = os.path.join(cases, "summary.yaml")
    with open(tables, "w") as f:
        f.write("- title: T\n  scenario: tcp/s\n  where: {family: ipv5}\n  rows: [reuse]\n"
                "  columns: [famly]\n  show: [b.bind]\n"
                "- title: U\n  scenario: tcp/gone\n  rows: [reuse]\n  columns: [family]\n")
    found, _files, _rules = lint.lint(manifest_of(cases), summary=tables)
    tables = display_path(tables)       # as lint names a file: from here, when below here
    assert found == [
        "%s:5: field 'table 1.columns': 'famly' is not an axis of tcp/s (its axes: family, "
        "proto, reuse)" % tables,
        "%s:3: field 'table 1.where': tcp/s has no family=ipv5 (its values: ipv4, ipv6)"
        % tables,
        "%s: table 2: 'tcp/gone' is not a scenario of these cases" % tables], found
    code, out = run_cli(["lint", cases], tmp_path)
    assert code == 1 and "table 2: 'tcp/gone' is not a scenario" in out, out


def test_the_cases_a_rule_matches_are_those_when_holds_for():
    """lint finds a rule's cases through an index of the axis values: the same cases as
    when_holds gives, for text, booleans and numbers, an axis a case lacks, and no `when`."""
    from types import SimpleNamespace
    from bindmatrix.expectations import Rule, when_holds
    cases = [SimpleNamespace(axes=axes) for axes in (
        {"family": "ipv4", "v6only": True, "n": 2}, {"family": "ipv6", "v6only": False, "n": 2},
        {"family": "ipv6", "v6only": True, "n": 16}, {"family": "ipv4", "v6only": None})]
    index = lint._axis_index(cases)
    for when in ({}, {"family": ["ipv6"]}, {"v6only": ["true"]}, {"n": ["2", "16"]},
                 {"family": ["ipv4"], "v6only": ["false"]}, {"n": ["2"], "family": ["ipv6"]},
                 {"v6only": ["false", "true"]}, {"missing": ["x"]}):
        rule = Rule(path="x.yaml", line=1, index=0, when=when)
        assert lint._matching(rule, index, len(cases)) == \
            {k for k, c in enumerate(cases) if when_holds(rule, c.axes)}, when
