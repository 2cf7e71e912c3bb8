"""The shape shared by interval rules: a start condition that completes, then a release that
must hold. It keeps the rules' contract (contract.py) through `fresh` and `onset_wake`."""

from __future__ import annotations

from abc import ABC, abstractmethod

from pi_service.core.advice import ENDED, MESSAGES
from pi_service.core.events import Event
from pi_service.core.held import INF, Held, first_held_until
from pi_service.core.sample import Sample


class IntervalRule(ABC):
    """Subclasses say when the interval starts (`onset`) and what releases it (`released`)."""

    kind = ""
    level = "warning"

    def __init__(self, noise_s: float, release_s: float, gap_s: float = INF):
        self.noise_s = noise_s
        self.release_s = release_s
        self.gap_s = gap_s
        self.active = False
        # No gap ends an active interval: a long one only restarts the release's clock.
        self.release = Held(noise_s, gap_s=gap_s)
        self.fresh = False  # a start or end just reset a condition: it has yet to see a sample
        # What ends the interval: the first of these (condition, duration) to hold. One by
        # default; a rule with several (overstride: quicker steps for 10 s, or slower for 2 s)
        # sets its own, and its `released` returns one raw value for each.
        self.releases: tuple[tuple[Held, float], ...] = ((self.release, release_s),)

    def detail(self) -> dict:
        return {}

    def message(self) -> str:
        return MESSAGES[self.kind]

    @abstractmethod
    def onset(self, s: Sample, session_start: float | None) -> float | None:
        """Track the start condition; the time it completed, once certain."""

    @abstractmethod
    def released(self, s: Sample) -> bool | None | tuple[bool | None, ...]:
        """Whether this sample meets the release condition (None: unknown); a tuple, one per
        condition in `releases`, for a rule with several."""

    @abstractmethod
    def restart(self) -> None:
        """Forget the start condition's history, after an interval ends."""

    @abstractmethod
    def watches(self) -> list[tuple[str, float]]:
        """The comparisons the rule depends on (contract.py, invariant 2)."""

    @abstractmethod
    def onset_wake(self, t: float) -> float:
        """The earliest time after `t` the start condition could complete with no new evidence
        (contract.py, invariant 3, for the start condition alone)."""

    def wake(self, t: float) -> float:
        """The earliest time the rule could change state if the samples' comparisons stay as they are."""
        if self.fresh:
            return -INF
        if self.active:
            return min(held.wake(duration) for held, duration in self.releases)
        return self.onset_wake(t)

    def update(self, s: Sample, session_start: float | None, out: list[Event]) -> None:
        self.fresh = False
        if not self.active:
            done = self.onset(s, session_start)
            if done is not None:
                self.active = self.fresh = True
                for held, _ in self.releases:
                    held.reset(False)
                out.append(Event(done, self.kind, "start", self.message(), self.level, self.detail()))
            return
        raws = self.released(s)
        if len(self.releases) == 1:
            raws = (raws,)
        for (held, _), raw in zip(self.releases, raws):
            held.update(s.t, raw)
        done = first_held_until(s.t, self.releases)
        if done is not None:
            self.active = False
            self.fresh = True
            self.restart()
            out.append(Event(done, self.kind, "end", ENDED[self.kind], "info", self.detail()))
