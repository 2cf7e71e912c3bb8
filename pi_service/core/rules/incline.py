"""steep_incline: a long steep climb loads the lower back."""

from __future__ import annotations

from pi_service.config import RulesConfig
from pi_service.core.held import Held
from pi_service.core.rules.base import IntervalRule
from pi_service.core.sample import Sample


class Streak:
    """Incline at or above `grade` that survives dips down to `dip`, held for `hold_s`."""

    __slots__ = ("grade", "dip", "hold_s", "held")

    def __init__(self, grade: float, dip: float, hold_s: float, noise_s: float):
        self.grade, self.dip, self.hold_s = grade, dip, hold_s
        self.held = Held(noise_s)

    def update(self, t: float, incline: float | None) -> float | None:
        if incline is not None:
            # Once on a streak, only a drop below the dip level can break it.
            self.held.update(t, incline >= (self.dip if self.held.raw else self.grade))
        else:
            self.held.update(t, None)
        return self.held.held_until(t, self.hold_s)


class SteepIncline(IntervalRule):
    """>= 10 % for 15 min or >= 15 % for 5 min (streaks survive dips to 9 % / 14 %);
    ends when the incline stays below 9 % for 2 s."""

    kind = "steep_incline"

    def __init__(self, rules: RulesConfig):
        cfg = rules.steep_incline
        super().__init__(rules.min_duration_s, cfg.release_s)
        self.release_pct = cfg.release_pct
        self.streaks = (Streak(cfg.grade_pct, cfg.dip_pct, cfg.hold_s, rules.min_duration_s),
                        Streak(cfg.very_steep_pct, cfg.very_steep_dip_pct, cfg.very_steep_hold_s, rules.min_duration_s))

    def watches(self) -> list[tuple[str, float]]:
        levels = [self.release_pct] + [level for streak in self.streaks for level in (streak.grade, streak.dip)]
        return [("incline_pct", level) for level in levels]

    def onset_wake(self, t: float) -> float:
        return min(streak.held.wake(streak.hold_s) for streak in self.streaks)

    def onset(self, s: Sample, session_start: float | None) -> float | None:
        done = [d for d in (streak.update(s.t, s.incline_pct) for streak in self.streaks) if d is not None]
        return min(done) if done else None

    def released(self, s: Sample) -> bool | None:
        return None if s.incline_pct is None else s.incline_pct < self.release_pct

    def restart(self) -> None:
        for streak in self.streaks:
            streak.held.reset()
