"""The shape shared by interval rules: a start condition that completes, then a release that must hold."""

from __future__ import annotations

from abc import ABC, abstractmethod

from pi_service.core.advice import ENDED, MESSAGES
from pi_service.core.events import Event
from pi_service.core.held import Held
from pi_service.core.sample import Sample


class IntervalRule(ABC):
    """Subclasses say when the interval starts (`onset`) and what releases it (`released`)."""

    kind = ""
    level = "warning"

    def __init__(self, noise_s: float, release_s: float):
        self.noise_s = noise_s
        self.release_s = release_s
        self.active = False
        self.release = Held(noise_s)

    def detail(self) -> dict:
        return {}

    @abstractmethod
    def onset(self, s: Sample, session_start: float | None) -> float | None:
        """Track the start condition; the time it completed, once certain."""

    @abstractmethod
    def released(self, s: Sample) -> bool | None:
        """Whether this sample meets the release condition (None: unknown)."""

    @abstractmethod
    def restart(self) -> None:
        """Forget the start condition's history, after an interval ends."""

    def update(self, s: Sample, session_start: float | None, out: list[Event]) -> None:
        if not self.active:
            done = self.onset(s, session_start)
            if done is not None:
                self.active = True
                self.release.reset(False)
                out.append(Event(done, self.kind, "start", MESSAGES[self.kind], self.level, self.detail()))
            return
        self.release.update(s.t, self.released(s))
        done = self.release.held_until(s.t, self.release_s)
        if done is not None:
            self.active = False
            self.restart()
            out.append(Event(done, self.kind, "end", ENDED[self.kind], "info", self.detail()))
