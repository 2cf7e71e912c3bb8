"""`/api/recent`: the last minutes at 1 Hz, so a page opened mid-session (a reload, a second
phone) draws its charts at once. The web process keeps them in a bounded ring fed once a
second from the snapshot board, by a task its lifespan starts and stops (web/app.py).

The feeder never touches hardware and never waits: a board read with `wait_s=0` is a copy
of shared memory and a JSON parse. A snapshot no newer than the last one kept (the loop
stalled, or restarting) is not kept again, so a gap in the loop is a gap in the charts.
Samples are kept in SI units and converted at the answer, as /api/status is.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import NamedTuple

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pi_service.units import mps_to_display

router = APIRouter()

PERIOD_S = 1.0
KEPT_S = 3600  # the longest span asked for: an hour of 1 Hz samples, about 0.5 MB


class Kept(NamedTuple):
    t: float
    speed_mps: float | None
    incline_pct: float | None
    rail_left_n: float | None
    rail_right_n: float | None
    cadence_spm: float | None


class RecentSample(BaseModel):
    t: float = Field(description="sample time, on the same clock as /api/status's t")
    speed: float | None = Field(description="belt speed in `units`")
    incline_pct: float | None
    rail_left_n: float | None
    rail_right_n: float | None
    cadence_spm: float | None


class Recent(BaseModel):
    t: float = Field(description="the latest snapshot's time (as /api/status's t)")
    units: str = Field(description="km/h or mph: the unit of each sample's `speed`, as /api/status's units")
    samples: list[RecentSample] = Field(description="one a second, oldest first")


class RecentRing:
    """The last `KEPT_S` seconds of the snapshots on `source.board`, one a second."""

    def __init__(self, source, period_s: float = PERIOD_S, kept_s: float = KEPT_S):
        self.source = source
        self.period_s = period_s
        self.samples: deque[Kept] = deque(maxlen=int(kept_s / period_s) + 1)
        self.task: asyncio.Task | None = None

    def take(self) -> None:
        """Keep the board's latest snapshot if it is newer than the last kept."""
        snapshot = self.source.board.read(wait_s=0)
        if snapshot is None or (self.samples and snapshot["t"] <= self.samples[-1].t):
            return
        self.samples.append(Kept(snapshot["t"], snapshot["speed_mps"], snapshot["incline_pct"],
                                 snapshot["rail_left_n"], snapshot["rail_right_n"], snapshot.get("cadence_spm")))

    def since(self, t: float) -> list[Kept]:
        """The samples at or after `t`, oldest first."""
        return [kept for kept in self.samples if kept.t >= t]

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="recent-ring")

    async def close(self) -> None:
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            # On the second's beat, so the samples are a period apart however long a take took.
            await asyncio.sleep(self.period_s - time.monotonic() % self.period_s)
            self.take()


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@router.get("/api/recent", response_model=Recent,
            summary="the last minutes at 1 Hz (speed, incline, rails, cadence), oldest first, for the charts",
            responses={503: {"description": "the sampling loop has published nothing yet"}})
async def recent(request: Request, seconds: int = Query(300, ge=1, le=3600, description="how far back, in seconds")):
    latest = request.app.state.source.board.read(wait_s=0)
    if latest is None:
        return JSONResponse({"detail": "no snapshot from the sampling loop yet"}, status_code=503)
    units = request.app.state.config.units
    samples = [RecentSample(t=k.t, speed=None if k.speed_mps is None else round(mps_to_display(k.speed_mps, units), 2),
                            incline_pct=_round(k.incline_pct, 2), rail_left_n=_round(k.rail_left_n, 1),
                            rail_right_n=_round(k.rail_right_n, 1), cadence_spm=_round(k.cadence_spm, 1))
               for k in request.app.state.recent.since(latest["t"] - seconds)]
    return Recent(t=latest["t"], units=units, samples=samples)
