"""The portability matrix: result files from many hosts merged case by case.

load_hosts(paths)            -> [Host]; refuses corrupt files and repeated hosts (InputError)
documented_hosts(...)        -> [Host] for OSes with expectation files but no results given
build(hosts, cases_dir)      -> Matrix: rows (cases, grouped by area and scenario) x columns
                                (hosts), each cell an observed outcome judged against that
                                host's expectation, or (documented columns) the expectation.

Cell verdicts:
  match           observed, and the expectation for that host says exactly this
  mismatch        observed, and the expectation says something else
  unknown         observed, matches as far as the expectation goes, but it leaves a step "?"
  no-expectation  observed, no rule for this case on that OS (or its file is broken)
  skipped         the host could not run it (an option it lacks, no second user...)
  error           a precondition did not hold: no observation
  absent          that host's results do not have this case (another suite version)
  documented      a documented column: the expected outcome, not a run
  undocumented    a documented column without a rule for this case
"""

import os
from dataclasses import dataclass, field

from .. import oses
from ..compare import compare, display_path
from ..expectations import ExpectationError, ExpectationStore, find_rule, load_yaml, norm
from ..outcome import (expected_steps, expected_text, join, outcome_steps, rule_has_unknown,
                       signature, steps as observed_steps, text as observed_text)
from ..results import ResultsError, load_results

VERDICTS = ("match", "mismatch", "unknown", "no-expectation", "skipped", "error", "absent",
            "documented", "undocumented")
PROBLEMS = ("mismatch", "error", "no-expectation")


class InputError(Exception):
    """Inputs the report refuses; .problems lists each as 'file:line: message'."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass
class Host:
    label: str
    os: str
    release: str
    kind: str = "run"              # run | documented
    path: str = ""
    run: dict = field(default_factory=dict)
    results: object = None         # ResultSet for a run
    counts: dict = field(default_factory=dict)

    @property
    def documented(self):
        return self.kind == "documented"


def host_label(run):
    return run.get("host") or "%s-%s" % (run.get("os", "unknown"), run.get("os_release", "?"))


def load_hosts(paths):
    """Load every results file; all problems at once, nothing partial."""
    problems, hosts, seen = [], [], {}
    if not paths:
        raise InputError(["no results files given"])
    for path in paths:
        try:
            rs = load_results(path)
        except ResultsError as e:
            problems.append(str(e))
            continue
        label = host_label(rs.run)
        if label in seen:
            problems.append("%s:1: field 'host': host %r repeats %s (each host once; give "
                            "different runs different labels with bindmatrix-runner "
                            "--host-label)" % (path, label, seen[label]))
            continue
        seen[label] = path
        hosts.append(Host(label=label, os=rs.run["os"], release=rs.run["os_release"],
                          path=str(path), run=rs.run, results=rs, counts=dict(rs.end)))
    if problems:
        raise InputError(problems)
    return hosts


def documented_oses(cases_dir):
    """OS stems that have at least one expectation file below cases_dir."""
    found = set()
    for root, _dirs, files in os.walk(str(cases_dir)):
        if "case.yaml" in files:
            for name in files:
                stem = name[:-5] if name.endswith(".yaml") else None
                if stem and stem != "case" and stem in oses.KNOWN_STEMS:
                    found.add(stem)
    return found


def documented_hosts(hosts, cases_dir):
    """A documented column for each OS with expectation files and no results given."""
    ran = {h.os for h in hosts}
    return [Host(label="%s (documented)" % stem, os=stem, release="", kind="documented")
            for stem in sorted(documented_oses(cases_dir)) if stem not in ran]


# ---- cells ------------------------------------------------------------------------------

@dataclass
class Cell:
    verdict: str
    text: str
    case: dict = None
    rule: object = None
    expected: str = ""
    expected_steps: list = field(default_factory=list)
    observed_steps: list = field(default_factory=list)
    differences: list = field(default_factory=list)
    reason: str = ""
    note: str = ""
    view: dict = None              # outcome view for claims and agreement (see claims.py)

    @property
    def title(self):
        """Hover text ("" for a plain match: the colour says it all)."""
        if self.verdict in ("match", "undocumented") or (self.verdict == "documented"
                                                         and not self.note):
            return ""
        parts = [self.verdict]
        if self.expected and self.verdict not in ("match", "documented"):
            parts.append("expected: " + self.expected)
        if self.reason:
            parts.append(self.reason)
        if self.note:
            parts.append(self.note)
        return " — ".join(parts)


def observed_view(case):
    """{status, steps: {label: result}, delivery: {label: {recv: class}}}."""
    view = {"status": case["status"], "steps": {}, "delivery": {}}
    for label, result, classes in outcome_steps(case):
        view["steps"][label] = result
        if classes is not None:
            view["delivery"][label] = dict(classes)
    return view


def rule_view(rule, labels):
    """The same shape from an expectation; "?" stays "?" (unknown)."""
    if rule.expects_skip:
        return {"status": "skipped", "steps": {}, "delivery": {}}
    view = {"status": "observed", "steps": {}, "delivery": {}}
    for label in labels or rule.expect:
        exp = rule.expect.get(label, "?")
        if isinstance(exp, dict):
            view["steps"][label] = "ok"
            view["delivery"][label] = {r: (c if c in ("all", "none", "some", "?") else "?")
                                       for r, c in exp.items()}
        else:
            view["steps"][label] = exp
    return view


def views_conflict(a, b):
    """Two outcome views differ in something both know."""
    if a is None or b is None:
        return False
    if a["status"] != b["status"]:
        return a["status"] in ("observed", "skipped") and b["status"] in ("observed", "skipped")
    if a["status"] != "observed":
        return False
    for label in set(a["steps"]) & set(b["steps"]):
        x, y = a["steps"][label], b["steps"][label]
        if "?" not in (x, y) and x != y:
            return True
    for label in set(a["delivery"]) & set(b["delivery"]):
        da, db = a["delivery"][label], b["delivery"][label]
        for recv in set(da) & set(db):
            if "?" not in (da[recv], db[recv]) and da[recv] != db[recv]:
                return True
    return False


def _rules(store, scenario, warnings):
    try:
        return store.rules_for(scenario), None
    except ExpectationError as e:
        msg = "expectation file broken: %s" % "; ".join(e.problems[:3])
        warnings.setdefault(msg, None)
        return [], msg


def judge_run(case, host, store, warnings):
    labels = [label for label, _, _ in outcome_steps(case)]
    cell = Cell(verdict="", text=observed_text(case), case=case,
                observed_steps=observed_steps(case), view=observed_view(case))
    if case["status"] == "skipped":
        cell.verdict, cell.reason = "skipped", case.get("reason", "")
    elif case["status"] == "error":
        cell.verdict, cell.reason = "error", case.get("reason", "")
    rules, broken = ([], None) if store is None else _rules(store, case["scenario"], warnings)
    rule = find_rule(rules, case, host.run) if rules else None
    if rule is not None:
        cell.rule = rule
        cell.expected = expected_text(rule, labels)
        cell.expected_steps = expected_steps(rule, labels)
    if cell.verdict:
        return cell
    if store is None:
        cell.verdict, cell.note = "no-expectation", "no expectation files for OS %r" % host.os
    elif broken:
        cell.verdict, cell.note = "no-expectation", broken
    elif rule is None:
        cell.verdict = "no-expectation"
        cell.note = "no rule in %s" % display_path(store.path_for(case["scenario"]))
    else:
        diffs = compare(case, rule)
        if diffs:
            cell.verdict = "mismatch"
            cell.differences = [d.message for d in diffs]
        elif rule_has_unknown(rule, set(labels)):
            cell.verdict = "unknown"
        else:
            cell.verdict = "match"
    return cell


def _documented_rule(rules, case):
    """First rule whose `when` holds for the case; conditions on kernel or sysctl cannot be
    decided without a run, so such a rule is returned with a note."""
    axes = case.get("axes") or {}
    for rule in rules:
        if all(a in axes and norm(axes[a]) in allowed for a, allowed in rule.when.items()):
            conds = []
            if rule.kernel is not None:
                conds.append("release %s" % rule.kernel)
            if rule.sysctl:
                conds.append(", ".join("%s=%s" % (k, "|".join(v)) for k, v in rule.sysctl.items()))
            return rule, ("applies if " + " and ".join(conds)) if conds else ""
    return None, ""


def judge_documented(case, host, store, warnings):
    labels = [label for label, _, _ in outcome_steps(case)] if case["status"] == "observed" \
        else None
    rules, broken = _rules(store, case["scenario"], warnings)
    rule, cond = _documented_rule(rules, case)
    if rule is None:
        return Cell(verdict="undocumented", text="", note=broken or "")
    if labels is None:
        labels = [label for label in rule.expect if label != "status"]
    cell = Cell(verdict="documented", text=expected_text(rule, labels), rule=rule,
                expected=expected_text(rule, labels),
                expected_steps=expected_steps(rule, labels), note=cond,
                view=None if cond else rule_view(rule, labels))
    if cond:
        cell.text += " (?)"
    return cell


# ---- rows -------------------------------------------------------------------------------

@dataclass
class Row:
    id: str
    scenario: str
    area: str
    title: str
    ref: str
    axes: dict
    cells: list
    disagree: bool = False        # observed outcomes differ between run hosts
    disagree_all: bool = False    # ... or between any columns, documented ones included
    problem: bool = False         # a run host mismatched, errored or has no expectation

    @property
    def search_text(self):
        """What the page's text filter searches: the id, verdicts and outcomes (the title is
        searched at the scenario level)."""
        words = [self.id]
        for c in self.cells:
            for w in (c.verdict, c.text):
                if w and w not in words:
                    words.append(w)
        return " ".join(words).lower()


@dataclass
class Scenario:
    name: str
    area: str
    title: str = ""
    why: str = ""
    ref: str = ""
    rows: list = field(default_factory=list)

    def count(self, attr):
        return sum(1 for r in self.rows if getattr(r, attr))

    def verdicts(self, col):
        out = {}
        for r in self.rows:
            v = r.cells[col].verdict
            out[v] = out.get(v, 0) + 1
        return out


@dataclass
class Matrix:
    hosts: list
    scenarios: list
    warnings: list
    cases_dir: str

    @property
    def rows(self):
        return [r for s in self.scenarios for r in s.rows]

    @property
    def run_hosts(self):
        return [h for h in self.hosts if not h.documented]

    def column_counts(self, col):
        out = {v: 0 for v in VERDICTS}
        for r in self.rows:
            out[r.cells[col].verdict] += 1
        return out


def _scenario_text(cases_dir, scenario):
    path = os.path.join(cases_dir, *scenario.split("/"), "case.yaml")
    if not os.path.exists(path):
        return "", "", ""
    try:
        doc = load_yaml(path)
    except ExpectationError:
        return "", "", ""
    if not isinstance(doc, dict):
        return "", "", ""

    def text(key):
        v = doc.get(key)
        return " ".join(str(v).split()) if v else ""
    return text("title"), text("why"), text("ref")


def area_of(scenario):
    return scenario.split("/", 1)[0] if "/" in scenario else "(top)"


def build(hosts, cases_dir):
    """The merged matrix over hosts (run hosts first, then documented columns)."""
    cases_dir = str(cases_dir)
    warnings = {}
    stores = []
    for h in hosts:
        stores.append(ExpectationStore(cases_dir, h.os)
                      if oses.expectation_stem(h.os) is not None else None)
    # every case id, in the order the first host that has it lists it
    order, first = [], {}
    for h in hosts:
        if h.documented:
            continue
        for c in h.results.cases:
            if c["id"] not in first:
                first[c["id"]] = c
                order.append(c["id"])
    scen_order = sorted({first[cid]["scenario"] for cid in order},
                        key=lambda s: (area_of(s), s))
    scenarios = {}
    for name in scen_order:
        title, why, ref = _scenario_text(cases_dir, name)
        scenarios[name] = Scenario(name=name, area=area_of(name), title=title, why=why, ref=ref)
    for cid in order:
        proto = first[cid]
        cells = []
        for h, store in zip(hosts, stores):
            if h.documented:
                cells.append(judge_documented(proto, h, store, warnings))
                continue
            case = h.results.by_id.get(cid)
            if case is None:
                cells.append(Cell(verdict="absent", text="not run",
                                  note="%s has no case with this id" % h.label))
            else:
                cells.append(judge_run(case, h, store, warnings))
        row = Row(id=cid, scenario=proto["scenario"], area=area_of(proto["scenario"]),
                  title=proto.get("title", ""), ref=proto.get("ref", ""),
                  axes=dict(proto.get("axes") or {}), cells=cells)
        # hosts disagree when their observations differ; a host that skipped the case or
        # could not set it up has no observation to disagree with
        run_views = [c.view for h, c in zip(hosts, cells)
                     if not h.documented and c.verdict not in ("absent", "error", "skipped")]
        all_views = run_views + [c.view for h, c in zip(hosts, cells)
                                 if h.documented and c.view is not None]
        row.disagree = _any_conflict(run_views)
        row.disagree_all = row.disagree or _any_conflict(all_views)
        row.problem = any(c.verdict in PROBLEMS for h, c in zip(hosts, cells)
                          if not h.documented)
        scenarios[proto["scenario"]].rows.append(row)
    return Matrix(hosts=hosts, scenarios=[scenarios[s] for s in scen_order],
                  warnings=list(warnings), cases_dir=cases_dir)


def _any_conflict(views):
    views = [v for v in views if v is not None]
    return any(views_conflict(a, b) for i, a in enumerate(views) for b in views[i + 1:])


__all__ = ["InputError", "Host", "Cell", "Row", "Scenario", "Matrix", "load_hosts",
           "documented_hosts", "build", "views_conflict", "observed_view", "rule_view",
           "signature", "join"]
