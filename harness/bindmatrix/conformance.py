"""One host's results judged case by case, and the text the conformance run prints.

  Conformance.of(results_path, manifest) -> every case's verdict (memoized per process, so
                                            the pytest front and the command line share it)
  .blocks(scenario)                      -> the MISMATCH / ERROR / NO EXPECTATION blocks
  .counts(scenarios) / .failed(strict)

The verdicts are the judge's; pytest (harness/test_conformance.py) is a thin front over this.
"""

import collections
import os

from . import capabilities, evidence, judge as judge_mod, oses
from .compare import display_path, format_error, format_mismatch, format_missing, \
    suggest_when_expect
from .expectations import ExpectationStore
from .results import load_checked


class Conformance:
    _memo = {}

    def __init__(self, results, manifest, allow_skip=()):
        self.results = results
        self.manifest = manifest
        self.store = ExpectationStore(manifest, oses.stem_of(results.run))
        self.required = capabilities.required(capabilities.load(), results.run) \
            - frozenset(allow_skip)
        # None and why, when the file has no packet evidence with it to check
        self.evidence_dir, self.evidence_unchecked = evidence.kept(results.path, results.cases)
        self.judged = judge_mod.judge_all(results, manifest, self.store, self.required,
                                          self.evidence_dir)
        self.by_scenario = collections.OrderedDict()
        for item in self.judged:
            self.by_scenario.setdefault(item[0]["scenario"], []).append(item)

    @classmethod
    def of(cls, results_path, manifest, allow_skip=()):
        """The results file judged; ResultsError when it cannot be used.  Its records are
        judged while another process checks their schema (results.load_checked)."""
        def judged(results):
            key = (id(results), id(manifest), tuple(sorted(allow_skip)))
            if key not in cls._memo:
                cls._memo[key] = cls(results, manifest, allow_skip)
            return cls._memo[key]
        cls._last = load_checked(results_path, judged)[1]
        return cls._last

    _last = None

    @classmethod
    def latest(cls):
        """The results judged last in this process (./bindmatrix test counts them)."""
        return cls._last

    @property
    def scenarios(self):
        return list(self.by_scenario)

    def items(self, scenarios=None):
        for scen, items in self.by_scenario.items():
            if scenarios is None or scen in scenarios:
                yield from items

    def counts(self, scenarios=None):
        return judge_mod.count(j.verdict for _c, _d, j in self.items(scenarios))

    def failing(self, strict=False, scenarios=None):
        bad = judge_mod.STRICT_FAILING if strict else judge_mod.FAILING
        return [(c, d, j) for c, d, j in self.items(scenarios) if j.verdict in bad]

    def block(self, case, casedef, j):
        """The text of one failing (or unknown) case."""
        run = self.results.run
        if j.verdict in ("mismatch", "unknown") and j.rule is not None:
            text = format_mismatch(case, j.rule, j.differences, casedef)
            return text if j.verdict == "mismatch" else text.replace("MISMATCH", "UNKNOWN", 1)
        if j.verdict == "error" and case["status"] != "error":
            return "ERROR %s\n  %s" % (case["id"], j.note)
        if j.verdict == "error":
            return format_error(case)
        if j.note.startswith("expectation file broken"):
            return "ERROR %s\n  %s" % (case["id"], j.note)
        if j.note.startswith(judge_mod.FOREIGN):
            return "NO EXPECTATION %s\n  %s" % (case["id"], j.note)
        return format_missing(case, run, run["os"], self.store.path_for(case["scenario"]),
                              casedef)

    def blocks(self, scenario, strict=False):
        return [self.block(c, d, j) for c, d, j in self.failing(strict, [scenario])]

    def skip_reasons(self, scenarios=None):
        return collections.Counter(c.get("reason", "") for c, _d, j in self.items(scenarios)
                                   if j.verdict == "skipped")

    def missing_rules(self, scenarios=None):
        """{expectation file: [suggested rule lines]} for the cases with no expectation."""
        out = collections.OrderedDict()
        for c, d, j in self.items(scenarios):
            if _wants_rules(c, j):
                path = self.store.path_for(c["scenario"]) or "(no expectation files)"
                out.setdefault(path, []).append("\n".join(suggest_when_expect(c, d)))
        return out

    def summary_lines(self, scenarios=None, strict=False):
        """What ./bindmatrix run prints after the tests: counts, skips, every block."""
        counts = self.counts(scenarios)
        lines = [judge_mod.counts_line(counts)]
        if counts["unknown"]:
            lines.append("  %d unknown: the expectation leaves a step \"?\"; not a pass%s"
                         % (counts["unknown"], " (--strict: a failure)" if strict
                            else " (--strict makes it a failure)"))
        expected = [c.get("reason", "") for c, _d, j in self.items(scenarios)
                     if j.verdict == "match" and j.rule is not None and j.rule.status]
        if expected:
            lines.append("  %d of the matches are cases this OS does not run, as expected "
                         "(%s)" % (len(expected), "; ".join(
                             "%d: %s" % (n, r) for r, n in
                             collections.Counter(expected).most_common(3))))
        todo = sorted({(j.rule.path, j.rule.line) for _c, _d, j in self.items(scenarios)
                       if j.rule is not None and j.rule.placeholders})
        if todo:
            lines.append("  %d rule%s that judged these cases still hold the TODO placeholders "
                         "./bindmatrix expect wrote (%s): fill in why and source (lint refuses "
                         "them)" % (len(todo), "" if len(todo) == 1 else "s",
                                    ", ".join("%s:%d" % (display_path(p), n)
                                              for p, n in todo[:3])
                                    + (", and %d more" % (len(todo) - 3) if len(todo) > 3
                                       else "")))
        skips = self.skip_reasons(scenarios)
        if skips:
            lines.append("skipped, by reason:")
            for reason, n in skips.most_common(8):
                lines.append("  %5d  %s" % (n, reason))
            if len(skips) > 8:
                lines.append("  (%d more reasons)" % (len(skips) - 8))
        shown = set()
        for c, d, j in self.failing(strict, scenarios):
            if _wants_rules(c, j):
                continue          # listed below, grouped by file, with the rules to add
            text = self.block(c, d, j)
            head, _, body = text.partition("\n")
            lines.append("")
            lines.append(text if body not in shown else head + "  (the same problem as above)")
            shown.add(body)
        seen_on = self.results.run.get("os_release", "?")
        for path, rules in self.missing_rules(scenarios).items():
            lines.append("")
            lines.append("NO EXPECTATION for %d case%s: add rules to %s%s (or run ./bindmatrix "
                         "expect)" % (len(rules), "" if len(rules) == 1 else "s",
                                      display_path(path), "" if os.path.exists(path)
                                      else " (the file does not exist yet)"))
            lines.append("  rules that would accept what was observed; check each, then give "
                         'it provenance: observed, seen_on: "%s", why and source:' % seen_on)
            for rule in rules:
                lines.append("    " + rule.replace("\n", "\n    "))
        return lines


def _wants_rules(case, j):
    """An observed case with no rule that one added to its scenario's file would judge: not
    one whose file is broken, nor one of a scenario foreign to the manifest."""
    return j.verdict == "no-expectation" and case["status"] == "observed" \
        and not j.note.startswith(("expectation file broken", judge_mod.FOREIGN))
