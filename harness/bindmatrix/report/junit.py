"""JUnit XML of a matrix: one <testsuite> per host that ran (named by the host's label), one
<testcase> per case: name = the case id, classname = its scenario, or "<host>/<scenario>" when
the file holds several hosts (report.junit.xml), so that no classname + name pair repeats
(CI systems merge test cases by that pair).  Valid against harness/schema/junit.xsd.

The judge's verdicts (judge.py):
  match            passed
  mismatch         <failure type="mismatch"> with expected vs observed
  no-expectation   <failure type="no-expectation">
  error            <error> with the reason the precondition did not hold
  unknown          <skipped type="unknown">: not judged, since the expectation leaves a step
                   "?" (never a pass; with strict=True a <failure type="unknown">)
  skipped, absent  <skipped> with the reason

Each testsuite's properties carry the host (os, release, arch) and every claim's answer.
"""

import re
import xml.etree.ElementTree as ET

from ..compare import escaped

FAILING = {"mismatch", "no-expectation"}
UNKNOWN_NOTE = 'the expectation leaves a step unknown ("?"): not judged'



def _case_text(cell):
    lines = []
    if cell.expected:
        lines.append("expected: %s" % cell.expected)
    lines.append("observed: %s" % cell.text)
    lines.extend("  - %s" % d for d in cell.differences)
    if cell.rule is not None:
        lines.append("why: %s" % cell.rule.why)
        lines.append("source: %s" % cell.rule.source)
        lines.append("rule: %s:%d" % (cell.rule.path, cell.rule.line))
    if cell.note:
        lines.append(cell.note)
    return "\n".join(lines)


def junit(matrix, claims, answers, strict=False):
    root = ET.Element("testsuites", name="bindmatrix report")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    merged = len(matrix.run_hosts) > 1
    for col, host in enumerate(matrix.hosts):
        if host.documented:
            continue
        suite = ET.SubElement(root, "testsuite", name=host.label)
        started = (host.run or {}).get("started", "")
        if started.endswith("Z"):
            suite.set("timestamp", started[:-1])      # xs:dateTime, UTC as the run says
        props = ET.SubElement(suite, "properties")
        for key, value in (("os", host.os), ("os_release", host.release),
                           ("arch", host.run.get("arch", "")), ("results", host.path)):
            ET.SubElement(props, "property", name=key, value=str(value))
        for claim in claims:
            a = answers[claim.id][col]
            value = a.state + (" (%s)" % a.counter if a.counter else "")
            ET.SubElement(props, "property", name="claim." + claim.id, value=value)
        n = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for row in matrix.rows:
            cell = row.cells[col]
            tc = ET.SubElement(suite, "testcase", name=row.id, classname=(
                "%s/%s" % (host.label, row.scenario) if merged else row.scenario))
            n["tests"] += 1
            v = cell.verdict
            if v == "unknown" and strict:
                n["failures"] += 1
                ET.SubElement(tc, "failure", type="unknown", message=UNKNOWN_NOTE).text = \
                    _case_text(cell)
            elif v == "unknown":
                n["skipped"] += 1
                ET.SubElement(tc, "skipped", type="unknown", message=UNKNOWN_NOTE).text = \
                    _case_text(cell)
            elif v in FAILING:
                n["failures"] += 1
                msg = ("%s: expected %s, observed %s" % (v, cell.expected, cell.text)
                       if v == "mismatch" else "no expectation for this case on %s" % host.os)
                ET.SubElement(tc, "failure", type=v, message=msg).text = _case_text(cell)
            elif v == "error":
                n["errors"] += 1
                ET.SubElement(tc, "error", type="error",
                              message=cell.reason or "precondition did not hold").text = \
                    cell.reason
            elif v in ("skipped", "absent"):
                n["skipped"] += 1
                ET.SubElement(tc, "skipped", message=cell.reason or cell.note or v)
        for key, value in n.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + escaped(text, NOT_XML) + "\n"


# What XML 1.0 cannot hold at all (ElementTree writes it as it is, and every reader then
# refuses the file): control characters other than tab and newlines, U+FFFE and U+FFFF.  A
# reason from a results file made elsewhere may carry one; it is shown as its escape.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
