"""Benchmark: what one tick of the sampler costs, on the virtual treadmill at 200 Hz.

Runs the sampling process's own body (`run_sampler`, the demo's scenario and rule timings,
the virtual console link, the history file in a scratch folder) in this process for
--seconds, with normal scheduling, and collects the work time the loop measures for every
tick (`LoopStats.record_work`: from waking to the tick's end: read, rules, actions, record,
publish). Prints mean, p50, p99 and max in microseconds, and the same as JSON. The work
includes the time the virtual bus holds the tick for its transfers, as a Pi's kernel
driver does (`drivers/i2c_timing.py`, at the demo config's `[i2c] bus_hz`); that share is
reported too (`bus_mean_us`), and the rest is the tick's own computing. At 200 Hz the
tick hands its transfers to a bus thread and waits up to a deadline (`sampling/bus_worker.py`);
`--inline` runs them in the loop's thread instead, as at rates that need no deadline, so the
difference between the two runs is the hand-off's cost.

Runs twice: with footstrikes (the accelerometer's 400 Hz FIFO drained each tick, every sample
through the incline's low-pass and the footstrike detector) and without (one read per tick,
the tick before issue 16), at 400 kHz I2C, which 200 Hz with the drain needs.

Rerun:  make bench-tick      (or: .venv/bin/python bench/tick_cost.py --seconds 60)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import pi_service.sampling.sensors as sensors_module
from pi_service.config import load_config
from pi_service.sampling.board import SnapshotBoard
from pi_service.sampling.run import SamplerOptions, run_sampler
from pi_service.sampling.stats import LoopStats
from pi_service.sim.i2c_bus import SimI2CBus

ROOT = Path(__file__).resolve().parents[1]
RATE_HZ = 200


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(seconds: float, scratch: Path, inline: bool = False, footstrikes: bool = True) -> tuple[list[float], float]:
    """Every tick's work time, and the time the bus held the ticks for over the run."""
    original_needs = sensors_module.needs_deadline
    if inline:
        sensors_module.needs_deadline = lambda *args: False
    demo = (ROOT / "pi_service/config/demo.toml").read_text()
    demo = f'state_dir = "{scratch}"\n' + demo  # a demo config keeps its state in sim/ under it
    path = scratch / "bench.toml"
    # Fast-mode I2C: the footstrikes' FIFO drain does not fit 200 Hz at the Pi's default 100 kHz.
    path.write_text(demo + f"\n[sampling]\nrate_hz = {RATE_HZ}\n[i2c]\nbus_hz = 400000\n"
                    f"[footstrikes]\nenabled = {str(footstrikes).lower()}\n")
    config = load_config(path)
    works: list[float] = []
    original = LoopStats.record_work

    def record_work(self, work_s: float) -> None:
        works.append(work_s)
        original(self, work_s)

    LoopStats.record_work = record_work
    held = [0.0]
    original_hold = SimI2CBus._hold

    def hold(self, lengths):
        before = self.busy_s
        original_hold(self, lengths)
        held[0] += self.busy_s - before

    SimI2CBus._hold = hold
    ready = threading.Event()
    end = [float("inf")]
    try:
        worker = threading.Thread(target=run_sampler, args=(
            config, SamplerOptions(sim=True, realtime=False), SnapshotBoard(),
            lambda: time.monotonic() >= end[0], lambda _: ready.set()))
        worker.start()
        if not ready.wait(30):
            raise SystemExit("bench/tick_cost.py: the sampler did not start within 30 s")
        time.sleep(2.0)  # past the start-up ticks
        works.clear()
        held[0] = 0.0
        end[0] = time.monotonic() + seconds
        worker.join()
    finally:
        LoopStats.record_work = original
        SimI2CBus._hold = original_hold
        sensors_module.needs_deadline = original_needs
    return works, held[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time (default 60)")
    parser.add_argument("--inline", action="store_true", help="the bus transfers in the loop's thread, no deadline")
    args = parser.parse_args()
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    how = "transfers inline" if args.inline else "transfers by the bus thread, within the deadline"
    print(f"\nOne sampler tick on the virtual treadmill at {RATE_HZ} Hz (I2C at 400 kHz) for {args.seconds:g} s, "
          f"{how} ({machine})")
    results = {}
    for footstrikes in (True, False):
        with tempfile.TemporaryDirectory() as scratch:
            works, bus_s = measure(args.seconds, Path(scratch), args.inline, footstrikes)
        us = [w * 1e6 for w in works]
        result = results["footstrikes" if footstrikes else "single_read"] = {
            "ticks": len(us), "mean_us": round(sum(us) / len(us), 1), "p50_us": round(percentile(us, 0.5), 1),
            "p99_us": round(percentile(us, 0.99), 1), "max_us": round(max(us), 1),
            "bus_mean_us": round(bus_s * 1e6 / len(us), 1)}
        what = ("footstrikes on: the 400 Hz FIFO drained, the detector" if footstrikes
                else "footstrikes off: one accelerometer read (the old tick)")
        print(f"  {what}\n    {result['ticks']} ticks: mean {result['mean_us']} us, p50 {result['p50_us']} us, "
              f"p99 {result['p99_us']} us, max {result['max_us']} us; of it on the bus, mean {result['bus_mean_us']} us")
    print("rerun: make bench-tick   (or .venv/bin/python bench/tick_cost.py --seconds 60)")
    print(json.dumps({"machine": machine, "seconds": args.seconds, "rate_hz": RATE_HZ, "inline": args.inline,
                      "results": results}))

if __name__ == "__main__":
    main()
