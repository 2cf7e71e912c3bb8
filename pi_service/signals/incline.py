"""The deck's incline from the accelerometer's gravity vector: the grade of the deck's
pitch, calibrated and low-passed. A reading far from 1 g is a footstrike's jolt, not a
fault: the incline holds its last value; only `IMPLAUSIBLE_FAULT_S` of such readings
says the chip is not at rest on a deck (reset, or loose)."""

from __future__ import annotations

import math

from pi_service.config import InclineConfig
from pi_service.drivers.adxl345 import grade_pct, pitch_deg
from pi_service.errors import HardwareError
from pi_service.units import STANDARD_GRAVITY

GRAVITY_PLAUSIBLE_MPS2 = (4.9, 14.7)  # 0.5 g .. 1.5 g: anything else is not a chip at rest on a deck
IMPLAUSIBLE_FAULT_S = 0.5


class LowPass:
    """First-order low-pass with time constant `tau_s`, for samples at uneven intervals."""

    def __init__(self, tau_s: float):
        self.tau_s = tau_s
        self.value: float | None = None
        self._t: float | None = None

    def update(self, t: float, x: float) -> float:
        if self.value is None or self.tau_s <= 0 or self._t is None:
            self.value = x
        else:
            alpha = 1.0 - math.exp(-(t - self._t) / self.tau_s)
            self.value += alpha * (x - self.value)
        self._t = t
        return self.value

    def reset(self) -> None:
        self.value = None
        self._t = None


class InclineEstimate:
    def __init__(self, smoothing_s: float):
        self.filter = LowPass(smoothing_s)
        self.implausible_since: float | None = None

    def reset(self) -> None:
        """Start the low-pass afresh (the chip was re-initialised)."""
        self.filter.reset()

    def update(self, t: float, acceleration: tuple[float, float, float], incline: InclineConfig) -> float | None:
        """The incline in % after the reading at `t` (m/s^2 per axis), with `incline`'s axis,
        zero and span; None until a plausible reading. HardwareError once readings have been
        implausible for `IMPLAUSIBLE_FAULT_S`."""
        magnitude = math.sqrt(sum(a * a for a in acceleration))
        if not GRAVITY_PLAUSIBLE_MPS2[0] <= magnitude <= GRAVITY_PLAUSIBLE_MPS2[1]:
            if self.implausible_since is None:
                self.implausible_since = t
            if t - self.implausible_since >= IMPLAUSIBLE_FAULT_S:
                self.implausible_since = None
                raise HardwareError(f"reads {magnitude / STANDARD_GRAVITY:.2f} g, not about 1 g: chip reset or loose")
            return self.filter.value
        self.implausible_since = None
        grade = grade_pct(pitch_deg(acceleration, incline.forward_axis), incline.zero_deg, incline.span)
        return self.filter.update(t, grade)
