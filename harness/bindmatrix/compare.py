"""Compare one case record with the rule that applies to it, and describe the outcome.

compare(case, rule) -> list of Difference (empty: the case behaved as expected).
format_mismatch / format_error / format_missing -> the text blocks tests fail with.
"""

import json
import os
import re
from dataclasses import dataclass

from .expectations import UNKNOWN


@dataclass
class Difference:
    label: object        # the step label, or None for the case as a whole
    expected: str
    observed: str
    message: str
    plain: bool = False  # a step's result differs, and the step table says all there is

    def __str__(self):
        return self.message


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


def delivery_matches(expected, received, sent):
    if expected == UNKNOWN:
        return True
    if isinstance(expected, int) and not isinstance(expected, bool):
        return received == expected
    if expected == "all":
        return received == sent
    if expected == "none":
        return received == 0
    if expected == "some":
        return 0 < received < sent
    return False


def step_delivery(case, step):
    """The delivery observation of a deliver step: on the step, or in case['delivery']."""
    if step.get("delivery") is not None:
        return step["delivery"]
    return (case.get("delivery") or {}).get(step["label"])


def _show_delivery_expect(exp):
    return " ".join("%s=%s" % (r, c) for r, c in exp.items())


def _show_delivery(delivery):
    if delivery is None:
        return "(none recorded)"
    sent = delivery["sent"]
    return " ".join("%s=%d/%d" % (r, n, sent) for r, n in delivery["received"].items()) \
        or "(no receivers) sent=%d" % sent


def show_expected(exp):
    if isinstance(exp, dict):
        return _show_delivery_expect(exp)
    return str(exp)


def show_observed(case, step):
    delivery = step_delivery(case, step)
    if step["result"] == "ok" and delivery is not None:
        return _show_delivery(delivery)
    return step["result"]


# ---- compare ----------------------------------------------------------------------------

def _compare_delivery(case, step, exp, diffs):
    label = step["label"]
    if step["result"] != "ok":
        diffs.append(Difference(label, _show_delivery_expect(exp), step["result"],
                                "%s: expected a delivery (%s), observed %s"
                                % (label, _show_delivery_expect(exp), step["result"])))
        return
    delivery = step_delivery(case, step)
    if delivery is None:
        diffs.append(Difference(label, _show_delivery_expect(exp), "(none recorded)",
                                "%s: expected a delivery, but none is recorded" % label))
        return
    sent, received = delivery["sent"], delivery["received"]
    for recv, want in exp.items():
        if recv not in received:
            diffs.append(Difference(label, "%s=%s" % (recv, want), "(not a receiver)",
                                    "%s: expectation names receiver %r, which this case does "
                                    "not record" % (label, recv)))
            continue
        got = received[recv]
        if not delivery_matches(want, got, sent):
            diffs.append(Difference(label, "%s=%s" % (recv, want),
                                    "%s=%d/%d (%s)" % (recv, got, sent, delivery_class(got, sent)),
                                    "%s: receiver %s expected %s, got %d of %d (%s)"
                                    % (label, recv, want, got, sent, delivery_class(got, sent))))
    for recv in received:
        if recv not in exp:
            diffs.append(Difference(label, "(none)", "%s=%d/%d" % (recv, received[recv], sent),
                                    "%s: no expectation for receiver %s" % (label, recv)))


def compare(case, rule):
    """Differences between what the case observed and what the rule expects."""
    diffs = []
    status = case["status"]
    if rule.expects_skip:
        if status != "skipped":
            diffs.append(Difference(None, "skipped", status,
                                    "expected the case to be skipped on this OS, but it was %s"
                                    % status))
        return diffs
    if status == "skipped":
        return diffs            # the host could not run it: nothing to compare
    if status == "error":
        diffs.append(Difference(None, "observed", "error",
                                "precondition did not hold: %s" % case.get("reason", "")))
        return diffs
    expect = rule.expect
    recorded = set()
    for step in case["steps"]:
        label = step["label"]
        recorded.add(label)
        if label not in expect:
            # A state step is a verified precondition: an observed case always has it ok.
            if step["op"] == "state" and step["result"] == "ok":
                continue
            diffs.append(Difference(label, "(none)", show_observed(case, step),
                                    "no expectation for step %s" % label))
            continue
        exp = expect[label]
        if exp == UNKNOWN:
            continue
        if isinstance(exp, dict):
            _compare_delivery(case, step, exp, diffs)
        elif exp != step["result"]:
            diffs.append(Difference(label, exp, step["result"],
                                    "%s: expected %s, observed %s" % (label, exp, step["result"]),
                                    plain=True))
    for label, exp in expect.items():
        if label not in recorded:
            diffs.append(Difference(label, show_expected(exp), "(no such step)",
                                    "expectation names step %s, which this case does not record"
                                    % label))
    return diffs


# ---- text -------------------------------------------------------------------------------

def display_path(path):
    """A path relative to the current directory when it lies below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _wrap(label, text, width=100):
    """'  label: text' with continuation lines indented under the text."""
    indent = " " * (len(label) + 4)
    words, lines, cur = str(text).split(), [], ""
    for w in words:
        if cur and len(indent) + len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = (cur + " " + w) if cur else w
    lines.append(cur)
    return "  %s: " % label + ("\n" + indent).join(lines)


def _header(kind, case):
    out = ["%s %s" % (kind, case["id"])]
    if case.get("title"):
        out.append("  " + case["title"])
    return out


def _provenance(rule):
    if rule.provenance == "observed" and rule.seen_on:
        return "observed on %s" % ", ".join(rule.seen_on)
    return rule.provenance or "(not given)"


def step_table(case, rule, diffs):
    """Rows of step / expected / observed, the differing ones marked."""
    differing = {d.label for d in diffs if d.label is not None}
    rows = [("step", "expected", "observed", "")]
    for step in case.get("steps", []):
        label = step["label"]
        if label in rule.expect:
            exp = show_expected(rule.expect[label])
        elif step["op"] == "state" and step["result"] == "ok":
            exp = "(ok)"
        else:
            exp = "(none)"
        rows.append((label, exp, show_observed(case, step),
                     "<-- differs" if label in differing else ""))
    for label, exp in rule.expect.items():
        if label != "status" and not any(s["label"] == label for s in case.get("steps", [])):
            rows.append((label, show_expected(exp), "(no such step)", "<-- differs"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return [("  " + "  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3]).rstrip()
            for r in rows]


def format_mismatch(case, rule, diffs):
    """One readable block: what was expected, what was observed, why, and where it is written."""
    out = _header("MISMATCH", case)
    if rule.expects_skip or case["status"] != "observed":
        out.append("  expected: %s" % ("skipped" if rule.expects_skip else "observed"))
        out.append("  observed: %s%s" % (case["status"], (" (%s)" % case["reason"])
                                         if case.get("reason") else ""))
    if case["status"] == "observed" and case.get("steps"):
        out.extend(step_table(case, rule, diffs))
    notes = [d.message for d in diffs if not d.plain]
    if notes:
        out.append("  differences:")
        out.extend("    - " + n for n in notes)
    out.append(_wrap("why", rule.why or "(not given)"))
    out.append(_wrap("source", rule.source or "(not given)"))
    out.append("  provenance: %s" % _provenance(rule))
    out.append("  rule: %s:%d (rule %d of the file; the first that matched)"
               % (display_path(rule.path), rule.line, rule.index + 1))
    return "\n".join(out)


def format_error(case):
    out = _header("ERROR", case)
    reason = case.get("reason", "(no reason recorded)")
    out.append(_wrap("precondition did not hold", reason))
    return "\n".join(out)


def matrix_coordinates(case):
    """The axis names in the id's [k=v,...] part: the ones the scenario's matrix varies."""
    rest = case["id"][len(case["scenario"]):]
    if not (rest.startswith("[") and rest.endswith("]")):
        return []
    return [part.split("=", 1)[0] for part in rest[1:-1].split(",") if "=" in part]


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    text = str(v)
    return text if re.match(r"^[A-Za-z0-9_.+/-]+$", text) else json.dumps(text)


def suggest_when_expect(case):
    """Two YAML lines, `- when: {...}` and `  expect: {...}`, that accept this observation."""
    axes = case.get("axes") or {}
    names = [k for k in matrix_coordinates(case) if k in axes] or list(axes)
    when = ", ".join("%s: %s" % (k, _yaml_scalar(axes[k])) for k in names)
    exp = []
    for step in case.get("steps", []):
        if step["op"] == "state" and step["result"] == "ok":
            continue
        delivery = step_delivery(case, step)
        if step["result"] == "ok" and delivery is not None:
            sent = delivery["sent"]
            classes = ", ".join("%s: %s" % (r, n if n > sent else delivery_class(n, sent))
                                for r, n in delivery["received"].items())
            exp.append("%s: {%s}" % (step["label"], classes))
        else:
            exp.append("%s: %s" % (step["label"], step["result"]))
    return ["- when: {%s}" % when, "  expect: {%s}" % ", ".join(exp)]


def suggest_rule(case, run):
    """A rule (YAML lines) that would accept this case's observation, to start from."""
    return suggest_when_expect(case) + [
        "  provenance: observed",
        '  seen_on: "%s"' % (run or {}).get("os_release", "?"),
        "  why: ...",
        "  source: ..."]


def format_missing(case, run, os_name, path):
    out = _header("NO EXPECTATION", case)
    out.append("  no expectation for this case on %s (add a rule to %s)"
               % (os_name, display_path(path) if path else
                  "cases/%s/<os>.yaml" % case["scenario"]))
    if case["status"] == "observed":
        out.append("  a rule that would accept what was observed (check it before adding it):")
        out.extend("    " + line for line in suggest_rule(case, run))
    return "\n".join(out)


def summarize_expect(rule):
    if rule.expects_skip:
        return "status=skipped"
    return ", ".join("%s=%s" % (k, show_expected(v)) for k, v in rule.expect.items())


def summarize_observed(case):
    if case["status"] != "observed":
        return "status=%s" % case["status"]
    return ", ".join("%s=%s" % (s["label"], show_observed(case, s)) for s in case["steps"])
