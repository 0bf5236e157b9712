"""pytest options and the conformance summary.

--results PATH   the runner's results file (required by the conformance tests)
--cases DIR      the scenarios and expectation files (default: the repository's cases/)
"""

import collections
import os

import pytest

from bindmatrix import VERDICT_PROPERTY as VERDICT
from bindmatrix.compare import display_path
from bindmatrix.results import ResultsError, load_results

HARNESS_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CASES = os.path.join(os.path.dirname(HARNESS_DIR), "cases")


def pytest_addoption(parser):
    group = parser.getgroup("bindmatrix")
    group.addoption("--results", metavar="PATH", default=None,
                    help="results .jsonl written by bindmatrix-runner (required for the "
                         "conformance tests; ./bindmatrix run passes it)")
    group.addoption("--cases", metavar="DIR", default=DEFAULT_CASES,
                    help="cases directory holding each scenario's <os>.yaml (default: %(default)s)")


RESULTS_KEY = pytest.StashKey()        # the loaded ResultSet, when --results was given
NEED_RESULTS_KEY = pytest.StashKey()   # set when conformance tests were collected without it


def pytest_configure(config):
    path = config.getoption("results")
    if path:
        try:
            config.stash[RESULTS_KEY] = load_results(path)
        except ResultsError as e:
            raise pytest.UsageError("cannot use the results file: %s" % e) from None


def pytest_collection_modifyitems(config, items):
    if config.stash.get(NEED_RESULTS_KEY, False):
        raise pytest.UsageError(
            "the conformance tests need --results PATH (a results .jsonl from "
            "bindmatrix-runner; ./bindmatrix run passes it). For the harness's own tests "
            "alone: pytest harness/tests")


def _props(report):
    return dict(report.user_properties)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Counts, then every mismatch and error block: what ./bindmatrix run shows."""
    stats = terminalreporter.stats
    reports = [r for key in ("passed", "failed", "skipped") for r in stats.get(key, [])
               if r.when == "call" and VERDICT in _props(r)]
    if not reports:
        return
    counts = collections.Counter(_props(r)[VERDICT] for r in reports)
    skips = collections.Counter()
    blocks = {"mismatch": [], "error": []}
    missing = collections.OrderedDict()     # expectation file -> [suggested rule, ...]
    for r in reports:
        props = _props(r)
        verdict = props[VERDICT]
        if r.skipped:
            reason = r.longrepr[2] if isinstance(r.longrepr, tuple) else str(r.longrepr)
            skips[reason.replace("Skipped: ", "", 1)] += 1
        elif verdict == "no-expectation" and props.get("expectation_file"):
            missing.setdefault(props["expectation_file"], []).append(props["suggested_rule"])
        elif r.failed:
            blocks.get(verdict, blocks["error"]).append(r.longreprtext)
    tw = terminalreporter
    tw.write_sep("=", "bindmatrix conformance")
    tw.write_line("%d cases: %d passed, %d mismatch, %d no expectation, %d error, %d skipped"
                  % (len(reports), counts["passed"], counts["mismatch"],
                     counts["no-expectation"], counts["error"], counts["skipped"]))
    if skips:
        tw.write_line("skipped, by reason:")
        for reason, n in skips.most_common(8):
            tw.write_line("  %5d  %s" % (n, reason))
        if len(skips) > 8:
            tw.write_line("  (%d more reasons)" % (len(skips) - 8))
    for text in blocks["mismatch"]:
        tw.write_line("")
        tw.write_line(text)
    shown = set()       # a broken expectation file fails each of its cases the same way
    for text in blocks["error"]:
        head, _, body = text.partition("\n")
        tw.write_line("")
        tw.write_line(text if body not in shown else head + "  (the same problem as above)")
        shown.add(body)
    results = config.stash.get(RESULTS_KEY, None)
    seen_on = results.run.get("os_release", "?") if results else "?"
    for path, rules in missing.items():
        tw.write_line("")
        tw.write_line("NO EXPECTATION for %d case%s: add rules to %s%s" % (
            len(rules), "" if len(rules) == 1 else "s", display_path(path),
            "" if os.path.exists(path) else " (the file does not exist yet)"))
        tw.write_line("  rules that would accept what was observed; check each, then give it "
                      'provenance: observed, seen_on: "%s", why and source:' % seen_on)
        for rule in rules:
            tw.write_line("    " + rule.replace("\n", "\n    "))
