"""A register-level model of the ADS1115 (TI SBAS444), for the virtual treadmill's I2C bus.

It honours what the driver relies on: the config register's MUX, PGA, MODE and DR
fields; the OS bit reading 0 while a conversion runs and 1 when it is done; conversions
that take 1/DR seconds; results clipped to the PGA's range; continuous mode.
"""

from __future__ import annotations

import time
from typing import Callable

from pi_service.drivers.ads1115 import (CONFIG_RESET, DR_MASK, DR_SHIFT, FULL_SCALE_FROM_PGA, MODE_SINGLE_SHOT,
                                        MUX_MASK, MUX_SHIFT, OS_SINGLE, PGA_MASK, PGA_SHIFT, REG_CONFIG,
                                        REG_CONVERSION, REG_HI_THRESH, REG_LO_THRESH, SPS_FROM_DR)

# MUX codes 100..111 are AINx against GND; 000..011 are differential pairs.
_DIFFERENTIAL = {0b000: (0, 1), 0b001: (0, 3), 0b010: (1, 3), 0b011: (2, 3)}


class ADS1115Model:
    def __init__(self, input_volts: Callable[[int, float], float], clock: Callable[[], float] = time.monotonic):
        """`input_volts(ain, t)` is the voltage on pin AINx at clock time t."""
        self.input_volts = input_volts
        self.clock = clock
        self.config_writes: list[int] = []
        self.stalled = False  # a fault for tests: conversions start but never finish
        self.reset()

    def reset(self) -> None:
        self.registers = {REG_CONFIG: CONFIG_RESET, REG_CONVERSION: 0,
                          REG_LO_THRESH: 0x8000, REG_HI_THRESH: 0x7FFF}
        self._converting_until: float | None = None
        self._continuous_from: float | None = None
        self.pointer = REG_CONVERSION

    # The I2C side: a write's first byte is the pointer register, two more bytes a register's value.
    def on_write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0] & 0x03
        if len(data) > 1:
            self.write(self.pointer, list(data[1:]))

    def on_read(self, length: int) -> bytes:
        return bytes(self.read(self.pointer, length)[:length])

    # Decoded fields of the config register, for tests and the models' own use.
    @property
    def mux(self) -> int:
        return (self.registers[REG_CONFIG] & MUX_MASK) >> MUX_SHIFT

    @property
    def full_scale_v(self) -> float:
        return FULL_SCALE_FROM_PGA[(self.registers[REG_CONFIG] & PGA_MASK) >> PGA_SHIFT]

    @property
    def data_rate_sps(self) -> int:
        return SPS_FROM_DR[(self.registers[REG_CONFIG] & DR_MASK) >> DR_SHIFT]

    @property
    def single_shot(self) -> bool:
        return bool(self.registers[REG_CONFIG] & MODE_SINGLE_SHOT)

    def read(self, register: int, length: int) -> list[int]:
        self._settle(self.clock())
        value = self.registers[register & 0x03]
        if register & 0x03 == REG_CONFIG and self._converting_until is not None:
            value &= ~OS_SINGLE  # 0: a conversion is in progress
        return [(value >> 8) & 0xFF, value & 0xFF] * ((length + 1) // 2)

    def write(self, register: int, data: list[int]) -> None:
        if len(data) != 2:
            raise OSError(5, "ADS1115 registers are 16-bit: write two bytes")
        now = self.clock()
        self._settle(now)
        value = (data[0] << 8) | data[1]
        register &= 0x03
        if register != REG_CONFIG:
            self.registers[register] = value
            return
        self.config_writes.append(value)
        self.registers[REG_CONFIG] = value | OS_SINGLE  # OS reads back as "not converting" when idle
        conversion = 1.0 / self.data_rate_sps
        if not self.single_shot:
            self._continuous_from = now
            self._converting_until = None
        elif value & OS_SINGLE:
            self._continuous_from = None
            self._converting_until = now + conversion

    def _settle(self, now: float) -> None:
        if self.stalled:
            return
        if self._converting_until is not None and now >= self._converting_until:
            self.registers[REG_CONVERSION] = self._convert(self._converting_until)
            self._converting_until = None
        if self._continuous_from is not None:
            conversion = 1.0 / self.data_rate_sps
            if now - self._continuous_from >= conversion:
                done = now - (now - self._continuous_from) % conversion
                self.registers[REG_CONVERSION] = self._convert(done)

    def _convert(self, t: float) -> int:
        mux = self.mux
        if mux & 0b100:
            volts = self.input_volts(mux & 0b011, t)
        else:
            positive, negative = _DIFFERENTIAL[mux]
            volts = self.input_volts(positive, t) - self.input_volts(negative, t)
        counts = round(volts / self.full_scale_v * 32768)
        counts = max(-32768, min(32767, counts))
        return counts & 0xFFFF
