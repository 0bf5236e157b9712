"""The matrix on other kernels, under QEMU on this machine (the building blocks of
`./bindmatrix kernels`).

Modules, one job each:
  debian     kernel packages of other Debian releases: resolve a target, download, unpack
  kmods      a kernel's module tree: what to insmod, in dependency order; decompression
  cpio       the newc archive format of an initramfs (write, and read back)
  channel    the result channel: the guest's sender, the host's extraction
  initramfs  busybox, the static runner, the cases, the modules and the /init, in one archive
  qemu       one bounded boot, its console log and stage times; the accelerator choice
  guests     all of it for a list of targets, in parallel
"""

from .guests import GuestConfig, KernelRun, run_guests, run_kernel, run_kernels

__all__ = ["GuestConfig", "KernelRun", "run_guests", "run_kernel", "run_kernels"]
