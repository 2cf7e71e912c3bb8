"""A register-level model of the ADS1115 (TI SBAS444D), for the virtual treadmill's I2C bus.

It does what the datasheet says, section by section, so that a driver that works here
has only the analog world left to get wrong:

- Config register (9.6.3): OS reads 0 while a conversion is under way and 1
  when not; in continuous-conversion mode a conversion is always under way, so OS always
  reads 0. Writing OS=1 starts a single-shot conversion only from the power-down state;
  during a conversion it has no effect (9.4.2.1).
- Single-shot mode (9.4.2.1): OS=1 powers the device up (about 25 us), converts once and
  powers down. MODE=1 written with OS=0 powers down after the conversion under way: no
  new conversions, the Conversion register keeps the last result.
- Continuous-conversion mode (9.4.2.2): a new configuration applies from the next
  conversion; the one under way finishes with the settings it started with. Leaving
  power-down for continuous mode costs the same power-up as a single shot (the datasheet
  states it for single-shot only; the analog front end is the same).
- Data rate (7.5, 9.3.6): the internal oscillator makes the real rate DR x `oscillator`,
  within 0.9..1.1 (+-10 %), for every conversion, single-shot or continuous.
- Conversion register (9.6.2, 9.3.3): two's complement, big-endian, the input averaged over
  the conversion (the model takes its middle), clipped to the PGA's range (PGA 110 and
  111 are +-0.256 V); MUX 000..011 are the differential pairs.
- Comparator (9.3.7): traditional (asserts above Hi_thresh, releases below Lo_thresh) or
  window (asserts outside [Lo_thresh, Hi_thresh]); COMP_QUE asserts after 1, 2 or 4
  successive conversions beyond a threshold, 11 disables it and leaves the pin high-Z;
  COMP_LAT holds an assertion until the Conversion register is read; COMP_POL sets the
  active level. "Exceeds" and "falls below" are strict: the reset thresholds never trip.
- Conversion-ready pin (9.3.8): Hi_thresh MSB 1 and Lo_thresh MSB 0 (with COMP_QUE not
  11) make ALERT/RDY follow the OS bit in single-shot mode and pulse for about 8 us at the
  end of each conversion in continuous mode; COMP_POL still applies. The threshold
  registers stay plain read/write 16-bit registers: their MSBs select the mode.
- ALERT/RDY is an open-drain pin with a pull-up: `alert_rdy` is its level now (True =
  high), `alert_rdy_history` its (time, level) transitions, as gpiozero's mock pins keep.
- Reset and power-up (9.4.1): `reset()` is power-on: registers to their reset values,
  Conversion register 0, power-down. A general call (address 0x00) whose second byte is
  06h does the same (9.5.1.2): attach `GeneralCall(chip, ...)` at address 0x00.

On the I2C side (9.5.2, 9.5.3) the chip ACKs every byte, as a real one does:
an address-only write changes nothing; a write's first byte sets the register pointer
(9.6.1: bits 7:2 are reserved, ignored); the next two bytes, MSB first, are written to the
register it points at. One data byte alone is an incomplete write and changes nothing.
The datasheet does not say what more than two data bytes, or a longer read, do; it
describes no pointer auto-increment, so the model writes each complete pair to the same
register in turn (the last one wins) and drops a trailing odd byte, and a read longer
than two bytes sends the same register again (MSB, LSB, MSB, ...) for as long as the
controller clocks.
The Conversion register is read-only: writes to it are ACKed and ignored.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from typing import Callable

from pi_service.drivers.ads1115 import (CONFIG_RESET, DR_MASK, DR_SHIFT, FULL_SCALE_FROM_PGA, MODE_SINGLE_SHOT,
                                        MUX_MASK, MUX_SHIFT, OS_SINGLE, PGA_MASK, PGA_SHIFT, REG_CONFIG,
                                        REG_CONVERSION, REG_HI_THRESH, REG_LO_THRESH, SPS_FROM_DR)

LO_THRESH_RESET = 0x8000
HI_THRESH_RESET = 0x7FFF
COMP_MODE_WINDOW = 1 << 4  # [4] 0 = traditional comparator, 1 = window comparator
COMP_POL_ACTIVE_HIGH = 1 << 3  # [3] 0 = ALERT/RDY active low (reset), 1 = active high
COMP_LAT_LATCHING = 1 << 2  # [2] 1 = an assertion stays until the Conversion register is read
COMP_QUE_MASK = 0b11  # [1:0] assert after 1 (00), 2 (01) or 4 (10) conversions; 11 = disabled, pin high-Z
COMP_QUE_DISABLED = 0b11
QUEUE_LENGTH = {0b00: 1, 0b01: 2, 0b10: 4}
POWER_UP_S = 25e-6  # 9.4.2.1: "the device powers up in approximately 25 us"
RDY_PULSE_S = 8e-6  # 9.3.8: "an approximately 8-us conversion ready pulse"
OSCILLATOR_TOLERANCE = (0.9, 1.1)  # 7.5 Electrical Characteristics: data rate variation +-10 %
GENERAL_CALL_RESET = 0x06

# MUX codes 100..111 are AINx against GND; 000..011 are differential pairs.
_DIFFERENTIAL = {0b000: (0, 1), 0b001: (0, 3), 0b010: (1, 3), 0b011: (2, 3)}


def _signed(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


@dataclass(frozen=True, slots=True)
class _Conversion:
    """One conversion under way, with the settings it started with."""

    start_s: float
    end_s: float
    mux: int
    full_scale_v: float


class ADS1115Model:
    def __init__(self, input_volts: Callable[[int, float], float], clock: Callable[[], float] = time.monotonic,
                 oscillator: float = 1.0):
        """`input_volts(ain, t)` is the voltage on pin AINx at clock time t; `oscillator` is this
        unit's data rate as a fraction of the nominal one (0.9..1.1)."""
        low, high = OSCILLATOR_TOLERANCE
        if not low <= oscillator <= high:
            raise ValueError(f"oscillator {oscillator} is outside the datasheet's {low}..{high}")
        self.input_volts = input_volts
        self.clock = clock
        self.oscillator = oscillator
        self.config_writes: list[int] = []
        self.stalled = False  # a fault for tests: conversions start but never finish
        self.alert_rdy_history: list[tuple[float, bool]] = [(clock(), True)]
        self.reset()

    def reset(self) -> None:
        """Power-on: reset values, Conversion register 0, powered down, ALERT/RDY high-Z."""
        # The config register holds its fields; OS is worked out when it is read.
        self.registers = {REG_CONFIG: CONFIG_RESET & ~OS_SINGLE, REG_CONVERSION: 0,
                          REG_LO_THRESH: LO_THRESH_RESET, REG_HI_THRESH: HI_THRESH_RESET}
        self.pointer = REG_CONVERSION
        self._conversion: _Conversion | None = None
        self._last_end_s: float | None = None  # when the last conversion finished
        self._rdy_pulse_end_s: float | None = None  # a conversion-ready pulse not yet logged as ended
        self._beyond = 0  # successive conversions beyond a threshold
        self._comparator_asserted = False
        self._log_level(self.clock(), True)

    # The I2C side: one call per message addressed to the chip.

    def on_write(self, data: bytes) -> None:
        if not data:
            return  # the address alone, as a probe sends it
        self._settle(self.clock())
        self.pointer = data[0] & 0x03
        payload = data[1:]
        for i in range(0, len(payload) - 1, 2):
            self._write_register(self.pointer, (payload[i] << 8) | payload[i + 1])

    def on_read(self, length: int) -> bytes:
        now = self.clock()
        self._settle(now)
        value = self.registers[self.pointer]
        if self.pointer == REG_CONFIG:
            value |= OS_SINGLE if self._conversion is None else 0
        elif self.pointer == REG_CONVERSION and self.registers[REG_CONFIG] & COMP_LAT_LATCHING:
            self._comparator_asserted = False  # 9.3.7: reading conversion data clears a latched alert
            self._mark(now)
        return bytes([(value >> 8) & 0xFF, value & 0xFF] * ((length + 1) // 2))[:length]

    # Decoded fields of the config register, for tests and the model's own use.

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

    @property
    def conversion_ready_mode(self) -> bool:
        """9.3.8: Hi_thresh MSB 1 and Lo_thresh MSB 0 turn ALERT/RDY into a conversion-ready pin."""
        return bool(self.registers[REG_HI_THRESH] & 0x8000) and not self.registers[REG_LO_THRESH] & 0x8000

    @property
    def alert_rdy(self) -> bool:
        """The ALERT/RDY pin's level now: True is high (released to the pull-up, or driven active-high)."""
        now = self.clock()
        self._settle(now)
        return self._level_at(now)

    # Registers and conversions

    def _write_register(self, register: int, value: int) -> None:
        now = self.clock()
        if register == REG_CONVERSION:
            return  # read-only
        if register != REG_CONFIG:
            self.registers[register] = value
            self._mark(now)
            return
        self.config_writes.append(value)
        self.registers[REG_CONFIG] = value & ~OS_SINGLE
        if value & COMP_QUE_MASK == COMP_QUE_DISABLED:
            self._beyond, self._comparator_asserted = 0, False
        if self._conversion is None:  # powered down: only now do MODE=0 or OS=1 start anything
            if not self.single_shot or value & OS_SINGLE:
                self._begin(now + POWER_UP_S)
        # A conversion under way finishes with its own settings; _finish picks up the new ones.
        self._mark(now)

    def _begin(self, start_s: float) -> None:
        duration = 1.0 / (self.data_rate_sps * self.oscillator)
        self._conversion = _Conversion(start_s, start_s + duration, self.mux, self.full_scale_v)

    def _settle(self, now: float) -> None:
        """Finish every conversion that has ended by `now`, in order."""
        while not self.stalled and self._conversion is not None and self._conversion.end_s <= now:
            self._finish(self._conversion)
        self._mark(now)

    def _finish(self, conversion: _Conversion) -> None:
        end = conversion.end_s
        self._mark(end)
        code = self._convert(conversion)
        self.registers[REG_CONVERSION] = code & 0xFFFF
        self._last_end_s = end
        if self.single_shot:
            self._conversion = None  # power down
        else:
            self._begin(end)  # the next conversion starts at once, with the settings written by now
        if self.conversion_ready_mode:
            if not self.single_shot:
                self._rdy_pulse_end_s = end + RDY_PULSE_S
        else:
            self._compare(code)
        self._mark(end)

    def _convert(self, conversion: _Conversion) -> int:
        t = (conversion.start_s + conversion.end_s) / 2
        mux = conversion.mux
        if mux & 0b100:
            volts = self.input_volts(mux & 0b011, t)
        else:
            positive, negative = _DIFFERENTIAL[mux]
            volts = self.input_volts(positive, t) - self.input_volts(negative, t)
        counts = round(volts / conversion.full_scale_v * 32768)
        return max(-32768, min(32767, counts))

    def _compare(self, code: int) -> None:
        config = self.registers[REG_CONFIG]
        queue = config & COMP_QUE_MASK
        if queue == COMP_QUE_DISABLED:
            return
        high, low = _signed(self.registers[REG_HI_THRESH]), _signed(self.registers[REG_LO_THRESH])
        window = bool(config & COMP_MODE_WINDOW)
        beyond = code > high or (window and code < low)
        self._beyond = self._beyond + 1 if beyond else 0
        if self._beyond >= QUEUE_LENGTH[queue]:
            self._comparator_asserted = True
        elif not config & COMP_LAT_LATCHING and (not beyond if window else code < low):
            self._comparator_asserted = False

    # The ALERT/RDY pin

    def _level_at(self, t: float) -> bool:
        config = self.registers[REG_CONFIG]
        if config & COMP_QUE_MASK == COMP_QUE_DISABLED:
            return True  # high-Z: the pull-up holds it high
        if not self.conversion_ready_mode:
            asserted = self._comparator_asserted
        elif self.single_shot:
            asserted = self._conversion is None  # the pin outputs the OS bit
        else:
            asserted = self._last_end_s is not None and self._last_end_s <= t < self._last_end_s + RDY_PULSE_S
        return asserted == bool(config & COMP_POL_ACTIVE_HIGH)

    def _mark(self, t: float) -> None:
        """Log the pin's level at `t`, after the end of any conversion-ready pulse before it."""
        if self._rdy_pulse_end_s is not None and self._rdy_pulse_end_s <= t:
            pulse_end, self._rdy_pulse_end_s = self._rdy_pulse_end_s, None
            self._log_level(pulse_end, self._level_at(pulse_end))
        self._log_level(t, self._level_at(t))

    def _log_level(self, t: float, level: bool) -> None:
        if level != self.alert_rdy_history[-1][1]:
            self.alert_rdy_history.append((t, level))


class GeneralCall:
    """What answers the I2C general-call address (0x00) for these chips: a second byte of 06h
    resets them all to power-on (SBAS444 9.5.1.2). A general call is write-only: reads are NACKed."""

    def __init__(self, *chips: ADS1115Model):
        self.chips = chips

    def on_write(self, data: bytes) -> None:
        if data[:1] == bytes([GENERAL_CALL_RESET]):
            for chip in self.chips:
                chip.reset()

    def on_read(self, length: int) -> bytes:
        raise OSError(errno.EREMOTEIO, os.strerror(errno.EREMOTEIO))
