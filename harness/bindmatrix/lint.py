"""./bindmatrix lint [PATH...]: every <os>.yaml checked against the manifest of its cases.

An expectation file of an OS that is never run here is checked as thoroughly as Linux's:

  - the file itself: YAML, rule keys, types, provenance (observed needs seen_on,
    documented needs source), placeholders left by `expect` (why/source "TODO");
  - `when`: every axis is one of the scenario's, every value one it takes;
  - results: every word is ok, not-run, a word the runner makes up, or an errno name the
    runner knows on some OS (so `EIU` or `b.lsten` fail, naming file and line);
  - each rule matches at least one case, and can fire: an earlier rule that needs nothing
    more of the host does not take every case it matches;
  - for the cases a rule can take: it names only steps they record, says what each observed
    step gives, and names the receivers of each deliver step;
  - cases with the same sockets and steps (a story scenario that is a slice of a bigger one,
    e.g. tcp/restart-with-established-child of tcp/bind-conflict) are expected the same.

Exit status: 0 clean, 1 problems (each as file:line: field 'x': message), 2 no manifest.
"""

import argparse
import difflib
import os
import re
import sys
from collections import defaultdict

from . import capabilities as capabilities_mod, documented as documented_mod, \
    manifest as manifest_mod
from .compare import display_path
from .expectations import (ExpectationError, UNKNOWN, expectation_files, load_rules, norm,
                           when_holds)
from .yamlio import InputError, field_problem

# a document bindmatrix's authors had and its users do not: a source must be one a reader can
# follow (a repository path and function, a man page, a commit, a test)
UNFOLLOWABLE = re.compile(r"shared reference|bind-semantics\.md|\.\./shared", re.I)


class _Lint:
    def __init__(self, manifest, references=None):
        self.m = manifest
        self.references = references or {}      # documented.load(): stems whose rules need
        #                                         a version range
        self.words = manifest.step_results()
        self.problems = []
        self.rules = {}             # (scenario, stem) -> [Rule]
        self.nrules = 0

    def bad(self, path, line, where, message):
        self.problems.append(field_problem(display_path(path), line, where, message))

    # ---- one file ------------------------------------------------------------------------

    def file(self, scenario, path, stem):
        if stem is None and path.endswith(".yml"):
            self.problems.append("%s: expectation files end in .yaml (%s): nothing reads "
                                 "this one" % (display_path(path),
                                               os.path.basename(path)[:-4] + ".yaml"))
            return
        if stem is None:
            self.problems.append("%s: not an expectation file name (one of: %s)"
                                 % (display_path(path), ", ".join(sorted(
                                     s + ".yaml" for s in _stems()))))
            return
        try:
            rules = load_rules(path, stem)
        except (ExpectationError, InputError) as e:
            self.problems.extend(e.problems)
            return
        self.rules[(scenario, stem)] = rules
        self.nrules += len(rules)
        scen = self.m.scenarios[scenario]
        # each rule's cases, as positions in scen.cases: a case is tried against each rule
        # once, not again for every later rule
        matches = []
        by_value = _axis_index(scen.cases)
        for i, rule in enumerate(rules):
            self.texts(rule)
            self.version_range(rule, stem)
            self.when(rule, scen)
            self.words_of(rule)
            matched = _matching(rule, by_value, len(scen.cases))
            matches.append(matched)
            if not matched:
                if not any(a not in scen.axes for a in rule.when):
                    self.bad(path, rule.line, "when", "matches no case of %s" % scenario)
                continue
            # only an earlier rule that matches some of these cases can take them
            takers = [j for j in range(i) if not matches[j].isdisjoint(matched)
                      and _takes_whenever(rules[j], rule)]
            takeable = [scen.cases[k] for k in sorted(matched.difference(
                *(matches[j] for j in takers)))]
            if not takeable:
                firsts = sorted({next(rules[j].line for j in takers if k in matches[j])
                                 for k in matched})
                self.bad(path, rule.line, "when", "can never fire: the rule%s on line%s %s "
                         "take%s every case it matches" % (
                             "s" if len(firsts) > 1 else "", "s" if len(firsts) > 1 else "",
                             ", ".join(map(str, firsts)), "" if len(firsts) > 1 else "s"))
                continue
            if rule.status is None:
                self.steps(rule, takeable)

    def texts(self, rule):
        for key in ("why", "source"):
            if UNFOLLOWABLE.search(getattr(rule, key)):
                self.bad(rule.path, rule.text_lines.get(key, rule.line), key,
                         "cites a document the users of bindmatrix do not have: cite the "
                         "upstream source it points to")
            if key in rule.placeholders:
                self.bad(rule.path, rule.text_lines.get(key, rule.line), key,
                         "still a placeholder (%r): say %s" % (
                             getattr(rule, key)[:40],
                             "why the OS behaves this way" if key == "why"
                             else "where a reader can check it"))

    def version_range(self, rule, stem):
        """A documented rule about an OS's kernel says which releases it was read for (rules
        about what the runner itself does, status skipped or error, hold for any)."""
        ref = self.references.get(stem)
        if (ref is not None and rule.provenance == "documented" and rule.status is None
                and rule.kernel is None):
            self.bad(rule.path, rule.line, "kernel", "a documented rule states the releases "
                     "it holds for: add a kernel range read from its source (e.g. \">=%s\"; "
                     "the report's %s column is %s)" % (ref.release, stem, ref.name))

    def when(self, rule, scen):
        for axis, values in rule.when.items():
            line = rule.when_lines.get(axis, rule.line)
            if axis not in scen.axes:
                self.bad(rule.path, line, "when.%s" % axis, "%s has no axis %r (axes: %s)%s"
                         % (scen.name, axis, ", ".join(scen.axes) or "none",
                            _close(axis, scen.axes)))
                continue
            known = scen.axes[axis].values
            for v in values:
                if v not in known:
                    self.bad(rule.path, line, "when.%s" % axis, "%r is not a value of axis %s "
                             "in %s (values: %s)%s" % (v, axis, scen.name, ", ".join(known),
                                                       _close(v, known)))

    def words_of(self, rule):
        for label, exp in rule.expect.items():
            if isinstance(exp, dict):
                continue
            for word in exp if isinstance(exp, list) else [exp]:
                if word != UNKNOWN and word not in self.words:
                    self.bad(rule.path, rule.lines.get(label, rule.line), "expect.%s" % label,
                             "%r is not a step result bindmatrix knows (ok, not-run, %s, or an "
                             "errno name such as EADDRINUSE)%s"
                             % (word, ", ".join(sorted(self.m.vocabulary.get("runner_results")
                                                       or {}) or ["-"]),
                                _close(word, self.words)))

    def steps(self, rule, cases):
        """Labels and receivers against every case the rule can take."""
        path = rule.path
        for label, exp in rule.expect.items():
            line = rule.lines.get(label, rule.line)
            having = [c for c in cases if c.step(label) is not None]
            if not having:
                labels = sorted({l for c in cases for l in c.labels})
                self.bad(path, line, "expect.%s" % label, "unknown step label %r: the cases "
                         "this rule applies to record %s%s" % (label, ", ".join(labels),
                                                               _close(label, labels)))
                continue
            lacking = [c for c in cases if c.step(label) is None]
            if lacking:
                self.bad(path, line, "expect.%s" % label, "%d of the cases this rule applies "
                         "to have no step %r, e.g. %s (narrow `when`, or give those cases "
                         "their own rule)" % (len(lacking), label, lacking[0].id))
            step = having[0].step(label)
            if step.get("precondition") and exp not in ("ok", "not-run", UNKNOWN):
                self.bad(path, line, "expect.%s" % label, "%s is a precondition: when it "
                         "fails the case is an error, not an observation (say {status: "
                         "error, reason: \"%s failed with ...\"}, or expect it ok)"
                         % (label, label))
            if step["op"] == "deliver":
                if not isinstance(exp, dict):
                    self.bad(path, line, "expect.%s" % label, "a deliver step always runs: "
                             "say who receives, {%s} (a failed probe makes the case an error)"
                             % ", ".join("%s: all|none|some" % r for r in step["receivers"]))
                    continue
                for c in having:
                    recv = c.step(label)["receivers"]
                    extra = [r for r in exp if r not in recv]
                    missing = [r for r in recv if r not in exp]
                    if extra or missing:
                        self.bad(path, line, "expect.%s" % label, "receivers of %s are %s%s%s"
                                 % (c.id, ", ".join(recv),
                                    "; not a receiver: %s" % ", ".join(extra) if extra else "",
                                    "; not said: %s" % ", ".join(missing) if missing else ""))
                        break
            elif isinstance(exp, dict):
                self.bad(path, line, "expect.%s" % label, "only a deliver step has receivers; "
                         "%s is a %s step" % (label, step["op"]))
        said = set(rule.expect)
        for c in cases:
            missing = [l for l in c.observed_labels if l not in said]
            if missing:
                self.bad(path, rule.text_lines.get("expect", rule.line), "expect",
                         "does not say what step%s %s of %s give%s (every observed step needs "
                         "its result; \"?\" in a documented rule)"
                         % ("s" if len(missing) > 1 else "", ", ".join(missing), c.id,
                            "" if len(missing) > 1 else "s"))
                break

    # ---- across scenarios ------------------------------------------------------------------

    def scenarios(self):
        """A scenario's own ref and why follow the same rule as an expectation's source."""
        for scen in self.m.scenarios.values():
            for key in ("ref", "why"):
                if UNFOLLOWABLE.search(getattr(scen, key) or ""):
                    self.bad(scen.file, _line_of(scen.file, key), key,
                             "cites a document the users of bindmatrix do not have: cite "
                             "the upstream source it points to")

    def claims(self, path):
        from .report.claims import load_claims
        try:
            claims = load_claims(path, self.m, [])
        except InputError as e:
            self.problems.extend(e.problems)
            return
        for c in claims:
            if UNFOLLOWABLE.search(c.source) or UNFOLLOWABLE.search(c.note):
                self.bad(path, c.line, "source", "claim %s cites a document the users of "
                         "bindmatrix do not have: cite the upstream source" % c.id)

    def same_shapes(self):
        """Cases that do the same thing in two scenarios must be expected the same."""
        groups = defaultdict(list)
        for c in self.m.cases:
            groups[c.shape()].append(c)
        reported = set()
        stems = {stem for (_s, stem) in self.rules}
        probes = {stem: _release_probes(r for (_s, st), rules in self.rules.items()
                                        if st == stem for r in rules) for stem in stems}
        for cases in groups.values():
            if len({c.scenario for c in cases}) < 2:
                continue
            for stem in sorted(stems):
                seen = {}
                for c in cases:
                    rules = self.rules.get((c.scenario, stem))
                    if not rules:
                        continue
                    key, where = _resolution(c, rules, probes[stem])
                    if key is None:
                        continue
                    for other_key, (oc, owhere) in seen.items():
                        if other_key != key and (owhere, where) not in reported:
                            reported.add((owhere, where))
                            path, line = where
                            self.bad(path, line, "expect", "%s does what %s does (the same "
                                     "sockets and steps) but is expected differently on %s "
                                     "than by %s:%d" % (c.id, oc.id, stem,
                                                        display_path(owhere[0]), owhere[1]))
                    seen.setdefault(key, (c, where))


def _axis_index(cases):
    """{axis: {value as a rule names it: positions of the cases with it}}: a rule's cases
    are then a few set intersections, not every case tried against every rule."""
    index = {}
    for k, c in enumerate(cases):
        for axis, v in c.axes.items():
            if v is not None:
                index.setdefault(axis, {}).setdefault(norm(v), set()).add(k)
    return index


def _matching(rule, by_value, ncases):
    """The positions of the cases the rule's `when` holds for (as when_holds decides)."""
    matched = set(range(ncases))
    for axis, allowed in rule.when.items():
        values = by_value.get(axis, {})
        matched &= set().union(*(values.get(a, ()) for a in allowed))
        if not matched:
            break
    return matched


def _takes_whenever(earlier, later):
    """Whether the earlier rule's host conditions hold on every host the later rule's do:
    then it takes each case both match (its kernel range contains the later one's, and it
    asks no sysctl or the same ones)."""
    if earlier.sysctl and earlier.sysctl != later.sysctl:
        return False
    if earlier.kernel is None:
        return True
    if later.kernel is None:
        return False
    probes = _release_probes([earlier, later])
    return all(earlier.kernel.contains(p) for p in probes if later.kernel.contains(p))


def _release_probes(rules):
    """Releases that tell every kernel range of these rules apart: each bound, just below
    and just above it, and the extremes (a release compares as a tuple: (13, 999999) lies
    below 14.0, (14, 0, 1) above it)."""
    points = {(0,), (10 ** 6,)}
    for r in rules:
        for _op, v in (r.kernel.clauses if r.kernel is not None else ()):
            v = tuple(v)
            points.update({v, v + (1,), v[:-1] + (v[-1] - 1, 10 ** 6)})
    return sorted(points)


def _resolution(case, rules, probes=((0,),)):
    """What the rules say for a case on any host, by step position: per release probe, the
    when-matching rules whose kernel range holds it, up to the first that needs nothing
    more of the host (sysctl conditions are kept as written); None when no rule matches."""
    position = {s["label"]: i for i, s in enumerate(case.steps)}
    sockets = {s["name"]: i for i, s in enumerate(case.sockets)}
    matching = [r for r in rules if when_holds(r, case.axes)]
    if not matching:
        return None, None
    said = {}
    for r in matching:
        if r.status is not None:
            said[id(r)] = ("status", r.status, r.reason)
        else:
            said[id(r)] = tuple(sorted(
                (position.get(label, label),
                 tuple(sorted((sockets.get(k, k), str(v)) for k, v in exp.items()))
                 if isinstance(exp, dict) else str(exp))
                for label, exp in r.expect.items()))
    out = []
    for p in probes:
        chain = []
        for r in matching:
            if r.kernel is not None and not r.kernel.contains(p):
                continue
            sysctl = tuple(sorted((k, tuple(v)) for k, v in r.sysctl.items()))
            chain.append((sysctl, said[id(r)]))
            if not sysctl:
                break
        out.append(tuple(chain))
    return tuple(out), (matching[0].path, matching[0].line)


def _line_of(path, key):
    """The line where a top-level key of a case file stands (1 if it cannot be told)."""
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.startswith(key + ":"):
                    return n
    except OSError:
        pass
    return 1


def _close(word, choices):
    near = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.75)
    return " (did you mean %r?)" % near[0] if near else ""


def _stems():
    from .oses import KNOWN_STEMS
    return KNOWN_STEMS


def lint(manifest, claims=None, references=None, capabilities=None, summary=None):
    """(problems, files, rules) for every expectation file of the manifest's scenarios, their
    case files' references, a claims file, a capabilities file and the summary's tables
    (references: documented.load(), the OSes whose documented rules need a version range)."""
    lt = _Lint(manifest, references)
    files = expectation_files(manifest)
    for scenario, path, stem in files:
        lt.file(scenario, path, stem)
    lt.same_shapes()
    lt.scenarios()
    if claims and os.path.exists(claims):
        lt.claims(claims)
    if capabilities and os.path.exists(capabilities):
        try:
            capabilities_mod.load(capabilities, manifest.vocabulary)
        except InputError as e:
            lt.problems.extend(e.problems)
    if summary and os.path.exists(summary):
        lt.problems.extend(_summary_problems(summary, manifest))
    return lt.problems, len(files), lt.nrules


def _summary_problems(path, manifest):
    """The summary's tables against the cases they pivot: every scenario, axis, value and
    step they name must be the cases' own."""
    from . import summary as summary_mod
    try:
        views = summary_mod.load_views(path)
    except summary_mod.SummaryError as e:
        return str(e).splitlines()
    model = summary_mod.model_of(manifest.cases)
    return summary_mod.check_views(views, display_path(path), model) + [
        "%s: table %d: %r is not a scenario of these cases" % (display_path(path), n, scen)
        for n, scen in summary_mod.absent(views, model)]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bindmatrix lint", description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", metavar="PATH",
                    help="case folders or case.yaml files (default: cases/)")
    args = ap.parse_args(argv)
    try:
        manifest = manifest_mod.from_runner(paths=args.paths or None)
    except manifest_mod.ManifestError as e:
        print("bindmatrix lint: %s" % e, file=sys.stderr)
        return 2
    roots = args.paths or [manifest_mod.DEFAULT_CASES]

    def suite_file(name):
        """The first of the folders given that holds the suite's file name, or None."""
        return next((os.path.join(r, name) for r in roots if os.path.isdir(r)
                     and os.path.exists(os.path.join(r, name))), None)
    try:
        references = documented_mod.load(suite_file("documented.yaml") or
                                         documented_mod.DEFAULT)
    except InputError as e:
        for p in e.problems:
            print(p)
        return 1
    problems, nfiles, nrules = lint(manifest, suite_file("claims.yaml"), references,
                                    suite_file("capabilities.yaml"), suite_file("summary.yaml"))
    for p in problems:
        print(p)
    print("bindmatrix lint: %d expectation file%s, %d rule%s, %d case%s: %s"
          % (nfiles, "" if nfiles == 1 else "s", nrules, "" if nrules == 1 else "s",
             len(manifest.cases), "" if len(manifest.cases) == 1 else "s",
             "%d problem%s" % (len(problems), "" if len(problems) == 1 else "s")
             if problems else "clean"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
