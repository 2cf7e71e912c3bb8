"""One timestamped reading of every channel, in SI units; None means the sensor gave no valid value."""

from __future__ import annotations

from dataclasses import dataclass

CHANNELS = ("speed", "incline", "rail_left", "rail_right")


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # seconds on a monotonic clock
    speed_mps: float | None
    incline_pct: float | None
    rail_left_n: float | None
    rail_right_n: float | None
