"""ADXL345 3-axis accelerometer (Analog Devices, data sheet Rev. G), register-level over I2C.

Measures the deck's pitch, from which the incline follows. The default deck sensor: the
incline needs only gravity's direction, which the ADXL345 gives at a fixed 3.9 mg/LSB in
full-resolution mode with a documented tilt method (Analog Devices AN-1057). The MPU-6050
(`drivers/mpu6050.py`, `[incline] chip = "mpu6050"`) does the same job where it is the
board at hand; its gyro sits unused.

Register names follow the data sheet's Table 19. For footstrikes (spec 7.2) the chip streams
at 400 Hz into its FIFO (`start_fifo`, `read_fifo`), drained once per tick.
"""

from __future__ import annotations

import math

from pi_service.drivers.fifo import FifoRead, FifoStream
from pi_service.drivers.i2c import I2CDevice
from pi_service.errors import WiringError
from pi_service.units import STANDARD_GRAVITY

REG_DEVID = 0x00  # device ID, reads 0xE5
REG_BW_RATE = 0x2C  # [3:0] output data rate code
REG_POWER_CTL = 0x2D  # bit 3: Measure
REG_INT_SOURCE = 0x30  # bit 1 Watermark, bit 0 Overrun (read-only)
REG_DATA_FORMAT = 0x31  # bit 3: FULL_RES; [1:0]: range
REG_DATAX0 = 0x32  # DATAX0..DATAZ1: six bytes, little-endian, two's complement
REG_FIFO_CTL = 0x38  # [7:6] FIFO_MODE, bit 5 Trigger, [4:0] Samples
REG_FIFO_STATUS = 0x39  # bit 7 FIFO_TRIG, [5:0] Entries (read-only)

DEVID = 0xE5
POWER_CTL_MEASURE = 1 << 3
DATA_FORMAT_FULL_RES = 1 << 3
RANGE_16G = 0b11  # footstrikes shake the deck beyond 2 g; full-res keeps 3.9 mg/LSB at any range
RATE_CODES = {25: 0x08, 50: 0x09, 100: 0x0A, 200: 0x0B, 400: 0x0C, 800: 0x0D}
SCALE_G_PER_LSB = 0.0039  # full-resolution mode, Table 1 "Scale Factor"

# INT_SOURCE (Register 0x30)
INT_SOURCE_WATERMARK = 1 << 1  # FIFO entries >= FIFO_CTL's Samples
INT_SOURCE_OVERRUN = 1 << 0  # in the FIFO modes: the FIFO filled and data was lost; cleared by reading the FIFO
# FIFO_CTL (Register 0x38), Table 22
FIFO_MODE_BYPASS = 0b00 << 6  # the FIFO is bypassed and stays empty: the data registers hold the newest sample
FIFO_MODE_STREAM = 0b10 << 6  # holds the last 32 samples; when full the newest overwrites the oldest
# The watermark: 24 entries are 60 ms at 400 Hz, where a 100 Hz tick normally finds 4 or 5, so a
# drain that finds it set came about 5 periods late, while 9 entries (20 ms on a fast
# oscillator) still stand between it and an overrun: `past_watermark` counts the close calls
# before any sample is lost. 3/4 of the FIFO, the same share as the MPU-6050's figure.
FIFO_WATERMARK = 24
FIFO_STATUS_ENTRIES = 0x3F
# "FIFO stores a maximum of 32 entries, which equates to a maximum of 33 entries available at any
# given time because an additional entry is available at the output filter of the device."
FIFO_ENTRIES_MAX = 33

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


def fifo_rate_hz(rate_hz: float) -> int:
    """The lowest data rate at or above `rate_hz` (Table 7's steps), for the FIFO stream."""
    return next((rate for rate in sorted(RATE_CODES) if rate >= rate_hz), max(RATE_CODES))


class ADXL345:
    def __init__(self, device: I2CDevice):
        self.device = device

    @staticmethod
    def fifo_stream(rate_hz: float) -> FifoStream:
        """The FIFO stream `start(fifo_rate_hz(rate_hz))` and `start_fifo()` give."""
        return FifoStream(fifo_rate_hz(rate_hz), FIFO_ENTRIES_MAX)

    @staticmethod
    def fifo_reads(entries: int) -> tuple[int, ...]:
        """The register reads (bytes each) of a drain of `entries`: INT_SOURCE, FIFO_STATUS, then
        one six-byte data read per entry."""
        return (1, 1) + (6,) * entries

    def start(self, rate_hz: int = 200) -> None:
        """Check the chip ID, then set full-resolution +-16 g at `rate_hz`, the FIFO bypassed (the
        data registers hold the newest sample, whatever a run before left), and start measuring."""
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
        self.device.write_u8(REG_FIFO_CTL, FIFO_MODE_BYPASS)
        self.device.write_u8(REG_POWER_CTL, POWER_CTL_MEASURE)

    def start_fifo(self) -> None:
        """Stream every sample into the FIFO, from empty: bypass first, which empties it and ends
        an overrun left from before, then stream mode with the watermark."""
        self.device.write_u8(REG_FIFO_CTL, FIFO_MODE_BYPASS)
        self.device.write_u8(REG_FIFO_CTL, FIFO_MODE_STREAM | FIFO_WATERMARK)

    def read_fifo(self) -> FifoRead:
        """Every entry in the FIFO, oldest first, after INT_SOURCE (read first: reading the FIFO
        clears its Overrun bit) and FIFO_STATUS's count.

        The chip pops one entry at the end of each read of the data registers, and the
        register pointer then runs on to FIFO_CTL, not back to DATAX0: there is no burst of
        several entries, so each is its own six-byte read. After an overrun the FIFO still
        holds the newest 33 contiguous samples: they are returned, after the gap. The data
        sheet's 5 us between the end of one data read and the next FIFO read always holds on
        I2C (a START and the address byte take 10 us even at 1 MHz).
        """
        source = self.device.read_u8(REG_INT_SOURCE)
        entries = self.device.read_u8(REG_FIFO_STATUS) & FIFO_STATUS_ENTRIES
        samples = [self.read_acceleration() for _ in range(entries)]
        return FifoRead(samples, bool(source & INT_SOURCE_OVERRUN), bool(source & INT_SOURCE_WATERMARK))

    def read_acceleration(self) -> tuple[float, float, float]:
        """(x, y, z) in m/s^2, from one six-byte burst so all axes come from the same sample."""
        data = self.device.read(REG_DATAX0, 6)
        return tuple(
            counts_to_mps2(int.from_bytes(data[i:i + 2], "little", signed=True)) for i in (0, 2, 4)
        )  # type: ignore[return-value]
