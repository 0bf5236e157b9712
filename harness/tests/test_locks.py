"""bindmatrix.locks: one holder at a time, across threads and processes, with a timeout."""

import os
import threading

import pytest

from bindmatrix import locks
from fixturekit import lock_held_elsewhere

def test_another_process_holding_it_times_out_with_its_pid(tmp_path):
    path = tmp_path / "state" / "x.lock"
    with lock_held_elsewhere(path) as p:
        with pytest.raises(locks.LockTimeout, match=r"the state: process %d held .*x\.lock "
                           r"for 0\.2 s" % p.pid):
            with locks.exclusive(path, 0.2, "the state"):
                pytest.fail("entered while another process held it")
    with locks.exclusive(path, 5, "the state"):    # free once its holder is gone
        assert path.read_text() == "%d\n" % os.getpid()


def test_threads_take_turns_and_a_nested_call_goes_on(tmp_path):
    path = str(tmp_path / "x.lock")
    inside, overlaps = [], []

    def work():
        for _ in range(50):
            with locks.exclusive(path, 10, "t"):
                with locks.exclusive(path, 10, "t"):        # the same thread: no deadlock
                    inside.append(1)
                    if len(inside) > 1:
                        overlaps.append(1)
                    inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads) and overlaps == []


def test_a_thread_holding_it_times_out_another(tmp_path):
    path = str(tmp_path / "x.lock")
    got, release = threading.Event(), threading.Event()

    def hold():
        with locks.exclusive(path, 5, "t"):
            got.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    assert got.wait(10)
    try:
        with pytest.raises(locks.LockTimeout, match="another thread"):
            with locks.exclusive(path, 0.1, "t"):
                pass
    finally:
        release.set()
        t.join(10)
