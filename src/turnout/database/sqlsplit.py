"""Split a SQL script into statements the way the database itself would read it.

Semicolons end statements only outside quotes ('...', "...", E'...', dollar
quotes), comments (-- and nested /* */), SQLite trigger bodies (BEGIN ... END)
and PostgreSQL `BEGIN ATOMIC ... END` function bodies.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Literal

from turnout.database.statements import SqlSyntaxError, Statement

__all__ = ["Dialect", "SqlSyntaxError", "Statement", "split_statements"]

Dialect = Literal["sqlite", "postgresql", "mssql"]
"""mssql: SQL Server and Azure SQL, whose scripts are split at GO (mssql_batches.py)."""

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_ROUTINE = re.compile(r"CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE)\b", re.IGNORECASE)


def split_statements(script: str, dialect: Dialect) -> list[Statement]:
    """Statements of `script` in order; empty ones (only comments) are dropped."""
    if dialect == "mssql":
        from turnout.database.mssql_batches import split_batches

        return split_batches(script)
    return _Splitter(script, dialect).split()


class _Splitter:
    def __init__(self, script: str, dialect: Dialect) -> None:
        self.s = script
        self.dialect = dialect
        self.statements: list[Statement] = []

    def split(self) -> list[Statement]:
        s, n = self.s, len(self.s)
        i = 0
        start = 0
        first_at: int | None = None  # offset of the statement's first meaningful character
        first_word = ""
        depth = 0  # BEGIN ... END nesting inside routine bodies (PostgreSQL)
        routine = False
        while i < n:
            c = s[i]
            if c == "-" and s.startswith("--", i):
                end = s.find("\n", i)
                i = n if end < 0 else end + 1
                continue
            if c == "/" and s.startswith("/*", i):
                i = self._block_comment(i)
                continue
            if c.isspace():
                i += 1
                continue
            if first_at is None:
                first_at = i
            if c == "'":
                # E'...' strings take backslash escapes (PostgreSQL).
                backslashes = (
                    self.dialect == "postgresql"
                    and i > 0
                    and s[i - 1] in "eE"
                    and self._word_start(i - 1)
                )
                i = self._quoted(i, "'", backslashes)
                continue
            if c == '"':
                i = self._quoted(i, '"', False)
                continue
            if self.dialect == "sqlite" and c == "`":
                i = self._quoted(i, "`", False)
                continue
            if self.dialect == "sqlite" and c == "[":
                end = s.find("]", i + 1)
                if end < 0:
                    raise SqlSyntaxError(self._line(i), "unterminated [identifier]")
                i = end + 1
                continue
            if self.dialect == "postgresql" and c == "$":
                match = _DOLLAR_TAG.match(s, i)
                if match and (i == 0 or not (s[i - 1].isalnum() or s[i - 1] == "_")):
                    tag = match.group(0)
                    end = s.find(tag, match.end())
                    if end < 0:
                        raise SqlSyntaxError(self._line(i), f"unterminated {tag} quoted string")
                    i = end + len(tag)
                    continue
            word = _WORD.match(s, i) if (c.isalpha() or c == "_") else None
            if word:
                token = word.group(0).upper()
                if not first_word:
                    first_word = token
                    routine = self.dialect == "postgresql" and bool(_ROUTINE.match(s, i))
                if routine:
                    if token == "BEGIN" or (token == "CASE" and depth > 0):
                        depth += 1
                    elif token == "END" and depth > 0:
                        depth -= 1
                i = word.end()
                continue
            if c == ";" and depth == 0 and self._complete(start, i + 1):
                self._emit(start, i, first_at, first_word)
                start, first_at, first_word, routine = i + 1, None, "", False
                i += 1
                continue
            i += 1
        self._emit(start, n, first_at, first_word)
        return self.statements

    def _complete(self, start: int, end: int) -> bool:
        # SQLite knows its own grammar (trigger bodies contain semicolons).
        if self.dialect == "sqlite":
            return sqlite3.complete_statement(self.s[start:end])
        return True

    def _emit(self, start: int, end: int, first_at: int | None, first_word: str) -> None:
        if first_at is None:
            return
        text = self.s[start:end].strip()
        self.statements.append(
            Statement(len(self.statements) + 1, self._line(first_at), text, first_word)
        )

    def _word_start(self, i: int) -> bool:
        return i == 0 or not (self.s[i - 1].isalnum() or self.s[i - 1] == "_")

    def _quoted(self, i: int, quote: str, backslashes: bool) -> int:
        s, n = self.s, len(self.s)
        j = i + 1
        while j < n:
            ch = s[j]
            if backslashes and ch == "\\":
                j += 2
                continue
            if ch == quote:
                if j + 1 < n and s[j + 1] == quote:
                    j += 2
                    continue
                return j + 1
            j += 1
        raise SqlSyntaxError(self._line(i), f"unterminated {quote}...{quote} quoted text")

    def _block_comment(self, i: int) -> int:
        s, n = self.s, len(self.s)
        nesting = 0
        j = i
        while j < n:
            if s.startswith("/*", j):
                nesting += 1
                j += 2
                # SQLite comments do not nest; PostgreSQL's do.
                if self.dialect == "sqlite" and nesting > 1:
                    nesting = 1
                continue
            if s.startswith("*/", j):
                nesting -= 1
                j += 2
                if nesting == 0:
                    return j
                continue
            j += 1
        if self.dialect == "sqlite":
            return n  # SQLite accepts a comment that runs to the end of the script
        raise SqlSyntaxError(self._line(i), "unterminated /* comment")

    def _line(self, offset: int) -> int:
        return self.s.count("\n", 0, offset) + 1
