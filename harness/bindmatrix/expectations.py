"""Expectation files: <scenario folder>/<os>.yaml, a list of rules, first match wins.

Each rule:
  when:       {axis: value | [values]}        all must hold; absent = every case
  kernel:     ">=4.6,<6.1"                     on the run's os_release
  sysctl:     {name: value | [values]}         on case['sysctl'] overlaid on run['sysctls']
  expect:     {label: RESULT, deliver-label: {receiver: CLASS}}
                RESULT: ok | ERRNO | not-run | a runner word (timeout, no-socket, ...)
                        | "?" (unknown) | [RESULT, ...] (any of them)      ("?" and lists:
                CLASS:  all | none | some | N | "?" | [CLASS, ...]          documented only)
              or {status: skipped, reason: TEXT?} or {status: error, reason: TEXT}
              (the case is expected not to be observed; reason is a part of the runner's)
  provenance: observed (needs seen_on) | documented (needs source)
  seen_on, why, source

load_rules() checks the file on its own (syntax, types, provenance) and raises
ExpectationError listing each problem as file:line: field 'x.y': message.  What needs the
cases (labels, axes, errno names, rules that match nothing) is lint's job (lint.py).
find_rule() picks the first rule that applies to a case.
"""

import os
import re
from dataclasses import dataclass, field

from . import oses, readfile
from .versions import VersionError, parse_range, parse_release
from .yamlio import InputError, LineDict, field_problem, kind_of, load_yaml

ExpectationError = InputError     # the harness's one error type for bad input files

RULE_KEYS = ("when", "kernel", "sysctl", "expect", "provenance", "seen_on", "why", "source")
PROVENANCES = ("observed", "documented")
STATUSES = ("skipped", "error")
RESULT_WORD = re.compile(r"^(ok|not-run|E[A-Z0-9]+|[a-z][a-z0-9]*(-[a-z0-9]+)*)$")
DELIVERY_CLASSES = ("all", "none", "some")
UNKNOWN = "?"


# what `./bindmatrix expect` starts a rule's why and source with, for a person to replace
PLACEHOLDER = "TODO"


@dataclass
class Rule:
    path: str
    line: int
    index: int                      # 0-based position in the file
    when: dict = field(default_factory=dict)     # axis -> list of normalized values
    kernel: object = None           # VersionRange or None
    sysctl: dict = field(default_factory=dict)   # name -> list of normalized values
    expect: dict = field(default_factory=dict)   # label -> result | [results] | {recv: cls}
    status: str = None              # skipped | error: the case is expected not to be observed
    reason: str = ""                # ... with a reason containing this text
    provenance: str = ""
    seen_on: list = field(default_factory=list)
    why: str = ""
    source: str = ""
    lines: dict = field(default_factory=dict)    # expect label -> line
    when_lines: dict = field(default_factory=dict)   # when axis -> line
    text_lines: dict = field(default_factory=dict)   # why / source / provenance -> line

    @property
    def location(self):
        return "%s:%d" % (self.path, self.line)

    @property
    def placeholders(self):
        """Its why and source that still hold what `expect` wrote for a person to replace."""
        return [key for key in ("why", "source") if getattr(self, key).startswith(PLACEHOLDER)]

    @property
    def expects_skip(self):
        return self.status == "skipped"

    @property
    def conditional(self):
        """Whether the rule depends on the host (kernel or sysctl), not only on the case."""
        return self.kernel is not None or bool(self.sysctl)

    def conditions(self):
        """What the rule needs of a host, comparable between rules."""
        return (str(self.kernel) if self.kernel is not None else None,
                tuple(sorted((k, tuple(v)) for k, v in self.sysctl.items())))


def norm(value):
    """Axis / sysctl values compare as text: True -> 'true', 5 -> '5'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_scalar(v):
    return isinstance(v, (str, int, bool)) and not isinstance(v, float)


class _Checker:
    def __init__(self, path, os_stem):
        self.path = path
        self.os_stem = os_stem
        self.problems = []

    def bad(self, line, where, message):
        self.problems.append(field_problem(self.path, line, where, message))

    def values(self, mapping, key, where, line):
        """A condition value: a scalar or a non-empty list of scalars -> list of strings."""
        v = mapping[key]
        if isinstance(v, list):
            if not v:
                self.bad(line, where, "an empty list matches nothing")
                return None
            if not all(_is_scalar(x) for x in v):
                self.bad(line, where, "list items must be scalars (strings or numbers)")
                return None
            return [norm(x) for x in v]
        if not _is_scalar(v):
            self.bad(line, where, "must be a value or a list of values, not %s" % kind_of(v))
            return None
        return [norm(v)]

    def rule(self, index, raw):
        line = raw.line if isinstance(raw, LineDict) else 0
        where = "[%d]" % index
        if not isinstance(raw, dict):
            self.bad(line, where, "a rule must be a mapping (when/expect/...), not %s"
                     % kind_of(raw))
            return None
        rule = Rule(path=self.path, line=line, index=index)
        for key in raw:
            if key not in RULE_KEYS:
                self.bad(raw.line_of(key), str(key),
                         "unknown key (rule keys: %s)" % ", ".join(RULE_KEYS))
        for key, into in (("when", rule.when), ("sysctl", rule.sysctl)):
            if key in raw:
                self.conditions(raw, key, into)
        if isinstance(raw.get("when"), LineDict):
            rule.when_lines = {str(k): raw["when"].line_of(k) for k in raw["when"]}
        rule.text_lines = {k: raw.line_of(k) for k in ("why", "source", "provenance", "expect")}
        if "kernel" in raw:
            try:
                rule.kernel = parse_range(raw["kernel"])
            except VersionError as e:
                self.bad(raw.line_of("kernel"), "kernel", str(e))
        self.text_fields(raw, rule)
        if "expect" not in raw:
            self.bad(line, "expect", "is required: the outcome of every step the case records")
        else:
            self.expect(raw, rule)
        return rule

    def conditions(self, raw, key, into):
        cond = raw[key]
        if not isinstance(cond, dict):
            self.bad(raw.line_of(key), key, "must be a mapping {name: value or [values]}")
            return
        for name in cond:
            vals = self.values(cond, name, "%s.%s" % (key, name), cond.line_of(name))
            if vals is not None:
                into[str(name)] = vals

    def text_fields(self, raw, rule):
        for key in ("why", "source"):
            if key in raw:
                v = raw[key]
                if not isinstance(v, str) or not v.strip():
                    self.bad(raw.line_of(key), key, "must be non-empty text")
                else:
                    setattr(rule, key, " ".join(v.split()))
        if not rule.why and "why" not in raw:
            self.bad(raw.line, "why", "is required: say why the OS behaves this way")
        prov = raw.get("provenance")
        if prov is None:
            self.bad(raw.line, "provenance", "is required: observed or documented")
        elif prov not in PROVENANCES:
            self.bad(raw.line_of("provenance"), "provenance",
                     "%r is not one of: observed, documented" % (prov,))
        else:
            rule.provenance = prov
        if "seen_on" in raw:
            seen = raw["seen_on"]
            seen_list = seen if isinstance(seen, list) else [seen]
            if not seen_list or not all(isinstance(s, str) and s.strip() for s in seen_list):
                self.bad(raw.line_of("seen_on"), "seen_on", "must be a release string (quote "
                         "it: seen_on: \"6.1.0-18-amd64\") or a list of them")
            else:
                for s in seen_list:
                    try:
                        parse_release(s)
                    except VersionError as e:
                        self.bad(raw.line_of("seen_on"), "seen_on", str(e))
                rule.seen_on = list(seen_list)
        if prov == "observed" and "seen_on" not in raw:
            self.bad(raw.line_of("provenance"), "seen_on",
                     "provenance observed needs seen_on: the release it was seen on")
        if prov == "documented" and "source" not in raw:
            self.bad(raw.line_of("provenance"), "source",
                     "provenance documented needs a source a reader can follow")
        if self.os_stem == "linux" and prov == "documented":
            self.bad(raw.line_of("provenance"), "provenance",
                     "Linux expectations are always observed (run ./bindmatrix run)")

    def status(self, expect, rule):
        status = expect["status"]
        where = "expect.status"
        if status not in STATUSES:
            self.bad(expect.line_of("status"), where, "%r: an expected status is skipped or "
                     "error (an observed case is given by its steps)" % (status,))
            return
        extra = [k for k in expect if k not in ("status", "reason")]
        if extra:
            self.bad(expect.line_of(extra[0]), "expect.%s" % extra[0],
                     "status: %s stands with a reason only (such a case records no steps)"
                     % status)
        reason = expect.get("reason")
        if reason is not None and (not isinstance(reason, str) or not reason.strip()):
            self.bad(expect.line_of("reason"), "expect.reason", "must be non-empty text: a "
                     "part of the reason the runner gives")
            return
        if status == "error" and reason is None:
            self.bad(expect.line_of("status"), "expect.reason", "status: error needs the "
                     "reason it is expected for (a part of the runner's reason), so that "
                     "another error is still a mismatch")
            return
        rule.status = status
        rule.reason = " ".join(reason.split()) if reason else ""

    def one(self, value, where, line, documented, allowed, what):
        """A step result or receiver class, or a list of them (documented rules only)."""
        if isinstance(value, list):
            if not documented:
                self.bad(line, where, "a list of acceptable results is only for documented "
                         "rules (an observed rule says what was seen)")
                return None
            if len(value) < 2:
                self.bad(line, where, "a list of acceptable results names two or more")
                return None
            items = [self.one(v, where, line, documented, allowed, what) for v in value]
            if any(i is None or isinstance(i, list) or i == UNKNOWN for i in items):
                return None
            return items
        if value == UNKNOWN:
            if not documented:
                self.bad(line, where, '"?" (unknown) is only for documented rules')
                return None
            return value
        if not allowed(value):
            self.bad(line, where, "%r: %s" % (value, what))
            return None
        return value

    def expect(self, raw, rule):
        expect = raw["expect"]
        line = raw.line_of("expect")
        if not isinstance(expect, dict) or not expect:
            self.bad(line, "expect", "must be a non-empty mapping {step label: result}")
            return
        if "status" in expect:
            self.status(expect, rule)
            return
        documented = rule.provenance == "documented"
        step_what = ("a step's result is ok, not-run, an errno name (EADDRINUSE), a runner "
                     "word (timeout), \"?\", a list of them, or, for a deliver step, "
                     "{receiver: all|none|some|N}")
        class_what = "a receiver's count is all, none, some, a number, \"?\" or a list of them"

        def is_result(v):
            return isinstance(v, str) and bool(RESULT_WORD.match(v))

        def is_class(v):
            return (v in DELIVERY_CLASSES) or (isinstance(v, int) and not isinstance(v, bool)
                                               and v >= 0)
        out = {}
        for label, value in expect.items():
            where = "expect.%s" % label
            vline = expect.line_of(label)
            rule.lines[str(label)] = vline
            if isinstance(value, dict):
                if not value:
                    self.bad(vline, where, "name each receiver: {a: all, b: none}")
                receivers = {}
                for recv, cls in value.items():
                    got = self.one(cls, "%s.%s" % (where, recv), value.line_of(recv),
                                   documented, is_class, class_what)
                    if got is not None:
                        receivers[str(recv)] = got
                out[str(label)] = receivers
            else:
                got = self.one(value, where, vline, documented, is_result, step_what)
                if got is not None:
                    out[str(label)] = got
        rule.expect = out


# ---- loading ----------------------------------------------------------------------------

_loaded = {}


def load_rules(path, os_stem=None):
    """Parse and check one expectation file -> list of Rule (raises ExpectationError).  A
    file is read once per process while it does not change."""
    path = str(path)
    if os_stem is None:
        os_stem = os.path.splitext(os.path.basename(path))[0]
    key = _file_key(path, os_stem)
    if key in _loaded:
        got = _loaded[key]
        if isinstance(got, ExpectationError):
            raise got
        return got
    try:
        rules = _load_rules(path, os_stem)
    except ExpectationError as e:
        if key is not None:
            _loaded[key] = e
        raise
    if key is not None:
        _loaded[key] = rules
    return rules


def _file_key(path, os_stem):
    """What a file's rules are remembered by: the file as it is now and the OS it is read
    for (None: no such file)."""
    key = readfile.file_key(path)
    return key and key + (os_stem,)


class Preload:
    """The rules of every <os>.yaml beside a case.yaml under the folders, read in a forked
    child while this process goes on (a report reads 164 such files: a quarter of a second
    of YAML before it can judge a case), and handed back parsed.  install() waits for them
    and puts them where load_rules looks first.  Only what loads cleanly comes back: a file
    with problems, a file changed meanwhile (its key differs) or a child that failed is read
    by load_rules here, as without a preload, so what it says is the same."""

    def __init__(self, folders, timeout=120):
        from . import forked
        self.folders = [str(f) for f in folders]
        self.timeout = timeout
        self.child = forked.Child(self._load, codec="pickle") if forked.can_fork() else None

    def _load(self):
        got = {}
        for path, stem in _expectation_paths(self.folders):
            key = _file_key(path, stem)
            if key is None:
                continue
            try:
                got[key] = _load_rules(path, stem)
            except ExpectationError:
                pass
        return got

    def install(self):
        child, self.child = self.child, None
        if child is None:
            return
        try:
            got = child.result(self.timeout)
        except RuntimeError:
            return
        for key, rules in got.items():
            _loaded.setdefault(key, rules)

    def stop(self):
        """Ends the child if nothing waited for it (the caller gave up first)."""
        child, self.child = self.child, None
        if child is not None:
            child.stop()


def _expectation_paths(folders):
    """(path, stem) of each <os>.yaml, stem an OS's, in a folder with a case.yaml under the
    folders: the files expectation_files() lists, found without the manifest, which is not
    there yet when Preload starts (symlinked folders are not followed: a loop must not be
    walked forever; a file missed is only read later, in this process)."""
    for top in folders:
        for folder, _dirs, files in os.walk(top):
            if "case.yaml" in files:
                for name in sorted(files):
                    stem = name[:-5] if name.endswith(".yaml") else None
                    if stem in oses.KNOWN_STEMS:
                        yield os.path.join(folder, name), stem


def _load_rules(path, os_stem):
    doc = load_yaml(path)
    if doc is None:
        doc = []
    if not isinstance(doc, list):
        line = doc.line if isinstance(doc, LineDict) else 1
        raise ExpectationError(["%s:%d: the file must be a list of rules (- when: ... expect: "
                                "...), not %s" % (path, line, kind_of(doc))])
    checker = _Checker(path, os_stem)
    rules = [checker.rule(i, raw) for i, raw in enumerate(doc)]
    if checker.problems:
        raise ExpectationError(checker.problems)
    return rules


class ExpectationStore:
    """Rules per scenario for one OS, loaded once each.  The file of a scenario sits in the
    scenario's folder, which the manifest names (so `run PATH` checks the cases it was
    given against their own files)."""

    def __init__(self, manifest, stem, release=None):
        """stem: the expectation file stem (oses.stem_of(run), or a documented OS); release:
        for a documented column, the release it describes (rules' kernel ranges decide)."""
        self.manifest = manifest
        self.os_name = stem
        self.release = release
        self.filename = oses.expectation_filename(stem)
        self._cache = {}
        self._documented = {}
        self._by_case = {}

    def path_for(self, scenario):
        s = self.manifest.scenarios.get(scenario) if self.manifest is not None else None
        if self.filename is None or s is None:
            return None
        return os.path.join(s.dir, self.filename)

    def documented_rule(self, scenario, axes):
        """find_documented_rule for a case of the scenario, remembered per combination of
        the axes the file's rules name (many cases differ only in others)."""
        rules = self.rules_for(scenario)
        index = self._documented.get(scenario)
        if index is None:
            names = tuple(sorted({a for r in rules for a in r.when}))
            index = self._documented[scenario] = (names, {})
        names, seen = index
        key = tuple(axes.get(a) for a in names)
        if key not in seen:
            seen[key] = find_documented_rule(rules, axes, self.release)
        return seen[key]

    def rule_for(self, case, run):
        """find_rule for a case record of a run, remembered per combination of what the
        scenario's rules look at: the axes they name, the release (if a rule has a kernel
        range) and the sysctls they name.  Hosts that differ only in what no rule asks
        about share the answer.  Raises ExpectationError like rules_for."""
        scenario = case["scenario"]
        rules = self.rules_for(scenario)
        index = self._by_case.get(scenario)
        if index is None:
            axes = tuple(sorted({a for r in rules for a in r.when}))
            sysctls = tuple(sorted({n for r in rules for n in r.sysctl}))
            kernel = any(r.kernel is not None for r in rules)
            index = self._by_case[scenario] = (axes, sysctls, kernel, {})
        axes, sysctls, kernel, seen = index
        case_axes = case.get("axes") or {}
        values = effective_sysctls(case, run) if sysctls else {}
        key = (tuple(_hashable(case_axes.get(a)) for a in axes),
               (run or {}).get("os_release") if kernel else None,
               tuple(_hashable(values.get(n)) for n in sysctls))
        if key not in seen:
            seen[key] = find_rule(rules, case, run)
        return seen[key]

    def rules_for(self, scenario):
        """List of rules, [] when the file does not exist; raises ExpectationError."""
        if scenario not in self._cache:
            path = self.path_for(scenario)
            try:
                if path is None or not os.path.exists(path):
                    self._cache[scenario] = []
                else:
                    self._cache[scenario] = load_rules(path, self.os_name)
            except ExpectationError as e:
                self._cache[scenario] = e
        got = self._cache[scenario]
        if isinstance(got, ExpectationError):
            raise got
        return got


def expectation_files(manifest):
    """(scenario, path, stem) of every <os>.yaml beside a case.yaml in the manifest, sorted;
    files with a stem that names no OS come with stem None, and so do <os>.yml files, whose
    rules nothing would read (lint says so)."""
    found = []
    for s in manifest.scenarios.values():
        try:
            names = sorted(os.listdir(s.dir))
        except OSError:
            continue
        for name in names:
            if name.endswith(".yaml") and name != "case.yaml":
                stem = name[:-5]
                found.append((s.name, os.path.join(s.dir, name),
                              stem if stem in oses.KNOWN_STEMS else None))
            elif name.endswith(".yml"):
                found.append((s.name, os.path.join(s.dir, name), None))
    return found


# ---- matching ---------------------------------------------------------------------------

def _hashable(v):
    return v if v is None or isinstance(v, (str, int, float, bool)) else repr(v)


def effective_sysctls(case, run):
    """The sysctl values in effect for a case: the run's, overlaid with the case's own."""
    values = dict((run or {}).get("sysctls") or {})
    values.update(case.get("sysctl") or {})
    return values


def when_holds(rule, axes):
    for axis, allowed in rule.when.items():
        v = axes.get(axis)
        if v is None or (v if type(v) is str else norm(v)) not in allowed:
            return False
    return True


def rule_applies(rule, case, run):
    if not when_holds(rule, case.get("axes") or {}):
        return False
    if rule.kernel is not None:
        try:
            if not rule.kernel.contains(parse_release((run or {}).get("os_release", ""))):
                return False
        except VersionError:
            return False
    if rule.sysctl:
        values = effective_sysctls(case, run)
        for name, allowed in rule.sysctl.items():
            if name not in values or norm(values[name]) not in allowed:
                return False
    return True


def find_rule(rules, case, run):
    """The first rule whose conditions all hold for this case on this run, or None."""
    for rule in rules:
        if rule_applies(rule, case, run):
            return rule
    return None


def find_documented_rule(rules, axes, release=None):
    """Without a run: the first rule whose `when` holds and, given the release a documented
    column describes, whose kernel range contains it.  Conditions left undecided (sysctls;
    the kernel range without a release) make the caller say "applies if ..."
    (conditions_text)."""
    version = None
    if release is not None:
        try:
            version = parse_release(release)
        except VersionError:
            version = None
    for rule in rules:
        if when_holds(rule, axes) and (version is None or rule.kernel is None
                                       or rule.kernel.contains(version)):
            return rule
    return None


def conditions_text(rule, kernel_decided=False):
    conds = []
    if rule.kernel is not None and not kernel_decided:
        conds.append("release %s" % rule.kernel)
    if rule.sysctl:
        conds.append(", ".join("%s=%s" % (k, "|".join(v)) for k, v in rule.sysctl.items()))
    return ("applies if " + " and ".join(conds)) if conds else ""
