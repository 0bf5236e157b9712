"""The conformance run as a user meets it: pytest over a results file, and `bindmatrix check`
(which writes JUnit from the judge's verdicts)."""

import json
import os
import shutil
import xml.etree.ElementTree as ET

from fixturekit import HARNESS, SAMPLE_CASES, SAMPLE_RESULTS, run_cli, run_module, \
    write_file, write_records

CONFORMANCE = os.path.join(HARNESS, "test_conformance.py")
MISMATCHED = "tcp/second-listener[family=ipv4,a_opts=reuseaddr,b_opts=reuseaddr]"
NEW_SCENARIO = """\
title: A new scenario without expectations yet
ref: "bind(2)"
matrix:
  x: [1]
sockets:
  a: {proto: udp, family: ipv4}
steps:
  - {op: bind, socket: a, addr: loopback, port: P1}
"""


def run_pytest(cwd, *args):
    return run_module("pytest", ["-p", "no:cacheprovider", CONFORMANCE, "-q", "--tb=no", "-rN"]
                      + list(args), cwd, env=dict(os.environ))


def run_check(cwd, *args):
    return run_cli(["check"] + list(args), cwd)


def sample_records():
    with open(SAMPLE_RESULTS, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_all_pass(tmp_path):
    code, out = run_pytest(tmp_path, "--results", SAMPLE_RESULTS, "--cases", SAMPLE_CASES)
    assert code == 0, out
    assert "5 cases: 4 match, 0 mismatch, 0 unknown, 0 no-expectation, 0 error, 1 skipped" \
        in out
    assert "1  IPv6 is disabled in this namespace" in out
    assert "2 passed" in out            # one test per scenario


def test_check_writes_junit_with_one_testcase_per_case(tmp_path):
    results = shutil.copy(SAMPLE_RESULTS, str(tmp_path / "linux-sample.jsonl"))
    code, out = run_check(tmp_path, results, "--cases", SAMPLE_CASES)
    assert code == 0, out
    root = ET.parse(str(tmp_path / "linux-sample.junit.xml")).getroot()
    cases = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert len(cases) == 5
    tc = cases["udp/reuseport-delivery[family=ipv4]"]
    assert tc.get("classname") == "udp/reuseport-delivery"
    assert list(tc) == []                                    # a match: passed
    skipped = cases["udp/reuseport-delivery[family=ipv6]"].find("skipped")
    assert skipped is not None and "IPv6 is disabled" in skipped.get("message")
    assert os.path.exists(str(tmp_path / "linux-sample.summary.md"))


def broken_set(tmp_path):
    cases_dir = tmp_path / "cases"
    shutil.copytree(SAMPLE_CASES, str(cases_dir))
    write_file(cases_dir / "udp" / "new-scenario" / "case.yaml", NEW_SCENARIO)
    records = sample_records()
    for r in records:
        if r.get("id") == MISMATCHED:
            r["steps"][1]["result"] = "ok"
            r["steps"][2]["result"] = "ok"
    end = records.pop()
    records.append({"record": "case", "id": "tcp/second-listener[family=ipv6,a_opts=none,"
                    "b_opts=none]", "scenario": "tcp/second-listener", "title": "Second",
                    "axes": {"family": "ipv6"}, "status": "error",
                    "reason": "a.state: the listener did not become listening", "steps": []})
    records.append({"record": "case", "id": "udp/new-scenario[x=1]", "scenario":
                    "udp/new-scenario", "axes": {"x": "1"}, "status": "observed",
                    "steps": [{"label": "a.bind", "op": "bind", "result": "ok"}]})
    end.update(cases=end["cases"] + 2, error=1, observed=end["observed"] + 1)
    records.append(end)
    return cases_dir, write_records(tmp_path / "r.jsonl", records)


def test_mismatch_error_and_missing_fail_with_blocks(tmp_path):
    cases_dir, results = broken_set(tmp_path)
    code, out = run_pytest(tmp_path, "--results", results, "--cases", str(cases_dir))
    assert code == 1, out
    assert "7 cases: 3 match, 1 mismatch, 0 unknown, 1 no-expectation, 1 error, 1 skipped" \
        in out
    block = out[out.index("MISMATCH " + MISMATCHED):]
    for line in ["b.bind    EADDRINUSE  ok        <-- differs",
                 "b.listen  not-run     ok        <-- differs",
                 "  why: A listening socket holds its port exclusively unless both sockets set",
                 "  source: socket(7): SO_REUSEADDR",
                 "  provenance: observed on 6.1.0-18-amd64",
                 "  rule: cases/tcp/second-listener/linux.yaml:9"]:
        assert line in block, block
    assert "ERROR tcp/second-listener[family=ipv6,a_opts=none,b_opts=none]" in out
    assert "precondition did not hold: a.state: the listener did not become listening" in out
    assert ("NO EXPECTATION for 1 case: add rules to cases/udp/new-scenario/linux.yaml "
            "(the file does not exist yet)") in out
    assert "    - when: {x: 1}\n      expect: {a.bind: ok}\n" in out
    # -k selects scenarios; the counts follow the selection
    code, out = run_pytest(tmp_path, "--results", results, "--cases", str(cases_dir),
                           "-k", "udp/reuseport-delivery")
    assert code == 0, out
    assert "2 cases: 1 match," in out


def test_check_junit_carries_expected_observed_why_source(tmp_path):
    cases_dir, results = broken_set(tmp_path)
    code, out = run_check(tmp_path, results, "--cases", str(cases_dir))
    assert code == 1, out
    junit = {t.get("name"): t for t in ET.parse(str(tmp_path / "r.junit.xml")).getroot()
             .iter("testcase")}
    failure = junit[MISMATCHED].find("failure")
    assert failure.get("type") == "mismatch"
    for text in ("expected: bind EADDRINUSE · listen not-run", "observed: bind ok · listen ok",
                 "why: A listening socket holds", "source: socket(7): SO_REUSEADDR",
                 "second-listener/linux.yaml:9"):
        assert text in failure.get("message") + failure.text, failure.text
    assert junit["udp/new-scenario[x=1]"].find("failure").get("type") == "no-expectation"
    assert junit["tcp/second-listener[family=ipv6,a_opts=none,b_opts=none]"].find("error") \
        is not None


def test_broken_expectation_file_fails_its_cases(tmp_path):
    cases_dir = tmp_path / "cases"
    shutil.copytree(SAMPLE_CASES, str(cases_dir))
    with open(str(cases_dir / "udp" / "reuseport-delivery" / "linux.yaml"), "a") as f:
        f.write("  colour: red\n")
    code, out = run_pytest(tmp_path, "--results", SAMPLE_RESULTS, "--cases", str(cases_dir))
    assert code == 1, out
    assert "cases/udp/reuseport-delivery/linux.yaml:10: field 'colour': unknown key" in out


def test_results_required(tmp_path):
    code, out = run_pytest(tmp_path)
    assert code != 0
    assert "--results PATH" in out


def test_bad_results_file_is_a_usage_error(tmp_path):
    path = write_file(tmp_path / "r.jsonl", open(SAMPLE_RESULTS).read().rsplit("\n", 2)[0] + "\n")
    code, out = run_pytest(tmp_path, "--results", path, "--cases", SAMPLE_CASES)
    assert code != 0
    assert "r.jsonl:6: truncated: no end record" in out
    code, out = run_check(tmp_path, path, "--cases", SAMPLE_CASES)
    assert code == 2 and "r.jsonl:6: truncated: no end record" in out
