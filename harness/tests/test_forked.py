"""forked.Child: work in a second process, its answer, its failure, its timeout."""

import time

import pytest

from bindmatrix import forked
from fixturekit import running


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


def test_one_cpu_does_everything_in_this_process(tmp_path, monkeypatch):
    """Without a second CPU nothing is forked: the page is rendered and the results checked
    here, with the same outcome."""
    import os
    from bindmatrix.atomic import render_all
    from bindmatrix.results import SchemaCheck
    from fixturekit import SAMPLE_RESULTS
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert not forked.can_fork()
    page = str(tmp_path / "page.html")
    render_all({page: lambda: "pid %d\n" % os.getpid()}, beside=[page])
    assert open(page).read() == "pid %d\n" % os.getpid()
    check = SchemaCheck([SAMPLE_RESULTS])
    assert check.child is None and check.problems() == []


class Answer:
    def __init__(self, n):
        self.n = n


def test_a_pickled_value_comes_back_as_objects_of_its_class():
    got = forked.Child(lambda: {("k", 1): Answer(7)}, codec="pickle").result(30)
    assert isinstance(got[("k", 1)], Answer) and got[("k", 1)].n == 7


def test_a_value_it_cannot_send_is_said_not_lost():
    # what pickle says of it differs between Pythons (3.13: "Can't get local object"): the
    # error says it in its own words first
    with pytest.raises(RuntimeError, match="its value cannot be sent as pickle: "):
        forked.Child(lambda: (lambda: 0), codec="pickle").result(30)   # a local function
    with pytest.raises(RuntimeError, match="its value cannot be sent as json: TypeError"):
        forked.Child(lambda: {1, 2}).result(30)          # no JSON for a set


def test_stop_all_leaves_no_child_not_even_a_zombie():
    """What a ^C or an error cuts short: every child still there is killed and reaped."""
    import os
    children = [forked.Child(lambda: time.sleep(30)) for _ in range(2)]
    pids = [c.pid for c in children]
    forked.stop_all()
    assert all(c.pid is None for c in children) and not forked._live
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)          # reaped already: not ours any more


def test_a_child_dies_with_its_parent_even_killed_outright(tmp_path):
    """SIGKILL reaches no handler: the child's own request to the kernel (Linux) ends it
    with the process that started it, so nothing works on for a parent that is gone."""
    import os
    import subprocess
    import sys
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    pidfile = tmp_path / "child.pid"
    code = ("import sys, time; sys.path.insert(0, %r)\n"
            "from bindmatrix import forked\n"
            "c = forked.Child(lambda: time.sleep(60))\n"
            "open(%r, 'w').write(str(c.pid))\n"
            "time.sleep(60)\n" % (os.path.dirname(os.path.dirname(forked.__file__)),
                                  str(pidfile)))
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 30
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.01)
        child = int(pidfile.read_text())
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 30
        while running(child):
            assert time.monotonic() < deadline, "the child outlived its parent"
            time.sleep(0.01)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
