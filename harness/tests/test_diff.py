"""./bindmatrix diff: the upgrade gate classifies every difference and exits accordingly."""

import json
import os
import subprocess
import sys

import pytest

from bindmatrix import diffcli, diffgate
from bindmatrix.compare import display_path
from bindmatrix.results import load_results
from fixturekit import SAMPLE_RESULTS, case_record, step, write_file
from reportkit import REPO, edit_results, read_records, write_records

LISTENER = "tcp/second-listener[family=ipv4,a_opts=reuseaddr,b_opts=reuseaddr]"
NONE = "tcp/second-listener[family=ipv4,a_opts=none,b_opts=none]"
REUSEPORT = "tcp/second-listener[family=ipv4,a_opts=reuseport,b_opts=reuseport]"
DELIVERY = "udp/reuseport-delivery[family=ipv4]"
SKIPPED = "udp/reuseport-delivery[family=ipv6]"
NEW = "tcp/second-listener[family=ipv6,a_opts=none,b_opts=none]"


@pytest.fixture
def candidate(tmp_path):
    """One difference of every class but fixed... and fixed too."""
    extra = case_record(NEW, steps=[step("b.bind", "EADDRINUSE")], axes={"family": "ipv6"})
    path = edit_results(SAMPLE_RESULTS, str(tmp_path / "after.jsonl"), release="6.8.0",
                        host="linux-6.8.0", results={LISTENER: {"b.bind": "ok",
                                                                "b.listen": "ok"}},
                        error=[NONE], drop=[REUSEPORT], add=[extra])
    records = read_records(path)
    for r in records:
        if r.get("id") == SKIPPED:             # skipped before, observed now: fixed
            r.update(status="observed", steps=[step("b.bind", "ok")])
            r.pop("reason")
        if r.get("id") == DELIVERY:            # skipped now
            r.update(status="skipped", reason="no SO_REUSEPORT", steps=[])
            r.pop("delivery", None)
    records[-1].update(observed=sum(r.get("status") == "observed" for r in records),
                       skipped=sum(r.get("status") == "skipped" for r in records))
    return write_records(path, records)


def run(argv, capsys):
    code = diffcli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_identical_inputs_pass(capsys):
    code, out, _ = run([SAMPLE_RESULTS, SAMPLE_RESULTS], capsys)
    assert code == 0
    assert "5 unchanged · 0 changed" in out and "PASS: no case changed, and the run records agree." in out


def test_ports_addresses_durations_and_counts_within_a_class_never_count(tmp_path, capsys):
    records = read_records(SAMPLE_RESULTS)
    for r in records:
        for s in r.get("steps", []):
            if "port" in s:
                s["port"] += 7
            if "addr" in s:
                s["addr"] = "127.0.0.9"
            if s.get("delivery"):
                s["delivery"]["received"] = {"a": 40, "b": 24}    # still some / some
        if "duration_us" in r:
            r["duration_us"] *= 3
    other = write_records(str(tmp_path / "noise.jsonl"), records)
    code, out, _ = run([SAMPLE_RESULTS, other], capsys)
    assert code == 0, out


def test_every_class(candidate):
    diffs = diffgate.diff(load_results(SAMPLE_RESULTS), load_results(candidate))
    kinds = {d.case: d.kind for d in diffs}
    assert kinds == {LISTENER: "changed", NONE: "newly-error", REUSEPORT: "removed",
                     DELIVERY: "newly-skipped", SKIPPED: "fixed", NEW: "new"}
    changed = next(d for d in diffs if d.kind == "changed")
    assert changed.steps == [("b.bind", "EADDRINUSE", "ok"), ("b.listen", "not-run", "ok")]
    assert changed.before == "bind EADDRINUSE · listen not-run"
    assert changed.after == "bind ok · listen ok"
    assert {d.kind for d in diffs if d.gating} == {"changed", "newly-error", "removed",
                                                   "newly-skipped"}


def test_changes_fail_the_gate_with_a_readable_summary_and_json(candidate, tmp_path, capsys):
    out_json = str(tmp_path / "diff.json")
    code, out, _ = run([SAMPLE_RESULTS, candidate, "-o", out_json], capsys)
    assert code == 1
    assert "linux-6.1.0-18-amd64 -> linux-6.8.0" in out
    assert "0 unchanged · 1 changed · 1 new · 1 removed · 1 newly-skipped · 1 newly-error · " \
           "1 fixed" in out
    assert "CHANGED %s\n    b.bind    EADDRINUSE -> ok\n" % LISTENER in out
    assert "REMOVED %s" % REUSEPORT in out
    assert "NEWLY SKIPPED %s" % DELIVERY in out and "(no SO_REUSEPORT)" in out
    assert "FAIL: 4 differences close the gate" in out
    assert '  - case: "%s"\n    change: changed\n    to: "bind ok · listen ok"' % LISTENER in out
    doc = json.load(open(out_json))
    assert doc["schema"] == "bindmatrix-diff/1" and doc["verdict"] == "fail"
    assert doc["counts"]["changed"] == 1 and doc["blocking"] == 4
    d = next(x for x in doc["differences"] if x["case"] == LISTENER)
    assert d["class"] == "changed" and d["blocking"] is True
    assert d["steps"][0] == {"label": "b.bind", "before": "EADDRINUSE", "after": "ok"}
    assert doc["baseline"]["os_release"] == "6.1.0-18-amd64"


def test_an_allowlist_accepts_changes_and_reports_unused_entries(candidate, tmp_path, capsys):
    allow = write_file(str(tmp_path / "allow.yaml"), """\
- case: "tcp/second-listener[family=ipv4,a_opts=reuseaddr,b_opts=reuseaddr]"
  change: changed
  to: "bind ok · listen ok"
  reason: "6.8 lets a second SO_REUSEADDR listener bind (test)"
- case: "tcp/second-listener[*"
  change: [removed, newly-error]
  reason: the scenario was reworked
- case: "udp/*"
  change: newly-skipped
  reason: this CI host has no SO_REUSEPORT
- case: "special/*"
  change: changed
  reason: stale entry
""")
    out_json = str(tmp_path / "diff.json")
    code, out, err = run([SAMPLE_RESULTS, candidate, "--allow", allow, "-o", out_json], capsys)
    assert code == 0, out
    assert "allowed by %s:1: 6.8 lets a second" % display_path(allow) in out
    assert "PASS: 7 differences, none closing the gate (4 allowed)" in out   # 6 cases, os_release
    assert "allowlist entry %s:11 (case 'special/*', change changed) accepted nothing" \
        % display_path(allow) in err
    doc = json.load(open(out_json))
    assert doc["verdict"] == "pass"
    assert doc["unused_allowlist"][0]["case"] == "special/*"


def test_an_allowlist_for_another_outcome_does_not_accept(candidate, tmp_path, capsys):
    allow = write_file(str(tmp_path / "allow.yaml"), """\
- case: "tcp/second-listener[family=ipv4,a_opts=reuseaddr,b_opts=reuseaddr]"
  to: "bind EACCES · listen not-run"
  reason: expected a different change
""")
    code, out, _ = run([SAMPLE_RESULTS, candidate, "--allow", allow, "--fail-on", "changed"],
                       capsys)
    assert code == 1 and "FAIL: 1 difference closes the gate (changed 1)" in out


@pytest.mark.parametrize("text, message", [
    ("- case: x\n  change: changed\n", "allow.yaml:1: field 'reason': is required"),
    ("- case: x\n  change: broke\n  reason: r\n", "allow.yaml:2: field 'change': 'broke'"),
    ("- change: changed\n  reason: r\n", "allow.yaml:1: field 'case': give a case"),
    ("- case: x\n  reason: r\n  why: w\n", "allow.yaml:3: field 'why': unknown key"),
    ("case: x\n", "an allowlist is a list"),
])
def test_bad_allowlists_exit_2_naming_file_and_line(tmp_path, capsys, text, message):
    allow = write_file(str(tmp_path / "allow.yaml"), text)
    code, _, err = run([SAMPLE_RESULTS, SAMPLE_RESULTS, "--allow", allow], capsys)
    assert code == 2
    assert message in err


def test_bad_input_exits_2(tmp_path, capsys):
    broken = write_file(str(tmp_path / "broken.jsonl"), open(SAMPLE_RESULTS).read()[:-40])
    code, _, err = run([SAMPLE_RESULTS, broken], capsys)
    assert code == 2 and "broken.jsonl:7: " in err
    freebsd = edit_results(SAMPLE_RESULTS, str(tmp_path / "fb.jsonl"), os_name="freebsd")
    code, _, err = run([SAMPLE_RESULTS, freebsd], capsys)
    assert code == 2 and "is linux" in err and "is freebsd" in err and "--force" in err
    code, out, _ = run([SAMPLE_RESULTS, freebsd, "--force"], capsys)
    assert code == 0
    code, _, err = run([SAMPLE_RESULTS, SAMPLE_RESULTS, "--fail-on", "changed,oops"], capsys)
    assert code == 2 and "'oops' is no class" in err


@pytest.mark.parametrize("args,says", [
    (["--fail-on", ""], "--fail-on '': a class is empty; give one or more of: changed, "),
    (["--fail-on", "changed,"], "--fail-on 'changed,': a class is empty"),
    (["--max-lines", "-1"], "--max-lines must be 0 or more, not -1"),
    (["-o", os.path.dirname(SAMPLE_RESULTS)],
     "-o %s: a folder, not a file" % os.path.dirname(SAMPLE_RESULTS)),
    (["--markdown", os.path.dirname(SAMPLE_RESULTS)],
     "--markdown %s: a folder, not a file" % os.path.dirname(SAMPLE_RESULTS)),
], ids=["empty-fail-on", "trailing-comma", "negative-max-lines", "output-a-folder",
        "markdown-a-folder"])
def test_options_that_would_open_the_gate_or_cut_the_list_wrongly_are_refused(args, says,
                                                                              capsys):
    """`--fail-on "$CLASSES"` with the variable unset gated nothing and passed every change;
    a negative --max-lines sliced differences off the end; a folder as -o failed only after
    the whole comparison had been printed."""
    code, out, err = run([SAMPLE_RESULTS, SAMPLE_RESULTS] + args, capsys)
    assert code == 2 and says in err and out == "", (out, err)


def test_entry_point(candidate, tmp_path):
    env = dict(os.environ, BINDMATRIX_PYTHON=sys.executable)
    out_json = str(tmp_path / "d.json")
    cmd = [os.path.join(REPO, "bindmatrix"), "diff"]
    proc = subprocess.run(cmd + [SAMPLE_RESULTS, candidate, "-o", out_json], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=60)
    assert proc.returncode == 1, proc.stdout
    assert json.load(open(out_json))["verdict"] == "fail"
    proc = subprocess.run(cmd + [SAMPLE_RESULTS, SAMPLE_RESULTS], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=60)
    assert proc.returncode == 0, proc.stdout


# ---- the run records -------------------------------------------------------------------

def edited_run(tmp_path, name, sysctl=None, **run):
    records = read_records(SAMPLE_RESULTS)
    records[0].update(run)
    records[0]["sysctls"].update(sysctl or {})
    return write_records(str(tmp_path / name), records)


@pytest.mark.parametrize("change, field", [
    ({"sysctl": {"net.ipv6.bindv6only": "1"}}, "sysctls.net.ipv6.bindv6only"),
    ({"privileged": False, "isolation": "userns+netns"}, "privileged"),
    ({"partial": True, "case_set_hash": "fnv1a64:0000000000000001"}, "partial"),
    ({"stack": "gvisor release-20221219.0"}, "stack"),
])
def test_the_gate_closes_on_what_changes_the_meaning_of_the_outcomes(tmp_path, capsys, change,
                                                                     field):
    cand = edited_run(tmp_path, "cand.jsonl", **change)
    out_json = str(tmp_path / "d.json")
    code, out, _err = run([SAMPLE_RESULTS, cand, "-o", out_json], capsys)
    assert code == 1, out
    line = next(l for l in out.splitlines() if l.strip().startswith(field))
    assert "closes the gate" in line
    assert "FAIL:" in out and "run record" in out
    assert "  - record: %s" % field in out                 # the entry to start from
    doc = json.load(open(out_json))
    assert any(r["field"] == field and r["blocking"] for r in doc["record_differences"])


def test_what_does_not_change_the_meaning_is_said_but_passes(tmp_path, capsys):
    cand = edited_run(tmp_path, "cand.jsonl", runner_version="0.2.0", os_release="6.8.0")
    code, out, _err = run([SAMPLE_RESULTS, cand], capsys)
    assert code == 0, out
    assert "runner_version  0.1.0 -> 0.2.0   (said, does not close the gate)" in out


def test_an_allowlist_accepts_a_run_record_difference_with_its_reason(tmp_path, capsys):
    cand = edited_run(tmp_path, "cand.jsonl", sysctl={"net.ipv4.ip_autobind_reuse": "1"})
    allow = write_file(str(tmp_path / "allow.yaml"), """\
- record: sysctls.net.ipv4.ip_autobind_reuse
  to: "1"
  reason: the new image turns autobind reuse on (OPS-42)
""")
    md = str(tmp_path / "summary.md")
    code, out, _err = run([SAMPLE_RESULTS, cand, "--allow", allow, "--markdown", md], capsys)
    assert code == 0, out
    assert "allowed by %s:1: the new image turns autobind reuse on" % display_path(allow) \
        in out
    text = open(md).read()
    assert text.startswith("## bindmatrix gate: PASS")
    assert "| `sysctls.net.ipv4.ip_autobind_reuse` | 0 | 1 | allowed: the new image" in text


def test_the_json_follows_its_schema(candidate, tmp_path, capsys):
    import jsonschema
    out_json = str(tmp_path / "d.json")
    run([SAMPLE_RESULTS, candidate, "-o", out_json], capsys)
    schema = json.load(open(os.path.join(REPO, "harness", "schema", "diff-1.schema.json")))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.load(open(out_json)), schema)


def test_exit_status_under_pipefail(candidate, tmp_path):
    """The gate's exit status survives a pipe into tee under bash -o pipefail."""
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "harness"))
    script = ('set -o pipefail; "%s" -m bindmatrix.diffcli "%s" "%s" | tee "%s" >/dev/null'
              % (sys.executable, SAMPLE_RESULTS, candidate, tmp_path / "log"))
    proc = subprocess.run(["bash", "-c", script], env=env)
    assert proc.returncode == 1
    assert "FAIL:" in (tmp_path / "log").read_text()
