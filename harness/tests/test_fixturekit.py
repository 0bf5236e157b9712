"""run_cli, the self-tests' way to start a command: a fork of the test's process must answer
as a new interpreter does, and an overrun must leave nothing behind."""

import ast
import os
import select
import subprocess
import time

import pytest

import fixturekit
from reportkit import edit_results
from fixturekit import HARNESS, SAMPLE_CASES, SAMPLE_RESULTS, run_cli, run_module, \
    running, write_file


def module_level_env_readers():
    """The harness modules whose import-time code (outside any def) reads os.environ."""
    found = set()
    pkg = os.path.join(HARNESS, "bindmatrix")
    for folder, _dirs, names in os.walk(pkg):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            todo = list(tree.body)
            while todo:
                node = todo.pop()
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    continue
                if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") \
                        and isinstance(node.value, ast.Name) and node.value.id == "os":
                    rel = os.path.relpath(path, HARNESS)[:-len(".py")]
                    found.add(rel.replace(os.sep, ".").replace(".__init__", ""))
                todo.extend(ast.iter_child_nodes(node))
    return found


def test_every_module_that_reads_the_environment_at_import_is_imported_afresh():
    assert module_level_env_readers() == set(fixturekit.READS_ENV_AT_IMPORT)


def both_ways(monkeypatch, args, cwd, env=None, module="bindmatrix.cli"):
    forked = run_module(module, args, cwd, env)
    monkeypatch.setenv("BINDMATRIX_TEST_EXEC", "1")
    fresh = run_module(module, args, cwd, env)
    monkeypatch.delenv("BINDMATRIX_TEST_EXEC")
    return forked, fresh


def same_but_run_times(forked, fresh):
    assert forked[0] == fresh[0]
    strip = [line for line in forked[1].splitlines() if " in 0." not in line]
    assert strip == [line for line in fresh[1].splitlines() if " in 0." not in line]


@pytest.mark.parametrize("args", [
    ["frobnicate"],                                             # usage error: 2
    ["check", SAMPLE_RESULTS, "--cases", SAMPLE_CASES, "--no-junit"],   # pytest inside: 0
    ["diff", SAMPLE_RESULTS, SAMPLE_RESULTS],                   # the gate open: 0
    ["check", "/nonexistent.jsonl", "--cases", SAMPLE_CASES],   # refused: 2
], ids=["unknown-command", "check", "diff", "missing-results"])
def test_a_forked_command_answers_as_a_new_interpreter_does(monkeypatch, tmp_path, args):
    same_but_run_times(*both_ways(monkeypatch, args, tmp_path))


def test_a_forked_pytest_answers_as_a_new_one_does(monkeypatch, tmp_path):
    """The conformance run itself, inside this pytest's fork: one mismatch, exit status 1,
    the same report as a new interpreter's (machine-wide plugins and all)."""
    flipped = "tcp/second-listener[family=ipv4,a_opts=reuseaddr,b_opts=reuseaddr]"
    results = edit_results(SAMPLE_RESULTS, str(tmp_path / "flipped.jsonl"),
                           results={flipped: {"b.bind": "ok"}})
    forked, fresh = both_ways(monkeypatch, [
        "-p", "no:cacheprovider", os.path.join(HARNESS, "test_conformance.py"), "-q",
        "-rN", "--results", results, "--cases", SAMPLE_CASES], tmp_path,
        dict(os.environ), module="pytest")
    same_but_run_times(forked, fresh)
    assert forked[0] == 1 and "1 mismatch" in forked[1], forked[1]


def test_the_environment_given_is_the_commands_own(monkeypatch, tmp_path):
    """BINDMATRIX_RUNNER is read when cli is imported: the forked command sees the one
    given, not this process's."""
    fake = write_file(str(tmp_path / "fake-runner"), "#!/bin/sh\necho fake runner \"$@\"\n")
    os.chmod(fake, 0o755)
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=fake)
    forked, fresh = both_ways(monkeypatch, ["run", "--list"], tmp_path, env)
    assert forked == fresh
    assert forked[1].startswith("fake runner --cases-default"), forked[1]


def test_an_exception_escaping_main_is_a_traceback_and_exit_1(monkeypatch, tmp_path):
    """What a new interpreter does with an uncaught exception.  Only a fork can be made to
    raise one (the forked command inherits this process's patched module)."""
    from bindmatrix import toolchain

    def broken(*_a, **_k):
        raise RuntimeError("a bug in the harness")
    monkeypatch.setattr(toolchain, "problems", broken)
    monkeypatch.delenv("BINDMATRIX_TEST_EXEC", raising=False)
    code, out = run_cli(["diff", SAMPLE_RESULTS, SAMPLE_RESULTS], tmp_path)
    assert code == 1
    assert "Traceback (most recent call last)" in out
    assert out.rstrip().endswith("RuntimeError: a bug in the harness")


def gone(pid, timeout=10):
    """Whether pid ended (and was reaped, or is a zombie) within timeout s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not running(pid):
            return True
        select.select([], [], [], 0.02)        # a bounded poll: the kernel reaps it soon
    return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (Linux)")
def test_an_overrun_kills_the_command_and_what_it_started(tmp_path):
    pidfile = tmp_path / "pid"
    slow = write_file(str(tmp_path / "slow-runner"),
                      "#!/bin/sh\necho $$ > %s\nexec sleep 60\n" % pidfile)
    os.chmod(slow, 0o755)
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=slow,
               BINDMATRIX_REPORTS=str(tmp_path / "reports"))
    # the runner (a child of `run`) must have started before the command overruns: a short
    # limit first, a longer one only if the machine was too slow for it
    for limit in (0.5, 2, 8):
        started = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            run_cli(["run"], tmp_path, env, timeout=limit)
        assert time.monotonic() - started < limit + 10       # killed, not waited for
        if pidfile.exists() and pidfile.read_text().endswith("\n"):
            break
    assert gone(int(pidfile.read_text()))
