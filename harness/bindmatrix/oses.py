"""The run record's `os` (and `stack`) -> the expectation file beside each case.yaml."""

# run['os'] (results schema enum) -> expectation file stem.
EXPECTATION_FILES = {
    "linux": "linux",
    "freebsd": "freebsd",
    "macos": "macos",
    "openbsd": "openbsd",
    "netbsd": "netbsd",
    "dragonfly": "dragonfly",
}

# run['stack'] (its first word) -> expectation file stem, for a second implementation of an
# OS's socket API: gVisor answers the Linux API with its own network stack, so it is judged
# by gvisor.yaml, not by what Linux kernels do.
STACK_FILES = {
    "gvisor": "gvisor",
}

# The stems an expectation file may have (anything else beside case.yaml is an error).
KNOWN_STEMS = frozenset(EXPECTATION_FILES.values()) | frozenset(STACK_FILES.values())


def stem_of(run):
    """The expectation file stem for a run record: its stack's, else its OS's (None: no
    expectation files can judge it)."""
    stack = ((run or {}).get("stack") or "kernel").split()[0]
    if stack in STACK_FILES:
        return STACK_FILES[stack]
    return EXPECTATION_FILES.get((run or {}).get("os"))


def expectation_stem(os_name):
    """'linux' -> 'linux'; None when results from that OS cannot be checked."""
    return EXPECTATION_FILES.get(os_name)


def expectation_filename(stem):
    """'linux' -> 'linux.yaml' for a known stem (an OS or a stack), else None."""
    return stem + ".yaml" if stem in KNOWN_STEMS else None
