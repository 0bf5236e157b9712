"""bindmatrix.stacks: the matrix on other kernels under QEMU.

The fast tests use synthetic module trees, a fake QEMU (data/stacks/fake-qemu) and synthetic
result channels.  The slow ones boot real Debian kernels: they need the Debian mirror (apt),
qemu-system-x86 and the static runner (cmake -S . -B build-static -G Ninja
-DBINDMATRIX_STATIC=ON -DBINDMATRIX_TESTS=OFF && cmake --build build-static).
"""

import gzip
import lzma
import os
import select
import shutil
import struct
import subprocess
import threading
import time

import pytest

from bindmatrix.results import load_results
from bindmatrix.stacks import channel, cpio, debian, guests, initramfs, kmods, qemu
from fixturekit import DATA, SAMPLE_CASES, SAMPLE_RESULTS, lock_held_elsewhere

FAKE_QEMU = os.path.join(DATA, "stacks", "fake-qemu")
BUSYBOX = shutil.which("busybox")


# ---- synthetic kernels --------------------------------------------------------------------

def fake_module(depends=""):
    """A minimal ELF64 relocatable with a .modinfo section, as modpost writes it."""
    info = b"license=GPL\0depends=" + depends.encode() + b"\0vermagic=6.1.0-fake SMP\0"
    names = b"\0.modinfo\0.shstrtab\0"
    shoff = 64 + len(info) + len(names)
    shoff += -shoff % 8
    header = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack(
        "<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 3, 2)

    def section(name, kind, offset, size):
        return struct.pack("<IIQQQQIIQQ", name, kind, 0, 0, offset, size, 0, 0, 1, 0)

    return ((header + info + names).ljust(shoff, b"\0") + bytes(64)
            + section(1, 1, 64, len(info)) + section(10, 3, 64 + len(info), len(names)))


def compress(data, suffix):
    if suffix == ".xz":
        return lzma.compress(data)
    if suffix == ".gz":
        return gzip.compress(data)
    if suffix == ".zst":
        return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True,
                              check=True).stdout
    return data


# path under lib/modules/<release>/ -> what its .modinfo says it depends on
FAKE_MODULES = {
    "kernel/drivers/net/veth.ko.xz": "",
    "kernel/net/ipv4/inet_diag.ko" + (".zst" if shutil.which("zstd") else ".gz"): "sock_base",
    "kernel/net/ipv4/tcp_diag.ko.gz": "inet_diag",
    "kernel/net/core/sock-base.ko": "",
    "kernel/net/core/unused.ko.xz": "",
}


def fake_kernel_tree(root, release="6.1.0-fake", modules=FAKE_MODULES,
                     builtin=("kernel/net/ipv4/udp_diag.ko",)):
    """lib/modules/<release> with modules whose dependencies only their .modinfo says (like
    a Debian package: no modules.dep), udp_diag built in."""
    mdir = os.path.join(str(root), "lib", "modules", release)
    for rel, depends in modules.items():
        path = os.path.join(mdir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(compress(fake_module(depends), os.path.splitext(rel)[1]))
    with open(os.path.join(mdir, "modules.builtin"), "w") as f:
        f.write("".join(b + "\n" for b in builtin))
    return mdir


def modules_dep_tree(root, lines):
    """A module tree whose modules.dep says everything (the files are empty)."""
    mdir = str(root)
    for line in lines:
        path = os.path.join(mdir, line.split(":")[0])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").close()
    with open(os.path.join(mdir, "modules.dep"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return mdir


# ---- module resolution --------------------------------------------------------------------

def test_load_plan_from_modules_dep(tmp_path):
    mdir = modules_dep_tree(tmp_path, [
        "kernel/drivers/net/veth.ko:",
        "kernel/net/ipv4/tcp_diag.ko: kernel/net/ipv4/inet_diag.ko kernel/net/core/sock_base.ko",
        "kernel/net/ipv4/inet_diag.ko: kernel/net/core/sock_base.ko",
        "kernel/net/core/sock_base.ko:",
        "kernel/net/ipv4/udp-diag.ko.xz: kernel/net/ipv4/inet_diag.ko",
        "kernel/net/other.ko: kernel/net/core/sock_base.ko",
    ])
    tree = kmods.ModuleTree(mdir)
    assert tree.has_modules_dep
    plan = tree.load_plan(["veth", "tcp_diag", "udp_diag", "inet_diag", "ipv9"])
    assert plan.files == ["kernel/drivers/net/veth.ko", "kernel/net/core/sock_base.ko",
                          "kernel/net/ipv4/inet_diag.ko", "kernel/net/ipv4/tcp_diag.ko",
                          "kernel/net/ipv4/udp-diag.ko.xz"]       # each once, deps first
    assert plan.names == ["veth", "sock_base", "inet_diag", "tcp_diag", "udp_diag"]
    assert plan.absent == ["ipv9"] and plan.builtin == []


def test_load_plan_from_modinfo_when_no_modules_dep(tmp_path):
    tree = kmods.ModuleTree(fake_kernel_tree(tmp_path))
    assert not tree.has_modules_dep
    plan = tree.load_plan(initramfs.REQUIRED_MODULES)
    assert plan.names == ["veth", "sock_base", "inet_diag", "tcp_diag"]
    assert plan.builtin == ["udp_diag"] and plan.absent == []


def test_load_plan_errors(tmp_path):
    loop = kmods.ModuleTree(modules_dep_tree(tmp_path / "loop", ["a.ko: b.ko", "b.ko: a.ko"]))
    with pytest.raises(kmods.ModulesError, match="circular module dependency: a -> b -> a"):
        loop.load_plan(["a"])
    gap = kmods.ModuleTree(modules_dep_tree(tmp_path / "gap", ["c.ko: kernel/gone.ko"]))
    with pytest.raises(kmods.ModulesError, match="c depends on gone, which is not in"):
        gap.load_plan(["c"])


@pytest.mark.parametrize("suffix", [".ko", ".ko.xz", ".ko.gz", ".ko.zst"])
def test_decompressed_module_and_modinfo(tmp_path, suffix):
    if suffix == ".ko.zst" and not shutil.which("zstd"):
        pytest.skip("no zstd")
    elf = fake_module("inet_diag,sock-base")
    path = tmp_path / ("m" + suffix)
    path.write_bytes(compress(elf, os.path.splitext(suffix)[1]))
    assert kmods.decompressed(str(path)) == elf
    assert kmods.modinfo(elf)["depends"] == "inet_diag,sock-base"
    assert kmods.module_name(str(path)) == "m"


# ---- the initramfs ------------------------------------------------------------------------

@pytest.fixture
def guest_parts(tmp_path):
    """A fake kernel tree, runner and busybox: what initramfs.build takes."""
    runner = tmp_path / "runner"
    runner.write_bytes(b"\x7fELF fake runner")
    box = tmp_path / "busybox"
    box.write_bytes(b"\x7fELF fake busybox")
    return dict(modules_dir=fake_kernel_tree(tmp_path / "k"), runner=str(runner),
                cases=SAMPLE_CASES, label="linux-6.1.0-fake", busybox=str(box))


def test_initramfs_contents(tmp_path, guest_parts):
    out = str(tmp_path / "initramfs.cpio")
    image = initramfs.build(out, stack="kernel", runner_args=("-f", "tcp/", "-o", "/elsewhere"),
                            **guest_parts)
    with open(out, "rb") as f:
        entries = cpio.read(f.read())
    assert list(entries) == image.names

    init = entries["init"]
    assert init.kind == "file" and init.mode & 0o111 and init.data.startswith(b"#!/bin/sh\n")
    text = init.data.decode()
    assert ("/bin/bindmatrix-runner -q -f tcp/ -o /elsewhere --host-label linux-6.1.0-fake "
            "--stack kernel --cases-default /cases -o /tmp/results.jsonl\n") in text
    assert "poweroff -f" in text and channel.BEGIN in text
    assert "stage module-builtin" in text and "udp_diag" in text
    assert entries["bin/busybox"].data == b"\x7fELF fake busybox"
    for applet in initramfs.APPLETS:
        assert entries["bin/" + applet].kind == "symlink"
        assert entries["bin/" + applet].data == b"busybox"
    assert entries["bin/bindmatrix-runner"].mode & 0o777 == 0o755
    assert entries["dev/console"].kind == "chardev" and entries["dev/console"].rdev == (5, 1)

    cases = {os.path.relpath(os.path.join(top, n), SAMPLE_CASES)
             for top, _d, names in os.walk(SAMPLE_CASES) for n in names}
    assert cases and {n[len("cases/"):] for n, e in entries.items()
                      if n.startswith("cases/") and e.kind == "file"} == cases

    # the modules: uncompressed, in dependency order, each insmod'ed in that order
    mods = "lib/modules/6.1.0-fake/kernel/"
    expected = [mods + p for p in ("drivers/net/veth.ko", "net/core/sock-base.ko",
                                   "net/ipv4/inet_diag.ko", "net/ipv4/tcp_diag.ko")]
    assert image.guest_modules == ["/" + p for p in expected]
    assert sorted(n for n in entries if n.startswith("lib/") and n.endswith(".ko")) \
        == sorted(expected)
    assert entries[mods + "net/ipv4/tcp_diag.ko"].data == fake_module("inet_diag")
    assert "for m in " + " ".join(image.guest_modules) + "; do" in text
    assert not any(n.endswith((".xz", ".gz", ".zst")) or "unused" in n for n in entries)
    assert image.modules.builtin == ["udp_diag"]


def test_initramfs_is_reproducible_and_gzip_holds_the_same(tmp_path, guest_parts):
    plain = initramfs.build(str(tmp_path / "a.cpio"), **guest_parts)
    again = initramfs.build(str(tmp_path / "b.cpio"), **guest_parts)
    packed = initramfs.build(str(tmp_path / "c.cpio.gz"), compress=True, **guest_parts)
    data = (tmp_path / "a.cpio").read_bytes()
    assert data == (tmp_path / "b.cpio").read_bytes()
    assert gzip.decompress((tmp_path / "c.cpio.gz").read_bytes()) == data
    assert plain.names == again.names == packed.names
    assert "--stack kernel" in plain.init


def test_initramfs_without_stack_option_and_custom_init(tmp_path, guest_parts):
    image = initramfs.build(str(tmp_path / "i.cpio"), stack=None, init="#!/bin/sh\nexit 0\n",
                            **guest_parts)
    assert "--stack" not in image.runner_command
    entries = cpio.read((tmp_path / "i.cpio").read_bytes())
    assert entries["init"].data == b"#!/bin/sh\nexit 0\n"


@pytest.mark.skipif(not BUSYBOX, reason="no busybox")
def test_init_script_is_valid_busybox_sh(tmp_path, guest_parts):
    image = initramfs.build(str(tmp_path / "i.cpio"), **guest_parts)
    script = tmp_path / "init"
    script.write_text(image.init)
    subprocess.run([BUSYBOX, "sh", "-n", str(script)], check=True, timeout=30)


# ---- the result channel -------------------------------------------------------------------

RESULTS = open(SAMPLE_RESULTS, "rb").read()


def test_extract_from_a_noisy_channel():
    sent = channel.encode(RESULTS).replace(b"\n", b"\r\n")
    raw = (b"[    0.912] serial8250: ttyS1 at I/O 0x2f8 (irq = 3) is a 16550A\r\n"
           b"a partial line, no newline" + sent + b"[    3.43] reboot: Power down\r\n\xff")
    assert channel.extract(raw) == RESULTS


def test_extract_takes_the_last_complete_transfer():
    raw = channel.encode(b"first\n") + channel.encode(RESULTS)
    assert channel.extract(raw) == RESULTS


@pytest.mark.skipif(not BUSYBOX, reason="no busybox")
def test_guest_sender_run_by_busybox(tmp_path):
    out = tmp_path / "ttyS1"
    script = tmp_path / "send.sh"
    script.write_text(channel.guest_sender(str(out)) + 'send_results "$1"\n')
    subprocess.run([BUSYBOX, "sh", str(script), SAMPLE_RESULTS], check=True, timeout=30,
                   cwd=tmp_path)
    assert channel.extract(out.read_bytes()) == RESULTS
    subprocess.run([BUSYBOX, "sh", str(script), str(tmp_path / "none")], timeout=30)
    with pytest.raises(channel.ChannelError, match="had no results"):
        channel.extract(out.read_bytes())


def _damaged(how):
    sent = channel.encode(RESULTS)
    head, body_end = sent.split(channel.BEGIN.encode() + b"\n")
    body, end = body_end.split(channel.END.encode())
    if how == "cut":
        return sent[:len(sent) // 2]
    if how == "noise-inside":
        lines = body.split(b"\n")
        noisy = b"\n".join(lines[:1] + [b"[  1.0] random: crng init done"] + lines[1:])
        return head + channel.BEGIN.encode() + b"\n" + noisy + channel.END.encode() + end
    if how == "bytes":
        n = int(end.split(b"bytes=")[1].split()[0])
        return sent.replace(b"bytes=%d" % n, b"bytes=%d" % (n + 1))
    if how == "flipped":
        i = len(head) + len(channel.BEGIN) + 10
        return sent[:i] + (b"B" if sent[i:i + 1] != b"B" else b"C") + sent[i + 1:]
    if how == "padding":
        return head + channel.BEGIN.encode() + b"\n" + body.rstrip(b"\n") + b"A\n" \
            + channel.END.encode() + end
    raise AssertionError(how)


EXTRACT_ERRORS = {
    "empty": (b"", "no 'BINDMATRIX-RESULTS BEGIN gzip+base64' marker in the 0 bytes"),
    "noise-only": (b"[ 1.0] kernel says hello\r\n" * 3, "the guest never sent results"),
    "missing": (b"\nBINDMATRIX-RESULTS MISSING\n", "the guest had no results to send"),
    "cut": (_damaged("cut"), "no complete END marker after it: the transfer was cut off"),
    "noise-inside": (_damaged("noise-inside"), "line 2 after the BEGIN marker is not base64"),
    "bytes": (_damaged("bytes"), "the END marker says"),
    "flipped": (_damaged("flipped"), "does not match the END marker's sha256"),
    "padding": (_damaged("padding"), "damaged base64"),
}


@pytest.mark.parametrize("raw, message", EXTRACT_ERRORS.values(), ids=EXTRACT_ERRORS)
def test_extract_errors(raw, message):
    with pytest.raises(channel.ChannelError) as e:
        channel.extract(raw)
    assert message in str(e.value)


# ---- one boot, with a fake QEMU -----------------------------------------------------------

def fake_boot(tmp_path, monkeypatch, mode, timeout=5.0, **kw):
    monkeypatch.setenv("FAKE_QEMU", mode)
    return qemu.boot("vmlinuz", "initrd", str(tmp_path / "console.log"),
                     str(tmp_path / "channel"), "tcg", timeout=timeout, qemu=FAKE_QEMU, **kw)


def eventually(condition, timeout=10.0):
    """Whether condition() became true within timeout seconds (checked every 50 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        select.select([], [], [], 0.05)
    return True


def process_gone(pid, timeout=5.0):
    """Whether pid ended within timeout seconds (a zombie counts as ended)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def test_guest_that_never_powers_off_is_bounded_and_killed(tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    monkeypatch.setenv("FAKE_QEMU_PIDS", str(pids))
    boot = fake_boot(tmp_path, monkeypatch, "hang", timeout=0.25)
    assert boot.ended == "timeout" and boot.exit_status is None
    assert 0.25 <= boot.total_s < 0.25 + qemu.KILL_WAIT
    assert "init" in boot.stages and "runner-start" not in boot.stages
    log = (tmp_path / "console.log").read_text()
    assert "BINDMATRIX-STAGE init" in log and log.startswith("# ")
    for pid in map(int, pids.read_text().split()):      # QEMU and a child of it
        assert process_gone(pid), pid


def test_guest_that_powers_off(tmp_path, monkeypatch):
    sent = tmp_path / "sent"
    sent.write_bytes(b"noise\r\n" + channel.encode(RESULTS))
    monkeypatch.setenv("FAKE_QEMU_CHANNEL", str(sent))
    boot = fake_boot(tmp_path, monkeypatch, "poweroff")
    assert boot.ended == "poweroff" and boot.exit_status == 0
    assert [s for _t, s, _d in boot.events] == [
        "init", "module-loaded", "module-failed", "runner-start", "runner-done",
        "results-sent", "poweroff", "power-down"]
    assert boot.stages["init"] <= boot.stages["runner-start"] <= boot.stages["runner-done"]
    assert boot.seconds("runner-start", "runner-done") >= 0
    assert boot.seconds("runner-start", "nothing") is None
    assert channel.extract((tmp_path / "channel").read_bytes()) == RESULTS


def test_guest_that_panics_and_qemu_that_fails(tmp_path, monkeypatch):
    boot = fake_boot(tmp_path, monkeypatch, "panic")
    assert boot.ended == "panic" and "Attempted to kill init" in boot.events[-1][2]
    boot = fake_boot(tmp_path, monkeypatch, "broken")
    assert boot.ended == "exited" and boot.exit_status == 1
    assert "failed to initialize kvm" in boot.qemu_error


def test_kill_all_ends_running_guests_and_refuses_new_ones(tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    monkeypatch.setenv("FAKE_QEMU_PIDS", str(pids))
    monkeypatch.setenv("FAKE_QEMU", "hang")
    cancel = threading.Event()
    ended = {}

    def one():
        ended["boot"] = qemu.boot("v", "i", str(tmp_path / "console.log"),
                                  str(tmp_path / "channel"), "tcg", timeout=60.0,
                                  qemu=FAKE_QEMU, cancel=cancel)

    guest = threading.Thread(target=one)
    guest.start()
    assert eventually(lambda: pids.exists() and pids.read_text().endswith("\n"))
    qemu.kill_all(cancel)
    guest.join(10)
    assert not guest.is_alive() and ended["boot"].ended == "exited"
    assert ended["boot"].total_s < 10
    assert all(process_gone(int(p)) for p in pids.read_text().split())
    again = fake_boot(tmp_path, monkeypatch, "hang", cancel=cancel)
    assert again.ended == "cancelled" and again.events == []


def test_qemu_command_has_no_network_and_two_serial_ports():
    cmd = qemu.qemu_command("vmlinuz", "initrd", "/x/channel", "tcg")
    assert cmd[cmd.index("-nic") + 1] == "none" and "-nodefaults" in cmd
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "-serial"] == \
        ["stdio", "file:/x/channel"]
    assert "-no-reboot" in cmd and "panic=-1" in cmd[cmd.index("-append") + 1]
    assert "-cpu" not in cmd and "host" in qemu.qemu_command("v", "i", "c", "kvm")


def test_choose_accel_by_a_bounded_trial(tmp_path, monkeypatch):
    monkeypatch.setattr(qemu, "_accel", None)
    monkeypatch.setattr(qemu, "kvm_usable", lambda: True)
    monkeypatch.setenv("FAKE_QEMU", "silent")           # a KVM that hangs before the kernel
    assert qemu.choose_accel("v", "i", str(tmp_path), timeout=0.25, qemu=FAKE_QEMU) == "tcg"
    monkeypatch.setenv("FAKE_QEMU", "hang")              # remembered: no second trial
    assert qemu.choose_accel("v", "i", str(tmp_path), timeout=0.25, qemu=FAKE_QEMU) == "tcg"

    monkeypatch.setattr(qemu, "_accel", None)
    monkeypatch.setenv("FAKE_QEMU_PIDS", str(tmp_path / "pids"))
    assert qemu.choose_accel("v", "i", str(tmp_path), timeout=5.0, qemu=FAKE_QEMU) == "kvm"
    assert (tmp_path / "kvm-trial.console.log").exists()

    monkeypatch.setattr(qemu, "_accel", None)
    monkeypatch.setattr(qemu, "kvm_usable", lambda: False)
    assert qemu.choose_accel("v", "i", str(tmp_path), qemu="/nonexistent") == "tcg"


# ---- targets, with fake kernels and a fake QEMU ---------------------------------------------

@pytest.fixture
def fake_targets(tmp_path, monkeypatch):
    """debian.fetch replaced: target T is kernel 6.1.0-T built from fake_kernel_tree; "nope"
    does not exist."""
    def fetch(target, cache, max_age=None):
        if target == "nope":
            raise debian.DebianError("no release has the package nope")
        root = tmp_path / "kernels" / target
        fake_kernel_tree(root, release="6.1.0-" + target)
        (root / "boot").mkdir(exist_ok=True)
        (root / "boot" / ("vmlinuz-6.1.0-" + target)).write_bytes(b"kernel")
        return debian.kernel_in(str(root), debian.Package("linux-image-6.1.0-" + target, "1",
                                                          "bookworm"))
    monkeypatch.setattr(guests.debian, "fetch", fetch)
    sent = tmp_path / "sent"
    sent.write_bytes(channel.encode(RESULTS))
    monkeypatch.setenv("FAKE_QEMU_CHANNEL", str(sent))
    monkeypatch.setenv("FAKE_QEMU_PIDS", str(tmp_path / "pids"))
    runner = tmp_path / "runner"
    runner.write_bytes(b"fake")
    # a bound a fake guest that powers off meets however loaded the machine is (it ends
    # as soon as the guest does); a test of a guest that hangs sets its own
    return guests.GuestConfig(runner=str(runner), cases=SAMPLE_CASES, accel="tcg",
                               qemu=FAKE_QEMU, cache=str(tmp_path / "cache"), timeout=30.0,
                               stack=None)


def test_run_kernel_keeps_results_console_and_times(tmp_path, monkeypatch, fake_targets):
    monkeypatch.setenv("FAKE_QEMU", "poweroff")
    run = guests.run_kernel("a", str(tmp_path / "out"), fake_targets)
    assert run.ok, run.error
    assert run.results == str(tmp_path / "out" / "linux-6.1.0-a.jsonl")
    assert load_results(run.results).end["cases"] == run.counts["cases"] == 5
    assert run.counts == {"cases": 5, "observed": 4, "skipped": 1, "error": 0}
    assert os.path.exists(run.console_log) and run.accel == "tcg"
    assert 0 <= run.boot_s <= run.total_s and run.run_s >= 0
    assert run.modules["failed"] == ["veth"] and run.modules["builtin"] == ["udp_diag"]
    assert run.stack_option is False
    assert os.listdir(tmp_path / "cache" / "work") == []        # removed once it worked


@pytest.mark.parametrize("mode, message", [
    ("hang", "the guest did not power off within 0.25 s (last stage: init); console: "),
    ("panic", "the guest kernel panicked: [    1.5] Kernel panic - not syncing"),
    ("broken", "QEMU exited (status 1) without the guest powering off"),
])
def test_run_kernel_errors_keep_the_console(tmp_path, monkeypatch, fake_targets, mode,
                                            message):
    monkeypatch.setenv("FAKE_QEMU", mode)
    if mode == "hang":
        fake_targets.timeout = 0.25
    run = guests.run_kernel("a", str(tmp_path / "out"), fake_targets)
    assert not run.ok and message in run.error and run.results is None
    assert run.error.endswith("console: " + run.console_log) and os.path.exists(run.console_log)
    assert len(os.listdir(tmp_path / "cache" / "work")) == 1     # kept for a look


def test_run_kernel_damaged_results(tmp_path, monkeypatch, fake_targets):
    monkeypatch.setenv("FAKE_QEMU", "poweroff")
    (tmp_path / "sent").write_bytes(channel.encode(RESULTS)[:-30])
    run = guests.run_kernel("a", str(tmp_path / "out"), fake_targets)
    assert "no results: the result channel has a BEGIN marker but no complete END" in run.error
    assert "the runner ended with rc=0" in run.error
    (tmp_path / "sent").write_bytes(channel.encode(b'{"record": "run"}\n'))
    run = guests.run_kernel("a", str(tmp_path / "out"), fake_targets)
    assert run.error.startswith("the guest's results are not valid: ")
    assert "linux-6.1.0-a.received.jsonl:1: " in run.error
    assert not (tmp_path / "out" / "linux-6.1.0-a.jsonl").exists()


def test_run_kernels_in_parallel_in_order(tmp_path, monkeypatch, fake_targets):
    monkeypatch.setenv("FAKE_QEMU", "poweroff")
    runs = guests.run_kernels(["a", "nope", "b"], str(tmp_path / "out"), fake_targets, jobs=3)
    assert [r.target for r in runs] == ["a", "nope", "b"]
    assert [r.ok for r in runs] == [True, False, True]
    assert runs[1].error == "cannot fetch the kernel: no release has the package nope"
    assert sorted(os.listdir(tmp_path / "out")) == [
        "linux-6.1.0-a.console.log", "linux-6.1.0-a.jsonl", "linux-6.1.0-b.console.log",
        "linux-6.1.0-b.jsonl"]


def test_an_interrupted_run_leaves_no_guest_behind(tmp_path, monkeypatch, fake_targets):
    monkeypatch.setenv("FAKE_QEMU", "hang")
    fake_targets.timeout = 60.0
    fetch = guests.debian.fetch

    def interrupting(target, cache, max_age=None):
        if target == "stop":
            raise KeyboardInterrupt
        return fetch(target, cache, max_age)

    monkeypatch.setattr(guests.debian, "fetch", interrupting)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        guests.run_kernels(["stop", "a"], str(tmp_path / "out"), fake_targets, jobs=2)
    assert time.monotonic() - started < 10
    pids = tmp_path / "pids"            # "a" was killed, or never started
    assert not pids.exists() or all(process_gone(int(p)) for p in pids.read_text().split())


def test_run_guests_for_the_command_line(tmp_path, monkeypatch, fake_targets):
    monkeypatch.setenv("FAKE_QEMU", "poweroff")
    c = fake_targets
    [run] = guests.run_guests(["a"], str(tmp_path / "out"), c.runner, c.cases, ["-f", "tcp/"],
                              c.timeout, jobs=1, accel="tcg", qemu=FAKE_QEMU, cache=c.cache,
                              stack=None)
    assert run.ok and run.log == run.console_log
    assert set(run.timings) == {"boot", "run", "total"}
    assert guests.KernelRun("x", error="e").timings == {}


def test_host_like_kernel_args(tmp_path):
    (tmp_path / "sys" / "net" / "ipv4").mkdir(parents=True)
    (tmp_path / "sys" / "net" / "ipv4" / "tcp_max_tw_buckets").write_text("131072\n")
    assert guests.host_like_kernel_args(str(tmp_path)) == ("thash_entries=262144",)
    assert guests.host_like_kernel_args(str(tmp_path / "none")) == ()


def test_runner_knows_stack_from_its_help(tmp_path):
    for name, text in (("old", "  -q, --quiet"), ("new", "      --stack NAME  ...")):
        script = tmp_path / name
        script.write_text("#!/bin/sh\necho '%s'\n" % text)
        script.chmod(0o755)
    assert not guests.runner_knows_stack(str(tmp_path / "old"))
    assert guests.runner_knows_stack(str(tmp_path / "new"))


# ---- Debian -------------------------------------------------------------------------------

def test_machine_mirror_from_deb822_and_one_line_sources(tmp_path):
    (tmp_path / "a-vendor.list").write_text("deb https://vendor.example/node nodistro main\n")
    (tmp_path / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\nTypes: deb\nURIs: http://off.example/\nSuites: sid\n"
        "Enabled: no\n")
    m = debian.machine_mirror([str(tmp_path)])
    assert m == debian.Mirror("http://mirror.example/debian",
                              "http://mirror.example/debian-security",
                              "/usr/share/keyrings/debian-archive-keyring.gpg")
    one = tmp_path / "sources.list"
    one.write_text("# old style\ndeb [arch=amd64] http://one.example/debian bullseye main\n"
                   "deb http://one.example/debian-security bullseye-security main\n")
    m = debian.machine_mirror([str(one)])
    assert (m.archive, m.security) == ("http://one.example/debian",
                                       "http://one.example/debian-security")
    with pytest.raises(debian.DebianError, match="no Debian archive"):
        debian.machine_mirror([str(tmp_path / "missing")])


@pytest.mark.skipif(not shutil.which("apt-config"), reason="no apt")
def test_private_apt_reads_none_of_the_machines_configuration(tmp_path):
    mirror = debian.Mirror("http://deb.example/debian", "http://deb.example/debian-security",
                           debian.DEFAULT_KEYRING)
    apt = debian.PrivateApt(debian.RELEASES["trixie"], mirror, str(tmp_path / "apt"))
    apt._write_config()
    sources = (tmp_path / "apt" / "sources.list").read_text().splitlines()
    assert [s.split()[-3:] for s in sources] == [
        ["http://deb.example/debian", "trixie", "main"],
        ["http://deb.example/debian", "trixie-updates", "main"],
        ["http://deb.example/debian-security", "trixie-security", "main"]]
    assert all("signed-by=" + debian.DEFAULT_KEYRING in s for s in sources)
    dump = apt.run(["apt-config", "dump"]).stdout.lower()    # apt's keys ignore case
    assert 'dir::etc::sourcelist "%s/sources.list"' % apt.root.lower() in dump
    assert 'dir::state::status "%s/status"' % apt.root.lower() in dump
    assert "post-invoke" not in dump            # the machine's hooks are not read
    for line in dump.splitlines():
        if line.startswith(("dir::state", "dir::cache", "dir::etc::source", "dir::etc::parts",
                            "dir::etc::pref")):
            value = line.split('"')[1]
            assert not value.startswith("/") or value.startswith(apt.root.lower()) \
                or value == "/dev/null", line
    assert (tmp_path / "apt" / "status").read_text() == ""


def test_targets_that_need_no_network():
    with pytest.raises(debian.DebianError, match="unknown kernel target '7.0'"):
        debian.resolve("7.0")
    assert debian._release_order("linux-image-6.12.57+deb12-cloud-amd64")[:2] == \
        ["bookworm-backports", "bookworm"]
    assert debian._release_order("linux-image-6.12.57+deb13-cloud-amd64")[0] == "trixie"
    assert debian._release_order("linux-image-5.10.0-30-cloud-amd64")[0] == "bullseye"
    assert sorted(debian._release_order("linux-image-x")) == sorted(debian.RELEASES)
    assert {debian.RELEASES[r].series for r in debian.SERIES.values()} == set(debian.SERIES)


@pytest.mark.parametrize("lib", ["lib", "usr/lib"])
def test_kernel_in_an_unpacked_package(tmp_path, lib):
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / "vmlinuz-6.12.1+deb13-cloud-amd64").write_bytes(b"k")
    (tmp_path / lib / "modules" / "6.12.1+deb13-cloud-amd64").mkdir(parents=True)
    pkg = debian.Package("linux-image-6.12.1+deb13-cloud-amd64", "6.12.1-1", "trixie")
    k = debian.kernel_in(str(tmp_path), pkg)
    assert k.kernel_release == "6.12.1+deb13-cloud-amd64" and k.modules_dep is None
    assert k.modules_dir == str(tmp_path / lib / "modules" / "6.12.1+deb13-cloud-amd64")
    os.unlink(k.vmlinuz)
    with pytest.raises(debian.DebianError, match="0 vmlinuz"):
        debian.kernel_in(str(tmp_path), pkg)


# ---- real kernels (slow) --------------------------------------------------------------------

def need_real_guests():
    if not shutil.which(qemu.QEMU):
        pytest.skip("no %s (apt-get install qemu-system-x86)" % qemu.QEMU)
    if not os.path.exists(guests.STATIC_RUNNER):
        pytest.skip("no static runner: cmake -S . -B build-static -G Ninja "
                    "-DBINDMATRIX_STATIC=ON -DBINDMATRIX_TESTS=OFF && cmake --build build-static")
    if not BUSYBOX or not os.path.exists(initramfs.BUSYBOX):
        pytest.skip("no busybox (apt-get install busybox-static)")


HANG_INIT = """#!/bin/sh
echo "BINDMATRIX-STAGE init $(uname -r)"
while :; do sleep 3600; done
"""


@pytest.mark.slow
def test_real_guest_that_never_powers_off(tmp_path):
    need_real_guests()
    kernel = debian.fetch("6.1")
    image = initramfs.build(str(tmp_path / "i.cpio"), modules_dir=kernel.modules_dir,
                            runner=guests.STATIC_RUNNER, cases=SAMPLE_CASES, label="hang",
                            init=HANG_INIT)
    boot = qemu.boot(kernel.vmlinuz, image.path, str(tmp_path / "console.log"),
                     str(tmp_path / "channel"), "tcg", timeout=10.0)
    assert boot.ended == "timeout" and 10.0 <= boot.total_s < 10.0 + qemu.KILL_WAIT
    assert boot.events[0][1:] == ("init", kernel.kernel_release)
    log = (tmp_path / "console.log").read_text(errors="replace")
    assert "Linux version " + kernel.kernel_release in log
    with pytest.raises(channel.ChannelError):
        channel.extract(b"" if not os.path.exists(boot.channel) else
                        open(boot.channel, "rb").read())


def fake_tool(tmp_path, monkeypatch, name, script):
    """A fake `name` first on PATH, running the shell script given."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / name).write_text("#!/bin/sh\n" + script)
    (bindir / name).chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))


@pytest.mark.skipif(not shutil.which("apt-config"), reason="no apt")
def test_an_apt_update_waits_for_another_process_using_the_same_cache(tmp_path, monkeypatch):
    """Two processes fetching kernels of one release (two `kernels`, two test workers) made
    apt refuse the second update: "Could not get lock .../lists/lock"."""
    ran = tmp_path / "apt-get.ran"
    fake_tool(tmp_path, monkeypatch, "apt-get", 'echo "$*" >> %s\n' % ran)
    root = tmp_path / "apt"
    mirror = debian.Mirror("http://deb.example/debian", "http://deb.example/debian-security",
                           debian.DEFAULT_KEYRING)
    busy = debian.PrivateApt(debian.RELEASES["bookworm"], mirror, str(root), lock_wait=0.2)
    with lock_held_elsewhere(root / "bindmatrix.lock") as holder:
        with pytest.raises(debian.DebianError, match="the apt state of bookworm: process %d "
                           "held" % holder.pid):
            busy.update()
        assert not ran.exists() and not (root / "updated").exists()
    busy.update()                               # its holder gone, the update runs
    assert ran.read_text() == "-q update\n" and (root / "updated").exists()


def test_a_kernel_another_process_unpacked_first_is_used(tmp_path, monkeypatch):
    root = tmp_path / "unpacked" / "linux-image-x"
    root.parent.mkdir()
    # dpkg-deb as if another process had finished unpacking the same package meanwhile
    fake_tool(tmp_path, monkeypatch, "dpkg-deb",
              'mkdir -p "$3/boot" %s/boot && touch "$3/boot/vmlinuz-x" %s/boot/vmlinuz-x\n'
              % (root, root))
    assert debian.unpacked(str(tmp_path / "x.deb"), str(root)) == str(root)
    assert os.listdir(root / "boot") == ["vmlinuz-x"]
    assert not [n for n in os.listdir(root.parent) if n.startswith(".unpack-")]


@pytest.mark.slow
def test_a_release_signed_by_an_unknown_key_is_refused(tmp_path):
    mirror = debian.machine_mirror()
    unknown = debian.Mirror(mirror.archive, mirror.security,
                            os.path.join(debian.KEYRINGS, "debian-archive-removed-keys.gpg"))
    release = debian.Release("trixie", "no-such-codename", "6.12", (("trixie", "archive"),))
    apt = debian.PrivateApt(release, unknown, str(tmp_path / "apt"))
    assert apt.keyrings() == [unknown.keyring]
    with pytest.raises(debian.DebianError, match="NO_PUBKEY"):
        apt.update()
    assert not (tmp_path / "apt" / "updated").exists()


@pytest.mark.slow
def test_real_bookworm_kernel_runs_a_filtered_matrix(tmp_path):
    need_real_guests()
    config = guests.GuestConfig(runner_args=("-f", "tcp/second-listener"))
    run = guests.run_kernel("6.1", str(tmp_path), config)
    assert run.ok, run.error
    assert run.package.startswith("linux-image-6.1.0-") and run.release == "bookworm"
    assert run.results.endswith(".partial.jsonl")
    results = load_results(run.results)
    assert results.run["os_release"] == run.kernel_release
    assert results.run["host"] == run.label
    assert run.counts["cases"] > 0 and run.counts["error"] == 0
    assert all(c["id"].startswith("tcp/second-listener") for c in results.cases)
    assert run.accel in ("kvm", "tcg") and run.modules["failed"] == []
    if run.stack_option:
        assert results.run["stack"] == "kernel"
    with open("/proc/sys/net/ipv4/tcp_max_tw_buckets") as f:     # host_like_kernel_args
        assert results.run["sysctls"]["net.ipv4.tcp_max_tw_buckets"] == f.read().strip()
    assert 0 < run.boot_s < run.total_s and 0 < run.run_s < run.total_s
