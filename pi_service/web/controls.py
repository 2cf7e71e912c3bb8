"""The controls for the person on the belt, each needing the pairing token (see guard.py):
snooze a nudge, acknowledge one, stop a ramp, and in sim mode play with the virtual
treadmill. None of them can raise the real speed or incline: the real treadmill has no
such command at all, and the sim controls exist only in sim mode.

Commands go to the sampling process over its command pipe; the answer is 202: the
sampler takes it on its next tick (within 10 ms). Bodies are read as strict JSON
(errors.py), at most 16 KiB, and only once the token has been checked (limits.py).

A command that would do nothing answers 409 with why, so the page never says it happened:
acknowledging a kind not raised now (an instant rule such as speed_jump never is: its
moment has passed), stopping a ramp that is not under way (the sampler stops only a
`ramping` one, and only through a console that answers), and `POST /api/sim {}`. Whether
it is raised or under way is read from the latest snapshot, without waiting.

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
from pi_service.core.events import INTERVAL_KINDS
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
NOT_RAISED = {409: {"description": "the belt alarm (unattended_belt) is not silenced from the phone; or the kind "
                                   "is not raised now (an instant rule such as speed_jump never is): nothing to "
                                   "acknowledge. `detail` says which"}}
NO_RAMP = {409: {"description": "no ramp-down under way to stop (none asked for yet, announced but not started, "
                                "finished, or the console link down): `detail` says which"}}
SERVICE_UNAVAILABLE = {503: {"description": "the sampling loop has published nothing yet, or takes no commands"}}


def _latest(request: Request) -> dict:
    """The latest snapshot, never waiting; 503 before the first."""
    snapshot = request.app.state.source.board.read(wait_s=0)
    if snapshot is None:
        raise HTTPException(503, "no snapshot from the sampling loop yet")
    return snapshot


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
             responses={**UNAUTHORISED, **NOT_RAISED, **SERVICE_UNAVAILABLE},
             summary="quiet a raised interval until it ends; for steep_incline this also defers the ramp-down; "
                     "not the belt alarm; 409 when the kind is not raised now")
def acknowledge(request: Request, kind: Kind):
    if kind.value in ALARMS:
        raise HTTPException(409, ALARM_REFUSAL)
    if kind.value not in INTERVAL_KINDS:
        raise HTTPException(409, f"{kind.value} is an instant rule: its moment has passed and there is nothing "
                                 f"raised to acknowledge (snooze it to keep it quiet)")
    if not any(alert.get("kind") == kind.value for alert in _latest(request)["alerts"]):
        raise HTTPException(409, f"{kind.value} is not raised now: nothing to acknowledge")
    return _send(request, "acknowledge", kind.value)


@router.post("/api/ramp/stop", response_model=Accepted, status_code=202,
             responses={**UNAUTHORISED, **NO_RAMP, **SERVICE_UNAVAILABLE},
             summary="stop an automatic ramp-down under way, where it is; 409 when none is under way")
def stop_ramp(request: Request):
    snapshot = _latest(request)
    ramp = snapshot.get("ramp")
    if ramp is None:
        raise HTTPException(409, "no console link is configured: there is no ramp-down to stop")
    if ramp["state"] == "announced":
        raise HTTPException(409, "the ramp-down has not started yet: acknowledge steep_incline "
                                 "(\"I know, leave it\") to defer it until the climb ends")
    if ramp["state"] != "ramping":
        raise HTTPException(409, f"no ramp-down under way to stop (it is {ramp['state']})")
    if not (snapshot.get("console") or {}).get("alive", True):
        raise HTTPException(409, "the console link is down: the console finishes the ramp on its own; "
                                 "any console key stops it")
    return _send(request, "stop_ramp")


@router.post("/api/sim", response_model=Accepted, status_code=202,
             responses={**UNAUTHORISED, 409: {"description": "not running on the virtual treadmill, or a body "
                                                         "that asks for nothing (`{}`)"}},
             summary="sim mode only: set the belt speed, press an incline key, lean on the rails, or resume")
def sim_control(request: Request, body: SimControl):
    if not request.app.state.sim:
        raise HTTPException(409, "sim controls exist only on the virtual treadmill (run --sim)")
    if not body.resume and all(value is None for value in (body.speed_kmh, body.incline_pct, body.lean)):
        raise HTTPException(409, "nothing to do: give speed_kmh, incline_pct, lean or resume")
    sent = []
    if body.resume:
        sent.append(_send(request, "sim", "resume"))
    if body.speed_kmh is not None:
        sent.append(_send(request, "sim", "speed_kmh", body.speed_kmh))
    if body.incline_pct is not None:
        sent.append(_send(request, "sim", "incline_pct", body.incline_pct))
    if body.lean is not None:
        sent.append(_send(request, "sim", "lean", float(body.lean)))
    return Accepted(accepted=", ".join(a.accepted for a in sent))


@router.get("/api/pair/check", response_model=Accepted, responses=UNAUTHORISED,
            summary="200 if the pairing token sent is valid")
def pair_check():
    return Accepted(accepted="paired")
