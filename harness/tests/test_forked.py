"""forked.Child: work in a second process, its answer, its failure, its timeout."""

import time

import pytest

from bindmatrix import forked


def test_the_value_comes_back_even_when_large():
    value = ["x" * 1000] * 500               # more than a pipe holds at once
    assert forked.Child(lambda: value).result(30) == value


def test_an_exception_in_the_child_is_raised_with_its_text():
    def broken():
        raise KeyError("host-3")
    with pytest.raises(RuntimeError, match="KeyError: 'host-3'"):
        forked.Child(broken).result(30)


def test_a_child_that_overruns_is_killed_and_said():
    child = forked.Child(lambda: time.sleep(30))
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="longer than 0.3 s"):
        child.result(0.3)
    assert time.monotonic() - start < 5
    assert child.pid is None                 # reaped: no zombie, no orphan
