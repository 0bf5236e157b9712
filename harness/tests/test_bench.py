"""./bindmatrix bench, as a user runs it: one short round prints every measurement it
promises and a verdict on every target (the numbers themselves are not asserted: a
benchmark is read, never timed in a test)."""

import os
import subprocess

import pytest

from fixturekit import RUNNER, run_cli

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_one_round_prints_each_measurement_and_target():
    proc = subprocess.run([os.path.join(TOP, "bindmatrix"), "bench", "-n", "1", "--runner-only"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, cwd=TOP, timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, out
    for want in ("  runner   median", "throughput", "phases      load", "floor       in-process",
                 "x4 the cases: ", "the time of the matrix run beside each (",
                 "after each runner run, median", "per case", "the cases' own time alone",
                 "CPU-ms: the cases' own time", "not the runner's",
                 "reference 3932 cases (bench-reference.txt",
                 "TIME_WAIT cases:", "costliest scenarios", "repeatable: every case"):
        assert want in out, (want, out)
    verdicts = [l for l in out.splitlines() if "target" in l]
    assert len(verdicts) >= 4 and all(("met" in l) for l in verdicts), out


@pytest.mark.parametrize("argv,said", [
    (["--test", "-1"], "--test must be 0 or more"),
    (["-n", "0"], "--runs must be at least 1"),
    (["--", "--no-such-option"], "unrecognized option '--no-such-option'"),
    (["--", "-f", "no/such/case"], "no case matches"),
    (["--", "-o", "x.jsonl"], "-o is set by this command itself"),
    (["--", "--manifest-out=m.json"], "--manifest-out is set by this command itself"),
    (["--runner", "/nonexistent"], "--runner /nonexistent: not an executable file"),
    (["--runner", "/etc/passwd"], "--runner /etc/passwd: not an executable file"),
], ids=["negative-test", "no-runs", "bad-option", "no-case", "own-output", "own-manifest",
        "no-runner", "not-a-runner"])
def test_a_command_line_that_cannot_be_carried_out_is_refused_at_once(tmp_path, argv, said):
    """Exit 2 and the reason before the first run (each round takes seconds).  A --runner
    that is no program said only "the benchmark's launcher process died"."""
    code, out = run_cli(["bench", "--runner", RUNNER] + argv, tmp_path, timeout=60)
    assert code == 2 and said in out, out
    assert "runner   median" not in out and "Traceback" not in out


PYTEST_FAILED = """\
=================================== FAILURES ===================================
___ test_a_run_stopped_while_its_results_are_judged_exits_as_stopped[ctrl-c] ___
E   subprocess.TimeoutExpired: ...
_______________________ ERROR at setup of test_the_page ________________________
1 failed, 1 error, 566 passed in 37.18s
The following tests FAILED:
\t 19 - signals (Failed)
Errors while running CTest

bindmatrix test: FAILED: harness-self-tests ctest
5746 passed, 3 failed, 0 skipped
"""


def test_a_failed_command_is_named_with_the_tests_that_failed_in_it():
    """A `test` that fails inside the bench (one started in the background, say) may pass when
    run again outside it: the failure line names the tests, not only the last lines."""
    from bindmatrix import bench
    said = bench.tail(subprocess.CompletedProcess([], 1, stdout=PYTEST_FAILED))
    assert said.startswith(
        "failed: test_a_run_stopped_while_its_results_are_judged_exits_as_stopped[ctrl-c], "
        "ERROR at setup of test_the_page, signals | "), said
    assert said.endswith("5746 passed, 3 failed, 0 skipped"), said
    assert bench.tail(subprocess.CompletedProcess([], 2, stdout="a\nb\nc\nd\n")) == "b | c | d"
