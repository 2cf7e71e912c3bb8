"""An smbus2-compatible I2C bus whose devices are chip models, with bus timing and fault injection.

Every smbus2.SMBus call a driver may make is here, and each is broken into the I2C
messages the kernel puts on the wire (`i2c_rdwr` takes them as they are). A chip model
sees only those messages, as a real chip does: `on_write(bytes)` for a write message,
`on_read(n)` for a read message, which must answer exactly n bytes (a real chip cannot
answer short: the controller clocks every byte). A model that refuses a byte raises
OSError(EREMOTEIO), as a NACK reaches user space.

Transfers take the time they take on a real bus (`drivers/i2c_timing.py`): the caller is
held for the wire's clocks at `bus_hz` plus the kernel's per-transfer overhead, and one
transfer at a time has the bus. The limits are the kernel's: an SMBus block is at most
32 bytes (smbus2 raises ValueError above it, as here).

Errors look as they do from the Linux i2c-dev driver: a NACK or an absent device is
OSError(EREMOTEIO), a stuck bus waits the adapter timeout and raises ETIMEDOUT, a
glitch is EIO.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from pi_service.drivers.i2c import ADAPTER_TIMEOUT_S
from pi_service.drivers.i2c_timing import DEFAULT_BUS_HZ, TRANSFER_OVERHEAD_S, transfer_s

FAULT_ERRNO = {"nack": errno.EREMOTEIO, "timeout": errno.ETIMEDOUT, "eio": errno.EIO, "vanish": errno.EREMOTEIO}
SMBUS_BLOCK_MAX = 32  # linux/i2c.h I2C_SMBUS_BLOCK_MAX
I2C_M_RD = 0x0001  # linux/i2c.h: the message is a read


class ChipModel(Protocol):
    """What a chip on the virtual bus answers: one call per I2C message addressed to it."""

    def on_write(self, data: bytes) -> None: ...
    def on_read(self, length: int) -> bytes: ...


@dataclass
class _Fault:
    kind: str
    remaining: int | None  # transfers left to fail; None = until cleared
    until: float | None  # clock time the fault ends; None = no end time


class SimI2CBus:
    def __init__(self, number: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, timeout_s: float = ADAPTER_TIMEOUT_S,
                 bus_hz: float = DEFAULT_BUS_HZ, overhead_s: float = TRANSFER_OVERHEAD_S):
        self.number = number
        self.devices: dict[int, ChipModel] = {}
        self.transfers = 0
        self.busy_s = 0.0  # total time transfers have held the bus
        self.bus_hz = bus_hz
        self.overhead_s = overhead_s
        self._clock = clock
        self._sleep = sleep
        # Whether a transfer holds its caller in real time, as the kernel's does; not on a test's
        # fake clock, whose sleep returns at once (the sampler keeps no real-time deadline on it).
        self.real_time = sleep is time.sleep
        self._timeout_s = timeout_s
        self._faults: dict[int, _Fault] = {}
        self._lock = threading.Lock()  # the faults' table
        self._wire = threading.Lock()  # one transfer at a time has the bus
        self.fd = -1
        self.closed = False

    def attach(self, address: int, model: ChipModel) -> None:
        self.devices[address] = model

    def inject(self, address: int, kind: str, count: int | None = None, duration_s: float | None = None) -> None:
        """Make transfers to `address` fail: `kind` is nack, timeout, eio or vanish.

        The fault lasts `count` transfers, or `duration_s` seconds, or until `clear`.
        """
        if kind not in FAULT_ERRNO:
            raise ValueError(f"unknown fault {kind!r}: choose from {sorted(FAULT_ERRNO)}")
        until = None if duration_s is None else self._clock() + duration_s
        with self._lock:
            self._faults[address] = _Fault(kind, count, until)

    def clear(self, address: int) -> None:
        with self._lock:
            self._faults.pop(address, None)

    # smbus2.SMBus's interface, each call as the messages the kernel sends

    def write_quick(self, i2c_addr: int, force=None) -> None:
        self._transfer(i2c_addr, [b""])

    def read_byte(self, i2c_addr: int, force=None) -> int:
        return self._transfer(i2c_addr, [1])[0][0]

    def write_byte(self, i2c_addr: int, value: int, force=None) -> None:
        self._transfer(i2c_addr, [bytes([value & 0xFF])])

    def read_byte_data(self, i2c_addr: int, register: int, force=None) -> int:
        return self._transfer(i2c_addr, [bytes([register & 0xFF]), 1])[0][0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force=None) -> None:
        self._transfer(i2c_addr, [bytes([register & 0xFF, value & 0xFF])])

    def read_word_data(self, i2c_addr: int, register: int, force=None) -> int:
        low, high = self._transfer(i2c_addr, [bytes([register & 0xFF]), 2])[0]
        return low | (high << 8)  # SMBus words are sent low byte first

    def write_word_data(self, i2c_addr: int, register: int, value: int, force=None) -> None:
        self._transfer(i2c_addr, [bytes([register & 0xFF, value & 0xFF, (value >> 8) & 0xFF])])

    def process_call(self, i2c_addr: int, register: int, value: int, force=None) -> int:
        low, high = self._transfer(i2c_addr, [bytes([register & 0xFF, value & 0xFF, (value >> 8) & 0xFF]), 2])[0]
        return low | (high << 8)

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force=None) -> list[int]:
        if length > SMBUS_BLOCK_MAX:
            raise ValueError("Desired block length over %d bytes" % SMBUS_BLOCK_MAX)
        return list(self._transfer(i2c_addr, [bytes([register & 0xFF]), length])[0])

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int], force=None) -> None:
        if len(data) > SMBUS_BLOCK_MAX:
            raise ValueError("Data length cannot exceed %d bytes" % SMBUS_BLOCK_MAX)
        self._transfer(i2c_addr, [bytes([register & 0xFF, *(b & 0xFF for b in data)])])

    def read_block_data(self, i2c_addr: int, register: int, force=None) -> list[int]:
        """An SMBus block read: the chip's first byte says how many follow (1..32)."""
        with self._wire:
            model = self._device(i2c_addr)
            model.on_write(bytes([register & 0xFF]))
            count = model.on_read(1)[0]
            if not 1 <= count <= SMBUS_BLOCK_MAX:
                self._hold([1, 1])
                raise OSError(errno.EPROTO, os.strerror(errno.EPROTO))
            data = model.on_read(count)
            self._hold([1, 1 + count])
        return list(data)

    def write_block_data(self, i2c_addr: int, register: int, data: list[int], force=None) -> None:
        if len(data) > SMBUS_BLOCK_MAX:
            raise ValueError("Data length cannot exceed %d bytes" % SMBUS_BLOCK_MAX)
        self._transfer(i2c_addr, [bytes([register & 0xFF, len(data), *(b & 0xFF for b in data)])])

    def i2c_rdwr(self, *i2c_msgs) -> None:
        """smbus2.i2c_msg messages in one transfer (repeated STARTs between them); reads fill their buffers."""
        if not i2c_msgs:
            return
        addresses = {msg.addr for msg in i2c_msgs}
        if len(addresses) != 1:
            # The kernel allows it; no driver here needs it, and one fault table per address is simpler.
            raise OSError(errno.EINVAL, "messages to more than one address in one transfer")
        plan = [msg.len if msg.flags & I2C_M_RD else bytes(msg) for msg in i2c_msgs]
        answers = iter(self._transfer(i2c_msgs[0].addr, plan))
        for msg in i2c_msgs:
            if msg.flags & I2C_M_RD:
                ctypes.memmove(msg.buf, next(answers), msg.len)

    def close(self) -> None:
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _transfer(self, address: int, messages: list[bytes | int]) -> list[bytes]:
        """One transfer: each item is a write message's bytes or a read message's length; returns the reads."""
        with self._wire:
            model = self._device(address)
            answers = []
            try:
                for message in messages:
                    if isinstance(message, int):
                        data = bytes(model.on_read(message))
                        if len(data) != message:
                            raise AssertionError(f"{type(model).__name__} answered {len(data)} bytes "
                                                 f"to a {message}-byte read: a chip is clocked for every byte")
                        answers.append(data)
                    else:
                        model.on_write(bytes(message))
            finally:
                self._hold([m if isinstance(m, int) else len(m) for m in messages])
        return answers

    def _hold(self, lengths: list[int]) -> None:
        duration = transfer_s(lengths, self.bus_hz, self.overhead_s)
        self.busy_s += duration
        self._sleep(duration)

    def _device(self, address: int) -> ChipModel:
        if self.closed:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        self.transfers += 1
        with self._lock:
            fault = self._faults.get(address)
            if fault is not None:
                expired = (fault.until is not None and self._clock() >= fault.until) or fault.remaining == 0
                if expired:
                    del self._faults[address]
                    if fault.kind == "vanish" and hasattr(self.devices.get(address), "reset"):
                        self.devices[address].reset()  # it comes back as from power-on
                    fault = None
                elif fault.remaining is not None:
                    fault.remaining -= 1
        if fault is not None:
            if fault.kind == "timeout":
                self._sleep(self._timeout_s)  # a stuck bus costs the adapter's whole timeout
            code = FAULT_ERRNO[fault.kind]
            raise OSError(code, os.strerror(code))
        model = self.devices.get(address)
        if model is None:
            self._sleep(transfer_s([0], self.bus_hz, self.overhead_s))  # the address byte, NACKed
            raise OSError(errno.EREMOTEIO, os.strerror(errno.EREMOTEIO))
        return model
