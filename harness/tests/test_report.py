"""./bindmatrix report: merging hosts, verdicts, disagreement, refusals, the three outputs."""

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from bindmatrix.report import cli, matrix as matrix_mod
from fixturekit import SAMPLE_CASES, SAMPLE_RESULTS, case_record, step, write_file
from reportkit import REPO, edit_results, read_records, write_records

LISTENER = "tcp/second-listener[family=ipv4,a_opts=reuseaddr,b_opts=reuseaddr]"
REUSEPORT = "tcp/second-listener[family=ipv4,a_opts=reuseport,b_opts=reuseport]"
DELIVERY = "udp/reuseport-delivery[family=ipv4]"
CLAIMS = """\
- id: second-server
  text: A second TCP server cannot bind a listening port, even with SO_REUSEADDR
  source: "erlang-questions 'eaddrinuse'"
  where: {scenario: tcp/second-listener, axes: {a_opts: reuseaddr}}
  all: {b.bind: "!ok"}
- id: balance
  text: SO_REUSEPORT balances UDP
  source: LWN 542629
  where: {scenario: udp/reuseport-delivery}
  all: {deliver: {a: some, b: some}}
"""


@pytest.fixture
def two_hosts(tmp_path):
    """The sample results and an edited copy: another host, one changed outcome, one case in
    error, one missing, one extra."""
    extra = case_record("tcp/second-listener[family=ipv6,a_opts=none,b_opts=none]",
                        steps=[step("a.state", "ok", op="state"),
                               step("b.bind", "EADDRINUSE"), step("b.listen", "not-run")],
                        axes={"family": "ipv6", "a_opts": "none", "b_opts": "none"})
    other = edit_results(SAMPLE_RESULTS, str(tmp_path / "b.jsonl"), host="linux-6.8-test",
                         release="6.8.0-test",
                         results={LISTENER: {"b.bind": "ok", "b.listen": "ok"}},
                         delivery={DELIVERY: {"a": 0, "b": 64}},
                         error=["tcp/second-listener[family=ipv4,a_opts=none,b_opts=none]"],
                         drop=[REUSEPORT], add=[extra])
    write_file(str(tmp_path / "cases" / "claims.yaml"), CLAIMS)
    return [SAMPLE_RESULTS, other]


def build(paths, documented=False):
    from fixturekit import manifest_of
    manifest = manifest_of(SAMPLE_CASES)
    hosts = matrix_mod.load_hosts(paths)
    if documented:
        from bindmatrix import documented as documented_mod
        refs = documented_mod.load(os.path.join(SAMPLE_CASES, "documented.yaml"))
        hosts += matrix_mod.documented_hosts(hosts, manifest, refs)
    return matrix_mod.build(hosts, manifest)


def by_id(m):
    return {r.id: r for r in m.rows}


def test_cells_are_judged_against_each_hosts_expectation(two_hosts):
    m = build(two_hosts)
    rows = by_id(m)
    assert [h.label for h in m.hosts] == ["linux-6.1.0-18-amd64", "linux-6.8-test"]
    listener = rows[LISTENER]
    assert [c.verdict for c in listener.cells] == ["match", "mismatch"]
    assert listener.cells[0].text == "bind EADDRINUSE · listen not-run"
    assert listener.cells[1].text == "bind ok · listen ok"
    assert listener.cells[1].expected == "bind EADDRINUSE · listen not-run"
    assert listener.disagree and listener.problem
    delivery = rows[DELIVERY]
    assert delivery.cells[0].text == "bind ok · deliver a:some b:some"
    assert delivery.cells[1].text == "bind ok · deliver a:none b:all"
    assert delivery.disagree
    assert [c.verdict for c in rows[REUSEPORT].cells] == ["match", "absent"]
    assert not rows[REUSEPORT].disagree
    err = rows["tcp/second-listener[family=ipv4,a_opts=none,b_opts=none]"]
    assert [c.verdict for c in err.cells] == ["match", "error"]
    assert not err.disagree and err.problem
    assert [c.verdict for c in rows["udp/reuseport-delivery[family=ipv6]"].cells] == \
        ["skipped", "skipped"]
    new = rows["tcp/second-listener[family=ipv6,a_opts=none,b_opts=none]"]
    assert [c.verdict for c in new.cells] == ["absent", "match"]
    # grouped by scenario, areas in order
    assert [s.name for s in m.scenarios] == ["tcp/second-listener", "udp/reuseport-delivery"]


def test_documented_columns_show_expected_outcomes_and_unknowns(two_hosts):
    m = build(two_hosts, documented=True)
    assert [h.label for h in m.hosts][-1] == "freebsd (documented)"
    rows = by_id(m)
    doc = rows[REUSEPORT].cells[-1]
    assert doc.verdict == "documented" and doc.text == "bind ok · listen ?"
    assert rows[DELIVERY].cells[-1].verdict == "undocumented"
    # the documented "?" is never a disagreement; a known difference is
    assert not rows[REUSEPORT].disagree_all
    assert rows[LISTENER].disagree_all


def test_a_host_without_expectations_and_unknown_rules(tmp_path):
    other = edit_results(SAMPLE_RESULTS, str(tmp_path / "f.jsonl"), host="freebsd-14.1",
                         release="14.1-RELEASE", os_name="freebsd")
    m = build([other])
    rows = by_id(m)
    assert rows[REUSEPORT].cells[0].verdict == "unknown"       # b.listen: "?"
    assert rows[LISTENER].cells[0].verdict == "match"
    assert rows[DELIVERY].cells[0].verdict == "no-expectation"


@pytest.mark.parametrize("edit, message", [
    (lambda p: open(p, "a").write('{"record": "case"\n'), "a record after the end record"),
    (lambda p: _rewrite(p, lambda lines: lines[:-1]), "truncated: no end record"),
    (lambda p: _rewrite(p, lambda lines: [lines[0].replace('"schema":1', '"schema":2')]
                        + lines[1:]), "unsupported results schema version 2"),
    # what only the schema check (made in a second process) finds, and records too broken
    # for this process to read: the schema check's words, either way
    (lambda p: _edit_case(p, lambda c: c["steps"][0].update(result=5)),
     "field 'steps[0].result'"),
    (lambda p: _edit_case(p, lambda c: c.update(steps=5)), "field 'steps'"),
    (lambda p: _edit_case(p, lambda c: c.update(colour="blue")),
     "field 'colour': is not a known field"),
])
def test_corrupt_or_unknown_schema_is_refused_and_nothing_written(tmp_path, capsys, edit,
                                                                  message):
    bad = str(tmp_path / "bad.jsonl")
    with open(SAMPLE_RESULTS) as f, open(bad, "w") as g:
        g.write(f.read())
    edit(bad)
    out = tmp_path / "out"
    code = cli.main([SAMPLE_RESULTS, bad, "-o", str(out), "--cases", SAMPLE_CASES])
    err = capsys.readouterr().err
    assert code == 2
    assert re.search(re.escape(bad) + r":\d+: .*" + re.escape(message), err), err
    assert "nothing written" in err
    assert not out.exists()


def _edit_case(path, fn):
    """fn(record) on the first case record of the file."""
    def edit(lines):
        rec = json.loads(lines[1])
        fn(rec)
        return [lines[0], json.dumps(rec)] + lines[2:]
    _rewrite(path, edit)


def _rewrite(path, fn):
    with open(path) as f:
        lines = f.read().splitlines()
    with open(path, "w") as f:
        f.write("\n".join(fn(lines)) + "\n")


def test_a_repeated_host_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("old report\n")
    copy = edit_results(SAMPLE_RESULTS, str(tmp_path / "copy.jsonl"))
    code = cli.main([SAMPLE_RESULTS, copy, "-o", str(out), "--cases", SAMPLE_CASES])
    err = capsys.readouterr().err
    assert code == 2
    assert "host 'linux-6.1.0-18-amd64' repeats %s" % SAMPLE_RESULTS in err
    assert "--host-label" in err
    assert sorted(os.listdir(str(out))) == ["report.md"]
    assert (out / "report.md").read_text() == "old report\n"      # untouched


def test_a_partial_run_beside_the_full_one_of_its_host_is_named_as_the_one_to_leave_out(
        tmp_path, capsys):
    """`report reports/*.jsonl` after a full and a filtered run: the partial one is named."""
    partial = str(tmp_path / "linux.partial.jsonl")
    _rewrite(edit_results(SAMPLE_RESULTS, partial), lambda lines: [
        json.dumps(dict(json.loads(lines[0]), partial=True))] + lines[1:])
    for order in ([SAMPLE_RESULTS, partial], [partial, SAMPLE_RESULTS]):
        code = cli.main(order + ["-o", str(tmp_path / "out"), "--cases", SAMPLE_CASES])
        err = capsys.readouterr().err
        assert code == 2
        assert ("%s is a partial run (a filter or some paths) and %s the full one"
                % (partial, SAMPLE_RESULTS)) in err, err
        assert "leave the partial one out" in err
        assert not (tmp_path / "out").exists()


def test_a_file_given_as_the_output_folder_is_refused_before_the_report_is_made(tmp_path,
                                                                               capsys):
    """-o names a folder: a file there failed only once the report had been built."""
    out = tmp_path / "report"
    out.write_text("mine\n")
    assert cli.main([SAMPLE_RESULTS, "-o", str(out), "--cases", SAMPLE_CASES]) == 2
    err = capsys.readouterr().err
    assert "-o %s: a file, not a folder" % out in err, err
    assert out.read_text() == "mine\n"


def test_outputs(two_hosts, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(two_hosts + ["-o", str(out), "--cases", SAMPLE_CASES,
                                 "--claims", str(tmp_path / "cases" / "claims.yaml")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert sorted(os.listdir(str(out))) == ["report.html", "report.job-summary.md",
                                            "report.json", "report.junit.xml", "report.md"]
    assert "2 cases where hosts disagree" in printed

    # report.json: per host its label, whether it ran, the count of each of the judge's words
    doc = json.loads((out / "report.json").read_text())
    hosts = {h["label"]: h for h in doc["hosts"]}
    assert [h["run"] for h in doc["hosts"]] == [True, True, False]
    b = hosts["linux-6.8-test"]["counts"]
    assert b["mismatch"] == 2 and b["error"] == 1
    assert b["absent"] == 1 and sum(b.values()) == len(doc["cases"])
    fb = hosts["freebsd (documented)"]
    assert set(fb["counts"]) == {"known", "unknown", "no-expectation"}
    assert fb["unknown_share"] == round(fb["counts"]["unknown"] / len(doc["cases"]), 4)
    row = next(c for c in doc["cases"] if c["id"] == LISTENER)
    assert row["verdicts"][:2] == ["match", "mismatch"]

    md = (out / "report.md").read_text()
    # counts, then the claims as a narrow table (H1, H2, D1 columns), then the differences
    assert md.index("## Hosts") < md.index("## Claims") < md.index("## Where hosts")
    assert "| H2 | `linux-6.8-test` |" in md
    claim_line = next(l for l in md.splitlines() if "A second TCP server" in l)
    assert claim_line.count("|") == 5 and "✔" in claim_line and "✘" in claim_line
    assert "- second-server on H2: `%s`" % LISTENER in md
    assert "- ≠ `%s`: H1 D1: bind EADDRINUSE · listen not-run · H2: bind ok · listen ok " \
           "(expected bind EADDRINUSE · listen not-run)" % LISTENER in md, md

    html = (out / "report.html").read_text()
    assert "<script src" not in html and "<link" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page must work offline"
    assert 'data-id="%s"' % LISTENER in html
    data = json.loads(re.search(r'<script type="application/json" id="bm-data">(.*?)</script>',
                                html, re.S).group(1))
    assert data["hosts"] == ["linux-6.1.0-18-amd64", "linux-6.8-test", "freebsd (documented)"]
    assert any(r["why"].startswith("A listening socket holds") for r in data["rules"])

    root = ET.parse(str(out / "report.junit.xml")).getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"linux-6.1.0-18-amd64", "linux-6.8-test"}
    b = suites["linux-6.8-test"]
    cases = {tc.get("name"): tc for tc in b.iter("testcase")}
    assert cases[LISTENER].find("failure").get("type") == "mismatch"
    assert cases["tcp/second-listener[family=ipv4,a_opts=none,b_opts=none]"].find("error") \
        is not None
    assert cases[REUSEPORT].find("skipped") is not None          # absent on this host
    props = {p.get("name"): p.get("value") for p in b.find("properties")}
    assert props["claim.second-server"] == "fails (%s)" % LISTENER
    assert b.get("failures") == "2" and b.get("errors") == "1"


def test_markdown_caps_the_rows(two_hosts, tmp_path):
    out = tmp_path / "out"
    assert cli.main(two_hosts + ["-o", str(out), "--cases", SAMPLE_CASES, "--claims", "none",
                                 "--md-max-rows", "1"]) == 0
    md = (out / "report.md").read_text()
    assert "… and **2 more** cases in the HTML report" in md     # 3 differ, 1 shown
    assert "## Claims" not in md


@pytest.mark.long
def test_markdown_fits_a_pr_comment_and_a_job_summary_with_six_hosts(tmp_path):
    """Six hosts, each with hundreds of differences: report.md stays under 60,000
    characters, the job summary under 1 MiB, and both say how many more the HTML has."""
    from reportkit import CASES, RUNNER
    base = str(tmp_path / "base.jsonl")
    # two fifths of the IPv4 half of the largest scenario: 448 cases, half of them changed
    # per host, three times what a PR comment holds
    subprocess.run([RUNNER, "-q", "-o", base, "-f", "tcp/bind-conflict[family=ipv4,relation=same",
                    "-f", "tcp/bind-conflict[family=ipv4,relation=different", CASES],
                   check=True)
    cases = [r for r in read_records(base)[1:-1] if r["status"] == "observed"]
    paths = [base]
    for k in range(1, 6):
        flips = {c["id"]: {s["label"]: "E%dFLIPPED" % k for s in c["steps"]
                           if s["op"] != "state"} for c in cases[k::2]}
        paths.append(edit_results(base, str(tmp_path / ("h%d.jsonl" % k)),
                                  host="host-%d-with-a-rather-long-label-6.18.44" % k,
                                  results=flips))
    out = tmp_path / "out"
    assert cli.main(paths + ["-o", str(out), "--claims", "none"]) == 0
    md = (out / "report.md").read_text(encoding="utf-8")
    summary = (out / "report.job-summary.md").read_bytes()
    assert len(md) < 60000 and len(summary) < 1024 * 1024
    for k in range(1, 7):
        assert "| H%d |" % k in md                     # every host is in the counts table
    assert "more** cases in the HTML report" in md
    assert len(summary) > len(md.encode("utf-8"))      # the summary shows more of them
    widest = max(len(l) for l in md.splitlines() if l.startswith("|"))
    assert widest < 200, "a table row %d characters wide" % widest
    for table in md.split("\n\n"):        # a Markdown table: every row has the header's cells
        rows = [l for l in table.splitlines() if l.startswith("|")]
        assert len({r.replace("\\|", "").count("|") for r in rows}) <= 1, table[:300]


def test_strict_exit_status(two_hosts, tmp_path):
    out = str(tmp_path / "out")
    assert cli.main(two_hosts + ["-o", out, "--cases", SAMPLE_CASES, "--strict"]) == 1
    assert cli.main([SAMPLE_RESULTS, "-o", out, "--cases", SAMPLE_CASES, "--strict"]) == 0


def test_entry_point(two_hosts, tmp_path):
    env = dict(os.environ, BINDMATRIX_PYTHON=sys.executable)
    out = tmp_path / "out"
    proc = subprocess.run([os.path.join(REPO, "bindmatrix"), "report"] + two_hosts +
                          ["-o", str(out), "--cases", SAMPLE_CASES], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120)
    assert proc.returncode == 0, proc.stdout
    assert (out / "report.html").exists()
    proc = subprocess.run([os.path.join(REPO, "bindmatrix"), "report"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120)
    assert proc.returncode == 2 and "give one or more results files" in proc.stdout


def test_evidence_links_are_relative_to_the_report(tmp_path):
    (tmp_path / "run.evidence").mkdir()
    (tmp_path / "run.evidence" / "a b.pcap").write_bytes(b"pcap")
    records = read_records(SAMPLE_RESULTS)
    records[1]["evidence"] = [{"kind": "pcap", "path": "run.evidence/a b.pcap", "note": "4"},
                              {"kind": "pcap", "path": "run.evidence/gone.pcap"}]
    results = write_records(str(tmp_path / "run.jsonl"), records)
    out = tmp_path / "out"
    assert cli.main([results, "-o", str(out), "--cases", SAMPLE_CASES]) == 0
    html = (out / "report.html").read_text()
    data = json.loads(re.search(r'id="bm-data">(.*?)</script>', html, re.S).group(1))
    ev = data["rows"][0]["cells"][0]["ev"]
    assert ev[0]["href"] == "../run.evidence/a%20b.pcap" and ev[0]["note"] == "4"
    assert ev[1]["href"] == ""                     # missing: shown, not linked


def test_a_documented_column_describes_one_release(tmp_path):
    """The column's release decides the rules' kernel ranges: a rule that held before 14.0
    is not what FreeBSD 15.0 does; without a release the column says when a rule applies."""
    from bindmatrix import judge
    from bindmatrix.expectations import load_rules
    path = tmp_path / "freebsd.yaml"
    path.write_text(
        '- kernel: "<14.0"\n  expect: {b.bind: ok}\n  provenance: documented\n'
        '  source: "tcp_timewait.c (13.x)"\n  why: TIME_WAIT kept.\n'
        '- kernel: ">=14.0"\n  expect: {b.bind: EADDRINUSE}\n  provenance: documented\n'
        '  source: "tcp_timewait.c"\n  why: No TIME_WAIT for local peers.\n')
    rules = load_rules(str(path), "freebsd")
    now = judge.expected({}, rules, ["b.bind"], release="15.0")
    assert now.rule is rules[1] and now.state == "known" and now.note == ""
    old = judge.expected({}, rules, ["b.bind"], release="13.2")
    assert old.rule is rules[0] and old.note == ""
    undecided = judge.expected({}, rules, ["b.bind"])
    assert undecided.rule is rules[0] and undecided.note == "applies if release <14.0"
    # the report's column is named for it (cases/documented.yaml)
    from fixturekit import manifest_of
    manifest = manifest_of(SAMPLE_CASES)
    refs = {"freebsd": __import__("bindmatrix.documented", fromlist=["Reference"]).Reference(
        "freebsd", "15.0", "FreeBSD 15.0")}
    hosts = matrix_mod.documented_hosts([], manifest, refs)
    assert [(h.label, h.release) for h in hosts if h.os == "freebsd"] == \
        [("FreeBSD 15.0 (documented)", "15.0")]


def test_a_reader_that_goes_away_gets_no_traceback(tmp_path):
    """`./bindmatrix report ... | head -1`: once the reader has gone, the files are still
    written, stderr stays clean, and the exit is SIGPIPE's 141, not a traceback."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "bindmatrix.cli", "report", SAMPLE_RESULTS,
                             "-o", str(out), "--cases", SAMPLE_CASES],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=os.path.join(REPO, "harness")))
    proc.stdout.close()             # no reader at all: its first line meets EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert (out / "report.json").exists()


@pytest.mark.parametrize("label", ["bad|host", "two\nlines", "a `tick` and ``two``",
                                   "`edge`", "<b>html</b>"])
def test_a_host_label_keeps_the_markdown_table_whole(tmp_path, label):
    """A label comes from a results file made elsewhere: in the hosts table it is one code
    span on one line (a newline would end the row, a pipe would split it, a backtick run
    would end the span early)."""
    from bindmatrix.report import markdown
    span = markdown.code(label)
    assert "\n" not in span
    fence = re.match("`+", span).group(0)
    body = span[len(fence):-len(fence)]
    assert fence not in body and span.endswith(fence)
    assert body.strip().replace("\\|", "|") == " ".join(label.split())
    row = "| H1 | %s | 6.1 |" % span
    assert len(re.split(r"(?<!\\)\|", row)) == 5      # three cells, whatever the label


def test_markdown_text_makes_no_link_or_mention():
    """A release string from a results file made elsewhere, in a PR comment: no link of
    its own, no @mention that would notify someone, no HTML, one cell."""
    from bindmatrix.report import markdown
    shown = markdown.md("6.1 [click](https://example.com) @org/team <img> a|b\nc")
    assert "\\[click\\]" in shown and "\\@org" in shown and "&lt;img>" in shown
    assert "\\|" in shown and "\n" not in shown


def test_a_negative_row_limit_is_refused(tmp_path):
    """--md-max-rows -5 left out the last five rows (a slice from the end); exit 2 now,
    nothing written."""
    out = tmp_path / "out"
    assert cli.main([SAMPLE_RESULTS, "-o", str(out), "--cases", SAMPLE_CASES,
                     "--md-max-rows", "-5"]) == 2
    assert not out.exists()
    assert cli.main([SAMPLE_RESULTS, "-o", str(out), "--cases", SAMPLE_CASES,
                     "--md-max-rows", "0"]) == 0
