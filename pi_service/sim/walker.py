"""The walker's feet on the virtual deck: footstrikes at a cadence that follows the belt's speed,
each a short vertical jolt of the deck that the accelerometer feels (spec 7.2).

Cadence. People walk at about 110 steps a minute at 3.5-5 km/h and run at about 165 at
10 km/h; both rise with speed, and between 7 and 8 km/h a walker changes to a run. The
default cadence is a walking line (90 spm + 5 spm per km/h) blended into a running line
(135 spm + 3 spm per km/h) by a logistic step centred on 7.5 km/h, 0.3 km/h wide: 107.5 spm at
3.5 km/h, 115 at 5, 130 at 7, 154 at 8, 165 at 10, 180 at 15. It is smooth and rises with
speed throughout.

A footstrike. The deck sags under the landing foot and springs back: its displacement is
d(t) = D (t/tau)^3 e^(-t/tau), and what the accelerometer feels is its second derivative,
(u^3 - 6u^2 + 6u) e^(-u) with u = t/tau. That starts at 0, peaks at u = 0.416 (the first root
of the third Laguerre polynomial), swings to a negative lobe of 0.57 of the peak at u = 2.29,
and integrates to exactly zero (the deck ends where it started, at rest), so the low-passed
gravity vector, and with it the incline, is not biased by walking. The peak follows the
belt's speed and the walker's mass: mass / 75 kg x (0.15 + 0.09 x speed in km/h) g above
gravity, 0.47 g walking at 3.5 km/h and 1.05 g running at 10 km/h for 75 kg.

Natural variation, when the world has noise: each step's interval is the cadence's +-2 %,
each jolt's size the formula's +-10 %, from the walker's own seeded random source.
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import NamedTuple

from pi_service.units import STANDARD_GRAVITY, mps_to_kmh

WALK_SPM, WALK_SPM_PER_KMH = 90.0, 5.0
RUN_SPM, RUN_SPM_PER_KMH = 135.0, 3.0
WALK_TO_RUN_KMH, WALK_TO_RUN_WIDTH_KMH = 7.5, 0.3

DEFAULT_MASS_KG = 75.0
JOLT_G_AT_STANDSTILL, JOLT_G_PER_KMH = 0.15, 0.09  # for a walker of DEFAULT_MASS_KG
JOLT_TAU_S = 0.010  # the deck's sag and spring-back: the peak 4 ms after landing, over in 0.1 s
JOLT_SPAN_S = 20 * JOLT_TAU_S  # past this the jolt is below 1e-5 of its peak
STEP_VARIATION = 0.02  # step-to-step interval, +-
JOLT_VARIATION = 0.10  # jolt size, +-
STRIKES_KEPT = 512  # over two minutes at 240 spm: a FIFO's oldest sample, and the tests' counts

_PEAK_U = 0.41577455678347908  # where (u^3 - 6u^2 + 6u) e^-u peaks


def _deck_acceleration(u: float) -> float:
    return (u * u * u - 6.0 * u * u + 6.0 * u) * math.exp(-u)


_PEAK = _deck_acceleration(_PEAK_U)


def default_cadence_spm(speed_kmh: float) -> float:
    """The steps per minute a walker takes at `speed_kmh` when the scenario does not say."""
    running = 1.0 / (1.0 + math.exp(-(speed_kmh - WALK_TO_RUN_KMH) / WALK_TO_RUN_WIDTH_KMH))
    walk = WALK_SPM + WALK_SPM_PER_KMH * speed_kmh
    run = RUN_SPM + RUN_SPM_PER_KMH * speed_kmh
    return (1.0 - running) * walk + running * run


def jolt_peak_g(speed_kmh: float, mass_kg: float = DEFAULT_MASS_KG) -> float:
    """A footstrike's peak vertical deck acceleration above gravity, in g, before variation."""
    return mass_kg / DEFAULT_MASS_KG * (JOLT_G_AT_STANDSTILL + JOLT_G_PER_KMH * speed_kmh)


def jolt_shape(age_s: float) -> float:
    """One footstrike's deck acceleration `age_s` after the foot lands, as a fraction of its peak."""
    if age_s <= 0.0 or age_s >= JOLT_SPAN_S:
        return 0.0
    return _deck_acceleration(age_s / JOLT_TAU_S) / _PEAK


class Footstrike(NamedTuple):
    t: float  # clock time the foot landed
    peak_g: float  # the jolt's peak above gravity


class Walker:
    """The walker, moved on by the world in time order, and asked for the deck's jolt at times
    that may lag the latest it was moved to (a chip's FIFO samples are up to 33 periods old):
    any time since the oldest footstrike kept is answered as it was.

    `random` is the source of the natural variation; without one every step is the same."""

    def __init__(self, mass_kg: float = DEFAULT_MASS_KG, random_source: random.Random | None = None):
        self.mass_kg = mass_kg
        self.random = random_source
        self.strikes: deque[Footstrike] = deque(maxlen=STRIKES_KEPT)
        self.footstrikes = 0  # counted since start
        self.cadence_spm = 0.0  # what the walker steps at now; 0 standing still or off the belt
        self.steps = 0.0  # steps taken, the fraction being the way through the current one
        self._step_length = 1.0  # the current step's interval, in intervals of the cadence
        self._progress = 0.0  # the way through the current step, 0..1

    @property
    def walking(self) -> bool:
        return self.cadence_spm > 0.0

    def walk(self, t0: float, t1: float, speed_mps: float, on_belt: bool, cadence_spm: float | None = None) -> None:
        """From clock time `t0` to `t1` on a belt at `speed_mps`: stepping at `cadence_spm`, or at
        the speed's default, if on a moving belt; standing otherwise."""
        if speed_mps <= 0.0 or not on_belt:
            self.cadence_spm = 0.0
            self._progress = 0.0  # back on a moving belt, the first footstrike comes a step later
            return
        speed_kmh = mps_to_kmh(speed_mps)
        self.cadence_spm = default_cadence_spm(speed_kmh) if cadence_spm is None else cadence_spm
        t = t0
        while t < t1:
            rate = self.cadence_spm / 60.0 / self._step_length  # of the current step, per second
            landing = t + (1.0 - self._progress) / rate
            if landing > t1:
                self._progress += (t1 - t) * rate
                break
            self._land(landing, speed_kmh)
            t = landing
        self.steps = math.floor(self.steps) + self._progress

    def _land(self, t: float, speed_kmh: float) -> None:
        peak = jolt_peak_g(speed_kmh, self.mass_kg)
        if self.random is not None:
            peak *= 1.0 + self.random.uniform(-JOLT_VARIATION, JOLT_VARIATION)
            self._step_length = 1.0 + self.random.uniform(-STEP_VARIATION, STEP_VARIATION)
        self.strikes.append(Footstrike(t, peak))
        self.footstrikes += 1
        self.steps = math.floor(self.steps) + 1.0
        self._progress = 0.0

    def deck_jolt_mps2(self, t: float) -> float:
        """The vertical deck acceleration the footstrikes make at clock time `t`, in m/s^2."""
        total = 0.0
        for strike in reversed(self.strikes):
            age = t - strike.t
            if age >= JOLT_SPAN_S:
                break
            total += strike.peak_g * jolt_shape(age)
        return total * STANDARD_GRAVITY

    def strikes_between(self, t0: float, t1: float) -> list[Footstrike]:
        """The footstrikes kept that landed in [t0, t1)."""
        return [s for s in self.strikes if t0 <= s.t < t1]
