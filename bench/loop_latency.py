"""Benchmark: the sampling loop at 200 Hz under web load and a busy core, next to a naive loop.

Runs `treadmill-companion run --sim` twice on this machine, each for --seconds:
  1. the product's design: the loop in its own process, absolute deadlines, SCHED_FIFO
     where the OS allows it;
  2. the naive baseline: the same sampler as a thread inside the web server's process,
     doing `time.sleep(period)` after each tick (`run --naive-loop`, hidden).
During each run another process keeps one core busy, a client sends 50 req/s to
/api/status, and 10 more clients stream snapshots (from /api/stream when the daemon has
it, otherwise by polling /api/status at 5 Hz each). Rate and missed periods come from the
loop's tick counter over the measured interval; lateness p50/p99/max from the loop's own
statistics (a sliding window of the last 60 s). Results print as a table and as JSON.

Rerun:  make bench            (or: .venv/bin/python bench/loop_latency.py --seconds 60)
Target (spec section 9): rate within 0.1 % of 200 Hz, p99 <= 1 ms, max <= 5 ms, no missed period.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RATE_HZ = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def burn() -> None:
    while True:
        pass


class Load:
    """Web traffic against one daemon: a paced /api/status client plus stream clients."""

    def __init__(self, base: str, status_rps: float = 50, streams: int = 10):
        self.base = base
        self.status_rps = status_rps
        self.streams = streams
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.errors = 0
        self.stream_events = 0
        self.threads: list[threading.Thread] = []
        self.stream_kind = "poll"

    def start(self) -> None:
        with httpx.Client() as client:
            paths = client.get(f"{self.base}/openapi.json").json()["paths"]
        self.stream_kind = "sse" if "/api/stream" in paths else "poll"
        self.threads = [threading.Thread(target=self._status_client, daemon=True)]
        self.threads += [threading.Thread(target=self._stream_client, daemon=True) for _ in range(self.streams)]
        for thread in self.threads:
            thread.start()

    def _status_client(self) -> None:
        period = 1.0 / self.status_rps
        next_t = time.monotonic()
        with httpx.Client(timeout=2) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    client.get(f"{self.base}/api/status").raise_for_status()
                    self.latencies.append(time.monotonic() - started)
                except httpx.HTTPError:
                    self.errors += 1
                next_t += period
                self.stop.wait(max(0.0, next_t - time.monotonic()))

    def _stream_client(self) -> None:
        with httpx.Client(timeout=5) as client:
            if self.stream_kind == "sse":
                try:
                    with client.stream("GET", f"{self.base}/api/stream") as response:
                        for line in response.iter_lines():
                            if self.stop.is_set():
                                return
                            if line.startswith("data:"):
                                self.stream_events += 1
                except httpx.HTTPError:
                    self.errors += 1
                return
            while not self.stop.wait(0.2):
                try:
                    client.get(f"{self.base}/api/status").raise_for_status()
                    self.stream_events += 1
                except httpx.HTTPError:
                    self.errors += 1

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=6)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def measure(naive: bool, seconds: float, config_path: Path, status_rps: float = 50, hog_core: bool = True) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "pi_service", "run", "--sim", "--config", str(config_path),
               "--host", "127.0.0.1", "--port", str(port)] + (["--naive-loop"] if naive else [])
    daemon = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL)
    hog = None
    load = None
    try:
        with httpx.Client(timeout=1) as client:
            for _ in range(200):
                try:
                    if client.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            else:
                raise SystemExit("the daemon did not become healthy")
            import multiprocessing

            if hog_core:
                hog = multiprocessing.get_context("spawn").Process(target=burn, daemon=True)
                hog.start()
            load = Load(base, status_rps)
            load.start()
            time.sleep(2.0)  # let the load settle before measuring
            first = client.get(f"{base}/api/status").json()
            time.sleep(seconds)
            last = client.get(f"{base}/api/status").json()
            elapsed_daemon = last["t"] - first["t"]
        load.finish()
    finally:
        if load:
            load.stop.set()
        if hog:
            hog.terminate()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=10)
    loop0, loop1 = first["loop"], last["loop"]
    ticks = loop1["ticks"] - loop0["ticks"]
    rate = ticks / elapsed_daemon
    expected = elapsed_daemon * RATE_HZ
    return {
        "design": "naive: sleep(period) thread in the web process" if naive else
                  "own process, absolute deadlines",
        "scheduling": loop1["realtime"],
        "seconds": round(elapsed_daemon, 2),
        "rate_hz": round(rate, 3),
        "rate_error_pct": round(100 * (rate - RATE_HZ) / RATE_HZ, 3),
        "late_p50_ms": loop1["late_p50_ms"],
        "late_p99_ms": loop1["late_p99_ms"],
        "late_max_ms": loop1["late_max_ms"],
        "missed_periods": max(0, round(expected - ticks)),
        "overruns": loop1["overruns"] - loop0["overruns"],
        "status_requests": len(load.latencies),
        "status_p99_ms": round(percentile(load.latencies, 0.99) * 1000, 2),
        "stream_clients": f"10 x {load.stream_kind}",
        "stream_events": load.stream_events,
        "http_errors": load.errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time per run (default 60)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--web", action="store_true",
                        help="the web load check instead (spec 9: /api/status at 100 req/s, p99 <= 10 ms): "
                             "100 req/s and 10 SSE clients, no busy core, the design only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        config_path = Path(scratch) / "bench.toml"
        # Fast-mode I2C: the footstrikes FIFO drain does not fit 200 Hz at the Pi's default 100 kHz.
        config_path.write_text(f"[sampling]\nrate_hz = {RATE_HZ}\n[i2c]\nbus_hz = 400000\n")
        if args.web:
            web_check(args.seconds, config_path)
            return
        results = [measure(False, args.seconds, config_path), measure(True, args.seconds, config_path)]
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\nSampling loop at {RATE_HZ} Hz for {args.seconds:g} s, one core busy, 50 req/s /api/status, "
          f"10 stream clients ({machine})\n")
    rows = [("", "design", "naive baseline"),
            ("scheduling", results[0]["scheduling"], results[1]["scheduling"])]
    for key in ("rate_hz", "rate_error_pct", "late_p50_ms", "late_p99_ms", "late_max_ms", "missed_periods",
                "overruns", "status_p99_ms", "stream_clients", "http_errors"):
        rows.append((key, str(results[0][key]), str(results[1][key])))
    width = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width[i]) for i, cell in enumerate(row)))
    verdict = results[0]
    met = (abs(verdict["rate_error_pct"]) <= 0.1 and verdict["late_p99_ms"] <= 1 and verdict["late_max_ms"] <= 5
           and verdict["missed_periods"] == 0)
    print(f"\nspec 9 target (rate within 0.1 %, p99 <= 1 ms, max <= 5 ms, no missed period): "
          f"{'met' if met else 'NOT met'}")
    print("rerun: make bench   (or .venv/bin/python bench/loop_latency.py --seconds 60)")
    document = {"machine": machine, "seconds": args.seconds, "rate_hz": RATE_HZ, "results": results, "target_met": met}
    print(json.dumps(document))
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n")


def web_check(seconds: float, config_path: Path) -> None:
    result = measure(False, seconds, config_path, status_rps=100, hog_core=False)
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    met = result["status_p99_ms"] <= 10
    print(f"\n/api/status at 100 req/s for {seconds:g} s with {result['stream_clients']} clients connected, "
          f"sampling at {RATE_HZ} Hz ({machine})")
    print(f"  /api/status: {result['status_requests']} requests, p99 {result['status_p99_ms']} ms, "
          f"{result['http_errors']} errors (target p99 <= 10 ms: {'met' if met else 'NOT met'})")
    print(f"  stream: {result['stream_events']} events to the clients")
    print(f"  sampling loop meanwhile: {result['rate_hz']} Hz, lateness p99 {result['late_p99_ms']} ms, "
          f"max {result['late_max_ms']} ms, {result['missed_periods']} missed periods ({result['scheduling']})")
    print("rerun: make bench-web   (or .venv/bin/python bench/loop_latency.py --web --seconds 30)")
    print(json.dumps({"machine": machine, "seconds": seconds, "result": result, "target_met": met}))


if __name__ == "__main__":
    main()
