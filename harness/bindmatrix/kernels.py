"""./bindmatrix kernels [TARGET...]: the matrix on other stacks of this machine, side by side.

Targets:
  host                      this machine's kernel (the runner as ./bindmatrix run runs it)
  gvisor                    gVisor (Debian's runsc), an independent implementation of the
                            Linux socket API: `runsc --network=none do` (no other network mode:
                            those edit the host's firewall and routes)
  5.10, 6.1, 6.12           the newest Debian cloud kernel of that series, under QEMU
  linux-image-...           a Debian kernel package, under QEMU

Default: 5.10 6.1 6.12 host gvisor.  Each target writes DIR/<label>.jsonl (guests keep their
console log beside it); then every target is compared with the host (the upgrade gate's
classes) and the merged portability report is written to DIR.

  --gate CANDIDATE          run the current kernel (host, or --baseline FILE) and CANDIDATE,
                            and give the upgrade gate's verdict (exit 0 / 1 / 2 as diff)

Exit status: 0 every target observed; 1 a target failed (it could not boot, hung, or wrote
no results) or, with --gate, a change closes the gate; 2 bad input.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field

from . import diffgate, forked, runnerargs
from .compare import display_path
from .expectations import ExpectationError
from .results import ResultsError, load_results

HARNESS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = os.path.dirname(HARNESS)
CASES = os.path.join(TOP, "cases")
DEFAULT_DIR = os.path.join(TOP, "reports", "kernels")
DEFAULT_TARGETS = ("5.10", "6.1", "6.12", "host", "gvisor")
RUNNER = os.environ.get("BINDMATRIX_RUNNER") or os.path.join(TOP, "build", "bindmatrix-runner")
STATIC_RUNNER = os.environ.get("BINDMATRIX_STATIC_RUNNER") or os.path.join(
    TOP, "build-static", "bindmatrix-runner")


@dataclass
class Outcome:
    """What one target gave: results, or an error with the log that explains it."""
    target: str
    label: str = ""
    results: str = None             # path of the results file
    error: str = ""
    log: str = ""                   # console log (guests) or the runner's stderr
    timings: dict = field(default_factory=dict)   # boot / run / total seconds
    accel: str = ""

    @property
    def ok(self):
        return self.results is not None and not self.error


def runner_args(label, stack, out, extra):
    return ["-q", "--host-label", label, "--stack", stack, "-o", out] + list(extra)


def run_host(outdir, extra, timeout):
    """The runner on this kernel."""
    label = subprocess.run([RUNNER, "--print-host"], stdout=subprocess.PIPE,
                           universal_newlines=True, check=True).stdout.strip()
    return _run_local("host", label, "kernel", [RUNNER], outdir, extra, timeout)


def run_gvisor(outdir, extra, timeout):
    """The runner inside gVisor, with no network but its own loopback.  `runsc do` lays a
    tmpfs over the host's files, so the results come back on standard output."""
    runsc = shutil.which("runsc")
    if runsc is None:
        return Outcome("gvisor", "gvisor", error="runsc is not installed (apt-get install runsc)")
    version = gvisor_version(runsc)
    label = "gvisor-%s" % version.split()[-1] if version else "gvisor"
    return _run_local("gvisor", label, "gvisor %s" % version,
                      [runsc, "--network=none", "do", RUNNER], outdir, extra, timeout,
                      to_stdout=True)


def gvisor_version(runsc):
    proc = subprocess.run([runsc, "--version"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=30)
    first = proc.stdout.splitlines()[0] if proc.stdout else ""
    return first.replace("runsc version", "").strip() or "unknown"


def _run_local(target, label, stack, command, outdir, extra, timeout, to_stdout=False):
    out = os.path.join(outdir, "%s.jsonl" % safe(label))
    log = os.path.join(outdir, "%s.log" % safe(label))
    tmp = "%s.%d.part" % (out, os.getpid())     # two runs into one folder: apart
    args = runner_args(label, stack, "/dev/stdout" if to_stdout else tmp, extra) + [CASES]
    start = time.monotonic()
    with open(log, "w") as err, open(tmp if to_stdout else os.devnull, "w") as res:
        try:
            # a session of its own, so that a ^C is this process's to handle; killed when
            # this process dies, so that a SIGKILL of it leaves no matrix running
            proc = subprocess.run(forked.die_with_us(command + args), stdout=res, stderr=err,
                                  timeout=timeout, start_new_session=True)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            _remove(tmp)
            return Outcome(target, label, error="no results within %d s" % timeout, log=log)
        except BaseException:           # a ^C or a SIGTERM: subprocess.run killed it
            _remove(tmp)
            raise
    took = time.monotonic() - start
    o = Outcome(target, label, log=log, timings={"run": took, "total": took})
    try:
        load_results(tmp)
    except ResultsError as e:
        o.error = "the runner exited with %d and wrote no valid results (%s; see %s)" % (
            rc, e, display_path(log))
        _remove(tmp)
        return o
    os.replace(tmp, out)            # only complete results replace an earlier run's
    o.results = out
    return o


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def safe(label):
    return "".join(c if c.isalnum() or c in "._+-" else "_" for c in label)


def run_targets(targets, outdir, extra, timeout, jobs):
    """Every target, guests in parallel (up to jobs at once) after the local ones."""
    from . import stacks
    outcomes = {}
    guests = [t for t in targets if t not in ("host", "gvisor")]
    for t in targets:
        if t == "host":
            outcomes[t] = run_host(outdir, extra, timeout)
        elif t == "gvisor":
            outcomes[t] = run_gvisor(outdir, extra, timeout)
    if guests:
        for o in stacks.run_guests(guests, outdir, STATIC_RUNNER, CASES, extra, timeout, jobs):
            outcomes[o.target] = o
    return [outcomes[t] for t in targets]


# ---- what each target says ------------------------------------------------------------

def compare_with(base, outcome):
    """One line: how the target's outcomes differ from the host's."""
    try:
        b, c = load_results(base.results), load_results(outcome.results)
    except ResultsError as e:
        return "cannot compare: %s" % e
    diffs = diffgate.diff(b, c, diffgate.DEFAULT_GATING)
    counts = diffgate.counts(diffs, len(b.cases))
    if not diffs:
        return "no change in %d cases" % counts["unchanged"]
    return ", ".join("%d %s" % (counts[k], k) for k in diffgate.CLASSES if counts[k]) + \
        " (%d unchanged)" % counts["unchanged"]


def status_line(o):
    if not o.ok:
        return "ERROR: %s" % o.error + ("" if not o.log or o.log in o.error
                                        else " (log: %s)" % display_path(o.log))
    rs = load_results(o.results)
    e = rs.end
    times = " ".join("%s %.1f s" % (k, v) for k, v in o.timings.items())
    return "%d observed, %d skipped, %d error   %s%s" % (
        e["observed"], e["skipped"], e["error"], times, ("   (%s)" % o.accel) if o.accel else "")


def report(outcomes, outdir):
    from .report import cli as report_cli
    paths = [o.results for o in outcomes if o.ok]
    if not paths:
        return 1
    return report_cli.main(paths + ["-o", outdir])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bindmatrix kernels",
                                 usage="%(prog)s [TARGET...] [options] [-- RUNNER ARGS]",
                                 description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("targets", nargs="*", metavar="TARGET")
    ap.add_argument("-o", "--output", default=DEFAULT_DIR, metavar="DIR",
                    help="where results, logs and the report go (default: reports/kernels)")
    ap.add_argument("--gate", metavar="CANDIDATE",
                    help="gate an upgrade to CANDIDATE (a kernel target)")
    ap.add_argument("--baseline", metavar="FILE",
                    help="with --gate: the current kernel's results (default: run the host)")
    ap.add_argument("--allow", metavar="FILE", action="append", default=[],
                    help="with --gate: allowlist of accepted changes (as for diff)")
    ap.add_argument("--timeout", type=int, default=300, metavar="S",
                    help="bound on each target, boot included (default 300 s)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                    help="guests at once (default: one per CPU)")
    argv = list(sys.argv[1:] if argv is None else argv)
    # after --: runner arguments for every target (e.g. -f tcp/), untouched
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    targets = list(args.targets or DEFAULT_TARGETS)
    if args.gate:
        if args.targets:
            ap.error("--gate CANDIDATE runs the current kernel and CANDIDATE; give no other "
                     "targets (%s)" % " ".join(args.targets))
        targets = ([] if args.baseline else ["host"]) + [args.gate]
    why = refused(args, targets, extra)
    if why:
        ap.error(why)
    os.makedirs(args.output, exist_ok=True)

    start = time.monotonic()
    outcomes = run_targets(targets, args.output, extra, args.timeout, max(1, args.jobs))
    print("bindmatrix kernels: %d target%s in %.0f s" % (
        len(outcomes), "" if len(outcomes) == 1 else "s", time.monotonic() - start))
    host = next((o for o in outcomes if o.target == "host" and o.ok), None)
    for o in outcomes:
        print("  %-34s %s" % (o.label or o.target, status_line(o)))
    if host is not None:
        print("compared with the host (%s):" % host.label)
        for o in outcomes:
            if o is not host and o.ok:
                print("  %s -> %s: %s" % (o.label, host.label, compare_with(o, host))
                      if o.target != "gvisor" else
                      "  %s: %s" % (o.label, compare_with(host, o)))
    failed = [o for o in outcomes if not o.ok]
    if args.gate:
        return gate(args, outcomes, failed, extra)
    rc = report(outcomes, args.output)
    return 1 if failed or rc not in (0,) else 0


# what each target's runner is given by this command (runner_args): not the user's to set
OWN_RUNNER_ARGS = ("-o", "--output", "--output-dir", "--host-label", "--stack")


def refused(args, targets, extra):
    """Why the command line cannot be carried out, found before any target starts (a guest
    boots for a minute before its runner would say so); None when it can."""
    from .stacks import debian
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        return "-o %s: not a folder" % args.output
    if args.timeout < 1:
        return "--timeout must be at least 1 second, not %d" % args.timeout
    if args.jobs < 1:
        return "--jobs must be at least 1, not %d" % args.jobs
    if not args.gate and (args.baseline or args.allow):
        return "--baseline and --allow go with --gate CANDIDATE"
    if args.gate == "host" and not args.baseline:
        return ("--gate host would compare this kernel with itself: give the results of the "
                "kernel it replaces with --baseline FILE")
    seen = set()
    for t in targets:
        if t in seen:
            return "target %s is given twice" % t
        seen.add(t)
        why = None if t in ("host", "gvisor") else debian.unknown_target(t)
        if why:
            return why + ", or host or gvisor"
    if args.baseline:
        try:
            base = load_results(args.baseline)
        except ResultsError as e:
            return "--baseline: %s" % e
        if base.run.get("partial") and not extra:
            return ("--baseline %s is a partial run: gate against a full run, or give the same "
                    "selection after -- (e.g. -- -f tcp/)" % args.baseline)
    for path in args.allow:
        try:
            diffgate.load_allowlist(path)
        except ExpectationError as e:
            return "--allow: %s" % "; ".join(e.problems)
    if extra:
        why = runnerargs.refused(RUNNER, CASES, extra, own=OWN_RUNNER_ARGS)
        if why:
            return "the runner arguments after -- (%s): %s" % (" ".join(extra), why)
    return None


def gate(args, outcomes, failed, extra):
    """The upgrade gate between the current kernel and the candidate."""
    from . import diffcli
    if failed:
        print("bindmatrix kernels: the gate cannot be decided: %s" % "; ".join(
            "%s: %s" % (o.target, o.error) for o in failed), file=sys.stderr)
        return 1
    base = args.baseline or outcomes[0].results
    cand = outcomes[-1].results
    print("")
    cmd = [base, cand]
    for a in args.allow:
        cmd += ["--allow", a]
    if extra:
        cmd.append("--allow-partial")   # both sides ran the same selection of the cases
    return diffcli.main(cmd)


if __name__ == "__main__":
    sys.exit(main())
