"""The initramfs a guest kernel boots into: busybox, the static runner, the cases, the kernel
modules the runner needs (with their dependencies, decompressed), and an /init that runs the
matrix, sends the results on the result channel and powers off.

  build(out_path, modules_dir=..., runner=..., cases=..., label=...)  -> Initramfs

The /init prints a `BINDMATRIX-STAGE <name> ...` line on the console at each stage (qemu.py
times the boot by them).  It powers off whatever happens: a module that does not load and a
runner that fails are reported and skipped over, and if /init itself dies the kernel panics,
which reboots at once (panic=-1) and QEMU (-no-reboot) exits.
"""

import gzip
import os
import shlex
from dataclasses import dataclass, field

from . import channel, cpio
from .kmods import LoadPlan, ModuleTree, decompressed, uncompressed_path

BUSYBOX = "/bin/busybox"
# what the runner needs that a distribution kernel may build as modules: veth (the pair each
# worker creates), sock_diag for TCP states, and UDP's for completeness
REQUIRED_MODULES = ("veth", "inet_diag", "tcp_diag", "udp_diag")
# the busybox applets /init (and channel.guest_sender) call
APPLETS = ("sh", "mount", "insmod", "ip", "uname", "gzip", "base64", "sha256sum", "wc", "cat",
           "mkdir", "sleep", "poweroff", "printf", "echo", "test", "[")
STAGE = "BINDMATRIX-STAGE"
GUEST_RUNNER = "/bin/bindmatrix-runner"
GUEST_CASES = "/cases"
GUEST_RESULTS = "/tmp/results.jsonl"


@dataclass
class Initramfs:
    path: str
    names: list                     # every entry of the archive, in order
    modules: LoadPlan               # what /init loads, and what needed no file
    guest_modules: list             # the paths /init gives insmod, in order
    init: str                       # the /init script
    runner_command: list = field(default_factory=list)


def runner_command(label, stack="kernel", runner_args=()):
    """The guest's runner invocation.  The cases are the default folder, not a PATH, so that
    the whole matrix is a full run (a PATH makes it partial); stack=None leaves out
    --stack (a runner without the option).  runner_args come first: where the results go
    and under which label is the guest's to say (the last of a repeated option wins)."""
    cmd = [GUEST_RUNNER, "-q"] + list(runner_args) + ["--host-label", label]
    if stack:
        cmd += ["--stack", stack]
    return cmd + ["--cases-default", GUEST_CASES, "-o", GUEST_RESULTS]


def init_script(guest_modules, command, builtin=(), absent=()):
    """/init: POSIX sh for busybox.  No `set -e`: every stage runs, whatever failed before.
    builtin, absent: the modules that need no insmod, said on the console."""
    def words(items):
        return " ".join(map(shlex.quote, items))

    return """#!/bin/sh
# /init of a bindmatrix guest (made by bindmatrix.stacks.initramfs): run the matrix, send the
# results on ttyS1, power off.
export PATH=/bin
stage() { echo "%(stage)s $*"; }
%(sender)s
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
stage init "$(uname -r)"
for m in %(modules)s; do
    if insmod "$m"; then stage module-loaded "$m"; else stage module-failed "$m"; fi
done
for m in %(builtin)s; do stage module-builtin "$m"; done
for m in %(absent)s; do stage module-absent "$m"; done
ip link set lo up || stage lo-failed
stage runner-start
%(command)s
stage runner-done "rc=$?"
if send_results %(results)s; then stage results-sent; else stage results-missing; fi
stage poweroff
poweroff -f
""" % {"stage": STAGE, "sender": channel.guest_sender(), "modules": words(guest_modules),
       "builtin": words(builtin), "absent": words(absent), "command": words(command),
       "results": GUEST_RESULTS}


def _add_tree(archive, src, dest):
    for top, dirs, names in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        rel = os.path.relpath(top, src)
        archive.add_dir(dest if rel == "." else os.path.join(dest, rel))
        for n in sorted(names):
            if not n.startswith("."):
                with open(os.path.join(top, n), "rb") as f:
                    archive.add_file(os.path.join(dest, rel, n), f.read())


def build(out_path, *, modules_dir, runner, cases, label, busybox=BUSYBOX,
          wanted=REQUIRED_MODULES, stack="kernel", runner_args=(), init=None, compress=False):
    """Write the initramfs for one kernel to out_path.  modules_dir: that kernel's
    lib/modules/<release> folder; init: a replacement /init (tests).  compress: gzip it
    (smaller, but under TCG the kernel takes longer to inflate it than to copy it)."""
    release = os.path.basename(os.path.normpath(modules_dir))
    tree = ModuleTree(modules_dir)
    plan = tree.load_plan(wanted)
    a = cpio.Archive()
    for d in ("dev", "proc", "sys", "tmp", "bin"):
        a.add_dir(d)
    a.add_chardev("dev/console", 5, 1)      # init's stdio, before devtmpfs is mounted
    with open(busybox, "rb") as f:
        a.add_file("bin/busybox", f.read(), 0o755)
    for applet in APPLETS:
        a.add_symlink("bin/" + applet, "busybox")
    with open(runner, "rb") as f:
        a.add_file(GUEST_RUNNER, f.read(), 0o755)
    _add_tree(a, cases, GUEST_CASES)
    guest_modules = []
    for rel in plan.files:
        guest = "/lib/modules/%s/%s" % (release, uncompressed_path(rel))
        a.add_file(guest, decompressed(os.path.join(modules_dir, rel)))
        guest_modules.append(guest)
    command = runner_command(label, stack, runner_args)
    script = init if init is not None else init_script(guest_modules, command, plan.builtin,
                                                       plan.absent)
    a.add_file("init", script.encode(), 0o755)
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as raw:
        if compress:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as f:
                a.write(f)
        else:
            a.write(raw)
    os.replace(tmp, out_path)
    return Initramfs(out_path, list(a.entries), plan, guest_modules, script, command)
