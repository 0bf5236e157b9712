"""Work done in a forked child while this process goes on, its answer sent back through a
pipe: for what a second CPU can do meanwhile (checking results files against their schema,
reading the expectation files, rendering the report's page).

  Child(work)          work() starts in a forked child; its value comes back as JSON, or
                       pickled with codec="pickle" (objects of this program's own classes:
                       the pipe is between two processes of one program, trusted both ends)
  child.result(s)      its value once it is done, waiting at most s seconds; RuntimeError
                       when it raised (with its text), overran (then killed) or died
  child.stop()         kills it, if still there
  stop_all()           kills and reaps every child still there (a ^C, an error: none is left
                       behind, not even for a moment as a zombie that init must reap)
  die_with_us(cmd)     cmd, wrapped so that the program it runs is killed when this process
                       dies, however it dies (for subprocesses: QEMU, runsc, the runner)
"""

import json
import os
import pickle
import select
import shutil
import signal
import time


def can_fork():
    """Where a second process can run beside this one."""
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1


_live = set()       # children not yet reaped (anything with stop(): register() adds one)


def register(child):
    """A child process of another kind (a subprocess) that stop_all() must end too."""
    _live.add(child)


def unregister(child):
    _live.discard(child)


def stop_all():
    for child in list(_live):
        child.stop()
        _live.discard(child)


CODECS = {"json": (lambda m: json.dumps(m).encode(), lambda b: json.loads(b.decode())),
          "pickle": (lambda m: pickle.dumps(m, pickle.HIGHEST_PROTOCOL), pickle.loads)}


PR_SET_PDEATHSIG = 1            # <linux/prctl.h>


def die_with_us(cmd):
    """cmd wrapped so that it gets SIGKILL when its parent (this process) dies, however it
    dies, even by a SIGKILL that no handler of ours sees: setpriv (util-linux) sets
    PR_SET_PDEATHSIG and execs it; preexec_fn would do the same but is unsafe in a threaded
    program.  cmd itself where there is no setpriv (not Linux)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] + list(cmd) if setpriv else list(cmd)


def _die_with(parent):
    """In a child: ends it when its parent dies, even by SIGKILL, which no handler sees
    (Linux's PR_SET_PDEATHSIG; elsewhere the child ends at its next write to the pipe)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:              # it died before the request: already an orphan
        os._exit(1)


class Child:
    def __init__(self, work, codec="json"):
        encode, self._decode = CODECS[codec]
        rfd, wfd = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:                        # the child: work, answer, never return
            os.close(rfd)
            _die_with(parent)
            code = 0
            try:
                message = {"value": work()}
            except BaseException as e:      # noqa: B902 - the parent raises it
                message, code = {"error": "%s: %s" % (type(e).__name__, e)}, 1
            try:
                try:
                    data = encode(message)
                except Exception as e:      # noqa: B902 - a value it cannot send
                    data, code = encode({"error": "its value cannot be sent as %s: %s: %s" % (
                        codec, type(e).__name__, e)}), 1
                while data:
                    data = data[os.write(wfd, data):]
            finally:
                os._exit(code)
        os.close(wfd)
        self.pid, self.fd = pid, rfd
        _live.add(self)

    def result(self, timeout):
        chunks, deadline = [], time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    self.stop()
                    raise RuntimeError("it took longer than %g s" % timeout)
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            self._close()
        data = b"".join(chunks)
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        _live.discard(self)
        try:
            message = self._decode(data) if data else {}
        except Exception:                   # noqa: B902 - a torn message: said below
            message = {}
        if "value" in message and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            return message["value"]
        raise RuntimeError(message.get("error") or "its process ended with status %d" % status)

    def stop(self):
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.pid = None
        _live.discard(self)
        self._close()

    def _close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
