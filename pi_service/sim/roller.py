"""The front roller turning under the belt, passing its magnets over the Hall sensor.

A thread integrates the belt's travel and drives the sensor pin at each magnet's arrival
and departure, stamping each edge with the exact time the magnet passed.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable

from pi_service.sim.pins import SimPin

MAX_WAIT_S = 0.02  # re-read the belt speed at least this often
MAGNET_ARC = 0.15  # fraction of the spacing between magnets during which the sensor is active


class Roller:
    def __init__(self, pin: SimPin, belt_speed_mps: Callable[[float], float], magnets: int,
                 roller_diameter_m: float, active_low: bool = True, clock: Callable[[], float] = time.monotonic):
        self.pin = pin
        self.belt_speed_mps = belt_speed_mps
        self.spacing_m = math.pi * roller_diameter_m / magnets
        self.active_low = active_low
        self.clock = clock
        self.edges = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-roller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1)

    def _run(self) -> None:
        phase = MAGNET_ARC  # fraction of one spacing travelled since the last magnet arrived
        t = self.clock()
        while not self._stop.is_set():
            speed = self.belt_speed_mps(t)
            boundary = 1.0 if phase >= MAGNET_ARC else MAGNET_ARC
            if speed <= 0:
                self._stop.wait(MAX_WAIT_S)
                t = self.clock()
                continue
            rate = speed / self.spacing_m  # spacings per second
            edge_t = t + (boundary - phase) / rate
            now = self.clock()
            if edge_t > now:
                self._stop.wait(min(edge_t - now, MAX_WAIT_S))
                now = self.clock()
            if now < edge_t:
                phase += (now - t) * rate
                t = now
                continue
            # The magnet crossed: arrival when the phase wraps, departure at the arc's end.
            arriving = boundary == 1.0
            phase = 0.0 if arriving else MAGNET_ARC
            t = edge_t
            if self.pin.function == "input":
                level = not arriving if self.active_low else arriving
                self.pin.drive_at(level, edge_t)
                self.edges += 1
