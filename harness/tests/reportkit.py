"""Helpers for the report and diff tests: real results from the runner, and edited copies."""

import json
import os
import shutil
import subprocess

from fixturekit import HARNESS, write_records  # noqa: F401 (re-exported for the report tests)

REPO = os.path.dirname(HARNESS)
RUNNER = os.path.join(REPO, "build", "bindmatrix-runner")
CASES = os.path.join(REPO, "cases")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def read_records(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def edit_results(src, dst, host=None, release=None, os_name=None, results=None,
                 delivery=None, skip=(), error=(), drop=(), add=()):
    """Copy a results file with changes, keeping the end record's counts right.

    results:  {case id: {step label: new result}}
    delivery: {case id: {receiver: count}} (the deliver step's received counts)
    skip / error: case ids made skipped / error;  drop: case ids removed
    add: case records appended (before the end record)
    """
    records = read_records(src)
    run, cases, end = records[0], records[1:-1], records[-1]
    if host is not None:
        run["host"] = host
    if release is not None:
        run["os_release"] = release
    if os_name is not None:
        run["os"] = os_name
    out = []
    for c in cases:
        cid = c["id"]
        if cid in drop:
            continue
        for step in c["steps"]:
            new = (results or {}).get(cid, {}).get(step["label"])
            if new is not None:
                step["result"] = new
        if cid in (delivery or {}):
            for step in c["steps"]:
                if step.get("delivery"):
                    step["delivery"]["received"].update(delivery[cid])
            for d in (c.get("delivery") or {}).values():
                d["received"].update(delivery[cid])
        if cid in skip:
            c["status"], c["reason"] = "skipped", "edited: pretend this host lacks the option"
        if cid in error:
            c["status"], c["reason"] = "error", "edited: pretend the precondition failed"
        out.append(c)
    out.extend(add)
    end.update(cases=len(out), observed=sum(c["status"] == "observed" for c in out),
               skipped=sum(c["status"] == "skipped" for c in out),
               error=sum(c["status"] == "error" for c in out))
    return write_records(dst, [run] + out + [end])


def real_results(path):
    """Run the runner on the repository's committed scenarios into path, or None (with the
    reason) when the runner is not built or cannot run here."""
    if not os.path.exists(RUNNER):
        return None, "the runner is not built (./bindmatrix build)"
    scenarios = [os.path.join(CASES, s) for s in (
        "tcp/second-listener", "tcp/rebind-time-wait", "tcp/different-local-address",
        "tcp/restart-with-established-child", "tcp/two-reuseport-listeners",
        "udp/unicast-reuseaddr", "udp/multicast-group")]
    scenarios = [s for s in scenarios if os.path.isdir(s)]
    proc = subprocess.run([RUNNER, "-q", "-o", str(path)] + scenarios, cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    if not os.path.exists(str(path)) or os.path.getsize(str(path)) == 0:
        return None, "the runner wrote no results (exit %d): %s" % (proc.returncode,
                                                                   proc.stdout[-500:])
    return str(path), ""
