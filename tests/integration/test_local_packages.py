"""Release packages: zip files and directories unpacked safely, once per content."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from turnout.errors import PackageError
from turnout.targets.local.packages import unpack_release


def _zip(path: Path, members: dict[str, bytes], modes: dict[str, int] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (modes or {}).get(name, 0o100644) << 16
            archive.writestr(info, data)
    return path


@pytest.mark.parametrize(
    "member", ["../escape.txt", "app/../../escape.txt", "/etc/escape.txt", "C:/escape.txt"]
)
def test_archive_escaping_its_directory_is_refused(tmp_path: Path, member: str) -> None:
    """A zip with an absolute path or a `..` entry is a PackageError (exit 2) and writes nothing."""
    package = _zip(tmp_path / "bad.zip", {"app/ok.txt": b"ok", member: b"evil"})
    releases = tmp_path / "releases"
    with pytest.raises(PackageError) as caught:
        unpack_release(package, releases, "1.0.0")
    assert caught.value.exit_code == 2
    assert member in str(caught.value)
    assert not releases.exists() or not any(releases.iterdir())
    assert not (tmp_path / "escape.txt").exists()


def test_archive_with_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    """A zip entry that is a symbolic link is refused (it could point anywhere)."""
    package = _zip(tmp_path / "link.zip", {"app/link": b"/etc/passwd"}, {"app/link": 0o120777})
    with pytest.raises(PackageError, match="symbolic link"):
        unpack_release(package, tmp_path / "releases", "1.0.0")


def test_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    """A package that is neither a zip nor a directory is a PackageError naming the file."""
    package = tmp_path / "app.tar.gz"
    package.write_bytes(b"not a zip")
    with pytest.raises(PackageError, match=r"app\.tar\.gz: not a zip file or a directory"):
        unpack_release(package, tmp_path / "releases", "1.0.0")


def test_missing_package_is_refused(tmp_path: Path) -> None:
    """A package path that does not exist is a PackageError."""
    with pytest.raises(PackageError, match="not found"):
        unpack_release(tmp_path / "nope.zip", tmp_path / "releases", "1.0.0")


def test_zip_is_unpacked_with_executable_bits_once_per_content(tmp_path: Path) -> None:
    """A zip unpacks into a per-version directory, keeps +x, and is reused for the same bytes."""
    package = _zip(
        tmp_path / "app.zip",
        {"run.sh": b"#!/bin/sh\n", "app/main.py": b"print(1)\n"},
        {"run.sh": 0o100755},
    )
    releases = tmp_path / "releases"
    first = unpack_release(package, releases, "1.0.0")
    assert first.parent == releases and first.name.startswith("1.0.0-")
    assert (first / "app" / "main.py").read_text() == "print(1)\n"
    assert (first / "run.sh").stat().st_mode & stat.S_IXUSR
    assert unpack_release(package, releases, "1.0.0") == first
    other = _zip(tmp_path / "other.zip", {"app/main.py": b"print(2)\n"})
    assert unpack_release(other, releases, "1.0.0") != first


def test_directory_package_is_copied_and_links_outside_are_refused(tmp_path: Path) -> None:
    """A directory package is copied (caches left out); a link leaving it is refused."""
    source = tmp_path / "src"
    (source / "app" / "__pycache__").mkdir(parents=True)
    (source / "app" / "main.py").write_text("print(1)\n")
    (source / "app" / "__pycache__" / "main.pyc").write_bytes(b"cache")
    release = unpack_release(source, tmp_path / "releases", "2.0.0")
    assert (release / "app" / "main.py").exists()
    assert not (release / "app" / "__pycache__").exists()
    (source / "app" / "escape").symlink_to("/etc")
    with pytest.raises(PackageError, match="outside the package"):
        unpack_release(source, tmp_path / "releases", "2.0.1")
