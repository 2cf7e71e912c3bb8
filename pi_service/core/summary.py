"""A session's summary for the history: distance, time steep, top speed, average cadence, the
metres climbed and the calories (core/effort.py), and each rule's count and time."""

from __future__ import annotations

from dataclasses import dataclass, field

from pi_service.core.effort import DEFAULT_BODY_MASS_KG, energy_kcal
from pi_service.core.events import INTERVAL_KINDS, Event
from pi_service.core.sample import Sample
from pi_service.units import kmh_to_mps


@dataclass
class SessionSummary:
    started_t: float
    last_t: float
    distance_m: float = 0.0
    steep_s: float = 0.0
    max_speed_mps: float = 0.0
    elevation_gain_m: float = 0.0  # belt distance times the grade, uphill only
    energy_kcal: float = 0.0  # while the belt moved: ACSM's equations, rail-support corrected
    ended_t: float | None = None
    rules: dict[str, dict[str, float]] = field(default_factory=dict)
    _open: dict[tuple, float] = field(default_factory=dict)
    # The cadence's time integral (spm x s) and the time it covers: the seconds the belt
    # moved with someone stepping on it.
    _steps: float = 0.0
    _stepping_s: float = 0.0

    @property
    def duration_s(self) -> float:
        return (self.ended_t if self.ended_t is not None else self.last_t) - self.started_t

    @property
    def cadence_spm(self) -> float | None:
        """The average cadence while walking, weighted by time; None if no footstrike was felt
        with the belt moving (footstrikes off, a recording without them, nobody on the belt)."""
        return None if self._stepping_s <= 0 else round(self._steps / self._stepping_s, 1)

    def to_dict(self) -> dict:
        rules = {kind: dict(v) for kind, v in self.rules.items()}
        for (kind, _), since in self._open.items():  # intervals still raised count up to now
            rules.setdefault(kind, {"count": 0, "seconds": 0.0})["seconds"] += max(0.0, self.last_t - since)
        return {"started_t": self.started_t, "ended_t": self.ended_t, "duration_s": round(self.duration_s, 2),
                "distance_m": round(self.distance_m, 1), "steep_s": round(self.steep_s, 1),
                "max_speed_mps": round(self.max_speed_mps, 3), "cadence_avg_spm": self.cadence_spm,
                "elevation_gain_m": round(self.elevation_gain_m, 2), "energy_kcal": round(self.energy_kcal, 1),
                "rules": {k: {"count": int(v["count"]), "seconds": round(v["seconds"], 1)} for k, v in rules.items()}}


class SummaryBuilder:
    """Fed the samples and events of one session at a time. `moving_mps`: the belt speed from
    which the belt counts as moving (the session's start speed); `body_mass_kg`: the rider's,
    for the calories."""

    def __init__(self, steep_pct: float, moving_mps: float = kmh_to_mps(0.5),
                 body_mass_kg: float = DEFAULT_BODY_MASS_KG):
        self.steep_pct = steep_pct
        self.moving_mps = moving_mps
        self.body_mass_kg = body_mass_kg
        self.current: SessionSummary | None = None
        self._prev: Sample | None = None

    def start(self, t: float) -> None:
        self.current = SessionSummary(started_t=t, last_t=t)
        self._prev = None

    def add_sample(self, s: Sample) -> None:
        summary, prev = self.current, self._prev
        self._prev = s
        if summary is None:
            return
        summary.last_t = s.t
        if s.speed_mps is not None and s.speed_mps > summary.max_speed_mps:
            summary.max_speed_mps = s.speed_mps
        if prev is None:
            return
        dt = s.t - prev.t
        if s.speed_mps is not None and prev.speed_mps is not None:
            step_m = 0.5 * (s.speed_mps + prev.speed_mps) * dt
            summary.distance_m += step_m
            # Climbed at the grade the interval's first sample read, as steep_s counts it.
            if prev.incline_pct is not None and prev.incline_pct > 0:
                summary.elevation_gain_m += step_m * prev.incline_pct / 100.0
        if prev.incline_pct is not None and prev.incline_pct >= self.steep_pct:
            summary.steep_s += dt
        # Calories at the interval's first sample too, only while the belt moves: standing
        # on a stopped belt is rest, not the exercise the console counts.
        if prev.speed_mps is not None and prev.speed_mps > 0:
            summary.energy_kcal += energy_kcal(prev.speed_mps, prev.incline_pct, prev.rail_left_n,
                                               prev.rail_right_n, self.body_mass_kg, dt)
        # Each interval at the cadence its first sample read, as steep_s counts the grade: an
        # unknown cadence (None, NaN) and a belt standing still or unknown count for nothing,
        # and 0 (nobody stepping: stepped off, on the side rails) is left out of the average.
        cadence, speed = prev.cadence_spm, prev.speed_mps
        if cadence is not None and cadence > 0 and speed is not None and speed >= self.moving_mps:
            summary._steps += cadence * dt
            summary._stepping_s += dt

    def add_event(self, event: Event) -> None:
        summary = self.current
        if summary is None:
            return
        key = (event.kind, event.detail.get("channel"))
        counts = summary.rules.setdefault(event.kind, {"count": 0, "seconds": 0.0})
        if event.phase == "end":
            since = summary._open.pop(key, None)
            if since is not None:
                counts["seconds"] += event.t - since
            return
        counts["count"] += 1
        if event.kind in INTERVAL_KINDS:
            summary._open[key] = event.t

    def finish(self, ended_t: float) -> SessionSummary | None:
        summary, self.current = self.current, None
        if summary is not None:
            summary.ended_t = ended_t
        return summary
