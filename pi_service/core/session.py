"""Sessions as the spec defines them (7, 7.1): from the first sample of a run of at least
the noise time at walking speed, until the belt has stayed below that speed for `end_s`.
Pure: fed samples, returns its state.

The belt's motion is one confirmed condition (core/held.py): a glitch sample at walking
speed starts no session, a blip of speed in a stop does not restart its clock, and an
unknown speed for longer than the `sensor_fault` time stops the stop's clock (no gap
ever ends a session).
"""

from __future__ import annotations

from dataclasses import dataclass

from pi_service.core.held import INF, Held
from pi_service.core.sample import Sample


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
    def __init__(self, start_mps: float, end_s: float, noise_s: float = 0.0, gap_s: float = INF):
        self.start_mps = start_mps
        self.end_s = end_s
        self.moving = Held(noise_s, gap_s=gap_s)
        self.current: Session | None = None
        self._odometer = 0.0  # metres over every pair of samples with known speeds
        self._run_odometer = 0.0  # the odometer where the latest run at walking speed began
        self._session_odometer = 0.0  # ... and where the current session began
        self._prev: Sample | None = None  # the last sample with a known speed

    def update(self, sample: Sample) -> Session | None:
        """Feed one sample; returns the session that just ended, if this sample ended one."""
        speed = sample.speed_mps
        if speed is not None:
            if self._prev is not None:
                self._odometer += 0.5 * (self._prev.speed_mps + speed) * (sample.t - self._prev.t)  # trapezoid
            self._prev = sample
        run_began = self.moving.raw_since
        self.moving.update(sample.t, None if speed is None else speed >= self.start_mps)
        if self.moving.raw is True and self.moving.raw_since != run_began:
            self._run_odometer = self._odometer
        current = self.current
        if current is not None:
            if self.moving.held_until(sample.t, self.end_s, value=False) is not None:
                self.current = None
                return Session(current.started_t, current.last_t, current.distance_m, ended_t=self.moving.since)
            self.current = Session(current.started_t, sample.t, self._odometer - self._session_odometer)
        elif self.moving.state is True:
            self._session_odometer = self._run_odometer
            self.current = Session(self.moving.since, sample.t, self._odometer - self._run_odometer)
        return None

    def watches(self) -> list[tuple[str, float]]:
        return [("speed_mps", self.start_mps)]

    def wake(self) -> float:
        """When the session could start or end with the belt's motion as it is."""
        if self.current is None:
            return self.moving.wake()
        return self.moving.wake(self.end_s, value=False)
