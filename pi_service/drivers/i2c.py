"""One bounded, counted way to talk to an I2C device; every driver's bus traffic goes through it.

A transfer that fails (NACK, EIO, device gone) is retried once, then raised as a
BusFault naming the device. A timeout is not retried: the kernel's adapter timeout
(which `open_bus` sets, since smbus2 has no option for it) already cost 10 ms, and a hung
bus will hang again, so one attempt is all a sampling tick can afford.
"""

from __future__ import annotations

import errno
import fcntl
from typing import Protocol

from pi_service.errors import BusFault

# linux/i2c-dev.h
I2C_RETRIES = 0x0701  # number of times a device address should be polled when not acknowledging
I2C_TIMEOUT = 0x0702  # set timeout in units of 10 ms


class SMBusLike(Protocol):
    """The part of smbus2.SMBus the drivers use; the virtual treadmill's bus has it too."""

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...
    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None: ...
    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...
    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...
    def close(self) -> None: ...


def open_bus(number: int, timeout_s: float = 0.01):
    """smbus2.SMBus for /dev/i2c-`number`, with the adapter timeout bounded to `timeout_s`.

    The timeout's unit is 10 ms, so 10 ms is the shortest bound the kernel offers; the
    kernel's own retries are turned off because I2CDevice retries once by itself.
    """
    from smbus2 import SMBus  # imported here so the simulator never needs /dev/i2c-*

    bus = SMBus(number)
    try:
        fcntl.ioctl(bus.fd, I2C_TIMEOUT, max(1, round(timeout_s * 100)))
        fcntl.ioctl(bus.fd, I2C_RETRIES, 0)
    except OSError:
        # Some adapters refuse these ioctls; their own default timeout still bounds a transfer.
        pass
    return bus


_REASONS = {
    errno.EREMOTEIO: "no acknowledge (NACK)",
    errno.ENXIO: "no acknowledge (NACK)",
    errno.ETIMEDOUT: "bus timeout",
    errno.EIO: "I/O error",
    errno.ENODEV: "device gone",
}


class I2CDevice:
    """One device at one address on one bus, with an error count for the status page."""

    def __init__(self, bus: SMBusLike, address: int, name: str):
        self.bus = bus
        self.address = address
        self.name = name
        self.errors = 0
        self.last_error: str | None = None

    def read(self, register: int, length: int) -> bytes:
        return bytes(self._transfer(self.bus.read_i2c_block_data, self.address, register, length))

    def write(self, register: int, data: bytes) -> None:
        self._transfer(self.bus.write_i2c_block_data, self.address, register, list(data))

    def read_u8(self, register: int) -> int:
        return self._transfer(self.bus.read_byte_data, self.address, register)

    def write_u8(self, register: int, value: int) -> None:
        self._transfer(self.bus.write_byte_data, self.address, register, value)

    def _transfer(self, operation, *args):
        try:
            return operation(*args)
        except OSError as exc:
            if exc.errno == errno.ETIMEDOUT:
                self._fail(exc)
            # one retry: a single glitch on a long wire to the deck is common
        try:
            return operation(*args)
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError):
        self.errors += 1
        reason = _REASONS.get(exc.errno, exc.strerror or str(exc))
        self.last_error = reason
        raise BusFault(f"{self.name} at 0x{self.address:02x}", reason,
                       timeout=exc.errno == errno.ETIMEDOUT) from exc
