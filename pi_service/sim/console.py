"""The console's incline controller in the virtual treadmill: the firmware's own logic
(firmware/controller.py and firmware/link.py, unchanged) driving a simulated incline
motor, reached by the Pi over a real pseudo-terminal that pyserial opens like a UART.

`path` is a symlink to the current pseudo-terminal, so pulling the cable (`unplug`)
makes the device vanish as a USB adapter does, and `plug` brings a new one at the same
path. The scenario's incline changes arrive as console key presses (`press`), so a
person's use of the console cancels an automatic ramp here exactly as on the machine.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import tty
from collections import deque
from typing import Callable

from firmware.controller import InclineController
from firmware.link import FIRMWARE, PiLink
from firmware.sim_motor import SimMotor

TICK_S = 0.005  # as the board's main loop


class _Hardware:
    """SimMotor with a thread-safe queue of key presses (they come from the world's thread)."""

    def __init__(self, motor: SimMotor, keys: deque):
        self.motor, self.keys = motor, keys

    def position_raw(self) -> int:
        return self.motor.position_raw()

    def drive(self, direction: int) -> None:
        self.motor.drive(direction)

    def buttons(self) -> list:
        presses = []
        while self.keys:
            presses.append(self.keys.popleft())
        return presses


class SimConsole:
    def __init__(self, initial_pct: float = 0.0, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._t0 = clock()
        self.motor = SimMotor(position_pct=initial_pct, now_ms=0)
        self.keys: deque = deque()
        self.controller = InclineController(_Hardware(self.motor, self.keys), now_ms=0)
        self.link = PiLink(self.controller, FIRMWARE, now_ms=0)
        self.folder = tempfile.mkdtemp(prefix="treadmill-console-")
        self.path = os.path.join(self.folder, "console")
        self._lock = threading.Lock()  # guards the file descriptors against unplug/plug
        self._master: int | None = None
        self._slave: int | None = None
        self.silent = False  # powered but not talking or listening (a stuck peer)
        self.deaf = False  # talking but not hearing the Pi (a broken wire from the Pi's TX)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.plug()

    # -- what the world and the tests do to it -------------------------------------

    def position_pct(self) -> float:
        return self.motor.position

    def press(self, key) -> None:
        """A console key: "up", "down", "stop" or a preset incline in %."""
        self.keys.append(key)

    def plug(self) -> None:
        with self._lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo or line editing before pyserial configures it
            os.set_blocking(master, False)
            self._master, self._slave = master, slave
            temporary = self.path + ".new"
            os.symlink(os.ttyname(slave), temporary)
            os.replace(temporary, self.path)

    def unplug(self) -> None:
        """The cable pulled: the device vanishes; the firmware runs on without the Pi."""
        with self._lock:
            if self._master is None:
                return
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass  # already gone
            for fd in (self._master, self._slave):
                os.close(fd)
            self._master = self._slave = None

    def send_raw(self, data: bytes) -> None:
        """Bytes on the wire to the Pi, for garbage and corruption tests."""
        with self._lock:
            if self._master is not None:
                os.write(self._master, data)

    # -- the MCU's main loop ---------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sim-console", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.unplug()
        try:
            os.rmdir(self.folder)
        except OSError:
            pass  # something else left in it; leave it

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            now_ms = int((self.clock() - self._t0) * 1000)
            self.motor.advance(now_ms)
            with self._lock:
                master = self._master
                if master is not None and not self.silent:
                    try:
                        data = os.read(master, 4096)
                    except (BlockingIOError, OSError):
                        data = b""
                    if data and not self.deaf:
                        self.link.receive(data, now_ms)
            self.controller.tick(now_ms)
            out = self.link.poll(now_ms)
            with self._lock:
                if out and self._master is not None and not self.silent:
                    try:
                        os.write(self._master, out)
                    except (BlockingIOError, OSError):
                        pass  # nobody reading: the bytes are lost, as on a wire
