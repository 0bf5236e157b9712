"""./bindmatrix expect RESULTS [--write]: observed rules for the cases that have none.

For each scenario, the observed cases of RESULTS that no rule of their <os>.yaml covers are
grouped by outcome, and each group becomes as few rules as possible: `when` keeps only the
axes that separate it from the scenario's other uncovered cases (those with another outcome,
and those this run did not observe), so cases that differ only in axes that do not change the
outcome share a rule.  The rules are printed, or with --write appended to the files; an
existing rule is never changed, and the new ones come after it, so they only ever take the
cases that had none.  Their why and source are placeholders that lint refuses until a person
fills them in.
"""

import argparse
import json
import os
import sys
from collections import OrderedDict

from . import atomic, judge, manifest as manifest_mod, oses
from .compare import yaml_scalar, display_path, expect_text
from .expectations import PLACEHOLDER, ExpectationError, ExpectationStore, find_rule, norm
from .results import ResultsError, load_results

TODO_WHY = PLACEHOLDER + ": why the kernel does this"
TODO_SOURCE = PLACEHOLDER + ": a source a reader can follow (a man page, a function, a commit)"


def _matches(when, axes):
    return all(norm(axes.get(a)) in values for a, values in when.items())


def generalise(group, others, order):
    """[when] covering every case of group and none of others (axes dicts); order: the
    scenario's axis names, the ones to drop first last."""
    when = OrderedDict((a, sorted({norm(c[a]) for c in group}, key=str)) for a in order)
    if any(_matches(when, o) for o in others):
        # split on the axis with the most values in the group, and try again for each part
        axis = max((a for a in order if len(when[a]) > 1), key=lambda a: len(when[a]),
                   default=None)
        if axis is None:
            return [when]       # cannot happen for distinct cases; keep them exact
        parts = OrderedDict()
        for c in group:
            parts.setdefault(norm(c[axis]), []).append(c)
        return [w for part in parts.values() for w in generalise(part, others, order)]
    for a in order:             # drop every constraint that others do not need
        trial = OrderedDict((k, v) for k, v in when.items() if k != a)
        if not any(_matches(trial, o) for o in others):
            when = trial
    return [when]


def _when_text(when):
    def one(values):
        return yaml_scalar(values[0]) if len(values) == 1 else \
            "[%s]" % ", ".join(yaml_scalar(v) for v in values)
    return "{%s}" % ", ".join("%s: %s" % (a, one(v)) for a, v in when.items())


def rules_for_scenario(scen, cases, store, run):
    """YAML lines of new rules for one scenario, or [] when every case has a rule."""
    rules = store.rules_for(scen.name)
    uncovered = [cd for cd in scen.cases
                 if find_rule(rules, {"axes": cd.axes, "sysctl": cd.sysctl}, run) is None]
    if not uncovered:
        return []
    by_outcome = OrderedDict()
    observed = set()
    for cd in uncovered:
        case = cases.get(cd.id)
        if case is None or case["status"] != "observed":
            continue
        observed.add(cd.id)
        by_outcome.setdefault(expect_text(case, cd), []).append(cd)
    order = [a.name for a in scen.axes.values() if a.varies]
    lines = []
    for outcome, group in by_outcome.items():
        others = [cd.axes for cd in uncovered if cd not in group]
        for when in generalise([cd.axes for cd in group], others, order):
            lines += rule_lines(when, outcome, run.get("os_release", "?"))
    return lines


def rule_lines(when, outcome, release):
    head = ["- when: %s" % _when_text(when), "  expect: %s" % outcome] if when \
        else ["- expect: %s" % outcome]
    return head + ["  provenance: observed", "  seen_on: %s" % json.dumps(release),
                   '  why: "%s"' % TODO_WHY, '  source: "%s"' % TODO_SOURCE]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bindmatrix expect", description=__doc__.split("\n\n")[0])
    ap.add_argument("results", metavar="RESULTS", help="a results .jsonl file")
    ap.add_argument("--cases", default=None, metavar="DIR",
                    help="cases folder (default: the repository's cases/)")
    ap.add_argument("--write", action="store_true",
                    help="append the rules to the expectation files (else: print them)")
    args = ap.parse_args(argv)
    try:
        results = load_results(args.results)
        manifest = manifest_mod.from_runner(paths=[args.cases] if args.cases else None)
    except (ResultsError, manifest_mod.ManifestError) as e:
        print("bindmatrix expect: %s" % e, file=sys.stderr)
        return 2
    run = results.run
    stem = oses.stem_of(run)
    if stem is None:
        print("bindmatrix expect: %s has no expectation files" % run["os"], file=sys.stderr)
        return 2
    store = ExpectationStore(manifest, stem)
    cases = results.by_id
    ran = {c["scenario"] for c in results.cases}
    foreign = sorted(ran - set(manifest.scenarios))
    if foreign:
        # no file to write their rules to: saying "every case has a rule" would be false
        print("bindmatrix expect: %s: %s" % (display_path(args.results),
                                             judge.foreign_note(run, foreign[:3])),
              file=sys.stderr)
        return 2
    new = OrderedDict()
    for scen in manifest.scenarios.values():
        if scen.name not in ran:
            continue
        try:
            lines = rules_for_scenario(scen, cases, store, run)
        except ExpectationError as e:
            print("\n".join(e.problems), file=sys.stderr)
            print("bindmatrix expect: fix the file first (./bindmatrix lint)", file=sys.stderr)
            return 2
        if lines:
            new[store.path_for(scen.name)] = lines
    if not new:
        print("bindmatrix expect: every observed case of %s has a rule"
              % display_path(args.results))
        return 0
    header = ("# added by ./bindmatrix expect from %s: check each rule, then fill in why and "
              "source" % os.path.basename(args.results))
    nrules = sum(sum(1 for line in lines if line.startswith("-")) for lines in new.values())
    written = {}
    for path, lines in new.items():
        text = "\n".join([header] + lines) + "\n"
        if not args.write:
            print("# %s" % display_path(path))
            print(text)
            continue
        old = ""
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                old = f.read()
        prefix = "" if not old or old.endswith("\n") else "\n"
        prefix += "\n" if old.strip() else ""
        written[path] = old + prefix + text
    # all the files or none: appended one by one, a failure (a full disk, a ^C) left some
    # with their new rules and the others without
    atomic.write_all(written)
    print("bindmatrix expect: %d rule%s for %d file%s%s" % (
        nrules, "" if nrules == 1 else "s", len(new), "" if len(new) == 1 else "s",
        " appended; fill in their why and source (lint refuses the placeholders)"
        if args.write else "; --write appends them"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
