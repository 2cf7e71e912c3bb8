"""gpiozero MockFactory pins for the virtual treadmill.

`SimPin` is gpiozero's own MockPin with two changes a long-running simulation needs:
its state history is bounded (MockPin keeps every change forever), and `drive_at` stamps
an edge with the exact time the simulated magnet passed, as the kernel's edge
timestamps do on a Pi.
"""

from __future__ import annotations

from collections import deque

from gpiozero.pins.mock import MockFactory, MockPin

HISTORY = 4096


class SimPin(MockPin):
    _edge_ticks: float | None = None

    def drive_at(self, state: bool, ticks: float) -> None:
        """Drive the input to `state` as if the edge happened at `ticks`."""
        self._edge_ticks = ticks
        try:
            if state:
                self.drive_high()
            else:
                self.drive_low()
        finally:
            self._edge_ticks = None

    def _change_state(self, value):
        changed = super()._change_state(value)
        if changed and self._edge_ticks is not None:
            self._last_change = self._edge_ticks
        return changed

    def clear_states(self):
        super().clear_states()
        self.states = deque(self.states, maxlen=HISTORY)


def sim_pin_factory() -> MockFactory:
    return MockFactory(pin_class=SimPin)
