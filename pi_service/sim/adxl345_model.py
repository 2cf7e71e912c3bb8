"""A register-level model of the ADXL345 (Analog Devices), for the virtual treadmill's I2C bus.

DEVID answers 0xE5 (or what a test sets, to play a wrong chip). Data registers read
zero until POWER_CTL's Measure bit is set; then they hold gravity along the deck's tilt
plus vibration, scaled as DATA_FORMAT says (full resolution, or 10 bits at the range).
"""

from __future__ import annotations

import math
from typing import Callable

from pi_service.drivers.adxl345 import (DATA_FORMAT_FULL_RES, DEVID, POWER_CTL_MEASURE, REG_BW_RATE,
                                        REG_DATA_FORMAT, REG_DATAX0, REG_DEVID, REG_POWER_CTL,
                                        SCALE_G_PER_LSB)
from pi_service.sim.register_file import RegisterFile
from pi_service.units import STANDARD_GRAVITY

_RESET = {REG_DEVID: DEVID, REG_BW_RATE: 0x0A, REG_POWER_CTL: 0x00, REG_DATA_FORMAT: 0x00}


class ADXL345Model(RegisterFile):
    def __init__(self, acceleration: Callable[[], tuple[float, float, float]], devid: int = DEVID):
        """`acceleration()` is the (x, y, z) m/s^2 the chip feels now."""
        super().__init__()
        self.acceleration = acceleration
        self.devid = devid
        self.reset()

    def reset(self) -> None:
        self.registers = bytearray(0x40)
        for register, value in _RESET.items():
            self.registers[register] = value
        self.registers[REG_DEVID] = self.devid

    def begin_read(self, register: int, length: int) -> None:
        if register <= REG_DATAX0 + 5 and register + length > REG_DATAX0:
            self._sample()

    def read_register(self, register: int) -> int:
        return self.registers[register] if register < len(self.registers) else 0

    def write_register(self, register: int, value: int) -> None:
        if register != REG_DEVID and register < len(self.registers):  # read-only
            self.registers[register] = value

    def _sample(self) -> None:
        counts = [0, 0, 0]
        if self.registers[REG_POWER_CTL] & POWER_CTL_MEASURE:
            data_format = self.registers[REG_DATA_FORMAT]
            g_range = 0b11 & data_format
            full_res = bool(data_format & DATA_FORMAT_FULL_RES)
            scale = SCALE_G_PER_LSB * (1 if full_res else (1 << g_range))
            bits = (10 + g_range) if full_res else 10
            limit = (1 << (bits - 1)) - 1
            for i, a in enumerate(self.acceleration()):
                counts[i] = max(-limit - 1, min(limit, round(a / STANDARD_GRAVITY / scale)))
        for i, value in enumerate(counts):
            self.registers[REG_DATAX0 + 2 * i:REG_DATAX0 + 2 * i + 2] = (value & 0xFFFF).to_bytes(2, "little")


def gravity_on_deck(pitch_deg: float, forward_axis: str = "x") -> tuple[float, float, float]:
    """What an accelerometer on a deck pitched front-up by `pitch_deg` reads at rest."""
    forward = STANDARD_GRAVITY * math.sin(math.radians(pitch_deg))
    up = STANDARD_GRAVITY * math.cos(math.radians(pitch_deg))
    sign = -1 if forward_axis.startswith("-") else 1
    if forward_axis.endswith("x"):
        return (sign * forward, 0.0, up)
    return (0.0, sign * forward, up)
