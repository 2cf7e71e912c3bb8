"""Watch a running demo and check what the page claims against what the sensors read.

    PORT=8097 make demo &                         # in one terminal
    .venv/bin/python bench/demo_check.py --port 8097 --loops 3

Polls /api/status five times a second for `--loops` loops of the scenario, then reports,
for every incline ramp-down: when it was asked, what the page said at its end, and what
the incline sensor read then and in the seconds after; and for every session, whether it
opened with a `speed_jump`. Exits 1 if the page claimed a ramp "done" that the sensor did
not confirm within 0.5 % of the target, if a ramp did not bring the deck down to the
target, or if a session opened with a speed jump (in its first 30 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request

TOLERANCE_PCT = 0.5
OPENING_S = 30.0


def status(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--loops", type=int, default=3)
    args = parser.parse_args()

    first = None
    deadline = time.monotonic() + 30
    while first is None and time.monotonic() < deadline:
        first = status(args.port)
        time.sleep(0.5)
    if first is None or not first.get("sim"):
        print(f"no demo on port {args.port}", file=sys.stderr)
        return 2
    scenario_s = None
    samples: list[tuple[float, float | None, dict | None]] = []
    events: dict[tuple, dict] = {}
    sessions: set[float] = set()
    loops_seen = 0
    last_loop_t = None
    while True:
        body = status(args.port)
        if body is None:
            time.sleep(0.2)
            continue
        samples.append((body["t"], body["incline_pct"], body.get("ramp")))
        for event in body.get("events", []):
            events[(event["t"], event["kind"], event["phase"])] = event
        if body.get("session"):
            sessions.add(round(body["t"] - body["session"]["elapsed_s"], 1))
        sim_t = body["sim"]["scenario_t"]
        if scenario_s is None:
            from pi_service.sim.scenario import load_scenario

            scenario_s = load_scenario(body["sim"]["scenario"]).duration_s
        loop = int(sim_t // scenario_s)
        if last_loop_t is None:
            last_loop_t = loop
        if loop != last_loop_t:
            loops_seen += 1
            last_loop_t = loop
            print(f"loop {loops_seen} done at scenario {sim_t:.0f} s", flush=True)
        if loops_seen >= args.loops:
            break
        time.sleep(0.2)

    failures = []
    ramps = sorted((e for e in events.values() if e["kind"] == "incline_ramp"), key=lambda e: e["t"])
    starts = [e for e in ramps if e["phase"] == "start"]
    print(f"\n{len(starts)} ramp-downs asked for:")
    for start in starts:
        end = next((e for e in ramps if e["phase"] == "end" and e["t"] >= start["t"]), None)
        after = [incline for t, incline, _ in samples if end is not None and end["t"] <= t <= end["t"] + 10
                 and incline is not None]
        result = None if end is None else end["detail"]["result"]
        target = start["detail"]["target_pct"]
        lowest = min(after) if after else None
        at_end = None if end is None else end["detail"].get("incline_pct")
        print(f"  asked at t={start['t']:.1f} from {start['detail']['from_pct']:.1f} % -> {target:g} %: "
              f"{result}, the sensor read {at_end} % then, {lowest} % at its lowest in the next 10 s"
              + ("" if end is None else f" ({end['detail']['reason']})"))
        if result == "done" and (at_end is None or abs(at_end - target) > TOLERANCE_PCT):
            failures.append(f"ramp at {start['t']:.1f}: the page said done, the sensor read {at_end} %")
        if result != "done" or lowest is None or lowest > target + TOLERANCE_PCT:
            failures.append(f"ramp at {start['t']:.1f}: did not bring the deck to {target:g} % ({result})")
    jumps = sorted(e["t"] for e in events.values() if e["kind"] == "speed_jump")
    print(f"\n{len(sessions)} sessions seen; speed jumps at {[round(t, 1) for t in jumps]}")
    for started in sorted(sessions):
        opening = [t for t in jumps if started <= t < started + OPENING_S]
        print(f"  session from t={started:.1f}: {'a speed_jump in its first 30 s' if opening else 'no speed_jump at its opening'}")
        if opening:
            failures.append(f"session from {started:.1f} opened with a speed_jump at {opening[0]:.1f}")
    claimed = [(t, ramp["state"], ramp["reason"]) for t, _, ramp in samples if ramp and ramp["state"] == "done"]
    print(f"\n{len(samples)} snapshots read; the page showed 'done' in {len(claimed)} of them")
    for failure in failures:
        print("FAIL", failure)
    print("all claims confirmed by the sensors" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
