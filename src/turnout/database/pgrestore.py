"""PostgreSQL restore: one psql transaction that commits only a whole, verified archive.

psql runs, in one transaction: the preamble (which empties the database), the
script `pg_restore` writes from the archive (read by psql directly, never
through this process), then a verdict pipe, then a check. Only when
`pg_restore` ended successfully and the file's sha256 (computed while it was
read) matched does turnout write the verdict into the pipe; without it, the
check raises an error and psql rolls back. If turnout is killed, the pipe ends
empty: rolled back too.

The check also counts every table's rows inside the transaction (from the
transaction's own insert statistics for tables it created, else `count(*)`)
and fails when they differ from the backup's, so a wrong count is never
committed either.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import IO

from turnout.database.checksums import check_checksum, file_sha256
from turnout.database.driver import DatabaseError
from turnout.database.pgstream import write_all

# Written into psql's verdict pipe once pg_restore ended well and the checksum matched.
VERDICT = b"\\set turnout_restore_verified on\n"
# psql prints this marker and the restored row counts (JSON) on one line.
ROWS_MARKER = "turnout-restored-rows"

_ROW_COUNTS = """SELECT coalesce(jsonb_object_agg(x.name, CASE
    WHEN current_setting('track_counts')::boolean AND age(c.xmin) = 0
    THEN pg_stat_get_xact_tuples_inserted(x.oid)
    ELSE (xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM ' || x.name,
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
            "SELECT set_config('turnout.restored_rows', :'turnout_rows', true);",
            "DO $$ BEGIN RAISE EXCEPTION 'restored row counts % differ from the backup''s %',"
            f" current_setting('turnout.restored_rows'), {wanted}; END $$;",
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
    changed. `scripts` is a private folder for the preamble and the check."""
    (scripts / "preamble.sql").write_text(preamble, encoding="utf-8")
    (scripts / "commit_check.sql").write_text(check, encoding="utf-8")
    with ThreadPoolExecutor(max_workers=4) as pool:
        digest = pool.submit(file_sha256, path)
        restore = subprocess.Popen(
            [pg_restore, "--file=-", str(path)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        verdict_read, verdict_write = os.pipe()
        try:
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
                    f"--file=/dev/fd/{verdict_read}",
                    f"--file={scripts / 'commit_check.sql'}",
                ],
                env=env,
                stdin=restore.stdout,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(verdict_read,),
            )
        except BaseException:
            restore.kill()
            restore.wait()
            os.close(verdict_write)
            raise
        finally:
            os.close(verdict_read)
            assert restore.stdout is not None
            restore.stdout.close()  # psql alone reads the script
        out = pool.submit(_read, loader.stdout)
        loader_err = pool.submit(_read, loader.stderr)
        restore_err = pool.submit(_read, restore.stderr)
        try:
            restore.wait()
            if restore.returncode == 0 and digest.result() == sha256:
                with suppress(BrokenPipeError):
                    write_all(verdict_write, VERDICT)
        except BaseException:
            restore.kill()
            loader.kill()
            raise
        finally:
            os.close(verdict_write)
            restore.wait()
            loader.wait()
    # A changed file is refused as such, whatever psql or pg_restore made of it.
    check_checksum(path, sha256, digest.result())
    if restore.returncode > 0:
        raise DatabaseError(
            f"{path}: pg_restore failed (nothing was changed): {restore_err.result()}"
        )
    if loader.returncode != 0 or restore.returncode != 0:
        raise DatabaseError(
            f"restore into {target} failed (nothing was changed): {loader_err.result()}"
        )
    return _restored_rows(out.result(), target)


def _restored_rows(output: str, target: str) -> dict[str, int]:
    for line in output.splitlines():
        if line.startswith(ROWS_MARKER + " "):
            counts = json.loads(line[len(ROWS_MARKER) + 1 :])
            return {str(k): int(v) for k, v in counts.items()}
    raise DatabaseError(f"restore into {target}: psql did not report the restored row counts")


def _read(stream: IO[bytes] | None) -> str:
    return stream.read().decode(errors="replace").strip() if stream is not None else ""
