"""Local target figures: swaps under keep-alive load, router overhead, throughput vs nginx.

Runs a real slot host with a small asyncio app in two slots and measures, with a
load generator in its own process:

1. 20 swaps while 32 keep-alive clients send 400 requests/s: failed requests and
   p99 during the swaps against the same load in steady state;
2. added p50 latency at 500 requests/s (router vs straight to the slot process);
3. maximum throughput through the router (and straight to the slot for reference);
4. the same through nginx as a reverse proxy, when nginx is installed, with the
   router/nginx throughput ratio.

Usage: .venv/bin/python benchmarks/swap_under_load.py [--seconds 5]
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APP = r'''
"""A minimal asyncio HTTP/1.1 app: every GET answers a small JSON document."""
import asyncio, os
from pathlib import Path

VERSION = (Path(__file__).parent / "VERSION").read_text().strip()
BODY = ('{"status":"healthy","version":"%s"}' % VERSION).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


class Serve(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        answers = self.buffer.count(b"\r\n\r\n")
        if answers:
            self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(RESPONSE * answers)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Serve, "127.0.0.1", int(os.environ["PORT"]), backlog=1024)
    await server.serve_forever()


asyncio.run(main())
'''


# -- load generator (runs in its own process) ---------------------------------------------
class _Client(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None or self.waiter.done():
            return
        head = self.buffer[:end].lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
        if len(self.buffer) >= end + 4 + length:
            status = int(self.buffer[9:12])
            self.buffer = self.buffer[end + 4 + length :]
            self.waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    async def request(self, payload: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self.waiter


async def _load(
    host: str, port: int, connections: int, rate: float, seconds: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    payload = f"GET /health HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    latencies: list[float] = []
    failures = 0
    errors: dict[str, int] = {}
    statuses: dict[int, int] = {}
    start = time.perf_counter() + 0.2
    deadline = start + seconds
    interval = connections / rate if rate else 0.0

    async def one(index: int) -> None:
        nonlocal failures
        client: _Client | None = None
        due = start + (interval * index / connections if interval else 0.0)
        while True:
            now = time.perf_counter()
            if interval:
                if due > now:
                    await asyncio.sleep(due - now)
                due += interval
            if time.perf_counter() >= deadline:
                break
            try:
                if client is None or client.transport is None or client.transport.is_closing():
                    _, client = await loop.create_connection(_Client, host, port)
                sent = time.perf_counter()
                status = await asyncio.wait_for(client.request(payload), 10)
                latencies.append((time.perf_counter() - sent) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                if status >= 500:
                    failures += 1
            except (OSError, TimeoutError) as exc:
                failures += 1
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                client = None
        if client is not None and client.transport is not None:
            client.transport.close()

    await asyncio.gather(*(one(i) for i in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(latencies) + sum(errors.values()),
        "failed": failures,
        "errors": errors,
        "statuses": statuses,
        "rps": len(latencies) / elapsed,
        "p50": _pct(latencies, 0.50),
        "p99": _pct(latencies, 0.99),
    }


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


# -- orchestration ---------------------------------------------------------------------------
@dataclass
class Load:
    """One load run's figures."""

    requests: int
    failed: int
    rps: float
    p50: float
    p99: float
    errors: dict[str, int]


def _spawn_load(port: int, connections: int, rate: float, seconds: float) -> subprocess.Popen[str]:
    spec = json.dumps([port, connections, rate, seconds])
    return subprocess.Popen(
        [sys.executable, __file__, "--loadgen", spec], stdout=subprocess.PIPE, text=True
    )


def _collect(process: subprocess.Popen[str]) -> Load:
    out, _ = process.communicate(timeout=600)
    data = json.loads(out)
    return Load(
        data["requests"], data["failed"], data["rps"], data["p50"], data["p99"], data["errors"]
    )


def load(port: int, connections: int, rate: float, seconds: float) -> Load:
    """Run the load generator against 127.0.0.1:port and wait for its figures. Unpaced runs
    use `wrk` when it is installed (make benchmark-tools): the Python generator tops out
    below what the router and nginx can serve, which would pull their ratio towards 1."""
    if not rate and shutil.which("wrk"):
        return _wrk(port, connections, seconds)
    return _collect(_spawn_load(port, connections, rate, seconds))


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_ms(text: str) -> float:
    found = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if found is None:
        raise ValueError(f"wrk printed an unexpected latency: {text!r}")
    return float(found.group(1)) * _WRK_UNITS[found.group(2)]


def _wrk_field(pattern: str, out: str) -> str:
    """The first group of `pattern` in wrk's report (a report without it is a wrk error)."""
    found = re.search(pattern, out, re.MULTILINE)
    if found is None:
        raise ValueError(f"wrk's report has no {pattern!r}: {out[-500:]}")
    return found.group(1)


def _wrk(port: int, connections: int, seconds: float) -> Load:
    """One unpaced run of `wrk` with one thread (one core, like the router and nginx)."""
    done = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            f"http://127.0.0.1:{port}/health",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    out = done.stdout
    requests = int(_wrk_field(r"(\d+) requests in", out))
    rps = float(_wrk_field(r"Requests/sec:\s+([0-9.]+)", out))
    p50 = _wrk_ms(_wrk_field(r"^\s*50%\s+(\S+)$", out))
    p99 = _wrk_ms(_wrk_field(r"^\s*99%\s+(\S+)$", out))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (
        {}
        if socket is None
        else {
            name: int(value)
            for name, value in zip(
                ("connect", "read", "write", "timeout"), socket.groups(), strict=True
            )
            if int(value)
        }
    )
    failed = (int(bad.group(1)) if bad else 0) + sum(errors.values())
    return Load(requests, failed, rps, p50, p99, errors)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _package(folder: Path, version: str) -> Path:
    tree = folder / f"app-{version}"
    (tree / "app").mkdir(parents=True)
    (tree / "app" / "__main__.py").write_text(APP)
    (tree / "app" / "__init__.py").write_text("")
    (tree / "app" / "VERSION").write_text(version)
    return tree


def _nginx(folder: Path, upstream_port: int) -> tuple[subprocess.Popen[bytes], int] | None:
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        return None
    port = _free_port()
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream slot {{ server 127.0.0.1:{upstream_port}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://slot;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""
    )
    process = subprocess.Popen([binary, "-c", str(conf), "-p", str(folder)])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.terminate()
    return None


def _median_load(runs: list[Load]) -> Load:
    """A row of the medians of several runs (requests and failures added up)."""
    return Load(
        sum(r.requests for r in runs),
        sum(r.failed for r in runs),
        statistics.median(r.rps for r in runs),
        statistics.median(r.p50 for r in runs),
        statistics.median(r.p99 for r in runs),
        {},
    )


def _host_loop(folder: Path) -> str:
    """The event loop the host says it runs on (its log's ready line)."""
    for log in folder.glob(".turnout/host/*/host.log"):
        for line in log.read_text(errors="replace").splitlines():
            if "ready: router on" in line and "(" in line:
                return line.rsplit("(", 1)[1].rstrip(")")
    return "unknown loop"


def _row(name: str, result: Load) -> str:
    return (
        f"  {name:<34} {result.requests:>7} req  {result.failed:>4} failed  "
        f"{result.rps:>8.0f} req/s  p50 {result.p50:6.2f} ms  p99 {result.p99:6.2f} ms"
    )


def main() -> None:
    """Run every scenario and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="Length of each load run.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of sections 2 and 3.")
    args = parser.parse_args()
    seconds = args.seconds

    from turnout.config import load_config
    from turnout.model import Release
    from turnout.targets.local import LocalTarget, start_host, stop_host

    folder = Path(tempfile.mkdtemp(prefix="turnout-bench-"))
    router_port = _free_port()
    (folder / "turnout.toml").write_text(
        f"""[app]
name = "bench"

[environments.bench.target]
kind = "local"
address = "127.0.0.1:{router_port}"
command = "python -m app"
drain_timeout = 5.0
stop_grace = 3.0
"""
    )
    config = load_config(folder / "turnout.toml")
    env = config.env("bench")
    start_host(config, env)
    nginx: tuple[subprocess.Popen[bytes], int] | None = None
    try:
        target = LocalTarget(config, env)
        target.ensure_slot("blue")
        target.deploy("blue", Release("1.0.0", _package(folder, "1.0.0")))
        target.swap("blue")
        target.deploy("blue", Release("2.0.0", _package(folder, "2.0.0")))
        slot_port = int(target.status()["slots"]["production"]["port"])
        load(router_port, 8, 0, 1.0)  # warm-up: connections, pools, caches

        loop_name = _host_loop(folder)
        print(
            f"local target router on 127.0.0.1:{router_port} ({loop_name}); {seconds:g} s per run\n"
        )
        print("1. swaps under load (32 keep-alive clients, 400 req/s)")
        steady = load(router_port, 32, 400, seconds)
        print(_row("steady state", steady))
        running = _spawn_load(router_port, 32, 400, seconds + 1)
        time.sleep(0.5)
        swap_times = []
        gap = seconds / 20
        for _ in range(20):
            began = time.perf_counter()
            target.swap("blue")
            swap_times.append((time.perf_counter() - began) * 1000)
            time.sleep(max(0.0, gap - swap_times[-1] / 1000))
        during = _collect(running)
        print(_row("during 20 swaps", during))
        print(
            f"  failed requests during swaps: {during.failed}"
            f"{' ' + str(during.errors) if during.errors else ''}; "
            f"p99 during swaps / steady: {during.p99 / steady.p99:.2f}x; "
            f"swap call median {statistics.median(swap_times):.1f} ms"
        )
        slot_port = int(target.status()["slots"]["production"]["port"])

        nginx = _nginx(folder, slot_port)
        rounds = args.rounds
        print(f"\n2. added latency at 500 req/s (8 keep-alive clients), median of {rounds} rounds")
        direct_runs, routed_runs, nginx_runs = [], [], []
        for _ in range(rounds):  # interleaved, so a busy moment hits every contender alike
            direct_runs.append(load(slot_port, 8, 500, seconds))
            routed_runs.append(load(router_port, 8, 500, seconds))
            if nginx is not None:
                nginx_runs.append(load(nginx[1], 8, 500, seconds))
        direct_p50 = statistics.median(r.p50 for r in direct_runs)
        added = statistics.median(r.p50 for r in routed_runs) - direct_p50
        print(_row("straight to the slot process", _median_load(direct_runs)))
        print(_row("through the router", _median_load(routed_runs)))
        if nginx_runs:
            print(_row("through nginx (1 worker)", _median_load(nginx_runs)))
            nginx_added = statistics.median(r.p50 for r in nginx_runs) - direct_p50
            print(f"  nginx added p50: {nginx_added:.3f} ms")
        print(f"  router added p50: {added:.3f} ms")

        print(f"\n3. maximum throughput (64 keep-alive clients, unpaced), {rounds} rounds")
        direct_max, router_max, nginx_max, ratios = [], [], [], []
        for _ in range(rounds):
            direct_max.append(load(slot_port, 64, 0, seconds))
            router_max.append(load(router_port, 64, 0, seconds))
            if nginx is not None:
                nginx_max.append(load(nginx[1], 64, 0, seconds))
                ratios.append(router_max[-1].rps / nginx_max[-1].rps)
        print(_row("straight to the slot process", _median_load(direct_max)))
        print(_row("through the router", _median_load(router_max)))
        if nginx is not None:
            print(_row("through nginx (1 worker)", _median_load(nginx_max)))
            spread = ", ".join(f"{r:.2f}" for r in ratios)
            print(f"  throughput router / nginx: {statistics.median(ratios):.2f} ({spread})")
        else:
            print("  nginx not installed (make benchmark-tools): no reference run")

        p99_ratio = during.p99 / steady.p99
        print(f"\nsummary (router on {loop_name}):")
        print(
            f"  failed requests over 20 swaps at 400 req/s: {during.failed} (goal 0); "
            f"p99 during swaps / steady: {p99_ratio:.2f}x (goal <= 1.5x)"
        )
        print(f"  router added p50 at 500 req/s: {added:.3f} ms (goal <= 0.2 ms)")
        if ratios:
            print(
                f"  throughput router / nginx, one worker each: "
                f"{statistics.median(ratios):.2f}x (goal >= 0.8x)"
            )
        print(
            "\n(loopback, load generator, router, slot process and nginx share this machine's"
            " cores with whatever else runs; section 3 uses wrk with one thread when installed,"
            " else the Python load generator, which caps the direct figure; the spread of the"
            " ratios above is the noise)"
        )
    finally:
        if nginx is not None:
            nginx[0].terminate()
            nginx[0].wait()
        stop_host(config, env)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--loadgen":
        port, connections, rate, seconds = json.loads(sys.argv[2])
        print(json.dumps(asyncio.run(_load("127.0.0.1", port, connections, rate, seconds))))
    else:
        main()
