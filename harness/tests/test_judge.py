"""The judge: one verdict per case, the same words everywhere, unknown never a pass."""

import pytest

from bindmatrix import judge
from bindmatrix.expectations import ExpectationError, Rule
from fixturekit import case_record, run_cli, run_record, step


def rule(expect=None, provenance="observed", status=None, reason="", **kw):
    kw.setdefault("why", "because")
    kw.setdefault("source", "socket(7)")
    return Rule(path="cases/s/linux.yaml", line=3, index=0, expect=expect or {},
                provenance=provenance, status=status, reason=reason, **kw)


def bind_case(bind="EADDRINUSE", listen="not-run", status="observed", reason=None):
    extra = {"reason": reason} if reason else {}
    steps = [step("a.state", "ok", op="state"), step("b.bind", bind),
             step("b.listen", listen)] if status == "observed" else []
    return case_record("s[x=1]", steps=steps, status=status, axes={"x": "1"}, **extra)


def verdict(case, rules, run=None):
    return judge.judge(case, rules, run or run_record()).verdict


EXACT = {"b.bind": "EADDRINUSE", "b.listen": "not-run"}


@pytest.mark.parametrize("case, rules, expected", [
    (bind_case(), [rule(EXACT)], "match"),
    (bind_case(bind="ok", listen="ok"), [rule(EXACT)], "mismatch"),
    (bind_case(), [rule({"b.bind": "?", "b.listen": "not-run"}, "documented")], "unknown"),
    (bind_case(bind="ok", listen="ok"), [rule({"b.bind": "?", "b.listen": "not-run"},
                                              "documented")], "mismatch"),
    (bind_case(), [rule({"b.bind": ["ok", "EADDRINUSE"], "b.listen": ["ok", "not-run"]},
                        "documented")], "match"),
    (bind_case(bind="EACCES"), [rule({"b.bind": ["ok", "EADDRINUSE"], "b.listen": "not-run"},
                                     "documented")], "mismatch"),
    (bind_case(), [], "no-expectation"),
    (bind_case(), None, "no-expectation"),
    (bind_case(status="skipped", reason="option x is not defined"), [rule(EXACT)], "skipped"),
    (bind_case(status="error", reason="TIME_WAIT not reached"), [rule(EXACT)], "error"),
    (bind_case(status="skipped", reason="option x is not defined"),
     [rule(status="skipped", reason="not defined")], "match"),
    (bind_case(status="skipped", reason="needs root"),
     [rule(status="skipped", reason="not defined")], "mismatch"),
    (bind_case(status="error", reason="no TCP state query here"),
     [rule(status="error", reason="no tcp state query")], "match"),
    (bind_case(), [rule(status="error", reason="x")], "mismatch"),
    (bind_case(status="error", reason="x"), ExpectationError(["f:1: bad"]), "error"),
    (bind_case(), ExpectationError(["f:1: bad"]), "no-expectation"),
])
def test_verdicts(case, rules, expected):
    assert verdict(case, rules) == expected


def test_unknown_is_never_a_pass():
    assert "unknown" not in judge.PASSING
    assert "unknown" in judge.STRICT_FAILING and "unknown" not in judge.FAILING


def test_a_documented_list_and_unknown_in_delivery():
    c = case_record("d[x=1]", axes={"x": "1"}, steps=[
        step("b.bind", "ok"), step("deliver", "ok", delivery={"sent": 10,
                                                             "received": {"a": 0, "b": 10}})])
    assert verdict(c, [rule({"b.bind": "ok", "deliver": {"a": "none", "b": "all"}})]) == "match"
    assert verdict(c, [rule({"b.bind": "ok", "deliver": {"a": "?", "b": "all"}},
                            "documented")]) == "unknown"
    assert verdict(c, [rule({"b.bind": "ok", "deliver": {"a": ["none", "some"], "b": "all"}},
                            "documented")]) == "match"
    assert verdict(c, [rule({"b.bind": "ok", "deliver": {"a": "all", "b": "all"}})]) \
        == "mismatch"


def test_a_marked_precondition_needs_no_expectation():
    from bindmatrix.manifest import CaseDef
    c = case_record("s[x=1]", axes={"x": "1"}, steps=[step("a.bind", "ok"),
                                                      step("b.bind", "EADDRINUSE")])
    cd = CaseDef(id="s[x=1]", scenario="s", axes={"x": "1"}, sockets=[], steps=[
        {"label": "a.bind", "op": "bind", "precondition": True},
        {"label": "b.bind", "op": "bind", "precondition": False}])
    r = [rule({"b.bind": "EADDRINUSE"})]
    assert judge.judge(c, r, run_record(), cd).verdict == "match"
    assert judge.judge(c, r, run_record()).verdict == "mismatch"     # without the manifest


def test_documented_columns():
    r = [rule({"b.bind": "?", "b.listen": "ok"}, "documented", when={"x": ["1"]}),
         rule({"b.bind": "ok", "b.listen": "ok"}, "documented", kernel=None)]
    assert judge.expected({"x": "1"}, r, ["b.bind", "b.listen"]).state == "unknown"
    assert judge.expected({"x": "2"}, r, ["b.bind", "b.listen"]).state == "known"
    assert judge.expected({"x": "2"}, [], None).state == "no-expectation"


def test_counts_line_uses_the_judges_words():
    counts = judge.count(["match", "match", "unknown", "skipped"])
    assert judge.counts_line(counts) == ("4 cases: 2 match, 0 mismatch, 1 unknown, "
                                         "0 no-expectation, 0 error, 1 skipped")
    assert judge.counts_line(judge.count(["match"])).startswith("1 case: 1 match, ")


DOCUMENTED = """\
- when: {reuse: none}
  expect: {b.bind: EADDRINUSE, b.listen: not-run}
  provenance: documented
  source: "in_pcb.c in_pcbbind_setup()"
  why: A listener holds the port.
- when: {family: ipv4}
  expect: {b.bind: "?", b.listen: "?"}
  provenance: documented
  source: "none says"
  why: Not documented with SO_REUSEADDR.
- expect: {b.bind: [ok, EADDRINUSE], b.listen: [ok, not-run]}
  provenance: documented
  source: "two sources disagree"
  why: Either.
"""


def test_a_results_file_marked_freebsd_counts_unknown_apart_from_passes(tmp_path):
    """Documented FreeBSD rules against a run: unknowns are their own count and never
    passes; --strict makes them fail."""
    from fixturekit import BIND_CASE, manifest_of, results_for, scenario_tree
    cases = scenario_tree(tmp_path, {"tcp/s": BIND_CASE}, {("tcp/s", "freebsd"): DOCUMENTED})
    outcomes = {"*": {"b.bind": "EADDRINUSE", "b.listen": "not-run"}}
    fake = results_for(manifest_of(cases), outcomes, str(tmp_path / "freebsd.jsonl"),
                       run=run_record(os="freebsd", os_release="14.1-RELEASE"))

    def check(*extra):
        return run_cli(["check", fake, "--cases", cases, "--no-junit"] + list(extra), tmp_path)
    code, out = check()
    # none, ipv4 and ipv6: match (rule 1); reuseaddr ipv4: unknown (rule 2);
    # reuseaddr ipv6: one of the acceptable results (rule 3): match
    assert "4 cases: 3 match, 0 mismatch, 1 unknown, 0 no-expectation, 0 error, 0 skipped" \
        in out, out
    assert "passed" not in out.split("cases:")[0].splitlines()[-1]
    assert code == 0, out                               # unknown is not a failure ...
    code, strict = check("--strict")
    assert code == 1                                    # ... unless --strict
    assert "UNKNOWN tcp/s[family=ipv4,reuse=reuseaddr]" in strict

