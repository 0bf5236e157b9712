"""Builders for results records and files used by the harness self-tests."""

import contextlib
import functools
import json
import locale
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
SAMPLE_RESULTS = os.path.join(DATA, "linux-sample.jsonl")
SAMPLE_CASES = os.path.join(DATA, "cases")
HARNESS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_record(**over):
    run = {"record": "run", "schema": 1, "runner_version": "0.1.0", "os": "linux",
           "os_release": "6.1.0-18-amd64", "arch": "x86_64", "privileged": True,
           "isolation": "netns", "sysctls": {"net.ipv4.ip_autobind_reuse": "0"},
           "options": {"reuseaddr": True, "reuseport": True},
           "started": "2024-03-01T12:00:00Z"}
    run.update(over)
    return run


def step(label, result, op=None, **extra):
    s = {"label": label, "op": op or label.split(".")[-1].rstrip("0123456789"),
         "result": result}
    s.update(extra)
    return s


def case_record(cid, steps=None, status="observed", axes=None, **extra):
    scenario = cid.split("[", 1)[0]
    c = {"record": "case", "id": cid, "scenario": scenario,
         "axes": axes if axes is not None else {}, "status": status,
         "steps": steps if steps is not None else []}
    c.update(extra)
    return c


def end_record(cases, **over):
    end = {"record": "end", "cases": len(cases),
           "observed": sum(c["status"] == "observed" for c in cases),
           "skipped": sum(c["status"] == "skipped" for c in cases),
           "error": sum(c["status"] == "error" for c in cases), "duration_ms": 1}
    end.update(over)
    return end


def write_lines(path, lines):
    """Write raw lines (str) or records (dict) as a .jsonl file; returns the path."""
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return str(path)


def write_results(path, cases, run=None, end=None):
    return write_lines(path, [run or run_record()] + list(cases)
                       + [end if end is not None else end_record(cases)])


def write_file(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


def write_records(path, records):
    """A results file from a list of records, one JSON object per line."""
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    return str(path)


# ---- scenarios through the real runner (it alone reads case.yaml) ------------------------

REPO = os.path.dirname(HARNESS)
RUNNER = os.environ.get("BINDMATRIX_RUNNER") or os.path.join(REPO, "build", "bindmatrix-runner")

BIND_CASE = """\
title: A second socket binds the port of a first
ref: "socket(7)"
axes: {proto: tcp}
matrix:
  family: [ipv4, ipv6]
  reuse: [none, reuseaddr]
sockets:
  a: {proto: tcp, family: $family, options: $reuse}
  b: {proto: tcp, family: $family, options: $reuse}
steps:
  - {op: state, socket: a, state: listening, addr: loopback, port: P1}
  - {op: bind, socket: b, addr: loopback, port: P1}
  - {op: listen, socket: b}
"""


def scenario_tree(root, scenarios, expectations=None):
    """Write cases/<name>/case.yaml for each {name: text} and cases/<name>/<os>.yaml for
    each {(name, os): text}; returns the cases folder."""
    cases = os.path.join(str(root), "cases")
    for name, text in scenarios.items():
        write_file(os.path.join(cases, *name.split("/"), "case.yaml"), text)
    for (name, os_stem), text in (expectations or {}).items():
        write_file(os.path.join(cases, *name.split("/"), os_stem + ".yaml"), text)
    return cases


def manifest_of(cases):
    """The runner's manifest of a cases folder (fails the test when there is no runner)."""
    from bindmatrix import manifest
    if not os.path.exists(RUNNER):
        raise AssertionError("the runner is not built: ./bindmatrix build")
    return manifest.from_runner(RUNNER, [cases])


def results_for(manifest, outcomes, path, run=None, status=None):
    """A results file for the manifest's cases: outcomes maps a case id (or '*') to
    {label: result}; every observed step not given is 'ok'."""
    cases = []
    for cd in manifest.cases:
        given = dict(outcomes.get("*", {}), **outcomes.get(cd.id, {}))
        st = (status or {}).get(cd.id)
        if st:
            cases.append(case_record(cd.id, steps=[], status=st[0], axes=cd.axes,
                                     reason=st[1]))
            continue
        steps = [step(s["label"], given.get(s["label"], "ok"), op=s["op"]) for s in cd.steps]
        cases.append(case_record(cd.id, steps=steps, axes=cd.axes))
    return write_results(path, cases, run=run)


# ---- the command line, as a user starts it ------------------------------------------------

# Modules that read the environment when they are imported: a forked command imports them
# afresh (test_fixturekit checks that the list is complete).
READS_ENV_AT_IMPORT = ("bindmatrix.cli", "bindmatrix.kernels")


def fresh_interpreters():
    """Whether every command starts a new interpreter (BINDMATRIX_TEST_EXEC=1, which
    `./bindmatrix test --all` sets) rather than a fork of this one."""
    return os.environ.get("BINDMATRIX_TEST_EXEC") == "1" or not hasattr(os, "fork")


def run_cli(args, cwd, env=None, timeout=120):
    """`python3 -m bindmatrix.cli ARGS` in cwd with the environment env (default: this
    one, with the harness on PYTHONPATH): (exit status, what it wrote on stdout and stderr,
    in one text).  See run_module."""
    return run_module("bindmatrix.cli", args, cwd, env, timeout)


def run_module(module, args, cwd, env=None, timeout=120):
    """`python3 -m MODULE ARGS` in cwd, as run_cli.  A command starts as a fork of this
    process, which has imported the libraries and made what commands make alike (_warm)
    already: a new interpreter spends a quarter of a second on them, a hundred times a run.
    The module runs afresh as __main__, as -m runs it; stdin is /dev/null.  An overrun
    kills the command and what it started, and raises subprocess.TimeoutExpired, as
    subprocess.run does."""
    env = dict(os.environ, PYTHONPATH=HARNESS) if env is None else dict(env)
    argv = [sys.executable, "-m", module] + [str(a) for a in args]
    if fresh_interpreters():
        return _run_fresh(argv, cwd, env, timeout)
    _warm()
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns of a fork beside another thread: pytest-xdist's worker has one
        # (execnet's I/O); the child never touches what it holds (its own streams, os._exit)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:                                    # the command; it never returns
        os.close(read_end)
        _command_in_child(module, argv[3:], str(cwd), env, write_end)
    os.close(write_end)
    try:
        os.setpgid(pid, pid)            # here too: the child may not have run yet
    except OSError:
        pass                            # it has, and exec'd or ended: its group is set
    return _collect(pid, read_end, argv, timeout)


@functools.lru_cache(maxsize=None)      # once per process
def _warm():
    """What every command makes alike, made here once before the first fork: the results
    schema's validators and the compiled templates (70 ms a command otherwise, much of it
    importing fastjsonschema and jinja2).  A fresh interpreter (BINDMATRIX_TEST_EXEC=1, CI)
    makes them in each command."""
    from bindmatrix import results, summary
    from bindmatrix.report import render
    results._load_validators()
    summary.environment().get_template(summary.TEMPLATE)
    render.environment().get_template(render.TEMPLATE)


def _main_path(module):
    """What sys.argv[0] is under `python3 -m MODULE`: the file that runs (a package's
    __main__.py)."""
    import importlib.util
    spec = importlib.util.find_spec(module)
    if spec.submodule_search_locations is not None:
        spec = importlib.util.find_spec(module + ".__main__")
    return spec.origin


def _kill_group(pid):
    """SIGKILL to the command's group (all it started), and to the command should its group
    not be set yet."""
    import signal
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def running(pid):
    """The process is there and not a zombie (Linux's /proc)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _run_fresh(argv, cwd, env, timeout):
    """run_cli with a new interpreter; its own session, so an overrun kills all it started
    (subprocess.run's timeout would kill the interpreter alone, and leave its runner)."""
    import subprocess
    with subprocess.Popen(argv, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, start_new_session=True) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except BaseException:                       # overran (or this test was stopped)
            _kill_group(proc.pid)
            proc.wait()
            raise
    return proc.returncode, out


_ENCODING = locale.getpreferredencoding(False)     # what a pipe and universal_newlines use


def _command_in_child(module, args, cwd, env, out_fd):
    import io
    import runpy
    import signal
    import traceback
    code = 70
    try:
        os.setpgid(0, 0)                # its own group: an overrun kills all it started
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        # the streams a new interpreter would have on a pipe: stdout buffered unless
        # PYTHONUNBUFFERED, stderr a line at a time
        enc = _ENCODING
        unbuffered = bool(env.get("PYTHONUNBUFFERED"))
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=enc)
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
                                      encoding=enc, write_through=unbuffered)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding=enc,
                                      errors="backslashreplace", line_buffering=True,
                                      write_through=unbuffered)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        signal.signal(signal.SIGINT, signal.default_int_handler)   # as a new interpreter
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for name in READS_ENV_AT_IMPORT:
            sys.modules.pop(name, None)
        sys.argv = [_main_path(module)] + list(args)
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            if e.code is None or isinstance(e.code, int):
                code = e.code or 0
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:                       # what a new interpreter would print
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)                  # none of this process's exit handlers: they are pytest's


def _collect(pid, read_end, argv, timeout):
    import select
    import subprocess
    import time
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(argv, timeout, b"".join(chunks))
            ready, _, _ = select.select([read_end], [], [], left)
            if ready:
                chunk = os.read(read_end, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        pid = None
    finally:
        os.close(read_end)
        if pid is not None:                         # overran (or this test was stopped)
            _kill_group(pid)
            os.waitpid(pid, 0)
    text = b"".join(chunks).decode(_ENCODING)       # strict, as universal_newlines decodes
    return os.waitstatus_to_exitcode(status), text.replace("\r\n", "\n").replace("\r", "\n")


# runs a command as an ordinary user (65534), from root
AS_USER = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@contextlib.contextmanager
def user_writable_copy(*scenarios):
    """(folder, runner, cases): a folder user 65534 may write, holding a copy of the runner
    and of the scenarios (paths below cases/, e.g. "tcp/rebind-time-wait"); pytest's folders
    and a checkout under /root are root's alone.  Removed afterwards."""
    import pytest
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.fail("this test drops to user 65534 with setpriv, as root (./bindmatrix test "
                    "runs as root)")
    tmp = tempfile.mkdtemp(prefix="bm-unprivileged-")
    try:
        os.chmod(tmp, 0o777)
        runner = os.path.join(tmp, "bindmatrix-runner")
        shutil.copy(RUNNER, runner)
        cases = os.path.join(tmp, "cases")
        for s in scenarios:
            shutil.copytree(os.path.join(REPO, "cases", s), os.path.join(cases, s))
        # the folders copytree makes on the way follow the umask: under 077 the user could
        # not read its cases
        os.chmod(runner, 0o755)
        for top, _, files in os.walk(cases):
            os.chmod(top, 0o755)
            for f in files:
                os.chmod(os.path.join(top, f), 0o644)
        yield tmp, runner, cases
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# holds the lock named by argv[1] (bindmatrix.locks) until its stdin closes
_LOCK_HOLDER = """
import sys
from bindmatrix import locks
with locks.exclusive(sys.argv[1], 10, "a test"):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def lock_held_elsewhere(path):
    """Another process holding a lock file: yields that process (its pid is in messages)."""
    p = subprocess.Popen([sys.executable, "-c", _LOCK_HOLDER, str(path)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, PYTHONPATH=HARNESS))
    try:
        assert p.stdout.readline() == "held\n"
        yield p
    finally:
        p.stdin.close()
        p.stdout.close()
        p.wait(10)
