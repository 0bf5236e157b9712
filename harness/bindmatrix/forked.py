"""Work done in a forked child while this process goes on, its answer sent back as JSON
through a pipe: for what a second CPU can do meanwhile (checking results files against their
schema, rendering the report's page).

  Child(work)          work() starts in a forked child
  child.result(s)      its value once it is done, waiting at most s seconds; RuntimeError
                       when it raised (with its text), overran (then killed) or died
  child.stop()         kills it, if still there
"""

import json
import os
import select
import signal
import time


def can_fork():
    """Where a second process can run beside this one."""
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1


class Child:
    def __init__(self, work):
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:                        # the child: work, answer, never return
            os.close(rfd)
            code = 0
            try:
                message = {"value": work()}
            except BaseException as e:      # noqa: B902 - the parent raises it
                message, code = {"error": "%s: %s" % (type(e).__name__, e)}, 1
            try:
                data = json.dumps(message).encode()
                while data:
                    data = data[os.write(wfd, data):]
            finally:
                os._exit(code)
        os.close(wfd)
        self.pid, self.fd = pid, rfd

    def result(self, timeout):
        data, deadline = b"", time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    self.stop()
                    raise RuntimeError("it took longer than %g s" % timeout)
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                data += chunk
        finally:
            self._close()
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        try:
            message = json.loads(data.decode()) if data else {}
        except ValueError:
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
        self._close()

    def _close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
