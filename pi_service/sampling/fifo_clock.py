"""Timestamps for the samples a FIFO drain returns, on the loop's monotonic clock. The chip's own
oscillator spaces them (the ADXL345's rates are nominal, with no accuracy given), so its real
rate is measured, samples counted over elapsed time, rather than taken from the data sheet:
a chip 5 % fast must not read a cadence 5 % high. Pure: the tick's time is passed in.

The timeline: each drain's samples continue the last drain's at the measured spacing. Each
drain also says where its newest sample can be: taken by the time the drain read the FIFO's
count (at or just after the tick), and less than a period before the tick (else a newer one
would have been taken and read too). The bounds of the last drains, each loosened as it
ages, make a band; the timeline moves towards the band's middle by bending the spacing at
most `SLEW` of a period, so consecutive timestamps stay evenly spaced. A timeline far
outside a drain's bounds (the first drain, after lost samples) starts again with the newest
sample at the tick.
"""

from __future__ import annotations

import math

# Before the samples have been counted this long, the count says less than the nominal rate
# does: one sample of phase in 0.5 s at 400 Hz is 0.5 %.
RATE_WINDOW_MIN_S = 0.5
# A count further than this from the nominal rate is not the oscillator (the chips are within
# 10-15 %, drivers/fifo.py) but lost or made-up samples (a register file standing in for a
# chip): the rate is held at this bound.
RATE_BOUND = 0.15
# How far one drain may bend the spacing, as a fraction of the period, to bring the timeline
# back between its bounds: small enough for the spacing to stay within 0.5 % of the period,
# large enough to follow a measured rate that is 0.1 % off (after a few seconds' counting).
SLEW = 0.002
# A timeline this many periods off is not drifting but wrong: it starts again at the tick.
SNAP_PERIODS = 2.0
# How much an older drain's bounds loosen, per sample since, as a fraction of the period: the
# measured rate may be off by about 1e-4 after a few seconds, and the truth drifts from the
# timeline by that much per sample; ten times it keeps stale bounds from holding it wrongly.
LOOSEN = 0.001


class FifoClock:
    def __init__(self, nominal_hz: float, count_after_s: float = 0.0):
        """`count_after_s`: how long after the tick's time the drain reads the FIFO's count (the
        transfers before it in the tick): samples taken until then are in that drain."""
        self.nominal_hz = nominal_hz
        self.count_after_s = count_after_s
        self.rate_hz = nominal_hz  # the measured rate once counted, the nominal one until then
        self._window_t: float | None = None  # when counting started: the first drain after a (re)start
        self._window_samples = 0  # samples read since then, that first drain's not among them
        self._newest: float | None = None  # the last timestamp given, the timeline's end
        self._floor = -math.inf  # no timestamp ever at or before one already given, across gaps too
        # (low, high): where the newest sample may be, relative to the timeline's end.
        self._band = (-math.inf, math.inf)

    def restart(self, nominal_hz: float | None = None) -> None:
        """The chip (re)started, perhaps another chip: its rate is unknown again."""
        if nominal_hz is not None:
            self.nominal_hz = nominal_hz
        self.rate_hz = self.nominal_hz
        self.gap()

    def gap(self) -> None:
        """Samples were lost (an overrun): the count and the timeline start again; the rate
        measured so far stands until the new count is long enough."""
        self._window_t = None
        self._window_samples = 0
        self._newest = None
        self._band = (-math.inf, math.inf)

    def stamp(self, t: float, n: int) -> list[float]:
        """Timestamps, oldest first, for the `n` samples a drain at tick time `t` returned."""
        self._count(t, n)
        if n == 0:
            return []
        period = 1.0 / self.rate_hz
        spacing = period
        newest = t
        if self._newest is not None:
            predicted = self._newest + n * period
            # This drain's bounds on its newest sample, relative to where the timeline puts it.
            low, high = (t - period) - predicted, (t + self.count_after_s) - predicted
            if max(low, -high) <= SNAP_PERIODS * period:
                loosen = LOOSEN * n * period
                band = (max(self._band[0] - loosen, low), min(self._band[1] + loosen, high))
                if band[0] > band[1]:
                    band = (low, high)  # the older bounds disagree with this drain: it is the newer word
                limit = SLEW * period * n
                shift = max(-limit, min(limit, (band[0] + band[1]) / 2))
                spacing = period + shift / n
                newest = self._newest + n * spacing
                self._band = (band[0] - shift, band[1] - shift)
            else:
                self._band = (-math.inf, math.inf)
        oldest = newest - (n - 1) * spacing
        if oldest <= self._floor:
            # More samples than time since the last one given (after a gap): squeezed in after it.
            spacing = max(t - self._floor, 1e-9) / n
            newest = self._floor + n * spacing
            self._band = (-math.inf, math.inf)
        self._newest = self._floor = newest
        return [newest - (n - 1 - i) * spacing for i in range(n)]

    def _count(self, t: float, n: int) -> None:
        if self._window_t is None:
            # This drain's samples were taken over a time not known (since the chip started, or
            # before the overrun): counting starts after them.
            self._window_t = t
            return
        self._window_samples += n
        elapsed = t - self._window_t
        if elapsed >= RATE_WINDOW_MIN_S:
            measured = self._window_samples / elapsed
            low, high = self.nominal_hz * (1 - RATE_BOUND), self.nominal_hz * (1 + RATE_BOUND)
            self.rate_hz = min(high, max(low, measured))
