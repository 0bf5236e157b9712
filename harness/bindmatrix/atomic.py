"""Write output files all-or-nothing: every file goes to a temporary name beside its target
and is renamed into place only once all of them were written, so a failure (a full disk, an
exception while rendering) never leaves a half-written or mixed set of reports behind."""

import os
import tempfile


def write_all(files):
    """files: {path: text}.  Creates missing parent folders.  Raises OSError on failure,
    having removed every temporary file it made."""
    temps = []
    try:
        for path, content in files.items():
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                                       suffix=".tmp", dir=folder)
            temps.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
        for tmp, path in temps:
            os.replace(tmp, path)
        temps = []
    finally:
        for tmp, _ in temps:
            try:
                os.unlink(tmp)
            except OSError:
                pass
