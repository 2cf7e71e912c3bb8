"""ADXL345 3-axis accelerometer (Analog Devices, data sheet Rev. G), register-level over I2C.

Measures the deck's pitch, from which the incline follows. The default deck sensor: the
incline needs only gravity's direction, which the ADXL345 gives at a fixed 3.9 mg/LSB in
full-resolution mode with a documented tilt method (Analog Devices AN-1057). The MPU-6050
(`drivers/mpu6050.py`, `[incline] chip = "mpu6050"`) does the same job where it is the
board at hand; its gyro sits unused.

Register names follow the data sheet's Table 19.
"""

from __future__ import annotations

import math

from pi_service.drivers.i2c import I2CDevice
from pi_service.errors import WiringError
from pi_service.units import STANDARD_GRAVITY

REG_DEVID = 0x00  # device ID, reads 0xE5
REG_BW_RATE = 0x2C  # [3:0] output data rate code
REG_POWER_CTL = 0x2D  # bit 3: Measure
REG_DATA_FORMAT = 0x31  # bit 3: FULL_RES; [1:0]: range
REG_DATAX0 = 0x32  # DATAX0..DATAZ1: six bytes, little-endian, two's complement

DEVID = 0xE5
POWER_CTL_MEASURE = 1 << 3
DATA_FORMAT_FULL_RES = 1 << 3
RANGE_16G = 0b11  # footstrikes shake the deck beyond 2 g; full-res keeps 3.9 mg/LSB at any range
RATE_CODES = {25: 0x08, 50: 0x09, 100: 0x0A, 200: 0x0B, 400: 0x0C, 800: 0x0D}
SCALE_G_PER_LSB = 0.0039  # full-resolution mode, Table 1 "Scale Factor"

_AXES = {"x": (0, 1), "-x": (0, -1), "y": (1, 1), "-y": (1, -1)}


def counts_to_mps2(counts: int) -> float:
    return counts * SCALE_G_PER_LSB * STANDARD_GRAVITY


def pitch_deg(acceleration: tuple[float, float, float], forward_axis: str = "x") -> float:
    """Deck pitch in degrees (front up positive) from a gravity vector (AN-1057, eq. 11).

    With the deck tilted front-up, gravity's component along the forward axis points
    backwards, so the accelerometer reads +g*sin(pitch) on that axis.
    """
    index, sign = _AXES[forward_axis]
    forward = sign * acceleration[index]
    others = [component for i, component in enumerate(acceleration) if i != index]
    return math.degrees(math.atan2(forward, math.hypot(*others)))


def grade_pct(pitch: float, zero_deg: float = 0.0, span: float = 1.0) -> float:
    """Percent grade (rise over run x 100) from pitch, after the zero/span calibration."""
    return 100.0 * math.tan(math.radians(pitch - zero_deg)) * span


def output_rate_hz(sample_rate_hz: float) -> int:
    """The lowest data rate at or above twice the loop rate, so each read sees a new sample."""
    for rate in sorted(RATE_CODES):
        if rate >= 2 * sample_rate_hz:
            return rate
    return max(RATE_CODES)


class ADXL345:
    def __init__(self, device: I2CDevice):
        self.device = device

    def start(self, rate_hz: int = 200) -> None:
        """Check the chip ID, then set full-resolution +-16 g at `rate_hz` and start measuring."""
        devid = self.device.read_u8(REG_DEVID)
        if devid != DEVID:
            raise WiringError(
                f"{self.device.name} at 0x{self.device.address:02x} answered device ID 0x{devid:02x}, "
                f"not the ADXL345's 0x{DEVID:02X}: check that SDA/SCL are not swapped, CS is tied "
                f"high for I2C, and the SDO/ALT ADDRESS pin matches the configured address "
                f"(low 0x53, high 0x1D)"
            )
        self.device.write_u8(REG_BW_RATE, RATE_CODES[rate_hz])
        self.device.write_u8(REG_DATA_FORMAT, DATA_FORMAT_FULL_RES | RANGE_16G)
        self.device.write_u8(REG_POWER_CTL, POWER_CTL_MEASURE)

    def read_acceleration(self) -> tuple[float, float, float]:
        """(x, y, z) in m/s^2, from one six-byte burst so all axes come from the same sample."""
        data = self.device.read(REG_DATAX0, 6)
        return tuple(
            counts_to_mps2(int.from_bytes(data[i:i + 2], "little", signed=True)) for i in (0, 2, 4)
        )  # type: ignore[return-value]
