"""cases/documented.yaml: the release each documented column describes.

  load(path) -> {stem: Reference}   (InputError naming file, line and field)

A documented rule's `kernel` range says which releases of its OS it holds for; a documented
column picks, per case, the first rule whose range contains the column's release.
"""

import os
from dataclasses import dataclass

from . import oses
from .versions import VersionError, parse_version
from .yamlio import InputError, LineDict, field_problem, load_yaml

HARNESS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = os.path.join(os.path.dirname(HARNESS), "cases", "documented.yaml")


@dataclass(frozen=True)
class Reference:
    stem: str
    release: str        # compared with rules' kernel ranges, as a run's os_release would be
    name: str           # what the report calls the column


def load(path=DEFAULT):
    if not os.path.exists(path):
        return {}
    doc = load_yaml(path)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError(["%s:1: a mapping {os: {release: \"15.0\", name: \"FreeBSD 15.0\"}}"
                          % path])
    problems, out = [], {}
    for stem, entry in doc.items():
        line = doc.line_of(stem) if isinstance(doc, LineDict) else 0
        if stem not in oses.KNOWN_STEMS:
            problems.append(field_problem(path, line, str(stem), "not an OS bindmatrix has "
                                          "expectation files for (%s)"
                                          % ", ".join(sorted(oses.KNOWN_STEMS))))
            continue
        if not isinstance(entry, dict) or set(entry) != {"release", "name"} or not all(
                isinstance(entry[k], str) and entry[k] for k in ("release", "name")):
            problems.append(field_problem(path, line, stem, "{release: \"15.0\", name: "
                                          "\"FreeBSD 15.0\"}: two non-empty strings"))
            continue
        try:
            parse_version(entry["release"])
        except VersionError as e:
            problems.append(field_problem(path, line, stem + ".release", str(e)))
            continue
        out[stem] = Reference(stem, entry["release"], entry["name"])
    if problems:
        raise InputError(problems)
    return out
