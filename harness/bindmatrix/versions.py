"""Release strings and version ranges.

A release ("6.18.44-fc-v769", "14.1-RELEASE-p3", "23.5.0") is compared by its dotted numeric
prefix: (6, 18, 44).  A range is comma-separated clauses, all of which must hold:
">=4.6,<6.1".  Missing components compare as 0, so "6.1" == "6.1.0".
"""

import functools
import re

OPERATORS = (">=", "<=", "==", "!=", ">", "<")  # two-character ones first
_PREFIX = re.compile(r"\s*(\d+(?:\.\d+)*)")
_VERSION = re.compile(r"\d+(?:\.\d+)*\Z")


class VersionError(ValueError):
    """A release or range that cannot be parsed; the message says what and why."""


@functools.lru_cache(maxsize=1024)     # a run's release is asked about for every case
def parse_release(release):
    """'6.18.44-fc-v769' -> (6, 18, 44).  Raises VersionError without a numeric prefix."""
    if not isinstance(release, str):
        raise VersionError("release must be a string, not %s" % type(release).__name__)
    m = _PREFIX.match(release)
    if not m:
        raise VersionError("release %r does not start with a dotted version number" % release)
    return tuple(int(p) for p in m.group(1).split("."))


def parse_version(text):
    """'4.6' -> (4, 6); strict: dotted numbers only."""
    text = text.strip()
    if not _VERSION.match(text):
        raise VersionError("%r is not a dotted version number like 4.6 or 5.10.2" % text)
    return tuple(int(p) for p in text.split("."))


def _pad(a, b):
    n = max(len(a), len(b))
    return a + (0,) * (n - len(a)), b + (0,) * (n - len(b))


def compare_versions(a, b):
    """-1, 0 or 1, treating missing components as 0."""
    a, b = _pad(tuple(a), tuple(b))
    return (a > b) - (a < b)


_TESTS = {
    ">=": lambda c: c >= 0,
    "<=": lambda c: c <= 0,
    "==": lambda c: c == 0,
    "!=": lambda c: c != 0,
    ">": lambda c: c > 0,
    "<": lambda c: c < 0,
}


class VersionRange:
    """A parsed range: clauses of (operator, version tuple), all of which must hold."""

    def __init__(self, text, clauses):
        self.text = text
        self.clauses = clauses

    def contains(self, version):
        if isinstance(version, str):
            version = parse_release(version)
        return all(_TESTS[op](compare_versions(version, v)) for op, v in self.clauses)

    __contains__ = contains

    def __repr__(self):
        return "VersionRange(%r)" % self.text

    def __str__(self):
        return self.text


def parse_range(text):
    """'>=4.6,<6.1' -> VersionRange.  Raises VersionError naming the bad clause."""
    if not isinstance(text, str):
        raise VersionError('must be a string like ">=4.6,<6.1" (quote it in YAML), not %s'
                           % type(text).__name__)
    if not text.strip():
        raise VersionError('empty range: write clauses like ">=4.6,<6.1"')
    clauses = []
    for i, raw in enumerate(text.split(",")):
        clause = raw.strip()
        if not clause:
            raise VersionError("range %r: clause %d is empty" % (text, i + 1))
        op = next((o for o in OPERATORS if clause.startswith(o)), None)
        if op is None:
            raise VersionError("range %r: clause %r must start with one of %s"
                               % (text, clause, ", ".join(OPERATORS)))
        rest = clause[len(op):]
        if rest.strip()[:1] in ("=", "<", ">", "!"):
            raise VersionError("range %r: clause %r has a malformed operator" % (text, clause))
        try:
            clauses.append((op, parse_version(rest)))
        except VersionError as e:
            raise VersionError("range %r: clause %r: %s" % (text, clause, e)) from None
    return VersionRange(text, clauses)
