"""The text of a verdict (compare.py) over the judge's comparison (judge.compare)."""

import pytest

from bindmatrix import judge
from bindmatrix.compare import format_error, format_mismatch, format_missing, suggest_when_expect
from bindmatrix.expectations import Rule
from bindmatrix.judge import delivery_class
from fixturekit import case_record, run_record, step


def rule(expect, provenance="observed", **kw):
    kw.setdefault("why", "Because the kernel says so.")
    kw.setdefault("source", "socket(7)")
    kw.setdefault("seen_on", ["6.1.0"])
    status = expect.pop("status", None) if isinstance(expect, dict) else None
    return Rule(path="cases/s/linux.yaml", line=7, index=1, expect=expect,
                provenance=provenance, status=status, **kw)


def compare(case, r):
    return judge.compare(case, r)[0]


def delivery_matches(expected, n, sent):
    c = case_record("d[x]", steps=[step("deliver", "ok", delivery={"sent": sent,
                                                                   "received": {"a": n}})])
    diffs, unknown = judge.compare(c, rule({"deliver": {"a": expected}},
                                           provenance="documented"))
    return not diffs


def bind_case(bind="EADDRINUSE", listen="not-run", **kw):
    return case_record("s[family=ipv4]", title="Second listener", axes={"family": "ipv4"},
                       steps=[step("a.state", "ok", state="listening"),
                              step("b.bind", bind), step("b.listen", listen)], **kw)


def deliver_case(received, sent=10, result="ok", in_case=False):
    steps = [step("b.bind", "ok")]
    delivery = {"sent": sent, "received": received}
    c = case_record("d[x]", axes={}, steps=steps)
    if in_case:
        steps.append(step("deliver", result))
        c["delivery"] = {"deliver": delivery}
    else:
        steps.append(step("deliver", result, delivery=delivery))
    return c


def messages(diffs):
    return [d.message for d in diffs]


def test_match():
    assert compare(bind_case(), rule({"b.bind": "EADDRINUSE", "b.listen": "not-run"})) == []


def test_errno_differs():
    diffs = compare(bind_case(bind="ok", listen="ok"),
                    rule({"b.bind": "EADDRINUSE", "b.listen": "not-run"}))
    assert messages(diffs) == ["b.bind: expected EADDRINUSE, observed ok",
                               "b.listen: expected not-run, observed ok"]
    assert (diffs[0].label, diffs[0].expected, diffs[0].observed) == ("b.bind", "EADDRINUSE", "ok")


def test_step_without_expectation():
    diffs = compare(bind_case(), rule({"b.bind": "EADDRINUSE"}))
    assert messages(diffs) == ["no expectation for step b.listen"]


def test_state_step_needs_no_expectation_but_is_checked_when_named():
    assert compare(bind_case(), rule({"b.bind": "EADDRINUSE", "b.listen": "not-run"})) == []
    diffs = compare(bind_case(), rule({"a.state": "EADDRINUSE", "b.bind": "EADDRINUSE",
                                       "b.listen": "not-run"}))
    assert messages(diffs) == ["a.state: expected EADDRINUSE, observed ok"]


def test_expectation_names_missing_step():
    diffs = compare(bind_case(), rule({"b.bind": "EADDRINUSE", "b.listen": "not-run",
                                       "b.connect": "ok"}))
    assert messages(diffs) == ["expectation names step b.connect, which this case does not "
                               "record"]


def test_unknown_is_not_checked():
    assert compare(bind_case(bind="ok", listen="ok"),
                   rule({"b.bind": "?", "b.listen": "?"}, provenance="documented")) == []


@pytest.mark.parametrize("n, sent, cls", [(0, 10, "none"), (10, 10, "all"), (3, 10, "some"),
                                          (11, 10, "more than sent")])
def test_delivery_class(n, sent, cls):
    assert delivery_class(n, sent) == cls


@pytest.mark.parametrize("expected, n, ok", [
    ("all", 10, True), ("all", 9, False), ("all", 11, False),
    ("none", 0, True), ("none", 1, False),
    ("some", 1, True), ("some", 9, True), ("some", 0, False), ("some", 10, False),
    (4, 4, True), (4, 5, False), (0, 0, True), ("?", 7, True),
])
def test_delivery_matches(expected, n, ok):
    assert delivery_matches(expected, n, 10) is ok


@pytest.mark.parametrize("in_case", [False, True])
def test_delivery_compare(in_case):
    c = deliver_case({"a": 10, "b": 0}, in_case=in_case)
    assert compare(c, rule({"b.bind": "ok", "deliver": {"a": "all", "b": "none"}})) == []
    assert compare(c, rule({"b.bind": "ok", "deliver": {"a": 10, "b": 0}})) == []
    diffs = compare(c, rule({"b.bind": "ok", "deliver": {"a": "some", "b": "some"}}))
    assert messages(diffs) == ["deliver: receiver a expected some, got 10 of 10 (all)",
                               "deliver: receiver b expected some, got 0 of 10 (none)"]


def test_delivery_receivers_must_line_up():
    c = deliver_case({"a": 5, "c": 5})
    diffs = compare(c, rule({"b.bind": "ok", "deliver": {"a": "some", "b": "none"}}))
    assert messages(diffs) == [
        "deliver: expectation names receiver 'b', which this case does not record",
        "deliver: no expectation for receiver c"]


def test_delivery_step_failed():
    c = deliver_case({}, result="EACCES")
    diffs = compare(c, rule({"b.bind": "ok", "deliver": {"a": "all"}}))
    assert messages(diffs) == ["deliver: expected a delivery (a=all), observed EACCES"]


def test_delivery_not_recorded():
    c = case_record("d[x]", steps=[step("deliver", "ok")])
    assert messages(compare(c, rule({"deliver": {"a": "all"}}))) == [
        "deliver: expected a delivery, but none is recorded"]


def test_expected_skip():
    skipped = case_record("s[x]", status="skipped", reason="no SO_REUSEPORT_LB")
    assert compare(skipped, rule({"status": "skipped"})) == []
    diffs = compare(bind_case(), rule({"status": "skipped"}))
    assert messages(diffs) == ["expected the case to be skipped, but it was observed"]


def test_skipped_and_error_cases_are_the_judges_own_verdicts():
    skipped = case_record("s[x]", status="skipped", reason="no local2")
    assert judge.judge(skipped, [rule({"b.bind": "ok"})], run_record()).verdict == "skipped"
    err = case_record("s[x]", status="error", reason="a.state: no TIME_WAIT socket on the port")
    assert judge.judge(err, [rule({"b.bind": "ok"})], run_record()).verdict == "error"


def test_format_mismatch_block():
    c = bind_case(bind="ok", listen="ok")
    r = rule({"b.bind": "EADDRINUSE", "b.listen": "not-run", "b.accept": "ok"},
             why="A listening socket holds its port exclusively.",
             source="socket(7): SO_REUSEADDR", seen_on=["6.1.0-18-amd64"])
    text = format_mismatch(c, r, compare(c, r))
    lines = text.splitlines()
    assert lines[0] == "MISMATCH s[family=ipv4]"
    assert lines[1] == "  Second listener"
    assert lines[2].split() == ["step", "expected", "observed"]
    assert lines[3].split() == ["a.state", "(ok)", "ok"]
    assert lines[4].split() == ["b.bind", "EADDRINUSE", "ok", "<--", "differs"]
    assert lines[5].split() == ["b.listen", "not-run", "ok", "<--", "differs"]
    assert lines[6].split() == ["b.accept", "ok", "(no", "such", "step)", "<--", "differs"]
    assert lines[7:9] == ["  differences:", "    - expectation names step b.accept, which "
                                                "this case does not record"]
    assert "  why: A listening socket holds its port exclusively." in lines
    assert "  source: socket(7): SO_REUSEADDR" in lines
    assert "  provenance: observed on 6.1.0-18-amd64" in lines
    assert lines[-1].startswith("  rule: cases/s/linux.yaml:7 (rule 2 of the file")


def test_format_mismatch_delivery_and_skip():
    c = deliver_case({"a": 10, "b": 0})
    r = rule({"b.bind": "ok", "deliver": {"a": "some", "b": "some"}}, provenance="documented",
             seen_on=[])
    text = format_mismatch(c, r, compare(c, r))
    assert "a=some b=some" in text and "a=10/10 b=0/10" in text
    assert "    - deliver: receiver a expected some, got 10 of 10 (all)" in text
    assert "provenance: documented" in text
    text = format_mismatch(c, rule({"status": "skipped"}), compare(c, rule({"status": "skipped"})))
    assert "  expected: skipped" in text and "  observed: observed" in text


def test_format_error_and_missing():
    err = case_record("s[x]", status="error", reason="a.state: listener did not accept",
                      title="T")
    assert format_error(err).splitlines() == [
        "ERROR s[x]", "  T", "  precondition did not hold: a.state: listener did not accept"]
    text = format_missing(bind_case(), run_record(), "linux", "cases/s/linux.yaml")
    assert "no expectation for this case on linux (add a rule to cases/s/linux.yaml)" in text
    assert "- when: {family: ipv4}" in text
    assert "expect: {b.bind: EADDRINUSE, b.listen: not-run}" in text
    text = format_missing(deliver_case({"a": 3, "b": 7}), run_record(), "linux", None)
    assert "deliver: {a: some, b: some}" in text


def test_suggestion_uses_matrix_axes_only():
    c = case_record("s[family=ipv6,mode=on]", axes={"proto": "tcp", "family": "ipv6",
                                                    "mode": "on", "flag": True},
                    steps=[step("b.bind", "EADDRINUSE")])
    assert suggest_when_expect(c) == ["- when: {family: ipv6, mode: on}",
                                      "  expect: {b.bind: EADDRINUSE}"]
    c = case_record("s", axes={"proto": "tcp", "flag": True, "x": "a b"}, steps=[])
    assert suggest_when_expect(c)[0] == '- when: {proto: tcp, flag: true, x: "a b"}'


def test_yaml_scalar_quotes_anything_but_a_plain_word():
    """What the harness writes into YAML from results files: a plain word as it is, anything
    else quoted, a trailing newline included (a `$` would let it through)."""
    import yaml
    from bindmatrix.compare import yaml_scalar
    for text in ("b.bind", "6.1.0-18-amd64", "abc\n", "a: b", "x}\n- y", '"q"', "", " lead"):
        shown = yaml_scalar(text)
        assert "\n" not in shown
        assert yaml.safe_load("k: %s" % shown)["k"] == (text or None) or text == ""
    assert yaml_scalar("b.bind") == "b.bind" and yaml_scalar("abc\n") == '"abc\\n"'
