"""The judge: one verdict per case, host and expectation, in one vocabulary.

Every consumer (the conformance run, JUnit, the report and its report.json, the claims, the
summary) asks this module and uses its words:

  match           observed, and the expectation says exactly this (a documented list of
                  acceptable results counts when the result is one of them); or the case was
                  expected to be skipped / in error, and was, for the reason given
  mismatch        the observation (or the status) differs from the expectation
  unknown         matches as far as the expectation goes, but it leaves a step "?"
  no-expectation  observed, and no rule for this case on that OS
  skipped         the host could not run it (an option it lacks, no second user...)
  error           a precondition did not hold: no observation

`unknown` is never a pass.  For columns of OSes that were not run, expected() says what the
documentation gives: known, unknown (some step "?"), or no-expectation.
"""

from dataclasses import dataclass, field

from .expectations import (ExpectationError, UNKNOWN, conditions_text, find_documented_rule,
                           find_rule)

VERDICTS = ("match", "mismatch", "unknown", "no-expectation", "error", "skipped")
PASSING = ("match",)
FAILING = ("mismatch", "no-expectation", "error")       # always fail a run
STRICT_FAILING = FAILING + ("unknown",)                  # with --strict
EXPECTED_STATES = ("known", "unknown", "no-expectation")


@dataclass
class Difference:
    label: object        # the step label, or None for the case as a whole
    expected: str
    observed: str
    message: str
    plain: bool = False  # a step's result differs, and the step table says all there is

    def __str__(self):
        return self.message


@dataclass
class Judgement:
    verdict: str
    rule: object = None
    differences: list = field(default_factory=list)
    note: str = ""       # why there is no expectation, or what "unknown" leaves open


@dataclass
class Expected:
    """A documented column's cell: what the expectation says, without a run."""
    state: str           # known | unknown | no-expectation
    rule: object = None
    note: str = ""       # "applies if release >=14" when the rule has host conditions


# ---- delivery ---------------------------------------------------------------------------

def delivery_class(received, sent):
    """How a receiver's count reads: all (== sent), none (0), some (in between)."""
    if received == 0:
        return "none"
    if received == sent:
        return "all"
    if received < sent:
        return "some"
    return "more than sent"


def _class_matches(expected, received, sent):
    if isinstance(expected, int) and not isinstance(expected, bool):
        return received == expected
    return expected == delivery_class(received, sent)


def step_delivery(case, step):
    """The delivery observation of a deliver step: on the step, or in case['delivery']."""
    if step.get("delivery") is not None:
        return step["delivery"]
    return (case.get("delivery") or {}).get(step["label"])


def show_one(exp):
    if isinstance(exp, list):
        return "|".join(str(e) for e in exp)
    return str(exp)


def show_expected(exp):
    if isinstance(exp, dict):
        return " ".join("%s=%s" % (r, show_one(c)) for r, c in exp.items())
    return show_one(exp)


def show_delivery(delivery):
    if delivery is None:
        return "(none recorded)"
    sent = delivery["sent"]
    return " ".join("%s=%d/%d" % (r, n, sent) for r, n in delivery["received"].items()) \
        or "(no receivers) sent=%d" % sent


def show_observed(case, step):
    delivery = step_delivery(case, step)
    if step["result"] == "ok" and delivery is not None:
        return show_delivery(delivery)
    return step["result"]


# ---- comparing one case -----------------------------------------------------------------

def _one(expected, test):
    """True / None (unknown) / False for one expected value, a list of them, or "?"."""
    if expected == UNKNOWN:
        return None
    if isinstance(expected, list):
        return any(test(e) for e in expected)
    return test(expected)


def _compare_delivery(case, step, exp, diffs):
    """Differences of a deliver step; True when some receiver was left "?"."""
    label, unknown = step["label"], False
    if step["result"] != "ok":
        diffs.append(Difference(label, show_expected(exp), step["result"],
                                "%s: expected a delivery (%s), observed %s"
                                % (label, show_expected(exp), step["result"])))
        return False
    delivery = step_delivery(case, step)
    if delivery is None:
        diffs.append(Difference(label, show_expected(exp), "(none recorded)",
                                "%s: expected a delivery, but none is recorded" % label))
        return False
    sent, received = delivery["sent"], delivery["received"]
    for recv, want in exp.items():
        if recv not in received:
            diffs.append(Difference(label, "%s=%s" % (recv, show_one(want)), "(not a receiver)",
                                    "%s: expectation names receiver %r, which this case does "
                                    "not record" % (label, recv)))
            continue
        got = received[recv]
        ok = _one(want, lambda e: _class_matches(e, got, sent))
        if ok is None:
            unknown = True
        elif not ok:
            diffs.append(Difference(label, "%s=%s" % (recv, show_one(want)),
                                    "%s=%d/%d (%s)" % (recv, got, sent, delivery_class(got, sent)),
                                    "%s: receiver %s expected %s, got %d of %d (%s)"
                                    % (label, recv, show_one(want), got, sent,
                                       delivery_class(got, sent))))
    for recv in received:
        if recv not in exp:
            diffs.append(Difference(label, "(none)", "%s=%d/%d" % (recv, received[recv], sent),
                                    "%s: no expectation for receiver %s" % (label, recv)))
    return unknown


def is_precondition(step, casedef=None):
    """A precondition (a `state` step, or one marked precondition: true in case.yaml) is the
    verified starting point, not part of the outcome: an observed case always has it ok."""
    if casedef is not None:
        d = casedef.step(step["label"])
        if d is not None:
            return bool(d.get("precondition"))
    return step["op"] == "state"


def _status_differences(case, rule):
    status, reason = case["status"], case.get("reason", "")
    if status != rule.status:
        return [Difference(None, rule.status, status, "expected the case to be %s%s, but it "
                           "was %s" % (rule.status, (" (%s)" % rule.reason) if rule.reason
                                       else "", status))]
    if rule.reason and rule.reason.lower() not in reason.lower():
        return [Difference(None, "%s (%s)" % (rule.status, rule.reason),
                           "%s (%s)" % (status, reason),
                           "%s as expected, but for another reason: %r does not contain %r"
                           % (status, reason, rule.reason))]
    return []


def compare(case, rule, casedef=None):
    """(differences, unknown) between what the case observed and what the rule expects."""
    if rule.status is not None:
        return _status_differences(case, rule), False
    status = case["status"]
    if status != "observed":
        return [Difference(None, "observed", status, "expected an observation, but the case "
                           "was %s: %s" % (status, case.get("reason", "")))], False
    diffs, unknown, recorded = [], False, set()
    for step in case["steps"]:
        label = step["label"]
        recorded.add(label)
        if label not in rule.expect:
            if is_precondition(step, casedef) and step["result"] == "ok":
                continue
            diffs.append(Difference(label, "(none)", show_observed(case, step),
                                    "no expectation for step %s" % label))
            continue
        exp = rule.expect[label]
        if isinstance(exp, dict):
            unknown = _compare_delivery(case, step, exp, diffs) or unknown
            continue
        ok = _one(exp, lambda e: e == step["result"])
        if ok is None:
            unknown = True
        elif not ok:
            diffs.append(Difference(label, show_one(exp), step["result"],
                                    "%s: expected %s, observed %s"
                                    % (label, show_one(exp), step["result"]), plain=True))
    for label, exp in rule.expect.items():
        if label not in recorded:
            diffs.append(Difference(label, show_expected(exp), "(no such step)",
                                    "expectation names step %s, which this case does not record"
                                    % label))
    return diffs, unknown


# ---- verdicts ---------------------------------------------------------------------------

EVIDENCE_NOTES = {"unusable": "the packet evidence cannot be used: ",
                  "disagrees": "the packet evidence disagrees with the observation: "}


def judge(case, rules, run, casedef=None, required=frozenset(), evidence_dir=None,
          rule=False):
    """The verdict for one case record of a run, given its scenario's rules for that OS
    (None: the OS has no expectation files; an ExpectationError: the file is broken), the
    capabilities such a run must have (capabilities.py), and the folder of the results file,
    whose packet evidence must agree with the observation (evidence.py).  rule: the rule
    find_rule gives for it, when already known (ExpectationStore.rule_for remembers it)."""
    j = _judge(case, rules, run, casedef, required, rule)
    if evidence_dir is not None and case.get("evidence") and j.verdict not in ("error",
                                                                               "skipped"):
        from . import evidence
        kind, found = evidence.assess(case, evidence_dir)
        if found:
            return Judgement("error", j.rule, note=EVIDENCE_NOTES[kind] + "; ".join(found))
    return j


def _judge(case, rules, run, casedef, required, rule=False):
    if isinstance(rules, ExpectationError):
        return Judgement("error" if case["status"] == "error" else "no-expectation",
                         note="expectation file broken: %s" % "; ".join(rules.problems[:3]))
    if rule is False:
        rule = find_rule(rules, case, run) if rules else None
    if rule is not None and (rule.status is not None or case["status"] == "observed"):
        diffs, unknown = compare(case, rule, casedef)
        verdict = "mismatch" if diffs else "unknown" if unknown else "match"
        return Judgement(verdict, rule, diffs,
                         note='the expectation leaves a step "?"' if verdict == "unknown" else "")
    missing = case.get("capability")
    if case["status"] == "skipped" and missing in required and rule is not None \
            and rule.provenance == "observed":
        # it has been seen to run on this OS: a host that cannot run it must not pass
        return Judgement("error", rule, note="skipped for want of %s, which a %s run on %s "
                         "must have (cases/capabilities.yaml; --allow-skip %s accepts it): %s"
                         % (missing, "privileged" if (run or {}).get("privileged")
                            else "unprivileged", (run or {}).get("os"), missing,
                            case.get("reason", "")))
    if case["status"] in ("skipped", "error"):
        return Judgement(case["status"], rule, note=case.get("reason", ""))
    return Judgement("no-expectation", None,
                     note="no expectation files for this OS" if rules is None else
                     "no rule matches this case")


def expected(casedef_axes, rules, observed_labels=None, rule=False, release=None):
    """A documented column's cell for a case with these axes (rule: the rule already found
    for it, or None for none; by default it is looked up in rules; release: the release the
    column describes, which decides the rules' kernel ranges)."""
    if isinstance(rules, ExpectationError):
        return Expected("no-expectation", note="expectation file broken: %s"
                        % "; ".join(rules.problems[:3]))
    if rule is False:
        rule = find_documented_rule(rules or [], casedef_axes, release)
    if rule is None:
        return Expected("no-expectation")
    return Expected("unknown" if leaves_unknown(rule, observed_labels) else "known", rule,
                    conditions_text(rule, kernel_decided=release is not None))


def leaves_unknown(rule, labels=None):
    """True when the rule leaves a step of this case (or a receiver) as "?"."""
    for label, exp in rule.expect.items():
        if labels is not None and label not in labels:
            continue
        if exp == UNKNOWN or (isinstance(exp, dict) and UNKNOWN in exp.values()):
            return True
    return False


FOREIGN = "its scenario is not among the cases it is judged with"


def foreign_note(run, scenarios=()):
    """Why cases of these scenarios have no expectation: not one rule file is known for a
    scenario the manifest lacks (a run of other cases, or of a folder inside cases/, whose
    scenarios are named from that folder)."""
    paths = (run.get("selection") or {}).get("paths") or []
    many = len(scenarios) > 1
    what = FOREIGN if not scenarios else "scenario%s %s %s not among the cases given" % (
        "s" if many else "", ", ".join(scenarios), "are" if many else "is")
    return "%s (the run read %s: give --cases the folder it read)" % (
        what, " ".join(paths) or "other cases")


def judge_all(results, manifest, store, required=frozenset(), evidence_dir=None):
    """[(case, casedef or None, Judgement)] for every case of a ResultSet, their packet
    evidence checked in evidence_dir (evidence.kept: None, none to check)."""
    from . import oses
    out, cache = [], {}
    has_files = oses.stem_of(results.run) is not None
    for case in results.cases:
        scen = case["scenario"]
        if manifest is not None and scen not in manifest.scenarios:
            out.append((case, None, Judgement("no-expectation", None,
                                              note=foreign_note(results.run))))
            continue
        if scen not in cache:
            if not has_files:
                cache[scen] = None
            else:
                try:
                    cache[scen] = store.rules_for(scen)
                except ExpectationError as e:
                    cache[scen] = e
        casedef = manifest.by_id.get(case["id"]) if manifest is not None else None
        out.append((case, casedef, judge(case, cache[scen], results.run, casedef, required,
                                         evidence_dir)))
    return out


def count(verdicts):
    """{verdict: n} over VERDICTS, in order, from an iterable of verdict words."""
    out = {v: 0 for v in VERDICTS}
    for v in verdicts:
        out[v] += 1
    return out


def counts_line(counts, total=None):
    """'3932 cases: 3904 match, 0 mismatch, 0 unknown, 0 no-expectation, 0 error, 28 skipped'"""
    total = sum(counts.values()) if total is None else total
    return "%d case%s: %s" % (total, "" if total == 1 else "s",
                              ", ".join("%d %s" % (counts[v], v) for v in VERDICTS))
