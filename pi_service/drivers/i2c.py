"""One bounded, counted way to talk to an I2C device; every driver's bus traffic goes through it.

A transfer that fails (NACK, EIO, device gone) is retried once, then raised as a
BusFault naming the device. A timeout is not retried: the kernel's adapter timeout
(which `open_bus` sets, since smbus2 has no option for it) already cost 10 ms, and a hung
bus will hang again, so one attempt is all a sampling tick can afford. Where 10 ms is more
than a tick can afford (200 Hz), the tick stops waiting sooner (`sampling/bus_worker.py`)
and gives the device up with `abandon`, which raises the same timeout fault.
"""

from __future__ import annotations

import errno
import fcntl
from typing import Protocol

from pi_service.errors import BusFault

# linux/i2c-dev.h
I2C_RETRIES = 0x0701  # number of times a device address should be polled when not acknowledging
I2C_TIMEOUT = 0x0702  # set timeout in units of 10 ms
# The kernel's bound on one transfer, as `open_bus` sets it: the shortest its 10 ms unit allows.
ADAPTER_TIMEOUT_S = 0.01


class SMBusLike(Protocol):
    """The part of smbus2.SMBus the drivers use; the virtual treadmill's bus has it too."""

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...
    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None: ...
    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...
    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...
    def close(self) -> None: ...


def open_bus(number: int, timeout_s: float = ADAPTER_TIMEOUT_S):
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
        self.abandoned = False  # set by the loop's thread, read by the one doing the transfers

    def read(self, register: int, length: int) -> bytes:
        return bytes(self._transfer(self.bus.read_i2c_block_data, self.address, register, length))

    def write(self, register: int, data: bytes) -> None:
        self._transfer(self.bus.write_i2c_block_data, self.address, register, list(data))

    def read_u8(self, register: int) -> int:
        return self._transfer(self.bus.read_byte_data, self.address, register)

    def write_u8(self, register: int, value: int) -> None:
        self._transfer(self.bus.write_byte_data, self.address, register, value)

    def abandon(self) -> BusFault:
        """The tick has stopped waiting for this device's transfer (its bus deadline passed, see
        `sampling/bus_worker.py`): counted and described as the kernel's timeout would be. Until
        `reclaim`, its transfers, the stuck one when it comes back among them, raise that fault
        instead of answering, and are not counted again."""
        self.abandoned = True
        return self._fault(errno.ETIMEDOUT, _REASONS[errno.ETIMEDOUT])

    def reclaim(self) -> None:
        """The transfer given up on has come back: the device may be used again (re-initialised)."""
        self.abandoned = False

    def _transfer(self, operation, *args):
        try:
            return self._attempt(operation, args)
        except OSError as exc:
            if exc.errno == errno.ETIMEDOUT:
                self._fail(exc)
            # one retry: a single glitch on a long wire to the deck is common
        try:
            return self._attempt(operation, args)
        except OSError as exc:
            self._fail(exc)

    def _attempt(self, operation, args):
        """One try of the transfer, unless the tick has given up on this device (`abandon`)."""
        if self.abandoned:
            raise self._given_up()
        try:
            result = operation(*args)
        except OSError:
            if self.abandoned:
                raise self._given_up() from None
            raise
        if self.abandoned:  # it answered, but too late: the tick went on without it
            raise self._given_up()
        return result

    def _given_up(self) -> BusFault:
        return BusFault(f"{self.name} at 0x{self.address:02x}", _REASONS[errno.ETIMEDOUT], timeout=True)

    def _fault(self, code: int, reason: str) -> BusFault:
        self.errors += 1
        self.last_error = reason
        return BusFault(f"{self.name} at 0x{self.address:02x}", reason, timeout=code == errno.ETIMEDOUT)

    def _fail(self, exc: OSError):
        raise self._fault(exc.errno, _REASONS.get(exc.errno, exc.strerror or str(exc))) from exc
