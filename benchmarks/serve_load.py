"""A bounded load test of `feratt serve` on loopback: N requests from C concurrent clients,
each one astronaut JPEG with its attention pictures, against the shipped weights.

Reports p50/p95/max latency, throughput, error count, and the server's resident memory after
a warm-up and at the end (it should stay flat). The server runs as its own process
(`python -m feratt serve`), so the memory is the server's alone.

Usage: python3 benchmarks/serve_load.py [--requests 200] [--clients 8] [--threads 1]
       [--out benchmarks/results/serve/load.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
from skimage import data

WARMUP = 20  # requests before the first memory reading


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _wait_until_up(url: str, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("the server did not answer /healthz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "feratt", "serve", "--port", str(port)]
    command += ["--threads", str(args.threads), "--queue", str(args.clients)]
    server = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    photo = cv2.imencode(".jpg", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))[1].tobytes()
    try:
        _wait_until_up(url, server)
        with httpx.Client(timeout=60) as client:

            def one(_: int) -> tuple[float, int, str]:
                start = time.perf_counter()
                files = [("images", ("astronaut.jpg", photo, "image/jpeg"))]
                response = client.post(f"{url}/v1/predict?attention=true", files=files)
                label = (
                    response.json()["images"][0]["faces"][0]["label"] if response.is_success else ""
                )
                return time.perf_counter() - start, response.status_code, label

            with ThreadPoolExecutor(args.clients) as pool:
                warm = list(pool.map(one, range(WARMUP)))
                rss_warm = _rss_mb(server.pid)
                start = time.perf_counter()
                timed = list(pool.map(one, range(args.requests)))
                elapsed = time.perf_counter() - start
            rss_end = _rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies = sorted(t for t, _, _ in timed)
    errors = sum(code != 200 for _, code, _ in warm + timed)
    figures = {
        "requests": args.requests,
        "clients": args.clients,
        "server_torch_threads": args.threads,
        "errors": errors,
        "not_happy": sum(label != "happy" for _, code, label in timed if code == 200),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
        "max_ms": round(1000 * latencies[-1], 1),
        "requests_per_s": round(args.requests / elapsed, 2),
        "rss_after_warmup_mb": round(rss_warm, 1),
        "rss_end_mb": round(rss_end, 1),
    }
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
