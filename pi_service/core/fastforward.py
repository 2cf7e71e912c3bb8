"""Feed the rule engine only the samples that can change something: how `replay` gets
through an hour of samples in about a second with the very rules the daemon runs.

Every rule (and the session) says which comparisons of a sample it looks at
(`RuleEngine.watches`: a quantity against a threshold, and whether the quantity is
known) and, given that nothing it looks at changes, the next time it could change on its
own (`RuleEngine.wake`: a confirmation after the noise time, a hold completing, a grace
period ending). So over a block of samples held as arrays, the engine is fed:
- each sample where any watched comparison comes out differently from the sample before,
- the first sample at or after the engine's wake time,
and the samples in between are skipped: feeding them would change nothing.

What a rule must keep to for this is its contract (core/rules/contract.py). The speed-jump
windows (the engine's `WindowedRule`) depend on the speed's whole history rather than on
thresholds, so they are computed for the block at once (the same running minimum and maximum that
`SpeedWindows` keeps sample by sample), the rule reads them, and a change in whether the
speed is rising counts as a flip. `tests/test_fastforward.py` checks that this gives the
same events as feeding every sample, on random recordings built around the thresholds.

Values outside a channel's range are unknown to every rule: the block is cleaned as the
engine cleans each sample, before anything is compared.

Session distances are not integrated over the skipped samples; replay reports events only.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from pi_service.core.engine import RuleEngine
from pi_service.core.events import Event
from pi_service.core.rules.speed import SpeedWindows
from pi_service.core.sample import Sample

INF = float("inf")
# Wake times are compared after a subtraction in the rules (t - since >= hold); a sample
# fed a hair early is harmless, one fed late would be wrong, so look this much earlier.
EARLY_S = 1e-6


def running_extreme(t: np.ndarray, values: np.ndarray, span_s: float, maximum: bool = False,
                    floor: np.ndarray | None = None) -> np.ndarray:
    """For each i, the min (or max) of the values held over [t[i] - span_s, t[i]]: values[j]
    for t[j] >= t[i] - span_s, j <= i, and the one holding when the window opens (the last
    before it, unless a sample falls on its start), never before index floor[i]: what
    `WindowExtreme` returns sample by sample. A sparse table answers each window in O(1)."""
    n = len(values)
    if n == 0:
        return values.copy()
    combine = np.maximum if maximum else np.minimum
    horizon = t - span_s
    start = np.searchsorted(t, horizon, side="left")
    held = (start > 0) & (t[np.minimum(start, n - 1)] > horizon)
    start = start - held
    if floor is not None:
        start = np.maximum(start, floor)
    length = np.arange(n) - start + 1
    level = np.frexp(length)[1] - 1  # floor(log2(length)), exactly
    tables = [values]  # tables[p][i] = extreme of values[i : i + 2**p]
    while (1 << len(tables)) <= length.max():
        half = 1 << (len(tables) - 1)
        previous = tables[-1]
        tables.append(combine(previous[:-half], previous[half:]))
    out = np.empty(n)
    for p, table in enumerate(tables):
        rows = np.flatnonzero(level == p)
        if rows.size:
            out[rows] = combine(table[start[rows]], table[rows - (1 << p) + 1])
    return out


class _BlockWindows:
    """Stands in for SpeedWindows while the engine is fed from a block: reads row `k`."""

    __slots__ = ("current", "base", "k")

    def __init__(self) -> None:
        self.current: list[float] = []
        self.base: list[float] = []
        self.k = 0

    def update(self, t: float, speed: float) -> tuple[float, float]:
        return self.current[self.k], self.base[self.k]

    def reset(self) -> None:
        pass  # the block's windows already start afresh after each long gap


class FastForward:
    """Feeds `engine` block by block; blocks must follow one another in time."""

    def __init__(self, engine: RuleEngine):
        self.engine = engine
        self.watches = engine.watches()
        self.jump = engine.windowed
        self.windows = _BlockWindows()
        if self.jump is not None:
            self.jump.windows = self.windows
        # Rows kept from the previous block: the speed windows look this far back, and
        # its last row is what the next block's first row is compared with.
        self.keep_s = 1.0 if self.jump is None else self.jump.within_s + 2 * self.jump.noise_s + 1.0
        self.tail: tuple[np.ndarray, ...] | None = None
        self.wake = -INF  # feed the very first sample

    def feed(self, t: np.ndarray, speed: np.ndarray, incline: np.ndarray,
             left: np.ndarray, right: np.ndarray, cadence: np.ndarray | None = None,
             footstrike: np.ndarray | None = None) -> Iterator[Event]:
        """The events of one block of samples (NaN for unknown), in the order the engine raises
        them. `cadence` and `footstrike` are the optional footstrike columns: None for a
        recording without them (unknown throughout)."""
        blank = np.full(len(t), np.nan)
        cadence = blank if cadence is None else cadence
        footstrike = blank if footstrike is None else footstrike
        speed, incline, left, right, cadence = self._clean(speed, incline, left, right, cadence)
        columns = (t, speed, incline, left, right, cadence, footstrike)
        offset = 0
        if self.tail is not None:
            offset = len(self.tail[0])
            columns = tuple(np.concatenate(pair) for pair in zip(self.tail, columns))
        t, speed, incline, left, right, cadence, footstrike = columns
        n = len(t)
        keep = int(np.searchsorted(t, t[-1] - self.keep_s, side="left"))
        self.tail = tuple(column[min(keep, n - 1):] for column in columns)

        current, base, rising = self._speed_windows(t, speed)
        self.windows.current, self.windows.base = current.tolist(), base.tolist()
        changes = self._flips(t, speed, incline, left, right, cadence, rising, offset)

        rows = tuple(column.tolist() for column in columns)
        update, wake_of, windows = self.engine.update, self.engine.wake, self.windows
        next_change = iter(changes.tolist() + [n]).__next__
        change = next_change()
        k = min(change, max(offset, int(np.searchsorted(t, self.wake - EARLY_S, side="left"))))
        while k < n:
            tk = rows[0][k]
            windows.k = k
            yield from update(Sample(tk, *(None if row[k] != row[k] else row[k] for row in rows[1:])))
            self.wake = wake = wake_of(tk)
            while change <= k:
                change = next_change()
            if wake < INF:
                k = min(change, max(k + 1, int(np.searchsorted(t, wake - EARLY_S, side="left"))))
            else:
                k = change

    def _clean(self, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
        """Out-of-range values as NaN, as the engine's `ChannelRanges.clean` makes them unknown."""
        names = ("speed_mps", "incline_pct", "rail_left_n", "rail_right_n", "cadence_spm")
        out = []
        for name, column in zip(names, columns):
            low, high = self.engine.ranges.by_attribute[name]
            with np.errstate(invalid="ignore"):
                out.append(np.where((column >= low) & (column <= high), column, np.nan))
        return tuple(out)

    def handover(self) -> None:
        """Give the engine back its own speed windows, primed with the recent rows, so it
        can go on being fed sample by sample."""
        if self.jump is None:
            return
        windows = SpeedWindows(self.jump.noise_s, self.jump.within_s)
        if self.tail is not None:
            for t, speed in zip(self.tail[0].tolist(), self.tail[1].tolist()):
                if speed == speed:
                    windows.update(t, speed)
        self.jump.windows = windows

    def _speed_windows(self, t: np.ndarray, speed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: the current speed, the jump's starting point (NaN where the speed is
        unknown) and whether the speed counts as rising."""
        known = ~np.isnan(speed)
        jump = self.jump
        current = np.full(len(t), np.nan)
        base = np.full(len(t), np.nan)
        if jump is None:
            return current, base, np.zeros(len(t), dtype=bool)
        rows = np.flatnonzero(known)
        tk, sk = t[rows], speed[rows]
        # A known speed after an unknown stretch of the gap time (from its first row) starts
        # the windows afresh, as SpeedJump resets them.
        floor = np.zeros(len(rows), dtype=np.int64)
        if len(rows) > 1:
            after_gap = rows[1:] > rows[:-1] + 1
            gap = np.zeros(len(rows) - 1)
            gap[after_gap] = t[rows[1:][after_gap]] - t[rows[:-1][after_gap] + 1]
            starts = np.flatnonzero(after_gap & (gap >= jump.gap_s)) + 1
            marks = np.zeros(len(rows), dtype=np.int64)
            marks[starts] = starts
            floor = np.maximum.accumulate(marks)
        current[known] = running_extreme(tk, sk, jump.noise_s, floor=floor)
        high = running_extreme(tk, sk, jump.noise_s, maximum=True, floor=floor)
        base[known] = running_extreme(tk, high, jump.within_s + jump.noise_s, floor=floor)
        with np.errstate(invalid="ignore"):
            rising = current - base >= jump.rise_mps
        return current, base, rising

    def _flips(self, t, speed, incline, left, right, cadence, rising, offset: int) -> np.ndarray:
        """Rows at or after `offset` where a watched comparison differs from the row before."""
        quantities = {"speed_mps": speed, "incline_pct": incline, "rail_left_n": left,
                      "rail_right_n": right, "cadence_spm": cadence, "total_n": left + right}
        flipped = np.zeros(len(t), dtype=bool)
        flipped[1:] = rising[1:] != rising[:-1]
        for name, value in self.watches:
            x = quantities[name]
            # 0 unknown, 1 below, 2 equal, 3 above: every comparison a rule can make.
            code = np.where(np.isnan(x), 0, 1 + (x >= value).astype(np.int8) + (x > value))
            flipped[1:] |= code[1:] != code[:-1]
        return offset + np.flatnonzero(flipped[offset:])
