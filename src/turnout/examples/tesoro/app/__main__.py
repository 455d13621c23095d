"""`python -m app`: serve tesoro on 127.0.0.1:$PORT with the database at $TESORO_DB."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path
from types import FrameType

from . import release
from .db import Database
from .server import TesoroServer
from .service import Service


def main() -> int:
    """Run until SIGTERM or SIGINT; exit 0 after a clean stop, 2 on bad settings."""
    host = os.environ.get("HOST", "127.0.0.1")
    try:
        port = int(os.environ.get("PORT", "8000"))
        seed = int(os.environ.get("TESORO_FAULT_SEED", "8"))
    except ValueError as exc:
        print(f"tesoro: PORT and TESORO_FAULT_SEED must be integers ({exc})", file=sys.stderr)
        return 2
    raw_db = os.environ.get("TESORO_DB", "tesoro.db")
    if "{" in raw_db:
        # A template the launcher did not fill in would silently create a stray database.
        print(f"tesoro: TESORO_DB has an unexpanded placeholder: {raw_db}", file=sys.stderr)
        return 2
    db_path = Path(raw_db).expanduser().absolute()

    db = Database(db_path)
    try:
        db.bootstrap()
    except sqlite3.Error as exc:
        print(f"tesoro: cannot open database {db_path}: {exc}", file=sys.stderr)
        return 1
    try:
        switch = os.environ.get("TESORO_FAULT_FILE")
        service = Service(db, fault_seed=seed, fault_switch=Path(switch) if switch else None)
        server = TesoroServer((host, port), service)
    except OSError as exc:
        print(f"tesoro: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, so it cannot run on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"tesoro {release.VERSION} listening on http://{host}:{port} (database {db_path})",
        flush=True,
    )
    try:
        # A short poll interval makes SIGTERM stop the server promptly.
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        db.close()
    print(f"tesoro {release.VERSION} stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
