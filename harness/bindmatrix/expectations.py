"""Expectation files: cases/<scenario>/<os>.yaml, a list of rules, first match wins.

Each rule:
  when:       {axis: value | [values]}        all must hold; absent = every case
  kernel:     ">=4.6,<6.1"                     on the run's os_release
  sysctl:     {name: value | [values]}         on case['sysctl'] overlaid on run['sysctls']
  expect:     {label: ok | ERRNO | not-run | "?",  deliver-label: {receiver: all|none|some|N|"?"}}
              or {status: skipped}
  provenance: observed (needs seen_on) | documented (needs source)
  seen_on, why, source

load_rules() checks every rule and raises ExpectationError listing each problem as
file:line: field 'x.y': message.  find_rule() picks the first rule that applies to a case.
"""

import os
import re
from dataclasses import dataclass, field

import yaml

from . import oses
from .versions import VersionError, parse_range, parse_release

RULE_KEYS = ("when", "kernel", "sysctl", "expect", "provenance", "seen_on", "why", "source")
PROVENANCES = ("observed", "documented")
STEP_RESULT = re.compile(r"^(ok|not-run|E[A-Z0-9]+)$")
DELIVERY_CLASSES = ("all", "none", "some")
UNKNOWN = "?"


class ExpectationError(Exception):
    """One or more problems in expectation files; .problems is a list of 'file:line: ...'."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# ---- YAML with line numbers -------------------------------------------------------------

class LineDict(dict):
    """A mapping that remembers its own line and each key's line (1-based)."""
    line = 0
    key_lines = None

    def line_of(self, key):
        return (self.key_lines or {}).get(key, self.line)


class _Loader(yaml.SafeLoader):
    """SafeLoader recording lines; booleans are only true/false (YAML 1.2), so an axis
    value such as `on`, `no` or `off` stays the string it is in the case file."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                              re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, "duplicate key %r" % key, key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path):
    """Parse a YAML file with line-numbered mappings; YAML errors become ExpectationError."""
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=_Loader)
    except OSError as e:
        raise ExpectationError(["%s: cannot read: %s" % (path, e.strerror or e)]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        what = " ".join(x for x in (e.context, e.problem) if x)
        hint = ""
        if "block scalar" in what or "expected <block end>" in what:
            hint = ' (a value starting with > or < must be quoted: kernel: ">=4.6")'
        raise ExpectationError(["%s:%d: YAML syntax: %s%s" % (path, line, what, hint)]) from None
    except yaml.YAMLError as e:
        raise ExpectationError(["%s: YAML: %s" % (path, e)]) from None


# ---- rules ------------------------------------------------------------------------------

@dataclass
class Rule:
    path: str
    line: int
    index: int                      # 0-based position in the file
    when: dict = field(default_factory=dict)     # axis -> list of normalized values
    kernel: object = None           # VersionRange or None
    sysctl: dict = field(default_factory=dict)   # name -> list of normalized values
    expect: dict = field(default_factory=dict)
    provenance: str = ""
    seen_on: list = field(default_factory=list)
    why: str = ""
    source: str = ""

    @property
    def location(self):
        return "%s:%d" % (self.path, self.line)

    @property
    def expects_skip(self):
        return self.expect.get("status") == "skipped"


def norm(value):
    """Axis / sysctl values compare as text: True -> 'true', 5 -> '5'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_scalar(v):
    return isinstance(v, (str, int, bool)) and not isinstance(v, float)


class _Checker:
    def __init__(self, path, os_stem, axes=None):
        self.path = path
        self.os_stem = os_stem
        self.axes = axes            # axis -> set of values (None: unknown), or None
        self.problems = []

    def bad(self, line, where, message):
        self.problems.append("%s:%d: field '%s': %s" % (self.path, line, where, message))

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
            self.bad(line, where, "must be a value or a list of values, not %s" % _kind(v))
            return None
        return [norm(v)]

    def rule(self, index, raw):
        line = raw.line if isinstance(raw, LineDict) else 0
        where = "[%d]" % index
        if not isinstance(raw, dict):
            self.bad(line, where, "a rule must be a mapping (when/expect/...), not %s" % _kind(raw))
            return None
        rule = Rule(path=self.path, line=line, index=index)
        for key in raw:
            if key not in RULE_KEYS:
                self.bad(raw.line_of(key), str(key),
                         "unknown key (rule keys: %s)" % ", ".join(RULE_KEYS))
        if "when" in raw:
            self.when(raw, rule)
        if "kernel" in raw:
            try:
                rule.kernel = parse_range(raw["kernel"])
            except VersionError as e:
                self.bad(raw.line_of("kernel"), "kernel", str(e))
        if "sysctl" in raw:
            self.sysctl(raw, rule)
        self.text_fields(raw, rule)
        if "expect" not in raw:
            self.bad(line, "expect", "is required: the outcome of every step the case records")
        else:
            self.expect(raw, rule)
        return rule

    def when(self, raw, rule):
        when = raw["when"]
        if not isinstance(when, dict):
            self.bad(raw.line_of("when"), "when", "must be a mapping {axis: value or [values]}")
            return
        for axis in when:
            where = "when.%s" % axis
            line = when.line_of(axis)
            vals = self.values(when, axis, where, line)
            if vals is None:
                continue
            rule.when[str(axis)] = vals
            if self.axes is not None:
                if axis not in self.axes:
                    self.bad(line, where, "case.yaml has no axis %r (axes: %s)"
                             % (axis, ", ".join(sorted(self.axes)) or "none"))
                    continue
                known = self.axes[axis]
                if known is not None:
                    for v in vals:
                        if v not in known:
                            self.bad(line, where, "%r is not a value of axis %s in case.yaml "
                                     "(values: %s)" % (v, axis, ", ".join(sorted(known))))

    def sysctl(self, raw, rule):
        sysctl = raw["sysctl"]
        if not isinstance(sysctl, dict):
            self.bad(raw.line_of("sysctl"), "sysctl", "must be a mapping {name: value}")
            return
        for name in sysctl:
            vals = self.values(sysctl, name, "sysctl.%s" % name, sysctl.line_of(name))
            if vals is not None:
                rule.sysctl[str(name)] = vals

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

    def expect(self, raw, rule):
        expect = raw["expect"]
        line = raw.line_of("expect")
        if not isinstance(expect, dict) or not expect:
            self.bad(line, "expect", "must be a non-empty mapping {step label: result}")
            return
        if "status" in expect:
            if expect["status"] != "skipped":
                self.bad(expect.line_of("status"), "expect.status",
                         "%r: the only status an expectation may give is skipped"
                         % (expect["status"],))
            elif len(expect) > 1:
                self.bad(expect.line_of("status"), "expect.status",
                         "status: skipped stands alone (a skipped case records no steps)")
            else:
                rule.expect = {"status": "skipped"}
            return
        documented = rule.provenance == "documented"
        out = {}
        for label, value in expect.items():
            where = "expect.%s" % label
            vline = expect.line_of(label)
            if isinstance(value, dict):
                receivers = {}
                for recv, cls in value.items():
                    rwhere = "%s.%s" % (where, recv)
                    rline = value.line_of(recv)
                    if isinstance(cls, bool) or not (
                            cls in DELIVERY_CLASSES or cls == UNKNOWN
                            or (isinstance(cls, int) and cls >= 0)):
                        self.bad(rline, rwhere, "%r: a receiver's count is all, none, some, a "
                                 "number or \"?\"" % (cls,))
                        continue
                    if cls == UNKNOWN and not documented:
                        self.bad(rline, rwhere, '"?" (unknown) is only for documented rules')
                        continue
                    receivers[str(recv)] = cls
                if not value:
                    self.bad(vline, where, "name each receiver: {a: all, b: none}")
                out[str(label)] = receivers
            elif isinstance(value, str) and (STEP_RESULT.match(value) or value == UNKNOWN):
                if value == UNKNOWN and not documented:
                    self.bad(vline, where, '"?" (unknown) is only for documented rules')
                    continue
                out[str(label)] = value
            else:
                self.bad(vline, where, "%r: a step's result is ok, not-run, an errno name "
                         "(EADDRINUSE), \"?\" or, for a deliver step, {receiver: all|none|"
                         "some|N}" % (value,))
        rule.expect = out


def _kind(v):
    return {dict: "a mapping", LineDict: "a mapping", list: "a list",
            type(None): "nothing"}.get(type(v), type(v).__name__)


# ---- case.yaml axes (to catch typos in `when`) ------------------------------------------

def scenario_axes(case_yaml):
    """Axis name -> set of possible values (None when unknown) from a case.yaml, or None if
    it cannot be read; only used to check `when` for typos."""
    try:
        doc = load_yaml(case_yaml)
    except ExpectationError:
        return None
    if not isinstance(doc, dict):
        return None
    axes = {}
    for name, value in (doc.get("axes") or {}).items() if isinstance(doc.get("axes"), dict) else ():
        axes[str(name)] = {norm(value)} if _is_scalar(value) else None
    matrix = doc.get("matrix")
    if isinstance(matrix, dict):
        for name, values in matrix.items():
            if isinstance(values, list) and all(_is_scalar(v) for v in values):
                axes[str(name)] = {norm(v) for v in values}
            else:
                axes[str(name)] = None
    derive = doc.get("derive")
    if isinstance(derive, dict):
        for by_value in derive.values():
            if not isinstance(by_value, dict):
                continue
            for names in by_value.values():
                if isinstance(names, dict):
                    for name, v in names.items():
                        if axes.get(str(name), set()) is None:
                            continue
                        if _is_scalar(v):
                            axes.setdefault(str(name), set()).add(norm(v))
                        else:
                            axes[str(name)] = None
    return axes


# ---- loading ----------------------------------------------------------------------------

def load_rules(path, os_stem=None, check_axes=True):
    """Parse and check one expectation file -> list of Rule (raises ExpectationError)."""
    path = str(path)
    if os_stem is None:
        os_stem = os.path.splitext(os.path.basename(path))[0]
    doc = load_yaml(path)
    if doc is None:
        doc = []
    if not isinstance(doc, list):
        line = doc.line if isinstance(doc, LineDict) else 1
        raise ExpectationError(["%s:%d: the file must be a list of rules (- when: ... expect: "
                                "...), not %s" % (path, line, _kind(doc))])
    axes = None
    if check_axes:
        case_yaml = os.path.join(os.path.dirname(path), "case.yaml")
        if os.path.exists(case_yaml):
            axes = scenario_axes(case_yaml)
    checker = _Checker(path, os_stem, axes)
    rules = [checker.rule(i, raw) for i, raw in enumerate(doc)]
    if checker.problems:
        raise ExpectationError(checker.problems)
    return rules


class ExpectationStore:
    """Rules per scenario for one OS, loaded once each."""

    def __init__(self, cases_dir, os_name):
        self.cases_dir = str(cases_dir)
        self.os_name = os_name
        self.filename = oses.expectation_filename(os_name)
        self._cache = {}

    def path_for(self, scenario):
        if self.filename is None:
            return None
        return os.path.join(self.cases_dir, *scenario.split("/"), self.filename)

    def rules_for(self, scenario):
        """List of rules, [] when the file does not exist; raises ExpectationError."""
        if scenario not in self._cache:
            path = self.path_for(scenario)
            try:
                if path is None or not os.path.exists(path):
                    self._cache[scenario] = []
                else:
                    self._cache[scenario] = load_rules(path, oses.expectation_stem(self.os_name))
            except ExpectationError as e:
                self._cache[scenario] = e
        got = self._cache[scenario]
        if isinstance(got, ExpectationError):
            raise got
        return got


def find_expectation_files(cases_dir):
    """Every <os>.yaml beside a case.yaml below cases_dir, sorted; plus stray files, which
    load_all reports."""
    found = []
    for root, dirs, files in os.walk(str(cases_dir)):
        dirs.sort()
        if "case.yaml" not in files:
            continue
        for name in sorted(files):
            if name.endswith(".yaml") and name != "case.yaml":
                found.append(os.path.join(root, name))
    return found


def load_all(cases_dir):
    """Check every expectation file below cases_dir; returns {path: rules} or raises one
    ExpectationError with every problem found."""
    problems, loaded = [], {}
    for path in find_expectation_files(cases_dir):
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem not in oses.KNOWN_STEMS:
            problems.append("%s: not an expectation file name (one of: %s.yaml)"
                            % (path, ".yaml, ".join(sorted(oses.KNOWN_STEMS))))
            continue
        try:
            loaded[path] = load_rules(path, stem)
        except ExpectationError as e:
            problems.extend(e.problems)
    if problems:
        raise ExpectationError(problems)
    return loaded


# ---- matching ---------------------------------------------------------------------------

def effective_sysctls(case, run):
    """The sysctl values in effect for a case: the run's, overlaid with the case's own."""
    values = dict((run or {}).get("sysctls") or {})
    values.update(case.get("sysctl") or {})
    return values


def rule_applies(rule, case, run):
    axes = case.get("axes") or {}
    for axis, allowed in rule.when.items():
        if axis not in axes or norm(axes[axis]) not in allowed:
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
