"""./bindmatrix bench: how fast the whole matrix runs here, and whether it is repeatable.

Runs the runner several times over the same cases, then prints the wall time of each run
(min / median / max), cases per second, the scenarios that cost the most (from each case's
duration_us), and every case whose outcome was not the same in all runs: a flaky case is a
bug in the runner or the case, never noise to be averaged away. Exits 1 on any flaky case.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

from . import outcome
from .results import ResultsError, load_results


def run_once(runner, args, out):
    start = time.monotonic()
    proc = subprocess.run([runner, "-q", "-o", out] + args, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError("runner failed (exit %d): %s" % (proc.returncode, proc.stderr.strip()))
    return elapsed


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bindmatrix bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runner", required=True, help="path to bindmatrix-runner")
    ap.add_argument("-n", "--runs", type=int, default=5, help="how many runs (default 5)")
    ap.add_argument("runner_args", nargs="*", help="passed to the runner (e.g. -j 1, --filter X)")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    times, outcomes, cost = [], defaultdict(set), defaultdict(int)
    ncases = 0
    with tempfile.TemporaryDirectory(prefix="bindmatrix-bench.") as tmp:
        for i in range(args.runs):
            out = os.path.join(tmp, "run%d.jsonl" % i)
            try:
                times.append(run_once(args.runner, args.runner_args, out))
                results = load_results(out)
            except (RuntimeError, ResultsError) as e:
                print("bindmatrix bench: %s" % e, file=sys.stderr)
                return 2
            ncases = len(results.cases)
            for c in results.cases:
                outcomes[c["id"]].add(outcome.signature(c))
                cost[c["scenario"]] += c.get("duration_us", 0)
    flaky = sorted(cid for cid, seen in outcomes.items() if len(seen) > 1)
    med = statistics.median(times)
    print("bindmatrix bench: %d cases, %d runs, %s" % (ncases, args.runs,
          " ".join(args.runner_args) or "default workers"))
    print("  wall time   min %.3f s   median %.3f s   max %.3f s" % (min(times), med, max(times)))
    print("  throughput  %.0f cases/s (median run)" % (ncases / med if med else 0))
    print("  costliest scenarios (case time summed over all runs, all workers):")
    total = sum(cost.values()) or 1
    for scenario, us in sorted(cost.items(), key=lambda kv: -kv[1])[:8]:
        print("    %-40s %8.1f ms  %4.1f%%" % (scenario, us / 1000.0 / args.runs, 100.0 * us / total))
    if flaky:
        print("  FLAKY: %d cases did not give the same outcome in every run:" % len(flaky))
        for cid in flaky[:20]:
            print("    " + cid)
        return 1
    print("  repeatable: every case gave the same outcome in every run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
