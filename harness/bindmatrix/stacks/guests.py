"""Guests: the matrix on other kernels.  For each target, fetch its Debian kernel package,
build its initramfs, boot it under QEMU and take the results off the result channel.

  run_kernel(target, out_dir, config)         -> KernelRun
  run_kernels(targets, out_dir, config, jobs) -> [KernelRun]   in parallel, up to the cores
  run_guests(targets, out_dir, runner, cases, runner_args, timeout, jobs)   the same, for the
                                                                            command line

Whatever goes wrong with one target (no such package, a module tree that does not resolve, a
guest that panics or hangs, damaged results) is that target's `error`, with its console log
kept; the others still run.  Per target, in out_dir: <label>.jsonl (<label>.partial.jsonl
for a partial run) and <label>.console.log; the initramfs and the raw result channel are in
a folder of <cache>/work/, removed when the run succeeded.
"""

import concurrent.futures
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field

from ..results import ResultsError, load_results
from . import channel, debian, initramfs, qemu
from .kmods import ModulesError, module_name

REPO = debian.REPO
STATIC_RUNNER = os.path.join(REPO, "build-static", "bindmatrix-runner")
CASES = os.path.join(REPO, "cases")


@dataclass
class GuestConfig:
    runner: str = STATIC_RUNNER     # a static build: the guest has no libraries
    cases: str = CASES
    runner_args: tuple = ()         # e.g. ("-f", "tcp/second-listener")
    stack: str = "auto"             # --stack value; "auto": only if the runner knows it
    timeout: float = qemu.BOOT_TIMEOUT
    accel: str = "auto"             # auto (a KVM trial, once) | kvm | tcg
    memory: int = 1024
    smp: int = 1
    compress: bool = False
    kernel_args: tuple = None       # extra kernel arguments; None: host_like_kernel_args()
    qemu: str = qemu.QEMU
    cache: str = debian.CACHE
    max_age: float = debian.LISTS_MAX_AGE


@dataclass
class KernelRun:
    target: str
    package: str = None             # the Debian package, name and version
    version: str = None
    release: str = None             # the Debian release it came from
    kernel_release: str = None      # uname -r in the guest
    label: str = None               # the results' host label
    results: str = None             # the results file, once valid
    console_log: str = None
    accel: str = None
    boot_s: float = None            # QEMU start to the runner's start
    run_s: float = None             # the runner, start to end
    total_s: float = None           # QEMU start to its exit
    counts: dict = field(default_factory=dict)      # cases, observed, skipped, error
    modules: dict = field(default_factory=dict)     # loaded/builtin/absent/failed: [names]
    stack_option: bool = None       # whether --stack was passed to the runner
    error: str = None

    @property
    def ok(self):
        return self.error is None

    @property
    def log(self):
        return self.console_log

    @property
    def timings(self):
        """{boot, run, total: seconds}, those that were measured."""
        return {k: v for k, v in (("boot", self.boot_s), ("run", self.run_s),
                                  ("total", self.total_s)) if v is not None}


def host_like_kernel_args(proc="/proc"):
    """Kernel arguments that make a guest's run record comparable with this host's: the TCP
    established hash sized like the host's (thash_entries), since net.ipv4.tcp_max_tw_buckets
    is half of it in every namespace, and it otherwise follows the guest's small memory
    (4096 in 1 GiB against 131072 on a 24 GiB host): a difference of the machines that the
    upgrade gate would count against the kernel."""
    try:
        with open(os.path.join(proc, "sys/net/ipv4/tcp_max_tw_buckets")) as f:
            buckets = int(f.read())
    except (OSError, ValueError):
        return ()
    return ("thash_entries=%d" % (2 * buckets),)


_stack_known = {}
_stack_lock = threading.Lock()


def runner_knows_stack(runner):
    """Whether this runner build has --stack (being added): its --help says so."""
    with _stack_lock:
        if runner not in _stack_known:
            try:
                out = subprocess.run([runner, "--help"], capture_output=True, text=True,
                                     timeout=30).stdout
            except (OSError, subprocess.SubprocessError):
                out = ""
            _stack_known[runner] = "--stack" in out
        return _stack_known[runner]


def _stack_value(config):
    if config.stack != "auto":
        return config.stack
    return "kernel" if runner_knows_stack(config.runner) else None


def run_kernel(target, out_dir, config=None, cancel=None):
    """The whole matrix (or config.runner_args' part of it) on one target kernel.  cancel:
    see qemu.boot."""
    config = config or GuestConfig()
    run = KernelRun(target)
    try:
        kernel = debian.fetch(target, config.cache, max_age=config.max_age)
    except (debian.DebianError, OSError) as e:
        run.error = "cannot fetch the kernel: %s" % e
        return run
    run.package, run.version = kernel.package.name, kernel.package.version
    run.release, run.kernel_release = kernel.package.release, kernel.kernel_release
    run.label = "linux-" + kernel.kernel_release
    os.makedirs(os.path.join(config.cache, "work"), exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(dir=os.path.join(config.cache, "work"), prefix=run.label + ".")
    _in_guest(run, kernel, work, out_dir, config, cancel)
    if run.ok:
        shutil.rmtree(work, ignore_errors=True)    # kept when it failed: initramfs, channel
    return run


def _in_guest(run, kernel, work, out_dir, config, cancel):
    stack = _stack_value(config)
    run.stack_option = stack is not None
    try:
        image = initramfs.build(os.path.join(work, "initramfs.cpio"),
                                modules_dir=kernel.modules_dir, runner=config.runner,
                                cases=config.cases, label=run.label, stack=stack,
                                runner_args=config.runner_args, compress=config.compress)
    except (ModulesError, OSError) as e:
        run.error = "cannot build the initramfs: %s" % e
        return
    run.modules = {"loaded": image.modules.names, "builtin": image.modules.builtin,
                   "absent": image.modules.absent, "failed": []}
    accel = config.accel if config.accel != "auto" else \
        qemu.choose_accel(kernel.vmlinuz, image.path, os.path.dirname(work), qemu=config.qemu,
                          cancel=cancel)
    run.console_log = os.path.join(out_dir, run.label + ".console.log")
    boot = qemu.boot(kernel.vmlinuz, image.path, run.console_log,
                     os.path.join(work, "channel"), accel, timeout=config.timeout,
                     memory=config.memory, smp=config.smp, qemu=config.qemu, cancel=cancel,
                     kernel_args=host_like_kernel_args() if config.kernel_args is None
                     else config.kernel_args)
    run.accel, run.total_s = accel, boot.total_s
    run.boot_s = boot.stages.get("runner-start")
    run.run_s = boot.seconds("runner-start", "runner-done")
    run.modules["failed"] = [module_name(d) for _t, s, d in boot.events
                             if s == "module-failed"]
    run.error = _boot_error(boot, config.timeout)
    if run.error is None:
        _take_results(run, boot, out_dir)


def _boot_error(boot, timeout):
    where = "; console: %s" % boot.console_log
    last = boot.events[-1][1] if boot.events else "none (no /init marker)"
    if boot.ended == "timeout":
        return ("the guest did not power off within %g s (last stage: %s)%s"
                % (timeout, last, where))
    if boot.ended == "cancelled":
        return "interrupted before the guest started"
    if boot.ended == "panic":
        detail = next(d for _t, s, d in boot.events if s == "panic")
        return "the guest kernel panicked: %s%s" % (detail, where)
    if boot.ended != "poweroff":
        said = (": " + boot.qemu_error) if boot.qemu_error else ""
        return ("QEMU exited (status %s) without the guest powering off (last stage: %s)%s%s"
                % (boot.exit_status, last, said, where))
    return None


def _take_results(run, boot, out_dir):
    """The results off the channel into out_dir, checked like any results file."""
    runner_rc = next((d for _t, s, d in boot.events if s == "runner-done"), "rc=?")
    try:
        with open(boot.channel, "rb") as f:
            data = channel.extract(f.read())
    except FileNotFoundError:
        data, problem = None, "the result channel %s was never written" % boot.channel
    except channel.ChannelError as e:
        data, problem = None, "%s (channel: %s)" % (e, boot.channel)
    if data is None:
        run.error = "no results: %s; the runner ended with %s; console: %s" % (
            problem, runner_rc, run.console_log)
        return
    received = os.path.join(out_dir, run.label + ".received.jsonl")
    with open(received, "wb") as f:
        f.write(data)
    try:
        results = load_results(received)
    except ResultsError as e:   # kept under that name, not as a results file
        run.error = "the guest's results are not valid: %s" % e
        return
    path = os.path.join(out_dir, run.label + (".partial" if results.run.get("partial") else "")
                        + ".jsonl")
    os.replace(received, path)
    run.results = path
    run.counts = {k: results.end[k] for k in ("cases", "observed", "skipped", "error")}


def run_kernels(targets, out_dir, config=None, jobs=None):
    """run_kernel for every target, up to jobs (default: the core count) at once, in the
    order given.  Interrupted (Ctrl-C, any exception here), it kills the guests running and
    starts no other before it raises."""
    config = config or GuestConfig()
    cancel = threading.Event()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1)
    try:
        futures = [pool.submit(run_kernel, t, out_dir, config, cancel) for t in targets]
        return [f.result() for f in futures]
    except BaseException:
        qemu.kill_all(cancel)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_guests(targets, out_dir, runner=STATIC_RUNNER, cases=CASES, runner_args=(),
               timeout=qemu.BOOT_TIMEOUT, jobs=None, **config):
    """run_kernels with the GuestConfig fields as arguments."""
    return run_kernels(targets, out_dir, GuestConfig(runner=runner, cases=cases,
                                                     runner_args=tuple(runner_args),
                                                     timeout=timeout, **config), jobs)
