"""rail_lean and rail_hold: weight on the handrails strains the upper back and shoulders."""

from __future__ import annotations

from pi_service.config import RulesConfig
from pi_service.core.held import Held
from pi_service.core.rules.base import IntervalRule
from pi_service.core.sample import Sample
from pi_service.units import kmh_to_mps

STANDARD_GRAVITY = 9.80665


def total_force(s: Sample) -> float | None:
    """Left + right rail force; unknown if either rail is."""
    if s.rail_left_n is None or s.rail_right_n is None:
        return None
    return s.rail_left_n + s.rail_right_n


class RailLean(IntervalRule):
    """Total force >= 80 N (or a share of body weight) for 5 s, while the belt moves and
    past the first 30 s of a session; ends when the force stays below 50 N for 2 s."""

    kind = "rail_lean"

    def __init__(self, rules: RulesConfig, body_mass_kg: float | None = None):
        cfg = rules.rail_lean
        super().__init__(rules.min_duration_s, cfg.release_s)
        self.threshold_n = cfg.body_fraction * body_mass_kg * STANDARD_GRAVITY if body_mass_kg else cfg.force_n
        self.release_n = cfg.release_n
        self.hold_s = cfg.hold_s
        self.grace_s = cfg.session_grace_s
        self.moving_mps = kmh_to_mps(rules.session_start_kmh)
        self.lean = Held(rules.min_duration_s)
        self.session_start: float | None = None

    def watches(self) -> list[tuple[str, float]]:
        return [("total_n", self.threshold_n), ("total_n", self.release_n), ("speed_mps", self.moving_mps)]

    def onset_wake(self, t: float) -> float:
        wake = self.lean.wake(self.hold_s)
        start = self.session_start
        if start is not None and t - start < self.grace_s:
            wake = min(wake, start + self.grace_s)  # the grace period ends
        return wake

    def onset(self, s: Sample, session_start: float | None) -> float | None:
        self.session_start = session_start
        total = total_force(s)
        if total is None or s.speed_mps is None:
            raw = None
        else:
            raw = (total >= self.threshold_n and s.speed_mps >= self.moving_mps
                   and session_start is not None and s.t - session_start >= self.grace_s)
        self.lean.update(s.t, raw)
        return self.lean.held_until(s.t, self.hold_s)

    def released(self, s: Sample) -> bool | None:
        total = total_force(s)
        return None if total is None else total < self.release_n

    def restart(self) -> None:
        self.lean.reset()


class RailHold(IntervalRule):
    """Total force >= 5 N for 60 s; ends when it stays below 5 N for 2 s."""

    kind = "rail_hold"

    def __init__(self, rules: RulesConfig):
        cfg = rules.rail_hold
        super().__init__(rules.min_duration_s, cfg.release_s)
        self.force_n = cfg.force_n
        self.hold_s = cfg.hold_s
        self.hold = Held(rules.min_duration_s)

    def watches(self) -> list[tuple[str, float]]:
        return [("total_n", self.force_n)]

    def onset_wake(self, t: float) -> float:
        return self.hold.wake(self.hold_s)

    def onset(self, s: Sample, session_start: float | None) -> float | None:
        total = total_force(s)
        self.hold.update(s.t, None if total is None else total >= self.force_n)
        return self.hold.held_until(s.t, self.hold_s)

    def released(self, s: Sample) -> bool | None:
        total = total_force(s)
        return None if total is None else total < self.force_n

    def restart(self) -> None:
        self.hold.reset()
