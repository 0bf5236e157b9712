"""Builders for results records and files used by the harness self-tests."""

import json
import os

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
