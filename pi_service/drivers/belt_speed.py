"""Belt speed from a Hall or reed sensor on the front roller, read through a gpiozero pin.

Speed comes from the *timestamps* the pin factory attaches to each edge (on a Pi, the
kernel's edge time via lgpio), never from when Python ran the callback, so a busy
interpreter does not bend the reading. Edges closer together than the glitch time are
contact bounce and are dropped. Speed is averaged over one roller revolution (the last
`magnets` intervals) so unevenly spaced magnets do not make it ripple. When pulses stop,
the reading falls off as the distance of one pulse over the time since the last one (less
the `DELIVERY_SLACK_S` an edge may take to arrive), and is zero after the timeout.

Just after it opens, with fewer than two edges yet, the sensor has not measured anything:
the speed is unknown (None), not zero, for `STARTUP_UNKNOWN_S`, so a companion started
beside a running belt does not see it jump from 0. That is under the 0.5 s a channel may
be unknown before it is a `sensor_fault`, and long enough for two pulses at any speed
where a jump from standstill would count (2.5 km/h with the reference roller).
"""

from __future__ import annotations

from collections import deque

STARTUP_UNKNOWN_S = 0.45
DELIVERY_SLACK_S = 0.01  # how long after its timestamp an edge's callback may come


class BeltSpeedSensor:
    def __init__(self, pin_factory, gpio: int, pulses_per_m: float, magnets: int = 1,
                 pull_up: bool = True, glitch_s: float = 0.002, zero_speed_timeout_s: float = 2.0):
        if pulses_per_m <= 0:
            raise ValueError("pulses_per_m must be positive")
        self.factory = pin_factory
        self.metres_per_pulse = 1.0 / pulses_per_m
        self.glitch_s = glitch_s
        self.zero_speed_timeout_s = zero_speed_timeout_s
        self.pulses = 0
        self.glitches = 0
        # Appends from the pin's callback thread, reads from the sampling loop: a deque's
        # append and copy are atomic, so no lock is needed.
        self._edges: deque[float] = deque(maxlen=magnets + 1)
        self._pin = pin_factory.pin(gpio)
        self._pin.function = "input"
        self._pin.pull = "up" if pull_up else "down"
        # A magnet arriving pulls an open-collector Hall sensor (or closes a reed switch) to
        # the inactive level of the pull: falling with a pull-up, rising with a pull-down.
        self._pin.edges = "falling" if pull_up else "rising"
        self._pin.when_changed = self._on_edge
        self.opened_ticks = pin_factory.ticks()
        self._startup_s = min(STARTUP_UNKNOWN_S, zero_speed_timeout_s)

    def _on_edge(self, ticks: float, state: bool) -> None:
        if self._edges and self.factory.ticks_diff(ticks, self._edges[-1]) < self.glitch_s:
            self.glitches += 1
            return
        self._edges.append(ticks)
        self.pulses += 1

    def speed_mps(self, now_ticks: float | None = None) -> float | None:
        """Belt speed in m/s at `now_ticks` (the pin factory's clock; defaults to its now);
        None while, just opened, it has not yet had the time to measure it."""
        edges = tuple(self._edges)
        now = self.factory.ticks() if now_ticks is None else now_ticks
        if len(edges) < 2:
            return None if 0 <= self.factory.ticks_diff(now, self.opened_ticks) < self._startup_s else 0.0
        since_last = self.factory.ticks_diff(now, edges[-1])
        if since_last > self.zero_speed_timeout_s:
            return 0.0
        span = self.factory.ticks_diff(edges[-1], edges[0])
        if span <= 0:
            return 0.0
        measured = (len(edges) - 1) * self.metres_per_pulse / span
        # No pulse for longer than one pulse takes at the measured speed: the belt is
        # slowing at least this much. An edge reaches this thread some milliseconds after
        # its timestamp (lgpio's alert thread, the interpreter lock), so a pulse counts as
        # overdue only that much later: a reading taken just before a late-delivered edge
        # is not pulled down by the delay.
        overdue = since_last - DELIVERY_SLACK_S
        bound = self.metres_per_pulse / overdue if overdue > 0 else measured
        return min(measured, bound)

    def close(self) -> None:
        self._pin.when_changed = None
        self._pin.close()
