"""`/healthz` and `/api/status`: the latest snapshot, converted for people at the edge (km/h,
mph, pace), with what the page needs of the config (the rider's mass, the lean threshold)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pi_service.config import Config
from pi_service.core.effort import body_mass_kg
from pi_service.core.rules.rails import lean_levels
from pi_service.schema import Health, Status
from pi_service.units import kmh_to_mps, mps_to_display, mps_to_kmh

METRES_PER = {"km/h": 1000.0, "mph": 1609.344}  # the distance a pace is given for, by `units`
PACE_MIN_MPS = kmh_to_mps(1.0)  # slower than this, a pace (over 60 min/km) says nothing

router = APIRouter()

STALE_PERIODS = 10  # a snapshot older than this many periods means the loop has stalled
STALE_MIN_S = 0.25


def freshness(request: Request) -> tuple[dict | None, str]:
    """The latest snapshot if the loop is healthy, else None and why not. Never waits (the
    board's reads do not), so it runs on the event loop."""
    return loop_health(request.app.state.source, wait_s=0)


def loop_health(source, wait_s: float | None = None) -> tuple[dict | None, str]:
    """The latest snapshot if the sampling loop is running and publishing, else None and why not."""
    snapshot = source.board.read() if wait_s is None else source.board.read(wait_s=wait_s)
    if snapshot is None:
        return None, "no snapshot from the sampling loop yet"
    if not source.alive():
        return None, "the sampling process is not running"
    age = time.monotonic() - snapshot["t"]
    limit = max(STALE_MIN_S, STALE_PERIODS / snapshot["loop"]["target_hz"])
    if age > limit:
        return None, f"the last snapshot is {age:.2f} s old (limit {limit:.2f} s)"
    return snapshot, "sampling"


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}},
            summary="200 while the sampling loop is healthy, 503 otherwise")
async def healthz(request: Request):
    snapshot, reason = freshness(request)
    health = Health(healthy=snapshot is not None, reason=reason)
    return JSONResponse(health.model_dump(), status_code=200 if health.healthy else 503)


def pace_s(speed_mps: float | None, units: str) -> float | None:
    """Seconds per km (km/h) or per mile (mph); None when unknown or below 1 km/h."""
    if speed_mps is None or speed_mps < PACE_MIN_MPS:
        return None
    return round(METRES_PER.get(units, 1000.0) / speed_mps, 1)


def to_status(snapshot: dict, config: Config, restarts: int, now: float, fleet=None, usage=None) -> Status:
    """`fleet`: the MQTT publisher (fleet/publisher.py), if on; `usage`: the usage counters (UsageCache)."""
    speed = snapshot["speed_mps"]
    units = config.units
    loop = dict(snapshot["loop"], age_ms=round((now - snapshot["t"]) * 1000, 2), restarts=restarts)
    link_fault = None if fleet is None else fleet.fault(now)
    faults = [dict(channel=f["channel"], device=f["device"], reason=f["reason"], for_s=round(now - f["since_t"], 2))
              for f in snapshot["faults"] + ([link_fault] if link_fault else [])]
    counters = None if usage is None else usage.read()
    rider_kg = config.rider.body_mass_kg
    return Status(
        t=snapshot["t"], units=units,
        speed=None if speed is None else round(mps_to_display(speed, units), 2),
        speed_kmh=None if speed is None else round(mps_to_kmh(speed), 2),
        pace_s=pace_s(speed, units),
        incline_pct=snapshot["incline_pct"], rail_left_n=snapshot["rail_left_n"],
        rail_right_n=snapshot["rail_right_n"], cadence_spm=snapshot.get("cadence_spm"),
        footstrike_g=snapshot.get("footstrike_g"), session=snapshot["session"], alerts=snapshot["alerts"],
        events=snapshot.get("events", []),
        faults=faults, loop=loop, demo=config.demo, sim=snapshot["sim"],
        console=snapshot.get("console"), ramp=snapshot.get("ramp"), nudges=snapshot.get("nudges", {}),
        body_mass_kg=body_mass_kg(rider_kg), body_mass_assumed=rider_kg is None,
        rail_lean_n=round(lean_levels(config.rules, rider_kg)[0], 1),
        mqtt=None if fleet is None else fleet.status(),
        usage=None if counters is None else {**counters.to_dict(), "hint": counters.hint()},
    )


@router.get("/api/status", response_model=Status, summary="live readings, session, alerts, faults and loop figures",
            responses={503: {"description": "the sampling loop has published nothing yet"}})
def status(request: Request):
    source = request.app.state.source
    snapshot = source.board.read()
    if snapshot is None:
        return JSONResponse({"detail": "no snapshot from the sampling loop yet"}, status_code=503)
    state = request.app.state
    return to_status(snapshot, state.config, source.restarts, time.monotonic(), state.fleet, state.usage)
