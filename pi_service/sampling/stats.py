"""Live statistics of the sampling loop: wake-up lateness percentiles, rate, overruns.

Lateness goes into log-spaced bins (2 % wide) over a sliding window of one-second
slots, so recording is O(1) per tick and a percentile costs one pass over a few hundred
bins, done once a second rather than every tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_GROWTH = 1.02
_LOG_GROWTH = math.log(_GROWTH)
_FLOOR_S = 1e-6  # lateness below 1 us counts as 1 us
_BINS = int(math.log(10.0 / _FLOOR_S) / _LOG_GROWTH) + 2  # up to 10 s late


def _bin(lateness_s: float) -> int:
    if lateness_s <= _FLOOR_S:
        return 0
    return min(_BINS - 1, int(math.log(lateness_s / _FLOOR_S) / _LOG_GROWTH) + 1)


def _bin_upper_s(index: int) -> float:
    return _FLOOR_S * _GROWTH ** index


@dataclass(frozen=True, slots=True)
class LoopFigures:
    rate_hz: float
    late_p50_ms: float
    late_p99_ms: float
    late_max_ms: float
    overruns: int
    missed_periods: int
    ticks: int
    work_max_ms: float


class LoopStats:
    def __init__(self, window_s: int = 60):
        self.window_s = window_s
        self._slots = [[0] * _BINS for _ in range(window_s)]
        self._slot_ticks = [0] * window_s
        self._slot_max = [0.0] * window_s
        self._slot_whole = [False] * window_s  # the first slot starts mid-second: not a whole second
        self._totals = [0] * _BINS
        self._slot_index = 0
        self._slot_second: int | None = None
        self._started = False
        self.ticks = 0
        self.overruns = 0
        self.missed_periods = 0
        self.work_max_s = 0.0
        self.figures = LoopFigures(0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0.0)

    def record_wake(self, t: float, lateness_s: float) -> None:
        """One tick woke at clock time `t`, `lateness_s` after its deadline."""
        second = int(t)
        if not self._started:
            self._started = True
            self._slot_second = second
        if second != self._slot_second:
            self._rotate(second)
        lateness_s = max(0.0, lateness_s)
        index = _bin(lateness_s)
        self._slots[self._slot_index][index] += 1
        self._totals[index] += 1
        self._slot_ticks[self._slot_index] += 1
        if lateness_s > self._slot_max[self._slot_index]:
            self._slot_max[self._slot_index] = lateness_s
        self.ticks += 1

    def record_work(self, work_s: float) -> None:
        if work_s > self.work_max_s:
            self.work_max_s = work_s

    def record_overrun(self, missed_periods: int) -> None:
        self.overruns += 1
        self.missed_periods += missed_periods

    def _rotate(self, second: int) -> None:
        # The current one-second slot is complete: refresh the published figures, then
        # recycle the oldest slots for the seconds that have begun (several, if the loop
        # stalled for whole seconds: those count as seconds without ticks).
        self.figures = self._compute()
        steps = min(self.window_s, second - self._slot_second)
        for _ in range(steps):
            self._slot_index = (self._slot_index + 1) % self.window_s
            old = self._slots[self._slot_index]
            for i, count in enumerate(old):
                if count:
                    self._totals[i] -= count
                    old[i] = 0
            self._slot_ticks[self._slot_index] = 0
            self._slot_max[self._slot_index] = 0.0
            self._slot_whole[self._slot_index] = True
        self._slot_second = second

    def _compute(self) -> LoopFigures:
        count = sum(self._totals)
        whole = [ticks for ticks, is_whole in zip(self._slot_ticks, self._slot_whole) if is_whole]
        return LoopFigures(
            rate_hz=sum(whole) / len(whole) if whole else 0.0,
            late_p50_ms=self._percentile(count, 0.50) * 1000,
            late_p99_ms=self._percentile(count, 0.99) * 1000,
            late_max_ms=max(self._slot_max) * 1000,
            overruns=self.overruns,
            missed_periods=self.missed_periods,
            ticks=self.ticks,
            work_max_ms=self.work_max_s * 1000,
        )

    def _percentile(self, count: int, q: float) -> float:
        if count == 0:
            return 0.0
        target = q * count
        running = 0
        for index, n in enumerate(self._totals):
            running += n
            if running >= target:
                return _bin_upper_s(index) if index else 0.0
        return _bin_upper_s(_BINS - 1)
