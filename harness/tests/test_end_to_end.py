"""Run the conformance tests in a subprocess, as ./bindmatrix run does."""

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

from fixturekit import HARNESS, SAMPLE_CASES, SAMPLE_RESULTS, write_file, write_records

CONFORMANCE = os.path.join(HARNESS, "test_conformance.py")
MISMATCHED = "tcp/second-listener[family=ipv4,a_opts=reuseaddr,b_opts=reuseaddr]"


def run_pytest(cwd, *args):
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", CONFORMANCE,
           "-q", "--tb=no", "-rN"] + list(args)
    proc = subprocess.run(cmd, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120)
    return proc.returncode, proc.stdout


def sample_records():
    with open(SAMPLE_RESULTS, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_all_pass(tmp_path):
    junit = tmp_path / "out.junit.xml"
    code, out = run_pytest(tmp_path, "--results", SAMPLE_RESULTS, "--cases", SAMPLE_CASES,
                           "--junitxml", str(junit))
    assert code == 0, out
    assert "5 cases: 4 passed, 0 mismatch, 0 no expectation, 0 error, 1 skipped" in out
    assert "1  IPv6 is disabled in this namespace" in out
    root = ET.parse(str(junit)).getroot()
    cases = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert "udp/reuseport-delivery[family=ipv4]" in cases
    tc = cases["udp/reuseport-delivery[family=ipv4]"]
    assert tc.get("classname") == "udp/reuseport-delivery"
    props = {p.get("name"): p.get("value") for p in tc.iter("property")}
    assert props["expected"] == "b.bind=ok, deliver=a=some b=some"
    assert props["observed"] == "a.state=ok, b.bind=ok, deliver=a=29/64 b=35/64"
    assert props["source"].startswith("socket(7): SO_REUSEPORT")
    assert props["why"].startswith("Linux balances datagrams")
    assert props["bindmatrix.verdict"] == "passed"
    assert cases["udp/reuseport-delivery[family=ipv6]"].find("skipped") is not None


def test_mismatch_error_and_missing_fail_with_blocks(tmp_path):
    cases_dir = tmp_path / "cases"
    shutil.copytree(SAMPLE_CASES, str(cases_dir))
    # a scenario with no linux.yaml
    write_file(cases_dir / "udp" / "new-scenario" / "case.yaml", "title: x\n")
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
                    "udp/new-scenario", "axes": {"x": 1}, "status": "observed",
                    "steps": [{"label": "a.bind", "op": "bind", "result": "ok"}]})
    end.update(cases=end["cases"] + 2, error=1, observed=end["observed"] + 1)
    records.append(end)
    results = write_records(tmp_path / "r.jsonl", records)
    junit = tmp_path / "out.junit.xml"

    code, out = run_pytest(tmp_path, "--results", results, "--cases", str(cases_dir),
                           "--junitxml", str(junit))
    assert code == 1, out
    assert "7 cases: 3 passed, 1 mismatch, 1 no expectation, 1 error, 1 skipped" in out
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

    tc = {t.get("name"): t for t in ET.parse(str(junit)).getroot().iter("testcase")}[MISMATCHED]
    failure = tc.find("failure")
    assert failure is not None and "b.bind    EADDRINUSE  ok        <-- differs" in failure.text
    props = {p.get("name"): p.get("value") for p in tc.iter("property")}
    assert props["bindmatrix.verdict"] == "mismatch"
    assert props["expected"] == "b.bind=EADDRINUSE, b.listen=not-run"
    assert props["observed"] == "a.state=ok, b.bind=ok, b.listen=ok"
    assert props["why"].startswith("A listening socket holds")
    assert props["source"] == "socket(7): SO_REUSEADDR"
    assert props["rule"] == "cases/tcp/second-listener/linux.yaml:9"
    missing = {t.get("name"): t for t in ET.parse(str(junit)).getroot().iter("testcase")}[
        "udp/new-scenario[x=1]"].find("failure").text
    assert "no expectation for this case on linux (add a rule to" in missing
    assert "new-scenario/linux.yaml)" in missing


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
    code, out = run_pytest(tmp_path, "--results", path)
    assert code != 0
    assert "r.jsonl:6: truncated: no end record" in out
