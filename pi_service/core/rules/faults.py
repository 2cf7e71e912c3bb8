"""sensor_fault: a channel empty or out of range for 0.5 s, until it is valid again for 2 s."""

from __future__ import annotations

from pi_service.config import RulesConfig
from pi_service.core.held import INF, Held
from pi_service.core.rules.base import IntervalRule
from pi_service.core.sample import Sample
from pi_service.units import kmh_to_mps


def channel_ranges(rules: RulesConfig) -> dict[str, tuple[str, float, float]]:
    """channel -> (Sample attribute, lowest valid, highest valid), in SI units."""
    cfg = rules.sensor_fault
    return {
        "speed": ("speed_mps", kmh_to_mps(cfg.speed_kmh_min), kmh_to_mps(cfg.speed_kmh_max)),
        "incline": ("incline_pct", cfg.incline_pct_min, cfg.incline_pct_max),
        "rail_left": ("rail_left_n", cfg.rail_n_min, cfg.rail_n_max),
        "rail_right": ("rail_right_n", cfg.rail_n_min, cfg.rail_n_max),
    }


class SensorFault(IntervalRule):
    kind = "sensor_fault"

    def __init__(self, rules: RulesConfig, channel: str):
        cfg = rules.sensor_fault
        super().__init__(rules.min_duration_s, cfg.recover_s)
        self.channel = channel
        self.attribute, self.low, self.high = channel_ranges(rules)[channel]
        self.fault_s = cfg.fault_s
        self.invalid = Held(rules.min_duration_s)

    def detail(self) -> dict:
        return {"channel": self.channel}

    def watches(self) -> list[tuple[str, float]]:
        return [(self.attribute, self.low), (self.attribute, self.high)]

    def onset_wake(self, t: float) -> float:
        return self.invalid.wake(self.fault_s)

    def _valid(self, s: Sample) -> bool:
        value = getattr(s, self.attribute)
        return value is not None and self.low <= value <= self.high

    def onset(self, s: Sample, session_start: float | None) -> float | None:
        self.invalid.update(s.t, not self._valid(s))
        return self.invalid.held_until(s.t, self.fault_s)

    def released(self, s: Sample) -> bool:
        return self._valid(s)

    def restart(self) -> None:
        self.invalid.reset()


class SensorFaults:
    """The four channels' SensorFault rules, skipped in one check while every channel is valid."""

    kind = "sensor_fault"

    def __init__(self, rules: RulesConfig, channels: tuple[str, ...]):
        self.rules = [SensorFault(rules, channel) for channel in channels]
        ranges = channel_ranges(rules)
        (self.speed_lo, self.speed_hi), (self.incline_lo, self.incline_hi) = \
            ranges["speed"][1:], ranges["incline"][1:]
        (self.left_lo, self.left_hi), (self.right_lo, self.right_hi) = ranges["rail_left"][1:], ranges["rail_right"][1:]
        assert [rule.channel for rule in self.rules] == ["speed", "incline", "rail_left", "rail_right"]
        self.idle = True  # every channel valid and no rule active or pending, as of the last sample

    def watches(self) -> list[tuple[str, float]]:
        return [pair for rule in self.rules for pair in rule.watches()]

    def wake(self, t: float) -> float:
        return INF if self.idle else min(rule.wake(t) for rule in self.rules)

    def _quiet(self) -> bool:
        return not any(rule.active or rule.invalid.raw or rule.invalid.state for rule in self.rules)

    def update(self, s: Sample, session_start: float | None, out: list) -> None:
        speed, incline, left, right = s.speed_mps, s.incline_pct, s.rail_left_n, s.rail_right_n
        if (speed is not None and self.speed_lo <= speed <= self.speed_hi
                and incline is not None and self.incline_lo <= incline <= self.incline_hi
                and left is not None and self.left_lo <= left <= self.left_hi
                and right is not None and self.right_lo <= right <= self.right_hi):
            if self.idle:
                return  # all valid and nothing pending: each rule would do nothing
            for rule in self.rules:
                rule.update(s, session_start, out)
            self.idle = self._quiet()
            return
        self.idle = False
        for rule in self.rules:
            rule.update(s, session_start, out)
