"""bindmatrix harness: read the runner's manifest and results, judge them against per-OS
expectations, and report.

Modules, one job each:
  cli           the command line (./bindmatrix hands over to it)
  manifest      every expanded case, as the runner made it (the one model of a case)
  results       load and check a results .jsonl file (schema + structure)
  expectations  load and check <scenario>/<os>.yaml rule files; pick a case's rule
  judge         the one verdict per case: match, mismatch, unknown, no-expectation, ...
  conformance   one host's results judged, and the text the conformance run prints
  compare       the text of a verdict (mismatch blocks, suggested rules)
  outcome       a case's outcome as comparable data and compact text
  lint / expect check expectation files against the manifest / write rules for new cases
  summary, diffgate + diffcli, report/, bench, versions, oses, yamlio, atomic, runnerargs,
  stamps, locks
"""

SCHEMA_VERSION = 1
