"""steep_incline: a long steep climb loads the lower back."""

from __future__ import annotations

from pi_service.config import RulesConfig
from pi_service.core.held import Held
from pi_service.core.rules.base import IntervalRule
from pi_service.core.sample import Sample


class Streak:
    """Incline at or above `grade` held for `hold_s`, surviving dips down to `dip`.

    Hysteresis on confirmed states (spec 7.1): a streak starts when "at or above the
    grade" is confirmed, dated from its first sample, and breaks only when "at or above
    the dip level" is confirmed false. So one noisy sample below the dip level in a dip
    breaks nothing, and one sample above the grade on a climb just under it starts nothing.
    """

    __slots__ = ("grade", "dip", "hold_s", "enter", "stay", "since")

    def __init__(self, grade: float, dip: float, hold_s: float, noise_s: float, gap_s: float):
        self.grade, self.dip, self.hold_s = grade, dip, hold_s
        self.enter = Held(noise_s, gap_s=gap_s)
        self.stay = Held(noise_s, gap_s=gap_s)
        self.since: float | None = None  # when the streak under way began

    def update(self, t: float, incline: float | None) -> float | None:
        """Feed one sample; when the streak completed its hold, once certain."""
        self.enter.update(t, None if incline is None else incline >= self.grade)
        self.stay.update(t, None if incline is None else incline >= self.dip)
        if self.since is not None and self.stay.state is not True:
            self.since = None  # broken: confirmed below the dip level, or forgotten in a long gap
        if self.since is None and self.enter.state is True:
            self.since = self.enter.since
        if self.since is None:
            return None
        done = self.since + self.hold_s
        if t < done or self.stay.in_doubt_before(done):
            return None
        return done

    def wake(self) -> float:
        wake = min(self.enter.wake(), self.stay.wake())
        if self.since is not None:
            wake = min(wake, self.stay.certain_at(self.since + self.hold_s))
        return wake

    def reset(self) -> None:
        self.enter.reset()
        self.stay.reset()
        self.since = None


class SteepIncline(IntervalRule):
    """>= 10 % for 15 min or >= 15 % for 5 min (streaks survive dips to 9 % / 14 %);
    ends when the incline stays below 9 % for 2 s."""

    kind = "steep_incline"

    def __init__(self, rules: RulesConfig):
        cfg = rules.steep_incline
        gap_s = rules.sensor_fault.fault_s
        super().__init__(rules.min_duration_s, cfg.release_s, gap_s)
        self.release_pct = cfg.release_pct
        self.streaks = (Streak(cfg.grade_pct, cfg.dip_pct, cfg.hold_s, rules.min_duration_s, gap_s),
                        Streak(cfg.very_steep_pct, cfg.very_steep_dip_pct, cfg.very_steep_hold_s,
                               rules.min_duration_s, gap_s))

    def watches(self) -> list[tuple[str, float]]:
        levels = [self.release_pct] + [level for streak in self.streaks for level in (streak.grade, streak.dip)]
        return [("incline_pct", level) for level in levels]

    def onset_wake(self, t: float) -> float:
        return min(streak.wake() for streak in self.streaks)

    def onset(self, s: Sample, session_start: float | None) -> float | None:
        done = [d for d in (streak.update(s.t, s.incline_pct) for streak in self.streaks) if d is not None]
        return min(done) if done else None

    def released(self, s: Sample) -> bool | None:
        return None if s.incline_pct is None else s.incline_pct < self.release_pct

    def restart(self) -> None:
        for streak in self.streaks:
            streak.reset()


