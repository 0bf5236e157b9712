"""The repository's own expectation files must load cleanly (every problem at file:line)."""

import os

from bindmatrix.expectations import load_all
from fixturekit import HARNESS

REPO_CASES = os.path.join(os.path.dirname(HARNESS), "cases")


def test_repository_expectation_files_are_valid():
    load_all(REPO_CASES)        # raises ExpectationError listing each problem
