"""Reading a file that a user, a cases folder or a results file names, in bounded time and
memory: what every input of the harness is read with.

  read(path, max_bytes, what, pipes=False) -> its bytes, or Unreadable saying why
  file_key(path)        -> what a file read once per process is remembered by, or None

A regular file is read up to max_bytes; with pipes, a FIFO too (`check <(zcat r.jsonl.gz)`),
read to its end (its writer is the user's: it is waited for).  Anything else is refused
before a byte is read: a FIFO where a file is expected (a plain open would wait for a writer
for ever), a device (/dev/zero never ends), a folder.
"""

import os
import select
import stat


def file_key(path):
    """The file as it is now (its real path, modification time and size): what a parse of it
    is remembered by while it does not change; None when there is no such file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.realpath(path), st.st_mtime_ns, st.st_size)


class Unreadable(Exception):
    """Why a file cannot be read, without its path (the caller's error names it)."""


def read(path, max_bytes, what, pipes=False):
    # opened without blocking, so that a FIFO is seen as one instead of waited on
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise Unreadable("cannot read: %s" % (e.strerror or e)) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode) and pipes:
            data = _drain(fd, max_bytes)
        elif not stat.S_ISREG(mode):
            raise Unreadable("not a regular file (a FIFO or device would block or never end)"
                             if not pipes else "not a %s (a device or a folder)" % what)
        else:
            with os.fdopen(fd, "rb") as f:
                fd = None
                data = f.read(max_bytes + 1)
    except OSError as e:
        raise Unreadable("cannot read: %s" % (e.strerror or e)) from None
    finally:
        if fd is not None:
            os.close(fd)
    if len(data) > max_bytes:
        raise Unreadable("larger than %d bytes: not a %s bindmatrix reads" % (max_bytes, what))
    return data


def _drain(fd, max_bytes):
    """A pipe's bytes to its end, from a descriptor that does not block.  Not reopened to
    block: a blocking open waits for a new writer, and a writer that has written all it had
    and gone never comes back.  poll() says nothing before a writer has been seen, so the
    first wait is for the writer, then for each chunk, then for the end."""
    chunks, size = [], 0
    while size <= max_bytes:
        select.select([fd], [], [])
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            continue
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
