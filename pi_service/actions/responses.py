"""What the companion does about the rules' events, each tick: a buzzer nudge for each (and
its repeats), the incline ramp-down through the console, and the person's answers from
the page (snooze, acknowledge, stop the ramp). Owns the nudge policy and the console watch;
the sampler hands it the events and the alerts it needs to know about."""

from __future__ import annotations

from pi_service.actions.nudges import PATTERNS, NudgePolicy
from pi_service.config import Config
from pi_service.console.link import ConsoleLink
from pi_service.console.watch import ConsoleWatch
from pi_service.core.events import ACTION_KINDS, Event
from pi_service.drivers.buzzer import BuzzerDriver


class Responses:
    def __init__(self, config: Config, buzzer: BuzzerDriver | None = None, console: ConsoleLink | None = None):
        self.nudges = NudgePolicy(config.actions.nudge_repeat_s)
        self.buzzer = buzzer
        # The link thread: read its state, queue commands; never waits.
        self.console_watch = None if console is None else ConsoleWatch(config, console)

    def on_event(self, event: Event, now: float) -> None:
        """A nudge for a rule's event, if the policy says so; an action's event gets none."""
        if event.kind in ACTION_KINDS:
            return
        nudge = self.nudges.on_event(event, now)
        if nudge is not None:
            self.play(nudge.pattern)

    def watch_console(self, t: float, incline_pct: float | None, alerts) -> list[Event]:
        """The console's events this tick (link and incline-check faults, the ramp's), having
        queued what the ramp asks of it. `alerts`: the AlertBoard, asked only with a console."""
        if self.console_watch is None:
            return []
        return self.console_watch.tick(t, incline_pct, alerts.since("steep_incline"),
                                       self.nudges.answer("steep_incline")[1], alerts.faulty_channels())

    def repeat_nudges(self, now: float) -> None:
        for nudge in self.nudges.tick(now):
            self.play(nudge.pattern)

    def answer(self, name: str, kind: str, seconds: float, now: float) -> list[Event]:
        """A person's answer to a nudge: "snooze" `kind` for `seconds`, "acknowledge" it, or
        "stop_ramp"; the events it makes. Raises ValueError for an unknown name or kind, and for
        an alarm (nudges.py: the belt alarm is not silenced from the phone)."""
        if name == "stop_ramp":
            return [] if self.console_watch is None else self.console_watch.stop_ramp(now)
        if kind not in PATTERNS:
            raise ValueError(f"unknown kind {kind!r}")
        if name == "snooze":
            self.nudges.snooze(kind, now + seconds)
        elif name == "acknowledge":
            self.nudges.acknowledge(kind)
        else:
            raise ValueError(f"unknown command {name!r}")
        if self.buzzer is not None:
            self.buzzer.stop()
        return []

    def ramp_status(self) -> dict | None:
        return None if self.console_watch is None else self.console_watch.ramp.status()

    def play(self, pattern) -> None:
        if self.buzzer is not None:
            self.buzzer.play(pattern)
