"""Kernel packages of other Debian releases, fetched with apt from the mirror this machine's
apt sources name, unpacked into a cache.

apt runs with a private configuration (APT_CONFIG) per release under the cache: its own
sources list, lists, package cache and an empty dpkg status.  It reads none of the machine's
apt.conf.d (whose update hooks would refresh the machine's own caches) except the Acquire
settings (proxies, Check-Valid-Until: how this machine reaches its mirror), and never writes
to the machine's apt state or configuration.

  resolve(target)  -> Package    what a target names: a package (name[=version]) or the
                                 newest cloud kernel of a series (5.10, 6.1, 6.12) or release
  fetch(target)    -> Kernel     downloaded and unpacked: vmlinuz, modules folder, release
"""

import contextlib
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

from .. import locks

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
CACHE = os.path.join(REPO, "build", "kernels")
SYSTEM_SOURCES = ("/etc/apt/sources.list", "/etc/apt/sources.list.d")
KEYRINGS = "/usr/share/keyrings"
DEFAULT_KEYRING = os.path.join(KEYRINGS, "debian-archive-keyring.gpg")
METAPACKAGE = "linux-image-cloud-amd64"
ARCH = "amd64"
LISTS_MAX_AGE = 24 * 3600       # indexes younger than this are not fetched again
APT_TIMEOUT = 600               # seconds for one apt command (a download is ~35 MB)
LOCK_WAIT = APT_TIMEOUT + 60    # seconds to wait for another process's apt command


class DebianError(Exception):
    pass


@dataclass(frozen=True)
class Release:
    name: str
    codename: str
    series: str                 # the kernel series its cloud kernel metapackage follows
    suites: tuple               # (suite, "archive" or "security")


RELEASES = {r.name: r for r in (
    Release("bullseye", "bullseye", "5.10", (("bullseye", "archive"),
                                             ("bullseye-updates", "archive"),
                                             ("bullseye-security", "security"))),
    Release("bookworm", "bookworm", "6.1", (("bookworm", "archive"),
                                            ("bookworm-updates", "archive"),
                                            ("bookworm-security", "security"))),
    Release("bookworm-backports", "bookworm", "6.12", (("bookworm-backports", "archive"),)),
    Release("trixie", "trixie", "6.12", (("trixie", "archive"),
                                         ("trixie-updates", "archive"),
                                         ("trixie-security", "security"))),
)}
SERIES = {"5.10": "bullseye", "6.1": "bookworm", "6.12": "trixie"}
# what a Debian archive's suites start with, to tell it from other vendors' repositories
DEBIAN_SUITES = {"buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid",
                 "oldoldstable", "oldstable", "stable", "testing", "unstable", "experimental"}
# which releases to look in first for a package name: the ABI suffix or the version says
_NAME_HINTS = ((r"\+deb13", "trixie"), (r"\+deb12", "bookworm-backports"),
               (r"\+deb12", "bookworm"), (r"-6\.1\.0-", "bookworm"),
               (r"\+deb11|-5\.10\.0-", "bullseye"))


@dataclass(frozen=True)
class Mirror:
    archive: str                # URI of the Debian archive
    security: str               # URI of the security archive, None if the machine has none
    keyring: str                # the keyring the machine's sources are signed by


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    release: str                # a key of RELEASES


@dataclass(frozen=True)
class Kernel:
    package: Package
    root: str                   # the unpacked package
    vmlinuz: str
    modules_dir: str            # .../lib/modules/<kernel_release>
    kernel_release: str         # what uname -r says in the guest
    modules_dep: str = None     # None: not shipped (depmod makes it on install)


# ---- the machine's mirror -----------------------------------------------------------------

def _sources_entries(paths):
    """(types, uris, suites, signed_by) of every source entry in the files or folders."""
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(glob.glob(os.path.join(p, "*.sources"))
                            + glob.glob(os.path.join(p, "*.list")))
        elif os.path.exists(p):
            files.append(p)
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        yield from (_deb822_entries(text) if path.endswith(".sources") else _one_line_entries(text))


def _deb822_entries(text):
    for stanza in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and key:      # a continuation (an inline key block)
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no" or "uris" not in fields:
            continue
        yield (fields.get("types", "").split(), fields["uris"].split(),
               fields.get("suites", "").split(), fields.get("signed-by", ""))


def _one_line_entries(text):
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
        if m:
            opts = dict(o.split("=", 1) for o in (m.group(2) or "").split() if "=" in o)
            yield [m.group(1)], [m.group(3)], [m.group(4)], opts.get("signed-by", "")


def machine_mirror(paths=SYSTEM_SOURCES):
    """The Debian archive and security archive URIs this machine's apt sources use."""
    archive = security = None
    keyring = DEFAULT_KEYRING
    for types, uris, suites, signed_by in _sources_entries(paths):
        # only Debian's own suites: a machine may list other vendors' repositories too
        if "deb" not in types or not uris or not any(
                re.split(r"[-/]", s)[0] in DEBIAN_SUITES for s in suites):
            continue
        if any(s.endswith("-security") or s.endswith("/updates") for s in suites):
            security = security or uris[0]
        elif archive is None:
            archive = uris[0]
            if signed_by.startswith("/") and "\n" not in signed_by:   # a path, not a key
                keyring = signed_by
    if archive is None:
        raise DebianError("no Debian archive in the machine's apt sources (%s)"
                          % ", ".join(paths))
    return Mirror(archive.rstrip("/"), security and security.rstrip("/"), keyring)


# ---- a private apt ------------------------------------------------------------------------

def _machine_acquire_settings():
    """The machine's Acquire::* configuration as apt.conf lines (how it reaches the mirror),
    without the index targets (what to fetch is ours to say)."""
    try:
        out = subprocess.run(["apt-config", "dump", "Acquire"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    skip = ("Acquire::IndexTargets", "Acquire::cdrom", "Acquire::Changelogs",
            "Acquire::Languages", "Acquire::GzipIndexes")
    return [line for line in out.splitlines()
            if line.startswith("Acquire::") and not line.startswith(skip)]


class PrivateApt:
    """apt-get and apt-cache over one release's indexes, all state under root.  One caller
    at a time, of this process's threads and of every process using the same cache (apt
    refuses a second `apt-get update` on the same lists rather than waiting)."""

    def __init__(self, release, mirror, root, lock_wait=LOCK_WAIT):
        self.release, self.mirror, self.root = release, mirror, root
        self.config = os.path.join(root, "apt.conf")
        self.lock_wait = lock_wait

    @contextlib.contextmanager
    def held(self):
        try:
            with locks.exclusive(os.path.join(self.root, "bindmatrix.lock"), self.lock_wait,
                                 "the apt state of %s" % self.release.name):
                yield
        except locks.LockTimeout as e:
            raise DebianError(str(e)) from None

    def keyrings(self):
        """The machine's keyring, and the release's own keyrings where the system has them
        (a newer release's key may be missing from an older debian-archive-keyring)."""
        own = sorted(glob.glob(os.path.join(KEYRINGS, "debian-archive-%s-*.gpg"
                                            % self.release.codename)))
        return [self.mirror.keyring] + [k for k in own if k != self.mirror.keyring]

    def _write_config(self):
        for d in ("apt.conf.d", "sources.list.d", "preferences.d", "lists/partial",
                  "cache/archives/partial"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        status = os.path.join(self.root, "status")
        open(status, "a").close()
        signed = ",".join(self.keyrings())
        sources = []
        for suite, archive in self.release.suites:
            uri = self.mirror.archive if archive == "archive" else self.mirror.security
            if uri:
                sources.append("deb [arch=%s signed-by=%s] %s %s main" % (ARCH, signed, uri,
                                                                          suite))
        with open(os.path.join(self.root, "sources.list"), "w") as f:
            f.write("\n".join(sources) + "\n")
        r = self.root
        conf = _machine_acquire_settings() + [
            'Dir::Etc::Parts "%s/apt.conf.d";' % r,
            'Dir::Etc::Main "/dev/null";',
            'Dir::Etc::SourceList "%s/sources.list";' % r,
            'Dir::Etc::SourceParts "%s/sources.list.d";' % r,
            'Dir::Etc::Preferences "/dev/null";',
            'Dir::Etc::PreferencesParts "%s/preferences.d";' % r,
            'Dir::State "%s";' % r,
            'Dir::State::Lists "%s/lists";' % r,
            'Dir::State::status "%s";' % status,
            'Dir::Cache "%s/cache";' % r,
            # a binary cache, or every apt-cache call parses the indexes again (the
            # machine turns it off); not the second copy of it, srcpkgcache
            'Dir::Cache::pkgcache "pkgcache.bin";',
            'Dir::Cache::srcpkgcache "";',
            'APT::Architecture "%s";' % ARCH,
            'APT::Architectures { "%s"; };' % ARCH,
            'Acquire::Languages "none";',
            'Acquire::GzipIndexes "true";',             # indexes kept compressed: 1/3 the space
        ]
        with open(self.config, "w") as f:
            f.write("\n".join(conf) + "\n")

    def run(self, args, cwd=None, timeout=APT_TIMEOUT):
        env = dict(os.environ, APT_CONFIG=self.config, LC_ALL="C")
        try:
            p = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DebianError("%s did not finish in %d s" % (" ".join(args), timeout)) from None
        if p.returncode != 0:
            raise DebianError("%s (release %s) failed: %s" % (" ".join(args), self.release.name,
                                                              (p.stderr or p.stdout).strip()))
        return p

    def update(self, max_age=LISTS_MAX_AGE):
        """Fetch the release's indexes unless fetched less than max_age seconds ago."""
        stamp = os.path.join(self.root, "updated")
        with self.held():
            if os.path.exists(stamp) and time.time() - os.path.getmtime(stamp) < max_age:
                return
            self._write_config()
            p = self.run(["apt-get", "-q", "update"])
            # apt-get update may exit 0 when an index was refused or not fetched: it warns
            refused = re.findall(r"^[WE]: .*(?:NO_PUBKEY|not signed|GPG error|Failed to fetch)"
                                 r".*$", p.stdout + p.stderr, re.M)
            if refused:
                raise DebianError("apt-get update of %s: %s" % (self.release.name,
                                                                 " ".join(refused)))
            open(stamp, "w").close()

    def show(self, spec):
        """The candidate (or the given =version) stanza of a package: {field: value}, or None
        when this release has no such package."""
        try:
            with self.held():       # apt-cache may rebuild pkgcache.bin an update replaces
                out = self.run(["apt-cache", "show", "--no-all-versions", spec]).stdout
        except DebianError as e:
            if "No packages found" in str(e) or "Unable to locate" in str(e) \
                    or "Can't select" in str(e):
                return None
            raise
        fields = {}
        for line in out.splitlines():
            if not line.strip():
                break
            if line[:1] not in (" ", "\t") and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        return fields or None

    def download(self, package, dest):
        """The package's .deb into dest (a folder); returns its path."""
        with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp, self.held():
            self.run(["apt-get", "-q", "download", "%s=%s" % (package.name, package.version)],
                     cwd=tmp)
            debs = glob.glob(os.path.join(tmp, "*.deb"))
            if len(debs) != 1:
                raise DebianError("apt-get download %s gave %d files" % (package.name,
                                                                          len(debs)))
            path = os.path.join(dest, os.path.basename(debs[0]))
            os.replace(debs[0], path)
            return path


def private_apt(release, cache=CACHE, mirror=None):
    return PrivateApt(RELEASES[release], mirror or machine_mirror(),
                      os.path.join(cache, "apt", release))


# ---- targets --------------------------------------------------------------------------------

def _release_order(name):
    """Releases to search for a package name: the hinted ones first, then the others."""
    hinted = [rel for pattern, rel in _NAME_HINTS if re.search(pattern, name)]
    return list(dict.fromkeys(hinted + list(RELEASES)))


# a Debian package name (policy 5.6.1: lower case, digits, + - .), and a version after =
_PACKAGE_TARGET = re.compile(r"linux-image-[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+~:-]+)?\Z")


def unknown_target(target):
    """None when target names a kernel that resolve() can look for, else why not (said
    before anything is fetched or booted)."""
    if target in SERIES or target in RELEASES or _PACKAGE_TARGET.match(target):
        return None
    return ("unknown kernel target %r: give a series (%s), a release (%s) or a "
            "linux-image-... package name" % (target, ", ".join(SERIES), ", ".join(RELEASES)))


def resolve(target, cache=CACHE, mirror=None, max_age=LISTS_MAX_AGE):
    """A target -> Package:
      5.10 | 6.1 | 6.12           the newest cloud kernel of that series (SERIES says where)
      bullseye | bookworm | ...   the newest cloud kernel of that release (RELEASES)
      linux-image-NAME[=VERSION]  that package, from the first release that has it"""
    why = unknown_target(target)
    if why:
        raise DebianError(why)
    release = SERIES.get(target) or (target if target in RELEASES else None)
    mirror = mirror or machine_mirror()
    if release:
        apt = private_apt(release, cache, mirror)
        apt.update(max_age)
        meta = apt.show(METAPACKAGE)
        dep = re.match(r"(linux-image-\S+)\s*\(=\s*([^)\s]+)\)", (meta or {}).get("Depends", ""))
        if not dep:
            raise DebianError("%s: %s has no linux-image dependency: %r"
                              % (release, METAPACKAGE, meta))
        pkg = Package(dep.group(1), dep.group(2), release)
        series = RELEASES[release].series
        if target in SERIES and not re.match(re.escape(series) + r"[.-]", pkg.version):
            raise DebianError("%s: the newest cloud kernel of %s is %s %s, not of series %s"
                              % (target, release, pkg.name, pkg.version, series))
        return pkg
    name = target.partition("=")[0]
    for release in _release_order(name):
        apt = private_apt(release, cache, mirror)
        apt.update(max_age)
        found = apt.show(target)
        if found:
            return Package(name, found["Version"], release)
    raise DebianError("no release of %s has the package %s" % (", ".join(RELEASES), target))


def _safe(text):
    return re.sub(r"[^A-Za-z0-9.+_-]", "_", text)


def unpacked(deb, root):
    """dpkg-deb -x into root, atomically: a folder that exists is complete."""
    if not os.path.isdir(root):
        tmp = tempfile.mkdtemp(dir=os.path.dirname(root), prefix=".unpack-")
        try:
            subprocess.run(["dpkg-deb", "-x", deb, tmp], check=True, capture_output=True,
                           timeout=300)
            try:
                os.rename(tmp, root)
            except OSError:
                if not os.path.isdir(root):     # else another process unpacked it first
                    raise
        except subprocess.CalledProcessError as e:
            raise DebianError("dpkg-deb -x %s: %s" % (deb, e.stderr.decode().strip())) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def kernel_in(root, package):
    """The Kernel an unpacked linux-image package holds."""
    images = sorted(glob.glob(os.path.join(root, "boot", "vmlinuz-*")))
    if len(images) != 1:
        raise DebianError("%s: %d vmlinuz-* files in boot/" % (root, len(images)))
    kernel_release = os.path.basename(images[0])[len("vmlinuz-"):]
    for lib in ("lib", "usr/lib"):      # trixie moved the modules to /usr/lib
        modules = os.path.join(root, lib, "modules", kernel_release)
        if os.path.isdir(modules):
            break
    else:
        raise DebianError("%s: no lib/modules/%s" % (root, kernel_release))
    dep = os.path.join(modules, "modules.dep")
    return Kernel(package, root, images[0], modules, kernel_release,
                  dep if os.path.exists(dep) else None)


def fetch(target, cache=CACHE, mirror=None, max_age=LISTS_MAX_AGE):
    """Resolve, download (once) and unpack (once) a target's kernel package."""
    pkg = resolve(target, cache, mirror, max_age)
    root = os.path.join(cache, "unpacked", _safe("%s_%s" % (pkg.name, pkg.version)))
    if not os.path.isdir(root):
        debs = os.path.join(cache, "debs")
        os.makedirs(debs, exist_ok=True)
        deb = os.path.join(debs, "%s_%s_%s.deb" % (pkg.name, pkg.version.replace(":", "%3a"),
                                                   ARCH))
        apt = private_apt(pkg.release, cache, mirror)
        with apt.held():                # a process fetching it too downloads it only once
            if not os.path.exists(deb):
                deb = apt.download(pkg, debs)
        os.makedirs(os.path.dirname(root), exist_ok=True)
        unpacked(deb, root)
    return kernel_in(root, pkg)
