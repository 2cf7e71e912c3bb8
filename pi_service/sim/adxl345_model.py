"""A register-level model of the ADXL345 (Analog Devices data sheet Rev. G), for the virtual
treadmill's I2C bus: the register map of Table 19 with its reset values and read-only
registers, an output data rate set by BW_RATE, DATA_READY/watermark/overrun in INT_SOURCE,
DATA_FORMAT's range, resolution and justification, the offset registers, self-test, and
the 32-level FIFO in its four modes.

What it does not model, and why: the tap, activity, inactivity and free-fall detectors and
the INT1/INT2 pins (nothing on the treadmill wires them; their registers hold what is
written and their INT_SOURCE bits stay 0), the low-power mode's extra noise, and noise at
all (the world gives the vibration). A FIFO trigger event, which on the chip is one of
those interrupts, is played by `trigger_event()`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Callable

from pi_service.drivers.adxl345 import (DATA_FORMAT_FULL_RES, DEVID, POWER_CTL_MEASURE, REG_BW_RATE,
                                        REG_DATA_FORMAT, REG_DATAX0, REG_DEVID, REG_POWER_CTL,
                                        SCALE_G_PER_LSB)
from pi_service.sim.register_file import RegisterFile
from pi_service.units import STANDARD_GRAVITY

# Table 19, the names the data sheet gives them.
THRESH_TAP, OFSX, OFSY, OFSZ = 0x1D, 0x1E, 0x1F, 0x20
ACT_TAP_STATUS = 0x2B
INT_ENABLE, INT_MAP, INT_SOURCE = 0x2E, 0x2F, 0x30
DATAZ1 = REG_DATAX0 + 5
FIFO_CTL, FIFO_STATUS = 0x38, 0x39
LAST_REGISTER = FIFO_STATUS
RESERVED = range(0x01, THRESH_TAP)  # "Reserved; do not access"
READ_ONLY = {REG_DEVID, ACT_TAP_STATUS, INT_SOURCE, *range(REG_DATAX0, DATAZ1 + 1), FIFO_STATUS}
RESET_VALUES = {REG_BW_RATE: 0x0A}  # every other register resets to 0x00; INT_SOURCE's 0x02 follows from the FIFO

# BW_RATE (0x2C): bit 4 LOW_POWER, bits 3:0 the rate code. Table 7: 3200 Hz at 0b1111, halving per code.
BW_RATE_LOW_POWER = 1 << 4
RATE_MASK = 0x0F

# POWER_CTL (0x2D): bit 2 Sleep, bits 1:0 Wakeup (8, 4, 2, 1 Hz readings while asleep).
POWER_CTL_SLEEP = 1 << 2
WAKEUP_HZ = (8.0, 4.0, 2.0, 1.0)

# INT_SOURCE (0x30)
DATA_READY, WATERMARK, OVERRUN = 1 << 7, 1 << 1, 1 << 0

# DATA_FORMAT (0x31): bit 7 SELF_TEST, bit 3 FULL_RES, bit 2 Justify, bits 1:0 Range (Table 21).
DATA_FORMAT_SELF_TEST = 1 << 7
DATA_FORMAT_JUSTIFY = 1 << 2
RANGE_MASK = 0b11

# FIFO_CTL (0x38): bits 7:6 FIFO_MODE (Table 22), bit 5 Trigger, bits 4:0 Samples.
BYPASS, FIFO, STREAM, TRIGGER = 0, 1, 2, 3
FIFO_SAMPLES_MASK = 0x1F
# FIFO_STATUS (0x39): bit 7 FIFO_TRIG, bits 5:0 Entries.
FIFO_TRIG = 1 << 7
# "FIFO stores a maximum of 32 entries, which equates to a maximum of 33 entries available at
# any given time because an additional entry is available at the output filter of the device."
FIFO_DEPTH = 32
ENTRIES_MAX = FIFO_DEPTH + 1

OFFSET_G_PER_LSB = 0.0156  # OFSX/OFSY/OFSZ: 15.6 mg/LSB, two's complement, added to the output

# Table 1 footnote: "turn-on and wake-up times are each approximately tau + 1.1 ms, tau = 1/(data rate)".
TURN_ON_S = 1.1e-3

# Self-test output change (Table 1, Vs = 2.5 V): X 0.20..2.10 g, Y -2.10..-0.20 g, Z 0.30..3.40 g.
# The data sheet gives no typical value, so the model takes the middle of each range; the shift
# goes with Vs squared, by Table 14's scale factors (x and y, z); the model's supply is the Pi's
# 3.3 V unless told. The data sheet's conditions for a valid self-test (normal power, 100-800 Hz
# or 3200 Hz) are not enforced: the shift is the same at any rate.
SELF_TEST_CHANGE_G = (1.15, -1.15, 1.85)
SELF_TEST_SCALE = {2.0: (0.64, 0.80), 2.5: (1.00, 1.00), 3.3: (1.77, 1.47), 3.6: (2.11, 1.69)}


def output_data_rate_hz(bw_rate: int) -> float:
    """Table 7: rate code 0b1111 is 3200 Hz and each code below halves it (0b0000: 0.10 Hz).

    LOW_POWER (Table 8) lowers the current, not the rate, so it does not enter here.
    """
    return 3200.0 / (1 << (15 - (bw_rate & RATE_MASK)))


def self_test_change_g(supply_v: float) -> tuple[float, float, float]:
    """The self-test shift per axis at supply `supply_v`, Table 14 interpolated linearly."""
    points = sorted(SELF_TEST_SCALE)
    v = min(points[-1], max(points[0], supply_v))
    for low, high in zip(points, points[1:]):
        if low <= v <= high:
            f = (v - low) / (high - low)
            xy, z = (a + f * (b - a) for a, b in zip(SELF_TEST_SCALE[low], SELF_TEST_SCALE[high]))
            break
    return SELF_TEST_CHANGE_G[0] * xy, SELF_TEST_CHANGE_G[1] * xy, SELF_TEST_CHANGE_G[2] * z


class ADXL345Model(RegisterFile):
    """The chip: `acceleration(t)` is the (x, y, z) m/s^2 it feels at clock time t.

    The data registers change once per output-data-rate period, each sample taken at its own
    time, as the chip's own oscillator runs: `rate_error` makes it run fast (+) or slow (-) by
    that fraction. Rev. G gives the rates of Table 7 as nominal, with no accuracy for the
    oscillator; the tests run it at +-10 %.

    Past FIFO_STATUS (0x39), registers 0x3A-0xFF are not in Table 19: the model answers 0x00
    and ignores writes there, and the pointer runs on to 0xFF and wraps to 0x00, since an I2C
    master is free to clock as many bytes as it likes and the chip must drive every one.

    The data sheet asks for 5 us between the end of a FIFO read and the next FIFO or
    FIFO_STATUS read, so that the FIFO has popped; over I2C that always holds (one byte at
    400 kHz is 22.5 us), so the model pops at once and does not check it.
    """

    def __init__(self, acceleration: Callable[[float], tuple[float, float, float]],
                 clock: Callable[[], float] = time.monotonic, devid: int = DEVID,
                 rate_error: float = 0.0, supply_v: float = 3.3):
        super().__init__()
        self.acceleration = acceleration
        self.clock = clock
        self.devid = devid
        self.rate_error = rate_error
        self.supply_v = supply_v
        self.reset()

    def reset(self) -> None:
        """Power-on: Table 19's reset values, an empty FIFO, standby."""
        self.registers = bytearray(LAST_REGISTER + 1)
        for register, value in RESET_VALUES.items():
            self.registers[register] = value
        self.registers[REG_DEVID] = self.devid
        self.pointer = 0
        self.samples_taken = 0
        self.sample_t: float | None = None  # when the sample now in the data registers was taken
        self._stored: deque[tuple[bytes, float]] = deque()  # the FIFO, oldest first (not in bypass)
        self._unread = False  # bypass: the data registers hold a sample not yet read
        self._overrun = False
        self._triggered = False
        self._data_read = False  # this read message has read the data registers
        self._anchor_t: float | None = None  # sample k is taken at anchor + k periods
        self._taken = 0  # samples taken since the anchor

    # Decoded state, for tests and for the model's own use.

    @property
    def output_data_rate_hz(self) -> float:
        if self.registers[REG_POWER_CTL] & POWER_CTL_SLEEP:
            nominal = WAKEUP_HZ[self.registers[REG_POWER_CTL] & 0b11]
        else:
            nominal = output_data_rate_hz(self.registers[REG_BW_RATE])
        return nominal * (1.0 + self.rate_error)

    @property
    def fifo_mode(self) -> int:
        return self.registers[FIFO_CTL] >> 6

    @property
    def entries(self) -> int:
        return len(self._stored)

    @property
    def int_source(self) -> int:
        """INT_SOURCE as a read would find it now, without a read's effects."""
        self._advance(self.clock())
        return self._int_source()

    def trigger_event(self) -> None:
        """An interrupt on the pin FIFO_CTL's trigger bit names: in trigger mode, the FIFO keeps the
        last `samples` entries and goes on as in FIFO mode (the detectors themselves are not modelled)."""
        self._advance(self.clock())
        if self.fifo_mode == TRIGGER and not self._triggered:
            self._triggered = True
            keep = self.registers[FIFO_CTL] & FIFO_SAMPLES_MASK
            while len(self._stored) > keep:
                self._stored.popleft()

    # The I2C side

    def on_write(self, data: bytes) -> None:
        self._advance(self.clock())  # samples due before the write are taken as things were
        super().on_write(data)

    def on_read(self, length: int) -> bytes:
        self._advance(self.clock())
        self._data_read = False
        try:
            return super().on_read(length)
        finally:
            if self._data_read:
                self._pop()  # the end of the read message ends the data read

    def begin_read(self, register: int, length: int) -> None:
        if self.fifo_mode != BYPASS and self._stored:
            self._show(self._stored[0][0], self._stored[0][1])

    def read_register(self, register: int) -> int:
        if register > LAST_REGISTER or register in RESERVED:
            return 0x00
        if REG_DATAX0 <= register <= DATAZ1:
            self._data_read = True
        elif self._data_read:
            self._pop()  # "the transition from Register 0x37 to Register 0x38" ends the data read
            self._data_read = False
        if register == INT_SOURCE:
            return self._int_source()
        if register == FIFO_STATUS:
            return (FIFO_TRIG if self._triggered else 0) | len(self._stored)
        return self.registers[register]

    def write_register(self, register: int, value: int) -> None:
        if register > LAST_REGISTER or register in RESERVED or register in READ_ONLY:
            return  # acknowledged and ignored
        before = self.registers[register]
        self.registers[register] = value
        now = self.clock()
        if register == REG_POWER_CTL:
            if (value & POWER_CTL_MEASURE) and not (before & POWER_CTL_MEASURE):
                self._anchor(now + TURN_ON_S)
            elif (value ^ before) & (POWER_CTL_SLEEP | 0b11):
                self._anchor(now + TURN_ON_S)  # "wake-up time"
        elif register == REG_BW_RATE and (value ^ before) & RATE_MASK:
            self._anchor(now)
        elif register == FIFO_CTL and (value >> 6) != (before >> 6):
            if value >> 6 == BYPASS:
                self._stored.clear()  # bypass empties the FIFO and re-arms the trigger
                self._triggered = False
            self._unread = self._overrun = False

    # The chip's insides

    def _measuring(self) -> bool:
        return bool(self.registers[REG_POWER_CTL] & POWER_CTL_MEASURE)

    def _anchor(self, t: float) -> None:
        self._anchor_t = t
        self._taken = 0

    def _advance(self, now: float) -> None:
        """Take every sample due by `now`, each at its own time."""
        if not self._measuring():
            return
        if self._anchor_t is None:
            self._anchor(now)  # Measure set by a test writing the registers directly
        period = 1.0 / self.output_data_rate_hz
        due = math.floor((now - self._anchor_t) / period) - self._taken
        if due <= 0:
            return
        first = self._taken + 1
        self._taken += due
        asleep = bool(self.registers[REG_POWER_CTL] & POWER_CTL_SLEEP)
        if self.fifo_mode == BYPASS or asleep:
            # Only the newest reaches the data registers; any before it replaced unread data.
            if not asleep and (self._unread or due > 1):
                self._overrun = True
            k = first + due - 1
            self._show(*self._sample(self._anchor_t + k * period))
            self._unread = not asleep  # "sleep mode suppresses DATA_READY"
            return
        room = ENTRIES_MAX - len(self._stored)
        if due > room:
            self._overrun = True
        if self.fifo_mode == FIFO or (self.fifo_mode == TRIGGER and self._triggered):
            ks = range(first, first + min(due, room))  # collects only while not full
        else:
            ks = range(max(first, first + due - ENTRIES_MAX), first + due)  # keeps the newest
        for k in ks:
            if len(self._stored) == ENTRIES_MAX:
                self._stored.popleft()
            self._stored.append(self._sample(self._anchor_t + k * period))

    def _sample(self, t: float) -> tuple[bytes, float]:
        """The six data bytes for the acceleration at `t`, as DATA_FORMAT and the offsets say."""
        self.samples_taken += 1
        data_format = self.registers[REG_DATA_FORMAT]
        g_range = data_format & RANGE_MASK
        full_res = bool(data_format & DATA_FORMAT_FULL_RES)
        scale = SCALE_G_PER_LSB * (1 if full_res else 1 << g_range)
        bits = 10 + g_range if full_res else 10
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        self_test = self_test_change_g(self.supply_v) if data_format & DATA_FORMAT_SELF_TEST else (0.0, 0.0, 0.0)
        # "Data formatting of upper data rates": at 1600 and 3200 Hz, full resolution or +-2 g 10-bit, the LSB reads 0.
        coarse = (self.registers[REG_BW_RATE] & RATE_MASK) >= 0b1110 and (full_res or g_range == 0)
        out = bytearray()
        for axis, a in enumerate(self.acceleration(t)):
            offset = int.from_bytes(self.registers[OFSX + axis:OFSX + axis + 1], "little", signed=True)
            g = a / STANDARD_GRAVITY + offset * OFFSET_G_PER_LSB + self_test[axis]
            counts = max(low, min(high, round(g / scale)))  # clipped, not rolled over
            if coarse:
                counts &= ~1
            if data_format & DATA_FORMAT_JUSTIFY:
                counts <<= 16 - bits  # left-justified: the MSB at DATAx1's bit 7
            out += (counts & 0xFFFF).to_bytes(2, "little")
        return bytes(out), t

    def _show(self, data: bytes, t: float) -> None:
        self.registers[REG_DATAX0:DATAZ1 + 1] = data
        self.sample_t = t

    def _pop(self) -> None:
        """A read of the data registers has ended: the next entry moves up, the flags follow."""
        if self.fifo_mode == BYPASS:
            self._unread = False
            self._overrun = False
            return
        if self._stored:
            self._stored.popleft()
            self._overrun = False  # "cleared when the contents of FIFO are read"

    def _int_source(self) -> int:
        samples = self.registers[FIFO_CTL] & FIFO_SAMPLES_MASK
        if self.fifo_mode == BYPASS:
            ready = self._unread
            watermark = samples == 0  # "a value of 0 ... immediately sets the watermark status bit"
        else:
            ready = bool(self._stored)
            watermark = len(self._stored) >= samples
        return (DATA_READY if ready else 0) | (WATERMARK if watermark else 0) | (OVERRUN if self._overrun else 0)


def gravity_on_deck(pitch_deg: float, forward_axis: str = "x") -> tuple[float, float, float]:
    """What an accelerometer on a deck pitched front-up by `pitch_deg` reads at rest."""
    forward = STANDARD_GRAVITY * math.sin(math.radians(pitch_deg))
    up = STANDARD_GRAVITY * math.cos(math.radians(pitch_deg))
    sign = -1 if forward_axis.startswith("-") else 1
    if forward_axis.endswith("x"):
        return (sign * forward, 0.0, up)
    return (0.0, sign * forward, up)
