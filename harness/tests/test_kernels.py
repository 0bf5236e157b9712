"""./bindmatrix kernels: other stacks of this machine side by side.  gVisor end to end
(Debian's runsc; ./bindmatrix test installs it), the comparison with the host, the merged
report, and the gate's verdict."""

import json
import os
import shutil
import subprocess

import pytest

from fixturekit import HARNESS, RUNNER, run_cli


def kernels(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER)
    return run_cli(["kernels", "-o", tmp_path / "out"] + list(args), tmp_path, env,
                   timeout=600)


@pytest.fixture(autouse=True)
def _runsc():
    if shutil.which("runsc") is None:
        pytest.fail("runsc is not installed: apt-get install runsc (./bindmatrix test does)")


@pytest.mark.long
def test_gvisor_and_the_host_side_by_side(tmp_path):
    code, out = kernels(tmp_path, "host", "gvisor", "--", "-f", "tcp/second-listener",
                        "-f", "udp/unicast-reuseaddr")
    assert code == 0, out
    lines = out.splitlines()
    assert any(l.strip().startswith("gvisor-") and "6 observed, 0 skipped, 0 error" in l
               for l in lines), out
    assert "compared with the host" in out
    gv = [p for p in os.listdir(str(tmp_path / "out")) if p.startswith("gvisor-")
          and p.endswith(".jsonl")]
    assert len(gv) == 1
    with open(str(tmp_path / "out" / gv[0])) as f:
        run = json.loads(f.readline())
    assert run["stack"].startswith("gvisor ") and run["host"].startswith("gvisor-")
    # gVisor shares ip_local_port_range between network namespaces: one worker there, so
    # that one case's sysctl reaches no case running beside it
    assert run["workers"] == 1
    with open(str(tmp_path / "out" / gv[0].replace(".jsonl", ".log"))) as f:
        assert "sysctls are shared between network namespaces" in f.read()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    labels = [h["label"] for h in report["hosts"] if h["run"]]
    assert len(labels) == 2 and any(l.startswith("gvisor-") for l in labels)
    # gVisor is judged by gvisor.yaml (none yet), not by what Linux kernels do
    gcounts = next(h for h in report["hosts"] if h["label"].startswith("gvisor-"))["counts"]
    assert gcounts["no-expectation"] == 6 and gcounts["mismatch"] == 0


def test_a_target_that_fails_is_an_error_not_a_hang(tmp_path):
    code, out = kernels(tmp_path, "host", "no-such-kernel-9.99", "--timeout", "60", "--",
                        "-f", "tcp/second-listener")
    assert code == 1, out
    assert "no-such-kernel-9.99" in out and "ERROR" in out


def test_gate_against_a_baseline(tmp_path):
    """--gate with a baseline file: the candidate (here gVisor) is compared with it and the
    gate's exit status is the diff's."""
    base = str(tmp_path / "base.jsonl")
    subprocess.run([RUNNER, "-q", "-o", base, "-f", "tcp/second-listener",
                    os.path.join(os.path.dirname(HARNESS), "cases")], check=True)
    code, out = kernels(tmp_path, "--gate", "gvisor", "--baseline", base, "--",
                        "-f", "tcp/second-listener")
    assert code in (0, 1), out
    assert ("PASS:" in out) or ("FAIL:" in out), out
