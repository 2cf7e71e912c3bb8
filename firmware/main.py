"""Entry point on the board: copy protocol.py, controller.py, link.py, hal.py and this file
to the RP2040 (e.g. `mpremote cp firmware/*.py :`); MicroPython runs main.py at boot."""

import time

import machine

from controller import InclineController
from hal import Board
from link import FIRMWARE, PiLink

TICK_MS = 5
WATCHDOG_MS = 1000  # a hang longer than this resets the MCU, which boots with the outputs off


def main():
    board = Board()  # outputs off first
    watchdog = machine.WDT(timeout=WATCHDOG_MS)
    # ticks_ms() wraps (every 2**30 ms on the RP2040): keep our own unbounded milliseconds.
    now = 0
    last = time.ticks_ms()
    controller = InclineController(board, now_ms=now)
    link = PiLink(controller, FIRMWARE, now_ms=now)
    while True:
        tick = time.ticks_ms()
        now += time.ticks_diff(tick, last)
        last = tick
        data = board.uart.read()
        if data:
            link.receive(data, now)
        controller.tick(now)
        out = link.poll(now)
        if out:
            board.uart.write(out)
        watchdog.feed()
        time.sleep_ms(TICK_MS)


try:
    main()
finally:
    machine.Pin(14, machine.Pin.OUT, value=0)
    machine.Pin(15, machine.Pin.OUT, value=0)
