"""The not-backward-compatible mark on a migration file: a comment line of its own."""

from __future__ import annotations

from turnout.database.compatibility import MARK, incompatible, marked_incompatible
from turnout.database.migrations import Migration


def _migration(filename: str, sql: str) -> Migration:
    return Migration("1", "x", filename, "0" * 64, sql, filename)


def test_the_mark_is_a_line_of_its_own_in_any_case_and_spacing() -> None:
    """The mark counts on its own line, whatever its case and spaces; inside another line
    (a longer comment, a statement) it does not."""
    assert marked_incompatible(f"{MARK}\nALTER TABLE t DROP COLUMN c;\n")
    assert marked_incompatible(
        "CREATE TABLE t (id INT);\n  --   TURNOUT:  Not-Backward-Compatible  \n"
    )
    assert not marked_incompatible("-- this is not-backward-compatible, says turnout\n")
    assert not marked_incompatible("SELECT '-- turnout: not-backward-compatible';\n")
    assert not marked_incompatible("-- turnout: backward-compatible\n")


def test_incompatible_names_the_marked_files_in_order() -> None:
    """Only the marked migrations are named, in the order given."""
    files = [
        _migration("V002__drop.sql", f"{MARK}\nDROP TABLE old;\n"),
        _migration("V003__add.sql", "ALTER TABLE t ADD COLUMN d INT;\n"),
        _migration("V004__rename.sql", f"ALTER TABLE t RENAME COLUMN a TO b;\n{MARK}\n"),
    ]
    assert incompatible(files) == ["V002__drop.sql", "V004__rename.sql"]
