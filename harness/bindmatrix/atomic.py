"""Write output files all-or-nothing: every file goes to a temporary name beside its target
and is renamed into place only once all of them were written, so a failure (a full disk, an
exception while rendering) never leaves a half-written or mixed set of reports behind.

Where a path names no file to replace, it is written straight through, as the runner writes
its own results (runner/atomic.c, atomic_open): one of this process's descriptors
(/dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N) through a copy of it, and a device,
a FIFO or a socket by opening it; a rename there would put a plain file in place of
/dev/full or of a pipe.  These are written once every renderer has succeeded, before the
renames.  A symlink stays a symlink: the file its chain ends at is replaced."""

import errno
import os
import re
import stat
import sys
import tempfile

from . import forked

# names of this process's own descriptors: a reopen would truncate what `>>` appends to
_DESCRIPTORS = re.compile(r"/dev/(stdout|stderr)\Z|/dev/fd/(\d+)\Z|/proc/self/fd/(\d+)\Z")


def descriptor_of(path):
    """The descriptor path names (/dev/stdout: 1), or None."""
    m = _DESCRIPTORS.match(path)
    if not m:
        return None
    return {"stdout": 1, "stderr": 2}[m.group(1)] if m.group(1) else int(m.group(2) or m.group(3))


def is_stream(path):
    """Whether path names a stream, not a file: one of this process's descriptors, or
    something there that is neither a regular file nor a folder (a FIFO, a device)."""
    if descriptor_of(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _link_target(path):
    """The file a chain of symlinks at path ends at (path itself when it is none; the end
    need not exist yet)."""
    cur = path
    for _ in range(40):
        try:
            if not stat.S_ISLNK(os.lstat(cur).st_mode):
                return cur
        except OSError:
            return cur                  # nothing there yet: the file is made here
        link = os.readlink(cur)
        # a relative link is relative to the folder the link is in
        cur = link if os.path.isabs(link) else os.path.join(os.path.dirname(cur), link)
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)


def destination(path):
    """How path is written: ("fd", N), ("open", path) or ("replace", the file to replace)."""
    fd = descriptor_of(path)
    if fd is not None:
        return "fd", fd
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        return "open", path
    target = _link_target(path)
    if st is not None:
        # a link that does not end where stat went (a /proc fd of a deleted file): nothing
        # safe to rename over, so write through it
        try:
            end = os.stat(target)
        except OSError:
            return "open", path
        if (end.st_dev, end.st_ino) != (st.st_dev, st.st_ino):
            return "open", path
    return "replace", target


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


def _write_through(path, where, content):
    """content straight to where (destination()); an OSError names path."""
    kind, to = where
    try:
        if kind == "fd":
            sys.stdout.flush()          # what this process printed before comes first
            sys.stderr.flush()
            f = open(os.dup(to), "wb")
        else:
            f = open(to, "wb")
        with f:
            f.write(content.encode("utf-8"))
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from None


def _discard(temps):
    for tmp, _ in temps:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def folder_instead(path):
    """'PATH: a folder, not a file' when a file is to be written at path and a folder is
    there: said before the work whose output it is, not after it (rename would fail)."""
    return "%s: a folder, not a file" % path if path and os.path.isdir(path) else None


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
        where = {path: destination(path) for path in renderers}
        names = {path: _make_temp(to, temps) for path, (kind, to) in where.items()
                 if kind == "replace"}
        beside = [p for p in beside if p in names]      # the child fills files only
        if beside and forked.can_fork():
            theirs = {names[p]: renderers[p] for p in beside}
            child = forked.Child(lambda: [_fill(tmp, render()) for tmp, render in
                                          theirs.items()] and True)
        through = []
        for path, render in renderers.items():
            if path not in names:
                through.append((path, render()))
            elif child is None or path not in beside:
                _fill(names[path], render())
        if child is not None:
            waiting, child = child, None    # result() reaps it, whatever happens
            try:
                waiting.result(timeout)
            except RuntimeError as e:
                raise RuntimeError("rendering %s: %s" % (", ".join(beside), e)) from None
        for path, content in through:
            _write_through(path, where[path], content)
        for tmp, path in temps:
            os.replace(tmp, path)
        temps = []
    finally:
        if child is not None:               # failed here first: the child's work is moot
            child.stop()
        _discard(temps)
