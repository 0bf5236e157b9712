"""One holder at a time for state on disk that several processes share: a private apt's
lists and caches, which two `./bindmatrix kernels` (or two test processes) on one checkout
would otherwise update together, and apt then refuses ("Could not get lock"); the folder a
`./bindmatrix run` writes its results to and judges them in.

  exclusive(path, timeout, what[, waiting])
                                   a context: held by this process alone (flock on path, a
                                   file made for it or a folder locked as itself,
                                   and a thread lock, since flock does not order threads
                                   that share one open file); LockTimeout, naming the
                                   holder's pid, when it is not free within timeout seconds
  flock_within(fd, deadline, what)  the wait itself, also for ./bindmatrix's own locks
                                   (python3 -m bindmatrix.locks FD SECONDS WHAT)
"""

import contextlib
import fcntl
import os
import threading
import time

POLL = 0.05                     # seconds between tries while another process holds it

_threads = {}
_threads_guard = threading.Lock()
_mine = threading.local()       # paths this thread holds already: a nested call just goes on


class LockTimeout(Exception):
    pass


def _thread_lock(path):
    with _threads_guard:
        return _threads.setdefault(path, threading.Lock())


def _holder(fd):
    """'process N' as the holder wrote it in the lock file; of a folder, not known."""
    try:
        pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:     # a folder
        pid = ""
    return "process %s" % pid if pid else "another process"


def flock_within(fd, deadline, what, waiting=None):
    """An exclusive flock on fd by time.monotonic() deadline: True, or False when another
    process held it all along (flock has no timeout of its own: tried again every POLL s).
    waiting(what): called once, when it has to wait."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if waiting is not None:
                waiting(what)
                waiting = None
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL)


def main(argv=None):
    """python3 -m bindmatrix.locks FD SECONDS WHAT: flock the descriptor FD this process
    inherited (./bindmatrix's lock where there is no flock(1)); the lock stays with the
    open file when this process ends.  Exit 1 when it was not free within SECONDS."""
    import sys
    fd, seconds, what = (sys.argv[1:] if argv is None else argv)

    def say(text):
        print("bindmatrix: another %s is running; waiting for it" % text, file=sys.stderr,
              flush=True)
    return 0 if flock_within(int(fd), time.monotonic() + float(seconds), what, say) else 1


@contextlib.contextmanager
def exclusive(path, timeout, what, waiting=None):
    """waiting: called once, with what, when another process holds it (to say so)."""
    path = os.path.abspath(path)
    held = _mine.__dict__.setdefault("paths", set())
    if path in held:
        yield
        return
    deadline = time.monotonic() + timeout
    local = _thread_lock(path)
    if not local.acquire(timeout=timeout):
        raise LockTimeout("%s: another thread held it for %g s" % (what, timeout))
    try:
        folder = os.path.isdir(path)    # a folder is locked as itself: no file is made
        if not folder:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fd = os.open(path, (os.O_RDONLY | os.O_DIRECTORY if folder else
                            os.O_RDWR | os.O_CREAT) | os.O_CLOEXEC, 0o644)
        try:
            if not flock_within(fd, deadline, what, waiting):
                raise LockTimeout("%s: %s held %s for %g s"
                                  % (what, _holder(fd), path, timeout))
            if not folder:
                os.ftruncate(fd, 0)
                os.pwrite(fd, b"%d\n" % os.getpid(), 0)
            held.add(path)
            try:
                yield
            finally:
                held.discard(path)
        finally:
            os.close(fd)            # releases the flock
    finally:
        local.release()


if __name__ == "__main__":
    raise SystemExit(main())
