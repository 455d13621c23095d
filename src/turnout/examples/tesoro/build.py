"""Build tesoro's release packages: `python3 build.py [--out DIR] [VERSION ...]`.

Each package DIR/<version>/ (default: dist/ next to this file) is self-contained: `app/`, the
source of app/ with an `app/release.py` written from that release's settings in releases.toml,
and `migrations/`, the release's files copied byte for byte from migrations/, when it has any.
`python -m app` runs it from anywhere. Without VERSION every release is built. Rebuilding
replaces a package, and the same sources always give the same files (content and modes), so
turnout sees an unchanged package. Standard library only; exit 2 on bad input, nothing built.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
"""The source tree: found from this file, so a copy of examples/tesoro builds anywhere."""
RELEASES_FILE = "releases.toml"
APP = "app"
MIGRATIONS = "migrations"
RELEASE_MODULE = "release.py"
DEFAULT_OUT = "dist"
# A version names a directory: starting with a digit keeps it clear of "app", "." and "..".
VERSION_NAME = re.compile(r"^[0-9][0-9A-Za-z.+-]*$")
RELEASE_KEYS = ("summary", "rewards", "fault_rate", "migrations")
# Fixed modes, whatever the umask: turnout's package digest covers file modes.
FILE_MODE = 0o644
DIR_MODE = 0o755


class BuildError(Exception):
    """Bad input (releases.toml, a version, the output directory): one message, exit 2."""


@dataclass(frozen=True)
class Release:
    """One release's settings from releases.toml."""

    version: str
    summary: str
    rewards: bool
    fault_rate: float
    migrations: tuple[str, ...]


def load_releases(source: Path) -> dict[str, Release]:
    """Every release of releases.toml, in file order, checked against the source tree."""
    path = source / RELEASES_FILE
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BuildError(f"{RELEASES_FILE}: not found in {source}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"{RELEASES_FILE}: not valid TOML: {exc}") from None
    extra = sorted(set(document) - {"releases"})
    if extra:
        raise BuildError(f'{RELEASES_FILE}: unknown key {extra[0]!r} (only [releases."X.Y.Z"])')
    table = document.get("releases")
    if not isinstance(table, dict) or not table:
        raise BuildError(f'{RELEASES_FILE}: no releases (add a [releases."1.0.0"] table)')
    return {version: _release(source, version, fields) for version, fields in table.items()}


def _release(source: Path, version: str, fields: Any) -> Release:
    where = f'{RELEASES_FILE}: [releases."{version}"]'
    if not VERSION_NAME.match(version):
        raise BuildError(f"{where}: a version starts with a digit and has only 0-9 A-Z a-z . + -")
    if not isinstance(fields, dict):
        raise BuildError(f"{where}: must be a table")
    for key in fields:
        if key not in RELEASE_KEYS:
            raise BuildError(f"{where}: unknown key {key!r} (keys: {', '.join(RELEASE_KEYS)})")
    for key in RELEASE_KEYS:
        if key not in fields:
            raise BuildError(f"{where}: missing key {key!r}")
    summary, rewards, rate, migrations = (fields[key] for key in RELEASE_KEYS)
    if not isinstance(summary, str) or not summary.strip() or "\n" in summary:
        raise BuildError(f"{where}: summary must be one line of text")
    if not isinstance(rewards, bool):
        raise BuildError(f"{where}: rewards must be true or false")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise BuildError(f"{where}: fault_rate must be a number from 0 to 1")
    if not isinstance(migrations, list) or not all(isinstance(m, str) for m in migrations):
        raise BuildError(f"{where}: migrations must be a list of file names")
    for name in migrations:
        if migrations.count(name) > 1:
            raise BuildError(f"{where}: migration {name!r} listed twice")
        if Path(name).name != name or not (source / MIGRATIONS / name).is_file():
            raise BuildError(f"{where}: migration {name!r} is not a file in {MIGRATIONS}/")
    return Release(version, summary.strip().rstrip("."), rewards, float(rate), tuple(migrations))


def release_module(release: Release) -> str:
    """The text of the package's app/release.py."""
    return (
        f'"""tesoro {release.version}: {release.summary}.\n'
        "\n"
        f"Written by build.py from {RELEASES_FILE}; change the release there and rebuild.\n"
        '"""\n'
        "\n"
        f'VERSION = "{release.version}"\n'
        "\n"
        f"REWARDS = {release.rewards!r}\n"
        '"""Whether the reward endpoints exist; they need V001__add_rewards_table.sql."""\n'
        "\n"
        f"FAULT_RATE = {release.fault_rate!r}\n"
        '"""Share of transaction requests that fail with HTTP 500 (a seeded sequence)."""\n'
    )


def _app_files(app: Path) -> Iterator[Path]:
    """The app's source files, relative to app/, without bytecode and without release.py."""
    for path in sorted(app.rglob("*")):
        relative = path.relative_to(app)
        if "__pycache__" in relative.parts or path.suffix in (".pyc", ".pyo"):
            continue
        if path.is_file() and relative != Path(RELEASE_MODULE):
            yield relative


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(FILE_MODE)


def _fill(package: Path, release: Release, source: Path) -> None:
    for relative in _app_files(source / APP):
        _write(package / APP / relative, (source / APP / relative).read_bytes())
    _write(package / APP / RELEASE_MODULE, release_module(release).encode())
    for name in release.migrations:
        _write(package / MIGRATIONS / name, (source / MIGRATIONS / name).read_bytes())
    for folder in (package, *(p for p in package.rglob("*") if p.is_dir())):
        folder.chmod(DIR_MODE)


def check_replaceable(final: Path) -> None:
    """Refuse to replace anything but a package directory (a file or a link is not ours)."""
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise BuildError(f"{final}: exists and is not a directory; remove it first")


def build_package(release: Release, source: Path, out: Path) -> Path:
    """Write out/<version>/ for the release, replacing what was there; return its path."""
    final = out / release.version
    check_replaceable(final)
    out.mkdir(parents=True, exist_ok=True)
    # Build next to the final place and swap it in: a failed build leaves the old package.
    staging = Path(tempfile.mkdtemp(prefix=f".{release.version}.build-", dir=out))
    try:
        _fill(staging, release, source)
        if final.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{release.version}.old-", dir=out))
            final.rename(retired / release.version)
            staging.rename(final)
            shutil.rmtree(retired)
        else:
            staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def main(argv: list[str] | None = None) -> int:
    """Build the asked releases (all by default); print one line per package."""
    parser = argparse.ArgumentParser(
        prog="build.py", description="Build tesoro's release packages from one source tree."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / DEFAULT_OUT,
        help=f"directory for the packages (default: {DEFAULT_OUT}/ next to build.py)",
    )
    parser.add_argument(
        "versions",
        nargs="*",
        metavar="VERSION",
        help=f"releases to build (default: every release in {RELEASES_FILE})",
    )
    args = parser.parse_args(argv)
    try:
        releases = load_releases(HERE)
        wanted = list(dict.fromkeys(args.versions)) or list(releases)
        unknown = [version for version in wanted if version not in releases]
        if unknown:
            raise BuildError(
                f"unknown version {', '.join(unknown)} ({RELEASES_FILE} has {', '.join(releases)})"
            )
        for version in wanted:
            check_replaceable(args.out / version)
        for version in wanted:
            release = releases[version]
            package = build_package(release, HERE, args.out)
            carried = ", ".join(release.migrations) or "none"
            print(f"{_shown(package)}: tesoro {version}, app/ and migrations: {carried}")
    except BuildError as exc:
        print(f"build.py: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"build.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
