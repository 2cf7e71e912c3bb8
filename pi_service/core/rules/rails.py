"""rail_lean and rail_hold: weight on the handrails strains the upper back and shoulders."""

from __future__ import annotations

from pi_service.config import RulesConfig
from pi_service.core.held import Held, all_held_until, all_wake
from pi_service.core.rules.base import IntervalRule
from pi_service.core.sample import Sample
from pi_service.units import STANDARD_GRAVITY, kmh_to_mps


def total_force(s: Sample) -> float | None:
    """Left + right rail force; unknown if either rail is."""
    if s.rail_left_n is None or s.rail_right_n is None:
        return None
    return s.rail_left_n + s.rail_right_n


def lean_levels(rules: RulesConfig, body_mass_kg: float | None) -> tuple[float, float]:
    """(threshold, release) in N: the config's, or with a body mass, its share of the
    body's weight and a release level scaled with it (50/80 of it by default)."""
    cfg = rules.rail_lean
    if not body_mass_kg:
        return cfg.force_n, cfg.release_n
    threshold = cfg.body_fraction * body_mass_kg * STANDARD_GRAVITY
    return threshold, cfg.release_n * threshold / cfg.force_n


class RailLean(IntervalRule):
    """Total force >= 80 N (or a share of body weight) for 5 s, while the belt moves and
    past the first 30 s of a session; ends when the force stays below 50 N (scaled with
    the threshold) for 2 s. The force and the belt's motion are confirmed each on its own."""

    kind = "rail_lean"

    def __init__(self, rules: RulesConfig, body_mass_kg: float | None = None):
        cfg = rules.rail_lean
        gap_s = rules.sensor_fault.fault_s
        super().__init__(rules.min_duration_s, cfg.release_s, gap_s)
        self.threshold_n, self.release_n = lean_levels(rules, body_mass_kg)
        self.hold_s = cfg.hold_s
        self.grace_s = cfg.session_grace_s
        self.moving_mps = kmh_to_mps(rules.session_start_kmh)
        self.leaning = Held(rules.min_duration_s, gap_s=gap_s)
        self.moving = Held(rules.min_duration_s, gap_s=gap_s)
        self.conditions = (self.leaning, self.moving)
        self.session_start: float | None = None

    def watches(self) -> list[tuple[str, float]]:
        return [("total_n", self.threshold_n), ("total_n", self.release_n), ("speed_mps", self.moving_mps)]

    def onset_wake(self, t: float) -> float:
        if self.session_start is None:
            return min(c.wake() for c in self.conditions)
        return all_wake(self.conditions, self.hold_s, self.session_start + self.grace_s)

    def onset(self, s: Sample, session_start: float | None) -> float | None:
        self.session_start = session_start
        total = total_force(s)
        self.leaning.update(s.t, None if total is None else total >= self.threshold_n)
        self.moving.update(s.t, None if s.speed_mps is None else s.speed_mps >= self.moving_mps)
        if session_start is None:
            return None
        return all_held_until(s.t, self.conditions, self.hold_s, session_start + self.grace_s)

    def released(self, s: Sample) -> bool | None:
        total = total_force(s)
        return None if total is None else total < self.release_n

    def restart(self) -> None:
        self.leaning.reset()


class RailHold(IntervalRule):
    """Total force >= 5 N for 60 s; ends when it stays below 5 N for 2 s."""

    kind = "rail_hold"

    def __init__(self, rules: RulesConfig):
        cfg = rules.rail_hold
        super().__init__(rules.min_duration_s, cfg.release_s, rules.sensor_fault.fault_s)
        self.force_n = cfg.force_n
        self.hold_s = cfg.hold_s
        self.hold = Held(rules.min_duration_s, gap_s=rules.sensor_fault.fault_s)

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

