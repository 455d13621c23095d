"""Versioned migration files (Flyway convention) found in a release package.

`V001__add_rewards_table.sql`: `V`, a version (digits, optionally dotted or
underscored: `V1.2`, `V1_2`), two underscores, a description, `.sql`. Versions
compare numerically part by part (V2 before V10; V1 and V001 are the same
version). An optional `verify.sql` holds validation queries. Every problem is
found before anything runs: bad names, duplicate versions, unreadable or
unsplittable files are a MigrationFileError naming the file (exit 2).
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from turnout.database.sqlsplit import Dialect, SqlSyntaxError, Statement, split_statements
from turnout.errors import MigrationFileError

VERIFY_FILE = "verify.sql"
_NAME = re.compile(r"^V(?P<version>\d+(?:[._]\d+)*)__(?P<description>[^/\\]+)\.sql$")
_TRANSACTION_CONTROL = {
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "END",
    "START",
    "SAVEPOINT",
    "RELEASE",
    "ABORT",
}


def version_key(version: str) -> tuple[int, ...]:
    """Numeric sort key of a version: `1.10` after `1.9`; trailing zero parts ignored."""
    parts = [int(p) for p in re.split(r"[._]", version)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def normal_version(version: str) -> str:
    """Canonical text of a version as recorded in the history table (`001` -> `1`)."""
    return ".".join(str(p) for p in version_key(version))


@dataclass(frozen=True)
class Migration:
    """One versioned migration file."""

    version: str
    """Canonical version text (`V001` -> `1`, `V1_2` -> `1.2`)."""
    description: str
    filename: str
    checksum: str
    """sha256 of the file's bytes."""
    sql: str
    location: str
    """Where the file was read from (for messages)."""

    @property
    def key(self) -> tuple[int, ...]:
        """Numeric sort key."""
        return version_key(self.version)

    def statements(self, dialect: Dialect) -> list[Statement]:
        """The file split into statements (validated when the set was loaded)."""
        return split_statements(self.sql, dialect)


@dataclass(frozen=True)
class MigrationSet:
    """The migrations of a release in version order, and its optional verify.sql."""

    source: str
    migrations: list[Migration] = field(default_factory=list)
    verify_sql: str | None = None
    verify_location: str | None = None

    @property
    def empty(self) -> bool:
        """No migrations and no verification queries."""
        return not self.migrations and self.verify_sql is None

    def by_version(self) -> dict[str, Migration]:
        """Migrations keyed by canonical version."""
        return {m.version: m for m in self.migrations}

    def checksums(self) -> dict[str, str]:
        """version -> checksum, for comparing what was tested on staging."""
        return {m.version: m.checksum for m in self.migrations}


def _parse_name(filename: str, location: str) -> tuple[str, str]:
    match = _NAME.match(filename)
    if not match:
        raise MigrationFileError(
            f"{location}: bad migration file name; expected V<version>__<description>.sql "
            "(e.g. V001__add_rewards_table.sql) or verify.sql",
            details={"file": location},
        )
    description = match.group("description").replace("_", " ").strip()
    if not description:
        raise MigrationFileError(
            f"{location}: the migration file name has no description after '__'",
            details={"file": location},
        )
    return normal_version(match.group("version")), description


def _decode(data: bytes, location: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MigrationFileError(
            f"{location}: unreadable: not UTF-8 text (byte {exc.start})",
            details={"file": location},
        ) from None


def _check_statements(sql: str, location: str, dialect: Dialect, *, migration: bool) -> None:
    try:
        statements = split_statements(sql, dialect)
    except SqlSyntaxError as exc:
        raise MigrationFileError(f"{location}: {exc}", details={"file": location}) from None
    if not statements:
        raise MigrationFileError(
            f"{location}: contains no SQL statement", details={"file": location}
        )
    if not migration:
        return
    for statement in statements:
        if dialect == "mssql":
            from turnout.database.mssql_batches import problem_in_migration

            problem = problem_in_migration(statement)
            if problem is not None:
                raise MigrationFileError(
                    f"{location}: line {statement.line}: {problem}",
                    details={"file": location, "line": statement.line},
                )
            continue
        if statement.first_word in _TRANSACTION_CONTROL:
            raise MigrationFileError(
                f"{location}: line {statement.line}: {statement.first_word} is not allowed; "
                "turnout runs each migration file in its own transaction",
                details={"file": location, "line": statement.line},
            )


def build_set(
    files: Iterable[tuple[str, str, bytes | OSError]], source: str, dialect: Dialect
) -> MigrationSet:
    """Validate (name, location, content-or-read-error) entries into a MigrationSet."""
    migrations: dict[tuple[int, ...], Migration] = {}
    verify_sql: str | None = None
    verify_location: str | None = None
    for name, location, content in sorted(files):
        if isinstance(content, OSError):
            raise MigrationFileError(
                f"{location}: unreadable: {content.strerror or content}",
                details={"file": location},
            )
        if name == VERIFY_FILE:
            verify_sql = _decode(content, location)
            verify_location = location
            _check_statements(verify_sql, location, dialect, migration=False)
            continue
        version, description = _parse_name(name, location)
        sql = _decode(content, location)
        _check_statements(sql, location, dialect, migration=True)
        migration = Migration(
            version=version,
            description=description,
            filename=name,
            checksum=hashlib.sha256(content).hexdigest(),
            sql=sql,
            location=location,
        )
        clash = migrations.get(migration.key)
        if clash is not None:
            raise MigrationFileError(
                f"{location}: duplicate migration version {version} (also {clash.filename})",
                details={"file": location, "other": clash.location},
            )
        migrations[migration.key] = migration
    ordered = [migrations[key] for key in sorted(migrations)]
    return MigrationSet(source, ordered, verify_sql, verify_location)


def _relevant(name: str) -> bool:
    # Only SQL files and names that look like migrations are ours; a README may sit beside them.
    return name.lower().endswith(".sql") or bool(re.match(r"^V\d", name))


def load_folder(folder: Path, dialect: Dialect) -> MigrationSet:
    """Migrations from a directory (a missing directory means none)."""
    if not folder.exists():
        return MigrationSet(str(folder))
    if not folder.is_dir():
        raise MigrationFileError(
            f"{folder}: expected a folder of migrations", details={"file": str(folder)}
        )
    entries: list[tuple[str, str, bytes | OSError]] = []
    for path in folder.iterdir():
        if path.name.startswith(".") or path.is_dir() or not _relevant(path.name):
            continue
        try:
            entries.append((path.name, str(path), path.read_bytes()))
        except OSError as exc:
            entries.append((path.name, str(path), exc))
    return build_set(entries, str(folder), dialect)


def load_zip(archive: Path, folder: str, dialect: Dialect) -> MigrationSet:
    """Migrations from a zip package: `folder/` at the root or under one top-level directory."""
    source = f"{archive}!{folder}"
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            prefix = _zip_prefix(names, folder)
            if prefix is None:
                return MigrationSet(source)
            entries: list[tuple[str, str, bytes | OSError]] = []
            for member in names:
                rest = member[len(prefix) :] if member.startswith(prefix) else None
                if rest is None or "/" in rest or not rest or rest.startswith("."):
                    continue
                if not _relevant(rest):
                    continue
                location = f"{archive}!{member}"
                try:
                    entries.append((rest, location, zf.read(member)))
                except (OSError, zipfile.BadZipFile) as exc:
                    entries.append((rest, location, OSError(str(exc))))
            return build_set(entries, source, dialect)
    except (OSError, zipfile.BadZipFile) as exc:
        raise MigrationFileError(
            f"{archive}: cannot read the package: {exc}", details={"file": str(archive)}
        ) from None


def _zip_prefix(names: list[str], folder: str) -> str | None:
    wanted = PurePosixPath(folder).as_posix().strip("/") + "/"
    if any(n.startswith(wanted) for n in names):
        return wanted
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    for top in sorted(tops):
        candidate = f"{top}/{wanted}"
        if any(n.startswith(candidate) for n in names):
            return candidate
    return None


def load_from_package(package: Path, folder: str, dialect: Dialect) -> MigrationSet:
    """The migrations of a release package (a zip file or an unpacked directory)."""
    if package.is_dir():
        direct = package / folder
        if not direct.exists():
            # An unpacked zip often has one top-level directory.
            children = [p for p in package.iterdir() if p.is_dir() and not p.name.startswith(".")]
            if len(children) == 1 and (children[0] / folder).exists():
                direct = children[0] / folder
        return load_folder(direct, dialect)
    if zipfile.is_zipfile(package):
        return load_zip(package, folder, dialect)
    raise MigrationFileError(
        f"{package}: release package is neither a directory nor a zip file",
        details={"file": str(package)},
    )
