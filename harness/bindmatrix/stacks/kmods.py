"""Kernel modules of an unpacked kernel: which files to load, in which order, for a list of
module names, and their contents decompressed.

Dependencies come from modules.dep when the tree has one.  Debian's linux-image packages ship
none (depmod makes it when the package is installed), so otherwise they come from each
module's own .modinfo `depends=` field, which modpost wrote from the same symbol resolution
depmod does.  Only the modules asked for and their dependencies are read.
"""

import gzip
import lzma
import os
import struct
import subprocess
from dataclasses import dataclass, field

SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")


class ModulesError(Exception):
    pass


def _without_suffix(path):
    """'a/b.ko.xz' -> 'a/b'; None for a file that is no module."""
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if path.endswith(suffix):
            return path[:-len(suffix)]
    return None


def module_name(path):
    """'kernel/net/ipv4/tcp_diag.ko.xz' -> 'tcp_diag' (the kernel treats - and _ alike)."""
    stem = _without_suffix(os.path.basename(path))
    return stem.replace("-", "_") if stem else None


def uncompressed_path(path):
    """'kernel/net/ipv4/tcp_diag.ko.xz' -> 'kernel/net/ipv4/tcp_diag.ko'."""
    return _without_suffix(path) + ".ko"


def decompressed(path, timeout=60):
    """A module file's ELF bytes (busybox insmod may not read compressed modules)."""
    if path.endswith(".xz"):
        with lzma.open(path) as f:
            return f.read()
    if path.endswith(".gz"):
        with gzip.open(path) as f:
            return f.read()
    if path.endswith(".zst"):     # no zstd in the standard library (before 3.14)
        try:
            return subprocess.run(["zstd", "-q", "-d", "-c", path], check=True,
                                  capture_output=True, timeout=timeout).stdout
        except (OSError, subprocess.SubprocessError) as e:
            raise ModulesError("%s: zstd could not decompress it: %s" % (path, e)) from None
    with open(path, "rb") as f:
        return f.read()


def modinfo(elf):
    """The .modinfo section of a module's ELF bytes as {key: value} (last value wins)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ModulesError("not a little-endian 64-bit ELF module")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def section(i):                     # (name offset, file offset, size)
        name, _t, _f, _a, offset, size = struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)
        return name, offset, size

    _, stroff, _ = section(shstrndx)
    for i in range(shnum):
        name, offset, size = section(i)
        if elf[stroff + name:elf.index(b"\0", stroff + name)] == b".modinfo":
            info = {}
            for item in elf[offset:offset + size].split(b"\0"):
                key, sep, value = item.decode("utf-8", "replace").partition("=")
                if sep:
                    info[key] = value
            return info
    return {}


@dataclass
class LoadPlan:
    """What to insmod for the modules asked for: files (relative to the modules folder) in
    dependency order, and the names that need no file."""
    files: list = field(default_factory=list)
    builtin: list = field(default_factory=list)     # compiled into the kernel
    absent: list = field(default_factory=list)      # neither a module nor built in

    @property
    def names(self):
        return [module_name(f) for f in self.files]


class ModuleTree:
    """/lib/modules/<release> of some kernel: its module files by name, and their
    dependencies."""

    def __init__(self, modules_dir):
        self.dir = modules_dir
        self.files = {}             # name -> path relative to modules_dir
        for top, dirs, names in os.walk(modules_dir):
            dirs.sort()
            for n in sorted(names):
                name = module_name(n)
                if name:
                    self.files.setdefault(name, os.path.relpath(os.path.join(top, n),
                                                                modules_dir))
        self._deps = self._read_modules_dep()
        self.builtin = self._read_builtin()

    def _read_modules_dep(self):
        path = os.path.join(self.dir, "modules.dep")
        if not os.path.exists(path):
            return None
        deps = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                target, sep, rest = line.partition(":")
                if sep:
                    deps[module_name(target)] = [module_name(d) for d in rest.split()]
        return deps

    def _read_builtin(self):
        try:
            with open(os.path.join(self.dir, "modules.builtin"), encoding="utf-8") as f:
                return {module_name(line.strip()) for line in f if line.strip()}
        except FileNotFoundError:
            return set()

    @property
    def has_modules_dep(self):
        return self._deps is not None

    def path(self, name):
        return os.path.join(self.dir, self.files[name])

    def depends(self, name):
        """The modules name needs loaded before it (names)."""
        if self._deps is not None:
            return self._deps.get(name, [])
        value = modinfo(decompressed(self.path(name))).get("depends", "")
        return [d.replace("-", "_") for d in value.split(",") if d]

    def load_plan(self, wanted):
        """Every module in wanted with its dependencies, each after what it depends on."""
        plan, done = LoadPlan(), set()

        def visit(name, chain):
            if name in done:
                return
            if name in chain:
                raise ModulesError("circular module dependency: %s"
                                   % " -> ".join(chain + [name]))
            if name not in self.files:
                if chain:       # a dependency a module names must be a module
                    raise ModulesError("%s depends on %s, which is not in %s"
                                       % (chain[-1], name, self.dir))
                (plan.builtin if name in self.builtin else plan.absent).append(name)
                done.add(name)
                return
            for dep in self.depends(name):
                visit(dep, chain + [name])
            done.add(name)
            plan.files.append(self.files[name])

        for name in wanted:
            visit(name.replace("-", "_"), [])
        return plan
