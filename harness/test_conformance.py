"""The conformance run: one test per scenario of a results file, failing with every case of
it whose verdict fails (mismatch, no-expectation, error; with --bindmatrix-strict also unknown).

    pytest harness/test_conformance.py --results reports/linux-6.1.0.jsonl [-k tcp/]

The verdicts are the judge's (bindmatrix/judge.py); JUnit with one testcase per case is
written by ./bindmatrix run from the same verdicts, not by pytest.
"""

import pytest

from conftest import CONFORMANCE_KEY, NEED_RESULTS_KEY, SELECTED_KEY

pytestmark = pytest.mark.conformance


def pytest_generate_tests(metafunc):
    if "scenario" not in metafunc.fixturenames:
        return
    conf = metafunc.config.stash.get(CONFORMANCE_KEY, None)
    if conf is None:
        # conftest turns this into a usage error once collection is done
        metafunc.config.stash[NEED_RESULTS_KEY] = True
        metafunc.parametrize("scenario", [])
        return
    metafunc.parametrize("scenario", conf.scenarios, ids=conf.scenarios)


def test_scenario(scenario, pytestconfig):
    conf = pytestconfig.stash[CONFORMANCE_KEY]
    pytestconfig.stash[SELECTED_KEY].append(scenario)
    blocks = conf.blocks(scenario, pytestconfig.getoption("bindmatrix_strict"))
    if blocks:
        pytest.fail("%d case%s of %s failed:\n\n%s" % (
            len(blocks), "" if len(blocks) == 1 else "s", scenario, "\n\n".join(blocks)),
            pytrace=False)
