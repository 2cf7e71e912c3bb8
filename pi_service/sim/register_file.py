"""The I2C side of a chip with 8-bit registers and an auto-incrementing register pointer
(the ADXL345 and the MPU-6050 both work so): a write message's first byte sets the
pointer, the bytes after it are written to consecutive registers; a read message reads
from the pointer on, one register per byte.

A chip model subclasses it and says what each register reads and what a write to it does;
`begin_read` lets a chip latch a multi-byte value when a read message starts, as both
accelerometers do so that all axes of a burst come from one sample.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class RegisterFile(ABC):
    POINTER_LIMIT = 0x100  # the pointer wraps here

    def __init__(self) -> None:
        self.pointer = 0

    def on_write(self, data: bytes) -> None:
        if not data:
            return  # a quick write: the address alone, acknowledged
        self.pointer = data[0]
        for value in data[1:]:
            self.write_register(self.pointer, value)
            self.pointer = (self.pointer + 1) % self.POINTER_LIMIT

    def on_read(self, length: int) -> bytes:
        self.begin_read(self.pointer, length)
        out = bytearray(length)
        for i in range(length):
            out[i] = self.read_register(self.pointer) & 0xFF
            self.pointer = self.next_pointer(self.pointer)
        return bytes(out)

    def next_pointer(self, register: int) -> int:
        return (register + 1) % self.POINTER_LIMIT

    def begin_read(self, register: int, length: int) -> None:
        """A read message starts at `register`: latch what must stay coherent for it."""

    @abstractmethod
    def read_register(self, register: int) -> int:
        """What the register at `register` reads now."""

    @abstractmethod
    def write_register(self, register: int, value: int) -> None:
        """A byte written to `register`."""
