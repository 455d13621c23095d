"""Split a T-SQL script into batches at `GO`, the way sqlcmd and SSMS do.

`GO` is not T-SQL: it is the client's batch separator. It counts only alone on its
line (spaces around it, an optional repeat count `GO 5`, an optional trailing `--`
comment), and never inside a string ('...', N'...'), a quoted or bracketed identifier
("...", [...]) or a comment (-- and nested /* */). Each batch goes to the server as
one request; a batch with a count is sent that many times.

Within a batch semicolons are left alone: the server parses the batch itself (a
CREATE PROCEDURE must be the only statement of its batch, which is why scripts use GO).

It also names the statements a migration file may not hold because turnout runs each
file in one transaction: transaction control of its own, and the statements SQL Server
refuses inside a user transaction (Microsoft's list for explicit transactions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from turnout.database.statements import SqlSyntaxError, Statement

_GO = re.compile(r"^[ \t]*GO(?:[ \t]+(?P<count>\d+))?[ \t]*(?:--[^\n]*)?$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z_@#][A-Za-z0-9_@#$]*")
MAX_REPEAT = 1000
"""A larger GO count is almost certainly a typo; sqlcmd would run it nonetheless."""

NOT_IN_TRANSACTION: tuple[tuple[str, ...], ...] = (
    ("ALTER", "DATABASE"),
    ("ALTER", "FULLTEXT", "CATALOG"),
    ("ALTER", "FULLTEXT", "INDEX"),
    ("BACKUP",),
    ("CREATE", "DATABASE"),
    ("CREATE", "FULLTEXT", "CATALOG"),
    ("CREATE", "FULLTEXT", "INDEX"),
    ("DROP", "DATABASE"),
    ("DROP", "FULLTEXT", "CATALOG"),
    ("DROP", "FULLTEXT", "INDEX"),
    ("RECONFIGURE",),
    ("RESTORE",),
)
"""Statements SQL Server does not allow inside an explicit transaction."""

TRANSACTION_CONTROL: tuple[tuple[str, ...], ...] = (
    ("BEGIN", "TRAN"),
    ("BEGIN", "TRANSACTION"),
    ("BEGIN", "DISTRIBUTED"),
    ("COMMIT",),
    ("ROLLBACK",),
    ("SAVE", "TRAN"),
    ("SAVE", "TRANSACTION"),
)
"""A file's own transaction control would end turnout's transaction half-way."""


@dataclass(frozen=True)
class _Token:
    word: str
    line: int


def split_batches(script: str) -> list[Statement]:
    """The batches of `script` in order (a `GO n` batch n times); empty batches dropped."""
    batches: list[Statement] = []
    line_no = 1
    current: list[str] = []
    start_line = 1
    scanner = _Scanner()
    for raw in script.splitlines():
        match = _GO.match(raw) if scanner.outside else None
        if match is not None:
            count = int(match.group("count") or "1")
            if count < 1 or count > MAX_REPEAT:
                raise SqlSyntaxError(line_no, f"GO {count}: the count must be 1 to {MAX_REPEAT}")
            _emit(batches, current, start_line, count)
            current, start_line = [], line_no + 1
        else:
            scanner.feed(raw + "\n", line_no)
            current.append(raw)
        line_no += 1
    if scanner.open_at is not None:
        kind, at = scanner.open_at
        raise SqlSyntaxError(at, f"unterminated {kind}")
    _emit(batches, current, start_line, 1)
    return batches


def _emit(batches: list[Statement], lines: list[str], start_line: int, count: int) -> None:
    text = "\n".join(lines)
    tokens = words(text)
    if not tokens:
        return  # only blank lines and comments
    # The batch's first line is the line of its first word, for messages.
    first = tokens[0]
    body = text.strip()
    for _ in range(count):
        batches.append(Statement(len(batches) + 1, start_line + first.line - 1, body, first.word))


def words(text: str) -> list[_Token]:
    """The words of a batch outside strings, identifiers in quotes and comments, upper-cased."""
    scanner = _Scanner()
    found: list[_Token] = []
    for offset, raw in enumerate(text.splitlines(), start=1):
        scanner.feed(raw + "\n", offset, found)
    return found


def problem_in_migration(statement: Statement) -> str | None:
    """Why this batch cannot run inside turnout's per-file transaction (None: it can)."""
    tokens = [t.word for t in words(statement.text)]
    for i in range(len(tokens)):
        for phrase in TRANSACTION_CONTROL:
            if tuple(tokens[i : i + len(phrase)]) == phrase:
                return (
                    f"{' '.join(phrase)} is not allowed; turnout runs each migration file"
                    " in its own transaction"
                )
        for phrase in NOT_IN_TRANSACTION:
            if tuple(tokens[i : i + len(phrase)]) == phrase and _statement_start(tokens, i):
                return (
                    f"{' '.join(phrase)} cannot run inside a transaction on SQL Server, and"
                    " turnout runs each migration file in one; run it outside the migrations"
                )
    return None


def _statement_start(tokens: list[str], i: int) -> bool:
    # `ALTER DATABASE` after GRANT/DENY/REVOKE is a permission name, not the statement.
    return i == 0 or tokens[i - 1] not in {"GRANT", "DENY", "REVOKE", "ON", "TO"}


class _Scanner:
    """Tracks strings, quoted identifiers and (nested) comments across lines."""

    def __init__(self) -> None:
        self.quote: str | None = None  # the closing character of an open string/identifier
        self.comment_depth = 0
        self.open_at: tuple[str, int] | None = None

    @property
    def outside(self) -> bool:
        """Not inside a string, a quoted identifier or a block comment."""
        return self.quote is None and self.comment_depth == 0

    def feed(self, s: str, line: int, found: list[_Token] | None = None) -> None:
        i, n = 0, len(s)
        while i < n:
            if self.comment_depth:
                if s.startswith("/*", i):
                    self.comment_depth += 1
                    i += 2
                elif s.startswith("*/", i):
                    self.comment_depth -= 1
                    i += 2
                    if not self.comment_depth:
                        self.open_at = None
                else:
                    i += 1
                continue
            if self.quote is not None:
                if s[i] == self.quote:
                    if i + 1 < n and s[i + 1] == self.quote:
                        i += 2  # '' inside '...', ]] inside [...], "" inside "..."
                        continue
                    self.quote = None
                    self.open_at = None
                i += 1
                continue
            c = s[i]
            if s.startswith("--", i):
                return
            if s.startswith("/*", i):
                self.comment_depth = 1
                self.open_at = ("/* comment", line)
                i += 2
                continue
            if c in "'\"[":
                self.quote = "]" if c == "[" else c
                kind = {"'": "'...' string", '"': '"..." identifier', "[": "[identifier]"}[c]
                self.open_at = (kind, line)
                i += 1
                continue
            match = _WORD.match(s, i) if (c.isalpha() or c in "_@#") else None
            if match is not None:
                word = match.group(0).upper()
                # N'...' is a Unicode string literal, not the word N.
                unicode_prefix = word == "N" and match.end() < n and s[match.end()] == "'"
                if found is not None and not unicode_prefix:
                    found.append(_Token(word, line))
                i = match.end()
                continue
            i += 1
