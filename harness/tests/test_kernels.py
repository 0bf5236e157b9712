"""./bindmatrix kernels: other stacks of this machine side by side.  gVisor end to end
(Debian's runsc; ./bindmatrix test installs it), the comparison with the host, the merged
report, and the gate's verdict."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from fixturekit import HARNESS, RUNNER, run_cli, running


def kernels(tmp_path, *args, path=None):
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER)
    if path:
        env["PATH"] = path + os.pathsep + env.get("PATH", "")
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


# a runsc that answers --version and then fails, or hangs, in place of Debian's
FAKE_RUNSC = {
    "fails": ("no valid results", "exit 3"),
    "hangs": ("no results within 1 s", "exec sleep 600"),
}


@pytest.mark.parametrize("how", sorted(FAKE_RUNSC))
def test_a_target_that_fails_is_an_error_not_a_hang(tmp_path, how):
    """A target that fails or hangs (here gVisor, through a runsc that does) is an ERROR
    line and exit 1, within --timeout; the other targets are reported as usual."""
    said, then = FAKE_RUNSC[how]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "runsc").write_text('#!/bin/sh\n[ "$1" = --version ] && '
                                   '{ echo "runsc version fake"; exit 0; }\n%s\n' % then)
    (bin_dir / "runsc").chmod(0o755)
    code, out = kernels(tmp_path, "host", "gvisor", "--timeout", "1", "--",
                        "-f", "tcp/second-listener", path=str(bin_dir))
    assert code == 1, out
    gvisor = next(l for l in out.splitlines() if l.strip().startswith("gvisor-fake"))
    assert "ERROR" in gvisor and said in gvisor, out
    assert "4 observed, 0 skipped, 0 error" in out         # the host's line


# command lines that cannot be carried out: refused before any target starts
BAD_COMMAND_LINES = [
    (["no-such-kernel-9.99"], "unknown kernel target 'no-such-kernel-9.99'"),
    (["linux-image-"], "unknown kernel target 'linux-image-'"),
    (["host", "host"], "target host is given twice"),
    (["--timeout", "0", "host"], "--timeout must be at least 1 second"),
    (["-j", "0", "host"], "--jobs must be at least 1"),
    (["--baseline", "base.jsonl", "host"], "--baseline and --allow go with --gate"),
    (["--allow", "allow.yaml", "host"], "--baseline and --allow go with --gate"),
    (["--gate", "host"], "would compare this kernel with itself"),
    (["--gate", "no-such-kernel"], "unknown kernel target 'no-such-kernel'"),
    (["6.1", "--gate", "6.12"], "give no other targets (6.1)"),
    (["--gate", "gvisor", "--baseline", "passwd"], "--baseline: "),
    (["--gate", "gvisor", "--baseline", "base.jsonl"], "base.jsonl is a partial run"),
    (["--gate", "gvisor", "--baseline", "base.jsonl", "--allow", "passwd", "--",
      "-f", "tcp/second-listener"], "--allow: "),
    (["host", "--", "--no-such-option"], "unrecognized option '--no-such-option'"),
    (["host", "--", "-f", "no/such/case"], "no case matches (-f no/such/case)"),
    (["host", "--", "-o", "x.jsonl"], "-o is set by this command itself"),
    (["host", "--", "--host-label=x"], "--host-label is set by this command itself"),
    (["host", "--", "-ox.jsonl"], "-o is set by this command itself"),
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A folder with a partial run's results (base.jsonl) and a file of another kind."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    subprocess.run([RUNNER, "-q", "-o", str(folder / "base.jsonl"), "-f", "tcp/second-listener",
                    os.path.join(os.path.dirname(HARNESS), "cases")], check=True)
    return folder


@pytest.mark.parametrize("argv,said", BAD_COMMAND_LINES,
                         ids=["_".join(a).strip("-") for a, _ in BAD_COMMAND_LINES])
def test_a_command_line_that_cannot_be_carried_out_is_refused_at_once(tmp_path, inputs, argv,
                                                                     said):
    """Exit 2, the reason, and nothing run or written (not even the output folder): a typo
    is not found a minute later, after a guest booted."""
    argv = [str(inputs / a) if a in ("base.jsonl", "passwd") else a for a in argv]
    code, out = kernels(tmp_path, *argv)
    assert code == 2, out
    assert said in out, out
    assert "Traceback" not in out
    assert not (tmp_path / "out").exists()


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


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_kernels_stopped_by_a_signal_leaves_no_target_running(tmp_path, sig):
    """A SIGTERM (a cancelled CI job) ends ./bindmatrix kernels with 143, its target's
    process killed and the partial results removed; a SIGKILL, which no handler sees, still
    takes the target with it (PR_SET_PDEATHSIG), where the target runs in a session of its
    own that no signal to the command's group would reach."""
    bin_dir, mark = tmp_path / "bin", tmp_path / "runsc.pid"
    bin_dir.mkdir()
    (bin_dir / "runsc").write_text('#!/bin/sh\n[ "$1" = --version ] && '
                                   '{ echo "runsc version fake"; exit 0; }\n'
                                   'echo $$ > "%s"\nexec sleep 600\n' % mark)
    (bin_dir / "runsc").chmod(0o755)
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER,
               PATH=str(bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "bindmatrix.cli", "kernels", "-o", str(out),
                             "gvisor"], env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)
    try:
        deadline = time.monotonic() + 60
        while not (mark.exists() and mark.read_text().strip()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.02)
        target = int(mark.read_text())
        proc.send_signal(getattr(signal, sig))
        text = proc.communicate(timeout=30)[0]
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == (143 if sig == "SIGTERM" else -signal.SIGKILL), text
    deadline = time.monotonic() + 10
    while running(target) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not running(target), "the target's process %d outlived the command" % target
    if sig == "SIGTERM":
        assert "terminated" in text and "Traceback" not in text, text
        assert not [p for p in os.listdir(str(out)) if p.endswith(".part")]

