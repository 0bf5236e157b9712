"""./bindmatrix diff BASELINE CANDIDATE [--allow FILE] [-o diff.json] [--markdown FILE]:
the upgrade gate.

It compares the two run records first (runner version, case set, sysctls, privilege,
isolation, stack, partial...: every difference is printed; those that change what the
outcomes mean close the gate), then every case.

Exit status:
  0  no difference closes the gate (the allowlisted ones are listed, with their reasons)
  1  at least one difference closes the gate: a case changed, was removed, is newly skipped
     or newly in error (--fail-on chooses), or the run records differ in the case set, a
     sysctl, privilege or the stack, and no allowlist entry accepts it
  2  bad input: unreadable or corrupt results, two different OSes (unless --force), a partial
     baseline (unless --allow-partial), a broken allowlist; nothing is written
"""

import argparse
import json
import sys

from . import diffgate
from .atomic import folder_instead, write_all
from .compare import display_path, show, yaml_scalar
from .expectations import ExpectationError
from .report.matrix import host_label
from .results import ResultsError, load_results

TITLES = {"changed": "CHANGED", "new": "NEW", "removed": "REMOVED",
          "newly-skipped": "NEWLY SKIPPED", "newly-error": "NEWLY ERROR", "fixed": "FIXED"}
DIFF_SCHEMA = "bindmatrix-diff/1"


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bindmatrix diff",
        description="Compare the results of one OS before (BASELINE) and after (CANDIDATE) an "
                    "OS or kernel upgrade, case by case; exit 1 when an outcome changed "
                    "unless the allowlist accepts it.")
    p.add_argument("baseline", metavar="BASELINE", help="results .jsonl before the upgrade")
    p.add_argument("candidate", metavar="CANDIDATE", help="results .jsonl after the upgrade")
    p.add_argument("--allow", metavar="FILE", action="append", default=[],
                   help="allowlist YAML of accepted changes, each with a reason (repeatable)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the machine-readable diff (JSON, harness/schema/diff-1.schema"
                        ".json) to FILE")
    p.add_argument("--markdown", metavar="FILE",
                   help="write the verdict as Markdown to FILE (e.g. $GITHUB_STEP_SUMMARY)")
    p.add_argument("--fail-on", metavar="CLASSES", default=",".join(diffgate.DEFAULT_GATING),
                   help="comma-separated classes that close the gate (default: %(default)s; "
                        "all: " + ", ".join(diffgate.CLASSES) + ")")
    p.add_argument("--force", action="store_true",
                   help="compare results of different OSes anyway")
    p.add_argument("--allow-partial", action="store_true",
                   help="accept a partial baseline (a run with a filter or a subset of the "
                        "cases): its missing cases would otherwise read as 'new'")
    p.add_argument("--max-lines", type=int, default=40, metavar="N",
                   help="print at most N differences per class (default: %(default)s; the "
                        "JSON has them all)")
    return p.parse_args(argv)


def bad(lines):
    for line in lines:
        show("bindmatrix diff: %s" % line, file=sys.stderr)
    return 2


def describe(rs):
    return {"path": rs.path, "host": host_label(rs.run), "os": rs.run["os"],
            "os_release": rs.run["os_release"], "cases": len(rs.cases),
            "started": rs.run.get("started", "")}


def print_difference(d):
    show("%s %s" % (TITLES[d.kind], d.case))
    if d.steps:
        width = max(len(s[0]) for s in d.steps)
        bw = max(len(s[1]) for s in d.steps)
        for label, before, after in d.steps:
            show("    %s  %s -> %s" % (label.ljust(width), before.ljust(bw), after))
    else:
        before = d.before + (" (%s)" % d.reason_before if d.reason_before else "")
        after = d.after + (" (%s)" % d.reason_after if d.reason_after else "")
        show("    was: %s" % before)
        show("    now: %s" % after)
    if d.allowed_by is not None:
        show("    allowed by %s: %s" % (display_path(d.allowed_by.location),
                                         d.allowed_by.reason))


def yaml_str(text):
    return json.dumps(text, ensure_ascii=False)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    gating = [c.strip() for c in args.fail_on.split(",")]
    unknown = [c for c in gating if c not in diffgate.CLASSES]
    if unknown:
        # an empty one too: `--fail-on "$CLASSES"` with the variable unset must not open
        # the gate to every change
        return bad(["--fail-on %r: %s; give one or more of: %s" % (
            args.fail_on, "%r is no class" % unknown[0] if unknown[0] else "a class is empty",
            ", ".join(diffgate.CLASSES))])
    if args.max_lines < 0:
        return bad(["--max-lines must be 0 or more, not %d" % args.max_lines])
    # a folder where a file goes, found before the comparison is printed rather than after
    for option, path in (("-o", args.output), ("--markdown", args.markdown)):
        if folder_instead(path):
            return bad(["%s %s" % (option, folder_instead(path))])
    problems, sets = [], []
    for path in (args.baseline, args.candidate):
        try:
            sets.append(load_results(path))
        except ResultsError as e:
            problems.append(str(e))
    allows = []
    for path in args.allow:
        try:
            allows.extend(diffgate.load_allowlist(path))
        except ExpectationError as e:
            problems.extend(e.problems)
    if problems:
        return bad(problems)
    base, cand = sets
    if base.run.get("partial") and not args.allow_partial:
        sel = base.run.get("selection") or {}
        what = ", ".join(["filter %s" % f for f in sel.get("filters", [])] +
                         ([] if sel.get("default_paths", True)
                          else ["paths %s" % " ".join(sel.get("paths", []))]))
        return bad(["%s is a partial run (%s): a baseline must be a full run of the cases "
                    "(./bindmatrix run with no filter or paths), or give --allow-partial"
                    % (args.baseline, what or "a subset of the cases")])
    if base.run["os"] != cand.run["os"] and not args.force:
        return bad(["%s is %s, %s is %s: diff compares one OS before and after an upgrade "
                    "(--force to compare anyway; ./bindmatrix report shows OSes side by side)"
                    % (args.baseline, base.run["os"], args.candidate, cand.run["os"])])

    records = diffgate.record_differences(base.run, cand.run)
    diffs = diffgate.diff(base, cand, gating)
    unused = diffgate.apply_allowlist(records + diffs, allows)
    counts = diffgate.counts(diffs, len(base.cases))
    blocking = [d for d in records + diffs if d.blocking]
    allowed = [d for d in records + diffs if d.allowed_by is not None]

    show("bindmatrix diff: %s -> %s" % (host_label(base.run), host_label(cand.run)))
    for what, rs in (("baseline: ", base), ("candidate:", cand)):
        show("  %s %s (%d case%s)" % (what, display_path(rs.path), len(rs.cases),
                                      "" if len(rs.cases) == 1 else "s"))
    show("  " + " · ".join(["%d unchanged" % counts["unchanged"]] +
                           ["%d %s" % (counts[k], k) for k in diffgate.CLASSES]))
    if records:
        show("")
        show("RUN RECORDS differ:")
        width = max(len(r.field) for r in records)
        for r in records:
            note = ("allowed by %s: %s" % (display_path(r.allowed_by.location),
                                           r.allowed_by.reason) if r.allowed_by
                    else "closes the gate" if r.gating else "(said, does not close the gate)")
            show("    %s  %s -> %s   %s" % (r.field.ljust(width), r.before, r.after, note))
    for kind in diffgate.CLASSES:
        group = [d for d in diffs if d.kind == kind]
        if not group:
            continue
        show("")
        for d in group[:args.max_lines]:
            print_difference(d)
        if len(group) > args.max_lines:
            show("... and %d more %s (-o FILE writes them all)"
                 % (len(group) - args.max_lines, kind))
    for a in unused:
        show("bindmatrix diff: warning: allowlist entry %s (%s) accepted nothing"
             % (display_path(a.location), ("record %r" % a.record) if a.record else
                "case %r, change %s" % (a.case, ",".join(a.changes))), file=sys.stderr)

    verdict = "fail" if blocking else "pass"
    outputs = {}
    if args.output:
        doc = {"schema": DIFF_SCHEMA, "verdict": verdict,
               "baseline": describe(base), "candidate": describe(cand),
               "gating_classes": gating, "counts": counts,
               "blocking": len(blocking), "allowed": len(allowed),
               "record_differences": [r.to_json() for r in records],
               "differences": [d.to_json() for d in diffs],
               "unused_allowlist": [{"at": a.location, "case": a.case or None,
                                     "record": a.record or None,
                                     "change": list(a.changes), "reason": a.reason}
                                    for a in unused]}
        outputs[args.output] = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if args.markdown:
        outputs[args.markdown] = markdown(base, cand, verdict, counts, records, diffs,
                                          blocking, allowed)
    if outputs:
        try:
            write_all(outputs)
        except OSError as e:
            return bad(["cannot write %s: %s" % (getattr(e, "filename", "") or "the output",
                                                 e.strerror or e)])
    show("")
    if not diffs and not records:
        show("PASS: no case changed, and the run records agree.")
    elif not blocking:
        n = len(diffs) + len(records)
        show("PASS: %d difference%s, none closing the gate%s."
             % (n, "s" if n != 1 else "",
                " (%d allowed)" % len(allowed) if allowed else ""))
    else:
        by_kind = {}
        for d in blocking:
            kind = "run record" if isinstance(d, diffgate.RecordDifference) else d.kind
            by_kind[kind] = by_kind.get(kind, 0) + 1
        show("FAIL: %d difference%s the gate (%s)%s."
             % (len(blocking), "s close" if len(blocking) != 1 else " closes",
                ", ".join("%s %d" % (k, n) for k, n in by_kind.items()),
                "; %d allowed" % len(allowed) if allowed else ""))
        show("If a change is intended, accept it in an allowlist (--allow FILE), e.g.:")
        for r in [d for d in blocking if isinstance(d, diffgate.RecordDifference)][:5]:
            show("  - record: %s" % yaml_scalar(r.field))
            show("    to: %s" % yaml_str(r.after))
            show("    reason: \"...why the run is still comparable...\"")
        case_blocking = [d for d in blocking if not isinstance(d, diffgate.RecordDifference)]
        for d in case_blocking[:5]:
            show("  - case: %s" % yaml_str(d.case))
            show("    change: %s" % d.kind)
            if d.kind == "changed":
                show("    to: %s" % yaml_str(d.after))
            show("    reason: \"...why the new behaviour is accepted...\"")
        if len(case_blocking) > 5:
            show("  (a glob such as %s accepts many)"
                 % yaml_str(case_blocking[0].case.split("[", 1)[0] + "[*"))
    if args.output:
        show("diff: %s" % display_path(args.output))
    return 1 if blocking else 0


def markdown(base, cand, verdict, counts, records, diffs, blocking, allowed, limit=200):
    """The verdict for a CI job summary: what closes the gate first, at most limit rows."""
    out = ["## bindmatrix gate: %s" % ("PASS" if verdict == "pass" else "FAIL"), "",
           "`%s` → `%s`: %s" % (host_label(base.run), host_label(cand.run), " · ".join(
               ["%d unchanged" % counts["unchanged"]] +
               ["%d %s" % (counts[k], k) for k in diffgate.CLASSES if counts[k]])), ""]
    if records:
        out += ["| run record | before | after | |", "|---|---|---|---|"]
        for r in records:
            note = ("allowed: %s" % r.allowed_by.reason if r.allowed_by
                    else "**closes the gate**" if r.gating else "")
            out.append("| `%s` | %s | %s | %s |" % (r.field, r.before.replace("|", "\\|"),
                                                   r.after.replace("|", "\\|"), note))
        out.append("")
    shown = [d for d in diffs if d.blocking] + [d for d in diffs if not d.blocking]
    if shown:
        out += ["| case | class | before | after | |", "|---|---|---|---|---|"]
        for d in shown[:limit]:
            note = ("allowed: %s" % d.allowed_by.reason if d.allowed_by
                    else "**closes the gate**" if d.gating else "")
            out.append("| `%s` | %s | %s | %s | %s |" % (d.case, d.kind, d.before.replace(
                "|", "\\|"), d.after.replace("|", "\\|"), note))
        if len(shown) > limit:
            out.append("")
            out.append("… and %d more differences (diff -o FILE writes them all)."
                       % (len(shown) - limit))
        out.append("")
    out.append("%d closing the gate, %d allowed." % (len(blocking), len(allowed)))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
