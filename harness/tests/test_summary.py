"""The measured summary: pivot tables and the axis-influence table."""

import os

import pytest

from bindmatrix import summary


def case(scenario, axes, bind, listen="not-run", status="observed"):
    steps = [{"label": "a.state", "op": "state", "socket": "a", "result": "ok"},
             {"label": "b.bind", "op": "bind", "socket": "b", "result": bind},
             {"label": "b.listen", "op": "listen", "socket": "b", "result": listen}]
    return {"record": "case", "id": scenario + str(sorted(axes.items())), "scenario": scenario,
            "axes": dict(axes), "status": status, "steps": steps if status == "observed" else []}


CASES = [
    case("tcp/x", {"family": f, "a": a, "b": b}, "ok" if (a, b) == ("r", "r") else "EADDRINUSE",
         "ok" if (a, b) == ("r", "r") else "not-run")
    for f in ("ipv4", "ipv6") for a in ("n", "r") for b in ("n", "r")
]


def test_pivot_rows_columns_and_folded_axes_agreeing():
    t = summary.pivot(CASES, {"title": "T", "scenario": "tcp/x", "rows": ["a"], "columns": ["b"],
                              "show": ["b.bind", "b.listen"]})
    assert t["columns"] == ["n", "r"]
    assert t["folded"] == ["family"]
    assert t["rows"] == [("n", ["EADDRINUSE / not-run", "EADDRINUSE / not-run"]),
                         ("r", ["EADDRINUSE / not-run", "ok / ok"])]


def test_pivot_names_the_folded_values_where_they_disagree():
    cases = [dict(c) for c in CASES]
    odd = next(c for c in cases if c["axes"] == {"family": "ipv6", "a": "n", "b": "n"})
    odd["steps"] = [dict(s) for s in odd["steps"]]
    odd["steps"][1]["result"] = "ok"
    t = summary.pivot(cases, {"title": "T", "scenario": "tcp/x", "rows": ["a"], "columns": ["b"],
                              "show": ["b.bind"]})
    assert t["rows"][0][1][0] == "EADDRINUSE (family=ipv4); ok (family=ipv6)"


def test_pivot_where_and_missing_steps():
    t = summary.pivot(CASES, {"title": "T", "scenario": "tcp/x", "where": {"family": "ipv4"},
                              "rows": ["a"], "columns": ["b"], "show": ["b.bind", "c.connect"]})
    assert t["folded"] == []
    assert t["rows"][1][1][1] == "ok / -"
    assert summary.pivot(CASES, {"title": "T", "scenario": "tcp/none", "rows": ["a"],
                                 "columns": ["b"]}) is None


def test_axis_influence_counts_groups_where_only_that_axis_changes_the_outcome():
    (scenario, n, rows), = summary.axis_influence(CASES)
    assert (scenario, n) == ("tcp/x", 8)
    assert dict((a, (c, t)) for a, c, t in rows) == {"family": (0, 4), "a": (2, 4), "b": (2, 4)}


def test_views_file_errors_name_the_table(tmp_path):
    p = tmp_path / "v.yaml"
    p.write_text("- {title: T, scenario: s, rows: [a], colums: [b]}\n")
    with pytest.raises(summary.SummaryError, match=r"v.yaml:1: field 'table 1.colums': unknown "
                       r"key .*\n.*v.yaml:1: field 'table 1.columns': missing"):
        summary.load_views(str(p))


GOOD = "- title: T\n  scenario: tcp/x\n  rows: [a]\n  columns: [b]\n  show: [b.bind]\n"


@pytest.mark.parametrize("text,line,field,says", [
    (GOOD.replace("rows: [a]", "rows: a"), 3, "rows", "a list of names is expected, not 'a'"),
    (GOOD.replace("rows: [a]", "rows: []"), 3, "rows", "a list of names is expected"),
    (GOOD.replace("title: T", "title: [T]"), 1, "title", "a non-empty string is expected"),
    (GOOD + "  where: {family: [ipv4]}\n", 6, "where", "a mapping of axis: value"),
    (GOOD.replace("rows: [a]", "rows: [aa]"), 3, "rows",
     "'aa' is not an axis of tcp/x (its axes: family, a, b)"),
    (GOOD + "  where: {famly: ipv4}\n", 6, "where", "'famly' is not an axis of tcp/x"),
    (GOOD + "  where: {family: ipv5}\n", 6, "where",
     "tcp/x has no family=ipv5 (its values: ipv4, ipv6)"),
    (GOOD.replace("show: [b.bind]", "show: [b.bnd]"), 5, "show",
     "'b.bnd' is not a step of tcp/x (its steps: a.state, b.bind, b.listen)"),
], ids=["rows-a-string", "rows-empty", "title-a-list", "where-a-list", "unknown-axis",
        "unknown-where-axis", "unknown-value", "unknown-step"])
def test_a_table_that_would_come_out_empty_or_garbled_is_refused_at_its_line(
        tmp_path, text, line, field, says):
    """Before, each of these wrote a summary: a table of '-' cells, a table pivoted on the
    letters of 'a', or one that silently kept every family."""
    p = tmp_path / "v.yaml"
    p.write_text(text)
    with pytest.raises(summary.SummaryError) as e:
        views = summary.load_views(str(p))
        problems = summary.check_views(views, str(p), summary.model_of(CASES))
        if problems:
            raise summary.SummaryError("\n".join(problems))
    assert str(e.value).startswith("%s:%d: field 'table 1.%s': %s" % (p, line, field, says)), \
        e.value


def test_the_command_refuses_a_bad_table_writes_nothing_and_says_a_missing_scenario(tmp_path):
    from fixturekit import SAMPLE_RESULTS, run_cli
    bad = tmp_path / "bad.yaml"
    bad.write_text("- title: T\n  scenario: tcp/second-listener\n  rows: [nope]\n"
                   "  columns: [family]\n")
    out = tmp_path / "s.md"
    code, text = run_cli(["summary", SAMPLE_RESULTS, "--views", str(bad), "-o", str(out)],
                         tmp_path)
    assert code == 2 and "bad.yaml:3: field 'table 1.rows': 'nope' is not an axis of " \
        "tcp/second-listener" in text, text
    assert not out.exists()
    other = tmp_path / "other.yaml"
    other.write_text("- title: T\n  scenario: tcp/renamed\n  rows: [a]\n  columns: [b]\n")
    code, text = run_cli(["summary", SAMPLE_RESULTS, "--views", str(other), "-o", str(out)],
                         tmp_path)
    assert code == 0 and "other.yaml: table 1: no case of tcp/renamed in %s: the table is " \
        "left out" % SAMPLE_RESULTS in text, text
    assert out.exists()


def test_shipped_views_match_real_axes():
    """Every table in cases/summary.yaml names a scenario, axes, values and steps that exist
    (the manifest says which); lint checks it so, and finds a table that does not."""
    import os
    from bindmatrix import lint
    from fixturekit import REPO, manifest_of
    cases = os.path.join(REPO, "cases")
    m = manifest_of(cases)
    assert lint._summary_problems(os.path.join(cases, "summary.yaml"), m) == []


def test_a_partial_run_may_lack_the_value_a_table_fixes(tmp_path):
    """`run -f 'tcp/x[family=ipv4'`: the tables that fix family=ipv6 are empty, not wrong;
    an axis or step they name that the scenario has not is still refused."""
    p = tmp_path / "v.yaml"
    p.write_text(GOOD + "  where: {family: ipv6}\n")
    views = summary.load_views(str(p))
    ipv4 = summary.model_of([c for c in CASES if c["axes"]["family"] == "ipv4"])
    assert summary.check_views(views, str(p), ipv4, values=False) == []
    assert summary.check_views(views, str(p), ipv4) == [
        "%s:6: field 'table 1.where': tcp/x has no family=ipv6 (its values: ipv4)" % p]


def test_a_folder_as_the_output_is_said_in_words(tmp_path):
    """-o names a file: a folder gave "[Errno 21] Is a directory: '...'"."""
    from fixturekit import SAMPLE_RESULTS, run_cli
    code, text = run_cli(["summary", SAMPLE_RESULTS, "-o", str(tmp_path)], tmp_path)
    assert code == 2 and "cannot write %s: a folder, not a file" % tmp_path in text, text
    assert "Errno" not in text and os.listdir(str(tmp_path)) == []
