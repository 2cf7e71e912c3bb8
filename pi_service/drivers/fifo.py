"""What a deck accelerometer's FIFO gives per drain, and what its depth allows: shared by both
chips' drivers (`drivers/adxl345.py`, `drivers/mpu6050.py`) and the sampling loop's checks."""

from __future__ import annotations

import math
from dataclasses import dataclass

# How far a chip's own oscillator may run from its nominal rate. The ADXL345 data sheet gives its
# rates as nominal with no accuracy; the MPU-6050's internal oscillator is -15..+10 % over
# temperature, its gyro PLL (which the driver selects) +-1 % (PS-MPU-6000A 6.5). The virtual
# treadmill's chips are tested at +-10 %: the fast end bounds how many samples a tick can find.
RATE_TOLERANCE = 0.10


@dataclass(frozen=True)
class FifoRead:
    """One drain of the FIFO."""

    samples: list[tuple[float, float, float]]  # oldest first, (x, y, z) m/s^2
    overflowed: bool  # samples were lost since the last drain (those here follow the gap)
    past_watermark: bool  # the FIFO was filling towards overflow: the drain came late


@dataclass(frozen=True)
class FifoStream:
    """A chip's FIFO streaming at `data_rate_hz` (nominal): `capacity` samples fit before it overflows."""

    data_rate_hz: float
    capacity: int

    @property
    def fastest_hz(self) -> float:
        return self.data_rate_hz * (1 + RATE_TOLERANCE)

    def holds_s(self) -> float:
        """How long a full FIFO lasts at the fastest oscillator: a drain later than this loses samples."""
        return self.capacity / self.fastest_hz

    def loop_rate_min_hz(self) -> float:
        """The slowest loop whose drains keep every sample even when one tick comes a whole
        period late (two periods between drains)."""
        return 2.0 / self.holds_s()

    def samples_per_tick_max(self, loop_rate_hz: float, late_s: float = 0.0) -> int:
        """The most samples one drain finds at `loop_rate_hz`, with the fastest oscillator and the
        tick `late_s` after the last one's period."""
        return math.ceil(self.fastest_hz * (1.0 / loop_rate_hz + late_s))
