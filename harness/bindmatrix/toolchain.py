"""The Python modules the harness needs, at the versions it needs, checked at start-up so a
too-old toolchain says so plainly instead of failing deep inside a command.

  FLOOR: module -> (minimal version, what needs it)
  problems() -> ["pytest 6.2.5 is too old: ... needs >= 7"]  (empty when all is well)
"""

import re

FLOOR = {
    "pytest": ((7, 0), "the conformance run (pytest.StashKey, pytest 7)"),
    "jsonschema": ((4, 0), "explaining an invalid results file (Draft 2020-12, jsonschema 4)"),
    "fastjsonschema": ((2, 15), "validating results files at parse speed"),
    "yaml": ((5, 1), "reading expectation files (PyYAML)"),
    "jinja2": ((2, 11), "the HTML report"),
}
DEBIAN = {"pytest": "python3-pytest", "jsonschema": "python3-jsonschema",
          "fastjsonschema": "python3-fastjsonschema", "yaml": "python3-yaml",
          "jinja2": "python3-jinja2"}


DISTRIBUTIONS = {"yaml": "PyYAML", "jinja2": "Jinja2"}


def version_of(module):
    """(major, minor) of an installed module, None if it is missing, () if its version cannot
    be told.  Read from the name of its dist-info (or egg-info) folder, without importing it
    or importlib.metadata (which alone costs more than the rest of start-up)."""
    import importlib.util
    import os
    spec = importlib.util.find_spec(module)
    if spec is None:
        return None
    origin = spec.origin or ""
    site = os.path.dirname(os.path.dirname(origin) if origin.endswith("__init__.py")
                           else origin)
    dist = DISTRIBUTIONS.get(module, module).lower().replace("-", "_")
    try:
        names = os.listdir(site)
    except OSError:
        return ()
    for name in names:
        m = re.match(r"(.+?)-(\d+)\.(\d+)[^-]*?(-py[\d.]+)?\.(dist|egg)-info$", name)
        if m and m.group(1).lower().replace("-", "_") == dist:
            return (int(m.group(2)), int(m.group(3)))
    return ()


def problems(modules=None, version=version_of):
    out = []
    for name in modules or FLOOR:
        need, what = FLOOR[name]
        have = version(name)
        if have is None:
            out.append("%s is missing: %s needs it (Debian: apt-get install %s)"
                       % (name, what, DEBIAN[name]))
        elif have and have < need:
            out.append("%s %d.%d is too old: %s needs %d.%d or later (Debian 12 and Ubuntu "
                       "24.04 have it; elsewhere: pip install '%s>=%d.%d')"
                       % (name, have[0], have[1], what, need[0], need[1],
                          {"yaml": "pyyaml"}.get(name, name), need[0], need[1]))
    return out
