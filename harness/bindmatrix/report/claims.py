"""Claims about bind semantics, written as predicates over case outcomes, answered per host.

A claims file (cases/claims.yaml) is a list of claims:

  - id: second-tcp-server                    # short, unique
    text: A second instance of a TCP server cannot bind ... even with SO_REUSEADDR
    source: "erlang-questions thread 'eaddrinuse' (2005)"   # where the claim comes from
    note: optional prose shown with the answer
    checks:                                  # all must hold (or one check inline, below)
      - where: {scenario: tcp/second-listener, axes: {reuse: reuseaddr}}
        all: {b.bind: "!ok"}

A check selects cases with `where` (scenario: name, glob or list; axes: {axis: value or
list}; `unless`: the same shape, excluding), optionally narrows them with `given` (a
condition; cases where it does not hold are left out: "where the bind succeeded, ..."), and
applies one quantifier to a condition:

  all:  every selected case satisfies it      (counter-examples: those that do not)
  none: no selected case satisfies it         (counter-examples: those that do)
  any:  at least one selected case does       (fails when none does)

A condition is a mapping, every entry of which must hold:
  step label or label glob  ->  ok | ERRNO | not-run | "!ok" (anything but) | [any, of, these]
                                 (a glob such as "*.bind" must hold for every step it matches,
                                 and for at least one)
  deliver label             ->  {receiver: all | none | some | "!none" ...}
  any_of: [condition, ...]      at least one of them holds

Answers per host: holds, fails (the first counter-example and how many), or untested (no
selected case was observed there).  Expected outcomes ("?" = unknown) answer the same way for
documented columns; an unknown step makes that case undecided, never a counter-example.
"""

import fnmatch
from dataclasses import dataclass, field

from ..expectations import ExpectationError, norm
from ..yamlio import LineDict, field_problem, load_yaml
from ..ids import match_id

QUANTIFIERS = ("all", "none", "any")
CLAIM_KEYS = ("id", "text", "source", "note", "checks", "where", "given") + QUANTIFIERS
CHECK_KEYS = ("where", "given") + QUANTIFIERS
WHERE_KEYS = ("scenario", "axes", "unless")
DELIVERY_CLASSES = ("all", "none", "some")


class ClaimsError(ExpectationError):
    """Problems in a claims file, each 'file:line: message'."""


@dataclass
class Check:
    where: dict
    quantifier: str
    condition: object
    given: object = None
    line: int = 0


@dataclass
class Claim:
    id: str
    text: str
    source: str
    note: str = ""
    checks: list = field(default_factory=list)
    line: int = 0


@dataclass
class Answer:
    state: str                      # holds | fails | untested
    counter: str = ""               # first counter-example case id
    counters: int = 0               # how many
    tested: int = 0                 # selected cases decided on this host
    undecided: int = 0              # selected cases with an unknown ("?") outcome
    not_observed: int = 0           # selected cases skipped or in error there
    detail: str = ""

    @property
    def symbol(self):
        return {"holds": "✔", "fails": "✘", "untested": "–"}[self.state]


# ---- loading ----------------------------------------------------------------------------

def _line(node, key=None):
    if isinstance(node, LineDict):
        return node.line_of(key) if key is not None else node.line
    return 0


class _Loader:
    def __init__(self, path, manifest):
        self.path = path
        self.manifest = manifest
        self.problems = []
        self.warnings = []          # names that match nothing in the manifest (yet)

    def bad(self, line, where, msg):
        self.problems.append(field_problem(self.path, line, where, msg) if where
                             else "%s:%d: %s" % (self.path, line, msg))

    def warn(self, line, where, msg):
        self.warnings.append(field_problem(self.path, line, where, msg))

    def scenarios(self):
        """Scenario names in the manifest (None without one)."""
        return None if self.manifest is None else list(self.manifest.scenarios)

    def axes_of(self, scenario):
        s = self.manifest.scenarios.get(scenario)
        return None if s is None else {a.name: set(a.values) for a in s.axes.values()}

    def where(self, raw, line, where_name):
        if not isinstance(raw, dict):
            self.bad(line, where_name, "must be a mapping {scenario: ..., axes: {...}}")
            return None
        out = {"scenario": None, "axes": {}, "unless": None}
        for key in raw:
            if key not in WHERE_KEYS:
                self.bad(_line(raw, key), "%s.%s" % (where_name, key),
                         "unknown key (one of: %s)" % ", ".join(WHERE_KEYS))
        scen = raw.get("scenario")
        if scen is not None:
            pats = scen if isinstance(scen, list) else [scen]
            if not pats or not all(isinstance(p, str) and p for p in pats):
                self.bad(_line(raw, "scenario"), where_name + ".scenario",
                         "a scenario name, glob, or a list of them")
            else:
                out["scenario"] = pats
                known = self.scenarios()
                if known is not None:
                    for p in pats:
                        if not any(fnmatch.fnmatchcase(s, p) for s in known):
                            self.warn(_line(raw, "scenario"), where_name + ".scenario",
                                      "%r matches no scenario in the manifest" % p)
        axes = raw.get("axes", {})
        if not isinstance(axes, dict):
            self.bad(_line(raw, "axes"), where_name + ".axes", "must be {axis: value or list}")
        else:
            for axis, v in axes.items():
                vals = v if isinstance(v, list) else [v]
                if not vals or any(isinstance(x, (dict, list)) or x is None for x in vals):
                    self.bad(_line(axes, axis), "%s.axes.%s" % (where_name, axis),
                             "a value or a list of values")
                    continue
                out["axes"][str(axis)] = [norm(x) for x in vals]
                self.check_axis(out["scenario"], str(axis), out["axes"][str(axis)],
                                _line(axes, axis), "%s.axes.%s" % (where_name, axis))
        if "unless" in raw:
            out["unless"] = self.where(raw["unless"], _line(raw, "unless"),
                                       where_name + ".unless")
        return out

    def check_axis(self, scen_pats, axis, values, line, where_name):
        """Catch typos: the axis (and its values) must exist in some selected scenario."""
        if self.manifest is None or not scen_pats:
            return
        names = [s for s in self.scenarios() or []
                 if any(fnmatch.fnmatchcase(s, p) for p in scen_pats)]
        known_any, values_ok = False, set()
        for s in names:
            axes = self.axes_of(s)
            if axes is None or axis not in axes:
                continue
            known_any = True
            if axes[axis] is None:
                values_ok.update(values)
            else:
                values_ok.update(v for v in values if v in axes[axis])
        if names and not known_any:
            self.warn(line, where_name, "no selected scenario has an axis %r" % axis)
        elif names:
            for v in values:
                if v not in values_ok:
                    self.warn(line, where_name, "%r is not a value of axis %s in the selected "
                              "scenarios" % (v, axis))

    def condition(self, raw, line, where_name):
        if not isinstance(raw, dict) or not raw:
            self.bad(line, where_name, "a condition is a non-empty mapping {step label: "
                     "result, ...}")
            return None
        out = {}
        for key, value in raw.items():
            kline, kwhere = _line(raw, key), "%s.%s" % (where_name, key)
            if key == "any_of":
                if not isinstance(value, list) or not value:
                    self.bad(kline, kwhere, "a list of conditions")
                    continue
                subs = [self.condition(v, kline, "%s[%d]" % (kwhere, i))
                        for i, v in enumerate(value)]
                if all(s is not None for s in subs):
                    out["any_of"] = subs
            elif isinstance(value, dict):
                recv = {}
                for r, cls in value.items():
                    c = cls[1:] if isinstance(cls, str) and cls.startswith("!") else cls
                    if c not in DELIVERY_CLASSES:
                        self.bad(_line(value, r), "%s.%s" % (kwhere, r),
                                 "%r: a receiver's class is all, none or some (or !class)"
                                 % (cls,))
                        continue
                    recv[str(r)] = cls
                out[str(key)] = recv
            else:
                vals = value if isinstance(value, list) else [value]
                if not vals or not all(isinstance(v, str) and v for v in vals):
                    self.bad(kline, kwhere, "ok, an errno name, not-run, \"!ok\", a list of "
                             "them, or for a delivery {receiver: class}")
                    continue
                out[str(key)] = vals
        return out

    def check(self, raw, line, where_name):
        quants = [q for q in QUANTIFIERS if q in raw]
        if len(quants) != 1:
            self.bad(line, where_name, "needs exactly one quantifier: all, none or any")
            return None
        q = quants[0]
        if "where" not in raw:
            self.bad(line, where_name + ".where", "is required: which cases the claim is about")
            return None
        where = self.where(raw["where"], _line(raw, "where"), where_name + ".where")
        cond = self.condition(raw[q], _line(raw, q), "%s.%s" % (where_name, q))
        given = None
        if "given" in raw:
            given = self.condition(raw["given"], _line(raw, "given"), where_name + ".given")
        if where is None or cond is None:
            return None
        return Check(where=where, quantifier=q, condition=cond, given=given, line=line)

    def claim(self, i, raw):
        line = _line(raw)
        where_name = "[%d]" % i
        if not isinstance(raw, dict):
            self.bad(line, where_name, "a claim is a mapping (id, text, source, checks)")
            return None
        for key in raw:
            if key not in CLAIM_KEYS:
                self.bad(_line(raw, key), str(key), "unknown key (claim keys: %s)"
                         % ", ".join(CLAIM_KEYS))
        for key in ("id", "text", "source"):
            v = raw.get(key)
            if not isinstance(v, str) or not v.strip():
                self.bad(_line(raw, key) if key in raw else line, key,
                         "is required: non-empty text")
        claim = Claim(id=str(raw.get("id", "")), text=" ".join(str(raw.get("text", "")).split()),
                      source=" ".join(str(raw.get("source", "")).split()),
                      note=" ".join(str(raw.get("note", "") or "").split()), line=line)
        inline = [k for k in CHECK_KEYS if k in raw]
        if "checks" in raw and inline:
            self.bad(line, "checks", "give either checks: [...] or one inline check "
                     "(where + quantifier), not both")
            return None
        if "checks" in raw:
            checks = raw["checks"]
            if not isinstance(checks, list) or not checks:
                self.bad(_line(raw, "checks"), "checks", "a non-empty list of checks")
                return None
            for j, c in enumerate(checks):
                if not isinstance(c, dict):
                    self.bad(_line(raw, "checks"), "checks[%d]" % j, "a check is a mapping")
                    continue
                for key in c:
                    if key not in CHECK_KEYS:
                        self.bad(_line(c, key), "checks[%d].%s" % (j, key),
                                 "unknown key (check keys: %s)" % ", ".join(CHECK_KEYS))
                chk = self.check(c, _line(c), "%s.checks[%d]" % (claim.id or where_name, j))
                if chk:
                    claim.checks.append(chk)
        else:
            chk = self.check(raw, line, claim.id or where_name)
            if chk:
                claim.checks.append(chk)
        return claim


def load_claims(path, manifest=None, warnings=None):
    """Parse and check a claims file -> [Claim]; raises ClaimsError with every problem.
    With a manifest, scenario names and axes are checked against it: a name that matches
    nothing is appended to `warnings` (such a check is simply untested)."""
    path = str(path)
    doc = load_yaml(path)
    if doc is None:
        doc = []
    if not isinstance(doc, list):
        raise ClaimsError(["%s:%d: a claims file is a list of claims (- id: ...)"
                           % (path, _line(doc) or 1)])
    loader = _Loader(path, manifest)
    claims, ids = [], {}
    for i, raw in enumerate(doc):
        c = loader.claim(i, raw)
        if c is None:
            continue
        if c.id in ids:
            loader.bad(c.line, "id", "%r repeats the claim on line %d" % (c.id, ids[c.id]))
        ids[c.id] = c.line
        claims.append(c)
    if loader.problems:
        raise ClaimsError(loader.problems)
    if warnings is not None:
        warnings.extend(loader.warnings)
    return claims


# ---- evaluation -------------------------------------------------------------------------
# Truth values are True, False or None (unknown: a documented "?").

def _and(values):
    values = list(values)
    if any(v is False for v in values):
        return False
    if any(v is None for v in values):
        return None
    return True


def _not(value):
    return None if value is None else not value


def _or(values):
    """Kleene's three-valued or: not (and of the negations)."""
    return _not(_and(_not(v) for v in values))


def _each(actual, test):
    """A test over a documented list of acceptable results: true if it holds for every one,
    false for none, otherwise undecided."""
    if isinstance(actual, list):
        answers = {test(a) for a in actual}
        return answers.pop() if len(answers) == 1 else None
    return test(actual)


def _value_test(actual, wanted):
    """One step result against a list of wanted values ("!x" = anything but x)."""
    if actual == "?":
        return None

    def test(a):
        return any((a != w[1:]) if w.startswith("!") else (a == w) for w in wanted)
    return _each(actual, test)


def _class_test(actual, wanted):
    if actual is None:
        return False
    if actual == "?":
        return None
    return _each(actual, lambda a: (a != wanted[1:]) if wanted.startswith("!") else a == wanted)


def _labels(view, pattern):
    if pattern in view["steps"]:
        return [pattern]
    return [label for label in view["steps"] if fnmatch.fnmatchcase(label, pattern)]


def holds(condition, view):
    """A condition on one outcome view -> True / False / None (undecided)."""
    parts = []
    for key, wanted in condition.items():
        if key == "any_of":
            parts.append(_or(holds(sub, view) for sub in wanted))
            continue
        labels = _labels(view, key)
        if not labels:
            parts.append(False)
            continue
        for label in labels:
            result = view["steps"][label]
            if isinstance(wanted, dict):
                if result == "?":
                    parts.append(None)
                    continue
                delivery = view["delivery"].get(label)
                if result != "ok" or delivery is None:
                    parts.append(False)
                    continue
                parts.append(_and(_class_test(delivery.get(r), cls)
                                  for r, cls in wanted.items()))
            else:
                parts.append(_value_test(result, wanted))
    return _and(parts)


def selects(where, case_id, scenario, axes):
    if where is None:
        return False
    if where["scenario"] and not any(fnmatch.fnmatchcase(scenario, p)
                                     for p in where["scenario"]):
        return False
    for axis, allowed in where["axes"].items():
        if axis not in axes or norm(axes[axis]) not in allowed:
            return False
    if where.get("unless") and selects(where["unless"], case_id, scenario, axes):
        return False
    return True


@dataclass
class Subject:
    """One case as a host saw it (or as its documentation expects it)."""
    id: str
    scenario: str
    axes: dict
    view: dict                       # None: nothing known (skipped, error, no rule)


def evaluate_check(check, subjects, selected=None):
    """-> Answer for one check over one host's subjects (selected: the indexes of those its
    `where` selects, when already known: the same for every host)."""
    ans = Answer(state="untested")
    satisfied = []
    counters = []
    if selected is None:
        selected = select(check, subjects)
    for i in selected:
        s = subjects[i]
        if s.view is None or s.view["status"] != "observed":
            ans.not_observed += 1
            continue
        if check.given is not None:
            g = holds(check.given, s.view)
            if g is None:
                ans.undecided += 1
                continue
            if not g:
                continue
        v = holds(check.condition, s.view)
        if v is None:
            ans.undecided += 1
            continue
        ans.tested += 1
        if v:
            satisfied.append(s.id)
        if (check.quantifier == "all" and not v) or (check.quantifier == "none" and v):
            counters.append(s.id)
    if check.quantifier == "any":
        if satisfied:
            ans.state = "holds"
        elif ans.tested and not ans.undecided:
            ans.state = "fails"
            ans.detail = "none of the %d selected cases satisfies it" % ans.tested
    elif counters:
        ans.state, ans.counter, ans.counters = "fails", counters[0], len(counters)
    elif ans.tested:
        ans.state = "holds"
    return ans


def select(check, subjects):
    where = check.where
    if where is None:
        return []
    patterns = where["scenario"]
    in_scope = {}           # scenario -> whether `where` names it (asked once per scenario)
    out = []
    for i, s in enumerate(subjects):
        ok = in_scope.get(s.scenario)
        if ok is None:
            ok = in_scope[s.scenario] = not patterns or any(
                fnmatch.fnmatchcase(s.scenario, p) for p in patterns)
        if ok and selects(where, s.id, s.scenario, s.axes):
            out.append(i)
    return out


def evaluate(claim, subjects, selections=None):
    """-> Answer for a claim: fails if any check fails, holds if every tested check holds."""
    answers = [evaluate_check(c, subjects, selections[k] if selections else None)
               for k, c in enumerate(claim.checks)]
    total = Answer(state="untested")
    for a in answers:
        total.tested += a.tested
        total.undecided += a.undecided
        total.not_observed += a.not_observed
    failing = [a for a in answers if a.state == "fails"]
    held = [a for a in answers if a.state == "holds"]
    if failing:
        first = failing[0]
        total.state = "fails"
        total.counter = first.counter
        total.counters = sum(a.counters for a in failing)
        total.detail = first.detail
    elif held:
        total.state = "holds"
        untested = len(answers) - len(held)
        if untested:
            total.detail = "%d of %d checks untested here" % (untested, len(answers))
    else:
        why = []
        if total.not_observed:
            why.append("%d selected cases skipped or in error" % total.not_observed)
        if total.undecided:
            why.append("%d with an unknown outcome" % total.undecided)
        total.detail = "; ".join(why) or "no selected case in these results"
    if total.state != "fails" and total.undecided and not total.detail:
        total.detail = "%d selected cases undecided (unknown outcome)" % total.undecided
    return total


def subjects_for_column(matrix, col):
    """The Subjects of one matrix column (see matrix.py)."""
    out = []
    for row in matrix.rows:
        cell = row.cells[col]
        out.append(Subject(id=row.id, scenario=row.scenario, axes=row.axes, view=cell.view))
    return out


def answer_all(claims, matrix):
    """{claim id: [Answer per column]}"""
    subjects = [subjects_for_column(matrix, i) for i in range(len(matrix.hosts))]
    out = {}
    for c in claims:
        # which cases a check is about depends on the rows only, not on the host
        selections = [select(chk, subjects[0]) for chk in c.checks] if subjects else None
        out[c.id] = [evaluate(c, s, selections) for s in subjects]
    return out


__all__ = ["Claim", "Check", "Answer", "ClaimsError", "Subject", "load_claims", "evaluate",
           "evaluate_check", "holds", "answer_all", "match_id"]
