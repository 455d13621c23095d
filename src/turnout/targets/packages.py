"""The checks every target makes of a release package before anything is written.

A package is a zip file or a directory. Refused: absolute paths, `..` entries,
duplicate zip entries, special files (FIFOs, devices, sockets), empty packages,
packages larger than the limit once unpacked, and links that leave the package —
except the interpreter links of a Python virtual environment (`bin/python*` next to
a `pyvenv.cfg`), which point at the Python it was built with. A refusal is a
PackageError (exit 2). Checking has a deadline, so no package keeps turnout busy for
ever. The local target unpacks what these checks accepted (targets/local/packages.py);
the fake and Azure targets only check.
"""

from __future__ import annotations

import os
import re
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from turnout.errors import PackageError

_LINK_LIMIT = 4096
INTERPRETER = re.compile(r"^python(\d+(\.\d+)?)?$")
"""The name of a Python interpreter in a virtual environment's `bin/`."""
MB = 1 << 20
DEFAULT_MAX_MB = 2048
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class UnpackLimits:
    """How big an unpacked release may get and how long unpacking may take."""

    max_bytes: int = DEFAULT_MAX_MB * MB
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Entry:
    """One checked package member: a regular file, a directory or a symbolic link."""

    name: str
    """Path inside the package, `/`-separated."""
    kind: str
    """file, dir or link."""
    mode: int = 0o644
    size: int = 0
    link: str = ""


class UnpackDeadline:
    """When checking or unpacking a package must have ended (PackageError after it)."""

    def __init__(self, package: Path, timeout: float) -> None:
        self.package = package
        self.timeout = timeout
        self.until = time.monotonic() + timeout

    def check(self) -> None:
        """PackageError once the deadline has passed."""
        if time.monotonic() > self.until:
            raise PackageError(
                f"{self.package}: unpacking took longer than {self.timeout:g} s"
                " (target.unpack_timeout)"
            )


def check_package(package: Path, limits: UnpackLimits | None = None) -> None:
    """PackageError (exit 2) unless the package exists and is safe to unpack; writes nothing.

    The runbook calls it before anything is announced; unpacking checks again."""
    limits = limits or UnpackLimits()
    checked_entries(package, limits, UnpackDeadline(package, limits.timeout))


def checked_entries(
    package: Path, limits: UnpackLimits, deadline: UnpackDeadline
) -> tuple[list[Entry], bool]:
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


def special_kind(mode: int) -> str:
    """What a member that is not a file, directory or link is, for a refusal."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file, directory or link"


def _check_zip(package: Path) -> list[Entry]:
    entries: list[Entry] = []
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
                        f"{package}: refused entry {info.filename!r}: {special_kind(mode)}"
                    )
                link = ""
                if kind == "link":
                    if info.file_size > _LINK_LIMIT:
                        raise PackageError(f"{package}: refused entry {info.filename!r}: link")
                    link = archive.read(info).decode("utf-8", "replace")
                entries.append(Entry(name, kind, (mode & 0o777) or 0o644, info.file_size, link))
    except zipfile.BadZipFile as exc:
        raise PackageError(f"{package}: damaged zip file: {exc}") from exc
    return entries


def _check_directory(package: Path, deadline: UnpackDeadline) -> list[Entry]:
    entries: list[Entry] = []

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as listing:
            for item in sorted(listing, key=lambda e: e.name):
                deadline.check()
                name = f"{prefix}{item.name}"
                info = item.stat(follow_symlinks=False)
                kind = _kind_of(info.st_mode)
                if kind is None:
                    raise PackageError(
                        f"{folder / item.name}: refused: {special_kind(info.st_mode)}"
                    )
                if kind == "dir":
                    # Bytecode caches change when the source directory is run; not content.
                    if item.name == "__pycache__":
                        continue
                    entries.append(Entry(name, "dir", info.st_mode & 0o777))
                    walk(Path(item.path), f"{name}/")
                elif kind == "link":
                    entries.append(Entry(name, "link", link=str(Path(item.path).readlink())))
                else:
                    entries.append(Entry(name, "file", info.st_mode & 0o777, info.st_size))

    walk(package, "")
    return entries


def _check_contents(package: Path, entries: list[Entry], limits: UnpackLimits) -> None:
    """Refusals that need the whole member list: empty, too big, links leaving it."""
    venvs = {e.name.rsplit("/", 1)[0] if "/" in e.name else "" for e in entries if is_venv_cfg(e)}
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
            f"{package}: unpacks to {total / MB:.0f} MB, more than the limit of"
            f" {limits.max_bytes / MB:.0f} MB (target.max_release_mb)"
        )


def is_venv_cfg(entry: Entry) -> bool:
    """Whether the member is a virtual environment's `pyvenv.cfg`."""
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


def _interpreter_link(entry: Entry, venvs: set[str]) -> bool:
    """A venv's `bin/python*` pointing at an existing Python interpreter on this machine."""
    path = PurePosixPath(entry.name)
    if not INTERPRETER.match(path.name) or path.parent.name != "bin":
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
