"""./bindmatrix builds one at a time per checkout, and installs one at a time per machine:
two commands started together after a change ran two ninjas in one build folder, and one
failed ("file truncated"); on a fresh machine the second's apt-get update failed ("Could not
get lock")."""

import os
import select
import shutil
import subprocess
import time

import pytest

from fixturekit import REPO

# the work of a fake tool: it holds $MARK (a folder only one can make) until $GO exists
# (polled, for at most 30 s); a second one at the same time fails
HOLD = """mkdir "$MARK" 2>/dev/null || { echo "$0: two at once" >&2; exit 1; }
i=0
while [ ! -e "$GO" ]; do
    i=$((i + 1)); [ $i -le 600 ] || exit 2; sleep 0.05
done
rmdir "$MARK"
"""
# cmake, as the script calls it: a configure does nothing; a build holds, then leaves the
# runner the script looks for
FAKE_CMAKE = """#!/bin/sh
[ "$1" = --build ] || exit 0
""" + HOLD + """: > "$2/bindmatrix-runner" && chmod +x "$2/bindmatrix-runner"
"""


def wait_for(predicate, seconds=30):
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "not within %d s" % seconds
        time.sleep(0.02)


# what the script's build runs, besides cmake; a tool it starts to need shows as a failure
BUILD_TOOLS = ("sh", "bash", "dirname", "basename", "mkdir", "grep", "cat", "rm", "rmdir",
               "chmod", "sleep", "nproc", "getconf", "uname", "id", "tr", "awk", "sed",
               "head", "mktemp", "env", "touch", "printf", "test", "[", "python3")


def path_without_flock(tmp_path):
    """A PATH with the build's tools and no flock(1): the script locks with Python."""
    bindir = tmp_path / "no-flock"
    bindir.mkdir()
    for prog in BUILD_TOOLS:
        found = shutil.which(prog)
        if found:
            os.symlink(found, str(bindir / prog))
    return str(bindir)


def second_waits_for_first(cmd, env, says):
    """Starts cmd; once the first holds $MARK (inside its fake tool), starts it again and
    reads the second's stderr until it says it waits; then lets the first go ($GO).  Both
    must end with 0.  Without a lock the second's fake tool finds $MARK and fails."""
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             universal_newlines=True)
    second = None
    try:
        wait_for(lambda: os.path.isdir(env["MARK"]) or first.poll() is not None)
        assert first.poll() is None, first.stderr.read()
        second = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, universal_newlines=True)
        said, end = "", time.monotonic() + 30
        while "waiting for it" not in said and second.poll() is None \
                and time.monotonic() < end:
            if select.select([second.stderr], [], [], 0.5)[0]:
                said += second.stderr.readline()
        assert said == "bindmatrix: another %s is running; waiting for it\n" % says, \
            said + (second.stderr.read() if second.poll() is not None else "")
        open(env["GO"], "w").close()
        assert first.wait(60) == 0 and second.wait(60) == 0, second.stderr.read()
    finally:
        open(env["GO"], "w").close()
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


@pytest.mark.parametrize("locker", ["flock", "python"])
def test_a_second_build_waits_for_the_first(tmp_path, locker):
    if locker == "flock" and not shutil.which("flock"):
        pytest.skip("no flock(1) on this machine: the python branch is tested")
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(os.path.join(REPO, "bindmatrix"), str(repo / "bindmatrix"))
    os.symlink(os.path.join(REPO, "harness"), str(repo / "harness"))   # its Python lock
    os.symlink(os.path.join(REPO, "ci"), str(repo / "ci"))             # ci/cmake-fresh
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "cmake").write_text(FAKE_CMAKE)
    (fake / "cmake").chmod(0o755)
    rest = os.environ["PATH"] if locker == "flock" else path_without_flock(tmp_path)
    assert (shutil.which("flock", path=rest) is None) == (locker == "python")
    env = dict(os.environ, PATH="%s:%s" % (fake, rest), BINDMATRIX_NO_DEPS="1",
               MARK=str(tmp_path / "building"), GO=str(tmp_path / "go"))
    second_waits_for_first([str(repo / "bindmatrix"), "build"], env,
                           "build of this checkout")


# dpkg-query and apt-get, as the script calls them: nothing is installed until an
# `apt-get install` (which holds, as the fake cmake does) says so
FAKE_DPKG_QUERY = """#!/bin/sh
[ -e "$INSTALLED" ] || exit 0
shift 2
for p in "$@"; do printf 'ii  %s\\n' "$p"; done
"""
FAKE_APT_GET = """#!/bin/sh
echo "$1" >> "$APT_LOG"
[ "$1" = update ] && exit 0
""" + HOLD + """: > "$INSTALLED"
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the script installs packages only as root")
def test_a_second_install_waits_and_installs_only_what_is_still_missing(tmp_path):
    """Two commands on a fresh machine: apt-get update refuses a second at once ("Could not
    get lock"), so the second waits, finds the packages installed and installs nothing."""
    fake = tmp_path / "fake"
    fake.mkdir()
    for name, text in (("dpkg-query", FAKE_DPKG_QUERY), ("apt-get", FAKE_APT_GET)):
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (fake, os.environ["PATH"]),
               MARK=str(tmp_path / "installing"), GO=str(tmp_path / "go"),
               INSTALLED=str(tmp_path / "installed"), APT_LOG=str(tmp_path / "apt.log"))
    env.pop("BINDMATRIX_NO_DEPS", None)
    second_waits_for_first([os.path.join(REPO, "bindmatrix"), "deps"], env,
                           "install of bindmatrix's packages")
    assert (tmp_path / "apt.log").read_text().split().count("install") == 1


@pytest.mark.parametrize("made_for", ["another checkout", "this checkout"])
def test_a_build_folder_made_for_another_checkout_is_configured_again(tmp_path, made_for):
    """A checkout moved or copied with its build folders: CMake refused the cache ("is
    different than the directory ... where CMakeCache.txt was created") and the build
    failed; a build.ninja made there would rebuild the old folder's files.  ci/cmake-fresh,
    which ./bindmatrix, run-fuzz and sanitizer-check call first, drops that configuration
    and keeps the rest (the stamps, a fuzz corpus)."""
    here, build = tmp_path / "here", tmp_path / "here" / "build"
    (build / "CMakeFiles").mkdir(parents=True)
    source = str(tmp_path / "elsewhere") if made_for == "another checkout" else str(here)
    (build / "CMakeCache.txt").write_text("CMAKE_HOME_DIRECTORY:INTERNAL=%s\n" % source)
    for name in ("build.ninja", "stamp"):
        (build / name).write_text("")
    proc = subprocess.run([os.path.join(REPO, "ci", "cmake-fresh"), str(build), str(here)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    left = sorted(os.listdir(str(build)))
    if made_for == "this checkout":
        assert left == ["CMakeCache.txt", "CMakeFiles", "build.ninja", "stamp"]
        assert proc.stderr == ""
    else:
        assert left == ["stamp"]
        assert proc.stderr == ("bindmatrix: %s was configured for %s; configuring it again "
                               "for %s\n" % (build, source, here))
