"""All the rules and the session, fed one sample at a time: the core the daemon and `replay` share."""

from __future__ import annotations

from pi_service.config import Config
from pi_service.core.events import Event
from pi_service.core.rules.contract import Rule, WindowedRule
from pi_service.core.rules.faults import SensorFaults, channel_ranges
from pi_service.core.rules.footstrikes import CADENCE_RANGE_SPM, Overstride, UnattendedBelt
from pi_service.core.rules.incline import SteepIncline
from pi_service.core.rules.rails import RailHold, RailLean
from pi_service.core.rules.speed import AbruptStop, NoWarmup, SpeedJump
from pi_service.core.sample import CHANNELS, Sample
from pi_service.core.session import Session, SessionTracker
from pi_service.units import kmh_to_mps


class ChannelRanges:
    """Each channel's valid range: a value outside it is unknown for every rule (spec 7.1)."""

    def __init__(self, config: Config):
        ranges = channel_ranges(config.rules)
        self.by_attribute = {attribute: (low, high) for attribute, low, high in ranges.values()}
        self.by_attribute["cadence_spm"] = CADENCE_RANGE_SPM
        (self.speed, self.incline, self.left, self.right) = (ranges[c][1:] for c in CHANNELS)
        self.cadence = CADENCE_RANGE_SPM

    def clean(self, s: Sample) -> Sample:
        """`s` with every out-of-range value as None (the same object if all are in range).
        `footstrike_g` no rule reads: it is passed on as it is."""
        speed, incline, left, right = s.speed_mps, s.incline_pct, s.rail_left_n, s.rail_right_n
        cadence = s.cadence_spm
        ok_speed = speed is None or self.speed[0] <= speed <= self.speed[1]
        ok_incline = incline is None or self.incline[0] <= incline <= self.incline[1]
        ok_left = left is None or self.left[0] <= left <= self.left[1]
        ok_right = right is None or self.right[0] <= right <= self.right[1]
        ok_cadence = cadence is None or self.cadence[0] <= cadence <= self.cadence[1]
        if ok_speed and ok_incline and ok_left and ok_right and ok_cadence:
            return s
        return Sample(s.t, speed if ok_speed else None, incline if ok_incline else None,
                      left if ok_left else None, right if ok_right else None,
                      cadence if ok_cadence else None, s.footstrike_g)


def standard_rules(config: Config) -> list[Rule]:
    """The rules of spec section 7, configured, in the order their events are raised."""
    rules = config.rules
    return [
        RailLean(rules, config.rider.body_mass_kg), RailHold(rules), SteepIncline(rules),
        SpeedJump(rules), NoWarmup(rules), AbruptStop(rules),
        UnattendedBelt(rules), Overstride(rules),
        SensorFaults(rules, CHANNELS),
    ]


class RuleEngine:
    """`rules`: the standard rules by default (a test may run one alone)."""

    def __init__(self, config: Config, rules: list[Rule] | None = None):
        cfg = config.rules
        self.ranges = ChannelRanges(config)
        self.sessions = SessionTracker(kmh_to_mps(cfg.session_start_kmh), cfg.session_end_s,
                                       cfg.min_duration_s, cfg.sensor_fault.fault_s)
        self.rules: list[Rule] = standard_rules(config) if rules is None else rules
        windowed = [rule for rule in self.rules if isinstance(rule, WindowedRule)]
        if len(windowed) > 1:
            raise ValueError("the fast path computes the windows of one windowed rule only")
        self.windowed: WindowedRule | None = windowed[0] if windowed else None  # the speed jump
        self.ended: list[Session] = []

    def watches(self) -> list[tuple[str, float]]:
        """Every (quantity, value) comparison a rule or the session looks at (core/rules/contract.py)."""
        pairs = self.sessions.watches() + [pair for rule in self.rules for pair in rule.watches()]
        return sorted(set(pairs))

    def wake(self, t: float) -> float:
        """The earliest time after the sample at `t` that any rule or the session could change
        with every comparison in `watches()` (and the speed's rise) as it is."""
        return min(self.sessions.wake(), *(rule.wake(t) for rule in self.rules))

    def update(self, sample: Sample) -> list[Event]:
        """The events this sample completes, in time order."""
        sample = self.ranges.clean(sample)
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
