"""The newc ("070701") cpio format the kernel unpacks as an initramfs: a writer, and a reader
for tests and manifests.  Every entry gets uid/gid 0 and mtime 0, so the same inputs make the
same bytes.
"""

import stat
from dataclasses import dataclass

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
HEADER_LEN = 110           # the magic and 13 fields of 8 hex digits


class CpioError(Exception):
    pass


@dataclass
class Entry:
    name: str              # without a leading "/"
    mode: int              # file type and permission bits
    data: bytes = b""      # a file's contents, a symlink's target
    rdev: tuple = (0, 0)   # a device node's (major, minor)

    @property
    def kind(self):
        return {stat.S_IFDIR: "dir", stat.S_IFREG: "file", stat.S_IFLNK: "symlink",
                stat.S_IFCHR: "chardev"}.get(stat.S_IFMT(self.mode), "other")


def _pad4(n):
    return (4 - n % 4) % 4


class Archive:
    """Entries in the order added; a missing parent folder is added before its child (the
    kernel does not create them)."""

    def __init__(self):
        self.entries = {}

    def _add(self, name, mode, data=b"", rdev=(0, 0)):
        name = name.strip("/")
        parent = name.rpartition("/")[0]
        if parent and parent not in self.entries:
            self.add_dir(parent)
        self.entries[name] = Entry(name, mode, data, rdev)

    def add_dir(self, name, perm=0o755):
        self._add(name, stat.S_IFDIR | perm)

    def add_file(self, name, data, perm=0o644):
        self._add(name, stat.S_IFREG | perm, bytes(data))

    def add_symlink(self, name, target):
        self._add(name, stat.S_IFLNK | 0o777, target.encode())

    def add_chardev(self, name, major, minor, perm=0o600):
        self._add(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def write(self, f):
        """The archive to the binary file object f."""
        for ino, e in enumerate(list(self.entries.values()) + [Entry(TRAILER, 0)], 1):
            name = e.name.encode() + b"\0"
            fields = (ino, e.mode, 0, 0, 2 if e.kind == "dir" else 1, 0, len(e.data), 0, 0,
                      e.rdev[0], e.rdev[1], len(name), 0)
            header = MAGIC + b"".join(b"%08X" % v for v in fields)
            f.write(header + name + b"\0" * _pad4(HEADER_LEN + len(name)))
            f.write(e.data + b"\0" * _pad4(len(e.data)))


def read(data):
    """The entries of an uncompressed newc archive, up to its trailer: {name: Entry}."""
    entries, pos = {}, 0
    while True:
        header = data[pos:pos + HEADER_LEN]
        if len(header) < HEADER_LEN or header[:6] != MAGIC:
            raise CpioError("offset %d: no newc header (no trailer before the end?)" % pos)
        fields = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        mode, size, rdev, namesize = fields[1], fields[6], (fields[9], fields[10]), fields[11]
        pos += HEADER_LEN
        name = data[pos:pos + namesize - 1].decode()
        pos += namesize + _pad4(HEADER_LEN + namesize)
        if name == TRAILER:
            return entries
        entries[name] = Entry(name, mode, data[pos:pos + size], rdev)
        pos += size + _pad4(size)
