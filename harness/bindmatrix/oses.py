"""The run record's `os` -> the expectation file beside each case.yaml."""

# run['os'] (results schema enum) -> expectation file stem.
EXPECTATION_FILES = {
    "linux": "linux",
    "freebsd": "freebsd",
    "macos": "macos",
    "openbsd": "openbsd",
    "netbsd": "netbsd",
    "dragonfly": "dragonfly",
}

# The stems an expectation file may have (anything else beside case.yaml is an error).
KNOWN_STEMS = frozenset(EXPECTATION_FILES.values())


def expectation_stem(os_name):
    """'linux' -> 'linux'; None when results from that OS cannot be checked."""
    return EXPECTATION_FILES.get(os_name)


def expectation_filename(os_name):
    stem = expectation_stem(os_name)
    return None if stem is None else stem + ".yaml"
