"""`sensor_fault` on channel "incline_check": the console's reported deck position and the
deck's incline sensor disagree by more than `incline_check_pct` (2 %) for `incline_check_s`
(5 s), until they agree again for the recovery time (spec 7).

Either one alone can be wrong (a slipped potentiometer, a loose accelerometer), and a
ramp-down is only confirmed by the sensor, so while they disagree no ramp is trusted.
It is a rule like the others (core/rules/base.py): confirmed conditions, unknown gaps
bridged up to the sensor_fault time, no gap ending it; fed the two readings, not a Sample.
"""

from __future__ import annotations

from typing import NamedTuple

from pi_service.config import RulesConfig
from pi_service.core.events import Event
from pi_service.core.held import Held
from pi_service.core.rules.base import IntervalRule

CHANNEL = "incline_check"


class InclineReadings(NamedTuple):
    t: float
    sensor_pct: float | None  # the incline sensor (None: no valid reading)
    console_pct: float | None  # the console's deck position (None: the link is down)


class InclineCheck(IntervalRule):
    kind = "sensor_fault"

    def __init__(self, rules: RulesConfig):
        cfg = rules.sensor_fault
        super().__init__(rules.min_duration_s, cfg.recover_s, cfg.fault_s)
        self.limit_pct = cfg.incline_check_pct
        self.hold_s = cfg.incline_check_s
        self.low, self.high = cfg.incline_pct_min, cfg.incline_pct_max
        self.disagree = Held(rules.min_duration_s, gap_s=cfg.fault_s)

    def detail(self) -> dict:
        return {"channel": CHANNEL}

    def message(self) -> str:
        return (f"The console's incline and the deck's incline sensor disagree by more than {self.limit_pct:g} %, "
                f"so an automatic ramp-down cannot be confirmed: check the sensor's mounting and the console's "
                f"position feedback.")

    def _difference(self, r: InclineReadings) -> float | None:
        if r.sensor_pct is None or r.console_pct is None or not self.low <= r.sensor_pct <= self.high:
            return None
        return abs(r.sensor_pct - r.console_pct)

    def watches(self) -> list[tuple[str, float]]:
        return []  # not fed by replay: the console's position is not in a recording

    def onset_wake(self, t: float) -> float:
        return self.disagree.wake(self.hold_s)

    def onset(self, r: InclineReadings, session_start: float | None) -> float | None:
        difference = self._difference(r)
        self.disagree.update(r.t, None if difference is None else difference > self.limit_pct)
        return self.disagree.held_until(r.t, self.hold_s)

    def released(self, r: InclineReadings) -> bool | None:
        difference = self._difference(r)
        return None if difference is None else difference <= self.limit_pct

    def restart(self) -> None:
        self.disagree.reset()

    def feed(self, t: float, sensor_pct: float | None, console_pct: float | None) -> list[Event]:
        out: list[Event] = []
        self.update(InclineReadings(t, sensor_pct, console_pct), None, out)
        return out
