"""Watch a running demo and check what the page claims against what the sensors read.

    PORT=8097 make demo &                         # in one terminal
    .venv/bin/python bench/demo_check.py --port 8097 --loops 3

Polls /api/status five times a second for `--loops` loops of the scenario, then reports,
for every incline ramp-down: when it was asked, what the page said at its end, and what
the incline sensor read then and in the seconds after; and for every session, whether it
opened with a `speed_jump`; the cadence `/api/status` measured against the walker's own
(whenever the walker has kept one cadence for 8 s), and for every time the walker stepped
onto the side rails with the belt running, when `unattended_belt` came and whether the
buzzer pin sounded during it. Exits 1 if the page claimed a ramp "done" that the sensor did
not confirm within 0.5 % of the target, if a ramp did not bring the deck down to the
target, if a session opened with a speed jump (in its first 30 s), if a steady cadence was
off by more than 2 %, or if stepping off raised no alarm 20-25 s later (cadence reads 0
three seconds after the last footstrike, then the rule's 20 s) with the buzzer sounding.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request

TOLERANCE_PCT = 0.5
OPENING_S = 30.0
CADENCE_TOLERANCE = 0.02
STEADY_CADENCE_S = 8.0  # the median of 8 intervals has caught up with a new cadence by then
ALARM_AFTER_S = (20.0, 25.0)


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
    walker: list[tuple[float, float | None, float, bool, bool]] = []  # t, measured, true, off belt, buzzer
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
        sim = body["sim"]
        walker.append((body["t"], body.get("cadence_spm"), sim.get("walker_cadence_spm") or 0.0,
                       bool(sim.get("off_belt")) and body["speed_kmh"] >= 0.5, bool(sim.get("buzzer_on"))))
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
    failures += check_cadence(walker) + check_stepping_off(walker, events)
    claimed = [(t, ramp["state"], ramp["reason"]) for t, _, ramp in samples if ramp and ramp["state"] == "done"]
    print(f"\n{len(samples)} snapshots read; the page showed 'done' in {len(claimed)} of them")
    for failure in failures:
        print("FAIL", failure)
    print("all claims confirmed by the sensors" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


def check_cadence(walker) -> list[str]:
    """The measured cadence against the walker's, wherever the walker has held one for a while."""
    steady = []
    for i, (t, measured, true, _, _) in enumerate(walker):
        if true <= 0:
            continue
        window = [w for w in walker[:i + 1] if t - STEADY_CADENCE_S <= w[0]]
        if window[0][0] > t - STEADY_CADENCE_S + 0.5 or any(abs(w[2] - true) > 0.5 for w in window):
            continue
        error = float("inf") if not measured else abs(measured - true) / true
        steady.append((t, measured, true, error))
    off = [s for s in steady if s[3] > CADENCE_TOLERANCE]
    unknown = sum(1 for s in steady if s[1] is None)
    measured = [s[3] for s in steady if s[1] is not None]
    print(f"\ncadence: {len(steady)} snapshots with the walker steady; worst error where measured "
          f"{100 * max(measured, default=0.0):.2f} %, {len(off)} beyond {100 * CADENCE_TOLERANCE:g} % "
          f"({unknown} with the accelerometer unreadable)")
    return [f"cadence at t={t:.1f}: measured {m}, the walker's {w}" for t, m, w, _ in off[:5]]


def check_stepping_off(walker, events) -> list[str]:
    """Each step off onto the side rails with the belt running: the alarm 20-25 s later, and the buzzer."""
    failures = []
    starts = sorted(e["t"] for e in events.values() if e["kind"] == "unattended_belt" and e["phase"] == "start")
    ends = sorted(e["t"] for e in events.values() if e["kind"] == "unattended_belt" and e["phase"] == "end")
    stepped = [w[0] for prev, w in zip(walker, walker[1:]) if w[3] and not prev[3]]
    print(f"\n{len(stepped)} steps off the belt with it running; unattended_belt at {[round(t, 1) for t in starts]}")
    for t_off in stepped:
        alarm = next((t for t in starts if t >= t_off), None)
        if alarm is None or not ALARM_AFTER_S[0] <= alarm - t_off <= ALARM_AFTER_S[1]:
            failures.append(f"stepped off at {t_off:.1f}: unattended_belt at {alarm}, not 20-25 s later")
            continue
        end = next((t for t in ends if t > alarm), float("inf"))
        sounding = [w[4] for w in walker if alarm <= w[0] <= end]
        share = sum(sounding) / len(sounding) if sounding else 0.0
        print(f"  stepped off at t={t_off:.1f}: the alarm {alarm - t_off:.1f} s later; the buzzer on in "
              f"{100 * share:.0f} % of the snapshots while it lasted")
        if share < 0.4:
            failures.append(f"alarm at {alarm:.1f}: the buzzer sounded in only {100 * share:.0f} % of snapshots")
    return failures


if __name__ == "__main__":
    sys.exit(main())
