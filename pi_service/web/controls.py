"""The controls for the person on the belt, each needing the pairing token (see guard.py):
snooze a nudge, acknowledge one, stop a ramp, and in sim mode play with the virtual
treadmill. None of them can raise the real speed or incline: the real treadmill has no
such command at all, and the sim controls exist only in sim mode.

Commands go to the sampling process over its command pipe; the answer is 202: the
sampler takes it on its next tick (within 10 ms). Bodies are read as strict JSON
(errors.py), at most 16 KiB, and only once the token has been checked (limits.py).

The belt alarm (`unattended_belt`, nudges.py ALARMS) is neither snoozed nor acknowledged:
both answer 409 with the reason. A moving belt with nobody on it is stopped with the safety
key, not silenced from a phone. The sampler refuses it too, but only the answer here can
tell the person why.
"""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from pi_service.actions.nudges import ALARM_REFUSAL, ALARMS, PATTERNS
from pi_service.web.errors import StrictJsonRoute
from pi_service.web.guard import require_pairing

router = APIRouter(dependencies=[Depends(require_pairing)], route_class=StrictJsonRoute)

Kind = Enum("Kind", {kind: kind for kind in sorted(PATTERNS)}, type=str)


class Snooze(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: float = Field(10, ge=1, le=120, description="how long to keep this kind quiet")


class SimControl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    speed_kmh: float | None = Field(None, ge=0, le=20, description="hold the belt at this speed")
    incline_pct: float | None = Field(None, ge=0, le=15, description="press the console's preset key for this incline")
    lean: bool | None = Field(None, description="lean on the rails (about 120 N) or let go")
    resume: bool = Field(False, description="hand the treadmill back to the scenario")


class Accepted(BaseModel):
    accepted: str


UNAUTHORISED = {401: {"description": "no pairing token"},
                403: {"description": "a wrong or revoked token, or a foreign Origin"},
                413: {"description": "a body over 16 KiB"},
                429: {"description": "too many wrong tokens from this address: try again after Retry-After seconds"}}


ALARM_REFUSED = {409: {"description": "the belt alarm (unattended_belt) is not silenced from the phone: "
                                     "stop the belt with the safety key"}}


def _answer(request: Request, name: str, kind: str, value: float = 0.0) -> Accepted:
    """A person's answer to a kind of nudge, refused for an alarm."""
    if kind in ALARMS:
        raise HTTPException(409, ALARM_REFUSAL)
    return _send(request, name, kind, value)


def _send(request: Request, name: str, kind: str = "", value: float = 0.0) -> Accepted:
    try:
        request.app.state.source.commands.send(name, kind, value)
    except (OSError, EOFError, ValueError) as exc:
        raise HTTPException(503, f"the sampling process is not taking commands: {exc}") from None
    return Accepted(accepted=f"{name} {kind}".strip())


@router.post("/api/nudges/{kind}/snooze", response_model=Accepted, status_code=202,
             responses={**UNAUTHORISED, **ALARM_REFUSED},
             summary="keep one kind of nudge quiet for a while (10 min by default); not the belt alarm")
def snooze(request: Request, kind: Kind, body: Snooze | None = None):
    return _answer(request, "snooze", kind.value, (body or Snooze()).minutes * 60)


@router.post("/api/nudges/{kind}/acknowledge", response_model=Accepted, status_code=202,
             responses={**UNAUTHORISED, **ALARM_REFUSED},
             summary="quiet a raised interval until it ends; for steep_incline this also defers the ramp-down; "
                     "not the belt alarm")
def acknowledge(request: Request, kind: Kind):
    return _answer(request, "acknowledge", kind.value)


@router.post("/api/ramp/stop", response_model=Accepted, status_code=202, responses=UNAUTHORISED,
             summary="stop an automatic ramp-down under way, where it is")
def stop_ramp(request: Request):
    return _send(request, "stop_ramp")


@router.post("/api/sim", response_model=Accepted, status_code=202,
             responses={**UNAUTHORISED, 409: {"description": "not running on the virtual treadmill"}},
             summary="sim mode only: set the belt speed, press an incline key, lean on the rails, or resume")
def sim_control(request: Request, body: SimControl):
    if not request.app.state.sim:
        raise HTTPException(409, "sim controls exist only on the virtual treadmill (run --sim)")
    sent = []
    if body.resume:
        sent.append(_send(request, "sim", "resume"))
    if body.speed_kmh is not None:
        sent.append(_send(request, "sim", "speed_kmh", body.speed_kmh))
    if body.incline_pct is not None:
        sent.append(_send(request, "sim", "incline_pct", body.incline_pct))
    if body.lean is not None:
        sent.append(_send(request, "sim", "lean", float(body.lean)))
    if not sent:
        return Accepted(accepted="nothing (give speed_kmh, incline_pct, lean or resume)")
    return Accepted(accepted=", ".join(a.accepted for a in sent))


@router.get("/api/pair/check", response_model=Accepted, responses=UNAUTHORISED,
            summary="200 if the pairing token sent is valid")
def pair_check():
    return Accepted(accepted="paired")
