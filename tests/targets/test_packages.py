"""The package checks every target makes: refusals named, limits kept, nothing written."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from turnout.errors import PackageError
from turnout.targets.fake import FakeTarget
from turnout.targets.packages import UnpackLimits, check_package


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_check_package_accepts_a_zip_and_a_directory_and_writes_nothing(tmp_path: Path) -> None:
    """A safe zip and a safe directory pass the checks; the folder holding them is unchanged."""
    package = _zip(tmp_path / "app.zip", {"app/main.py": b"print('hi')\n"})
    folder = tmp_path / "tree"
    (folder / "app").mkdir(parents=True)
    (folder / "app" / "main.py").write_text("print('hi')\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    check_package(package)
    check_package(folder)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_check_package_refuses_an_escaping_entry_and_a_package_over_the_limit(
    tmp_path: Path,
) -> None:
    """A `..` entry and a package bigger than the limit are PackageErrors (exit 2) naming why."""
    escaping = _zip(tmp_path / "bad.zip", {"app/ok.txt": b"ok", "../evil.txt": b"evil"})
    with pytest.raises(PackageError, match=r"refused entry '\.\./evil\.txt': `\.\.` entry"):
        check_package(escaping)
    big = _zip(tmp_path / "big.zip", {"blob": b"x" * 4096})
    with pytest.raises(PackageError, match=r"target\.max_release_mb") as caught:
        check_package(big, UnpackLimits(max_bytes=1024))
    assert caught.value.exit_code == 2


def test_a_target_that_only_checks_refuses_what_the_shared_checks_refuse(tmp_path: Path) -> None:
    """The fake target's package check is the shared one: an outside link is refused."""
    folder = tmp_path / "tree"
    folder.mkdir()
    (folder / "main.py").write_text("")
    (folder / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(PackageError, match="symbolic link points outside the package"):
        FakeTarget("web").check_package(folder)
