"""./bindmatrix report RESULTS... [-o DIR]: the portability report.

Reads result files from any number of hosts, checks them all before writing anything, and
writes DIR/report.md (fits a PR comment), DIR/report.job-summary.md (fits a CI job summary),
DIR/report.html, DIR/report.json and DIR/report.junit.xml together (all or none).  What a case is comes from the runner's manifest of --cases.

Exit status: 0 written; 1 written, and --strict found a mismatch, error or missing
expectation; 2 bad input (nothing written).
"""

import argparse
import os
import sys

from ..atomic import render_all
from ..compare import display_path, show
from .. import documented as documented_mod, manifest as manifest_mod, results as results_mod
from .. import summary as summary_mod
from .. import expectations as expectations_mod
from ..expectations import ExpectationError
from ..yamlio import InputError
from . import claims as claims_mod
from . import junit as junit_mod
from . import matrix as matrix_mod
from . import render

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
DEFAULT_CASES = os.path.join(REPO, "cases")
DEFAULT_OUT = os.path.join(REPO, "reports")


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bindmatrix report",
        description="Merge results files from several hosts into one portability matrix: "
                    "Markdown, a standalone HTML page and JUnit XML.")
    p.add_argument("results", nargs="*", metavar="RESULTS",
                   help="results .jsonl files (one per host), e.g. reports/*.jsonl")
    p.add_argument("-o", "--output", metavar="DIR", default=DEFAULT_OUT,
                   help="output folder (default: reports/): report.md, report.html, "
                        "report.junit.xml")
    p.add_argument("--cases", metavar="DIR", default=DEFAULT_CASES,
                   help="scenarios and expectation files (default: cases/)")
    p.add_argument("--claims", metavar="FILE", default=None,
                   help="claims file (default: CASES/claims.yaml; 'none' for no claims)")
    p.add_argument("--no-documented", action="store_true",
                   help="no columns for documented OSes that were not run")
    p.add_argument("--md-max-rows", type=int, default=None, metavar="N",
                   help="at most N cases in the Markdown reports (default: as many as fit: "
                        "report.md fits a PR comment, report.job-summary.md a job summary)")
    p.add_argument("--title", default=None, help="report title")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when any case mismatched, errored, has no expectation, or "
                        "is only unknown")
    return p.parse_args(argv)


def fail(lines):
    for line in lines:
        print("bindmatrix report: %s" % line, file=sys.stderr)
    print("bindmatrix report: nothing written", file=sys.stderr)
    return 2


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.results:
        return fail(["give one or more results files: ./bindmatrix report reports/*.jsonl"])
    if not os.path.isdir(args.cases):
        return fail(["%s: not a folder (--cases)" % args.cases])
    if args.md_max_rows is not None and args.md_max_rows < 0:
        return fail(["--md-max-rows must be 0 or more, not %d" % args.md_max_rows])
    # found only when the report is written, a file here cost the whole report's work first
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        return fail(["-o %s: a file, not a folder (the report is report.md, report.html, "
                     "report.json and report.junit.xml in a folder)" % args.output])
    # the records' schema is checked in a second process while this one reads and judges
    # them; nothing is written before its answer, and a bad file is reported as it says
    schema = results_mod.SchemaCheck(args.results)
    try:
        return _report(args, schema)
    except Exception:
        bad = schema.problems()
        if bad:                     # a malformed record made this process fail: say which
            return fail(bad)
        raise


def _report(args, schema):
    rules = expectations_mod.Preload([args.cases])           # a child reads the rules
    try:
        return _report_with(args, schema, rules)
    finally:
        rules.stop()                                          # a refusal did not wait for it


def _report_with(args, schema, rules):
    try:
        pending = manifest_mod.Pending(paths=[args.cases])   # the runner works meanwhile
        hosts = matrix_mod.load_hosts(args.results, checked=False)
        manifest = pending.result()
    except matrix_mod.InputError as e:
        return fail(schema.problems() or e.problems)
    except manifest_mod.ManifestError as e:
        return fail([str(e)])
    warnings = []
    claims_path = args.claims or os.path.join(args.cases, "claims.yaml")
    claims = []
    if args.claims != "none":
        if os.path.exists(claims_path):
            try:
                claims = claims_mod.load_claims(claims_path, manifest, warnings)
            except ExpectationError as e:
                return fail(e.problems)
        elif args.claims:
            return fail(["%s: no such claims file" % claims_path])
    views = []
    views_path = os.path.join(args.cases, "summary.yaml")
    if os.path.exists(views_path):
        try:
            views = summary_mod.load_views(views_path)
        except summary_mod.SummaryError as e:
            return fail([str(e)])
    if not args.no_documented:
        try:
            references = documented_mod.load(os.path.join(args.cases, "documented.yaml"))
        except InputError as e:
            return fail(e.problems)
        hosts = hosts + matrix_mod.documented_hosts(hosts, manifest, references)
    rules.install()
    matrix = matrix_mod.build(hosts, manifest)
    matrix.warnings = warnings + matrix.warnings
    answers = claims_mod.answer_all(claims, matrix)
    out = args.output
    ctx = render.context(matrix, claims, answers, out, md_max_rows=args.md_max_rows,
                         title=args.title, views=views)
    bad = schema.problems()
    if bad:
        return fail(bad)
    html_path = os.path.join(out, "report.html")
    renderers = {
        os.path.join(out, "report.md"): lambda: render.markdown(ctx),
        os.path.join(out, "report.job-summary.md"): lambda: render.job_summary(ctx),
        html_path: lambda: render.html(ctx),
        os.path.join(out, "report.json"): lambda: render.report_json(matrix),
        os.path.join(out, "report.junit.xml"): lambda: junit_mod.junit(matrix, claims, answers),
    }
    try:
        # the page, the largest, is rendered beside the others on a second CPU
        render_all(renderers, beside=[html_path])
    except OSError as e:
        return fail(["cannot write %s: %s" % (getattr(e, "filename", None) or out,
                                              e.strerror or e)])
    except RuntimeError as e:
        return fail(["cannot render the report: %s" % e])
    files = {path: None for path in renderers}
    summary(matrix, claims, answers, ctx, files)
    if args.strict and (ctx["n_problem"] or any(
            c.verdict == "unknown" for r in matrix.rows for c in r.cells)):
        return 1
    return 0


def summary(matrix, claims, answers, ctx, files):
    n = len(matrix.run_hosts)
    show("bindmatrix report: %d case%s, %d host%s (%s)%s"
         % (ctx["total"], "" if ctx["total"] == 1 else "s", n, "" if n == 1 else "s",
            ", ".join(h.label for h in matrix.run_hosts),
            "; documented: %s" % ", ".join(h.label[:-len(" (documented)")]
                                           if h.label.endswith(" (documented)") else h.label
                                           for h in matrix.hosts if h.documented)
            if len(matrix.hosts) > len(matrix.run_hosts) else ""))
    show("  %d cases where hosts disagree, %d mismatching/erroring/without expectation"
         % (ctx["n_disagree"], ctx["n_problem"]))
    for col, h in enumerate(matrix.hosts):
        if h.documented:
            continue
        states = [answers[c.id][col].state for c in claims]
        show("  claims on %s: %d hold, %d fail, %d untested"
             % (h.label, states.count("holds"), states.count("fails"),
                states.count("untested")))
    for w in matrix.warnings:
        show("  warning: %s" % w)
    for path in files:
        show("  wrote %s" % display_path(path))


if __name__ == "__main__":
    sys.exit(main())
