"""Migration files: naming, ordering, refusal of bad sets, statement splitting, verify rule."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from turnout.config import load_config
from turnout.database.history import AppliedMigration, pending_migrations
from turnout.database.migrations import load_folder, load_from_package, version_key
from turnout.database.pgstream import count_copy_rows
from turnout.database.sqlsplit import SqlSyntaxError, split_statements
from turnout.database.verify import passes
from turnout.errors import ConfigError, MigrationFileError


def _folder(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return folder


def test_versions_sort_numerically(tmp_path: Path) -> None:
    """V2 comes before V10, and dotted versions compare part by part."""
    folder = _folder(
        tmp_path,
        {
            "V10__ten.sql": "SELECT 10;",
            "V2__two.sql": "SELECT 2;",
            "V1.10__minor.sql": "SELECT 1;",
            "V1.9__minor.sql": "SELECT 1;",
            "verify.sql": "SELECT 1;",
            "README.md": "not a migration",
        },
    )
    found = load_folder(folder, "sqlite")
    assert [m.version for m in found.migrations] == ["1.9", "1.10", "2", "10"]
    assert found.migrations[-1].description == "ten"
    assert found.verify_sql == "SELECT 1;"
    assert version_key("001") == version_key("1.0") == (1,)


@pytest.mark.parametrize(
    "name",
    ["V1_add.sql", "v1__lower.sql", "V__noversion.sql", "V1__.sql", "add_table.sql", "V2__x.txt"],
)
def test_bad_names_are_refused_naming_the_file(tmp_path: Path, name: str) -> None:
    """A file that does not follow V<version>__<description>.sql is refused, named."""
    folder = _folder(tmp_path, {"V1__ok.sql": "SELECT 1;", name: "SELECT 1;"})
    with pytest.raises(MigrationFileError) as caught:
        load_folder(folder, "sqlite")
    assert name in caught.value.message
    assert caught.value.exit_code == 2


def test_duplicate_versions_are_refused(tmp_path: Path) -> None:
    """V1 and V001 are the same version: refused, both files named."""
    folder = _folder(tmp_path, {"V1__one.sql": "SELECT 1;", "V001__again.sql": "SELECT 1;"})
    with pytest.raises(MigrationFileError) as caught:
        load_folder(folder, "sqlite")
    assert "duplicate migration version 1" in caught.value.message
    assert "V001__again.sql" in caught.value.message and "V1__one.sql" in caught.value.message


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    """Non-UTF-8 content and a dangling file are refused with the file's name."""
    folder = _folder(tmp_path, {"V1__latin.sql": b"SELECT '\xe9t\xe9';"})
    with pytest.raises(MigrationFileError, match=r"V1__latin\.sql: unreadable"):
        load_folder(folder, "sqlite")
    (folder / "V1__latin.sql").unlink()
    (folder / "V2__gone.sql").symlink_to(tmp_path / "missing.sql")
    with pytest.raises(MigrationFileError, match=r"V2__gone\.sql: unreadable"):
        load_folder(folder, "sqlite")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("-- nothing here\n", "contains no SQL statement"),
        ("BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;", "line 1: BEGIN is not allowed"),
        ("CREATE TABLE t (a int);\nINSERT INTO t VALUES ('open);", "line 2: unterminated"),
    ],
)
def test_unusable_content_is_refused(tmp_path: Path, content: str, problem: str) -> None:
    """Empty files, transaction control and unterminated quotes are refused before running."""
    folder = _folder(tmp_path, {"V1__bad.sql": content})
    with pytest.raises(MigrationFileError, match=problem):
        load_folder(folder, "postgresql")


def test_zip_package_with_a_top_level_folder(tmp_path: Path) -> None:
    """A zip whose files sit under one top-level folder still yields its migrations."""
    archive = tmp_path / "app-1.1.0.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("app-1.1.0/app.py", "print('hi')")
        zf.writestr("app-1.1.0/migrations/V001__add_rewards_table.sql", "CREATE TABLE r (a int);")
        zf.writestr("app-1.1.0/migrations/verify.sql", "SELECT 1;")
    found = load_from_package(archive, "migrations", "sqlite")
    assert [m.filename for m in found.migrations] == ["V001__add_rewards_table.sql"]
    assert found.migrations[0].location.endswith(
        "app-1.1.0.zip!app-1.1.0/migrations/V001__add_rewards_table.sql"
    )
    assert found.verify_sql == "SELECT 1;"


def test_package_without_migrations_has_none(tmp_path: Path) -> None:
    """A release without a migrations folder has nothing pending (the phase skips itself)."""
    (tmp_path / "pkg").mkdir()
    assert load_from_package(tmp_path / "pkg", "migrations", "sqlite").empty


def test_changed_applied_file_is_refused(tmp_path: Path) -> None:
    """A file whose checksum differs from the history row is refused, naming the file."""
    folder = _folder(tmp_path, {"V1__one.sql": "SELECT 1;", "V2__two.sql": "SELECT 2;"})
    found = load_folder(folder, "sqlite")
    row = AppliedMigration("1", "one", "0" * 64, "2024-01-01T00:00:00", "ann", 3, True)
    with pytest.raises(MigrationFileError, match=r"V1__one\.sql: changed after it was applied"):
        pending_migrations(found, [row])
    ok = AppliedMigration("1", "one", found.migrations[0].checksum, "t", "ann", 3, True)
    assert [m.version for m in pending_migrations(found, [ok])] == ["2"]


def test_older_version_after_a_newer_one_is_refused(tmp_path: Path) -> None:
    """A pending version below an applied one would reorder history: refused."""
    folder = _folder(tmp_path, {"V1__one.sql": "SELECT 1;", "V3__three.sql": "SELECT 3;"})
    found = load_folder(folder, "sqlite")
    three = AppliedMigration("3", "three", found.migrations[1].checksum, "t", "ann", 1, True)
    with pytest.raises(MigrationFileError, match=r"V1__one\.sql: version 1 is older"):
        pending_migrations(found, [three])


def test_splitter_keeps_semicolons_inside_quotes_comments_and_bodies() -> None:
    """Semicolons in strings, comments, dollar quotes and trigger bodies do not split."""
    pg = """
    -- a comment; with a semicolon
    INSERT INTO t VALUES ('a;b', E'it\\'s;', "odd;name");
    /* block; /* nested; */ still comment; */
    CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql;
    CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;
    SELECT 3
    """
    statements = split_statements(pg, "postgresql")
    assert [s.first_word for s in statements] == ["INSERT", "CREATE", "CREATE", "SELECT"]
    assert statements[0].line == 3
    assert statements[3].text == "SELECT 3"
    sqlite = (
        "CREATE TABLE t (a);\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = 1; DELETE FROM t; END;\n"
        "SELECT [weird;name] FROM t;"
    )
    assert [s.index for s in split_statements(sqlite, "sqlite")] == [1, 2, 3]


def test_splitter_reports_unterminated_dollar_quote() -> None:
    """An unterminated dollar quote is a syntax error with its line."""
    with pytest.raises(SqlSyntaxError) as caught:
        split_statements("SELECT 1;\nSELECT $x$ open", "postgresql")
    assert caught.value.line == 2


@pytest.mark.parametrize(
    ("rows", "ok"),
    [
        ([], True),
        ([(True,)], True),
        ([(1,)], True),
        ([("t",)], True),
        ([(False,)], False),
        ([(0,)], False),
        ([(1,), (1,)], False),
        ([("orphan row", 3)], False),
    ],
)
def test_verify_rule(rows: list[tuple[object, ...]], ok: bool) -> None:
    """A verify.sql query passes with no rows or a single true first column."""
    assert passes(rows) is ok


def test_copy_row_counter_handles_chunk_boundaries() -> None:
    """Rows per table are counted in a pg_restore script, whatever the chunk sizes."""
    script = (
        b"SET x = 1;\nCOPY public.t (a, b) FROM stdin;\n1\tx\n2\ty\\nz\n\\.\n\n"
        b'COPY public."we ird" (a) FROM stdin;\n\\.\n'
        b"COPY s.big (a) FROM stdin;\n" + b"".join(b"%d\n" % i for i in range(5000)) + b"\\.\n"
    )
    for size in (1, 2, 3, 7, 64, 1 << 20):
        assert count_copy_rows(io.BytesIO(script), chunk_size=size) == {
            "public.t": 2,
            'public."we ird"': 0,
            "s.big": 5000,
        }


def test_url_with_password_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """A password inside database.url is a configuration error that does not print it."""
    config = tmp_path / "turnout.toml"
    config.write_text(
        '[app]\nname = "a"\n[environments.prod]\ntarget = { kind = "fake" }\n'
        'database = { url = "postgresql://app:hunter2@db:5432/app" }\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert caught.value.key == "environments.prod.database.url"
    assert "hunter2" not in caught.value.message
    config.write_text(
        '[app]\nname = "a"\n[environments.prod]\ntarget = { kind = "fake" }\n'
        'database = { url = "sqlite:///a.db", history_table = "x; drop" }\n'
    )
    with pytest.raises(ConfigError, match="history_table"):
        load_config(config)
