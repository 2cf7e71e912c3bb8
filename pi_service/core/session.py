"""Sessions as the spec defines them: from the first sample at walking speed until the belt
has stayed below that speed for `end_s`. Pure: fed samples, returns its state.
"""

from __future__ import annotations

from dataclasses import dataclass

from pi_service.core.sample import Sample

INF = float("inf")


@dataclass(frozen=True, slots=True)
class Session:
    started_t: float
    last_t: float
    distance_m: float
    ended_t: float | None = None

    @property
    def elapsed_s(self) -> float:
        return (self.ended_t if self.ended_t is not None else self.last_t) - self.started_t


class SessionTracker:
    def __init__(self, start_mps: float, end_s: float):
        self.start_mps = start_mps
        self.end_s = end_s
        self.current: Session | None = None
        self._below_since: float | None = None
        self._prev: Sample | None = None

    def update(self, sample: Sample) -> Session | None:
        """Feed one sample; returns the session that just ended, if this sample ended one."""
        prev, self._prev = self._prev, sample
        speed = sample.speed_mps
        moving = speed is not None and speed >= self.start_mps
        if self.current is None:
            if moving:
                self.current = Session(started_t=sample.t, last_t=sample.t, distance_m=0.0)
                self._below_since = None
            return None
        ended = self._end_if_stopped_long_enough(sample.t)
        if ended is not None:
            if moving:  # a new session begins with this very sample
                self.current = Session(started_t=sample.t, last_t=sample.t, distance_m=0.0)
            return ended
        distance = self.current.distance_m
        if prev is not None and prev.speed_mps is not None and speed is not None:
            # Trapezoid over the interval; an unknown speed at either end adds nothing.
            distance += 0.5 * (prev.speed_mps + speed) * (sample.t - prev.t)
        # Unknown speed neither starts nor ends the below-speed streak.
        if moving:
            self._below_since = None
        elif speed is not None and self._below_since is None:
            self._below_since = sample.t
        self.current = Session(self.current.started_t, sample.t, distance)
        return self._end_if_stopped_long_enough(sample.t)

    def watches(self) -> list[tuple[str, float]]:
        return [("speed_mps", self.start_mps)]

    def wake(self) -> float:
        """When the current session would end if the belt stays as it is."""
        return INF if self._below_since is None else self._below_since + self.end_s

    def _end_if_stopped_long_enough(self, t: float) -> Session | None:
        if self._below_since is None or t - self._below_since < self.end_s:
            return None
        ended = Session(self.current.started_t, self.current.last_t, self.current.distance_m,
                        ended_t=self._below_since)
        self.current = None
        self._below_since = None
        return ended
