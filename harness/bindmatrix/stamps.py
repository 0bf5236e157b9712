"""A check that passed on the same inputs passes again: the digest of its inputs' bytes is
kept in a stamp file once it passed (under build/), so that ./bindmatrix test does not redo
it (the macOS check's CMake configuration, the workflow lint).  A fresh clone, as CI's, has
no stamp and does all of it.

  digest(paths, *texts) -> hex digest of the texts and of each path's name and bytes
  holds(stamp, value)   -> whether the stamp file says value
  record(stamp, value)  -> the stamp file says value from now on
"""

import hashlib


def digest(paths, *texts):
    h = hashlib.sha256()
    for text in texts:
        h.update(b"\0%s" % text.encode())
    for path in paths:
        with open(path, "rb") as f:
            h.update(b"\0%s\0%s" % (path.encode(), f.read()))
    return h.hexdigest()


def holds(stamp, value):
    try:
        with open(stamp) as f:
            return f.read() == value
    except OSError:
        return False


def record(stamp, value):
    with open(stamp, "w") as f:
        f.write(value)
