"""A condition that counts only once it has held for a minimum time, dated from when it began.

The spec's noise rule (7.1): "conditions must hold for at least 0.2 s before they count".
A raw value lasts from its sample until the next known sample says otherwise; one that
lasts less than `min_s` is noise, one that lasts is confirmed and backdated to its first
sample, so a rule's timing does not depend on the sample rate.

Unknown (None) is not evidence. A stretch of unknown samples shorter than `gap_s` (the
`sensor_fault` time, 0.5 s) is bridged: the value before it stands and its time counts.
One that reaches `gap_s` stops the condition's clock: the state becomes unknown (None)
and builds up again from the next known sample. Nothing is decided inside a gap that
could still turn out long, except what was already certain before it began.
"""

from __future__ import annotations

INF = float("inf")


class Held:
    __slots__ = ("min_s", "gap_s", "raw", "raw_since", "state", "since", "gap_since")

    def __init__(self, min_s: float, initial: bool | None = False, gap_s: float = INF):
        self.min_s = min_s
        self.gap_s = gap_s
        self.raw = initial
        self.raw_since = -INF
        self.state = initial  # the confirmed value: True, False, or None (unknown after a long gap)
        self.since = -INF  # when the confirmed value began
        self.gap_since: float | None = None  # the first sample of the unknown stretch under way

    def update(self, t: float, raw: bool | None) -> bool:
        """Feed one sample's raw condition; True if the confirmed state changed from one
        known value to the other (an unknown state becoming known is not a change)."""
        if raw is None:
            if self.gap_since is None:
                self.gap_since = t
            return False
        changed = False
        if self.gap_since is not None:
            if t - self.gap_since >= self.gap_s:
                self.raw = self.state = None  # a long gap: forget, build up again from here
            self.gap_since = None
        if raw != self.raw:
            changed = self._confirm(t)  # the value before lasted until this sample
            self.raw, self.raw_since = raw, t
        return self._confirm(t) or changed

    def _confirm(self, t: float) -> bool:
        if self.raw is None or self.raw == self.state or t - self.raw_since < self.min_s:
            return False
        known = self.state is not None
        self.state, self.since = self.raw, self.raw_since
        return known

    def in_doubt_before(self, t: float) -> bool:
        """Whether what happened before `t` may still change: a raw flip before it not yet
        confirmed or dismissed, or a gap begun before it that may yet turn out long."""
        return (self.raw != self.state and self.raw_since < t) or (self.gap_since is not None and self.gap_since < t)

    def held_until(self, t: float, duration: float, value: bool = True) -> float | None:
        """When the confirmed `value` completed `duration`, once that is certain; else None."""
        if self.state is not value:
            return None
        done = self.since + duration
        if t < done or self.in_doubt_before(done):
            return None
        return done

    def wake(self, duration: float | None = None, value: bool = True) -> float:
        """The earliest time this could change, or complete `duration` in `value`, with no new
        evidence (the raw condition and the samples' knownness unchanged)."""
        if self.gap_since is None and self.raw is not None and self.raw != self.state:
            return self.raw_since + self.min_s
        if duration is not None and self.state is value:
            return self.certain_at(self.since + duration)
        return INF

    def certain_at(self, done: float) -> float:
        """When a completion at `done` can be reported with nothing new: at `done`, unless a
        gap under way began before it (then only the sample that ends the gap decides)."""
        return INF if self.gap_since is not None and self.gap_since < done else done

    def could_complete_before(self, duration: float, done: float) -> bool:
        """Whether this could yet turn out to have completed `duration` in True before `done`:
        it is confirmed True early enough but in doubt, or a flip to True early enough is pending."""
        if self.state is True and self.since + duration < done:
            return True
        return self.raw is True and self.state is not True and self.raw_since + duration < done

    def reset(self, state: bool = False) -> None:
        self.raw = self.state = state
        self.raw_since = self.since = -INF
        self.gap_since = None


def all_held_until(t: float, conditions: tuple[Held, ...], duration: float, not_before: float = -INF) -> float | None:
    """When every condition had been confirmed true together (and `not_before` had passed)
    for `duration`, once certain; else None."""
    if any(c.state is not True for c in conditions):
        return None
    done = max(not_before, *(c.since for c in conditions)) + duration
    if t < done or any(c.in_doubt_before(done) for c in conditions):
        return None
    return done


def all_wake(conditions: tuple[Held, ...], duration: float, not_before: float = -INF) -> float:
    """The earliest time `all_held_until` could change its answer with no new evidence."""
    wake = min(c.wake() for c in conditions)
    if all(c.state is True for c in conditions):
        done = max(not_before, *(c.since for c in conditions)) + duration
        wake = min(wake, max(c.certain_at(done) for c in conditions))
    return wake


def first_held_until(t: float, conditions: tuple[tuple[Held, float], ...]) -> float | None:
    """When the first of several (condition, duration) completed its duration in True, once
    certain: no other could still turn out to have completed earlier. So the time does not
    depend on which samples were seen (a release of "this for 10 s, or that for 2 s")."""
    dones = [held.held_until(t, duration) for held, duration in conditions]
    known = [done for done in dones if done is not None]
    if not known:
        return None
    first = min(known)
    if any(done is None and held.could_complete_before(duration, first)
           for (held, duration), done in zip(conditions, dones)):
        return None
    return first
