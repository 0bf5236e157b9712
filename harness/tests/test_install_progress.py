"""./bindmatrix deps on a machine that lacks packages: one line per group of packages as they
install (no minute of silence), apt's output kept for when it fails, and a package that still
is not there afterwards named.  apt-get and dpkg-query are stand-ins on PATH: nothing is
installed."""

import os
import subprocess

import pytest

from fixturekit import REPO

FAKE_DPKG = """#!/bin/sh
# knows every package as installed but those in $MISSING (until the fake apt-get "installs")
shift 2
for p in "$@"; do
    case " $MISSING " in
        *" $p "*) grep -qx "$p" "$STATE" 2>/dev/null && echo "ii  $p" || echo "un  $p" ;;
        *) echo "ii  $p" ;;
    esac
done
"""
FAKE_APT = """#!/bin/sh
echo "apt-get $*" >> "$LOG"
[ "$1" = install ] || exit 0
for p in "$@"; do
    case $p in -*|install) ;; *) [ "$p" = "$BROKEN" ] || echo "$p" >> "$STATE" ;; esac
done
"""


WAITED = "bindmatrix: another install of bindmatrix's packages is running; waiting for it"


def deps(tmp_path, missing, broken=""):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("dpkg-query", FAKE_DPKG), ("apt-get", FAKE_APT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"]),
               MISSING=" ".join(missing), STATE=str(tmp_path / "state"),
               LOG=str(tmp_path / "apt.log"), BROKEN=broken)
    env.pop("BINDMATRIX_NO_DEPS", None)
    return subprocess.run([os.path.join(REPO, "bindmatrix"), "deps", "--test"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=60)


@pytest.fixture(autouse=True)
def _root():
    if os.geteuid() != 0:
        pytest.fail("this test drives ./bindmatrix deps as root would (./bindmatrix test runs "
                    "as root)")


def test_one_line_per_group_as_it_installs(tmp_path):
    proc = deps(tmp_path, ["python3-fastjsonschema", "libpcap-dev", "libxml2-utils", "runsc"])
    assert proc.returncode == 0, proc.stdout
    # the other tests here install too, from other processes: one may hold the lock first
    lines = [line for line in proc.stdout.splitlines() if line != WAITED]
    assert lines[0] == "  reading the package lists"
    assert "  installing the build packages: libpcap-dev python3-fastjsonschema" in lines
    assert "  installing the test packages: libxml2-utils" in lines
    assert "  installing the kernels packages: runsc" in lines
    assert lines[-2:] == ["installed.", "bindmatrix: dependencies for 'test' are installed"]


def test_a_package_apt_did_not_install_is_named(tmp_path):
    proc = deps(tmp_path, ["libpcap-dev", "cpio"], broken="cpio")
    assert proc.returncode != 0, proc.stdout
    assert "apt-get did not install: cpio" in proc.stdout


@pytest.mark.parametrize("argv", [["deps", "--bogus"], ["build", "--test", "extra"],
                                  ["build", "-j4"], ["nosuch"]])
def test_an_option_the_shell_commands_do_not_take_is_refused(argv):
    """deps and build take --test alone: anything else is exit 2 and named, before anything
    is installed or built (they used to ignore it and go on)."""
    proc = subprocess.run([os.path.join(REPO, "bindmatrix")] + argv, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=60,
                          env=dict(os.environ, BINDMATRIX_NO_DEPS="1"))
    assert proc.returncode == 2, proc.stdout
    assert ("takes only --test, not: " + " ".join(argv[1:])) in proc.stdout or \
        "unknown command 'nosuch'" in proc.stdout, proc.stdout
