"""Write output files all-or-nothing: every file goes to a temporary name beside its target
and is renamed into place only once all of them were written, so a failure (a full disk, an
exception while rendering) never leaves a half-written or mixed set of reports behind."""

import os
import tempfile

from . import forked


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
        if beside and forked.can_fork():
            theirs = {names[p]: renderers[p] for p in beside}
            child = forked.Child(lambda: [_fill(tmp, render()) for tmp, render in
                                          theirs.items()] and True)
        for path, render in renderers.items():
            if child is None or path not in beside:
                _fill(names[path], render())
        if child is not None:
            waiting, child = child, None    # result() reaps it, whatever happens
            try:
                waiting.result(timeout)
            except RuntimeError as e:
                raise RuntimeError("rendering %s: %s" % (", ".join(beside), e)) from None
        for tmp, path in temps:
            os.replace(tmp, path)
        temps = []
    finally:
        if child is not None:               # failed here first: the child's work is moot
            child.stop()
        _discard(temps)
