"""Unpack a release package (zip file or directory) into a per-build release directory.

Everything is checked before anything is written, by the checks every target makes
(targets/packages.py), within the configured limits; unpacking checks again what it
writes (declared sizes can lie) and has the same deadline, so no package can keep the
slot host busy for ever.

A virtual environment in the package is made relocatable: console scripts whose
`#!` line names the environment's build location are pointed at the release
directory instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from turnout.errors import PackageError
from turnout.targets.local.paths import safe_name
from turnout.targets.packages import (
    INTERPRETER,
    MB,
    Entry,
    UnpackDeadline,
    UnpackLimits,
    checked_entries,
    is_venv_cfg,
    special_kind,
)

_CHUNK = 1 << 20


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


def unpack_release(
    package: Path, releases_dir: Path, version: str, limits: UnpackLimits | None = None
) -> UnpackedRelease:
    """The release directory holding the package's files (unpacked once per content)."""
    limits = limits or UnpackLimits()
    deadline = UnpackDeadline(package, limits.timeout)
    entries, from_zip = checked_entries(package, limits, deadline)
    digest = _content_digest(package, entries, from_zip, deadline)
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


def package_digest(package: Path, limits: UnpackLimits | None = None) -> str:
    """sha256 of a release package's content, as `unpack_release` computes it (the zip
    file's bytes, or the directory tree): what a signed approval names as the release."""
    limits = limits or UnpackLimits()
    deadline = UnpackDeadline(package, limits.timeout)
    entries, from_zip = checked_entries(package, limits, deadline)
    return _content_digest(package, entries, from_zip, deadline)


def _content_digest(
    package: Path, entries: list[Entry], from_zip: bool, deadline: UnpackDeadline
) -> str:
    if from_zip:
        return _file_digest(package, deadline)
    return _tree_digest(package, entries, deadline)


def limits_for(target: object) -> UnpackLimits:
    """The unpack limits a target's settings configure (the defaults for other targets)."""
    from turnout.config.targets import LocalTargetConfig

    if isinstance(target, LocalTargetConfig):
        return UnpackLimits(target.max_release_mb * MB, target.unpack_timeout)
    return UnpackLimits()


def _venv_dir(entries: list[Entry]) -> str | None:
    """The shallowest virtual environment in the package (relative path, "." for the root)."""
    found = [PurePosixPath(e.name).parent.as_posix() for e in entries if is_venv_cfg(e)]
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
        raise PackageError(f"{path}: refused: {special_kind(mode)}")
    return fd


def _read_blocks(path: Path, deadline: UnpackDeadline) -> Iterator[bytes]:
    fd = _open_regular(path)
    with os.fdopen(fd, "rb") as handle:
        while block := handle.read(_CHUNK):
            deadline.check()
            yield block


def _copy_tree(
    package: Path, into: Path, entries: list[Entry], limits: UnpackLimits, deadline: UnpackDeadline
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
            f"{package}: unpacks to more than the limit of {limits.max_bytes / MB:.0f} MB"
            " (target.max_release_mb)"
        )


def _extract_zip(
    package: Path, into: Path, entries: list[Entry], limits: UnpackLimits, deadline: UnpackDeadline
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
            INTERPRETER.match(interpreter.name)
            and interpreter.parent.name == "bin"
            and interpreter.parent.parent.name == venv_name
        ):
            found.add(os.fsencode(str(interpreter.parent)) + b"/")
    return found


def _file_digest(path: Path, deadline: UnpackDeadline) -> str:
    sha = hashlib.sha256()
    for block in _read_blocks(path, deadline):
        sha.update(block)
    return sha.hexdigest()


def _tree_digest(root: Path, entries: list[Entry], deadline: UnpackDeadline) -> str:
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
