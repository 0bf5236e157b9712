"""The measured summary: pivot tables and the axis-influence table."""

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
    with pytest.raises(summary.SummaryError, match=r"table 1: unknown keys \['colums'\]"):
        summary.load_views(str(p))


def test_shipped_views_match_real_axes():
    """Every table in cases/summary.yaml names a scenario and axes that exist (the manifest
    says which)."""
    import os
    from fixturekit import REPO, manifest_of
    m = manifest_of(os.path.join(REPO, "cases"))
    views = summary.load_views(os.path.join(REPO, "cases", "summary.yaml"))
    for v in views:
        assert v["scenario"] in m.scenarios, v["title"]
        known = set(m.scenarios[v["scenario"]].axes)
        for axis in list(v["rows"]) + list(v["columns"]) + list(v.get("where") or {}):
            assert axis in known, "%s: %s is not an axis of %s" % (v["title"], axis, v["scenario"])
