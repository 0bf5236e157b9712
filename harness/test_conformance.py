"""One test per case in a results file: the observation against its expectation rule.

    pytest harness/test_conformance.py --results reports/linux-6.1.0.jsonl [--cases cases]
"""

import pytest

from bindmatrix import VERDICT_PROPERTY as VERDICT, oses
from bindmatrix.compare import (compare, format_error, format_mismatch, format_missing,
                                summarize_expect, summarize_observed, display_path,
                                suggest_when_expect)
from bindmatrix.expectations import ExpectationError, ExpectationStore, find_rule

from conftest import NEED_RESULTS_KEY, RESULTS_KEY

pytestmark = pytest.mark.conformance


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    results = metafunc.config.stash.get(RESULTS_KEY, None)
    if results is None:
        # conftest turns this into a usage error once collection is done
        metafunc.config.stash[NEED_RESULTS_KEY] = True
        metafunc.parametrize("case", [])
        return
    metafunc.parametrize("case", results.cases, ids=[c["id"] for c in results.cases])


@pytest.fixture(scope="session")
def results(pytestconfig):
    return pytestconfig.stash[RESULTS_KEY]


@pytest.fixture(scope="session")
def store(pytestconfig, results):
    return ExpectationStore(pytestconfig.getoption("cases"), results.run["os"])


def test_case(case, results, store, record_property, record_xml_attribute):
    run = results.run
    # JUnit: the test is named by the case id and grouped by scenario.
    record_xml_attribute("name", case["id"])
    record_xml_attribute("classname", case["scenario"])
    record_property("observed", summarize_observed(case))

    if case["status"] == "skipped":
        record_property(VERDICT, "skipped")
        pytest.skip(case.get("reason", "skipped by the runner"))
    if case["status"] == "error":
        record_property(VERDICT, "error")
        record_property("reason", case.get("reason", ""))
        pytest.fail(format_error(case), pytrace=False)

    os_name = run["os"]
    if oses.expectation_stem(os_name) is None:
        record_property(VERDICT, "no-expectation")
        pytest.fail("NO EXPECTATION %s\n  results from OS %r cannot be checked: there are no "
                    "expectation files for it" % (case["id"], os_name), pytrace=False)
    try:
        rules, broken = store.rules_for(case["scenario"]), None
    except ExpectationError as e:
        rules, broken = [], e
    if broken is not None:      # failed outside the except block: no chained traceback
        record_property(VERDICT, "error")
        pytest.fail("ERROR %s\n  the expectation file is broken:\n%s"
                    % (case["id"], "\n".join("    " + p for p in broken.problems)),
                    pytrace=False)
    rule = find_rule(rules, case, run)
    if rule is None:
        record_property(VERDICT, "no-expectation")
        record_property("expectation_file", store.path_for(case["scenario"]))
        record_property("suggested_rule", "\n".join(suggest_when_expect(case)))
        pytest.fail(format_missing(case, run, os_name, store.path_for(case["scenario"])),
                    pytrace=False)

    record_property("expected", summarize_expect(rule))
    record_property("why", rule.why)
    record_property("source", rule.source)
    record_property("provenance", rule.provenance)
    if rule.seen_on:
        record_property("seen_on", ", ".join(rule.seen_on))
    record_property("rule", "%s:%d" % (display_path(rule.path), rule.line))
    diffs = compare(case, rule)
    if diffs:
        record_property(VERDICT, "mismatch")
        pytest.fail(format_mismatch(case, rule, diffs), pytrace=False)
    record_property(VERDICT, "passed")
