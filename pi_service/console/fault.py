"""`sensor_fault` on channel "console": the link down (nothing valid for the link's 0.5 s),
until it has been up again for the rules' recovery time (2 s)."""

from __future__ import annotations

from pi_service.core.advice import ENDED, MESSAGES
from pi_service.core.events import Event

START_GRACE_S = 1.5  # the first connection's HELLO and STATUS


class ConsoleFault:
    def __init__(self, recover_s: float):
        self.recover_s = recover_s
        self.active = False
        self.first_t: float | None = None
        self.up_since: float | None = None

    def update(self, t: float, alive: bool) -> Event | None:
        if self.first_t is None:
            self.first_t = t
        detail = {"channel": "console"}
        if not self.active:
            if not alive and t - self.first_t >= START_GRACE_S:
                self.active = True
                self.up_since = None
                return Event(t, "sensor_fault", "start", MESSAGES["sensor_fault"], "warning", detail)
            return None
        if not alive:
            self.up_since = None
            return None
        if self.up_since is None:
            self.up_since = t
        if t - self.up_since >= self.recover_s:
            self.active = False
            return Event(self.up_since + self.recover_s, "sensor_fault", "end", ENDED["sensor_fault"], "info", detail)
        return None
