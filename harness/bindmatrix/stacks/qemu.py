"""Boot one kernel with an initramfs under QEMU, bounded in time, and keep what it said.

The console (ttyS0) goes through a pipe to a log file, read as it comes so that the /init's
stage markers are timed; the results have a channel of their own (ttyS1, to a file), never
the console.  The guest has no network device at all.  Every boot is bounded: a guest that
panics, hangs or never powers off ends as a Boot saying so, and its QEMU process group is
killed on every way out of boot(), and dies with this process.

  boot(vmlinuz, initrd, console_log, channel, accel)  -> Boot
  choose_accel(vmlinuz, initrd, workdir)               -> "kvm" or "tcg" (decided once)
  kill_all(cancel)                                     every guest running now, killed
"""

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from .. import forked
from .initramfs import STAGE

QEMU = "qemu-system-x86_64"
BOOT_TIMEOUT = 240.0        # seconds for a whole boot: kernel, modules, matrix, poweroff
TRIAL_TIMEOUT = 10.0        # seconds for the KVM trial boot to reach /init (healthy: ~1 s)
KILL_WAIT = 10.0            # seconds to wait for a killed QEMU to be reaped
KERNEL_ARGS = ("console=ttyS0", "panic=-1")     # panic=-1: reboot at once; QEMU exits
_STAGE_LINE = re.compile(re.escape(STAGE).encode() + rb" (\S+) ?([^\r\n]*)")
# the kernel's lines that say how a guest ended, as pseudo-stages
KERNEL_LINES = (("power-down", b"reboot: Power down"), ("panic", b"Kernel panic - not syncing"))


@dataclass
class Boot:
    accel: str
    console_log: str
    channel: str
    ended: str                  # poweroff | panic | exited (neither) | timeout | stopped
    #                             (until_stage came) | cancelled
    exit_status: int = None     # QEMU's, when it exited by itself
    total_s: float = 0.0
    stages: dict = field(default_factory=dict)      # stage -> seconds after start (first)
    events: list = field(default_factory=list)      # (seconds, stage, detail) in order
    qemu_error: str = ""        # what QEMU itself said before the guest ran, if it failed

    def seconds(self, start, end):
        """Seconds from stage start to stage end (None when either never came)."""
        if start in self.stages and end in self.stages:
            return self.stages[end] - self.stages[start]
        return None


def qemu_command(vmlinuz, initrd, channel, accel, memory=1024, smp=1, qemu=QEMU,
                 kernel_args=()):
    cpu = ["-cpu", "host"] if accel == "kvm" else []      # TCG: QEMU's default model
    return [qemu, "-machine", "q35", "-accel", accel] + cpu + [
        "-m", str(memory), "-smp", str(smp),
        "-nodefaults", "-nographic", "-no-reboot", "-nic", "none", "-monitor", "none",
        "-serial", "stdio",                     # ttyS0: the console, to our pipe
        "-serial", "file:" + channel,           # ttyS1: the result channel
        "-kernel", vmlinuz, "-initrd", initrd,
        "-append", " ".join(KERNEL_ARGS + tuple(kernel_args))]


def _kill_group(proc, wait=KILL_WAIT):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        pass


_running = set()                # QEMU processes of boots in progress
_running_lock = threading.Lock()


def kill_all(cancel=None):
    """Kill every guest booting now and, with cancel (an Event) set first, every boot() given
    it refuses to start one: what an interrupted caller does on its way out."""
    with _running_lock:
        if cancel is not None:
            cancel.set()
        for proc in _running:
            _kill_group(proc, wait=0)


class _ConsoleReader(threading.Thread):
    """Copies the console to the log file and times what it says: /init's stage markers and
    the kernel's own last words (KERNEL_LINES).  `done` is set at the end of the console
    (QEMU exited) or when the stage to stop at appeared."""

    def __init__(self, pipe, log, started, boot, until_stage):
        super().__init__(daemon=True)
        self.pipe, self.log, self.started, self.boot = pipe, log, started, boot
        self.until_stage = until_stage
        self.done = threading.Event()

    def run(self):
        pending = b""
        try:
            while True:
                chunk = os.read(self.pipe.fileno(), 65536)
                if not chunk:
                    break
                now = time.monotonic() - self.started
                self.log.write(chunk)
                self.log.flush()
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    self._line(line, now)
        finally:
            if pending:
                self._line(pending, time.monotonic() - self.started)
            self.done.set()

    def _line(self, line, now):
        m = _STAGE_LINE.search(line)
        if m:
            stage, detail = m.group(1).decode(errors="replace"), m.group(2)
        else:
            stage = next((name for name, text in KERNEL_LINES if text in line), None)
            if stage is None:
                return
            detail = line.strip()
        detail = detail.decode(errors="replace")
        self.boot.events.append((now, stage, detail))
        self.boot.stages.setdefault(stage, now)
        if stage == self.until_stage:
            self.done.set()


def boot(vmlinuz, initrd, console_log, channel, accel, timeout=BOOT_TIMEOUT,
         until_stage=None, memory=1024, smp=1, qemu=QEMU, kernel_args=(), cancel=None):
    """Run one guest to its end, at most timeout seconds.  until_stage: stop it as soon as
    /init printed that stage (a trial boot).  The console is in console_log, the result
    channel's raw bytes in channel.  cancel: an Event; once set (kill_all), no guest starts
    and ended is "cancelled"."""
    if os.path.exists(channel):
        os.unlink(channel)          # a stale transfer must not pass for this boot's
    result = Boot(accel, console_log, channel, ended="exited")
    cmd = qemu_command(vmlinuz, initrd, channel, accel, memory, smp, qemu, kernel_args)
    with open(console_log, "wb") as log:
        log.write(("# %s\n" % " ".join(cmd)).encode())
        started = time.monotonic()
        with _running_lock:
            if cancel is not None and cancel.is_set():
                result.ended = "cancelled"
                return result
            proc = subprocess.Popen(forked.die_with_us(cmd), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            _running.add(proc)
        reader = _ConsoleReader(proc.stdout, log, started, result, until_stage)
        try:
            reader.start()
            console_ended = reader.done.wait(timeout)
            if until_stage is not None and until_stage in result.stages:
                result.ended = "stopped"
            elif not console_ended:
                result.ended = "timeout"
            else:
                try:                # the console ended: QEMU is on its way out
                    proc.wait(KILL_WAIT)
                except subprocess.TimeoutExpired:
                    result.ended = "timeout"
        finally:
            _kill_group(proc)
            with _running_lock:
                _running.discard(proc)
            reader.join(KILL_WAIT)
            proc.stdout.close()
        result.total_s = time.monotonic() - started
    if result.ended == "exited":
        result.exit_status = proc.returncode
        if "power-down" in result.stages:
            result.ended = "poweroff"
        elif "panic" in result.stages:
            result.ended = "panic"
        elif not result.events:
            result.qemu_error = _tail(console_log)
    return result


def _tail(path, n=5):
    with open(path, "rb") as f:
        lines = f.read().decode(errors="replace").splitlines()
    return "\n".join(lines[-n:])


# ---- the accelerator ------------------------------------------------------------------------

_accel = None
_accel_lock = threading.Lock()


def kvm_usable():
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def choose_accel(vmlinuz, initrd, workdir, timeout=TRIAL_TIMEOUT, qemu=QEMU, cancel=None):
    """kvm if a trial boot of this kernel under KVM reaches /init within timeout seconds,
    else tcg.  /dev/kvm may exist and still hang a guest (nested virtualisation), so its
    presence alone decides nothing.  Decided once per process; the trial's console log is
    workdir/kvm-trial.console.log."""
    global _accel
    with _accel_lock:
        if _accel is not None:
            return _accel
        decided = "tcg"
        if kvm_usable():
            trial = boot(vmlinuz, initrd, os.path.join(workdir, "kvm-trial.console.log"),
                         os.path.join(workdir, "kvm-trial.channel"), "kvm", timeout=timeout,
                         until_stage="init", qemu=qemu, cancel=cancel)
            if "init" in trial.stages:
                decided = "kvm"
            elif cancel is not None and cancel.is_set():
                return decided          # interrupted: nothing learnt to remember
        _accel = decided
        return _accel
