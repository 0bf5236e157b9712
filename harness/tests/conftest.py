"""Settings of the self-test processes (harness/conftest.py is the conformance run's)."""

import gc


def pytest_configure(config):
    # what cli.main does for a command, for the same reason: the tests build and keep many
    # small objects (records, manifests, parsed YAML), and the default thresholds walk them
    # again and again (a second of CPU per worker in ./bindmatrix test)
    gc.set_threshold(20000, 50, 1000)
