"""The portability matrix: result files from many hosts merged case by case.

load_hosts(paths)            -> [Host]; refuses corrupt files and repeated hosts (InputError)
documented_hosts(...)        -> [Host] for OSes with expectation files but no results given
build(hosts, manifest)       -> Matrix: rows (cases, grouped by area and scenario) x columns
                                (hosts), each cell an observed outcome judged against that
                                host's expectation, or (documented columns) the expectation.

Cell verdicts: the judge's (judge.py: match, mismatch, unknown, no-expectation, skipped,
error) for columns that ran, and
  absent          that host's results do not have this case (another suite version)
  documented      a documented column: the expected outcome, not a run
  undocumented    a documented column without a rule for this case
"""

import functools
from dataclasses import dataclass, field

from .. import documented as documented_mod, judge as judge_mod, oses
from ..expectations import ExpectationError, ExpectationStore, expectation_files
from ..outcome import (expected_steps, expected_text, join, observed_view, outcome_steps,
                       rule_view, signature, steps as observed_steps, text as observed_text,
                       views_conflict)
from ..results import ResultsError, load_many

# The judge's verdicts for columns that ran, then what a column of a documented OS shows.
VERDICTS = judge_mod.VERDICTS + ("absent", "documented", "undocumented")
PROBLEMS = judge_mod.FAILING


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

    @functools.cached_property
    def evidence(self):
        """(the folder its cases' evidence paths are relative to, None) or (None, why there
        is none to check): evidence.kept."""
        from .. import evidence
        if not self.path or self.results is None:
            return None, None
        return evidence.kept(self.path, self.results.cases)

    @property
    def evidence_dir(self):
        return self.evidence[0]


def host_label(run):
    return run.get("host") or "%s-%s" % (run.get("os", "unknown"), run.get("os_release", "?"))


def _repeated(path, run, label, first_path, first_run):
    """Why a second results file of one host is refused; `reports/*.jsonl` after a full and
    a partial run (a filter or some paths) names both of them, and the partial one is what to
    leave out."""
    partial = [p for p, r in ((first_path, first_run), (path, run)) if r.get("partial")]
    if len(partial) == 1:
        full = first_path if partial[0] == path else path
        return ("%s:1: field 'host': host %r twice: %s is a partial run (a filter or some "
                "paths) and %s the full one; the report takes one run per host: leave the "
                "partial one out, or give it a label of its own (bindmatrix-runner "
                "--host-label)" % (path, label, partial[0], full))
    return ("%s:1: field 'host': host %r repeats %s (each host once; give different runs "
            "different labels with bindmatrix-runner --host-label)" % (path, label, first_path))


def load_hosts(paths, checked=True):
    """Load every results file; all problems at once, nothing partial (checked=False: the
    records' schema is checked by the caller's results.SchemaCheck)."""
    problems, hosts, seen = [], [], {}
    if not paths:
        raise InputError(["no results files given"])
    for path, rs in zip(paths, load_many(paths, checked)):
        if isinstance(rs, ResultsError):
            problems.append(str(rs))
            continue
        label = host_label(rs.run)
        if label in seen:
            problems.append(_repeated(path, rs.run, label, *seen[label]))
            continue
        seen[label] = (path, rs.run)
        hosts.append(Host(label=label, os=rs.run["os"], release=rs.run["os_release"],
                          path=str(path), run=rs.run, results=rs, counts=dict(rs.end)))
    if problems:
        raise InputError(problems)
    return hosts


def documented_hosts(hosts, manifest, references=None):
    """A documented column for each OS with expectation files and no results given, for the
    release cases/documented.yaml names for it (references: its load(); none named: the
    column decides no kernel range and says "applies if release ..." instead)."""
    if references is None:
        references = documented_mod.load()
    ran = {oses.stem_of(h.run) for h in hosts}
    stems = sorted({stem for _s, _p, stem in expectation_files(manifest) if stem})
    out = []
    for stem in stems:
        if stem in ran:
            continue
        ref = references.get(stem)
        out.append(Host(label="%s (documented)" % (ref.name if ref else stem), os=stem,
                        release=ref.release if ref else "", kind="documented"))
    return out


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
    state: str = ""                # documented columns: the judge's known/unknown/no-expectation
    origin: object = None          # the cell this one copies (another host saw the same)

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


def _rules(store, scenario):
    """The scenario's rules, or the ExpectationError of its broken file."""
    if store is None:
        return None
    try:
        return store.rules_for(scenario)
    except ExpectationError as e:
        return e


def judge_run(case, casedef, host, store, judgement=None, rule=False):
    """A cell of a column that ran (judgement: the judge's verdict, when already made; rule:
    the rule that applies, when already found)."""
    osteps = outcome_steps(case, casedef)
    labels = [label for label, _, _ in osteps]
    j = judgement or judge_mod.judge(case, _rules(store, case["scenario"]), host.run, casedef,
                                     evidence_dir=host.evidence_dir, rule=rule)
    cell = Cell(verdict=j.verdict, text=observed_text(case, osteps), case=case, rule=j.rule,
                observed_steps=observed_steps(case, osteps),
                view=observed_view(case, casedef, osteps),
                differences=[d.message for d in j.differences])
    if j.rule is not None:
        cell.expected = expected_text(j.rule, labels)
        cell.expected_steps = expected_steps(j.rule, labels)
    if j.verdict in ("skipped", "error"):
        cell.reason = case.get("reason") or j.note
    elif j.verdict == "no-expectation":
        path = store.path_for(case["scenario"]) if store is not None else None
        cell.note = "%s (%s)" % (j.note, path) if path else j.note
    return cell


def _host_key(host):
    run = host.run or {}
    return (run.get("os_release"), tuple(sorted((run.get("sysctls") or {}).items())))


def _record_key(case):
    """Everything of a case record the judge and a cell read, ports and timings aside."""
    steps = []
    for st in case.get("steps") or ():
        d = st.get("delivery") or (case.get("delivery") or {}).get(st["label"])
        steps.append((st["label"], st["op"], st["result"],
                      (d["sent"], tuple(sorted(d["received"].items()))) if d else None))
    return (case["id"], case["status"], case.get("reason"), tuple(steps))


def _evidence_key(case, host):
    """The files of a case's packet evidence (its cell checks and shows them): None, or the
    folder they are relative to and their paths."""
    if not case.get("evidence"):
        return None
    return host.evidence_dir, tuple(sorted(e.get("path", "") for e in case["evidence"]))


def _rule_of(store, case, run):
    """(the rule that applies, or None; False when the file is broken: the judge says so)"""
    if store is None:
        return None
    try:
        return store.rule_for(case, run)
    except ExpectationError:
        return False


def memo_cell(memo, case, casedef, host, store, host_key=None):
    """judge_run, made once for the cases that recorded the same thing and that the same rule
    judges (hosts of one OS whose releases and sysctls no rule of the scenario tells apart: a
    kernel upgrade that changes nothing is the common case); the cell is shared.  A case with
    packet evidence shares only with cases of the same evidence files (copies of a run), so
    a shared cell's record (which only evidence is read from) may be another host's."""
    record = (_record_key(case), _evidence_key(case, host))
    # the same record on a host with the same release and sysctls: the same rule, the same
    # cell (the fast path, for repeated hosts); else the same rule on another release
    fast = (id(store), host_key, record)
    cell = memo.get(fast)
    if cell is not None:
        return cell
    rule = _rule_of(store, case, host.run)
    key = (id(store), id(rule), record)
    cell = memo.get(key)
    if cell is None:
        cell = memo[key] = judge_run(case, casedef, host, store, rule=rule)
    memo[fast] = cell
    return cell


def judge_documented(scenario, axes, labels, store, memo=None):
    """A documented column's cell: the expected outcome (labels: the case's observed steps,
    from the manifest or a host's record; None when unknown).  Cells of cases that the same
    rule covers with the same steps are one shared cell (memo)."""
    rules = _rules(store, scenario)
    rule = False if isinstance(rules, Exception) else store.documented_rule(scenario, axes)
    # what the cell shows follows from the store (its release), the rule and the steps alone
    key = (id(store), id(rule), tuple(labels) if labels is not None else None)
    if memo is not None and key in memo:
        return memo[key]
    e = judge_mod.expected(axes, rules, labels, rule=rule, release=store.release)
    if e.rule is None:          # no rule, or a broken file (rule False): nothing to share
        return Cell(verdict="undocumented", text="", state=e.state, note=e.note)
    if labels is None:
        labels = list(e.rule.expect)
    text = expected_text(e.rule, labels)
    cell = Cell(verdict="documented", text=text + (" (?)" if e.note else ""), rule=e.rule,
                state=e.state, expected=text, expected_steps=expected_steps(e.rule, labels),
                note=e.note, view=None if e.note else rule_view(e.rule, labels))
    if memo is not None:
        memo[key] = cell
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
    manifest: object

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


def area_of(scenario):
    return scenario.split("/", 1)[0] if "/" in scenario else "(top)"


def from_conformance(conf):
    """The one-column matrix of a host whose results were judged already (conformance.py):
    what its JUnit file is written from."""
    rs = conf.results
    host = Host(label=host_label(rs.run), os=rs.run["os"], release=rs.run["os_release"],
                path=rs.path, run=rs.run, results=rs, counts=dict(rs.end))
    host.evidence = (conf.evidence_dir, conf.evidence_unchecked)     # as it was judged
    scenarios = {}
    for case, casedef, j in conf.judged:
        name = case["scenario"]
        if name not in scenarios:
            ms = conf.manifest.scenarios.get(name) if conf.manifest is not None else None
            scenarios[name] = Scenario(name=name, area=area_of(name),
                                       title=ms.title if ms else case.get("title", ""),
                                       ref=ms.ref if ms else case.get("ref", ""))
        cell = judge_run(case, casedef, host, conf.store, j)
        s = scenarios[name]
        s.rows.append(Row(id=case["id"], scenario=name, area=s.area, title=s.title, ref=s.ref,
                          axes=dict(case.get("axes") or {}), cells=[cell],
                          problem=cell.verdict in PROBLEMS))
    return Matrix(hosts=[host], scenarios=list(scenarios.values()),
                  warnings=evidence_warnings([host]), manifest=conf.manifest)


def build(hosts, manifest):
    """The merged matrix over hosts (run hosts first, then documented columns).  Rows are the
    cases some host ran, in the manifest's order (cases a host has that the manifest does
    not know come after, from that host's records)."""
    stems = [h.os if h.documented else oses.stem_of(h.run) for h in hosts]
    # one store per OS (and documented release): hosts of one OS share its rules
    shared = {}
    stores = [None if stem is None else shared.setdefault(
        (stem, h.release if h.documented else None),
        ExpectationStore(manifest, stem, release=h.release or None if h.documented else None))
        for h, stem in zip(hosts, stems)]
    ran = {}
    for h in hosts:
        if not h.documented:
            for c in h.results.cases:
                ran.setdefault(c["id"], c)
    memo, keys = {}, {}
    host_keys = {id(h): _host_key(h) for h in hosts}
    order = [cd.id for cd in manifest.cases if cd.id in ran]
    order += [cid for cid in ran if cid not in manifest.by_id]
    scenarios = {}
    for cid in order:
        name = ran[cid]["scenario"]
        if name not in scenarios:
            ms = manifest.scenarios.get(name)
            scenarios[name] = Scenario(name=name, area=area_of(name),
                                       title=ms.title if ms else ran[cid].get("title", ""),
                                       why=ms.why if ms else "",
                                       ref=ms.ref if ms else ran[cid].get("ref", ""))
    for cid in order:
        proto, casedef = ran[cid], manifest.by_id.get(cid)
        labels = casedef.observed_labels if casedef is not None else None
        cells = []
        for h, store in zip(hosts, stores):
            if h.documented:
                cells.append(judge_documented(proto["scenario"], proto.get("axes") or {},
                                              labels, store, memo))
                continue
            case = h.results.by_id.get(cid)
            if case is None:
                cells.append(Cell(verdict="absent", text="not run",
                                  note="%s has no case with this id" % h.label))
            else:
                cells.append(memo_cell(memo, case, casedef, h, store, host_keys[id(h)]))
        row = Row(id=cid, scenario=proto["scenario"], area=area_of(proto["scenario"]),
                  title=scenarios[proto["scenario"]].title, ref=scenarios[proto["scenario"]].ref,
                  axes=dict(proto.get("axes") or {}), cells=cells)
        # hosts disagree when their observations differ; a host that skipped the case or
        # could not set it up has no observation to disagree with
        run_views = [c.view for h, c in zip(hosts, cells)
                     if not h.documented and c.verdict not in ("absent", "error", "skipped")]
        all_views = run_views + [c.view for h, c in zip(hosts, cells)
                                 if h.documented and c.view is not None]
        row.disagree = _any_conflict(run_views, keys)
        row.disagree_all = row.disagree or _any_conflict(all_views, keys)
        row.problem = any(c.verdict in PROBLEMS for h, c in zip(hosts, cells)
                          if not h.documented)
        scenarios[proto["scenario"]].rows.append(row)
    return Matrix(hosts=hosts, scenarios=sorted(scenarios.values(),
                                                key=lambda s: (s.area, s.name)),
                  warnings=evidence_warnings(hosts), manifest=manifest)


def evidence_warnings(hosts):
    """A line for each host whose results have no packet evidence with them to check."""
    from .. import evidence
    return ["%s: %s" % (h.label, evidence.unchecked_note(h.evidence[1], h.results.cases))
            for h in hosts if not h.documented and h.evidence[1]]


def _view_key(v):
    def frozen(x):
        return tuple(x) if isinstance(x, list) else x
    return (v["status"], tuple(sorted((k, frozen(x)) for k, x in v["steps"].items())),
            tuple(sorted((k, tuple(sorted((r, frozen(c)) for r, c in d.items())))
                         for k, d in v["delivery"].items())))


def _any_conflict(views, keys):
    """keys: id(view) -> its _view_key, filled as views are met (cells share views)."""
    distinct = {}
    for v in views:
        if v is None:
            continue
        k = keys.get(id(v))
        if k is None:
            k = keys[id(v)] = (_view_key(v), v)     # keep v alive: its id stays unique
        distinct.setdefault(k[0], v)
    # equal views never conflict: compare each distinct one once
    d = list(distinct.values())
    return any(views_conflict(a, b) for i, a in enumerate(d) for b in d[i + 1:])


__all__ = ["InputError", "Host", "Cell", "Row", "Scenario", "Matrix", "load_hosts",
           "documented_hosts", "build", "views_conflict", "observed_view", "rule_view",
           "signature", "join", "ExpectationError"]
