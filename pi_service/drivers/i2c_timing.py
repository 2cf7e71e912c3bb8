"""How long an I2C transfer holds the bus: the wire's clocks at the bus speed, plus the
kernel's per-transfer cost. One place for it, so the virtual treadmill's bus and the
config's bus-time check (`sampling/bus_budget.py`) count the same.

On the wire (NXP UM10204, section 3.1) every byte is 8 data bits and an acknowledge bit;
a message starts with a START (or repeated START) and the address byte; a transfer ends
with a STOP. A register read as smbus2 does it (`read_i2c_block_data`) is one transfer of
two messages: [S addr+W reg] [Sr addr+R data...] P.
"""

from __future__ import annotations

# The Pi's I2C controller (i2c-bcm2835) runs at 100 kHz unless /boot/firmware/config.txt
# says otherwise (dtparam=i2c_arm_baudrate=...).
DEFAULT_BUS_HZ = 100_000
# What one ioctl costs beyond the wire on a Raspberry Pi: the system call, the driver
# setting up the controller and its interrupt at the end. Measured figures for i2c-bcm2835
# are 30-80 us per transfer; this is the middle of that range.
TRANSFER_OVERHEAD_S = 50e-6

CLOCKS_PER_BYTE = 9  # 8 bits and ACK/NACK
CLOCKS_PER_START = 1  # a START or repeated START condition takes about one clock period
CLOCKS_PER_STOP = 1


def transfer_clocks(message_lengths: list[int]) -> int:
    """Bus clocks for one transfer of messages with these payload lengths (address byte not counted)."""
    return sum(CLOCKS_PER_START + CLOCKS_PER_BYTE * (1 + n) for n in message_lengths) + CLOCKS_PER_STOP


def transfer_s(message_lengths: list[int], bus_hz: float = DEFAULT_BUS_HZ,
               overhead_s: float = TRANSFER_OVERHEAD_S) -> float:
    """Seconds one transfer holds the caller: the wire time at `bus_hz` plus the kernel's overhead."""
    return transfer_clocks(message_lengths) / bus_hz + overhead_s


def register_read_s(length: int, bus_hz: float = DEFAULT_BUS_HZ) -> float:
    """A register pointer written, then `length` bytes read after a repeated START."""
    return transfer_s([1, length], bus_hz)


def register_write_s(length: int, bus_hz: float = DEFAULT_BUS_HZ) -> float:
    """A register pointer and `length` data bytes in one write message."""
    return transfer_s([1 + length], bus_hz)
