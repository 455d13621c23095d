"""Unpack a release package (zip file or directory) into a per-build release directory.

Everything is checked before anything is written: absolute paths, `..` entries,
duplicate zip entries, special files (FIFOs, devices, sockets), empty packages,
packages larger than the configured limit once unpacked, and links that leave
the package — except the interpreter links of a Python virtual environment
(`bin/python*` next to a `pyvenv.cfg`), which point at the Python it was built
with. A refusal is a PackageError (exit 2). Unpacking has a deadline, so no
package can keep the slot host busy for ever.

A virtual environment in the package is made relocatable: console scripts whose
`#!` line names the environment's build location are pointed at the release
directory instead.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from turnout.errors import PackageError
from turnout.targets.local.paths import safe_name

_CHUNK = 1 << 20
_LINK_LIMIT = 4096
_INTERPRETER = re.compile(r"^python(\d+(\.\d+)?)?$")
_MB = 1 << 20
DEFAULT_MAX_MB = 2048
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class UnpackLimits:
    """How big an unpacked release may get and how long unpacking may take."""

    max_bytes: int = DEFAULT_MAX_MB * _MB
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class UnpackedRelease:
    """A release directory and the build it holds."""

    path: Path
    digest: str
    """sha256 of the package's content (the zip file's bytes, or the directory tree)."""
    venv: str | None
    """The virtual environment inside the release (relative path), if there is one."""

    @property
    def build(self) -> str:
        """Short build identifier people see (the digest's first 12 hex digits)."""
        return self.digest[:12]


@dataclass(frozen=True)
class _Entry:
    """One checked package member: a regular file, a directory or a symbolic link."""

    name: str
    """Path inside the package, `/`-separated."""
    kind: str
    """file, dir or link."""
    mode: int = 0o644
    size: int = 0
    link: str = ""


class _Deadline:
    def __init__(self, package: Path, timeout: float) -> None:
        self.package = package
        self.timeout = timeout
        self.until = time.monotonic() + timeout

    def check(self) -> None:
        if time.monotonic() > self.until:
            raise PackageError(
                f"{self.package}: unpacking took longer than {self.timeout:g} s"
                " (target.unpack_timeout)"
            )


def unpack_release(
    package: Path, releases_dir: Path, version: str, limits: UnpackLimits | None = None
) -> UnpackedRelease:
    """The release directory holding the package's files (unpacked once per content)."""
    limits = limits or UnpackLimits()
    deadline = _Deadline(package, limits.timeout)
    entries, from_zip = _checked(package, limits, deadline)
    digest = (
        _file_digest(package, deadline) if from_zip else _tree_digest(package, entries, deadline)
    )
    venv = _venv_dir(entries)
    target = releases_dir / f"{safe_name(version)}-{digest[:12]}"
    if target.is_dir():
        os.utime(target)  # recently used: pruned last
        return UnpackedRelease(target, digest, venv)
    releases_dir.mkdir(parents=True, exist_ok=True)
    # Unpack next to the final place and rename: a half-unpacked release is never used.
    staging = Path(tempfile.mkdtemp(dir=releases_dir, prefix=".unpack-"))
    try:
        if from_zip:
            _extract_zip(package, staging, entries, limits, deadline)
        else:
            _copy_tree(package, staging, entries, limits, deadline)
        if venv is not None:
            _relocate_venv(staging, target, venv)
        staging.rename(target)
    except FileExistsError:
        shutil.rmtree(staging, ignore_errors=True)  # another unpack of the same content won
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise PackageError(f"{package}: cannot unpack: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return UnpackedRelease(target, digest, venv)


def check_package(package: Path, limits: UnpackLimits | None = None) -> None:
    """PackageError (exit 2) unless the package exists and is safe to unpack; writes nothing.

    The runbook calls it before anything is announced; unpacking checks again."""
    limits = limits or UnpackLimits()
    _checked(package, limits, _Deadline(package, limits.timeout))


def limits_for(target: object) -> UnpackLimits:
    """The unpack limits a target's settings configure (the defaults for other targets)."""
    from turnout.config.targets import LocalTargetConfig

    if isinstance(target, LocalTargetConfig):
        return UnpackLimits(target.max_release_mb * _MB, target.unpack_timeout)
    return UnpackLimits()


def _checked(package: Path, limits: UnpackLimits, deadline: _Deadline) -> tuple[list[_Entry], bool]:
    """The package's members once every refusal has been checked, and whether it is a zip."""
    try:
        info = package.lstat()
    except FileNotFoundError:
        raise PackageError(f"{package}: package not found") from None
    except OSError as exc:
        raise PackageError(f"{package}: cannot read: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        entries = _check_directory(package, deadline)
        from_zip = False
    elif stat.S_ISREG(info.st_mode) and zipfile.is_zipfile(package):
        entries = _check_zip(package)
        from_zip = True
    else:
        raise PackageError(f"{package}: not a zip file or a directory")
    _check_contents(package, entries, limits)
    return entries, from_zip


def unsafe_member(name: str) -> str | None:
    """Why an archive member name is refused, or None when it is safe."""
    if not name or "\x00" in name:
        return "empty or NUL in name"
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(normalized).parts:
        return "`..` entry"
    return None


def _kind_of(mode: int) -> str | None:
    """file, dir, link, or None for anything else (FIFO, device, socket)."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    return None


def _special(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file, directory or link"


def _check_zip(package: Path) -> list[_Entry]:
    entries: list[_Entry] = []
    seen: set[str] = set()
    try:
        with zipfile.ZipFile(package) as archive:
            for info in archive.infolist():
                problem = unsafe_member(info.filename)
                if problem:
                    raise PackageError(f"{package}: refused entry {info.filename!r}: {problem}")
                name = PurePosixPath(info.filename.replace("\\", "/")).as_posix()
                if name in seen:
                    raise PackageError(f"{package}: duplicate entry {info.filename!r}")
                seen.add(name)
                mode = info.external_attr >> 16
                if info.is_dir():
                    kind: str | None = "dir"
                elif stat.S_IFMT(mode) == 0:
                    kind = "file"  # written without Unix attributes (e.g. on Windows)
                else:
                    kind = _kind_of(mode)
                if kind is None:
                    raise PackageError(
                        f"{package}: refused entry {info.filename!r}: {_special(mode)}"
                    )
                link = ""
                if kind == "link":
                    if info.file_size > _LINK_LIMIT:
                        raise PackageError(f"{package}: refused entry {info.filename!r}: link")
                    link = archive.read(info).decode("utf-8", "replace")
                entries.append(_Entry(name, kind, (mode & 0o777) or 0o644, info.file_size, link))
    except zipfile.BadZipFile as exc:
        raise PackageError(f"{package}: damaged zip file: {exc}") from exc
    return entries


def _check_directory(package: Path, deadline: _Deadline) -> list[_Entry]:
    entries: list[_Entry] = []

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as listing:
            for item in sorted(listing, key=lambda e: e.name):
                deadline.check()
                name = f"{prefix}{item.name}"
                info = item.stat(follow_symlinks=False)
                kind = _kind_of(info.st_mode)
                if kind is None:
                    raise PackageError(f"{folder / item.name}: refused: {_special(info.st_mode)}")
                if kind == "dir":
                    # Bytecode caches change when the source directory is run; not content.
                    if item.name == "__pycache__":
                        continue
                    entries.append(_Entry(name, "dir", info.st_mode & 0o777))
                    walk(Path(item.path), f"{name}/")
                elif kind == "link":
                    entries.append(_Entry(name, "link", link=str(Path(item.path).readlink())))
                else:
                    entries.append(_Entry(name, "file", info.st_mode & 0o777, info.st_size))

    walk(package, "")
    return entries


def _check_contents(package: Path, entries: list[_Entry], limits: UnpackLimits) -> None:
    """Refusals that need the whole member list: empty, too big, links leaving it."""
    venvs = {e.name.rsplit("/", 1)[0] if "/" in e.name else "" for e in entries if _is_cfg(e)}
    for entry in entries:
        if entry.kind != "link":
            continue
        if _inside(entry.name, entry.link):
            continue
        if _interpreter_link(entry, venvs):
            continue
        raise PackageError(
            f"{package}: refused entry {entry.name!r}: symbolic link points outside the package"
            f" ({entry.link})"
        )
    if not any(e.kind == "file" for e in entries):
        raise PackageError(f"{package}: empty package (no files)")
    total = sum(e.size for e in entries if e.kind == "file")
    if total > limits.max_bytes:
        raise PackageError(
            f"{package}: unpacks to {total / _MB:.0f} MB, more than the limit of"
            f" {limits.max_bytes / _MB:.0f} MB (target.max_release_mb)"
        )


def _is_cfg(entry: _Entry) -> bool:
    return entry.kind == "file" and PurePosixPath(entry.name).name == "pyvenv.cfg"


def _inside(name: str, link: str) -> bool:
    """Whether a relative link stays inside the package."""
    if not link or link.startswith("/") or "\x00" in link:
        return False
    depth = len(PurePosixPath(name).parts) - 1
    for part in PurePosixPath(link).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part != ".":
            depth += 1
    return True


def _interpreter_link(entry: _Entry, venvs: set[str]) -> bool:
    """A venv's `bin/python*` pointing at an existing Python interpreter on this machine."""
    path = PurePosixPath(entry.name)
    if not _INTERPRETER.match(path.name) or path.parent.name != "bin":
        return False
    venv = path.parent.parent.as_posix()
    if (venv if venv != "." else "") not in venvs:
        return False
    if not entry.link.startswith("/"):
        return False
    resolved = Path(entry.link).resolve()
    return (
        resolved.is_file() and os.access(resolved, os.X_OK) and resolved.name.startswith("python")
    )


def _venv_dir(entries: list[_Entry]) -> str | None:
    """The shallowest virtual environment in the package (relative path, "." for the root)."""
    found = [PurePosixPath(e.name).parent.as_posix() for e in entries if _is_cfg(e)]
    return min(found, key=lambda p: (p.count("/"), p)) if found else None


def _open_regular(path: Path) -> int:
    """Open a file for reading only if it is still a regular file (never blocks on a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise PackageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise PackageError(f"{path}: refused: {_special(mode)}")
    return fd


def _read_blocks(path: Path, deadline: _Deadline) -> Iterator[bytes]:
    fd = _open_regular(path)
    with os.fdopen(fd, "rb") as handle:
        while block := handle.read(_CHUNK):
            deadline.check()
            yield block


def _copy_tree(
    package: Path, into: Path, entries: list[_Entry], limits: UnpackLimits, deadline: _Deadline
) -> None:
    written = 0
    for entry in entries:
        deadline.check()
        target = into / entry.name
        if entry.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
        elif entry.kind == "link":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(entry.link)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as sink:
                for block in _read_blocks(package / entry.name, deadline):
                    written += len(block)
                    _within(package, written, limits)
                    sink.write(block)
            target.chmod(entry.mode & 0o755)


def _within(package: Path, written: int, limits: UnpackLimits) -> None:
    # Declared sizes can lie (zip bombs); the bytes actually written are what count.
    if written > limits.max_bytes:
        raise PackageError(
            f"{package}: unpacks to more than the limit of {limits.max_bytes / _MB:.0f} MB"
            " (target.max_release_mb)"
        )


def _extract_zip(
    package: Path, into: Path, entries: list[_Entry], limits: UnpackLimits, deadline: _Deadline
) -> None:
    written = 0
    kinds = {e.name: e for e in entries}
    with zipfile.ZipFile(package) as archive:
        for info in archive.infolist():
            deadline.check()
            entry = kinds[PurePosixPath(info.filename.replace("\\", "/")).as_posix()]
            target = into / entry.name
            if entry.kind == "dir":
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if entry.kind == "link":
                target.symlink_to(entry.link)
                continue
            with archive.open(info) as source, target.open("wb") as sink:
                while block := source.read(_CHUNK):
                    deadline.check()
                    written += len(block)
                    _within(package, written, limits)
                    sink.write(block)
            # Keep executable bits (start scripts) but never group/other write.
            target.chmod(entry.mode & 0o755)


def _relocate_venv(staging: Path, final: Path, venv: str) -> None:
    """Point console scripts' `#!` lines at the venv's place in the release directory."""
    bin_dir = staging / venv / "bin"
    if not bin_dir.is_dir():
        return
    new_bin = os.fsencode(str(final / venv / "bin")) + b"/"
    old_bins = _build_locations(staging / venv, bin_dir, PurePosixPath(venv).name)
    for script in bin_dir.iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        with script.open("rb") as handle:
            head = handle.read(512)
            if not head.startswith(b"#!"):
                continue
            rest = handle.read()
        # pip writes `#!/path/bin/python`, or for long paths a `/bin/sh` line followed by
        # `'''exec' /path/bin/python "$0" "$@"`; both name the build location in the head.
        changed = head
        for old in old_bins:
            changed = changed.replace(old, new_bin)
        if changed != head:
            mode = script.stat().st_mode
            script.write_bytes(changed + rest)
            script.chmod(stat.S_IMODE(mode))


def _build_locations(venv_dir: Path, bin_dir: Path, venv_name: str) -> set[bytes]:
    """`bin/` directories the venv's scripts may name: from pyvenv.cfg and the scripts."""
    found: set[bytes] = set()
    try:
        config = (venv_dir / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        config = ""
    for line in config.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "command" and value.split():
            # `command = /usr/bin/python3 -m venv /build/app/.venv`
            found.add(os.fsencode(value.split()[-1].rstrip("/")) + b"/bin/")
    for script in bin_dir.iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        with script.open("rb") as handle:
            first = handle.readline(512)
        if not first.startswith(b"#!"):
            continue
        interpreter = PurePosixPath(os.fsdecode(first[2:].strip().split(b" ")[0]))
        if (
            _INTERPRETER.match(interpreter.name)
            and interpreter.parent.name == "bin"
            and interpreter.parent.parent.name == venv_name
        ):
            found.add(os.fsencode(str(interpreter.parent)) + b"/")
    return found


def _file_digest(path: Path, deadline: _Deadline) -> str:
    sha = hashlib.sha256()
    for block in _read_blocks(path, deadline):
        sha.update(block)
    return sha.hexdigest()


def _tree_digest(root: Path, entries: list[_Entry], deadline: _Deadline) -> str:
    sha = hashlib.sha256()
    for entry in entries:
        if entry.kind == "dir":
            continue
        sha.update(entry.name.encode() + b"\x00")
        if entry.kind == "link":
            sha.update(b"link:" + os.fsencode(entry.link))
        else:
            sha.update(oct(entry.mode).encode())
            for block in _read_blocks(root / entry.name, deadline):
                sha.update(block)
        sha.update(b"\x00")
    return sha.hexdigest()
