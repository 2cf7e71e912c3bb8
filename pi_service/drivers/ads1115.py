"""ADS1115 16-bit ADC (Texas Instruments SBAS444), register-level over I2C.

Reads the handrail force sensors. Register and bit names follow the datasheet's
section 8.6 ("Register Map") so the code can be checked against it line by line.
The driver never waits without a deadline: single-shot reads poll the OS bit until a
deadline, and the sampling loop uses `start_conversion` / `read_conversion` one tick apart
so that it never waits at all.
"""

from __future__ import annotations

import time
from typing import Callable

from pi_service.drivers.i2c import I2CDevice
from pi_service.errors import ConversionTimeout

# Register pointer (Table 8-3)
REG_CONVERSION = 0x00
REG_CONFIG = 0x01
REG_LO_THRESH = 0x02
REG_HI_THRESH = 0x03

# Config register fields (Table 8-6); default value after reset is 0x8583.
CONFIG_RESET = 0x8583
OS_SINGLE = 1 << 15  # write: start a single conversion; read: 1 = not converting
MUX_SHIFT = 12  # [14:12] input multiplexer
MUX_MASK = 0b111 << MUX_SHIFT
MUX_SINGLE_ENDED = {0: 0b100, 1: 0b101, 2: 0b110, 3: 0b111}  # AINx vs GND
PGA_SHIFT = 9  # [11:9] programmable gain amplifier: full-scale range
PGA_MASK = 0b111 << PGA_SHIFT
PGA_FULL_SCALE_V = {6.144: 0b000, 4.096: 0b001, 2.048: 0b010, 1.024: 0b011, 0.512: 0b100, 0.256: 0b101}
MODE_SINGLE_SHOT = 1 << 8  # [8] 1 = single-shot / power-down (reset), 0 = continuous
DR_SHIFT = 5  # [7:5] data rate
DR_MASK = 0b111 << DR_SHIFT
DATA_RATE_SPS = {8: 0b000, 16: 0b001, 32: 0b010, 64: 0b011, 128: 0b100, 250: 0b101, 475: 0b110, 860: 0b111}
COMP_QUE_DISABLE = 0b11  # [1:0] comparator off, ALERT/RDY high-impedance

FULL_SCALE_FROM_PGA = {code: volts for volts, code in PGA_FULL_SCALE_V.items()}
FULL_SCALE_FROM_PGA.update({0b110: 0.256, 0b111: 0.256})
SPS_FROM_DR = {code: sps for sps, code in DATA_RATE_SPS.items()}


def config_word(channel: int, full_scale_v: float, data_rate_sps: int, single_shot: bool = True, start: bool = False) -> int:
    """The 16-bit config register value for a single-ended read of AIN`channel`."""
    word = (
        (MUX_SINGLE_ENDED[channel] << MUX_SHIFT)
        | (PGA_FULL_SCALE_V[full_scale_v] << PGA_SHIFT)
        | (DATA_RATE_SPS[data_rate_sps] << DR_SHIFT)
        | COMP_QUE_DISABLE
    )
    if single_shot:
        word |= MODE_SINGLE_SHOT
    if start:
        word |= OS_SINGLE
    return word


def raw_to_volts(raw: int, full_scale_v: float) -> float:
    """Conversion register counts (two's complement, 32768 = full scale) to volts."""
    return raw * full_scale_v / 32768.0


def conversion_time_s(data_rate_sps: int) -> float:
    return 1.0 / data_rate_sps


class ADS1115:
    def __init__(self, device: I2CDevice, full_scale_v: float = 4.096, data_rate_sps: int = 475,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        if full_scale_v not in PGA_FULL_SCALE_V:
            raise ValueError(f"ADS1115 full scale {full_scale_v} V is not one of {sorted(PGA_FULL_SCALE_V)}")
        if data_rate_sps not in DATA_RATE_SPS:
            raise ValueError(f"ADS1115 data rate {data_rate_sps} SPS is not one of {sorted(DATA_RATE_SPS)}")
        self.device = device
        self.full_scale_v = full_scale_v
        self.data_rate_sps = data_rate_sps
        self._sleep = sleep
        self._clock = clock

    def probe(self) -> int:
        """Read the config register; raises BusFault when nothing answers at the address."""
        return self._read_u16(REG_CONFIG)

    def start_conversion(self, channel: int) -> None:
        """Select AIN`channel` and start one single-shot conversion."""
        self._write_u16(REG_CONFIG, config_word(channel, self.full_scale_v, self.data_rate_sps, start=True))

    def power_down(self, channel: int = 0) -> None:
        """Single-shot mode without a start (MODE=1, OS=0): a chip converting continuously stops
        after the conversion under way, and a single-shot conversion under way finishes (9.4.2)."""
        self._write_u16(REG_CONFIG, config_word(channel, self.full_scale_v, self.data_rate_sps))

    def conversion_ready(self) -> bool:
        """True once the conversion started last has finished (OS bit reads 1)."""
        return bool(self._read_u16(REG_CONFIG) & OS_SINGLE)

    def read_raw(self) -> int:
        """The conversion register as a signed 16-bit count."""
        value = self._read_u16(REG_CONVERSION)
        return value - 0x10000 if value & 0x8000 else value

    def read_volts(self) -> float:
        return raw_to_volts(self.read_raw(), self.full_scale_v)

    def read_single_shot(self, channel: int, timeout_s: float | None = None) -> float:
        """Start a conversion on AIN`channel`, wait for it with a deadline, return volts.

        For calibration and checks, not the sampling loop. The deadline defaults to
        three conversion times plus 2 ms; a chip that never finishes raises ConversionTimeout.
        """
        conversion = conversion_time_s(self.data_rate_sps)
        deadline = self._clock() + (timeout_s if timeout_s is not None else 3 * conversion + 0.002)
        self.start_conversion(channel)
        self._sleep(conversion)
        while not self.conversion_ready():
            if self._clock() >= deadline:
                raise ConversionTimeout(
                    f"{self.device.name} at 0x{self.device.address:02x}: conversion on AIN{channel} "
                    f"not ready after {timeout_s or 3 * conversion + 0.002:.4f} s"
                )
            self._sleep(conversion / 4)
        return self.read_volts()

    def _read_u16(self, register: int) -> int:
        msb, lsb = self.device.read(register, 2)  # registers are big-endian (datasheet 8.5.3)
        return (msb << 8) | lsb

    def _write_u16(self, register: int, value: int) -> None:
        self.device.write(register, bytes(((value >> 8) & 0xFF, value & 0xFF)))
