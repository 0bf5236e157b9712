"""Settings of the self-test processes (harness/conftest.py is the conformance run's)."""

import gc

from bindmatrix.cli import GC_THRESHOLDS


def pytest_configure(config):
    # a command's thresholds, for the same reason: the tests build and keep many small
    # objects (records, manifests, parsed YAML), and the default thresholds walk them again
    # and again (a second of CPU per worker in ./bindmatrix test)
    gc.set_threshold(*GC_THRESHOLDS)
