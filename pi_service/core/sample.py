"""One timestamped reading of every channel, in SI units; None means the sensor gave no valid value.

The footstrike channels (spec 5.3, 7.2) come from the deck accelerometer's FIFO through
`signals/footstrikes.py`: `cadence_spm` is footstrikes per minute over the last steps (0 once
none has been felt for 3 s), `footstrike_g` the last footstrike's peak in g above gravity
(0 while the cadence is 0). A recording without those columns gives None for both, and the
footstrike rules stay silent."""

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
    cadence_spm: float | None = None
    footstrike_g: float | None = None
