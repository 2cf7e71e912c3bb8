"""Request and response models shared by the web API and the CLI (importable without building the app)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SessionStatus(BaseModel):
    elapsed_s: float = Field(description="seconds since the session began")
    distance_m: float = Field(description="belt distance covered in the session")


class Alert(BaseModel):
    kind: str = Field(description="rule name, e.g. rail_lean")
    since_t: float = Field(description="when the interval started, sample time")
    message: str = Field("", description="the reason and the advice, in one sentence")
    detail: dict = Field(default_factory=dict, description="e.g. the channel of a sensor_fault")


class EventOut(BaseModel):
    t: float
    kind: str
    phase: str = Field(description="start, end or instant")
    message: str = ""
    level: str = "warning"
    detail: dict = Field(default_factory=dict)


class FaultStatus(BaseModel):
    channel: str = Field(description="speed, incline, rail_left, rail_right, console or recording")
    device: str
    reason: str
    for_s: float = Field(description="seconds the fault has lasted")


class LoopStatus(BaseModel):
    target_hz: float
    rate_hz: float = Field(description="ticks per second over the last minute's whole seconds")
    late_p50_ms: float = Field(description="wake-up lateness, median over the last minute")
    late_p99_ms: float
    late_max_ms: float
    overruns: int = Field(description="ticks that ended past the next deadline")
    missed_periods: int = Field(description="deadlines skipped because of overruns")
    ticks: int
    work_max_ms: float
    realtime: str = Field(description="what scheduling the loop got from the OS")
    device_errors: dict[str, int] = Field(description="failed transfers per device, after retry")
    belt_pulses: int
    belt_glitches: int
    recording_dropped: int
    age_ms: float = Field(description="age of this snapshot")
    restarts: int = Field(description="times the supervisor restarted the sampling process")


class SimStatus(BaseModel):
    scenario: str
    step: str
    scenario_t: float
    speedup: float


class Status(BaseModel):
    t: float = Field(description="sample time, seconds on the monotonic clock")
    units: str = Field(description="km/h or mph: the unit of `speed`")
    speed: float | None = Field(description="belt speed in `units`")
    speed_kmh: float | None
    incline_pct: float | None
    rail_left_n: float | None
    rail_right_n: float | None
    session: SessionStatus | None
    alerts: list[Alert] = Field(description="the rule intervals raised now")
    events: list[EventOut] = Field(description="the most recent events, oldest first")
    faults: list[FaultStatus]
    loop: LoopStatus
    demo: bool = Field(description="true when the rule timings are the demo's shortened ones")
    sim: SimStatus | None = Field(description="the virtual treadmill's scenario, in sim mode")


class Health(BaseModel):
    healthy: bool
    reason: str
