"""The claims format and its evaluator: quantifiers, counter-examples, untested, unknowns."""

import os

import pytest

from fixturekit import manifest_of

from bindmatrix.report.claims import (ClaimsError, Subject, evaluate, evaluate_check, holds,
                                      load_claims)
from fixturekit import write_file
from reportkit import CASES


def view(steps, delivery=None, status="observed"):
    return {"status": status, "steps": dict(steps), "delivery": delivery or {}}


def subj(cid, steps=None, axes=None, delivery=None, status="observed"):
    scenario = cid.split("[", 1)[0]
    v = None if status is None else view(steps or {}, delivery, status)
    return Subject(id=cid, scenario=scenario, axes=axes or {}, view=v)


def claims_from(tmp_path, text, cases_dir=None, warnings=None):
    path = write_file(str(tmp_path / "claims.yaml"), text)
    return load_claims(path, cases_dir, warnings)


def one(tmp_path, body):
    text = "- id: c\n  text: A claim\n  source: somewhere\n" + body
    return claims_from(tmp_path, text)[0]


SUBJECTS = [
    subj("s[reuse=none]", {"b.bind": "EADDRINUSE", "b.listen": "not-run"}, {"reuse": "none"}),
    subj("s[reuse=reuseaddr]", {"b.bind": "ok", "b.listen": "ok"}, {"reuse": "reuseaddr"}),
    subj("s[reuse=both]", {"b.bind": "ok", "b.listen": "EADDRINUSE"}, {"reuse": "both"}),
    subj("t[x=1]", {"new.bind": "ok"}, {"x": "1"}),
]


def test_all_holds_and_fails_naming_the_first_counter_example(tmp_path):
    c = one(tmp_path, "  where: {scenario: s, axes: {reuse: none}}\n"
                      "  all: {b.bind: EADDRINUSE}\n")
    a = evaluate(c, SUBJECTS)
    assert (a.state, a.tested, a.counter) == ("holds", 1, "")
    c = one(tmp_path, "  where: {scenario: s}\n  all: {b.bind: EADDRINUSE}\n")
    a = evaluate(c, SUBJECTS)
    assert a.state == "fails"
    assert a.counter == "s[reuse=reuseaddr]"
    assert a.counters == 2 and a.tested == 3


def test_none_quantifier(tmp_path):
    c = one(tmp_path, "  where: {scenario: s}\n  none: {b.listen: ok}\n")
    a = evaluate(c, SUBJECTS)
    assert (a.state, a.counter, a.counters) == ("fails", "s[reuse=reuseaddr]", 1)
    c = one(tmp_path, "  where: {scenario: s}\n  none: {b.bind: ENOENT}\n")
    assert evaluate(c, SUBJECTS).state == "holds"


def test_any_quantifier(tmp_path):
    c = one(tmp_path, "  where: {scenario: s}\n  any: {b.listen: EADDRINUSE}\n")
    assert evaluate(c, SUBJECTS).state == "holds"
    c = one(tmp_path, "  where: {scenario: s}\n  any: {b.listen: EACCES}\n")
    a = evaluate(c, SUBJECTS)
    assert a.state == "fails"
    assert "none of the 3 selected cases" in a.detail


def test_untested_when_nothing_selected_or_observed(tmp_path):
    c = one(tmp_path, "  where: {scenario: nosuch}\n  all: {b.bind: ok}\n")
    a = evaluate(c, SUBJECTS)
    assert a.state == "untested" and "no selected case" in a.detail
    skipped = [subj("s[reuse=none]", status="skipped", axes={"reuse": "none"}),
               subj("s[reuse=both]", status=None, axes={"reuse": "both"})]
    c = one(tmp_path, "  where: {scenario: s}\n  all: {b.bind: ok}\n")
    a = evaluate(c, skipped)
    assert a.state == "untested"
    assert a.not_observed == 2 and "2 selected cases skipped or in error" in a.detail


def test_negation_lists_globs_and_any_of(tmp_path):
    c = one(tmp_path, "  where: {scenario: [s, t]}\n  all: {\"*.bind\": \"!EADDRINUSE\"}\n")
    a = evaluate(c, SUBJECTS)
    assert (a.state, a.counter) == ("fails", "s[reuse=none]")
    c = one(tmp_path, "  where: {scenario: s}\n  all: {b.bind: [ok, EADDRINUSE]}\n")
    assert evaluate(c, SUBJECTS).state == "holds"
    c = one(tmp_path, "  where: {scenario: s}\n"
                      "  all: {any_of: [{b.bind: \"!ok\"}, {b.listen: \"!ok\"}]}\n")
    a = evaluate(c, SUBJECTS)
    assert (a.state, a.counter, a.counters) == ("fails", "s[reuse=reuseaddr]", 1)
    # a label the case does not have never satisfies a condition
    c = one(tmp_path, "  where: {scenario: t}\n  none: {b.bind: ok}\n")
    assert evaluate(c, SUBJECTS).state == "holds"


def test_unless_and_axis_lists(tmp_path):
    c = one(tmp_path, "  where: {scenario: s, axes: {reuse: [reuseaddr, both]},"
                      " unless: {axes: {reuse: both}}}\n  all: {b.listen: ok}\n")
    a = evaluate(c, SUBJECTS)
    assert (a.state, a.tested) == ("holds", 1)


def test_given_and_delivery_classes(tmp_path):
    subjects = [
        subj("u[f=4]", {"b.bind": "ok", "deliver": "ok"}, delivery={"deliver": {"a": "none",
                                                                              "b": "all"}}),
        subj("u[f=6]", {"b.bind": "EADDRINUSE", "deliver": "not-run"}),
    ]
    c = one(tmp_path, "  where: {scenario: u}\n  given: {b.bind: ok}\n"
                      "  all: {deliver: {a: none, b: all}}\n")
    a = evaluate(c, subjects)
    assert (a.state, a.tested) == ("holds", 1)
    c = one(tmp_path, "  where: {scenario: u}\n  all: {deliver: {a: \"!none\"}}\n")
    a = evaluate(c, subjects)
    assert (a.state, a.counter, a.counters) == ("fails", "u[f=4]", 2)


def test_unknown_outcomes_are_undecided_never_counter_examples(tmp_path):
    subjects = [subj("d[x=1]", {"b.bind": "?"}, {"x": "1"}),
                subj("d[x=2]", {"b.bind": "ok"}, {"x": "2"}),
                subj("d[x=3]", {"b.bind": "ok", "deliver": "ok"}, {"x": "3"},
                     delivery={"deliver": {"a": "?"}})]
    assert holds({"b.bind": ["ok"]}, subjects[0].view) is None
    assert holds({"deliver": {"a": "all"}}, subjects[2].view) is None
    c = one(tmp_path, "  where: {scenario: d}\n  all: {b.bind: ok}\n")
    a = evaluate(c, subjects)
    assert (a.state, a.tested, a.undecided) == ("holds", 2, 1)
    c = one(tmp_path, "  where: {scenario: d, axes: {x: \"1\"}}\n  all: {b.bind: ok}\n")
    a = evaluate(c, subjects)
    assert a.state == "untested" and "unknown" in a.detail


def test_several_checks(tmp_path):
    text = ("- id: c\n  text: t\n  source: s\n  checks:\n"
            "    - where: {scenario: s, axes: {reuse: none}}\n      all: {b.bind: EADDRINUSE}\n"
            "    - where: {scenario: nosuch}\n      all: {b.bind: ok}\n"
            "    - where: {scenario: t}\n      all: {new.bind: EADDRINUSE}\n")
    c = claims_from(tmp_path, text)[0]
    a = evaluate(c, SUBJECTS)
    assert (a.state, a.counter) == ("fails", "t[x=1]")
    c.checks.pop()
    a = evaluate(c, SUBJECTS)
    assert a.state == "holds" and a.detail == "1 of 2 checks untested here"
    assert evaluate_check(c.checks[1], SUBJECTS).state == "untested"


@pytest.mark.parametrize("body, message", [
    ("- id: c\n  text: t\n  where: {scenario: s}\n  all: {b.bind: ok}\n",
     "claims.yaml:1: field 'source': is required"),
    ("- id: c\n  text: t\n  source: s\n  where: {scenario: s}\n  all: {b.bind: ok}\n"
     "  none: {b.bind: ok}\n", "needs exactly one quantifier"),
    ("- id: c\n  text: t\n  source: s\n  all: {b.bind: ok}\n", "field 'c.where': is required"),
    ("- id: c\n  text: t\n  source: s\n  where: {scenario: s}\n  all: {deliver: {a: most}}\n",
     "claims.yaml:5: field 'c.all.deliver.a': 'most'"),
    ("- id: c\n  text: t\n  source: s\n  wher: {scenario: s}\n  all: {b.bind: ok}\n",
     "claims.yaml:4: field 'wher': unknown key"),
    ("- id: c\n  text: t\n  source: s\n  where: {scenario: s}\n  all: {b.bind: ok}\n"
     "- id: c\n  text: t\n  source: s\n  where: {scenario: s}\n  all: {b.bind: ok}\n",
     "claims.yaml:6: field 'id': 'c' repeats the claim on line 1"),
    ("id: c\n", "a claims file is a list"),
])
def test_bad_claims_files_name_file_and_line(tmp_path, body, message):
    with pytest.raises(ClaimsError) as e:
        claims_from(tmp_path, body)
    assert message in str(e.value)


def test_names_unknown_to_the_cases_are_warnings(tmp_path):
    warnings = []
    claims_from(tmp_path, "- id: c\n  text: t\n  source: s\n"
                          "  where: {scenario: tcp/nosuch}\n  all: {b.bind: ok}\n"
                          "- id: d\n  text: t\n  source: s\n"
                          "  where: {scenario: tcp/second-listener, axes: {reuse: maybe}}\n"
                          "  all: {b.bind: ok}\n", manifest_of(CASES), warnings)
    assert any("'tcp/nosuch' matches no scenario" in w for w in warnings)
    assert any("'maybe' is not a value of axis reuse" in w for w in warnings)


def test_the_repository_claims_file_is_valid_and_sourced():
    warnings = []
    claims = load_claims(os.path.join(CASES, "claims.yaml"), manifest_of(CASES), warnings)
    assert warnings == []
    assert len(claims) >= 10
    texts = " ".join(c.text for c in claims)
    for needle in ("no longer in use", "second instance of a TCP server",
                   "only possible for UDP multicast", "last socket bound",
                   "different local IP"):
        assert needle in texts
    assert all(c.source for c in claims)
