"""./bindmatrix bench: how fast the matrix and the commands around it run here, and whether
the outcomes repeat.

Measured side by side in one invocation (this machine may be shared and noisy, so only
medians over several runs, and only ratios measured together, are worth reading):

  runner    the runner alone over the whole matrix with the options ./bindmatrix run gives it
            (--capture, as run gives it): wall time, cases/s, CPU, peak memory
  reference the runner over a fixed reference workload (bench-reference.txt: the 3932 cases
            the matrix had when the targets were set), beside each full run: its wall time
            and per-case ratio to the floor stay comparable while cases/ grows
  scaling   the runner over four copies of the matrix: time and memory against one copy
  run       `./bindmatrix run` on a built tree, end to end (dependency check, build check,
            runner, judging, pytest, JUnit, summary)
  report    `./bindmatrix report` over 4 hosts (copies of one run under 4 labels)
  floor     the in-process floor (`bindmatrix-runner --floor`: bare socket calls doing what a
            bind-conflict case and a TIME_WAIT case observe), measured after each runner run
            (its median over the runs), against the runner's wall time per case and against
            the TIME_WAIT cases' own time
  test      with --test N: `./bindmatrix test` (the quick tier), N times

Every case whose outcome was not the same in all runner runs is listed: a flaky case is a bug,
never noise to be averaged away (exit 1).  The targets are printed met or with the gap.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

from . import outcome, runnerargs
from .results import ResultsError, load_results

HARNESS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = os.path.dirname(HARNESS)
ENTRY = os.path.join(TOP, "bindmatrix")
CASES = os.path.join(TOP, "cases")
# what run_once gives the runner: not the user's to set
OWN_RUNNER_ARGS = ("-o", "--output", "--output-dir", "--manifest-out")
TARGETS = {"run": 2.0, "report": 2.0}   # seconds, median, on a 2-core machine
RUNNER_RATE = 11000             # cases/s: the whole matrix (3932 cases) within 0.35 s
SCALING_TARGET = 4.4            # x4 the cases in at most 4.4x the time
MEMORY_TARGET_MB = 60           # peak memory with x4 the cases
FLOOR_RATIO = 4.0               # the runner's wall time per case against the in-process floor
TIME_WAIT_RATIO = 3.0           # a TIME_WAIT case's own time against its floor
TEST_TARGET = 20.0              # ./bindmatrix test (the quick tier), seconds
REFERENCE = os.path.join(HARNESS, "bindmatrix", "bench-reference.txt")
REFERENCE_CASES = 3932          # what the reference workload was when the targets were set
REFERENCE_TARGET = 0.35         # seconds: its wall time, with run's options


def reference_paths():
    """The reference workload's folders (bench-reference.txt), each checked to exist."""
    paths = []
    with open(REFERENCE, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            path = os.path.join(CASES, line)
            if not os.path.isdir(path):     # what is in it is the runner's to read
                raise RuntimeError("%s:%d: no folder cases/%s" % (REFERENCE, n, line))
            paths.append(path)
    return paths


def timed(cmd, **kw):
    """(seconds, the finished process); its output is kept, for the failure's tail."""
    start = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          **kw)
    return time.monotonic() - start, proc


# what names a failed test in `test`'s output: pytest's section heading of each failure
# ("____ test_x[a] ____") and ctest's list after "The following tests FAILED:"
_PYTEST_FAILURE = re.compile(r"^_{3,} (\S.*?) _{3,}$")
_CTEST_FAILURE = re.compile(r"^\s+\d+ - (\S+) \(")


def tail(proc):
    """The last lines a failed command printed, on one line, after the tests that failed in
    it: a failure that does not come back outside the bench is named all the same."""
    lines = proc.stdout.strip().splitlines()
    names = [m.group(1) for m in map(_PYTEST_FAILURE.match, lines) if m]
    names += [m.group(1) for m in map(_CTEST_FAILURE.match, lines) if m]
    failed = "failed: %s | " % ", ".join(dict.fromkeys(names)) if names else ""
    return failed + " | ".join(lines[-3:])


class Launcher:
    """Starts each runner from a process forked when the benchmark is still small.  A
    process's peak RSS (what wait4 reports) counts the image it was forked from until its
    exec, so a runner started from this process, grown by the results and reports it has
    read, would be charged for them.  The launcher's own image (printed) is the floor of
    every measurement."""

    def __init__(self):
        cmd_r, cmd_w = os.pipe()
        ans_r, ans_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(cmd_w)
            os.close(ans_r)
            code = 0
            try:
                self._serve(os.fdopen(cmd_r, "r"), os.fdopen(ans_w, "w"))
            except BaseException:           # noqa: B902 - the parent sees EOF
                code = 1
            os._exit(code)
        os.close(cmd_r)
        os.close(ans_w)
        self.cmds = os.fdopen(cmd_w, "w")
        self.answers = os.fdopen(ans_r, "r")

    @staticmethod
    def _serve(cmds, answers):
        for line in cmds:
            argv = json.loads(line)
            start = time.monotonic()
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            err = proc.stderr.read().decode("utf-8", "replace")   # until the runner ends
            _pid, status, usage = os.wait4(proc.pid, 0)
            answers.write(json.dumps([time.monotonic() - start, usage.ru_utime + usage.ru_stime,
                                      usage.ru_maxrss / 1024.0,
                                      os.waitstatus_to_exitcode(status), err[-2000:]]) + "\n")
            answers.flush()

    def run(self, argv):
        """(wall s, CPU s, peak RSS MiB, exit code, stderr tail) of one command."""
        self.cmds.write(json.dumps(argv) + "\n")
        self.cmds.flush()
        line = self.answers.readline()
        if not line:
            raise RuntimeError("the benchmark's launcher process died")
        return tuple(json.loads(line))

    def close(self):
        self.cmds.close()
        self.answers.close()
        os.waitpid(self.pid, 0)


_launcher = None


def measure_floor(runner, reps=300):
    """{bind_conflict_us, time_wait_us}: the runner's --floor, or None when it cannot."""
    proc = subprocess.run([runner, "--floor", str(reps)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    if proc.returncode != 0:
        print("bindmatrix bench: no floor: %s" % proc.stderr.strip(), file=sys.stderr)
        return None
    return json.loads(proc.stdout)


def run_once(runner, args, out, paths=()):
    """(wall seconds, CPU seconds, peak RSS in MiB) of one runner run, workers included,
    with the options `./bindmatrix run` gives it (--capture, and the
    manifest written beside the results)."""
    capture = ["--capture"]
    manifest = ["--manifest-out", out + ".manifest.json"]
    argv = [runner, "-q"] + capture + manifest + ["-o", out] + list(args) + list(paths)
    if _launcher is None:
        raise RuntimeError("run_once needs the launcher (main() starts it first)")
    elapsed, cpu, rss, code, err = _launcher.run(argv)
    if code != 0:
        raise RuntimeError("runner failed (exit %d): %s" % (code, err.strip()))
    return elapsed, cpu, rss


def copies(root, n):
    """n copies of cases/ under root/cases/cN/, so that their ids differ."""
    cases = os.path.join(root, "cases")
    for k in range(n):
        shutil.copytree(CASES, os.path.join(cases, "c%d" % k),
                        ignore=shutil.ignore_patterns("*.md", "claims.yaml", "summary.yaml",
                                                      "capabilities.yaml"))
    return cases


def relabel(src, dst, label):
    with open(src, encoding="utf-8") as f:
        lines = f.read().splitlines()
    run = json.loads(lines[0])
    run["host"] = label
    with open(dst, "w", encoding="utf-8") as f:
        f.write("\n".join([json.dumps(run)] + lines[1:]) + "\n")
    return dst


def ratio_verdict(us, floor_us, target):
    """A per-case target's verdict, with the gap when it is missed: how many microseconds a
    case would have to lose."""
    if us <= floor_us * target:
        return "met"
    return "NOT met: %.1f us per case over, %.0f%% of its time" % (
        us - floor_us * target, 100.0 * (us - floor_us * target) / us)


def line(name, times, target=None):
    med = statistics.median(times)
    text = "  %-8s median %6.3f s   min %6.3f s   max %6.3f s" % (name, med, min(times),
                                                                  max(times))
    if target is not None:
        text += "   target <= %.2f s: %s" % (target, "met" if med <= target
                                             else "NOT met (%.2f s over)" % (med - target))
    return text, med


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bindmatrix bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runner", default=os.environ.get("BINDMATRIX_RUNNER"),
                    help="path to bindmatrix-runner")
    ap.add_argument("-n", "--runs", type=int, default=5, help="how many runs (default 5)")
    ap.add_argument("--runner-only", action="store_true",
                    help="measure the runner alone (not ./bindmatrix run and report)")
    ap.add_argument("--test", type=int, default=0, metavar="N",
                    help="also time ./bindmatrix test N times (about 20 s each)")
    ap.add_argument("--no-scaling", action="store_true",
                    help="skip the scaling check (four copies of the matrix)")
    ap.add_argument("--kernels", action="store_true",
                    help="instead: ./bindmatrix kernels' default set once (the 5.10, 6.1 and "
                         "6.12 guests, the host, gVisor): each target's boot and run time, "
                         "and the total against its target (2 minutes)")
    ap.add_argument("runner_args", nargs="*", help="passed to the runner (e.g. -j 1, --filter X)")
    args = ap.parse_args(argv)
    global _launcher
    _launcher = Launcher()          # first, while this process is small
    try:
        return _main(args, ap)
    finally:
        _launcher.close()
        _launcher = None


def _main(args, ap):
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.test < 0:
        ap.error("--test must be 0 or more, not %d" % args.test)
    if not args.runner:
        ap.error("--runner is required (./bindmatrix bench gives it)")
    if not (os.path.isfile(args.runner) and os.access(args.runner, os.X_OK)):
        ap.error("--runner %s: not an executable file (./bindmatrix build makes "
                 "build/bindmatrix-runner)" % args.runner)
    why = runnerargs.refused(args.runner, CASES, args.runner_args, own=OWN_RUNNER_ARGS) \
        if args.runner_args else None
    if why:
        ap.error("the runner arguments (%s): %s" % (" ".join(args.runner_args), why))
    if args.kernels:
        return bench_kernels()

    times, cpus, rss, outcomes, cost = [], [], [], defaultdict(set), defaultdict(int)
    floors = []                     # the floor, measured beside each runner run
    ref_times, ref_cases = [], 0    # the reference workload, beside each runner run
    tw_us, bind_us = [], []         # own time of the TIME_WAIT and of the bind-conflict cases
    phases = defaultdict(list)      # the runner's own account (its end record's phases_ms)
    commands = {"run": [], "report": []}
    ncases, failed, workers = 0, [], 1
    with tempfile.TemporaryDirectory(prefix="bindmatrix-bench.") as tmp:
        for i in range(args.runs):
            # one results file for every run, as `run` keeps one per host: from the second
            # run on, each finds the run before's evidence files to rewrite, as `run` does
            out = os.path.join(tmp, "run.jsonl")
            try:
                wall, cpu, mem = run_once(args.runner, args.runner_args, out)
                times.append(wall)
                cpus.append(cpu)
                rss.append(mem)
                results = load_results(out)
            except (RuntimeError, ResultsError) as e:
                print("bindmatrix bench: %s" % e, file=sys.stderr)
                return 2
            ncases = len(results.cases)
            workers = results.run.get("workers") or 1
            f = measure_floor(args.runner, reps=150)
            if f is not None:
                floors.append(f)
            if not args.runner_args:
                try:
                    ref = os.path.join(tmp, "ref.jsonl")
                    ref_times.append(run_once(args.runner, [], ref, reference_paths())[0])
                    ref_cases = len(load_results(ref).cases)
                except (RuntimeError, ResultsError, OSError) as e:
                    print("bindmatrix bench: the reference workload: %s" % e, file=sys.stderr)
                    return 2
            for name, ms in (results.end.get("phases_ms") or {}).items():
                phases[name].append(ms)
            for c in results.cases:
                outcomes[c["id"]].add(outcome.signature(c))
                cost[c["scenario"]] += c.get("duration_us", 0)
                if c["status"] == "observed" and "duration_us" in c:
                    states = [st.get("state", "") for st in c["steps"] if st["op"] == "state"]
                    if any(st.startswith("time-wait") for st in states):
                        tw_us.append(c["duration_us"])
                    elif c["scenario"] == "tcp/bind-conflict":
                        bind_us.append(c["duration_us"])
            if args.runner_only:
                continue
            # the commands, interleaved with the runner runs so that load hits all alike
            res = os.path.join(tmp, "cmd%d.jsonl" % i)
            t, proc = timed([ENTRY, "run", "-o", res] + args.runner_args, cwd=TOP)
            commands["run"].append(t)
            if proc.returncode not in (0, 1):
                failed.append("run exited %d: %s" % (proc.returncode, tail(proc)))
            hosts = [relabel(out, os.path.join(tmp, "h%d-%d.jsonl" % (i, k)), "bench-host-%d" % k)
                     for k in range(4)]
            t, proc = timed([ENTRY, "report", "-o", os.path.join(tmp, "report%d" % i)] + hosts,
                            cwd=TOP)
            commands["report"].append(t)
            if proc.returncode != 0:
                failed.append("report exited %d: %s" % (proc.returncode, tail(proc)))
        floor = {k: statistics.median(f[k] for f in floors)
                 for k in ("bind_conflict_us", "time_wait_us")} if floors else None
        test_times = []
        for _ in range(args.test):
            t, proc = timed([ENTRY, "test"], cwd=TOP)
            test_times.append(t)
            if proc.returncode != 0:
                failed.append("test exited %d: %s" % (proc.returncode, tail(proc)))
        scaling = None
        if not args.no_scaling and not args.runner_args:
            # each x4 run beside a run of the matrix, so that the ratio compares runs made
            # under the same load (the runner runs above came minutes earlier)
            x4 = copies(os.path.join(tmp, "x4"), 4)
            big, beside = [], []
            for i in range(max(1, min(3, args.runs))):
                beside.append(run_once(args.runner, [], os.path.join(tmp, "run.jsonl"))[0])
                big.append(run_once(args.runner, [], os.path.join(tmp, "x4.jsonl"),
                                    [x4]))
            scaling = (statistics.median(b[0] for b in big), max(b[2] for b in big),
                       statistics.median(beside))
    flaky = sorted(cid for cid, seen in outcomes.items() if len(seen) > 1)
    print("bindmatrix bench: %d cases, %d runs, %s" % (ncases, args.runs,
          " ".join(args.runner_args) or "default workers"))
    text, med = line("runner", times, ncases / RUNNER_RATE)
    print(text + "   (with --capture, as run gives it)")
    print("  throughput  %.0f cases/s (median runner run; target %d: %s)   CPU %.2f s   "
          "peak memory %.0f MiB (its largest process)"
          % (ncases / med if med else 0, RUNNER_RATE,
             "met" if med and ncases / med >= RUNNER_RATE else "NOT met",
             statistics.median(cpus), max(rss)))
    if scaling is not None:
        ratio = scaling[0] / scaling[2] if scaling[2] else 0
        print("  scaling     x4 the cases: %.3f s = %.2fx the time of the matrix run beside "
              "each (%.3f s; target <= %.1fx: %s), peak memory %.0f MiB (target <= %d MiB: %s)"
              % (scaling[0], ratio, scaling[2], SCALING_TARGET,
                  "met" if ratio <= SCALING_TARGET else "NOT met", scaling[1],
                  MEMORY_TARGET_MB, "met" if scaling[1] <= MEMORY_TARGET_MB else "NOT met"))
    if phases:
        print("  phases      %s (median, the runner's end record)" % ", ".join(
            "%s %.0f ms" % (name, statistics.median(ms)) for name, ms in phases.items()))
    if floor is not None and med:
        per_case = med / ncases * 1e6
        ratio = per_case / floor["bind_conflict_us"]
        spread = [f["bind_conflict_us"] for f in floors]
        print("  floor       in-process, bare socket calls (bindmatrix-runner --floor, after each "
              "runner run, median): a bind conflict %.1f us (%.1f to %.1f), a TIME_WAIT %.1f us"
              % (floor["bind_conflict_us"], min(spread), max(spread), floor["time_wait_us"]))
        print("    per case  %.1f us of wall time = %.1fx the bind-conflict floor (target <= "
              "%.0fx: %s)" % (per_case, ratio, FLOOR_RATIO,
                              ratio_verdict(per_case, floor["bind_conflict_us"], FLOOR_RATIO)))
        # the cases' own time, spread over the workers: what wall time per case cannot go
        # below, however little the runner does around them
        inside = sum(cost.values()) / float(args.runs) / ncases / workers if ncases else 0
        if inside:
            print("    the cases' own time alone, over %d workers: %.1f us of wall per case = %.1fx "
                  "the bind-conflict floor (with nothing around the cases, the runner would be "
                  "there); its wall time is %.1fx that" % (
                      workers, inside, inside / floor["bind_conflict_us"], per_case / inside))
            # where the machine's CPUs went while the runner ran (the median run): the cases,
            # what the runner does around them, and what it left to others or idle
            cpus_here = os.cpu_count() or 1
            own_ms = sum(cost.values()) / 1000.0 / args.runs
            tree_ms = statistics.median(cpus) * 1000
            room_ms = cpus_here * med * 1000
            print("    CPU         %d CPUs x %.0f ms of wall = %.0f CPU-ms: the cases' own time "
                  "%.0f, the runner around them %.0f (reading and checking the case files, "
                  "building each case, result lines, the manifest, packet capture, its "
                  "processes and namespaces), not the runner's %.0f (the kernel's own threads, "
                  "and idle: the parent reads the case files alone for %.0f ms)" % (
                      cpus_here, med * 1000, room_ms, own_ms, max(0, tree_ms - own_ms),
                      max(0, room_ms - tree_ms),
                      statistics.median(phases["load"]) if phases.get("load") else 0))
        if ref_times:
            ref = statistics.median(ref_times)
            ref_ratio = ref / ref_cases * 1e6 / floor["bind_conflict_us"]
            print("    reference %d cases%s (bench-reference.txt, the matrix the targets were "
                  "set on): median %.3f s (target <= %.2f s: %s), %.1f us per case = %.1fx the "
                  "floor (target <= %.0fx: %s)" % (
                      ref_cases, "" if ref_cases == REFERENCE_CASES
                      else " (%d when the targets were set)" % REFERENCE_CASES, ref,
                      REFERENCE_TARGET, "met" if ref <= REFERENCE_TARGET else "NOT met",
                      ref / ref_cases * 1e6, ref_ratio, FLOOR_RATIO,
                      ratio_verdict(ref / ref_cases * 1e6, floor["bind_conflict_us"],
                                    FLOOR_RATIO)))
        if bind_us:
            own = statistics.median(bind_us)
            print("    tcp/bind-conflict cases: %.0f us each inside their worker (median) = "
                  "%.1fx the floor" % (own, own / floor["bind_conflict_us"]))
        if tw_us:
            own = statistics.median(tw_us)
            r = own / floor["time_wait_us"]
            print("    TIME_WAIT cases: %.0f us each inside their worker (median of %d) = %.1fx "
                  "their floor (target <= %.0fx: %s)" % (
                      own, len(tw_us), r, TIME_WAIT_RATIO,
                      ratio_verdict(own, floor["time_wait_us"], TIME_WAIT_RATIO)))
    for name, ts in commands.items():
        if ts:
            print(line(name, ts, TARGETS[name])[0] + ("   (4 hosts)" if name == "report" else ""))
    if test_times:
        print(line("test", test_times, TEST_TARGET)[0] + "   (./bindmatrix test: the quick tier)")
    print("  costliest scenarios (case time summed over all runs, all workers):")
    total = sum(cost.values()) or 1
    for scenario, us in sorted(cost.items(), key=lambda kv: -kv[1])[:8]:
        print("    %-40s %8.1f ms  %4.1f%%" % (scenario, us / 1000.0 / args.runs, 100.0 * us / total))
    for f in failed:
        print("  FAILED: %s" % f)
    if flaky:
        print("  FLAKY: %d cases did not give the same outcome in every run:" % len(flaky))
        for cid in flaky[:20]:
            print("    " + cid)
        return 1
    print("  repeatable: every case gave the same outcome in every run")
    return 1 if failed else 0


KERNELS_TARGET = 120.0


def bench_kernels():
    """The kernels command's default set, timed as a whole; it prints each target's boot and
    run time itself."""
    with tempfile.TemporaryDirectory(prefix="bindmatrix-bench-kernels.") as tmp:
        start = time.monotonic()
        proc = subprocess.run([ENTRY, "kernels", "-o", tmp], cwd=TOP, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True)
        took = time.monotonic() - start
    for line in proc.stdout.splitlines():
        if line.startswith(("bindmatrix kernels:", "  linux-", "  gvisor", "compared")) \
                or " -> " in line:
            print(line)
    print("  default set: %.0f s from start to report (target under %.0f s: %s)"
          % (took, KERNELS_TARGET, "met" if took < KERNELS_TARGET else "NOT met"))
    return 0 if proc.returncode == 0 and took < KERNELS_TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
