"""Write output files all-or-nothing: every file goes to a temporary name beside its target
and is renamed into place only once all of them were written, so a failure (a full disk, an
exception while rendering) never leaves a half-written or mixed set of reports behind."""

import json
import os
import select
import signal
import tempfile
import time


def _make_temp(path, temps):
    """A new empty temporary file beside path, recorded in temps; its name."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=folder)
    os.close(fd)
    temps.append((tmp, path))
    return tmp


def _fill(tmp, content):
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)


def _discard(temps):
    for tmp, _ in temps:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def write_all(files):
    """files: {path: text}.  Creates missing parent folders.  Raises OSError on failure,
    having removed every temporary file it made."""
    render_all({path: (lambda text=text: text) for path, text in files.items()})


def render_all(renderers, beside=(), timeout=600):
    """renderers: {path: function returning its text}; written as write_all writes.  The
    renderers named in `beside` run in a forked child, alongside the others, where the
    machine has a second CPU (their work is independent).  Every temporary file is made
    here first, so whatever happens to the child this process removes them all, or renames
    everything into place.  An exception in a renderer propagates (from the child: as
    RuntimeError with its text)."""
    temps = []
    child = None
    try:
        names = {path: _make_temp(path, temps) for path in renderers}
        if beside and (os.cpu_count() or 1) > 1:
            child = _fork_renderers({names[p]: renderers[p] for p in beside})
        for path, render in renderers.items():
            if child is None or path not in beside:
                _fill(names[path], render())
        if child is not None:
            waiting, child = child, None    # _child_result reaps it, whatever happens
            _child_result(waiting, timeout)
        for tmp, path in temps:
            os.replace(tmp, path)
        temps = []
    finally:
        if child is not None:               # failed here first: the child's work is moot
            pid, rfd = child
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(rfd)
        _discard(temps)


def _fork_renderers(by_temp):
    """A child filling each temporary file with its renderer's text; (pid, read end)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:                            # the child: render, write, answer; never return
        os.close(rfd)
        code = 0
        try:
            for tmp, render in by_temp.items():
                _fill(tmp, render())
            message = {"ok": True}
        except BaseException as e:          # noqa: B902 - reported to the parent, which raises
            message, code = {"error": "%s: %s" % (type(e).__name__, e)}, 1
        try:
            os.write(wfd, json.dumps(message).encode())
        finally:
            os._exit(code)
    os.close(wfd)
    return pid, rfd


def _child_result(child, timeout):
    """Waits for the child (at most timeout s); raises if it failed or overran."""
    pid, rfd = child
    data, deadline = b"", time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([rfd], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise RuntimeError("rendering took longer than %d s" % timeout)
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(rfd)
    _, status = os.waitpid(pid, 0)
    try:
        message = json.loads(data.decode()) if data else {}
    except ValueError:
        message = {}
    if message.get("ok") and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return
    raise RuntimeError(message.get("error") or "the rendering process ended with status %d"
                       % status)
