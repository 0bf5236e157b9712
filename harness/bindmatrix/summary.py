"""The measured summary: pivot tables of one host's observed outcomes, per axis.

What the well-known SO_REUSEADDR / SO_REUSEPORT comparison tables show from documentation,
generated from a results file instead. The tables are data (cases/summary.yaml); besides
them the summary lists, per scenario, which axes change the outcome at all.
"""

import functools
import itertools
import os
from collections import OrderedDict, defaultdict

from . import outcome
from .atomic import folder_instead, write_all
from .compare import display_path
from .yamlio import InputError, field_problem, load_yaml

HARNESS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_VIEWS = os.path.join(os.path.dirname(HARNESS), "cases", "summary.yaml")

VIEW_KEYS = {"title", "scenario", "where", "rows", "columns", "show"}


class SummaryError(Exception):
    pass


def _table_problem(path, view, i, key, message):
    """path:line: field 'table N.key': message (the line of the key, else of the table)."""
    return field_problem(path, view.line_of(key) if hasattr(view, "line_of") else 0,
                         "table %d.%s" % (i + 1, key), message)


def load_views(path):
    """The table definitions, checked for shape: a typo must not silently produce an empty
    table (check_views then holds them against the cases)."""
    try:
        views = load_yaml(path) or []
    except InputError as e:
        raise SummaryError("; ".join(e.problems)) from None
    if not isinstance(views, list):
        raise SummaryError("%s: a list of tables is expected" % path)
    problems = []
    for i, v in enumerate(views):
        where = "table %d" % (i + 1)
        if not isinstance(v, dict):
            problems.append("%s: %s: must be a mapping" % (path, where))
            continue

        def bad(key, message):
            problems.append(_table_problem(path, v, i, key, message))
        for key in sorted(set(v) - VIEW_KEYS):
            bad(key, "unknown key (known: %s)" % ", ".join(sorted(VIEW_KEYS)))
        for key in sorted({"title", "scenario", "rows", "columns"} - set(v)):
            bad(key, "missing")
        for key in ("title", "scenario"):
            if key in v and not (isinstance(v[key], str) and v[key]):
                bad(key, "a non-empty string is expected, not %r" % (v[key],))
        for key in ("rows", "columns", "show"):
            if key in v and not (isinstance(v[key], list) and v[key] and
                                 all(isinstance(x, str) and x for x in v[key])):
                bad(key, "a list of names is expected, not %r" % (v[key],))
        if "where" in v and not (isinstance(v["where"], dict) and all(
                isinstance(k, str) and not isinstance(x, (list, dict))
                for k, x in v["where"].items())):
            bad("where", "a mapping of axis: value is expected, not %r" % (v["where"],))
    if problems:
        raise SummaryError("\n".join(problems))
    return views


def model_of(cases):
    """{scenario: (axes {axis: {value, ...}}, step labels)} of cases: result records or the
    manifest's CaseDefs, which both have axes and labelled steps."""
    out = {}
    for c in cases:
        scen, axes = (c["scenario"], c["axes"]) if isinstance(c, dict) else (c.scenario, c.axes)
        steps = c.get("steps") or [] if isinstance(c, dict) else c.steps
        seen, labels = out.setdefault(scen, ({}, set()))
        for axis, value in (axes or {}).items():
            seen.setdefault(axis, set()).add(str(value))
        labels.update(st["label"] for st in steps)
    return out


def check_views(views, path, model, values=True):
    """Problems of views against the cases of model (model_of): axes, values and step
    labels of a scenario it has must be its own (values=False: a partial run, which may
    have only some of an axis's values).  A scenario it lacks is no problem here (a partial
    run); absent(views, model) names them."""
    problems = []
    for i, v in enumerate(views):
        if v["scenario"] not in model:
            continue
        axes, labels = model[v["scenario"]]

        def bad(key, message):
            problems.append(_table_problem(path, v, i, key, message))
        for key in ("rows", "columns"):
            for name in v[key]:
                if name not in axes:
                    bad(key, "%r is not an axis of %s (its axes: %s)"
                        % (name, v["scenario"], ", ".join(axes) or "none"))
        for name, value in (v.get("where") or {}).items():
            if name not in axes:
                bad("where", "%r is not an axis of %s (its axes: %s)"
                    % (name, v["scenario"], ", ".join(axes) or "none"))
            elif values and str(value) not in axes[name]:
                bad("where", "%s has no %s=%s (its values: %s)"
                    % (v["scenario"], name, value, ", ".join(sorted(axes[name]))))
        for label in v.get("show") or []:
            if label not in labels:
                bad("show", "%r is not a step of %s (its steps: %s)"
                    % (label, v["scenario"], ", ".join(sorted(labels))))
    return problems


def absent(views, model):
    """The views whose scenario has no case in model: [(table number, scenario)]."""
    return [(i + 1, v["scenario"]) for i, v in enumerate(views) if v["scenario"] not in model]


def _cell_text(case, show):
    """The shown steps' results ("EADDRINUSE", "a:none b:all"), '-' for a step the case
    does not have; skipped and error cases say so."""
    if case["status"] != "observed":
        return case["status"]
    shown = dict(outcome.steps(case))
    return " / ".join(shown.get(label, "-") for label in show)


def _values(cases, axis):
    """Axis values in first-seen order (the case file's order)."""
    return list(OrderedDict.fromkeys(c["axes"].get(axis) for c in cases))


def pivot(cases, view):
    """{title, rows: [(row_key, [cell...])], columns: [...]}; a cell is a list of
    (text, folded coordinates) when the folded axes disagree."""
    chosen = [c for c in cases if c["scenario"] == view["scenario"] and
              all(str(c["axes"].get(k)) == str(v) for k, v in (view.get("where") or {}).items())]
    if not chosen:
        return None
    rows, cols = view["rows"], view["columns"]
    show = view.get("show") or [label for label, _ in outcome.steps(chosen[0])]
    folded = [a for a in chosen[0]["axes"] if a not in rows + cols and a not in (view.get("where") or {})
              and len(_values(chosen, a)) > 1]
    cells = defaultdict(lambda: defaultdict(list))
    for c in chosen:
        rk = tuple(c["axes"].get(a) for a in rows)
        ck = tuple(c["axes"].get(a) for a in cols)
        cells[rk][ck].append(c)
    row_keys = list(itertools.product(*[_values(chosen, a) for a in rows]))
    col_keys = list(itertools.product(*[_values(chosen, a) for a in cols]))
    table = []
    for rk in row_keys:
        if rk not in cells:
            continue
        line = []
        for ck in col_keys:
            group = cells[rk].get(ck, [])
            texts = OrderedDict()
            for c in group:
                texts.setdefault(_cell_text(c, show), []).append(
                    ",".join("%s=%s" % (a, c["axes"][a]) for a in folded))
            if not texts:
                line.append("")
            elif len(texts) == 1:
                line.append(next(iter(texts)))
            else:
                line.append("; ".join("%s (%s)" % (t, " | ".join(w)) for t, w in texts.items()))
        table.append((" / ".join(map(str, rk)), line))
    return {"title": view["title"], "scenario": view["scenario"], "where": view.get("where") or {},
            "row_header": " / ".join(rows), "columns": [" / ".join(map(str, k)) for k in col_keys],
            "column_header": " / ".join(cols), "show": show, "rows": table, "folded": folded}


def axis_influence(cases):
    """Per scenario: for each varying axis, in how many groups of cases that differ only in
    that axis the outcome changes. 0 means the axis never matters on this host."""
    by_scenario = defaultdict(list)
    for c in cases:
        if c["status"] == "observed":
            by_scenario[c["scenario"]].append(c)
    out = []
    for scenario, group in sorted(by_scenario.items()):
        axes = [a for a in group[0]["axes"] if len(_values(group, a)) > 1]
        signatures = [outcome.signature(c) for c in group]
        values = [tuple(c["axes"][a] for a in axes) for c in group]
        rows = []
        for i, axis in enumerate(axes):
            buckets = defaultdict(set)
            for vals, sig in zip(values, signatures):
                buckets[vals[:i] + vals[i + 1:]].add(sig)       # every axis but this one
            changed = sum(1 for s in buckets.values() if len(s) > 1)
            rows.append((axis, changed, len(buckets)))
        out.append((scenario, len(group), rows))
    return out


TEMPLATE = "summary.md.j2"


def render(results, views, env, verdicts=None):
    """verdicts: the judge's counts ({match: n, ...}) when the results were judged."""
    tables = [t for t in (pivot(results.cases, v) for v in views) if t]
    counts = defaultdict(int)
    for c in results.cases:
        counts[c["status"]] += 1
    return env.get_template(TEMPLATE).render(
        run=results.run, counts=counts, total=len(results.cases), tables=tables,
        influence=axis_influence(results.cases), source=os.path.basename(results.path),
        verdicts=verdicts)


@functools.lru_cache(maxsize=None)     # one per process: its templates are compiled once
def environment():
    import jinja2
    return jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(HARNESS, "templates")),
                              autoescape=False, keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined)


def write(results, views, env, path, verdicts=None):
    write_all({path: render(results, views, env, verdicts)})


def checked_views(views_path, results):
    """The tables of views_path, held against the results' cases; SummaryError names every
    problem at its line."""
    views = load_views(views_path)
    problems = check_views(views, views_path, model_of(results.cases),
                           values=not results.run.get("partial"))
    if problems:
        raise SummaryError("\n".join(problems))
    return views


def text_for(results, views_path=DEFAULT_VIEWS, verdicts=None):
    """The summary of a results set, with the tables of cases/summary.yaml."""
    return render(results, checked_views(views_path, results), environment(), verdicts)


def write_for(results, path, views_path=DEFAULT_VIEWS, verdicts=None):
    write_all({path: text_for(results, views_path, verdicts)})


def main(argv=None):
    import argparse
    import sys

    from .results import ResultsError, load_results as load

    ap = argparse.ArgumentParser(prog="bindmatrix summary",
                                 description="Markdown tables of one host's measured outcomes, per axis.")
    ap.add_argument("results", help="a results .jsonl file")
    ap.add_argument("-o", "--output", help="Markdown file to write (default: beside RESULTS, .summary.md)")
    ap.add_argument("--views", default=DEFAULT_VIEWS,
                    help="table definitions (default: cases/summary.yaml)")
    args = ap.parse_args(argv)
    out = args.output or (args.results[:-len(".jsonl")] if args.results.endswith(".jsonl")
                          else args.results) + ".summary.md"
    if folder_instead(out):
        print("bindmatrix summary: cannot write %s" % folder_instead(out), file=sys.stderr)
        return 2
    try:
        results = load(args.results)
        views = checked_views(args.views, results)
    except (ResultsError, SummaryError) as e:
        for line in str(e).splitlines():
            print("bindmatrix summary: %s" % line, file=sys.stderr)
        return 2
    if not results.run.get("partial"):
        for n, scenario in absent(views, model_of(results.cases)):
            print("bindmatrix summary: %s: table %d: no case of %s in %s: the table is left "
                  "out" % (args.views, n, scenario, args.results), file=sys.stderr)
    try:
        write(results, views, environment(), out)
    except OSError as e:
        print("bindmatrix summary: cannot write %s: %s" % (out, e.strerror or e),
              file=sys.stderr)
        return 2
    print("summary: %s" % display_path(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
