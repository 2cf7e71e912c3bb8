"""`/healthz` and `/api/status`: the latest snapshot, converted for people at the edge (km/h, mph)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pi_service.schema import Health, Status
from pi_service.units import mps_to_display, mps_to_kmh

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


def to_status(snapshot: dict, units: str, demo: bool, restarts: int, now: float) -> Status:
    speed = snapshot["speed_mps"]
    loop = dict(snapshot["loop"], age_ms=round((now - snapshot["t"]) * 1000, 2), restarts=restarts)
    faults = [dict(channel=f["channel"], device=f["device"], reason=f["reason"], for_s=round(now - f["since_t"], 2))
              for f in snapshot["faults"]]
    return Status(
        t=snapshot["t"], units=units,
        speed=None if speed is None else round(mps_to_display(speed, units), 2),
        speed_kmh=None if speed is None else round(mps_to_kmh(speed), 2),
        incline_pct=snapshot["incline_pct"], rail_left_n=snapshot["rail_left_n"],
        rail_right_n=snapshot["rail_right_n"], cadence_spm=snapshot.get("cadence_spm"),
        footstrike_g=snapshot.get("footstrike_g"), session=snapshot["session"], alerts=snapshot["alerts"],
        events=snapshot.get("events", []),
        faults=faults, loop=loop, demo=demo, sim=snapshot["sim"],
        console=snapshot.get("console"), ramp=snapshot.get("ramp"), nudges=snapshot.get("nudges", {}),
    )


@router.get("/api/status", response_model=Status, summary="live readings, session, alerts, faults and loop figures",
            responses={503: {"description": "the sampling loop has published nothing yet"}})
def status(request: Request):
    source = request.app.state.source
    snapshot = source.board.read()
    if snapshot is None:
        return JSONResponse({"detail": "no snapshot from the sampling loop yet"}, status_code=503)
    config = request.app.state.config
    return to_status(snapshot, config.units, config.demo, source.restarts, time.monotonic())
