"""T-SQL scripts split at GO as sqlcmd does; statements a per-file transaction cannot hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from turnout.database.migrations import load_folder
from turnout.database.sqlsplit import SqlSyntaxError, split_statements
from turnout.errors import MigrationFileError


def _texts(script: str) -> list[str]:
    return [" ".join(s.text.split()) for s in split_statements(script, "mssql")]


def test_go_alone_on_its_line_separates_batches() -> None:
    """GO in any case, with spaces and a trailing comment, ends a batch; semicolons do not."""
    script = "CREATE TABLE a (id INT);\nINSERT a VALUES (1);\n  go  -- next\nSELECT 1\nGO\n"
    assert _texts(script) == ["CREATE TABLE a (id INT); INSERT a VALUES (1);", "SELECT 1"]


def test_go_with_a_count_repeats_the_batch() -> None:
    """`GO 3` sends the batch three times, each numbered in order."""
    batches = split_statements("INSERT t DEFAULT VALUES\nGO 3\nSELECT 1\n", "mssql")
    assert [b.index for b in batches] == [1, 2, 3, 4]
    assert [b.first_word for b in batches] == ["INSERT"] * 3 + ["SELECT"]


@pytest.mark.parametrize(
    "script",
    [
        "SELECT 'a\nGO\nb'\n",
        "SELECT N'it''s\nGO\nstill a string'\n",
        "SELECT 1 /* a comment\nGO\n*/\n",
        "SELECT 1 /* outer /* nested */\nGO\n*/\n",
        "SELECT [odd\nGO\nname] FROM t\n",
        'SELECT "odd\nGO\nname" FROM t\n',
        "SELECT 1 -- GO\n",
        "SELECT 1 GO\n",
        "GOTO done\ndone: SELECT 1\n",
    ],
)
def test_go_inside_strings_comments_or_a_line_is_not_a_separator(script: str) -> None:
    """GO inside a string, identifier, comment, or not alone on its line, splits nothing."""
    assert len(split_statements(script, "mssql")) == 1


def test_batch_line_is_the_line_of_its_first_word() -> None:
    """A batch's line number (for messages) skips blank lines and leading comments."""
    batches = split_statements("SELECT 1\nGO\n\n-- about b\nSELECT 2\n", "mssql")
    assert [b.line for b in batches] == [1, 5]


def test_empty_batches_are_dropped() -> None:
    """Batches of only blank lines and comments are not sent."""
    assert _texts("GO\n-- nothing\nGO\nSELECT 1\nGO\nGO\n") == ["SELECT 1"]


@pytest.mark.parametrize(
    ("script", "line"),
    [("SELECT 1\nGO\nSELECT 'open\n", 3), ("/* open\nSELECT 1\n", 1), ("SELECT 1\nGO 0\n", 2)],
)
def test_unsplittable_script_names_the_line(script: str, line: int) -> None:
    """An unterminated string or comment, or a GO count of 0, is an error at its line."""
    with pytest.raises(SqlSyntaxError) as caught:
        split_statements(script, "mssql")
    assert caught.value.line == line


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("BEGIN TRANSACTION\nUPDATE t SET a = 1\nCOMMIT\n", "BEGIN TRANSACTION"),
        ("UPDATE t SET a = 1\nROLLBACK\n", "ROLLBACK"),
        ("SAVE TRAN here\n", "SAVE TRAN"),
        ("ALTER DATABASE CURRENT SET READ_COMMITTED_SNAPSHOT ON\n", "ALTER DATABASE"),
        ("CREATE FULLTEXT INDEX ON t (a) KEY INDEX pk\n", "CREATE FULLTEXT INDEX"),
        ("BACKUP DATABASE d TO DISK = 'x'\n", "BACKUP"),
    ],
)
def test_migration_refuses_what_its_transaction_cannot_hold(
    tmp_path: Path, body: str, words: str
) -> None:
    """Own transaction control and statements SQL Server refuses in a transaction are exit 2,
    naming the file and the line of the batch."""
    (tmp_path / "V001__x.sql").write_text("CREATE TABLE t (a INT)\nGO\n" + body)
    with pytest.raises(MigrationFileError) as caught:
        load_folder(tmp_path, "mssql")
    message = str(caught.value)
    assert "V001__x.sql: line 3:" in message
    assert words in message


def test_migration_with_blocks_procedures_and_quoted_words_loads(tmp_path: Path) -> None:
    """BEGIN...END blocks, a procedure in its own batch and words inside strings pass."""
    (tmp_path / "V001__add_rewards_table.sql").write_text(
        "CREATE TABLE dbo.Rewards (id INT PRIMARY KEY, note NVARCHAR(50))\nGO\n"
        "CREATE PROCEDURE dbo.AddReward @id INT AS\nBEGIN\n"
        "  INSERT dbo.Rewards VALUES (@id, N'COMMIT or ROLLBACK; BACKUP later')\nEND\nGO\n"
        "GRANT ALTER DATABASE TO ops -- a permission, not the statement\n"
    )
    loaded = load_folder(tmp_path, "mssql")
    assert len(loaded.migrations[0].statements("mssql")) == 3
