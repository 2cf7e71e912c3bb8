"""A register-level model of the MPU-6050 (InvenSense RM-MPU-6000A-00 Rev 4.2), for the virtual I2C bus.

What it does as the register map says:
- Power-on (and DEVICE_RESET): every register 0x00 except PWR_MGMT_1 = 0x40 (asleep) and
  WHO_AM_I = 0x68; the SELF_TEST registers hold a factory trim. DEVICE_RESET clears itself.
- Asleep (SLEEP, or CLKSEL = 7) nothing is sampled: data registers keep their values, the
  FIFO does not fill, DATA_RDY_INT is not raised.
- Awake, samples come at the Sample Rate = gyro output rate (8 kHz with DLPF_CFG 0 or 7,
  else 1 kHz) / (1 + SMPLRT_DIV), the first one period after waking or after the rate
  changed; in CYCLE mode at LP_WAKE_CTRL's rate. The accelerometer itself samples at
  1 kHz: above that the same acceleration repeats. Each sample writes the internal data
  registers (big-endian, two's complement, at ACCEL_CONFIG's AFS_SEL scale; self-test bits
  add the factory-trim response); the user-facing copy is taken when a read message
  starts, so a burst reads one sample.
- INT_STATUS: DATA_RDY_INT and FIFO_OFLOW_INT are raised when enabled in INT_ENABLE and
  cleared by reading INT_STATUS (by any read with INT_PIN_CFG's INT_RD_CLEAR).
- FIFO (1024 bytes): with USER_CTRL FIFO_EN, each sample appends the data registers that
  FIFO_EN selects, in register order (accel 6, temp 2, gyro x/y/z 2 each). When full the
  oldest bytes are overwritten and FIFO_OFLOW_INT raised. FIFO_COUNTH loads both count
  registers when read (FIFO_COUNTL alone reads the last loaded value). FIFO_R_W pops bytes
  in order and, being a FIFO port, does not advance the register pointer; an empty FIFO
  reads the last byte popped again. FIFO_RESET empties it only while FIFO_EN is 0 in the
  same write, then clears itself.
- Read-only registers (SELF-TEST excepted, RM section 3 marks them R) ignore writes.

Decisions where the register map is silent, or where the model is simpler than the chip:
- Registers the Rev 4.2 map does not list (0x00-0x0C, 0x11-0x18, 0x1D-0x22, 0x39, 0x61,
  0x62, 0x69, 0x6D-0x71, 0x76 on: offsets, motion thresholds, the DMP's) read 0 and ignore
  writes; the chip acknowledges them, so the model does too.
- The gyro reads 0 (the deck does not turn), the temperature a constant, the auxiliary
  I2C master and its slaves are absent (EXT_SENS_DATA reads 0). The DLPF's bandwidth
  sets the gyro output rate but does not filter the simulated signal; STBY_* bits and
  start-up times (PS 6.1: 30 ms for the gyro) are not modelled.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Callable

from pi_service.drivers.mpu6050 import (ACCEL_OUTPUT_HZ, AFS_SEL_SHIFT, CLKSEL_MASK, CLKSEL_STOP,
                                        DLPF_CFG_MASK, FIFO_EN_ACCEL, FIFO_EN_TEMP, FIFO_EN_XG, FIFO_EN_YG,
                                        FIFO_EN_ZG, FIFO_SIZE, INT_DATA_RDY, INT_FIFO_OFLOW,
                                        INT_PIN_CFG_INT_RD_CLEAR, LP_WAKE_CTRL_HZ, LSB_PER_G,
                                        PWR_MGMT_1_CYCLE, PWR_MGMT_1_DEVICE_RESET, PWR_MGMT_1_SLEEP,
                                        PWR_MGMT_1_TEMP_DIS, REG_ACCEL_CONFIG, REG_ACCEL_XOUT_H, REG_CONFIG,
                                        REG_FIFO_COUNTH, REG_FIFO_COUNTL, REG_FIFO_EN, REG_FIFO_R_W,
                                        REG_GYRO_XOUT_H, REG_INT_ENABLE, REG_INT_PIN_CFG, REG_INT_STATUS,
                                        REG_PWR_MGMT_1, REG_PWR_MGMT_2, REG_SELF_TEST_A, REG_SELF_TEST_X,
                                        REG_SIGNAL_PATH_RESET, REG_SMPLRT_DIV, REG_TEMP_OUT_H, REG_USER_CTRL,
                                        REG_WHO_AM_I, USER_CTRL_FIFO_EN, USER_CTRL_FIFO_RESET, WHO_AM_I,
                                        gyro_output_hz)
from pi_service.sim.register_file import RegisterFile
from pi_service.units import STANDARD_GRAVITY

REGISTER_COUNT = 0x76  # 0x00 .. WHO_AM_I
# RM section 3: registers the chip has; writable ones (R/W) and read-only ones (R).
WRITABLE = frozenset([*range(0x0D, 0x11), *range(0x19, 0x1D), *range(0x23, 0x35), 0x37, 0x38,
                      *range(0x63, 0x69), 0x6A, 0x6B, 0x6C, REG_FIFO_R_W])
READ_ONLY = frozenset([0x35, 0x36, REG_INT_STATUS, *range(0x3B, 0x61), REG_FIFO_COUNTH, REG_FIFO_COUNTL,
                       REG_WHO_AM_I])
DATA_REGISTERS = range(REG_ACCEL_XOUT_H, REG_GYRO_XOUT_H + 6)  # 0x3B .. 0x48: accel, temp, gyro
SIGNAL_PATH_RESET_MASK = 0b111  # bits 7:3 are reserved
# FIFO_EN bit -> (first data register, bytes), in the order the FIFO takes them (register order)
FIFO_SOURCES = ((FIFO_EN_ACCEL, REG_ACCEL_XOUT_H, 6), (FIFO_EN_TEMP, REG_TEMP_OUT_H, 2),
                (FIFO_EN_XG, REG_GYRO_XOUT_H, 2), (FIFO_EN_YG, REG_GYRO_XOUT_H + 2, 2),
                (FIFO_EN_ZG, REG_GYRO_XOUT_H + 4, 2))
FACTORY_TRIM = (16, 16, 16)  # XA_TEST, YA_TEST, ZA_TEST: a mid-range part
TEMPERATURE_C = 25.0

Vector = tuple[float, float, float]


def factory_trim_lsb(code: int) -> float:
    """The accelerometer's factory self-test response at +-8 g, in LSB (RM 4.1, accel FT formula)."""
    if code == 0:
        return 0.0
    return 4096 * 0.34 * (0.92 / 0.34) ** ((code - 1) / (2 ** 5 - 2))


def _counts(value: float) -> int:
    return max(-32768, min(32767, round(value)))


class MPU6050Model(RegisterFile):
    def __init__(self, acceleration: Callable[[float], Vector], clock: Callable[[], float] = time.monotonic,
                 who_am_i: int = WHO_AM_I, clock_error: float = 0.0):
        """`acceleration(t)` is the (x, y, z) m/s^2 the chip feels at clock time `t`;
        `who_am_i` what WHO_AM_I answers, to play a look-alike chip; `clock_error` how far
        its clock, and so its sample rate, is off (PS-MPU-6000A 6.5: +-1 % on the gyro's PLL,
        -15..+10 % on the internal oscillator over temperature)."""
        super().__init__()
        if not -0.15 <= clock_error <= 0.10:
            raise ValueError(f"clock_error {clock_error} is outside the chip's -15..+10 %")
        self.clock_error = clock_error
        self.acceleration = acceleration
        self.clock = clock
        self.who_am_i = who_am_i
        self.reset()

    # power and timing

    def reset(self) -> None:
        """Power-on, or DEVICE_RESET."""
        self.registers = bytearray(REGISTER_COUNT)
        self.registers[REG_PWR_MGMT_1] = PWR_MGMT_1_SLEEP
        self.registers[REG_WHO_AM_I] = self.who_am_i
        x, y, z = FACTORY_TRIM
        self.registers[REG_SELF_TEST_X:REG_SELF_TEST_X + 3] = bytes(code >> 2 << 5 for code in FACTORY_TRIM)
        self.registers[REG_SELF_TEST_A] = (x & 3) << 4 | (y & 3) << 2 | (z & 3)
        self.internal = bytearray(len(DATA_REGISTERS))  # the sensor registers' internal set
        self.fifo: deque[int] = deque()
        self.fifo_count_latched = 0
        self.last_fifo_byte = 0
        self.samples = 0  # taken since power-on, for tests
        self._grid_t0 = self.clock()
        self._grid_done = 0

    def awake(self) -> bool:
        pwr = self.registers[REG_PWR_MGMT_1]
        return not pwr & PWR_MGMT_1_SLEEP and pwr & CLKSEL_MASK != CLKSEL_STOP

    def sample_rate_hz(self) -> float:
        if self.registers[REG_PWR_MGMT_1] & PWR_MGMT_1_CYCLE:
            return LP_WAKE_CTRL_HZ[self.registers[REG_PWR_MGMT_2] >> 6]
        nominal = gyro_output_hz(self.registers[REG_CONFIG] & DLPF_CFG_MASK) / (1 + self.registers[REG_SMPLRT_DIV])
        return nominal * (1 + self.clock_error)

    def _restart_sampling(self, t: float) -> None:
        self._grid_t0, self._grid_done = t, 0

    def _advance(self, now: float) -> None:
        """Take every sample due by `now`: only those whose bytes can still be in the FIFO."""
        if not self.awake():
            return
        rate = self.sample_rate_hz()
        due = math.floor((now - self._grid_t0) * rate + 1e-9)
        if due <= self._grid_done:
            return
        fifo_on = self.registers[REG_USER_CTRL] & USER_CTRL_FIFO_EN and self._frame_bytes()
        keep = FIFO_SIZE // fifo_on + 2 if fifo_on else 1
        # Samples skipped here would have been overwritten in the FIFO by the ones kept.
        first = max(self._grid_done + 1, due - keep + 1)
        for k in range(first, due + 1):
            self._sample(self._grid_t0 + k / rate, fifo_on)
        self.samples += due - self._grid_done
        self._grid_done = due
        self._raise(INT_DATA_RDY)

    def _sample(self, t: float, fifo_on: int) -> None:
        # The accelerometer samples at 1 kHz: a faster Sample Rate repeats its last sample.
        accel_t = self._grid_t0 + math.floor((t - self._grid_t0) * ACCEL_OUTPUT_HZ + 1e-9) / ACCEL_OUTPUT_HZ
        accel_config = self.registers[REG_ACCEL_CONFIG]
        lsb_per_g = LSB_PER_G[(accel_config >> AFS_SEL_SHIFT) & 0b11]
        counts = [_counts(a / STANDARD_GRAVITY * lsb_per_g) for a in self.acceleration(accel_t)]
        for axis in range(3):
            if accel_config & (0x80 >> axis):  # XA_ST, YA_ST, ZA_ST
                counts[axis] = _counts(counts[axis] + self._self_test_response(axis) * lsb_per_g / 4096)
        data = self.internal
        for axis, value in enumerate(counts):
            data[2 * axis:2 * axis + 2] = (value & 0xFFFF).to_bytes(2, "big")
        if not self.registers[REG_PWR_MGMT_1] & PWR_MGMT_1_TEMP_DIS:
            temperature = _counts((TEMPERATURE_C - 36.53) * 340)  # RM 4.18: T = TEMP_OUT / 340 + 36.53
            data[6:8] = (temperature & 0xFFFF).to_bytes(2, "big")
        data[8:14] = bytes(6)  # the gyro: the deck does not turn
        if fifo_on:
            self._push_frame()

    def _self_test_response(self, axis: int) -> float:
        high = self.registers[REG_SELF_TEST_X + axis] >> 5  # XA_TEST[4:2] (and YA, ZA)
        low = (self.registers[REG_SELF_TEST_A] >> (4 - 2 * axis)) & 3  # XA_TEST[1:0]
        code = high << 2 | low
        return factory_trim_lsb(code)

    def _raise(self, flag: int) -> None:
        if self.registers[REG_INT_ENABLE] & flag:
            self.registers[REG_INT_STATUS] |= flag

    # FIFO

    def _frame_bytes(self) -> int:
        enabled = self.registers[REG_FIFO_EN]
        return sum(length for bit, _, length in FIFO_SOURCES if enabled & bit)

    def _push_frame(self) -> None:
        enabled = self.registers[REG_FIFO_EN]
        for bit, register, length in FIFO_SOURCES:
            if enabled & bit:
                offset = register - REG_ACCEL_XOUT_H
                self._push(self.internal[offset:offset + length])

    def _push(self, data) -> None:
        self.fifo.extend(data)
        if len(self.fifo) > FIFO_SIZE:
            for _ in range(len(self.fifo) - FIFO_SIZE):
                self.fifo.popleft()  # the oldest data is lost
            self._raise(INT_FIFO_OFLOW)

    def _pop(self) -> int:
        if self.fifo:
            self.last_fifo_byte = self.fifo.popleft()
        return self.last_fifo_byte

    # the I2C side

    def on_write(self, data: bytes) -> None:
        self._advance(self.clock())
        if not data:
            return
        self.pointer = data[0]
        for value in data[1:]:
            self.write_register(self.pointer, value)
            self.pointer = self.next_pointer(self.pointer)

    def on_read(self, length: int) -> bytes:
        self._advance(self.clock())
        out = super().on_read(length)
        if self.registers[REG_INT_PIN_CFG] & INT_PIN_CFG_INT_RD_CLEAR:
            self.registers[REG_INT_STATUS] = 0
        return out

    def next_pointer(self, register: int) -> int:
        return register if register == REG_FIFO_R_W else super().next_pointer(register)

    def begin_read(self, register: int, length: int) -> None:
        # The user-facing data registers copy the internal set while the interface is idle (RM 4.17).
        self.registers[DATA_REGISTERS.start:DATA_REGISTERS.stop] = self.internal

    def read_register(self, register: int) -> int:
        if register >= REGISTER_COUNT or (register not in WRITABLE and register not in READ_ONLY):
            return 0
        if register == REG_INT_STATUS:
            status = self.registers[REG_INT_STATUS]
            self.registers[REG_INT_STATUS] = 0
            return status
        if register == REG_FIFO_COUNTH:
            self.fifo_count_latched = len(self.fifo)
            return self.fifo_count_latched >> 8
        if register == REG_FIFO_COUNTL:
            return self.fifo_count_latched & 0xFF
        if register == REG_FIFO_R_W:
            return self._pop()
        return self.registers[register]

    def write_register(self, register: int, value: int) -> None:
        if register not in WRITABLE:
            return
        now = self.clock()
        if register == REG_PWR_MGMT_1:
            if value & PWR_MGMT_1_DEVICE_RESET:
                self.reset()
                return
            was_awake, was_cycle = self.awake(), self.registers[register] & PWR_MGMT_1_CYCLE
            self.registers[register] = value
            if self.awake() and (not was_awake or was_cycle != value & PWR_MGMT_1_CYCLE):
                self._restart_sampling(now)
            return
        if register == REG_USER_CTRL:
            if value & USER_CTRL_FIFO_RESET and not value & USER_CTRL_FIFO_EN:
                self.fifo.clear()
            self.registers[register] = value & ~USER_CTRL_FIFO_RESET & 0xFF
            return
        if register == REG_FIFO_R_W:
            self._push(bytes([value]))
            return
        if register == REG_SIGNAL_PATH_RESET:
            # The signal paths restart; the sensor registers keep their values (RM 4.26). Self-clearing.
            if value & SIGNAL_PATH_RESET_MASK:
                self._restart_sampling(now)
            return
        self.registers[register] = value
        if register in (REG_SMPLRT_DIV, REG_CONFIG, REG_PWR_MGMT_2):
            self._restart_sampling(now)
