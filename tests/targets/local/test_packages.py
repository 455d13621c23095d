"""Release packages: zip files and directories unpacked safely, once per content."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import sys
import threading
import warnings
import zipfile
from pathlib import Path

import pytest

from turnout.errors import PackageError
from turnout.targets.local.packages import unpack_release
from turnout.targets.packages import UnpackLimits


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
    """A zip entry that is a symbolic link pointing outside the package is refused."""
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
    first = unpack_release(package, releases, "1.0.0").path
    assert first.parent == releases and first.name.startswith("1.0.0-")
    assert (first / "app" / "main.py").read_text() == "print(1)\n"
    assert (first / "run.sh").stat().st_mode & stat.S_IXUSR
    assert unpack_release(package, releases, "1.0.0").path == first
    other = _zip(tmp_path / "other.zip", {"app/main.py": b"print(2)\n"})
    assert unpack_release(other, releases, "1.0.0").path != first


def test_directory_package_is_copied_and_links_outside_are_refused(tmp_path: Path) -> None:
    """A directory package is copied (caches left out); a link leaving it is refused."""
    source = tmp_path / "src"
    (source / "app" / "__pycache__").mkdir(parents=True)
    (source / "app" / "main.py").write_text("print(1)\n")
    (source / "app" / "__pycache__" / "main.pyc").write_bytes(b"cache")
    release = unpack_release(source, tmp_path / "releases", "2.0.0").path
    assert (release / "app" / "main.py").exists()
    assert not (release / "app" / "__pycache__").exists()
    (source / "app" / "escape").symlink_to("/etc")
    with pytest.raises(PackageError, match="outside the package"):
        unpack_release(source, tmp_path / "releases", "2.0.1")


def _unpack_in_thread(package: Path, releases: Path) -> BaseException | None:
    """Unpack in a thread so that a package that blocks it cannot hang the test run."""
    outcome: list[BaseException | None] = []

    def work() -> None:
        try:
            unpack_release(package, releases, "1.0.0")
            outcome.append(None)
        except BaseException as exc:  # handed to the test to assert on
            outcome.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(60)
    assert outcome, "unpacking did not return: the package blocked it"
    return outcome[0]


def test_directory_package_with_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO in a directory package is refused (exit 2) instead of blocking the unpack."""
    source = tmp_path / "src"
    (source / "app").mkdir(parents=True)
    (source / "app" / "main.py").write_text("print(1)\n")
    os.mkfifo(source / "app" / "pipe")
    error = _unpack_in_thread(source, tmp_path / "releases")
    assert isinstance(error, PackageError) and error.exit_code == 2
    assert "pipe" in str(error) and "FIFO" in str(error)
    assert not (tmp_path / "releases").exists() or not any((tmp_path / "releases").iterdir())


def test_directory_package_with_a_socket_is_refused(tmp_path: Path) -> None:
    """A UNIX socket in a directory package is refused as a special file."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "main.py").write_text("print(1)\n")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(source / "app.sock"))
        with pytest.raises(PackageError, match=r"app\.sock: refused: a socket"):
            unpack_release(source, tmp_path / "releases", "1.0.0")


@pytest.mark.parametrize(
    ("mode", "said"),
    [(stat.S_IFIFO | 0o644, "a FIFO"), (stat.S_IFCHR | 0o644, "a device")],
)
def test_zip_with_special_file_entries_is_refused(tmp_path: Path, mode: int, said: str) -> None:
    """Zip entries whose Unix mode is a FIFO or a device are refused up front."""
    package = _zip(tmp_path / "special.zip", {"ok.txt": b"ok", "dev": b""}, {"dev": mode})
    with pytest.raises(PackageError, match=f"'dev': {said}"):
        unpack_release(package, tmp_path / "releases", "1.0.0")


def test_zip_with_duplicate_entries_is_refused(tmp_path: Path) -> None:
    """Two zip entries with the same name are refused: which one wins would be a guess."""
    package = tmp_path / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate we make on purpose
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("app/main.py", b"print('good')\n")
            archive.writestr("app/main.py", b"print('evil')\n")
    with pytest.raises(PackageError, match=r"duplicate entry 'app/main\.py'"):
        unpack_release(package, tmp_path / "releases", "1.0.0")


def test_empty_packages_are_refused(tmp_path: Path) -> None:
    """A zip with no files (only folders) and an empty directory are refused."""
    folders_only = tmp_path / "empty.zip"
    with zipfile.ZipFile(folders_only, "w") as archive:
        archive.writestr(zipfile.ZipInfo("app/"), b"")
    with pytest.raises(PackageError, match="empty package"):
        unpack_release(folders_only, tmp_path / "releases", "1.0.0")
    (tmp_path / "nothing" / "sub").mkdir(parents=True)
    with pytest.raises(PackageError, match="empty package"):
        unpack_release(tmp_path / "nothing", tmp_path / "releases", "1.0.0")


def test_zip_bomb_is_refused_by_the_size_limit(tmp_path: Path) -> None:
    """A small zip that unpacks beyond the configured limit is refused before writing."""
    package = tmp_path / "bomb.zip"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\x00" * (8 << 20))
    assert package.stat().st_size < (1 << 20)
    releases = tmp_path / "releases"
    with pytest.raises(PackageError, match=r"more than the limit of 1 MB.*max_release_mb"):
        unpack_release(package, releases, "1.0.0", UnpackLimits(max_bytes=1 << 20))
    assert not releases.exists() or not any(releases.iterdir())


def test_venv_package_keeps_interpreter_links_and_relocates_scripts(
    venv_tree: Path, tmp_path: Path
) -> None:
    """A venv's interpreter link leaving the package is kept; console scripts name the release."""
    release = unpack_release(venv_tree, tmp_path / "releases", "1.0.0")
    assert release.venv == ".venv"
    python = release.path / ".venv" / "bin" / "python"
    assert python.is_symlink() and python.resolve() == (venv_tree / ".venv/bin/python").resolve()
    script = (release.path / ".venv" / "bin" / "tinyserve").read_text().splitlines()[0]
    assert script == f"#!{release.path / '.venv' / 'bin' / 'python'}"
    assert str(venv_tree) not in (release.path / ".venv" / "bin" / "tinyserve").read_text()


def test_links_leaving_a_venv_package_stay_refused(venv_tree: Path, tmp_path: Path) -> None:
    """Only a venv's bin/python* interpreter links may leave the package; other links may not."""
    copy = tmp_path / "copy"
    shutil.copytree(venv_tree, copy, symlinks=True)
    (copy / ".venv" / "bin" / "secrets").symlink_to("/etc")
    with pytest.raises(PackageError, match=r"'\.venv/bin/secrets': symbolic link points outside"):
        unpack_release(copy, tmp_path / "releases", "1.0.0")
    (copy / ".venv" / "bin" / "secrets").unlink()
    (copy / "python3").symlink_to(Path(sys.executable).resolve())  # not in a venv's bin/
    with pytest.raises(PackageError, match=r"'python3': symbolic link points outside"):
        unpack_release(copy, tmp_path / "releases", "1.0.0")


def test_unpacking_stops_at_its_deadline(tmp_path: Path) -> None:
    """A package that takes longer than unpack_timeout to unpack is refused, nothing kept."""
    source = tmp_path / "src"
    source.mkdir()
    for n in range(50):
        (source / f"part{n}.bin").write_bytes(b"\x02" * 4096)
    releases = tmp_path / "releases"
    with pytest.raises(PackageError, match=r"longer than 1e-09 s \(target\.unpack_timeout\)"):
        unpack_release(source, releases, "1.0.0", UnpackLimits(timeout=1e-9))
    assert not releases.exists() or not any(releases.iterdir())
