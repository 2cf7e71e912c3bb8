"""The contract every safety rule keeps, so that `replay` can skip samples (core/fastforward.py)
and still raise exactly the events of feeding every one. Declared once, here; every rule the
engine runs is checked against it, alone, by `tests/test_rule_contract.py`.

A rule is fed `update(sample, session_start, out)` for samples in time order and appends to
`out` the events that sample completes. Its invariants:

1. Pure: what it does depends only on the samples and session starts fed so far: no clock,
   no I/O, no randomness.
2. `watches()` lists (quantity, value) pairs, each quantity one of QUANTITIES. What the rule
   does with a sample depends only on, for each pair, whether the quantity is known and
   whether it is below, at or above the value, and on the sample's time. The list never
   changes after construction. (An event's detail may quote the values of the sample that
   completes it: that sample is always fed, since by 3 it is at a change or at the wake.)
3. `wake(t)`, asked right after the sample at `t`, is the earliest time at which a later
   sample that looks the same (every watched comparison as at `t`, the same session start)
   could change what the rule will do: its state, or an event. -inf means the next sample
   must be fed whatever it is; inf means not until a comparison changes. Waking early is
   harmless; waking late loses events.
4. An event carries the time its condition completed (often before the sample that made it
   certain), and that time does not depend on how many look-alike samples were skipped.

Interval rules (`base.IntervalRule`) keep 3 through two more members: `fresh`, true right
after a start or an end reset a condition (it has not seen a sample since, so `wake` is
-inf), and `onset_wake(t)`, the start condition's wake; while active, the release's hold
gives the wake.

A rule that follows a quantity's history rather than thresholds (the speed jump's running
windows) cannot keep 2. It is a `WindowedRule`: it watches nothing, never wakes, and exposes
its windows and timings instead. The fast path computes the windows for a whole block of
samples at once, swaps in a stand-in that reads them row by row, and feeds the rule at every
row where "the speed is rising" flips. The engine finds it by this type.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pi_service.core.events import Event
from pi_service.core.sample import Sample

# What a watch may compare: a Sample attribute, or "total_n" (left + right rail force,
# unknown if either is).
QUANTITIES = ("speed_mps", "incline_pct", "rail_left_n", "rail_right_n", "cadence_spm", "total_n")


@runtime_checkable
class Rule(Protocol):
    kind: str

    def watches(self) -> list[tuple[str, float]]:
        """The (quantity, value) comparisons the rule depends on (invariant 2)."""

    def wake(self, t: float) -> float:
        """The earliest time the rule could change with every comparison as it is (invariant 3)."""

    def update(self, s: Sample, session_start: float | None, out: list[Event]) -> None:
        """Feed one sample; append the events it completes."""


class SpeedWindowsLike(Protocol):
    def update(self, t: float, speed: float) -> tuple[float, float]:
        """(current speed, the jump's starting point) after the known speed at `t`."""

    def reset(self) -> None:
        """Forget the history (after a long gap)."""


@runtime_checkable
class WindowedRule(Rule, Protocol):
    """What the fast path needs to compute a windowed rule's windows itself: the windows it
    swaps out, the noise time (a speed counts once held this long), the jump window, the
    gap after which the history is forgotten, and the rise that counts."""

    windows: SpeedWindowsLike
    noise_s: float
    within_s: float
    gap_s: float
    rise_mps: float
