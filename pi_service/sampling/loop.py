"""The fixed-rate loop: calls `tick(t)` on absolute deadlines of the monotonic clock.

Deadlines are `start + n * period`, never "now + period", so the rate does not drift
with the work each tick does. A tick that ends past the next deadline is an overrun;
when whole periods are lost the schedule skips them and stays on its grid. The clock
and the sleep are passed in, so tests run the loop on a fake clock.

`pacing="naive"` is the baseline the benchmark compares against: `sleep(period)` after
each tick, the way a first version usually does it.
"""

from __future__ import annotations

import time
from typing import Callable

from pi_service.sampling.stats import LoopStats


class FixedRateLoop:
    def __init__(self, rate_hz: float, tick: Callable[[float], None], stats: LoopStats | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 pacing: str = "deadline"):
        if pacing not in ("deadline", "naive"):
            raise ValueError("pacing is 'deadline' or 'naive'")
        self.period_s = 1.0 / rate_hz
        self.tick = tick
        self.stats = stats or LoopStats()
        self.clock = clock
        self.sleep = sleep
        self.pacing = pacing

    def run(self, should_stop: Callable[[], bool]) -> None:
        if self.pacing == "naive":
            self._run_naive(should_stop)
            return
        clock, sleep, period, stats = self.clock, self.sleep, self.period_s, self.stats
        deadline = clock() + period
        while not should_stop():
            now = clock()
            if now < deadline:
                sleep(deadline - now)
            woke = clock()
            stats.record_wake(woke, woke - deadline)
            self.tick(woke)
            done = clock()
            stats.record_work(done - woke)
            deadline += period
            if done > deadline:
                missed = int((done - deadline) // period)
                stats.record_overrun(missed)
                deadline += missed * period

    def _run_naive(self, should_stop: Callable[[], bool]) -> None:
        clock, sleep, period, stats = self.clock, self.sleep, self.period_s, self.stats
        intended = clock()
        while not should_stop():
            woke = clock()
            stats.record_wake(woke, woke - intended)
            self.tick(woke)
            done = clock()
            stats.record_work(done - woke)
            intended = done + period
            sleep(period)
