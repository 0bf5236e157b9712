"""The text of a verdict: the blocks the conformance run prints for a mismatch, an error or
a missing expectation, and a rule that would accept what was observed.

The verdict itself is the judge's (judge.py); this module only describes it.
"""

import json
import os
import re

from .judge import delivery_class, is_precondition, show_expected, show_observed, step_delivery


# ---- text -------------------------------------------------------------------------------

# Control characters but tab and newline, DEL and the C1 controls: text from a results file
# made elsewhere may carry an escape sequence that would retitle, clear or recolour the
# terminal it is printed on.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escaped(text, chars):
    """text with each character chars (a compiled class) matches shown as its escape,
    \\xNN or \\uNNNN."""
    return chars.sub(lambda m: ("\\x%02x" if ord(m.group(0)) < 0x100 else "\\u%04x")
                     % ord(m.group(0)), str(text))


def terminal(text):
    """text as it is safe to print: each control character shown as its escape."""
    return escaped(text, _CONTROLS)


def show(text="", file=None):
    """A line printed as terminal() makes it safe: for what holds names, reasons and labels
    from results files made elsewhere."""
    print(terminal(text), file=file)


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


def step_table(case, rule, diffs, casedef=None):
    """Rows of step / expected / observed, the differing ones marked."""
    differing = {d.label for d in diffs if d.label is not None}
    rows = [("step", "expected", "observed", "")]
    for step in case.get("steps", []):
        label = step["label"]
        if label in rule.expect:
            exp = show_expected(rule.expect[label])
        elif is_precondition(step, casedef) and step["result"] == "ok":
            exp = "(ok)"
        else:
            exp = "(none)"
        rows.append((label, exp, show_observed(case, step),
                     "<-- differs" if label in differing else ""))
    for label, exp in rule.expect.items():
        if not any(s["label"] == label for s in case.get("steps", [])):
            rows.append((label, show_expected(exp), "(no such step)", "<-- differs"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return [("  " + "  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3]).rstrip()
            for r in rows]


def format_mismatch(case, rule, diffs, casedef=None):
    """One readable block: what was expected, what was observed, why, and where it is written."""
    out = _header("MISMATCH", case)
    if rule.status is not None or case["status"] != "observed":
        out.append("  expected: %s%s" % (rule.status or "observed",
                                         " (%s)" % rule.reason if rule.reason else ""))
        out.append("  observed: %s%s" % (case["status"], (" (%s)" % case["reason"])
                                         if case.get("reason") else ""))
    if case["status"] == "observed" and case.get("steps"):
        out.extend(step_table(case, rule, diffs, casedef))
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


def yaml_scalar(v):
    """v as a YAML scalar: as it is when it is a plain word, else quoted (JSON's quoting,
    which YAML reads): text from a results file never makes YAML of its own."""
    if isinstance(v, bool):
        return "true" if v else "false"
    text = str(v)
    return text if re.fullmatch(r"[A-Za-z0-9_.+/-]+", text) else json.dumps(text)


def expect_text(case, casedef=None):
    """`{b.bind: EADDRINUSE, deliver: {a: all}}`: the expect mapping of this observation."""
    exp = []
    for step in case.get("steps", []):
        if is_precondition(step, casedef) and step["result"] == "ok":
            continue
        delivery = step_delivery(case, step)
        if step["result"] == "ok" and delivery is not None:
            sent = delivery["sent"]
            # names come from the results file: quoted when not plain (no YAML made by them)
            classes = ", ".join("%s: %s" % (yaml_scalar(r),
                                            n if n > sent else delivery_class(n, sent))
                                for r, n in delivery["received"].items())
            exp.append("%s: {%s}" % (yaml_scalar(step["label"]), classes))
        else:
            exp.append("%s: %s" % (yaml_scalar(step["label"]), yaml_scalar(step["result"])))
    return "{%s}" % ", ".join(exp)


def when_text(axes):
    return "{%s}" % ", ".join("%s: %s" % (yaml_scalar(k), yaml_scalar(v))
                              for k, v in axes.items())


def suggest_when_expect(case, casedef=None):
    """Two YAML lines, `- when: {...}` and `  expect: {...}`, that accept this observation."""
    axes = case.get("axes") or {}
    names = [k for k in matrix_coordinates(case) if k in axes] or list(axes)
    return ["- when: %s" % when_text({k: axes[k] for k in names}),
            "  expect: %s" % expect_text(case, casedef)]


def suggest_rule(case, run, casedef=None):
    """A rule (YAML lines) that would accept this case's observation, to start from."""
    return suggest_when_expect(case, casedef) + [
        "  provenance: observed",
        '  seen_on: "%s"' % (run or {}).get("os_release", "?"),
        "  why: ...",
        "  source: ..."]


def format_missing(case, run, os_name, path, casedef=None):
    out = _header("NO EXPECTATION", case)
    out.append("  no expectation for this case on %s (add a rule to %s)"
               % (os_name, display_path(path) if path else
                  "cases/%s/<os>.yaml" % case["scenario"]))
    if case["status"] == "observed":
        out.append("  a rule that would accept what was observed (check it before adding it):")
        out.extend("    " + line for line in suggest_rule(case, run, casedef))
    return "\n".join(out)


def summarize_expect(rule):
    if rule.status is not None:
        return "status=%s" % rule.status + (" (%s)" % rule.reason if rule.reason else "")
    return ", ".join("%s=%s" % (k, show_expected(v)) for k, v in rule.expect.items())


def summarize_observed(case):
    if case["status"] != "observed":
        return "status=%s" % case["status"]
    return ", ".join("%s=%s" % (s["label"], show_observed(case, s)) for s in case["steps"])
