"""./bindmatrix bench, as a user runs it: one short round prints every measurement it
promises and a verdict on every target (the numbers themselves are not asserted: a
benchmark is read, never timed in a test)."""

import os
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_one_round_prints_each_measurement_and_target():
    proc = subprocess.run([os.path.join(TOP, "bindmatrix"), "bench", "-n", "1", "--runner-only",
                           "--no-scaling"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, cwd=TOP, timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, out
    for want in ("  runner   median", "throughput", "phases      load", "floor       in-process",
                 "after each runner run, median", "per case", "the cases' own time alone",
                 "reference 3932 cases (bench-reference.txt",
                 "TIME_WAIT cases:", "costliest scenarios", "repeatable: every case"):
        assert want in out, (want, out)
    verdicts = [l for l in out.splitlines() if "target" in l]
    assert len(verdicts) >= 4 and all(("met" in l) for l in verdicts), out
