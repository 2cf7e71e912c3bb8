"""The deck's incline from the accelerometer's gravity vector, low-passed: the grade of its
pitch, calibrated. A reading far from 1 g is a footstrike's jolt, not a fault; only
`IMPLAUSIBLE_FAULT_S` of such readings in a row says the chip is not at rest on a deck
(reset, or loose)."""

from __future__ import annotations

import math

from pi_service.config import InclineConfig
from pi_service.drivers.adxl345 import grade_pct, pitch_deg
from pi_service.errors import HardwareError
from pi_service.units import STANDARD_GRAVITY

GRAVITY_PLAUSIBLE_MPS2 = (4.9, 14.7)  # 0.5 g .. 1.5 g: anything else is not a chip at rest on a deck
IMPLAUSIBLE_FAULT_S = 0.5
# Readings the vector takes: a footstrike's jolt swings from about +2.5 g to nearly 0 g on a
# running deck, and all of it averages out; a reading of (almost) nothing is a chip reset
# (its data registers read 0), and beyond 4 g a blow to the sensor, not the deck's motion.
VECTOR_TAKES_MPS2 = (0.05 * STANDARD_GRAVITY, 4.0 * STANDARD_GRAVITY)
# After a (re)start the vector is the plain mean of the readings so far, and no grade is given
# until it holds this long of them: one reading may be a footstrike's jolt (a reading at 0.8 g
# in a jolt's rebound reads a 10.8 % deck as 13.5 %), and a jolt is over within 50 ms.
SETTLE_S = 0.06


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
    """The gravity vector low-passed axis by axis, and the grade of its pitch (spec 7.2).

    Every reading goes into the vector, a footstrike's too: the deck's jolts average out
    (the deck comes back to where it was), while the grade of each reading would not (it is
    not linear in the axes), and leaving the jolts' peaks out would bias it too (at 10 km/h
    by +0.4 % grade). Only readings of almost nothing (a reset chip) or of a blow are left
    out (`VECTOR_TAKES_MPS2`): the grade holds then."""

    def __init__(self, smoothing_s: float):
        self.smoothing_s = smoothing_s
        self.vector: list[float] | None = None
        self.readings = 0
        self.since: float | None = None  # the first reading after a (re)start
        self.last_t: float | None = None
        self.implausible_since: float | None = None
        self.grade: float | None = None

    @property
    def value(self) -> float | None:
        """The incline now (the last grade), without a new reading."""
        return self.grade

    def reset(self) -> None:
        """Start the low-pass afresh (the chip was re-initialised)."""
        self.vector = self.since = self.last_t = self.grade = None
        self.readings = 0

    def update(self, t: float, acceleration: tuple[float, float, float], incline: InclineConfig) -> float | None:
        """The incline in % after the reading at `t` (m/s^2 per axis), with `incline`'s axis,
        zero and span; None until a plausible reading. HardwareError once readings have been
        implausible for `IMPLAUSIBLE_FAULT_S`."""
        magnitude = math.sqrt(sum(a * a for a in acceleration))
        plausible = GRAVITY_PLAUSIBLE_MPS2[0] <= magnitude <= GRAVITY_PLAUSIBLE_MPS2[1]
        if not plausible:
            if self.implausible_since is None:
                self.implausible_since = t
            if t - self.implausible_since >= IMPLAUSIBLE_FAULT_S:
                self.implausible_since = None
                raise HardwareError(f"reads {magnitude / STANDARD_GRAVITY:.2f} g, not about 1 g: chip reset or loose")
            if self.grade is None:
                return None  # no vector to start from: a jolt is not the first reading
            if not VECTOR_TAKES_MPS2[0] <= magnitude <= VECTOR_TAKES_MPS2[1]:
                return self.grade
        else:
            self.implausible_since = None
        if self.vector is None or self.last_t is None or self.smoothing_s <= 0:
            self.vector, self.since, self.readings = list(acceleration), t, 1
        else:
            self.readings += 1
            # The running mean until the low-pass's own weight is the larger: no reading dominates.
            alpha = max(1.0 - math.exp(-(t - self.last_t) / self.smoothing_s), 1.0 / self.readings)
            for axis, a in enumerate(acceleration):
                self.vector[axis] += alpha * (a - self.vector[axis])
        self.last_t = t
        if self.smoothing_s > 0 and t - self.since < SETTLE_S:
            return self.grade  # None after a (re)start, until the mean holds enough readings
        self.grade = grade_pct(pitch_deg(self.vector, incline.forward_axis), incline.zero_deg, incline.span)
        return self.grade
