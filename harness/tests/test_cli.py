"""./bindmatrix's command line as a user types it: where results go (-o, a filter, PATHs),
which expectation files judge them, and the upgrade gate's refusal of a partial baseline."""

import contextlib
import pytest
import json
import os
import signal
import stat
import time
import subprocess
import sys

from fixturekit import BIND_CASE, HARNESS, RUNNER, SAMPLE_RESULTS, run_cli, running, \
    scenario_tree

LINUX_RULES = """\
- when: {reuse: [none, reuseaddr]}
  expect: {b.bind: EADDRINUSE, b.listen: not-run}
  provenance: observed
  seen_on: "6.1.0"
  why: A listener's port is not shared without SO_REUSEPORT.
  source: "socket(7)"
"""


def bm(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER,
               BINDMATRIX_REPORTS=str(tmp_path / "reports"))
    return run_cli(args, tmp_path, env, timeout=300)


def host():
    return subprocess.run([RUNNER, "--print-host"], stdout=subprocess.PIPE, check=True,
                          universal_newlines=True).stdout.strip()


def test_output_goes_where_o_says_with_junit_and_summary_beside_it(tmp_path):
    code, out = bm(tmp_path, "run", "-o", str(tmp_path / "mine.jsonl"), "-f", "tcp/second")
    assert code == 0, out
    for name in ("mine.jsonl", "mine.junit.xml", "mine.summary.md"):
        assert (tmp_path / name).exists(), out
    assert not (tmp_path / "reports").exists() or not os.listdir(str(tmp_path / "reports"))


def test_a_filtered_run_leaves_the_full_runs_files_alone(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    full = {}
    for ext in (".jsonl", ".junit.xml", ".summary.md"):
        full[ext] = reports / (host() + ext)
        full[ext].write_text("the full run's %s\n" % ext)
    code, out = bm(tmp_path, "run", "-f", "tcp/second-listener")
    assert code == 0, out
    for ext, path in full.items():
        assert path.read_text() == "the full run's %s\n" % ext
    partial = reports / (host() + ".partial.jsonl")
    with open(str(partial), encoding="utf-8") as f:
        run = json.loads(f.readline())
    assert run["partial"] is True and run["selection"]["filters"] == ["tcp/second-listener"]
    assert (reports / (host() + ".partial.junit.xml")).exists()
    assert "partial run (filter tcp/second-listener)" in out


def test_run_path_checks_the_cases_against_their_own_files(tmp_path):
    cases = scenario_tree(tmp_path / "suite", {"tcp/s": BIND_CASE},
                          {("tcp/s", "linux"): LINUX_RULES})
    code, out = bm(tmp_path, "run", cases, "-f", "family=ipv4")
    assert code == 0, out
    assert "2 cases: 2 match" in out
    # the same cases with a wrong rule of their own: the suite's file judges, not cases/
    with open(os.path.join(cases, "tcp", "s", "linux.yaml"), "w") as f:
        f.write(LINUX_RULES.replace("EADDRINUSE", "EACCES"))
    code, out = bm(tmp_path, "run", cases, "-f", "family=ipv4")
    assert code == 1, out
    assert "MISMATCH tcp/s[family=ipv4,reuse=none]" in out
    assert os.path.join("suite", "cases", "tcp", "s", "linux.yaml") in out


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    cases = scenario_tree(tmp_path / "suite", {"tcp/s": BIND_CASE.replace("op: listen",
                                                                         "op: lisen")})
    code, out = bm(tmp_path, "run", cases)
    assert code == 2, out
    assert "case.yaml:13" in out and "lisen" in out
    assert not (tmp_path / "reports").exists() or not os.listdir(str(tmp_path / "reports"))


def test_questions_go_to_the_runner(tmp_path):
    code, out = bm(tmp_path, "run", "--list", "-f", "tcp/second-listener[family=ipv4")
    assert code == 0 and out.split() == ["tcp/second-listener[family=ipv4,reuse=none]",
                                         "tcp/second-listener[family=ipv4,reuse=reuseaddr]"]


@pytest.mark.long
def test_diff_refuses_a_partial_baseline(tmp_path):
    reports = tmp_path / "reports"
    code, out = bm(tmp_path, "run", "-f", "tcp/second-listener")
    assert code == 0, out
    partial = str(reports / (host() + ".partial.jsonl"))
    code, out = bm(tmp_path, "run", "-o", str(tmp_path / "full.jsonl"), "-f", "tcp/second",
                   "-f", "tcp/three")
    code, out = bm(tmp_path, "diff", partial, str(tmp_path / "full.jsonl"))
    assert code == 2, out
    assert "is a partial run (filter tcp/second-listener)" in out and "--allow-partial" in out
    # accepted as a baseline, it is still another case set: that closes the gate
    code, out = bm(tmp_path, "diff", partial, str(tmp_path / "full.jsonl"), "--allow-partial",
                   "--fail-on", "changed")
    assert code == 1, out
    assert "case_set_hash" in out and "closes the gate" in out


def test_unknown_commands_and_arguments(tmp_path):
    assert bm(tmp_path, "frobnicate")[0] == 2
    code, out = bm(tmp_path, "check", "x.jsonl", "--bogus")
    assert code == 2 and "unknown arguments: --bogus" in out


@pytest.mark.long
def test_host_sysctls_are_recorded_and_used_with_sysctls_host(tmp_path):
    """On a host (here: a namespace of this test's own) with net.ipv6.bindv6only=1, the run
    records the host's value in both modes, runs with it only in --sysctls host, and the gate
    between the two closes on the sysctl."""
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER,
               BINDMATRIX_REPORTS=str(tmp_path / "reports"))
    out = {}
    for mode in ("default", "host"):
        out[mode] = str(tmp_path / ("%s.jsonl" % mode))
        # the 12 cases of both wildcards, IPv6 first: those whose outcome bindv6only decides
        script = ("sysctl -qw net.ipv6.bindv6only=1 && exec %s -m bindmatrix.cli run -o %s "
                  "--sysctls %s -f 'dualstack/bind[proto=tcp,first=v6,v6_addr=wildcard,"
                  "v4_addr=wildcard,'" % (sys.executable, out[mode], mode))
        proc = subprocess.run(["unshare", "-n", "sh", "-c", script], env=env,
                              cwd=str(tmp_path), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
        assert proc.returncode == 0, proc.stdout        # judged by the effective sysctl
        with open(out[mode]) as f:
            run = json.loads(f.readline())
        assert run["sysctl_mode"] == mode
        assert run["host_sysctls"]["net.ipv6.bindv6only"] == "1"
        assert run["sysctls"]["net.ipv6.bindv6only"] == ("1" if mode == "host" else "0")
    code, text = bm(tmp_path, "diff", out["default"], out["host"], "--allow-partial")
    assert code == 1, text
    assert "sysctls.net.ipv6.bindv6only" in text and "closes the gate" in text


SLOW_CASE = """\
title: two quick cases, then accept()s that wait for a connection that never comes
ref: harness/tests/test_cli.py
capture: true
matrix: {n: [q1, q2, a, b, c, d]}
sockets: {a: {proto: tcp, family: ipv4}}
steps:
  - {op: state, socket: a, state: listening, addr: loopback, port: P1}
  - {op: accept, socket: a, when: {n: [a, b, c, d]}}
"""


def _in_slow_cases(runner_pid):
    """Whether each of the runner's workers sleeps in poll(2): in an accept that waits."""
    try:
        with open("/proc/%d/task/%d/children" % (runner_pid, runner_pid)) as f:
            workers = f.read().split()
        chans = []
        for w in workers:
            with open("/proc/%s/wchan" % w) as f:
                chans.append(f.read())
    except OSError:
        return False
    return len(workers) == 2 and all("poll" in c for c in chans)


# how a stop reaches a command: its signal, and whether it goes to the command's whole
# process group (a ^C typed; a hangup, which the shell passes on to its jobs) or to the
# command alone (`kill PID`)
STOPS = {"ctrl-c": (signal.SIGINT, True), "kill": (signal.SIGTERM, False),
         "hangup": (signal.SIGHUP, True)}


def _stopped_once(proc, ready, how, never, stop=None):
    """Once ready() (polled, 20 s at most) while proc runs: the signals of STOPS[how] (or
    stop(), another way to stop it); what it wrote.  Killed if it outlives that."""
    try:
        for _ in range(400):
            if ready():
                break
            try:
                proc.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
        assert proc.poll() is None and ready(), never
        if stop:
            return stop()
        sig, group = STOPS[how]
        (os.killpg if group else os.kill)(proc.pid, sig)
        return proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()


@contextlib.contextmanager
def started_ignoring(sig, yes=True):
    """A command started in here starts with sig ignored, as a script's background job
    (`cmd &`) and what it starts do with SIGINT, and nohup does with SIGHUP (exec keeps
    what is ignored)."""
    before = signal.signal(sig, signal.SIG_IGN) if yes else None
    try:
        yield
    finally:
        if yes:
            signal.signal(sig, before)


def _left_in_session(proc):
    return subprocess.run(["pgrep", "-s", str(proc.pid)], stdout=subprocess.PIPE,
                          universal_newlines=True).stdout


def _on_a_terminal(argv, **kw):
    """argv started as a session's leader with a terminal (a pty) of its own, as a command
    typed over `ssh -t` is; returns the process and the terminal's master end, whose close
    hangs the terminal up (the kernel sends SIGHUP to the session's leader, and the
    command's writes to the terminal fail with EIO)."""
    import fcntl
    import termios
    master, slave = os.openpty()

    def take_the_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                start_new_session=True, preexec_fn=take_the_terminal, **kw)
    finally:
        os.close(slave)
    return proc, master


def _read_until_closed(master, until):
    """What the terminal showed, read until until() holds (or 20 s)."""
    import select
    seen = b""
    deadline = time.monotonic() + 20
    while not until() and time.monotonic() < deadline:
        if select.select([master], [], [], 0.05)[0]:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
    return seen.decode("utf-8", "replace")


@pytest.mark.parametrize("how", ["ctrl-c", "kill", "hangup", "nohup-then-kill",
                                 "terminal-closed"])
def test_a_run_stopped_by_ctrl_c_says_where_its_finished_cases_are(tmp_path, how):
    """^C during `./bindmatrix run` (SIGINT to its process group): exit 130, the results file
    as it was, and the finished cases where the message says, with their evidence.  The same
    for a SIGTERM to the command alone (kill PID; exit 143), which it passes on to the
    runner: otherwise no signal would reach the runner and the run would go on.  And for a
    hangup (exit 129): passed on by the shell to the whole job, or, when the terminal of a
    command that leads its session closes, sent to the command alone, whose message then
    goes nowhere (EIO).  Before, a hangup killed the command and the runner outright,
    leaving its workers running, raw captures and the command's temporary manifest.  Under
    nohup (SIGHUP ignored at the start) the hangup is left ignored: a later SIGTERM is what
    stops the run."""
    cases = scenario_tree(tmp_path, {"tcp/slow": SLOW_CASE})
    out = tmp_path / "r.jsonl"
    out.write_text("the previous run's\n")
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER, TMPDIR=str(temp))
    argv = [sys.executable, "-m", "bindmatrix.cli", "run", "-o", str(out), "-j", "2",
            "--timeout-ms", "5000", os.path.join(cases, "tcp", "slow")]
    master = stop = None
    if how == "terminal-closed":
        proc, master = _on_a_terminal(argv, cwd=str(tmp_path), env=env)

        def stop():
            os.close(master)
            proc.wait(timeout=30)
            return shown + "(the terminal closed)"
        shown = ""
    else:
        with started_ignoring(signal.SIGHUP, how == "nohup-then-kill"):
            proc = subprocess.Popen(argv, cwd=str(tmp_path), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, universal_newlines=True,
                                    env=env, start_new_session=True)
        if how == "nohup-then-kill":
            def stop():
                os.killpg(proc.pid, signal.SIGHUP)
                os.kill(proc.pid, signal.SIGTERM)
                return proc.communicate(timeout=30)[0]
    runner = []

    def in_slow_cases():
        if not runner:
            found = subprocess.run(["pgrep", "-f", "-s", str(proc.pid), "bindmatrix-runner"],
                                   stdout=subprocess.PIPE, universal_newlines=True).stdout
            runner.extend(int(p) for p in found.split()[:1])
        return bool(runner) and _in_slow_cases(runner[0])
    if master is not None:
        shown = _read_until_closed(master, in_slow_cases)
    text = _stopped_once(proc, in_slow_cases, how, "the run never reached its slow cases",
                         stop)
    cut = tmp_path / "r.interrupted.jsonl"
    sig = {"ctrl-c": signal.SIGINT, "hangup": signal.SIGHUP,
           "terminal-closed": signal.SIGHUP}.get(how, signal.SIGTERM)
    assert proc.returncode == 128 + sig, text
    if how != "terminal-closed":
        assert "bindmatrix: interrupted: the finished cases are in %s, marked partial" % cut \
            in text
    assert out.read_text() == "the previous run's\n"
    records = [json.loads(l) for l in cut.read_text().splitlines()]
    assert records[0]["partial"] is True and records[0]["interrupted"] == sig.name
    finished = [r for r in records if r.get("record") == "case"]
    assert sorted(r["id"] for r in finished) == ["tcp/slow[n=q1]", "tcp/slow[n=q2]"]
    for r in finished:
        assert (tmp_path / r["evidence"][0]["path"]).is_file()
    assert os.listdir(str(temp)) == []          # the command's manifest, for one
    left = _left_in_session(proc)
    assert left == "", left


# a pytest plugin for the conformance run `run` makes in process: it says when the run has
# collected its tests, then waits there (30 s at most) for the signal the test sends
HOLDS_THE_JUDGING = """\
import os, select
def pytest_collection_finish(session):
    open(os.environ["HELD_MARK"], "w").close()
    select.select([], [], [], 30)
"""


@pytest.mark.parametrize("how", ["ctrl-c", "kill", "ctrl-c-to-a-background-job", "hangup"])
def test_a_run_stopped_while_its_results_are_judged_exits_as_stopped(tmp_path, how):
    """^C (or a SIGTERM, a hangup) while `run` judges its results, inside the conformance
    run's pytest: exit 130 (143, 129), said once, no JUnit or summary written and none of
    the run before left beside the new results, and no temporary file left.  pytest
    returns from a ^C with an exit status and made a SIGTERM an internal error: `run`
    wrote both files, listed them, and exited 1, the mismatch code; a hangup killed it
    where it was.  A run started ignoring SIGINT (a script's `./bindmatrix run &`) stops on
    it all the same, as its runner does: its judging went on to the end."""
    (tmp_path / "holds_the_judging.py").write_text(HOLDS_THE_JUDGING)
    mark = tmp_path / "held"
    out = tmp_path / "r.jsonl"
    temp = tmp_path / "tmp"
    temp.mkdir()
    (tmp_path / "r.junit.xml").write_text("the run before's\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HARNESS, str(tmp_path)]),
               BINDMATRIX_RUNNER=RUNNER, PYTEST_ADDOPTS="-p holds_the_judging",
               HELD_MARK=str(mark), TMPDIR=str(temp))
    background = how == "ctrl-c-to-a-background-job"
    with started_ignoring(signal.SIGINT, background):
        proc = subprocess.Popen([sys.executable, "-m", "bindmatrix.cli", "run", "-o", str(out),
                                 "-f", "tcp/second-listener"], cwd=str(tmp_path),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, env=env, start_new_session=True)
    how = "ctrl-c" if background else how
    text = _stopped_once(proc, mark.exists, how, "the run never reached its judging")
    sig = STOPS[how][0]
    assert proc.returncode == 128 + sig, text
    said = {"ctrl-c": "interrupted", "kill": "terminated", "hangup": "hung up (SIGHUP)"}[how]
    assert text.count("bindmatrix: %s" % said) == 1, text
    assert "INTERNALERROR" not in text and "junit:" not in text, text
    assert not (tmp_path / "r.junit.xml").exists() and not (tmp_path / "r.summary.md").exists()
    assert json.loads(out.read_text().splitlines()[-1])["record"] == "end"  # the run's own
    assert os.listdir(str(temp)) == []
    left = _left_in_session(proc)
    assert left == "", left


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_a_command_cut_short_leaves_none_of_its_children(monkeypatch, stop):
    """Whatever ends a command (^C, an error; its reader gone takes the same path), a child
    it forked to work beside it (the schema check, the rules, the page) is killed and reaped
    before it exits: nothing is left over, not even a zombie for init to reap."""
    from bindmatrix import cli as cli_mod, forked, manifest as manifest_mod
    pids = []

    def command():
        pids.append(forked.Child(lambda: time.sleep(30)).pid)
        pending = manifest_mod.Pending(filters=("cut-short-%d" % len(pids),))   # not cached
        pids.append(pending.proc.pid)                       # the runner, making a manifest
        raise stop("cut short")
    monkeypatch.setattr(cli_mod, "main", command)
    if stop is RuntimeError:
        with pytest.raises(RuntimeError):
            cli_mod._main_for_shell()
    else:
        assert cli_mod._main_for_shell() == 130
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    assert not forked._live


@pytest.mark.parametrize("command", ["check", "diff", "report"])
def test_results_given_through_a_pipe_are_read_once_and_judged_as_the_file(tmp_path, command):
    """`./bindmatrix check <(ssh host cat results.jsonl)`: a pipe can be read only once, so
    the schema is checked from what this process read, not by a second reader."""
    from fixturekit import SAMPLE_CASES, SAMPLE_RESULTS
    pipes = []
    for name in ("a", "b"):
        pipes.append(str(tmp_path / name))
        os.mkfifo(pipes[-1])
    other = tmp_path / "other.jsonl"                # a second host, for report
    lines = open(SAMPLE_RESULTS).read().splitlines()
    run = json.loads(lines[0])
    run["host"] = "another-host"
    other.write_text("\n".join([json.dumps(run)] + lines[1:]) + "\n")
    sources = [SAMPLE_RESULTS, str(other) if command == "report" else SAMPLE_RESULTS]
    writers = [subprocess.Popen(["sh", "-c", 'cat "$1" > "$2"', "sh", src, p])
               for src, p in list(zip(sources, pipes))[:2 if command != "check" else 1]]
    args = {"check": ["check", pipes[0], "--cases", SAMPLE_CASES, "--no-junit"],
            "diff": ["diff", pipes[0], pipes[1]],
            "report": ["report", pipes[0], pipes[1], "-o", str(tmp_path / "out"),
                       "--cases", SAMPLE_CASES, "--claims", "none"]}[command]
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER)
    try:
        code, text = run_cli(args, tmp_path, env)
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
            w.wait()
    assert "Traceback" not in text and code != 2, text
    said = {"check": "5 cases:", "diff": "no case changed",
            "report": "bindmatrix report: 5 cases, 2 hosts"}[command]
    assert said in text, text


@pytest.mark.parametrize("command", ["check", "diff", "report"])
def test_control_characters_from_a_results_file_never_reach_the_terminal(tmp_path, command):
    """A host label or a reason made elsewhere may carry escape sequences (retitle, clear,
    recolour the terminal): what the commands print shows them as \\xNN escapes."""
    from fixturekit import SAMPLE_CASES, SAMPLE_RESULTS
    evil = "\x1b]0;pwned\x07\x1b[2J\x9b31m"
    out = []
    for line in open(SAMPLE_RESULTS).read().splitlines():
        record = json.loads(line)
        if record.get("record") == "run":
            record["host"] = "host" + evil
        elif record.get("record") == "case" and record.get("status") == "skipped":
            record["reason"] = "reason" + evil
        out.append(json.dumps(record))
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text("\n".join(out) + "\n")
    args = {"check": ["check", str(hostile), "--cases", SAMPLE_CASES, "--no-junit"],
            "diff": ["diff", SAMPLE_RESULTS, str(hostile)],
            "report": ["report", str(hostile), "-o", str(tmp_path / "out"), "--cases",
                       SAMPLE_CASES, "--claims", "none"]}[command]
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER)
    _, text = run_cli(args, tmp_path, env)
    assert not any(ch in text for ch in "\x1b\x07\x9b"), text
    assert "\\x1b]0;pwned\\x07" in text, text        # said, as text


def test_a_broken_pytest_plugin_on_the_machine_does_not_break_check(tmp_path):
    """The conformance run loads no plugin it did not ask for: one that fails to import,
    installed for every pytest of the machine, leaves `check` working."""
    site = tmp_path / "site"
    info = site / "broken_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pytest11]\nbroken = broken_plugin\n")
    (site / "broken_plugin.py").write_text("raise ImportError('a broken plugin')\n")
    from fixturekit import SAMPLE_CASES, SAMPLE_RESULTS
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HARNESS, str(site)]),
               BINDMATRIX_RUNNER=RUNNER)
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    # new interpreters, not run_cli's fork: only one reads the plugin's PYTHONPATH
    plain = subprocess.run([sys.executable, "-m", "pytest", "--version"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=60)
    assert "a broken plugin" in plain.stdout          # the plugin does break pytest
    proc = subprocess.run([sys.executable, "-m", "bindmatrix.cli", "check", SAMPLE_RESULTS,
                           "--cases", SAMPLE_CASES, "--no-junit"], cwd=str(tmp_path), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120)
    assert proc.returncode == 0, proc.stdout
    assert "4 match" in proc.stdout and "a broken plugin" not in proc.stdout


@pytest.mark.parametrize("args", [["run"], ["run", "--list"]])
def test_run_without_a_runner_says_so(tmp_path, args):
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=str(tmp_path / "none"))
    code, out = run_cli(args, tmp_path, env)
    assert code == 2, out
    assert "Traceback" not in out
    assert "no runner at %s" % (tmp_path / "none") in out


def test_a_reports_folder_that_is_a_file_is_said_not_a_traceback(tmp_path):
    (tmp_path / "reports").write_text("")
    code, out = bm(tmp_path, "run", "-f", "tcp/second")
    assert code == 2, out
    assert "Traceback" not in out
    assert "bindmatrix run: %s: not a folder (the results go there; -o FILE puts them " \
        "elsewhere)" % (tmp_path / "reports") in out, out


FUZZ_LOG = """[30/30] Linking C executable fuzz_case_parse
INFO: Running with entropic power schedule (0xFF, 100).
INFO: Seed: 1234
#2\tINITED cov: 754 ft: 2952 corp: 193/211Kb exec/s: 0 rss: 264Mb
#57\tNEW    cov: 760 ft: 2960 corp: 194/212Kb lim: 4096 exec/s: 0 rss: 270Mb L: 88/4096 MS: 1 ChangeByte-
#115\tDONE   cov: 765 ft: 3015 corp: 229/256Kb lim: 2695 exec/s: 57 rss: 329Mb
Done 115 runs in 2 second(s)
stat::number_of_executed_units: 115
stat::peak_rss_mb:              329
"""


@pytest.mark.parametrize("rc", [0, 1])
def test_the_fuzz_runs_progress_is_shown_only_when_it_fails(tmp_path, capsys, rc):
    """test's short fuzz run prints its final stats when it passes, and all it said (the
    crash, the build's lines) when it does not."""
    from bindmatrix import cli
    script = tmp_path / "fuzz.sh"
    script.write_text("#!/bin/sh\ncat <<'LOG'\n%sLOG\nexit %d\n" % (FUZZ_LOG, rc))
    script.chmod(0o755)
    job = cli._background([str(script)], str(tmp_path), "fuzz")
    assert cli._join(job, "the fuzz run", quiet=cli._fuzz_progress) == rc
    shown = capsys.readouterr().out
    if rc == 0:
        assert shown == ("Done 115 runs in 2 second(s)\n"
                         "stat::number_of_executed_units: 115\n"
                         "stat::peak_rss_mb:              329\n")
    else:
        assert shown == FUZZ_LOG


@pytest.mark.parametrize("argv,said", [
    (["--no-such-option"], "unrecognized option '--no-such-option'"),
    (["-f", "no/such/case"], "no case matches (-f no/such/case)"),
    (["-j", "0"], "--jobs must be a number from 1 to 256"),
    (["--list"], "are for ./bindmatrix run"),
    (["-o", "/dev/stdout"], "-o /dev/stdout: the results are read back to judge them"),
], ids=["bad-option", "no-case", "bad-value", "a-question", "a-stream"])
def test_test_refuses_runner_arguments_it_cannot_use_before_it_starts(tmp_path, argv, said):
    """./bindmatrix test with runner arguments the matrix's run would refuse: exit 2 and the
    runner's reason at once, not "1 failed" after 20 s of self-tests."""
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER,
               BINDMATRIX_IN_TEST="1")      # were they not refused: no self-tests in these
    code, out = run_cli(["test"] + argv, tmp_path, env, timeout=60)
    assert code == 2 and said in out, out
    assert "==> [1/5]" not in out and "Traceback" not in out


def test_test_does_not_start_inside_itself(tmp_path):
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER, BINDMATRIX_IN_TEST="1")
    code, out = run_cli(["test"], tmp_path, env, timeout=60)
    assert code == 2 and "already inside a run of ./bindmatrix test" in out, out
    assert "==> [1/5]" not in out


# outputs named on the command line that are no file to replace
OUTPUT_OPTIONS = {
    "diff -o": lambda out: ["diff", SAMPLE_RESULTS, SAMPLE_RESULTS, "-o", out],
    "diff --markdown": lambda out: ["diff", SAMPLE_RESULTS, SAMPLE_RESULTS, "--markdown", out],
    "summary -o": lambda out: ["summary", SAMPLE_RESULTS, "-o", out],
}


@pytest.mark.parametrize("option", sorted(OUTPUT_OPTIONS))
def test_an_output_on_a_full_device_fails_and_the_device_stays(tmp_path, option):
    """A device is written through, as the runner writes one: a full one (here a /dev/full of
    the test's own) is exit 2 with the reason; never a plain file renamed over the node."""
    full = str(tmp_path / "full")
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    code, out = bm(tmp_path, *OUTPUT_OPTIONS[option](full))
    assert code == 2 and "No space left on device" in out and full in out, out
    assert stat.S_ISCHR(os.stat(full).st_mode)


@pytest.mark.parametrize("option", sorted(OUTPUT_OPTIONS))
def test_an_output_to_dev_stdout_goes_to_standard_output(tmp_path, option):
    code, out = bm(tmp_path, *OUTPUT_OPTIONS[option]("/dev/stdout"))
    assert code == 0, out
    assert ('"verdict"' in out) if option == "diff -o" else ("| " in out or "# " in out), out


@pytest.mark.parametrize("where", ["/dev/stdout", "--output=/dev/fd/1", "/dev/null", "fifo"])
def test_run_refuses_results_that_it_could_not_read_back(tmp_path, where):
    """run judges the results it wrote by reading them again: to a stream (the terminal, a
    pipe, a FIFO, a device) they are refused at once, exit 2; they used to wait for ever on
    the pipe run itself writes to."""
    if where == "fifo":
        where = str(tmp_path / "fifo")
        os.mkfifo(where)
    option = [where] if where.startswith("--") else ["-o", where]
    code, out = bm(tmp_path, "run", *option, "-f", "tcp/second-listener")
    assert code == 2 and "the results are read back to judge them" in out, out
    assert "Running the cases" not in out


def test_tests_background_jobs_end_with_all_they_started(tmp_path):
    """What test runs beside its self-tests (ctest, the fuzz run, the matrix) is in a
    session of its own, which a ^C to test's group does not reach: whatever ends test
    (forked.stop_all) ends each job and what it started."""
    from bindmatrix import cli, forked
    pidfile = tmp_path / "pid"
    job = cli._background(["sh", "-c", 'sleep 600 & echo $! > "$1"; wait', "sh", str(pidfile)],
                          str(tmp_path), "job")
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline and job.proc.poll() is None
        time.sleep(0.02)
    grandchild = int(pidfile.read_text())
    forked.stop_all()
    assert job.proc.returncode is not None
    deadline = time.monotonic() + 10        # killed: gone once the kernel has ended it
    while running(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not running(grandchild)
    job.log.close()


RUNNER_REFUSES = [
    (["-o", ""], "--output needs a text, not ''"),
    (["--host-label", ""], "--host-label needs a text"),
    (["--output-dir", ""], "--output-dir needs a text"),
    (["--manifest-out", ""], "--manifest-out needs a text"),
    (["--stack", ""], "--stack needs a text"),
    (["-j", "0"], "--jobs must be a number from 1 to 256, not '0'"),
    (["--timeout-ms", "9"], "--timeout-ms must be a number from 10 to 600000"),
    (["--other-uid", "-1"], "--other-uid must be a number from 1 to 2147483647"),
    (["--lock-wait-ms", "x"], "--lock-wait-ms must be a number"),
    (["--sysctls", "mine"], "--sysctls must be default or host, not 'mine'"),
    (["--no-such-option"], "unrecognized option '--no-such-option'"),
    (["-f"], "option requires an argument"),
]


# outputs it cannot write: a folder as -o, or a --manifest-out in a folder that is not
# there, failed only once every case had run (exit 1), and a manifest on the results' path
# was replaced by them (exit 0)
RUNNER_OUTPUTS_REFUSED = {
    "results-a-folder": (["-o", "."], "the results: . is a folder, not a file (--output-dir DIR "
                                      "puts the results in a folder)"),
    "results-folder-missing": (["-o", "missing/r.jsonl"], "the results: cannot write "
                               "missing/r.jsonl: missing: No such file or directory"),
    "manifest-folder-missing": (["--manifest-out", "missing/m.json"], "--manifest-out: cannot "
                                "write missing/m.json: missing: No such file or directory"),
    "manifest-a-folder": (["--manifest-out", "."], "--manifest-out: . is a folder, not a file"),
    "results-in-a-file": (["-o", "{runner}/r.jsonl"], "the results: cannot write "
                          "{runner}/r.jsonl: {runner}: not a folder"),
    "manifest-is-the-results": (["-o", "r.jsonl", "--manifest-out", "./r.jsonl"],
                                "--manifest-out: ./r.jsonl is the results file too"),
    # text the results hold that is not UTF-8 (jansson made no string of it: the field went
    # missing), or a label with a control character in it (it names the results' file)
    "stack-not-utf8": (["--stack", "e\udcff"], "--stack is not UTF-8 text (byte 2)"),
    "host-label-control": (["--host-label", "a\nb"], "--host-label holds a control character "
                           "(byte 2): it labels the run in reports and file names"),
    "filter-not-utf8": (["-f", "\udcc3"], "--filter is not UTF-8 text (byte 1)"),
    "output-not-utf8": (["-o", "r\udcff.jsonl"], "--output is not UTF-8 text (byte 2)"),
    "path-not-utf8": (["c\udcff"], "a PATH is not UTF-8 text (byte 2)"),
}


REFUSED = dict([(a[0].strip("-") + ("-empty" if a[1:] == [""] else ""), (a, said))
                for a, said in RUNNER_REFUSES], **RUNNER_OUTPUTS_REFUSED)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_the_runner_refuses_what_it_cannot_use_before_its_first_case(tmp_path, name):
    """exit 2 and the option named, before any case runs, nothing written (an empty -o
    used to fail only once the run was over, exit 1)."""
    argv, said = REFUSED[name]
    argv, said = [a.format(runner=RUNNER) for a in argv], said.format(runner=RUNNER)
    proc = subprocess.run([RUNNER, "-q", "-f", "tcp/second-listener",
                           os.path.join(os.path.dirname(HARNESS), "cases")] + argv,
                          cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=60)
    assert proc.returncode == 2 and said in proc.stdout, proc.stdout
    assert " observed, " not in proc.stdout            # no case ran
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("command", ["check", "run", "test"])
def test_an_allow_skip_that_names_no_capability_is_refused(tmp_path, command):
    """--allow-skip other_usr (for other_user) would accept nothing, silently: exit 2 naming
    the capabilities a run records, before anything runs."""
    argv = {"check": ["check", SAMPLE_RESULTS], "run": ["run", "-f", "tcp/second-listener"],
            "test": ["test"]}[command]
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER,
               BINDMATRIX_IN_TEST="1", BINDMATRIX_REPORTS=str(tmp_path / "reports"))
    code, out = run_cli(argv + ["--allow-skip", "other_usr"], tmp_path, env, timeout=60)
    assert code == 2 and "--allow-skip other_usr: no such capability" in out, out
    assert "other_user" in out and "Running the cases" not in out
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("command", ["manifest", "run --list"])
def test_a_runner_answer_into_a_closed_pipe_ends_as_any_tool_does(command):
    """`./bindmatrix manifest | head` under `set -o pipefail`: the runner the command becomes
    dies of SIGPIPE (141), as cat or grep would.  It had inherited Python's ignored SIGPIPE
    and printed "cannot write the manifest to standard output: Broken pipe", exit 1."""
    # what ./bindmatrix execs once it has built the runner
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER)
    proc = subprocess.run(["bash", "-o", "pipefail", "-c",
                           '"$0" -m bindmatrix.cli %s | head -c 1 >/dev/null' % command,
                           sys.executable],
                          env=env, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert proc.returncode == 128 + signal.SIGPIPE and proc.stderr == "", proc.stderr


def test_a_run_whose_reader_goes_away_still_writes_its_junit_and_summary(tmp_path):
    """`./bindmatrix run | head -1`: the command carries on without its reader and ends
    with 141 once its files are written.  It died at its next line, after the runner had
    replaced the results, beside the JUnit and summary of the run before."""
    out = tmp_path / "r.jsonl"
    for name in ("r.junit.xml", "r.summary.md"):
        (tmp_path / name).write_text("the run before's\n")
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER,
               BINDMATRIX_REPORTS=str(tmp_path / "reports"))
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", '"$0" -m bindmatrix.cli run -o "$1" '
                           '-f tcp/second 2>&1 | head -c 1 >/dev/null', sys.executable,
                           str(out)], env=env, timeout=300)
    assert proc.returncode == 128 + signal.SIGPIPE
    assert json.loads(out.read_text().splitlines()[0])["record"] == "run"
    for name in ("r.junit.xml", "r.summary.md"):
        assert "the run before's" not in (tmp_path / name).read_text(), name


def test_a_run_cut_short_while_judging_leaves_no_junit_or_summary_of_the_run_before(
        tmp_path, monkeypatch):
    """A ^C (or SIGTERM) after the runner replaced the results and before their JUnit and
    summary were written left the run before's beside them, as if they were this run's."""
    from bindmatrix import cli
    out = tmp_path / "r.jsonl"
    for name in ("r.junit.xml", "r.summary.md"):
        (tmp_path / name).write_text("the run before's\n")
    os.symlink("elsewhere.md", str(tmp_path / "s.summary.md"))

    def cut_short(*_args, **_kw):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "RUNNER", RUNNER)
    monkeypatch.setattr(cli, "check", cut_short)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["run", "-o", str(out), "-f", "tcp/second"])
    assert json.loads(out.read_text().splitlines()[0])["record"] == "run"
    assert not (tmp_path / "r.junit.xml").exists() and not (tmp_path / "r.summary.md").exists()
    cli._drop_outputs_before(str(tmp_path / "s.jsonl"))
    assert os.path.islink(str(tmp_path / "s.summary.md"))    # the user's link is kept


def test_results_of_a_folder_inside_a_suite_are_judged_with_that_folder(tmp_path):
    """The runner names a scenario from the folder it is given: run on
    my-suite/tcp/second-listener, its cases are second-listener[...], which my-suite does
    not have.  check --cases my-suite said "add rules to (no expectation files)" and expect
    said every case had a rule; both now say which folder the run read."""
    import shutil
    from fixturekit import REPO
    suite = tmp_path / "my-suite"
    folder = str(suite / "tcp" / "second-listener")
    shutil.copytree(os.path.join(REPO, "cases", "tcp", "second-listener"), folder)
    out = str(tmp_path / "r.jsonl")
    subprocess.run([RUNNER, "-q", "-o", out, folder], check=True)
    note = ("its scenario is not among the cases it is judged with (the run read %s: give "
            "--cases the folder it read)" % folder)
    code, text = bm(tmp_path, "check", "--no-junit", "--cases", str(suite), out)
    assert code == 1 and note in text and "(no expectation files)" not in text, text
    code, text = bm(tmp_path, "check", "--no-junit", "--cases", folder, out)
    assert code == 0 and " 0 no-expectation" in text, text
    code, text = bm(tmp_path, "expect", out, "--cases", str(suite))
    assert code == 2 and "scenario second-listener is not among the cases given (the run " \
        "read %s" % folder in text, text
    code, text = bm(tmp_path, "expect", out, "--cases", folder)
    assert code == 0 and "every observed case of" in text, text


def test_a_run_waits_for_another_run_into_the_same_folder(tmp_path):
    """Two runs into one folder: the second replaced the results and their evidence while
    the first judged them, and the first exited 1 under a summary that said all matched.
    Now the second waits for the first, judging included."""
    from fixturekit import lock_held_elsewhere
    out = tmp_path / "r.jsonl"
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER)
    with lock_held_elsewhere(tmp_path):          # the folder itself is locked
        proc = subprocess.Popen([sys.executable, "-m", "bindmatrix.cli", "run", "-o", str(out),
                                 "-f", "tcp/second"], env=env, cwd=str(tmp_path),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                universal_newlines=True)
        try:
            line = proc.stderr.readline()
            assert line == "bindmatrix run: another run into %s is going on; waiting for " \
                "it\n" % tmp_path, line
            assert not out.exists()
        except BaseException:
            proc.kill()
            raise
    assert proc.wait(120) == 0, proc.stderr.read()
    assert out.exists()


def test_the_summary_printed_is_of_the_verdicts_the_exit_status_is_made_of(tmp_path):
    """check judges the results once: the conformance run shows those verdicts, and does not
    read the file again (another run may have replaced it meanwhile).  In a child of its
    own: a pytest run inside this one leaves its modules behind."""
    from bindmatrix import cli, conformance, manifest as manifest_mod
    from fixturekit import SAMPLE_CASES
    seen = tmp_path / "judged"
    manifest = manifest_mod.from_runner(paths=[SAMPLE_CASES])
    pid = os.fork()
    if pid == 0:
        try:
            of = conformance.Conformance.of.__func__

            def counted(cls, *args, **kw):
                with open(str(seen), "a") as f:
                    f.write(args[0] + "\n")
                return of(cls, *args, **kw)
            conformance.Conformance.of = classmethod(counted)
            with open(os.devnull, "w") as null:
                sys.stdout = null
                code = cli.check(SAMPLE_RESULTS, manifest, junit=False, summary=False)
            os._exit(0 if code in (0, 1) else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert seen.read_text() == SAMPLE_RESULTS + "\n"


class _Ended(Exception):
    pass


def test_a_finished_command_ends_without_the_interpreters_teardown(monkeypatch):
    """_exit_now: output flushed, then os._exit with the command's code; when a stream cannot
    be flushed or a thread runs on, the code comes back for sys.exit and its teardown."""
    import threading
    from bindmatrix import cli as cli_mod

    def ended(code):
        raise _Ended(code)
    monkeypatch.setattr(os, "_exit", ended)
    with pytest.raises(_Ended) as e:
        cli_mod._exit_now(3)
    assert e.value.args == (3,)

    class Unflushable:
        def flush(self):
            raise BrokenPipeError()
    with monkeypatch.context() as m:
        m.setattr(sys, "stdout", Unflushable())
        assert cli_mod._exit_now(3) == 3

    stop = threading.Event()
    runs_on = threading.Thread(target=stop.wait, args=(30,))
    runs_on.start()
    try:
        assert cli_mod._exit_now(3) == 3
    finally:
        stop.set()
        runs_on.join()


@pytest.mark.parametrize("closed", ["2", "1 2", "0 1 2"])
@pytest.mark.parametrize("entry", ["./bindmatrix", "python3 -m bindmatrix.cli"])
def test_a_run_started_with_its_standard_descriptors_closed_writes_whole_files(
        tmp_path, entry, closed):
    """A daemon or `>&- 2>&-` starts a command with stdout or stderr closed: the run ends as
    any does, its messages in none of its files.  Before, the script took its interpreter's
    path from an echo into the closed stdout and said no python3 had pytest; python3 -m
    bindmatrix.cli raised (its sys.stdout was None); the runner wrote its closing line into
    the results' lock file, which had taken stderr's number."""
    command = [os.path.join(os.path.dirname(HARNESS), "bindmatrix")] if entry[0] == "." \
        else [sys.executable, "-m", "bindmatrix.cli"]
    shut = " ".join("%s>&-" % fd if fd != "0" else "<&-" for fd in closed.split())
    out = tmp_path / "r.jsonl"
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER,
               BINDMATRIX_PYTHON=sys.executable)
    proc = subprocess.run(["sh", "-c", 'exec "$@" ' + shut, "sh"] + command +
                          ["run", "-o", str(out), "-f", "tcp/second-listener"],
                          cwd=str(tmp_path), env=env, timeout=120)
    assert proc.returncode == 0
    assert json.loads(out.read_text().splitlines()[-1])["record"] == "end"
    assert (tmp_path / "r.junit.xml").is_file() and (tmp_path / "r.summary.md").is_file()
    assert (tmp_path / "r.jsonl.lock").read_text() == ""
    said = [p.name for p in tmp_path.rglob("*") if p.is_file() and
            b"bindmatrix" in p.read_bytes() and p.suffix not in (".jsonl", ".xml", ".md")]
    assert said == [], said


@pytest.mark.parametrize("python", ["/bin/false", "/no/such/python3"])
def test_a_python_named_in_bindmatrix_python_is_that_one_or_none(tmp_path, python):
    """BINDMATRIX_PYTHON set to an interpreter that cannot run the harness is refused with its
    name, exit 2, nothing written: before, the script went on with another python3 without a
    word, and ran what was not asked for."""
    results = tmp_path / "r.jsonl"
    results.write_bytes(open(SAMPLE_RESULTS, "rb").read())
    proc = subprocess.run([os.path.join(os.path.dirname(HARNESS), "bindmatrix"), "check",
                           str(results)], cwd=str(tmp_path), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
                          env=dict(os.environ, BINDMATRIX_PYTHON=python))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    said = proc.stderr.splitlines()
    # the runner's build comes first: another test's may hold the build lock meanwhile
    assert set(said[:-1]) <= {"bindmatrix: another build of this checkout is running; waiting "
                              "for it"}, proc.stderr
    assert said[-1].startswith("bindmatrix: BINDMATRIX_PYTHON=%s is not a python3 that "
                               "imports pytest" % python), proc.stderr
    assert proc.stdout == "" and sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]


# a case file the runner would have read wrongly or not at all: (its path below cases/, what
# the runner says of it)
CASE_FILES_REFUSED = {
    # its folders make its id and its results' fields, which are text: the selection's
    # paths and the manifest's dir went missing without a word, the file became cs?/...
    "folder-not-utf8": (b"tcp/x\xffy/case.yaml", "cases/tcp/x?y/case.yaml: a folder's name is "
                        "not UTF-8 text (byte 12): case ids and results hold it as text"),
    # a typo: skipped without a word, its scenario never ran and the run was whole without it
    "case-yml": (b"tcp/b/case.yml", "cases/tcp/b/case.yml: case files are named case.yaml: "
                 "this one would not be read"),
}


@pytest.mark.parametrize("name", sorted(CASE_FILES_REFUSED))
def test_a_case_file_the_runner_cannot_read_as_meant_is_refused(tmp_path, name):
    """Beside a good scenario: exit 2, the file named, nothing written."""
    below, said = CASE_FILES_REFUSED[name]
    scenario_tree(tmp_path, {"tcp/a": BIND_CASE})
    path = os.path.join(os.fsencode(str(tmp_path)), b"cases", *below.split(b"/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(BIND_CASE)
    proc = subprocess.run([RUNNER, "-q", "-o", "r.jsonl", "cases"], cwd=str(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=60)
    assert proc.returncode == 2, proc.stdout
    assert proc.stdout == "bindmatrix-runner: %s\n" % said
    assert sorted(os.listdir(str(tmp_path))) == ["cases"]


@pytest.mark.parametrize("argv", [["check", "h\udcff.jsonl"], ["summary", "h\udcff.jsonl"],
                                  ["report", "-o", "out", "h\udcff.jsonl"],
                                  ["report", "-o", "out", "--title", "a\udcffb", "r.jsonl"],
                                  ["run", "-f", "tcp/second\udcff"]])
def test_an_argument_that_is_not_utf8_is_refused_before_anything_is_written(tmp_path, argv):
    """A results file whose name, or a title whose bytes, are not UTF-8 stopped check, summary
    and report with a UnicodeEncodeError traceback once they wrote it into JUnit, a summary
    or the page (exit 1): now exit 2, the argument named, nothing written."""
    for name in ("h\udcff.jsonl", "r.jsonl"):
        with open(os.path.join(os.fsencode(str(tmp_path)), os.fsencode(name)), "wb") as f:
            f.write(open(SAMPLE_RESULTS, "rb").read())
    before = sorted(os.listdir(os.fsencode(str(tmp_path))))
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER)
    code, out = run_cli(argv, tmp_path, env, timeout=60)
    assert code == 2, out
    assert "is not UTF-8 text (byte " in out and "Traceback" not in out, out
    assert sorted(os.listdir(os.fsencode(str(tmp_path)))) == before


def test_a_folder_whose_name_is_not_utf8_is_refused_as_the_current_one(tmp_path):
    """Relative paths, and the absolute ones made of them (a warning naming the results'
    evidence folder, the manifest's dirs), hold the current folder's name: report ended in a
    traceback there, and the runner's manifest lost its dir.  Both refuse it, exit 2."""
    here = os.path.join(os.fsencode(str(tmp_path)), b"d\xff")
    os.mkdir(here)
    with open(os.path.join(here, b"r.jsonl"), "wb") as f:
        f.write(open(SAMPLE_RESULTS, "rb").read())
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER)
    code, out = run_cli(["report", "-o", "rep", "r.jsonl"], os.fsdecode(here), env, timeout=60)
    assert code == 2 and "the current folder " in out and "is not UTF-8 text" in out, out
    proc = subprocess.run([RUNNER, "-q", "-f", "tcp/second-listener", "-o", "x.jsonl",
                           os.path.join(os.path.dirname(HARNESS), "cases")], cwd=here,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=60)
    assert proc.returncode == 2, proc.stdout
    assert proc.stdout.startswith("bindmatrix-runner: the current folder is not UTF-8 text")
    assert sorted(os.listdir(here)) == [b"r.jsonl"]



@pytest.mark.parametrize("there", ["a file", "a symlink loop"])
def test_a_run_into_a_folder_that_is_not_one_says_so(tmp_path, there):
    """`run -o X/r.jsonl` where X is a file, or a symlink to itself, said only "bindmatrix:
    File exists: X" (the folder it would make): now what is wrong with X, exit 2."""
    x = tmp_path / "x"
    if there == "a file":
        x.write_text("")
    else:
        os.symlink("x", str(x))
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER)
    code, out = run_cli(["run", "-o", str(x / "r.jsonl"), "-f", "tcp/second-listener"],
                        tmp_path, env, timeout=60)
    what = "not a folder" if there == "a file" else "a symlink that loops or leads to no folder"
    assert code == 2 and out == "bindmatrix run: the results: cannot write %s: %s: %s\n" % (
        x / "r.jsonl", x, what), out
    assert os.listdir(str(tmp_path)) == ["x"]


@pytest.mark.parametrize("given, inside", [
    ({"PYTHONDONTWRITEBYTECODE": "1"}, "build"),
    ({"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": "/elsewhere"}, "as given"),
    ({}, "as given")])
def test_test_keeps_compiled_python_in_the_build_folder_never_beside_the_sources(
        monkeypatch, given, inside):
    """With PYTHONDONTWRITEBYTECODE set, what ./bindmatrix test starts shares compiled files in
    build/pycache (each process compiled the harness and its tests again); a prefix the user
    set, or Python's own default, is left alone; afterwards the variables are as they were."""
    from bindmatrix import cli as cli_mod
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    with cli_mod._shared_bytecode():
        seen = {n: os.environ.get(n) for n in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    after = {n: os.environ.get(n) for n in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    assert after == {n: given.get(n) for n in after}
    if inside == "build":
        assert seen == {"PYTHONDONTWRITEBYTECODE": None,
                        "PYTHONPYCACHEPREFIX": os.path.join(cli_mod.BUILD, "pycache")}
    else:
        assert seen == after
