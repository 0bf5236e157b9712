"""bindmatrix harness: read runner results and compare them with per-OS expectations.

Modules, one job each:
  results       load and check a results .jsonl file (schema + structure)
  expectations  load and check cases/<scenario>/<os>.yaml rule files; pick a case's rule
  versions      release strings and kernel version ranges
  compare       one case record against its rule; readable mismatch blocks
  oses          the run record's OS name -> expectation file name
"""

SCHEMA_VERSION = 1

# The JUnit/user property naming a conformance test's verdict: passed, mismatch,
# no-expectation, error or skipped (the terminal summary counts by it).
VERDICT_PROPERTY = "bindmatrix.verdict"
