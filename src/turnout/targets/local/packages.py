"""Unpack a release package (zip file or directory) into a per-version release directory.

Archives are checked before anything is written: absolute paths, `..` entries
and links are refused (PackageError, exit 2), so a package can never write
outside its release directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from turnout.errors import PackageError
from turnout.targets.local.paths import safe_name

_CHUNK = 1 << 20


def check_package(package: Path) -> None:
    """PackageError (exit 2) unless the package exists and is safe to unpack; writes nothing.

    The runbook calls it before anything is announced; unpacking calls it again.
    """
    if not package.exists():
        raise PackageError(f"{package}: package not found")
    if package.is_dir():
        _check_directory(package)
    elif zipfile.is_zipfile(package):
        _check_zip(package)
    else:
        raise PackageError(f"{package}: not a zip file or a directory")


def unpack_release(package: Path, releases_dir: Path, version: str) -> Path:
    """The release directory holding the package's files (unpacked once per content)."""
    check_package(package)
    digest = _directory_digest(package) if package.is_dir() else _file_digest(package)
    target = releases_dir / f"{safe_name(version)}-{digest[:12]}"
    if target.is_dir():
        return target
    releases_dir.mkdir(parents=True, exist_ok=True)
    # Unpack next to the final place and rename: a half-unpacked release is never used.
    staging = Path(tempfile.mkdtemp(dir=releases_dir, prefix=".unpack-"))
    try:
        if package.is_dir():
            shutil.copytree(
                package,
                staging,
                symlinks=True,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        else:
            _extract_zip(package, staging)
        staging.rename(target)
    except FileExistsError:
        shutil.rmtree(staging, ignore_errors=True)  # another unpack of the same content won
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise PackageError(f"{package}: cannot unpack: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


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


def _check_zip(package: Path) -> None:
    try:
        with zipfile.ZipFile(package) as archive:
            for info in archive.infolist():
                problem = unsafe_member(info.filename)
                if problem:
                    raise PackageError(f"{package}: refused entry {info.filename!r}: {problem}")
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise PackageError(f"{package}: refused entry {info.filename!r}: symbolic link")
    except zipfile.BadZipFile as exc:
        raise PackageError(f"{package}: damaged zip file: {exc}") from exc


def _check_directory(package: Path) -> None:
    root = package.resolve()
    for folder, dirs, files in os.walk(package):
        for name in (*dirs, *files):
            path = Path(folder) / name
            if path.is_symlink():
                resolved = path.resolve()
                if resolved != root and root not in resolved.parents:
                    raise PackageError(f"{path}: symbolic link points outside the package")


def _extract_zip(package: Path, into: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        for info in archive.infolist():
            target = into / info.filename.replace("\\", "/")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink, _CHUNK)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                # Keep executable bits (start scripts) but never group/other write.
                target.chmod(mode & 0o755)


def _file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            sha.update(block)
    return sha.hexdigest()


def _directory_digest(root: Path) -> str:
    files: list[Path] = []
    for folder, dirs, names in os.walk(root):
        # Bytecode caches change when the source directory is run; they are not content.
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        files.extend(Path(folder) / name for name in names)
    sha = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        sha.update(path.relative_to(root).as_posix().encode() + b"\x00")
        if path.is_symlink():
            sha.update(b"link:" + os.fsencode(path.readlink()))
        else:
            sha.update(oct(path.stat().st_mode & 0o777).encode())
            with path.open("rb") as handle:
                while block := handle.read(_CHUNK):
                    sha.update(block)
        sha.update(b"\x00")
    return sha.hexdigest()
