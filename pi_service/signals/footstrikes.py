"""Footstrikes from the deck's vertical acceleration: a pure stage fed the accelerometer's FIFO
samples, giving the cadence and the last footstrike's size (spec 5.3, 7.2; docs/footstrikes.md).

Each sample is high-passed (its slow baseline, gravity and the deck's tilt, taken off), and a
footstrike is a peak of at least `min_peak_g` that also stands well above the signal's own
recent level. That second test is what rejects the belt and motor: their vibration is periodic
at the roller's frequency, so its peaks are never far above its mean level (a sine's peak is
1.6 times its mean absolute value), while a footstrike is a short jolt in a quiet stride. A
peak counts once, dated at its top; for `refractory_s` after it nothing counts, so a jolt's
ringing is not a second step. The cadence is 60 / the median of the last 8 intervals, so a
missed or an extra footstrike moves it little; 0 once none has been felt for 3 s.
"""

from __future__ import annotations

import math
from collections import deque
from statistics import median

from pi_service.units import STANDARD_GRAVITY

STILL_S = 3.0  # spec 5.3: cadence 0 once no footstrike has been felt for this long
INTERVALS = 8  # spec 7.2: the median of the last 8 intervals
MIN_INTERVALS = 2  # three footstrikes in a row before there is a cadence: one bump is not walking
BASELINE_TAU_S = 0.5  # the high-pass: slower than this is gravity, tilt and weight shifting
LEVEL_TAU_S = 1.0  # the signal's recent mean absolute level, over a few strides
PEAK_OVER_LEVEL = 5.0  # a footstrike stands this far above the recent level; vibration never does
PEAK_MAX_S = 0.05  # a jolt's top is within this of its rising edge
PEAK_END_FRACTION = 0.5  # ... and the peak is over once the signal falls below half the threshold


class FootstrikeDetector:
    def __init__(self, min_peak_g: float = 0.12, refractory_s: float = 0.25):
        self.min_peak_g = min_peak_g
        self.refractory_s = refractory_s
        self.footstrikes = 0  # counted since start
        self._baseline: float | None = None
        self._level = 0.0  # mean |high-passed| in g
        self._t: float | None = None
        self._settled_t = math.inf
        self._quiet_until = -math.inf  # the refractory time after the last footstrike
        self._peak: tuple[float, float] | None = None  # (t, g) of the jolt under way
        self._peak_started = 0.0
        self._threshold = 0.0
        self._last_t: float | None = None  # the last footstrike, the start of the next interval
        self._last_g = 0.0
        self._last_felt = -math.inf
        self._intervals: deque[float] = deque(maxlen=INTERVALS)

    def feed(self, t: float, vertical_mps2: float) -> None:
        """One accelerometer sample (the vertical axis in m/s^2, gravity included), in time order."""
        if self._baseline is None or self._t is None:
            self._baseline, self._t = vertical_mps2, t
            self._settled_t = t + LEVEL_TAU_S
            return
        dt = t - self._t
        self._t = t
        if dt <= 0:
            return
        self._baseline += (1.0 - math.exp(-dt / BASELINE_TAU_S)) * (vertical_mps2 - self._baseline)
        g = (vertical_mps2 - self._baseline) / STANDARD_GRAVITY
        peak = self._peak
        if peak is None:
            if t < self._settled_t:
                # The baseline and the level settle before a peak means anything.
                self._level += (1.0 - math.exp(-dt / (0.25 * LEVEL_TAU_S))) * (abs(g) - self._level)
                return
            if t < self._quiet_until:
                return
            threshold = max(self.min_peak_g, PEAK_OVER_LEVEL * self._level)
            if g >= threshold:
                self._peak, self._peak_started, self._threshold = (t, g), t, threshold
            else:
                # The level between footstrikes (not of them): the vibration's and the noise's.
                self._level += (1.0 - math.exp(-dt / LEVEL_TAU_S)) * (abs(g) - self._level)
            return
        if g > peak[1]:
            self._peak = peak = (t, g)
        if g < PEAK_END_FRACTION * self._threshold or t - self._peak_started >= PEAK_MAX_S:
            self._footstrike(*peak)

    def _footstrike(self, t: float, g: float) -> None:
        self._peak = None
        self._quiet_until = t + self.refractory_s
        self.footstrikes += 1
        if self._last_t is not None and t - self._last_t <= STILL_S:
            self._intervals.append(t - self._last_t)
        elif self._last_t is not None:
            self._intervals.clear()  # a new walk: the old intervals say nothing about it
        self._last_t, self._last_g, self._last_felt = t, g, t

    def gap(self, t: float) -> None:
        """Samples were lost before `t` (a FIFO overrun, the chip restarted): a jolt under way is
        dropped and no interval is measured across the gap; the intervals already kept stand."""
        self._peak = None
        self._last_t = None
        self._baseline = self._t = None

    def reading(self, t: float) -> tuple[float, float]:
        """(cadence_spm, footstrike_g) at `t`: both 0 until three footstrikes in a row, and again
        once none has been felt for 3 s."""
        if t - self._last_felt > STILL_S or len(self._intervals) < MIN_INTERVALS:
            if t - self._last_felt > STILL_S:
                self._intervals.clear()
            return 0.0, 0.0
        return 60.0 / median(self._intervals), self._last_g
