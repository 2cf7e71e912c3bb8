"""An smbus2-compatible I2C bus whose devices are register-level models, with fault injection.

Errors look as they do from the Linux i2c-dev driver: a NACK or an absent device is
OSError(EREMOTEIO), a stuck bus waits the adapter timeout and raises ETIMEDOUT, a
glitch is EIO.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

FAULT_ERRNO = {"nack": errno.EREMOTEIO, "timeout": errno.ETIMEDOUT, "eio": errno.EIO, "vanish": errno.EREMOTEIO}


class RegisterModel(Protocol):
    def read(self, register: int, length: int) -> list[int]: ...
    def write(self, register: int, data: list[int]) -> None: ...


@dataclass
class _Fault:
    kind: str
    remaining: int | None  # transfers left to fail; None = until cleared
    until: float | None  # clock time the fault ends; None = no end time


class SimI2CBus:
    def __init__(self, number: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, timeout_s: float = 0.01):
        self.number = number
        self.devices: dict[int, RegisterModel] = {}
        self.transfers = 0
        self._clock = clock
        self._sleep = sleep
        self._timeout_s = timeout_s
        self._faults: dict[int, _Fault] = {}
        self._lock = threading.Lock()
        self.fd = -1
        self.closed = False

    def attach(self, address: int, model: RegisterModel) -> None:
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

    # smbus2.SMBus's interface

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force=None) -> list[int]:
        model = self._device(i2c_addr)
        return list(model.read(register, length))[:length]

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int], force=None) -> None:
        self._device(i2c_addr).write(register, list(data))

    def read_byte_data(self, i2c_addr: int, register: int, force=None) -> int:
        return self._device(i2c_addr).read(register, 1)[0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force=None) -> None:
        self._device(i2c_addr).write(register, [value])

    def close(self) -> None:
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _device(self, address: int) -> RegisterModel:
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
            raise OSError(errno.EREMOTEIO, os.strerror(errno.EREMOTEIO))
        return model
