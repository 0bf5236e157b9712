"""The HTML matrix's cells, compact enough to compare many hosts at a glance.

A cell shows one short mark per observed step (ok ✓, not-run ·, an errno as a short code,
a delivery as ● all / ○ none / ◐ some per receiver); the full text is on hover and in the
detail.  Two things are coloured apart:

  agreement   the cell's background: the row's most common observation is plain, an
              observation that differs from it is amber, a documented expectation that
              contradicts it is hatched amber, no observation (skipped, error) is grey
  verdict     a mark in the corner and a border: ✘ mismatch (red), ? unknown, ∅ no
              expectation, ⚠ error, ↷ skipped; a match has none

pivots() makes, per scenario, the tables of cases/summary.yaml (option pair x state) with one
row per host, to read before the long list.
"""

import collections
import itertools

import markupsafe

from ..outcome import views_conflict

# errno names as short codes; any other name is shown without its E, cut to four letters
ERRNO_MARKS = {"EADDRINUSE": "U", "EADDRNOTAVAIL": "N", "EINVAL": "I", "EACCES": "A",
               "EPERM": "P", "ECONNREFUSED": "R", "EOPNOTSUPP": "O", "ENOPROTOOPT": "Q",
               "EAFNOSUPPORT": "F", "EISCONN": "C", "ENOTCONN": "Z"}
WORD_MARKS = {"ok": "✓", "not-run": "·", "timeout": "T", "no-socket": "S", "no-address": "X",
              "?": "?"}
CLASS_MARKS = {"all": "●", "none": "○", "some": "◐", "?": "?"}
VERDICT_MARKS = {"mismatch": "✘", "unknown": "?", "no-expectation": "∅", "error": "⚠",
                 "skipped": "↷", "absent": "·", "undocumented": "—"}


def result_mark(word):
    if "|" in word:                              # a documented list of acceptable results
        return "|".join(result_mark(w) for w in word.split("|"))
    if word in WORD_MARKS:
        return WORD_MARKS[word]
    if word in ERRNO_MARKS:
        return ERRNO_MARKS[word]
    return word[1:5] if word.startswith("E") else word[:4]


def step_mark(shown):
    """A step's shown text ('EADDRINUSE', 'a:all b:none') -> its mark."""
    if ":" in shown:
        return "".join(CLASS_MARKS.get(p.split(":", 1)[1], "?") for p in shown.split())
    return result_mark(shown)


def marks(steps):
    return " ".join(step_mark(shown) for _label, shown in steps) if steps else ""


def legend_marks(matrix):
    """(mark, meaning) for every errno and word mark the page uses."""
    seen = set()
    for row in matrix.rows:
        for c in row.cells:
            for _label, shown in (c.observed_steps or c.expected_steps or []):
                if ":" not in shown:
                    seen.update(shown.split("|"))
    out = [(result_mark(w), w) for w in sorted(seen)]
    out += [(m, "delivery: this receiver got %s" % cls) for cls, m in CLASS_MARKS.items()
            if cls != "?"]
    return out


def _key(cell):
    return tuple(cell.observed_steps)


def agreement(row, hosts):
    """Per cell: agree | differ | none (nothing observed or known)."""
    observed = [c for h, c in zip(hosts, row.cells) if not h.documented
                and c.verdict not in ("absent", "error", "skipped")]
    common = collections.Counter(_key(c) for c in observed).most_common(1)
    majority = next((c for c in observed if _key(c) == common[0][0]), None) if common else None
    out = []
    for h, c in zip(hosts, row.cells):
        if h.documented:
            if c.view is None:
                out.append("none")
            elif majority is not None and views_conflict(c.view, majority.view):
                out.append("differ doc")
            else:
                out.append("agree doc")
        elif c.verdict in ("absent", "error", "skipped"):
            out.append("none")
        else:
            out.append("agree" if majority is None or _key(c) == _key(majority) else "differ")
    return out


_cells = {}


def cell_html(cell, agree):
    """The <td> of one cell; each distinct one is escaped once (most repeat)."""
    text = cell.text if not (cell.observed_steps or cell.expected_steps) else \
        marks(cell.observed_steps or cell.expected_steps)
    if cell.verdict == "documented" and cell.note:
        text += " (?)"
    title = cell.title or cell.text
    key = (cell.verdict, agree, title, text)
    html = _cells.get(key)
    if html is None:
        esc = markupsafe.escape
        mark = VERDICT_MARKS.get(cell.verdict, "")
        html = _cells[key] = markupsafe.Markup(
            '<td class="c %s v-%s" title="%s">%s%s</td>' % (
                agree, esc(cell.verdict), esc(title),
                '<span class="vm">%s</span>' % mark if mark else "", esc(text)))
    return html


def row_html(row, hosts):
    return markupsafe.Markup("".join(cell_html(c, a) for c, a in zip(row.cells,
                                                                         agreement(row, hosts))))


# ---- pivots ----------------------------------------------------------------------------

def pivots(matrix, views, host_keys):
    """{scenario: [pivot]} for the views of cases/summary.yaml that name a scenario of the
    matrix.  A pivot: title, the row and column axis names, columns (value tuples), and rows
    [(row values, [(host key, [cell text per column], [agree class per column])])]."""
    by_scenario = {s.name: s for s in matrix.scenarios}
    out = collections.defaultdict(list)
    for v in views:
        s = by_scenario.get(v["scenario"])
        if s is None:
            continue
        where = {k: str(x) for k, x in (v.get("where") or {}).items()}
        rows = [r for r in s.rows if all(str(r.axes.get(k)) == x for k, x in where.items())]
        if not rows:
            continue
        raxes, caxes, show = list(v["rows"]), list(v["columns"]), v.get("show")

        def values(axis):
            return list(collections.OrderedDict.fromkeys(str(r.axes.get(axis)) for r in rows))
        rkeys = list(itertools.product(*[values(a) for a in raxes]))
        ckeys = list(itertools.product(*[values(a) for a in caxes]))
        cells = collections.defaultdict(list)
        for r in rows:
            cells[(tuple(str(r.axes.get(a)) for a in raxes),
                   tuple(str(r.axes.get(a)) for a in caxes))].append(r)
        table = []
        for rk in rkeys:
            if not any((rk, ck) in cells for ck in ckeys):
                continue
            per_host = []
            for col, key in enumerate(host_keys):
                texts = [_pivot_cell(cells.get((rk, ck), []), col, show) for ck in ckeys]
                per_host.append((key, texts))
            first = per_host[0][1]
            table.append((" / ".join(rk), [(key, texts, ["agree" if t == first[i] or not t
                                                         else "differ"
                                                         for i, t in enumerate(texts)])
                                           for key, texts in per_host]))
        out[s.name].append({"title": v["title"], "rows_axes": " / ".join(raxes),
                            "columns": [" / ".join(ck) for ck in ckeys],
                            "columns_axes": " / ".join(caxes), "rows": table,
                            "show": show or []})
    return out


def _pivot_cell(rows, col, show):
    """The marks of the shown steps of one host over the cases of a pivot cell: one text if
    they all agree, else each distinct one."""
    seen = collections.OrderedDict()
    for r in rows:
        c = r.cells[col]
        steps = c.observed_steps or c.expected_steps
        if show:
            steps = [(label, shown) for label, shown in steps if label in show]
        seen[marks(steps) if steps else VERDICT_MARKS.get(c.verdict, c.verdict)] = True
    return " / ".join(seen)
