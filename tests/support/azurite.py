"""A real Azure Storage emulator (Azurite's blob service, from the npm registry) for the test.

`make test` installs the pinned package (tests/azurite/package.json and its lock file)
with `npm ci`; each test run starts azurite-blob on a free loopback port, in memory, and
stops it at the end. The account is Azurite's documented development account.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

AZURITE = Path(__file__).resolve().parents[1] / "azurite" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's well-known development account key (its documentation publishes it)."""


@dataclass(frozen=True)
class Azurite:
    """A running blob emulator: its account URL and key."""

    account_url: str
    key: str = KEY


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_azurite(folder: Path) -> Iterator[Azurite]:
    """azurite-blob on a free loopback port, in memory, until the block ends."""
    if not AZURITE.exists():
        raise RuntimeError(
            f"{AZURITE} is missing: run `make test` (or `npm ci` in tests/azurite) first"
        )
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = (folder / "azurite.log").open("wb")
    process = subprocess.Popen(
        [
            str(AZURITE),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--silent",
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=folder,  # where it would write its debug log, if asked to
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"azurite-blob exited: {(folder / 'azurite.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("azurite-blob did not listen within 30 s") from None
                time.sleep(0.05)
        yield Azurite(f"http://127.0.0.1:{port}/{ACCOUNT}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
