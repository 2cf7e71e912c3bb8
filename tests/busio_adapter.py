"""A busio.I2C-shaped object over the virtual treadmill's smbus2-style bus, so that Adafruit's
CircuitPython drivers (through adafruit_bus_device) talk to our chip models as they would
to a chip on a Pi: every write, read and write-then-read becomes the same I2C messages
(smbus2's i2c_rdwr), with the bus's timing and faults.

CircuitPython's busio.I2C interface: try_lock/unlock, scan, writeto, readfrom_into,
writeto_then_readfrom, each with start/end slices of the buffers.
"""

from __future__ import annotations

import threading

from smbus2 import i2c_msg


class BusioI2C:
    def __init__(self, bus):
        self.bus = bus  # a SimI2CBus (or an smbus2.SMBus)
        self._lock = threading.Lock()
        self.calls: list[str] = []

    def try_lock(self) -> bool:
        return self._lock.acquire(blocking=False)

    def unlock(self) -> None:
        self._lock.release()

    def scan(self) -> list[int]:
        found = []
        for address in range(0x08, 0x78):
            try:
                self.bus.i2c_rdwr(i2c_msg.write(address, b""))
            except OSError:
                continue
            found.append(address)
        return found

    def writeto(self, address: int, buffer, *, start: int = 0, end: int | None = None) -> None:
        self.calls.append("writeto")
        self.bus.i2c_rdwr(i2c_msg.write(address, bytes(buffer[start:end])))

    def readfrom_into(self, address: int, buffer, *, start: int = 0, end: int | None = None) -> None:
        self.calls.append("readfrom_into")
        end = len(buffer) if end is None else end
        message = i2c_msg.read(address, end - start)
        self.bus.i2c_rdwr(message)
        buffer[start:end] = bytes(message)

    def writeto_then_readfrom(self, address: int, buffer_out, buffer_in, *, out_start: int = 0,
                              out_end: int | None = None, in_start: int = 0, in_end: int | None = None) -> None:
        self.calls.append("writeto_then_readfrom")
        in_end = len(buffer_in) if in_end is None else in_end
        write = i2c_msg.write(address, bytes(buffer_out[out_start:out_end]))
        read = i2c_msg.read(address, in_end - in_start)
        self.bus.i2c_rdwr(write, read)  # one transfer: a repeated START between them
        buffer_in[in_start:in_end] = bytes(read)

    def deinit(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.deinit()
