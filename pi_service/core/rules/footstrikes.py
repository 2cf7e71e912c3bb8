"""unattended_belt and overstride: what the footstrikes say (spec 7, 7.1, 7.2).

A moving belt with nobody stepping on it is how treadmill injuries happen (a child, a pet,
a person who stepped onto the side rails and walks back onto a running belt). Long, slow
strides at a running speed land hard on the heel; shorter, quicker steps load the back and
the joints less. Both read the sample's `cadence_spm`: a recording without it gives None
throughout, which is never evidence, so both rules stay silent (spec 7.1).

Choices where the table is silent:
- overstride counts a cadence that is known and above 0: a cadence of 0 is nobody walking
  (that is unattended_belt), not a slow stride.
- Each release condition holds on its own ("footstrikes for 2 s, or the belt stopped for
  2 s"); the interval ends when the first completes (core/held.py `first_held_until`).
- A cadence outside 0..300 spm is unknown, as an out-of-range value of any channel is.
"""

from __future__ import annotations

from pi_service.config import RulesConfig
from pi_service.core.held import Held, all_held_until, all_wake
from pi_service.core.rules.base import IntervalRule
from pi_service.core.sample import Sample
from pi_service.units import kmh_to_mps

CADENCE_RANGE_SPM = (0.0, 300.0)  # beyond any human's steps: a value outside is not a reading


class UnattendedBelt(IntervalRule):
    """The belt at or above the session speed and no footstrike (cadence 0), both for 20 s;
    ends after footstrikes for 2 s, or the belt stopped for 2 s. An alarm."""

    kind = "unattended_belt"
    level = "alarm"

    def __init__(self, rules: RulesConfig):
        cfg = rules.unattended_belt
        gap_s = rules.sensor_fault.fault_s
        super().__init__(rules.min_duration_s, cfg.release_s, gap_s)
        self.moving_mps = kmh_to_mps(rules.session_start_kmh)
        self.hold_s = cfg.hold_s
        self.moving = Held(rules.min_duration_s, gap_s=gap_s)
        self.nobody = Held(rules.min_duration_s, gap_s=gap_s)
        self.conditions = (self.moving, self.nobody)
        self.stopped = Held(rules.min_duration_s, gap_s=gap_s)
        self.releases = ((self.release, cfg.release_s), (self.stopped, cfg.release_s))

    def watches(self) -> list[tuple[str, float]]:
        return [("speed_mps", self.moving_mps), ("cadence_spm", 0.0)]

    def onset_wake(self, t: float) -> float:
        return all_wake(self.conditions, self.hold_s)

    def onset(self, s: Sample, session_start: float | None) -> float | None:
        self.moving.update(s.t, None if s.speed_mps is None else s.speed_mps >= self.moving_mps)
        self.nobody.update(s.t, None if s.cadence_spm is None else s.cadence_spm <= 0.0)
        return all_held_until(s.t, self.conditions, self.hold_s)

    def released(self, s: Sample) -> tuple[bool | None, bool | None]:
        stepping = None if s.cadence_spm is None else s.cadence_spm > 0.0
        stopped = None if s.speed_mps is None else s.speed_mps < self.moving_mps
        return stepping, stopped

    def restart(self) -> None:
        self.moving.reset()
        self.nobody.reset()


class Overstride(IntervalRule):
    """Speed >= 8 km/h and a cadence under 150 spm, both for 60 s; ends after a cadence of
    >= 155 spm for 10 s, or a speed under 7.5 km/h for 2 s."""

    kind = "overstride"

    def __init__(self, rules: RulesConfig):
        cfg = rules.overstride
        gap_s = rules.sensor_fault.fault_s
        super().__init__(rules.min_duration_s, cfg.release_cadence_s, gap_s)
        self.fast_mps = kmh_to_mps(cfg.speed_kmh)
        self.slow_spm = cfg.cadence_spm
        self.hold_s = cfg.hold_s
        self.quick_spm = cfg.release_cadence_spm
        self.easy_mps = kmh_to_mps(cfg.release_speed_kmh)
        self.fast = Held(rules.min_duration_s, gap_s=gap_s)
        self.long_strides = Held(rules.min_duration_s, gap_s=gap_s)
        self.conditions = (self.fast, self.long_strides)
        self.slower = Held(rules.min_duration_s, gap_s=gap_s)
        self.releases = ((self.release, cfg.release_cadence_s), (self.slower, cfg.release_speed_s))

    def watches(self) -> list[tuple[str, float]]:
        return [("speed_mps", self.fast_mps), ("speed_mps", self.easy_mps), ("cadence_spm", 0.0),
                ("cadence_spm", self.slow_spm), ("cadence_spm", self.quick_spm)]

    def onset_wake(self, t: float) -> float:
        return all_wake(self.conditions, self.hold_s)

    def onset(self, s: Sample, session_start: float | None) -> float | None:
        cadence = s.cadence_spm
        self.fast.update(s.t, None if s.speed_mps is None else s.speed_mps >= self.fast_mps)
        self.long_strides.update(s.t, None if cadence is None else 0.0 < cadence < self.slow_spm)
        return all_held_until(s.t, self.conditions, self.hold_s)

    def released(self, s: Sample) -> tuple[bool | None, bool | None]:
        quick = None if s.cadence_spm is None else s.cadence_spm >= self.quick_spm
        slower = None if s.speed_mps is None else s.speed_mps < self.easy_mps
        return quick, slower

    def restart(self) -> None:
        self.fast.reset()
        self.long_strides.reset()
