"""The deck accelerometer, whichever chip `[incline] chip` names: what the sampler, calibration
and doctor need of it, and the one place that picks the driver. The pitch and grade
helpers are chip-independent and stay in `drivers/adxl345.py`."""

from __future__ import annotations

from typing import Protocol

from pi_service.drivers.adxl345 import ADXL345
from pi_service.drivers.fifo import FifoRead, FifoStream
from pi_service.drivers.i2c import I2CDevice, SMBusLike
from pi_service.drivers.mpu6050 import MPU6050

# Spec 7.2: footstrikes are read from the FIFO at no less than this; each chip takes its
# lowest rate step at or above it (ADXL345 400 Hz, MPU-6050 500 Hz).
FOOTSTRIKE_RATE_HZ = 400


class Accelerometer(Protocol):
    """A 3-axis accelerometer on I2C.

    `start(rate_hz)` checks the chip's ID (WiringError naming chip, address, answer and the
    wiring to check) and sets it measuring at an output rate of at least `rate_hz`, as the
    chip's rate steps allow, its FIFO off; it may be called again after a fault.
    `read_acceleration()` is (x, y, z) in m/s^2, all three axes from one sample.
    `start_fifo()`, after `start`, streams every sample into the chip's FIFO from empty;
    `read_fifo()` then drains it each tick. `fifo_stream(rate_hz)` says what that stream
    is (nominal rate, depth) and `fifo_reads(n)` what a drain of n samples reads, in bytes
    per register read, without a chip.
    """

    device: I2CDevice

    def start(self, rate_hz: int) -> None: ...
    def read_acceleration(self) -> tuple[float, float, float]: ...
    def start_fifo(self) -> None: ...
    def read_fifo(self) -> FifoRead: ...
    @staticmethod
    def fifo_stream(rate_hz: float) -> FifoStream: ...
    @staticmethod
    def fifo_reads(entries: int) -> tuple[int, ...]: ...


CHIP_NAMES = {"adxl345": "ADXL345", "mpu6050": "MPU-6050"}  # config value -> the part's own name
CHIP_IDS = {"adxl345": "DEVID 0xE5", "mpu6050": "WHO_AM_I 0x68"}  # what start() checks, for the doctor
_DRIVERS = {"adxl345": ADXL345, "mpu6050": MPU6050}


def footstrike_stream(chip: str) -> FifoStream:
    """The FIFO stream footstrikes are read from on `chip` ("adxl345" or "mpu6050")."""
    return _DRIVERS[chip].fifo_stream(FOOTSTRIKE_RATE_HZ)


def footstrike_samples_max(chip: str, loop_rate_hz: float, late_s: float = 0.0) -> int:
    """The most samples a drain on `chip` at `loop_rate_hz`, `late_s` late, can meet: the fastest
    oscillator's, as many as the FIFO holds."""
    stream = footstrike_stream(chip)
    return min(stream.capacity, stream.samples_per_tick_max(loop_rate_hz, late_s))


def footstrike_reads(chip: str, samples: int) -> tuple[int, ...]:
    """The register reads (bytes each) of a drain of `samples` on `chip`."""
    return _DRIVERS[chip].fifo_reads(samples)


def build_accelerometer(chip: str, bus: SMBusLike | None, address: int) -> Accelerometer:
    """The driver for `chip` ("adxl345" or "mpu6050") at `address`; `bus` may be set later on `.device`."""
    return _DRIVERS[chip](I2CDevice(bus, address, CHIP_NAMES[chip]))
