"""cases/capabilities.yaml: the capabilities a run on each OS must have, by privilege.

  required(path, run) -> frozenset of names (empty when the file does not name the OS)
  unknown(names, vocabulary) -> the names no run records as a capability

The judge makes a case that an observed expectation says runs on this OS, but that was
skipped for one of these, an error naming the capability (judge.py).
"""

import os

from .yamlio import InputError, LineDict, field_problem, load_yaml

HARNESS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = os.path.join(os.path.dirname(HARNESS), "cases", "capabilities.yaml")
PRIVILEGES = ("privileged", "unprivileged")


def load(path=DEFAULT, vocabulary=None):
    """{os: {privileged: set, unprivileged: set}}; InputError naming file and line.  With
    the manifest's vocabulary, a name no run records is one (lint)."""
    doc = load_yaml(path) if os.path.exists(path) else None
    if doc is None:
        return {}
    problems, out = [], {}
    if not isinstance(doc, dict):
        raise InputError(["%s:1: a mapping {os: {privileged: [...], unprivileged: [...]}}"
                          % path])
    for os_name, by_priv in doc.items():
        line = doc.line_of(os_name) if isinstance(doc, LineDict) else 0
        if not isinstance(by_priv, dict):
            problems.append(field_problem(path, line, os_name,
                                          "{privileged: [...], unprivileged: [...]}"))
            continue
        out[os_name] = {}
        for priv, names in by_priv.items():
            where = "%s.%s" % (os_name, priv)
            pline = by_priv.line_of(priv) if isinstance(by_priv, LineDict) else line
            if priv not in PRIVILEGES:
                problems.append(field_problem(path, pline, where,
                                              "not one of %s" % ", ".join(PRIVILEGES)))
            elif not isinstance(names, list) or not all(isinstance(n, str) and n
                                                         for n in names):
                problems.append(field_problem(path, pline, where, "a list of capability names"))
            else:
                out[os_name][priv] = frozenset(names)
                for n in unknown(names, vocabulary) if vocabulary is not None else ():
                    problems.append(field_problem(path, pline, where,
                                                  "%r is no capability a run records" % n))
    if problems:
        raise InputError(problems)
    return out


def required(table, run):
    """The capabilities this run must have."""
    by_priv = table.get((run or {}).get("os"), {})
    return by_priv.get("privileged" if (run or {}).get("privileged") else "unprivileged",
                       frozenset())


def unknown(names, vocabulary):
    """The names a run never records as a capability: not the runner's own (the manifest's
    vocabulary, "capabilities"), nor option:NAME of an option it knows, nor sysctl:NAME of a
    sysctl it sets."""
    known = set(vocabulary.get("capabilities") or ()) | \
        {"option:" + o for o in vocabulary.get("options") or {}} | \
        {"sysctl:" + s for s in vocabulary.get("sysctls") or ()}
    return [n for n in names if n not in known]
