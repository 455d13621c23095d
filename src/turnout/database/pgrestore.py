"""PostgreSQL restore: one psql transaction that commits only a whole, verified archive.

psql runs, in one transaction: the preamble (which empties the database), the
script `pg_restore` writes from the archive (read by psql directly, never
through this process), then a verdict pipe, then a check. Only when
`pg_restore` ended successfully and the file's sha256 (computed while it was
read) matched does turnout write the verdict into the pipe; without it, the
check raises an error and psql rolls back. If turnout is killed, the pipe ends
empty: rolled back too.

An archive with large objects is restored in two scripts (everything else,
then the large objects' data) because pg_restore wraps that data in its own
BEGIN/COMMIT, which would commit the transaction half-way; turnout feeds that
second, small script to psql without those two lines.

The check also counts every table's rows inside the transaction (from the
transaction's own insert statistics for tables it created, else `count(*)`)
and fails when they differ from the backup's, so a wrong count is never
committed either.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import IO

from turnout.database.checksums import check_checksum, file_sha256
from turnout.database.driver import DatabaseError
from turnout.database.pgstream import read_text, write_all

# Written into psql's verdict pipe once pg_restore ended well and the checksum matched.
VERDICT = b"\\set turnout_restore_verified on\n"
# psql prints this marker and the restored row counts (JSON) on one line.
ROWS_MARKER = "turnout-restored-rows"

_ROW_COUNTS = """SELECT coalesce(jsonb_object_agg(x.name, CASE
    WHEN current_setting('track_counts')::boolean AND age(c.xmin) = 0
    THEN pg_stat_get_xact_tuples_inserted(x.oid)
    ELSE (xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM ONLY ' || x.name,
          false, true, '')))[1]::text::bigint END), '{{}}'::jsonb) AS turnout_rows
FROM ({tables}) AS x(name, oid) JOIN pg_class c ON c.oid = x.oid
\\gset
"""


def _literal(text: str) -> str:
    """A dollar-quoted SQL literal whose tag does not occur in the text."""
    tag = "turnout"
    while f"${tag}$" in text:
        tag += "_"
    return f"${tag}${text}${tag}$"


def commit_check(tables_sql: str, expected: dict[str, int] | None) -> str:
    """psql's last file: fail without the verdict; count rows; fail on a count mismatch."""
    lines = [
        "\\if :{?turnout_restore_verified}",
        _ROW_COUNTS.format(tables=tables_sql).rstrip("\n"),
        f"\\echo {ROWS_MARKER} :turnout_rows",
    ]
    if expected is not None:
        wanted = _literal(json.dumps(expected, sort_keys=True))
        lines += [
            f"SELECT :'turnout_rows'::jsonb = {wanted}::jsonb AS turnout_rows_match \\gset",
            "\\if :turnout_rows_match",
            "\\else",
            # The counts travel through settings: no name ever appears inside the DO body.
            "SELECT set_config('turnout.restored_rows', :'turnout_rows', true),"
            f" set_config('turnout.expected_rows', {wanted}, true);",
            "DO $turnout_check$ BEGIN RAISE EXCEPTION"
            " 'restored row counts % differ from the backup''s %',"
            " current_setting('turnout.restored_rows'), current_setting('turnout.expected_rows');"
            " END $turnout_check$;",
            "\\endif",
        ]
    lines += [
        "\\else",
        "DO $$ BEGIN RAISE EXCEPTION 'restore input incomplete or not verified; rolled back';"
        " END $$;",
        "\\endif",
    ]
    return "\n".join(lines) + "\n"


def restore_archive(
    *,
    psql: str,
    pg_restore: str,
    path: Path,
    sha256: str,
    preamble: str,
    check: str,
    env: dict[str, str],
    target: str,
    scripts: Path,
) -> dict[str, int]:
    """Run the transaction; the restored row counts, or DatabaseError/Refused with nothing
    changed. `scripts` is a private folder for the preamble, the check and the lists."""
    (scripts / "preamble.sql").write_text(preamble, encoding="utf-8")
    (scripts / "commit_check.sql").write_text(check, encoding="utf-8")
    commands = _restore_commands(pg_restore, path, sha256, env, scripts)
    with ThreadPoolExecutor(max_workers=6) as pool:
        digest = pool.submit(file_sha256, path)
        readers: list[subprocess.Popen[bytes]] = []
        filters: list[Future[bool]] = []
        read_ends: list[int] = []
        verdict_write: int | None = None
        try:
            for cmd in commands:
                readers.append(
                    subprocess.Popen(
                        cmd,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                    )
                )
            extra_files: list[str] = []
            for reader in readers[1:]:
                # Large objects come as their own script, whose BEGIN/COMMIT would end the
                # one transaction half-way: psql reads it through a filter without them.
                read_end, write_end = os.pipe()
                read_ends.append(read_end)
                assert reader.stdout is not None
                # The filter closes its end when the script ends (or its reader is killed).
                filters.append(pool.submit(_without_transaction_lines, reader.stdout, write_end))
                extra_files.append(f"--file=/dev/fd/{read_end}")
            verdict_read, verdict_write = os.pipe()
            read_ends.append(verdict_read)
            loader = subprocess.Popen(
                [
                    psql,
                    "--no-psqlrc",
                    "--quiet",
                    "--single-transaction",
                    "--set=ON_ERROR_STOP=1",
                    "--no-password",
                    f"--file={scripts / 'preamble.sql'}",
                    "--file=-",
                    *extra_files,
                    f"--file=/dev/fd/{verdict_read}",
                    f"--file={scripts / 'commit_check.sql'}",
                ],
                env=env,
                stdin=readers[0].stdout,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=tuple(read_ends),
            )
        except BaseException:
            for reader in readers:
                reader.kill()
                reader.wait()
            if verdict_write is not None:
                os.close(verdict_write)
            raise
        finally:
            for fd in read_ends:
                os.close(fd)  # psql holds its own copies
            if readers and readers[0].stdout is not None:
                readers[0].stdout.close()  # psql alone reads the main script
        out = pool.submit(read_text, loader.stdout)
        loader_err = pool.submit(read_text, loader.stderr)
        reader_errs = [pool.submit(read_text, r.stderr) for r in readers]
        try:
            for reader in readers:
                reader.wait()
            # Every script fully handed to psql, the archive read whole, the file unchanged.
            passed_on = all(f.result() for f in filters)
            whole = all(r.returncode == 0 for r in readers)
            if passed_on and whole and digest.result() == sha256:
                with suppress(BrokenPipeError):
                    write_all(verdict_write, VERDICT)
        except BaseException:
            for process in (*readers, loader):
                process.kill()
            raise
        finally:
            os.close(verdict_write)
            for reader in readers:
                reader.wait()
            loader.wait()
    # A changed file is refused as such, whatever psql or pg_restore made of it.
    check_checksum(path, sha256, digest.result())
    for reader, err in zip(readers, reader_errs, strict=True):
        if reader.returncode > 0:
            raise DatabaseError(f"{path}: pg_restore failed (nothing was changed): {err.result()}")
    if loader.returncode != 0 or any(r.returncode != 0 for r in readers):
        if ROWS_MARKER in out.result():
            # Everything passed up to COMMIT: psql lost the server while committing, and
            # only the server knows whether the commit happened.
            raise DatabaseError(
                f"restore into {target}: the connection ended while committing, so whether"
                f" the backup was restored is unknown: {loader_err.result()}; check the"
                " database, then restore again"
            )
        raise DatabaseError(
            f"restore into {target} failed (nothing was changed): {loader_err.result()}"
        )
    return _restored_rows(out.result(), target)


def _restore_commands(
    pg_restore: str, path: Path, sha256: str, env: dict[str, str], scripts: Path
) -> list[list[str]]:
    """The pg_restore runs whose scripts psql reads: the whole archive, or, when it holds
    large objects, everything else and then the large objects' data on their own."""
    listed = subprocess.run(
        [pg_restore, "--list", str(path)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        check_checksum(path, sha256)  # a changed file is refused as such
        message = listed.stderr.decode(errors="replace").strip()
        raise DatabaseError(f"{path}: pg_restore cannot read the archive: {message}")
    toc = listed.stdout.decode(errors="replace").splitlines()
    blobs = {line for line in toc if _is_blobs_entry(line)}
    if not blobs:
        return [[pg_restore, "--file=-", str(path)]]
    rest = [f";{line}" if line in blobs else line for line in toc]
    (scripts / "without-blobs.list").write_text("\n".join(rest) + "\n", encoding="utf-8")
    (scripts / "blobs.list").write_text("\n".join(sorted(blobs)) + "\n", encoding="utf-8")
    return [
        [pg_restore, f"--use-list={scripts / 'without-blobs.list'}", "--file=-", str(path)],
        [pg_restore, f"--use-list={scripts / 'blobs.list'}", "--file=-", str(path)],
    ]


def _is_blobs_entry(line: str) -> bool:
    # `3340; 0 0 BLOBS - BLOBS `: dump id; catalog oid, object oid, then the entry's type.
    head, _, rest = line.partition(";")
    fields = rest.split()
    return head.isdigit() and len(fields) >= 3 and fields[2] == "BLOBS"


def _without_transaction_lines(source: IO[bytes], fd: int) -> bool:
    """Copy a large-object script (SET and SELECT lo_* lines) without pg_restore's BEGIN
    and COMMIT around it; its lines never hold data that could look like them. True once
    all of it was passed on."""
    try:
        for line in source:
            if line.strip() not in (b"BEGIN;", b"COMMIT;"):
                write_all(fd, line)
        return True
    except BrokenPipeError:
        return False  # psql stopped on an error; its message says why
    finally:
        source.close()
        os.close(fd)


def _restored_rows(output: str, target: str) -> dict[str, int]:
    for line in output.splitlines():
        if line.startswith(ROWS_MARKER + " "):
            counts = json.loads(line[len(ROWS_MARKER) + 1 :])
            return {str(k): int(v) for k, v in counts.items()}
    raise DatabaseError(f"restore into {target}: psql did not report the restored row counts")
