"""atomic.render_all: outputs rendered in two processes, renamed into place all or none."""

import os

import pytest

from bindmatrix.atomic import render_all


def _setup(tmp_path):
    a, b = str(tmp_path / "a.txt"), str(tmp_path / "b.html")
    for p in (a, b):
        with open(p, "w") as f:
            f.write("old\n")
    return a, b


def test_both_processes_write_their_files(tmp_path):
    a, b = _setup(tmp_path)
    render_all({a: lambda: "A\n", b: lambda: "pid %d\n" % os.getpid()}, beside=[b])
    assert open(a).read() == "A\n"
    assert open(b).read().startswith("pid ")
    if (os.cpu_count() or 1) > 1:       # the page was made by the child
        assert open(b).read() != "pid %d\n" % os.getpid()
    assert sorted(os.listdir(str(tmp_path))) == ["a.txt", "b.html"]


def test_a_failing_child_renderer_leaves_everything_as_it_was(tmp_path):
    a, b = _setup(tmp_path)

    def broken():
        raise ValueError("no such column")
    with pytest.raises((RuntimeError, ValueError), match="no such column"):
        render_all({a: lambda: "A\n", b: broken}, beside=[b])
    assert open(a).read() == open(b).read() == "old\n"
    assert sorted(os.listdir(str(tmp_path))) == ["a.txt", "b.html"]


def test_a_failing_parent_renderer_stops_the_child_and_leaves_nothing(tmp_path):
    a, b = _setup(tmp_path)

    def broken():
        raise KeyError("host")
    with pytest.raises(KeyError):
        render_all({a: broken, b: lambda: "B\n"}, beside=[b])
    assert open(a).read() == open(b).read() == "old\n"
    assert sorted(os.listdir(str(tmp_path))) == ["a.txt", "b.html"]
