"""`<base>/state`: what a dashboard shows of one treadmill, made from a published snapshot.

Pure: a snapshot (sampling/snapshot.py) in, a JSON-able dict out. `rules` has every safety
rule's binary state for Home Assistant: an interval rule is on while it is raised; an
instant rule (a speed jump, no warm-up, an abrupt stop) is on for INSTANT_ON_S after it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pi_service.core.events import INTERVAL_KINDS
from pi_service.units import mps_to_kmh

INSTANT_KINDS = ("speed_jump", "no_warmup", "abrupt_stop")
RULE_KINDS = INTERVAL_KINDS + INSTANT_KINDS
INSTANT_ON_S = 30.0


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def state_payload(snapshot: dict, belt_running_mps: float, wall: float) -> dict:
    """`belt_running_mps`: at or above this the belt counts as running (the session's start speed)."""
    t = snapshot["t"]
    speed = snapshot["speed_mps"]
    left, right = snapshot["rail_left_n"], snapshot["rail_right_n"]
    active = sorted({alert["kind"] for alert in snapshot.get("alerts", [])})
    recent = {event["kind"] for event in snapshot.get("events", [])
              if event["kind"] in INSTANT_KINDS and t - event["t"] <= INSTANT_ON_S}
    session = snapshot.get("session")
    return {
        "t": round(t, 3),
        "at": datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds"),
        "speed_kmh": None if speed is None else round(mps_to_kmh(speed), 2),
        "incline_pct": _round(snapshot["incline_pct"], 1),
        "rail_left_n": _round(left, 1),
        "rail_right_n": _round(right, 1),
        "rail_total_n": None if left is None or right is None else round(left + right, 1),
        "cadence_spm": _round(snapshot.get("cadence_spm"), 1),
        "belt_running": speed is not None and speed >= belt_running_mps,
        "session": None if session is None else {"elapsed_s": round(session["elapsed_s"], 1),
                                                 "distance_m": round(session["distance_m"], 1)},
        "alerts": active,
        "rules": {kind: kind in active or kind in recent for kind in RULE_KINDS},
        "faults": sorted({fault["channel"] for fault in snapshot.get("faults", [])}),
    }


def state_key(payload: dict) -> tuple:
    """What makes a state message news outside the 1 Hz of a session: the belt starting or
    stopping, a session beginning or ending, a rule, a fault."""
    return (payload["belt_running"], payload["session"] is None, tuple(payload["alerts"]),
            tuple(kind for kind, on in payload["rules"].items() if on), tuple(payload["faults"]))
