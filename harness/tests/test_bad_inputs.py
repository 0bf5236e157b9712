"""Hostile and broken inputs to the harness, as a user would hand them over: every file in
harness/tests/data/bad/ is refused by the command that reads it with a non-zero exit, a
message naming the file (and line where it has one), no traceback, in bounded time, and
nothing half-written.

  NAME.linux.yaml    an expectation file, checked by ./bindmatrix lint and check
  NAME.jsonl         a results file, given to check, diff and report
  NAME.allow.yaml    a diff allowlist
  NAME.claims.yaml   a claims file, given to report
"""

import os
import shutil
import subprocess
import time

import pytest

from fixturekit import BIND_CASE, HARNESS, RUNNER, SAMPLE_CASES, SAMPLE_RESULTS, run_cli, \
    scenario_tree

BAD = os.path.join(HARNESS, "tests", "data", "bad")


def files(suffix):
    return sorted(f for f in os.listdir(BAD) if f.endswith(suffix))


def cli(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER)
    start = time.monotonic()
    code, out = run_cli(args, tmp_path, env)
    took = time.monotonic() - start
    assert "Traceback" not in out, out[-3000:]
    assert took < 30, "%.1f s" % took
    return code, out


@pytest.mark.parametrize("name", files(".linux.yaml"))
def test_a_bad_expectation_file(tmp_path, name):
    cases = scenario_tree(tmp_path, {"tcp/s": BIND_CASE})
    shutil.copy(os.path.join(BAD, name), os.path.join(cases, "tcp", "s", "linux.yaml"))
    code, out = cli(tmp_path, "lint", cases)
    assert code == 1, out
    assert os.path.join("tcp", "s", "linux.yaml") in out
    assert "linux.yaml:" in out, out          # a line number, or the file for a file-level


@pytest.mark.parametrize("name", files(".jsonl"))
@pytest.mark.parametrize("command", ["check", "diff", "report"])
def test_a_bad_results_file(tmp_path, name, command):
    bad = os.path.join(BAD, name)
    args = {"check": ["check", bad, "--cases", SAMPLE_CASES],
            "diff": ["diff", SAMPLE_RESULTS, bad],
            "report": ["report", SAMPLE_RESULTS, bad, "-o", str(tmp_path / "out"),
                       "--cases", SAMPLE_CASES]}[command]
    code, out = cli(tmp_path, *args)
    assert code == 2, out
    assert name in out
    assert not (tmp_path / "out").exists()        # nothing half-written


@pytest.mark.parametrize("name", files(".allow.yaml"))
def test_a_bad_allowlist_is_bad_input_not_a_closed_gate(tmp_path, name):
    code, out = cli(tmp_path, "diff", SAMPLE_RESULTS, SAMPLE_RESULTS, "--allow",
                    os.path.join(BAD, name))
    assert code == 2, out
    assert name + ":" in out


@pytest.mark.parametrize("name", files(".claims.yaml"))
def test_a_bad_claims_file(tmp_path, name):
    code, out = cli(tmp_path, "report", SAMPLE_RESULTS, "-o", str(tmp_path / "out"),
                    "--cases", SAMPLE_CASES, "--claims", os.path.join(BAD, name))
    assert code == 2, out
    assert name + ":" in out
    assert not (tmp_path / "out").exists()


def test_a_huge_expectation_file_is_refused_fast(tmp_path):
    cases = scenario_tree(tmp_path, {"tcp/s": BIND_CASE})
    path = os.path.join(cases, "tcp", "s", "linux.yaml")
    with open(path, "w") as f:
        rule = ("- expect: {b.bind: ok, b.listen: ok}\n  provenance: observed\n"
                "  seen_on: \"6.1.0\"\n  why: %s\n" % ("x" * 1000))
        for _ in range(64 * 1024 * 1024 // len(rule)):
            f.write(rule)
    code, out = cli(tmp_path, "lint", cases)
    assert code == 1 and "larger than" in out, out[-500:]


@pytest.mark.parametrize("command", ["check", "diff", "report"])
def test_a_device_as_results_is_refused_not_read_for_ever(tmp_path, command):
    args = {"check": ["check", "/dev/zero", "--cases", SAMPLE_CASES],
            "diff": ["diff", SAMPLE_RESULTS, "/dev/zero"],
            "report": ["report", SAMPLE_RESULTS, "/dev/zero", "-o", str(tmp_path / "out"),
                       "--cases", SAMPLE_CASES]}[command]
    code, out = cli(tmp_path, *args)
    assert code == 2 and "/dev/zero: not a results file (a device or a folder)" in out, out
    assert not (tmp_path / "out").exists()


def test_a_device_as_the_manifest_is_refused_not_read_for_ever(tmp_path):
    code, out = cli(tmp_path, "check", SAMPLE_RESULTS, "--manifest", "/dev/zero")
    assert code == 2 and "/dev/zero: cannot read the manifest: not a manifest" in out, out


def test_a_results_file_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    from bindmatrix import results
    monkeypatch.setattr(results, "_loaded", {})     # read afresh, not as another test left it
    monkeypatch.setattr(results, "MAX_BYTES", os.path.getsize(SAMPLE_RESULTS) - 1)
    with pytest.raises(results.ResultsError, match="larger than"):
        results.load_results(SAMPLE_RESULTS)


def test_more_cases_than_a_run_has_are_refused_at_the_line(monkeypatch):
    """Under the size limit, tiny records could still be millions of objects in memory: no
    more cases than a run of the runner has (its own limit)."""
    import re
    from bindmatrix import results
    from fixturekit import REPO
    with open(os.path.join(REPO, "runner", "expand.h")) as f:
        runner_limit = int(re.search(r"BM_MAX_CASES_PER_RUN\s+(\d+)", f.read()).group(1))
    assert results.MAX_CASES == runner_limit            # one limit, said in two languages
    monkeypatch.setattr(results, "_loaded", {})
    monkeypatch.setattr(results, "MAX_CASES", 3)
    with pytest.raises(results.ResultsError, match=r":5: more than 3 cases"):
        results.load_results(SAMPLE_RESULTS)


def test_a_manifest_with_a_lone_surrogate_is_refused(tmp_path):
    """JSON lets a lone UTF-16 surrogate through as an escape; no output could hold it (the
    write would fail half-way), so the manifest is refused at the field."""
    proc = subprocess.run([RUNNER, "--manifest", "--cases-default", SAMPLE_CASES, SAMPLE_CASES],
                          stdout=subprocess.PIPE, universal_newlines=True, check=True)
    text = proc.stdout.replace('"title":"', '"title":"\\ud800', 1)
    manifest = tmp_path / "m.json"
    manifest.write_text(text)
    code, out = cli(tmp_path, "check", SAMPLE_RESULTS, "--manifest", str(manifest))
    assert code == 2 and "m.json: field 'scenarios[0].title': not text: a lone UTF-16" in out, out


def test_compressed_results_say_how_to_read_them(tmp_path):
    """A results file downloaded from CI as .jsonl.gz (or renamed .jsonl): "not UTF-8:
    invalid start byte" said nothing of what to do."""
    name = os.path.join(BAD, "gzipped.jsonl")
    code, out = cli(tmp_path, "check", name, "--cases", SAMPLE_CASES)
    assert code == 2 and "%s: compressed with gzip: give its text, e.g. <(zcat %s)" % (
        name, name) in out, out
