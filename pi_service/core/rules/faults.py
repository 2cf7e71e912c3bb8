"""sensor_fault: a channel empty or out of range for 0.5 s, until it is valid again for 2 s."""

from __future__ import annotations

from pi_service.config import RulesConfig
from pi_service.core.held import Held
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
