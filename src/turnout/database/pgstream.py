"""pg_dump's archive read once: written to the backup file, hashed, and read back by pg_restore.

Verification overlaps the dump instead of following it: every chunk pg_dump
writes goes into the backup file (created 0600, fsynced at the end, as
`pg_dump --file` does), into the sha256, and into a concurrent `pg_restore
--data-only --file=-` whose script's COPY rows are counted per table. When
pg_dump ends, the checksum and the archive's row counts are ready.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from turnout.database.driver import DatabaseError, iter_chunks

CHUNK = 1 << 20
PIPE_BYTES = 1 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class StreamedDump:
    """What was written, its sha256, and the rows per table pg_restore read back from it."""

    size: int
    sha256: str
    archive_counts: dict[str, int]


def stream_dump(
    dump_cmd: list[str], reader_cmd: list[str], dest: Path, env: dict[str, str], source: str
) -> StreamedDump:
    """Run `dump_cmd` (archive on stdout) into `dest`, hashing it and feeding `reader_cmd`
    (a pg_restore writing its script on stdout) at the same time; DatabaseError (and no
    file left) if either fails."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        dump = _start(procs, dump_cmd, env, stdin=subprocess.DEVNULL)
        reader = _start(procs, reader_cmd, env, stdin=subprocess.PIPE)
        assert dump.stdout is not None and reader.stdin is not None and reader.stdout is not None
        dump_err = _in_thread(read_text, dump.stderr)
        reader_err = _in_thread(read_text, reader.stderr)
        counted = _in_thread(count_copy_rows, reader.stdout)
        widen(dump.stdout.fileno())
        widen(reader.stdin.fileno())
        h = hashlib.sha256()
        size = 0
        feeding = True
        stopped = False
        while chunk := dump.stdout.read(CHUNK):
            write_all(fd, chunk)
            h.update(chunk)
            size += len(chunk)
            if feeding:
                try:
                    write_all(reader.stdin.fileno(), chunk)
                except BrokenPipeError:
                    # pg_restore stopped reading: either it has every table's data (what
                    # follows is not data it restores) or it failed; keep the file going
                    # in the first case, stop the dump in the second.
                    feeding = False
                    if reader.wait() != 0:
                        dump.kill()
                        stopped = True
                        break
        with contextlib.suppress(BrokenPipeError):
            reader.stdin.close()
        os.fsync(fd)
        written = os.fstat(fd).st_size
        dump.wait()
        reader.wait()
        counts = counted.result()
        if dump.returncode != 0 and not stopped:
            raise DatabaseError(f"pg_dump of {source} failed: {dump_err.result()}")
        if reader.returncode != 0:
            raise DatabaseError(
                f"{dest}: the archive pg_dump wrote cannot be read by pg_restore:"
                f" {reader_err.result()}"
            )
        if written != size:
            raise DatabaseError(f"{dest}: {written} bytes on disk, {size} written")
        return StreamedDump(size, h.hexdigest(), counts)
    except OSError as exc:
        dest.unlink(missing_ok=True)
        raise DatabaseError(f"backup of {source} to {dest} failed: {exc}") from exc
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        os.close(fd)


def _start(
    procs: list[subprocess.Popen[bytes]], cmd: list[str], env: dict[str, str], *, stdin: int
) -> subprocess.Popen[bytes]:
    # Unbuffered: reads return what the pipe holds, writes go straight to the pipe.
    proc = subprocess.Popen(
        cmd, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
    )
    procs.append(proc)
    return proc


def _in_thread(work: Callable[[IO[bytes]], T], stream: IO[bytes] | None) -> Future[T]:
    """Run `work(stream)` on a daemon thread; its result or exception in a Future."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            assert stream is not None
            future.set_result(work(stream))
        except BaseException as exc:  # handed to whoever reads the result
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


def read_text(stream: IO[bytes] | None) -> str:
    """Everything a child process wrote to a pipe (its stderr), as text for a message."""
    if stream is None:
        return ""
    return b"".join(iter_chunks(stream)).decode(errors="replace").strip()


def widen(fd: int) -> None:
    """Enlarge a pipe's buffer where the system allows."""
    # Larger pipes mean fewer wake-ups per gigabyte; the default 64 KiB works too.
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to a file descriptor (os.write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def count_copy_rows(stream: IO[bytes], chunk_size: int = CHUNK) -> dict[str, int]:
    """Rows per table in a pg_restore SQL script (one line per row in each COPY block)."""
    counts: dict[str, int] = {}
    buf = b""
    in_data = False
    table = ""
    rows = 0
    for chunk in iter_chunks(stream, chunk_size):
        buf += chunk
        pos = 0
        while True:
            if not in_data:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    break
                line = buf[pos:nl]
                pos = nl + 1
                if line.startswith(b"COPY ") and line.endswith(b" FROM stdin;"):
                    table, rows, in_data = _copy_table(line), 0, True
                continue
            # In a data block, positioned at the start of a line.
            if buf.startswith(b"\\.\n", pos):
                counts[table] = rows
                pos += 3
                in_data = False
                continue
            if len(buf) - pos < 3:
                break
            end = buf.find(b"\n\\.\n", pos)
            if end < 0:
                last = buf.rfind(b"\n", pos)
                if last < 0:
                    break
                rows += buf.count(b"\n", pos, last + 1)
                pos = last + 1
                break
            rows += buf.count(b"\n", pos, end + 1)
            counts[table] = rows
            pos = end + 4
            in_data = False
        buf = buf[pos:]
    return counts


def _copy_table(line: bytes) -> str:
    # `COPY schema.name (cols) FROM stdin;`: the name ends at the first space outside quotes.
    text = line[5:].decode("utf-8", errors="replace")
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == " " and not quoted:
            return text[:i]
    return text
