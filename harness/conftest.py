"""pytest options for the conformance run, and its summary.

--results PATH    the runner's results file (required by the conformance tests)
--manifest FILE   the runner's manifest of the cases (default: made by the runner from --cases)
--cases DIR       the scenarios and expectation files (default: the repository's cases/)
--bindmatrix-strict  an `unknown` verdict (the expectation leaves a step "?") fails too
"""

import os

import pytest

from bindmatrix import manifest as manifest_mod
from bindmatrix.compare import terminal
from bindmatrix.conformance import Conformance
from bindmatrix.results import ResultsError

HARNESS_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CASES = os.path.join(os.path.dirname(HARNESS_DIR), "cases")

CONFORMANCE_KEY = pytest.StashKey()    # the judged results, when --results was given
NEED_RESULTS_KEY = pytest.StashKey()   # set when conformance tests were collected without it
SELECTED_KEY = pytest.StashKey()       # scenarios whose test ran


def pytest_addoption(parser):
    group = parser.getgroup("bindmatrix")
    group.addoption("--results", metavar="PATH", default=None,
                    help="results .jsonl written by bindmatrix-runner (required for the "
                         "conformance tests; ./bindmatrix run passes it)")
    group.addoption("--manifest", metavar="FILE", default=None,
                    help="manifest written by bindmatrix-runner --manifest-out (default: ask "
                         "the runner for the manifest of --cases)")
    group.addoption("--cases", metavar="DIR", default=DEFAULT_CASES,
                    help="cases folder (default: %(default)s)")
    group.addoption("--bindmatrix-strict", action="store_true", default=False,
                    help="an unknown verdict fails too")
    group.addoption("--allow-skip", action="append", default=[], metavar="CAPABILITY",
                    help="accept cases skipped for want of CAPABILITY")


def pytest_configure(config):
    path = config.getoption("results")
    if not path:
        return
    try:
        mpath = config.getoption("manifest")
        manifest = getattr(config, "bindmatrix_manifest", None)   # given by ./bindmatrix
        if manifest is None:
            manifest = manifest_mod.load(mpath) if mpath else \
                manifest_mod.from_runner(paths=[config.getoption("cases")])
        judged = getattr(config, "bindmatrix_conformance", None)    # given by ./bindmatrix
        if judged is None:
            judged = Conformance.of(path, manifest, config.getoption("allow_skip"))
        config.stash[CONFORMANCE_KEY] = judged
    except (ResultsError, manifest_mod.ManifestError) as e:
        raise pytest.UsageError("cannot use the results: %s" % e) from None
    config.stash[SELECTED_KEY] = []


def pytest_collection_modifyitems(config, items):
    # the longest first (a stable sort): spread over processes, they do not end alone
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
    if config.stash.get(NEED_RESULTS_KEY, False):
        raise pytest.UsageError(
            "the conformance tests need --results PATH (a results .jsonl from "
            "bindmatrix-runner; ./bindmatrix run passes it). For the harness's own tests "
            "alone: pytest harness/tests")


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Counts in the judge's words, then every block: what ./bindmatrix run shows."""
    conf = config.stash.get(CONFORMANCE_KEY, None)
    selected = config.stash.get(SELECTED_KEY, None)
    if conf is None or not selected:
        return
    tw = terminalreporter
    tw.write_sep("=", "bindmatrix conformance")
    for line in conf.summary_lines(set(selected), config.getoption("bindmatrix_strict")):
        tw.write_line(terminal(line))     # reasons and ids come from the results file
