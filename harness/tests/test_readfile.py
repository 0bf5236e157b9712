"""readfile.read: every input of the harness, read in bounded time and memory."""

import os
import subprocess

import pytest

from bindmatrix import readfile


def test_a_plain_file_is_read_up_to_its_limit(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    assert readfile.read(str(path), 5, "thing") == b"12345"
    with pytest.raises(readfile.Unreadable, match="larger than 4 bytes: not a thing bindmatrix"):
        readfile.read(str(path), 4, "thing")


@pytest.mark.parametrize("pipes", [False, True])
def test_what_would_block_or_never_end_is_refused_before_it_is_read(tmp_path, pipes):
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))                    # no writer: a plain open would wait for ever
    targets = ["/dev/zero", str(tmp_path)] + ([] if pipes else [str(fifo)])
    for target in targets:
        with pytest.raises(readfile.Unreadable) as e:
            readfile.read(target, 1 << 20, "thing", pipes=pipes)
        said = "not a thing (a device or a folder)" if pipes else "not a regular file"
        assert said in str(e.value), (target, str(e.value))


def test_a_pipe_is_read_to_its_end_where_pipes_are_taken(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", 'printf "one\\ntwo\\n" > "$1"', "sh", fifo])
    try:
        assert readfile.read(fifo, 1 << 20, "thing", pipes=True) == b"one\ntwo\n"
    finally:
        writer.wait(timeout=30)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(readfile.Unreadable, match="cannot read: No such file"):
        readfile.read(str(tmp_path / "none"), 10, "thing")
