"""The deck accelerometer, whichever chip `[incline] chip` names: what the sampler, calibration
and doctor need of it, and the one place that picks the driver. The pitch and grade
helpers are chip-independent and stay in `drivers/adxl345.py`."""

from __future__ import annotations

from typing import Protocol

from pi_service.drivers.adxl345 import ADXL345
from pi_service.drivers.i2c import I2CDevice, SMBusLike
from pi_service.drivers.mpu6050 import MPU6050


class Accelerometer(Protocol):
    """A 3-axis accelerometer on I2C.

    `start(rate_hz)` checks the chip's ID (WiringError naming chip, address, answer and the
    wiring to check) and sets it measuring at an output rate of at least `rate_hz`, as the
    chip's rate steps allow; it may be called again after a fault. `read_acceleration()`
    is (x, y, z) in m/s^2, all three axes from one sample.
    """

    device: I2CDevice

    def start(self, rate_hz: int) -> None: ...
    def read_acceleration(self) -> tuple[float, float, float]: ...


CHIP_NAMES = {"adxl345": "ADXL345", "mpu6050": "MPU-6050"}  # config value -> the part's own name
CHIP_IDS = {"adxl345": "DEVID 0xE5", "mpu6050": "WHO_AM_I 0x68"}  # what start() checks, for the doctor
_DRIVERS = {"adxl345": ADXL345, "mpu6050": MPU6050}


def build_accelerometer(chip: str, bus: SMBusLike | None, address: int) -> Accelerometer:
    """The driver for `chip` ("adxl345" or "mpu6050") at `address`; `bus` may be set later on `.device`."""
    return _DRIVERS[chip](I2CDevice(bus, address, CHIP_NAMES[chip]))
