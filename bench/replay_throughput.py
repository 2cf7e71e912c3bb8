"""Benchmark: `replay` throughput on a one-hour recording at 100 Hz (360,000 samples).

Writes a synthetic recording (a walker on a hill with noise, the rails touched, speed
changes), then times `replay_file` over it in this process, three runs, and reports the
best. Target (spec section 9): >= 250,000 samples/s.

Rerun:  make bench-replay   (or: .venv/bin/python bench/replay_throughput.py)
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import tempfile
import time
from pathlib import Path

from pi_service.config import Config
from pi_service.replay import replay_file, write_synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3600, help="recording length (default one hour)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "hour.csv"
        rows = write_synthetic(path, args.seconds, 100.0)
        timings = []
        for _ in range(args.runs):
            out = io.StringIO()
            started = time.perf_counter()
            events = replay_file(str(path), Config(), out)
            timings.append(time.perf_counter() - started)
    best = min(timings)
    rate = rows / best
    print(f"replay of {rows} samples ({args.seconds:g} s at 100 Hz), {events} events, on "
          f"{platform.machine()} Python {platform.python_version()}")
    print(f"best of {args.runs}: {best:.2f} s = {rate:,.0f} samples/s "
          f"(target 250,000: {'met' if rate >= 250_000 else 'NOT met'})")
    print(json.dumps({"samples": rows, "events": events, "seconds": [round(t, 3) for t in timings],
                      "samples_per_s": round(rate)}))


if __name__ == "__main__":
    main()
