"""The sampling loop's console job, once a tick: tell the link the loop is alive, raise the
link's and the incline check's `sensor_fault`s, decide the ramp-down, and queue the
command it asks for. Reads the link's published state and appends to its queue; never
waits on the serial port.
"""

from __future__ import annotations

import logging

from pi_service.actions.ramp import InclineRamp, RampCommand
from pi_service.config import Config
from pi_service.console.fault import ConsoleFault
from pi_service.console.incline_check import CHANNEL as INCLINE_CHECK
from pi_service.console.incline_check import InclineCheck
from pi_service.console.link import ConsoleLink
from pi_service.core.events import Event

log = logging.getLogger(__name__)


class ConsoleWatch:
    def __init__(self, config: Config, link: ConsoleLink):
        self.link = link
        self.fault = ConsoleFault(config.rules.sensor_fault.recover_s)
        self.check = InclineCheck(config.rules)
        self.ramp = InclineRamp(config.actions, config.rules)

    def tick(self, t: float, incline_pct: float | None, steep_since: float | None, acknowledged: bool,
             faulty_channels: set[str]) -> list[Event]:
        """This tick's events (link and check faults, `incline_ramp`), in time order.

        `faulty_channels`: the channels with a `sensor_fault` raised before this tick."""
        self.link.loop_ticked()
        state = self.link.state
        events: list[Event] = []
        fault = self.fault.update(t, state.alive)
        if fault is not None:
            events.append(fault)
        events += self.check.feed(t, incline_pct, state.position_pct if state.alive else None)
        faulty = faulty_channels | {e.detail["channel"] for e in events if e.phase == "start"}
        faulty -= {e.detail["channel"] for e in events if e.phase == "end"}
        problem = None
        if "incline" in faulty:
            problem = "the incline sensor is faulty"
        elif INCLINE_CHECK in faulty:
            problem = "the console's deck position and the incline sensor disagree"
        self._send(self.ramp.update(t, steep_since, acknowledged, incline_pct, problem, state))
        return events + self.ramp.take_events()

    def stop_ramp(self, t: float) -> list[Event]:
        """The page's "stop the ramp"."""
        self._send(self.ramp.stop(t, self.link.state))
        return self.ramp.take_events()

    def _send(self, command: RampCommand | None) -> None:
        if command is None:
            return
        log.info("incline ramp: %s (%s)", command.action, self.ramp.reason)
        if command.action == "ramp":
            self.link.ramp_down(command.target_pct, command.rate_pct_s)
        else:
            self.link.stop_ramp()
