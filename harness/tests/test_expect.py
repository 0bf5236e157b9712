"""./bindmatrix expect: generalised observed rules for the cases that have none, appended
without touching a rule that is there."""

import os

from bindmatrix import expect, lint
from bindmatrix.compare import display_path
from bindmatrix.conformance import Conformance
from fixturekit import BIND_CASE, manifest_of, results_for, run_record, scenario_tree

NONE = "tcp/s[family=%s,reuse=none]"
ADDR = "tcp/s[family=%s,reuse=reuseaddr]"
EXISTING = """\
# a rule a person wrote
- when: {family: ipv6, reuse: reuseaddr}
  expect: {b.bind: EACCES, b.listen: not-run}
  provenance: observed
  seen_on: "6.1.0"
  why: kept as it is
  source: "a test"
"""


def outcomes():
    out = {}
    for fam in ("ipv4", "ipv6"):
        out[NONE % fam] = {"b.bind": "EADDRINUSE", "b.listen": "not-run"}
        out[ADDR % fam] = {"b.bind": "ok", "b.listen": "ok"}
    out[ADDR % "ipv6"] = {"b.bind": "EACCES", "b.listen": "not-run"}
    return out


def test_generalise_keeps_only_the_axes_that_separate_outcomes():
    group = [{"family": "ipv4", "reuse": "none"}, {"family": "ipv6", "reuse": "none"}]
    others = [{"family": "ipv4", "reuse": "reuseaddr"}]
    assert expect.generalise(group, others, ["family", "reuse"]) == [{"reuse": ["none"]}]
    # a case that must not be covered splits the group
    group = [{"family": "ipv4", "reuse": "none"}, {"family": "ipv6", "reuse": "reuseaddr"}]
    others = [{"family": "ipv4", "reuse": "reuseaddr"}, {"family": "ipv6", "reuse": "none"}]
    whens = expect.generalise(group, others, ["family", "reuse"])
    assert len(whens) == 2 and all(not any(expect._matches(w, o) for o in others)
                                   for w in whens)


def test_expect_appends_rules_that_judge_every_case_and_keeps_existing_ones(tmp_path, capsys):
    cases = scenario_tree(tmp_path, {"tcp/s": BIND_CASE}, {("tcp/s", "linux"): EXISTING})
    m = manifest_of(cases)
    results = results_for(m, outcomes(), str(tmp_path / "r.jsonl"),
                          run=run_record(os_release="6.18.44-test"))
    assert expect.main([results, "--cases", cases]) == 0
    printed = capsys.readouterr().out
    assert "- when: {reuse: none}\n  expect: {b.bind: EADDRINUSE, b.listen: not-run}" in printed
    assert "- when: {reuse: reuseaddr}\n  expect: {b.bind: ok, b.listen: ok}" in printed
    path = os.path.join(cases, "tcp", "s", "linux.yaml")
    with open(path) as f:
        assert f.read() == EXISTING            # printing writes nothing

    assert expect.main([results, "--cases", cases, "--write"]) == 0
    with open(path) as f:
        text = f.read()
    assert text.startswith(EXISTING)
    assert 'seen_on: "6.18.44-test"' in text
    # the placeholders keep lint failing until a person fills them in
    problems, _files, _rules = lint.lint(manifest_of(cases))
    assert sum("still a placeholder" in p for p in problems) == 4, problems
    # and every case now has a rule: all match, and the summary says which rules still hold
    # the placeholders (a run passed with them, and only lint said so)
    conf = Conformance.of(results, manifest_of(cases))
    assert conf.counts()["match"] == 4
    said = "\n".join(conf.summary_lines())
    assert "2 rules that judged these cases still hold the TODO placeholders ./bindmatrix " \
        "expect wrote (%s:10, %s:16): fill in why and source" % ((display_path(path),) * 2) \
        in said, said
    assert expect.main([results, "--cases", cases]) == 0
    assert "every observed case" in capsys.readouterr().out


def test_names_from_a_results_file_cannot_write_yaml_of_their_own(tmp_path, capsys):
    """Step labels and the release come from a results file made elsewhere: what expect
    writes quotes them, so a label cannot end the rule and add one of its own."""
    import json
    from bindmatrix.expectations import load_rules
    cases = scenario_tree(tmp_path, {"tcp/s": BIND_CASE})
    m = manifest_of(cases)
    evil = 'b.bind: ok}\n- when: {}\n  expect: {x'
    hostile = {cid: {"b.bind": r["b.bind"], "b.listen": r["b.listen"]}
               for cid, r in outcomes().items()}
    results = results_for(m, hostile, str(tmp_path / "r.jsonl"),
                          run=run_record(os_release='6.1"\n- injected: yes'))
    lines = open(results).read().splitlines()
    edited = []
    for line in lines:
        record = json.loads(line)
        for st in record.get("steps") or ():
            if st["label"] == "b.listen":
                st["label"] = evil
        edited.append(json.dumps(record))
    with open(results, "w") as f:
        f.write("\n".join(edited) + "\n")
    assert expect.main([results, "--cases", cases, "--write"]) == 0
    rules = load_rules(os.path.join(cases, "tcp", "s", "linux.yaml"))
    assert len(rules) == 3                              # the three outcomes, nothing more
    assert all(set(r.expect) == {"b.bind", evil} for r in rules), [r.expect for r in rules]
    assert all(r.seen_on == ['6.1"\n- injected: yes'] for r in rules)


def test_expect_writes_every_file_or_none(tmp_path):
    """--write appended to the expectation files one by one: one it could not write (here a
    link into a folder that is a file) left the files before it with their new rules and the
    rest without.  Now nothing is changed, and no temporary file is left."""
    cases = scenario_tree(tmp_path, {"tcp/s": BIND_CASE, "tcp/t": BIND_CASE},
                          {("tcp/s", "linux"): EXISTING})
    (tmp_path / "a-file").write_text("")
    os.symlink(os.path.join("..", "..", "..", "a-file", "linux.yaml"),
               os.path.join(cases, "tcp", "t", "linux.yaml"))
    m = manifest_of(cases)
    outs = outcomes()
    outs.update({k.replace("tcp/s[", "tcp/t["): v for k, v in outs.items()})
    results = results_for(m, outs, str(tmp_path / "r.jsonl"),
                          run=run_record(os_release="6.18.44-test"))
    before = {p: open(p, "rb").read() for p in _files(cases)}
    try:
        expect.main([results, "--cases", cases, "--write"])
        raise AssertionError("a file that cannot be written was written")
    except OSError:
        pass
    assert {p: open(p, "rb").read() for p in _files(cases)} == before


def _files(top):
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs
                  if os.path.exists(os.path.join(d, f)))
