"""Sustained job submissions per second through the REST API on PostgreSQL, with p50/p99.

    .venv/bin/python -m benchmarks.api_submit [--seconds 20] [--concurrency 16] [--replicas 1]

Starts `gpusched scheduler` (API + loop) on a scratch PostgreSQL database and drives it from a
load generator on loopback (keep-alive HTTP/1.1 over asyncio streams; `--httpx` for httpx).
`--replicas 2` runs two scheduler processes on the same database (one leads the loop; both
serve the API) behind a round-robin client. `--api-replicas N` loads N API-only processes
(`gpusched scheduler --no-loop`) while one more process runs the loop unloaded; add
`--redis redis://127.0.0.1:6379` so that submits wake that loop at once.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

import httpx

from benchmarks.api_common import cpu_seconds, engine_for, scratch_postgres
from scheduler.store import tokens
from scheduler.store.db import session_factory


class _DatabaseCpu:
    """CPU seconds spent by the PostgreSQL processes serving one database, polled in a thread.

    Backends come and go (the pool closes overflow connections), so each is read every 0.2 s
    and counted from its first reading (0 if it started during the run) to its last.
    """

    def __init__(self, url: str) -> None:
        self.engine = engine_for(url)
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> _DatabaseCpu:
        self._read(started=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()
        self._read(started=False)
        self.engine.dispose()

    @property
    def seconds(self) -> float:
        return sum(last - self.first.get(pid, 0.0) for pid, last in self.last.items())

    def _poll(self) -> None:
        while not self.stop.wait(0.2):
            self._read(started=False)

    def _read(self, *, started: bool) -> None:
        with self.engine.connect() as conn:
            pids = [
                int(pid)
                for (pid,) in conn.exec_driver_sql(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            ]
        for pid in pids:
            cpu = cpu_seconds(pid)
            if cpu is None:
                continue
            if started:
                self.first[pid] = cpu
            self.last[pid] = cpu


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(url: str, port: int, *, loop: bool = True, redis: str = "") -> subprocess.Popen[bytes]:
    options = ([] if loop else ["--no-loop"]) + (["--redis", redis] if redis else [])
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from scheduler.cli.main import main; main()",
            "scheduler",
            "--db",
            url,
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            *options,
        ],
        env={**os.environ, "GPUSCHED_HOME": "/tmp/gpusched-bench"},
        stdout=subprocess.DEVNULL,
    )


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP to post JSON.

    httpx's client spends about 5 ms of CPU per request here, so on a 2-core machine it capped
    the measurement near 190 requests/s whatever the server did; this costs a few percent of it.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> _Connection:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        return cls(*await asyncio.open_connection(host, int(port)))

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _drive(
    urls: list[str], token: str, *, seconds: float, concurrency: int, keys: bool = False
) -> list[float]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    body = json.dumps({"queue": "bench", "gpus": 0.5, "command": ["python", "train.py"]}).encode()
    stop = time.perf_counter() + seconds
    connections = [await _Connection.open(urls[n % len(urls)]) for n in range(concurrency)]

    async def worker(connection: _Connection) -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            sent = {**headers, "Idempotency-Key": uuid.uuid4().hex} if keys else headers
            code, reply = await connection.post("/v1/jobs", body, sent)
            if code != 201:
                raise RuntimeError(f"submit failed: {code} {reply.decode(errors='replace')}")
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker(c) for c in connections))
    for connection in connections:
        connection.close()
    return latencies


async def _drive_httpx(
    urls: list[str], token: str, *, seconds: float, concurrency: int, keys: bool = False
) -> list[float]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    body = {"queue": "bench", "gpus": 0.5, "command": ["python", "train.py"]}
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    clients = [httpx.AsyncClient(base_url=u, limits=limits, timeout=30) for u in urls]

    async def worker(n: int) -> None:
        client = clients[n % len(clients)]
        while time.perf_counter() < stop:
            started = time.perf_counter()
            sent = {**headers, "Idempotency-Key": uuid.uuid4().hex} if keys else headers
            reply = await client.post("/v1/jobs", json=body, headers=sent)
            if reply.status_code != 201:
                raise RuntimeError(f"submit failed: {reply.status_code} {reply.text}")
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    for client in clients:
        await client.aclose()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument(
        "--api-replicas",
        type=int,
        default=0,
        help="load N API-only processes (--no-loop) instead; one more process runs the loop",
    )
    parser.add_argument("--redis", default="", help="Redis URL for wake-ups across processes")
    parser.add_argument(
        "--keys", action="store_true", help="send a fresh Idempotency-Key with each submit (as the CLI does)"
    )
    parser.add_argument(
        "--httpx", action="store_true", help="load with httpx (the old, CPU-bound client)"
    )
    args = parser.parse_args()
    with scratch_postgres() as url:
        engine = engine_for(url)
        with session_factory(engine)() as session:
            token, _ = tokens.create(session, "admin", now=time.time(), name="bench")
            session.commit()
        if args.api_replicas:
            ports = [_port() for _ in range(args.api_replicas + 1)]
            processes = [_start(url, ports[0], redis=args.redis)] + [
                _start(url, port, loop=False, redis=args.redis) for port in ports[1:]
            ]
            loaded = ports[1:]
            names = ["loop process"] + ["API-only process"] * args.api_replicas
        else:
            ports = [_port() for _ in range(args.replicas)]
            processes = [_start(url, port, redis=args.redis) for port in ports]
            loaded = ports
            names = ["scheduler process"] * args.replicas
        urls = [f"http://127.0.0.1:{port}" for port in loaded]
        try:
            for base in [f"http://127.0.0.1:{port}" for port in ports]:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.2)
            httpx.post(
                f"{urls[0]}/v1/queues",
                json={"name": "bench", "deserved_gpus": 8},
                headers={"Authorization": f"Bearer {token}"},
            ).raise_for_status()
            drive = functools.partial(_drive_httpx if args.httpx else _drive, keys=args.keys)
            asyncio.run(drive(urls, token, seconds=2, concurrency=args.concurrency))  # warm-up
            servers = [p.pid for p in processes]
            server_cpu = [cpu_seconds(pid) or 0.0 for pid in servers]
            client_cpu = time.process_time()
            load_before = os.getloadavg()[0]
            with _DatabaseCpu(url) as database_cpu:
                latencies = asyncio.run(
                    drive(urls, token, seconds=args.seconds, concurrency=args.concurrency)
                )
            client_cpu = time.process_time() - client_cpu
            server_cpu = [
                (cpu_seconds(pid) or 0.0) - before
                for pid, before in zip(servers, server_cpu, strict=True)
            ]
            load_after = os.getloadavg()[0]
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
            engine.dispose()
    latencies.sort()
    topology = (
        f"{args.api_replicas} API-only process(es) + 1 loop process"
        if args.api_replicas
        else f"{args.replicas} scheduler process(es)"
    ) + (", Redis wake-ups" if args.redis else "") + (", Idempotency-Keys" if args.keys else "")
    rate = len(latencies) / args.seconds
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(
        f"submissions: {len(latencies)} in {args.seconds:g} s = {rate:.0f}/s "
        f"(concurrency {args.concurrency}, {topology}, PostgreSQL, "
        f"{'httpx' if args.httpx else 'raw HTTP/1.1'} client)"
    )
    print(f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    per_submit = 1000 / max(1, len(latencies))
    print(
        "CPU per submit: "
        + ", ".join(
            f"{name} {seconds * per_submit:.2f} ms"
            for name, seconds in zip(names, server_cpu, strict=True)
        )
        + f", PostgreSQL {database_cpu.seconds * per_submit:.2f} ms, "
        f"client {client_cpu * per_submit:.2f} ms; "
        f"load average {load_before:.2f} -> {load_after:.2f}"
    )


if __name__ == "__main__":
    main()
