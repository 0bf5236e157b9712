"""Markdown and HTML from the Jinja2 templates in harness/templates/.

context(matrix, claims, answers, out_dir) -> the data both templates read
markdown(ctx) / job_summary(ctx) / html(ctx) -> text
report_json(matrix)                        -> report.json: every verdict, per host
"""

import datetime
import functools
import json
import os
import urllib.parse

import jinja2

from .. import evidence as evidence_mod, judge as judge_mod
from . import cells as cells_mod
from ..compare import display_path
from .matrix import VERDICTS

TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "templates")

SYMBOLS = {"match": "✔", "mismatch": "✘", "unknown": "?", "no-expectation": "∅",
           "skipped": "↷", "error": "⚠", "absent": "·", "documented": "§",
           "undocumented": "—"}
LEGEND = [
    ("match", "observed, and exactly what that host's expectation says"),
    ("mismatch", "observed, and not what the expectation says"),
    ("unknown", "observed; the expectation leaves a step unknown (\"?\", documented OSes)"),
    ("no-expectation", "observed, but no expectation rule covers it on that OS"),
    ("skipped", "the host could not run it (a missing option, no second user...)"),
    ("error", "a precondition did not hold, so nothing was observed"),
    ("absent", "that host's results do not have this case"),
    ("documented", "documented OS, not run: the expected outcome from its <os>.yaml"),
    ("undocumented", "documented OS, not run: no expectation for this case"),
]


def _json_script(value):
    """JSON safe inside <script type=application/json>."""
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


@functools.lru_cache(maxsize=None)     # one per process: its templates are compiled once
def environment():
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"),
                                            default_for_string=False),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    env.filters["json_script"] = _json_script
    env.filters["sym"] = lambda verdict: SYMBOLS.get(verdict, "")
    return env


def _evidence(case, host, out_dir):
    out, folder = [], host.evidence_dir
    for ev in (case or {}).get("evidence") or []:
        target = os.path.normpath(os.path.join(folder, ev["path"])) if folder else None
        exists = target is not None and os.path.exists(target)
        href = urllib.parse.quote(os.path.relpath(target, out_dir).replace(os.sep, "/")) \
            if exists else ""
        out.append({"kind": ev["kind"], "path": ev["path"], "note": ev.get("note", ""),
                    "href": href})
    return out


def _rule_key(rule):
    """cases/tcp/x/linux.yaml:3, relative to the current folder when below it."""
    return "%s:%d" % (display_path(rule.path).replace(os.sep, "/"), rule.line)


def _details(matrix, out_dir):
    """Per-case detail for the HTML page's panel.  Kept small, since the matrix may have
    thousands of rows: rules and titles are listed once and referred to by index, and an
    expectation equal to the observation is a flag, not a second copy."""
    rules, rule_index, titles, title_index, rows = [], {}, [], {}, []
    rule_keys = {}          # id(rule) -> its file:line, made once per rule
    made = {}               # the detail of a cell shared by rows or hosts, made once
    for row in matrix.rows:
        cells = []
        for host, cell in zip(matrix.hosts, row.cells):
            ev = _evidence(cell.case, host, out_dir) if not host.documented else []
            same = id(cell.origin or cell) if not ev else None
            if same in made:
                cells.append(made[same])
                continue
            d = {"v": cell.verdict}
            if cell.observed_steps and not host.documented:
                d["obs"] = cell.observed_steps
            if cell.expected_steps:
                if cell.expected_steps == cell.observed_steps and not host.documented:
                    d["same"] = 1
                else:
                    d["exp"] = cell.expected_steps
            elif cell.rule is not None and cell.rule.status is not None:
                d["exp"] = [["status", cell.rule.status]]
            if not cell.observed_steps and not host.documented:
                d["t"] = cell.text
            for key, value in (("diffs", cell.differences), ("reason", cell.reason),
                               ("note", cell.note)):
                if value:
                    d[key] = value
            if cell.rule is not None:
                key = rule_keys.get(id(cell.rule))
                if key is None:
                    key = rule_keys[id(cell.rule)] = _rule_key(cell.rule)
                if key not in rule_index:
                    r = cell.rule
                    rule_index[key] = len(rules)
                    rules.append({"at": key, "why": r.why, "source": r.source,
                                  "prov": r.provenance, "seen": ", ".join(r.seen_on)})
                d["rule"] = rule_index[key]
            if ev:
                d["ev"] = ev
                d["pk"] = evidence_mod.summary(cell.case, host.evidence_dir)
            elif same is not None:
                made[same] = d
            cells.append(d)
        tkey = (row.title, row.ref)
        if tkey not in title_index:
            title_index[tkey] = len(titles)
            titles.append(list(tkey))
        rows.append({"ti": title_index[tkey], "cells": cells})
    return {"rows": rows, "rules": rules, "titles": titles,
            "hosts": [h.label for h in matrix.hosts]}


def _host_info(host, matrix, col, out_dir):
    run = host.run or {}
    return {
        "label": host.label, "os": host.os, "release": host.release,
        "documented": host.documented, "arch": run.get("arch", ""),
        "runner_version": run.get("runner_version", ""), "started": run.get("started", ""),
        "privileged": run.get("privileged"), "isolation": run.get("isolation", ""),
        "path": os.path.relpath(os.path.abspath(host.path), out_dir).replace(os.sep, "/")
        if host.path else "",
        "file": display_path(host.path) if host.path else "",
        "counts": host.counts, "verdicts": matrix.column_counts(col),
    }


def host_keys(matrix):
    """H1, H2, ... for the hosts that ran, D1, D2, ... for documented columns: the short
    names the narrow tables use (the hosts table names each once)."""
    out, n, d = [], 0, 0
    for h in matrix.hosts:
        if h.documented:
            d += 1
            out.append("D%d" % d)
        else:
            n += 1
            out.append("H%d" % n)
    return out


def context(matrix, claims, answers, out_dir, md_max_rows=None, title=None, views=None):
    out_dir = os.path.abspath(out_dir)
    hosts = [_host_info(h, matrix, i, out_dir) for i, h in enumerate(matrix.hosts)]
    for h, key in zip(hosts, host_keys(matrix)):
        h["key"] = key
    rows = matrix.rows
    index = {row.id: i for i, row in enumerate(rows)}
    claim_rows = [{"id": c.id, "text": c.text, "source": c.source, "note": c.note,
                   "answers": answers.get(c.id, [])} for c in claims]
    # Markdown lists only what needs reading: hosts disagreeing or an outcome off its
    # expectation first, then differences from documented OSes only.
    md_rows = [r for r in rows if r.disagree or r.problem] + \
        [r for r in rows if r.disagree_all and not (r.disagree or r.problem)]
    run_cols = [i for i, h in enumerate(matrix.hosts) if not h.documented]
    return {
        "title": title or "bindmatrix portability report",
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "hosts": hosts,
        "run_hosts": [h for h in hosts if not h["documented"]],
        "run_cols": run_cols,
        "claims": claim_rows,
        "scenarios": matrix.scenarios,
        "rows": rows,
        "index": index,
        "total": len(rows),
        "n_disagree": sum(1 for r in rows if r.disagree),
        "n_disagree_all": sum(1 for r in rows if r.disagree_all),
        "n_problem": sum(1 for r in rows if r.problem),
        "md_all_rows": md_rows,
        "md_max_rows": md_max_rows,
        "collapsed": len(rows) > 400,
        "warnings": matrix.warnings,
        "legend": LEGEND,
        "verdicts": VERDICTS,
        "symbols": SYMBOLS,
        "details": _details(matrix, out_dir),
        "row_cells": {row.id: cells_mod.row_html(row, matrix.hosts) for row in rows},
        "pivots": cells_mod.pivots(matrix, views or [], host_keys(matrix)),
        "marks": cells_mod.legend_marks(matrix),
        "verdict_marks": cells_mod.VERDICT_MARKS,
    }


def markdown(ctx):
    """report.md: fits a PR comment, whatever the number of hosts (markdown.py)."""
    from . import markdown as md_mod
    return md_mod.pr_comment(ctx)


def job_summary(ctx):
    """report.job-summary.md: the same within a CI job summary's 1 MiB."""
    from . import markdown as md_mod
    return md_mod.job_summary(ctx)


def _asset(name):
    with open(os.path.join(TEMPLATES, name), encoding="utf-8") as f:
        return f.read()


TEMPLATE = "report.html.j2"


def html(ctx):
    """The standalone page: report.css and report.js are inlined, nothing is fetched."""
    return environment().get_template(TEMPLATE).render(
        css=_asset("report.css"), js=_asset("report.js").replace("</", "<\\/"), **ctx)


def report_json(matrix):
    """report.json: what dashboards and scripts read instead of the HTML.  Per host
    (run or documented) its label, whether it ran, and its count of each of the judge's
    words; then every case with its verdict per host (in the order of `hosts`)."""
    hosts = []
    for col, h in enumerate(matrix.hosts):
        cells = [row.cells[col] for row in matrix.rows]
        if h.documented:
            counts = {s: 0 for s in judge_mod.EXPECTED_STATES}
            for c in cells:
                counts[c.state] += 1
        else:
            counts = {v: 0 for v in judge_mod.VERDICTS + ("absent",)}
            for c in cells:
                counts[c.verdict] += 1
        total = len(cells) or 1
        entry = {"label": h.label, "os": h.os, "release": h.release, "run": not h.documented,
                 "counts": counts}
        if h.documented:
            entry["unknown_share"] = round(counts["unknown"] / total, 4)
            entry["no_expectation_share"] = round(counts["no-expectation"] / total, 4)
        else:
            run = h.run or {}
            entry.update(results=h.path, partial=bool(run.get("partial")),
                         case_set_hash=run.get("case_set_hash", ""))
        hosts.append(entry)
    cases = [{"id": row.id, "scenario": row.scenario,
              "verdicts": [c.state if h.documented else c.verdict
                           for h, c in zip(matrix.hosts, row.cells)]}
             for row in matrix.rows]
    doc = {"schema": "bindmatrix-report/1", "verdicts": list(judge_mod.VERDICTS),
           "documented_states": list(judge_mod.EXPECTED_STATES), "hosts": hosts,
           "cases": cases}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n"
