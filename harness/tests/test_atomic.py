"""atomic.render_all: outputs rendered in two processes, renamed into place all or none."""

import errno
import os
import stat
import threading

import pytest

from bindmatrix.atomic import render_all


def _setup(tmp_path):
    a, b = str(tmp_path / "a.txt"), str(tmp_path / "b.html")
    for p in (a, b):
        with open(p, "w") as f:
            f.write("old\n")
    return a, b


def test_both_processes_write_their_files(tmp_path):
    a, b = _setup(tmp_path)
    render_all({a: lambda: "A\n", b: lambda: "pid %d\n" % os.getpid()}, beside=[b])
    assert open(a).read() == "A\n"
    assert open(b).read().startswith("pid ")
    if (os.cpu_count() or 1) > 1:       # the page was made by the child
        assert open(b).read() != "pid %d\n" % os.getpid()
    assert sorted(os.listdir(str(tmp_path))) == ["a.txt", "b.html"]


def test_a_failing_child_renderer_leaves_everything_as_it_was(tmp_path):
    a, b = _setup(tmp_path)

    def broken():
        raise ValueError("no such column")
    with pytest.raises((RuntimeError, ValueError), match="no such column"):
        render_all({a: lambda: "A\n", b: broken}, beside=[b])
    assert open(a).read() == open(b).read() == "old\n"
    assert sorted(os.listdir(str(tmp_path))) == ["a.txt", "b.html"]


def test_a_failing_parent_renderer_stops_the_child_and_leaves_nothing(tmp_path):
    a, b = _setup(tmp_path)

    def broken():
        raise KeyError("host")
    with pytest.raises(KeyError):
        render_all({a: broken, b: lambda: "B\n"}, beside=[b])
    assert open(a).read() == open(b).read() == "old\n"
    assert sorted(os.listdir(str(tmp_path))) == ["a.txt", "b.html"]


# ---- paths that are not a file to replace: written through, never renamed over ----------

def full_device(tmp_path):
    """A /dev/full of this test's own (char 1:7: every write fails with ENOSPC), so that a
    writer that renames over it replaces nothing of the machine's."""
    path = str(tmp_path / "full")
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    return path


def test_a_full_device_is_an_error_and_stays_a_device(tmp_path):
    a, _ = _setup(tmp_path)
    full = full_device(tmp_path)
    with pytest.raises(OSError) as e:
        render_all({a: lambda: "A\n", full: lambda: "lost\n"})
    assert e.value.errno == errno.ENOSPC and e.value.filename == full
    assert stat.S_ISCHR(os.stat(full).st_mode)
    assert open(a).read() == "old\n"            # all or nothing: no file was replaced
    assert sorted(os.listdir(str(tmp_path))) == ["a.txt", "b.html", "full"]


def test_a_fifo_is_written_through(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()), daemon=True)
    reader.start()
    render_all({fifo: lambda: "through the pipe\n"})
    reader.join(10)
    assert got == ["through the pipe\n"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_descriptor_is_written_through_a_copy_of_it(tmp_path):
    r, w = os.pipe()
    try:
        render_all({"/dev/fd/%d" % w: lambda: "on the descriptor\n"})
        os.fstat(w)                             # still open: a copy was written and closed
        os.close(w)
        w = None
        assert os.read(r, 100) == b"on the descriptor\n"
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def test_a_symlink_stays_a_symlink_and_its_end_is_replaced(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "out.md").write_text("old\n")
    os.symlink("real/out.md", str(tmp_path / "hop"))        # relative: to the link's folder
    os.symlink(str(tmp_path / "hop"), str(tmp_path / "link"))
    os.symlink("real/new.md", str(tmp_path / "dangling"))
    render_all({str(tmp_path / "link"): lambda: "new\n",
                str(tmp_path / "dangling"): lambda: "made\n"})
    assert os.path.islink(str(tmp_path / "link")) and os.path.islink(str(tmp_path / "hop"))
    assert (tmp_path / "real" / "out.md").read_text() == "new\n"
    assert (tmp_path / "real" / "new.md").read_text() == "made\n"
    assert sorted(os.listdir(str(tmp_path / "real"))) == ["new.md", "out.md"]


def test_a_folder_in_the_way_is_an_error_before_anything_is_written(tmp_path):
    a, _ = _setup(tmp_path)
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError):
        render_all({a: lambda: "A\n", str(tmp_path / "folder"): lambda: "x\n"})
    assert open(a).read() == "old\n"
    assert sorted(os.listdir(str(tmp_path))) == ["a.txt", "b.html", "folder"]


def test_a_symlink_loop_is_an_error(tmp_path):
    os.symlink("b", str(tmp_path / "a"))
    os.symlink("a", str(tmp_path / "b"))
    with pytest.raises(OSError) as e:
        render_all({str(tmp_path / "a"): lambda: "x\n"})
    assert e.value.errno == errno.ELOOP
