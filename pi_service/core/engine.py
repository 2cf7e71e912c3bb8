"""All the rules and the session, fed one sample at a time: the core the daemon and `replay` share."""

from __future__ import annotations

from pi_service.config import Config
from pi_service.core.events import Event
from pi_service.core.rules.faults import SensorFaults
from pi_service.core.rules.incline import SteepIncline
from pi_service.core.rules.rails import RailHold, RailLean
from pi_service.core.rules.speed import AbruptStop, NoWarmup, SpeedJump
from pi_service.core.sample import CHANNELS, Sample
from pi_service.core.session import Session, SessionTracker
from pi_service.units import kmh_to_mps


class RuleEngine:
    def __init__(self, config: Config):
        rules = config.rules
        self.sessions = SessionTracker(kmh_to_mps(rules.session_start_kmh), rules.session_end_s)
        self.rules = [
            RailLean(rules, config.rider.body_mass_kg), RailHold(rules), SteepIncline(rules),
            SpeedJump(rules), NoWarmup(rules), AbruptStop(rules),
            SensorFaults(rules, CHANNELS),
        ]
        self.speed_jump = self.rules[3]
        self.ended: list[Session] = []

    def watches(self) -> list[tuple[str, float]]:
        """Every (quantity, value) comparison a rule or the session looks at (see IntervalRule.watches)."""
        pairs = self.sessions.watches() + [pair for rule in self.rules for pair in rule.watches()]
        return sorted(set(pairs))

    def wake(self, t: float) -> float:
        """The earliest time after the sample at `t` that any rule or the session could change
        with every comparison in `watches()` (and the speed's rise) as it is."""
        return min(self.sessions.wake(), *(rule.wake(t) for rule in self.rules))

    def update(self, sample: Sample) -> list[Event]:
        """The events this sample completes, in time order."""
        ended = self.sessions.update(sample)
        if ended is not None:
            self.ended.append(ended)
        current = self.sessions.current
        start = None if current is None else current.started_t
        out: list[Event] = []
        for rule in self.rules:
            rule.update(sample, start, out)
        if len(out) > 1:
            out.sort(key=lambda event: event.t)
        return out
