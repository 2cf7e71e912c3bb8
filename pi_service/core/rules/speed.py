"""The instant rules about speed: speed_jump, no_warmup and abrupt_stop."""

from __future__ import annotations

from collections import deque

from pi_service.config import RulesConfig
from pi_service.core.advice import MESSAGES
from pi_service.core.events import Event
from pi_service.core.held import INF, Held
from pi_service.core.sample import Sample
from pi_service.units import kmh_to_mps, mps_to_kmh


class WindowExtreme:
    """Running minimum (or maximum) of a value over the last `span_s` seconds, the values held
    as samples are (each lasts until the next): the value holding when the window opens
    counts, so one sample after a short gap does not pass for a value held all along.
    A monotonic deque for the window's samples, and the recent samples for the one holding
    at its start; `replay` computes the same from arrays (core/fastforward.py)."""

    __slots__ = ("span_s", "sign", "items", "recent")

    def __init__(self, span_s: float, maximum: bool = False):
        self.span_s = span_s
        self.sign = -1.0 if maximum else 1.0
        self.items: deque[tuple[float, float]] = deque()
        self.recent: deque[tuple[float, float]] = deque()

    def update(self, t: float, value: float) -> float:
        items, recent, key = self.items, self.recent, self.sign * value
        while items and items[-1][1] >= key:
            items.pop()
        items.append((t, key))
        horizon = t - self.span_s
        while items[0][0] < horizon:
            items.popleft()
        recent.append((t, key))
        while len(recent) > 1 and recent[1][0] <= horizon:
            recent.popleft()
        best = items[0][1]
        if recent[0][0] < horizon and recent[0][1] < best:
            best = recent[0][1]  # held from before the window opened
        return self.sign * best

    def reset(self) -> None:
        self.items.clear()
        self.recent.clear()


class SpeedWindows:
    """The two speeds a jump compares, fed every known speed: the current speed (the lowest of
    the last noise time) and the starting point (the lowest, over the jump window, of each
    noise time's highest). `replay` computes the same two series for a whole file at once."""

    __slots__ = ("now_low", "sustained_high", "base")

    def __init__(self, noise_s: float, within_s: float):
        self.now_low = WindowExtreme(noise_s)
        self.sustained_high = WindowExtreme(noise_s, maximum=True)
        self.base = WindowExtreme(within_s + noise_s)

    def update(self, t: float, speed: float) -> tuple[float, float]:
        return self.now_low.update(t, speed), self.base.update(t, self.sustained_high.update(t, speed))

    def reset(self) -> None:
        """Forget the speed's history (after a long gap: spec 7.1's clock stops)."""
        for window in (self.now_low, self.sustained_high, self.base):
            window.reset()


class SpeedJump:
    """Speed risen by >= 2.5 km/h within 3 s; at most one per 10 s. A `WindowedRule`
    (contract.py): `replay` computes its windows for a block at once.

    A speed must last the noise time to count (see SpeedWindows), so a one-sample spike or
    dropout can neither make nor fake a jump. An unknown stretch of the sensor_fault time
    or more forgets the speed's history: no jump is measured across it.
    """

    kind = "speed_jump"

    def __init__(self, rules: RulesConfig):
        cfg = rules.speed_jump
        self.noise_s = rules.min_duration_s
        self.within_s = cfg.within_s
        self.rise_mps = kmh_to_mps(cfg.rise_kmh)
        self.min_gap_s = cfg.min_gap_s
        self.gap_s = rules.sensor_fault.fault_s
        self.windows = SpeedWindows(self.noise_s, self.within_s)
        self.rising = False
        self.last_t = -INF
        self.gap_since: float | None = None  # the first sample of an unknown stretch under way

    def watches(self) -> list[tuple[str, float]]:
        return []  # depends on the speed's history: `replay` watches `rising` itself (contract.py)

    def wake(self, t: float) -> float:
        return INF

    def update(self, s: Sample, session_start: float | None, out: list[Event]) -> None:
        speed = s.speed_mps
        if speed is None:
            if self.gap_since is None:
                self.gap_since = s.t
            return
        if self.gap_since is not None:
            if s.t - self.gap_since >= self.gap_s:
                self.windows.reset()
                self.rising = False
            self.gap_since = None
        current, base = self.windows.update(s.t, speed)
        rising = current - base >= self.rise_mps
        if rising and not self.rising:
            # The rise completed when the speed got there, one noise time before it counted.
            onset = s.t - self.noise_s
            if onset - self.last_t >= self.min_gap_s:
                self.last_t = onset
                out.append(Event(onset, self.kind, "instant", MESSAGES[self.kind], "warning",
                                 {"rise_kmh": round(mps_to_kmh(current - base), 1)}))
        self.rising = rising


class NoWarmup:
    """In the first 5 min of a session, speed > 6.5 km/h or incline > 4 %; once per session.

    Each comparison is confirmed on its own; the event is dated from the first of them
    (or from the session's start, for a climb begun on a stopped belt)."""

    kind = "no_warmup"

    def __init__(self, rules: RulesConfig):
        cfg = rules.no_warmup
        gap_s = rules.sensor_fault.fault_s
        self.window_s = cfg.window_s
        self.max_mps = kmh_to_mps(cfg.max_kmh)
        self.max_incline = cfg.max_incline_pct
        self.fast = Held(rules.min_duration_s, gap_s=gap_s)
        self.steep = Held(rules.min_duration_s, gap_s=gap_s)
        self.session: float | None = None
        self.fired = False

    def watches(self) -> list[tuple[str, float]]:
        return [("speed_mps", self.max_mps), ("incline_pct", self.max_incline)]

    def wake(self, t: float) -> float:
        # Whatever the session: a confirmation pending now decides what a session that starts
        # later reads (else `replay` misses a climb confirmed before the belt started).
        return min(self.fast.wake(), self.steep.wake())

    def update(self, s: Sample, session_start: float | None, out: list[Event]) -> None:
        self.fast.update(s.t, None if s.speed_mps is None else s.speed_mps > self.max_mps)
        self.steep.update(s.t, None if s.incline_pct is None else s.incline_pct > self.max_incline)
        if session_start != self.session:
            self.session, self.fired = session_start, False
        if session_start is None or self.fired:
            return
        began = [held.since for held in (self.fast, self.steep) if held.state is True]
        if not began:
            return
        onset = max(session_start, min(began))
        if onset - session_start < self.window_s:
            self.fired = True
            detail = {"speed_kmh": None if s.speed_mps is None else round(mps_to_kmh(s.speed_mps), 1),
                      "incline_pct": s.incline_pct}
            out.append(Event(onset, self.kind, "instant", MESSAGES[self.kind], "warning", detail))


class AbruptStop:
    """The belt falls below 0.5 km/h after being at >= 6 km/h within the preceding 180 s."""

    kind = "abrupt_stop"

    def __init__(self, rules: RulesConfig):
        cfg = rules.abrupt_stop
        gap_s = rules.sensor_fault.fault_s
        self.stop_mps = kmh_to_mps(cfg.stop_kmh)
        self.fast_mps = kmh_to_mps(cfg.from_kmh)
        self.lookback_s = cfg.lookback_s
        self.stopped = Held(rules.min_duration_s, initial=True, gap_s=gap_s)
        self.fast = Held(rules.min_duration_s, gap_s=gap_s)
        self.last_fast_t = -INF

    def watches(self) -> list[tuple[str, float]]:
        return [("speed_mps", self.stop_mps), ("speed_mps", self.fast_mps)]

    def wake(self, t: float) -> float:
        return min(self.fast.wake(), self.stopped.wake())

    def update(self, s: Sample, session_start: float | None, out: list[Event]) -> None:
        speed = s.speed_mps
        fast = None if speed is None else speed >= self.fast_mps
        was_fast, gap_since = self.fast.state, self.fast.gap_since
        # The belt cannot stop while still fast, so the moment it dropped below the fast
        # pace is all a stop needs to know.
        if self.fast.update(s.t, fast) and not self.fast.state:
            self.last_fast_t = self.fast.since
        elif was_fast and self.fast.state is None:
            self.last_fast_t = gap_since  # fast until the speed went unknown for long
        # A stop is a confirmed change from moving; after a long gap, a belt found stopped
        # says nothing about how it stopped.
        if self.stopped.update(s.t, None if speed is None else speed < self.stop_mps) and self.stopped.state:
            stop_t = self.stopped.since
            last_fast = stop_t if self.fast.state else self.last_fast_t
            if stop_t - last_fast <= self.lookback_s:
                out.append(Event(stop_t, self.kind, "instant", MESSAGES[self.kind], "warning",
                                 {"seconds_since_fast": round(max(0.0, stop_t - last_fast), 1)}))
