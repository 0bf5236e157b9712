"""The Markdown report, made to fit where it is read: a PR comment (GitHub takes 65,536
characters: report.md stays under PR_LIMIT) or a CI job summary (1 MiB: report.job-summary.md
stays under SUMMARY_LIMIT), for any number of hosts.

Narrow on purpose: hosts are named once, in the hosts table, and referred to as H1, H2...
everywhere else, so no table grows wider than a screen; the differences are a list, each
case's hosts grouped by the outcome they saw.  Sections come in the order readers need them
(counts, warnings, claims, scenarios, differences) and every one stops at a row boundary when the
budget runs out, saying how many more rows the HTML page has.
"""

import re
from collections import OrderedDict

PR_LIMIT = 60000                  # characters, under GitHub's 65,536 for a comment
SUMMARY_LIMIT = 1000 * 1024       # bytes, under GitHub's 1 MiB for a job summary
SYMBOLS = {"holds": "✔", "fails": "✘", "untested": "–"}


def md(text):
    """A table cell or list text: pipes escaped, newlines flattened, HTML defused, and no
    link or @mention made of it (a release string comes from a results file made elsewhere,
    and a PR comment would link it or notify whoever it names)."""
    text = " ".join(str(text).split())
    return re.sub(r"([\\|\[\]@])", r"\\\1", text).replace("<", "&lt;")


def code(text):
    """A code span in a table cell: one line (a newline would end the row), pipes escaped,
    fenced by one backtick more than the longest run of them in the text (CommonMark)."""
    text = " ".join(str(text).split())
    runs = re.findall("`+", text)
    fence = "`" * (max(map(len, runs)) + 1 if runs else 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return "%s%s%s%s%s" % (fence, pad, text.replace("|", "\\|"), pad, fence)


class Budget:
    """Lines added while they fit; measure: len for characters, or UTF-8 bytes."""

    def __init__(self, limit, measure):
        self.limit, self.measure = limit, measure
        self.lines, self.used = [], 0
        self.reserved = 0

    def fits(self, text):
        return self.used + self.measure(text + "\n") + self.reserved <= self.limit

    def add(self, text):
        if not self.fits(text):
            return False
        self.lines.append(text)
        self.used += self.measure(text + "\n")
        return True

    def rows(self, head, rows, more, total=None):
        """A section: head lines, then rows while they fit, then more(n_left) if any of the
        total (default: all the rows) are left.  Room for the `more` line is kept free
        while rows are added."""
        total = len(rows) if total is None else total
        self.reserved = self.measure(more(total) + "\n\n")
        if not all(self.add(h) for h in head):
            self.reserved = 0
            return 0
        shown = 0
        for r in rows:
            if not self.add(r):
                break
            shown += 1
        self.reserved = 0
        if shown < total:
            self.add(more(total - shown))
        self.add("")
        return shown

    def text(self):
        return "\n".join(self.lines) + "\n"


def keys(ctx):
    """The short names of the columns (render.host_keys: H1, H2... D1...)."""
    return [h["key"] for h in ctx["hosts"]]


def grouped(row, names):
    """'H1 H2: bind EADDRINUSE · H3: bind ok (expected bind EADDRINUSE)'."""
    groups = OrderedDict()
    for name, c in zip(names, row.cells):
        text = c.text or c.verdict
        if c.verdict == "mismatch" and c.expected:
            text += " (expected %s)" % c.expected
        elif c.verdict in ("error", "skipped") and c.reason:
            text += " (%s)" % c.reason
        groups.setdefault(text, []).append(name)
    return " · ".join("%s: %s" % (" ".join(ns), md(t)) for t, ns in groups.items())


def render(ctx, limit=PR_LIMIT, measure=len, job_summary=False):
    """The report as Markdown within limit (measured by measure)."""
    b = Budget(limit, measure)
    names = keys(ctx)
    run = [(n, h) for n, h in zip(names, ctx["hosts"]) if not h["documented"]]
    doc = [(n, h) for n, h in zip(names, ctx["hosts"]) if h["documented"]]
    b.add("# %s" % md(ctx["title"]))
    b.add("")
    b.add("%d case%s on %d host%s%s: **%d** where the hosts' observed outcomes differ, **%d** "
          "where an outcome differs from its expectation, errored or has none. Generated %s."
          % (ctx["total"], "" if ctx["total"] == 1 else "s", len(run),
             "" if len(run) == 1 else "s",
             " and the documented expectations of %d OS%s" % (len(doc), "es" if len(doc) > 1
                                                              else "") if doc else "",
             ctx["n_disagree"], ctx["n_problem"], ctx["generated"]))
    b.add("")

    verdicts = ("match", "mismatch", "unknown", "no-expectation", "error", "skipped")
    b.rows(["## Hosts", "",
            "| | Host | Release | Isolation | Cases | %s |" % " | ".join(verdicts),
            "|---|---|---|---|---|%s" % ("---|" * len(verdicts))],
           ["| %s | %s | %s | %s%s | %d | %s |" % (
               n, code(h["label"]), md(h["release"]), h["isolation"],
               " (root)" if h["privileged"] else "", h["counts"].get("cases", 0),
               " | ".join(str(h["verdicts"].get(v, 0)) for v in verdicts)) for n, h in run],
           lambda k: "… and %d more hosts (all in the HTML report)." % k)
    if doc:
        b.rows(["Documented, not run: " + ", ".join("%s = %s" % (n, h["os"]) for n, h in doc)
                + " (their expected outcomes, from the expectation files).", ""], [],
               lambda k: "")
    # what the reader must know to trust the rest (an input partial, evidence not checked)
    # comes before the long lists, which the budget may cut
    if ctx["warnings"]:
        b.rows(["### Warnings", ""], ["- %s" % md(w) for w in ctx["warnings"]],
               lambda k: "… and %d more warning%s (in the HTML report)."
                         % (k, "" if k == 1 else "s"))

    if ctx["claims"]:
        cols = [n for n, _ in zip(names, ctx["hosts"])]
        b.rows(["## Claims", "",
                "✔ holds · ✘ fails · – untested, per host (H) and documented OS (D).", "",
                "| Claim | %s |" % " | ".join(cols), "|---|%s" % ("---|" * len(cols))],
               ["| %s | %s |" % (md(c["text"]), " | ".join(SYMBOLS[a.state] for a in
                                                           c["answers"]))
                for c in ctx["claims"]],
               lambda k: "… and %d more claims (in the HTML report)." % k)
        failing = []
        for c in ctx["claims"]:
            for n, a in zip(cols, c["answers"]):
                if a.state == "fails":
                    failing.append("- %s on %s: %s%s" % (
                        md(c["id"]), n, code(a.counter) if a.counter else md(a.detail),
                        " (+%d more)" % (a.counters - 1) if a.counters > 1 else ""))
        if failing:
            b.rows(["Counter-examples:", ""], failing,
                   lambda k: "… and %d more counter-examples." % k)

    scen = [s for s in ctx["scenarios"] if s.count("disagree") or s.count("problem")]
    if scen:
        b.rows(["## Scenarios with differences", "",
                "| Scenario | Cases | Hosts differ | Off expectation |", "|---|---|---|---|"],
               ["| %s | %d | %d | %d |" % (code(s.name), len(s.rows), s.count("disagree"),
                                            s.count("problem")) for s in scen],
               lambda k: "… and %d more scenarios." % k)

    rows, cap = ctx["md_all_rows"], ctx.get("md_max_rows")
    if rows:
        b.rows(["## Where hosts disagree or outcomes differ from expectations", "",
                "≠ the hosts' observations differ; ✘ an outcome is not what its expectation "
                "says; ≉ only a documented OS differs. Hosts that saw the same are grouped.", ""],
               ["- %s%s: %s" % ("≠ " if r.disagree else "✘ " if r.problem else "≉ ",
                                code(r.id), grouped(r, names)) for r in rows[:cap]],
               lambda k: "… and **%d more** cases in the HTML report (filter: *only where "
                         "hosts disagree* / *only mismatches*)." % k, total=len(rows))
    else:
        b.add("No case differs between hosts, from its expectation, or from a documented OS.")
        b.add("")
    return b.text()


def pr_comment(ctx):
    return render(ctx)


def job_summary(ctx):
    return render(ctx, SUMMARY_LIMIT, lambda s: len(s.encode("utf-8")), job_summary=True)
